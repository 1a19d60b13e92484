"""The neural-decoder families of mom-mini: ``rvq_codec``, ``latent_vae``, ``mel_vocoder``.

Each re-synthesises an excerpt through one of the small decoders of :mod:`mom_bench.dataset.mini.decoders`,
whose weights ship with the package (trained once by ``scripts/train_mom_mini_decoders.py`` on the
training-split reals); nothing is trained at build time. Generation runs in float64 with a seeded
``torch.Generator`` for any randomness (only ``latent_vae`` samples its latent), so a seed gives the same
audio every time.
"""
from __future__ import annotations

import numpy as np

from mom_bench.dataset.mini import decoders
from mom_bench.dataset.mini.families import Family


class _DecoderFamily(Family):
    needs_training = False

    def __init__(self, sample_rate: int, **options):
        super().__init__(sample_rate, **options)
        if sample_rate != decoders.RATE:
            raise ValueError(f"{self.name}: the shipped decoder is trained for {decoders.RATE} Hz, not {sample_rate}")
        self._net: decoders.Decoder | None = None

    @property
    def net(self) -> decoders.Decoder:
        """The decoder, loaded from its shipped file on first use (a missing file fails at generation with
        :class:`~mom_bench.dataset.mini.decoders.WeightsError`, not when the plan is listed)."""
        if self._net is None:
            self._net = decoders.load(self.name)
        return self._net

    def generate(self, x: np.ndarray, seed: int) -> np.ndarray:
        return decoders.resynthesise(self.net, x, seed)


class RVQCodecFamily(_DecoderFamily):
    name = "rvq_codec"


class LatentVAEFamily(_DecoderFamily):
    name = "latent_vae"


class MelVocoderFamily(_DecoderFamily):
    name = "mel_vocoder"
