"""Operating points in every evaluation (issue 12 item 3): TPR at fixed false-positive budgets, thresholds
frozen on the validation split, the false-positive rate of each real source and stratum, calibration (ECE,
Brier, reliability diagram) and coverage, from the metrics module up to a real `mom-bench evaluate`."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from mom_bench.loop import evaluation as E
from mom_bench.report import metrics
from mom_bench.report.metrics import schema as results_schema

GOLDEN = Path(__file__).resolve().parent / "golden" / "compute_report_seed0.json"
PNG = b"\x89PNG\r\n\x1a\n"


def _predictions(seed=0, n=600, splits=("test_id", "test_ood"), ties=True, sources=("real_songs", "real_yt_covers")):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"id": [f"song{i:05d}" for i in range(n)], "split": rng.choice(list(splits), n),
                       "generator": rng.choice(["real", "suno", "udio"], n, p=[0.5, 0.25, 0.25])})
    df["label"] = (df["generator"] != "real").astype(int)
    score = np.clip(rng.normal(0.35 + 0.3 * df["label"], 0.25), 0, 1)
    df["score"] = np.round(score, 1) if ties else score
    df["source"] = np.where(df["label"] == 0, rng.choice(list(sources), n), df["generator"])
    df["duration_s"] = rng.uniform(5, 240, n)
    return df


# --------------------------------------------------------------------------------------------------
# TPR at a false-positive budget


@pytest.mark.parametrize("seed", range(6))
def test_tpr_at_fpr_is_sklearn_roc_curve_with_np_interp(seed):
    """issue 12 item 3: TPR at FPR 5 %, 1 %, 0.1 % is np.interp on scikit-learn's ROC curve, ties included."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 3000))
    y = rng.integers(0, 2, n)
    s = np.round(rng.random(n) * 0.6 + 0.35 * y, int(rng.integers(1, 3)))  # coarse scores: many ties
    fpr, tpr, _ = skm.roc_curve(y, s)
    for t in (*metrics.FPR_TARGETS, 0.0, 0.3, 1.0):
        assert metrics.tpr_at_fpr(y, s, t) == pytest.approx(float(np.interp(t, fpr, tpr)), abs=1e-12), t


def test_tpr_at_fpr_in_the_report_with_its_resolvable_flag():
    """issue 12 item 3: the report carries TPR at each budget per split, and `resolvable` says whether the
    split has the 1 / FPR reals that budget needs (20, 100, 1,000); the value is reported either way."""
    def split(n_real):
        n_fake = 50
        return pd.DataFrame({"id": range(n_real + n_fake), "split": "test_id",
                             "generator": ["real"] * n_real + ["g"] * n_fake, "label": [0] * n_real + [1] * n_fake,
                             "score": np.r_[np.linspace(0, 0.6, n_real), np.linspace(0.3, 1, n_fake)]})
    for n_real, expected in ((19, (False, False, False)), (20, (True, False, False)), (100, (True, True, False)),
                             (1000, (True, True, True))):
        rep = metrics.compute_report(split(n_real), n_bootstrap=20)["splits"]["test_id"]["tpr_at_fpr"]
        assert list(rep) == ["0.05", "0.01", "0.001"]
        assert tuple(rep[k]["resolvable"] for k in rep) == expected, n_real
        assert [rep[k]["min_reals"] for k in rep] == [20, 100, 1000]
        df = split(n_real)
        for key, point in rep.items():
            assert point["target_fpr"] == float(key)
            assert point["value"] == pytest.approx(metrics.tpr_at_fpr(df["label"], df["score"], float(key)))
            assert point["ci"] is not None and point["ci"][0] <= point["ci"][1]
    no_reals = split(0)
    point = metrics.compute_report(no_reals, n_bootstrap=5)["splits"]["test_id"]["tpr_at_fpr"]["0.05"]
    assert point["value"] is None and point["reason"] == "no reals in this split" and point["resolvable"] is False


def test_tpr_at_fpr_interval_matches_plain_row_resampling():
    """issue 12 item 3: the vectorised bootstrap of TPR@FPR, ECE and Brier agrees with resampling rows one
    resample at a time (stratified by label and generator) and recomputing with scikit-learn."""
    df = _predictions(4, n=500, splits=("test_ood",), ties=False)
    y, s, g = df["label"].to_numpy(), df["score"].to_numpy(), df["generator"].to_numpy()
    rep = metrics.compute_report(df, n_bootstrap=1500, seed=2)["splits"]["test_ood"]
    rng = np.random.default_rng(0)
    groups = [np.nonzero(g == k)[0] for k in np.unique(g)]
    tprs, eces, briers = [], [], []
    for _ in range(400):
        idx = np.concatenate([grp[rng.integers(0, len(grp), len(grp))] for grp in groups])
        fpr, tpr, _ = skm.roc_curve(y[idx], s[idx])
        tprs.append(np.interp(0.05, fpr, tpr))
        eces.append(metrics.expected_calibration_error(y[idx], s[idx]))
        briers.append(skm.brier_score_loss(y[idx], s[idx]))
    for stat, draws in ((rep["tpr_at_fpr"]["0.05"], tprs), (rep["calibration"]["ece"], eces),
                        (rep["calibration"]["brier"], briers)):
        lo, hi = np.quantile(draws, [0.025, 0.975])
        assert stat["ci"][0] == pytest.approx(lo, abs=0.02)
        assert stat["ci"][1] == pytest.approx(hi, abs=0.02)


# --------------------------------------------------------------------------------------------------
# Calibration


def _ece_by_hand(labels, scores, n_bins):
    """The definition written out: sort (ties in the given order), equal-count bins, weighted |gap|."""
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    size, extra = divmod(len(order), n_bins)
    total, start = 0.0, 0
    for b in range(n_bins):
        k = size + (b < extra)
        idx = order[start:start + k]
        start += k
        if idx:
            total += k * abs(sum(labels[i] for i in idx) / k - sum(scores[i] for i in idx) / k)
    return total / len(order)


def test_ece_on_a_hand_computed_table():
    """issue 12 item 3: ECE with equal-mass bins on a table small enough to do by hand."""
    labels = [0, 0, 1, 0, 1, 1]
    scores = [0.1, 0.3, 0.2, 0.6, 0.7, 0.9]
    # sorted: (0.1, 0) (0.2, 1) | (0.3, 0) (0.6, 0) | (0.7, 1) (0.9, 1)
    # bins: |0.5 - 0.15| = 0.35, |0 - 0.45| = 0.45, |1 - 0.8| = 0.2; each 2/6 of the rows
    assert metrics.expected_calibration_error(labels, scores, n_bins=3) == pytest.approx((0.35 + 0.45 + 0.2) / 3)
    # 17 rows in 15 bins: the first two bins hold two rows, the rest one (np.array_split)
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 17).tolist()
    s = np.round(rng.random(17), 1).tolist()  # ties: broken by row order
    assert metrics.expected_calibration_error(y, s) == pytest.approx(_ece_by_hand(y, s, 15))
    assert [k for k, _, _ in metrics.reliability_bins(y, s)] == [2, 2] + [1] * 13
    # fewer rows than bins: the empty bins are skipped, so each row is its own bin
    assert metrics.expected_calibration_error([0, 1, 1], [0.2, 0.9, 0.5]) == pytest.approx((0.2 + 0.1 + 0.5) / 3)


def test_report_ece_uses_15_bins_in_id_order():
    """issue 12 item 3: the report's ECE is the 15-bin definition on the split's rows sorted by id first."""
    df = _predictions(5, n=250)
    rep = metrics.compute_report(df.sample(frac=1, random_state=1), n_bootstrap=10)
    for split, rows in df.sort_values("id").groupby("split"):
        ece = rep["splits"][split]["calibration"]
        assert ece["n_bins"] == 15
        assert ece["ece"]["value"] == pytest.approx(_ece_by_hand(rows["label"].tolist(), rows["score"].tolist(), 15))


def test_brier_is_sklearn_brier_score_loss():
    """issue 12 item 3: the Brier score per split equals scikit-learn's."""
    df = _predictions(7)
    rep = metrics.compute_report(df, n_bootstrap=10)
    for split, rows in df.groupby("split"):
        assert rep["splits"][split]["calibration"]["brier"]["value"] == pytest.approx(
            skm.brier_score_loss(rows["label"], rows["score"]))
    one_class = df[df["label"] == 1].assign(split="test_ood")
    brier = metrics.compute_report(one_class, n_bootstrap=10)["splits"]["test_ood"]["calibration"]["brier"]
    assert brier["value"] == pytest.approx(skm.brier_score_loss(one_class["label"], one_class["score"]))
    assert brier["ci"] is not None  # a split without reals still has calibration intervals


def test_weighted_ece_equals_ece_of_the_expanded_resample():
    """issue 12 item 3: the bootstrap's ECE of a resample (rows drawn k times) is the ECE of the rows
    repeated k times, even when a row's copies straddle a bin edge."""
    rng = np.random.default_rng(11)
    for n in (7, 23, 60):
        s = np.sort(np.round(rng.random(n), 1), kind="mergesort")
        y = rng.integers(0, 2, n).astype(float)
        weights = rng.multinomial(n, np.ones(n) / n, size=30).astype(float)
        got = metrics._weighted_ece(weights, y, s, 15)
        want = [metrics.expected_calibration_error(np.repeat(y, w.astype(int)), np.repeat(s, w.astype(int)))
                for w in weights]
        np.testing.assert_allclose(got, want, atol=1e-12)


# --------------------------------------------------------------------------------------------------
# False-positive rate per real source and stratum


def test_false_positive_rate_per_source_and_stratum_on_a_hand_table():
    """issue 12 item 3: FPR per value of the reals' source column (a missing source is `_unknown`) and per
    real stratum bucket, with counts; rates seen as 0 or 1 have zero-width intervals."""
    rows = [  # id, source, duration, vocals, score (all reals), then two fakes
        ("r1", "real_songs", 30.0, True, 0.9), ("r2", "real_songs", 30.0, False, 0.1),
        ("r3", "real_songs", 90.0, True, 0.2), ("r4", "real_songs", 150.0, True, 0.3),
        ("r5", "real_yt_covers", 90.0, True, 0.8), ("r6", "real_yt_covers", 150.0, False, 0.7),
        ("r7", None, float("nan"), None, 0.6),
    ]
    df = pd.DataFrame([{"id": i, "split": "test_id", "generator": "real", "label": 0, "source": src,
                        "duration_s": d, "vocals": v, "score": sc} for i, src, d, v, sc in rows]
                      + [{"id": f"f{k}", "split": "test_id", "generator": "suno", "label": 1, "source": "suno",
                          "duration_s": 60.0, "vocals": True, "score": 0.9} for k in range(2)])
    rep = metrics.compute_report(df, n_bootstrap=200)
    fp = rep["false_positive_rates"]["test_id"]
    assert fp["n_real"] == 7
    assert (fp["all"]["n_real"], fp["all"]["n_called_fake"], fp["all"]["fpr"]["value"]) == (7, 4, 4 / 7)
    spec = rep["splits"]["test_id"]["overall"]["specificity"]
    assert fp["all"]["fpr"]["ci"] == pytest.approx([1 - spec["ci"][1], 1 - spec["ci"][0]])
    by_source = {k: (v["n_real"], v["n_called_fake"], v["fpr"]["value"]) for k, v in fp["by_source"].items()}
    assert by_source == {"real_songs": (4, 1, 0.25), "real_yt_covers": (2, 2, 1.0), "_unknown": (1, 1, 1.0)}
    assert fp["by_source"]["real_yt_covers"]["fpr"]["ci"] == [1.0, 1.0]
    lo, hi = fp["by_source"]["real_songs"]["fpr"]["ci"]
    assert 0.0 <= lo < 0.25 < hi <= 1.0
    duration = {k: (v["n_real"], v["n_called_fake"]) for k, v in fp["by_stratum"]["duration"].items()}
    assert duration == {"<=60s": (2, 1), "60-120s": (2, 1), ">120s": (2, 1), "_unknown": (1, 1)}
    vocals = {k: (v["n_real"], v["n_called_fake"]) for k, v in fp["by_stratum"]["vocals"].items()}
    assert vocals == {"instrumental": (2, 1), "vocals": (4, 2), "_unknown": (1, 1)}
    # without a source column the report says so, and nothing else in it changes
    plain = metrics.compute_report(df.drop(columns="source"), n_bootstrap=200)
    assert "by_source" not in plain["false_positive_rates"]["test_id"]
    assert "no source column" in plain["false_positive_rates"]["test_id"]["note"]
    assert plain["splits"] == rep["splits"] and plain["id_ood_gap"] == rep["id_ood_gap"]
    assert plain["false_positive_rates"]["test_id"]["by_stratum"] == fp["by_stratum"]


def test_split_reports_do_not_depend_on_the_optional_source_column():
    """issue 12 item 3: the leaderboard scores predictions without a source column and compares its split
    reports with evaluate's, so the per-source rates live beside the splits and draw from their own
    generators."""
    df = _predictions(8)
    with_source = metrics.compute_report(df, n_bootstrap=100, seed=4)
    without = metrics.compute_report(df.drop(columns="source"), n_bootstrap=100, seed=4)
    assert with_source["splits"] == without["splits"]
    assert with_source["id_ood_gap"] == without["id_ood_gap"]
    assert set(with_source["false_positive_rates"]["test_id"]["by_source"]) == {"real_songs", "real_yt_covers"}


def test_the_numbers_that_existed_before_are_unchanged():
    """issue 12 item 3: adding the operating points changed none of the numbers reported before (the
    committed report of tests/test_documents.py, minus the new keys)."""
    from tests.test_documents import report

    new_split_keys = {"tpr_at_fpr", "calibration"}

    def old_part(rep):
        rep = {k: v for k, v in rep.items() if k not in ("definitions", "false_positive_rates")}
        rep["splits"] = {name: {k: v for k, v in s.items() if k not in new_split_keys}
                         for name, s in rep["splits"].items()}
        return rep

    assert json.dumps(old_part(report()), indent=1) == json.dumps(old_part(json.loads(GOLDEN.read_text())), indent=1)


# --------------------------------------------------------------------------------------------------
# Thresholds frozen on the validation split


def _calibration_table():
    # scores, labels; sorted by score: 0.95 f, 0.9 r, 0.8 f, 0.8 f, 0.7 r, 0.6 f, 0.4 r, 0.3 f, 0.2 r, 0.1 r
    scores = [0.95, 0.9, 0.8, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1]
    labels = [1, 0, 1, 1, 0, 1, 0, 1, 0, 0]
    return pd.DataFrame({"id": [f"v{i}" for i in range(10)], "split": "validation",
                         "generator": ["g" if y else "real" for y in labels], "label": labels, "score": scores})


def test_frozen_thresholds_on_a_hand_table():
    """issue 12 item 3: max-F1 and highest-TPR-under-an-FPR-budget thresholds, chosen on validation rows."""
    cal = _calibration_table()
    test = _predictions(9)
    frozen = metrics.frozen_thresholds(cal, test, n_bootstrap=50)
    assert (frozen["chosen_on"], frozen["n"], frozen["n_fake"], frozen["n_real"]) == ("validation", 10, 5, 5)
    t = frozen["thresholds"]
    assert list(t) == ["fixed", "max_f1", "fpr_5pct", "fpr_1pct"]
    assert t["fixed"]["threshold"] == 0.5 and t["fixed"]["on_calibration"]["tpr"] == 0.8
    # F1 = 2TP / (TP + FP + 5) at each candidate: 0.95 -> 2/6, 0.9 -> 2/7, 0.8 -> 6/9, 0.7 -> 6/10,
    # 0.6 -> 8/11, 0.4 -> 8/12, 0.3 -> 10/13, 0.2 -> 10/14, 0.1 -> 10/15: the best is 0.3
    assert t["max_f1"]["threshold"] == 0.3
    assert t["max_f1"]["on_calibration"] == pytest.approx({"tpr": 1.0, "fpr": 0.6, "f1": 10 / 13, "precision": 5 / 8})
    # FPR <= 5 % of 5 reals means no real called fake: the best is 0.95 (one fake of five)
    for name in ("fpr_5pct", "fpr_1pct"):
        assert t[name]["threshold"] == 0.95 and t[name]["on_calibration"]["fpr"] == 0.0
        assert t[name]["resolvable"] is False  # 5 reals cannot resolve 5 % or 1 %
    assert t["fpr_5pct"]["target_fpr"] == 0.05 and t["fpr_1pct"]["target_fpr"] == 0.01
    # applied unchanged to each test split, with its confusion counts and intervals
    assert list(frozen["splits"]) == ["test_id", "test_ood"]
    for split, rows in test.groupby("split"):
        for name in ("max_f1", "fpr_5pct", "fpr_1pct"):
            applied = frozen["splits"][split][name]
            pred = rows["score"] >= t[name]["threshold"]
            assert applied["threshold"] == t[name]["threshold"]
            assert applied["tpr"]["value"] == pytest.approx(skm.recall_score(rows["label"], pred))
            assert applied["fpr"]["value"] == pytest.approx(1 - skm.recall_score(rows["label"], pred, pos_label=0))
            assert applied["f1"]["value"] == pytest.approx(skm.f1_score(rows["label"], pred))
            assert applied["precision"]["value"] == pytest.approx(skm.precision_score(rows["label"], pred))
            tn, fp, fn, tp = skm.confusion_matrix(rows["label"], pred).ravel()
            assert applied["confusion"] == {"tp": tp, "fp": fp, "tn": tn, "fn": fn}
    json.dumps(frozen)


def test_the_fpr_budget_with_the_highest_score_a_real_calls_nothing_fake():
    """issue 12 item 3: when the highest validation score is a real's, a zero-real budget can only call
    nothing fake: the threshold lies just above that score; ties in TPR go to the higher threshold."""
    cal = pd.DataFrame({"id": list("abcd"), "split": "validation", "generator": ["real", "g", "real", "g"],
                        "label": [0, 1, 0, 1], "score": [0.9, 0.8, 0.5, 0.2]})
    frozen = metrics.frozen_thresholds(cal, _predictions(1), n_bootstrap=10)
    t = frozen["thresholds"]["fpr_1pct"]
    assert t["threshold"] == np.nextafter(0.9, 1.0) and t["on_calibration"]["tpr"] == 0.0
    # max F1: 0.8 -> 2/4, 0.5 -> 2/5, 0.2 -> 4/6: calling everything fake wins
    assert frozen["thresholds"]["max_f1"]["threshold"] == 0.2
    # 20 reals: FPR <= 5 % allows one; 0.9 and 0.8 both reach TPR 1/2, and the higher threshold is kept
    cal = pd.DataFrame({"id": [f"x{i:02d}" for i in range(22)], "split": "validation",
                        "generator": ["g", "real"] + ["real"] * 19 + ["g"], "label": [1, 0] + [0] * 19 + [1],
                        "score": [0.9, 0.8] + [0.7] * 19 + [0.1]})
    t = metrics.frozen_thresholds(cal, _predictions(1), n_bootstrap=10)["thresholds"]["fpr_5pct"]
    assert ((t["threshold"], t["resolvable"], t["on_calibration"]["tpr"], t["on_calibration"]["fpr"])
            == (0.9, True, 0.5, 0.0))


def test_frozen_thresholds_are_unchanged_when_every_test_label_flips():
    """issue 12 item 3: nothing is tuned on test: flipping every test label changes the test numbers but
    not the thresholds."""
    cal = _calibration_table()
    test = _predictions(10)
    flipped = test.assign(label=1 - test["label"], generator=np.where(test["label"] == 1, "real", "suno"))
    a = metrics.frozen_thresholds(cal, test, n_bootstrap=50)
    b = metrics.frozen_thresholds(cal, flipped, n_bootstrap=50)
    assert a["thresholds"] == b["thresholds"]
    assert a["splits"]["test_id"]["max_f1"]["tpr"] != b["splits"]["test_id"]["max_f1"]["tpr"]


def test_without_calibration_rows_no_threshold_is_frozen():
    """issue 12 item 3: no validation split: the result says so and only the fixed threshold remains."""
    frozen = metrics.frozen_thresholds(None, _predictions(2), n_bootstrap=10)
    assert frozen["chosen_on"] is None and "no validation split" in frozen["reason"]
    assert list(frozen["thresholds"]) == ["fixed"] and frozen["splits"] == {}
    only_fakes = _calibration_table().query("label == 1")
    frozen = metrics.frozen_thresholds(only_fakes, _predictions(2), n_bootstrap=10)
    assert frozen["thresholds"]["fpr_5pct"]["threshold"] is None
    assert frozen["thresholds"]["fpr_5pct"]["reason"] == "the calibration split has no reals"
    assert frozen["thresholds"]["max_f1"]["threshold"] is not None
    assert set(frozen["splits"]["test_id"]) == {"max_f1"}
    two = pd.concat([_calibration_table(), _calibration_table().assign(split="train", id=lambda d: d["id"] + "t")])
    with pytest.raises(metrics.MetricsError, match="from 2 splits"):
        metrics.frozen_thresholds(two, _predictions(2), n_bootstrap=10)


# --------------------------------------------------------------------------------------------------
# End to end: `mom-bench evaluate` on the tiny loop benchmark


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, loop_benchmark, loop_run):
    out = tmp_path_factory.mktemp("oppoints") / "results"
    return E.evaluate("clam-tiny", loop_run / "best", loop_benchmark, out_dir=out, n_bootstrap=100, progress=False)


def test_evaluate_reports_every_operating_point(evaluated, loop_benchmark):
    """issue 12 item 3: a plain evaluate of the test splits also scores validation, freezes thresholds on
    it, and writes TPR@FPR, calibration, per-source FPR, coverage and a reliability diagram; results.json
    validates against its schema."""
    from mom_bench.dataset import read

    result = evaluated
    out = result.out_dir
    res = json.loads((out / "results.json").read_text(encoding="utf-8"))
    results_schema.check_results(res)
    assert res["benchmark"]["splits"] == ["test_id", "test_ood"]
    assert res["benchmark"]["calibration_split"] == "validation"
    assert list(res["metrics"]["splits"]) == ["test_id", "test_ood"]  # validation is not reported as a split
    for split in ("test_id", "test_ood"):
        s = res["metrics"]["splits"][split]
        assert set(s["tpr_at_fpr"]) == {"0.05", "0.01", "0.001"}
        assert not any(p["resolvable"] for p in s["tpr_at_fpr"].values())  # 5 reals per test split
        assert s["calibration"]["ece"]["value"] is not None and s["calibration"]["brier"]["value"] is not None
        fp = res["metrics"]["false_positive_rates"][split]
        assert set(fp["by_source"]) == {"tones"} and fp["by_source"]["tones"]["n_real"] == s["n_real"] == 5
        assert set(fp["by_stratum"]["duration"]) <= {"<=60s"}

    # the validation predictions are kept beside the test ones; the thresholds are theirs alone
    val = pd.read_csv(out / "validation_predictions.csv")
    assert len(val) == read.num_rows(loop_benchmark, "validation") and set(val["split"]) == {"validation"}
    assert set(pd.read_csv(out / "predictions.csv")["split"]) == {"test_id", "test_ood"}
    frozen = res["frozen_thresholds"]
    assert frozen["chosen_on"] == "validation" and (frozen["n_real"], frozen["n_fake"]) == (4, 4)
    assert list(val["id"]) == list(result.calibration["id"])
    assert np.allclose(val["score"], result.calibration["score"], rtol=0, atol=1e-12)
    again = metrics.frozen_thresholds(result.calibration, result.predictions, n_bootstrap=100)
    assert again["thresholds"] == frozen["thresholds"] and again["splits"] == frozen["splits"]
    assert set(frozen["splits"]) == {"test_id", "test_ood"}
    flipped = result.predictions.assign(label=1 - result.predictions["label"])
    assert metrics.frozen_thresholds(result.calibration, flipped, n_bootstrap=100)["thresholds"] == frozen["thresholds"]

    cov = res["coverage"]
    assert cov["unassigned"] == 0
    assert {s: c["coverage"] for s, c in cov["splits"].items()} == {"test_id": 1.0, "test_ood": 1.0, "validation": 1.0}

    md = (out / "results.md").read_text(encoding="utf-8")
    assert "## Operating points" in md and "FPR <= 5 % on validation" in md and "TPR @ FPR 0.1 %" in md
    assert "| test_ood | source tones | 5 |" in md
    assert "frozen thresholds chosen on validation" in md and "Coverage below 1" not in md
    blob = (out / "reliability.png").read_bytes()
    assert blob[:8] == PNG and len(blob) > 5000
    assert "max F1 on validation" in result.summary()


def test_evaluate_refuses_a_test_split_for_calibration(loop_benchmark, loop_run, tmp_path):
    """issue 12 item 3: thresholds are never chosen on a test split (refused before any folder is made);
    calibration_split=None skips the choice and says why."""
    with pytest.raises(E.EvaluationError, match="is a test split"):
        E.evaluate("clam-tiny", loop_run / "best", loop_benchmark, out_dir=tmp_path / "r", progress=False,
                   calibration_split="test_id")
    assert not (tmp_path / "r").exists()
    result = E.evaluate("clam-tiny", loop_run / "best", loop_benchmark, out_dir=tmp_path / "r", progress=False,
                        n_bootstrap=20, plots=False, splits=["test_ood"], calibration_split=None)
    assert result.results["frozen_thresholds"]["chosen_on"] is None
    assert "calibration_split=None" in result.results["frozen_thresholds"]["reason"]
    assert result.results["benchmark"]["calibration_split"] is None and result.calibration is None
    assert not (tmp_path / "r" / "validation_predictions.csv").exists()


class Loudness:
    """A detector of the user's own: louder means more likely fake."""

    sample_rate = 16000
    clip = "first:1"

    def __call__(self, wave):
        return wave.abs().mean(dim=1) * 20 - 2


def _build_without_validation_and_a_missing_song(folder: Path) -> Path:
    """A real build (tests/_build_fixtures.py) with only test splits and one listed song of test_id whose
    audio file does not exist."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _build_fixtures import make_benchmark

    from mom_bench.dataset import build_benchmark

    missing = [{"id": "gone", "label": 0, "generator": "real", "source": "real", "path": "audio/nothing.wav",
                "artist": "z", "split": "test_id"}]
    proto, table = make_benchmark(folder, n_real=6, n_fake=4, n_ood=3, seconds=0.5, extra_rows=missing)
    with open(table, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:  # artists of three songs each: real_003..005 share one, kept together in test_ood
        if r["id"] != "gone":
            r["split"] = "test_ood" if r["generator"] == "gen_ood" or r["id"] in ("real_003", "real_004", "real_005") \
                else "test_id"
    with open(table, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return build_benchmark(str(proto), folder / "built", source_options={"csv": str(table)}, progress=False).out_dir


def test_coverage_below_one_and_no_validation_split_are_said(tmp_path):
    """issue 12 item 3: a song missing from the build lowers its split's coverage, which results.json and
    results.md state; a dataset without a validation split freezes no threshold and says so."""
    data = _build_without_validation_and_a_missing_song(tmp_path / "bench")
    result = E.evaluate(Loudness(), data_dir=data, out_dir=tmp_path / "results", n_bootstrap=30, progress=False,
                        plots=False)
    res = result.results
    results_schema.check_results(json.loads(json.dumps(res)))
    cov = res["coverage"]["splits"]["test_id"]
    assert (cov["scored"], cov["listed"], cov["written"], cov["missing"]) == (7, 8, 7, 1)
    assert cov["coverage"] == pytest.approx(7 / 8)
    assert res["coverage"]["splits"]["test_ood"]["coverage"] == 1.0
    frozen = res["frozen_thresholds"]
    assert frozen["chosen_on"] is None and "has no validation split" in frozen["reason"]
    assert res["benchmark"]["calibration_split"] is None
    md = (tmp_path / "results" / "results.md").read_text(encoding="utf-8")
    assert "**Coverage below 1**: test_id: 1 of 8 listed rows not scored (1 missing, 0 unusable)" in md
    assert "frozen thresholds: none" in md and "has no validation split" in md
    assert math.isfinite(res["metrics"]["splits"]["test_id"]["calibration"]["brier"]["value"])


def test_markdown_escapes_user_text():
    """issue 12 item 3 (with issue 11's rule that rendered outputs escape for their medium): a source name
    cannot open a link, HTML or a new table cell in results.md."""
    assert E.md_text("a|b [x](http://e) <img> `c` *d*") == "a\\|b \\[x\\](http://e) \\<img\\> \\`c\\` \\*d\\*"
    assert E.md_text("two\nlines") == "two lines"
    assert E.md_code("a`b") == "``a`b``" and E.md_code("plain") == "`plain`"
