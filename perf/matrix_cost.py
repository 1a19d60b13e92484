"""What a generalisation matrix costs: for K training sets x T test sets, how many songs' encoder features were
computed against how many distinct songs the matrix reads (equal for one model and precision: no song twice),
and the wall time split into feature extraction, training and scoring. Then the same command again, which must
reuse everything.

The count of computed features is read twice: from the matrix (``timing.songs_extracted``) and, independently,
from the feature cache on disk (every id stored in the model's cache folders, counted with repeats).

    python perf/matrix_cost.py                                     # fakeprint, mom-mini's lofo folds x its pools
    python perf/matrix_cost.py --model clam --data ~/.cache/mom-bench/datasets/mom-mini
    python perf/matrix_cost.py --no-folds --json out.json          # one training set, the base build
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from main_job import _cpu_model  # perf/ is on the path when a script here runs


def _stored_ids(home: Path) -> int:
    """Ids stored over every feature cache folder of ``home``, counted with repeats (a song computed twice, in
    two folders, counts twice)."""
    from mom_bench.models.cache import FeatureCache

    root = home / "cache" / "features"
    cache = FeatureCache(root)
    total = 0
    for folder in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        total += len(cache.stored_ids(folder))
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="fakeprint")
    parser.add_argument("--data", type=Path, default=None,
                        help="a built mom-mini to copy into the fresh home (default: build it there)")
    parser.add_argument("--home", type=Path, default=None, help="MOM_BENCH_HOME to use (default: a fresh temp one)")
    parser.add_argument("--no-folds", action="store_true", help="train on the build itself, not its lofo folds")
    parser.add_argument("--n-bootstrap", type=int, default=1000)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="mb-matrix-"))
    os.environ["MOM_BENCH_HOME"] = str(home)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import shutil

    import mom_bench

    target = home / "datasets" / "mom-mini"
    t0 = time.perf_counter()
    if not target.exists():
        if args.data:
            shutil.copytree(args.data, target)
        else:
            mom_bench.build_benchmark("mom-mini", target, progress=False)
    build_s = time.perf_counter() - t0
    out = home / "matrix"
    runs = []
    for attempt in ("first", "second"):
        t0 = time.perf_counter()
        result = mom_bench.matrix(args.model, ["mom-mini"], ["mom-mini"], out, folds=None if args.no_folds else "lofo",
                                  by_pool=True, n_bootstrap=args.n_bootstrap, progress=False)
        wall = time.perf_counter() - t0
        timing = result.document["timing"]
        stored = _stored_ids(home)
        runs.append({"run": attempt, "wall_s": round(wall, 1), **timing, "ids_in_cache": stored})
    doc = result.document
    k, t = len(doc["training_sets"]), len(doc["test_sets"])
    first, second = runs
    print(f"machine: {_cpu_model()}, {os.cpu_count()} CPUs; {datetime.now(UTC):%Y-%m-%d}; model {args.model}")
    print(f"matrix: {k} training sets x {t} test sets = {len(doc['cells'])} cells"
          + (f" (mom-mini copied/built in {build_s:.1f} s, not counted)" if build_s > 1 else ""))
    print(f"features computed: {first['songs_extracted']} (matrix), {first['ids_in_cache']} ids in the cache on disk; "
          f"distinct songs read: {first['distinct_songs']}")
    print(f"first run:  wall {first['wall_s']} s = features {first['features_s']:.1f} s + training "
          f"{first['training_s']:.1f} s + scoring {first['scoring_s']:.1f} s (+ opening, folds, writing)")
    print(f"second run: wall {second['wall_s']} s; features computed {second['songs_extracted']}; reused "
          f"{second['reused']}")
    if args.json:
        args.json.write_text(json.dumps({"cpu": _cpu_model(), "model": args.model, "cells": len(doc["cells"]),
                                         "training_sets": k, "test_sets": t, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
