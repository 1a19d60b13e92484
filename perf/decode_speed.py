"""Decode speed of the one audio path: a 3-minute stereo 44.1 kHz mp3 decoded to mono 24 kHz.

Prints audio-seconds decoded per wall-second (median of several runs) for the full song and for the
`first:90` policy, as a figure later work is compared against.

    python perf/decode_speed.py [--repeats 5]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torchcodec.encoders import AudioEncoder

from mom_bench.core import audio


def make_mp3(path: Path, seconds: float = 180.0, rate: int = 44100) -> Path:
    gen = torch.Generator().manual_seed(0)
    t = torch.arange(int(seconds * rate)) / rate
    music = 0.2 * torch.sin(2 * torch.pi * 220 * t) + 0.05 * torch.randn(int(seconds * rate), generator=gen)
    AudioEncoder(torch.stack([music, music.roll(100)]), sample_rate=rate).to_file(str(path), bit_rate=192000)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    with tempfile.TemporaryDirectory() as tmp:
        mp3 = make_mp3(Path(tmp) / "song.mp3")
        for label, clip in [("full song", audio.full()), ("first:90", audio.first(90))]:
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                out = audio.load(mp3, 24000, clip=clip)
                times.append(time.perf_counter() - start)
            secs = out.samples.numel() / 24000
            med = statistics.median(times)
            print(f"{label:<10} {secs:6.1f} audio-s in {med * 1000:7.1f} ms  ->  {secs / med:8.1f} audio-s per s"
                  f"  (median of {args.repeats}; torch threads {torch.get_num_threads()})")


if __name__ == "__main__":
    main()
