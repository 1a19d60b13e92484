"""Speed of CREPE's pooled hidden states (mom_bench.models.crepe) on this CPU: a batch of 8 x 10 s clips and one
90 s clip at 16 kHz, per hop. Prints wall seconds (best of ``--repeats``) and audio-seconds per wall-second.

    python perf/crepe_speed.py [--capacity tiny] [--hops 160,320,512] [--threads 2] [--repeats 2]

CREPE full must have been fetched first (``mom_bench.models.crepe.fetch_weights("crepe-full")``); its cost is
about 38x tiny's per frame, so ``--clips 1`` (one 10 s clip instead of eight) keeps its run short.
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from mom_bench.models.crepe import load_crepe


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--capacity", default="tiny", choices=["tiny", "full"])
    ap.add_argument("--hops", default="160,320,512")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--clips", type=int, default=8, help="clips of 10 s in the batch")
    ap.add_argument("--long", type=float, default=90.0, help="seconds of the long clip (0: skip it)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    t = torch.arange(10 * 16000) / 16000
    tone = 0.3 * torch.sin(2 * torch.pi * 220 * t)
    batch = tone + 0.05 * torch.randn(args.clips, t.numel(), generator=gen)
    inputs = [(f"{args.clips}x10s", batch)]
    if args.long > 0:
        inputs.append((f"1x{args.long:g}s", 0.1 * torch.randn(1, int(args.long * 16000), generator=gen)))
    print(f"{cpu_name()}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"load average {os.getloadavg()[0]:.2f}")
    for hop in (int(h) for h in args.hops.split(",")):
        model = load_crepe(args.capacity, hop_length=hop)
        model.hidden_states(batch[:1, :16000])  # warm up
        for name, wave in inputs:
            best = float("inf")
            for _ in range(args.repeats):
                start = time.perf_counter()
                out = model.hidden_states(wave)
                best = min(best, time.perf_counter() - start)
            frames = wave.shape[0] * (1 + wave.shape[1] // hop)
            print(f"crepe-{args.capacity} hop {hop:4d} {name:>7}: {best:7.2f} s, {wave.numel() / 16000 / best:6.1f}x "
                  f"real time, {frames / best:6.0f} frames/s, out {tuple(out.shape)}", flush=True)


if __name__ == "__main__":
    main()
