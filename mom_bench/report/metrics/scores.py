"""The point metrics: plain numpy functions of labels and scores (or of confusion counts), each checked
against scikit-learn in the tests. Conventions: a score is P(fake), label 1 (fake) is the positive class, an
item is called fake when ``score >= threshold``."""
from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from mom_bench.report import documents
from mom_bench.report.metrics.definitions import ECE_BINS

FloatArray = npt.NDArray[np.float64]
#: confusion counts: one value, or one per bootstrap draw
Count = float | FloatArray

# --------------------------------------------------------------------------------------------------
# Point metrics


def confusion(labels: npt.ArrayLike, scores: npt.ArrayLike, threshold: float = 0.5) -> documents.Confusion:
    """TP, FP, TN, FN with fake (1) as the positive class and ``score >= threshold`` called fake."""
    y = np.asarray(labels).astype(int)
    pred = np.asarray(scores, dtype=float) >= threshold
    return {"tp": int(np.sum(pred & (y == 1))), "fp": int(np.sum(pred & (y == 0))),
            "tn": int(np.sum(~pred & (y == 0))), "fn": int(np.sum(~pred & (y == 1)))}


def _ratio(num: Count, den: Count) -> FloatArray:
    """num/den elementwise, NaN where den is 0 (undefined, not zero)."""
    n = np.asarray(num, dtype=float)
    d = np.asarray(den, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(d > 0, n / np.where(d > 0, d, 1.0), np.nan)


# Metrics of the confusion counts: each takes tp, fp, tn, fn (scalars or arrays of bootstrap draws, as
# floats) and gives NaN where it is undefined. The registry declares them; threshold_metrics applies them all.


def f1_from_counts(tp: Count, fp: Count, tn: Count, fn: Count) -> FloatArray:
    return _ratio(2 * tp, 2 * tp + fp + fn)


def precision_from_counts(tp: Count, fp: Count, tn: Count, fn: Count) -> FloatArray:
    return _ratio(tp, tp + fp)


def recall_from_counts(tp: Count, fp: Count, tn: Count, fn: Count) -> FloatArray:
    return _ratio(tp, tp + fn)


def specificity_from_counts(tp: Count, fp: Count, tn: Count, fn: Count) -> FloatArray:
    return _ratio(tn, tn + fp)


def accuracy_from_counts(tp: Count, fp: Count, tn: Count, fn: Count) -> FloatArray:
    return _ratio(tp + tn, tp + tn + fp + fn)


def balanced_accuracy_from_counts(tp: Count, fp: Count, tn: Count, fn: Count) -> FloatArray:
    return (recall_from_counts(tp, fp, tn, fn) + specificity_from_counts(tp, fp, tn, fn)) / 2


def fpr_from_counts(tp: Count, fp: Count, tn: Count, fn: Count) -> FloatArray:
    return _ratio(fp, fp + tn)


def roc_auc(labels: npt.ArrayLike, scores: npt.ArrayLike) -> float | None:
    """ROC AUC, or None when one class is absent.

    It is the share of (fake, real) pairs in which the fake scores higher, a tie counting one half:

    >>> roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])  # 3 of the 4 pairs are in order
    0.75
    >>> roc_auc([0, 1], [0.5, 0.5])
    0.5
    >>> roc_auc([1, 1], [0.2, 0.9]) is None  # no reals
    True
    """
    y = np.asarray(labels).astype(int)
    s = np.asarray(scores, dtype=float)
    if not (y == 1).any() or not (y == 0).any():
        return None
    fpr, tpr, _ = roc_points(y, s)
    # trapezoids between distinct thresholds: ties between a real and a fake count one half
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def roc_points(labels: npt.ArrayLike, scores: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) at every distinct score, from the strictest threshold (+inf: nothing
    called fake) down to the most lenient (everything called fake)."""
    y = np.asarray(labels).astype(int)
    s = np.asarray(scores, dtype=float)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    # the last index of each run of equal scores: thresholds sit between distinct values
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1] if len(s) else np.array([], dtype=int)
    tps = np.cumsum(y == 1)[last] if len(s) else np.array([])
    fps = np.cumsum(y == 0)[last] if len(s) else np.array([])
    n_pos, n_neg = int((y == 1).sum()), int((y == 0).sum())
    tpr = np.r_[0.0, tps / n_pos] if n_pos else np.r_[0.0, np.full(len(tps), np.nan)]
    fpr = np.r_[0.0, fps / n_neg] if n_neg else np.r_[0.0, np.full(len(fps), np.nan)]
    thresholds = np.r_[np.inf, s[last]] if len(s) else np.array([np.inf])
    return fpr, tpr, thresholds


def det_points(labels: npt.ArrayLike, scores: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """(false-positive rate, false-negative rate) along the thresholds of :func:`roc_points`."""
    fpr, tpr, _ = roc_points(labels, scores)
    return fpr, 1.0 - tpr


def _eer_from_roc(fpr: np.ndarray, tpr: np.ndarray) -> float:
    fnr = 1.0 - tpr
    diff = fnr - fpr  # starts at 1 (threshold +inf), ends at -1 (everything called fake)
    i = int(np.argmax(diff <= 0))
    if i == 0:
        return float(fpr[0])
    d0, d1 = diff[i - 1], diff[i]
    a = d0 / (d0 - d1)
    return float(fpr[i - 1] + a * (fpr[i] - fpr[i - 1]))


def eer(labels: npt.ArrayLike, scores: npt.ArrayLike) -> float | None:
    """Equal error rate (see DEFINITIONS["eer"]), or None when one class is absent.

    >>> eer([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])  # a threshold separates them: no errors
    0.0
    >>> eer([0, 0, 1, 1], [0.1, 0.7, 0.6, 0.9])  # between 0.6 and 0.7: one real of two, one fake of two
    0.5
    >>> eer([0, 0, 0, 0, 1, 1, 1, 1], [0.1, 0.2, 0.3, 0.7, 0.4, 0.8, 0.85, 0.9])
    0.25
    >>> eer([1, 1], [0.2, 0.9]) is None  # no reals
    True
    """
    y = np.asarray(labels).astype(int)
    if not (y == 1).any() or not (y == 0).any():
        return None
    fpr, tpr, _ = roc_points(y, scores)
    return _eer_from_roc(fpr, tpr)


def _interp_tpr(fpr: np.ndarray, tpr: np.ndarray, target: float) -> np.ndarray:
    """TPR at FPR ``target`` on each row of ``fpr``/``tpr`` (one ROC curve per row, FPR non-decreasing along
    it), as DEFINITIONS["tpr_at_fpr"] states."""
    rows = np.arange(fpr.shape[0])
    i = np.sum(fpr <= target, axis=1) - 1  # the last point with FPR <= target (the first point has FPR 0)
    j = np.minimum(i + 1, fpr.shape[1] - 1)
    f0, f1, t0, t1 = fpr[rows, i], fpr[rows, j], tpr[rows, i], tpr[rows, j]
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(f1 > f0, (target - f0) / np.where(f1 > f0, f1 - f0, 1.0), 0.0)
    tpr_at_target: np.ndarray = t0 + np.clip(a, 0.0, 1.0) * (t1 - t0)  # fancy indexing leaves numpy untyped
    return tpr_at_target


def tpr_at_fpr(labels: npt.ArrayLike, scores: npt.ArrayLike, target: float) -> float | None:
    """TPR at false-positive rate ``target`` (DEFINITIONS["tpr_at_fpr"]), or None when one class is absent.

    >>> tpr_at_fpr([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], 0.01)  # separable: every fake before any real
    1.0
    >>> tpr_at_fpr([0, 0, 1, 1], [0.1, 0.5, 0.5, 0.9], 0.25)  # a tied pair: halfway from (0, 0.5) to (0.5, 1)
    0.75
    """
    y = np.asarray(labels).astype(int)
    if not (y == 1).any() or not (y == 0).any():
        return None
    fpr, tpr, _ = roc_points(y, scores)
    return float(_interp_tpr(fpr[None], tpr[None], target)[0])


def min_reals(target: float) -> int:
    """The reals a split needs to resolve false-positive rate ``target``: one real called fake must not
    already exceed it, so ``n_real >= 1 / target``.

    >>> min_reals(0.05), min_reals(0.01), min_reals(0.001)
    (20, 100, 1000)
    """
    return math.ceil(round(1.0 / target, 9))


def reliability_bins(
    labels: npt.ArrayLike, scores: npt.ArrayLike, n_bins: int = ECE_BINS
) -> list[tuple[int, float, float]]:
    """(rows, mean score, mean label) of each non-empty equal-mass bin (DEFINITIONS["ece"]); ties in score
    keep the order given."""
    y = np.asarray(labels, dtype=float)
    s = np.asarray(scores, dtype=float)
    order = np.argsort(s, kind="mergesort")
    return [(len(b), float(s[b].mean()), float(y[b].mean())) for b in np.array_split(order, n_bins) if len(b)]


def expected_calibration_error(
    labels: npt.ArrayLike, scores: npt.ArrayLike, n_bins: int = ECE_BINS
) -> float | None:
    """ECE with ``n_bins`` equal-mass bins (DEFINITIONS["ece"]); None without rows.

    >>> expected_calibration_error([0, 1, 1, 1], [0.2, 0.4, 0.6, 0.8], n_bins=2)  # (2 * 0.2 + 2 * 0.3) / 4
    0.25
    """
    bins = reliability_bins(labels, scores, n_bins)
    n = sum(k for k, _, _ in bins)
    return float(sum(k * abs(lab - sc) for k, sc, lab in bins) / n) if n else None


def brier_score(labels: npt.ArrayLike, scores: npt.ArrayLike) -> float | None:
    """Mean of (score - label)^2; None without rows.

    >>> brier_score([0, 1], [0.25, 0.5])  # (0.0625 + 0.25) / 2
    0.15625
    """
    y = np.asarray(labels, dtype=float)
    s = np.asarray(scores, dtype=float)
    return float(np.mean((s - y) ** 2)) if len(y) else None

