"""Metrics of one cell of a generalisation matrix: a detector trained on one set, scored on another, with the
thresholds chosen on its training set's validation split carried over unchanged (the protocol of the 2026
cross-corpus studies, e.g. "Assessing Generalization in AI-Generated Music Detection", whose tables carry the
home 5 % FPR threshold to every other corpus).

:func:`home_thresholds` chooses the thresholds from validation rows alone; :func:`cell_metrics` applies them to
a test set it never lets back into the choice. Every number is computed by the functions ``evaluate`` uses
(:func:`compute_report` for AUC / EER and the per-family and per-pool AUCs, the frozen-threshold rates for the
carried operating points), so a cell agrees with an ``evaluate`` of the same predictions.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import numpy as np
import pandas as pd

from mom_bench.report import documents
from mom_bench.report.metrics.bootstrap import _sub_rng
from mom_bench.report.metrics.definitions import MetricsError
from mom_bench.report.metrics.report import _applied, _source_name, compute_report, frozen_thresholds

#: The carried thresholds, in the order tables show them: the fixed one, then the rules chosen on validation.
CARRIED_RULES = ("fixed", "max_f1", "fpr_5pct", "fpr_1pct")
#: Columns of the predictions files `mom-bench matrix` writes (each cell's, each training set's validation
#: rows): what a cell is recomputed from, by the matrix itself and by the leaderboard.
PREDICTION_COLUMNS = ("id", "from_split", "generator", "decoder_family", "label", "score", "source")
#: The name the rows of a test set take inside the cell's report (its own splits are kept in ``from_split``).
CELL_SPLIT = "test"

#: What the numbers of matrix.json mean (its ``definitions``).
DEFINITIONS = {
    "cell": "the detector trained on the training set, scored on the test set (its chosen splits together); test "
            "rows the training set trained or validated on are left out (excluded_overlap)",
    "carried": "the fixed threshold and those chosen on the training set's validation split (max_f1: the highest "
               "threshold of maximal F1; fpr_5pct / fpr_1pct: the lowest threshold whose validation FPR is within "
               "5 % / 1 %), applied unchanged to the test set; tpr, fpr, f1, precision at each, with binomial "
               "bootstrap intervals",
    "auc": "area under the ROC curve of the test set's scores (ties count one half), stratified bootstrap interval",
    "eer": "equal error rate of the test set's scores",
    "per_decoder_family": "the fakes of every generator of one decoder family, pooled, against all the test set's "
                          "reals: AUC, and TPR at each carried threshold",
    "per_real_pool": "all the test set's fakes against the reals of one pool (their source): AUC, and FPR at each "
                     "carried threshold",
}


def home_thresholds(calibration: pd.DataFrame, threshold: float = 0.5, seed: int = 0) -> documents.FrozenThresholds:
    """The thresholds of ``calibration`` (one split's predictions: id, split, generator, label, score): the fixed
    one and those chosen by each rule of ``FROZEN_RULES``. Nothing else is read, so no test set can move them."""
    if calibration is None or not len(calibration):
        raise MetricsError("no calibration rows: thresholds are chosen on the training set's validation split")
    # scored on the calibration rows themselves: frozen_thresholds leaves a split of that name out, so the
    # document holds the choice and no applied split
    return frozen_thresholds(calibration, calibration, threshold=threshold, n_bootstrap=1, seed=seed)


def _carried(home: documents.FrozenThresholds) -> dict[str, float]:
    return {rule: float(entry["threshold"]) for rule, entry in home["thresholds"].items()
            if entry["threshold"] is not None}


def _points(rows: pd.DataFrame, thresholds: Mapping[str, float], seed: int, n_bootstrap: int,
            *key: str) -> dict[str, documents.AppliedThreshold]:
    return {rule: _applied(rows, value, _sub_rng(seed, CELL_SPLIT, "carried", *key, rule), n_bootstrap)
            for rule, value in thresholds.items()}


def cell_metrics(home: documents.FrozenThresholds, rows: pd.DataFrame, *,
                 decoder_families: Mapping[str, str] | None = None, n_bootstrap: int = 1000,
                 seed: int = 0) -> documents.MatrixCellMetrics:
    """AUC and EER of ``rows`` (a test set's predictions, any of its splits, ids unique), and TPR / FPR / F1 /
    precision at each threshold of ``home`` carried unchanged; per decoder family (its fakes against all the
    reals) the AUC and the TPR at each carried threshold; per pool of reals (``source``; all the fakes against
    that pool's reals) the AUC and the FPR at each carried threshold."""
    if rows["id"].duplicated().any():
        dup = rows["id"][rows["id"].duplicated()].iloc[0]
        raise MetricsError(f"id {dup!r} occurs more than once in the test set")
    frame = rows.assign(split=CELL_SPLIT)
    fixed = home["thresholds"]["fixed"]["threshold"]
    if fixed is None:
        raise MetricsError("the home thresholds have no fixed threshold")
    report = compute_report(frame, threshold=fixed, n_bootstrap=n_bootstrap, seed=seed,
                            decoder_families=decoder_families or {})
    split = report["splits"][CELL_SPLIT]
    thresholds = _carried(home)
    labels = frame["label"].to_numpy()
    generators = frame["generator"].to_numpy()
    families: dict[str, documents.MatrixFamilyCell] = {}
    for family, block in (split.get("per_decoder_family") or {}).items():
        subset = frame[(labels == 0) | np.isin(generators, block["generators"])]
        points = _points(subset, thresholds, seed, n_bootstrap, "family", family)
        families[family] = {"n_fake": block["n_fake"], "n_real": block["n_real"], "generators": block["generators"],
                            "auc": block["auc"], "tpr": {rule: p["tpr"] for rule, p in points.items()}}
    pools: dict[str, documents.MatrixPoolCell] = {}
    if "source" in frame.columns:
        pool_of = frame["source"].astype(object).map(_source_name).fillna("_unknown").to_numpy()
        for pool, pool_block in (report.get("per_real_pool") or {}).get(CELL_SPLIT, {}).items():
            subset = frame[(labels == 1) | ((labels == 0) & (pool_of == pool))]
            points = _points(subset, thresholds, seed, n_bootstrap, "pool", pool)
            pools[pool] = {"n_real": pool_block["n_real"], "n_fake": pool_block["n_fake"], "auc": pool_block["auc"],
                           "fpr": {rule: p["fpr"] for rule, p in points.items()}}
    overall = split["overall"]
    return cast(documents.MatrixCellMetrics, {
        "n": split["n"], "n_fake": split["n_fake"], "n_real": split["n_real"],
        "auc": overall["auc"], "eer": overall["eer"],
        "carried": _points(frame, thresholds, seed, n_bootstrap),
        "per_decoder_family": families, "per_real_pool": pools})
