"""The metrics module against scikit-learn, on random predictions and on the edge cases a benchmark meets."""
import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from mom_bench import metrics


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


def test_cis_bracket_estimates_and_are_seeded():
    df = _predictions(5)
    a = metrics.compute_report(df, n_bootstrap=200, seed=7)
    b = metrics.compute_report(df, n_bootstrap=200, seed=7)
    c = metrics.compute_report(df, n_bootstrap=200, seed=8)
    assert a == b
    assert a != c
    stats = list(_all_stats(a["splits"]))
    assert len(stats) > 30
    for st in stats:
        assert st["ci"][0] <= st["value"] <= st["ci"][1]
        assert st["ci"][0] < st["ci"][1]
    json.dumps(a)  # JSON-able


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
    r = metrics.compute_report(df, n_bootstrap=300)
    gap = r["id_ood_gap"]
    assert gap["value"] == pytest.approx(r["splits"]["test_id"]["overall"]["f1"]["value"]
                                         - r["splits"]["test_ood"]["overall"]["f1"]["value"])
    assert gap["ci"][0] <= gap["value"] <= gap["ci"][1]


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
