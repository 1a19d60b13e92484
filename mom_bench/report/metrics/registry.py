"""The metric registry: every metric mom-bench reports is declared here once, and every place that shows one
(the report of :func:`mom_bench.report.metrics.compute_report`, the results JSON Schema, the tables of results.md
and of ``mom-bench evaluate``, the leaderboard's entry schema, summary, Markdown, CSV and HTML) reads it.

A :class:`Metric` is computed either from the confusion counts at the report's threshold (``counts``; its
interval draws the counts) or from the labels and scores (``scores``; its interval resamples rows). Where it
appears is part of the declaration: ``split_table`` (a column of the overall table; every metric is in the
report's ``overall`` block), ``generator_column`` (a column of the per-generator block and table),
``stratum_column`` (the per-stratum blocks) and ``board`` (a column of the leaderboard).

Localisation metrics (where in a song the AI is) are a third kind, :class:`LocalisationMetric`: a function of
the songs' truth and timelines, prepared once (:class:`mom_bench.report.metrics.localisation.Prepared`), and of
song weights (its interval resamples songs). They have their own list (:data:`LOCALISATION`,
:func:`register_localisation`), read by results.json's ``localisation`` block, results.md and the leaderboard's
localisation section.

Adding a metric is one :func:`register` call (or one entry of :data:`BUILTIN`, for a metric shipped with
mom-bench); the schema file is then regenerated with ``python -m mom_bench.report.metrics.schema``.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from mom_bench.core.splits import TEST_ID, TEST_OOD
from mom_bench.report.metrics import localisation as L
from mom_bench.report.metrics import scores as S
from mom_bench.report.metrics.definitions import LEADING_DEFINITIONS, TRAILING_DEFINITIONS, MetricsError

#: (tp, fp, tn, fn) as float arrays (one value, or one per bootstrap draw) -> the metric, NaN where undefined
CountsFunction = Callable[[S.FloatArray, S.FloatArray, S.FloatArray, S.FloatArray], S.FloatArray]
ScoresFunction = Callable[[np.ndarray, np.ndarray], "float | None"]


@dataclass(frozen=True)
class Column:
    """Where a metric shows as a column: its key in the block (e.g. ``tpr`` for recall per generator), its
    header, and its place among the block's columns (lower first; ties keep the registry's order)."""

    key: str
    header: str
    position: int = 0


@dataclass(frozen=True)
class BoardColumn:
    """A leaderboard column: the summary key, the Markdown/HTML header, the HTML header's tooltip, the entry
    schema's description, and whether the Markdown/HTML tables show it (every column is in the CSV).
    ``source`` names what the summary takes: ``("overall", metric)`` of the test splits pooled, or
    ``("split", split name, metric)`` of one split. ``brief``: shown in the terminal after a submission."""

    key: str
    header: str
    description: str
    source: tuple[str, ...]
    title: str = ""
    table: bool = True
    brief: bool = False


@dataclass(frozen=True)
class Metric:
    """One metric, declared once. ``higher_is_better`` says its direction, ``digits`` how many decimals its
    tables show, ``undefined`` why its value is null (for a counts metric; a scores metric needs both classes
    and says which is missing), ``definition`` the report's definition of it."""

    key: str
    definition: str
    counts: CountsFunction | None = None
    scores: ScoresFunction | None = None
    higher_is_better: bool = True
    digits: int = 3
    undefined: str = "no rows"
    split_table: str | None = None
    generator_column: Column | None = None
    stratum_column: Column | None = None
    board: BoardColumn | None = None

    def __post_init__(self) -> None:
        if (self.counts is None) == (self.scores is None):
            raise MetricsError(f"metric {self.key!r} needs exactly one of counts= and scores=")

    @property
    def ci(self) -> str:
        """How its interval is computed: ``binomial`` (the confusion counts) or ``rows`` (resampled rows)."""
        return "binomial" if self.counts is not None else "rows"


def _pooled(description: str) -> str:
    return f"{description} over every test item"


BUILTIN: tuple[Metric, ...] = (
    Metric("f1", "binary F1 with fake as the positive class: 2TP / (2TP + FP + FN)", counts=S.f1_from_counts,
           undefined="no fakes and nothing called fake", split_table="F1",
           generator_column=Column("f1", "F1 vs all reals [95% CI]", 1), stratum_column=Column("f1", "F1")),
    Metric("precision", "TP / (TP + FP)", counts=S.precision_from_counts, undefined="nothing called fake",
           split_table="precision",
           board=BoardColumn("precision", "Precision", _pooled("precision"), ("overall", "precision"), table=False)),
    Metric("recall", "TP / (TP + FN), i.e. TPR on fakes (sensitivity)", counts=S.recall_from_counts,
           undefined="no fakes", split_table="recall (TPR)", generator_column=Column("tpr", "TPR [95% CI]", 0),
           stratum_column=Column("recall", "TPR"),
           board=BoardColumn("recall", "Recall", _pooled("recall (sensitivity, TPR on fakes)"), ("overall", "recall"),
                             title="recall = sensitivity = TPR on fakes")),
    Metric("specificity", "TN / (TN + FP), i.e. TNR on reals", counts=S.specificity_from_counts,
           undefined="no reals", split_table="specificity (TNR)", stratum_column=Column("specificity", "TNR"),
           board=BoardColumn("specificity", "Specificity", _pooled("TNR on reals"), ("overall", "specificity"),
                             title="TNR on reals")),
    Metric("accuracy", "(TP + TN) / n", counts=S.accuracy_from_counts, split_table="accuracy",
           stratum_column=Column("accuracy", ""),
           board=BoardColumn("accuracy", "Accuracy", _pooled("accuracy"), ("overall", "accuracy"), table=False)),
    Metric("balanced_accuracy", "(recall + specificity) / 2", counts=S.balanced_accuracy_from_counts,
           undefined="needs both reals and fakes"),
    Metric("auc", "area under the ROC curve of the scores (ties count one half); threshold-free", scores=S.roc_auc,
           split_table="AUC", board=BoardColumn("auc", "AUC", _pooled("ROC AUC"), ("overall", "auc"), brief=True)),
    Metric("eer", "equal error rate: the rate where false-positive rate equals false-negative rate, linearly "
                  "interpolated between the two ROC points that straddle it; threshold-free",
           scores=S.eer, higher_is_better=False, split_table="EER",
           board=BoardColumn("eer", "EER", _pooled("equal error rate"), ("overall", "eer"),
                             title="equal error rate", brief=True)),
)

#: Rates at a threshold that the operating-point blocks (frozen thresholds, false-positive rates) use but the
#: report's ``overall`` block does not show: computed by :func:`threshold_metrics` like the others.
AUXILIARY: tuple[Metric, ...] = (
    Metric("fpr", "FP / (FP + TN), i.e. 1 - specificity", counts=S.fpr_from_counts, higher_is_better=False,
           undefined="no reals"),
)

#: The metric the leaderboard ranks by and shows first, with its interval.
PRIMARY = "f1"

#: Leaderboard columns that are not a pooled metric: F1 on each test split alone.
SPLIT_BOARD_COLUMNS: tuple[BoardColumn, ...] = (
    BoardColumn("f1_id", "F1 ID", "F1 on test_id (in-distribution generators)", ("split", TEST_ID, "f1"),
                title="F1 on test_id (generators seen in training)", brief=True),
    BoardColumn("f1_ood", "F1 OOD", "F1 on test_ood (held-out generators)", ("split", TEST_OOD, "f1"),
                title="F1 on test_ood (held-out generators)", brief=True),
)

_registered: list[Metric] = list(BUILTIN)


def register(metric: Metric) -> Metric:
    """Add ``metric`` after the others (it then appears wherever its declaration says); refuses a key in use."""
    if any(m.key == metric.key for m in (*_registered, *AUXILIARY)) or metric.key in LEADING_DEFINITIONS:
        raise MetricsError(f"a metric named {metric.key!r} is already registered")
    _registered.append(metric)
    return metric


def unregister(key: str) -> None:
    """Remove the metric ``key`` (a plug-in's, or a test's); the built-in ones stay."""
    if key in {m.key for m in BUILTIN}:
        raise MetricsError(f"{key!r} is a built-in metric; it cannot be unregistered")
    _registered[:] = [m for m in _registered if m.key != key]


@contextmanager
def registered(metric: Metric) -> Iterator[Metric]:
    """``metric`` registered for the duration of a ``with`` block."""
    register(metric)
    try:
        yield metric
    finally:
        unregister(metric.key)


def all_metrics() -> tuple[Metric, ...]:
    """The metrics of the report's ``overall`` block, in order."""
    return tuple(_registered)


def get(key: str) -> Metric:
    for m in (*_registered, *AUXILIARY):
        if m.key == key:
            return m
    raise MetricsError(f"no metric named {key!r}")


def counts_metrics() -> tuple[Metric, ...]:
    """Every metric of the confusion counts, the auxiliary rates included."""
    return tuple(m for m in (*_registered, *AUXILIARY) if m.counts is not None)


def scores_metrics() -> tuple[Metric, ...]:
    return tuple(m for m in _registered if m.scores is not None)


def _columns(attr: str) -> list[tuple[Metric, Column]]:
    found = [(m, getattr(m, attr)) for m in _registered if getattr(m, attr) is not None]
    return sorted(found, key=lambda mc: mc[1].position)  # sorted() is stable: ties keep the registry's order


def generator_columns() -> list[tuple[Metric, Column]]:
    """(metric, column) of the per-generator block, in its order."""
    return _columns("generator_column")


def stratum_columns() -> list[tuple[Metric, Column]]:
    """(metric, column) of each stratum bucket; a column with an empty header is in the JSON only."""
    return _columns("stratum_column")


def split_table() -> list[tuple[Metric, str]]:
    """(metric, header) of the overall table of results.md and the terminal."""
    return [(m, m.split_table) for m in _registered if m.split_table]


def board_columns() -> list[BoardColumn]:
    """The leaderboard's columns after the primary metric and its interval, in order; the tooltip of a
    metric where lower is better says so."""
    columns = list(SPLIT_BOARD_COLUMNS)
    for m in _registered:
        if m.board is not None:
            lower = m.board.title and not m.higher_is_better
            columns.append(replace(m.board, title=m.board.title + " (lower is better)") if lower else m.board)
    return columns


def threshold_metrics(tp: S.Count, fp: S.Count, tn: S.Count, fn: S.Count) -> dict[str, S.FloatArray]:
    """Every counts metric from confusion counts (scalars or arrays of bootstrap draws); NaN where undefined."""
    counts = [np.asarray(v, dtype=float) for v in (tp, fp, tn, fn)]
    return {m.key: m.counts(*counts) for m in counts_metrics() if m.counts is not None}


def definitions() -> dict[str, str]:
    """The report's ``definitions``: what scores are, then each metric in the registry's order, then the
    blocks built on them."""
    return {**LEADING_DEFINITIONS, **{m.key: m.definition for m in _registered}, **TRAILING_DEFINITIONS}


# --------------------------------------------------------------------------------------------------
# Localisation metrics


#: (prepared songs, song weights of shape (draws, songs)) -> one value per draw, NaN where undefined
LocalisationFunction = Callable[[Any, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class LocalisationMetric:
    """One localisation metric, declared once: ``function`` of :class:`~mom_bench.report.metrics.localisation.
    Prepared` and song weights, ``header`` its column in results.md and on the leaderboard (``title`` the HTML
    tooltip), ``board`` whether the leaderboard's localisation section shows it."""

    key: str
    definition: str
    function: LocalisationFunction
    header: str
    title: str = ""
    higher_is_better: bool = True
    digits: int = 3
    undefined: str = "undefined on these songs"
    board: bool = True


LOCALISATION: tuple[LocalisationMetric, ...] = (
    LocalisationMetric(
        "frame_auc", "ROC AUC over time: every song cut into frames of frame_s seconds (the last one shorter), a "
        "frame's truth the label of the segment holding its centre, its score the mean P(fake) of the windows "
        "[start, end) holding its centre; frames of all songs pooled, each weighted by its duration (ties count "
        "one half); frames no window holds are left out (see coverage)",
        L.frame_auc, "Frame AUC", title="time-weighted ROC AUC of AI vs human frames",
        undefined="needs covered frames of both AI and human music"),
    LocalisationMetric(
        "frame_eer", "equal error rate over time, on the same weighted frames as frame_auc (interpolated between "
        "the two ROC points that straddle it, as the song-level EER)",
        L.frame_eer, "Frame EER", title="time-weighted equal error rate", higher_is_better=False,
        undefined="needs covered frames of both AI and human music"),
    LocalisationMetric(
        "segment_precision", "predicted AI segments (maximal runs of covered frames with score >= threshold) that "
        "match a true AI segment (a maximal run of AI-labelled segments) / predicted AI segments, over all songs; "
        "a pair matches when both its start and its end are within tolerance_s seconds, one to one (a maximum "
        "bipartite matching). Event-based detection with an onset and offset collar as in Mesaros, Heittola and "
        "Virtanen, 'Metrics for Polyphonic Sound Event Detection', Applied Sciences 6(6):162, 2016, with a fixed "
        "offset collar",
        L.segment_precision, "Seg. P", title="segment precision at the boundary tolerance",
        undefined="no AI segment predicted"),
    LocalisationMetric(
        "segment_recall", "true AI segments matched (see segment_precision) / true AI segments, over all songs",
        L.segment_recall, "Seg. R", title="segment recall at the boundary tolerance",
        undefined="no AI segment in these songs"),
    LocalisationMetric(
        "segment_f1", "2 matched / (predicted + true AI segments), over all songs (the harmonic mean of "
        "segment_precision and segment_recall)",
        L.segment_f1, "Seg. F1", title="segment F1 at the boundary tolerance",
        undefined="no AI segment predicted or true"),
    LocalisationMetric(
        "ai_fraction_mae", "mean over songs of |predicted AI share - true AI share|: the predicted share is the "
        "time of frames called AI (covered, score >= threshold) over the song's duration, the true share the time "
        "of frames whose centre lies in an AI segment (the same grid, so a perfect timeline scores 0)",
        L.ai_fraction_mae, "AI share MAE", title="mean absolute error of the AI share of each song",
        higher_is_better=False),
    LocalisationMetric(
        "song_auc", "song-level 'contains AI' ROC AUC: a song's score is its highest window P(fake), its label 1 "
        "when any of its segments is AI; songs without a window are left out",
        L.song_auc, "Song AUC", title="does the song contain AI: ROC AUC of the highest window P(fake)",
        undefined="needs songs with and without AI"),
    LocalisationMetric(
        "song_f1", "song-level 'contains AI' F1: a song is called AI when its highest window P(fake) >= threshold",
        L.song_f1, "Song F1", title="does the song contain AI: F1 at the threshold",
        undefined="no song with AI and none called AI"),
)

_localisation: list[LocalisationMetric] = list(LOCALISATION)


def localisation_metrics() -> tuple[LocalisationMetric, ...]:
    """The localisation metrics, in order."""
    return tuple(_localisation)


def register_localisation(metric: LocalisationMetric) -> LocalisationMetric:
    """Add a localisation metric after the others; refuses a key in use."""
    if any(m.key == metric.key for m in _localisation) or metric.key == "coverage":
        raise MetricsError(f"a localisation metric named {metric.key!r} is already registered")
    _localisation.append(metric)
    return metric


def unregister_localisation(key: str) -> None:
    """Remove the localisation metric ``key``; the built-in ones stay."""
    if key in {m.key for m in LOCALISATION}:
        raise MetricsError(f"{key!r} is a built-in localisation metric; it cannot be unregistered")
    _localisation[:] = [m for m in _localisation if m.key != key]
