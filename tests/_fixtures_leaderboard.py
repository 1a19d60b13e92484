"""Fixtures of the leaderboard tests: a tiny benchmark built by the real builder, and submissions.

The dataset is built with ``mom_bench.dataset.build_benchmark`` (source kind ``csv``) from very short
generated clips (scoring never reads the audio). It poses as a build of ``mom`` (a shipped protocol):
its protocol is the shipped one with the source swapped for a CSV row list, so the benchmark name,
version and generators are mom's and the version check is the real one. Rows' splits are pre-assigned
(the csv source's ``split`` column) to give exactly :data:`LAYOUT`.

The session-scoped fixtures ``mom_build`` and ``mom_build_old`` (tests/conftest.py) build it once.
"""
from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import torch

from mom_bench.dataset import protocols
from tests._build_fixtures import build_listed, write_audio

BENCHMARK = "mom"
RATE = 16000
SECONDS = 0.25

# split -> generator -> number of rows ("real" rows are label 0)
LAYOUT = {
    "train": {"real": 4, "suno_3.5": 3, "udio_1.5": 3},
    "test_id": {"real": 10, "suno_3.5": 7, "udio_1.5": 6},
    "test_ood": {"real": 9, "riffusion": 6, "yue": 5, "suno_4": 2},
}


def mom_protocol(version: str | None = None) -> dict:
    """The shipped ``mom`` protocol with a ``csv`` source (and, when given, another version)."""
    raw = copy.deepcopy(protocols.load(BENCHMARK).raw)
    raw["source"] = {"kind": "csv"}
    if version is not None:
        raw["version"] = version
    return raw


def build_mom_benchmark(folder: Path, version: str | None = None, layout: dict = LAYOUT) -> Path:
    """Write short distinct clips for ``layout``, build them as ``mom`` into ``folder/mom``, return that."""
    real_source = protocols.load(BENCHMARK).reals[0].id
    rows, i = [], 0
    for split, gens in layout.items():
        for gen, n in gens.items():
            for k in range(n):
                i += 1
                t = torch.arange(int(RATE * SECONDS)) / RATE
                noise = torch.randn(t.shape, generator=torch.Generator().manual_seed(i))
                x = 0.3 * torch.sin(2 * math.pi * (100 + 13 * i) * t) + 0.01 * noise  # no two clips alike
                row_id = f"{split}-{gen}-{k:03d}"
                rel = f"audio/{row_id}.flac"
                write_audio(folder / rel, x, RATE)
                rows.append({"id": row_id, "label": int(gen != "real"), "generator": gen,
                             "source": real_source if gen == "real" else gen, "path": rel, "split": split})
    return build_listed(folder, mom_protocol(version), rows, out_name="mom").out_dir


def labels_frame(data_dir: Path) -> pd.DataFrame:
    """id, split, generator, label and duration_s of the test rows, read straight from the shards
    (independently of the code under test). A build stores every row's ``duration_s``, and scoring, like
    ``evaluate``, passes it to the metrics (the duration strata), so expected reports need it too."""
    columns = ["id", "split", "generator", "label", "duration_s", "source"]
    frames = [pq.read_table(p, columns=columns).to_pandas()
              for p in sorted((data_dir / "data").glob("test_*.parquet"))]
    return pd.concat(frames, ignore_index=True)[columns]


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
