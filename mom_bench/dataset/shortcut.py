"""Shortcut check: can global signal statistics alone tell the reals from the fakes?

A detector benchmark is broken when the fakes differ from the reals in something trivial (length,
loudness, a codec's low-pass, zero padding, a brighter average spectrum): a detector then learns that, not
the music. The builder measures the global statistics of :mod:`mom_bench.core.signal_stats` on the stored audio
of every row (:func:`format_stats`, the same function as :func:`mom_bench.core.signal_stats.signal_stats`, called
on exactly the samples a reader decodes) and trains simple classifiers on them (:func:`shortcut_check`). If
one scores well above chance on the test splits, the benchmark has a shortcut and the build report says so.

The statistics are global (one number per clip: level, crest factor, padding, clipping, roll-offs, spectral
centroid and spread, zero-crossing rate), not musical content (no timbre over time, no pitch, no rhythm).
They are the features of the ``stats-lr`` reference detector, so the build's figure is what that trivial
baseline can reach (up to the training procedure: sklearn here, the mom-bench trainer there).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from mom_bench.core.signal_stats import FEATURES, signal_stats
from mom_bench.core.splits import TEST_SPLITS, TRAIN

__all__ = ["FEATURES", "WARN_BALANCED_ACCURACY", "format_stats", "shortcut_check"]

#: Balanced accuracy of the better shortcut classifier above which a build warns. Not F1: calling every row
#: fake scores F1 2p / (1 + p) (0.667 on a balanced test set), so an F1 level cannot tell a shortcut from a
#: classifier that separates nothing, and a few dozen test rows move a weak tree across it.
WARN_BALANCED_ACCURACY = 0.65

#: The per-clip statistics the builder stores for this check: :func:`mom_bench.core.signal_stats.signal_stats`
#: itself (the name is kept from when the check looked at format statistics only).
format_stats = signal_stats


def _f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    tp = int(np.sum((y_pred == 1) & (y_true == 1)))
    fp = int(np.sum((y_pred == 1) & (y_true == 0)))
    fn = int(np.sum((y_pred == 0) & (y_true == 1)))
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def _balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    recalls = [float(np.mean(y_pred[y_true == c] == c)) for c in (0, 1) if np.any(y_true == c)]
    return float(np.mean(recalls)) if recalls else 0.0


def shortcut_check(stats: list[dict], labels: list[int], splits: list[str], seed: int = 0) -> dict:
    """Train simple classifiers on the ``train`` rows' statistics and score the test splits.

    Two classifiers, both with balanced class weights so that a class imbalance alone cannot look like
    a shortcut: a standardised logistic regression and a depth-3 decision tree (which catches a single
    threshold on, say, the roll-off). ``classifier`` is the one with the higher balanced accuracy on all test
    rows (``test_id`` and ``test_ood`` together; 0.5 = chance whatever the class balance), reported as
    ``balanced_accuracy`` with its ``f1`` (fake = positive, threshold 0.5); ``warn`` is ``balanced_accuracy >
    0.65`` (``threshold``). ``chance_f1`` is what a fair coin would score on the same test rows, for reading
    ``f1``; calling everything fake scores ``2p / (1 + p)`` (0.667 on a balanced test set), which is why the
    warning does not look at F1. ``per_classifier`` gives each classifier's F1, balanced accuracy, the share of
    rows it calls fake, and the AUC of its P(fake) on all test rows (``auc``, threshold-free).

    ``stats``: one dict per row, as :func:`format_stats` gives it. Only the statistics every row has are used
    (rows staged by an older mom-bench may lack newer ones); ``features`` lists them.

    When there is nothing to learn from or to score (no train rows of both classes, no test rows), the
    result has ``f1: None``, ``warn: False`` and ``skipped`` with the reason.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    from mom_bench.report.metrics import roc_auc

    if not (len(stats) == len(labels) == len(splits)):
        raise ValueError(f"stats, labels and splits differ in length ({len(stats)}, {len(labels)}, {len(splits)})")
    features = [f for f in FEATURES if all(f in s for s in stats)] if stats else list(FEATURES)
    x = np.array([[float(s[f]) for f in features] for s in stats], dtype=np.float64).reshape(len(stats), -1)
    x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
    y = np.asarray(labels, dtype=np.int64)
    split_arr = np.asarray(splits, dtype=object)
    train = split_arr == TRAIN
    test = np.isin(split_arr, list(TEST_SPLITS))
    result: dict[str, Any] = {
        "f1": None, "balanced_accuracy": None, "warn": False, "threshold": WARN_BALANCED_ACCURACY,
        "warn_metric": "balanced_accuracy", "features": features, "classifier": None,
        "n_train": int(train.sum()), "n_test": int(test.sum()), "seed": seed,
    }
    if len(set(y[train].tolist())) < 2:
        result["skipped"] = "the train split does not hold both reals and fakes"
        return result
    if not test.any():
        result["skipped"] = "no test_id or test_ood rows to score"
        return result

    prevalence = float(y[test].mean())
    result["chance_f1"] = round(prevalence / (prevalence + 0.5), 4) if prevalence > 0 else 0.0
    classifiers = {
        "logistic_regression": make_pipeline(
            StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=1000, random_state=seed)),
        "decision_tree_depth3": DecisionTreeClassifier(max_depth=3, class_weight="balanced", random_state=seed),
    }
    per_classifier: dict[str, dict] = {}
    for name, clf in classifiers.items():
        clf.fit(x[train], y[train])
        pred = clf.predict(x[test])
        scores = {"test": _f1(y[test], pred), "balanced_accuracy": _balanced_accuracy(y[test], pred),
                  "predicted_fake_rate": float(pred.mean())}
        auc = roc_auc(y[test], clf.predict_proba(x[test])[:, 1])
        if auc is not None:
            scores["auc"] = auc
        for split in TEST_SPLITS:
            rows = split_arr == split
            if rows.any() and y[rows].any():
                scores[split] = _f1(y[rows], clf.predict(x[rows]))
        per_classifier[name] = {k: round(v, 4) for k, v in scores.items()}
    best = max(per_classifier, key=lambda k: (per_classifier[k]["balanced_accuracy"], per_classifier[k]["test"]))
    result.update(f1=per_classifier[best]["test"], balanced_accuracy=per_classifier[best]["balanced_accuracy"],
                  classifier=best, per_classifier=per_classifier)
    result["warn"] = bool(result["balanced_accuracy"] > WARN_BALANCED_ACCURACY)
    return result
