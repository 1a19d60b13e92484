"""Every metric mom-bench reports, in one place: used by `mom-bench evaluate` and by leaderboard scoring.

Conventions (the same as MoM and SONICS): a score is P(fake); label 1 is fake and is the positive class;
an item is called fake when ``score >= threshold`` (0.5 by default).

The entry point is :func:`compute_report`, which turns a table of predictions (columns ``id``, ``split``,
``generator``, ``label``, ``score`` and optionally ``duration_s``, ``vocals``, ``language``) into a
JSON-able report with 95 % bootstrap confidence intervals. Lower-level functions (:func:`confusion`,
:func:`roc_auc`, :func:`eer`, :func:`roc_points`, :func:`det_points`) are plain numpy and are checked
against scikit-learn in the tests.

Confidence intervals come from a bootstrap stratified by (label, generator): every resample keeps the
number of reals and of each generator's fakes, so a small generator (Suno v4 has 48 songs in MoM) cannot
vanish from a resample. For metrics that depend only on the confusion counts, resampling ``n`` items of a
stratum with replacement and counting those called fake is exactly a Binomial(n, p) draw with ``p`` the
stratum's observed rate; the counts are drawn that way, which gives the same distribution as resampling
rows at a fraction of the cost. AUC and EER need the scores, so their resamples draw rows.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

SCHEMA_VERSION = 1
CI_LEVEL = 0.95

#: Order in which splits are reported; unknown split names follow, sorted.
SPLIT_ORDER = ("train", "validation", "test_id", "test_ood")

#: Duration strata of SONICS (seconds): (name, lower bound exclusive, upper bound inclusive).
DURATION_BUCKETS = (("<=60s", -math.inf, 60.0), ("60-120s", 60.0, 120.0), (">120s", 120.0, math.inf))

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
    "ci": "95 % percentile bootstrap interval, stratified by (label, generator), seeded; when the "
          "percentile interval does not contain the point estimate (possible for skewed statistics on "
          "tiny samples) it is widened to include it. A rate observed as exactly 0 or 1 (e.g. TPR 1.0 on 9 "
          "fakes) gets a zero-width interval: the bootstrap cannot see beyond the sample, so read such intervals "
          "with the sample size in mind",
    "null": "a metric is null (with a 'reason') when it is undefined on the data, e.g. AUC on a split "
            "with no reals",
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


# --------------------------------------------------------------------------------------------------
# Bootstrap helpers


def _percentile_ci(draws: np.ndarray, value: float | None) -> list[float] | None:
    draws = np.asarray(draws, dtype=float)
    draws = draws[np.isfinite(draws)]
    if value is None or not len(draws):
        return None
    alpha = (1 - CI_LEVEL) / 2
    lo, hi = np.quantile(draws, [alpha, 1 - alpha])
    return [float(min(lo, value)), float(max(hi, value))]


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


def _ranked_draws(rng, labels, scores, strata: _Strata, n_bootstrap: int) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap draws of AUC and EER, resampling rows within each (label, generator) stratum.

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

    auc = np.empty(n_bootstrap)
    eers = np.empty(n_bootstrap)
    chunk = max(1, 4_000_000 // max(1, len(scores)))
    for lo in range(0, n_bootstrap, chunk):
        b = min(chunk, n_bootstrap - lo)
        weights = np.zeros((b, len(scores)))
        for _, _, idx in strata.groups:
            m = len(idx)
            picks = rng.integers(0, m, size=(b, m)) + (np.arange(b) * m)[:, None]
            weights[:, rank_of[idx]] = np.bincount(picks.ravel(), minlength=b * m).reshape(b, m)
        tp = np.cumsum(np.add.reduceat(weights * is_pos, starts, axis=1), axis=1) / n_pos
        fp = np.cumsum(np.add.reduceat(weights * ~is_pos, starts, axis=1), axis=1) / n_neg
        tpr = np.concatenate([np.zeros((b, 1)), tp], axis=1)
        fpr = np.concatenate([np.zeros((b, 1)), fp], axis=1)
        auc[lo:lo + b] = np.sum(np.diff(fpr, axis=1) * (tpr[:, 1:] + tpr[:, :-1]) / 2, axis=1)
        diff = (1.0 - tpr) - fpr
        i = np.argmax(diff <= 0, axis=1)  # > 0: the first point has diff 1, the last -1
        rows = np.arange(b)
        d0, d1 = diff[rows, i - 1], diff[rows, i]
        f0, f1 = fpr[rows, i - 1], fpr[rows, i]
        eers[lo:lo + b] = f0 + d0 / (d0 - d1) * (f1 - f0)
    return auc, eers


# --------------------------------------------------------------------------------------------------
# The report


def _plain(v):
    """numpy scalars as plain Python values, so messages read `label 2`, not `label np.int64(2)`."""
    return v.item() if hasattr(v, "item") else v


def _check(df: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in _REQUIRED if c not in df.columns]
    if missing:
        raise ValueError(f"predictions lack column(s) {', '.join(missing)}; need {', '.join(_REQUIRED)}")
    df = df.reset_index(drop=True)
    labels = pd.to_numeric(df["label"], errors="coerce")
    bad = df.index[~labels.isin([0, 1])]
    if len(bad):
        i = bad[0]
        raise ValueError(f"row {i} (id {df.at[i, 'id']!r}): label {_plain(df.at[i, 'label'])!r} is not 0 (real) or 1 "
                         f"(fake); {len(bad)} such row(s)")
    scores = pd.to_numeric(df["score"], errors="coerce")
    bad = df.index[~(np.isfinite(scores) & (scores >= 0) & (scores <= 1))]
    if len(bad):
        i = bad[0]
        raise ValueError(f"row {i} (id {df.at[i, 'id']!r}): score {_plain(df.at[i, 'score'])!r} is not a probability "
                         f"in [0, 1]; {len(bad)} such row(s)")
    dup = df.duplicated(["split", "id"], keep=False)
    if dup.any():
        i = df.index[dup][0]
        raise ValueError(f"id {df.at[i, 'id']!r} appears {int(dup.sum())} times in split {df.at[i, 'split']!r}; "
                         "every item must have exactly one prediction")
    out = df.copy()
    out["label"] = labels.astype(int)
    out["score"] = scores.astype(float)
    out["generator"] = out["generator"].astype(str)
    out["split"] = out["split"].astype(str)
    return out


def _threshold_block(keys, strata, draws, names) -> dict:
    """{metric: {value, ci}} for threshold metrics over the strata ``keys``."""
    point = threshold_metrics(*_counts(keys, strata))
    boot = threshold_metrics(*_counts(keys, strata, draws))
    out = {}
    for name in names:
        value = float(point[name])
        reason = None
        if not math.isfinite(value):
            reason = {"recall": "no fakes", "specificity": "no reals", "precision": "nothing called fake",
                      "balanced_accuracy": "needs both reals and fakes", "f1": "no fakes and nothing called "
                      "fake"}.get(name, "no rows")
        out[name] = _stat(value, boot[name], reason)
    return out


def _split_report(rows: pd.DataFrame, threshold: float, n_bootstrap: int,
                  rng: np.random.Generator) -> tuple[dict[str, Any], np.ndarray]:
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
    if n_fake and n_real:
        auc_draws, eer_draws = _ranked_draws(rng, labels, scores, strata, n_bootstrap)
        overall["auc"] = _stat(roc_auc(labels, scores), auc_draws)
        overall["eer"] = _stat(eer(labels, scores), eer_draws)
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
              "per_generator": per_generator, "strata": _strata_report(rows, threshold, n_bootstrap, rng)}
    f1_draws = threshold_metrics(*_counts(all_keys, strata, draws))["f1"]
    return report, f1_draws


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


def compute_report(df: pd.DataFrame, threshold: float = 0.5, n_bootstrap: int = 1000, seed: int = 0) -> dict:
    """Score predictions: overall, per generator, per stratum, per split, and the ID-OOD gap.

    ``df`` has one row per item with ``id``, ``split``, ``generator`` (``real`` for reals), ``label`` (0 real,
    1 fake) and ``score`` (P(fake) in [0, 1]); optional ``duration_s``, ``vocals``, ``language`` add strata.

    Returns a JSON-able dict::

        {"schema_version", "threshold", "n_bootstrap", "seed", "ci_level", "definitions",
         "splits": {split: {"n", "n_fake", "n_real", "confusion": {tp, fp, tn, fn},
                            "overall": {f1, precision, recall, specificity, accuracy, balanced_accuracy,
                                        auc, eer},            # each {"value", "ci"[, "reason"]}
                            "per_generator": {g: {"n_fake", "n_real", "tpr", "f1"}},
                            "strata": {"duration"|"vocals"|"language": {bucket: {...}}}}},
         "id_ood_gap": {"value", "ci"[, "reason"]}}

    Raises ValueError naming the first bad row when a label is not 0/1, a score is not in [0, 1] or an id
    repeats within a split. The same ``seed`` gives the same intervals.
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    if n_bootstrap < 1:
        raise ValueError("n_bootstrap must be at least 1")
    df = _check(df)
    rng = np.random.default_rng(seed)
    splits: dict[str, dict[str, Any]] = {}
    f1_draws: dict[str, np.ndarray] = {}  # split -> bootstrap draws of its overall F1, for the gap's CI
    for name in sorted(df["split"].unique(), key=_split_key):
        splits[name], f1_draws[name] = _split_report(df[df["split"] == name], threshold, n_bootstrap, rng)

    if "test_id" in splits and "test_ood" in splits:
        a, b = splits["test_id"], splits["test_ood"]
        va, vb = a["overall"]["f1"]["value"], b["overall"]["f1"]["value"]
        gap = _stat(None if va is None or vb is None else va - vb, f1_draws["test_id"] - f1_draws["test_ood"],
                    reason="F1 undefined on test_id or test_ood")
    else:
        gap = _stat(None, reason="needs both test_id and test_ood splits")
    return {"schema_version": SCHEMA_VERSION, "threshold": threshold, "n_bootstrap": n_bootstrap, "seed": seed,
            "ci_level": CI_LEVEL, "definitions": DEFINITIONS, "splits": splits, "id_ood_gap": gap}


def per_generator_rows(report: dict) -> list[dict]:
    """Flat rows (split, generator, n_fake, n_real, tpr, tpr_ci, f1, f1_ci) for tables and plots."""
    rows = []
    for split, s in report["splits"].items():
        for gen, g in s["per_generator"].items():
            rows.append({"split": split, "generator": gen, "n_fake": g["n_fake"], "n_real": g["n_real"],
                         "tpr": g["tpr"]["value"], "tpr_ci": g["tpr"]["ci"], "f1": g["f1"]["value"],
                         "f1_ci": g["f1"]["ci"]})
    return rows
