"""The signal operations behind the transform kinds: codec round trips, a phase vocoder, Butterworth
filters, resampling round trips, noise and gain.

Every function takes a 1-D float32 tensor and its rate and returns a new 1-D float32 tensor; none keeps
state, and the only randomness is a numpy generator built from the seed it is given, so one input and one
seed always give the same output on one installation. Input checks (shape, rate, length) are made once
by :class:`mom_bench.dataset.transforms.kinds.Transform` before any of these run.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from mom_bench.core.audio import AudioError, load, resample
from mom_bench.core.errors import TransformError

# --------------------------------------------------------------------------------------------------
# Lengths


def fit_length(samples: torch.Tensor, n: int) -> torch.Tensor:
    """Cut at the end or zero-pad at the end to exactly ``n`` samples; the start is never moved."""
    if samples.numel() >= n:
        return samples[:n]
    return torch.nn.functional.pad(samples, (0, n - samples.numel()))


# --------------------------------------------------------------------------------------------------
# Codec round trips

#: Codec -> the container it is written in. Each of these containers tells the decoder how many priming
#: samples the encoder put in front (MP3: the LAME/Xing header; AAC: the MP4 edit list; Opus: the Ogg
#: pre-skip), and FFmpeg drops them when decoding, so the decoded signal starts where the input started.
#: A raw AAC stream (ADTS) would carry no such field and come back late by one AAC frame.
CONTAINERS = {"mp3": "mp3", "aac": "mp4", "opus": "opus"}

#: Rates each encoder takes as they are; any other rate is resampled to ``CODEC_FALLBACK_RATE`` first.
CODEC_RATES = {
    "mp3": frozenset({8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000}),
    "aac": frozenset({7350, 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000}),
    "opus": frozenset({48000}),  # Opus always codes at 48 kHz internally; its Ogg stream says so
}
CODEC_FALLBACK_RATE = 48000


def codec_rate(codec: str, sample_rate: int) -> int:
    """The rate the encoder is fed: the input's own rate when the codec takes it, else 48 kHz."""
    return sample_rate if sample_rate in CODEC_RATES[codec] else CODEC_FALLBACK_RATE


def codec_round_trip(samples: torch.Tensor, sample_rate: int, *, codec: str, bit_rate: int,
                     label: str) -> torch.Tensor:
    """Encode with FFmpeg (through torchcodec) and decode back with the one audio path.

    Alignment: the container's priming-sample field is honoured by the decoder (see ``CONTAINERS``), so
    only the end differs (the encoder pads the last frame); it is cut or zero-padded to the input length.
    """
    from torchcodec.encoders import AudioEncoder

    rate = codec_rate(codec, sample_rate)
    fed = resample(samples, sample_rate, rate) if rate != sample_rate else samples
    try:
        encoded = AudioEncoder(fed[None].contiguous(), sample_rate=rate).to_tensor(
            format=CONTAINERS[codec], bit_rate=bit_rate)
    except Exception as err:  # torchcodec raises RuntimeError / ValueError with FFmpeg's text
        raise TransformError(f"{label}: encoding {codec} at {bit_rate} b/s failed ({err})") from None
    try:
        decoded = load(bytes(encoded.numpy()), sample_rate, max_seconds=None, name=f"{label} ({codec} bytes)")
    except AudioError as err:
        raise TransformError(f"{label}: decoding the encoded {codec} failed ({err.reason})") from None
    return fit_length(decoded.samples, samples.numel())


# --------------------------------------------------------------------------------------------------
# Phase vocoder: time stretch and pitch shift (the librosa approach, in torch)

#: Frame and hop of the phase vocoder, the same at every rate (librosa's defaults).
N_FFT = 2048
HOP = N_FFT // 4


def _stft(samples: torch.Tensor) -> torch.Tensor:
    # Zero padding, not reflection, at the ends: reflection needs the signal to be longer than half a frame.
    return torch.stft(samples, N_FFT, HOP, window=torch.hann_window(N_FFT), center=True, pad_mode="constant",
                      return_complex=True)


def _istft(spec: torch.Tensor) -> torch.Tensor:
    return torch.istft(spec, N_FFT, HOP, window=torch.hann_window(N_FFT), center=True)


def phase_vocoder(spec: torch.Tensor, rate: float) -> torch.Tensor:
    """Resample the frames of a complex STFT ``(bins, frames)`` at steps of ``rate`` frames.

    Magnitudes are interpolated linearly between the two neighbouring frames; phases are accumulated from
    each bin's measured phase advance (its expected advance plus the wrapped deviation), so a stationary
    partial keeps its frequency. The accumulation runs in float64 because it sums thousands of increments.
    """
    bins, frames = spec.shape
    steps = torch.arange(0, frames, rate, dtype=torch.float64)
    expected = torch.linspace(0, math.pi * HOP, bins, dtype=torch.float64)[:, None]
    # two silent frames past the end, so the last steps have a right-hand neighbour
    magnitudes = torch.nn.functional.pad(spec.abs(), (0, 2)).to(torch.float64)
    angles = torch.nn.functional.pad(spec.angle(), (0, 2)).to(torch.float64)
    left = steps.floor().long()
    alpha = (steps - left)[None, :]
    magnitude = (1 - alpha) * magnitudes[:, left] + alpha * magnitudes[:, left + 1]
    deviation = angles[:, left + 1] - angles[:, left] - expected
    deviation = deviation - 2 * math.pi * torch.round(deviation / (2 * math.pi))
    advance = expected + deviation
    # the phase of output frame t is the first frame's phase plus the advances of frames 0 .. t-1
    phase = angles[:, :1] + torch.cumsum(advance, dim=1) - advance
    phase = torch.remainder(phase, 2 * math.pi).to(torch.float32)
    return torch.polar(magnitude.to(torch.float32), phase)


def time_stretch(samples: torch.Tensor, sample_rate: int, *, rate: float) -> torch.Tensor:
    """Play ``rate`` times as fast at the same pitch: 0.9 is slower, and ``round(n / 0.9)`` samples long."""
    target = int(round(samples.numel() / rate))
    out = _istft(phase_vocoder(_stft(samples), rate))
    return fit_length(out, target)


def resample_to_length(samples: torch.Tensor, n: int) -> torch.Tensor:
    """Band-limited resampling to exactly ``n`` samples by the FFT, for ratios that are not a ratio of
    small integers (a pitch factor of 2^(k/12)).

    The signal is extended by its mirror image before the FFT, so the circular transform sees no jump
    between its last and first sample and the edges do not ring.
    """
    m = samples.numel()
    x = torch.cat([samples, samples.flip(0)]).to(torch.float64)
    spectrum = torch.fft.rfft(x)
    keep = min(spectrum.numel(), n + 1)  # 2n output samples have n + 1 frequency bins
    out_spectrum = torch.zeros(n + 1, dtype=spectrum.dtype)
    out_spectrum[:keep] = spectrum[:keep]
    out = torch.fft.irfft(out_spectrum, n=2 * n) * (n / m)
    return out[:n].to(torch.float32)


def pitch_shift(samples: torch.Tensor, sample_rate: int, *, semitones: float) -> torch.Tensor:
    """Raise the pitch by ``semitones`` at the same duration: stretch by 2^(-semitones/12) with the phase
    vocoder, then resample the result back to the input length (librosa's ``pitch_shift``)."""
    n = samples.numel()
    stretched = time_stretch(samples, sample_rate, rate=2.0 ** (-semitones / 12.0))
    return resample_to_length(stretched, n)


# --------------------------------------------------------------------------------------------------
# Filters and resampling round trips


def butterworth(samples: torch.Tensor, sample_rate: int, *, btype: str, cutoff_hz: float,
                order: int) -> torch.Tensor:
    """A Butterworth low- or high-pass of ``order`` run forward and backward (``sosfiltfilt``): no phase
    shift and no delay, and the magnitude response is the square of the filter's (-6 dB at the cutoff)."""
    from scipy.signal import butter, sosfiltfilt

    sos = butter(order, cutoff_hz, btype=btype, fs=sample_rate, output="sos")
    x = samples.numpy().astype(np.float64)
    # scipy's default edge padding is longer than a very short input; shorter padding keeps it defined
    padlen = min(3 * (2 * len(sos) + 1), x.size - 1)
    return torch.from_numpy(sosfiltfilt(sos, x, padlen=padlen).astype(np.float32))


def resample_round_trip(samples: torch.Tensor, sample_rate: int, *, rate: int) -> torch.Tensor:
    """Down to ``rate`` and back up with :func:`mom_bench.core.audio.resample`, cut or padded at the end to
    the input length (both filters are centred, so nothing shifts)."""
    down = resample(samples, sample_rate, rate)
    return fit_length(resample(down, rate, sample_rate), samples.numel())


# --------------------------------------------------------------------------------------------------
# Noise and gain


def _pink(white: np.ndarray) -> np.ndarray:
    """Shape white noise to a 1/f power spectrum (amplitude 1/sqrt(f)), with no DC."""
    spectrum = np.fft.rfft(white)
    freqs = np.arange(spectrum.size, dtype=np.float64)
    spectrum[0] = 0.0
    spectrum[1:] /= np.sqrt(freqs[1:])
    return np.fft.irfft(spectrum, n=white.size)


def add_noise(samples: torch.Tensor, sample_rate: int, *, snr_db: float, color: str, seed: int) -> torch.Tensor:
    """Add white or pink Gaussian noise at exactly ``snr_db`` below the item's own mean power.

    The noise actually drawn is scaled, so the SNR of the result is exact and not only expected. A silent
    item has no power to be relative to and comes back unchanged.
    """
    x = samples.numpy().astype(np.float64)
    power = float(np.mean(x * x))
    if power == 0.0:
        return samples.clone()
    noise = np.random.default_rng(seed).standard_normal(x.size)
    if color == "pink":
        noise = _pink(noise)
    noise_power = float(np.mean(noise * noise))
    if noise_power == 0.0:  # a one-sample pink draw has no component left once DC is removed
        return samples.clone()
    noise *= math.sqrt(power / 10.0 ** (snr_db / 10.0) / noise_power)
    return torch.from_numpy((x + noise).astype(np.float32))


def gain(samples: torch.Tensor, sample_rate: int, *, db: float) -> torch.Tensor:
    """Multiply by 10^(db/20) (rounded once to float32). Nothing is clipped: +6 dB may exceed 1.0, since
    clipping is a distortion of its own and a detector takes float input."""
    return samples * torch.tensor(10.0 ** (db / 20.0), dtype=torch.float32)
