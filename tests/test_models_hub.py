"""Checkpoints named by Hub id + pinned revision, loaded through huggingface_hub from a real loopback server
that answers like the Hub's resolve endpoint (HF_ENDPOINT points at it). The client runs in a fresh process,
as a user's would: huggingface_hub reads HF_ENDPOINT when it is imported."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import torch
from _loopback import LoopbackServer

from mom_bench.models import registry
from mom_bench.models.encoders import ARCHS, Encoder

REPO = Path(__file__).resolve().parents[1]
SHA_A = "a" * 40
SHA_B = "b" * 40
TINY_ENCODER = ARCHS["tiny"]  # transformers checkpoints small enough to publish in a test


class Hub(LoopbackServer):
    """``repos[repo_id][commit] = {filename: bytes}`` and ``refs[repo_id] = {"main": commit}``. Serves HEAD/GET
    ``/<repo_id>/resolve/<revision>/<filename>`` with the headers huggingface_hub reads; anything else is a 404
    with the Hub's error code. Every request path is kept in ``requests``."""

    def __init__(self):
        self.repos: dict[str, dict[str, dict[str, bytes]]] = {}
        self.refs: dict[str, dict[str, str]] = {}
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, with_body: bool):
                outer.requests.append(self.path)
                path = self.path.split("?")[0]
                parts = path.strip("/").split("/")
                if len(parts) < 5 or parts[2] != "resolve":
                    return self._error(404, "EntryNotFound")
                repo_id, revision, filename = "/".join(parts[:2]), parts[3], "/".join(parts[4:])
                if repo_id not in outer.repos:
                    return self._error(404, "RepoNotFound")
                commit = outer.refs.get(repo_id, {}).get(revision, revision)
                files = outer.repos[repo_id].get(commit)
                if files is None:
                    return self._error(404, "RevisionNotFound")
                body = files.get(filename)
                if body is None:
                    return self._error(404, "EntryNotFound")
                self.send_response(200)
                self.send_header("X-Repo-Commit", commit)
                self.send_header("ETag", '"' + hashlib.sha256(body).hexdigest() + '"')
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if with_body:
                    self.wfile.write(body)

            def _error(self, status: int, code: str):
                self.send_response(status)
                self.send_header("X-Error-Code", code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_HEAD(self):
                self._answer(False)

            def do_GET(self):
                self._answer(True)

        super().__init__(Handler)

    def publish(self, repo_id: str, commit: str, folder: Path, main: bool = False) -> None:
        self.repos.setdefault(repo_id, {})[commit] = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
        if main:
            self.refs.setdefault(repo_id, {})["main"] = commit

    def run_json(self, code: str, tmp_path: Path):
        """Run ``code`` against this hub; it prints one JSON line last, which is returned."""
        run = self.run(code, tmp_path)
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout.strip().splitlines()[-1])

    def run(self, code: str, tmp_path: Path) -> subprocess.CompletedProcess:
        env = {**os.environ, "HF_ENDPOINT": self.url, "HF_HUB_OFFLINE": "0", "HF_HOME": str(tmp_path / "hf-home"),
               "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_ETAG_TIMEOUT": "5", "HF_HUB_DOWNLOAD_TIMEOUT": "10"}
        return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=300)



@pytest.fixture()
def hub():
    with Hub() as h:
        yield h


def _scores(model, seed: int = 0) -> list[float]:
    torch.manual_seed(seed)
    wave = torch.randn(2, model.clip.n_samples(model.sample_rate))
    with torch.inference_mode():
        return model.eval()(wave).tolist()


def test_a_detector_loads_from_a_hub_id_at_the_pinned_revision(hub, tmp_path):
    pinned = registry.create("clam-tiny")
    torch.manual_seed(1)
    newer = registry.create("clam-tiny")
    for p in newer.head.parameters():
        torch.nn.init.normal_(p)
    pinned.save_pretrained(tmp_path / "a")
    newer.save_pretrained(tmp_path / "b")
    hub.publish("lab/clam-tiny", SHA_A, tmp_path / "a")
    hub.publish("lab/clam-tiny", SHA_B, tmp_path / "b", main=True)
    code = (
        "import json, torch\n"
        "from mom_bench.models import registry\n"
        "out = {}\n"
        "for ref in ('lab/clam-tiny@" + SHA_A + "', 'lab/clam-tiny'):\n"
        "    m = registry.load(ref).eval()\n"
        "    torch.manual_seed(0)\n"
        "    wave = torch.randn(2, m.clip.n_samples(m.sample_rate))\n"
        "    with torch.inference_mode():\n"
        "        out[ref] = m(wave).tolist()\n"
        "print(json.dumps(out))\n"
    )
    got = hub.run_json(code, tmp_path)
    assert got[f"lab/clam-tiny@{SHA_A}"] == pytest.approx(_scores(pinned), abs=1e-6)
    assert got["lab/clam-tiny"] == pytest.approx(_scores(newer), abs=1e-6)  # no pin: the branch head
    assert f"/lab/clam-tiny/resolve/{SHA_A}/model.safetensors" in hub.requests


def test_an_unknown_revision_or_repo_is_one_clear_error(hub, tmp_path):
    registry.create("clam-tiny").save_pretrained(tmp_path / "a")
    hub.publish("lab/clam-tiny", SHA_A, tmp_path / "a", main=True)
    run = hub.run(
        "from mom_bench.models import registry\n"
        "from mom_bench.models.base import CheckpointError\n"
        "for ref in ('lab/clam-tiny@" + SHA_B + "', 'lab/nothing-here'):\n"
        "    try:\n"
        "        registry.load(ref)\n"
        "    except CheckpointError as err:\n"
        "        print('ERR', err)\n", tmp_path)
    assert run.returncode == 0, run.stderr
    errors = [line for line in run.stdout.splitlines() if line.startswith("ERR")]
    assert len(errors) == 2
    assert "lab/clam-tiny" in errors[0] and "revision" in errors[0].lower() and SHA_B[:12] in errors[0]
    assert "lab/nothing-here" in errors[1] and "config.json" in errors[1]


def test_paper_encoders_load_from_hub_ids_at_pinned_revisions(hub, tmp_path):
    """What `clam` (paper) does with MERT-v1-95M and wav2vec2-gtzan, here with tiny checkpoints of the same
    classes: a stock HubertModel / Wav2Vec2Model from a Hub id at a pinned commit, no remote code."""
    from transformers import HubertConfig, HubertModel, Wav2Vec2Config, Wav2Vec2Model

    torch.manual_seed(3)
    HubertModel(HubertConfig(**TINY_ENCODER)).save_pretrained(tmp_path / "mert")
    Wav2Vec2Model(Wav2Vec2Config(**TINY_ENCODER)).save_pretrained(tmp_path / "w2v")
    raw = json.loads((tmp_path / "mert" / "config.json").read_text())
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text(json.dumps({**raw, "deepnorm": True}))
    hub.publish("lab/tiny-mert", SHA_A, tmp_path / "mert")
    hub.publish("lab/tiny-w2v", SHA_B, tmp_path / "w2v")
    hub.publish("lab/tiny-mert-deepnorm", SHA_A, tmp_path / "bad")
    (tmp_path / "empty").mkdir()
    hub.publish("lab/empty", SHA_A, tmp_path / "empty")  # a repo without config.json
    code = (
        "import json, torch\n"
        "from mom_bench.models.encoders import Encoder\n"
        "from mom_bench.models.base import CheckpointError\n"
        "out = {}\n"
        "for stream, kind, repo, rev, sr in (('mert', 'hubert', 'lab/tiny-mert', '" + SHA_A + "', 24000),\n"
        "                                    ('w2v', 'wav2vec2', 'lab/tiny-w2v', '" + SHA_B + "', 16000)):\n"
        "    enc = Encoder({'kind': kind, 'weights': repo, 'revision': rev, 'sample_rate': sr}, stream).eval()\n"
        "    torch.manual_seed(0)\n"
        "    with torch.inference_mode():\n"
        "        out[stream] = [enc(torch.randn(1, sr)).flatten().tolist(), enc.identity()]\n"
        "for key, repo in (('refused', 'lab/tiny-mert-deepnorm'), ('empty', 'lab/empty'), ('absent', 'lab/absent')):\n"
        "    try:\n"
        "        Encoder({'kind': 'hubert', 'weights': repo, 'revision': '" + SHA_A + "', 'sample_rate': 24000},\n"
        "                'mert')\n"
        "    except CheckpointError as err:\n"
        "        out[key] = str(err)\n"
        "print(json.dumps(out))\n"
    )
    got = hub.run_json(code, tmp_path)
    for stream, kind, sr in (("mert", "hubert", 24000), ("w2v", "wav2vec2", 16000)):
        local = Encoder({"kind": kind, "weights": str(tmp_path / stream), "sample_rate": sr}, stream).eval()
        torch.manual_seed(0)
        with torch.inference_mode():
            want = local(torch.randn(1, sr)).flatten().tolist()
        assert got[stream][0] == pytest.approx(want, abs=1e-6)
    assert got["mert"][1].startswith(f"hubert|lab/tiny-mert@{SHA_A}|")  # the cache key names the pinned commit
    assert "deepnorm" in got["refused"]
    for key, repo in (("empty", "lab/empty"), ("absent", "lab/absent")):  # one line naming the checkpoint
        assert f"not available: {repo} (revision {SHA_A})" in got[key] and "MOM_BENCH_WEIGHTS_MERT" in got[key]
    assert f"/lab/tiny-mert/resolve/{SHA_A}/config.json" in hub.requests
    assert f"/lab/tiny-w2v/resolve/{SHA_B}/model.safetensors" in hub.requests


def test_an_encoder_named_by_branch_is_keyed_by_the_commit_it_loaded(hub, tmp_path):
    """A feature cache keyed on "main" would keep serving features of an old main after the repo moves on."""
    from transformers import HubertConfig, HubertModel

    for seed, commit in ((1, SHA_A), (2, SHA_B)):
        torch.manual_seed(seed)
        HubertModel(HubertConfig(**TINY_ENCODER)).save_pretrained(tmp_path / commit)
        hub.publish("lab/tiny-mert", commit, tmp_path / commit)
    code = ("from mom_bench.models.encoders import Encoder\n"
            "enc = Encoder({'kind': 'hubert', 'weights': 'lab/tiny-mert', 'revision': 'main', 'sample_rate': 24000},"
            " 'mert')\nprint(enc.identity())\n")
    identities = []
    for commit in (SHA_A, SHA_B):
        hub.refs["lab/tiny-mert"] = {"main": commit}
        run = hub.run(code, tmp_path)
        assert run.returncode == 0, run.stderr
        identities.append(run.stdout.strip().splitlines()[-1])
    assert identities[0].startswith(f"hubert|lab/tiny-mert@{SHA_A}|")
    assert identities[1].startswith(f"hubert|lab/tiny-mert@{SHA_B}|")
    assert f"/lab/tiny-mert/resolve/{SHA_B}/model.safetensors" in hub.requests


def test_offline_a_hub_detector_missing_from_the_cache_says_how_to_get_it(tmp_path, monkeypatch):
    from mom_bench.models.base import CheckpointError

    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))  # nothing cached
    with pytest.raises(CheckpointError, match=r"cannot get config\.json at revision abc123 .*HF_HUB_OFFLINE is set"
                                              r".*lacks config\.json and the weights it goes with \(model\.safetensors"
                                              r".*`HF_HUB_OFFLINE=0 hf download lab/clam --revision abc123`"):
        registry.load("lab/clam@abc123")
    with pytest.raises(CheckpointError, match="give the revision once"):
        registry.load("lab/clam@abc123", revision="def456")
