"""Signal helpers shared by the mom-mini generator families and the common finishing step.

The mel front end is built from ``torch.stft`` and an HTK-scale triangular filterbank (no torchaudio).
:func:`finish` is applied to every mom-mini clip, real and fake alike, so that the stored clips differ
in how their content was made and not in level, length or bandwidth.

Everything here works in float64: torch's float32 CPU kernels (oneDNN convolutions, vectorised FFT
paths) pick instructions by CPU and round differently on each, while the float64 paths used here give the
same bits under every ATen/MKL/oneDNN capability (``scripts/check_mom_mini_fingerprint.py`` forces each one).
What is left of rounding differences (a last bit of a libm-style function) cannot reach the stored audio:
:func:`finish` ends on the 16-bit grid, with a seeded dither.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import torch

N_FFT = 1024
HOP = 256


def hann(n: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.hann_window(n, periodic=True, dtype=dtype)


def stft(x: torch.Tensor, n_fft: int = N_FFT, hop: int = HOP) -> torch.Tensor:
    return torch.stft(x, n_fft, hop, window=hann(n_fft, x.dtype), center=True, return_complex=True)


def istft(spec: torch.Tensor, length: int, n_fft: int = N_FFT, hop: int = HOP) -> torch.Tensor:
    real = torch.float64 if spec.dtype == torch.complex128 else torch.float32
    return torch.istft(spec, n_fft, hop, window=hann(n_fft, real), center=True, length=length)


# numpy's float64 log/exp/power pick an AVX-512 implementation where the CPU has one, and it rounds the last
# bit differently; Python's scalar math functions are the same on every x86-64 machine with FMA. They are
# used for every table below, so that no such difference enters a clip.


def hz_to_mel(f):
    return np.vectorize(lambda v: 2595.0 * math.log10(1.0 + float(v) / 700.0), otypes=[np.float64])(f)


def mel_to_hz(m):
    return np.vectorize(lambda v: 700.0 * (math.pow(10.0, float(v) / 2595.0) - 1.0), otypes=[np.float64])(m)


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int, f_min: float = 0.0,
                   f_max: float | None = None) -> torch.Tensor:
    """Triangular filters on the HTK mel scale, unnormalised: shape (n_freqs, n_mels)."""
    f_max = sample_rate / 2 if f_max is None else f_max
    freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    up = (freqs[:, None] - lower[None, :]) / (centre - lower)[None, :]
    down = (upper[None, :] - freqs[:, None]) / (upper - centre)[None, :]
    return torch.from_numpy(np.clip(np.minimum(up, down), 0.0, None))


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
    return np.fft.irfft(spec * _low_pass_gain(x.size, sample_rate, cutoff_hz), n=x.size)


@functools.lru_cache(maxsize=8)
def _low_pass_gain(n: int, sample_rate: int, cutoff_hz: float) -> np.ndarray:
    f = np.fft.rfftfreq(n, 1.0 / sample_rate)
    ramp = np.clip((cutoff_hz + 250.0 - f) / 500.0, 0.0, 1.0)
    gain = np.array([0.5 - 0.5 * math.cos(math.pi * v) for v in ramp.tolist()])
    gain.flags.writeable = False
    return gain


def match_envelope(y: np.ndarray, ref: np.ndarray, sample_rate: int, max_gain_db: float | None = None) -> np.ndarray:
    """Equalise ``y`` so that its long-term average spectrum follows ``ref``'s (smoothed over ~1/3
    octave). Fakes keep their fine structure (phase, harmonics, artefacts) but lose the gross tilt
    differences a roll-off threshold would find."""
    def ltas(z):
        return stft(torch.from_numpy(z.astype(np.float64)), 2048, 512).abs().pow(2).mean(dim=-1).numpy()

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
    # the amplitude gain sqrt(power ratio), bounded to +-max_gain_db (square roots round the same everywhere)
    bound = math.pow(10.0, max_gain_db / 20)
    gain = np.clip(np.sqrt((smooth_ref + eps) / (smooth_y + eps)), 1.0 / bound, bound)
    spec = stft(torch.from_numpy(y.astype(np.float64)), 2048, 512)
    spec = spec * torch.from_numpy(gain)[:, None]
    return istft(spec, y.size, 2048, 512).numpy()


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


def quantise(x: np.ndarray, seed: int) -> np.ndarray:
    """``x`` on the 16-bit grid (float32 values ``k / 32768``), with triangular (TPDF) dither of one step
    peak drawn from ``seed``: the grid is what the build stores, so a clip's bytes are settled here, and the
    dither keeps the quietest passages from turning into quantisation distortion."""
    rng = np.random.default_rng(seed)
    dither = rng.random(x.size) - rng.random(x.size)
    q = np.clip(np.round(np.asarray(x, dtype=np.float64) * 32768.0 + dither), -32768, 32767)
    return (q / 32768.0).astype(np.float32)


def finish(x: np.ndarray, sample_rate: int, n_samples: int, ref: np.ndarray | None = None, *,
           seed: int = 0) -> np.ndarray:
    """The common last step for every mom-mini clip: exact length, (for fakes) spectral envelope
    matched to the real excerpt it came from, common band limit, fixed RMS, soft peak ceiling, and the
    16-bit grid (:func:`quantise` with ``seed``).
    """
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    x = np.nan_to_num(x)
    x = x[:n_samples] if x.size >= n_samples else np.pad(x, (0, n_samples - x.size))
    x = x - x.mean()
    if ref is not None:
        x = match_envelope(x, np.asarray(ref, dtype=np.float64)[:n_samples], sample_rate)
    # Band-limit before levelling, so that energy above the cut-off cannot shift the level.
    x = band_limit(x, sample_rate, BAND_LIMIT_HZ)
    ceiling = math.pow(10.0, PEAK_CEILING_DBFS / 20)
    target = math.pow(10.0, TARGET_RMS_DBFS / 20)
    for _ in range(LEVEL_PASSES):  # the limiter lowers the RMS; re-aim until peak and RMS both sit at their marks
        rms = math.sqrt(float(np.mean(x * x)))
        if rms <= 0:
            break
        x = limit((x - x.mean()) * (target / rms), ceiling)
    return quantise(x, seed)
