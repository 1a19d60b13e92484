"""The table of mom-mini's generator families: name -> class (the signal-model families, the three neural
decoders and the machine vocals)."""
from __future__ import annotations

from typing import Any

from mom_bench.dataset.mini.families import Family, GriffinLim, SinesNoise
from mom_bench.dataset.mini.neural import LatentVAEFamily, MelVocoderFamily, RVQCodecFamily
from mom_bench.dataset.mini.vocals import MachineVocals

FAMILIES: dict[str, type[Family]] = {
    "rvq_codec": RVQCodecFamily, "mel_vocoder": MelVocoderFamily, "griffin_lim": GriffinLim,
    "sines_noise": SinesNoise, "latent_vae": LatentVAEFamily, "machine_vocals": MachineVocals,
}


def make_family(name: str, sample_rate: int, **options: Any) -> Family:
    """The family object for ``name`` (one of :data:`FAMILIES`)."""
    if name not in FAMILIES:
        raise ValueError(f"unknown mom-mini generator family {name!r}; known: {', '.join(FAMILIES)}")
    return FAMILIES[name](sample_rate, **options)
