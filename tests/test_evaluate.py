"""build -> train -> evaluate on the tiny fixture benchmark, and the results folder it writes."""
import hashlib
import json

import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn import metrics as skm

from mom_bench.cli import main
from mom_bench.dataset import read
from mom_bench.loop import evaluation as E
from mom_bench.loop import runs
from mom_bench.report import metrics
from tests._fixtures_loop import BENCHMARK, LAYOUT, layout_counts

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def data(loop_benchmark):
    return loop_benchmark  # built once per session by the real builder (tests/conftest.py)


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, data, loop_run):
    run = loop_run
    out = tmp_path_factory.mktemp("eval") / "results"
    return E.evaluate("clam-tiny", run / "best", data, out_dir=out, n_bootstrap=200, progress=False), run


def test_read_info_and_rows(data):
    info = read.read_info(data)
    assert info["benchmark"] == BENCHMARK and info["splits"] == ["train", "validation", "test_id", "test_ood"]
    # the builder kept the splits the fixture's row list pre-assigned, and wrote every row
    assert info["counts"] == layout_counts()
    assert info["row_totals"]["written"] == info["row_totals"]["rows"] == sum(n for _, _, n in LAYOUT)
    rows = list(read.iter_rows(data, "test_ood", columns=["id", "audio", "label"]))
    assert len(rows) == read.num_rows(data, "test_ood") == sum(info["counts"]["test_ood"].values())
    assert isinstance(rows[0]["audio"], bytes) and rows[0]["audio"][:4] == b"fLaC"
    table = read.read_table(data, "test_ood", ["id", "generator"])
    assert list(table["id"]) == [r["id"] for r in rows]
    with pytest.raises(read.NotABuiltBenchmark, match="no split 'test'"):
        list(read.iter_rows(data, "test"))


def test_results_folder(evaluated, data):
    result, run = evaluated
    out = result.out_dir
    res = json.loads((out / "results.json").read_text())
    info = read.read_info(data)
    assert res["schema_version"] == E.RESULTS_SCHEMA_VERSION
    assert res["benchmark"]["fingerprint"] == info["fingerprint"] and res["benchmark"]["name"] == BENCHMARK
    assert res["model"]["name"] == "clam-tiny" and res["model"]["config"]["model"] == "clam-tiny"
    weights = (run / "best" / "model.safetensors").read_bytes()
    assert res["model"]["checkpoint_sha256"] == hashlib.sha256(weights).hexdigest()
    assert res["model"]["training"]["best_epoch"] >= 1
    from mom_bench.models import registry

    trained = registry.load(run / "best")
    assert res["model"]["encoders"] == {s: e.identity() for s, e in trained.encoders.items()}
    assert set(res["model"]["encoders"]) == {"mert", "w2v"}
    assert res["model"]["encoders"]["mert"].startswith("hubert|random:")
    assert res["libraries"]["torch"] and res["mom_bench_version"] and res["created"]
    assert set(res["benchmark"]["splits"]) == {"test_id", "test_ood"}

    # every generator of each evaluated split is in the report
    report = res["metrics"]
    for split in ("test_id", "test_ood"):
        gens = {g for g in info["counts"][split] if g != "real"}
        assert set(report["splits"][split]["per_generator"]) == gens
        assert report["splits"][split]["n"] == sum(info["counts"][split].values())

    # metrics equal scikit-learn's on the written predictions
    preds = pd.read_csv(out / "predictions.csv")
    assert list(preds.columns) == ["id", "split", "generator", "label", "score"]
    assert len(preds) == sum(n for s in ("test_id", "test_ood") for n in info["counts"][s].values())
    assert preds["id"].is_unique
    for split, rows in preds.groupby("split"):
        o = report["splits"][split]["overall"]
        pred = rows["score"] >= 0.5
        assert o["f1"]["value"] == pytest.approx(skm.f1_score(rows["label"], pred, zero_division=0))
        assert o["accuracy"]["value"] == pytest.approx(skm.accuracy_score(rows["label"], pred))
        assert o["auc"]["value"] == pytest.approx(skm.roc_auc_score(rows["label"], rows["score"]))
    # the whole report, intervals included, is the metrics module's on these predictions with the run's
    # bootstrap settings (the intervals themselves are checked against independent bootstraps in test_metrics)
    assert (report["n_bootstrap"], report["seed"]) == (200, 0)
    families = read.Build.open(data, verify=False).decoder_families()  # the fixture's protocol names none
    assert set(families.values()) == {"unspecified"}
    assert report == json.loads(json.dumps(metrics.compute_report(result.predictions, n_bootstrap=200, seed=0,
                                                                  decoder_families=families)))
    assert report["splits"]["test_id"]["strata"]["duration"]  # durations came along from the build
    for split in report["splits"].values():
        for g in split["per_generator"].values():  # a rate seen as exactly 0 or 1 has a zero-width interval
            if g["tpr"]["value"] in (0.0, 1.0):
                assert g["tpr"]["ci"] == [g["tpr"]["value"]] * 2

    md = (out / "results.md").read_text()
    assert "| test_ood | gen_ood |" in md and "fingerprint" in md
    for name in ("per_generator_f1.png", "roc.png", "det.png", "score_hist.png"):
        blob = (out / name).read_bytes()
        assert blob[:8] == PNG and len(blob) > 5000, name
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".results")]  # no temporary folders left


def test_scores_equal_the_model_on_waveforms_alone_and_batched(evaluated, data):
    """Evaluation scores cached features; they must equal the detector run on each song's clip, alone or in
    a batch with other songs."""
    import torch

    from mom_bench.core import audio
    from mom_bench.models import registry

    result, run = evaluated
    model = registry.load(run / "best")
    rows = list(read.iter_rows(data, "test_ood", columns=["id", "audio"]))
    waves = torch.stack([audio.load(r["audio"], model.sample_rate, clip=model.clip).samples for r in rows])
    alone = [float(model.predict_proba(w[None])[0]) for w in waves]
    batched = model.predict_proba(waves).tolist()
    written = result.predictions.set_index("id")["score"]
    for r, a, b in zip(rows, alone, batched):
        assert written[r["id"]] == pytest.approx(a, abs=1e-5)
        assert b == pytest.approx(a, abs=1e-5)


def test_no_trained_model_message(data, tmp_path, monkeypatch):
    monkeypatch.setenv("MOM_BENCH_HOME", str(tmp_path))
    with pytest.raises(runs.NoTrainedModel, match=rf"no trained model for clam-tiny on {BENCHMARK}.*"
                                                r"train it with `mom-bench train --model clam-tiny"):
        E.evaluate("clam-tiny", data_dir=data, progress=False)
    r = CliRunner().invoke(main, ["evaluate", "--model", "clam", "--data", str(data)])
    assert r.exit_code == 2 and "train it with `mom-bench train --model clam" in r.output


def test_cli_train_then_evaluate_with_defaults(data, tmp_path, monkeypatch):
    """The README flow: train, then evaluate finds the model with no extra flags."""
    monkeypatch.setenv("MOM_BENCH_HOME", str(tmp_path))
    cfg = tmp_path / "fast.yaml"
    cfg.write_text("lr: 0.02\nbatch_size: 8\nepochs: 5\n")
    r = CliRunner().invoke(main, ["train", "--model", "clam-tiny", "--data", str(data), "--config", str(cfg),
                                  "--epochs", "2", "--loss", "bce+mse"])
    assert r.exit_code == 0, r.output
    run = tmp_path / "runs" / BENCHMARK / "clam-tiny"
    assert "clam-tiny" in r.output and str(run) in r.output
    saved = json.loads((run / "train_config.json").read_text())["recipe"]
    assert (saved["lr"], saved["epochs"], saved["loss"]) == (0.02, 2, "bce+mse")  # flags beat the file
    again = CliRunner().invoke(main, ["train", "--model", "clam-tiny", "--data", str(data)])
    assert again.exit_code == 2 and "--resume" in again.output
    missing = CliRunner().invoke(main, ["train", "--model", "clam-tiny", "--data", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "build it with" in missing.output
    r = CliRunner().invoke(main, ["evaluate", "--model", "clam-tiny", "--data", str(data), "--n-bootstrap", "50",
                                  "--splits", "test_ood", "--no-plots"])
    assert r.exit_code == 0, r.output
    assert "gen_ood" in r.output and "evaluated configuration: clam-tiny" in r.output
    results = tmp_path / "runs" / BENCHMARK / "clam-tiny" / "results" / "results.json"
    assert json.loads(results.read_text())["benchmark"]["splits"] == ["test_ood"]
    r = CliRunner().invoke(main, ["evaluate", "--model", "clam-tiny", "--data", str(data), "--splits", "test"])
    assert r.exit_code != 0 and "no split test" in r.output


#: Set by .ci/run to the results.json that Quickstart command 1 (the same job, through the command line) has just
#: written: the test then checks those results against this session's build instead of running the job twice.
MAIN_JOB_RESULTS = "MOM_BENCH_MAIN_JOB_RESULTS"


@pytest.mark.slow
def test_readme_job_on_mom_mini(tmp_path, monkeypatch, mini_build):
    """The README main job through the library, with every default: build mom-mini (found up to date: the
    session's build is copied in, test_mini.py checks the build itself), train clam, evaluate clam (about 3 min
    of CPU). Under CI, whose first command has just run this job, its results are checked instead."""
    import os

    from mom_bench.dataset import build_benchmark
    from mom_bench.loop import training as T
    from tests.conftest import seed_home

    done = os.environ.get(MAIN_JOB_RESULTS)
    if done:
        res = json.loads(open(done, encoding="utf-8").read())
        predictions = pd.read_csv(os.path.join(os.path.dirname(done), "predictions.csv"))
    else:
        monkeypatch.setenv("MOM_BENCH_HOME", str(tmp_path))
        seed_home(tmp_path, mini_build)
        assert build_benchmark("mom-mini", progress=False).reused
        run = T.train("clam", progress=False)
        assert run == tmp_path / "runs" / "mom-mini" / "clam-mini"
        result = E.evaluate("clam", progress=False, n_bootstrap=200)
        assert result.out_dir == run / "results"
        res, predictions = result.results, result.predictions
    assert res["model"]["requested"] == "clam" and res["model"]["name"] == "clam-mini"
    info = read.read_info(mini_build)
    # the job scored the very benchmark this code builds (labels and audio)
    assert res["benchmark"]["fingerprint"] == info["fingerprint"]
    for split in ("test_id", "test_ood"):
        assert set(res["metrics"]["splits"][split]["per_generator"]) == set(info["counts"][split]) - {"real"}
        rows = predictions[predictions["split"] == split]
        assert len(rows) == sum(info["counts"][split].values())
        assert res["metrics"]["splits"][split]["overall"]["f1"]["value"] == pytest.approx(
            skm.f1_score(rows["label"], rows["score"] >= 0.5, zero_division=0))


def test_evaluate_and_the_robustness_suite_take_the_options_of_one_config():
    # One options object: a keyword added to evaluate (or to the suite) without EvalConfig would drift apart.
    import dataclasses
    import inspect

    from mom_bench.loop.evaluation import EvalConfig, evaluate
    from mom_bench.loop.robustness import evaluate_robustness

    fields = {f.name for f in dataclasses.fields(EvalConfig)}
    keywords = lambda fn: {n for n, p in inspect.signature(fn).parameters.items()  # noqa: E731
                           if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert keywords(evaluate) == fields
    assert keywords(evaluate_robustness) - {"suite", "transforms", "clips"} <= fields
    defaults = {f.name: f.default for f in dataclasses.fields(EvalConfig)}
    for fn in (evaluate, evaluate_robustness):
        for name, p in inspect.signature(fn).parameters.items():
            if name in fields:
                assert p.default == defaults[name], (fn.__name__, name)


def test_an_opened_build_holds_what_verify_build_reports(loop_benchmark):
    from mom_bench.dataset import read

    build = read.Build.open(loop_benchmark)
    assert build.info == read.verify_build(loop_benchmark)
    assert read.Build.open(build) is build  # handed down, never opened again
    assert list(build.table("test_id", ["id"])["id"]) == list(read.read_table(loop_benchmark, "test_id", ["id"])["id"])
    assert build.num_rows("validation") == len(list(build.rows("validation", ["id"])))
