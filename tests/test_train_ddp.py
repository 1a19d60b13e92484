"""Distributed training as a real launcher runs it: ``torch.distributed.run`` (torchrun) starts two processes
that join a gloo process group on the CPU and train a tiny SpecTTTra with DistributedDataParallel.

With augmentation and dropout off, the 2-process run gives the weights of a one-process run of the same global
batch (within 1e-6), including the short last batch of an epoch (one row: rank 1 holds none); a run stopped
after one epoch and resumed under the launcher ends where an uninterrupted one-process run ends; only rank 0
writes the run folder.

The model is a registry row installed through the ``mom_bench.models`` entry-point group (as a user's plugin
would be): spectttra-mini's configuration has dropout, and training has no knob for it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from mom_bench.core.files import LOCK_NAME
from mom_bench.dataset import read
from mom_bench.loop.runs import TRAIN_CONFIG, TRAIN_LOG
from mom_bench.loop.training import TrainError, check_world, rank_slice
from tests._fixtures_loop import build_loop_benchmark

REPO = Path(__file__).resolve().parents[1]
MODEL = "spectttra-ddp-test"

SPECS = textwrap.dedent(f'''
    from mom_bench.models.registry import ModelSpec

    SPECS = [ModelSpec(name="{MODEL}", aliases=(), target="mom_bench.models.spectttra:SpecTTTra",
                       config={{"variant": "alpha", "clip_seconds": 2, "embed_dim": 16, "depth": 1, "num_heads": 2,
                               "n_mels": 32, "pos_dropout": 0.0, "attn_dropout": 0.0, "proj_dropout": 0.0}},
                       description="Test: a SpecTTTra without dropout.", sample_rate=16000, clip="first:2",
                       train_clip="random:2", paper=False, family="spectrogram")]
''')

# 9 training rows. In global batches of 6: 6 (3 rows per rank), then 3 (rank 0 holds 2, rank 1 one, each rank's
# mean loss weighted so that the averaged gradient is that of the 3-row mean); in batches of 8: 8, then 1 (rank 0
# holds it, rank 1 none). 5 validation rows in eval batches of 2: rank 0 scores rows 0-1, rank 1 rows 2-4.
LAYOUT = [("train", "real", 5), ("train", "gen_a", 2), ("train", "gen_b", 2),
          ("validation", "real", 3), ("validation", "gen_a", 1), ("validation", "gen_b", 1),
          ("test_id", "real", 1), ("test_id", "gen_a", 1), ("test_id", "gen_b", 1),
          ("test_ood", "real", 1), ("test_ood", "gen_ood", 1)]

# Everything random per batch off (MixUp, SpecAugment, random crops): what DDP cannot draw as one process does.
RECIPE = textwrap.dedent('''
    epochs: 2
    batch_size: 6
    eval_batch_size: 2
    lr: 0.001
    schedule: constant
    warmup_epochs: 0
    mixup_p: 0.0
    spec_augment: false
    random_crop: false
''')


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """An installed distribution (hand-written dist-info) whose entry point registers :data:`MODEL`."""
    site = tmp_path_factory.mktemp("ddp_plugin")
    (site / "mbplugin_ddp").mkdir()
    (site / "mbplugin_ddp" / "__init__.py").write_text(SPECS)
    info = site / "mbplugin_ddp-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mbplugin-ddp\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[mom_bench.models]\nddp-test = mbplugin_ddp:SPECS\n")
    return site


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> Path:
    data = build_loop_benchmark(tmp_path_factory.mktemp("ddp_bench"), seconds=2.0, layout=LAYOUT)
    assert read.num_rows(data, "train") == 9 and read.num_rows(data, "validation") == 5
    return data


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ddp_config") / "recipe.yaml"
    path.write_text(RECIPE)
    return path


def _run(args: list[str], site: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}
    out = subprocess.run(args, capture_output=True, text=True, env=env, cwd=cwd, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-6000:]
    return out


def train_one(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return _run([sys.executable, "-m", "mom_bench", "train", "--model", MODEL, *args], site, cwd)


def train_launched(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                 "-m", "mom_bench", "train", "--model", MODEL, *args], site, cwd)


def _weights(run: Path, folder: str = "last") -> dict[str, torch.Tensor]:
    return load_file(str(run / folder / "model.safetensors"))


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


def _log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / TRAIN_LOG).read_text().splitlines()]


def test_rank_slices_cover_each_global_batch_once():
    assert [rank_slice(4, r, 2) for r in range(2)] == [(0, 2), (2, 4)]
    assert [rank_slice(5, r, 3) for r in range(3)] == [(0, 2), (2, 4), (4, 5)]
    assert [rank_slice(1, r, 2) for r in range(2)] == [(0, 1), (1, 1)]


def test_a_batch_the_ranks_cannot_share_is_refused():
    check_world(16, 4)
    with pytest.raises(TrainError, match="batch_size 6 cannot be split over 4 processes.*multiple of 4 \\(e.g. 8\\)"):
        check_world(6, 4)


@pytest.mark.slow
def test_two_process_ddp_equals_one_process_and_resumes(site, bench, config, tmp_path):
    ref, ddp = tmp_path / "one", tmp_path / "ddp"
    train_one(site, tmp_path, "--data", str(bench), "--out", str(ref), "--config", str(config))

    first = train_launched(site, tmp_path, "--data", str(bench), "--out", str(ddp), "--config", str(config),
                           "--epochs", "1")
    # rank 0 alone speaks and writes: one line per epoch in the log and on the console, one summary
    assert first.stdout.count("epoch 1/1:") == 1 and first.stdout.count("best epoch 1") == 1, first.stdout
    assert [e["epoch"] for e in _log(ddp)] == [1]
    saved = json.loads((ddp / TRAIN_CONFIG).read_text())
    assert (saved["world_size"], saved["rank_batch_size"], saved["epochs_done"]) == (2, 3, 1)
    assert json.loads((ref / TRAIN_CONFIG).read_text())["world_size"] == 1
    # the writer lock rank 0 held while training stays (an empty-of-holders lock file), nothing else is added
    assert sorted(p.name for p in ddp.iterdir()) == sorted(["best", "last", TRAIN_CONFIG, TRAIN_LOG, LOCK_NAME])

    second = train_launched(site, tmp_path, "--data", str(bench), "--out", str(ddp), "--config", str(config),
                            "--epochs", "2", "--resume")
    assert second.stdout.count("epoch 2/2:") == 1 and "epoch 1/2:" not in second.stdout, second.stdout
    diff = _max_diff(_weights(ddp), _weights(ref))
    assert diff <= 1e-6, f"DDP weights differ from one process by up to {diff:.3g}"

    one, two = _log(ref), _log(ddp)
    assert [e["epoch"] for e in two] == [1, 2]
    for a, b in zip(one, two):
        # validation: each rank scores the eval batches of one process, so the logits are the same ones
        assert (b["val_f1"], b["val_n"]) == (a["val_f1"], a["val_n"])
        assert b["val_loss"] == pytest.approx(a["val_loss"], abs=1e-6)
        assert b["train_loss"] == pytest.approx(a["train_loss"], abs=1e-6)
    assert json.loads((ddp / TRAIN_CONFIG).read_text())["epochs_done"] == 2


def test_a_last_batch_smaller_than_the_world_equals_one_process(site, bench, tmp_path):
    config = tmp_path / "eight.yaml"
    config.write_text(RECIPE.replace("batch_size: 6", "batch_size: 8").replace("epochs: 2", "epochs: 1"))
    ref, ddp = tmp_path / "one", tmp_path / "ddp"
    train_one(site, tmp_path, "--data", str(bench), "--out", str(ref), "--config", str(config))
    train_launched(site, tmp_path, "--data", str(bench), "--out", str(ddp), "--config", str(config))
    diff = _max_diff(_weights(ddp), _weights(ref))
    assert diff <= 1e-6, f"DDP weights differ from one process by up to {diff:.3g}"
    assert _log(ddp)[0]["train_loss"] == pytest.approx(_log(ref)[0]["train_loss"], abs=1e-6)
