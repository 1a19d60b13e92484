"""The report of a table of predictions (:func:`compute_report`) and the thresholds frozen on a calibration
split (:func:`frozen_thresholds`): the blocks of results.json's ``metrics`` and ``frozen_thresholds``."""
from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any, TypedDict, cast

import numpy as np
import pandas as pd

from mom_bench.core.splits import TEST_ID, TEST_OOD
from mom_bench.report import documents
from mom_bench.report.metrics import registry
from mom_bench.report.metrics.bootstrap import (
    StratumKey,
    _binomial_draws,
    _counts,
    _row_draws,
    _stat,
    _Strata,
    _sub_rng,
    auc_draws,
    generic_row_draws,
)
from mom_bench.report.metrics.definitions import (
    _REQUIRED,
    CI_LEVEL,
    DECODER_FAMILY_DEFINITION,
    DURATION_BUCKETS,
    ECE_BINS,
    FPR_TARGETS,
    FROZEN_RULES,
    REAL_POOL_DEFINITION,
    SCHEMA_VERSION,
    SPLIT_ORDER,
    MetricsError,
)
from mom_bench.report.metrics.registry import threshold_metrics
from mom_bench.report.metrics.scores import (
    brier_score,
    confusion,
    expected_calibration_error,
    min_reals,
    roc_auc,
    tpr_at_fpr,
)


def _plain(v: Any) -> Any:  # a table cell: any value pandas holds
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


def _threshold_block(keys: Iterable[StratumKey], strata: _Strata, draws: dict[StratumKey, np.ndarray],
                     names: Iterable[str]) -> dict[str, documents.Statistic]:
    """{metric: {value, ci}} for threshold metrics over the strata ``keys``."""
    point = threshold_metrics(*_counts(keys, strata))
    boot = threshold_metrics(*_counts(keys, strata, draws))
    out: dict[str, documents.Statistic] = {}
    for name in names:
        value = float(point[name])
        reason = None if math.isfinite(value) else registry.get(name).undefined
        out[name] = _stat(value, boot[name], reason)
    return out


def _subset_auc(rows: pd.DataFrame, mask: np.ndarray, rng: np.random.Generator,
                n_bootstrap: int) -> documents.Statistic:
    """The ROC AUC of the rows in ``mask`` (both classes present) with its interval, resampled within each
    (label, generator) stratum from ``rng``, a generator of its own so that no other interval moves."""
    labels, scores = rows["label"].to_numpy()[mask], rows["score"].to_numpy()[mask]
    strata = _Strata(labels, rows["generator"].to_numpy()[mask], np.zeros(len(labels), dtype=bool))
    return _stat(roc_auc(labels, scores), auc_draws(rng, labels, scores, strata, n_bootstrap))


def _family_report(rows: pd.DataFrame, strata: _Strata, draws: dict[StratumKey, np.ndarray],
                   families: Mapping[str, str], n_bootstrap: int, seed: int,
                   split: str) -> dict[str, documents.DecoderFamilyReport]:
    """Per decoder family: its fakes (every generator of the family in the split, pooled) against all the
    split's reals. The TPR interval sums the per-generator count draws already made for ``per_generator``; the
    AUC resamples rows from a generator of its own, so asking for families changes no other interval."""
    members: dict[str, list[str]] = {}
    for gen in sorted({k[1] for k in strata.n if k[0] == 1}):
        members.setdefault(families.get(gen) or documents.UNSPECIFIED_DECODER_FAMILY, []).append(gen)
    real_keys = [k for k in strata.n if k[0] == 0]
    n_real = sum(strata.n[k] for k in real_keys)
    labels = rows["label"].to_numpy()
    generators = rows["generator"].to_numpy()
    out: dict[str, documents.DecoderFamilyReport] = {}
    for family in sorted(members):
        gens = members[family]
        fake_keys: list[StratumKey] = [(1, g) for g in gens]
        tpr = _threshold_block(fake_keys, strata, draws, ["recall"])["recall"]
        if n_real:
            auc = _subset_auc(rows, (labels == 0) | np.isin(generators, gens),
                              _sub_rng(seed, split, "decoder_family", family), n_bootstrap)
        else:
            auc = _stat(None, reason="no reals in this split")
        out[family] = {"n_fake": sum(strata.n[k] for k in fake_keys), "n_real": n_real, "generators": gens,
                       "tpr": tpr, "auc": auc}
    return out


def _split_report(rows: pd.DataFrame, threshold: float, n_bootstrap: int, rng: np.random.Generator,
                  seed: int, families: Mapping[str, str] | None = None) -> tuple[documents.SplitReport, np.ndarray]:
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

    ranked = bool(n_fake and n_real)
    # With both classes the row resamples come from the report's generator, as AUC and EER always did; a
    # one-class split draws its Brier and ECE resamples from a generator of its own, so that adding them
    # changed none of the other intervals.
    split = str(rows["split"].iloc[0])
    row_rng = rng if ranked else _sub_rng(seed, split, "calibration")
    row_draws = _row_draws(row_rng, labels, scores, strata, n_bootstrap, ranked)
    overall = _overall(labels, scores, strata, draws, row_draws, n_bootstrap, seed, split)

    columns = registry.generator_columns()
    per_generator: dict[str, documents.GeneratorReport] = {}
    for gen in sorted({k[1] for k in all_keys if k[0] == 1}):
        keys = [(1, gen)] + real_keys
        block = _threshold_block(keys, strata, draws, [m.key for m, _ in columns])
        # its metrics are the registry's per-generator columns: keys the type checker cannot see
        per_generator[gen] = cast(documents.GeneratorReport, {"n_fake": strata.n[(1, gen)], "n_real": n_real,
                                                             **{column.key: block[m.key] for m, column in columns}})

    report: documents.SplitReport = {
        "n": int(len(rows)), "n_fake": n_fake, "n_real": n_real,
        "confusion": confusion(labels, scores, threshold), "overall": overall,
        "per_generator": per_generator, "strata": _strata_report(rows, threshold, n_bootstrap, rng),
        "tpr_at_fpr": _tpr_at_fpr_block(labels, scores, row_draws, n_real),
        "calibration": {"n_bins": ECE_BINS,
                        "ece": _stat(expected_calibration_error(labels, scores), row_draws["ece"]),
                        "brier": _stat(brier_score(labels, scores), row_draws["brier"])}}
    if families is not None:
        report["per_decoder_family"] = _family_report(rows, strata, draws, families, n_bootstrap, seed, split)
    f1_draws = threshold_metrics(*_counts(all_keys, strata, draws))["f1"]
    return report, f1_draws


def _overall(labels: np.ndarray, scores: np.ndarray, strata: _Strata, draws: dict[StratumKey, np.ndarray],
             row_draws: dict[str, np.ndarray],
             n_bootstrap: int, seed: int, split: str) -> dict[str, documents.Statistic]:
    """Every registered metric on the whole split, in the registry's order."""
    counted = _threshold_block(list(strata.n), strata, draws, [m.key for m in registry.all_metrics() if m.counts])
    n_fake = int(labels.sum())
    ranked = bool(n_fake and len(labels) - n_fake)
    overall: dict[str, documents.Statistic] = {}
    for metric in registry.all_metrics():
        if metric.counts is not None:
            overall[metric.key] = counted[metric.key]
        elif ranked:
            # the built-in score metrics take their draws from _row_draws; any other resamples rows itself,
            # from a generator of its own, so registering it changes no other interval
            function = metric.scores
            assert function is not None  # a metric has counts or scores (Metric.__post_init__)
            boot = row_draws.get(metric.key)
            if boot is None:
                boot = generic_row_draws(function, labels, scores, strata, n_bootstrap,
                                         _sub_rng(seed, split, "metric", metric.key))
            overall[metric.key] = _stat(function(labels, scores), boot)
        else:
            overall[metric.key] = _stat(None, reason="no reals in this split" if n_fake else "no fakes in this split")
    return overall


def _tpr_at_fpr_block(labels: np.ndarray, scores: np.ndarray, row_draws: dict[str, np.ndarray],
                      n_real: int) -> dict[str, documents.TprAtFpr]:
    """{"0.05": {target_fpr, value, ci[, reason], resolvable, min_reals}, ...} for :data:`FPR_TARGETS`."""
    out: dict[str, documents.TprAtFpr] = {}
    for t in FPR_TARGETS:
        key = f"{t:g}"
        value = tpr_at_fpr(labels, scores, t)
        why = "no reals in this split" if not n_real else "no fakes in this split"
        stat = _stat(value, row_draws.get(f"tpr@{key}"), reason=why)
        out[key] = {"target_fpr": t, **stat, "resolvable": n_real >= min_reals(t), "min_reals": min_reals(t)}
    return out


def _stratum_columns(rows: pd.DataFrame) -> dict[str, pd.Series]:
    """Stratum name -> a Series of the bucket of every row (NaN: row not in any bucket)."""
    out: dict[str, pd.Series] = {}
    if "duration_s" in rows.columns:
        dur = pd.to_numeric(rows["duration_s"], errors="coerce")
        bucket: pd.Series = pd.Series(np.nan, index=rows.index, dtype=object)  # bucket names, NaN for none
        for name, lo, hi in DURATION_BUCKETS:
            bucket[(dur > lo) & (dur <= hi)] = name
        out["duration"] = bucket
    if "vocals" in rows.columns:
        def _vocals(v: object) -> str | float:
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


def _strata_report(rows: pd.DataFrame, threshold: float, n_bootstrap: int,
                   rng: np.random.Generator) -> documents.Strata:
    out: dict[str, dict[str, Any]] = {}
    for column, buckets in _stratum_columns(rows).items():
        entries: dict[str, Any] = {}
        names = [b[0] for b in DURATION_BUCKETS] if column == "duration" else sorted(buckets.dropna().unique())
        for name in names:
            sub = rows[buckets == name]
            if sub.empty:
                continue
            labels = sub["label"].to_numpy()
            strata = _Strata(labels, sub["generator"].to_numpy(), sub["score"].to_numpy() >= threshold)
            draws = _binomial_draws(rng, strata, n_bootstrap)
            block = _threshold_block(list(strata.n), strata, draws, [m.key for m, _ in registry.stratum_columns()])
            entries[str(name)] = {"n": int(len(sub)), "n_fake": int(labels.sum()),
                                  "n_real": int(len(labels) - labels.sum()), **block}
        missing = int(buckets.isna().sum())
        if missing:
            entries["_unknown"] = {"n": missing, "note": f"rows with no usable {column} value"}
        out[column] = entries
    return cast(documents.Strata, out)  # one entry per stratum column present, buckets of registry metrics


def _split_key(name: str) -> tuple[int, str]:
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


def compute_report(df: pd.DataFrame, threshold: float = 0.5, n_bootstrap: int = 1000,
                   seed: int = 0, decoder_families: Mapping[str, str] | None = None) -> documents.Report:
    """Score predictions: overall, per generator, per stratum, per split, the ID-OOD gap, TPR at fixed
    false-positive budgets, calibration, and the false-positive rate of each real source and stratum.

    ``df`` has one row per item with ``id``, ``split``, ``generator`` (``real`` for reals), ``label`` (0 real,
    1 fake) and ``score`` (P(fake) in [0, 1]); optional ``duration_s``, ``vocals``, ``language`` add strata,
    and ``source`` (where each row came from) the false-positive rate per real source.

    Returns a JSON-able :class:`mom_bench.report.documents.Report`::

        {"schema_version", "threshold", "n_bootstrap", "seed", "ci_level", "definitions",
         "splits": {split: {"n", "n_fake", "n_real", "confusion": {tp, fp, tn, fn},
                            "overall": {f1, precision, recall, specificity, accuracy, balanced_accuracy,
                                        auc, eer},            # each {"value", "ci"[, "reason"]}
                            "per_generator": {g: {"n_fake", "n_real", "tpr", "f1"}},
                            "per_decoder_family": {family: {"n_fake", "n_real", "generators", "tpr",
                                                            "auc"}},   # with decoder_families only
                            "strata": {"duration"|"vocals"|"language": {bucket: {...}}},
                            "tpr_at_fpr": {"0.05"|"0.01"|"0.001": {"target_fpr", "value", "ci"[, "reason"],
                                                                   "resolvable", "min_reals"}},
                            "calibration": {"n_bins", "ece", "brier"}}},
         "id_ood_gap": {"value", "ci"[, "reason"]},
         "false_positive_rates": {split: {"n_real", "all", "by_source"|"note", "by_stratum"}},
         "per_real_pool": {split: {pool: {"n_real", "n_fake", "auc", "fpr"}}}}   # with a source column only

    ``decoder_families`` maps generator ids to their decoder family (the build's protocol,
    :attr:`mom_bench.dataset.protocols.BenchmarkProtocol.decoder_families`); with it every split gets
    ``per_decoder_family``, a generator it does not name counting as ``unspecified``. Without it (None) the
    report is what it was before families existed, which is what the leaderboard re-scores against; no other
    interval depends on whether it is given.

    ``per_real_pool`` scores all the fakes of each split with both classes against the reals of each pool (the
    ``source`` of the reals: in a build, the protocol's ``reals`` id), its FPR being the one of ``by_source``;
    it is absent when the predictions have no ``source`` column, and no other number depends on it.

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
    splits: dict[str, documents.SplitReport] = {}
    f1_draws: dict[str, np.ndarray] = {}  # split -> bootstrap draws of its overall F1, for the gap's CI
    false_positives: dict[str, documents.SplitFalsePositives] = {}
    pools: dict[str, dict[str, documents.RealPoolReport]] = {}
    for name in sorted(df["split"].unique(), key=_split_key):
        rows = df[df["split"] == name]
        splits[name], f1_draws[name] = _split_report(rows, threshold, n_bootstrap, rng, seed, decoder_families)
        false_positives[name] = _false_positive_report(rows, splits[name], threshold, n_bootstrap, seed)
        split_pools = _real_pool_report(rows, false_positives[name], n_bootstrap, seed)
        if split_pools is not None:
            pools[name] = split_pools

    if TEST_ID in splits and TEST_OOD in splits:
        a, b = splits[TEST_ID], splits[TEST_OOD]
        va, vb = a["overall"]["f1"]["value"], b["overall"]["f1"]["value"]
        gap = _stat(None if va is None or vb is None else va - vb, f1_draws[TEST_ID] - f1_draws[TEST_OOD],
                    reason="F1 undefined on test_id or test_ood")
    else:
        gap = _stat(None, reason="needs both test_id and test_ood splits")
    definitions = registry.definitions()
    if decoder_families is not None:
        definitions["per_decoder_family"] = DECODER_FAMILY_DEFINITION
    if "source" in df.columns:
        definitions["per_real_pool"] = REAL_POOL_DEFINITION
    report: documents.Report = {
        "schema_version": SCHEMA_VERSION, "threshold": threshold, "n_bootstrap": n_bootstrap, "seed": seed,
        "ci_level": CI_LEVEL, "definitions": definitions, "splits": splits, "id_ood_gap": gap,
        "false_positive_rates": false_positives}
    if "source" in df.columns:
        report["per_real_pool"] = pools
    return report


# --------------------------------------------------------------------------------------------------
# False-positive rates of the reals, per source and per stratum


def _mirrored(spec: documents.Statistic, n_real: int, n_called: int) -> documents.Statistic:
    """The FPR of all reals from the split's specificity: the exact count ratio, the interval mirrored."""
    if not n_real:
        return _stat(None, reason="no reals")
    ci = spec["ci"]
    return {"value": n_called / n_real, "ci": None if ci is None else [1.0 - ci[1], 1.0 - ci[0]]}


def _source_name(value: object) -> str | None:
    """A row's source as text; None when it has none (missing or blank)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value)
    return text if text.strip() else None


def _fpr_entry(called: np.ndarray, rng: np.random.Generator, n_bootstrap: int) -> documents.RealGroupFpr:
    """{n_real, n_called_fake, fpr} of a group of reals (``called``: called fake or not, per real)."""
    n, k = int(len(called)), int(called.sum())
    draws = rng.binomial(n, k / n, size=n_bootstrap) / n if n else None
    return {"n_real": n, "n_called_fake": k, "fpr": _stat(k / n if n else None, draws, reason="no reals")}


def _false_positive_report(rows: pd.DataFrame, split_report: documents.SplitReport, threshold: float,
                           n_bootstrap: int, seed: int) -> documents.SplitFalsePositives:
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
    return cast(documents.SplitFalsePositives, out)  # built key by key: by_source or note, as the rows allow


def _real_pool_report(rows: pd.DataFrame, false_positives: documents.SplitFalsePositives, n_bootstrap: int,
                      seed: int) -> dict[str, documents.RealPoolReport] | None:
    """Per pool of reals (the groups of ``by_source``): every fake of the split against that pool's reals.
    None where the split lacks a class or the predictions have no source column. The FPR is the one
    ``by_source`` holds (not computed again); the AUC resamples rows from a generator of its own, keyed by split
    and pool, so reporting pools changes no other number or interval."""
    by_source = false_positives.get("by_source")
    labels = rows["label"].to_numpy()
    n_fake = int(labels.sum())
    if by_source is None or not n_fake or n_fake == len(labels):
        return None
    split = str(rows["split"].iloc[0])
    pool = rows["source"].astype(object).map(_source_name).fillna("_unknown").to_numpy()
    out: dict[str, documents.RealPoolReport] = {}
    for name, group in by_source.items():  # sorted pools, then _unknown, as by_source lists them
        auc = _subset_auc(rows, (labels == 1) | ((labels == 0) & (pool == name)),
                          _sub_rng(seed, split, "real_pool", name), n_bootstrap)
        out[name] = {"n_real": group["n_real"], "n_fake": n_fake, "auc": auc, "fpr": {**group["fpr"]}}
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


def _rates(tp: int, fp: int, n_pos: int, n_neg: int) -> documents.CalibrationRates:
    def ratio(a: int, b: int) -> float | None:
        return float(a / b) if b else None
    return {"tpr": ratio(tp, n_pos), "fpr": ratio(fp, n_neg), "f1": ratio(2 * tp, tp + fp + n_pos),
            "precision": ratio(tp, tp + fp)}


def _choose_thresholds(labels: np.ndarray, scores: np.ndarray) -> dict[str, documents.FrozenThreshold]:
    """The thresholds of :data:`FROZEN_RULES` on calibration rows (DEFINITIONS["frozen_thresholds"])."""
    n_pos, n_neg = int((labels == 1).sum()), int((labels == 0).sum())
    thresholds, tps, fps = _calibration_curve(labels, scores)
    out: dict[str, documents.FrozenThreshold] = {}
    for name, budget in FROZEN_RULES.items():
        entry: dict[str, Any] = {"threshold": None, "target_fpr": budget,
                                 "resolvable": None if budget is None else n_neg >= min_reals(budget)}
        if not n_pos or (budget is not None and not n_neg):
            entry.update(on_calibration=None,
                         reason=f"the calibration split has no {'fakes' if not n_pos else 'reals'}")
            out[name] = cast(documents.FrozenThreshold, entry)  # built key by key, in the document's order
            continue
        if budget is None:
            k = int(np.argmax(2 * tps / (tps + fps + n_pos)))  # the first maximum: the highest threshold
        else:
            best = tps[fps / n_neg <= budget].max()  # feasible points form a prefix; the strictest is always in
            k = int(np.argmax(tps >= best))
        entry.update(threshold=float(thresholds[k]), on_calibration=_rates(int(tps[k]), int(fps[k]), n_pos, n_neg))
        out[name] = cast(documents.FrozenThreshold, entry)
    return out


def _applied(rows: pd.DataFrame, threshold: float, rng: np.random.Generator,
             n_bootstrap: int) -> documents.AppliedThreshold:
    """TPR, FPR, F1, precision (with binomial-bootstrap CIs) and the counts of ``rows`` at ``threshold``."""
    labels = rows["label"].to_numpy()
    scores = rows["score"].to_numpy()
    strata = _Strata(labels, rows["generator"].to_numpy(), scores >= threshold)
    draws = _binomial_draws(rng, strata, n_bootstrap)
    block = _threshold_block(list(strata.n), strata, draws, ["recall", "fpr", "f1", "precision"])
    return {"threshold": threshold, "confusion": confusion(labels, scores, threshold), "tpr": block["recall"],
            "fpr": block["fpr"], "f1": block["f1"], "precision": block["precision"]}


def frozen_thresholds(calibration: pd.DataFrame | None, predictions: pd.DataFrame, threshold: float = 0.5,
                      n_bootstrap: int = 1000, seed: int = 0) -> documents.FrozenThresholds:
    """Thresholds chosen on ``calibration`` (the validation split's predictions, same columns as for
    :func:`compute_report`; None when there is none) and applied unchanged to every split of ``predictions``
    (DEFINITIONS["frozen_thresholds"]). Nothing of ``predictions`` enters the choice.

    Returns a JSON-able :class:`mom_bench.report.documents.FrozenThresholds`::

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
        return cast(documents.FrozenThresholds, out)
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
    applied: dict[str, dict[str, documents.AppliedThreshold]] = {}
    for split in sorted(set(test["split"]) - {names[0]}, key=_split_key):
        rows = test[test["split"] == split]
        applied[split] = {name: _applied(rows, entry["threshold"], _sub_rng(seed, split, "frozen", name), n_bootstrap)
                          for name, entry in chosen.items() if name != "fixed" and entry["threshold"] is not None}
    out["splits"] = applied
    return cast(documents.FrozenThresholds, out)  # built key by key above


class GeneratorRow(TypedDict):
    """One generator of one split, flattened from ``per_generator`` for tables and plots."""

    split: str
    generator: str
    n_fake: int
    n_real: int
    tpr: float | None
    tpr_ci: list[float] | None
    f1: float | None
    f1_ci: list[float] | None


def per_generator_rows(report: documents.Report) -> list[GeneratorRow]:
    """Flat rows (split, generator, n_fake, n_real, tpr, tpr_ci, f1, f1_ci) for tables and plots."""
    rows: list[GeneratorRow] = []
    for split, s in report["splits"].items():
        for gen, g in s["per_generator"].items():
            rows.append({"split": split, "generator": gen, "n_fake": g["n_fake"], "n_real": g["n_real"],
                         "tpr": g["tpr"]["value"], "tpr_ci": g["tpr"]["ci"], "f1": g["f1"]["value"],
                         "f1_ci": g["f1"]["ci"]})
    return rows


def worst_real_pool(report: Mapping[str, Any], splits: Iterable[str]) -> tuple[str, str, Any] | None:
    """(split, pool, its ``per_real_pool`` block) with the lowest AUC over the pools of ``splits`` (ties: more
    reals, then the split's order, then the pool's name); None when the report has no pool with an AUC there
    (no source column, an older report)."""
    wanted = set(splits)
    rated = [(p["auc"]["value"], -p["n_real"], _split_key(split), pool, split, p)
             for split, pools in (report.get("per_real_pool") or {}).items() if split in wanted
             for pool, p in pools.items() if p["auc"]["value"] is not None]
    if not rated:
        return None
    best = min(rated, key=lambda r: r[:4])
    return best[4], best[3], best[5]
