"""Log-mel front end for spectrogram detectors, built on ``torch.stft`` (torchaudio is not a dependency).

It reproduces the input that SONICS' released SpecTTTra weights were trained on: a Hann-windowed,
reflect-padded ("centred") power STFT, an HTK-scale triangular mel filterbank without area normalisation,
decibels with a ``top_db`` floor, then per-example mean/std normalisation.

The window and the filterbank are registered as buffers because the released checkpoints carry them in
their state dicts; loading such a checkpoint therefore also checks that the front end matches.

One deliberate difference from the reference pipeline: the ``top_db`` floor is taken per example. The
reference applies it to a batched 3-D tensor, which its library treats as one multi-channel signal, so
the floor there follows the loudest song of the batch. At batch size 1 both agree.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def hz_to_mel(hz):
    """HTK mel scale: ``2595 * log10(1 + f / 700)``. Works on floats and tensors."""
    if isinstance(hz, torch.Tensor):
        return 2595.0 * torch.log10(1.0 + hz / 700.0)
    return 2595.0 * math.log10(1.0 + hz / 700.0)


def mel_to_hz(mel):
    """Inverse of :func:`hz_to_mel`."""
    if isinstance(mel, torch.Tensor):
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def htk_mel_filterbank(n_freqs: int, sample_rate: int, n_mels: int, f_min: float, f_max: float) -> torch.Tensor:
    """Triangular filters on the HTK mel scale, shape ``(n_freqs, n_mels)``, peak height 1 (no area norm).

    Filter edges are ``n_mels + 2`` points spaced evenly in mel between ``f_min`` and ``f_max``; the FFT
    bins are ``n_freqs`` points spaced evenly from 0 to Nyquist. Computed in float64, returned as float32.
    """
    if not 0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(f"need 0 <= f_min < f_max <= Nyquist, got f_min={f_min}, f_max={f_max}, "
                         f"sample_rate={sample_rate}")
    bins = torch.linspace(0.0, sample_rate // 2, n_freqs, dtype=torch.float64)
    edges = mel_to_hz(torch.linspace(hz_to_mel(float(f_min)), hz_to_mel(float(f_max)), n_mels + 2,
                                     dtype=torch.float64))
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins[:, None] - lower[None, :]) / (centre - lower)[None, :]
    falling = (upper[None, :] - bins[:, None]) / (upper - centre)[None, :]
    return torch.clamp(torch.minimum(rising, falling), min=0.0).to(torch.float32)


def n_frames(n_samples: int, hop_length: int) -> int:
    """Frames a centred STFT yields for ``n_samples`` (e.g. 5 s at 16 kHz, hop 512 -> 157)."""
    return n_samples // hop_length + 1


class MelFrontEnd(nn.Module):
    """Waveform ``[B, T]`` -> normalised log-mel ``[B, n_mels, frames]``; each example on its own.

    Steps (each also callable alone): :meth:`power_mel`, :meth:`to_db`, :meth:`normalise`.
    """

    # registered buffers (declared for type checkers: nn.Module.__getattr__ says Tensor | Module)
    window: torch.Tensor
    filterbank: torch.Tensor

    def __init__(self, sample_rate: int = 16000, n_fft: int = 2048, win_length: int | None = None,
                 hop_length: int = 512, n_mels: int = 128, f_min: float = 20.0, f_max: float = 8000.0,
                 power: float = 2.0, top_db: float | None = 80.0, amin: float = 1e-10, norm_eps: float = 1e-6,
                 dtype: torch.dtype = torch.float32):
        super().__init__()
        self.sample_rate = int(sample_rate)
        self.n_fft = int(n_fft)
        self.win_length = int(win_length or n_fft)
        self.hop_length = int(hop_length)
        self.n_mels = int(n_mels)
        self.power = float(power)
        self.top_db = None if top_db is None else float(top_db)
        self.amin = float(amin)
        self.norm_eps = float(norm_eps)
        # Periodic Hann, the convention of spectrogram libraries (and of the released weights' buffer).
        # ``dtype`` float64 exists for reference checks: a float32 window alone moves quiet bins by ~1e-5.
        self.register_buffer("window", torch.hann_window(self.win_length, periodic=True, dtype=dtype))
        self.register_buffer("filterbank", htk_mel_filterbank(self.n_fft // 2 + 1, self.sample_rate, self.n_mels,
                                                              f_min, f_max).to(dtype))

    def min_samples(self) -> int:
        # Reflect padding needs more samples than the pad width.
        return self.n_fft // 2 + 1

    def power_mel(self, wave: torch.Tensor) -> torch.Tensor:
        """Mel power spectrogram ``[B, n_mels, frames]`` of a float waveform ``[B, T]``."""
        if wave.dim() != 2:
            raise ValueError(f"expected a waveform batch of shape [batch, samples], got {tuple(wave.shape)}")
        if wave.shape[-1] < self.min_samples():
            raise ValueError(f"waveform of {wave.shape[-1]} samples is too short for the mel front end "
                             f"(needs at least {self.min_samples()} at {self.sample_rate} Hz)")
        # The buffers' precision, never below float32: half-precision power spectra overflow and lose the
        # quiet bins, so a half-precision model still gets a float32 front end.
        dtype = torch.promote_types(self.window.dtype, torch.float32)
        wave = wave.to(dtype)
        spec = torch.stft(wave, n_fft=self.n_fft, hop_length=self.hop_length, win_length=self.win_length,
                          window=self.window.to(dtype), center=True, pad_mode="reflect", normalized=False,
                          onesided=True, return_complex=True)
        # |X|^2 as re^2 + im^2: complex abs() (a hypot per bin) costs more than the FFT itself on CPU.
        spec = spec.real.square() + spec.imag.square()  # [B, freqs, frames]
        if self.power != 2.0:
            spec = spec.pow(self.power / 2)
        return torch.matmul(spec.transpose(-1, -2), self.filterbank.to(dtype)).transpose(-1, -2)

    def to_db(self, mel: torch.Tensor) -> torch.Tensor:
        """``10 * log10(max(x, amin))``, floored at ``top_db`` below each example's own maximum."""
        db = 10.0 * torch.log10(torch.clamp(mel, min=self.amin))
        if self.top_db is not None:
            db = torch.maximum(db, db.amax(dim=(-2, -1), keepdim=True) - self.top_db)
        return db

    def normalise(self, db: torch.Tensor) -> torch.Tensor:
        """Zero mean, unit (sample) standard deviation per example; ``eps`` keeps silence finite."""
        flat = db.reshape(db.shape[0], -1)
        mean = flat.mean(dim=1)[:, None, None]
        std = flat.std(dim=1)[:, None, None]
        return (db - mean) / (std + self.norm_eps)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        # Mixed-precision training must not reach in here: float16 power spectra overflow (inf) and the
        # mel matmul would be autocast to half precision.
        with torch.autocast(device_type=wave.device.type, enabled=False):
            return self.normalise(self.to_db(self.power_mel(wave)))
