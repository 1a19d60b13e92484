"""Signal helpers shared by the mom-mini generator families and the common finishing step.

The mel front end is built from ``torch.stft`` and an HTK-scale triangular filterbank (no torchaudio).
:func:`finish` is applied to every mom-mini clip, real and fake alike, so that the stored clips differ
in how their content was made and not in level, length or bandwidth.
"""
from __future__ import annotations

import math

import numpy as np
import torch

N_FFT = 1024
HOP = 256


def hann(n: int) -> torch.Tensor:
    return torch.hann_window(n, periodic=True, dtype=torch.float32)


def stft(x: torch.Tensor, n_fft: int = N_FFT, hop: int = HOP) -> torch.Tensor:
    return torch.stft(x, n_fft, hop, window=hann(n_fft), center=True, return_complex=True)


def istft(spec: torch.Tensor, length: int, n_fft: int = N_FFT, hop: int = HOP) -> torch.Tensor:
    return torch.istft(spec, n_fft, hop, window=hann(n_fft), center=True, length=length)


def hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int, f_min: float = 0.0,
                   f_max: float | None = None) -> torch.Tensor:
    """Triangular filters on the HTK mel scale, unnormalised: shape (n_freqs, n_mels)."""
    f_max = sample_rate / 2 if f_max is None else f_max
    freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    up = (freqs[:, None] - lower[None, :]) / (centre - lower)[None, :]
    down = (upper[None, :] - freqs[:, None]) / (upper - centre)[None, :]
    return torch.from_numpy(np.clip(np.minimum(up, down), 0.0, None)).to(torch.float32)


# --------------------------------------------------------------------------------------------------
# Finishing: the one format every mom-mini clip leaves the source in

#: Every stored clip has this RMS level (dBFS) ...
TARGET_RMS_DBFS = -20.0
#: ... and peaks no higher than this (dBFS): a limiter brings every clip to the same crest factor
#: (12 dB), because generators' artefacts raise the crest factor and a peak level alone would then
#: tell fakes from reals.
PEAK_CEILING_DBFS = -8.0
#: Common band limit (Hz): the real excerpts are Vorbis-coded and the generators do not all reach
#: Nyquist, so every clip is low-passed here rather than letting the top octave tell them apart.
BAND_LIMIT_HZ = 10000.0
#: Largest boost or cut (dB) of the spectral envelope matching.
MAX_EQ_DB = 40.0
#: Normalise-then-limit passes; each brings RMS and peak closer to their marks together.
LEVEL_PASSES = 4


def band_limit(x: np.ndarray, sample_rate: int, cutoff_hz: float = BAND_LIMIT_HZ) -> np.ndarray:
    """Zero-phase low-pass with a short raised-cosine transition (500 Hz) done in the frequency domain."""
    spec = np.fft.rfft(x.astype(np.float64))
    f = np.fft.rfftfreq(x.size, 1.0 / sample_rate)
    gain = np.clip((cutoff_hz + 250.0 - f) / 500.0, 0.0, 1.0)
    gain = 0.5 - 0.5 * np.cos(np.pi * gain)
    return np.fft.irfft(spec * gain, n=x.size)


def match_envelope(y: np.ndarray, ref: np.ndarray, sample_rate: int, max_gain_db: float | None = None) -> np.ndarray:
    """Equalise ``y`` so that its long-term average spectrum follows ``ref``'s (smoothed over ~1/3
    octave). Fakes keep their fine structure (phase, harmonics, artefacts) but lose the gross tilt
    differences a roll-off threshold would find."""
    def ltas(z):
        s = stft(torch.from_numpy(z.astype(np.float32)), 2048, 512).abs().pow(2).mean(dim=-1).numpy()
        return s.astype(np.float64)

    p_ref, p_y = ltas(ref), ltas(y)
    # ~1/3-octave wide rectangular smoothing (at least 3 bins), by cumulative sums
    n = p_ref.size
    k = np.arange(n)
    half = np.maximum(1, (k * (2 ** (1 / 6) - 1)).astype(int))
    lo, hi = np.maximum(0, k - half), np.minimum(n, k + half + 1)

    def smooth(p):
        c = np.concatenate([[0.0], np.cumsum(p)])
        return (c[hi] - c[lo]) / (hi - lo)

    smooth_ref, smooth_y = smooth(p_ref), smooth(p_y)
    eps = 1e-12
    max_gain_db = MAX_EQ_DB if max_gain_db is None else max_gain_db
    gain_db = 10 * np.log10((smooth_ref + eps) / (smooth_y + eps))
    gain_db = np.clip(gain_db, -max_gain_db, max_gain_db)
    gain = 10 ** (gain_db / 20)
    spec = stft(torch.from_numpy(y.astype(np.float32)), 2048, 512)
    spec = spec * torch.from_numpy(gain.astype(np.float32))[:, None]
    return istft(spec, y.size, 2048, 512).numpy().astype(np.float64)


def limit(x: np.ndarray, ceiling: float, hold: int = 48) -> np.ndarray:
    """Peak limiter with a smooth gain: the gain each sample needs (``ceiling / |x|``, at most 1) goes
    through a minimum filter and then a moving average of the same width (``2 * hold + 1``), which keeps
    every sample under ``ceiling`` while the gain moves slowly enough (~2 ms ramps) not to spread energy
    above the band limit the way a sample-wise clipper would."""
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    need = np.minimum(1.0, ceiling / np.maximum(np.abs(x), 1e-12))
    width = 2 * hold + 1
    gain = uniform_filter1d(minimum_filter1d(need, width, mode="nearest"), width, mode="nearest")
    return x * np.minimum(gain, need)


def finish(x: np.ndarray, sample_rate: int, n_samples: int, ref: np.ndarray | None = None) -> np.ndarray:
    """The common last step for every mom-mini clip: exact length, (for fakes) spectral envelope
    matched to the real excerpt it came from, common band limit, fixed RMS, soft peak ceiling, float32.
    """
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    x = np.nan_to_num(x)
    x = x[:n_samples] if x.size >= n_samples else np.pad(x, (0, n_samples - x.size))
    x = x - x.mean()
    if ref is not None:
        x = match_envelope(x, np.asarray(ref, dtype=np.float64)[:n_samples], sample_rate)
    # Band-limit before levelling, so that energy above the cut-off cannot shift the level.
    x = band_limit(x, sample_rate, BAND_LIMIT_HZ)
    ceiling = 10 ** (PEAK_CEILING_DBFS / 20)
    target = 10 ** (TARGET_RMS_DBFS / 20)
    for _ in range(LEVEL_PASSES):  # the limiter lowers the RMS; re-aim until peak and RMS both sit at their marks
        rms = math.sqrt(float(np.mean(x * x)))
        if rms <= 0:
            break
        x = limit((x - x.mean()) * (target / rms), ceiling)
    return x.astype(np.float32)
