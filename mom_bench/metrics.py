"""Every metric mom-bench reports, in one place: used by `mom-bench evaluate` and by leaderboard scoring.

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
"""
from __future__ import annotations

import math
import numbers
import zlib
from typing import Any

import numpy as np
import pandas as pd

from mom_bench.errors import MetricsError

SCHEMA_VERSION = 1
CI_LEVEL = 0.95

#: Order in which splits are reported; unknown split names follow, sorted.
SPLIT_ORDER = ("train", "validation", "test_id", "test_ood")

#: Duration strata of SONICS (seconds): (name, lower bound exclusive, upper bound inclusive).
DURATION_BUCKETS = (("<=60s", -math.inf, 60.0), ("60-120s", 60.0, 120.0), (">120s", 120.0, math.inf))

#: False-positive budgets at which TPR is read off the ROC curve (``tpr_at_fpr``).
FPR_TARGETS = (0.05, 0.01, 0.001)
#: Equal-mass bins of the expected calibration error and of the reliability diagram.
ECE_BINS = 15
#: The split thresholds are chosen on by :func:`frozen_thresholds` in ``mom-bench evaluate``.
CALIBRATION_SPLIT = "validation"
#: The thresholds :func:`frozen_thresholds` chooses: name -> false-positive budget (None: F1-optimal).
FROZEN_RULES = {"max_f1": None, "fpr_5pct": 0.05, "fpr_1pct": 0.01}

DEFINITIONS = {
    "positive_class": "fake (label 1); scores are P(fake)",
    "decision": "an item is called fake when score >= threshold",
    "f1": "binary F1 with fake as the positive class: 2TP / (2TP + FP + FN)",
    "precision": "TP / (TP + FP)",
    "recall": "TP / (TP + FN), i.e. TPR on fakes (sensitivity)",
    "specificity": "TN / (TN + FP), i.e. TNR on reals",
    "accuracy": "(TP + TN) / n",
    "balanced_accuracy": "(recall + specificity) / 2",
    "auc": "area under the ROC curve of the scores (ties count one half); threshold-free",
    "eer": "equal error rate: the rate where false-positive rate equals false-negative rate, linearly "
           "interpolated between the two ROC points that straddle it; threshold-free",
    "per_generator.tpr": "share of generator g's fakes in the split called fake",
    "per_generator.f1": "F1 on {fakes of generator g in the split} U {all reals of the split}: how well g's "
                        "fakes are told apart from the split's real songs, false positives included",
    "strata": "the same threshold metrics on the subset of the split's rows in the stratum; duration buckets "
              "use duration_s (<=60 s, 60-120 s, >120 s)",
    "id_ood_gap": "F1(test_id) - F1(test_ood); its CI comes from the difference of independent bootstrap "
                  "draws of the two splits",
    "ci": "95 % percentile bootstrap interval, stratified by (label, generator), seeded, reported as "
          "computed: on tiny samples a skewed statistic's interval may not contain its point estimate, which "
          "says how unstable it is. Resamples are drawn from the rows in a fixed order (sorted by id within "
          "each split), so the same predictions in any row order give the same intervals. A rate observed as "
          "exactly 0 or 1 (e.g. TPR 1.0 on 9 fakes) gets a zero-width interval: the bootstrap cannot see beyond "
          "the sample, so read such intervals with the sample size in mind",
    "null": "a metric is null (with a 'reason') when it is undefined on the data, e.g. AUC on a split "
            "with no reals",
    "tpr_at_fpr": "TPR at a target false-positive rate t (5 %, 1 %, 0.1 %) read off the split's ROC curve (the "
                  "points of every distinct score): TPR is linearly interpolated between the two ROC points that "
                  "straddle t (the last with FPR <= t and the next one); where the curve rises vertically at FPR "
                  "= t the highest TPR there is taken. This is np.interp(t, fpr, tpr) on the curve. resolvable is "
                  "false when the split has fewer than 1 / t reals (20 for 5 %, 100 for 1 %, 1,000 for 0.1 %): one "
                  "real called fake is then already more than t, and the value is reported but rests on the "
                  "interpolation. The CI resamples rows as for AUC",
    "ece": "expected calibration error with 15 equal-mass bins: the split's rows sorted by score (ties in id "
           "order), cut into 15 bins of equal count (np.array_split of the sorted order: the first n mod 15 bins "
           "hold one row more; with fewer than 15 rows the empty bins are skipped); ECE = sum_b (n_b / N) "
           "|mean(label_b) - mean(score_b)|. The CI resamples rows as for AUC and bins each resample the same way",
    "brier": "Brier score: mean over the split's rows of (score - label)^2; 0 is perfect, 0.25 is a constant "
             "0.5. The CI resamples rows as for AUC",
    "false_positive_rates": "the share of a split's reals called fake at the report's threshold: all reals "
                            "(1 - specificity, the same interval), per value of the reals' source column where the "
                            "predictions have one, and per stratum bucket of the reals (duration, vocals, "
                            "language); CIs are binomial bootstraps of the count called fake, as for the other "
                            "confusion-count rates",
    "frozen_thresholds": "thresholds chosen on the calibration split (validation) alone and then applied "
                         "unchanged to every test split: max_f1 is the score threshold with the highest F1 on "
                         "calibration; fpr_5pct and fpr_1pct are the thresholds with the highest calibration TPR "
                         "among those with calibration FPR <= 5 % / 1 %; ties go to the higher threshold. The "
                         "candidates are the calibration scores themselves (called fake when score >= "
                         "threshold) and, for calling nothing fake, the smallest float above the highest one. "
                         "resolvable is false when the calibration split has fewer than 1 / budget reals. Test "
                         "intervals treat the threshold as fixed (binomial bootstrap of the test counts), so they "
                         "leave out the uncertainty of the choice itself",
}

_REQUIRED = ("id", "split", "generator", "label", "score")


# --------------------------------------------------------------------------------------------------
# Point metrics


def confusion(labels, scores, threshold: float = 0.5) -> dict[str, int]:
    """TP, FP, TN, FN with fake (1) as the positive class and ``score >= threshold`` called fake."""
    y = np.asarray(labels).astype(int)
    pred = np.asarray(scores, dtype=float) >= threshold
    return {"tp": int(np.sum(pred & (y == 1))), "fp": int(np.sum(pred & (y == 0))),
            "tn": int(np.sum(~pred & (y == 0))), "fn": int(np.sum(~pred & (y == 1)))}


def _ratio(num, den):
    """num/den elementwise, NaN where den is 0 (undefined, not zero)."""
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def threshold_metrics(tp, fp, tn, fn) -> dict[str, Any]:
    """Metrics from confusion counts (scalars or arrays of bootstrap draws); NaN where undefined."""
    tp, fp, tn, fn = (np.asarray(v, dtype=float) for v in (tp, fp, tn, fn))
    recall = _ratio(tp, tp + fn)
    specificity = _ratio(tn, tn + fp)
    return {
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "precision": _ratio(tp, tp + fp),
        "recall": recall,
        "specificity": specificity,
        "accuracy": _ratio(tp + tn, tp + tn + fp + fn),
        "balanced_accuracy": (recall + specificity) / 2,
        "fpr": _ratio(fp, fp + tn),
    }


def roc_auc(labels, scores) -> float | None:
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


def roc_points(labels, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def det_points(labels, scores) -> tuple[np.ndarray, np.ndarray]:
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


def eer(labels, scores) -> float | None:
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
    return t0 + np.clip(a, 0.0, 1.0) * (t1 - t0)


def tpr_at_fpr(labels, scores, target: float) -> float | None:
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


def reliability_bins(labels, scores, n_bins: int = ECE_BINS) -> list[tuple[int, float, float]]:
    """(rows, mean score, mean label) of each non-empty equal-mass bin (DEFINITIONS["ece"]); ties in score
    keep the order given."""
    y = np.asarray(labels, dtype=float)
    s = np.asarray(scores, dtype=float)
    order = np.argsort(s, kind="mergesort")
    return [(len(b), float(s[b].mean()), float(y[b].mean())) for b in np.array_split(order, n_bins) if len(b)]


def expected_calibration_error(labels, scores, n_bins: int = ECE_BINS) -> float | None:
    """ECE with ``n_bins`` equal-mass bins (DEFINITIONS["ece"]); None without rows.

    >>> expected_calibration_error([0, 1, 1, 1], [0.2, 0.4, 0.6, 0.8], n_bins=2)  # (2 * 0.2 + 2 * 0.3) / 4
    0.25
    """
    bins = reliability_bins(labels, scores, n_bins)
    n = sum(k for k, _, _ in bins)
    return float(sum(k * abs(lab - sc) for k, sc, lab in bins) / n) if n else None


def brier_score(labels, scores) -> float | None:
    """Mean of (score - label)^2; None without rows.

    >>> brier_score([0, 1], [0.25, 0.5])  # (0.0625 + 0.25) / 2
    0.15625
    """
    y = np.asarray(labels, dtype=float)
    s = np.asarray(scores, dtype=float)
    return float(np.mean((s - y) ** 2)) if len(y) else None


# --------------------------------------------------------------------------------------------------
# Bootstrap helpers


def _percentile_ci(draws: np.ndarray, value: float | None) -> list[float] | None:
    """The percentile interval of the finite draws, as computed (it need not contain ``value``: see
    DEFINITIONS["ci"]); None when the value is undefined or no draw is finite."""
    draws = np.asarray(draws, dtype=float)
    draws = draws[np.isfinite(draws)]
    if value is None or not len(draws):
        return None
    alpha = (1 - CI_LEVEL) / 2
    lo, hi = np.quantile(draws, [alpha, 1 - alpha])
    return [float(lo), float(hi)]


def _stat(value, draws=None, reason: str | None = None) -> dict:
    value = None if value is None or (isinstance(value, float) and not math.isfinite(value)) else float(value)
    out = {"value": value, "ci": _percentile_ci(draws, value) if draws is not None else None}
    if value is None:
        out["reason"] = reason or "undefined on these rows"
    return out


class _Strata:
    """Rows grouped by (label, generator), with per-group counts of items called fake."""

    def __init__(self, labels: np.ndarray, generators: np.ndarray, pred: np.ndarray):
        members: dict[tuple[int, str], list[int]] = {}
        for i, key in enumerate(zip(labels.tolist(), generators.tolist())):
            members.setdefault((int(key[0]), str(key[1])), []).append(i)
        self.groups = [(lab, gen, np.asarray(idx)) for (lab, gen), idx in sorted(members.items())]
        self.n = {(lab, gen): len(idx) for lab, gen, idx in self.groups}
        self.called = {(lab, gen): int(pred[idx].sum()) for lab, gen, idx in self.groups}


def _binomial_draws(rng: np.random.Generator, strata: _Strata, n_bootstrap: int) -> dict[tuple, np.ndarray]:
    """Per stratum, bootstrap draws of how many of its items are called fake."""
    return {key: rng.binomial(n, strata.called[key] / n, size=n_bootstrap) if n else np.zeros(n_bootstrap)
            for key, n in strata.n.items()}


def _counts(keys, strata: _Strata, draws: dict | None = None) -> tuple:
    """(tp, fp, tn, fn) summed over the given strata keys: observed, or per bootstrap draw."""
    tp = fp = tn = fn = 0
    for key in keys:
        n = strata.n[key]
        called = strata.called[key] if draws is None else draws[key]
        if key[0] == 1:
            tp, fn = tp + called, fn + (n - called)
        else:
            fp, tn = fp + called, tn + (n - called)
    return tp, fp, tn, fn


def _weight_chunks(rng: np.random.Generator, strata: _Strata, rank_of: np.ndarray, n_bootstrap: int):
    """Bootstrap resamples in chunks, each as how many times every row was drawn (rows in ``rank_of``
    order), resampling rows within each (label, generator) stratum: yields (first resample, weights)."""
    n = len(rank_of)
    chunk = max(1, 4_000_000 // max(1, n))
    for lo in range(0, n_bootstrap, chunk):
        b = min(chunk, n_bootstrap - lo)
        weights = np.zeros((b, n))
        for _, _, idx in strata.groups:
            m = len(idx)
            picks = rng.integers(0, m, size=(b, m)) + (np.arange(b) * m)[:, None]
            weights[:, rank_of[idx]] = np.bincount(picks.ravel(), minlength=b * m).reshape(b, m)
        yield lo, weights


def _weighted_ece(weights: np.ndarray, labels: np.ndarray, scores: np.ndarray, n_bins: int) -> np.ndarray:
    """ECE of each resample (row of ``weights``, rows in ascending score order): the resample is the rows
    repeated as often as drawn, cut into the equal-count bins of :func:`reliability_bins`. A row's copies may
    straddle a bin edge, so the label and score sums up to an edge are read off cumulative sums."""
    b, n = weights.shape
    total = int(round(weights[0].sum())) if b else 0
    edges = np.r_[0, np.cumsum([len(a) for a in np.array_split(np.arange(total), n_bins)])]
    zero = np.zeros((b, 1))
    cum_w = np.concatenate([zero, np.cumsum(weights, axis=1)], axis=1)
    cum_y = np.concatenate([zero, np.cumsum(weights * labels, axis=1)], axis=1)
    cum_s = np.concatenate([zero, np.cumsum(weights * scores, axis=1)], axis=1)
    y_next, s_next = np.r_[labels, 0.0], np.r_[scores, 0.0]
    rows = np.arange(b)
    at_edge = []
    for e in edges:
        k = np.sum(cum_w[:, 1:] <= e, axis=1)  # rows whose copies all lie before position e
        part = e - cum_w[rows, k]  # copies of row k before e
        at_edge.append((cum_y[rows, k] + part * y_next[k], cum_s[rows, k] + part * s_next[k]))
    gaps = [np.abs((y1 - y0) - (s1 - s0)) for (y0, s0), (y1, s1) in zip(at_edge, at_edge[1:])]
    return np.sum(gaps, axis=0) / max(total, 1)


def _row_draws(rng, labels, scores, strata: _Strata, n_bootstrap: int, ranked: bool) -> dict[str, np.ndarray]:
    """Bootstrap draws of the statistics that need the scores, resampling rows within each (label, generator)
    stratum: Brier and ECE always, and with ``ranked`` (both classes present) AUC, EER and TPR at each
    target of :data:`FPR_TARGETS` (keys ``auc``, ``eer``, ``brier``, ``ece``, ``tpr@<target>``).

    A resample is a vector of how many times each row was drawn; with the rows sorted by score once,
    every resample's ROC curve is a cumulative sum of those counts, so a whole chunk of resamples is
    computed with array operations instead of one sort per resample.
    """
    order = np.argsort(-scores, kind="mergesort")
    rank_of = np.empty(len(order), dtype=int)
    rank_of[order] = np.arange(len(order))
    s_sorted = scores[order]
    is_pos = labels[order] == 1
    starts = np.r_[0, np.nonzero(np.diff(s_sorted))[0] + 1]  # first row of each run of equal scores
    n_pos, n_neg = int(is_pos.sum()), int((~is_pos).sum())
    ascending = rank_of[np.argsort(scores, kind="mergesort")]  # positions, in the ascending order of the ECE
    y_asc, s_asc = labels[np.argsort(scores, kind="mergesort")].astype(float), np.sort(scores, kind="mergesort")
    sq_err = (s_sorted - is_pos) ** 2

    names = ["brier", "ece"] + (["auc", "eer"] + [f"tpr@{t:g}" for t in FPR_TARGETS] if ranked else [])
    out = {name: np.empty(n_bootstrap) for name in names}
    for lo, weights in _weight_chunks(rng, strata, rank_of, n_bootstrap):
        b = len(weights)
        part = slice(lo, lo + b)
        out["brier"][part] = weights @ sq_err / len(scores)
        out["ece"][part] = _weighted_ece(weights[:, ascending], y_asc, s_asc, ECE_BINS)
        if not ranked:
            continue
        tp = np.cumsum(np.add.reduceat(weights * is_pos, starts, axis=1), axis=1) / n_pos
        fp = np.cumsum(np.add.reduceat(weights * ~is_pos, starts, axis=1), axis=1) / n_neg
        tpr = np.concatenate([np.zeros((b, 1)), tp], axis=1)
        fpr = np.concatenate([np.zeros((b, 1)), fp], axis=1)
        out["auc"][part] = np.sum(np.diff(fpr, axis=1) * (tpr[:, 1:] + tpr[:, :-1]) / 2, axis=1)
        diff = (1.0 - tpr) - fpr
        i = np.argmax(diff <= 0, axis=1)  # > 0: the first point has diff 1, the last -1
        rows = np.arange(b)
        d0, d1 = diff[rows, i - 1], diff[rows, i]
        f0, f1 = fpr[rows, i - 1], fpr[rows, i]
        out["eer"][part] = f0 + d0 / (d0 - d1) * (f1 - f0)
        for t in FPR_TARGETS:
            out[f"tpr@{t:g}"][part] = _interp_tpr(fpr, tpr, t)
    return out


def _sub_rng(seed: int, *names: str) -> np.random.Generator:
    """A generator of its own for one part of the report, so the draws of the other parts do not depend on
    whether this part exists (e.g. a source column only some predictions have)."""
    return np.random.default_rng([seed, *(zlib.crc32(n.encode("utf-8")) for n in names)])


# --------------------------------------------------------------------------------------------------
# The report


def _plain(v):
    """numpy scalars as plain Python values, so messages read `label 2`, not `label np.int64(2)`."""
    return v.item() if hasattr(v, "item") else v


def _check(df: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in _REQUIRED if c not in df.columns]
    if missing:
        raise MetricsError(f"predictions lack column(s) {', '.join(missing)}; need {', '.join(_REQUIRED)}")
    df = df.reset_index(drop=True)
    labels = pd.to_numeric(df["label"], errors="coerce")
    bad = df.index[~labels.isin([0, 1])]
    if len(bad):
        i = bad[0]
        raise MetricsError(f"row {i} (id {df.at[i, 'id']!r}): label {_plain(df.at[i, 'label'])!r} is not 0 (real) or 1 "
                         f"(fake); {len(bad)} such row(s)")
    scores = pd.to_numeric(df["score"], errors="coerce")
    bad = df.index[~(np.isfinite(scores) & (scores >= 0) & (scores <= 1))]
    if len(bad):
        i = bad[0]
        raise MetricsError(f"row {i} (id {df.at[i, 'id']!r}): score {_plain(df.at[i, 'score'])!r} is not a probability "
                         f"in [0, 1]; {len(bad)} such row(s)")
    dup = df.duplicated(["split", "id"], keep=False)
    if dup.any():
        i = df.index[dup][0]
        raise MetricsError(f"id {df.at[i, 'id']!r} appears {int(dup.sum())} times in split {df.at[i, 'split']!r}; "
                         "every item must have exactly one prediction")
    out = df.copy()
    out["label"] = labels.astype(int)
    out["score"] = scores.astype(float)
    out["generator"] = out["generator"].astype(str)
    out["split"] = out["split"].astype(str)
    return out


def _canonical_order(df: pd.DataFrame) -> pd.DataFrame:
    """The rows sorted by (split, id), label and score breaking ties. Resamples pick rows by position, so
    without a fixed order the intervals would depend on how the predictions happened to be listed."""
    keyed = df.assign(_order_id=df["id"].astype(str))
    keyed = keyed.sort_values(["split", "_order_id", "label", "score"], kind="mergesort")
    return keyed.drop(columns="_order_id").reset_index(drop=True)


def _threshold_block(keys, strata, draws, names) -> dict:
    """{metric: {value, ci}} for threshold metrics over the strata ``keys``."""
    point = threshold_metrics(*_counts(keys, strata))
    boot = threshold_metrics(*_counts(keys, strata, draws))
    out = {}
    for name in names:
        value = float(point[name])
        reason = None
        if not math.isfinite(value):
            reason = {"recall": "no fakes", "specificity": "no reals", "fpr": "no reals", "precision": "nothing called fake",
                      "balanced_accuracy": "needs both reals and fakes", "f1": "no fakes and nothing called "
                      "fake"}.get(name, "no rows")
        out[name] = _stat(value, boot[name], reason)
    return out


def _split_report(rows: pd.DataFrame, threshold: float, n_bootstrap: int, rng: np.random.Generator,
                  seed: int) -> tuple[dict[str, Any], np.ndarray]:
    """The public report of one split, and the bootstrap draws of its overall F1: those stay out of the
    report (they are not JSON) and only serve the interval of the ID-OOD gap in :func:`compute_report`."""
    labels = rows["label"].to_numpy()
    scores = rows["score"].to_numpy()
    pred = scores >= threshold
    strata = _Strata(labels, rows["generator"].to_numpy(), pred)
    draws = _binomial_draws(rng, strata, n_bootstrap)
    all_keys = list(strata.n)
    real_keys = [k for k in all_keys if k[0] == 0]
    n_fake, n_real = int(labels.sum()), int(len(labels) - labels.sum())

    overall = _threshold_block(all_keys, strata, draws, ["f1", "precision", "recall", "specificity", "accuracy",
                                                          "balanced_accuracy"])
    ranked = bool(n_fake and n_real)
    # With both classes the row resamples come from the report's generator, as AUC and EER always did; a
    # one-class split draws its Brier and ECE resamples from a generator of its own, so that adding them
    # changed none of the other intervals.
    row_rng = rng if ranked else _sub_rng(seed, str(rows["split"].iloc[0]), "calibration")
    row_draws = _row_draws(row_rng, labels, scores, strata, n_bootstrap, ranked)
    if ranked:
        overall["auc"] = _stat(roc_auc(labels, scores), row_draws["auc"])
        overall["eer"] = _stat(eer(labels, scores), row_draws["eer"])
    else:
        why = "no reals in this split" if n_fake else "no fakes in this split"
        overall["auc"] = _stat(None, reason=why)
        overall["eer"] = _stat(None, reason=why)

    per_generator = {}
    for gen in sorted({k[1] for k in all_keys if k[0] == 1}):
        keys = [(1, gen)] + real_keys
        block = _threshold_block(keys, strata, draws, ["recall", "f1"])
        per_generator[gen] = {"n_fake": strata.n[(1, gen)], "n_real": n_real, "tpr": block["recall"],
                              "f1": block["f1"]}

    report = {"n": int(len(rows)), "n_fake": n_fake, "n_real": n_real,
              "confusion": confusion(labels, scores, threshold), "overall": overall,
              "per_generator": per_generator, "strata": _strata_report(rows, threshold, n_bootstrap, rng),
              "tpr_at_fpr": _tpr_at_fpr_block(labels, scores, row_draws, n_real),
              "calibration": {"n_bins": ECE_BINS,
                              "ece": _stat(expected_calibration_error(labels, scores), row_draws["ece"]),
                              "brier": _stat(brier_score(labels, scores), row_draws["brier"])}}
    f1_draws = threshold_metrics(*_counts(all_keys, strata, draws))["f1"]
    return report, f1_draws


def _tpr_at_fpr_block(labels, scores, row_draws: dict[str, np.ndarray], n_real: int) -> dict[str, dict]:
    """{"0.05": {target_fpr, value, ci[, reason], resolvable, min_reals}, ...} for :data:`FPR_TARGETS`."""
    out = {}
    for t in FPR_TARGETS:
        key = f"{t:g}"
        value = tpr_at_fpr(labels, scores, t)
        why = "no reals in this split" if not n_real else "no fakes in this split"
        stat = _stat(value, row_draws.get(f"tpr@{key}"), reason=why)
        out[key] = {"target_fpr": t, **stat, "resolvable": n_real >= min_reals(t), "min_reals": min_reals(t)}
    return out


def _stratum_columns(rows: pd.DataFrame) -> dict[str, pd.Series]:
    """Stratum name -> a Series of the bucket of every row (NaN: row not in any bucket)."""
    out = {}
    if "duration_s" in rows.columns:
        dur = pd.to_numeric(rows["duration_s"], errors="coerce")
        bucket: pd.Series = pd.Series(np.nan, index=rows.index, dtype=object)  # bucket names, NaN for none
        for name, lo, hi in DURATION_BUCKETS:
            bucket[(dur > lo) & (dur <= hi)] = name
        out["duration"] = bucket
    if "vocals" in rows.columns:
        def _vocals(v):
            if v is None or (isinstance(v, float) and math.isnan(v)):
                return np.nan
            if isinstance(v, str):
                v = v.strip().lower()
                return "vocals" if v in {"1", "true", "yes", "vocals"} else (
                    "instrumental" if v in {"0", "false", "no", "instrumental", "none"} else np.nan)
            return "vocals" if bool(v) else "instrumental"
        out["vocals"] = rows["vocals"].map(_vocals)
    if "language" in rows.columns:
        lang = rows["language"].astype(object).where(rows["language"].notna())
        out["language"] = lang.map(lambda v: str(v) if isinstance(v, str) and v.strip() else np.nan)
    return out


def _strata_report(rows: pd.DataFrame, threshold: float, n_bootstrap: int, rng) -> dict:
    out = {}
    for column, buckets in _stratum_columns(rows).items():
        entries = {}
        names = [b[0] for b in DURATION_BUCKETS] if column == "duration" else sorted(buckets.dropna().unique())
        for name in names:
            sub = rows[buckets == name]
            if sub.empty:
                continue
            labels = sub["label"].to_numpy()
            strata = _Strata(labels, sub["generator"].to_numpy(), sub["score"].to_numpy() >= threshold)
            draws = _binomial_draws(rng, strata, n_bootstrap)
            block = _threshold_block(list(strata.n), strata, draws, ["f1", "recall", "specificity", "accuracy"])
            entries[str(name)] = {"n": int(len(sub)), "n_fake": int(labels.sum()),
                                  "n_real": int(len(labels) - labels.sum()), **block}
        missing = int(buckets.isna().sum())
        if missing:
            entries["_unknown"] = {"n": missing, "note": f"rows with no usable {column} value"}
        out[column] = entries
    return out


def _split_key(name: str):
    return (SPLIT_ORDER.index(name), "") if name in SPLIT_ORDER else (len(SPLIT_ORDER), name)


def check_options(threshold: float, n_bootstrap: int, seed: int) -> None:
    """Refuse (:class:`MetricsError`) a threshold that is not a probability, a resample count under 1 or a
    seed that is not a non-negative integer, naming the allowed range."""
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not 0 <= float(threshold) <= 1:
        raise MetricsError(f"threshold must be a probability in [0, 1], got {threshold!r}")  # also refuses NaN
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, numbers.Integral) or n_bootstrap < 1:
        raise MetricsError(f"n_bootstrap must be an integer >= 1, got {n_bootstrap!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise MetricsError(f"seed must be an integer >= 0, got {seed!r}")  # numpy refuses negative seeds


def compute_report(df: pd.DataFrame, threshold: float = 0.5, n_bootstrap: int = 1000, seed: int = 0) -> dict:
    """Score predictions: overall, per generator, per stratum, per split, the ID-OOD gap, TPR at fixed
    false-positive budgets, calibration, and the false-positive rate of each real source and stratum.

    ``df`` has one row per item with ``id``, ``split``, ``generator`` (``real`` for reals), ``label`` (0 real,
    1 fake) and ``score`` (P(fake) in [0, 1]); optional ``duration_s``, ``vocals``, ``language`` add strata,
    and ``source`` (where each row came from) the false-positive rate per real source.

    Returns a JSON-able dict::

        {"schema_version", "threshold", "n_bootstrap", "seed", "ci_level", "definitions",
         "splits": {split: {"n", "n_fake", "n_real", "confusion": {tp, fp, tn, fn},
                            "overall": {f1, precision, recall, specificity, accuracy, balanced_accuracy,
                                        auc, eer},            # each {"value", "ci"[, "reason"]}
                            "per_generator": {g: {"n_fake", "n_real", "tpr", "f1"}},
                            "strata": {"duration"|"vocals"|"language": {bucket: {...}}},
                            "tpr_at_fpr": {"0.05"|"0.01"|"0.001": {"target_fpr", "value", "ci"[, "reason"],
                                                                   "resolvable", "min_reals"}},
                            "calibration": {"n_bins", "ece", "brier"}}},
         "id_ood_gap": {"value", "ci"[, "reason"]},
         "false_positive_rates": {split: {"n_real", "all", "by_source"|"note", "by_stratum"}}}

    The false-positive rates sit beside ``splits`` rather than in them: they depend on the optional
    ``source`` column, and the split reports of the same predictions must not depend on which optional
    columns came along (the leaderboard compares them with ``evaluate``'s).

    Raises :class:`MetricsError` (a ValueError) naming the first bad row when a label is not 0/1, a score is
    not in [0, 1] or an id repeats within a split, and for options out of range (:func:`check_options`).
    The same predictions and ``seed`` give the same intervals, in any row order; intervals are the bootstrap
    percentiles as computed (see ``DEFINITIONS["ci"]``)."""
    check_options(threshold, n_bootstrap, seed)
    df = _canonical_order(_check(df))
    rng = np.random.default_rng(seed)
    splits: dict[str, dict[str, Any]] = {}
    f1_draws: dict[str, np.ndarray] = {}  # split -> bootstrap draws of its overall F1, for the gap's CI
    false_positives: dict[str, dict[str, Any]] = {}
    for name in sorted(df["split"].unique(), key=_split_key):
        rows = df[df["split"] == name]
        splits[name], f1_draws[name] = _split_report(rows, threshold, n_bootstrap, rng, seed)
        false_positives[name] = _false_positive_report(rows, splits[name], threshold, n_bootstrap, seed)

    if "test_id" in splits and "test_ood" in splits:
        a, b = splits["test_id"], splits["test_ood"]
        va, vb = a["overall"]["f1"]["value"], b["overall"]["f1"]["value"]
        gap = _stat(None if va is None or vb is None else va - vb, f1_draws["test_id"] - f1_draws["test_ood"],
                    reason="F1 undefined on test_id or test_ood")
    else:
        gap = _stat(None, reason="needs both test_id and test_ood splits")
    return {"schema_version": SCHEMA_VERSION, "threshold": threshold, "n_bootstrap": n_bootstrap, "seed": seed,
            "ci_level": CI_LEVEL, "definitions": DEFINITIONS, "splits": splits, "id_ood_gap": gap,
            "false_positive_rates": false_positives}


# --------------------------------------------------------------------------------------------------
# False-positive rates of the reals, per source and per stratum


def _mirrored(spec: dict, n_real: int, n_called: int) -> dict:
    """The FPR of all reals from the split's specificity: the exact count ratio, the interval mirrored."""
    if not n_real:
        return _stat(None, reason="no reals")
    ci = spec["ci"]
    return {"value": n_called / n_real, "ci": None if ci is None else [1.0 - ci[1], 1.0 - ci[0]]}


def _source_name(value) -> str | None:
    """A row's source as text; None when it has none (missing or blank)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value)
    return text if text.strip() else None


def _fpr_entry(called: np.ndarray, rng: np.random.Generator, n_bootstrap: int) -> dict:
    """{n_real, n_called_fake, fpr} of a group of reals (``called``: called fake or not, per real)."""
    n, k = int(len(called)), int(called.sum())
    draws = rng.binomial(n, k / n, size=n_bootstrap) / n if n else None
    return {"n_real": n, "n_called_fake": k, "fpr": _stat(k / n if n else None, draws, reason="no reals")}


def _false_positive_report(rows: pd.DataFrame, split_report: dict, threshold: float, n_bootstrap: int,
                           seed: int) -> dict:
    split = str(rows["split"].iloc[0])
    reals = rows[rows["label"] == 0]
    called = reals["score"].to_numpy() >= threshold
    out: dict[str, Any] = {"n_real": int(len(reals)),
                           "all": {"n_real": int(len(reals)), "n_called_fake": int(called.sum()),
                                   "fpr": _mirrored(split_report["overall"]["specificity"], len(reals),
                                                   int(called.sum()))}}
    if "source" in reals.columns:
        source = reals["source"].astype(object).map(_source_name)
        groups = {str(v): (source == v).to_numpy() for v in sorted(source.dropna().unique())}
        if source.isna().any():
            groups["_unknown"] = source.isna().to_numpy()
        out["by_source"] = {name: _fpr_entry(called[mask], _sub_rng(seed, split, "fpr", "source", name), n_bootstrap)
                            for name, mask in groups.items()}
    else:
        out["note"] = "the predictions have no source column: no false-positive rate per source"
    by_stratum = {}
    for column, buckets in _stratum_columns(reals).items():
        names = [b[0] for b in DURATION_BUCKETS] if column == "duration" else sorted(buckets.dropna().unique())
        entries = {}
        for name in names:
            mask = (buckets == name).to_numpy()
            if mask.any():
                entries[str(name)] = _fpr_entry(called[mask], _sub_rng(seed, split, "fpr", column, str(name)),
                                                n_bootstrap)
        unknown = buckets.isna().to_numpy()
        if unknown.any():
            entries["_unknown"] = _fpr_entry(called[unknown], _sub_rng(seed, split, "fpr", column, "_unknown"),
                                             n_bootstrap)
        by_stratum[column] = entries
    out["by_stratum"] = by_stratum
    return out


# --------------------------------------------------------------------------------------------------
# Thresholds frozen on a calibration split


def _calibration_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds, true positives, false positives) of every candidate threshold, strictest first: just
    above the highest score (nothing called fake), then each distinct score."""
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], labels[order]
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    tps = np.r_[0, np.cumsum(y == 1)[last]]
    fps = np.r_[0, np.cumsum(y == 0)[last]]
    return np.r_[np.nextafter(s[0], np.inf), s[last]], tps, fps


def _rates(tp: int, fp: int, n_pos: int, n_neg: int) -> dict[str, float | None]:
    def ratio(a, b):
        return float(a / b) if b else None
    return {"tpr": ratio(tp, n_pos), "fpr": ratio(fp, n_neg), "f1": ratio(2 * tp, tp + fp + n_pos),
            "precision": ratio(tp, tp + fp)}


def _choose_thresholds(labels: np.ndarray, scores: np.ndarray) -> dict[str, dict]:
    """The thresholds of :data:`FROZEN_RULES` on calibration rows (DEFINITIONS["frozen_thresholds"])."""
    n_pos, n_neg = int((labels == 1).sum()), int((labels == 0).sum())
    thresholds, tps, fps = _calibration_curve(labels, scores)
    out = {}
    for name, budget in FROZEN_RULES.items():
        entry: dict[str, Any] = {"threshold": None, "target_fpr": budget,
                                 "resolvable": None if budget is None else n_neg >= min_reals(budget)}
        if not n_pos or (budget is not None and not n_neg):
            entry.update(on_calibration=None,
                         reason=f"the calibration split has no {'fakes' if not n_pos else 'reals'}")
            out[name] = entry
            continue
        if budget is None:
            k = int(np.argmax(2 * tps / (tps + fps + n_pos)))  # the first maximum: the highest threshold
        else:
            best = tps[fps / n_neg <= budget].max()  # feasible points form a prefix; the strictest is always in
            k = int(np.argmax(tps >= best))
        entry.update(threshold=float(thresholds[k]), on_calibration=_rates(int(tps[k]), int(fps[k]), n_pos, n_neg))
        out[name] = entry
    return out


def _applied(rows: pd.DataFrame, threshold: float, rng: np.random.Generator, n_bootstrap: int) -> dict:
    """TPR, FPR, F1, precision (with binomial-bootstrap CIs) and the counts of ``rows`` at ``threshold``."""
    labels = rows["label"].to_numpy()
    scores = rows["score"].to_numpy()
    strata = _Strata(labels, rows["generator"].to_numpy(), scores >= threshold)
    draws = _binomial_draws(rng, strata, n_bootstrap)
    block = _threshold_block(list(strata.n), strata, draws, ["recall", "fpr", "f1", "precision"])
    return {"threshold": threshold, "confusion": confusion(labels, scores, threshold), "tpr": block["recall"],
            "fpr": block["fpr"], "f1": block["f1"], "precision": block["precision"]}


def frozen_thresholds(calibration: pd.DataFrame | None, predictions: pd.DataFrame, threshold: float = 0.5,
                      n_bootstrap: int = 1000, seed: int = 0) -> dict:
    """Thresholds chosen on ``calibration`` (the validation split's predictions, same columns as for
    :func:`compute_report`; None when there is none) and applied unchanged to every split of ``predictions``
    (DEFINITIONS["frozen_thresholds"]). Nothing of ``predictions`` enters the choice.

    Returns a JSON-able dict::

        {"chosen_on": split name or None, "n", "n_fake", "n_real"[, "reason"],
         "thresholds": {"fixed"|"max_f1"|"fpr_5pct"|"fpr_1pct":
                        {"threshold", "target_fpr", "resolvable", "on_calibration": {tpr, fpr, f1, precision}
                         [, "reason"]}},
         "splits": {split: {"max_f1"|"fpr_5pct"|"fpr_1pct":
                            {"threshold", "confusion", "tpr", "fpr", "f1", "precision"}}}}

    ``fixed`` is the report's own threshold; its test numbers are the report's ``overall``. A split of
    ``predictions`` with the calibration split's name is left out of ``splits`` (it would be scored on the
    rows its thresholds were chosen on).
    """
    check_options(threshold, n_bootstrap, seed)
    test = _canonical_order(_check(predictions))
    cal = None if calibration is None or not len(calibration) else _canonical_order(_check(calibration))
    out: dict[str, Any] = {"chosen_on": None, "n": 0, "n_fake": 0, "n_real": 0}
    fixed: dict[str, Any] = {"threshold": threshold, "target_fpr": None, "resolvable": None, "on_calibration": None}
    if cal is None:
        out["reason"] = "no calibration rows (the dataset has no validation split): no thresholds were frozen"
        out.update(thresholds={"fixed": fixed}, splits={})
        return out
    names = sorted(cal["split"].unique())
    if len(names) > 1:
        raise MetricsError(f"calibration rows come from {len(names)} splits ({', '.join(names)}); thresholds are "
                           "chosen on one split")
    labels, scores = cal["label"].to_numpy(), cal["score"].to_numpy()
    n_pos, n_neg = int(labels.sum()), int(len(labels) - labels.sum())
    c = confusion(labels, scores, threshold)
    fixed["on_calibration"] = _rates(c["tp"], c["fp"], n_pos, n_neg)
    chosen = {"fixed": fixed, **_choose_thresholds(labels, scores)}
    out.update(chosen_on=names[0], n=int(len(cal)), n_fake=n_pos, n_real=n_neg, thresholds=chosen)
    applied: dict[str, dict] = {}
    for split in sorted(set(test["split"]) - {names[0]}, key=_split_key):
        rows = test[test["split"] == split]
        applied[split] = {name: _applied(rows, entry["threshold"], _sub_rng(seed, split, "frozen", name), n_bootstrap)
                          for name, entry in chosen.items() if name != "fixed" and entry["threshold"] is not None}
    out["splits"] = applied
    return out


def per_generator_rows(report: dict) -> list[dict]:
    """Flat rows (split, generator, n_fake, n_real, tpr, tpr_ci, f1, f1_ci) for tables and plots."""
    rows = []
    for split, s in report["splits"].items():
        for gen, g in s["per_generator"].items():
            rows.append({"split": split, "generator": gen, "n_fake": g["n_fake"], "n_real": g["n_real"],
                         "tpr": g["tpr"]["value"], "tpr_ci": g["tpr"]["ci"], "f1": g["f1"]["value"],
                         "f1_ci": g["f1"]["ci"]})
    return rows
