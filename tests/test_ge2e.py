"""The GE2E speaker encoder (mom_bench.models.ge2e): strict loading of the shipped weights, agreement with the
published Resemblyzer 0.1.4 pipeline (tests/golden/ge2e.json, made by scripts/make_ge2e_golden.py with real
resemblyzer and librosa), batch independence, edge inputs, and the errors for a missing or corrupted file."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from mom_bench.models.checkpoints import CheckpointError
from mom_bench.models.ge2e import KEY_RENAMES, WEIGHTS_PATH, GE2ENet, load_ge2e, partial_starts, slaney_mel_filterbank
from scripts.ge2e_golden_inputs import NETWORK_INPUT, golden_signal
from scripts.ge2e_golden_inputs import network_input as _network_input

GOLDEN = json.loads((Path(__file__).parent / "golden" / "ge2e.json").read_text())
TOL = 1e-4


def network_input() -> torch.Tensor:
    assert (GOLDEN["network"]["formula"], GOLDEN["network"]["shape"]) == (NETWORK_INPUT["formula"],
                                                                          NETWORK_INPUT["shape"])
    return torch.from_numpy(_network_input())


@pytest.fixture(scope="module")
def model() -> GE2ENet:
    return load_ge2e()


# (a) strict load ---------------------------------------------------------------------------------------------

def test_strict_load_uses_every_key(model):
    from safetensors.torch import load_file

    published = load_file(str(WEIGHTS_PATH))
    assert set(published) == set(KEY_RENAMES) and len(published) == 14
    ours = model.state_dict()
    assert set(ours) == set(KEY_RENAMES.values())  # nothing left at its random initial value
    for key, tensor in published.items():
        assert torch.equal(ours[KEY_RENAMES[key]], tensor), key
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    assert (model.n_layers, model.hidden_size, model.sample_rate) == (4, 256, 16000)


# (b) golden outputs of the published implementation ------------------------------------------------------------

def test_mel_filterbank_shape_and_area():
    fb = slaney_mel_filterbank()
    assert fb.shape == (40, 201)
    # Slaney normalisation: each triangle has area 1 in Hz, up to the sampling of the 40 Hz bins.
    area = fb.sum(dim=1) * 40.0
    assert torch.allclose(area[5:], torch.ones(35, dtype=area.dtype), atol=0.05)


@pytest.mark.parametrize("name", sorted(GOLDEN["outputs"]))
def test_front_end_and_outputs_match_published(model, name):
    spec, gold = GOLDEN["signals"][name], GOLDEN["outputs"][name]
    wave = torch.from_numpy(golden_signal(spec))
    starts, length = partial_starts(wave.numel())
    assert (starts, length) == (gold["partial_starts"], gold["padded_length"])

    loud = model.volume_normalised(wave)
    gain = float(loud.double().pow(2).mean().sqrt() / wave.double().pow(2).mean().sqrt())
    assert gain == pytest.approx(gold["gain"], rel=1e-6)
    mel = model.mel(torch.nn.functional.pad(loud, (0, length - wave.numel())))
    assert mel.shape == (gold["mel_n_frames"], 40)
    ref = torch.tensor(gold["mel_frames"]["values"], dtype=torch.float64)
    got = mel[gold["mel_frames"]["index"]].double()
    assert torch.allclose(got, ref, rtol=TOL, atol=TOL * float(ref.abs().max()))
    sums = torch.tensor(gold["mel_band_sums"], dtype=torch.float64)
    assert torch.allclose(mel.double().sum(dim=0), sums, rtol=TOL)

    states = model.hidden_states(wave[None])
    assert states.shape == (1, 4, 256)
    assert torch.allclose(states[0, :3].double(), torch.tensor(gold["layer_means"], dtype=torch.float64), atol=TOL)
    assert torch.allclose(states[0, 3].double(), torch.tensor(gold["embedding"], dtype=torch.float64), atol=TOL)


def test_network_matches_published_on_the_same_mel_input(model):
    layer_means, embeds = model.network(network_input())
    gold = GOLDEN["network"]
    assert torch.allclose(layer_means.double(), torch.tensor(gold["layer_means"], dtype=torch.float64), atol=TOL)
    assert torch.allclose(embeds.double(), torch.tensor(gold["partial_embeddings"], dtype=torch.float64), atol=TOL)


# (c) batch independence, determinism, edge inputs ----------------------------------------------------------

def test_batch_independence_and_determinism(model):
    rng = np.random.default_rng(3)
    batch = torch.from_numpy((0.05 * rng.standard_normal((3, 40000))).astype(np.float32))
    batch[1] *= 0.01  # a quiet item: its gain must not leak into the others
    together = model.hidden_states(batch)
    assert torch.equal(together, model.hidden_states(batch))
    for i in range(3):
        assert torch.allclose(together[i], model.hidden_states(batch[i:i + 1])[0], atol=1e-5)
    # right padding marked by lengths is ignored
    padded = torch.nn.functional.pad(batch[:1, :30000], (0, 10000), value=0.7)
    assert torch.allclose(model.hidden_states(padded, lengths=torch.tensor([30000]))[0],
                          model.hidden_states(batch[:1, :30000])[0], atol=1e-5)


@pytest.mark.parametrize("n", [0, 1, 100, 399, 16000])
def test_silence_and_short_inputs_are_finite(model, n):
    for wave in (torch.zeros(2, n), 1e-3 * torch.ones(2, n)):
        out = model.hidden_states(wave)
        assert out.shape == (2, 4, 256) and torch.isfinite(out).all()


def test_empty_batch(model):
    assert model.hidden_states(torch.zeros(0, 16000)).shape == (0, 4, 256)


# (d) missing and corrupted weights --------------------------------------------------------------------------

def _one_line(err: CheckpointError, path: Path) -> str:
    text = str(err)
    assert "\n" not in text and str(path) in text and "reinstall" in text
    return text


def test_missing_weights(tmp_path):
    path = tmp_path / "ge2e.safetensors"
    with pytest.raises(CheckpointError) as info:
        load_ge2e(path)
    assert "not found" in _one_line(info.value, path)


def test_corrupted_weights(tmp_path, monkeypatch):
    data = bytearray(WEIGHTS_PATH.read_bytes())
    bad = tmp_path / "ge2e.safetensors"
    bad.write_bytes(bytes(data[: len(data) // 2]))  # truncated: unreadable
    with pytest.raises(CheckpointError) as info:
        load_ge2e(bad)
    _one_line(info.value, bad)
    bad.write_bytes(b"\x00" * 64)  # not a safetensors file at all
    with pytest.raises(CheckpointError) as info:
        load_ge2e(bad)
    _one_line(info.value, bad)
    data[-100] ^= 0xFF  # one flipped byte in a tensor: only the checksum of the shipped file sees it
    bad.write_bytes(bytes(data))
    monkeypatch.setattr("mom_bench.models.ge2e.WEIGHTS_PATH", bad)
    with pytest.raises(CheckpointError) as info:
        load_ge2e()
    assert "corrupted" in _one_line(info.value, bad)


# measurement (printed, not asserted) -------------------------------------------------------------------------

@pytest.mark.slow
def test_timing(model, capsys):
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        rng = np.random.default_rng(0)
        for batch, seconds in ((8, 10), (1, 90)):
            wave = torch.from_numpy((0.05 * rng.standard_normal((batch, seconds * 16000))).astype(np.float32))
            model.hidden_states(wave[:1, :16000])  # warm-up
            start = time.perf_counter()
            out = model.hidden_states(wave)
            elapsed = time.perf_counter() - start
            assert out.shape == (batch, 4, 256)
            with capsys.disabled():
                print(f"\nGE2E hidden_states {batch} x {seconds} s: {elapsed:.2f} s (torch threads 2)")
    finally:
        torch.set_num_threads(threads)
