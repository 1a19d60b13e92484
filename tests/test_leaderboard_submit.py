"""`mom-bench submit`: valid submissions score like `evaluate`; every class of bad submission is refused."""
from __future__ import annotations

import hashlib
import json
import pickle

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner
from sklearn.metrics import f1_score

from mom_bench.cli import main
from mom_bench.leaderboard import schema
from mom_bench.leaderboard.submit import Limits, SubmissionRejected, entry_from_evaluation, entry_path, slugify, submit
from mom_bench.report.metrics import compute_report
from tests._fixtures_leaderboard import BENCHMARK, labels_frame, make_scores, valid_meta


@pytest.fixture(scope="module")
def data_dir(mom_build):
    return mom_build  # built once per session by the real builder (tests/conftest.py)


@pytest.fixture()
def scores(data_dir):
    return make_scores(labels_frame(data_dir))


def _write(tmp_path, scores: pd.DataFrame, meta: dict, name="preds.csv"):
    pred = tmp_path / name
    if name.endswith(".parquet"):
        pq.write_table(pa.Table.from_pandas(scores, preserve_index=False), pred)
    else:
        scores.to_csv(pred, index=False)
    meta_path = tmp_path / "meta.yaml"
    meta_path.write_text(yaml.safe_dump(meta))
    return pred, meta_path


def _submit(tmp_path, data_dir, pred, meta, **kw):
    return submit(pred, meta, BENCHMARK, data_dir=data_dir, root=tmp_path / "lb", n_bootstrap=200, **kw)


def test_valid_submission_scores_like_evaluate(tmp_path, data_dir, scores):
    pred, meta = _write(tmp_path, scores, valid_meta())
    path = _submit(tmp_path, data_dir, pred, meta)
    assert path == (tmp_path / "lb" / "entries" / "mom" / "test-detector.json").resolve()
    entry = json.loads(path.read_text())
    assert schema.validate(entry, schema.ENTRY_REPRODUCED) == []
    assert entry["predictions"]["sha256"] == hashlib.sha256(pred.read_bytes()).hexdigest()
    assert entry["dataset_fingerprint"] == json.loads((data_dir / "build_report.json").read_text())["fingerprint"]

    # the report is exactly what the metrics module gives `evaluate` on the same predictions
    df = labels_frame(data_dir).merge(scores, on="id")
    expected = json.loads(json.dumps(compute_report(df, n_bootstrap=200, seed=0)))
    assert entry["report"] == expected
    assert expected["splits"]["test_ood"]["strata"]["duration"]  # the build's durations are scored, as in evaluate
    # and the headline numbers are the textbook ones
    for split in ("test_id", "test_ood"):
        part = df[df["split"] == split]
        assert entry["report"]["splits"][split]["overall"]["f1"]["value"] == pytest.approx(
            f1_score(part["label"], part["score"] >= 0.5))
    assert entry["summary"]["f1"]["value"] == pytest.approx(f1_score(df["label"], df["score"] >= 0.5))
    assert entry["summary"]["f1_ood"] == {k: expected["splits"]["test_ood"]["overall"]["f1"][k]
                                          for k in ("value", "ci")}
    assert set(entry["summary"]["per_generator"]) == {"suno_3.5", "udio_1.5", "riffusion", "yue", "suno_4"}
    assert entry["summary"]["per_generator"]["yue"]["f1"] == {
        k: expected["splits"]["test_ood"]["per_generator"]["yue"]["f1"][k] for k in ("value", "ci")}

    stored = path.with_name("test-detector.predictions.csv")
    assert entry["predictions"]["stored"] == stored.name
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == entry["predictions"]["stored_sha256"]


def test_parquet_and_csv_give_the_same_report(tmp_path, data_dir, scores):
    a = tmp_path / "a"
    b = tmp_path / "b"
    a.mkdir(), b.mkdir()
    shuffled = scores.sample(frac=1.0, random_state=3)  # row order must not matter
    p1, m1 = _write(a, scores, valid_meta())
    p2, m2 = _write(b, shuffled, valid_meta(), name="preds.parquet")
    e1 = json.loads(_submit(a, data_dir, p1, m1).read_text())
    e2 = json.loads(_submit(b, data_dir, p2, m2).read_text())
    assert e1["report"] == e2["report"] and e2["predictions"]["format"] == "parquet"


def _csv_text(scores: pd.DataFrame, override: dict[int, str] | None = None) -> str:
    """The CSV of ``scores``, with the score text of some rows (by position) replaced."""
    override = override or {}
    return "id,score\n" + "".join(f"{i},{override.get(n, repr(float(s)))}\n"
                                   for n, (i, s) in enumerate(scores.itertuples(index=False)))


BAD_PREDICTIONS = {
    "missing ids": (lambda s: _csv_text(s.iloc[3:]), "3 test id(s) have no prediction"),
    "duplicate ids": (lambda s: _csv_text(pd.concat([s, s.iloc[:2]])), "2 id(s) appear more than once"),
    "extra ids": (lambda s: _csv_text(pd.concat([s, pd.DataFrame({"id": ["train-real-000", "nobody"],
                                                                   "score": [0.1, 0.2]})])),
                  "2 id(s) are not in the test splits"),
    "NaN score": (lambda s: _csv_text(s, {0: "nan"}), "score is NaN"),
    "inf score": (lambda s: _csv_text(s, {0: "inf"}), "score is infinite"),
    "negative score": (lambda s: _csv_text(s, {0: "-0.2"}), "outside [0, 1]"),
    "score above 1": (lambda s: _csv_text(s, {0: "1.5"}), "outside [0, 1]"),
    "text score": (lambda s: _csv_text(s, {0: "high"}), "'high' is not a number"),
    "malformed CSV": (lambda s: _csv_text(s).replace("\n", "\nx,0.5,extra,fields\n", 1), "malformed CSV"),
    "no score column": (lambda s: _csv_text(s).replace("id,score", "id,prob", 1), "missing column(s) score"),
}


@pytest.mark.parametrize("case", sorted(BAD_PREDICTIONS))
def test_bad_predictions_are_rejected_with_their_reason(tmp_path, data_dir, scores, case):
    make, reason = BAD_PREDICTIONS[case]
    pred = tmp_path / "preds.csv"
    pred.write_text(make(scores))
    with pytest.raises(SubmissionRejected) as err:
        _submit(tmp_path, data_dir, pred, valid_meta())
    assert any(reason in p for p in err.value.problems), err.value.problems
    assert not (tmp_path / "lb").exists()  # nothing written


def test_pickle_is_refused_unread(tmp_path, data_dir, scores):
    for name in ("preds.pkl", "preds.csv", "preds.parquet"):  # a pickle stays a pickle whatever its name
        pred = tmp_path / name
        pred.write_bytes(pickle.dumps(scores, protocol=4))
        with pytest.raises(SubmissionRejected) as err:
            _submit(tmp_path, data_dir, pred, valid_meta())
        assert any("pickle" in p for p in err.value.problems), (name, err.value.problems)


def test_oversized_files_are_refused_before_parsing(tmp_path, data_dir, scores):
    pred, meta = _write(tmp_path, scores, valid_meta())
    with pytest.raises(SubmissionRejected) as err:
        _submit(tmp_path, data_dir, pred, meta, limits=Limits(predictions_bytes=100, meta_bytes=50))
    text = "\n".join(err.value.problems)
    assert "over the limit of 100 bytes" in text and "over the limit of 50 bytes" in text


def test_wrong_benchmark_version_and_fingerprint(tmp_path, data_dir, mom_build_old, scores):
    pred, meta = _write(tmp_path, scores, valid_meta(benchmark_version="0.9.0", dataset_fingerprint="0" * 64))
    with pytest.raises(SubmissionRejected) as err:
        _submit(tmp_path, data_dir, pred, meta)
    text = "\n".join(err.value.problems)
    assert "benchmark_version '0.9.0' does not match" in text and "fingerprint 000000000000" in text

    with pytest.raises(SubmissionRejected) as err:
        _submit(tmp_path, mom_build_old, pred, valid_meta())
    assert any("version 0.1.0" in p and "rebuild" in p for p in err.value.problems)


def test_malformed_metadata(tmp_path, data_dir, scores):
    pred, _ = _write(tmp_path, scores, valid_meta())
    bad_json = tmp_path / "meta.json"
    bad_json.write_text('{"model_name": "x", ')
    with pytest.raises(SubmissionRejected) as err:
        _submit(tmp_path, data_dir, pred, bad_json)
    assert any("malformed JSON at line 1" in p for p in err.value.problems)

    # YAML tags that would construct Python objects are refused by the safe loader, never run
    evil = tmp_path / "evil.yaml"
    marker = tmp_path / "pwned"
    evil.write_text(f'model_name: !!python/object/apply:os.system ["touch {marker}"]\n')
    with pytest.raises(SubmissionRejected) as err:
        _submit(tmp_path, data_dir, pred, evil)
    assert any("malformed YAML" in p for p in err.value.problems) and not marker.exists()

    meta = valid_meta(contact="nobody", parameters=-3, date="25/11/2026", modle="typo")
    del meta["authors"]
    with pytest.raises(SubmissionRejected) as err:
        _submit(tmp_path, data_dir, pred, meta)
    text = "\n".join(err.value.problems)
    for reason in ("authors: required but missing",
                   "contact: 'nobody' is not valid (expected an e-mail address or an http(s) URL)",
                   "below the minimum 0", "not a date like", "modle: unknown field (did you mean 'model_name'?)"):
        assert reason in text, text


def test_yaml_aliases_are_refused_before_they_expand(tmp_path, data_dir, scores):
    # "Billion laughs": nine levels of nine aliases, under 1 kB, expand to 9**9 strings once loaded. Refused
    # while parsing, without building anything (loading it would not finish).
    pred, _ = _write(tmp_path, scores, valid_meta())
    lines = ['a0: &a0 "lol"'] + [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\nmodel_name: *a9\n")
    assert bomb.stat().st_size < 1024
    with pytest.raises(SubmissionRejected) as err:
        _submit(tmp_path, data_dir, pred, bomb)
    assert any("YAML aliases (*name) are not accepted" in p for p in err.value.problems)


def test_deeply_nested_yaml_metadata_is_refused_before_it_is_built(tmp_path, data_dir, scores):
    # issue 26 item 7: metadata as deep as its size limit allows (``- - - ...`` block sequences, then
    # ``[[[...`` flow ones) used to take minutes to reject; the first level past the allowed depth stops it.
    from mom_bench.core.loader import MAX_YAML_DEPTH

    pred, _ = _write(tmp_path, scores, valid_meta())
    for name, body in (("block.yaml", "- " * (Limits().meta_bytes // 2)), ("flow.yaml", "[" * Limits().meta_bytes)):
        deep = tmp_path / name
        deep.write_text(body)
        assert deep.stat().st_size == Limits().meta_bytes
        with pytest.raises(SubmissionRejected) as err:
            _submit(tmp_path, data_dir, pred, deep)
        assert any(p.endswith(f"nesting reaches level {MAX_YAML_DEPTH + 1} at line 1, column "
                              f"{(2 if name == 'block.yaml' else 1) * MAX_YAML_DEPTH + 1}; "
                              f"metadata may nest at most {MAX_YAML_DEPTH} levels") for p in err.value.problems), \
            err.value.problems


def test_training_declaration_required_on_benchmarks_with_ood(tmp_path, data_dir, scores):
    pred, meta = _write(tmp_path, scores, valid_meta(training_data={"description": "everything",
                                                                    "only_in_distribution_generators": False}))
    with pytest.raises(SubmissionRejected) as err:
        _submit(tmp_path, data_dir, pred, meta)
    assert any("only_in_distribution_generators must be true" in p for p in err.value.problems)

    pred, meta = _write(tmp_path, scores, valid_meta(training_data="only the training generators"))
    with pytest.raises(SubmissionRejected) as err:
        _submit(tmp_path, data_dir, pred, meta)
    assert any(p.startswith("meta") and "training_data" in p for p in err.value.problems), err.value.problems


def test_slugs_cannot_escape_the_entries_folder(tmp_path, data_dir, scores):
    pred, meta = _write(tmp_path, scores, valid_meta(slug="../../x"))
    with pytest.raises(SubmissionRejected) as err:
        _submit(tmp_path, data_dir, pred, meta)
    assert any("slug" in p and "../../x" in p for p in err.value.problems)
    assert not (tmp_path / "x.json").exists() and not (tmp_path / "lb").exists()

    assert slugify("../../Evil/ Model\\..") == "evil-model"
    for slug in ("../x", "a/b", "..", "", "UPPER", "x" * 65, "-x"):
        with pytest.raises(ValueError):
            entry_path(tmp_path, "mom", slug)
    with pytest.raises(ValueError):
        entry_path(tmp_path, "../mom", "x")
    # a hostile model name still lands inside the folder under a plain name
    pred, meta = _write(tmp_path, scores, valid_meta(model_name="../../Evil Model"))
    path = _submit(tmp_path, data_dir, pred, meta)
    assert path.parent == (tmp_path / "lb" / "entries" / "mom").resolve() and path.name == "evil-model.json"


def test_every_problem_is_listed_at_once(tmp_path, data_dir, scores):
    text = _csv_text(pd.concat([scores.iloc[1:], scores.iloc[1:2]]), {5: "nan"})
    pred = tmp_path / "preds.csv"
    pred.write_text(text)
    meta = valid_meta(slug="../up", benchmark_version="2.0")
    with pytest.raises(SubmissionRejected) as err:
        _submit(tmp_path, data_dir, pred, meta)
    text = "\n".join(err.value.problems)
    for reason in ("slug", "benchmark_version '2.0'", "appear more than once", "have no prediction", "NaN"):
        assert reason in text, text


def test_existing_entry_needs_replace(tmp_path, data_dir, scores):
    pred, meta = _write(tmp_path, scores, valid_meta())
    _submit(tmp_path, data_dir, pred, meta)
    with pytest.raises(SubmissionRejected, match="already exists"):
        _submit(tmp_path, data_dir, pred, meta)
    _submit(tmp_path, data_dir, pred, meta, replace=True)


def test_cli_submit(tmp_path, data_dir, scores):
    pred, meta = _write(tmp_path, scores, valid_meta())
    runner = CliRunner()
    args = ["submit", str(pred), "--meta", str(meta), "--benchmark", "mom", "--data", str(data_dir),
            "--root", str(tmp_path / "lb"), "--n-bootstrap", "100"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "test-detector.json" in result.output and "F1" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text(_csv_text(scores.iloc[2:], {4: "7"}))
    result = runner.invoke(main, ["submit", str(bad), *args[2:], "--replace"])
    assert result.exit_code == 2
    assert "2 test id(s) have no prediction" in result.output and "outside [0, 1]" in result.output


def test_entry_from_evaluation(tmp_path, data_dir, scores):
    """An evaluate results folder (results.json + predictions.csv as `mom-bench evaluate` writes them)."""
    run = tmp_path / "run"
    run.mkdir()
    rows = labels_frame(data_dir).merge(scores, on="id")
    rows[["id", "split", "generator", "label", "score"]].to_csv(run / "predictions.csv", index=False)
    fingerprint = json.loads((data_dir / "build_report.json").read_text())["fingerprint"]
    results = {"schema_version": 1,
               "benchmark": {"name": "mom", "version": valid_meta()["benchmark_version"], "fingerprint": fingerprint,
                             "dataset": str(data_dir), "splits": ["test_id", "test_ood"]},
               "model": {"requested": "clam", "name": "clam", "config": {}},
               "metrics": compute_report(rows, n_bootstrap=150, seed=4)}
    (run / "results.json").write_text(json.dumps(results))
    meta = valid_meta()
    for key in ("model_name", "parameters", "benchmark_version"):
        del meta[key]  # filled from the run
    meta["parameters"] = 99
    path = entry_from_evaluation(run, meta, root=tmp_path / "lb")
    entry = json.loads(path.read_text())
    assert entry["model_name"] == "clam" and entry["parameters"] == 99 and path.name == "clam.json"
    assert entry["predictions"]["ignored_columns"] == ["split", "generator", "label"]
    # scored with the run's bootstrap settings: the entry holds exactly the numbers evaluate reported
    assert entry["scoring"]["n_bootstrap"] == 150 and entry["scoring"]["seed"] == 4
    assert entry["report"]["splits"] == json.loads(json.dumps(results["metrics"]["splits"]))

    # predictions edited after the run no longer reproduce results.json
    edited = rows.copy()
    edited.loc[0, "score"] = 1.0 - edited.loc[0, "score"]
    edited[["id", "split", "generator", "label", "score"]].to_csv(run / "predictions.csv", index=False)
    with pytest.raises(SubmissionRejected, match="does not reproduce the metrics"):
        entry_from_evaluation(run, meta, root=tmp_path / "lb2")
    assert not list((tmp_path / "lb2").rglob("*.json"))

    results["benchmark"]["fingerprint"] = "f" * 64
    (run / "results.json").write_text(json.dumps(results))
    with pytest.raises(SubmissionRejected, match="evaluation: dataset fingerprint ffffffffffff"):
        entry_from_evaluation(run, meta, root=tmp_path / "lb3")


def test_spreadsheet_formula_names_are_refused(tmp_path, data_dir, scores):
    pred, meta = _write(tmp_path, scores, valid_meta(model_name="=HYPERLINK(\"http://x\")"))
    with pytest.raises(SubmissionRejected) as err:
        _submit(tmp_path, data_dir, pred, meta)
    assert any("model_name" in p and "does not start with =" in p for p in err.value.problems)


def test_parquet_row_limit_is_read_from_the_footer(tmp_path, data_dir, scores):
    pred, meta = _write(tmp_path, scores, valid_meta(), name="preds.parquet")
    with pytest.raises(SubmissionRejected, match=rf"{len(scores)} rows is over the limit of 10"):
        _submit(tmp_path, data_dir, pred, meta, limits=Limits(rows=10))
