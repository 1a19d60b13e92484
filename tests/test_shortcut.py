"""The shortcut check must catch a format difference between reals and fakes and stay quiet without one."""
import numpy as np
import pytest

from mom_bench.dataset.shortcut import FEATURES, WARN_BALANCED_ACCURACY, format_stats, shortcut_check

RATE = 24000


def _lowpass(x: np.ndarray, cutoff_hz: float) -> np.ndarray:
    spec = np.fft.rfft(x)
    spec[np.fft.rfftfreq(x.size, 1 / RATE) > cutoff_hz] = 0
    return np.fft.irfft(spec, n=x.size)


def test_format_stats_of_a_known_signal():
    t = np.arange(2 * RATE) / RATE
    x = 0.5 * np.sin(2 * np.pi * 997 * t + 0.1)  # not a divisor of the rate: no exact zeros
    s = format_stats(x.astype(np.float32), RATE)
    assert set(s) == set(FEATURES)
    assert s["duration_s"] == pytest.approx(2.0)
    assert s["peak"] == pytest.approx(0.5, abs=1e-3)
    assert s["rms"] == pytest.approx(0.5 / np.sqrt(2), rel=1e-3)
    assert s["crest_db"] == pytest.approx(3.01, abs=0.05)
    assert s["rolloff_hz"] == pytest.approx(1000, abs=30)
    assert s["silence_frac"] < 0.01 and s["clip_frac"] == 0.0


def test_format_stats_sees_padding_clipping_and_lowpass():
    rng = np.random.default_rng(0)
    noise = rng.uniform(-0.3, 0.3, RATE * 3)
    wide = format_stats(noise, RATE)
    narrow = format_stats(_lowpass(noise, 4000), RATE)
    assert wide["bandwidth_hz"] > 11000 and narrow["bandwidth_hz"] < 4500
    assert narrow["rolloff_hz"] < wide["rolloff_hz"]
    padded = format_stats(np.concatenate([noise, np.zeros(RATE)]), RATE)
    assert padded["silence_frac"] == pytest.approx(0.25, abs=0.01)
    clipped = format_stats(np.clip(noise * 10, -1, 1), RATE)
    assert clipped["clip_frac"] > 0.5


def test_format_stats_rejects_empty_input():
    with pytest.raises(ValueError, match="at least one sample"):
        format_stats(np.zeros(0), RATE)


def _dataset(fake_cutoff: float | None, seed: int = 0, n: int = 40):
    rng = np.random.default_rng(seed)
    stats, labels, splits = [], [], []
    split_cycle = ["train", "train", "test_id", "test_ood"]
    for i in range(n):
        for label in (0, 1):
            x = rng.normal(0, 0.1, RATE) * rng.uniform(0.5, 1.5)
            if label == 1 and fake_cutoff is not None:
                x = _lowpass(x, fake_cutoff)
            stats.append(format_stats(x, RATE))
            labels.append(label)
            splits.append(split_cycle[i % 4])
    return stats, labels, splits


def test_shortcut_check_flags_a_lowpassed_fake_set():
    result = shortcut_check(*_dataset(fake_cutoff=6000))
    assert result["f1"] > 0.9 and result["balanced_accuracy"] > 0.9 and result["warn"] is True
    assert result["n_train"] == 40 and result["n_test"] == 40
    assert set(result["per_classifier"]) == {"logistic_regression", "decision_tree_depth3"}


def test_shortcut_check_stays_near_chance_when_formats_match():
    result = shortcut_check(*_dataset(fake_cutoff=None))
    assert result["balanced_accuracy"] <= WARN_BALANCED_ACCURACY and result["warn"] is False
    assert result["chance_f1"] == pytest.approx(0.5)
    assert result["features"] == list(FEATURES)


def test_shortcut_check_is_deterministic():
    data = _dataset(fake_cutoff=9000, seed=3)
    assert shortcut_check(*data, seed=1) == shortcut_check(*data, seed=1)


def test_shortcut_check_skips_when_train_has_one_class():
    stats, labels, splits = _dataset(fake_cutoff=None, n=8)
    only_reals = ["train" if lab == 0 else "test_ood" for lab in labels]
    result = shortcut_check(stats, labels, only_reals)
    assert result["f1"] is None and result["warn"] is False and "both" in result["skipped"]
    with pytest.raises(ValueError, match="differ in length"):
        shortcut_check(stats, labels[:-1], splits)


def test_statistics_without_information_do_not_warn():
    """The warning reads balanced accuracy, not F1: a classifier that calls every row fake scores F1 0.667
    on balanced test rows while separating nothing, so random statistics must never warn."""
    import numpy as np

    stats, labels, splits = _dataset(fake_cutoff=None)
    rng = np.random.default_rng(0)
    noise = [{k: float(rng.normal()) for k in s} for s in stats]  # statistics that carry no information
    result = shortcut_check(noise, labels, splits)
    for scores in result["per_classifier"].values():
        assert 0 <= scores["balanced_accuracy"] <= 1
    assert result["warn"] == (result["balanced_accuracy"] > WARN_BALANCED_ACCURACY)
    assert result["warn"] is False
