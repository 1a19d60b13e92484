"""``fakeprint``: periodic spectral peaks of upsampling decoders, read by a logistic regression.

After Afchar, Meseguer-Brocal, Akesbi and Hennequin (Deezer), "A Fourier explanation of AI-music artifacts",
ISMIR 2025, arXiv 2506.19108. A decoder that upsamples by a stride ``k`` (transposed convolution, or zero
insertion / nearest repetition followed by a convolution) is a periodically time-varying filter: its output
carries copies of the low-rate spectrum, and of any constant (bias) pattern, at multiples of
``sample_rate / k``. Those narrow peaks sit at positions set by the architecture (the strides and the output
rate), not by the weights, so they are the same in every song a given decoder makes. A stack of strides
``k1, k2, ...`` gives peaks at multiples of ``sample_rate / k_last``, ``sample_rate / (k_last * k_prev)``, ...

The features (:meth:`Fakeprint.extract`, no learnable parameters, nothing saved):

1. Long-term average power spectrum of the clip: STFT with a Hann window of ``n_fft`` samples (8192 at 24 kHz:
   2.93 Hz per bin, fine enough to resolve lines 375 Hz apart and to place a peak within a bin), hop ``hop``
   (``n_fft / 2``), mean of ``|X|^2`` over frames, then its log: ``log(P + floor)``, ``floor`` 100 dB below the
   item's loudest bin. The log of the mean (not the mean of the log) keeps a zero-padded clip (clip policy
   ``first:90`` on a shorter song) equal to the unpadded one up to a constant, which step 3 removes; the
   relative floor makes the features independent of the gain. Clips shorter than ``n_fft`` are zero-padded
   to one frame.
2. Smooth envelope removed: a running minimum over ``envelope_hz`` (a lower hull, below any narrow peak),
   smoothed by a running mean over the same width, is subtracted from the log spectrum. Peaks narrower than
   about half that width survive; the spectral envelope (genre, mastering, low-pass of a codec) does not.
3. Restricted to ``band_hz`` (1 kHz to Nyquist: below 1 kHz the music itself is dense in narrow partials) and
   z-scored over the band per item, so only the shape of the peak pattern remains.

Head: ``Linear(F, 1)``, a logistic regression over the ``F`` frequency bins (:meth:`Fakeprint.frequencies`
gives their Hz, to plot the learned weights). The trainer caches the features (training family
``frozen-encoder``) and trains only that layer with BCE. Every step acts on one item's own spectrum, so a
song's score never depends on its batch-mates.

Config keys (beyond the base contract), with their defaults: ``n_fft`` 8192, ``hop`` 4096, ``envelope_hz`` 100,
``band_hz`` [1000, 12000] (the upper edge is clipped to Nyquist).
"""
from __future__ import annotations

import copy
import math

import torch
from torch import nn

from mom_bench.models.base import DetectorConfigError, FrozenEncoderDetector

DEFAULTS = {"n_fft": 8192, "hop": 4096, "envelope_hz": 100.0, "band_hz": [1000.0, 12000.0]}
#: The floor of the log spectrum, relative to the item's loudest bin (1e-10: 100 dB below it).
FLOOR = 1e-10
#: Least standard deviation of the z-scoring (nats of log power).
STD_FLOOR = 1e-3
#: Feature stream name.
STREAM = "fakeprint"
# Bumped when the computation of the features changes, so cached features of the old one are not reused.
_FEATURE_VERSION = 1


class Fakeprint(FrozenEncoderDetector):
    """Fakeprint features (see the module docstring) and a logistic-regression head."""

    window: torch.Tensor

    def __init__(self, config: dict):
        config = {**copy.deepcopy(DEFAULTS), **dict(config)}
        super().__init__(config)
        cfg = self.config
        self.n_fft = int(cfg["n_fft"])
        self.hop = int(cfg["hop"])
        self.envelope_hz = float(cfg["envelope_hz"])
        band = [float(b) for b in cfg["band_hz"]]
        nyquist = self.sample_rate / 2
        if self.n_fft < 16 or not 1 <= self.hop <= self.n_fft:
            raise DetectorConfigError(f"{self.name}: need n_fft >= 16 and 1 <= hop <= n_fft "
                                      f"(got n_fft {self.n_fft}, hop {self.hop})")
        if len(band) != 2 or not 0 <= band[0] < min(band[1], nyquist):
            raise DetectorConfigError(f"{self.name}: band_hz must be [low, high] with 0 <= low < high and low "
                                      f"below Nyquist ({nyquist:g} Hz); got {cfg['band_hz']}")
        self.bin_hz = self.sample_rate / self.n_fft
        # Running windows of an odd number of bins (centred), at least 3.
        self.envelope_bins = 2 * max(1, int(round(self.envelope_hz / self.bin_hz / 2))) + 1
        # Bins k with band[0] <= k * bin_hz <= min(band[1], Nyquist), in plain arithmetic (the registry builds
        # models on the meta device to count parameters, where tensors hold no values).
        first = max(0, math.ceil(band[0] / self.bin_hz - 1e-9))
        last = min(self.n_fft // 2, math.floor(min(band[1], nyquist) / self.bin_hz + 1e-9))
        if last < first:
            raise DetectorConfigError(f"{self.name}: band_hz {band} holds no frequency bin at n_fft {self.n_fft}")
        self.first_bin, self.n_bins = first, last - first + 1
        self.register_buffer("window", torch.hann_window(self.n_fft, periodic=True, dtype=torch.float32),
                             persistent=False)
        self.head = nn.Linear(self.n_bins, 1)
        # A logistic regression starts from zero: no seed-dependent noise in the weights one plots.
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    # ---------------------------------------------------------------------------------------------
    def frequencies(self) -> torch.Tensor:
        """Hz of each feature (and of each weight of the head), ``[F]``."""
        return (torch.arange(self.n_bins, dtype=torch.float64) + self.first_bin) * self.bin_hz

    def feature_key(self) -> dict[str, str]:
        return {STREAM: (f"fakeprint-v{_FEATURE_VERSION}|n_fft={self.n_fft}|hop={self.hop}|window=hann"
                         f"|power=log-mean|floor={FLOOR:g}|envelope_hz={self.envelope_hz:g}"
                         f"(bins={self.envelope_bins})|band_bins={self.first_bin}+{self.n_bins}"
                         f"|clip={self.clip}|in_sr={self.sample_rate}")}

    def log_spectrum(self, wave: torch.Tensor) -> torch.Tensor:
        """``log(mean power + floor)`` per bin, ``[B, n_fft / 2 + 1]`` (step 1 of the module docstring)."""
        if wave.dim() != 2:
            raise ValueError(f"expected a waveform batch [B, T], got shape {tuple(wave.shape)}")
        x = wave.to(torch.float32)
        n = x.shape[-1]
        # Pad at the end so that every sample lies in a frame and a clip shorter than n_fft gives one frame.
        frames = 1 + max(0, math.ceil((n - self.n_fft) / self.hop))
        # Frames past the batch's last nonzero sample (the zero padding of a short song under ``first:90``) add
        # exactly zero power: they are counted in the mean but not transformed.
        nonzero = torch.nonzero(x.abs().amax(dim=0)).flatten()
        used = min(frames, int(nonzero[-1]) // self.hop + 1) if nonzero.numel() else 1
        x = nn.functional.pad(x, (0, self.n_fft + (frames - 1) * self.hop - n))[:, :self.n_fft + (used - 1) * self.hop]
        spec = torch.stft(x, self.n_fft, self.hop, window=self.window.to(x.device), center=False,
                          return_complex=True)  # [B, F, used]
        power = spec.abs().square().sum(dim=-1) / (frames * float(self.window.sum()) ** 2)
        floor = power.amax(dim=-1, keepdim=True) * FLOOR + 1e-30
        return torch.log(power + floor)

    def extract(self, wave: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"fakeprint": [B, F]}``: the envelope-free, z-scored log spectrum over the band."""
        logspec = self.log_spectrum(wave)[:, None, :]  # [B, 1, n_bins_total]
        k = self.envelope_bins
        # Running minimum (max-pooling of the negation pads with -inf, so the edges use what is there), then
        # a running mean of it that counts only real bins at the edges.
        lower = -nn.functional.max_pool1d(-logspec, k, stride=1, padding=k // 2)
        envelope = nn.functional.avg_pool1d(lower, k, stride=1, padding=k // 2, count_include_pad=False)
        resid = (logspec - envelope)[:, 0, self.first_bin:self.first_bin + self.n_bins]
        mean = resid.mean(dim=-1, keepdim=True)
        # The std is floored (1e-3 nat, far below any real spectrum's) so a flat spectrum (silence) gives
        # near-zero features instead of amplified rounding noise.
        std = resid.std(dim=-1, keepdim=True, unbiased=False).clamp_min(STD_FLOOR)
        return {STREAM: (resid - mean) / std}

    def head_outputs(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"logits": self.head(features[STREAM].to(torch.float32)).squeeze(-1)}

    def weights(self) -> torch.Tensor:
        """The head's weight of each frequency bin, ``[F]`` (aligned with :meth:`frequencies`)."""
        return self.head.weight.detach()[0].cpu()
