"""Evaluating a detector on the test splits of a built benchmark.

The detector is a registry name (its trained checkpoint is found in the run folder), a saved checkpoint, or
any ``torch.nn.Module`` / callable that declares ``sample_rate`` and ``clip``. Every song is decoded with the
model's own clip policy (e.g. the first 10 s for ``clam-mini``, 90 s for ``clam``) and scored independently.
The results folder holds:

- ``results.json``: schema-versioned; benchmark and dataset fingerprint, the model (requested name, resolved
  configuration, checkpoint sha256, config), every metric with its 95 % CI (:func:`mom_bench.report.metrics
  .compute_report`), the thresholds frozen on the validation split and their test metrics
  (:func:`mom_bench.report.metrics.frozen_thresholds`), the coverage of each split, mom-bench and library versions,
  git commit, date;
- ``predictions.csv``: ``id, split, generator, label, score`` (P(fake)), one row per song of the evaluated
  splits; ``validation_predictions.csv`` the same for the validation split when it was scored only to choose
  the frozen thresholds;
- ``results.md``: the same numbers as markdown tables;
- PNG plots (:mod:`mom_bench.report.plots`).

The validation split is scored whenever the dataset has one, even when only test splits were asked for:
thresholds are chosen on it and frozen before they meet a test split (nothing is tuned on test). It is not
reported as a split unless asked for.

The folder is written under a temporary name and swapped in, so it is never half written. It replaces only
a results folder (one holding ``results.json``) or an empty folder: any other existing folder is refused,
naming it, before anything is scored.
"""
from __future__ import annotations

import datetime as _dt
import json
import numbers
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pandas as pd
import torch

from mom_bench.core import distributed, provenance
from mom_bench.core.errors import EvaluationError
from mom_bench.core.files import carry_over, check_replaceable, replace_dir_atomic
from mom_bench.core.formatting import md_code, md_text, stat, table
from mom_bench.core.runtime import Runtime
from mom_bench.core.splits import TEST_SPLITS, RowStatus
from mom_bench.dataset import read
from mom_bench.loop.inference import decode_row, model_device, split_logits
from mom_bench.loop.runs import checkpoint_sha256, default_results_dir, load_trained, open_build, train_summary
from mom_bench.models import registry
from mom_bench.models.adapters import UserDetector, as_detector
from mom_bench.models.check import batch_dependence
from mom_bench.models.hub_classifier import HubClassifier
from mom_bench.report import documents, metrics
from mom_bench.report import plots as plotting
from mom_bench.report.documents import Report
from mom_bench.report.metrics import registry as metric_registry
from mom_bench.report.metrics import schema as results_schema

RESULTS_SCHEMA_VERSION = documents.RESULTS_SCHEMA_VERSION
STRATA_COLUMNS = read.STRATA_COLUMNS  # public here too: what evaluate stratifies by


#: The file that marks a folder as a results folder: evaluate replaces only such a folder, or an empty one.
RESULTS_MARKER = "results.json"
#: The timeline predictions file of a run scored over time (``evaluate --timeline``); a plain evaluate drops it
#: (and the timeline plots) with the localisation block, so a results folder never mixes two runs.
TIMELINE_FILE = "timeline.csv"

COVERAGE_DEFINITION = ("rows scored / rows of the split in the build's row list (build_report.json 'rows'): "
                       "written + missing + unusable; rows the protocol excluded on purpose are not counted. Below "
                       "1, the metrics describe only the rows whose audio the build could use")


def check_num_workers(num_workers: Any) -> None:
    """Refuse a decode worker count that is not an integer >= 0."""
    if isinstance(num_workers, bool) or not isinstance(num_workers, numbers.Integral) or num_workers < 0:
        raise EvaluationError(f"num_workers must be an integer >= 0, got {num_workers!r}")


def check_batch_size(batch_size: Any) -> None:
    """Refuse a batch size that is not an integer >= 1 (before any data is read or any folder is made)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise EvaluationError(f"batch_size must be an integer >= 1, got {batch_size!r}")


def _check_out(out: Path) -> None:
    check_replaceable(out, RESULTS_MARKER, "results folder")


@dataclass
class EvalResult:
    out_dir: Path
    results: documents.Results  # results.json
    predictions: pd.DataFrame  # the evaluated splits
    calibration: pd.DataFrame | None = None  # the validation split's predictions, when it was scored
    detector: Any = field(default=None, repr=False)  # the model as evaluated (for scoring it further)
    build: read.Build | None = field(default=None, repr=False)  # the build it was evaluated on
    plots: bool = field(default=True, repr=False)  # whether its results folder gets the plots
    timelines: dict[str, list[Any]] | None = field(default=None, repr=False)  # {row id: windows} over time

    @property
    def report(self) -> Report:
        return self.results["metrics"]

    def summary(self) -> str:
        """The tables `mom-bench evaluate` prints: overall, per generator, the ID-OOD gap, what was evaluated."""
        report, model = self.report, self.results["model"]
        note = f" (resolved from {model['requested']!r})" if model["name"] != model["requested"] else ""
        where = f", checkpoint {model['checkpoint']}" if model.get("checkpoint") else ""
        return "\n".join([overall_table(report), "", per_generator_table(report), "",
                          *([decoder_family_table(report), ""] if _has_families(report) else []),
                          *([real_pool_table(report), *worst_pool_lines(report), ""] if _has_pools(report) else []),
                          f"ID-OOD gap (F1 test_id - F1 test_ood): {stat(report['id_ood_gap'])}", "",
                          operating_points_table(self.results), "", frozen_note(self.results),
                          f"evaluated configuration: {model['name']}{note}{where}"])


# --------------------------------------------------------------------------------------------------
# Scoring


def split_frame(data_dir: Path | read.Build, split: str, scores: list[float]) -> pd.DataFrame:
    """The predictions frame of ``split`` (see :func:`score_split`) given each row's P(fake), in stored row order."""
    build = read.Build.open(data_dir, verify=False)
    extra = build.stratum_columns(split)
    # the source of each row gives the false-positive rate per real source (builds always have it; a build
    # of another tool might not)
    source = ["source"] if "source" in build.column_names(split) else []
    columns = ["id", "label", "generator", "duration_s"] + source + [c for c in extra.values() if c]
    frame = build.table(split, columns)
    frame = frame.rename(columns={col: key for key, col in extra.items() if col})
    frame.insert(0, "split", split)
    frame["label"] = frame["label"].astype(int)
    frame["score"] = scores
    first = ["id", "split", "generator", "label", "score"]
    return frame[first + [c for c in frame.columns if c not in first]]


def score_split(model: Any, data_dir: Path | read.Build, split: str, *, batch_size: int = 8, progress: bool = True,
                num_workers: int = 0, precision: str = "fp32") -> pd.DataFrame:
    """One row per song of ``split``: id, split, generator, label, score (P(fake)), duration_s, source, plus
    the optional stratum columns. Frozen-encoder models score cached features (the same numbers as scoring the
    waveforms, without running the encoders twice)."""
    build = read.Build.open(data_dir, verify=False)
    logits = split_logits(model, build, split, batch_size=batch_size, progress=progress,
                          num_workers=num_workers, precision=precision)
    return split_frame(build, split, logits.sigmoid().tolist())


#: How :func:`run` scores a split: ``(detector, build, split, runtime, progress) -> predictions frame``.
SplitScorer = Callable[[Any, read.Build, str, Runtime, bool], pd.DataFrame]


def _score_clips(detector: Any, build: read.Build, split: str, runtime: Runtime, progress: bool) -> pd.DataFrame:
    return score_split(detector, build, split, batch_size=runtime.batch_size, progress=progress,
                       num_workers=runtime.num_workers, precision=runtime.precision)


# --------------------------------------------------------------------------------------------------
# Rendering


def per_generator_table(report: Report, markdown: bool = False) -> str:
    """Each generator's fakes per split: the registry's per-generator columns."""
    name = md_text if markdown else str
    columns = metric_registry.generator_columns()
    rows = []
    for split, s in report["splits"].items():
        for gen, block in s["per_generator"].items():
            g = cast(Mapping[str, Any], block)  # keyed by the registry's columns, beyond what the type names
            rows.append([name(split), name(gen), g["n_fake"], g["n_real"],
                         *(stat(g.get(c.key), m.digits) for m, c in columns)])
    return table(["split", "generator", "fakes", "reals", *(c.header for _, c in columns)], rows, markdown=markdown)


def _has_families(report: Mapping[str, Any]) -> bool:
    return any("per_decoder_family" in s for s in report["splits"].values())


def decoder_family_table(report: Mapping[str, Any], markdown: bool = False) -> str:
    """Each decoder family's fakes per split (its generators pooled): TPR and AUC against the split's reals.
    Empty for a report scored without families (an older results.json)."""
    name = md_text if markdown else str
    rows = []
    for split, s in report["splits"].items():
        for family, f in (s.get("per_decoder_family") or {}).items():
            rows.append([name(split), name(family), name(", ".join(f["generators"])), f["n_fake"], f["n_real"],
                         stat(f["tpr"]), stat(f["auc"])])
    return table(["split", "decoder family", "generators", "fakes", "reals", "TPR [95% CI]", "AUC [95% CI]"], rows,
                 markdown=markdown)


def _has_pools(report: Mapping[str, Any]) -> bool:
    return bool(report.get("per_real_pool"))


def real_pool_table(report: Mapping[str, Any], markdown: bool = False) -> str:
    """All the fakes of each split against the reals of each pool: AUC and FPR with their intervals. Empty
    for a report without pools (no source column, or an older results.json)."""
    name = md_text if markdown else str
    rows = [[name(split), name(pool), p["n_real"], p["n_fake"], stat(p["auc"]), stat(p["fpr"])]
            for split, pools in (report.get("per_real_pool") or {}).items() for pool, p in pools.items()]
    return table(["split", "pool of reals", "reals", "fakes", "AUC [95% CI]", "FPR [95% CI]"], rows,
                 markdown=markdown)


def worst_pool_lines(report: Mapping[str, Any], markdown: bool = False) -> list[str]:
    """One line per test split naming its worst pool of reals: the lowest AUC (ties: more reals, then the name)."""
    name = md_text if markdown else str
    lines = []
    for split in report.get("per_real_pool") or {}:
        worst = metrics.worst_real_pool(report, [split]) if split in TEST_SPLITS else None
        if worst:
            _, pool, p = worst
            lines.append(f"worst pool of reals on {name(split)}: {name(pool)} (AUC {stat(p['auc'])}, FPR "
                         f"{stat(p['fpr'])}, {p['n_real']} reals)")
    return lines


def overall_table(report: Report, markdown: bool = False) -> str:
    """Each split's overall metrics: the registry's split-table columns."""
    name = md_text if markdown else str
    columns = metric_registry.split_table()
    rows = []
    for split, s in report["splits"].items():
        o = s["overall"]
        rows.append([name(split), s["n"], s["n_fake"], s["n_real"],
                     *(stat(o.get(m.key), m.digits) for m, _ in columns)])
    return table(["split", "n", "fakes", "reals", *(header for _, header in columns)], rows, markdown=markdown)


_THRESHOLD_NAMES = {"fixed": "fixed", "max_f1": "max F1 on validation", "fpr_5pct": "FPR <= 5 % on validation",
                    "fpr_1pct": "FPR <= 1 % on validation"}


def _fixed_row(report: dict, split: str) -> list[Any]:
    s = report["splits"][split]
    o = s["overall"]
    fpr = ((report.get("false_positive_rates") or {}).get(split) or {}).get("all", {}).get("fpr")
    return [split, "fixed", f"{report['threshold']:g}", stat(o["recall"]), stat(fpr), stat(o["f1"]),
            stat(o["precision"])]


def operating_points_table(results: Mapping[str, Any], markdown: bool = False) -> str:
    """TPR, FPR, F1 and precision of each test split at the fixed threshold and at each threshold frozen on
    the validation split."""
    report = results["metrics"]
    frozen = results.get("frozen_thresholds") or {}
    name = md_text if markdown else str
    rows = []
    for split in report["splits"]:
        rows.append([name(split), *_fixed_row(report, split)[1:]])
        for key, applied in ((frozen.get("splits") or {}).get(split) or {}).items():
            rows.append([name(split), _THRESHOLD_NAMES.get(key, key), f"{applied['threshold']:.4g}",
                         stat(applied["tpr"]), stat(applied["fpr"]), stat(applied["f1"]), stat(applied["precision"])])
    return table(["split", "threshold", "value", "TPR [95% CI]", "FPR [95% CI]", "F1", "precision"], rows,
                 markdown=markdown)


def frozen_note(results: Mapping[str, Any]) -> str:
    """One line: where the frozen thresholds come from, or why there are none."""
    frozen = results.get("frozen_thresholds") or {}
    if not frozen.get("chosen_on"):
        return f"frozen thresholds: none ({frozen.get('reason', 'not computed')})"
    missing = [f"{_THRESHOLD_NAMES.get(k, k)}: {t['reason']}" for k, t in frozen["thresholds"].items()
               if t.get("reason")]
    unresolved = [_THRESHOLD_NAMES.get(k, k) for k, t in frozen["thresholds"].items() if t.get("resolvable") is False]
    note = (f"frozen thresholds chosen on {frozen['chosen_on']} ({frozen['n_real']} reals, {frozen['n_fake']} "
            "fakes) before any test split was scored with them")
    if unresolved:
        note += f"; too few validation reals to resolve {', '.join(unresolved)}"
    if missing:
        note += "; " + "; ".join(missing)
    return note


def tpr_at_fpr_table(report: dict, markdown: bool = False) -> str:
    """TPR at each false-positive budget (``*``: too few reals to resolve it), ECE and Brier, per split."""
    name = md_text if markdown else str
    rows = []
    for split, s in report["splits"].items():
        cells = []
        for point in (s.get("tpr_at_fpr") or {}).values():
            cells.append(stat(point) + ("" if point["resolvable"] else " *"))
        cal = s.get("calibration") or {}
        rows.append([name(split), s["n_real"], *cells, stat(cal.get("ece")), stat(cal.get("brier"))])
    targets = [f"TPR @ FPR {100 * t:g} %" for t in metrics.FPR_TARGETS]
    return table(["split", "reals", *targets, "ECE", "Brier"], rows, markdown=markdown)


def false_positive_table(report: dict, markdown: bool = False) -> str:
    """The false-positive rate of each split's reals: all, per source, per stratum bucket."""
    name = md_text if markdown else str
    rows = []
    for split, fp in (report.get("false_positive_rates") or {}).items():
        groups = [("all reals", fp["all"])] + [(f"source {k}", v) for k, v in (fp.get("by_source") or {}).items()]
        groups += [(f"{col} {k}", v) for col, buckets in fp["by_stratum"].items() for k, v in buckets.items()]
        for label, g in groups:
            rows.append([name(split), name(label), g["n_real"], g["n_called_fake"], stat(g["fpr"])])
    return table(["split", "group of reals", "n", "called fake", "FPR [95% CI]"], rows, markdown=markdown)


def coverage_lines(results: Mapping[str, Any]) -> list[str]:
    """Markdown lines on the share of each split's listed rows that were scored, loud when under 1."""
    cov = results.get("coverage") or {}
    parts, short = [], []
    for split, c in (cov.get("splits") or {}).items():
        if c["coverage"] is None:
            parts.append(f"{md_text(split)} n/a ({md_text(c.get('reason', 'unknown'))})")
            continue
        parts.append(f"{md_text(split)} {c['scored']} of {c['listed']} ({100 * c['coverage']:.1f} %)")
        if c["coverage"] < 1:
            short.append(f"{md_text(split)}: {c['listed'] - c['scored']} of {c['listed']} listed rows not scored "
                         f"({c['missing']} missing, {c['unusable']} unusable)")
    lines = [f"- coverage (rows scored / rows listed): {', '.join(parts)}"] if parts else []
    if short:
        lines += ["", "**Coverage below 1**: " + "; ".join(short) + ". The metrics describe only the rows that "
                  "could be scored; see build_report.json for the reasons.", ""]
    return lines


def timeline_lines(results: Mapping[str, Any]) -> list[str]:
    """The line saying how songs were scored over time, for a run of ``evaluate --timeline``."""
    t = results.get("timeline")
    if not t:
        return []
    return [f"- scored over time: {md_text(t['label'])}, {t['n_windows']} windows in {md_code(t['file'])}; "
            f"{md_text(t['song_score'])}"]


def render_markdown(results: Mapping[str, Any]) -> str:  # results.json, also one written by an older version
    report = results["metrics"]
    m, b = results["model"], results["benchmark"]
    gap = report["id_ood_gap"]
    lines = [f"# {md_text(m['name'])} on {md_text(b['name'])}", "",
             f"- model: {md_code(m['name'])} (requested {md_code(m['requested'])}), checkpoint "
             f"{md_code(m['checkpoint'])} (sha256 `{(m['checkpoint_sha256'] or 'n/a')[:16]}`)",
             f"- dataset: {md_text(b['name'])} {md_text(b.get('version') or '')}, "
             f"fingerprint `{b['fingerprint'][:16]}`",
             f"- threshold {report['threshold']}, 95 % bootstrap CIs ({report['n_bootstrap']} resamples, seed "
             f"{report['seed']}), mom-bench {results['mom_bench_version']}, {results['created']}",
             f"- {md_text(frozen_note(results))}", *coverage_lines(results), *timeline_lines(results), "",
             "## Overall", "", overall_table(report, markdown=True), "",
             f"ID-OOD gap (F1 test_id - F1 test_ood): {stat(gap)}"
             + (f" ({gap['reason']})" if gap.get("reason") else ""),
             "", "## Operating points", "", operating_points_table(results, markdown=True), "",
             tpr_at_fpr_table(report, markdown=True), "",
             "\\* fewer reals than 1 / FPR: reported, but a single real called fake already exceeds that FPR.", "",
             "## False-positive rate of the reals", "", false_positive_table(report, markdown=True), "",
             "## Per generator", "", per_generator_table(report, markdown=True), "",
             "Per-generator F1 is computed on {fakes of the generator} U {all reals of the split}.", ""]
    if _has_families(report):
        lines += ["## Per decoder family", "", decoder_family_table(report, markdown=True), "",
                  "A family's fakes are those of all its generators in the split, scored against all the split's "
                  "reals; the families and their sources: the benchmark's data card.", ""]
    if _has_pools(report):
        lines += ["## Per pool of reals", "", real_pool_table(report, markdown=True), "",
                  *(f"- {line}" for line in worst_pool_lines(report, markdown=True)), "",
                  "Each pool's reals (their source: the benchmark's `reals` ids) are scored against all the fakes of "
                  "the split; the FPR is the pool's share of reals called fake at the threshold.", ""]
    shown = [(m, c) for m, c in metric_registry.stratum_columns() if c.header]  # an empty header: JSON only
    for split, s in report["splits"].items():
        for name, buckets in s.get("strata", {}).items():
            rows = [[md_text(k), v["n"], v.get("n_fake", ""), v.get("n_real", ""),
                     *(stat(v.get(c.key), m.digits) for m, c in shown)] for k, v in buckets.items()]
            lines += [f"## {md_text(split)}: by {name}", "",
                      table([name, "n", "fakes", "reals", *(c.header for _, c in shown)], rows, markdown=True), ""]
    definitions = {**report["definitions"], "coverage": COVERAGE_DEFINITION}
    lines += ["## Definitions", ""] + [f"- **{k}**: {md_text(v)}" for k, v in definitions.items()] + [""]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# The command


@dataclass(frozen=True)
class EvalConfig:
    """How a detector is evaluated: the options :func:`evaluate` and
    :func:`mom_bench.loop.robustness.evaluate_robustness` share (their keyword arguments of the same names).

    What is evaluated (the model, its checkpoint) and on which build are not part of it, so one config can
    score one detector on several builds."""

    benchmark: str | None = None
    splits: list[str] | tuple[str, ...] | None = None
    out_dir: str | Path | None = None
    n_bootstrap: int = 1000
    seed: int = 0
    threshold: float = 0.5
    batch_size: int = 8
    device: str | None = None
    progress: bool = True
    plots: bool = True
    log: Callable[[str], None] | None = None
    fake_label: str | None = None
    clip: str | None = None
    calibration_split: str | None = metrics.CALIBRATION_SPLIT
    num_workers: int = 0
    precision: str = "fp32"
    exclude_overlap_with: list[str | Path] | tuple[str | Path, ...] = ()

    def check(self) -> None:
        """Refuse options of the wrong type or range, and a foreign ``out_dir``, before anything is read."""
        metrics.check_options(self.threshold, self.n_bootstrap, self.seed)
        check_num_workers(self.num_workers)
        check_batch_size(self.batch_size)
        check_calibration_split(self.calibration_split)
        if self.out_dir:
            # A foreign folder is refused before anything is scored, so a long evaluation never runs for nothing.
            _check_out(Path(self.out_dir).expanduser())

    def say(self, msg: str) -> None:
        if self.log is not None:
            self.log(msg)

    def runtime(self) -> Runtime:
        """The runtime these options ask for (joins a launcher's process group)."""
        return Runtime.resolve(self.device, precision=self.precision, num_workers=self.num_workers,
                               batch_size=self.batch_size)


def chosen_splits(build: read.Build, splits: list[str] | tuple[str, ...] | None) -> list[str]:
    have = list(build.splits)
    if splits:
        repeated = sorted({s for s in splits if list(splits).count(s) > 1})
        if repeated:
            raise EvaluationError(f"split {', '.join(repeated)} is named more than once; name each split once")
        missing = [s for s in splits if s not in have]
        if missing:
            raise EvaluationError(f"{build} has no split {', '.join(missing)} (it has {', '.join(have)})")
        return list(splits)
    chosen = [s for s in TEST_SPLITS if s in have]
    if not chosen:
        raise EvaluationError(f"{build} has no test split (it has {', '.join(have)}); pass --splits")
    return chosen


def _load(model: Any, benchmark: str, checkpoint: str | Path | None, runtime: Runtime,
          hf_options: dict[str, Any] | None = None) -> tuple[Any, str, str | None]:
    """(detector in eval mode, the name the user asked for, checkpoint source or None). ``hf_options``
    (``fake_label``, ``clip``) apply to ``hf:`` names only. An object handed in is moved only when a device
    was asked for."""
    hf_options = {k: v for k, v in (hf_options or {}).items() if v is not None}
    if isinstance(model, (str, Path)):
        name = str(model)
        if checkpoint is None and not hf_options and Path(name).expanduser().is_dir():  # a saved checkpoint folder
            loaded = registry.load(Path(name).expanduser())
            loaded.to(runtime.device).eval()
            return loaded, loaded.name, str(Path(name).expanduser())
        loaded, source = load_trained(name, benchmark, checkpoint, runtime.device, **hf_options)
        return loaded, name, source
    if hf_options:
        raise EvaluationError(f"{', '.join(hf_options)} apply only to hf: model names, not to a "
                              f"{type(model).__name__} object")
    detector = as_detector(model)
    if runtime.requested:
        detector.to(runtime.device)
    detector.eval()
    return detector, detector.name, None


def weights_sha256(detector: Any, source: str | None) -> str | None:
    """The hash that names a loaded detector's weights (``results.json``'s ``checkpoint_sha256``, the key of
    cached robustness scores): the checkpoint folder's, an ``hf:`` model's weights', None for an object."""
    if not source:
        return None
    return detector.provenance()["weights_sha256"] if source.startswith("hf:") else checkpoint_sha256(source)


def load_for_scoring(model: Any, config: EvalConfig, build: read.Build, runtime: Runtime,
                     checkpoint: str | Path | None = None) -> tuple[Any, str | None]:
    """(detector in eval mode, checkpoint source or None) as :func:`run` loads it, for a caller that scores
    without a clean evaluation (a shard of a robustness run)."""
    detector, _, source = _load(model, build.benchmark, checkpoint, runtime,
                                {"fake_label": config.fake_label, "clip": config.clip})
    return detector, source


#: Songs the contract is checked on before a detector the user brought scores a benchmark.
CONTRACT_SONGS = 3


def _brought(detector: Any) -> bool:
    """Whether the detector is the user's (a module or callable, an hf: classifier, a plugin's class) rather
    than a registry class that the test suite holds to the contract."""
    return isinstance(detector, (UserDetector, HubClassifier)) \
        or not type(detector).__module__.startswith("mom_bench.")


def check_contract(detector: Any, build: read.Build, split: str, say: Callable[[str], None]) -> None:
    """Refuse a detector whose score of a song depends on its batch-mates, or that does not return one logit
    per song, seen on real songs of ``split`` (first, middle, last): such a detector's numbers would change
    with --batch-size, and its scores could not be compared with anyone's. Run in fp32, where the contract's
    tolerance holds (reduced precision may reorder sums by batch size)."""
    n = build.num_rows(split)
    picks = sorted({0, n // 2, max(n - 1, 0)})[:CONTRACT_SONGS] if n else []
    if len(picks) < 2:
        return
    reader = build.row_range(split, ["id", "audio"])
    waves = [decode_row(next(iter(reader.rows(i, i + 1))), detector, detector.clip, where=f"{split} row")
             for i in picks]
    length = min(len(w) for w in waves)
    batch = torch.stack([w[:length] for w in waves]).to(model_device(detector))
    problem = batch_dependence(detector, batch)
    if problem is not None:
        raise EvaluationError(f"{detector.name} breaks the detector contract on {len(picks)} songs of {split} "
                              f"(rows {', '.join(map(str, picks))}): {problem}. `mom-bench models --check` reports "
                              "every property of the contract (docs/bring_your_own_detector.md)")
    say(f"detector contract: {len(picks)} songs of {split} score the same alone as in one batch")


def check_calibration_split(calibration_split: Any) -> None:
    """Refuse a calibration split that is not a split name or None, or that is a test split (thresholds
    chosen on a test split would be tuned on the data they are tested on)."""
    if calibration_split is None:
        return
    if not isinstance(calibration_split, str) or not calibration_split:
        raise EvaluationError(f"calibration_split must be a split name or None, got {calibration_split!r}")
    if calibration_split in TEST_SPLITS:
        raise EvaluationError(f"calibration_split {calibration_split!r} is a test split; thresholds are chosen on a "
                              f"split that is not tested ({metrics.CALIBRATION_SPLIT})")


def coverage(data_dir: Path | read.Build, scored: dict[str, int]) -> documents.Coverage:
    """Rows scored per split against the split's rows in the build's row list (COVERAGE_DEFINITION); a fold
    view's list is its base's, each row in the fold's split (:meth:`mom_bench.dataset.read.View.report`)."""
    build = read.Build.open(data_dir, verify=False)
    path = (build.base.path if isinstance(build, read.View) else build.path) / read.REPORT_NAME
    rows = build.report().get("rows")
    out: dict[str, Any] = {"definition": COVERAGE_DEFINITION, "unassigned": None, "splits": {}}
    if not isinstance(rows, list):
        for split, n in scored.items():
            out["splits"][split] = {"scored": n, "listed": None, "written": None, "missing": None, "unusable": None,
                                    "excluded": None, "coverage": None, "reason": f"{path} lists no rows"}
        return cast(documents.Coverage, out)  # built key by key, in the document's order
    tally: dict[str, Counter[str]] = {}
    unassigned = 0
    for row in rows:
        if not isinstance(row, dict):
            continue
        row_split, status = row.get("split"), row.get("status")
        if row_split is None:
            unassigned += status != RowStatus.EXCLUDED
            continue
        tally.setdefault(str(row_split), Counter())[str(status)] += 1
    out["unassigned"] = unassigned
    for split, n in scored.items():
        t = tally.get(split, Counter())
        listed = t[RowStatus.WRITTEN] + t[RowStatus.MISSING] + t[RowStatus.UNUSABLE]
        out["splits"][split] = {"scored": n, "listed": listed, "written": t[RowStatus.WRITTEN],
                                "missing": t[RowStatus.MISSING], "unusable": t[RowStatus.UNUSABLE],
                                "excluded": t[RowStatus.EXCLUDED],
                                "coverage": n / listed if listed else None}
        if not listed:
            out["splits"][split]["reason"] = f"{path} lists no row of split {split}"
    return cast(documents.Coverage, out)


def evaluate(model: Any, checkpoint: str | Path | None = None, data_dir: str | Path | None = None, *,
             benchmark: str | None = None, splits: list[str] | tuple[str, ...] | None = None,
             out_dir: str | Path | None = None, n_bootstrap: int = 1000, seed: int = 0, threshold: float = 0.5,
             batch_size: int = 8, device: str | None = None, progress: bool = True, plots: bool = True,
             log: Callable[[str], None] | None = None, fake_label: str | None = None,
             clip: str | None = None, calibration_split: str | None = metrics.CALIBRATION_SPLIT,
             num_workers: int = 0, precision: str = "fp32",
             exclude_overlap_with: list[str | Path] | tuple[str | Path, ...] = ()) -> EvalResult:
    """Score ``splits`` (default: the test splits the dataset has) and write the results folder
    (default ``<runs>/<benchmark>/<model name>/results``).

    ``model``: a registry name (its trained checkpoint, or ``checkpoint``), a saved checkpoint folder,
    ``hf:<Hub id or folder>[@revision]`` (a transformers audio classifier, :mod:`mom_bench.models.hub_classifier`;
    ``fake_label`` and ``clip`` apply to it), or any ``torch.nn.Module`` / callable ``waves [B, T] -> logits [B]``
    with ``sample_rate`` and ``clip`` attributes.

    ``calibration_split`` (default ``validation``) is scored too when the dataset has it, even if ``splits``
    leaves it out, and the frozen thresholds are chosen on it (:func:`mom_bench.report.metrics.frozen_thresholds`);
    None skips that. It may not be a test split.

    ``num_workers`` processes decode ahead of the model; ``precision`` (``fp32``, ``bf16``, ``fp16`` on CUDA,
    ``auto``; :mod:`mom_bench.core.precision`) is recorded in ``results.json``. Under a distributed launcher
    (``torchrun``) every rank scores its block of each split (features into the shared cache), and rank 0
    alone writes the results folder.

    ``exclude_overlap_with``: build folders (e.g. the build a detector was trained on): test rows whose audio
    their train or validation split holds too (:func:`overlap_with`) are left out of the metrics, and
    ``results.json`` says how many (``benchmark.excluded_overlap``).
    """
    config = EvalConfig(benchmark=benchmark, splits=splits, out_dir=out_dir, n_bootstrap=n_bootstrap, seed=seed,
                        threshold=threshold, batch_size=batch_size, device=device, progress=progress, plots=plots,
                        log=log, fake_label=fake_label, clip=clip, calibration_split=calibration_split,
                        num_workers=num_workers, precision=precision, exclude_overlap_with=exclude_overlap_with)
    return run(model, config, checkpoint=checkpoint, data_dir=data_dir)


def run(model: Any, config: EvalConfig, *, checkpoint: str | Path | None = None,
        data_dir: str | Path | read.Build | None = None, runtime: Runtime | None = None,
        write: bool = True, score: SplitScorer | None = None) -> EvalResult:
    """:func:`evaluate` with its options as one :class:`EvalConfig`; ``data_dir`` may be an opened build and
    ``runtime`` an already resolved one (else both are opened and resolved here, once). ``write=False`` scores
    without writing the results folder (the caller writes it with :func:`write_results`). ``score`` replaces
    how each split is scored (default: one clip per song, the detector's clip policy)."""
    config.check()
    runtime = runtime or config.runtime()
    say = config.say
    benchmark = config.benchmark
    if isinstance(model, str) and not model.startswith("hf:") and not Path(model).expanduser().is_dir():
        registry.resolve(model, benchmark)  # a mistyped model name is reported before any data is read
    build = open_build(data_dir, benchmark)
    benchmark = build.benchmark
    chosen = chosen_splits(build, config.splits)
    calibration_split = config.calibration_split
    calibrate = calibration_split if calibration_split in build.splits else None
    detector, requested, source = _load(model, benchmark, checkpoint, runtime,
                                        {"fake_label": config.fake_label, "clip": config.clip})
    resolved_note = f" (resolved from {requested!r})" if detector.name != requested else ""
    say(f"evaluating {detector.name}{resolved_note} from {source or type(model).__name__} on {benchmark} "
        f"[{', '.join(chosen)}]")
    if calibrate and calibrate not in chosen:
        say(f"also scoring {calibrate}, only to choose the frozen thresholds (not reported as a split)")
    for note in detector.notes():  # e.g. a Hub classifier: which label was taken as fake
        say(note)
    if _brought(detector):
        check_contract(detector, build, chosen[0], say)
    out = Path(config.out_dir).expanduser() if config.out_dir else default_results_dir(benchmark, detector.run_name)
    _check_out(out)

    runtime = runtime.on(model_device(detector))
    precision, part = runtime.precision, runtime.part
    training = train_summary(source) if source else None
    trained_at = training.get("precision") if training else None
    if trained_at and trained_at != precision:
        say(f"note: {detector.name} was trained at {trained_at} and is scored here at {precision}; pass "
            f"--precision {trained_at} to score it as it was trained")
    threshold, n_bootstrap, seed, plots = config.threshold, config.n_bootstrap, config.seed, config.plots
    data_dir, info = build.path, build.info
    if part.distributed:
        say(f"{part.label()}: scoring its block of each split; rank 0 writes the results")
    scorer = score or _score_clips
    scored = {s: scorer(detector, build, s, runtime, config.progress)
              for s in dict.fromkeys(chosen + ([calibrate] if calibrate else []))}
    predictions = pd.concat([scored[s] for s in chosen], ignore_index=True)
    excluded = None
    if config.exclude_overlap_with:
        dropped, excluded = overlap_with(build, config.exclude_overlap_with)
        keep = ~predictions["id"].astype(str).isin(dropped)
        excluded["rows"] = int((~keep).sum())
        excluded["by_split"] = {s: int(n) for s, n in predictions.loc[~keep, "split"].value_counts().items()}
        predictions = predictions[keep].reset_index(drop=True)
        say(f"left out {excluded['rows']} test rows found in {', '.join(excluded['builds'])} "
            f"({excluded['exact']} exact, {excluded['near']} near duplicates)")
        if predictions.empty:
            raise EvaluationError("no test row is left once the rows found in the other builds are left out")
    calibration = scored[calibrate] if calibrate else None
    report = metrics.compute_report(predictions, threshold=threshold, n_bootstrap=n_bootstrap, seed=seed,
                                    decoder_families=build.decoder_families())
    frozen = metrics.frozen_thresholds(calibration, predictions, threshold=threshold, n_bootstrap=n_bootstrap,
                                       seed=seed)
    if calibrate is None:
        frozen["reason"] = (f"{data_dir} has no {calibration_split} split: no thresholds were frozen"
                            if calibration_split
                            else "no calibration split was asked for (calibration_split=None)")
    results: documents.Results = {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "mom_bench_version": provenance.mom_bench_version(), "git_commit": provenance.git_commit(),
        "libraries": provenance.library_versions(),
        "benchmark": {"name": benchmark, "version": info.get("benchmark_version"), "fingerprint": info["fingerprint"],
                      "label_fingerprint": info["label_fingerprint"], "audio_fingerprint": info["audio_fingerprint"],
                      "dataset": str(data_dir), "splits": chosen, "calibration_split": calibrate},
        "model": {"requested": requested, "name": detector.name, "config": detector.config, "checkpoint": source,
                  "checkpoint_sha256": weights_sha256(detector, source),
                  "training": training,
                  # which encoder weights produced the features: Hub id + commit, or a content hash
                  "encoders": detector.provenance()["encoders"],
                  "device": str(runtime.device), "precision": precision, "batch_size": runtime.batch_size,
                  "clip": str(detector.clip) if getattr(detector, "clip", None) is not None else None,
                  "world_size": part.world},
        "metrics": report,
        "frozen_thresholds": frozen,
        "coverage": coverage(build, {s: len(f) for s, f in scored.items()}),
    }
    if excluded is not None:
        results["benchmark"]["excluded_overlap"] = excluded
    results_schema.check_results(results)  # a results.json that does not match its published schema is a bug
    result = EvalResult(out, results, predictions, calibration, detector, build, plots=plots)
    if write:
        if part.main:
            write_results(result, say=say)
        distributed.barrier()  # the other ranks return once the results are written
    return result


def overlap_with(build: read.Build, others: list[str | Path] | tuple[str | Path, ...]) -> tuple[set[str], dict]:
    """Ids of ``build``'s rows whose audio the train or validation split of a build in ``others`` holds too
    (:func:`mom_bench.dataset.lineage.overlap`: exact hashes, or near-duplicate fingerprints where both builds
    have them), and a summary for ``results.json``."""
    from mom_bench.core.splits import TRAIN, VALIDATION
    from mom_bench.dataset import lineage

    base = build.base if isinstance(build, read.View) else build
    mine = lineage.read_build(base.path)
    dropped: set[str] = set()
    summary: dict[str, Any] = {"builds": [], "exact": 0, "near": 0, "near_checked": True,
                               "rule": "test rows whose audio the other build's train or validation split holds "
                                       "(same stored audio, same input file, or a near-duplicate fingerprint)"}
    for folder in others:
        path = Path(folder).expanduser()
        if not (path / read.REPORT_NAME).is_file():
            raise EvaluationError(f"--exclude-overlap-with {path}: not a finished mom-bench build "
                                  f"(no {read.REPORT_NAME})")
        found = lineage.overlap(mine, lineage.read_build(path).only((TRAIN, VALIDATION)))
        summary["builds"].append(str(path))
        summary["exact"] += len(set(found.exact) - dropped)  # a row found in two builds counts once
        summary["near"] += len(set(found.near) - dropped)
        summary["near_checked"] = summary["near_checked"] and found.near_checked
        dropped |= found.ids
    return dropped, summary


def _made_by_evaluate(name: str) -> bool:
    """Whether :func:`write_results` makes ``name``; anything else in a results folder (``robustness/`` of an
    earlier ``--robustness`` run, a user's notes) is kept when the folder is replaced."""
    return name in {RESULTS_MARKER, "results.md", "predictions.csv", TIMELINE_FILE, plotting.TIMELINES_DIR,
                    *plotting.PLOTS} or name.endswith("_predictions.csv")


def write_results(result: EvalResult, also: Callable[[Path], list[str]] | None = None,
                  say: Callable[[str], None] | None = None) -> Path:
    """Write ``result``'s results folder in one atomic swap. ``also(tmp)`` adds more of this command's output
    to the new folder before the swap and returns the names it made (the robustness suite adds
    ``robustness/``), so a command that fails before this point leaves the previous folder whole. Entries of
    the previous folder that neither this writer nor ``also`` makes are kept (see :func:`carry_over`)."""
    results, predictions, calibration = result.results, result.predictions, result.calibration
    bench = results["benchmark"]
    columns = ["id", "split", "generator", "label", "score"]
    kept: list[str] = []

    def write(tmp: Path) -> None:
        (tmp / RESULTS_MARKER).write_text(json.dumps(results, indent=2), encoding="utf-8")
        predictions[columns].to_csv(tmp / "predictions.csv", index=False, encoding="utf-8")
        calibrate = bench.get("calibration_split")
        if calibration is not None and calibrate not in bench["splits"]:
            calibration[columns].to_csv(tmp / f"{calibrate}_predictions.csv", index=False, encoding="utf-8")
        (tmp / "results.md").write_text(render_markdown(results), encoding="utf-8")
        if result.plots:
            plotting.draw_all(predictions, result.report, tmp, f"{results['model']['name']} on {bench['name']}")
        made = also(tmp) if also is not None else []
        kept[:] = carry_over(result.out_dir, tmp, lambda name: not _made_by_evaluate(name) and name not in made)

    replace_dir_atomic(result.out_dir, write, marker=RESULTS_MARKER, kind="results folder")
    if kept and say is not None:
        say(f"kept {', '.join(kept)} of the previous results folder {result.out_dir} (not made by this command; "
            "a robustness/ of other predictions is refused when submitted)")
    return result.out_dir
