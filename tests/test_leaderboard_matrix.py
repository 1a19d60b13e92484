"""A leaderboard entry carrying a cross-corpus matrix (issue 22, part 5): a real `mom-bench matrix` (the fakeprint
baseline trained on two MoM-layout builds with a validation split, scored on the leaderboard's build and on one of
its own), submitted with an entry through the real CLI, re-scored at submit and at validate, and drawn on every
board; and each way a matrix folder can lie or overreach, refused with the file, cell and field named."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from sklearn.metrics import roc_auc_score

from mom_bench.cli import main
from mom_bench.dataset import read
from mom_bench.leaderboard import schema
from mom_bench.leaderboard.render import MATRIX_CSV, render
from mom_bench.leaderboard.submit import MatrixLimits, SubmissionRejected, submit
from mom_bench.report import documents
from tests._fixtures_leaderboard import build_mom_benchmark, labels_frame, make_scores, valid_meta
from tests.test_documents import _conforms

# Two MoM-layout corpora with the validation split a training set needs; the second is another build (its own base).
MOM_LAYOUT = {
    "train": {"real": 8, "suno_3.5": 4, "udio_1.5": 4},
    "validation": {"real": 6, "suno_3.5": 3, "udio_1.5": 3},
    "test_id": {"real": 6, "suno_3.5": 3, "udio_1.5": 3},
    "test_ood": {"real": 6, "riffusion": 3, "yue": 3},
}
OTHER_LAYOUT = {
    "train": {"real": 6, "suno_3.5": 3, "udio_1.5": 3},
    "validation": {"real": 8, "suno_3.5": 4, "udio_1.5": 4},
    "test_id": {"real": 4, "suno_3.5": 2, "udio_1.5": 2},
    "test_ood": {"real": 4, "riffusion": 2, "yue": 2},
}


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> tuple[Path, Path]:
    first = build_mom_benchmark(tmp_path_factory.mktemp("corpus_a"), layout=MOM_LAYOUT)
    second = build_mom_benchmark(tmp_path_factory.mktemp("corpus_b"), layout=OTHER_LAYOUT)
    return first, second


@pytest.fixture(scope="module")
def matrix_dir(tmp_path_factory, corpora, mom_build) -> Path:
    """fakeprint trained on each corpus, tested on the leaderboard's build and on the first corpus: 4 cells, one
    of them at home (the first corpus on itself)."""
    import mom_bench

    out = tmp_path_factory.mktemp("matrix") / "out"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOM_BENCH_HOME", str(tmp_path_factory.mktemp("matrix_home")))
        mom_bench.matrix("fakeprint", list(corpora), [mom_build, corpora[0]], out, n_bootstrap=200, progress=False)
    return out


@pytest.fixture()
def folder(tmp_path, matrix_dir) -> Path:
    """A copy of the matrix folder this test may change (its run checkpoints left behind)."""
    return Path(shutil.copytree(matrix_dir, tmp_path / "matrix", ignore=shutil.ignore_patterns("runs", "folds")))


@pytest.fixture()
def files(tmp_path, mom_build) -> tuple[Path, Path]:
    pred = tmp_path / "preds.csv"
    make_scores(labels_frame(mom_build)).to_csv(pred, index=False)
    meta = tmp_path / "meta.yaml"
    meta.write_text(yaml.safe_dump(valid_meta()))
    return pred, meta


def _cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _submit(tmp_path, files, mom_build, matrix, *builds, extra=()):
    pred, meta = files
    data = [a for b in builds for a in ("--matrix-data", b)]
    return _cli("submit", pred, "--meta", meta, "--benchmark", "mom", "--data", mom_build, "--root", tmp_path / "lb",
                "--n-bootstrap", 100, "--matrix", matrix, *data, *extra)


def _validate(root, mom_build, *extra):
    return _cli("leaderboard", "validate", "--root", root, "--baselines", root / "no-baselines", "--data",
                f"mom={mom_build}", *extra)


def _doc(folder) -> dict:
    return json.loads((folder / "matrix.json").read_text())


def _edit(folder, change) -> None:
    doc = _doc(folder)
    change(doc)
    (folder / "matrix.json").write_text(json.dumps(doc, indent=1))


def _entry_path(tmp_path) -> Path:
    return tmp_path / "lb" / "entries" / "mom" / "test-detector.json"


@pytest.fixture()
def submitted(tmp_path, files, mom_build, folder, corpora) -> Path:
    result = _submit(tmp_path, files, mom_build, folder, *corpora)
    assert result.exit_code == 0, result.output
    return _entry_path(tmp_path)


# --------------------------------------------------------------------------------------------------
# submit


def test_the_entry_carries_the_matrix_re_scored_and_its_document_beside_it(submitted, folder, mom_build):
    entry = json.loads(submitted.read_text())
    assert schema.validate(entry, schema.ENTRY_REPRODUCED) == []
    assert _conforms(entry, documents.EntryReproduced) == []  # the TypedDict says what the schema says
    claim, doc = entry["matrix"], _doc(folder)
    assert claim["model"] == "fakeprint" and claim["labels_checked"] is True
    assert claim["training_sets"] == ["mom", "mom (2)"] and claim["test_sets"] == ["mom", "mom (2)"]
    five = {r["name"]: r["thresholds"]["thresholds"]["fpr_5pct"]["threshold"] for r in doc["training_sets"]}
    cells = {(c["train"], c["test"]): c for c in claim["cells"]}
    assert len(cells) == 4 and [pair for pair, c in cells.items() if c["home"]] == [("mom", "mom (2)")]
    for cell in doc["cells"]:
        # the numbers are those of the predictions, by the textbook definitions
        rows = pd.read_csv(folder / cell["predictions"], keep_default_na=False)
        y, s = rows["label"].to_numpy(), rows["score"].to_numpy()
        mine = cells[(cell["train"], cell["test"])]
        assert mine["auc"]["value"] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
        assert mine["fpr_carried_5pct"]["value"] == pytest.approx(np.mean(s[y == 0] >= five[cell["train"]]), abs=1e-12)
        assert mine["tpr_carried_5pct"]["value"] == pytest.approx(np.mean(s[y == 1] >= five[cell["train"]]), abs=1e-12)
        assert (mine["n_fake"], mine["n_real"]) == (int(y.sum()), int((1 - y).sum()))
    off = [c for c in claim["cells"] if not c["home"]]
    worst = max(off, key=lambda c: c["fpr_carried_5pct"]["value"])
    assert claim["worst_fpr_carried_5pct"]["value"] == worst["fpr_carried_5pct"]["value"]
    assert claim["lowest_auc_off_home"]["value"] == min(c["auc"]["value"] for c in off)

    stored = submitted.with_name(claim["stored"])
    assert stored.name == "test-detector.matrix.json"
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == claim["stored_sha256"]
    assert claim["file_sha256"] == hashlib.sha256((folder / "matrix.json").read_bytes()).hexdigest()
    kept = json.loads(stored.read_text())
    assert schema.validate(kept, schema.MATRIX_DOCUMENT) == []
    assert str(folder) not in stored.read_text() and str(mom_build) not in stored.read_text()  # no paths
    # the predictions are kept as columns, row for row
    first = doc["cells"][0]
    rows = pd.read_csv(folder / first["predictions"], keep_default_na=False, dtype={"id": str})
    assert kept["cells"][0]["predictions"]["id"] == rows["id"].tolist()
    assert kept["cells"][0]["predictions"]["score"] == rows["score"].tolist()


def test_labels_come_from_the_build_a_flipped_label_is_refused(tmp_path, files, mom_build, folder, corpora):
    """Labels are the build's: a cell's predictions file with one label flipped (its sha256 in matrix.json
    updated, as a careful forger would) and a validation file with one flipped are refused, the line named."""
    doc = _doc(folder)
    cell = doc["cells"][0]
    path = folder / cell["predictions"]
    rows = pd.read_csv(path, keep_default_na=False, dtype=str)
    rows.loc[0, "label"] = "1" if rows.loc[0, "label"] == "0" else "0"
    rows.to_csv(path, index=False)
    _edit(folder, lambda d: d["cells"][0].update(predictions_sha256=hashlib.sha256(path.read_bytes()).hexdigest()))
    val = folder / doc["training_sets"][1]["validation_predictions"]
    vrows = pd.read_csv(val, keep_default_na=False, dtype=str)
    vrows.loc[2, "label"] = "1" if vrows.loc[2, "label"] == "0" else "0"
    vrows.to_csv(val, index=False)
    result = _submit(tmp_path, files, mom_build, folder, *corpora)
    assert result.exit_code != 0
    out = " ".join(result.output.split())
    assert re.search(rf"{re.escape(cell['predictions'])}: line 2: id '{rows.loc[0, 'id']}' has label "
                     rf"'{rows.loc[0, 'label']}', the build at \S+ has '{1 - int(rows.loc[0, 'label'])}'", out), out
    assert f"{doc['training_sets'][1]['validation_predictions']}: line 4: id '{vrows.loc[2, 'id']}' has label" in out
    assert not (tmp_path / "lb" / "entries").exists()


def test_a_cell_that_drops_rows_of_its_test_set_is_refused(tmp_path, files, mom_build, folder, corpora):
    """The claimed numbers follow from the file, so dropping hard rows would go unseen without the build: a cell
    must hold every row of its test set but those its training set saw."""
    doc = _doc(folder)
    path = folder / doc["cells"][0]["predictions"]
    rows = pd.read_csv(path, keep_default_na=False, dtype=str)
    rows.iloc[1:].to_csv(path, index=False)
    _edit(folder, lambda d: d["cells"][0].update(predictions_sha256=hashlib.sha256(path.read_bytes()).hexdigest()))
    result = _submit(tmp_path, files, mom_build, folder, *corpora)
    assert result.exit_code != 0
    assert "leaves out 1 row(s) of test set 'mom'" in " ".join(result.output.split())
    assert f"(first: '{rows.loc[0, 'id']}')" in result.output


def test_without_the_builds_the_entry_says_its_labels_were_not_checked(tmp_path, files, mom_build, folder, corpora):
    result = _submit(tmp_path, files, mom_build, folder, corpora[0])  # the second corpus's build not at hand
    assert result.exit_code == 0, result.output
    assert "matrix labels not checked" in result.output
    claim = json.loads(_entry_path(tmp_path).read_text())["matrix"]
    assert claim["labels_checked"] is False
    assert claim["unchecked_sets"] == {"training_sets": ["mom (2)"], "test_sets": []}
    assert [c["labels_checked"] for c in claim["cells"]] == [c["train"] == "mom" for c in claim["cells"]]
    render(tmp_path / "lb")
    md = (tmp_path / "lb" / "LEADERBOARD.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| mom (2) |"))  # the second corpus's row
    assert row.count("†") == 2 and "†" not in next(line for line in md.splitlines() if line.startswith("| mom |"))


@pytest.mark.parametrize("what", ["auc", "carried fpr"])
def test_an_edited_claim_is_refused_naming_the_cell(tmp_path, files, mom_build, folder, corpora, what):
    doc = _doc(folder)
    index = next(i for i, c in enumerate(doc["cells"]) if c["train"] == "mom (2)")
    cell = doc["cells"][index]

    def lie(d):
        if what == "auc":
            d["cells"][index]["auc"]["value"] = 0.999
        else:
            d["cells"][index]["carried"]["fpr_5pct"]["fpr"]["value"] = 0.01
    _edit(folder, lie)
    result = _submit(tmp_path, files, mom_build, folder, *corpora)
    assert result.exit_code != 0
    out = " ".join(result.output.split())
    field = "auc" if what == "auc" else "carried/fpr_5pct/fpr"
    claimed = "0.999" if what == "auc" else "0.01"
    assert f"cell 'mom (2)' x '{cell['test']}': {field}: claimed {claimed}, recomputed from {cell['predictions']}" \
        in out, out
    assert not (tmp_path / "lb" / "entries").exists()


def test_a_predictions_file_linked_out_of_the_folder_is_refused(tmp_path, files, mom_build, folder, corpora):
    doc = _doc(folder)
    inside = folder / doc["cells"][1]["predictions"]
    outside = tmp_path / "elsewhere.csv"
    shutil.move(inside, outside)
    inside.symlink_to(outside)  # the same bytes, so only the path gives it away
    _edit(folder, lambda d: d["cells"][2].update(predictions="../" + d["cells"][2]["predictions"]))
    result = _submit(tmp_path, files, mom_build, folder, *corpora)
    assert result.exit_code != 0
    out = " ".join(result.output.split())
    assert f"{doc['cells'][1]['predictions']} leads out of the matrix folder" in out
    assert "is not a plain path inside the matrix folder" in out
    assert not (tmp_path / "lb" / "entries").exists()


def test_an_oversized_matrix_is_refused(tmp_path, files, mom_build, folder, corpora):
    """matrix.json past its size limit is refused before it is parsed (real CLI, default limits); a matrix with
    more prediction rows in all than the limit is refused while its files are read."""
    text = (folder / "matrix.json").read_text()
    (folder / "matrix.json").write_text(text + " " * (64 * 1024 * 1024))
    result = _submit(tmp_path, files, mom_build, folder, *corpora)
    assert result.exit_code != 0 and "the limit for a matrix.json is 67,108,864 bytes" in result.output
    (folder / "matrix.json").write_text(text)
    pred, meta = files
    with pytest.raises(SubmissionRejected) as err:
        submit(pred, meta, "mom", data_dir=mom_build, root=tmp_path / "lb", n_bootstrap=100, matrix=folder,
               matrix_limits=MatrixLimits(rows=60))
    assert any("over the limit of prediction rows for a whole matrix" in p for p in err.value.problems)
    assert not (tmp_path / "lb" / "entries").exists()


# --------------------------------------------------------------------------------------------------
# the boards and validate


def test_every_board_shows_the_cross_corpus_section_and_validate_re_scores_it(submitted, tmp_path, mom_build):
    root = tmp_path / "lb"
    claim = json.loads(submitted.read_text())["matrix"]
    cells = {(c["train"], c["test"]): c for c in claim["cells"]}
    render(root)
    md = (root / "LEADERBOARD.md").read_text()
    assert "### Cross-corpus (mom)" in md and "| Worst carried FPR |" in md
    home, away = cells[("mom", "mom (2)")], cells[("mom", "mom")]
    assert (f"| mom | {away['auc']['value']:.3f} / {away['fpr_carried_5pct']['value']:.3f} | "
            f"{home['auc']['value']:.3f} / {home['fpr_carried_5pct']['value']:.3f} (home) |") in md

    rows = list(csv.DictReader(io.StringIO((root / MATRIX_CSV).read_text())))
    assert [(r["train"], r["test"]) for r in rows] == list(cells)
    for row in rows:
        cell = cells[(row["train"], row["test"])]
        assert float(row["fpr_carried_5pct"]) == pytest.approx(cell["fpr_carried_5pct"]["value"], abs=1e-6)
        assert float(row["auc"]) == pytest.approx(cell["auc"]["value"], abs=1e-6)
        assert row["home"] == str(cell["home"]).lower() and row["slug"] == "test-detector"
    main_row = next(csv.DictReader(io.StringIO((root / "leaderboard.csv").read_text())))
    worst = claim["worst_fpr_carried_5pct"]
    assert float(main_row["worst_fpr_carried_5pct"]) == pytest.approx(worst["value"], abs=1e-6)
    assert (main_row["worst_fpr_carried_5pct_train"], main_row["worst_fpr_carried_5pct_test"]) == \
        (worst["train"], worst["test"])

    page = (root / "index.html").read_text()
    assert "<h3>Cross-corpus (mom)</h3>" in page and 'id="matrix-auc-mom-test-detector"' in page
    assert 'id="matrix-fpr_carried_5pct-mom-test-detector"' in page
    grid = page.split('id="matrix-fpr_carried_5pct-mom-test-detector"', 1)[1].split("</table>", 1)[0]
    fpr = away["fpr_carried_5pct"]["value"]
    # coloured from chance (h0: FPR 0.5 or more) to perfect (h10: FPR 0)
    assert f'class="heat h{max(0, round((1 - 2 * fpr) * 10))}"' in grid and f">{fpr:.3f}<" in grid
    assert re.findall(r"<(?:script|link|img|iframe|object|embed|source)\b[^>]*\b(?:src|href)\s*=", page) == []

    result = _validate(root, mom_build)
    assert result.exit_code == 0, result.output
    assert "its matrix (4 cells) re-scored from test-detector.matrix.json: identical" in result.output


def test_entries_without_a_matrix_render_as_before(submitted, tmp_path, mom_build):
    """The matrix's columns, section and CSV appear only with a matrix; once the entry goes, its CSV goes too."""
    root = tmp_path / "lb"
    render(root)
    assert (root / MATRIX_CSV).is_file()
    submitted.unlink()
    submitted.with_name("test-detector.matrix.json").unlink()
    submitted.with_name("test-detector.predictions.csv").unlink()
    pred, meta = tmp_path / "plain.csv", tmp_path / "plain.yaml"
    make_scores(labels_frame(mom_build), seed=3).to_csv(pred, index=False)
    meta.write_text(yaml.safe_dump(valid_meta(model_name="Plain")))
    submit(pred, meta, "mom", data_dir=mom_build, root=root, n_bootstrap=100)
    render(root)
    assert not (root / MATRIX_CSV).exists()
    for name in ("LEADERBOARD.md", "leaderboard.csv", "index.html"):
        text = (root / name).read_text()
        assert "Cross-corpus" not in text and "carried" not in text.lower()
    assert _validate(root, mom_build).exit_code == 0


@pytest.mark.parametrize("damage", ["edited document", "edited document, hash updated", "changed summary",
                                    "missing document", "orphan document", "flipped label, hash updated"])
def test_validate_reports_a_matrix_that_no_longer_holds(submitted, tmp_path, mom_build, damage):
    root = tmp_path / "lb"
    render(root)
    entry = json.loads(submitted.read_text())
    stored = submitted.with_name(entry["matrix"]["stored"])
    doc = json.loads(stored.read_text())
    if damage.startswith("edited document"):
        scores = doc["cells"][0]["predictions"]["score"]
        scores[0] = 1.0 - scores[0]
        stored.write_text(json.dumps(doc))
        if damage.endswith("hash updated"):
            entry["matrix"]["stored_sha256"] = hashlib.sha256(stored.read_bytes()).hexdigest()
            submitted.write_text(json.dumps(entry, indent=2))
    elif damage == "changed summary":
        entry["matrix"]["cells"][1]["auc"]["value"] = 0.5
        submitted.write_text(json.dumps(entry, indent=2))
    elif damage == "missing document":
        stored.unlink()
    elif damage.startswith("flipped label"):
        labels = doc["cells"][0]["predictions"]["label"]
        labels[0] = 1 - labels[0]
        stored.write_text(json.dumps(doc))
        entry["matrix"]["stored_sha256"] = hashlib.sha256(stored.read_bytes()).hexdigest()
        submitted.write_text(json.dumps(entry, indent=2))
    else:
        shutil.copy(stored, stored.with_name("someone-else.matrix.json"))
    result = _validate(root, mom_build, "--no-render-check")
    assert result.exit_code == 1
    out = " ".join(result.output.split())
    first, second = entry["matrix"]["cells"][:2]
    expected = {
        "edited document": "does not match the entry's matrix stored_sha256",
        "edited document, hash updated": f"cell '{first['train']}' x '{first['test']}': auc: claimed",
        "changed summary": f"cell '{second['train']}' x '{second['test']}': auc: claimed 0.5, recomputed",
        "missing document": "stored matrix document test-detector.matrix.json is missing or unusable",
        "orphan document": "someone-else.matrix.json: matrix document that no entry refers to",
        # the first cell's test set is the leaderboard's build, at hand here through --data
        "flipped label, hash updated": f"cell '{first['train']}' x '{first['test']}', row 0: id "
                                       f"'{doc['cells'][0]['predictions']['id'][0]}' has label "
                                       f"'{doc['cells'][0]['predictions']['label'][0]}', the build at",
    }[damage]
    assert expected in out, out


def test_rescore_rewrites_the_matrix_summary_from_the_stored_document(submitted, tmp_path, mom_build):
    """After a change of the metrics `leaderboard rescore` rewrites the numbers: here an entry whose matrix
    summary is stale gets the one its stored document gives, and validate finds it identical again."""
    root = tmp_path / "lb"
    entry = json.loads(submitted.read_text())
    fresh = entry["matrix"]
    stale = json.loads(json.dumps(fresh))
    stale["cells"][0]["auc"] = {"value": 0.5, "ci": [0.4, 0.6]}
    stale["lowest_auc_off_home"] = None
    submitted.write_text(json.dumps({**entry, "matrix": stale}, indent=2))
    assert _validate(root, mom_build, "--no-render-check").exit_code == 1
    result = _cli("leaderboard", "rescore", "--benchmark", "mom", "--data", mom_build, "--root", root)
    assert result.exit_code == 0, result.output
    assert "1 entries re-scored" in result.output
    assert json.loads(submitted.read_text())["matrix"] == fresh
    render(root)
    assert _validate(root, mom_build).exit_code == 0


def test_replacing_the_entry_without_a_matrix_removes_its_document(submitted, tmp_path, files, mom_build):
    pred, meta = files
    submit(pred, meta, "mom", data_dir=mom_build, root=tmp_path / "lb", n_bootstrap=100, replace=True)
    assert "matrix" not in json.loads(submitted.read_text())
    assert not submitted.with_name("test-detector.matrix.json").exists()


def test_fold_views_given_as_matrix_data_check_the_labels_of_fold_rows(tmp_path, files, mom_build, corpora):
    """A matrix whose rows are leave-one-generator-out views: with the views (and their base) at hand as
    --matrix-data, every set's rows are checked against them."""
    import mom_bench
    from mom_bench.dataset import views

    home = tmp_path / "home"
    out = tmp_path / "logo"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOM_BENCH_HOME", str(home))
        result = mom_bench.matrix("fakeprint", [corpora[0]], [mom_build], out, folds="logo", n_bootstrap=200,
                                  progress=False)
    folds = [Path(r["dataset"]) for r in result.document["training_sets"]]
    assert folds and all(isinstance(read.Build.open(f), read.View) for f in folds)
    copy = Path(shutil.copytree(out, tmp_path / "submitted", ignore=shutil.ignore_patterns("runs", "folds")))
    checked = _submit(tmp_path, files, mom_build, copy, corpora[0], *folds)
    assert checked.exit_code == 0, checked.output
    claim = json.loads(_entry_path(tmp_path).read_text())["matrix"]
    assert claim["labels_checked"] is True, claim
    assert views.fold_ids(corpora[0], "logo")
