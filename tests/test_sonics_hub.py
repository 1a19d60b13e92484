"""Released SONICS checkpoints used straight from their Hub id: a tiny SONICS-format repo (SONICS' config.json and a
``pytorch_model.bin`` with SONICS key names) served by the loopback Hub of ``test_models_hub``, converted and cached
on first use, loaded from that cache with the Hub gone, and what an offline or tampered checkpoint says."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_models_hub import REPO, SHA_A, SHA_B, Hub
from test_spectttra import sonics_config

import mom_bench
from mom_bench.models import registry
from mom_bench.models.checkpoints import CheckpointError
from mom_bench.models.spectttra import SpecTTTra, config_from_sonics, load_sonics, to_sonics_state_dict
from tests._fixtures_loop import flac_bytes, signal

SHA_C = "c" * 40
SHA_D = "d" * 40


def sonics_repo(folder: Path, seed: int, edit=None) -> Path:
    """SONICS' files for a tiny SpecTTTra-beta (5 s, width 32, 2 blocks) with random weights under SONICS' key
    names; ``edit`` changes the state dict before it is written."""
    cfg = sonics_config()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = SpecTTTra(config_from_sonics(cfg))
        torch.nn.init.normal_(model.head.weight, std=1.0)  # scores that differ from song to song
    state = to_sonics_state_dict(model)
    if edit:
        edit(state)
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(cfg))
    torch.save(state, folder / "pytorch_model.bin")
    return folder


def run(code: str, env: dict[str, str]) -> dict:
    """``code`` in a fresh process (huggingface_hub reads HF_ENDPOINT and HF_HUB_OFFLINE on import); its last
    stdout line is JSON."""
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_ETAG_TIMEOUT": "5",
                               "HF_HUB_DOWNLOAD_TIMEOUT": "10", **env})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


# _scores_of in the child process
SCORE = (
    "def scores(m):\n"
    "    torch.manual_seed(0)\n"
    "    wave = 0.1 * torch.randn(2, m.clip.n_samples(m.sample_rate))\n"
    "    with torch.inference_mode():\n"
    "        return m(wave).tolist()\n"
)


def _scores_of(model) -> list[float]:
    torch.manual_seed(0)
    wave = 0.1 * torch.randn(2, model.clip.n_samples(model.sample_rate))
    with torch.inference_mode():
        return model(wave).tolist()


def test_a_released_checkpoint_from_its_hub_id_is_converted_once_then_loads_offline(tmp_path, loop_benchmark):
    pinned = sonics_repo(tmp_path / "a", seed=1)
    newer = sonics_repo(tmp_path / "b", seed=2)
    tampered = sonics_repo(tmp_path / "tampered", seed=3,
                           edit=lambda sd: sd.__setitem__("encoder.cls_token", torch.zeros(1, 1, 32)))
    short = sonics_repo(tmp_path / "short", seed=4, edit=lambda sd: sd.pop("classifier.bias"))
    home, hf_home = tmp_path / "home", tmp_path / "hf-home"
    song = tmp_path / "song.flac"
    song.write_bytes(flac_bytes(signal("gen_a", 6.0, 5)))
    with Hub() as hub:
        hub.publish("lab/sonics-tiny", SHA_A, pinned)
        hub.publish("lab/sonics-tiny", SHA_B, newer, main=True)
        hub.publish("lab/sonics-tiny", SHA_C, newer)
        hub.publish("lab/sonics-bad", SHA_A, tampered)
        hub.publish("lab/sonics-bad", SHA_B, short)
        online = {"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_HOME": str(hf_home), "MOM_BENCH_HOME": str(home)}
        got = run(
            "import json, warnings, torch, mom_bench\n"
            "from huggingface_hub import hf_hub_download\n"
            "from mom_bench.models.checkpoints import CheckpointError\n" + SCORE +
            "out = {}\n"
            f"m = mom_bench.load_detector('lab/sonics-tiny@{SHA_A}')\n"
            "out['pinned'] = [scores(m), m.checkpoint, m.config['weights_source'], m.name]\n"
            "with warnings.catch_warnings(record=True) as said:\n"
            "    warnings.simplefilter('always')\n"
            f"    r = mom_bench.evaluate('spectttra-beta-5s', 'lab/sonics-tiny', data_dir={str(loop_benchmark)!r},\n"
            f"                           out_dir={str(tmp_path / 'results')!r}, n_bootstrap=10, plots=False,\n"
            "                           progress=False)\n"
            "out['unpinned'] = [r.results['model']['checkpoint'], r.results['model']['checkpoint_sha256'],\n"
            "                   r.results['model']['config']['weights_source'], [str(w.message) for w in said]]\n"
            "out['errors'] = []\n"
            f"for ref in ('lab/sonics-bad@{SHA_A}', 'sonics:lab/sonics-bad@{SHA_B}'):\n"
            "    try:\n"
            "        mom_bench.load_detector(ref)\n"
            "    except CheckpointError as err:\n"
            "        out['errors'].append(str(err))\n"
            f"hf_hub_download('lab/sonics-tiny', 'config.json', revision='{SHA_C}')  # its .bin is not fetched\n"
            "print(json.dumps(out))\n", online)
    assert got["pinned"][1:] == [f"lab/sonics-tiny@{SHA_A}"] * 2 + ["spectttra-beta-5s"]
    want = _scores_of(load_sonics(pinned))
    assert got["pinned"][0] == pytest.approx(want, abs=1e-6) and abs(want[0] - want[1]) > 1e-3
    # a branch is resolved to its commit, which is recorded, and the user is told to pin it
    checkpoint, sha, source, said = got["unpinned"]
    assert checkpoint == source == f"lab/sonics-tiny@{SHA_B}"
    assert sha == hashlib.sha256((newer / "pytorch_model.bin").read_bytes()).hexdigest()
    assert any(SHA_B in w and "pin it" in w for w in said), said
    # the same strict key mapping as import-sonics: nothing converted, nothing cached
    assert "no mapping for" in got["errors"][0] and "encoder.cls_token" in got["errors"][0]
    assert "head.bias" in got["errors"][1]
    cache = home / "cache" / "sonics"
    assert sorted(p.name for p in (cache / "lab--sonics-tiny").iterdir()) == [SHA_A, SHA_B]
    assert not (cache / "lab--sonics-bad").exists()
    record = json.loads((cache / "lab--sonics-tiny" / SHA_A / "sonics_source.json").read_text())
    assert record["commit"] == SHA_A
    assert record["files"]["pytorch_model.bin"] == hashlib.sha256((pinned / "pytorch_model.bin").read_bytes()
                                                                  ).hexdigest()

    # The Hub is gone and the Hugging Face cache lost the two commits: the conversions alone serve them.
    for commit in (SHA_A, SHA_B):
        shutil.rmtree(hf_home / "hub" / "models--lab--sonics-tiny" / "snapshots" / commit)
    offline = {**online, "HF_HUB_OFFLINE": "1"}
    got = run(
        "import json, torch, mom_bench\n"
        "from click.testing import CliRunner\n"
        "from mom_bench.cli import main\n"
        "from mom_bench.models.checkpoints import CheckpointError\n" + SCORE +
        f"m = mom_bench.load_detector('lab/sonics-tiny@{SHA_A}')\n"
        "out = {'pinned': scores(m), 'errors': []}\n"
        f"r = CliRunner().invoke(main, ['predict', {str(song)!r}, '--model', 'spectttra-beta-5s', '--checkpoint',\n"
        f"                              'lab/sonics-tiny@{SHA_B}', '--out', {str(tmp_path / 'p.jsonl')!r}])\n"
        "out['predict'] = [r.exit_code, r.output]\n"
        f"for ref in ('lab/sonics-tiny@{SHA_D}', 'sonics:lab/sonics-tiny@{SHA_D}', 'lab/sonics-tiny@{SHA_C}'):\n"
        "    try:\n"
        "        mom_bench.load_detector(ref)\n"
        "    except CheckpointError as err:\n"
        "        out['errors'].append(str(err))\n"
        "print(json.dumps(out))\n", offline)
    assert got["pinned"] == pytest.approx(want, abs=1e-6)
    code, output = got["predict"]
    assert code == 0, output
    header, row = (json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines())
    (header,) = header.values()
    assert header["checkpoint"] == f"lab/sonics-tiny@{SHA_B}" and header["checkpoint_sha256"] == sha
    assert row["status"] == "ok" and 0 <= row["p_fake"] <= 1
    # offline with nothing cached: which files are missing, and the command that fetches them
    plain, prefixed, half = got["errors"]
    assert "lacks config.json and the weights it goes with" in plain and "pytorch_model.bin" in plain
    assert f"`HF_HUB_OFFLINE=0 hf download lab/sonics-tiny --revision {SHA_D}`" in plain
    assert "lacks config.json, pytorch_model.bin:" in prefixed
    assert f"`HF_HUB_OFFLINE=0 hf download lab/sonics-tiny config.json pytorch_model.bin --revision {SHA_D}`" \
        in prefixed
    assert "lacks pytorch_model.bin:" in half  # its config.json was fetched: a SONICS checkpoint, one file short
    assert f"`HF_HUB_OFFLINE=0 hf download lab/sonics-tiny pytorch_model.bin --revision {SHA_C}`" in half


def test_a_sonics_folder_loads_directly_and_a_prefix_demands_sonics(tmp_path):
    folder = sonics_repo(tmp_path / "download", seed=5)
    want = _scores_of(load_sonics(folder))
    for ref in (folder, f"sonics:{folder}"):
        model = mom_bench.load_detector(ref)
        assert isinstance(model, SpecTTTra) and model.checkpoint == str(folder)
        assert _scores_of(model) == pytest.approx(want, abs=1e-6)
    ours = tmp_path / "ours"
    registry.create("spectttra-mini").save_pretrained(ours)
    assert registry.load(ours).checkpoint is None  # a mom-bench folder stays one
    with pytest.raises(CheckpointError, match="not a SONICS SpecTTTra config.json.*load it without sonics:"):
        registry.load(f"sonics:{ours}")


def test_offline_a_sonics_name_says_which_files_to_fetch(tmp_path):
    """The suite runs offline: nothing of the released repo is in this empty cache."""
    with pytest.raises(CheckpointError) as err:
        registry.load(f"sonics:spectttra-gamma-5s@{SHA_D}", cache_dir=str(tmp_path / "hub"))
    text = str(err.value)
    assert "awsaf49/sonics-spectttra-gamma-5s" in text and "lacks config.json, pytorch_model.bin" in text
    assert (f"`HF_HUB_OFFLINE=0 hf download awsaf49/sonics-spectttra-gamma-5s config.json pytorch_model.bin "
            f"--revision {SHA_D}`") in text
