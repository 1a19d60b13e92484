"""The cost of scoring over time: songs/s and hours of audio per hour, windowed (`predict --timeline`) against
whole-file scoring (`predict`), for the reference localisers' detectors.

For each of ``clam-mini``, ``fakeprint`` and ``spectttra-mini`` (registry configurations as ``mom-bench models``
lists them: clam-mini with its shipped pretrained CREPE-tiny and GE2E encoders, the heads untrained: speed does not
depend on the weights), the same songs (mom-mini's shipped 12 s excerpts, decoded from Ogg Vorbis) are scored:

- ``whole file (clip)``: :func:`mom_bench.loop.prediction.iter_scores` with the model's clip policy (predict's
  default: one clip per song);
- ``whole file (all windows)``: the same with ``all-windows`` (consecutive clips, logits averaged);
- ``timeline W/H``: :func:`mom_bench.loop.timeline.iter_timelines` with the reference localisers' 2 s windows every
  1 s, first with an empty feature cache, then again with the cache it filled (frozen-encoder detectors only: the
  second pass runs the head alone).

    python perf/timeline_speed.py            # 12 songs, a few minutes on 2 CPU cores
    python perf/timeline_speed.py --songs 4  # quicker

Measure on an otherwise idle machine; the figures name the CPU they ran on (``lscpu`` model name).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from main_job import _cpu_model  # perf/ is on the path when a script here runs

MODELS = ["clam-mini", "fakeprint", "spectttra-mini"]
WINDOW, HOP = 2.0, 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--songs", type=int, default=12, help="how many of mom-mini's 12 s excerpts to score")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    home = tempfile.mkdtemp(prefix="timeline-speed-")
    os.environ["MOM_BENCH_HOME"] = home  # an empty feature cache

    import torch

    from mom_bench.core import audio
    from mom_bench.loop import prediction, timeline
    from mom_bench.loop.inference import uses_cached_features
    from mom_bench.models import registry
    from mom_bench.models.cache import FeatureCache

    data = Path(prediction.__file__).resolve().parents[1] / "data" / "mom_mini"
    files = sorted(data.glob("*.ogg"))[: args.songs]
    seconds = sum(audio.load(f).duration_s for f in files)
    print(f"CPU: {_cpu_model()}; torch threads {torch.get_num_threads()}; "
          f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"{len(files)} songs, {seconds / 60:.1f} min of audio; batch size {args.batch_size}; "
          f"timeline windows {WINDOW:g} s / hop {HOP:g} s\n")
    header = f"{'model':<16}{'scoring':<34}{'windows':>8}{'seconds':>9}{'songs/s':>9}{'audio h/h':>11}"
    print(header)
    print("-" * len(header))

    def show(name: str, how: str, windows: int, took: float) -> None:
        print(f"{name:<16}{how:<34}{windows:>8}{took:>9.1f}{len(files) / took:>9.2f}{seconds / took:>11.1f}",
              flush=True)

    for name in args.models.split(","):
        model = registry.create(name).eval()
        for how, policy in (("whole file (clip " + str(model.clip) + ")", str(model.clip)),
                            ("whole file (all windows)", prediction.ALL_WINDOWS)):
            t0 = time.perf_counter()
            rows = list(prediction.iter_scores(model, files, clip_policy=policy, batch_size=args.batch_size,
                                               progress=False))
            show(name, how, sum(int(r["windows"] or 0) for r in rows), time.perf_counter() - t0)
        cache = FeatureCache(Path(home) / "cache")
        passes = ["cold cache", "warm cache"] if uses_cached_features(model) else ["no feature cache"]
        for label in passes:
            t0 = time.perf_counter()
            songs = list(timeline.iter_timelines(model, timeline.file_songs(files), window=WINDOW, hop=HOP,
                                                 batch_size=args.batch_size, cache=cache))
            bad = [s for s in songs if not s.ok]
            if bad:
                sys.exit(f"{name}: {bad[0].id} failed: {bad[0].error}")
            show(name, f"timeline {WINDOW:g}/{HOP:g} s, {label}", sum(len(s.windows) for s in songs),
                 time.perf_counter() - t0)


if __name__ == "__main__":
    main()
