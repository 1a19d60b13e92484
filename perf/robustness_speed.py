"""Song-transforms per second of a robustness run, the old way and the fast way, in one process on this machine.

Each configuration scores the same songs under the same transforms into an empty cache of its own (a temporary
$MOM_BENCH_HOME), through `mom_bench.loop.robustness.score_shard`: the work of `evaluate --robustness`
without its clean evaluation and metrics, on shard 0 of `--num-shards` (a contiguous block of every test split,
so `--num-shards 10` times a tenth of the songs). A song-transform is one song scored (for a frozen-encoder
model: encoded) under one transform.

    before   --num-workers 0, --batch-size 8, fp32   (the only settings `evaluate --robustness` took before)
    after    --num-workers 0 and 2, --batch-size 8, fp32 and bf16

Needs a built benchmark and a trained model in --home (`mom-bench build -b mom-mini`, `mom-bench train --model
clam`; perf/robustness_run.py does both). Prints the CPU (`lscpu`), the date, the load average (other jobs on
the cores change every figure) and one line per configuration.

    python perf/robustness_speed.py --quick                      # 4 transforms, 1/40 of the test songs, twice
    python perf/robustness_speed.py --model clam --num-shards 10  # every transform, a tenth of the songs
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from main_job import _cpu_model  # perf/ is on the path when a script here runs

#: --quick: one transform of each cost class (an FFmpeg round trip, a phase vocoder, a filter, seeded noise).
QUICK = ["mp3_64k", "pitch_+1st", "lowpass_4k", "noise_snr20"]
CONFIGS = [("before", 0, 8, "fp32"), ("after", 0, 8, "bf16"), ("after", 2, 8, "fp32"), ("after", 2, 8, "bf16")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="clam", help="registry name (default clam: clam-mini on mom-mini)")
    ap.add_argument("--benchmark", default="mom-mini")
    ap.add_argument("--home", default=os.environ.get("MOM_BENCH_HOME"),
                    help="$MOM_BENCH_HOME holding the build and the trained model (default: the current one)")
    ap.add_argument("--suite", default="standard")
    ap.add_argument("--transforms", default=None, help="comma-separated names (default: the whole suite)")
    ap.add_argument("--num-shards", type=int, default=1, help="score shard 0 of this many: 1/N of the songs")
    ap.add_argument("--repeats", type=int, default=2, help="time each configuration this many times, alternating "
                                                           "(the median is shown; other jobs on the cores vary)")
    ap.add_argument("--quick", action="store_true", help=f"--transforms {','.join(QUICK)} --num-shards 40")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()
    if args.quick:
        args.transforms, args.num_shards = ",".join(QUICK), 40
    from mom_bench.core import settings

    if args.home:
        os.environ["MOM_BENCH_HOME"] = args.home
    data = settings.default_dataset_dir(args.benchmark)
    if not (data / "build_report.json").is_file():
        raise SystemExit(f"no build in {data}: run `mom-bench build -b {args.benchmark}` (and `mom-bench train "
                         f"--model {args.model}`) with MOM_BENCH_HOME={settings.home()}")
    from mom_bench.loop.robustness import score_shard
    from mom_bench.models import registry

    name = registry.resolve(args.model, args.benchmark).name
    checkpoint = settings.runs_dir() / args.benchmark / name / "best"
    if not checkpoint.is_dir():
        raise SystemExit(f"no trained {name} in {checkpoint}: run `mom-bench train --model {args.model}`")
    transforms = [t for t in (args.transforms or "").split(",") if t] or None
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC  {_cpu_model()}  ({os.cpu_count()} CPUs, load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())})")
    print(f"{name} on {args.benchmark}, suite {args.suite}, transforms {', '.join(transforms or ['all'])}, "
          f"shard 0 of {args.num_shards} of each test split")
    def timed(workers: int, batch: int, precision: str, shard: int) -> tuple[int, float]:
        with tempfile.TemporaryDirectory(prefix="mb-robust-speed-") as cache_home:
            os.environ["MOM_BENCH_HOME"] = cache_home  # an empty cache: nothing is served from an earlier config
            t0 = time.perf_counter()
            done = score_shard(args.model, checkpoint, data, benchmark=args.benchmark, num_shards=args.num_shards,
                               shard_index=shard, suite=args.suite, transforms=transforms, clips=False,
                               batch_size=batch, num_workers=workers, precision=precision, progress=False)
            return done.computed, time.perf_counter() - t0

    # The first call of each precision loads FFmpeg's codecs and compiles oneDNN's kernels: paid here, on other
    # songs (shard 1), so that no configuration is charged for coming first.
    for precision in dict.fromkeys(c[3] for c in CONFIGS):
        timed(0, 8, precision, 1 if args.num_shards > 1 else 0)
    times: dict[int, list[float]] = {i: [] for i in range(len(CONFIGS))}
    counts: dict[int, int] = {}
    for _ in range(args.repeats):
        for i, (label, workers, batch, precision) in enumerate(CONFIGS):
            counts[i], seconds = timed(workers, batch, precision, 0)
            times[i].append(seconds)
            print(f"  {label:<7} workers {workers}  batch {batch}  {precision:<5} {counts[i]:6d} song-transforms "
                  f"in {seconds:7.1f} s = {counts[i] / seconds:6.2f} /s", flush=True)
    rows = []
    for i, (label, workers, batch, precision) in enumerate(CONFIGS):
        seconds = statistics.median(times[i])
        rate = counts[i] / seconds if seconds else float("nan")
        rows.append({"config": label, "num_workers": workers, "batch_size": batch, "precision": precision,
                     "song_transforms": counts[i], "seconds": [round(t, 2) for t in times[i]],
                     "median_seconds": round(seconds, 2), "per_second": round(rate, 3)})
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("median of the repeats:")
    for row in rows:
        print(f"  {row['config']:<7} workers {row['num_workers']}  batch {row['batch_size']}  {row['precision']:<5} "
              f"{row['per_second']:6.2f} song-transforms/s")
    base = rows[0]["per_second"]
    for row in rows[1:]:
        print(f"  {row['config']} (workers {row['num_workers']}, {row['precision']}) / before: "
              f"{row['per_second'] / base:.2f}x")
    if args.json:
        args.json.write_text(json.dumps({"date": f"{datetime.now(UTC):%Y-%m-%d}", "cpu": _cpu_model(),
                                         "cpus": os.cpu_count(), "model": name, "rows": rows}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
