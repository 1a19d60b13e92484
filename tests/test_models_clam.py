"""CLAM family: head parameterisation, official weights, WCA, frozen encoders, checkpoints and save/load."""
from __future__ import annotations

import json
import math
import pickle

import pytest
import torch
import torch.nn.functional as F

from mom_bench.models import registry
from mom_bench.models.base import CheckpointError, Detector, FrozenEncoderDetector
from mom_bench.models.clam import ClamDetector, ClamHead, WcaHead
from mom_bench.models.encoders import ARCHS, Encoder


def _official_state(n_layers: int, hidden: int, head_dim: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict with the official CLAM code's names and shapes (two streams)."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *shape: torch.randn(*shape, generator=g) * 0.2  # noqa: E731
    state = {}
    for i in (1, 2):
        state.update({
            f"conv{i}.weight": r(3, n_layers, 3), f"conv{i}.bias": r(3),
            f"crossAttention{i}.in_proj_weight": r(3 * hidden, hidden),
            f"crossAttention{i}.in_proj_bias": r(3 * hidden),
            f"crossAttention{i}.out_proj.weight": r(hidden, hidden), f"crossAttention{i}.out_proj.bias": r(hidden),
            f"fc{i}.weight": r(head_dim, hidden), f"fc{i}.bias": r(head_dim),
        })
    state.update({"fc3.weight": r(1, 2 * head_dim), "fc3.bias": r(1)})
    return state


def _official_forward_one(state, x1: torch.Tensor, x2: torch.Tensor, heads: int = 4) -> torch.Tensor:
    """The official head's forward for ONE song (its batch of one), written out from its description:
    Conv1d(L->3, k3, p1) + ReLU, channel 0, multi-head self-attention (sequence of one), Linear, concat, Linear."""
    def branch(i, x):  # x: [L, H]
        y = F.relu(F.conv1d(x[None], state[f"conv{i}.weight"], state[f"conv{i}.bias"], padding=1))[0, 0]  # [H]
        hidden = y.numel()
        w, b = state[f"crossAttention{i}.in_proj_weight"], state[f"crossAttention{i}.in_proj_bias"]
        q, k, v = (w[j * hidden:(j + 1) * hidden] @ y + b[j * hidden:(j + 1) * hidden] for j in range(3))
        d = hidden // heads
        outs = []
        for h in range(heads):
            qh, kh, vh = q[h * d:(h + 1) * d], k[h * d:(h + 1) * d], v[h * d:(h + 1) * d]
            score = (qh @ kh) / math.sqrt(d)
            weight = torch.softmax(score[None], dim=0)  # one key: the song itself
            outs.append(weight[0] * vh)
        a = state[f"crossAttention{i}.out_proj.weight"] @ torch.cat(outs) + state[f"crossAttention{i}.out_proj.bias"]
        return state[f"fc{i}.weight"] @ a + state[f"fc{i}.bias"]

    z = torch.cat([branch(1, x1), branch(2, x2)])
    return (state["fc3.weight"] @ z + state["fc3.bias"])[0]


def test_clam_head_has_the_official_size():
    head = ClamHead([13, 13], [768, 768], head_dim=512, attention_heads=4)
    n = sum(p.numel() for p in head.parameters())
    assert n == 5_513_457 and round(n / 1e4) / 100 == 5.51


def test_base_encoders_have_94_4_m_parameters():
    for kind, arch in (("hubert", "mert-v1-95m"), ("wav2vec2", "wav2vec2-base")):
        with torch.device("meta"):
            enc = Encoder({"kind": kind, "arch": arch, "weights": None, "sample_rate": 16000}, "x")
        assert round(sum(p.numel() for p in enc.parameters()) / 1e5) / 10 == 94.4
        assert enc.n_layers == 13 and enc.hidden_size == 768


def test_official_state_dict_loads_strictly_and_matches_the_official_forward():
    state = _official_state(13, 768, 512)
    head = ClamHead([13, 13], [768, 768]).eval()
    head.load_state_dict(state, strict=True)
    g = torch.Generator().manual_seed(1)
    x1, x2 = torch.randn(3, 13, 768, generator=g), torch.randn(3, 13, 768, generator=g)
    with torch.no_grad():
        logits = head([x1, x2])["logits"]
        expected = torch.stack([_official_forward_one(state, x1[i], x2[i]) for i in range(3)])
    torch.testing.assert_close(logits, expected, atol=1e-5, rtol=1e-5)


def test_detector_loads_an_official_pth_with_weights_only(tmp_path):
    model = registry.create("clam-tiny").eval()
    state = _official_state(ARCHS["tiny"]["num_hidden_layers"] + 1, ARCHS["tiny"]["hidden_size"], 8, seed=3)
    path = tmp_path / "best_model.pth"
    torch.save(state, path)
    model.load_official_head(path)
    feats = model.extract(torch.randn(2, 24000))
    with torch.no_grad():
        got = model.head_forward(feats)
        expected = torch.stack([_official_forward_one(state, feats["mert"][i], feats["w2v"][i]) for i in range(2)])
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)

    # strict: a missing official key is an error, never a partial load
    del state["fc3.bias"]
    with pytest.raises(RuntimeError, match="fc3.bias"):
        model.load_official_head(state)


class _Payload:
    def __reduce__(self):
        return (print, ("pickle code ran",))


def test_official_pth_loading_never_runs_pickle_code(tmp_path, capsys):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"conv1.weight": _Payload()}, f, protocol=2)
    with pytest.raises(pickle.UnpicklingError):
        registry.create("clam-tiny").load_official_head(path)
    assert "pickle code ran" not in capsys.readouterr().out


def test_forward_is_head_of_extract_and_encoders_stay_frozen():
    model = registry.create("clam-tiny")
    assert isinstance(model, FrozenEncoderDetector) and model.training_family == "frozen-encoder"
    assert not any(p.requires_grad for p in model.encoders.parameters())
    wave = torch.randn(2, 24000)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(wave), model.head_forward(model.extract(wave)), atol=0, rtol=0)
    model.train()
    assert not model.encoders.training and model.head.training
    model(wave).sum().backward()
    assert all(p.grad is None for p in model.encoders.parameters())
    assert all(p.grad is not None for p in model.head.parameters())
    assert model.n_parameters(trainable_only=True) == sum(p.numel() for p in model.head.parameters())


def test_head_outputs_give_the_triplet_branches():
    model = registry.create("clam-tiny").eval()
    feats = model.extract(torch.randn(3, 24000))
    out = model.head_outputs(feats)
    assert out["logits"].shape == (3,) and out["emb_mert"].shape == (3, 8) and out["emb_w2v"].shape == (3, 8)
    single = registry.create("mert-only-mini").eval()
    enc = single.encoders["music"]
    out = single.head_outputs({"music": torch.randn(2, enc.n_layers, enc.hidden_size)})
    assert set(out) == {"logits"} and out["logits"].shape == (2,)


def test_wca_head_really_crosses_streams_and_weights_layers():
    torch.manual_seed(0)
    wca = WcaHead([4, 4], [16, 16], head_dim=16).eval()
    clam = ClamHead([4, 4], [16, 16], head_dim=16).eval()
    a, b = torch.randn(2, 4, 16), torch.randn(2, 4, 16)
    b2 = b + torch.randn_like(b)
    with torch.no_grad():
        # the MERT-branch embedding depends on the wav2vec2 stream in WCA, and not in the official head
        assert not torch.allclose(wca([a, b])["embeddings"][0], wca([a, b2])["embeddings"][0])
        torch.testing.assert_close(clam([a, b])["embeddings"][0], clam([a, b2])["embeddings"][0])
    weights = wca.layer_weights()
    assert all(torch.isclose(w.sum(), torch.tensor(1.0)) for w in weights)
    assert all(p.requires_grad for p in wca.layer_logits)
    # changing the learned layer weights changes the output
    with torch.no_grad():
        before = wca([a, b])["logits"].clone()
        wca.layer_logits[0][0] += 3.0
        assert not torch.allclose(before, wca([a, b])["logits"])


def test_save_load_round_trip(tmp_path):
    model = registry.create("clam-tiny").eval()
    with torch.no_grad():
        for p in model.head.parameters():
            p.add_(0.1)  # differ from a fresh build, so loading must really restore weights
    model.save_pretrained(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir() if p.suffix in {".json", ".safetensors"}) == [
        "config.json", "model.safetensors"]
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["model"] == "clam-tiny"
    wave = torch.randn(2, 48000)
    with pytest.raises(TypeError, match="abstract: load with mom_bench.load_detector"):
        Detector.from_pretrained(tmp_path / "m")
    for loaded in (registry.load(tmp_path / "m"), ClamDetector.from_pretrained(tmp_path / "m")):
        assert isinstance(loaded, ClamDetector) and loaded.name == "clam-tiny" and not loaded.training
        with torch.no_grad():
            torch.testing.assert_close(loaded(wave), model(wave), atol=0, rtol=0)


def test_load_refuses_mismatched_weights(tmp_path):
    from safetensors.torch import load_file, save_file

    registry.create("clam-tiny").save_pretrained(tmp_path / "m")
    state = load_file(tmp_path / "m" / "model.safetensors")
    state.pop("head.fc3.bias")
    save_file(state, tmp_path / "m" / "model.safetensors")
    with pytest.raises(CheckpointError, match="head.fc3.bias"):
        registry.load(tmp_path / "m")
    with pytest.raises(CheckpointError, match="not a folder"):
        registry.load(tmp_path / "nowhere" / "model")


def _local_checkpoint(path, kind: str, **extra) -> None:
    """A small transformers checkpoint on disk, standing in for a downloaded one."""
    from transformers import HubertConfig, HubertModel, Wav2Vec2Config, Wav2Vec2Model

    config_cls, model_cls = (HubertConfig, HubertModel) if kind == "hubert" else (Wav2Vec2Config, Wav2Vec2Model)
    torch.manual_seed(7)
    model_cls(config_cls(**ARCHS["tiny"])).save_pretrained(path)
    if extra:
        cfg = json.loads((path / "config.json").read_text())
        cfg.update(extra)
        (path / "config.json").write_text(json.dumps(cfg))


def test_pretrained_encoders_load_from_local_folders_and_are_not_copied_into_saves(tmp_path):
    _local_checkpoint(tmp_path / "mert", "hubert")
    _local_checkpoint(tmp_path / "w2v", "wav2vec2")
    encoders = {"mert": {"kind": "hubert", "weights": str(tmp_path / "mert"), "sample_rate": 24000},
                "w2v": {"kind": "wav2vec2", "weights": str(tmp_path / "w2v"), "sample_rate": 16000}}
    model = registry.create("clam-tiny", encoders=encoders).eval()
    assert all(model.encoders[s].pretrained for s in ("mert", "w2v"))
    assert model.feature_key()["mert"].startswith("hubert|local:")
    saved = model.weights_to_save()
    assert saved and all(k.startswith("head.") for k in saved)
    model.save_pretrained(tmp_path / "saved")
    loaded = registry.load(tmp_path / "saved")
    wave = torch.randn(1, 24000)
    with torch.no_grad():
        torch.testing.assert_close(loaded(wave), model(wave), atol=0, rtol=0)


def test_mert_checkpoint_with_mert_only_switches_is_refused(tmp_path):
    _local_checkpoint(tmp_path / "mert", "hubert", feature_extractor_cqt=True)
    encoders = {"mert": {"kind": "hubert", "weights": str(tmp_path / "mert"), "sample_rate": 24000}}
    with pytest.raises(CheckpointError, match="feature_extractor_cqt"):
        registry.create("mert-only", encoders=encoders)


def test_missing_checkpoint_offline_says_which_and_how(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-hf-cache"))
    monkeypatch.delenv("MOM_BENCH_WEIGHTS_MERT", raising=False)
    with pytest.raises(CheckpointError) as info:
        registry.create("clam")
    msg = str(info.value)
    assert "m-a-p/MERT-v1-95M" in msg and "hf download m-a-p/MERT-v1-95M" in msg
    assert "MOM_BENCH_WEIGHTS_MERT" in msg and "clam-mini" in msg
    with pytest.raises(CheckpointError, match="wav2vec2-base-100k-gtzan"):
        registry.create("wav2vec2-only")


def test_sdpa_attention_gives_the_same_features_as_eager():
    # The encoders run with PyTorch's scaled-dot-product attention for speed; it must not change the features.
    model = registry.create("clam-tiny").eval()
    wave = torch.randn(2, 24000)
    with torch.inference_mode():
        fast = model.extract(wave)
        for s in model.streams:
            model.encoders[s].model.set_attn_implementation("eager")
        slow = model.extract(wave)
    assert model.encoders["mert"].model.config._attn_implementation == "eager"
    for s in model.streams:
        torch.testing.assert_close(fast[s], slow[s], atol=1e-5, rtol=1e-5)
