"""Where mom-bench keeps things on disk, in one place.

Everything lives under one home folder so that `build`, `train` and `evaluate` find each other's
outputs without flags: ``$MOM_BENCH_HOME`` (default ``~/.cache/mom-bench``).
"""
from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    return Path(os.environ.get("MOM_BENCH_HOME") or Path.home() / ".cache" / "mom-bench").expanduser()


def datasets_dir() -> Path:
    """Built benchmarks: ``<home>/datasets/<benchmark>``."""
    return home() / "datasets"


def runs_dir() -> Path:
    """Trained models and evaluation results: ``<home>/runs/<benchmark>/<model>``."""
    return home() / "runs"


def cache_dir() -> Path:
    """Frozen-encoder feature caches and downloads."""
    return home() / "cache"


def default_dataset_dir(benchmark: str) -> Path:
    return datasets_dir() / benchmark


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes", "on"}
