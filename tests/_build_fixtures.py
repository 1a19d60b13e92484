"""Small real benchmarks for the build tests: audio files written with torchcodec, a protocol YAML and a
CSV row list (source kind ``csv``)."""
from __future__ import annotations

import csv
import math
from pathlib import Path

import torch

PROTOCOL = """\
name: tiny
version: "0.1.0"
title: Tiny test benchmark
description: Generated tones for the build tests.
license: CC-BY-4.0
citation: "@misc{tiny, title={Tiny}}"
audio: {sample_rate: 16000, format: flac, max_seconds: null}
clip_policy: "first:2"
source: {kind: csv}
splits:
  salt: tiny-v1
  reals: {train: 0.5, validation: 0.2, test_id: 0.15, test_ood: 0.15}
  fakes_id: {train: 0.6, validation: 0.2, test_id: 0.2}
generators:
  - {id: gen_a, name: Gen A, family: a, role: train}
  - {id: gen_b, name: Gen B, family: b, role: train}
  - {id: gen_ood, name: Gen OOD, family: c, role: ood}
reals:
  - {id: real, name: Real tones, group_by: [artist]}
"""

_FORMATS = [("wav", 22050, 2), ("flac", 16000, 1), ("mp3", 44100, 2)]


def write_tone(path: Path, index: int, seconds: float, fmt: tuple) -> None:
    ext, rate, channels = fmt
    g = torch.Generator().manual_seed(index)
    t = torch.arange(int(rate * seconds)) / rate
    x = 0.3 * torch.sin(2 * math.pi * (110 + 7 * index) * t) + 0.02 * torch.randn(t.shape, generator=g)
    from torchcodec.encoders import AudioEncoder

    AudioEncoder(x.repeat(channels, 1), sample_rate=rate).to_file(str(path))


def make_benchmark(folder: Path, *, n_real: int = 12, n_fake: int = 12, n_ood: int = 6, seconds: float = 1.0,
                   extra_rows: list[dict] | None = None) -> tuple[Path, Path]:
    """Write audio, ``proto.yaml`` and ``rows.csv`` into ``folder``; return (protocol path, csv path)."""
    folder.mkdir(parents=True, exist_ok=True)
    audio = folder / "audio"
    audio.mkdir(exist_ok=True)
    rows = []
    i = 0
    for kind, n in (("real", n_real), ("fake", n_fake), ("ood", n_ood)):
        for k in range(n):
            fmt = _FORMATS[i % len(_FORMATS)]
            name = f"{kind}_{k:03d}.{fmt[0]}"
            write_tone(audio / name, i, seconds, fmt)
            gen = "real" if kind == "real" else ("gen_ood" if kind == "ood" else ("gen_a", "gen_b")[k % 2])
            rows.append({"id": f"{kind}_{k:03d}", "label": int(kind != "real"), "generator": gen,
                         "source": "real" if kind == "real" else gen, "path": f"audio/{name}",
                         "artist": f"artist_{k // 3}" if kind == "real" else ""})
            i += 1
    rows += extra_rows or []
    proto = folder / "proto.yaml"
    proto.write_text(PROTOCOL)
    table = folder / "rows.csv"
    fields = ["id", "label", "generator", "source", "path", "artist", "group", "split"]
    with open(table, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in fields})
    return proto, table
