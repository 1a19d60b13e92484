"""stats-lr and the shortcut check: one set of global statistics (mom_bench.core.signal_stats), the same numbers in
the build and in the detector; the detector keeps the contract, trains with the real trainer, survives a save;
a build whose fakes differ only in a global statistic is flagged."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import mom_bench as mb
from mom_bench.core import audio
from mom_bench.core.signal_stats import FEATURES, feature_vector, signal_stats
from mom_bench.dataset import read, shortcut
from mom_bench.dataset.process import process
from mom_bench.loop.inference import extract_features, feature_logits
from mom_bench.models import registry
from mom_bench.models.stats_lr import STREAM, StatsLR
from tests._build_fixtures import build_listed, write_audio

RATE = 24000


def _music_like(seconds: float, seed: int) -> np.ndarray:
    """A few decaying partials over coloured noise: varied spectra, no exact zeros."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    x = 0.02 * np.cumsum(rng.standard_normal(t.size)) / np.sqrt(t.size) + 0.05 * rng.standard_normal(t.size)
    for f in rng.uniform(100, 3000, 4):
        x += rng.uniform(0.05, 0.2) * np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) * np.exp(-t * rng.uniform(0, 2))
    return x


def _as_tensor(stats: dict[str, float]) -> torch.Tensor:
    return torch.tensor([stats[f] for f in FEATURES], dtype=torch.float32)


def test_signal_stats_of_a_sine():
    t = np.arange(2 * RATE) / RATE
    s = signal_stats(0.5 * np.sin(2 * np.pi * 1499.3 * t + 0.3), RATE)  # no divisor of the rate: peak 0.5
    assert list(s) == list(FEATURES)
    assert s["centroid_hz"] == pytest.approx(1500, abs=20)
    assert s["rolloff85_hz"] == pytest.approx(1500, abs=30) and s["rolloff99_hz"] == pytest.approx(1500, abs=80)
    assert s["spectral_bandwidth_hz"] < 100
    assert s["zcr"] == pytest.approx(2 * 1499.3 / RATE, rel=1e-3)
    assert s["rms"] == pytest.approx(0.5 / np.sqrt(2), rel=1e-3) and s["crest_db"] == pytest.approx(3.01, abs=0.02)
    # silence: defined, finite, no spectral shape
    quiet = signal_stats(np.zeros(RATE), RATE)
    assert all(np.isfinite(v) for v in quiet.values()) and quiet["silence_frac"] == 1.0 and quiet["centroid_hz"] == 0.0
    # deterministic, and float32 input gives the float64 computation of the same values
    x = _music_like(1.0, 0).astype(np.float32)
    assert signal_stats(x, RATE) == signal_stats(x.astype(np.float64), RATE)


def test_stats_lr_features_are_the_shortcut_checks_statistics():
    # The builder's per-row statistics (what the shortcut check classifies) and stats-lr's features of the same
    # row decoded from the stored FLAC are the same function's output, number for number.
    assert shortcut.format_stats is signal_stats and shortcut.FEATURES == FEATURES
    model = registry.create("stats-lr")
    for seed in range(3):
        wave = _music_like(1.3, seed)
        row = process(f"r{seed}", (wave, RATE), sample_rate=RATE)
        assert row["status"] == "written"
        stored = audio.load(row["audio_bytes"], model.sample_rate, clip=model.clip).samples
        feats = model.extract(stored[None])[STREAM][0]
        assert torch.equal(feats, _as_tensor(row["stats"]))
        assert torch.equal(feats, torch.from_numpy(feature_vector(stored.numpy(), RATE)).float())


def test_stats_lr_keeps_the_detector_contract(tmp_path):
    model = registry.create("stats-lr")
    assert isinstance(model, StatsLR) and model.training_family == "frozen-encoder"
    assert model.n_parameters() == registry.resolve("stats-lr").params == len(FEATURES) + 1
    report = mb.check_detector(model, target="stats-lr")
    assert report.ok, str(report)
    assert not next(r for r in report.results if r.name == "save/load").skipped
    # with training statistics in the standardiser (buffers), too
    model.train()
    model.head_outputs({STREAM: torch.rand(7, len(FEATURES)) * 1000})
    model.head_outputs({STREAM: torch.rand(1, len(FEATURES)) * 1000})  # a batch of one is fine
    model.eval()
    assert float(model.standardise.count) == 8
    assert mb.check_detector(model, target="stats-lr").ok


def test_stats_lr_trains_with_the_real_trainer_and_scores_the_same_after_reload(loop_benchmark, tmp_path):
    data = loop_benchmark
    run = mb.train("stats-lr", data, tmp_path / "run", epochs=4, progress=False)
    summary = json.loads((run / "train_config.json").read_text())
    assert summary["epochs_done"] == 4 and summary["recipe"]["loss"] == "bce"
    assert summary["recipe_family"] == "frozen-encoder"
    # the loop fixture's soft tones and noisy bright fakes differ in every spectral statistic
    assert summary["best_val_f1"] == pytest.approx(1.0)

    model = registry.load(run / "best")
    # the standardiser holds the training split's statistics (every epoch added the same items again)
    train_feats, meta = extract_features(model, data, "train", torch.device("cpu"), 8, progress=False)
    x = train_feats[STREAM].double()
    n = read.num_rows(data, "train")
    assert len(meta) == n and float(model.standardise.count) % n == 0
    torch.testing.assert_close(model.standardise.mean, x.mean(0), rtol=1e-6, atol=1e-9)

    test_feats, _ = extract_features(model, data, "test_ood", torch.device("cpu"), 8, progress=False)
    before = feature_logits(model, test_feats)
    model.save_pretrained(tmp_path / "saved")
    reloaded = mb.load_detector(tmp_path / "saved")
    assert torch.equal(feature_logits(reloaded, test_feats), before)
    # and from waveforms, item by item, the same as from the cached features
    row = next(read.iter_rows(data, "test_ood", ["id", "audio"]))
    wave = audio.load(row["audio"], reloaded.sample_rate, clip=reloaded.clip).samples
    with torch.inference_mode():
        torch.testing.assert_close(reloaded(wave[None]), before[:1], rtol=0, atol=1e-6)


def _gain_protocol() -> dict:
    return {
        "name": "gain-shortcut", "version": "0.0.1", "title": "Louder fakes", "license": "CC0-1.0",
        "description": "Reals and fakes of one kind of signal; the fakes are 6 dB louder.",
        "citation": "@misc{gain, title={Louder fakes}}",
        "audio": {"sample_rate": RATE, "format": "flac", "max_seconds": None}, "clip_policy": "full",
        "source": {"kind": "csv"},
        "splits": {"salt": "gain-v1", "reals": {"train": 0.5, "validation": 0.2, "test_id": 0.15, "test_ood": 0.15},
                   "fakes_id": {"train": 0.6, "validation": 0.2, "test_id": 0.2}},
        "generators": [{"id": "louder", "name": "Louder", "family": "gain", "role": "train"}],
        "reals": [{"id": "signals", "name": "Signals"}],
    }


def test_shortcut_check_of_a_build_flags_fakes_that_are_only_louder(tmp_path):
    # Same signal process for both classes; the fakes' level is 6 dB higher (with +-1.5 dB spread in both).
    rows, rng = [], np.random.default_rng(0)
    for split, n in (("train", 10), ("validation", 2), ("test_id", 5)):
        for label in (0, 1):
            for _k in range(n):
                seed = len(rows)
                x = _music_like(0.6, seed)
                level_db = (-26.0 if label == 0 else -20.0) + rng.uniform(-1.5, 1.5)
                x = x * (10 ** (level_db / 20) / np.sqrt(np.mean(x * x)))
                rel = f"audio/{seed:03d}.flac"
                write_audio(tmp_path / rel, torch.tensor(x, dtype=torch.float32), RATE)
                gen = "louder" if label else "real"
                rows.append({"id": f"{gen}-{seed:03d}", "label": label, "generator": gen,
                             "source": gen if label else "signals", "path": rel, "split": split})
    result = build_listed(tmp_path, _gain_protocol(), rows)
    check = json.loads((result.out_dir / "build_report.json").read_text())["shortcut_check"]
    assert check["features"] == list(FEATURES) and check["n_train"] == 20 and check["n_test"] == 10
    assert check["warn"] is True and check["balanced_accuracy"] > shortcut.WARN_BALANCED_ACCURACY, check
    assert "WARNING" in result.summary()
    card = (result.out_dir / "README.md").read_text()
    assert "WARNING: above the 0.65 warning level" in card and "`zcr`" in card and "stats-lr" in card
