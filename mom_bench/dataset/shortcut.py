"""Shortcut check: can format-level statistics alone tell the reals from the fakes?

A detector benchmark is broken when the fakes differ from the reals in something trivial (length,
loudness, a codec's low-pass, zero padding): a detector then learns the container, not the music. The
builder measures a few such statistics on every stored clip (:func:`format_stats`) and trains a simple
classifier on them (:func:`shortcut_check`). If that classifier scores well above chance on the test
splits, the benchmark has a shortcut and the build report says so.

The statistics are deliberately about format, not content (no timbre, no pitch, no rhythm): what a
re-encode, a resampler, a gain stage or a padding step changes.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

#: F1 (fake = positive) of the shortcut classifier above which a build warns.
WARN_F1 = 0.65

#: The statistics, in the order used as classifier features.
FEATURES = (
    "duration_s",      # length of the stored clip
    "peak",            # largest absolute sample
    "rms",             # root-mean-square level
    "crest_db",        # peak-to-RMS ratio: limiters and normalisers change it
    "dc_offset",       # mean sample value
    "silence_frac",    # share of near-zero samples: zero padding, gaps
    "clip_frac",       # share of samples at full scale: hard clipping
    "rolloff_hz",      # frequency under which 95 % of the energy lies
    "bandwidth_hz",    # highest frequency within 60 dB of the spectrum's peak: codec low-pass
)

_FRAME = 2048
_MAX_FRAMES = 256  # spread over the clip: enough for a stable average spectrum, cheap on 90 s songs
_SILENCE = 10 ** (-80 / 20)
_FULL_SCALE = 0.999


def _average_power_spectrum(x: np.ndarray) -> np.ndarray:
    """Mean power spectrum of Hann-windowed frames taken evenly across the clip."""
    if x.size < _FRAME:
        x = np.pad(x, (0, _FRAME - x.size))
    n_frames = min(_MAX_FRAMES, 1 + (x.size - _FRAME) // (_FRAME // 2))
    starts = np.linspace(0, x.size - _FRAME, n_frames).astype(np.int64)
    frames = x[starts[:, None] + np.arange(_FRAME)[None, :]] * np.hanning(_FRAME)[None, :]
    return (np.abs(np.fft.rfft(frames, axis=1)) ** 2).mean(axis=0)


def format_stats(samples: np.ndarray, sample_rate: int) -> dict[str, float]:
    """Format-level statistics of one mono clip (float samples in [-1, 1]) at ``sample_rate``."""
    x = np.asarray(samples, dtype=np.float64).reshape(-1)
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    if x.size == 0:
        raise ValueError("format_stats needs at least one sample")
    x = np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0)
    absx = np.abs(x)
    peak = float(absx.max())
    rms = float(np.sqrt(np.mean(x * x)))
    power = _average_power_spectrum(x)
    freqs = np.fft.rfftfreq(_FRAME, 1.0 / sample_rate)
    total = float(power.sum())
    if total > 0:
        cumulative = np.cumsum(power) / total
        rolloff = float(freqs[min(int(np.searchsorted(cumulative, 0.95)), freqs.size - 1)])
        audible = np.nonzero(power >= power.max() * 1e-6)[0]
        bandwidth = float(freqs[audible[-1]])
    else:
        rolloff = bandwidth = 0.0
    return {
        "duration_s": x.size / sample_rate,
        "peak": peak,
        "rms": rms,
        "crest_db": 20 * math.log10(peak / rms) if rms > 0 else 0.0,
        "dc_offset": float(x.mean()),
        "silence_frac": float(np.mean(absx < _SILENCE)),
        "clip_frac": float(np.mean(absx >= _FULL_SCALE)),
        "rolloff_hz": rolloff,
        "bandwidth_hz": bandwidth,
    }


def _f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    tp = int(np.sum((y_pred == 1) & (y_true == 1)))
    fp = int(np.sum((y_pred == 1) & (y_true == 0)))
    fn = int(np.sum((y_pred == 0) & (y_true == 1)))
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def _balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    recalls = [float(np.mean(y_pred[y_true == c] == c)) for c in (0, 1) if np.any(y_true == c)]
    return float(np.mean(recalls)) if recalls else 0.0


def shortcut_check(stats: list[dict], labels: list[int], splits: list[str], seed: int = 0) -> dict:
    """Train simple classifiers on the ``train`` rows' statistics and score the test splits.

    Two classifiers, both with balanced class weights so that a class imbalance alone cannot look like
    a shortcut: a standardised logistic regression and a depth-3 decision tree (which catches a single
    threshold on, say, the roll-off). The reported ``f1`` (fake = positive, threshold 0.5) is the higher
    of the two on all test rows (``test_id`` and ``test_ood`` together); ``warn`` is ``f1 > 0.65``.
    ``chance_f1`` is what a fair coin would score on the same test rows, for reading ``f1``; note that
    calling everything fake scores ``2p / (1 + p)`` (0.667 on a balanced test set), so ``per_classifier``
    also gives each classifier's balanced accuracy (0.5 = chance) and the share of rows it calls fake.

    When there is nothing to learn from or to score (no train rows of both classes, no test rows), the
    result has ``f1: None``, ``warn: False`` and ``skipped`` with the reason.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    if not (len(stats) == len(labels) == len(splits)):
        raise ValueError(f"stats, labels and splits differ in length ({len(stats)}, {len(labels)}, {len(splits)})")
    features = [f for f in FEATURES if all(f in s for s in stats)] if stats else list(FEATURES)
    x = np.array([[float(s[f]) for f in features] for s in stats], dtype=np.float64).reshape(len(stats), -1)
    x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
    y = np.asarray(labels, dtype=np.int64)
    split_arr = np.asarray(splits, dtype=object)
    train = split_arr == "train"
    test = np.isin(split_arr, ["test_id", "test_ood"])
    result: dict[str, Any] = {
        "f1": None, "warn": False, "threshold": WARN_F1, "features": features, "classifier": None,
        "n_train": int(train.sum()), "n_test": int(test.sum()), "seed": seed,
    }
    if len(set(y[train].tolist())) < 2:
        result["skipped"] = "the train split does not hold both reals and fakes"
        return result
    if not test.any():
        result["skipped"] = "no test_id or test_ood rows to score"
        return result

    prevalence = float(y[test].mean())
    result["chance_f1"] = round(prevalence / (prevalence + 0.5), 4) if prevalence > 0 else 0.0
    classifiers = {
        "logistic_regression": make_pipeline(
            StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=1000, random_state=seed)),
        "decision_tree_depth3": DecisionTreeClassifier(max_depth=3, class_weight="balanced", random_state=seed),
    }
    per_classifier: dict[str, dict] = {}
    for name, clf in classifiers.items():
        clf.fit(x[train], y[train])
        pred = clf.predict(x[test])
        scores = {"test": _f1(y[test], pred), "balanced_accuracy": _balanced_accuracy(y[test], pred),
                  "predicted_fake_rate": float(pred.mean())}
        for split in ("test_id", "test_ood"):
            rows = split_arr == split
            if rows.any() and y[rows].any():
                scores[split] = _f1(y[rows], clf.predict(x[rows]))
        per_classifier[name] = {k: round(v, 4) for k, v in scores.items()}
    best = max(per_classifier, key=lambda k: per_classifier[k]["test"])
    result.update(f1=per_classifier[best]["test"], classifier=best, per_classifier=per_classifier)
    result["warn"] = bool(result["f1"] > WARN_F1)
    return result
