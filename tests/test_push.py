"""`mom-bench push`: a trained run, evaluated, pushed to a loopback Hub that takes uploads (tests/_loopback_hub.py),
then loaded back by commit in a fresh process; the model card's model-index is read with huggingface_hub's card
utilities and compared with results.json."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from _loopback_hub import UploadHub

from mom_bench.core.errors import HubPushError, NoTrainedModel, PushRefused
from mom_bench.loop import evaluation as E
from mom_bench.loop import sharing
from mom_bench.report.model_card import metric_key


@pytest.fixture()
def hub():
    with UploadHub() as h:
        yield h


@pytest.fixture(scope="module")
def evaluated_run(loop_run, loop_benchmark, tmp_path_factory) -> Path:
    """A copy of the session's run, with results/results.json of its best/ checkpoint."""
    run = tmp_path_factory.mktemp("push") / "run"
    shutil.copytree(loop_run, run)
    E.evaluate("clam-tiny", run / "best", loop_benchmark, out_dir=run / "results", n_bootstrap=50, progress=False,
               plots=False)
    return run


def _push(hub: UploadHub, tmp_path: Path, *args: str):
    return hub.run(["-m", "mom_bench", "push", *args], tmp_path)


def test_a_pushed_run_loads_back_by_commit_with_a_model_index_equal_to_its_results(hub, evaluated_run, tmp_path):
    run = _push(hub, tmp_path, str(evaluated_run), "--repo", "lab/clam-tiny")
    assert run.returncode == 0, run.stderr
    commit = next(line.split()[1] for line in run.stdout.splitlines() if line.startswith("commit:"))
    assert f'mb.load_detector("lab/clam-tiny@{commit}")' in run.stdout
    files = hub.files("model", "lab/clam-tiny", commit)
    assert sorted(files) == ["README.md", "config.json", "model.safetensors", "results.json"]  # no optimizer state
    best = evaluated_run / "best"
    assert files["model.safetensors"] == (best / "model.safetensors").read_bytes()
    results = json.loads((evaluated_run / "results" / "results.json").read_text())
    assert json.loads(files["results.json"]) == results

    # a fresh process, as a user's: the detector by commit, its scores, and the card read by huggingface_hub
    code = (
        "import json, torch\n"
        "import mom_bench as mb\n"
        "from huggingface_hub import ModelCard, hf_hub_download\n"
        "from huggingface_hub.repocard import metadata_load\n"
        "from huggingface_hub.repocard_data import model_index_to_eval_results\n"
        f"m = mb.load_detector('lab/clam-tiny@{commit}').eval()\n"
        "torch.manual_seed(0)\n"
        "wave = torch.randn(3, m.clip.n_samples(m.sample_rate))\n"
        "with torch.inference_mode():\n"
        "    scores = m(wave).tolist()\n"
        f"readme = hf_hub_download('lab/clam-tiny', 'README.md', revision='{commit}')\n"
        "card = ModelCard.load(readme)\n"
        "meta = metadata_load(readme)\n"
        "name, evals = model_index_to_eval_results(meta['model-index'])\n"
        "print(json.dumps({'scores': scores, 'name': name, 'library': card.data.library_name,\n"
        "                  'tags': card.data.tags, 'license': card.data.license,\n"
        "                  'n_card_evals': len(card.data.eval_results),\n"
        "                  'evals': [{'split': e.dataset_split, 'revision': e.dataset_revision,\n"
        "                            'metric_type': e.metric_type, 'value': e.metric_value, 'task': e.task_type,\n"
        "                            'dataset_type': e.dataset_type, 'source_url': e.source_url} for e in evals]}))\n"
    )
    got = hub.run_json(code, tmp_path)
    from mom_bench.models import registry

    local = registry.load(str(best)).eval()
    import torch

    torch.manual_seed(0)
    wave = torch.randn(3, local.clip.n_samples(local.sample_rate))
    with torch.inference_mode():
        assert got["scores"] == pytest.approx(local(wave).tolist(), abs=1e-6)
    assert got["name"] == "clam-tiny" and got["library"] == "mom-bench" and got["license"] == "other"
    assert {"audio-classification", "ai-music-detection"} <= set(got["tags"])

    # every metric with a value of every split, and nothing else, with the dataset fingerprint as its revision
    want = {(split, key): stat["value"] for split, s in results["metrics"]["splits"].items()
            for key, stat in s["overall"].items() if stat["value"] is not None}
    evals = got["evals"]
    assert {(e["split"], metric_key(e["metric_type"])): e["value"] for e in evals} == want
    assert len(evals) == len(want) == got["n_card_evals"]
    assert {e["revision"] for e in evals} == {results["benchmark"]["fingerprint"]}
    assert {e["task"] for e in evals} == {"audio-classification"}
    assert {e["dataset_type"] for e in evals} == {results["benchmark"]["name"]}
    assert {e["source_url"] for e in evals} == {f"{hub.url}/lab/clam-tiny/blob/main/results.json"}
    assert "roc_auc" in {e["metric_type"] for e in evals}


def test_results_of_other_weights_or_none_are_refused(hub, evaluated_run, tmp_path):
    other = tmp_path / "other-run"
    shutil.copytree(evaluated_run, other)
    import torch

    from mom_bench.models import registry

    retrained = registry.load(str(other / "best"))  # the same detector with other weights, as a later epoch has
    with torch.no_grad():
        for p in retrained.head.parameters():
            p.add_(0.01)
    retrained.save_pretrained(other / "best")
    with pytest.raises(PushRefused, match="scored other weights"):
        sharing.push_detector(other, "lab/x")
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"schema_version": 1, "model": {}}))
    with pytest.raises(PushRefused, match=r"broken\.json: results document does not match its schema"):
        sharing.push_detector(other, "lab/x", results=broken)
    shutil.rmtree(other / "results")
    with pytest.raises(PushRefused, match="no results to publish.*--no-results"):
        sharing.push_detector(other, "lab/x")
    with pytest.raises(NoTrainedModel, match="neither a run folder"):
        sharing.push_detector(tmp_path, "lab/x")
    with pytest.raises(HubPushError, match="owner/name"):
        sharing.push_detector(other, "not a repo id", no_results=True)
    with pytest.raises(HubPushError, match="HF_HUB_OFFLINE"):  # the test session runs offline
        sharing.push_detector(other, "lab/x", no_results=True)
    assert hub.requests == []


def test_a_checkpoint_pushed_without_results_to_a_branch(hub, evaluated_run, tmp_path):
    run = _push(hub, tmp_path, str(evaluated_run / "best"), "--repo", "lab/plain", "--no-results",
                "--branch", "v1", "--license", "mit", "--private")
    assert run.returncode == 0, run.stderr
    commit = next(line.split()[1] for line in run.stdout.splitlines() if line.startswith("commit:"))
    assert hub.repos[("model", "lab/plain")].refs["v1"] == commit and hub.repos[("model", "lab/plain")].private
    files = hub.files("model", "lab/plain", "v1")
    assert sorted(files) == ["README.md", "config.json", "model.safetensors"]
    meta = yaml.safe_load(files["README.md"].decode().split("---")[1])
    assert meta["license"] == "mit" and "model-index" not in meta and meta["library_name"] == "mom-bench"
    refused = _push(hub, tmp_path, str(evaluated_run), "--repo", "lab/plain", "--results",
                    str(evaluated_run / "results"), "--no-results")
    assert refused.returncode == 2 and "contradict" in refused.stderr
