"""Per pool of reals (issue 22): every evaluation scores all the fakes of a split against each pool of reals (a
build's ``source`` of a real: the protocol's ``reals`` id), AUC and FPR with intervals, checked against
scikit-learn on the predictions of a real build; the leaderboard shows each entry's worst pool and
``leaderboard validate`` re-checks it.

Two builds by the real builder: the loop fixture's benchmark with a second pool of reals (half of them bright
takes that look fake to the detector), scored by ``evaluate``; and the two-source build posing as ``mom`` of
tests/test_leaderboard_operating_points.py, submitted to a leaderboard.
"""
from __future__ import annotations

import copy
import csv
import io
import json

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics as skm

from mom_bench.leaderboard.render import render
from mom_bench.leaderboard.submit import submit
from mom_bench.leaderboard.validate import validate_folder
from mom_bench.report import metrics
from mom_bench.report.metrics import schema as results_schema
from tests._build_fixtures import build_listed, write_audio
from tests._fixtures_leaderboard import valid_meta
from tests._fixtures_loop import PROTOCOL, RATE, REAL_SOURCE, signal
from tests.test_decoder_families import Brightness
from tests.test_leaderboard_operating_points import COVERS, SONGS, _build, _scores, _test_rows

TAKES = "bright_takes"  # the second pool: every other real is a bright, noisy take
# split -> (generator, pool or None) -> rows
LAYOUT = {
    "train": {("real", REAL_SOURCE): 6, ("real", TAKES): 6, ("gen_a", None): 6, ("gen_b", None): 6},
    "validation": {("real", REAL_SOURCE): 3, ("real", TAKES): 3, ("gen_a", None): 2, ("gen_b", None): 2},
    "test_id": {("real", REAL_SOURCE): 6, ("real", TAKES): 6, ("gen_a", None): 4, ("gen_b", None): 4},
    "test_ood": {("real", REAL_SOURCE): 5, ("real", TAKES): 6, ("gen_ood", None): 6},
}


@pytest.fixture(scope="module")
def pool_build(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pool_build")
    protocol = copy.deepcopy(PROTOCOL)
    protocol["reals"] = [{"id": REAL_SOURCE, "name": "Soft low tones"},
                         {"id": TAKES, "name": "Bright takes (half of them noisy)"}]
    rows, seed = [], 0
    for split, groups in LAYOUT.items():
        for (gen, pool), n in groups.items():
            for k in range(n):
                seed += 1
                kind = "gen_a" if pool == TAKES and k % 2 == 0 else gen  # a bright take sounds like a fake
                row_id = f"{split}-{pool or gen}-{k:03d}"
                write_audio(folder / f"audio/{row_id}.flac", signal(kind, 2.5 + 0.1 * (seed % 5), seed), RATE)
                rows.append({"id": row_id, "label": int(gen != "real"), "generator": gen, "source": pool or gen,
                             "path": f"audio/{row_id}.flac", "split": split})
    return build_listed(folder, protocol, rows).out_dir


@pytest.fixture(scope="module")
def pool_run(pool_build, tmp_path_factory):
    from mom_bench.loop.evaluation import evaluate

    out = tmp_path_factory.mktemp("pool_run") / "results"
    result = evaluate(Brightness(), data_dir=pool_build, out_dir=out, n_bootstrap=200, progress=False, plots=False)
    return result, out


def test_each_pool_has_the_auc_and_fpr_sklearn_computes_from_the_predictions(pool_build, pool_run):
    result, out = pool_run
    report_pools = json.loads((pool_build / "build_report.json").read_text())["counts"]["reals_by_source"]
    assert report_pools["test_id"] == {TAKES: 6, REAL_SOURCE: 6}  # a real's source is the protocol's reals id
    results = json.loads((out / "results.json").read_text())
    assert results_schema.results_problems(results) == []
    # predictions.csv is id, split, generator, label, score: each real's pool is read from the build's row list
    listed = json.loads((pool_build / "build_report.json").read_text())["rows"]
    preds = pd.read_csv(out / "predictions.csv").merge(pd.DataFrame(listed)[["id", "source"]], on="id",
                                                       how="left", validate="one_to_one")
    pools = results["metrics"]["per_real_pool"]
    assert list(pools) == ["test_id", "test_ood"]
    aucs = {}
    for split, rows in preds.groupby("split"):
        fakes, reals = rows[rows["label"] == 1], rows[rows["label"] == 0]
        assert sorted(pools[split]) == sorted(reals["source"].unique()) == sorted([REAL_SOURCE, TAKES])
        for pool, mine in reals.groupby("source"):
            p = pools[split][pool]
            both = pd.concat([fakes, mine])
            assert (p["n_real"], p["n_fake"]) == (len(mine), len(fakes))
            assert p["auc"]["value"] == pytest.approx(skm.roc_auc_score(both["label"], both["score"]))
            called = mine["score"] >= 0.5
            assert p["fpr"]["value"] == pytest.approx(called.mean())
            assert p["fpr"]["value"] == pytest.approx(1 - skm.recall_score(mine["label"], called.astype(int),
                                                                           pos_label=0))  # 1 - specificity
            assert p["fpr"] == results["metrics"]["false_positive_rates"][split]["by_source"][pool]["fpr"]
            lo, hi = p["auc"]["ci"]
            assert 0 <= lo <= hi <= 1
            aucs[(split, pool)] = p["auc"]["value"]
    assert aucs[("test_id", TAKES)] < aucs[("test_id", REAL_SOURCE)], "the bright takes should be the harder pool"

    md = (out / "results.md").read_text()
    assert "## Per pool of reals" in md
    assert "| split | pool of reals | reals | fakes | AUC [95% CI] | FPR [95% CI] |" in md
    for split in ("test_id", "test_ood"):
        pool = min((v, p) for (s, p), v in aucs.items() if s == split)[1]
        line = f"worst pool of reals on {split}: {pool} (AUC "
        assert f"- {line}" in md
        assert line in result.summary()
    assert f"{REAL_SOURCE} " in result.summary().split("worst pool")[0]  # the console table lists every pool


def test_pools_add_a_section_and_change_no_other_number(pool_run):
    result, _ = pool_run
    preds = result.predictions  # what evaluate scored
    families = result.build.decoder_families()
    with_pools = metrics.compute_report(preds, n_bootstrap=200, decoder_families=families)
    plain = metrics.compute_report(preds.drop(columns="source"), n_bootstrap=200, decoder_families=families)
    assert with_pools == result.report
    assert with_pools.pop("per_real_pool") and "per_real_pool" not in plain
    assert with_pools["definitions"].pop("per_real_pool") and "per_real_pool" not in plain["definitions"]
    for split, fp in with_pools["false_positive_rates"].items():  # by_source needs the column, as before
        assert fp.pop("by_source") and plain["false_positive_rates"][split].pop("note")
    assert with_pools == plain


def test_a_results_json_without_pools_still_validates(pool_run):
    from mom_bench.loop.evaluation import render_markdown

    result, _ = pool_run
    assert results_schema.results_problems(result.results) == []
    old = json.loads(json.dumps(result.results))
    old["metrics"].pop("per_real_pool")
    old["metrics"]["definitions"].pop("per_real_pool")
    assert results_schema.results_problems(old) == []
    assert "Per pool of reals" not in render_markdown(old)
    broken = json.loads(json.dumps(result.results))
    broken["metrics"]["per_real_pool"]["test_ood"][TAKES].pop("auc")
    assert any("per_real_pool" in p for p in results_schema.results_problems(broken))


# --------------------------------------------------------------------------------------------------
# The leaderboard: each entry's worst pool


@pytest.fixture(scope="module")
def two_pools(tmp_path_factory):
    return _build(tmp_path_factory.mktemp("two_pools"))


def _sklearn_worst(rows: pd.DataFrame, scores: pd.DataFrame) -> tuple[str, str, float]:
    both = rows.merge(scores, on="id")
    found = []
    for split, r in both.groupby("split"):
        fakes = r[r["label"] == 1]
        for pool, mine in r[r["label"] == 0].groupby("source"):
            sub = pd.concat([fakes, mine])
            found.append((skm.roc_auc_score(sub["label"], sub["score"]), -len(mine), split, pool))
    auc, _, split, pool = min(found)
    return split, pool, auc


@pytest.mark.slow  # a build of its own (two real sources)
def test_an_entry_shows_its_worst_pool_on_every_page_and_validate_rechecks_it(two_pools, tmp_path):
    rows = _test_rows(two_pools)
    scores = _scores(rows)
    pred = tmp_path / "preds.csv"
    scores.to_csv(pred, index=False)
    root = tmp_path / "lb"
    path = submit(pred, valid_meta(), "mom", data_dir=two_pools, root=root, n_bootstrap=50)
    entry = json.loads(path.read_text())
    worst = entry["summary"]["worst_real_pool"]
    split, pool, auc = _sklearn_worst(rows, scores)
    assert (worst["split"], worst["pool"]) == (split, pool) and pool in (SONGS, COVERS)
    assert worst["value"] == pytest.approx(auc)
    block = entry["report"]["per_real_pool"][split][pool]
    assert (worst["n_real"], worst["n_fake"], worst["ci"]) == (block["n_real"], block["n_fake"], block["auc"]["ci"])

    render(root)
    md = (root / "LEADERBOARD.md").read_text()
    assert "| Worst real pool AUC |" in md
    assert f"| {auc:.3f} ({pool.replace('_', chr(92) + '_')}, {split.replace('_', chr(92) + '_')}) |" in md
    row = next(csv.DictReader(io.StringIO((root / "leaderboard.csv").read_text())))
    assert (row["worst_real_pool"], row["worst_real_pool_split"]) == (pool, split)
    assert float(row["worst_real_pool_auc"]) == pytest.approx(auc, abs=1e-6)
    page = (root / "index.html").read_text()
    assert 'data-key="worst_real_pool" data-type="num" aria-sort="none"' in page
    assert f'{auc:.3f} <span class="muted">{pool}, {split}</span></td>' in page
    assert validate_folder(root, data_dirs={"mom": two_pools}).ok

    # the summary edited on disk: validate names the entry and the field
    original = path.read_text()
    edited = json.loads(original)
    edited["summary"]["worst_real_pool"]["value"] = 0.99
    path.write_text(json.dumps(edited, indent=1))
    problems = validate_folder(root, data_dirs={"mom": two_pools}, check_rendered=False).problems
    assert any(str(path) in p and "summary.worst_real_pool" in p for p in problems), problems

    # the report's pool and the summary edited together: re-scoring the stored predictions finds it
    edited = json.loads(original)
    lower = round(auc - 0.01, 6)  # still the worst pool, so the summary follows the edited report
    edited["report"]["per_real_pool"][split][pool]["auc"]["value"] = lower
    edited["summary"]["worst_real_pool"]["value"] = lower
    path.write_text(json.dumps(edited, indent=1))
    problems = validate_folder(root, data_dirs={"mom": two_pools}, check_rendered=False).problems
    assert not any("summary" in p for p in problems), problems
    assert any(str(path) in p and "re-scoring the stored predictions gives a different report: "
               "report.per_real_pool differs" in p for p in problems), problems


@pytest.mark.slow  # a build of its own (two real sources)
def test_an_entry_scored_before_pools_existed_still_validates(two_pools, tmp_path):
    rows = _test_rows(two_pools)
    pred = tmp_path / "preds.csv"
    _scores(rows).to_csv(pred, index=False)
    root = tmp_path / "lb"
    path = submit(pred, valid_meta(), "mom", data_dir=two_pools, root=root, n_bootstrap=50)
    old = json.loads(path.read_text())
    for key in ("report", "report_all_tests"):
        old[key].pop("per_real_pool")
        old[key]["definitions"].pop("per_real_pool")
    old["summary"].pop("worst_real_pool")
    path.write_text(json.dumps(old, indent=1))
    render(root)
    assert "Worst real pool" not in (root / "LEADERBOARD.md").read_text()
    assert "worst_real_pool" not in (root / "leaderboard.csv").read_text()
    result = validate_folder(root, data_dirs={"mom": two_pools})
    assert result.ok, result.problems
    assert any("re-scored" in n and "predate per_real_pool" in n for n in result.notes), result.notes
    # its other numbers are still compared
    old["report"]["splits"]["test_id"]["overall"]["auc"]["value"] = 0.5
    path.write_text(json.dumps(old, indent=1))
    problems = validate_folder(root, data_dirs={"mom": two_pools}, check_rendered=False).problems
    assert any("report.splits differs" in p for p in problems), problems


def test_the_worst_pool_is_the_lowest_auc_over_the_test_splits():
    stat = {"value": 0.5, "ci": None}
    report = {"per_real_pool": {
        "validation": {"a": {"n_real": 3, "n_fake": 2, "auc": {"value": 0.1, "ci": None}, "fpr": stat}},
        "test_id": {"a": {"n_real": 3, "n_fake": 2, "auc": {"value": 0.7, "ci": None}, "fpr": stat},
                    "b": {"n_real": 4, "n_fake": 2, "auc": {"value": 0.6, "ci": None}, "fpr": stat}},
        "test_ood": {"a": {"n_real": 5, "n_fake": 2, "auc": {"value": 0.6, "ci": None}, "fpr": stat}}}}
    split, pool, block = metrics.worst_real_pool(report, ["test_id", "test_ood"])
    assert (split, pool, block["n_real"]) == ("test_ood", "a", 5)  # a tie: more reals first
    assert metrics.worst_real_pool({"splits": {}}, ["test_id"]) is None
    assert np.isclose(metrics.worst_real_pool(report, ["validation"])[2]["auc"]["value"], 0.1)
