"""The shapes of the JSON documents mom-bench writes, as ``TypedDict``s, and the JSON Schema of ``results.json``.

* :class:`Report`: what :func:`mom_bench.metrics.compute_report` returns (one :class:`SplitReport` per
  split, each number a :class:`Statistic`);
* :class:`Results`: ``results.json``, written by ``mom-bench evaluate`` (provenance + the report);
* :class:`BuildReport`: ``build_report.json``, written at the end of ``mom-bench build``;
* :class:`EntryReproduced` / :class:`EntryReported`: a leaderboard entry (their JSON Schemas live in
  :mod:`mom_bench.leaderboard.schema`).

The TypedDicts are for readers and type checkers; they cost nothing at run time. ``results.json`` is also
checked at run time against :data:`RESULTS_SCHEMA` (:func:`check_results`), which is strict: every key is
required, objects of a fixed shape refuse unknown keys, and the maps (per generator, per stratum bucket,
per split) check each value. The same schema is shipped as ``mom_bench/schemas/results.schema.json`` for
users' own tools (regenerate it with ``python -m mom_bench.documents`` after changing the dict).

This module imports only the standard library, :mod:`mom_bench.errors` and :mod:`mom_bench.json_schema`.
"""
# No `from __future__ import annotations`: with string annotations Python 3.11's TypedDict cannot see
# NotRequired, and __required_keys__ (read by the tests) would list every key.
import json
from pathlib import Path
from typing import Any, Literal, NotRequired, TypedDict

from mom_bench.errors import DocumentError
from mom_bench.json_schema import DIALECT, validate

#: ``schema_version`` of results.json (``RESULTS_SCHEMA_VERSION`` of the evaluate command's module).
RESULTS_SCHEMA_VERSION = 1
#: ``schema_version`` of a report (``mom_bench.metrics.SCHEMA_VERSION``).
REPORT_SCHEMA_VERSION = 1
#: The schema of results.json, as shipped with the package.
RESULTS_SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "results.schema.json"


# --------------------------------------------------------------------------------------------------
# The report of mom_bench.metrics.compute_report


class Statistic(TypedDict):
    """A number with its 95 % bootstrap interval. ``value`` is None (and ``reason`` says why) when the
    metric is undefined on the rows; ``ci`` is ``[low, high]``, or None when there is no interval."""

    value: float | None
    ci: list[float] | None
    reason: NotRequired[str]


class Confusion(TypedDict):
    tp: int
    fp: int
    tn: int
    fn: int


class OverallMetrics(TypedDict):
    f1: Statistic
    precision: Statistic
    recall: Statistic
    specificity: Statistic
    accuracy: Statistic
    balanced_accuracy: Statistic
    auc: Statistic
    eer: Statistic


class GeneratorReport(TypedDict):
    """One generator's fakes in a split, against all the split's reals."""

    n_fake: int
    n_real: int
    tpr: Statistic
    f1: Statistic


class StratumBucket(TypedDict):
    """The threshold metrics on the rows of one bucket of a stratum (e.g. duration ``<=60s``)."""

    n: int
    n_fake: int
    n_real: int
    f1: Statistic
    recall: Statistic
    specificity: Statistic
    accuracy: Statistic


class UnknownBucket(TypedDict):
    """The ``_unknown`` bucket of a stratum: rows with no usable value for it (no metrics)."""

    n: int
    note: str


#: A stratum's buckets: bucket name -> StratumBucket, plus ``_unknown`` -> UnknownBucket when some rows
#: have no usable value.
StratumBuckets = dict[str, StratumBucket | UnknownBucket]


class Strata(TypedDict, total=False):
    """The strata a split has: one per optional predictions column present (``duration_s``, ``vocals``,
    ``language``)."""

    duration: StratumBuckets
    vocals: StratumBuckets
    language: StratumBuckets


class TprAtFpr(TypedDict):
    """TPR read off the ROC curve at one false-positive budget (``tpr_at_fpr`` of the definitions)."""

    target_fpr: float
    value: float | None
    ci: list[float] | None
    reason: NotRequired[str]
    resolvable: bool  # the split has at least min_reals reals
    min_reals: int  # ceil(1 / target_fpr)


class CalibrationReport(TypedDict):
    """Expected calibration error (``n_bins`` equal-mass bins) and Brier score of a split."""

    n_bins: int
    ece: Statistic
    brier: Statistic


class SplitReport(TypedDict):
    """One split. ``tpr_at_fpr`` and ``calibration`` are absent from reports written before they existed
    (e.g. older leaderboard entries)."""

    n: int
    n_fake: int
    n_real: int
    confusion: Confusion
    overall: OverallMetrics
    per_generator: dict[str, GeneratorReport]
    strata: Strata
    tpr_at_fpr: NotRequired[dict[str, TprAtFpr]]  # "0.05", "0.01", "0.001"
    calibration: NotRequired[CalibrationReport]


class RealGroupFpr(TypedDict):
    """The reals of one group (a source, a stratum bucket, or all of a split's) and how many were called fake."""

    n_real: int
    n_called_fake: int
    fpr: Statistic


class SplitFalsePositives(TypedDict):
    """The false-positive rate of a split's reals: all, per source (only where the predictions have a
    ``source`` column; ``note`` says so otherwise) and per stratum bucket."""

    n_real: int
    all: RealGroupFpr
    by_source: NotRequired[dict[str, RealGroupFpr]]
    note: NotRequired[str]
    by_stratum: dict[str, dict[str, RealGroupFpr]]  # stratum -> bucket (or _unknown) -> rate


class Report(TypedDict):
    schema_version: int
    threshold: float
    n_bootstrap: int
    seed: int
    ci_level: float
    definitions: dict[str, str]
    splits: dict[str, SplitReport]
    id_ood_gap: Statistic
    false_positive_rates: NotRequired[dict[str, SplitFalsePositives]]  # split -> rates; absent in older reports


class CalibrationRates(TypedDict):
    """A threshold's rates on the calibration split (plain numbers: the rows it was chosen on)."""

    tpr: float | None
    fpr: float | None
    f1: float | None
    precision: float | None


class FrozenThreshold(TypedDict):
    """A threshold chosen on the calibration split (``threshold`` None, with ``reason``, when it cannot be)."""

    threshold: float | None
    target_fpr: float | None  # the FPR budget of the rule; None for fixed and max_f1
    resolvable: bool | None  # the calibration split has at least 1 / target_fpr reals
    on_calibration: CalibrationRates | None
    reason: NotRequired[str]


class AppliedThreshold(TypedDict):
    """A frozen threshold applied to a test split."""

    threshold: float
    confusion: Confusion
    tpr: Statistic
    fpr: Statistic
    f1: Statistic
    precision: Statistic


class FrozenThresholds(TypedDict):
    """:func:`mom_bench.metrics.frozen_thresholds`: thresholds chosen on ``chosen_on`` and applied unchanged
    to each test split."""

    chosen_on: str | None
    n: int
    n_fake: int
    n_real: int
    reason: NotRequired[str]
    thresholds: dict[str, FrozenThreshold]  # fixed, max_f1, fpr_5pct, fpr_1pct
    splits: dict[str, dict[str, AppliedThreshold]]  # test split -> threshold name -> its metrics


# --------------------------------------------------------------------------------------------------
# results.json (`mom-bench evaluate`)


class BenchmarkInfo(TypedDict):
    name: str
    version: str | None
    fingerprint: str
    label_fingerprint: NotRequired[str]  # results written before builds were verified lack both halves
    audio_fingerprint: NotRequired[str]
    dataset: str
    splits: list[str]
    # the split scored only to choose the frozen thresholds (null: the dataset has none); absent in older results
    calibration_split: NotRequired[str | None]


class TrainingSummary(TypedDict):
    """The essentials of the run's ``train_config.json`` (values are None when that file lacks them)."""

    model: str | None
    requested_model: str | None
    benchmark: str | None
    dataset_fingerprint: str | None
    recipe: dict[str, Any] | None
    recipe_family: str | None
    epochs_done: int | None
    best_epoch: int | None
    best_val_f1: float | None


class ModelInfo(TypedDict):
    requested: str
    name: str
    config: dict[str, Any]
    checkpoint: str | None
    checkpoint_sha256: str | None
    training: TrainingSummary | None
    encoders: dict[str, str]
    device: str
    precision: NotRequired[str]  # fp32 unless a reduced precision was asked for
    world_size: NotRequired[int]  # processes that scored the splits (1 without a launcher)


class SplitCoverage(TypedDict):
    """How many of a split's listed rows were scored; the counts come from the build's row list (None, with
    ``reason``, when the build report has none)."""

    scored: int
    listed: int | None  # written + missing + unusable rows of the split
    written: int | None
    missing: int | None
    unusable: int | None
    excluded: int | None  # left out on purpose by the protocol: not in the denominator
    coverage: float | None  # scored / listed
    reason: NotRequired[str]


class Coverage(TypedDict):
    definition: str
    unassigned: int | None  # rows refused before a split was given to them (not excluded ones)
    splits: dict[str, SplitCoverage]


class Results(TypedDict):
    """``frozen_thresholds`` and ``coverage`` are absent from results written before they existed."""

    schema_version: int
    created: str
    mom_bench_version: str
    git_commit: str | None
    libraries: dict[str, str | None]
    benchmark: BenchmarkInfo
    model: ModelInfo
    metrics: Report
    frozen_thresholds: NotRequired[FrozenThresholds]
    coverage: NotRequired[Coverage]


# --------------------------------------------------------------------------------------------------
# build_report.json (mom_bench.dataset.finalize)


class BuildOptions(TypedDict):
    """What decides a build's output; a finished build with equal options is reused as it is."""

    benchmark: str
    benchmark_version: str
    protocol_sha256: str
    split_mode: Literal["strict", "official"]
    max_seconds: float | None
    keep_original: bool
    sample_rate: int
    limit: int | None
    source_options: dict[str, Any]


class BuildAudio(TypedDict):
    sample_rate: int
    format: str
    channels: int
    bits: int
    max_seconds: float | None
    keep_original: bool


class BuildGenerator(TypedDict):
    id: str
    name: str
    family: str
    role: str  # "train" (in-distribution) or "ood"


class BuildCounts(TypedDict):
    rows: int
    written: int
    missing: int
    unusable: int
    excluded: int
    by_split: dict[str, dict[str, int]]  # split -> generator -> rows written
    by_split_label: dict[str, dict[str, int]]  # split -> "real"/"fake" -> rows written
    reasons: dict[str, int]  # "status: reason" -> rows, most common first


# "from" is a Python keyword, hence the functional form.
MovedRow = TypedDict("MovedRow", {"id": str, "from": str, "to": str})


class MergedGroup(TypedDict):
    """Groups joined because they hold identical decoded audio (mom_bench.dataset.splits.merge_duplicates)."""

    group_id: str
    joined_groups: list[str]
    split: str
    moved: list[MovedRow]
    conflict: NotRequired[str]


class OodOutside(TypedDict):
    id: str
    generator: str
    split: str


class LeakageAudit(TypedDict):
    ood_outside_test_ood: list[OodOutside]
    groups_spanning_splits: list[str]
    duplicate_audio_spanning_splits: list[str]
    n_groups: int
    ok: bool
    duplicates_merged: list[MergedGroup]
    rows_moved_by_duplicates: int
    preassigned_rows: int
    rule: str


class ShortcutCheck(TypedDict, total=False):
    """mom_bench.dataset.shortcut.shortcut_check; only ``skipped`` (no written rows with statistics) or
    ``error`` (the audit could not run) when it did not run."""

    f1: float | None
    balanced_accuracy: NotRequired[float | None]  # reports of builds before it was the warning's measure lack it
    warn: bool
    threshold: float
    warn_metric: NotRequired[str]
    features: list[str]
    classifier: str | None
    n_train: int
    n_test: int
    seed: int
    chance_f1: float
    per_classifier: dict[str, dict[str, float]]
    skipped: str
    error: str


class ShardFile(TypedDict):
    file: str  # "data/<split>-NNNNN.parquet"
    rows: int


class BuildRow(TypedDict):
    """One source row and what became of it (``status``: written, missing, unusable or excluded)."""

    id: str
    source: str
    generator: str
    label: int | None
    split: str | None
    group_id: str | None
    status: str
    reason: str | None


class BuildReport(TypedDict):
    schema_version: int
    benchmark: str
    benchmark_version: str
    fingerprint: str
    label_fingerprint: NotRequired[str]  # the two halves of fingerprint; builds before they existed lack them
    audio_fingerprint: NotRequired[str]
    inputs: NotRequired[dict[str, Any]]  # what the build was made from (listing digest, rows kept or made)
    created: str
    mom_bench_version: str
    split_mode: Literal["strict", "official"]
    options: BuildOptions
    audio: BuildAudio
    clip_policy: str
    generators: list[BuildGenerator]
    counts: BuildCounts
    leakage_audit: LeakageAudit
    shortcut_check: ShortcutCheck
    files: dict[str, list[ShardFile]]  # split -> shards
    rows: list[BuildRow]


# --------------------------------------------------------------------------------------------------
# leaderboard entries (schemas: mom_bench.leaderboard.schema.ENTRY_REPRODUCED / ENTRY_REPORTED)


class SummaryStatistic(TypedDict):
    value: float | None
    ci: NotRequired[list[float] | None]


class SummaryGenerator(TypedDict, total=False):
    f1: SummaryStatistic | None
    tpr: SummaryStatistic | None
    n_fake: int
    n_real: int


class _SummaryRequired(TypedDict):
    f1: SummaryStatistic | None


class SummaryOperatingPoint(TypedDict):
    """TPR at 1 % FPR over the entry's test items pooled; ``resolvable`` is False below ``min_reals`` reals."""

    value: float | None
    ci: NotRequired[list[float] | None]
    resolvable: bool
    n_real: int
    min_reals: NotRequired[int]


class SummarySourceFpr(TypedDict):
    n_real: int
    n_called_fake: int
    fpr: SummaryStatistic


class SummaryWorstSource(TypedDict):
    source: str
    value: float | None
    ci: NotRequired[list[float] | None]
    n_real: int
    n_called_fake: int


class Summary(_SummaryRequired, total=False):
    """What every entry offers the renderer, reported or reproduced."""

    f1_id: SummaryStatistic | None
    f1_ood: SummaryStatistic | None
    precision: SummaryStatistic | None
    recall: SummaryStatistic | None
    specificity: SummaryStatistic | None
    accuracy: SummaryStatistic | None
    auc: SummaryStatistic | None
    eer: SummaryStatistic | None
    per_generator: dict[str, SummaryGenerator]
    tpr_at_1pct_fpr: SummaryOperatingPoint
    fpr_by_source: dict[str, SummarySourceFpr]
    worst_source_fpr: SummaryWorstSource


class RobustnessClaim(TypedDict):
    """The summary of the submitter's ``evaluate --robustness`` run (range-checked, never re-scored)."""

    reported_by: Literal["submitter"]
    file_sha256: str
    suite: str
    transforms: int
    codec_worst_tpr: float | None
    codec_worst_fpr: float | None
    codec_mean_abs_dp: float | None
    codec_max_abs_dp: float | None
    codec_invariant: bool | None
    most_harmful: str | None
    most_harmful_delta_tpr: float | None


class TrainingData(TypedDict):
    description: str
    datasets: NotRequired[list[str]]
    only_in_distribution_generators: bool


class SubmissionMeta(TypedDict):
    model_name: str
    authors: list[str]
    contact: str
    parameters: int
    training_data: TrainingData
    license: str
    date: str
    benchmark_version: str
    schema_version: NotRequired[int]
    slug: NotRequired[str]
    team: NotRequired[str | None]
    paper_url: NotRequired[str | None]
    code_url: NotRequired[str | None]
    dataset_fingerprint: NotRequired[str]
    description: NotRequired[str | None]
    command: NotRequired[str | None]
    registry_model: NotRequired[str | None]


class PredictionsInfo(TypedDict):
    sha256: str
    n_rows: int
    format: Literal["csv", "parquet"]
    ignored_columns: NotRequired[list[str]]
    stored: NotRequired[str | None]
    stored_sha256: NotRequired[str | None]


class Scoring(TypedDict):
    threshold: float
    n_bootstrap: int
    seed: int
    splits: list[str]


class _EntryCommon(TypedDict):
    schema_version: int
    benchmark: str
    slug: str
    model_name: str
    summary: Summary
    parameters: NotRequired[int | None]
    paper_url: NotRequired[str | None]
    code_url: NotRequired[str | None]
    notes: NotRequired[str | None]


class EntryReproduced(_EntryCommon):
    """``leaderboard/entries/<benchmark>/<slug>.json`` scored here from a predictions file."""

    kind: Literal["reproduced"]
    benchmark_version: str
    dataset_fingerprint: str
    label_fingerprint: NotRequired[str]  # the build's labels, identical on every machine; older entries lack it
    partial: NotRequired[bool]  # true when the entry covers only some test splits; older entries lack it
    meta: SubmissionMeta
    predictions: PredictionsInfo
    scoring: Scoring
    report: Report
    report_all_tests: NotRequired[Report]
    command: NotRequired[str | None]
    robustness: NotRequired[RobustnessClaim]
    mom_bench_version: str
    date: str


class Citation(TypedDict):
    title: str
    url: str
    authors: NotRequired[str]
    venue: NotRequired[str]
    year: NotRequired[int]


class EntryReported(_EntryCommon):
    """A leaderboard entry copied from a publication (not scored here)."""

    kind: Literal["reported"]
    citation: Citation
    source: str
    test_set: str
    recipe: str


LeaderboardEntry = EntryReproduced | EntryReported


# --------------------------------------------------------------------------------------------------
# The JSON Schema of results.json

_SHA256 = "^[0-9a-f]{64}$"
_COUNT: dict[str, Any] = {"type": "integer", "minimum": 0}
_NULLABLE_STRING: dict[str, Any] = {"type": ["string", "null"]}


def _object(properties: dict[str, Any], *, optional: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    """A fixed-shape object: every property required except ``optional``, nothing else allowed."""
    return {"type": "object", **extra, "required": [k for k in properties if k not in optional],
            "additionalProperties": False, "properties": properties}


def _map(values: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """An object whose keys are names (generators, splits, ...) and whose values all follow ``values``."""
    return {"type": "object", **extra, "additionalProperties": values}


STATISTIC_SCHEMA = _object({
    "value": {"type": ["number", "null"]},
    "ci": {"type": ["array", "null"], "items": {"type": "number"}, "minItems": 2, "maxItems": 2,
           "description": "95 % bootstrap interval [low, high]; null when not available"},
    "reason": {"type": "string", "minLength": 1, "description": "why value is null"},
}, optional=("reason",), description="a number with its bootstrap interval")

_BUCKET = _object({"n": _COUNT, "n_fake": _COUNT, "n_real": _COUNT, "f1": STATISTIC_SCHEMA,
                   "recall": STATISTIC_SCHEMA, "specificity": STATISTIC_SCHEMA, "accuracy": STATISTIC_SCHEMA})
_BUCKETS = {"type": "object", "description": "bucket name -> metrics; _unknown counts the rows with no value",
            "properties": {"_unknown": _object({"n": _COUNT, "note": {"type": "string"}})},
            "additionalProperties": _BUCKET}

_TPR_AT_FPR = _object({
    "target_fpr": {"type": "number", "minimum": 0, "maximum": 1},
    "value": {"type": ["number", "null"]},
    "ci": STATISTIC_SCHEMA["properties"]["ci"],
    "reason": {"type": "string", "minLength": 1, "description": "why value is null"},
    "resolvable": {"type": "boolean", "description": "the split has at least min_reals reals"},
    "min_reals": {"type": "integer", "minimum": 1, "description": "ceil(1 / target_fpr)"},
}, optional=("reason",), description="TPR at a false-positive budget, read off the ROC curve")

_CALIBRATION = _object({"n_bins": {"type": "integer", "minimum": 1}, "ece": STATISTIC_SCHEMA,
                        "brier": STATISTIC_SCHEMA}, description="expected calibration error and Brier score")

SPLIT_REPORT_SCHEMA = _object({
    "n": _COUNT,
    "n_fake": _COUNT,
    "n_real": _COUNT,
    "confusion": _object({k: _COUNT for k in ("tp", "fp", "tn", "fn")}),
    "overall": _object({k: STATISTIC_SCHEMA for k in ("f1", "precision", "recall", "specificity", "accuracy",
                                                        "balanced_accuracy", "auc", "eer")}),
    "per_generator": _map(_object({"n_fake": _COUNT, "n_real": _COUNT, "tpr": STATISTIC_SCHEMA,
                                   "f1": STATISTIC_SCHEMA}), description="generator id -> its fakes' metrics"),
    "strata": _object({"duration": _BUCKETS, "vocals": _BUCKETS, "language": _BUCKETS},
                      optional=("duration", "vocals", "language")),
    "tpr_at_fpr": _map(_TPR_AT_FPR, description="target FPR (\"0.05\", \"0.01\", \"0.001\") -> TPR there"),
    "calibration": _CALIBRATION,
}, optional=("tpr_at_fpr", "calibration"))

_REAL_GROUP = _object({"n_real": _COUNT, "n_called_fake": _COUNT, "fpr": STATISTIC_SCHEMA})

_SPLIT_FALSE_POSITIVES = _object({
    "n_real": _COUNT,
    "all": _REAL_GROUP,
    "by_source": _map(_REAL_GROUP, description="source of the reals (_unknown: none) -> their FPR"),
    "note": {"type": "string", "minLength": 1, "description": "why by_source is absent"},
    "by_stratum": _map(_map(_REAL_GROUP), description="stratum -> bucket (_unknown: no value) -> FPR"),
}, optional=("by_source", "note"))

REPORT_SCHEMA = _object({
    "schema_version": {"const": REPORT_SCHEMA_VERSION},
    "threshold": {"type": "number", "minimum": 0, "maximum": 1},
    "n_bootstrap": {"type": "integer", "minimum": 1},
    "seed": {"type": "integer"},
    "ci_level": {"type": "number", "minimum": 0, "maximum": 1},
    "definitions": _map({"type": "string"}),
    "splits": _map(SPLIT_REPORT_SCHEMA, description="split name -> its report"),
    "id_ood_gap": STATISTIC_SCHEMA,
    "false_positive_rates": _map(_SPLIT_FALSE_POSITIVES, description="split -> false-positive rates of its reals"),
}, optional=("false_positive_rates",), description="mom_bench.metrics.compute_report")

_NULLABLE_RATE: dict[str, Any] = {"type": ["number", "null"], "minimum": 0, "maximum": 1}

_FROZEN_THRESHOLD = _object({
    "threshold": {"type": ["number", "null"],
                  "description": "called fake when score >= threshold; may lie just above 1 (nothing called fake)"},
    "target_fpr": _NULLABLE_RATE,
    "resolvable": {"type": ["boolean", "null"]},
    "on_calibration": _object({k: _NULLABLE_RATE for k in ("tpr", "fpr", "f1", "precision")},
                              type=["object", "null"]),
    "reason": {"type": "string", "minLength": 1, "description": "why threshold is null"},
}, optional=("reason",))

_APPLIED_THRESHOLD = _object({
    "threshold": {"type": "number"},
    "confusion": _object({k: _COUNT for k in ("tp", "fp", "tn", "fn")}),
    **{k: STATISTIC_SCHEMA for k in ("tpr", "fpr", "f1", "precision")},
})

FROZEN_THRESHOLDS_SCHEMA = _object({
    "chosen_on": _NULLABLE_STRING,
    "n": _COUNT,
    "n_fake": _COUNT,
    "n_real": _COUNT,
    "reason": {"type": "string", "minLength": 1, "description": "why no threshold was chosen"},
    "thresholds": _map(_FROZEN_THRESHOLD, description="fixed, max_f1, fpr_5pct, fpr_1pct"),
    "splits": _map(_map(_APPLIED_THRESHOLD), description="test split -> threshold name -> its metrics"),
}, optional=("reason",), description="mom_bench.metrics.frozen_thresholds")

_NULLABLE_COUNT: dict[str, Any] = {"type": ["integer", "null"], "minimum": 0}

COVERAGE_SCHEMA = _object({
    "definition": {"type": "string", "minLength": 1},
    "unassigned": _NULLABLE_COUNT,
    "splits": _map(_object({
        "scored": _COUNT,
        **{k: _NULLABLE_COUNT for k in ("listed", "written", "missing", "unusable", "excluded")},
        "coverage": _NULLABLE_RATE,
        "reason": {"type": "string", "minLength": 1},
    }, optional=("reason",)), description="split -> rows scored against rows listed"),
}, description="rows scored / rows of the split in the build's row list")

_TRAINING = _object({
    "model": _NULLABLE_STRING,
    "requested_model": _NULLABLE_STRING,
    "benchmark": _NULLABLE_STRING,
    "dataset_fingerprint": _NULLABLE_STRING,
    "recipe": {"type": ["object", "null"]},
    "recipe_family": _NULLABLE_STRING,
    "epochs_done": {"type": ["integer", "null"], "minimum": 0},
    "best_epoch": {"type": ["integer", "null"], "minimum": 0},
    "best_val_f1": {"type": ["number", "null"]},
}, type=["object", "null"], description="the run's train_config.json, when the checkpoint sits in a run folder")

RESULTS_SCHEMA: dict[str, Any] = {
    "$schema": DIALECT,
    "$id": f"urn:mom-bench:schema:results:{RESULTS_SCHEMA_VERSION}",
    "title": "results.json of `mom-bench evaluate`",
    **_object({
        "schema_version": {"const": RESULTS_SCHEMA_VERSION},
        "created": {"type": "string",
                    "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$",
                    "description": "an ISO 8601 time with its UTC offset, e.g. 2026-01-31T12:00:00+00:00"},
        "mom_bench_version": {"type": "string", "minLength": 1},
        "git_commit": {"type": ["string", "null"], "pattern": r"^[0-9a-f]{7,64}(?:\+dirty)?$",
                       "description": "a commit id, +dirty when the checkout had changes"},
        "libraries": _map(_NULLABLE_STRING, description="distribution -> installed version (null: absent)"),
        "benchmark": _object({
            "name": {"type": "string", "minLength": 1},
            "version": _NULLABLE_STRING,
            "fingerprint": {"type": "string", "pattern": _SHA256, "description": "64 lowercase hex digits"},
            "label_fingerprint": {"type": "string", "pattern": _SHA256,
                                  "description": "ids, splits, labels and generators only (same on every machine)"},
            "audio_fingerprint": {"type": "string", "pattern": _SHA256, "description": "the stored audio's hashes"},
            "dataset": {"type": "string", "description": "the built dataset's folder"},
            "splits": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
            "calibration_split": {"type": ["string", "null"], "minLength": 1,
                                  "description": "the split scored to choose the frozen thresholds; null: none"},
        }, optional=("label_fingerprint", "audio_fingerprint", "calibration_split")),
        "model": _object({
            "requested": {"type": "string", "minLength": 1},
            "name": {"type": "string", "minLength": 1},
            "config": {"type": "object", "required": ["model"], "properties": {"model": {"type": "string"}},
                       "description": "the detector's configuration (free-form beyond 'model')"},
            "checkpoint": _NULLABLE_STRING,
            "checkpoint_sha256": {"type": ["string", "null"], "pattern": _SHA256},
            "training": _TRAINING,
            "encoders": _map({"type": "string"}, description="encoder slot -> identity of its weights"),
            "device": {"type": "string", "minLength": 1},
            "precision": {"enum": ["fp32", "bf16", "fp16"],
                          "description": "numeric precision of the encoders and the model (autocast below fp32)"},
            "world_size": {"type": "integer", "minimum": 1, "description": "processes that scored the splits"},
        }, optional=("precision", "world_size")),
        "metrics": REPORT_SCHEMA,
        "frozen_thresholds": FROZEN_THRESHOLDS_SCHEMA,
        "coverage": COVERAGE_SCHEMA,
    }, optional=("frozen_thresholds", "coverage")),
}


def results_problems(doc: Any) -> list[str]:
    """Every way ``doc`` differs from :data:`RESULTS_SCHEMA`, one ``/json/pointer: reason`` each."""
    return validate(doc, RESULTS_SCHEMA)


def check_results(doc: Any) -> None:
    """Raise :class:`DocumentError` listing every problem when ``doc`` is not a valid results.json."""
    problems = results_problems(doc)
    if problems:
        shown = problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else [])
        raise DocumentError(f"results document does not match its schema ({len(problems)} problem"
                            f"{'s' if len(problems) > 1 else ''}): " + "; ".join(shown))


def schema_text(schema: dict[str, Any] | None = None) -> str:
    """The schema file's exact text: indented JSON with a final newline."""
    return json.dumps(RESULTS_SCHEMA if schema is None else schema, indent=2, ensure_ascii=False) + "\n"


def write_schema(path: Path = RESULTS_SCHEMA_PATH) -> Path:
    """(Re)write ``mom_bench/schemas/results.schema.json`` from :data:`RESULTS_SCHEMA`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(schema_text(), encoding="utf-8")
    return path


if __name__ == "__main__":
    print(write_schema())
