"""A tiny benchmark of generated audio, built by the real builder (``mom_bench.dataset.build_benchmark``,
source kind ``csv``), for the train / evaluate / predict tests.

Reals are soft low tones; fakes are noisy, bright signals, so that even a tiny random-encoder model can
learn them in a few epochs. Two in-distribution generators appear in train/validation/test_id and one
held-out generator only in test_ood, as in a real build. The rows' splits are pre-assigned in the CSV (the
csv source's ``split`` column) so that every split has the counts of :data:`LAYOUT`; the builder audits
them like any other split. Tests read the counts from the build (``read.read_info(data)["counts"]``).

The session-scoped fixtures ``loop_benchmark`` and ``loop_run`` (tests/conftest.py) build and train once.
"""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch

from tests._build_fixtures import build_listed, write_audio

RATE = 24000
BENCHMARK = "loop-fixture"
# id -> (name, family, role)
GENERATORS = {"gen_a": ("Generator A", "fam_a", "train"), "gen_b": ("Generator B", "fam_b", "train"),
              "gen_ood": ("Generator OOD", "fam_c", "ood")}
REAL_SOURCE = "tones"
# (split, generator, count)
LAYOUT = [("train", "real", 12), ("train", "gen_a", 6), ("train", "gen_b", 6),
          ("validation", "real", 4), ("validation", "gen_a", 2), ("validation", "gen_b", 2),
          ("test_id", "real", 5), ("test_id", "gen_a", 3), ("test_id", "gen_b", 3),
          ("test_ood", "real", 5), ("test_ood", "gen_ood", 5)]

PROTOCOL = {
    "name": BENCHMARK,
    "version": "0.0.1",
    "title": "Loop test fixture",
    "description": "Generated tones (reals) and noisy bright signals (fakes) for the train/evaluate tests.",
    "license": "CC0-1.0",
    "citation": "@misc{loopfixture, title={Loop fixture}}",
    "audio": {"sample_rate": RATE, "format": "flac", "max_seconds": None},
    "clip_policy": "first:2",
    "source": {"kind": "csv"},
    "splits": {"salt": "loop-fixture-v1",  # unused: every row's split is pre-assigned
               "reals": {"train": 0.5, "validation": 0.2, "test_id": 0.15, "test_ood": 0.15},
               "fakes_id": {"train": 0.6, "validation": 0.2, "test_id": 0.2}},
    "generators": [{"id": g, "name": n, "family": f, "role": r} for g, (n, f, r) in GENERATORS.items()],
    "reals": [{"id": REAL_SOURCE, "name": "Soft low tones"}],
}


def layout_counts(layout=LAYOUT, rename: dict | None = None) -> dict[str, dict[str, int]]:
    """split -> generator -> rows, as the build report's ``counts.by_split`` must give them."""
    rename = rename or {}
    out: dict[str, dict[str, int]] = {}
    for split, gen, n in layout:
        gens = out.setdefault(split, {})
        gens[rename.get(gen, gen)] = gens.get(rename.get(gen, gen), 0) + n
    return out


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


def build_loop_benchmark(folder: Path, *, seconds: float = 2.5, layout=LAYOUT, protocol: dict | None = None,
                         rename: dict | None = None, real_source: str = REAL_SOURCE) -> Path:
    """Write the audio and row list of ``layout`` under ``folder``, build it and return the built folder.

    ``protocol`` (default :data:`PROTOCOL`) is the protocol mapping; ``rename`` maps the fixture's
    generator ids (``gen_a``, ``gen_b``, ``gen_ood``) to the protocol's and ``real_source`` names its
    real source (to pose as another benchmark). The kind of signal follows the fixture's ids.
    """
    rename = rename or {}
    rows, seed = [], 0
    for split, gen, n in layout:
        for _ in range(n):
            seed += 1
            gen_id = rename.get(gen, gen)
            row_id = f"{gen_id}-{seed:04d}"
            rel = f"audio/{row_id}.flac"
            write_audio(folder / rel, signal(gen, seconds + 0.1 * (seed % 5), seed), RATE)
            rows.append({"id": row_id, "label": int(gen != "real"), "generator": gen_id,
                         "source": real_source if gen == "real" else gen_id, "path": rel, "split": split})
    result = build_listed(folder, copy.deepcopy(protocol or PROTOCOL), rows)
    return result.out_dir


# Fast settings for the tiny test model: the paper's lr 1e-4 would need many epochs on 24 songs.
TINY_RECIPE = {"lr": 2e-2, "epochs": 4, "batch_size": 8}


def train_loop_run(data: Path, out: Path) -> Path:
    """A clam-tiny run of :data:`TINY_RECIPE` on the loop benchmark ``data``."""
    from mom_bench.loop.training import train

    return train("clam-tiny", data, out, config=TINY_RECIPE, overwrite=True, progress=False)
