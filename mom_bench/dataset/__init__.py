"""Building benchmarks: protocol + sources -> a Hugging Face dataset folder with strict splits.

``build_benchmark(name, out_dir=None, **options) -> BuildResult`` is the entry point (the CLI's
``mom-bench build`` calls it). Attributes are imported lazily so that ``mom_bench.dataset.read`` and the
split helpers stay cheap to import.
"""
from __future__ import annotations

__all__ = ["build_benchmark", "BuildResult", "BuildError", "SourceRow", "MissingAudio", "assign_split"]

_LAZY = {
    "build_benchmark": "mom_bench.dataset.builder",
    "BuildResult": "mom_bench.dataset.build_report",
    "BuildError": "mom_bench.dataset.build_report",
    "fingerprint": "mom_bench.dataset.build_report",
    "SourceRow": "mom_bench.dataset.sources",
    "MissingAudio": "mom_bench.dataset.sources",
    "assign_split": "mom_bench.dataset.splitting",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mom_bench.dataset' has no attribute {name!r}")
