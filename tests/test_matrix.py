"""`mom-bench matrix`: one detector trained on each training set, scored on each test set with the thresholds of
its training set's validation split carried over. Two corpora layouts built by the real builder (mom-mini, and a
MoM-layout build with a validation split), the real fakeprint baseline trained on each, real CLI processes."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.metrics import roc_auc_score

from mom_bench.cli import main
from mom_bench.core.errors import MatrixError, NotABuiltBenchmark
from mom_bench.core.json_schema import validate
from mom_bench.dataset import read
from mom_bench.report import matrix_render
from mom_bench.report.metrics import carried
from tests._fixtures_leaderboard import build_mom_benchmark

# A MoM-layout build with the validation split a training set needs (the leaderboard's fixture has none).
MOM_LAYOUT = {
    "train": {"real": 8, "suno_3.5": 4, "udio_1.5": 4},
    "validation": {"real": 6, "suno_3.5": 3, "udio_1.5": 3},
    "test_id": {"real": 6, "suno_3.5": 3, "udio_1.5": 3},
    "test_ood": {"real": 6, "riffusion": 3, "yue": 3},
}
OPTIONS = {"n_bootstrap": 200, "progress": False}


@pytest.fixture(scope="module")
def mom_layout(tmp_path_factory) -> Path:
    return build_mom_benchmark(tmp_path_factory.mktemp("mom_layout"), layout=MOM_LAYOUT)


@pytest.fixture(scope="module")
def two_corpora(tmp_path_factory, mini_build, mom_layout):
    """fakeprint trained on mom-mini and on the MoM layout, each scored on both (mom-mini's pools as columns)."""
    import mom_bench

    home = tmp_path_factory.mktemp("matrix_home")
    out = tmp_path_factory.mktemp("matrix") / "out"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOM_BENCH_HOME", str(home))
        said: list[str] = []
        result = mom_bench.matrix("fakeprint", [mini_build, mom_layout], [mini_build, mom_layout], out,
                                  by_pool=True, log=said.append, **OPTIONS)
    return result, said, home


def _cells(doc):
    return {(c["train"], c["test"]): c for c in doc["cells"]}


def test_every_cell_is_written_with_its_predictions_and_the_document_fits_its_schema(two_corpora):
    result, said, _ = two_corpora
    doc = json.loads((result.out / "matrix.json").read_text())
    assert validate(doc, json.loads(matrix_render.MATRIX_SCHEMA_PATH.read_text())) == []
    assert [t["name"] for t in doc["training_sets"]] == ["mom-mini", "mom"]
    tests = [t["name"] for t in doc["test_sets"]]
    assert tests[0] == "mom-mini" and {"mom-mini / debian_music", "mom-mini / cc_recordings"} <= set(tests)
    assert "mom" in tests
    assert len(doc["cells"]) == 2 * len(tests)
    for cell in doc["cells"]:
        path = result.out / cell["predictions"]
        assert path.is_file() and len(pd.read_csv(path)) == cell["n"]
    md = (result.out / "matrix.md").read_text()
    assert "## AUC" in md and "carried 5 % threshold" in md and "Per decoder family on mom-mini" in md
    assert (result.out / "matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a pool column holds every fake of its test set and only that pool's reals
    whole = _cells(doc)[("mom-mini", "mom-mini")]
    pool = _cells(doc)[("mom-mini", "mom-mini / cc_recordings")]
    assert pool["n_fake"] == whole["n_fake"] and pool["n_real"] == whole["per_real_pool"]["cc_recordings"]["n_real"]


def test_the_shipped_schema_is_the_generated_one():
    assert matrix_render.MATRIX_SCHEMA_PATH.read_text() == matrix_render.schema_text()


@pytest.fixture(scope="module")
def lofo_matrix(two_corpora, mini_build, mom_layout, tmp_path_factory):
    """fakeprint on mom-mini and its leave-one-family-out folds (views), scored on mom-mini (and its pools) and on
    the MoM layout, in the home whose feature cache ``two_corpora`` filled."""
    import mom_bench

    out = tmp_path_factory.mktemp("lofo") / "out"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOM_BENCH_HOME", str(two_corpora[2]))
        said: list[str] = []
        result = mom_bench.matrix("fakeprint", [mini_build], [mini_build, mom_layout], out, folds="lofo",
                                  keep_base=True, by_pool=True, log=said.append, **OPTIONS)
    return result, said


def test_lofo_rows_train_on_count_controlled_views_and_read_the_bases_features(lofo_matrix, mini_build):
    result, said = lofo_matrix
    doc = result.document
    base = read.Build.open(mini_build)
    families = {f for g, f in base.decoder_families().items() if base.counts["train"].get(g)}
    rows = {r["name"]: r for r in doc["training_sets"]}
    assert "mom-mini" in rows and {f"mom-mini~lofo-{f}" for f in families} <= set(rows)
    assert doc["timing"]["songs_extracted"] == 0  # every view reads the base's cache, filled by the first matrix
    base_fakes = int((base.table("train", ["label"])["label"] == 1).sum())
    for name, row in rows.items():
        if name == "mom-mini":
            assert row["held_out"] == []
            continue
        view = read.Build.open(row["dataset"])
        assert isinstance(view, read.View) and row["base_fingerprint"] == base.fingerprint
        family = view.fold["family"]
        assert row["held_out"][0] == family
        train = view.table("train", ["label", "generator"])
        assert int((train["label"] == 1).sum()) == base_fakes  # count control
        assert not {g for g in train["generator"] if base.decoder_families().get(g) == family}
        # the rows the fold moved into training are left out of its cell on the base build, and counted
        seen = {str(i) for split in ("train", "validation") for i in view.table(split, ["id"])["id"]}
        groups = {str(g) for split in ("train", "validation") for g in view.table(split, ["group_id"])["group_id"]}
        test = pd.concat([base.table(s, ["id", "group_id"]) for s in ("test_id", "test_ood")])
        overlap = test["id"].astype(str).isin(seen) | test["group_id"].astype(str).isin(groups)
        cell = _cells(doc)[(name, "mom-mini")]
        assert cell["excluded_overlap"] == int(overlap.sum())
        assert cell["n"] == len(test) - int(overlap.sum())
    md = (result.out / "matrix.md").read_text()
    assert "the family was held out of that training set" in md and "*" in md


def test_per_family_and_per_pool_numbers_agree_with_scikit_learn_on_the_stored_predictions(two_corpora,
                                                                                          lofo_matrix):
    _agree_with_scikit_learn(two_corpora[0])
    _agree_with_scikit_learn(lofo_matrix[0])


def _agree_with_scikit_learn(result):
    doc = result.document
    home = {r["name"]: r["thresholds"]["thresholds"] for r in doc["training_sets"]}
    checked = 0
    for cell in doc["cells"]:
        rows = pd.read_csv(result.out / cell["predictions"], keep_default_na=False)
        y, s = rows["label"].to_numpy(), rows["score"].to_numpy()
        assert cell["auc"]["value"] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
        for rule, entry in home[cell["train"]].items():
            t = entry["threshold"]
            if t is None:
                continue
            assert cell["carried"][rule]["fpr"]["value"] == pytest.approx(np.mean(s[y == 0] >= t), abs=1e-12)
            assert cell["carried"][rule]["tpr"]["value"] == pytest.approx(np.mean(s[y == 1] >= t), abs=1e-12)
        for family, block in cell["per_decoder_family"].items():
            mask = (y == 0) | (rows["decoder_family"].to_numpy() == family)
            assert block["auc"]["value"] == pytest.approx(roc_auc_score(y[mask], s[mask]), abs=1e-12)
            fam = s[(y == 1) & (rows["decoder_family"].to_numpy() == family)]
            t5 = home[cell["train"]]["fpr_5pct"]["threshold"]
            assert block["tpr"]["fpr_5pct"]["value"] == pytest.approx(np.mean(fam >= t5), abs=1e-12)
            checked += 1
        for pool, block in cell["per_real_pool"].items():
            mask = (y == 1) | (rows["source"].astype(str).to_numpy() == pool)
            assert block["auc"]["value"] == pytest.approx(roc_auc_score(y[mask], s[mask]), abs=1e-12)
            reals = s[(y == 0) & (rows["source"].astype(str).to_numpy() == pool)]
            t5 = home[cell["train"]]["fpr_5pct"]["threshold"]
            assert block["fpr"]["fpr_5pct"]["value"] == pytest.approx(np.mean(reals >= t5), abs=1e-12)
            checked += 1
    assert checked > 10


def test_thresholds_come_from_the_training_sets_validation_split_alone(two_corpora, mini_build, mom_layout,
                                                                      tmp_path, monkeypatch):
    """Chosen from validation predictions only (their ids are the validation split's, the thresholds are those
    of these predictions), written before the first cell, and the same whatever the test sets are."""
    import mom_bench

    result, _, home = two_corpora
    for row in result.document["training_sets"]:
        stored = pd.read_csv(result.out / row["validation_predictions"], keep_default_na=False)
        build = read.Build.open(row["dataset"])
        assert sorted(stored["id"].astype(str)) == sorted(build.table("validation", ["id"])["id"].astype(str))
        again = carried.home_thresholds(stored.rename(columns={"from_split": "split"}))
        assert again["thresholds"] == row["thresholds"]["thresholds"]
        rows_dir = result.out / "rows" / Path(row["validation_predictions"]).parent.name
        first_cell = min(p.stat().st_mtime_ns for p in (result.out / "cells" / rows_dir.name).rglob("cell.json"))
        assert (rows_dir / "thresholds.json").stat().st_mtime_ns <= first_cell
    # another matrix, trained afresh, tested only on the MoM layout's test_ood: the same thresholds
    monkeypatch.setenv("MOM_BENCH_HOME", str(home))
    other = mom_bench.matrix("fakeprint", [mini_build], [mom_layout], tmp_path / "other", test_splits=["test_ood"],
                             **OPTIONS)
    assert other.document["training_sets"][0]["thresholds"] == result.document["training_sets"][0]["thresholds"]


def test_a_second_run_reuses_everything_and_says_so(two_corpora, mini_build, mom_layout, monkeypatch):
    import mom_bench

    result, said, home = two_corpora
    monkeypatch.setenv("MOM_BENCH_HOME", str(home))
    assert any("features: " in line and "songs computed" in line for line in said)
    again: list[str] = []
    second = mom_bench.matrix("fakeprint", [mini_build, mom_layout], [mini_build, mom_layout], result.out,
                              by_pool=True, log=again.append, **OPTIONS)
    assert any(line.startswith("everything was reused") for line in again), again
    assert second.document["timing"]["songs_extracted"] == 0
    assert second.document["timing"]["reused"]["cells"] == len(second.document["cells"])
    strip = ("created", "timing")
    assert {k: v for k, v in second.document.items() if k not in strip} == \
        {k: v for k, v in result.document.items() if k not in strip}


def test_features_are_computed_once_per_song(two_corpora):
    result, _, _ = two_corpora
    timing = result.document["timing"]
    assert timing["songs_extracted"] == timing["distinct_songs"] == 1422 + sum(
        sum(g.values()) for g in MOM_LAYOUT.values())


def test_rows_the_training_set_saw_are_left_out_and_counted(two_corpora, mom_layout, monkeypatch, tmp_path):
    import mom_bench

    _, _, home = two_corpora
    monkeypatch.setenv("MOM_BENCH_HOME", str(home))
    result = mom_bench.matrix("fakeprint", [mom_layout], [mom_layout], tmp_path / "m",
                              test_splits=["train", "test_id"], **OPTIONS)
    cell = result.document["cells"][0]
    assert cell["excluded_overlap"] == sum(MOM_LAYOUT["train"].values())
    assert cell["n"] == sum(MOM_LAYOUT["test_id"].values())
    with pytest.raises(MatrixError, match="no test row is left"):
        mom_bench.matrix("fakeprint", [mom_layout], [mom_layout], tmp_path / "m2", test_splits=["validation"],
                         **OPTIONS)


def test_refusals_name_the_set_and_the_reason(mom_build, tmp_path):
    import mom_bench

    with pytest.raises(MatrixError, match=r"has no validation split.*thresholds are chosen on validation"):
        mom_bench.matrix("fakeprint", [mom_build], [mom_build], tmp_path / "m", **OPTIONS)
    with pytest.raises(NotABuiltBenchmark, match="no such folder"):
        mom_bench.matrix("fakeprint", [tmp_path / "nowhere"], [mom_build], tmp_path / "m", **OPTIONS)
    with pytest.raises(MatrixError, match="no test set"):
        mom_bench.matrix("fakeprint", [mom_build], [], tmp_path / "m", **OPTIONS)


def test_help_says_what_a_cell_is_and_how_thresholds_travel():
    text = CliRunner().invoke(main, ["matrix", "--help"]).output
    assert "A cell is (training set, test set)" in text and "Thresholds travel" in text
    assert "--folds" in text and "--by-pool" in text


def test_a_killed_matrix_continues_cell_by_cell(two_corpora, mini_build, mom_layout, tmp_path):
    """SIGKILL once the first cell is on disk; the same command then keeps that cell and makes the others."""
    _, _, home = two_corpora
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "mom_bench", "matrix", "--model", "fakeprint", "--train", str(mini_build),
               "--test", str(mini_build), "--test", str(mom_layout), "--by-pool", "--out", str(out), "--quiet",
               "--n-bootstrap", "3000"]
    env = {**os.environ, "MOM_BENCH_HOME": str(home)}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while not list(out.glob("cells/*/*/cell.json")):
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    done = {p.parent.name: p.read_bytes() for p in out.glob("cells/*/*/cell.json")}
    assert len(done) >= 1 and not (out / "matrix.json").exists()
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert f"{len(done)} cells" in again.stdout and "reused 1 runs" in again.stdout
    after = {p.parent.name: p.read_bytes() for p in out.glob("cells/*/*/cell.json")}
    doc = json.loads((out / "matrix.json").read_text())
    assert len(after) == len(doc["cells"]) > len(done) and all(after[k] == v for k, v in done.items())
    assert doc["timing"]["reused"]["cells"] == len(done)


def test_under_torchrun_the_cells_are_those_of_one_process(two_corpora, mom_layout, tmp_path, monkeypatch):
    """Two ranks of a real launcher: features extracted by both, the head trained and the cells scored by rank
    0 alone, and the same document as one process gives."""
    import mom_bench

    _, _, home = two_corpora
    monkeypatch.setenv("MOM_BENCH_HOME", str(home))
    single = mom_bench.matrix("fakeprint", [mom_layout], [mom_layout], tmp_path / "one", **OPTIONS)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m",
               "mom_bench", "matrix", "--model", "fakeprint", "--train", str(mom_layout), "--test", str(mom_layout),
               "--out", str(tmp_path / "two"), "--n-bootstrap", "200", "--quiet"]
    done = subprocess.run(command, env={**os.environ, "MOM_BENCH_HOME": str(home), "OMP_NUM_THREADS": "1"},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stdout.count("AUC [95% CI]") == 1  # rank 0 alone prints the tables
    two = json.loads((tmp_path / "two" / "matrix.json").read_text())

    def same(doc):
        cells = [{k: v for k, v in c.items() if k != "seconds"} for c in doc["cells"]]
        return cells, [r["thresholds"] for r in doc["training_sets"]]

    assert same(two) == same(single.document)
