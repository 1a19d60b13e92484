"""The metrics module against scikit-learn, on random predictions and on the edge cases a benchmark meets."""
import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from mom_bench.report import metrics


def _predictions(seed=0, n=600, splits=("test_id", "test_ood"), gens=("real", "suno", "udio", "yue"), ties=False):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"id": [f"song{i:05d}" for i in range(n)], "split": rng.choice(list(splits), n),
                       "generator": rng.choice(list(gens), n, p=[0.4] + [0.6 / (len(gens) - 1)] * (len(gens) - 1))})
    df["label"] = (df["generator"] != "real").astype(int)
    score = np.clip(rng.normal(0.35 + 0.3 * df["label"], 0.25), 0, 1)
    df["score"] = np.round(score, 1) if ties else score
    df["duration_s"] = rng.uniform(5, 240, n)
    return df


@pytest.mark.parametrize("seed,ties", [(0, False), (1, True), (2, False), (3, True)])
def test_overall_metrics_equal_sklearn(seed, ties):
    df = _predictions(seed, ties=ties)
    report = metrics.compute_report(df, n_bootstrap=50, seed=seed)
    for split, rows in df.groupby("split"):
        y, s = rows["label"].to_numpy(), rows["score"].to_numpy()
        pred = (s >= 0.5).astype(int)
        o = report["splits"][split]["overall"]
        assert o["f1"]["value"] == pytest.approx(skm.f1_score(y, pred))
        assert o["precision"]["value"] == pytest.approx(skm.precision_score(y, pred))
        assert o["recall"]["value"] == pytest.approx(skm.recall_score(y, pred))
        assert o["specificity"]["value"] == pytest.approx(skm.recall_score(y, pred, pos_label=0))
        assert o["accuracy"]["value"] == pytest.approx(skm.accuracy_score(y, pred))
        assert o["balanced_accuracy"]["value"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
        assert o["auc"]["value"] == pytest.approx(skm.roc_auc_score(y, s))
        tn, fp, fn, tp = skm.confusion_matrix(y, pred).ravel()
        assert report["splits"][split]["confusion"] == {"tp": tp, "fp": fp, "tn": tn, "fn": fn}
        assert report["splits"][split]["n"] == len(rows)


def _reference_eer(y, s):
    """EER from scikit-learn's ROC: where FNR - FPR crosses zero, linearly interpolated."""
    fpr, tpr, _ = skm.roc_curve(y, s, drop_intermediate=False)
    fnr = 1 - tpr
    for i in range(1, len(fpr)):
        d0, d1 = fnr[i - 1] - fpr[i - 1], fnr[i] - fpr[i]
        if d1 <= 0:
            return fpr[i - 1] + d0 / (d0 - d1) * (fpr[i] - fpr[i - 1])
    raise AssertionError("no crossing")


@pytest.mark.parametrize("seed", range(5))
def test_roc_and_eer_match_sklearn_curve(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 300)
    s = np.round(rng.random(300) * 0.6 + 0.3 * y, 2)
    fpr, tpr, thr = metrics.roc_points(y, s)
    sk_fpr, sk_tpr, sk_thr = skm.roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    np.testing.assert_allclose(thr[1:], sk_thr[1:])
    assert metrics.eer(y, s) == pytest.approx(_reference_eer(y, s))
    dfpr, dfnr = metrics.det_points(y, s)
    np.testing.assert_allclose(dfnr, 1 - sk_tpr)


def test_eer_known_values():
    assert metrics.eer([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 0.0
    assert metrics.eer([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == 1.0
    # one real above one fake out of two each: FPR = FNR = 0.5 at the threshold between them
    assert metrics.eer([0, 0, 1, 1], [0.1, 0.7, 0.6, 0.9]) == pytest.approx(0.5)


def test_per_generator_f1_is_fakes_of_g_against_all_reals():
    df = _predictions(4)
    report = metrics.compute_report(df, n_bootstrap=50)
    for split, rows in df.groupby("split"):
        reals = rows[rows["label"] == 0]
        per_gen = report["splits"][split]["per_generator"]
        assert set(per_gen) == set(rows.loc[rows["label"] == 1, "generator"])
        for gen, entry in per_gen.items():
            sub = pd.concat([rows[(rows["label"] == 1) & (rows["generator"] == gen)], reals])
            pred = (sub["score"] >= 0.5).astype(int)
            assert entry["f1"]["value"] == pytest.approx(skm.f1_score(sub["label"], pred))
            fakes = sub[sub["label"] == 1]
            assert entry["tpr"]["value"] == pytest.approx((fakes["score"] >= 0.5).mean())
            assert entry["n_fake"] == len(fakes) and entry["n_real"] == len(reals)
    assert "U {all reals of the split}" in report["definitions"]["per_generator.f1"]


def _all_stats(node):
    if isinstance(node, dict):
        if "value" in node and "ci" in node:
            yield node
        else:
            for v in node.values():
                yield from _all_stats(v)


def test_cis_are_seeded_and_hold_their_estimates_strictly():
    df = _predictions(5)
    a = metrics.compute_report(df, n_bootstrap=200, seed=7)
    b = metrics.compute_report(df, n_bootstrap=200, seed=7)
    c = metrics.compute_report(df, n_bootstrap=200, seed=8)
    assert a == b
    assert a != c
    stats = list(_all_stats(a["splits"]))
    assert len(stats) > 30
    for st in stats:
        # Strictly inside: an interval is widened to reach its estimate only when the percentile interval
        # misses it (DEFINITIONS["ci"]), and then the estimate is an end point. On ~100-300 rows with
        # rates away from 0 and 1 the bootstrap must centre on the estimate without that help.
        assert st["ci"][0] < st["value"] < st["ci"][1], st
    json.dumps(a)  # JSON-able


def _row_bootstrap_counts(rows: pd.DataFrame, n_draws: int, rng: np.random.Generator) -> dict[tuple, np.ndarray]:
    """Plain bootstrap, independent of the module: resample the rows of each (label, generator) stratum with
    replacement and count, per draw, the resampled rows called fake."""
    called = {}
    for (label, gen), part in rows.groupby(["label", "generator"]):
        pred = (part["score"].to_numpy() >= 0.5).astype(int)
        picks = rng.integers(0, len(pred), size=(n_draws, len(pred)))
        called[(label, gen)] = (len(pred), pred[picks].sum(axis=1))
    return called


def _rates(called: dict, keys) -> dict[str, np.ndarray]:
    tp = sum(c for (lab, _), (n, c) in called.items() if lab == 1 and (lab, _) in keys)
    fn = sum(n - c for (lab, _), (n, c) in called.items() if lab == 1 and (lab, _) in keys)
    fp = sum(c for (lab, _), (n, c) in called.items() if lab == 0 and (lab, _) in keys)
    tn = sum(n - c for (lab, _), (n, c) in called.items() if lab == 0 and (lab, _) in keys)
    recall, specificity = tp / (tp + fn), tn / (tn + fp)
    return {"f1": 2 * tp / (2 * tp + fp + fn), "precision": tp / (tp + fp), "recall": recall,
            "specificity": specificity, "accuracy": (tp + tn) / (tp + tn + fp + fn),
            "balanced_accuracy": (recall + specificity) / 2}


def test_threshold_intervals_match_plain_row_resampling():
    df = _predictions(10, n=800, splits=("test_ood",))
    rep = metrics.compute_report(df, n_bootstrap=2000, seed=3)["splits"]["test_ood"]
    called = _row_bootstrap_counts(df, 2000, np.random.default_rng(0))
    overall = _rates(called, set(called))
    for name, draws in overall.items():
        lo, hi = np.quantile(draws, [0.025, 0.975])
        assert rep["overall"][name]["ci"] == pytest.approx([lo, hi], abs=0.015), name
    reals = {k for k in called if k[0] == 0}
    for gen in ("suno", "udio", "yue"):
        per_gen = _rates(called, reals | {(1, gen)})
        for ours, theirs in (("tpr", "recall"), ("f1", "f1")):
            lo, hi = np.quantile(per_gen[theirs], [0.025, 0.975])
            assert rep["per_generator"][gen][ours]["ci"] == pytest.approx([lo, hi], abs=0.02), (gen, ours)


def test_perfect_predictions_have_zero_width_intervals():
    df = _predictions(11, n=200, splits=("test_id",))
    df["score"] = np.where(df["label"] == 1, 0.9, 0.1)
    rep = metrics.compute_report(df, n_bootstrap=300)["splits"]["test_id"]
    for name in ("f1", "precision", "recall", "specificity", "accuracy", "balanced_accuracy", "auc"):
        assert rep["overall"][name] == {"value": 1.0, "ci": [1.0, 1.0]}, name
    assert rep["overall"]["eer"] == {"value": 0.0, "ci": [0.0, 0.0]}
    for g in rep["per_generator"].values():
        assert g["tpr"]["ci"] == g["f1"]["ci"] == [1.0, 1.0]


@pytest.mark.parametrize("n_fake,n_bootstrap,ci", [
    # Binomial(10, 0.5): P(X <= 1) = 1.1 %, P(X <= 2) = 5.5 %, so the 2.5 % quantile is 2 (and 8 above):
    # a detector that finds half of ten fakes may well find a fifth or four fifths of them
    (10, 2000, [0.2, 0.8]),
    # Binomial(40, 0.5): P(X <= 13) = 1.9 %, P(X <= 14) = 4.0 %: 14/40 (a 90 % interval would end at 15/40,
    # a 99 % one at 12/40, so this pins the level)
    (40, 20000, [0.35, 0.65]),
])
def test_a_coin_flip_on_few_fakes_has_the_binomial_interval(n_fake, n_bootstrap, ci):
    half = n_fake // 2
    n_real = 2 * n_fake
    df = pd.DataFrame({"id": range(n_fake + n_real), "split": "test_ood",
                       "generator": ["g"] * n_fake + ["real"] * n_real, "label": [1] * n_fake + [0] * n_real,
                       "score": [0.9] * half + [0.1] * half + [0.2] * n_real})
    report = metrics.compute_report(df, n_bootstrap=n_bootstrap)["splits"]["test_ood"]
    assert report["per_generator"]["g"]["tpr"] == {"value": 0.5, "ci": ci}
    assert report["overall"]["recall"] == {"value": 0.5, "ci": ci}


def test_intervals_shrink_as_the_square_root_of_n():
    small = _predictions(12, n=300, splits=("test_ood",))
    large = pd.concat([small.assign(id=small["id"] + f"-{k}") for k in range(16)], ignore_index=True)
    a = metrics.compute_report(small, n_bootstrap=2000)["splits"]["test_ood"]["overall"]
    b = metrics.compute_report(large, n_bootstrap=2000)["splits"]["test_ood"]["overall"]
    for name in ("f1", "accuracy", "recall", "auc"):
        assert a[name]["value"] == pytest.approx(b[name]["value"])  # same rates, 16 times the rows
        ratio = (b[name]["ci"][1] - b[name]["ci"][0]) / (a[name]["ci"][1] - a[name]["ci"][0])
        assert ratio == pytest.approx(1 / 4, rel=0.2), name


def test_tpr_interval_has_the_binomial_width():
    # 2000 fakes with TPR 0.8: a 95 % interval is about +-1.96 * sqrt(0.8 * 0.2 / 2000) = +-0.0175
    n = 2000
    df = pd.DataFrame({"id": range(n + 500), "split": "test_ood", "generator": ["g"] * n + ["real"] * 500,
                       "label": [1] * n + [0] * 500, "score": [0.9] * 1600 + [0.1] * 400 + [0.2] * 500})
    tpr = metrics.compute_report(df, n_bootstrap=2000)["splits"]["test_ood"]["per_generator"]["g"]["tpr"]
    assert tpr["value"] == 0.8
    half = (tpr["ci"][1] - tpr["ci"][0]) / 2
    assert half == pytest.approx(1.96 * math.sqrt(0.8 * 0.2 / n), rel=0.1)


def test_auc_interval_matches_plain_row_resampling():
    df = _predictions(6, n=400, splits=("test_ood",))
    y, s, g = df["label"].to_numpy(), df["score"].to_numpy(), df["generator"].to_numpy()
    rep = metrics.compute_report(df, n_bootstrap=1000, seed=1)["splits"]["test_ood"]["overall"]
    rng = np.random.default_rng(0)
    groups = [np.nonzero(g == k)[0] for k in np.unique(g)]
    aucs, eers = [], []
    for _ in range(250):
        idx = np.concatenate([grp[rng.integers(0, len(grp), len(grp))] for grp in groups])
        aucs.append(skm.roc_auc_score(y[idx], s[idx]))
        eers.append(_reference_eer(y[idx], s[idx]))
    for name, draws in (("auc", aucs), ("eer", eers)):
        lo, hi = np.quantile(draws, [0.025, 0.975])
        assert rep[name]["ci"][0] == pytest.approx(lo, abs=0.02)
        assert rep[name]["ci"][1] == pytest.approx(hi, abs=0.02)


def test_degenerate_splits_do_not_crash():
    df = pd.DataFrame({"id": ["a", "b", "c", "d"], "split": ["test_ood", "test_ood", "validation", "validation"],
                       "generator": ["suno", "udio", "real", "real"], "label": [1, 1, 0, 0],
                       "score": [0.9, 0.2, 0.1, 0.3]})
    report = metrics.compute_report(df, n_bootstrap=20)
    ood = report["splits"]["test_ood"]["overall"]
    assert ood["auc"] == {"value": None, "ci": None, "reason": "no reals in this split"}
    assert ood["eer"]["value"] is None
    assert ood["specificity"]["value"] is None and ood["specificity"]["reason"] == "no reals"
    assert ood["recall"]["value"] == 0.5 and ood["f1"]["value"] == pytest.approx(2 / 3)
    val = report["splits"]["validation"]["overall"]
    assert val["auc"]["reason"] == "no fakes in this split"
    assert val["f1"]["value"] is None and val["accuracy"]["value"] == 1.0
    assert report["splits"]["validation"]["per_generator"] == {}
    assert report["id_ood_gap"]["value"] is None and "test_id" in report["id_ood_gap"]["reason"]
    assert list(report["splits"]) == ["validation", "test_ood"]
    json.dumps(report)


def test_id_ood_gap():
    df = _predictions(7)
    r = metrics.compute_report(df, n_bootstrap=2000)
    gap = r["id_ood_gap"]
    assert gap["value"] == pytest.approx(r["splits"]["test_id"]["overall"]["f1"]["value"]
                                         - r["splits"]["test_ood"]["overall"]["f1"]["value"])
    # the interval of the difference of independent bootstraps of the two splits, computed here by row
    # resampling
    rng = np.random.default_rng(0)
    f1 = {}
    for split in ("test_id", "test_ood"):
        called = _row_bootstrap_counts(df[df["split"] == split], 2000, rng)
        f1[split] = _rates(called, set(called))["f1"]
    lo, hi = np.quantile(f1["test_id"] - f1["test_ood"], [0.025, 0.975])
    assert gap["ci"] == pytest.approx([lo, hi], abs=0.015)


def test_strata_duration_vocals_language():
    df = _predictions(8)
    rng = np.random.default_rng(0)
    df["vocals"] = rng.choice([True, False], len(df))
    df["language"] = rng.choice(["en", "es", None], len(df))
    report = metrics.compute_report(df, n_bootstrap=30)
    for split, rows in df.groupby("split"):
        strata = report["splits"][split]["strata"]
        assert list(strata["duration"]) == ["<=60s", "60-120s", ">120s"]
        short = rows[rows["duration_s"] <= 60]
        assert strata["duration"]["<=60s"]["n"] == len(short)
        assert strata["duration"]["<=60s"]["f1"]["value"] == pytest.approx(
            skm.f1_score(short["label"], short["score"] >= 0.5))
        assert sum(v["n"] for v in strata["duration"].values()) == len(rows)
        assert strata["vocals"]["vocals"]["n"] == int(rows["vocals"].sum())
        assert set(strata["language"]) == {"en", "es", "_unknown"}
        assert strata["language"]["_unknown"]["n"] == int(rows["language"].isna().sum())


@pytest.mark.parametrize("column,value,needle", [("label", 2, "label 2"), ("score", 1.5, "score 1.5"),
                                                 ("score", float("nan"), "score nan"), ("id", "song00000", "appears")])
def test_bad_rows_are_named(column, value, needle):
    df = _predictions(9, n=50, splits=("test_ood",))
    df.loc[3, column] = value
    with pytest.raises(ValueError, match=needle) as err:
        metrics.compute_report(df, n_bootstrap=10)
    assert "song00003" in str(err.value) or "song00000" in str(err.value)


def test_missing_column():
    with pytest.raises(ValueError, match="score"):
        metrics.compute_report(pd.DataFrame({"id": [], "split": [], "generator": [], "label": []}))
