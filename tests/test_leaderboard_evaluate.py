"""A submission scores to exactly the numbers `mom-bench evaluate` reported for the same predictions.

End to end on a tiny benchmark with real audio, built by the real builder (the loop tests' rows under the
shipped `mom` protocol with a CSV source, so it is a build of the current `mom`): a real detector
(clam-tiny, untrained: its scores are as good as any for this purpose) is evaluated, and the results
folder is submitted both ways (as a folder, and as a plain predictions file).
"""
from __future__ import annotations

import json

import pandas as pd
import pytest

from mom_bench.dataset import protocols
from mom_bench.leaderboard.submit import entry_from_evaluation, submit
from tests._fixtures_leaderboard import mom_protocol, valid_meta
from tests._fixtures_loop import build_loop_benchmark

# the loop fixture's generators as mom's: two in-distribution ones and a held-out one
AS_MOM = {"gen_a": "suno_3.5", "gen_b": "udio_1.5", "gen_ood": "riffusion"}

pytestmark = pytest.mark.slow  # ~30 s on 2 CPU cores: a build with audio, a model, a full evaluate


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    from mom_bench.loop.evaluation import evaluate
    from mom_bench.models import registry

    base = tmp_path_factory.mktemp("lb_eval")
    data = build_loop_benchmark(base / "bench", protocol=mom_protocol(), rename=AS_MOM,
                                real_source=protocols.load("mom").reals[0].id)
    report = json.loads((data / "build_report.json").read_text())
    assert (report["benchmark"], report["benchmark_version"]) == ("mom", protocols.load("mom").version)
    checkpoint = base / "clam-tiny"
    registry.create("clam-tiny").save_pretrained(checkpoint)
    result = evaluate("clam-tiny", checkpoint=checkpoint, data_dir=data, out_dir=base / "results", n_bootstrap=300,
                      seed=7, progress=False, plots=False)
    return data, result.out_dir


def _without_families(splits: dict) -> dict:
    """evaluate's splits less per_decoder_family, which entries do not carry (the leaderboard scores without the
    build's protocol); no other number depends on it."""
    return {name: {k: v for k, v in s.items() if k != "per_decoder_family"} for name, s in splits.items()}


def test_submitted_evaluation_equals_evaluate(evaluated, tmp_path):
    data, results_dir = evaluated
    results = json.loads((results_dir / "results.json").read_text())
    meta = valid_meta()
    for key in ("model_name", "parameters", "benchmark_version"):
        del meta[key]
    path = entry_from_evaluation(results_dir, meta, root=tmp_path / "lb")
    entry = json.loads(path.read_text())
    assert entry["model_name"] == "clam-tiny" and entry["parameters"] > 0
    assert entry["dataset_fingerprint"] == results["benchmark"]["fingerprint"]
    # every number of every split, per generator and per stratum, intervals included
    assert all("per_decoder_family" in s for s in results["metrics"]["splits"].values())
    assert entry["report"]["splits"] == _without_families(results["metrics"]["splits"])
    assert entry["report"]["id_ood_gap"] == results["metrics"]["id_ood_gap"]
    assert entry["report"]["splits"]["test_id"]["strata"]  # duration strata came along, as in evaluate

    # the predictions alone (id, score) as an outside submitter would send them: same numbers
    preds = pd.read_csv(results_dir / "predictions.csv")[["id", "score"]].sample(frac=1.0, random_state=0)
    csv = tmp_path / "preds.csv"
    preds.to_csv(csv, index=False)
    other = submit(csv, valid_meta(model_name="outside"), "mom", data_dir=data, root=tmp_path / "lb",
                   n_bootstrap=300, seed=7)
    assert json.loads(other.read_text())["report"]["splits"] == _without_families(results["metrics"]["splits"])


def test_a_bf16_run_gives_an_entry_and_a_page_that_say_bf16(evaluated, tmp_path):
    """issue 26 item 5: the precision (and batch size and clip, where results.json records them) of the evaluate
    run travels into the entry and onto every page; an fp32 run of the same checkpoint says fp32 beside it."""
    import csv
    import io
    import shutil

    from mom_bench.leaderboard.render import render
    from mom_bench.leaderboard.submit import SubmissionRejected
    from mom_bench.leaderboard.validate import validate_folder
    from mom_bench.loop.evaluation import evaluate

    data, fp32_dir = evaluated
    fp32 = json.loads((fp32_dir / "results.json").read_text())
    checkpoint = fp32["model"]["checkpoint"]
    bf16_dir = evaluate("clam-tiny", checkpoint=checkpoint, data_dir=data, out_dir=tmp_path / "bf16", n_bootstrap=300,
                        seed=7, progress=False, plots=False, precision="bf16", batch_size=3).out_dir
    results = json.loads((bf16_dir / "results.json").read_text())
    assert results["model"]["precision"] == "bf16"
    root = tmp_path / "lb"
    entries = {}
    for name, folder in (("clam-tiny bf16", bf16_dir), ("clam-tiny fp32", fp32_dir)):
        path = entry_from_evaluation(folder, valid_meta(model_name=name), root=root)
        entries[name] = json.loads(path.read_text())
    run = entries["clam-tiny bf16"]["run"]
    assert run == {"precision": "bf16", "batch_size": 3, "clip": results["model"]["clip"]}
    assert run["clip"] is not None
    assert entries["clam-tiny fp32"]["run"]["precision"] == "fp32"

    render(root)
    md = (root / "LEADERBOARD.md").read_text()
    assert "| Run precision | Batch | Clip |" in md
    rows = {line.split(" | ")[1]: line for line in md.splitlines() if line.startswith("| ") and "clam-tiny" in line}
    assert " | bf16 | " in rows["clam-tiny bf16"] and " | fp32 | " in rows["clam-tiny fp32"]
    table = {r["model_name"]: r for r in csv.DictReader(io.StringIO((root / "leaderboard.csv").read_text()))}
    assert (table["clam-tiny bf16"]["run_precision"], table["clam-tiny fp32"]["run_precision"]) == ("bf16", "fp32")
    metric = entries["clam-tiny bf16"]["summary"]["precision"]["value"]  # the metric keeps its own column
    assert table["clam-tiny bf16"]["precision"] == ("" if metric is None else repr(round(metric, 6)))
    page = (root / "index.html").read_text()
    assert 'data-key="run_precision"' in page and '<td class="text" data-sort="bf16">bf16</td>' in page
    assert validate_folder(root, data_dirs={"mom": data}).ok

    # a predictions file without its results.json records nothing: "not recorded" on the page
    preds = tmp_path / "preds.csv"
    pd.read_csv(bf16_dir / "predictions.csv")[["id", "score"]].to_csv(preds, index=False)
    plain = submit(preds, valid_meta(model_name="outside"), "mom", data_dir=data, root=root, n_bootstrap=20)
    assert "run" not in json.loads(plain.read_text())
    render(root)
    line = next(x for x in (root / "LEADERBOARD.md").read_text().splitlines() if x.startswith("| ") and "outside" in x)
    assert " | not recorded | — | — | " in line

    # a precision evaluate never writes is refused, naming the field
    forged = tmp_path / "forged"
    shutil.copytree(bf16_dir, forged)
    results["model"]["precision"] = "int8"
    (forged / "results.json").write_text(json.dumps(results))
    with pytest.raises(SubmissionRejected, match="results.json: model/precision: must be one of"):
        entry_from_evaluation(forged, valid_meta(model_name="forged"), root=tmp_path / "lb3")
