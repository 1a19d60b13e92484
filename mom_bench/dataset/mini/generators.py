"""The table of mom-mini's generator families: name -> class (the signal-model families and the three
neural decoders)."""
from __future__ import annotations

from typing import Any

from mom_bench.dataset.mini.families import Family, GriffinLim, SinesNoise
from mom_bench.dataset.mini.neural import LatentVAEFamily, MelVocoderFamily, RVQCodecFamily

FAMILIES: dict[str, type[Family]] = {"griffin_lim": GriffinLim, "sines_noise": SinesNoise, "rvq_codec": RVQCodecFamily,
                                     "latent_vae": LatentVAEFamily, "mel_vocoder": MelVocoderFamily}


def make_family(name: str, sample_rate: int, **options: Any) -> Family:
    """The family object for ``name`` (one of :data:`FAMILIES`)."""
    if name not in FAMILIES:
        raise ValueError(f"unknown mom-mini generator family {name!r}; known: {', '.join(FAMILIES)}")
    return FAMILIES[name](sample_rate, **options)
