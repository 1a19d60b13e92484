"""fakeprint: the features see an upsampler's periodic peaks where the theory puts them (multiples of
sample_rate / stride), a logistic regression on them separates upsampled signals from the same signals made
at the full rate, the registry row meets the detector contract, and the real trainer trains and saves it."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import mom_bench
from mom_bench.models import registry
from mom_bench.models.fakeprint import Fakeprint

RATE = 24000


def _source(rng: np.random.Generator, n: int, rate: int) -> np.ndarray:
    """Music-like: a harmonic tone on a low fundamental, brownish noise, and a small DC offset (the nonzero
    mean that activations give a decoder's input), all defined in Hz so it can be made at any rate."""
    t = np.arange(n) / rate
    f0 = rng.uniform(55, 220)
    x = sum(rng.uniform(0.05, 0.3) / h * np.sin(2 * np.pi * h * f0 * t + rng.uniform(0, 2 * np.pi))
            for h in range(1, 8) if h * f0 < rate / 2)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum /= 1 + np.fft.rfftfreq(n, 1 / rate) / 800  # -6 dB per octave above 800 Hz
    return x + 0.3 * np.fft.irfft(spectrum, n) + rng.uniform(0.02, 0.1)


def _smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """A low-pass FIR: a 9-tap Gaussian kernel (its width plays the part of a decoder's learned weights)."""
    k = np.exp(-0.5 * (np.arange(-4, 5) / sigma) ** 2)
    return np.convolve(x, k / k.sum(), mode="same")


def example(upsampled: bool, seed: int, stride: int = 4, seconds: float = 3.0) -> torch.Tensor:
    """One clip at RATE: the source made at RATE / stride, zero-inserted x stride and smoothed (upsampled), or
    the same kind of source made at RATE and smoothed by the same kind of filter."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    sigma = rng.uniform(0.8, 1.4)
    if upsampled:
        up = np.zeros(n)
        up[::stride] = stride * _source(rng, n // stride, RATE // stride)[: len(up[::stride])]
        x = _smooth(up, sigma)
    else:
        x = _smooth(_source(rng, n, RATE), sigma)
    x = x + 1e-3 * rng.standard_normal(n)
    return torch.tensor(0.5 * x / np.abs(x).max(), dtype=torch.float32)


@pytest.fixture(scope="module")
def model() -> Fakeprint:
    return registry.create("fakeprint")


def features(model: Fakeprint, upsampled: bool, seeds, stride: int = 4) -> np.ndarray:
    waves = torch.stack([example(upsampled, s, stride) for s in seeds])
    return model.extract(waves)["fakeprint"].numpy()


def test_a_logistic_regression_on_fakeprints_separates_upsampled_signals(model):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    train, test = range(0, 16), range(100, 124)
    x_train = np.concatenate([features(model, False, train), features(model, True, train)])
    y_train = np.r_[np.zeros(len(train)), np.ones(len(train))]
    x_test = np.concatenate([features(model, False, test), features(model, True, test)])
    y_test = np.r_[np.zeros(len(test)), np.ones(len(test))]
    clf = LogisticRegression(C=0.1, max_iter=2000).fit(x_train, y_train)
    assert roc_auc_score(y_test, clf.predict_proba(x_test)[:, 1]) > 0.95


def _peaks(values: np.ndarray, n: int, guard: int = 10) -> list[int]:
    """Indices of the ``n`` highest values, each at least ``guard`` bins from a higher one."""
    values = values.copy()
    found = []
    for _ in range(n):
        i = int(np.argmax(values))
        found.append(i)
        values[max(0, i - guard):i + guard + 1] = -np.inf
    return found


@pytest.mark.parametrize("stride", [4, 8])
def test_peaks_sit_at_multiples_of_the_rate_over_the_stride(model, stride):
    freqs = model.frequencies().numpy()
    assert np.allclose(np.diff(freqs), RATE / 8192) and freqs[0] >= 1000 and freqs[-1] == RATE / 2
    predicted = [m * RATE / stride for m in range(1, stride // 2 + 1) if m * RATE / stride >= freqs[0]]
    mean_fake = features(model, True, range(8), stride).mean(axis=0)
    mean_real = features(model, False, range(8), stride).mean(axis=0)
    found = sorted(freqs[i] for i in _peaks(mean_fake, len(predicted)))
    # The highest peaks are the predicted ones, each within two bins (2 x 2.93 Hz).
    assert len(found) == len(predicted)
    for f, p in zip(found, predicted):
        assert abs(f - p) <= 2 * RATE / 8192, (found, predicted)
    # and they are the upsampler's: the same signals made at the full rate have none there.
    at = [int(np.argmin(np.abs(freqs - p))) for p in predicted]
    assert mean_fake[at].min() > 5 and mean_real[at].max() < 2


def test_features_are_per_item_finite_for_short_clips_and_gain_free(model):
    short = torch.randn(3, 1000)  # shorter than n_fft: zero-padded to one frame
    out = model.extract(short)["fakeprint"]
    assert out.shape == (3, model.n_bins) and torch.isfinite(out).all()
    assert torch.isfinite(model(torch.zeros(2, 50))).all()
    x = example(True, 7)[None]
    assert torch.allclose(model.extract(x)["fakeprint"], model.extract(0.01 * x)["fakeprint"], atol=1e-3)
    # alone or in a batch: the same features
    batch = torch.cat([x, torch.randn(1, x.shape[-1])])
    assert torch.allclose(model.extract(batch)["fakeprint"][:1], model.extract(x)["fakeprint"], atol=1e-5)


def test_registry_row_meets_the_detector_contract(model, tmp_path):
    spec = registry.resolve("fakeprint")
    assert spec.family == "frozen-encoder" and not spec.paper and "2506.19108" in spec.description
    assert registry.recipe_for(spec).loss == "bce"
    assert spec.sample_rate == 24000 and model.sample_rate == 24000
    assert model.n_parameters() == spec.params == model.n_bins + 1
    assert set(model.weights_to_save()) == {"head.weight", "head.bias"}  # the features have nothing to save
    key = model.feature_key()["fakeprint"]
    for part in ("n_fft=8192", "hop=4096", "envelope_hz=100", "band_bins=", "clip=first:90", "in_sr=24000"):
        assert part in key
    assert registry.create("fakeprint", envelope_hz=50.0).feature_key() != model.feature_key()
    report = mom_bench.check_detector(model)
    assert report.ok, str(report)


def test_trains_with_the_real_trainer_and_reloads_to_identical_scores(loop_benchmark, tmp_path):
    from mom_bench.dataset import read
    from mom_bench.loop.inference import decode_row, split_logits
    from mom_bench.loop.training import train

    run = train("fakeprint", loop_benchmark, tmp_path / "run", config={"epochs": 4, "lr": 1e-2},
                overwrite=True, progress=False)
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    assert len(log) == 4 and all(np.isfinite(e["val_loss"]) for e in log)
    assert json.loads((run / "train_config.json").read_text())["recipe_family"] == "frozen-encoder"
    best = mom_bench.load_detector(run / "best")
    assert isinstance(best, Fakeprint) and best.weights().abs().sum() > 0
    best.save_pretrained(tmp_path / "again")
    again = mom_bench.load_detector(tmp_path / "again")
    # Cached-feature scores (validation path of the trainer) equal a fresh forward of the reloaded model.
    cached = split_logits(best, loop_benchmark, "validation", progress=False)
    waves = [decode_row(row, again, again.clip) for row in read.iter_rows(loop_benchmark, "validation",
                                                                           columns=["id", "audio"])]
    with torch.inference_mode():
        fresh = torch.cat([again(w[None]) for w in waves])
    assert torch.allclose(cached, fresh, atol=1e-5)
    assert torch.equal(best.head.weight, again.head.weight)
