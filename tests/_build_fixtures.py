"""Small real benchmarks: audio files written with torchcodec, a protocol YAML and a CSV row list (source
kind ``csv``). ``make_benchmark`` serves the build tests; ``build_listed`` builds the datasets of the other
tests (tests/_fixtures_loop.py, tests/_fixtures_leaderboard.py) with the real builder."""
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


# --------------------------------------------------------------------------------------------------
# Datasets of the other tests, made by the real builder from a protocol and a CSV row list

ROW_FIELDS = ["id", "label", "generator", "source", "path", "group", "split"]


def write_audio(path: Path, samples: torch.Tensor, rate: int) -> Path:
    """Mono float samples in [-1, 1] as an audio file (format from the suffix), written by torchcodec."""
    from torchcodec.encoders import AudioEncoder

    path.parent.mkdir(parents=True, exist_ok=True)
    AudioEncoder(samples.reshape(1, -1), sample_rate=rate).to_file(str(path))
    return path


def build_listed(folder: Path, protocol: str | dict, rows: list[dict], out_name: str = "built"):
    """Build a benchmark with ``mom_bench.dataset.build_benchmark`` (source kind ``csv``).

    ``protocol`` is the YAML text (or the mapping) of the protocol; ``rows`` are the CSV rows (``path``
    relative to ``folder``; a ``split`` pre-assigns the row's split). Writes ``folder/proto.yaml`` and
    ``folder/rows.csv``, builds into ``folder/<out_name>`` and returns the BuildResult; every row must be
    written.
    """
    import yaml

    from mom_bench.dataset import build_benchmark

    folder.mkdir(parents=True, exist_ok=True)
    proto = folder / "proto.yaml"
    proto.write_text(protocol if isinstance(protocol, str) else yaml.safe_dump(protocol, sort_keys=False))
    table = folder / "rows.csv"
    extra = sorted({k for r in rows for k in r} - set(ROW_FIELDS))
    with open(table, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=ROW_FIELDS + extra)
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in ROW_FIELDS + extra})
    result = build_benchmark(str(proto), folder / out_name, source_options={"csv": str(table)}, progress=False)
    assert result.ok and result.n_written == len(rows), result.summary()
    return result


class FirstSecondBrightness(torch.nn.Module):
    """A tiny detector for the corpus tests: P(fake) from the mean sample-to-sample change of the first second."""

    def __init__(self, sample_rate: int = 24000):
        super().__init__()
        from mom_bench.core.audio import parse_clip

        self.sample_rate = sample_rate
        self.clip = parse_clip("first:1")

    def forward(self, wave):
        return 8 * (wave.diff(dim=-1).abs().mean(dim=-1) - 0.05)


def report_rows(out: Path) -> dict[str, dict]:
    """id -> the build report's row (status, reason, split, ...) of the build in ``out``."""
    import json

    return {r["id"]: r for r in json.loads((out / "build_report.json").read_text())["rows"]}
