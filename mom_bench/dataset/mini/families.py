"""The offline generator families of mom-mini.

Each family re-synthesises a real excerpt through a different mechanism, the way a real generator
ends in a vocoder or a decoder:

- ``griffin_lim``: mel power spectrogram -> linear magnitude (non-negative pseudo-inverse of the mel
  filterbank) -> phase by fast Griffin-Lim iterations from a seeded random start.
- ``sines_noise``: a sinusoidal + noise vocoder: spectral peaks per frame become oscillators with
  phase continuity over time; what is left of the spectrum drives shaped noise (source-filter).

The neural-decoder families (``rvq_codec``, ``latent_vae``, ``mel_vocoder``) are in
:mod:`mom_bench.dataset.mini.neural`. A family is an object with ``generate(x, seed) -> np.ndarray`` (same
length and rate as ``x``), deterministic given the seed; ``prepare(train_clips)`` is kept for a family that
would need the training reals (none does: the decoders' weights ship trained).
"""
from __future__ import annotations

import numpy as np
import torch

from mom_bench.dataset.mini import dsp


class Family:
    name = ""
    needs_training = False

    def __init__(self, sample_rate: int, **options):
        self.sample_rate = sample_rate
        self.options = options

    def prepare(self, train_clips: list[np.ndarray] | None = None, *, seed: int = 0, progress=None) -> None:
        """Nothing to prepare for signal-processing families."""

    def generate(self, x: np.ndarray, seed: int) -> np.ndarray:
        raise NotImplementedError


class GriffinLim(Family):
    name = "griffin_lim"
    _fb: torch.Tensor | None = None  # the mel filterbank and its pseudo-inverse, made on first use
    _fb_pinv: torch.Tensor | None = None

    def generate(self, x: np.ndarray, seed: int) -> np.ndarray:
        n_mels = int(self.options.get("n_mels", 128))
        iters = int(self.options.get("iterations", 32))
        momentum = float(self.options.get("momentum", 0.99))
        wave = torch.from_numpy(np.asarray(x, dtype=np.float64))
        if self._fb is None or self._fb_pinv is None or self._fb.shape[1] != n_mels:
            self._fb = dsp.mel_filterbank(n_mels, dsp.N_FFT, self.sample_rate)  # (freqs, mels)
            self._fb_pinv = torch.linalg.pinv(self._fb.T)
        power = dsp.stft(wave).abs().pow(2)  # (freqs, frames)
        mel = self._fb.T @ power
        # Least-squares back to linear power, clamped: the detail the mel bins averaged away is gone.
        linear = (self._fb_pinv @ mel).clamp_min(0.0)
        magnitude = linear.sqrt()
        gen = torch.Generator().manual_seed(seed)
        angles = torch.exp(2j * torch.pi * torch.rand(magnitude.shape, generator=gen, dtype=torch.float64))
        previous = torch.zeros_like(angles)
        for _ in range(iters):
            rebuilt = dsp.stft(dsp.istft(magnitude * angles, wave.numel()))
            accelerated = rebuilt - (momentum / (1 + momentum)) * previous
            angles = accelerated / accelerated.abs().clamp_min(1e-8)
            previous = rebuilt
        return dsp.istft(magnitude * angles, wave.numel()).numpy()


class SinesNoise(Family):
    name = "sines_noise"

    def generate(self, x: np.ndarray, seed: int) -> np.ndarray:
        n_peaks = int(self.options.get("peaks", 40))
        n_fft, hop = 2048, 256
        rate = self.sample_rate
        wave = torch.from_numpy(np.asarray(x, dtype=np.float64))
        spec = dsp.stft(wave, n_fft, hop)
        mag = spec.abs().numpy().T  # (frames, bins)
        frames, bins = mag.shape
        window_sum = dsp.hann(n_fft).sum().item()

        # Peak picking with parabolic interpolation on the magnitude (not its log: numpy's float64 log and exp
        # round differently on CPUs with AVX-512, and these values reach the clip).
        is_peak = np.zeros_like(mag, dtype=bool)
        is_peak[:, 1:-1] = (mag[:, 1:-1] > mag[:, :-2]) & (mag[:, 1:-1] >= mag[:, 2:])
        masked = np.where(is_peak, mag, 0.0)
        top = np.argsort(-masked, axis=1)[:, :n_peaks]  # (frames, K)
        rows = np.arange(frames)[:, None]
        valid = masked[rows, top] > 0
        k = np.clip(top, 1, bins - 2)
        a, b, c = mag[rows, k - 1], mag[rows, k], mag[rows, k + 1]
        denom = a - 2 * b + c
        delta = np.where(np.abs(denom) > 1e-12, 0.5 * (a - c) / np.where(denom == 0, 1.0, denom), 0.0).clip(-0.5, 0.5)
        freq = (k + delta) * rate / n_fft  # Hz
        amp = (b - 0.25 * (a - c) * delta) * 2.0 / window_sum * valid

        # Oscillator bank: each frame's peaks sound over two hops with a Hann window (50 % overlap-add),
        # phases follow absolute time so a steady partial stays continuous across frames.
        length = wave.numel()
        out = np.zeros(length + 2 * hop * 2)
        seg = 2 * hop
        t_local = np.arange(seg)
        win = np.sin(np.pi * (t_local + 0.5) / seg) ** 2
        for f in range(frames):
            start = f * hop - hop
            t = (start + t_local) / rate
            osc = (amp[f][:, None] * np.cos(2 * np.pi * freq[f][:, None] * t[None, :])).sum(axis=0)
            lo = start + 2 * hop
            out[lo:lo + seg] += win * osc
        sines = out[2 * hop:2 * hop + length]

        # Noise: the spectrum with the picked peaks' neighbourhoods removed, smoothed across frequency
        # into an envelope that filters seeded white noise.
        residual = mag.copy()
        for d in (-2, -1, 0, 1, 2):
            residual[rows, np.clip(top + d, 0, bins - 1)] *= np.where(valid, 0.0, 1.0)
        kernel = np.ones(9) / 9
        envelope = np.apply_along_axis(lambda r: np.convolve(r, kernel, mode="same"), 1, residual)
        gen = torch.Generator().manual_seed(seed)
        noise = torch.randn(length, generator=gen, dtype=torch.float64)
        noise_spec = dsp.stft(noise, n_fft, hop)
        noise_spec = noise_spec / noise_spec.abs().clamp_min(1e-8)
        shaped = dsp.istft(noise_spec * torch.from_numpy(envelope.T), length, n_fft, hop)
        return sines + shaped.numpy()
