"""Global signal statistics of one clip: the one shared definition of what a trivial classifier can see.

A detector benchmark is broken when the fakes differ from the reals in something global and trivial (length,
loudness, a codec's low-pass, a brighter or duller average spectrum): a detector then learns that, not the
music. Two parts of mom-bench measure such statistics and must measure the same thing: the build's shortcut
check (:mod:`mom_bench.dataset.shortcut`, on the stored audio of every row) and the ``stats-lr`` reference
detector (:mod:`mom_bench.models.stats_lr`, a logistic regression on them). Both call :func:`signal_stats`.

:data:`FEATURES` names the statistics, in their fixed order; :data:`DESCRIPTIONS` says what each measures.
Every value is a deterministic function of the samples and the sample rate (float64 arithmetic, no
randomness, no state), computed per clip.

Spectral statistics come from at most :data:`MAX_FRAMES` Hann-windowed frames of :data:`FRAME` samples,
spread evenly over the clip (every frame of a 10 s clip at 24 kHz; a sample of a 90 s song):

- from the frames' *average power spectrum*: ``rolloff_hz`` (95 % of the energy) and ``bandwidth_hz``
  (highest bin within 60 dB of the peak bin: a codec's or resampler's low-pass);
- per frame from its *magnitude spectrum* (as ``librosa.feature.spectral_*`` define them), then averaged over
  the frames that are not silent: ``centroid_hz``, ``spectral_bandwidth_hz`` (magnitude-weighted standard
  deviation of frequency around the centroid), ``rolloff85_hz`` and ``rolloff99_hz`` (frequency under which
  85 % / 99 % of the frame's spectral magnitude lies).

On a known signal (a 997 Hz sine at half scale, 2 s at 24 kHz):

>>> import numpy as np
>>> t = np.arange(48000) / 24000
>>> s = signal_stats(0.5 * np.sin(2 * np.pi * 997 * t + 0.1), 24000)
>>> round(s["duration_s"], 3), round(s["peak"], 3), round(s["rms"], 4), round(s["crest_db"], 2)
(2.0, 0.5, 0.3536, 3.01)
>>> abs(s["centroid_hz"] - 997) < 15, s["spectral_bandwidth_hz"] < 100
(True, True)
>>> round(s["zcr"] * 24000 / 2)  # two zero crossings per period
997
"""
from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

#: Bumped whenever a statistic's definition changes (it keys the feature cache of ``stats-lr``).
VERSION = 1

#: The statistics, in their fixed order (the order of the ``stats-lr`` feature vector and of the shortcut
#: check's classifier features).
FEATURES: tuple[str, ...] = (
    "duration_s",
    "peak",
    "rms",
    "crest_db",
    "dc_offset",
    "silence_frac",
    "clip_frac",
    "rolloff_hz",
    "bandwidth_hz",
    "centroid_hz",
    "spectral_bandwidth_hz",
    "rolloff85_hz",
    "rolloff99_hz",
    "zcr",
)

#: What each statistic measures.
DESCRIPTIONS: dict[str, str] = {
    "duration_s": "length of the clip (seconds)",
    "peak": "largest absolute sample",
    "rms": "root-mean-square level",
    "crest_db": "peak-to-RMS ratio in dB (limiters and normalisers change it)",
    "dc_offset": "mean sample value",
    "silence_frac": "share of samples under -80 dBFS (zero padding, gaps)",
    "clip_frac": "share of samples at full scale (hard clipping)",
    "rolloff_hz": "frequency under which 95 % of the average power spectrum lies",
    "bandwidth_hz": "highest frequency within 60 dB of the average power spectrum's peak (codec low-pass)",
    "centroid_hz": "spectral centroid: magnitude-weighted mean frequency, averaged over frames",
    "spectral_bandwidth_hz": "magnitude-weighted standard deviation of frequency around the centroid, averaged "
                             "over frames",
    "rolloff85_hz": "frequency under which 85 % of a frame's spectral magnitude lies, averaged over frames",
    "rolloff99_hz": "frequency under which 99 % of a frame's spectral magnitude lies, averaged over frames",
    "zcr": "zero-crossing rate: share of adjacent sample pairs of which exactly one is negative",
}

#: Frame length (samples) of the spectral statistics, and the most frames taken from one clip.
FRAME = 2048
MAX_FRAMES = 256
_SILENCE = 10 ** (-80 / 20)
_FULL_SCALE = 0.999


def _frames(x: np.ndarray) -> np.ndarray:
    """Hann-windowed frames ``[n, FRAME]`` taken evenly across the clip (hop about half a frame)."""
    if x.size < FRAME:
        x = np.pad(x, (0, FRAME - x.size))
    n_frames = min(MAX_FRAMES, 1 + (x.size - FRAME) // (FRAME // 2))
    starts = np.linspace(0, x.size - FRAME, n_frames).astype(np.int64)
    frames: np.ndarray = x[starts[:, None] + np.arange(FRAME)[None, :]] * np.hanning(FRAME)[None, :]
    return frames  # annotated: fancy indexing leaves numpy untyped


def _rolloff(cumulative: np.ndarray, freqs: np.ndarray, share: float) -> np.ndarray:
    """Per row of ``cumulative`` (normalised to end at 1), the first frequency reaching ``share``."""
    idx = np.minimum((cumulative < share).sum(axis=-1), freqs.size - 1)
    rolloff: np.ndarray = freqs[idx]  # annotated: fancy indexing leaves numpy untyped
    return rolloff


def signal_stats(samples: npt.ArrayLike, sample_rate: int) -> dict[str, float]:
    """The :data:`FEATURES` of one mono clip (float samples in [-1, 1]) at ``sample_rate``, as floats."""
    x = np.asarray(samples, dtype=np.float64).reshape(-1)
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    if x.size == 0:
        raise ValueError("signal_stats needs at least one sample")
    x = np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0)
    absx = np.abs(x)
    peak = float(absx.max())
    rms = float(np.sqrt(np.mean(x * x)))
    freqs = np.fft.rfftfreq(FRAME, 1.0 / sample_rate)
    spectra = np.abs(np.fft.rfft(_frames(x), axis=1))  # magnitude, [n_frames, bins]

    power = (spectra ** 2).mean(axis=0)
    total = float(power.sum())
    if total > 0:
        rolloff = float(_rolloff(np.cumsum(power) / total, freqs, 0.95))
        bandwidth = float(freqs[np.nonzero(power >= power.max() * 1e-6)[0][-1]])
    else:
        rolloff = bandwidth = 0.0

    mag_sum = spectra.sum(axis=1)
    loud = mag_sum > 0  # frames of digital silence have no spectral shape; leave them out of the means
    if loud.any():
        s, norm = spectra[loud], mag_sum[loud]
        centroid = (s @ freqs) / norm
        spread = np.sqrt(np.maximum((s * (freqs[None, :] - centroid[:, None]) ** 2).sum(axis=1) / norm, 0.0))
        cumulative = np.cumsum(s, axis=1) / norm[:, None]
        shape = {"centroid_hz": float(centroid.mean()), "spectral_bandwidth_hz": float(spread.mean()),
                 "rolloff85_hz": float(_rolloff(cumulative, freqs, 0.85).mean()),
                 "rolloff99_hz": float(_rolloff(cumulative, freqs, 0.99).mean())}
    else:
        shape = {"centroid_hz": 0.0, "spectral_bandwidth_hz": 0.0, "rolloff85_hz": 0.0, "rolloff99_hz": 0.0}
    negative = x < 0  # not signbit: -0.0 (a rounding of a tiny negative sample) is a zero, as FLAC decodes it
    zcr = float(np.mean(negative[1:] != negative[:-1])) if x.size > 1 else 0.0

    out = {
        "duration_s": x.size / sample_rate,
        "peak": peak,
        "rms": rms,
        "crest_db": 20 * math.log10(peak / rms) if rms > 0 else 0.0,
        "dc_offset": float(x.mean()),
        "silence_frac": float(np.mean(absx < _SILENCE)),
        "clip_frac": float(np.mean(absx >= _FULL_SCALE)),
        "rolloff_hz": rolloff,
        "bandwidth_hz": bandwidth,
        **shape,
        "zcr": zcr,
    }
    return {k: out[k] for k in FEATURES}


def feature_vector(samples: npt.ArrayLike, sample_rate: int) -> np.ndarray:
    """:func:`signal_stats` as a float64 vector in :data:`FEATURES` order."""
    stats = signal_stats(samples, sample_rate)
    return np.array([stats[k] for k in FEATURES], dtype=np.float64)
