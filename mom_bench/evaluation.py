"""Evaluating a detector on the test splits of a built benchmark.

The detector is a registry name (its trained checkpoint is found in the run folder), a saved checkpoint, or
any ``torch.nn.Module`` / callable that declares ``sample_rate`` and ``clip``. Every song is decoded with the
model's own clip policy (e.g. the first 10 s for ``clam-mini``, 90 s for ``clam``) and scored independently.
The results folder holds:

- ``results.json``: schema-versioned; benchmark and dataset fingerprint, the model (requested name, resolved
  configuration, checkpoint sha256, config), every metric with its 95 % CI (:func:`mom_bench.metrics
  .compute_report`), mom-bench and library versions, git commit, date;
- ``predictions.csv``: ``id, split, generator, label, score`` (P(fake)), one row per song;
- ``results.md``: the same numbers as markdown tables;
- PNG plots (:mod:`mom_bench.plots`).

The folder is written under a temporary name and swapped in, so it is never half written.
"""
from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from mom_bench import documents, metrics, provenance
from mom_bench import plots as plotting
from mom_bench._io import replace_dir_atomic
from mom_bench.dataset import read
from mom_bench.errors import MomBenchError
from mom_bench.formatting import stat, table
from mom_bench.inference import model_device, split_logits
from mom_bench.models import registry
from mom_bench.models.adapters import as_detector
from mom_bench.runs import (checkpoint_sha256, default_results_dir, load_trained, pick_device, resolve_data,
                            train_summary)
from mom_bench.splits import TEST_SPLITS

RESULTS_SCHEMA_VERSION = documents.RESULTS_SCHEMA_VERSION
STRATA_COLUMNS = read.STRATA_COLUMNS  # public here too: what evaluate stratifies by


class EvaluationError(MomBenchError, ValueError):
    """An evaluation that cannot run as asked (e.g. a split the dataset lacks)."""


@dataclass
class EvalResult:
    out_dir: Path
    results: dict[str, Any]
    predictions: pd.DataFrame

    @property
    def report(self) -> dict[str, Any]:
        return self.results["metrics"]

    def summary(self) -> str:
        """The tables `mom-bench evaluate` prints: overall, per generator, the ID-OOD gap, what was evaluated."""
        report, model = self.report, self.results["model"]
        note = f" (resolved from {model['requested']!r})" if model["name"] != model["requested"] else ""
        where = f", checkpoint {model['checkpoint']}" if model.get("checkpoint") else ""
        return "\n".join([overall_table(report), "", per_generator_table(report), "",
                          f"ID-OOD gap (F1 test_id - F1 test_ood): {stat(report['id_ood_gap'])}",
                          f"evaluated configuration: {model['name']}{note}{where}"])


# --------------------------------------------------------------------------------------------------
# Scoring


def score_split(model: Any, data_dir: Path, split: str, *, batch_size: int = 8, progress: bool = True) -> pd.DataFrame:
    """One row per song of ``split``: id, split, generator, label, score (P(fake)), duration_s, plus the
    optional stratum columns. Frozen-encoder models score cached features (the same numbers as scoring the
    waveforms, without running the encoders twice)."""
    extra = read.stratum_columns(data_dir, split)
    columns = ["id", "label", "generator", "duration_s"] + [c for c in extra.values() if c]
    frame = read.read_table(data_dir, split, columns)
    frame = frame.rename(columns={col: key for key, col in extra.items() if col})
    logits = split_logits(model, data_dir, split, batch_size=batch_size, progress=progress)
    frame.insert(0, "split", split)
    frame["label"] = frame["label"].astype(int)
    frame["score"] = logits.sigmoid().tolist()
    first = ["id", "split", "generator", "label", "score"]
    return frame[first + [c for c in frame.columns if c not in first]]


# --------------------------------------------------------------------------------------------------
# Rendering


def per_generator_table(report: dict, markdown: bool = False) -> str:
    rows = []
    for split, s in report["splits"].items():
        for gen, g in s["per_generator"].items():
            rows.append([split, gen, g["n_fake"], g["n_real"], stat(g["tpr"]), stat(g["f1"])])
    return table(["split", "generator", "fakes", "reals", "TPR [95% CI]", "F1 vs all reals [95% CI]"], rows, markdown=markdown)


def overall_table(report: dict, markdown: bool = False) -> str:
    rows = []
    for split, s in report["splits"].items():
        o = s["overall"]
        rows.append([split, s["n"], s["n_fake"], s["n_real"], stat(o["f1"]), stat(o["precision"], 3),
                     stat(o["recall"]), stat(o["specificity"]), stat(o["accuracy"]), stat(o["auc"]), stat(o["eer"])])
    return table(["split", "n", "fakes", "reals", "F1", "precision", "recall (TPR)", "specificity (TNR)", "accuracy",
                   "AUC", "EER"], rows, markdown=markdown)


def render_markdown(results: dict) -> str:
    report = results["metrics"]
    m, b = results["model"], results["benchmark"]
    gap = report["id_ood_gap"]
    lines = [f"# {m['name']} on {b['name']}", "",
             f"- model: `{m['name']}` (requested `{m['requested']}`), checkpoint `{m['checkpoint']}` "
             f"(sha256 `{(m['checkpoint_sha256'] or 'n/a')[:16]}`)",
             f"- dataset: {b['name']} {b.get('version') or ''}, fingerprint `{b['fingerprint'][:16]}`",
             f"- threshold {report['threshold']}, 95 % bootstrap CIs ({report['n_bootstrap']} resamples, seed "
             f"{report['seed']}), mom-bench {results['mom_bench_version']}, {results['created']}", "",
             "## Overall", "", overall_table(report, markdown=True), "",
             f"ID-OOD gap (F1 test_id - F1 test_ood): {stat(gap)}" + (f" ({gap['reason']})" if gap.get("reason") else ""),
             "", "## Per generator", "", per_generator_table(report, markdown=True), "",
             "Per-generator F1 is computed on {fakes of the generator} U {all reals of the split}.", ""]
    for split, s in report["splits"].items():
        for name, buckets in s.get("strata", {}).items():
            rows = [[k, v["n"], v.get("n_fake", ""), v.get("n_real", ""), stat(v.get("f1")), stat(v.get("recall")),
                     stat(v.get("specificity"))] for k, v in buckets.items()]
            lines += [f"## {split}: by {name}", "", table([name, "n", "fakes", "reals", "F1", "TPR", "TNR"], rows, markdown=True), ""]
    lines += ["## Definitions", ""] + [f"- **{k}**: {v}" for k, v in report["definitions"].items()] + [""]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# The command


def _chosen_splits(info: dict[str, Any], data_dir: Path, splits: list[str] | tuple[str, ...] | None) -> list[str]:
    if splits:
        missing = [s for s in splits if s not in info["splits"]]
        if missing:
            raise EvaluationError(f"{data_dir} has no split {', '.join(missing)} (it has {', '.join(info['splits'])})")
        return list(splits)
    chosen = [s for s in TEST_SPLITS if s in info["splits"]]
    if not chosen:
        raise EvaluationError(f"{data_dir} has no test split (it has {', '.join(info['splits'])}); pass --splits")
    return chosen


def _load(model: Any, benchmark: str, checkpoint: str | Path | None, device: str | None,
          hf_options: dict[str, Any] | None = None) -> tuple[Any, str, str | None]:
    """(detector in eval mode, the name the user asked for, checkpoint source or None). ``hf_options``
    (``fake_label``, ``clip``) apply to ``hf:`` names only."""
    hf_options = {k: v for k, v in (hf_options or {}).items() if v is not None}
    if isinstance(model, (str, Path)):
        name = str(model)
        if checkpoint is None and not hf_options and Path(name).expanduser().is_dir():  # a saved checkpoint folder
            loaded = registry.load(Path(name).expanduser())
            loaded.to(pick_device(device)).eval()
            return loaded, loaded.name, str(Path(name).expanduser())
        loaded, source = load_trained(name, benchmark, checkpoint, device, **hf_options)
        return loaded, name, source
    if hf_options:
        raise EvaluationError(f"{', '.join(hf_options)} apply only to hf: model names, not to a "
                              f"{type(model).__name__} object")
    detector = as_detector(model)
    if device:
        detector.to(pick_device(device))
    detector.eval()
    return detector, detector.name, None


def evaluate(model: Any, checkpoint: str | Path | None = None, data_dir: str | Path | None = None, *,
             benchmark: str | None = None, splits: list[str] | tuple[str, ...] | None = None,
             out_dir: str | Path | None = None, n_bootstrap: int = 1000, seed: int = 0, threshold: float = 0.5,
             batch_size: int = 8, device: str | None = None, progress: bool = True, plots: bool = True,
             log: Callable[[str], None] | None = None, fake_label: str | None = None,
             clip: str | None = None) -> EvalResult:
    """Score ``splits`` (default: the test splits the dataset has) and write the results folder
    (default ``<runs>/<benchmark>/<model name>/results``).

    ``model``: a registry name (its trained checkpoint, or ``checkpoint``), a saved checkpoint folder,
    ``hf:<Hub id or folder>[@revision]`` (a transformers audio classifier, :mod:`mom_bench.models.hub_classifier`;
    ``fake_label`` and ``clip`` apply to it), or any ``torch.nn.Module`` / callable ``waves [B, T] -> logits [B]``
    with ``sample_rate`` and ``clip`` attributes.
    """
    if not 0 <= threshold <= 1:  # also refuses NaN
        raise EvaluationError(f"threshold must be a probability in [0, 1], got {threshold}")
    say = log or (lambda msg: None)
    if isinstance(model, str) and not model.startswith("hf:") and not Path(model).expanduser().is_dir():
        registry.resolve(model, benchmark)  # a mistyped model name is reported before any data is read
    data_dir, info = resolve_data(data_dir, benchmark)
    benchmark = info["benchmark"]
    chosen = _chosen_splits(info, data_dir, splits)
    detector, requested, source = _load(model, benchmark, checkpoint, device, {"fake_label": fake_label, "clip": clip})
    resolved_note = f" (resolved from {requested!r})" if detector.name != requested else ""
    say(f"evaluating {detector.name}{resolved_note} from {source or type(model).__name__} on {benchmark} "
        f"[{', '.join(chosen)}]")
    if getattr(detector, "choice_note", None):  # a Hub classifier: which label was taken as fake
        say(detector.choice_note)

    frames = [score_split(detector, data_dir, s, batch_size=batch_size, progress=progress) for s in chosen]
    predictions = pd.concat(frames, ignore_index=True)
    report = metrics.compute_report(predictions, threshold=threshold, n_bootstrap=n_bootstrap, seed=seed)
    results = {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "mom_bench_version": provenance.mom_bench_version(), "git_commit": provenance.git_commit(),
        "libraries": provenance.library_versions(),
        "benchmark": {"name": benchmark, "version": info.get("benchmark_version"), "fingerprint": info["fingerprint"],
                      "dataset": str(data_dir), "splits": chosen},
        "model": {"requested": requested, "name": detector.name, "config": detector.config, "checkpoint": source,
                  "checkpoint_sha256": (getattr(detector, "weights_sha256", None) if source.startswith("hf:")
                                        else checkpoint_sha256(source)) if source else None,
                  "training": train_summary(source) if source else None,
                  # which encoder weights produced the features: Hub id + commit, or a content hash
                  "encoders": {s: enc.identity() for s, enc in getattr(detector, "encoders", {}).items()
                               if hasattr(enc, "identity")},
                  "device": str(model_device(detector))},
        "metrics": report,
    }
    documents.check_results(results)  # a results.json that does not match its published schema is a bug
    out = Path(out_dir).expanduser() if out_dir else default_results_dir(benchmark, getattr(detector, "run_name",
                                                                                            detector.name))
    title = f"{detector.name} on {benchmark}"

    def write(tmp: Path) -> None:
        (tmp / "results.json").write_text(json.dumps(results, indent=2))
        predictions[["id", "split", "generator", "label", "score"]].to_csv(tmp / "predictions.csv", index=False)
        (tmp / "results.md").write_text(render_markdown(results))
        if plots:
            plotting.draw_all(predictions, report, tmp, title)

    replace_dir_atomic(out, write)
    return EvalResult(out, results, predictions)
