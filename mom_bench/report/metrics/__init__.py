"""Every metric mom-bench reports: used by `mom-bench evaluate` and by leaderboard scoring.

Conventions (the same as MoM and SONICS): a score is P(fake); label 1 is fake and is the positive class;
an item is called fake when ``score >= threshold`` (0.5 by default).

The entry point is :func:`compute_report`, which turns a table of predictions (columns ``id``, ``split``,
``generator``, ``label``, ``score`` and optionally ``duration_s``, ``vocals``, ``language``) into a
JSON-able report with 95 % bootstrap confidence intervals. Lower-level functions (:func:`confusion`,
:func:`roc_auc`, :func:`eer`, :func:`roc_points`, :func:`det_points`, :func:`tpr_at_fpr`,
:func:`expected_calibration_error`, :func:`brier_score`) are plain numpy and are checked against
scikit-learn in the tests.

Operating points: besides the fixed threshold, the report reads TPR at fixed false-positive budgets off the
ROC curve and the false-positive rate of each real source and stratum, because platforms decide at a budget
of wrongly flagged real songs, and a test set whose reals come from one source hides how that budget holds
on others. :func:`frozen_thresholds` chooses thresholds on a calibration split (validation) and applies
them, unchanged, to the test splits.

Confidence intervals come from a bootstrap stratified by (label, generator): every resample keeps the
number of reals and of each generator's fakes, so a small generator (Suno v4 has 48 songs in MoM) cannot
vanish from a resample. For metrics that depend only on the confusion counts, resampling ``n`` items of a
stratum with replacement and counting those called fake is exactly a Binomial(n, p) draw with ``p`` the
stratum's observed rate; the counts are drawn that way, which gives the same distribution as resampling
rows at a fraction of the cost. AUC and EER need the scores, so their resamples draw rows.

The package: :mod:`~mom_bench.report.metrics.registry` declares each metric once (function, direction, format,
interval, where it appears); :mod:`~mom_bench.report.metrics.scores` holds the point metrics,
:mod:`~mom_bench.report.metrics.bootstrap` the intervals, :mod:`~mom_bench.report.metrics.report` the report and the
frozen thresholds, :mod:`~mom_bench.report.metrics.schema` the JSON Schema of results.json built from the types of
:mod:`mom_bench.report.documents` and the registry.
"""
from __future__ import annotations

from mom_bench.report.metrics.bootstrap import _weighted_ece  # noqa: F401  (checked against plain resampling by the tests)
from mom_bench.report.metrics.definitions import (
    CALIBRATION_SPLIT,
    CI_LEVEL,
    DURATION_BUCKETS,
    ECE_BINS,
    FPR_TARGETS,
    FROZEN_RULES,
    SCHEMA_VERSION,
    SPLIT_ORDER,
    MetricsError,
)
from mom_bench.report.metrics.registry import Metric, definitions, threshold_metrics
from mom_bench.report.metrics.report import (
    check_options,
    compute_report,
    frozen_thresholds,
    per_generator_rows,
    worst_real_pool,
)
from mom_bench.report.metrics.scores import (
    brier_score,
    confusion,
    det_points,
    eer,
    expected_calibration_error,
    min_reals,
    reliability_bins,
    roc_auc,
    roc_points,
    tpr_at_fpr,
)

#: The report's definitions with the built-in metrics (``compute_report`` reads the registry at call time).
DEFINITIONS = definitions()

__all__ = ["CALIBRATION_SPLIT", "CI_LEVEL", "DEFINITIONS", "DURATION_BUCKETS", "ECE_BINS", "FPR_TARGETS",
           "FROZEN_RULES", "SCHEMA_VERSION", "SPLIT_ORDER", "Metric", "MetricsError", "brier_score", "check_options",
           "compute_report", "confusion", "det_points", "eer", "expected_calibration_error", "frozen_thresholds",
           "min_reals", "per_generator_rows", "reliability_bins", "roc_auc", "roc_points", "threshold_metrics",
           "tpr_at_fpr", "worst_real_pool"]
