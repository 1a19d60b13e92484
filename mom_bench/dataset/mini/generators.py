"""The table of mom-mini's generator families: name -> class (the signal-model families and the two
autoencoders)."""
from __future__ import annotations

from typing import Any

from mom_bench.dataset.mini.autoencoder import TConvAE, UpsampleAE
from mom_bench.dataset.mini.families import Family, GriffinLim, SinesNoise
from mom_bench.dataset.mini.vocals import MachineVocals

FAMILIES: dict[str, type[Family]] = {"griffin_lim": GriffinLim, "sines_noise": SinesNoise, "tconv_ae": TConvAE,
                                     "upsample_ae": UpsampleAE,
                                     "machine_vocals": MachineVocals}


def make_family(name: str, sample_rate: int, **options: Any) -> Family:
    """The family object for ``name`` (one of :data:`FAMILIES`)."""
    if name not in FAMILIES:
        raise ValueError(f"unknown mom-mini generator family {name!r}; known: {', '.join(FAMILIES)}")
    return FAMILIES[name](sample_rate, **options)
