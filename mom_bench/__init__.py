"""mom-bench: benchmarks for detectors of AI-generated music.

The public API, imported lazily so that ``import mom_bench`` (and ``mom-bench --help``) stays fast::

    import mom_bench as mb
    mb.build_benchmark("mom-mini")                  # a Hugging Face dataset folder with strict splits
    mb.train("clam")                                # a registry detector, trained on the default benchmark
    result = mb.evaluate(my_detector)               # a registry name, a checkpoint, or your own nn.Module
    clean, robust = mb.evaluate_robustness("clam")  # the same, then under every transform of a suite
    mb.evaluate_localisation(build_dir, "timeline.csv")  # where in the songs the AI is: scores over time vs segments
    mb.evaluate_timeline("clam-mini", run, data_dir=spliced, window=2, hop=1)  # over time: + localisation
    mb.extract("clam", num_shards=8, shard_index=3) # fill the feature cache, one shard of a cluster job
    views = mb.make_folds(build_dir, "lofo")         # leave-one-family-out folds as views (train/evaluate --data)
    mb.check_detector(my_detector)                  # does it follow the detector contract?
    mb.predict_timeline(["song.flac"], "clam", window=2, hop=1)  # P(fake) of each 2 s window, every second
    mb.matrix("fakeprint", ["mom-mini"], ["mom-mini"], folds="lofo")  # train on each fold, test with carried thresholds
    mb.push_detector(run_dir, "me/clam-mini")       # weights, results.json and a model card to the Hub

``my_detector`` is any ``torch.nn.Module`` (or callable) mapping mono waveforms ``[B, T]`` to logits ``[B]``,
with attributes ``sample_rate`` (Hz) and ``clip`` (e.g. ``"first:10"``); see ``docs/plugins.md``.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mom_bench.core.provenance import mom_bench_version

__version__ = mom_bench_version()

#: public name -> the module that defines it
_API = {
    "build_benchmark": "mom_bench.dataset.builder",
    "train": "mom_bench.loop.training",
    "evaluate": "mom_bench.loop.evaluation",
    "evaluate_robustness": "mom_bench.loop.robustness",
    "evaluate_localisation": "mom_bench.leaderboard.localisation",
    "evaluate_timeline": "mom_bench.leaderboard.timeline_evaluation",
    "extract": "mom_bench.loop.extraction",
    "make_fold": "mom_bench.dataset.views",
    "make_folds": "mom_bench.dataset.views",
    "predict": "mom_bench.loop.prediction",
    "predict_iter": "mom_bench.loop.prediction",
    "predict_timeline": "mom_bench.loop.timeline",
    "timeline_for_build": "mom_bench.loop.timeline",
    "write_timeline": "mom_bench.loop.timeline",
    "matrix": "mom_bench.loop.matrix",
    "compute_report": "mom_bench.report.metrics",
    "load_detector": "mom_bench.models.registry",
    "list_models": "mom_bench.models.registry",
    "check_detector": "mom_bench.models.check",
    "push_detector": "mom_bench.loop.sharing",
    "push_dataset": "mom_bench.dataset.publish",
    "MomBenchError": "mom_bench.core.errors",
    # what the functions above return, for annotating code that uses them
    "BuildResult": "mom_bench.dataset.build_report",
    "EvalResult": "mom_bench.loop.evaluation",
    "RobustnessResult": "mom_bench.loop.robustness",
    "ExtractResult": "mom_bench.loop.extraction",
    "View": "mom_bench.dataset.read",
    "PredictionRow": "mom_bench.loop.prediction",
    "SongTimeline": "mom_bench.loop.timeline",
    "MatrixResult": "mom_bench.loop.matrix",
    "Report": "mom_bench.report.documents",
    "Results": "mom_bench.report.documents",
    "ModelSpec": "mom_bench.models.registry",
    "CheckReport": "mom_bench.models.check",
}
_RENAMED = {"load_detector": "load"}

__all__ = ["__version__", *_API]

if TYPE_CHECKING:  # the names as type checkers see them; `X as X` marks them as exported
    from mom_bench.core.errors import MomBenchError as MomBenchError
    from mom_bench.dataset.build_report import BuildResult as BuildResult
    from mom_bench.dataset.builder import build_benchmark as build_benchmark
    from mom_bench.dataset.publish import push_dataset as push_dataset
    from mom_bench.dataset.read import View as View
    from mom_bench.dataset.views import make_fold as make_fold
    from mom_bench.dataset.views import make_folds as make_folds
    from mom_bench.leaderboard.localisation import evaluate_localisation as evaluate_localisation
    from mom_bench.leaderboard.timeline_evaluation import evaluate_timeline as evaluate_timeline
    from mom_bench.loop.evaluation import EvalResult as EvalResult
    from mom_bench.loop.evaluation import evaluate as evaluate
    from mom_bench.loop.extraction import ExtractResult as ExtractResult
    from mom_bench.loop.extraction import extract as extract
    from mom_bench.loop.matrix import MatrixResult as MatrixResult
    from mom_bench.loop.matrix import matrix as matrix
    from mom_bench.loop.prediction import PredictionRow as PredictionRow
    from mom_bench.loop.prediction import predict as predict
    from mom_bench.loop.prediction import predict_iter as predict_iter
    from mom_bench.loop.robustness import RobustnessResult as RobustnessResult
    from mom_bench.loop.robustness import evaluate_robustness as evaluate_robustness
    from mom_bench.loop.sharing import push_detector as push_detector
    from mom_bench.loop.timeline import SongTimeline as SongTimeline
    from mom_bench.loop.timeline import predict_timeline as predict_timeline
    from mom_bench.loop.timeline import timeline_for_build as timeline_for_build
    from mom_bench.loop.timeline import write_timeline as write_timeline
    from mom_bench.loop.training import train as train
    from mom_bench.models.check import CheckReport as CheckReport
    from mom_bench.models.check import check_detector as check_detector
    from mom_bench.models.registry import ModelSpec as ModelSpec
    from mom_bench.models.registry import list_models as list_models
    from mom_bench.models.registry import load as load_detector  # noqa: F401 (public under this name, see _RENAMED)
    from mom_bench.report.documents import Report as Report
    from mom_bench.report.documents import Results as Results
    from mom_bench.report.metrics import compute_report as compute_report


def __getattr__(name: str) -> Any:
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), _RENAMED.get(name, name))
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mom_bench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
