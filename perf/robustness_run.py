"""Wall time of a robustness run: `mom-bench evaluate --model M --robustness standard` on mom-mini, after
`mom-bench build` and `mom-bench train --model M` (each a `mom-bench` process; an existing build or run in
$MOM_BENCH_HOME is reused, so point --home at a fresh folder to time everything). Prints the CPU, each step's
wall time, the seconds per transform (from the run's progress output) and the robustness table.

    python perf/robustness_run.py                      # spectttra (spectttra-mini on mom-mini)
    python perf/robustness_run.py --model clam --home .scratch/mb --json out.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime


def _cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        return next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")),
                    platform.processor() or "unknown")
    except OSError:
        return platform.processor() or "unknown"


def _run(args: list[str], env: dict) -> tuple[float, str]:
    exe = shutil.which("mom-bench") or os.path.join(os.path.dirname(sys.executable), "mom-bench")
    t0 = time.perf_counter()
    done = subprocess.run([exe, *args], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"`mom-bench {' '.join(args)}` failed with exit status {done.returncode}")
    return seconds, done.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="spectttra")
    ap.add_argument("--suite", default="standard")
    ap.add_argument("--home", default=None, help="$MOM_BENCH_HOME to use (default: a fresh temporary folder)")
    ap.add_argument("--json", default=None, help="also write the figures here")
    args = ap.parse_args()
    home = args.home or tempfile.mkdtemp(prefix="mb-robust-")
    env = {**os.environ, "MOM_BENCH_HOME": home, "HF_HUB_OFFLINE": "1"}
    steps = {}
    steps["build"], _ = _run(["build", "--benchmark", "mom-mini"], env)
    steps["train"], _ = _run(["train", "--model", args.model], env)
    steps["evaluate (clean only)"], _ = _run(["evaluate", "--model", args.model, "--no-plots",
                                              "--out", os.path.join(home, "clean-only")], env)
    steps["evaluate --robustness"], out = _run(["evaluate", "--model", args.model, "--robustness", args.suite], env)
    steps["evaluate --robustness (again, cached)"], _ = _run(
        ["evaluate", "--model", args.model, "--robustness", args.suite], env)
    report = {"date": datetime.now(UTC).strftime("%Y-%m-%d"), "cpu": _cpu_model(),
              "cpus": os.cpu_count(), "model": args.model, "suite": args.suite, "seconds": steps}
    print(f"{report['date']}  {report['cpu']}  ({report['cpus']} CPUs)  model {args.model}  suite {args.suite}")
    for name, seconds in steps.items():
        print(f"  {name:<40} {seconds:8.1f} s")
    robust = steps["evaluate --robustness"] - steps["evaluate (clean only)"]
    print(f"  {'robustness part (difference)':<40} {robust:8.1f} s")
    print()
    print(out)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=2)


if __name__ == "__main__":
    main()
