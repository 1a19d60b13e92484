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
