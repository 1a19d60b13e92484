"""Fixtures of the leaderboard tests: a tiny built benchmark in the documented layout, and submissions.

The dataset is written the way docs/architecture.md describes a build (parquet shards under data/,
splits.csv, build_report.json with the fingerprint computed as documented), minus the audio, which scoring
never reads. It poses as a build of ``mom`` (a shipped protocol) so the version check is the real one.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mom_bench import protocols

BENCHMARK = "mom"

# split -> generator -> number of rows ("real" rows are label 0)
LAYOUT = {
    "train": {"real": 4, "suno_3.5": 3, "udio_1.5": 3},
    "test_id": {"real": 10, "suno_3.5": 7, "udio_1.5": 6},
    "test_ood": {"real": 9, "riffusion": 6, "yue": 5, "suno_4": 2},
}


def write_built_dataset(root: Path, benchmark: str = BENCHMARK, version: str | None = None,
                        layout: dict = LAYOUT) -> Path:
    version = version or protocols.load(benchmark).version
    rows = []
    for split, gens in layout.items():
        for gen, n in gens.items():
            for i in range(n):
                rows.append({"id": f"{split}-{gen}-{i:03d}", "label": int(gen != "real"), "split": split,
                             "generator": gen, "content_sha256": hashlib.sha256(f"{split}{gen}{i}".encode()).hexdigest()})
    frame = pd.DataFrame(rows)
    (root / "data").mkdir(parents=True, exist_ok=True)
    for split, part in frame.groupby("split", sort=True):
        table = pa.Table.from_pandas(part.reset_index(drop=True), preserve_index=False)
        pq.write_table(table, root / "data" / f"{split}-00000.parquet")
    frame.assign(group_id=frame["id"])[["id", "split", "group_id"]].to_csv(root / "splits.csv", index=False)
    lines = sorted(f"{r.id}\t{r.split}\t{r.label}\t{r.generator}\t{r.content_sha256}" for r in frame.itertuples())
    fingerprint = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    counts = {s: dict(g) for s, g in layout.items()}
    (root / "build_report.json").write_text(json.dumps({
        "schema_version": 1, "benchmark": benchmark, "benchmark_version": version, "fingerprint": fingerprint,
        "counts": counts}, indent=2))
    (root / "README.md").write_text(f"---\nconfigs:\n- config_name: default\n---\n# test build of {benchmark}\n")
    return root


def labels_frame(data_dir: Path) -> pd.DataFrame:
    """id, split, generator, label of the test rows, read straight from the shards (independently of
    the code under test)."""
    frames = [pq.read_table(p).to_pandas() for p in sorted((data_dir / "data").glob("test_*.parquet"))]
    return pd.concat(frames, ignore_index=True)[["id", "split", "generator", "label"]]


def make_scores(labels: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """A plausible detector: fakes mostly high, reals mostly low, some mistakes both ways."""
    rng = np.random.default_rng(seed)
    y = labels["label"].to_numpy()
    score = np.clip(np.where(y == 1, rng.beta(5, 2, len(y)), rng.beta(2, 5, len(y))), 0, 1)
    return pd.DataFrame({"id": labels["id"].to_numpy(), "score": score})


def valid_meta(**changes) -> dict:
    meta = {
        "model_name": "Test Detector",
        "authors": ["A. Tester"],
        "team": "QA",
        "contact": "tester@example.org",
        "paper_url": None,
        "code_url": "https://example.org/code",
        "parameters": 1234,
        "training_data": {"description": "the train split of the test build",
                          "only_in_distribution_generators": True},
        "license": "Apache-2.0",
        "date": "2026-11-25",
        "benchmark_version": protocols.load(BENCHMARK).version,
        "command": "python make_scores.py",
    }
    meta.update(changes)
    return meta
