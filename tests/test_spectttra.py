"""SpecTTTra: published sizes, per-item scoring, the SONICS key mapping, SpecAugment, save/load."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mom_bench.models import registry
from mom_bench.models.base import CheckpointError
from mom_bench.models.spectttra import SpecTTTra, load_sonics
from tests.test_melspec import ref_filterbank

# Published sizes (SONICS paper / README): parameters in millions, rounded as shown there.
PUBLISHED_M = {"alpha-5s": 17, "beta-5s": 17, "gamma-5s": 17, "alpha-120s": 19, "beta-120s": 21, "gamma-120s": 24}
# Tokens = floor(frames / t) + floor(128 / f) with frames 128 (5 s) or 3744 (120 s); alpha-5s and gamma-120s
# are the counts the paper states.
TOKENS = {"alpha-5s": 42 + 128, "beta-5s": 25 + 42, "gamma-5s": 18 + 25,
          "alpha-120s": 1248 + 128, "beta-120s": 748 + 42, "gamma-120s": 534 + 25}


def build_meta(name):
    with torch.device("meta"):  # shapes only: no memory, no init cost
        return registry.create(name)


@pytest.mark.parametrize("variant", list(PUBLISHED_M))
def test_parameter_and_token_counts_match_the_paper(variant):
    model = build_meta(f"spectttra-{variant}")
    n = sum(p.numel() for p in model.parameters())
    assert round(n / 1e6) == PUBLISHED_M[variant], n
    assert model.n_tokens == TOKENS[variant]
    assert model.sample_rate == 16000
    seconds = variant.split("-")[1][:-1]
    assert str(model.clip) == f"sonics_eval:{seconds}" and str(model.train_clip) == f"random:{seconds}"
    assert registry.resolve(f"spectttra-{variant}").parameter_count() == n


def test_stated_token_counts():
    assert build_meta("spectttra-alpha-5s").n_tokens == 170
    assert build_meta("spectttra-gamma-120s").n_tokens == 559


def test_mini_config_is_small_and_what_spectttra_means_on_mom_mini():
    spec = registry.resolve("spectttra", benchmark="mom-mini")
    assert spec.name == "spectttra-mini" and not spec.paper
    model = registry.create("spectttra", benchmark="mom-mini")
    assert model.config["model"] == "spectttra-mini"
    assert model.n_parameters() < 500_000
    assert model.n_samples == 3 * 16000  # mom-mini's 3-second clips


def songs(model, n, seed=0):
    """Songs unlike each other in loudness (one under the std floor), noise level and so spectral peak,
    each ending in digital silence: the per-example std, top_db floor and normalisation all matter."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(model.n_samples) / model.sample_rate
    noise = torch.tensor([1.0, 0.01, 0.1, 0.001])[:n, None]
    wave = noise * torch.randn(n, model.n_samples, generator=g)
    wave += torch.sin(2 * torch.pi * 220 * t * (1 + torch.arange(n)[:, None]))
    wave[:, int(0.7 * model.n_samples):] = 0
    gains = torch.tensor([1.0, 1e-3, 30.0, 1e-7])[:n]
    return wave * gains[:, None]


def test_each_song_is_scored_independently_of_its_batch():
    torch.manual_seed(0)
    model = registry.create("spectttra-mini").eval()
    batch = songs(model, 4)
    with torch.no_grad():
        together = model(batch)
        alone = torch.cat([model(batch[i:i + 1]) for i in range(4)])
    assert together.shape == (4,)
    assert torch.allclose(together, alone, atol=1e-5), (together, alone)
    assert torch.isfinite(together).all()


def test_wrong_length_and_bad_config_are_refused():
    model = registry.create("spectttra-mini")
    with pytest.raises(ValueError, match="expects 48000 samples.*clip policy"):
        model(torch.zeros(1, 16000))
    with pytest.raises(ValueError, match="variant must be one of"):
        SpecTTTra({"model": "x", "sample_rate": 16000, "clip": "sonics_eval:5", "variant": "delta",
                   "clip_seconds": 5})


# --------------------------------------------------------------------------------------------------
# SONICS checkpoints: a synthetic one with the SONICS key names, loaded from disk like a download.

SMALL = {"embed_dim": 32, "num_layers": 2, "num_heads": 4, "mlp_ratio": 2.67, "f_clip": 3, "t_clip": 5}


def sonics_config(**model):
    return {
        "audio": {"sample_rate": 16000, "max_time": 5, "max_len": 80000, "normalize": True},
        "melspec": {"n_fft": 2048, "hop_length": 512, "win_length": 2048, "n_mels": 128, "f_min": 20,
                    "f_max": 8000, "power": 2, "top_db": 80, "norm": "mean_std"},
        "model": {"name": "SpecTTTra", "input_shape": [128, 128], "pre_norm": True, "pe_learnable": True,
                  "pos_drop_rate": 0.1, "attn_drop_rate": 0.1, "proj_drop_rate": 0.0, **SMALL, **model},
        "num_classes": 1,
    }


def sonics_state_dict(cfg, seed=0):
    """SONICS names and shapes, written from docs/spectttra_keys.md, with random values."""
    g = torch.Generator().manual_seed(seed)
    m = cfg["model"]
    d, (n_mels, frames), f, t = m["embed_dim"], m["input_shape"], m["f_clip"], m["t_clip"]
    hidden = int(d * m["mlp_ratio"])
    def rnd(*shape):
        return torch.randn(*shape, generator=g) * 0.2
    fb = torch.from_numpy(ref_filterbank(1025, 16000, 128, 20.0, 8000.0)).float()
    sd = {"ft_extractor.audio2melspec.spectrogram.window": torch.hann_window(2048),
          "ft_extractor.audio2melspec.mel_scale.fb": fb}
    for kind, channels, patch, tokens in (("temporal", n_mels, t, frames // t), ("spectral", frames, f, n_mels // f)):
        p = f"encoder.st_tokenizer.{kind}_tokenizer."
        sd[p + "conv1d.weight"] = rnd(d, channels, patch)
        sd[p + "pos_encoder.pe"] = rnd(1, tokens, d)
        sd[p + "norm_pre.weight"], sd[p + "norm_pre.bias"] = 1 + rnd(d), rnd(d)
    for i in range(m["num_layers"]):
        p = f"encoder.transformer.blocks.{i}."
        for norm in ("norm1", "norm2"):
            sd[p + norm + ".weight"], sd[p + norm + ".bias"] = 1 + rnd(d), rnd(d)
        sd[p + "attn.qkv.weight"] = rnd(3 * d, d)
        sd[p + "attn.proj.weight"], sd[p + "attn.proj.bias"] = rnd(d, d), rnd(d)
        sd[p + "mlp.fc1.weight"], sd[p + "mlp.fc1.bias"] = rnd(hidden, d), rnd(hidden)
        sd[p + "mlp.fc2.weight"], sd[p + "mlp.fc2.bias"] = rnd(d, hidden), rnd(d)
    sd["classifier.weight"], sd["classifier.bias"] = rnd(1, d), rnd(1)
    return sd


def sonics_reference_logit(sd, cfg, wave):
    """The SONICS forward pass for one song, written out on the SONICS-named tensors (eval mode)."""
    m = cfg["model"]
    d, heads, f, t = m["embed_dim"], m["num_heads"], m["f_clip"], m["t_clip"]
    x = wave.double()
    x = x / max(float(x.std(correction=0)), 1e-6)
    spec = torch.stft(x, 2048, 512, window=sd["ft_extractor.audio2melspec.spectrogram.window"].double(),
                      center=True, pad_mode="reflect", return_complex=True).abs() ** 2
    mel = sd["ft_extractor.audio2melspec.mel_scale.fb"].double().T @ spec
    db = 10 * torch.log10(mel.clamp(min=1e-10))
    db = torch.maximum(db, db.max() - 80)
    z = (db - db.mean()) / (db.std() + 1e-6)
    z = F.interpolate(z[None, None], size=tuple(m["input_shape"]), mode="bilinear")[0, 0]

    def tokens(kind, inp, patch):
        p = f"encoder.st_tokenizer.{kind}_tokenizer."
        y = F.gelu(F.conv1d(inp[None], sd[p + "conv1d.weight"].double(), stride=patch))[0].T
        y = y + sd[p + "pos_encoder.pe"].double()[0]
        return F.layer_norm(y, (d,), sd[p + "norm_pre.weight"].double(), sd[p + "norm_pre.bias"].double(), 1e-6)

    h = torch.cat([tokens("temporal", z, t), tokens("spectral", z.T, f)])
    def w(k):
        return sd[k].double()
    for i in range(m["num_layers"]):
        p = f"encoder.transformer.blocks.{i}."
        a = F.layer_norm(h, (d,), w(p + "norm1.weight"), w(p + "norm1.bias"))
        q, k, v = (a @ w(p + "attn.qkv.weight").T).view(len(h), 3, heads, d // heads).permute(1, 2, 0, 3)
        att = torch.softmax(q @ k.transpose(-1, -2) / (d // heads) ** 0.5, dim=-1) @ v
        h = h + att.permute(1, 0, 2).reshape(len(h), d) @ w(p + "attn.proj.weight").T + w(p + "attn.proj.bias")
        a = F.layer_norm(h, (d,), w(p + "norm2.weight"), w(p + "norm2.bias"))
        a = F.gelu(a @ w(p + "mlp.fc1.weight").T + w(p + "mlp.fc1.bias"))
        h = h + a @ w(p + "mlp.fc2.weight").T + w(p + "mlp.fc2.bias")
    return float(h.mean(0) @ w("classifier.weight")[0] + w("classifier.bias")[0])


def write_sonics_checkpoint(folder, cfg, sd):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(cfg))
    torch.save(sd, folder / "pytorch_model.bin")
    return folder


def test_sonics_checkpoint_loads_strictly_and_reproduces_the_reference(tmp_path):
    cfg = sonics_config()
    sd = sonics_state_dict(cfg)
    model = load_sonics(write_sonics_checkpoint(tmp_path / "ckpt", cfg, sd))
    assert not model.training
    assert model.config["model"] == "spectttra-beta-5s" and model.config["variant"] == "beta"
    assert model.config["weights_source"] == str(tmp_path / "ckpt")
    # Every tensor arrived (a strict load), the front-end buffers included.
    assert torch.equal(model.frontend.filterbank, sd["ft_extractor.audio2melspec.mel_scale.fb"])
    assert torch.equal(model.blocks[1].mlp.fc2.weight, sd["encoder.transformer.blocks.1.mlp.fc2.weight"])

    wave = songs(model, 3, seed=1)
    with torch.no_grad():
        ours = model(wave)
    ref = torch.tensor([sonics_reference_logit(sd, cfg, wave[i]) for i in range(3)], dtype=torch.float32)
    assert torch.allclose(ours, ref, atol=1e-4), (ours, ref)
    assert ref.std() > 0.01  # the songs get different scores, so the comparison means something


def test_sonics_checkpoint_with_unknown_or_missing_keys_is_refused(tmp_path):
    cfg = sonics_config()
    sd = sonics_state_dict(cfg)
    extra = {**sd, "encoder.cls_token": torch.zeros(1, 1, 32)}
    with pytest.raises(CheckpointError, match="no mapping for.*cls_token"):
        load_sonics(write_sonics_checkpoint(tmp_path / "extra", cfg, extra))
    missing = {k: v for k, v in sd.items() if k != "classifier.bias"}
    with pytest.raises(CheckpointError, match="head.bias"):
        load_sonics(write_sonics_checkpoint(tmp_path / "missing", cfg, missing))
    wrong = {**sd, "ft_extractor.audio2melspec.mel_scale.fb": torch.zeros(513, 128)}
    with pytest.raises(CheckpointError, match="shapes differ.*filterbank"):
        load_sonics(write_sonics_checkpoint(tmp_path / "wrong", cfg, wrong))


def test_unsupported_sonics_configs_are_refused(tmp_path):
    cfg = sonics_config(pe_learnable=False, f_clip=2)
    with pytest.raises(CheckpointError, match=r"\(f_clip, t_clip\) = \(2, 5\).*sinusoidal"):
        load_sonics(write_sonics_checkpoint(tmp_path / "x", cfg, {}))


def test_sonics_weights_are_never_unpickled_as_objects(tmp_path):
    cfg = sonics_config()
    folder = tmp_path / "evil"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(cfg))
    torch.save({"classifier.weight": np.zeros(3)}, folder / "pytorch_model.bin")  # a numpy object inside
    with pytest.raises(CheckpointError, match="not a plain tensor state dict"):
        load_sonics(folder)


def test_missing_sonics_checkpoint_offline_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # An empty cache and no network, even where the real checkpoint was downloaded before.
    with pytest.raises(CheckpointError, match="awsaf49/sonics-spectttra-gamma-5s.*HF_HUB_OFFLINE"):
        load_sonics("spectttra-gamma-5s", cache_dir=str(tmp_path / "hub"), local_files_only=True)


# --------------------------------------------------------------------------------------------------


def test_spec_augment_masks_narrow_bands_per_example():
    model = registry.create("spectttra-mini")
    mel = torch.randn(64, 128, 313) + 5.0  # no zeros before masking
    out = model.spec_augment(mel, generator=torch.Generator().manual_seed(0))
    masked = out == 0
    time_masked = masked.all(dim=1)   # whole columns
    freq_masked = masked.all(dim=2)   # whole rows
    assert torch.equal(masked, time_masked[:, None, :] | freq_masked[:, :, None])
    assert int(time_masked.sum(1).max()) <= 2 * 8 and int(freq_masked.sum(1).max()) <= 8
    assert time_masked.any(1).float().mean() > 0.5  # most examples get a mask ...
    assert len({tuple(r.nonzero().flatten().tolist()) for r in time_masked}) > 32  # ... each its own
    assert torch.equal(out[~masked], mel[~masked])


def test_train_mode_augments_and_learns_eval_mode_is_deterministic():
    torch.manual_seed(0)
    model = registry.create("spectttra-mini")
    wave = songs(model, 2)
    model.train()
    loss = F.binary_cross_entropy_with_logits(model(wave), torch.tensor([0.0, 1.0]))
    loss.backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not no_grad
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(wave), model(wave))


def test_save_and_load_round_trip(tmp_path):
    torch.manual_seed(0)
    model = registry.create("spectttra-mini").eval()
    with torch.no_grad():
        model.head.bias.fill_(0.3)
    model.save_pretrained(tmp_path / "m")
    again = registry.load(tmp_path / "m")
    assert isinstance(again, SpecTTTra) and again.config == model.config
    wave = songs(model, 2)
    with torch.no_grad():
        assert torch.equal(model(wave), again(wave))


@pytest.mark.slow
def test_alpha_120s_scores_a_full_clip_per_item():
    torch.manual_seed(0)
    model = registry.create("spectttra-alpha-120s").eval()
    wave = songs(model, 2)
    with torch.inference_mode():
        together = model(wave)
        alone = model(wave[1:])
    assert torch.isfinite(together).all()
    assert torch.allclose(together[1:], alone, atol=1e-5)


def test_import_sonics_command_writes_a_loadable_detector(tmp_path):
    from click.testing import CliRunner

    from mom_bench.cli import main

    cfg = sonics_config()
    sd = sonics_state_dict(cfg, seed=3)
    src = write_sonics_checkpoint(tmp_path / "ckpt", cfg, sd)
    result = CliRunner().invoke(main, ["import-sonics", str(src), str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "spectttra-beta-5s" in result.output and "--checkpoint" in result.output
    model = registry.load(tmp_path / "out")
    assert model.config["weights_source"] == str(src)
    assert torch.equal(model.tokenizer.spectral.conv.weight,
                       sd["encoder.st_tokenizer.spectral_tokenizer.conv1d.weight"])
    bad = CliRunner().invoke(main, ["import-sonics", str(tmp_path / "nowhere"), str(tmp_path / "out2")])
    assert bad.exit_code == 2 and "nowhere" in bad.output and "config.json" in bad.output
