"""A tiny built benchmark in the documented layout (docs/architecture.md), made of generated audio.

Reals are soft low tones; fakes are noisy, bright signals, so that even a tiny random-encoder model can
learn them in a few epochs. Two in-distribution generators appear in train/validation/test_id and one
held-out generator only in test_ood, as in a real build.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch

RATE = 24000
BENCHMARK = "loop-fixture"
GENERATORS = {"gen_a": ("Generator A", "fam_a", False), "gen_b": ("Generator B", "fam_b", False),
              "gen_ood": ("Generator OOD", "fam_c", True)}
# (split, generator, count)
LAYOUT = [("train", "real", 12), ("train", "gen_a", 6), ("train", "gen_b", 6),
          ("validation", "real", 4), ("validation", "gen_a", 2), ("validation", "gen_b", 2),
          ("test_id", "real", 5), ("test_id", "gen_a", 3), ("test_id", "gen_b", 3),
          ("test_ood", "real", 5), ("test_ood", "gen_ood", 5)]


def signal(kind: str, seconds: float, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    if kind == "real":
        f = rng.uniform(110, 330)
        x = 0.3 * np.sin(2 * np.pi * f * t) + 0.1 * np.sin(2 * np.pi * 2 * f * t)
    else:
        f = rng.uniform(2000, 6000)
        x = 0.3 * np.sign(np.sin(2 * np.pi * f * t)) + 0.2 * rng.standard_normal(len(t))
        if kind == "gen_ood":
            x = 0.5 * rng.standard_normal(len(t))
    return torch.tensor(np.clip(x, -1, 1), dtype=torch.float32)


def flac_bytes(x: torch.Tensor, rate: int = RATE) -> bytes:
    from torchcodec.encoders import AudioEncoder

    return AudioEncoder(x[None], sample_rate=rate).to_tensor(format="flac").numpy().tobytes()


def write_built_benchmark(out: Path, seconds: float = 2.5, layout=LAYOUT, benchmark: str = BENCHMARK) -> Path:
    """Write a built benchmark to ``out`` and return ``out``."""
    import datasets

    from mom_bench.build.columns import features

    out = Path(out)
    (out / "data").mkdir(parents=True, exist_ok=True)
    lines, counts, splits_csv = [], {}, ["id,split,group_id"]
    seed = 0
    by_split: dict[str, list[dict]] = {}
    for split, gen, n in layout:
        for _ in range(n):
            seed += 1
            x = signal(gen, seconds + 0.1 * (seed % 5), seed)
            blob = flac_bytes(x)
            row_id = f"{gen}-{seed:04d}"
            name, family, ood = GENERATORS.get(gen, ("Real", "real", False))
            sha = hashlib.sha256(x.numpy().tobytes()).hexdigest()
            by_split.setdefault(split, []).append({
                "id": row_id, "audio": {"bytes": blob, "path": None}, "label": int(gen != "real"),
                "label_name": "real" if gen == "real" else "fake", "split": split, "generator": gen,
                "generator_name": name, "generator_family": family, "is_ood": ood,
                "source": "fixture", "group_id": row_id, "duration_s": x.numel() / RATE, "orig_codec": "flac",
                "orig_sample_rate": RATE, "orig_channels": 1, "orig_bit_rate": 0,
                "orig_duration_s": x.numel() / RATE, "content_sha256": sha})
            lines.append(f"{row_id}\t{split}\t{int(gen != 'real')}\t{gen}\t{sha}")
            counts.setdefault(split, {}).setdefault(gen, 0)
            counts[split][gen] += 1
            splits_csv.append(f"{row_id},{split},{row_id}")
    feats = features({})
    for split, rows in by_split.items():
        columns = {k: [r[k] for r in rows] for k in rows[0]}
        datasets.Dataset.from_dict(columns, features=feats).to_parquet(str(out / "data" / f"{split}-00000.parquet"))
    fingerprint = hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()
    (out / "build_report.json").write_text(json.dumps({
        "schema_version": 1, "benchmark": benchmark, "benchmark_version": "0.0.1", "fingerprint": fingerprint,
        "counts": {"rows": len(lines), "written": len(lines), "missing": 0, "unusable": 0, "by_split": counts}},
        indent=2))
    (out / "splits.csv").write_text("\n".join(splits_csv) + "\n")
    configs = "\n".join(f"    - split: {s}\n      path: data/{s}-*.parquet" for s in by_split)
    (out / "README.md").write_text(f"---\nconfigs:\n  - config_name: default\n    data_files:\n{configs}\n---\n"
                                   f"# {benchmark} (test fixture)\n")
    return out


# Fast settings for the tiny test model: the paper's lr 1e-4 would need many epochs on 24 songs.
TINY_RECIPE = {"lr": 2e-2, "epochs": 4, "batch_size": 8}


def built_benchmark(tmp_path_factory) -> Path:
    """The fixture benchmark, written once per test session."""
    path = tmp_path_factory.getbasetemp() / "loop_fixture_dataset"
    if not (path / "build_report.json").is_file():
        write_built_benchmark(path)
    return path


def trained_run(tmp_path_factory) -> Path:
    """A clam-tiny run on the fixture benchmark, trained once per test session."""
    from mom_bench.train import train

    data = built_benchmark(tmp_path_factory)
    path = tmp_path_factory.getbasetemp() / "loop_fixture_run"
    if not (path / "best" / "config.json").is_file():
        train("clam-tiny", data, path, config=TINY_RECIPE, overwrite=True, progress=False)
    return path
