"""Decoder families as data: the vocabulary of ``decoder_family`` in a protocol's generators, read from
``vocabularies/decoder_families.yaml`` (one id per way a generator makes its waveform: codec tokens, a VAE
latent, a mel spectrogram and vocoder, ...).

A detector learns the traces of a decoder more than the name of a generator, so ``evaluate`` reports each
decoder family beside each generator. The ids are a closed list so that two protocols can never spell one
family two ways and split its numbers.

>>> "rvq-codec" in family_ids() and "proprietary-unknown" in family_ids()
True
>>> load_vocabulary()["mel-vocoder"].study_classes
('mel_vae_hifigan',)
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from mom_bench.core import loader
from mom_bench.core.errors import ProtocolError
from mom_bench.core.registry import did_you_mean
from mom_bench.report.documents import UNSPECIFIED_DECODER_FAMILY

VOCABULARY = Path(__file__).resolve().parent / "vocabularies" / "decoder_families.yaml"

#: The family reported for a generator whose protocol names none (a user's protocol may leave it out).
UNSPECIFIED = UNSPECIFIED_DECODER_FAMILY

_STRING = {"type": "string", "minLength": 1}
SCHEMA: dict[str, Any] = {
    "title": "mom-bench decoder families", "type": "object", "additionalProperties": False,
    "required": ["version", "families"],
    "properties": {
        "version": _STRING,
        "families": {"type": "array", "minItems": 1, "items": {
            "type": "object", "additionalProperties": False,
            "required": ["id", "description", "study_classes", "examples"],
            "properties": {
                "id": {"type": "string", "pattern": "^[a-z][a-z0-9-]*$"},
                "description": _STRING,
                "study_classes": {"type": "array", "items": _STRING},
                "examples": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "additionalProperties": False, "required": ["generator", "decoder", "source"],
                    "properties": {"generator": _STRING, "decoder": _STRING, "source": _STRING}}}}}},
    },
}


@dataclass(frozen=True)
class DecoderFamily:
    id: str
    description: str
    #: the decoder classes of the 2026 generalisation study this family corresponds to (none: no such class)
    study_classes: tuple[str, ...]
    #: real generators of the family: {generator, decoder, source (arXiv id or repository)}
    examples: tuple[dict[str, str], ...]


def parse_vocabulary(raw: Any, path: Path | str = "<decoder families>") -> dict[str, DecoderFamily]:
    """id -> :class:`DecoderFamily` from the mapping of a vocabulary file; :class:`ProtocolError` naming the
    file and the key for anything the schema refuses, a repeated id, or the reserved id ``unspecified``."""
    f = str(path)
    loader.keys(f, raw, SCHEMA, ProtocolError)
    loader.check(f, raw, SCHEMA, ProtocolError)
    out: dict[str, DecoderFamily] = {}
    for i, entry in enumerate(raw["families"]):
        if entry["id"] in out or entry["id"] == UNSPECIFIED:
            raise ProtocolError(f"{f}: families[{i}].id: {entry['id']!r} is duplicated or reserved")
        out[entry["id"]] = DecoderFamily(entry["id"], entry["description"], tuple(entry["study_classes"]),
                                         tuple(dict(e) for e in entry["examples"]))
    return out


@lru_cache(maxsize=1)
def load_vocabulary() -> dict[str, DecoderFamily]:
    """The shipped vocabulary, read once."""
    return parse_vocabulary(loader.read_yaml(VOCABULARY, ProtocolError, what="the decoder families"), VOCABULARY)


def family_ids() -> list[str]:
    """The decoder family ids a protocol may name, in the vocabulary's order."""
    return list(load_vocabulary())


def check_family(where: str, value: Any) -> str:
    """``value`` when it is a family of the vocabulary; else :class:`ProtocolError` starting with ``where``
    (e.g. ``bench.yaml: generators[2] (suno_4).decoder_family``), naming the value and the allowed ids."""
    ids = family_ids()
    if isinstance(value, str) and value in ids:
        return value
    hint = did_you_mean(value, ids) if isinstance(value, str) else ""
    raise ProtocolError(f"{where}: unknown decoder family {value!r}{hint}; allowed: {', '.join(ids)} "
                        f"({VOCABULARY.name}); leave the key out to report the generator as {UNSPECIFIED!r}")
