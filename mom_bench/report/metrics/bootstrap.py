"""Bootstrap confidence intervals, stratified by (label, generator) (``DEFINITIONS["ci"]``).

Metrics of the confusion counts draw the counts (:func:`_binomial_draws`: resampling ``n`` items of a stratum
and counting those called fake is a Binomial(n, p) draw); metrics of the scores resample rows
(:func:`_row_draws` for the built-in ones, all at once; :func:`generic_row_draws` for any other function).
"""
from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import numpy.typing as npt

from mom_bench.report import documents
from mom_bench.report.metrics.definitions import CI_LEVEL, ECE_BINS, FPR_TARGETS
from mom_bench.report.metrics.scores import Count, FloatArray, _interp_tpr

#: a stratum: (label, generator)
StratumKey = tuple[int, str]

def _percentile_ci(draws: npt.ArrayLike, value: float | None) -> list[float] | None:
    """The percentile interval of the finite draws, as computed (it need not contain ``value``: see
    DEFINITIONS["ci"]); None when the value is undefined or no draw is finite."""
    finite = np.asarray(draws, dtype=float)
    finite = finite[np.isfinite(finite)]
    if value is None or not len(finite):
        return None
    alpha = (1 - CI_LEVEL) / 2
    lo, hi = np.quantile(finite, [alpha, 1 - alpha])
    return [float(lo), float(hi)]


def _stat(value: float | None, draws: npt.ArrayLike | None = None, reason: str | None = None) -> documents.Statistic:
    point = None if value is None or (isinstance(value, float) and not math.isfinite(value)) else float(value)
    out: documents.Statistic = {"value": point, "ci": _percentile_ci(draws, point) if draws is not None else None}
    if point is None:
        out["reason"] = reason or "undefined on these rows"
    return out


class _Strata:
    """Rows grouped by (label, generator), with per-group counts of items called fake."""

    def __init__(self, labels: np.ndarray, generators: np.ndarray, pred: np.ndarray) -> None:
        members: dict[StratumKey, list[int]] = {}
        for i, key in enumerate(zip(labels.tolist(), generators.tolist())):
            members.setdefault((int(key[0]), str(key[1])), []).append(i)
        self.groups = [(lab, gen, np.asarray(idx)) for (lab, gen), idx in sorted(members.items())]
        self.n = {(lab, gen): len(idx) for lab, gen, idx in self.groups}
        self.called = {(lab, gen): int(pred[idx].sum()) for lab, gen, idx in self.groups}


def _binomial_draws(rng: np.random.Generator, strata: _Strata, n_bootstrap: int) -> dict[StratumKey, np.ndarray]:
    """Per stratum, bootstrap draws of how many of its items are called fake."""
    return {key: rng.binomial(n, strata.called[key] / n, size=n_bootstrap) if n else np.zeros(n_bootstrap)
            for key, n in strata.n.items()}


def _counts(keys: Iterable[StratumKey], strata: _Strata, draws: dict[StratumKey, np.ndarray] | None = None
            ) -> tuple[Count, Count, Count, Count]:
    """(tp, fp, tn, fn) summed over the given strata keys: observed, or per bootstrap draw."""
    tp: Count = 0
    fp: Count = 0
    tn: Count = 0
    fn: Count = 0
    for key in keys:
        n = strata.n[key]
        called = strata.called[key] if draws is None else draws[key]
        if key[0] == 1:
            tp, fn = tp + called, fn + (n - called)
        else:
            fp, tn = fp + called, tn + (n - called)
    return tp, fp, tn, fn


def _weight_chunks(rng: np.random.Generator, strata: _Strata, rank_of: np.ndarray,
                   n_bootstrap: int) -> Iterator[tuple[int, FloatArray]]:
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
    ece: FloatArray = np.sum(gaps, axis=0) / max(total, 1)  # fancy indexing leaves numpy untyped
    return ece


def _roc_curves(weights: np.ndarray, is_pos: np.ndarray, starts: np.ndarray, n_pos: int,
                n_neg: int) -> tuple[np.ndarray, np.ndarray]:
    """(fpr, tpr) of every resample (row of ``weights``, rows sorted by descending score; ``starts``: the
    first row of each run of equal scores), from (0, 0) to (1, 1)."""
    b = len(weights)
    tp = np.cumsum(np.add.reduceat(weights * is_pos, starts, axis=1), axis=1) / n_pos
    fp = np.cumsum(np.add.reduceat(weights * ~is_pos, starts, axis=1), axis=1) / n_neg
    return np.concatenate([np.zeros((b, 1)), fp], axis=1), np.concatenate([np.zeros((b, 1)), tp], axis=1)


def _auc(fpr: np.ndarray, tpr: np.ndarray) -> np.ndarray:
    area: np.ndarray = np.sum(np.diff(fpr, axis=1) * (tpr[:, 1:] + tpr[:, :-1]) / 2, axis=1)
    return area


def auc_draws(rng: np.random.Generator, labels: np.ndarray, scores: np.ndarray, strata: _Strata,
              n_bootstrap: int) -> np.ndarray:
    """Bootstrap draws of the ROC AUC alone (both classes present), resampling rows within each (label,
    generator) stratum as :func:`_row_draws` does: for a subset of a split (one decoder family's fakes and
    the split's reals) where the other score statistics are not reported."""
    order = np.argsort(-scores, kind="mergesort")
    rank_of = np.empty(len(order), dtype=int)
    rank_of[order] = np.arange(len(order))
    is_pos = labels[order] == 1
    starts = np.r_[0, np.nonzero(np.diff(scores[order]))[0] + 1]
    n_pos, n_neg = int(is_pos.sum()), int((~is_pos).sum())
    out = np.empty(n_bootstrap)
    for lo, weights in _weight_chunks(rng, strata, rank_of, n_bootstrap):
        out[lo:lo + len(weights)] = _auc(*_roc_curves(weights, is_pos, starts, n_pos, n_neg))
    return out


def _row_draws(rng: np.random.Generator, labels: np.ndarray, scores: np.ndarray, strata: _Strata, n_bootstrap: int,
               ranked: bool) -> dict[str, np.ndarray]:
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
        fpr, tpr = _roc_curves(weights, is_pos, starts, n_pos, n_neg)
        out["auc"][part] = _auc(fpr, tpr)
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


def generic_row_draws(function: Callable[[np.ndarray, np.ndarray], float | None], labels: np.ndarray,
                      scores: np.ndarray, strata: _Strata, n_bootstrap: int,
                      rng: np.random.Generator) -> np.ndarray:
    """Bootstrap draws of ``function(labels, scores)`` over row resamples within each (label, generator)
    stratum, one call per resample (NaN where it gives None). Slower than :func:`_row_draws`, which serves
    the built-in score metrics; ``rng`` is the metric's own, so adding a metric changes no other interval."""
    out = np.empty(n_bootstrap)
    for i in range(n_bootstrap):
        idx = np.concatenate([members[rng.integers(0, len(members), size=len(members))]
                              for _, _, members in strata.groups]) if strata.groups else np.array([], dtype=int)
        value = function(labels[idx], scores[idx])
        out[i] = np.nan if value is None else value
    return out
