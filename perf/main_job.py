"""Wall time of the README's main job: `mom-bench build`, `train --model clam`, `evaluate --model clam` on
mom-mini, each as its own `mom-bench` process in a fresh $MOM_BENCH_HOME (nothing cached). Prints each step's
wall time, the total against the 5-minute target on 2 CPU cores, and the per-generator table evaluate printed.

    python perf/main_job.py                    # model clam (resolves to clam-mini on mom-mini)
    python perf/main_job.py --model spectttra --json out.json
    python perf/main_job.py --home .scratch/mb     # keep the outputs there
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime

TARGET_S = 300.0
BUILD_TARGET_S = 120.0


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_mb() -> float:
    """The largest resident set of any child process so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            return next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), "unknown")
    except OSError:
        return platform.processor() or "unknown"


def _run(args: list[str], env: dict) -> tuple[float, float, str]:
    exe = shutil.which("mom-bench") or str(os.path.join(os.path.dirname(sys.executable), "mom-bench"))
    t0, c0 = time.perf_counter(), _cpu_children()
    done = subprocess.run([exe, *args], env=env, capture_output=True, text=True)
    seconds, cpu = time.perf_counter() - t0, _cpu_children() - c0
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"`mom-bench {' '.join(args)}` failed with exit status {done.returncode}")
    return seconds, cpu, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="clam")
    parser.add_argument("--home", default=None, help="MOM_BENCH_HOME to use (default: a fresh temporary folder)")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    opts = parser.parse_args()

    home = opts.home or tempfile.mkdtemp(prefix="mom-bench-main-job-")
    env = {**os.environ, "MOM_BENCH_HOME": home, "HF_HUB_OFFLINE": "1"}
    steps, cpu, outputs = {}, {}, {}
    for name, args in (("build", ["build"]), ("train", ["train", "--model", opts.model]),
                       ("evaluate", ["evaluate", "--model", opts.model])):
        steps[name], cpu[name], outputs[name] = _run(args, env)
        print(f"{name:<9} {steps[name]:7.1f} s wall  {cpu[name]:7.1f} s CPU  peak RSS so far {_peak_rss_mb():6.0f} MB"
              + (f"  (build target < {BUILD_TARGET_S:.0f} s: {'met' if steps[name] < BUILD_TARGET_S else 'NOT met'})"
                 if name == "build" else ""), flush=True)
    total = sum(steps.values())
    print(f"{'total':<9} {total:7.1f} s wall  {sum(cpu.values()):7.1f} s CPU  (target < {TARGET_S:.0f} s wall on "
          f"2 CPU cores: {'met' if total < TARGET_S else 'NOT met'}; CPU time / cores is the floor on an idle machine)")
    print(f"peak memory: {_peak_rss_mb():.0f} MB (largest resident set of one step; target < 4096 MB)")
    print(f"machine: {_cpu_model()}, {platform.machine()}, {os.cpu_count()} CPU cores visible, {platform.platform()}, "
          f"{datetime.now(UTC).isoformat(timespec='seconds')}")
    print("\n--- evaluate output ---\n" + outputs["evaluate"])
    if opts.json:
        with open(opts.json, "w") as fh:
            json.dump({"model": opts.model, "seconds": steps, "cpu_seconds": cpu, "total_s": total,
                       "target_s": TARGET_S, "cpu_count": os.cpu_count(), "evaluate_output": outputs["evaluate"],
                       "peak_rss_mb": _peak_rss_mb(), "cpu_model": _cpu_model(),
                       "date": datetime.now(UTC).isoformat(timespec="seconds")}, fh, indent=2)
    if not opts.home:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
