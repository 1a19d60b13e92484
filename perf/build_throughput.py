"""Build throughput: audio-seconds stored per wall-second by `build_benchmark`, next to the raw decode
rate of the same files, for 1 and 2 worker processes, with the peak resident memory of each run.

A folder of generated 3-minute stereo 44.1 kHz mp3s (192 kb/s) is built with a CSV-listed protocol.
Each measurement runs in a fresh process, so its peak RSS (the process plus its workers) is its own.
"Raw decode" is `mom_bench.core.audio.load(path)` at the native rate: the floor any builder pays. The
build also resamples to 24 kHz, computes format statistics, encodes FLAC and writes parquet twice
(journal, then shards). Running with --songs N and 2N shows whether memory stays flat.

    python perf/build_throughput.py [--songs 8] [--seconds 180] [--workers 1 2]
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROTOCOL = """\
name: throughput
version: "0"
title: Build throughput fixture
description: Generated mp3s.
license: CC0-1.0
citation: "-"
audio: {sample_rate: 24000, format: flac, max_seconds: null}
clip_policy: "first:90"
source: {kind: csv}
splits:
  salt: bench
  reals: {train: 0.6, validation: 0.2, test_id: 0.1, test_ood: 0.1}
  fakes_id: {train: 0.6, validation: 0.2, test_id: 0.2}
generators:
  - {id: gen, name: Generated, family: g, role: train}
reals:
  - {id: real, name: Generated reals}
"""


def make_songs(folder: Path, n: int, seconds: float) -> Path:
    import torch
    from torchcodec.encoders import AudioEncoder

    folder.mkdir(parents=True, exist_ok=True)
    rate = 44100
    rows = []
    for i in range(n):
        path = folder / f"song_{i:03d}.mp3"
        if not path.exists():
            g = torch.Generator().manual_seed(i)
            t = torch.arange(int(seconds * rate)) / rate
            x = 0.2 * torch.sin(2 * torch.pi * (180 + 20 * i) * t) + 0.05 * torch.randn(t.shape, generator=g)
            AudioEncoder(torch.stack([x, x.roll(100)]), sample_rate=rate).to_file(str(path), bit_rate=192000)
        rows.append({"id": f"song_{i:03d}", "label": i % 2, "generator": "gen" if i % 2 else "real",
                     "source": "gen" if i % 2 else "real", "path": path.name})
    table = folder / f"rows_{n}.csv"
    with open(table, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    (folder / "proto.yaml").write_text(PROTOCOL)
    return table


def _peak_rss_mib() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + kids) / 1024  # KiB on Linux; own + largest child bounds the concurrent peak


def run_one(mode: str, folder: Path, table: Path, workers: int) -> dict:
    from mom_bench.core import audio

    files = sorted(folder.glob("song_*.mp3"))[: sum(1 for _ in open(table)) - 1]
    # Steady state, not start-up: load FFmpeg and the heavy imports (datasets, scikit-learn for the
    # shortcut check) before the clock starts. Worker start-up (spawn) is inside the measured time.
    audio.load(files[0], clip=audio.first(1))
    if mode != "decode":
        import datasets  # noqa: F401
        import sklearn.linear_model  # noqa: F401

        import mom_bench.dataset.finalize  # noqa: F401
    if mode == "decode":
        start = time.perf_counter()
        secs = 0.0
        for f in files:
            d = audio.load(f)
            secs += d.duration_s
        wall = time.perf_counter() - start
    else:
        from mom_bench.dataset import build_benchmark

        out = Path(tempfile.mkdtemp(prefix="throughput-out-"))
        start = time.perf_counter()
        result = build_benchmark(str(folder / "proto.yaml"), out, source_options={"csv": str(table)},
                                 num_workers=workers, progress=False, overwrite=True)
        wall = time.perf_counter() - start
        assert result.ok, result.summary()
        import pyarrow.parquet as pq


        secs = sum(sum(pq.read_table(p, columns=["duration_s"]).column("duration_s").to_pylist())
                   for p in (out / "data").glob("*.parquet"))
    return {"mode": mode, "workers": workers, "songs": len(files), "audio_s": secs, "wall_s": wall,
            "audio_s_per_s": secs / wall, "peak_rss_mib": _peak_rss_mib()}


def measure(mode: str, folder: Path, table: Path, workers: int) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--folder", str(folder), "--table", str(table),
           "--workers", str(workers)]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if out.returncode != 0:
        raise SystemExit(f"{mode} run failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--folder", type=Path, default=None, help="Keep the generated songs here.")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--table", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(args.child, args.folder, args.table, args.workers[0])))
        return

    folder = args.folder or Path(tempfile.mkdtemp(prefix="throughput-"))
    print(f"generating {args.songs} songs of {args.seconds:g} s in {folder} ...", flush=True)
    table = make_songs(folder, args.songs, args.seconds)
    half = make_songs(folder, max(1, args.songs // 2), args.seconds)
    rows = [measure("decode", folder, table, 1)]
    for w in args.workers:
        rows.append(measure("build", folder, table, w))
    rows.append(measure("build", folder, half, 1))
    raw = rows[0]["audio_s_per_s"]
    print(f"\n{'run':<12} {'workers':>7} {'songs':>5} {'audio s':>8} {'wall s':>7} {'audio-s/s':>10} "
          f"{'x raw':>6} {'peak RSS MiB':>12}")
    for r in rows:
        print(f"{r['mode']:<12} {r['workers']:>7} {r['songs']:>5} {r['audio_s']:>8.0f} {r['wall_s']:>7.1f} "
              f"{r['audio_s_per_s']:>10.1f} {r['audio_s_per_s'] / raw:>6.2f} {r['peak_rss_mib']:>12.0f}")
    print(f"\ncpu cores: {os.cpu_count()}; load average now: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
