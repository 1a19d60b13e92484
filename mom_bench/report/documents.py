"""The shapes of the JSON documents mom-bench writes, as ``TypedDict``s: the one description of each.

* :class:`Report`: what :func:`mom_bench.report.metrics.compute_report` returns (one :class:`SplitReport` per
  split, each number a :class:`Statistic`);
* :class:`Results`: ``results.json``, written by ``mom-bench evaluate`` (provenance + the report);
* :class:`BuildReport`: ``build_report.json``, written at the end of ``mom-bench build``;
* :class:`EntryReproduced` / :class:`EntryReported`: a leaderboard entry (their JSON Schemas live in
  :mod:`mom_bench.leaderboard.schema`).

The JSON Schema of ``results.json`` is generated from these types (:func:`mom_bench.core.json_schema.from_type`,
in :mod:`mom_bench.report.metrics.schema`): the ``Annotated`` constraints below (counts, rates, patterns,
descriptions) are what the schema adds to the plain types, and the blocks marked :class:`MetricBlock` take
their keys from the metric registry. The schema is strict: every key is required, objects of a fixed shape
refuse unknown keys, and the maps (per generator, per stratum bucket, per split) check each value.

This module imports only the standard library and :mod:`mom_bench.core.errors`.
"""
# No `from __future__ import annotations`: with string annotations Python 3.11's TypedDict cannot see
# NotRequired, and __required_keys__ (read by the tests) would list every key.
from dataclasses import dataclass
from typing import Annotated, Any, Literal, NotRequired, TypedDict

from mom_bench.core.errors import DocumentError as DocumentError  # the error of a document that breaks its shape

#: ``schema_version`` of results.json (``RESULTS_SCHEMA_VERSION`` of the evaluate command's module).
RESULTS_SCHEMA_VERSION = 1
#: ``schema_version`` of a report (``mom_bench.report.metrics.SCHEMA_VERSION``).
REPORT_SCHEMA_VERSION = 1


# --------------------------------------------------------------------------------------------------
# Constraints the JSON Schema adds to the plain types (mom_bench.core.json_schema.from_type reads them)

_SHA256 = "^[0-9a-f]{64}$"
Count = Annotated[int, {"minimum": 0}]
NullableCount = Annotated[int | None, {"minimum": 0}]
NullableRate = Annotated[float | None, {"minimum": 0, "maximum": 1}]
Name = Annotated[str, {"minLength": 1}]
Interval = Annotated[list[float] | None, {
    "minItems": 2, "maxItems": 2, "description": "95 % bootstrap interval [low, high]; null when not available"}]


@dataclass(frozen=True)
class MetricBlock:
    """Marks a block whose metric keys the metric registry declares (``overall``, ``per_generator`` or
    ``stratum``): the results schema takes that block from :mod:`mom_bench.report.metrics.registry`, so a metric
    registered there is accepted without touching this file. The TypedDicts name the built-in metrics."""

    name: str


# --------------------------------------------------------------------------------------------------
# The report of mom_bench.report.metrics.compute_report


class Statistic(TypedDict):
    """A number with its 95 % bootstrap interval. ``value`` is None (and ``reason`` says why) when the
    metric is undefined on the rows; ``ci`` is ``[low, high]``, or None when there is no interval."""

    value: float | None
    ci: Interval
    reason: NotRequired[Annotated[str, {"minLength": 1, "description": "why value is null"}]]


class Confusion(TypedDict):
    tp: Count
    fp: Count
    tn: Count
    fn: Count


#: metric -> its statistic, for every metric of the registry (the built-in ones: f1, precision, recall,
#: specificity, accuracy, balanced_accuracy, auc, eer).
OverallMetrics = Annotated[dict[str, Statistic], MetricBlock("overall")]


class GeneratorReport(TypedDict):
    """One generator's fakes in a split, against all the split's reals (its metrics: the registry's
    per-generator columns)."""

    n_fake: Count
    n_real: Count
    tpr: Statistic
    f1: Statistic


#: The decoder family of a generator whose protocol names none (``per_decoder_family``).
UNSPECIFIED_DECODER_FAMILY = "unspecified"


class DecoderFamilyReport(TypedDict):
    """The fakes of one decoder family in a split (its generators pooled), against all the split's reals."""

    n_fake: Count
    n_real: Count
    generators: Annotated[list[Name], {"description": "the family's generators with fakes in the split"}]
    tpr: Statistic
    auc: Statistic


class StratumBucket(TypedDict):
    """The threshold metrics on the rows of one bucket of a stratum (e.g. duration ``<=60s``; its metrics:
    the registry's stratum columns)."""

    n: Count
    n_fake: Count
    n_real: Count
    f1: Statistic
    recall: Statistic
    specificity: Statistic
    accuracy: Statistic


class UnknownBucket(TypedDict):
    """The ``_unknown`` bucket of a stratum: rows with no usable value for it (no metrics)."""

    n: Count
    note: str


#: A stratum's buckets: bucket name -> StratumBucket, plus ``_unknown`` -> UnknownBucket when some rows
#: have no usable value.
StratumBuckets = Annotated[dict[str, StratumBucket | UnknownBucket], {
    "description": "bucket name -> metrics; _unknown counts the rows with no value",
    "properties": {"_unknown": UnknownBucket},
    "additionalProperties": Annotated[StratumBucket, MetricBlock("stratum")]}]


class Strata(TypedDict, total=False):
    """The strata a split has: one per optional predictions column present (``duration_s``, ``vocals``,
    ``language``)."""

    duration: StratumBuckets
    vocals: StratumBuckets
    language: StratumBuckets


class TprAtFpr(TypedDict):
    """TPR read off the ROC curve at one false-positive budget (``tpr_at_fpr`` of the definitions)."""

    target_fpr: Annotated[float, {"minimum": 0, "maximum": 1}]
    value: float | None
    ci: Interval
    reason: NotRequired[Annotated[str, {"minLength": 1, "description": "why value is null"}]]
    resolvable: Annotated[bool, {"description": "the split has at least min_reals reals"}]
    min_reals: Annotated[int, {"minimum": 1, "description": "ceil(1 / target_fpr)"}]


class CalibrationReport(TypedDict):
    """Expected calibration error (``n_bins`` equal-mass bins) and Brier score of a split."""

    n_bins: Annotated[int, {"minimum": 1}]
    ece: Statistic
    brier: Statistic


class SplitReport(TypedDict):
    """One split. ``tpr_at_fpr`` and ``calibration`` are absent from reports written before they existed
    (e.g. older leaderboard entries); ``per_decoder_family`` too, and from reports scored without the
    generators' decoder families (the leaderboard's re-scoring)."""

    n: Count
    n_fake: Count
    n_real: Count
    confusion: Confusion
    overall: OverallMetrics
    per_generator: Annotated[dict[str, Annotated[GeneratorReport, MetricBlock("per_generator")]],
                             {"description": "generator id -> its fakes' metrics"}]
    per_decoder_family: NotRequired[Annotated[dict[str, DecoderFamilyReport], {
        "description": "decoder family (unspecified: the protocol names none) -> its fakes' TPR and AUC"}]]
    strata: Strata
    tpr_at_fpr: NotRequired[Annotated[dict[str, Annotated[TprAtFpr, {
        "description": "TPR at a false-positive budget, read off the ROC curve"}]], {
        "description": "target FPR (\"0.05\", \"0.01\", \"0.001\") -> TPR there"}]]
    calibration: NotRequired[Annotated[CalibrationReport, {
        "description": "expected calibration error and Brier score"}]]


class RealGroupFpr(TypedDict):
    """The reals of one group (a source, a stratum bucket, or all of a split's) and how many were called fake."""

    n_real: Count
    n_called_fake: Count
    fpr: Statistic


class SplitFalsePositives(TypedDict):
    """The false-positive rate of a split's reals: all, per source (only where the predictions have a
    ``source`` column; ``note`` says so otherwise) and per stratum bucket."""

    n_real: Count
    all: RealGroupFpr
    by_source: NotRequired[Annotated[dict[str, RealGroupFpr], {
        "description": "source of the reals (_unknown: none) -> their FPR"}]]
    note: NotRequired[Annotated[str, {"minLength": 1, "description": "why by_source is absent"}]]
    by_stratum: Annotated[dict[str, dict[str, RealGroupFpr]], {
        "description": "stratum -> bucket (_unknown: no value) -> FPR"}]


class RealPoolReport(TypedDict):
    """All the fakes of a split against the reals of one pool (the reals' ``source``: a build's protocol
    ``reals`` id). ``fpr`` is by_source's rate of that pool at the report's threshold."""

    n_real: Count
    n_fake: Count
    auc: Statistic
    fpr: Statistic


class Report(TypedDict):
    schema_version: Annotated[int, {"const": REPORT_SCHEMA_VERSION}]
    threshold: Annotated[float, {"minimum": 0, "maximum": 1}]
    n_bootstrap: Annotated[int, {"minimum": 1}]
    seed: int
    ci_level: Annotated[float, {"minimum": 0, "maximum": 1}]
    definitions: dict[str, str]
    splits: Annotated[dict[str, SplitReport], {"description": "split name -> its report"}]
    id_ood_gap: Statistic
    # split -> rates; absent in older reports
    false_positive_rates: NotRequired[Annotated[dict[str, SplitFalsePositives], {
        "description": "split -> false-positive rates of its reals"}]]
    # split -> pool -> AUC and FPR; only with a source column, absent in older reports
    per_real_pool: NotRequired[Annotated[dict[str, Annotated[dict[str, RealPoolReport], {
        "description": "pool of reals (_unknown: no source) -> all the split's fakes against its reals"}]], {
        "description": "split with both classes -> its fakes against each pool of reals"}]]


class CalibrationRates(TypedDict):
    """A threshold's rates on the calibration split (plain numbers: the rows it was chosen on)."""

    tpr: NullableRate
    fpr: NullableRate
    f1: NullableRate
    precision: NullableRate


class FrozenThreshold(TypedDict):
    """A threshold chosen on the calibration split (``threshold`` None, with ``reason``, when it cannot be)."""

    threshold: Annotated[float | None, {
        "description": "called fake when score >= threshold; may lie just above 1 (nothing called fake)"}]
    target_fpr: NullableRate  # the FPR budget of the rule; None for fixed and max_f1
    resolvable: bool | None  # the calibration split has at least 1 / target_fpr reals
    on_calibration: CalibrationRates | None
    reason: NotRequired[Annotated[str, {"minLength": 1, "description": "why threshold is null"}]]


class AppliedThreshold(TypedDict):
    """A frozen threshold applied to a test split."""

    threshold: float
    confusion: Confusion
    tpr: Statistic
    fpr: Statistic
    f1: Statistic
    precision: Statistic


class FrozenThresholds(TypedDict):
    """:func:`mom_bench.report.metrics.frozen_thresholds`: thresholds chosen on ``chosen_on`` and applied unchanged
    to each test split."""

    chosen_on: str | None
    n: Count
    n_fake: Count
    n_real: Count
    reason: NotRequired[Annotated[str, {"minLength": 1, "description": "why no threshold was chosen"}]]
    thresholds: Annotated[dict[str, FrozenThreshold], {"description": "fixed, max_f1, fpr_5pct, fpr_1pct"}]
    splits: Annotated[dict[str, dict[str, AppliedThreshold]], {
        "description": "test split -> threshold name -> its metrics"}]



# --------------------------------------------------------------------------------------------------
# matrix.json (`mom-bench matrix`): a detector trained on each training set, scored on each test set with the
# thresholds of its training set's validation split carried over (mom_bench.report.metrics.carried)

#: ``schema_version`` of matrix.json.
MATRIX_SCHEMA_VERSION = 1
_RULES = {"description": "carried threshold (fixed, max_f1, fpr_5pct, fpr_1pct) -> the rate at it"}


class MatrixFamilyCell(TypedDict):
    """One decoder family of a test set: its fakes against all the test set's reals."""

    n_fake: Count
    n_real: Count
    generators: list[Name]
    auc: Statistic
    tpr: Annotated[dict[str, Statistic], _RULES]


class MatrixPoolCell(TypedDict):
    """One pool of reals of a test set: all the test set's fakes against that pool's reals."""

    n_real: Count
    n_fake: Count
    auc: Statistic
    fpr: Annotated[dict[str, Statistic], _RULES]


class MatrixCellMetrics(TypedDict):
    """:func:`mom_bench.report.metrics.carried.cell_metrics`: one training set's detector on one test set."""

    n: Count
    n_fake: Count
    n_real: Count
    auc: Statistic
    eer: Statistic
    carried: Annotated[dict[str, AppliedThreshold], {
        "description": "carried threshold -> TPR, FPR, F1, precision of the test set at it"}]
    per_decoder_family: dict[str, MatrixFamilyCell]
    per_real_pool: dict[str, MatrixPoolCell]


class MatrixCell(MatrixCellMetrics):
    train: Annotated[Name, {"description": "the training set's name (training_sets[].name)"}]
    test: Annotated[Name, {"description": "the test set's name (test_sets[].name)"}]
    excluded_overlap: Annotated[int, {"minimum": 0, "description":
                                      "test rows left out because the training set trained or validated on them "
                                      "(same id, or same group of the same base build)"}]
    # only with matrix --exclude-overlap
    excluded_content_overlap: NotRequired[Annotated[int, {
        "minimum": 0, "description": "further test rows left out because the training set's train or validation "
                                     "split holds their audio (exact hashes or near-duplicate fingerprints)"}]]
    predictions: Annotated[Name, {"description": "the cell's predictions, relative to the matrix folder"}]
    predictions_sha256: Annotated[str, {"pattern": _SHA256}]
    seconds: Annotated[float, {"minimum": 0, "description": "scoring and metrics of this cell in the run that made it"}]


class MatrixSet(TypedDict):
    name: Name
    dataset: Annotated[str, {"description": "the build or view folder"}]
    benchmark: Name
    version: str | None
    fingerprint: Annotated[str, {"pattern": _SHA256}]
    label_fingerprint: Annotated[str, {"pattern": _SHA256}]
    base_fingerprint: Annotated[str, {"pattern": _SHA256, "description":
                                      "the build whose rows it holds: itself, or the base of a view"}]
    held_out: Annotated[list[Name], {"description": "a fold's held-out decoder families or generators; [] otherwise"}]


class MatrixTrainingSet(MatrixSet):
    model: Annotated[Name, {"description": "the registry configuration trained on it"}]
    run: Annotated[str, {"description": "the run folder"}]
    checkpoint_sha256: Annotated[str, {"pattern": _SHA256}]
    thresholds: Annotated[FrozenThresholds, {"description": "chosen on its validation split before any test set was "
                                                            "scored"}]
    validation_predictions: Name


class MatrixTestSet(MatrixSet):
    splits: Annotated[list[Name], {"minItems": 1}]
    pool: Annotated[str | None, {"description": "the pool of reals kept (all fakes kept); null: every real"}]


class MatrixTiming(TypedDict):
    """Wall seconds of the run that wrote the document (work reused from an earlier run counts zero)."""

    features_s: Annotated[float, {"minimum": 0}]
    training_s: Annotated[float, {"minimum": 0}]
    scoring_s: Annotated[float, {"minimum": 0}]
    total_s: Annotated[float, {"minimum": 0}]
    songs_extracted: Annotated[int, {"minimum": 0, "description": "songs whose encoder features were computed"}]
    distinct_songs: Annotated[int, {"minimum": 0, "description": "distinct songs the matrix reads"}]
    reused: Annotated[dict[str, int], {"description": "runs, thresholds, cells taken from an earlier run"}]


class Matrix(TypedDict):
    """``matrix.json``."""

    schema_version: Annotated[int, {"const": MATRIX_SCHEMA_VERSION}]
    created: Annotated[str, {"pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$"}]
    mom_bench_version: Name
    git_commit: str | None
    libraries: dict[str, str | None]
    model: Annotated[dict[str, Any], {"description": "requested name, precision, batch size"}]
    threshold: Annotated[float, {"minimum": 0, "maximum": 1, "description": "the fixed threshold"}]
    n_bootstrap: Annotated[int, {"minimum": 1}]
    seed: int
    definitions: dict[str, str]
    training_sets: Annotated[list[MatrixTrainingSet], {"minItems": 1}]
    test_sets: Annotated[list[MatrixTestSet], {"minItems": 1}]
    cells: list[MatrixCell]
    timing: MatrixTiming

# --------------------------------------------------------------------------------------------------
# results.json (`mom-bench evaluate`)


class BenchmarkInfo(TypedDict):
    name: Name
    version: str | None
    fingerprint: Annotated[str, {"pattern": _SHA256, "description": "64 lowercase hex digits"}]
    # results written before builds were verified lack both halves
    label_fingerprint: NotRequired[Annotated[str, {
        "pattern": _SHA256, "description": "ids, splits, labels and generators only (same on every machine)"}]]
    audio_fingerprint: NotRequired[Annotated[str, {"pattern": _SHA256, "description": "the stored audio's hashes"}]]
    dataset: Annotated[str, {"description": "the built dataset's folder"}]
    splits: Annotated[list[Name], {"minItems": 1}]
    # absent in older results
    calibration_split: NotRequired[Annotated[str | None, {
        "minLength": 1, "description": "the split scored to choose the frozen thresholds; null: none"}]]
    # only when asked for (evaluate --exclude-overlap-with)
    excluded_overlap: NotRequired[Annotated[dict[str, Any], {
        "description": "test rows left out because another build's train or validation split holds their audio: "
                       "builds, rows, by_split, exact, near, near_checked, rule"}]]


class TrainingSummary(TypedDict):
    """The essentials of the run's ``train_config.json`` (values are None when that file lacks them)."""

    model: str | None
    requested_model: str | None
    benchmark: str | None
    dataset_fingerprint: str | None
    recipe: dict[str, Any] | None
    recipe_family: str | None
    epochs_done: NullableCount
    best_epoch: NullableCount
    best_val_f1: float | None
    # runs trained before mom-bench recorded it lack the key (they trained at fp32 or the recipe's amp)
    precision: NotRequired[Annotated[str | None, {
        "description": "precision of the training: of the cached features (frozen encoders) or of the autocast "
                       "steps (end-to-end)"}]]


class ModelInfo(TypedDict):
    requested: Name
    name: Name
    config: Annotated[dict[str, Any], {"required": ["model"], "properties": {"model": str},
                                       "description": "the detector's configuration (free-form beyond 'model')"}]
    checkpoint: str | None
    checkpoint_sha256: Annotated[str | None, {"pattern": _SHA256}]
    training: Annotated[TrainingSummary | None, {
        "description": "the run's train_config.json, when the checkpoint sits in a run folder"}]
    encoders: Annotated[dict[str, str], {"description": "encoder slot -> identity of its weights"}]
    device: Name
    # fp32 unless a reduced precision was asked for
    precision: NotRequired[Annotated[str, {
        "enum": ["fp32", "bf16", "fp16"],
        "description": "numeric precision of the encoders and the model (autocast below fp32)"}]]
    # how the songs were fed: scores must not depend on the batch (the contract), so this is for reproducing
    batch_size: NotRequired[Annotated[int, {"minimum": 1, "description": "songs per forward pass"}]]
    clip: NotRequired[Annotated[str | None, {
        "description": "the detector's clip policy (e.g. first:90), when it declares one"}]]
    # processes that scored the splits (1 without a launcher)
    world_size: NotRequired[Annotated[int, {"minimum": 1, "description": "processes that scored the splits"}]]


class SplitCoverage(TypedDict):
    """How many of a split's listed rows were scored; the counts come from the build's row list (None, with
    ``reason``, when the build report has none)."""

    scored: Count
    listed: NullableCount  # written + missing + unusable rows of the split
    written: NullableCount
    missing: NullableCount
    unusable: NullableCount
    excluded: NullableCount  # left out on purpose by the protocol: not in the denominator
    coverage: NullableRate  # scored / listed
    reason: NotRequired[Name]


class Coverage(TypedDict):
    definition: Name
    unassigned: NullableCount  # rows refused before a split was given to them (not excluded ones)
    splits: Annotated[dict[str, SplitCoverage], {"description": "split -> rows scored against rows listed"}]


class LocalisationReport(TypedDict):
    """Where in the songs the AI is (:func:`mom_bench.report.metrics.localisation_report.localisation_report`):
    the registered localisation metrics over the scored songs, each with its bootstrap interval over songs."""

    n_songs: Count
    n_songs_with_ai: Count
    n_songs_mixed: Count
    n_songs_without_windows: Count
    n_windows: Count
    seconds: Annotated[float, {"minimum": 0, "description": "the scored songs' total duration"}]
    frame_s: Annotated[float, {"minimum": 0, "description": "frame length of the grid (seconds)"}]
    tolerance_s: Annotated[float, {"minimum": 0, "description": "boundary tolerance of segment detection"}]
    threshold: Annotated[float, {"minimum": 0, "maximum": 1}]
    n_bootstrap: Annotated[int, {"minimum": 1}]
    seed: Annotated[int, {"minimum": 0}]
    coverage: Statistic
    metrics: Annotated[dict[str, Statistic], MetricBlock("localisation")]
    definitions: dict[str, str]


class TimelineScoring(TypedDict):
    """How ``evaluate --timeline`` scored the songs: window by window (:func:`mom_bench.timeline_for_build`),
    each song's score the highest P(fake) of its windows."""

    label: Annotated[str, {"minLength": 1,
                           "description": "the localiser's row label (mom_bench.loop.timeline.localiser_label)"}]
    window_s: Annotated[float, {"minimum": 0, "description": "window length (seconds)"}]
    hop_s: Annotated[float, {"minimum": 0, "description": "hop between window starts (seconds)"}]
    changepoint: Annotated[bool, {"description": "windows made piecewise constant by the change-point baseline"}]
    n_windows: Count
    song_score: Annotated[str, {"minLength": 1,
                                "description": "how a song's score (predictions.csv) comes from its windows"}]
    file: Annotated[str, {"minLength": 1, "description": "the timeline predictions file in the results folder"}]


class Results(TypedDict):
    """``frozen_thresholds`` and ``coverage`` are absent from results written before they existed."""

    schema_version: Annotated[int, {"const": RESULTS_SCHEMA_VERSION}]
    created: Annotated[str, {"pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$",
                             "description": "an ISO 8601 time with its UTC offset, e.g. 2026-01-31T12:00:00+00:00"}]
    mom_bench_version: Name
    git_commit: Annotated[str | None, {"pattern": r"^[0-9a-f]{7,64}(?:\+dirty)?$",
                                       "description": "a commit id, +dirty when the checkout had changes"}]
    libraries: Annotated[dict[str, str | None], {"description": "distribution -> installed version (null: absent)"}]
    benchmark: BenchmarkInfo
    model: ModelInfo
    metrics: Annotated[Report, {"description": "mom_bench.report.metrics.compute_report"}]
    frozen_thresholds: NotRequired[Annotated[FrozenThresholds, {
        "description": "mom_bench.report.metrics.frozen_thresholds"}]]
    coverage: NotRequired[Annotated[Coverage, {
        "description": "rows scored / rows of the split in the build's row list"}]]
    timeline: NotRequired[Annotated[TimelineScoring, {
        "description": "present when the songs were scored over time (evaluate --timeline)"}]]
    localisation: NotRequired[Annotated[LocalisationReport, {
        "description": "mom_bench.evaluate_localisation: scores over time against the songs' segments"}]]


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
    # the protocol's decoder family (UNSPECIFIED_DECODER_FAMILY when it names none) and release; builds
    # before they existed lack them
    decoder_family: NotRequired[str]
    release: NotRequired[str]


class BuildCounts(TypedDict):
    rows: int
    written: int
    missing: int
    unusable: int
    excluded: int
    by_split: dict[str, dict[str, int]]  # split -> generator -> rows written
    by_split_label: dict[str, dict[str, int]]  # split -> "real"/"fake" -> rows written
    # split -> source (pool) of the reals -> rows written, and split -> groups (e.g. tracks) of the reals;
    # builds before they existed lack them
    reals_by_source: NotRequired[dict[str, dict[str, int]]]
    real_groups_by_split: NotRequired[dict[str, int]]
    reasons: dict[str, int]  # "status: reason" -> rows, most common first


# "from" is a Python keyword, hence the functional form.
MovedRow = TypedDict("MovedRow", {"id": str, "from": str, "to": str})


class MergedGroup(TypedDict):
    """Groups joined because they hold identical decoded audio (mom_bench.dataset.splitting.merge_duplicates)."""

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


class MetadataShortcuts(TypedDict, total=False):
    """mom_bench.dataset.shortcut.metadata_shortcuts: input files and ids that tell a generator from the reals."""

    separates_at: float
    min_rows: int
    constant_share: float
    columns: list[str]
    constant_size: list[dict[str, Any]]
    separating: list[dict[str, Any]]
    findings: list[str]
    skipped: str
    error: str


class BuildOverlap(TypedDict):
    """mom_bench.dataset.lineage.Overlap.to_json: rows of this build that another local build holds too."""

    build: str
    folder: NotRequired[str]
    exact: int
    near: int
    near_checked: bool
    exact_ids: dict[str, str]  # this build's id -> the other build's id
    near_ids: dict[str, dict[str, Any]]  # this build's id -> {"id": the other's id, "ber": bit error rate}
    error: NotRequired[str]  # the other build could not be read


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
    # the protocol's own audio_fingerprint, for a build made with the protocol's own options (else null)
    expected_audio_fingerprint: NotRequired[str | None]
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
    # builds before these checks existed lack them
    metadata_shortcuts: NotRequired[MetadataShortcuts]
    overlap: NotRequired[list[BuildOverlap]]
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


class SummaryWorstPool(TypedDict):
    """The pool of reals with the lowest AUC (all fakes of its split against that pool) over the test splits."""

    pool: str
    split: str
    value: float | None
    ci: NotRequired[list[float] | None]
    n_real: int
    n_fake: int


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
    worst_real_pool: SummaryWorstPool


class RobustnessClaim(TypedDict):
    """The summary of the submitter's ``evaluate --robustness`` run: range-checked and equal to the summary
    recomputed from the run's robustness.json (stored beside the entry as ``stored``), never re-scored."""

    reported_by: Literal["submitter"]
    file_sha256: str
    stored: NotRequired[str]  # <slug>.robustness.json; entries before it was kept lack it (and fail validate)
    suite: str
    transforms: int
    codec_worst_tpr: float | None
    codec_worst_fpr: float | None
    codec_mean_abs_dp: float | None
    codec_max_abs_dp: float | None
    codec_invariant: bool | None
    most_harmful: str | None
    most_harmful_delta_tpr: float | None


class MatrixClaimCell(TypedDict):
    """One cell of an entry's matrix summary, recomputed from its stored predictions."""

    train: str
    test: str
    home: bool  # the test set is drawn from the training set's own build
    labels_checked: bool
    n_fake: int
    n_real: int
    auc: SummaryStatistic
    fpr_carried_5pct: SummaryStatistic | None  # None: the 5 % threshold was not resolvable at home
    tpr_carried_5pct: SummaryStatistic | None


class MatrixClaimExtreme(TypedDict):
    value: float | None
    ci: NotRequired[list[float] | None]
    train: str
    test: str


class MatrixClaimSets(TypedDict):
    training_sets: list[str]
    test_sets: list[str]


class MatrixClaim(TypedDict):
    """The cross-corpus matrix an entry carries (schema ``mom_bench.leaderboard.schema.MATRIX``): the summary of
    the document stored beside it (``stored``), recomputed from its predictions at submit and at validate."""

    stored: str  # <slug>.matrix.json
    stored_sha256: str
    file_sha256: str  # the matrix.json submitted
    model: str
    threshold: float
    n_bootstrap: int
    seed: int
    n_rows: int
    labels_checked: bool
    unchecked_sets: MatrixClaimSets
    training_sets: list[str]
    test_sets: list[str]
    cells: list[MatrixClaimCell]
    worst_fpr_carried_5pct: MatrixClaimExtreme | None
    lowest_auc_off_home: MatrixClaimExtreme | None


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


class RunSettings(TypedDict):
    """How ``mom-bench evaluate`` computed the submitted scores (from its results.json); None: not recorded."""

    precision: Literal["fp32", "bf16", "fp16"] | None
    batch_size: int | None
    clip: str | None


class EntryLocalisation(TypedDict):
    """A timeline entry's ``localisation`` block: the localisation report without its definitions, and the
    submitted timeline's hash, format and the checked copy stored beside the entry."""

    file_sha256: str
    format: Literal["csv", "parquet"]
    stored: NotRequired[str | None]
    stored_sha256: NotRequired[str | None]
    n_songs: Count
    n_songs_with_ai: Count
    n_songs_mixed: Count
    n_songs_without_windows: Count
    n_windows: Count
    seconds: float
    frame_s: float
    tolerance_s: float
    threshold: float
    n_bootstrap: int
    seed: int
    coverage: Statistic
    metrics: dict[str, Statistic]


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
    matrix: NotRequired[MatrixClaim]  # a cross-corpus matrix submitted with the entry; most entries have none
    run: NotRequired[RunSettings]  # from an evaluate results folder; plain predictions files and older entries lack it
    localisation: NotRequired[EntryLocalisation]  # a timeline submission's localisation metrics
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
