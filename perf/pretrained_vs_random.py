"""Pretrained vs randomly initialised encoders on mom-mini, with the trained CLAM head (not a probe): clam-mini and
its single-stream ablations against the same networks randomly initialised. Trains and evaluates each with the
library's own trainer in a fresh or given $MOM_BENCH_HOME and prints one table (F1 and AUC per test split,
per-generator TPR, seconds).

    python perf/pretrained_vs_random.py --home .scratch/pvr        # builds mom-mini there if needed
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except OSError:
        return platform.processor() or "unknown"
    return next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")),
                "unknown")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", default=None, help="MOM_BENCH_HOME to use (default: a fresh temporary one)")
    args = parser.parse_args()
    os.environ["MOM_BENCH_HOME"] = args.home or tempfile.mkdtemp(prefix="mom-bench-pvr-")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import mom_bench as mb
    from mom_bench.models import registry

    base = {n: registry.resolve(n) for n in ("mert-only-mini", "wav2vec2-only-mini")}
    controls = {"mert-only-mini": "music-only-random", "wav2vec2-only-mini": "voice-only-random"}
    random_encoders = registry.resolve("clam-mini-random").config["encoders"]
    for name, control in controls.items():
        spec = base[name]
        stream = spec.config["streams"][0]
        registry.register(replace(spec, name=control, aliases=(), variant_of=None, benchmarks=(), params=None,
                                  config={**spec.config, "encoders": {stream: random_encoders[stream]}},
                                  description=f"{name} on randomly initialised encoders (control)"))
    data = mb.build_benchmark("mom-mini", progress=False).out_dir
    rows = [("CREPE-tiny + GE2E", "clam-mini", "clam-mini-random"),
            ("CREPE-tiny (music stream)", "mert-only-mini", "music-only-random"),
            ("GE2E (voice stream)", "wav2vec2-only-mini", "voice-only-random")]
    print(f"{'encoders':<26} {'row':<20} {'test_id F1/AUC':>15} {'test_ood F1/AUC':>16}  "
          "per-generator TPR  train+eval s")
    for title, pretrained, random in rows:
        for name in (pretrained, random):
            t0 = time.time()
            run = mb.train(name, data, progress=False)
            result = mb.evaluate(name, run / "best", data, progress=False, plots=False)
            seconds = time.time() - t0
            splits = result.report["splits"]
            cells = " ".join(f"{splits[s]['overall']['f1']['value']:.2f}/{splits[s]['overall']['auc']['value']:.2f}"
                             .rjust(15 if s == "test_id" else 16) for s in ("test_id", "test_ood"))
            tpr = ", ".join(f"{g} {v['tpr']['value']:.2f}" for s in splits.values()
                            for g, v in s["per_generator"].items())
            kind = "pretrained" if name == pretrained else "random"
            print(f"{title + ' ' + kind:<26} {name:<20} {cells}  {tpr}  {seconds:.0f}")
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs, {datetime.now(UTC).isoformat(timespec='seconds')}")


if __name__ == "__main__":
    main()
