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

import re
from collections import Counter
from typing import Any, cast

import numpy as np

from mom_bench.core.signal_stats import FEATURES, signal_stats
from mom_bench.core.splits import TEST_SPLITS, TRAIN

__all__ = ["FEATURES", "WARN_BALANCED_ACCURACY", "format_stats", "metadata_shortcuts", "shortcut_check"]

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


# --------------------------------------------------------------------------------------------------
# shortcuts in what a row is besides its signal: its input file and its id

#: Balanced accuracy at or above which one column alone is said to separate a generator from the reals.
SEPARATES_AT = 0.95
#: Rows a generator (and the reals) need before a check speaks about it: fewer separate by chance.
MIN_ROWS = 5
#: Share of a generator's input files with one byte size above which the size is a constant.
CONSTANT_SHARE = 0.9
#: Format columns checked one by one: categorical (a rule per value) and numeric (one threshold).
CATEGORICAL = ("orig_codec", "orig_sample_rate", "orig_channels")
NUMERIC = ("orig_bit_rate", "orig_duration_s", "orig_bytes", "id_length", "id_number")
_MAX_CATEGORIES = 10
_DIGITS = re.compile(r"[0-9]+")


def _id_features(row: dict) -> tuple[int, int | None]:
    """(length, last number) of a row's id once the parts that name its class on purpose are taken out
    (its generator, its source, the words real and fake): what is left is the corpus' own id."""
    text = str(row["id"]).lower()
    for part in sorted({str(row.get("generator") or ""), str(row.get("source") or ""), "real", "fake"},
                       key=len, reverse=True):
        if part:
            text = text.replace(part.lower(), "")
    numbers = _DIGITS.findall(text)
    return len(text), (int(numbers[-1][-15:]) if numbers else None)


def _categorical(fake: list, real: list) -> tuple[float, str] | None:
    values = set(fake) | set(real)
    if len(values) > _MAX_CATEGORIES or len(values) < 2:
        return None
    pf = {v: fake.count(v) / len(fake) for v in values}
    pr = {v: real.count(v) / len(real) for v in values}
    ba = 0.5 * sum(max(pf[v], pr[v]) for v in values)
    mine = sorted((v for v in values if pf[v] > pr[v]), key=str)
    theirs = sorted((v for v in values if pf[v] <= pr[v]), key=str)
    return ba, f"{', '.join(map(str, mine))} vs {', '.join(map(str, theirs))}"


def _threshold(fake: list[float], real: list[float]) -> tuple[float, str] | None:
    """Best one-threshold rule (either direction) and its balanced accuracy."""
    values = np.array(fake + real, dtype=np.float64)
    is_fake = np.array([1] * len(fake) + [0] * len(real))
    order = np.argsort(values, kind="stable")
    v, y = values[order], is_fake[order]
    if v[0] == v[-1]:
        return None
    below_fake = np.cumsum(y) / len(fake)  # share of fakes <= v[i]
    below_real = np.cumsum(1 - y) / len(real)
    cut = np.flatnonzero(v[:-1] < v[1:])  # thresholds between distinct values only
    ba_low = 0.5 * (below_fake[cut] + 1 - below_real[cut])  # fake when value <= t
    ba_high = 0.5 * (below_real[cut] + 1 - below_fake[cut])  # fake when value > t
    i, j = int(np.argmax(ba_low)), int(np.argmax(ba_high))
    if ba_low[i] >= ba_high[j]:
        return float(ba_low[i]), f"fake when <= {v[cut[i]]:g}"
    return float(ba_high[j]), f"fake when > {v[cut[j]]:g}"


def metadata_shortcuts(rows: list[dict]) -> dict:
    """Shortcuts outside the signal: can a generator's fakes be told from the reals by their input files or ids?

    ``rows``: one dict per written row with ``id``, ``label``, ``generator``, ``source`` and the ``orig_*`` columns
    (``orig_bytes``: the input file's size; None when the source gave a waveform). Three checks, each per
    generator of at least :data:`MIN_ROWS` fakes against all reals (at least :data:`MIN_ROWS`):

    - ``constant_size``: at least :data:`CONSTANT_SHARE` of the generator's input files have one byte size that
      under half of the reals have (a generator that pads or cuts every file to one length and encodes it at a
      constant bit rate);
    - ``separating``: one column alone, a rule per value of a format column (codec, rate, channels) or one
      threshold on a number (bit rate, duration, file size, the id's length or its last number once the
      generator, source and the words real/fake are taken out of it), reaches a balanced accuracy of
      :data:`SEPARATES_AT` (e.g. 16 kHz WAV fakes against reals of other rates; an id range per generator);
    - ``findings``: one line per hit, for the build summary and the data card.

    Rules are fitted and scored on the same rows: this says what the columns allow, not what a detector
    learns; with few rows a rule separates by chance more easily, which is why :data:`MIN_ROWS` applies.

    >>> rows = [{"id": f"r{i}", "label": 0, "generator": "real", "source": "real", "orig_bytes": 100 + i}
    ...         for i in range(6)] + [{"id": f"g{i}", "label": 1, "generator": "g", "source": "g",
    ...         "orig_bytes": 500} for i in range(6)]
    >>> metadata_shortcuts(rows)["findings"][0]
    "constant size: 6 of g's 6 input files are 500 bytes (reals: 0 of 6)"
    """
    out: dict[str, Any] = {"separates_at": SEPARATES_AT, "min_rows": MIN_ROWS, "constant_share": CONSTANT_SHARE,
                           "columns": list(CATEGORICAL + NUMERIC), "constant_size": [], "separating": [],
                           "findings": []}
    feats = []
    for r in rows:
        f = {c: r.get(c) for c in CATEGORICAL + NUMERIC[:3]}
        f["id_length"], f["id_number"] = _id_features(r)
        feats.append(f)
    reals = [f for f, r in zip(feats, rows) if int(r["label"]) == 0]
    by_gen: dict[str, list[dict]] = {}
    for f, r in zip(feats, rows):
        if int(r["label"]) == 1:
            by_gen.setdefault(str(r["generator"]), []).append(f)
    if len(reals) < MIN_ROWS:
        out["skipped"] = f"fewer than {MIN_ROWS} written reals"
        return out
    real_sizes = [f["orig_bytes"] for f in reals if f["orig_bytes"] is not None]
    for gen, fakes in sorted(by_gen.items()):
        if len(fakes) < MIN_ROWS:
            continue
        sizes = [f["orig_bytes"] for f in fakes if f["orig_bytes"] is not None]
        if len(sizes) >= MIN_ROWS:
            size, n = Counter(sizes).most_common(1)[0]
            same_real = sum(1 for s in real_sizes if s == size)
            if n >= CONSTANT_SHARE * len(fakes) and same_real < 0.5 * max(1, len(real_sizes)):
                out["constant_size"].append({"generator": gen, "bytes": int(size), "rows": n, "of": len(fakes),
                                             "reals_of_that_size": same_real, "reals": len(real_sizes)})
                out["findings"].append(f"constant size: {n} of {gen}'s {len(fakes)} input files are {size:,} bytes "
                                       f"(reals: {same_real} of {len(real_sizes)})")
        for column in CATEGORICAL + NUMERIC:
            fv = [f[column] for f in fakes]
            rv = [f[column] for f in reals]
            if any(v is None for v in fv + rv):
                continue  # a column some rows lack (waveform sources have no file size) is not compared
            hit = _categorical(fv, rv) if column in CATEGORICAL else _threshold(
                [float(cast(float, v)) for v in fv], [float(cast(float, v)) for v in rv])
            if hit is None or hit[0] < SEPARATES_AT:
                continue
            ba, rule = hit
            out["separating"].append({"generator": gen, "column": column, "balanced_accuracy": round(ba, 4),
                                      "rule": rule, "n_fake": len(fv), "n_real": len(rv)})
            out["findings"].append(f"{gen} vs reals: {column} alone separates them (balanced accuracy {ba:.2f}; "
                                   f"{rule})")
    return out
