"""``stats-lr``: a logistic regression on global signal statistics, the trivial baseline of every benchmark.

The features are :func:`mom_bench.core.signal_stats.signal_stats` of the clip (duration, peak, RMS, crest factor,
DC offset, silence and full-scale fractions, roll-offs, -60 dB bandwidth, spectral centroid and spread,
zero-crossing rate): the same function, on the same decoded audio, as the build's shortcut check. A detector
that does not clearly beat ``stats-lr`` has learnt nothing a level meter and an average spectrum could not.

Training family ``frozen-encoder``: :meth:`StatsLR.extract` has no parameters (the "encoder" is the statistics),
the trainer caches the features once and trains only the head, ``Linear(F -> 1)`` on standardised features,
with BCE: a logistic regression fitted by the mom-bench trainer.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from mom_bench.core.signal_stats import FEATURES, VERSION, feature_vector
from mom_bench.models.base import FrozenEncoderDetector

STREAM = "stats"


class RunningStandardiser(nn.Module):
    """``(x - mean) / std`` per feature, with the mean and variance of every item seen in training mode.

    Why not ``nn.BatchNorm1d(affine=False, momentum=None)``: it has the same cumulative running statistics
    for eval mode, but in training mode it normalises by the batch's own statistics, so the linear layer
    would be fitted on a noisier transform than the one it is scored with (batches of 16), and a last batch
    of one item raises. Here training mode folds the batch into the running statistics (exactly, by the
    parallel-variance formula, in float64) and normalises with those: from the second epoch on, the
    transform is the fixed standardisation of the whole training split (repeated epochs add the same items
    again, which leaves the mean and variance unchanged), the one a ``StandardScaler`` would fit. Eval mode
    only reads the statistics, so each item is scored independently of its batch-mates. No log compression:
    the shortcut check standardises the same raw statistics, and the two should measure the same thing.

    The statistics are buffers, saved with the weights. Before any training (``count == 0``) the transform is
    the identity. A feature that never varied in training (``duration_s`` on a benchmark of 10 s clips) is
    only centred, so it contributes nothing.
    """

    count: torch.Tensor  # items seen in training mode (float64 scalar)
    mean: torch.Tensor   # their mean per feature (float64)
    m2: torch.Tensor     # their sum of squared deviations per feature (float64)

    def __init__(self, n_features: int):
        super().__init__()
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("mean", torch.zeros(n_features, dtype=torch.float64))
        self.register_buffer("m2", torch.zeros(n_features, dtype=torch.float64))

    @torch.no_grad()
    def _update(self, x: torch.Tensor) -> None:
        n = float(x.shape[0])
        if n == 0:
            return
        batch_mean = x.mean(dim=0)
        batch_m2 = ((x - batch_mean) ** 2).sum(dim=0)
        total = self.count + n
        delta = batch_mean - self.mean
        self.m2 += batch_m2 + delta ** 2 * self.count * n / total
        self.mean += delta * n / total
        self.count.fill_(total)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(torch.float64)
        if self.training:
            self._update(x.detach())
        if float(self.count) == 0:
            return x.to(torch.float32)
        std = torch.sqrt(self.m2 / self.count)
        std = torch.where(std > 1e-12 * (1 + self.mean.abs()), std, torch.ones_like(std))
        return ((x - self.mean) / std).to(torch.float32)


class StatsLR(FrozenEncoderDetector):
    """Logistic regression on :data:`mom_bench.core.signal_stats.FEATURES` (see the module docstring). No config
    keys beyond the base contract."""

    def __init__(self, config: dict):
        super().__init__(config)
        self.features = FEATURES
        self.standardise = RunningStandardiser(len(FEATURES))
        self.linear = nn.Linear(len(FEATURES), 1)

    def feature_key(self) -> dict[str, str]:
        return {STREAM: f"signal_stats-v{VERSION}|{','.join(self.features)}|clip={self.clip}|in_sr={self.sample_rate}"}

    def extract(self, wave: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"stats": [B, F]}`` (float32), item by item: each row is ``signal_stats(wave[i], sample_rate)`` in
        :data:`~mom_bench.core.signal_stats.FEATURES` order."""
        if wave.dim() != 2:
            raise ValueError(f"expected a waveform batch [B, T], got shape {tuple(wave.shape)}")
        rows = [feature_vector(item.detach().to(torch.float32).cpu().numpy(), self.sample_rate) for item in wave]
        feats = np.stack(rows) if rows else np.zeros((0, len(self.features)))
        return {STREAM: torch.from_numpy(feats).to(device=wave.device, dtype=torch.float32)}

    def head_outputs(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"logits": self.linear(self.standardise(features[STREAM])).squeeze(-1)}
