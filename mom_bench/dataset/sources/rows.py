"""The rows a source yields (:class:`SourceRow`) and the helpers every source kind shares.

Each row knows how to get its audio (``fetch``) but does not fetch it until the builder asks, so a 130k-row
manifest is listed in seconds and audio is read one row at a time. Source kinds import this module, never
the package's table of kinds (which names them).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Union

# What a source's fetch raises for a row it cannot give; sources import them from here.
from mom_bench.core.errors import Excluded as Excluded
from mom_bench.core.errors import MissingAudio as MissingAudio
from mom_bench.dataset.paths import confine
from mom_bench.dataset.protocols import FromProtocolFile

if TYPE_CHECKING:  # listing protocols must not import torch
    import numpy as np

# what ``fetch`` returns: a path or encoded bytes (mom_bench.core.audio.AudioSource), or (waveform, rate)
Fetched = Union[str, Path, bytes, bytearray, memoryview, "tuple[np.ndarray, int]"]



@dataclass
class SourceRow:
    id: str
    label: int  # 0 real, 1 fake
    generator: str  # generator id from the protocol; "real" for reals
    source: str  # where the row came from, e.g. "real_songs", "udio_1.5"
    group_key: str  # rows with equal group_key always share a split
    meta: dict = field(default_factory=dict)  # extra columns: strings and numbers only
    fetch: Callable[[], Fetched] | None = None  # path/bytes, or (mono float32 waveform, rate)
    split: str | None = None  # pre-assigned (official mode, content-paired sources); None -> builder assigns
    # What the row's audio is made from as listed, beyond the fields above (a local file: its path, size and
    # mtime_ns). The fields and the stamp are the row's identity: a later build of the same command redoes
    # a row whose identity changed and keeps the others.
    stamp: str | None = None
    # Where in the song the AI is (``mom_bench.core.segments.Segment`` s tiling the audio the fetch gives), for
    # a source that knows it (a spliced song); None: one whole-file segment of the row's label and generator.
    segments: tuple | None = None


def row_identity(row: SourceRow) -> str:
    """A short hash of every listed field of ``row`` and its stamp (not ``fetch``): equal identities mean the
    builder may reuse what it made of the row before."""
    fields = [row.id, row.label, row.generator, row.source, row.group_key, row.meta or {}, row.split, row.stamp]
    if row.segments is not None:  # appended only when given, so the rows of every earlier build keep their identity
        fields.append([list(s) for s in row.segments])
    text = json.dumps(fields, sort_keys=True, ensure_ascii=False, default=repr)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def normalise(value) -> str:
    return " ".join(str(value).casefold().split())


def group_key(source: str, row_id: str, meta: dict, group_by) -> str:
    """``source:field=value|...`` from the ``group_by`` metadata fields, or ``source:id=<row id>`` when
    any of them is missing (such a row is then a group of its own)."""
    values = [meta.get(k) for k in group_by or ()]
    if group_by and all(v not in (None, "") for v in values):
        return f"{source}:" + "|".join(f"{k}={normalise(v)}" for k, v in zip(group_by, values))
    return f"{source}:id={row_id}"


def path_option(protocol, options: dict, key: str, *, hint: str = "") -> Path | None:
    """Source option ``key`` (``root``, ``reals``, ``base``: :data:`mom_bench.dataset.protocols.PATH_OPTIONS`) as a
    resolved path, None when not given: as given when the user passed it, confined to the protocol's folder when a
    protocol file wrote it (a protocol from elsewhere must not make the builder read any file of the machine)."""
    value = options.get(key)
    if not value:
        return None
    if isinstance(value, FromProtocolFile):
        here = Path(protocol.path).resolve().parent
        return confine(value, here, [here], what=f"{protocol.path}: source.{key}",
                       hint=hint or f"a protocol file's paths must stay in its folder; give the path on the command "
                                    f"line (--{key} DIR)")
    return Path(str(value)).expanduser().resolve()
