"""Sources: where a benchmark's rows and their audio come from, one module per kind.

A protocol's ``source.kind`` (one of :data:`mom_bench.dataset.protocols.SOURCE_KINDS`) names a class in
:data:`SOURCE_CLASSES`, a registry of lazy ``"module:Class"`` strings (listing benchmarks imports no
source's dependencies). A source class is built as ``Cls(protocol, options)`` and offers
``rows() -> Iterator[SourceRow]`` (:mod:`.rows`). Adding a kind means adding a module here, a line to the
table below and the kind's name to the protocol vocabulary.
"""
from __future__ import annotations

from typing import Any

from mom_bench.core.errors import ProtocolError
from mom_bench.core.registry import Registry
from mom_bench.dataset.sources.rows import (
    Excluded,
    Fetched,
    MissingAudio,
    SourceRow,
    group_key,
    normalise,
    row_identity,
)

__all__ = ["SOURCE_CLASSES", "Excluded", "Fetched", "MissingAudio", "SourceRow", "group_key", "normalise",
           "open_source", "row_identity", "source_class"]

#: ``source.kind`` -> the source class.
SOURCE_CLASSES: Registry[str] = Registry("source kind", {
    "mom": "mom_bench.dataset.sources.mom:MomSource",
    "sonics": "mom_bench.dataset.sources.sonics:SonicsSource",
    "mom-mini": "mom_bench.dataset.sources.mom_mini:MomMiniSource",
    # songs spliced from the rows of another build (partial fakes, with segments)
    "splice": "mom_bench.dataset.sources.splice:SpliceSource",
    # rows listed in a CSV next to local files: custom benchmarks and tests
    "csv": "mom_bench.dataset.sources.csvsource:CsvSource",
    "fakemusiccaps": "mom_bench.dataset.sources.fakemusiccaps:FakeMusicCapsSource",
    "ai-openbmat": "mom_bench.dataset.sources.ai_openbmat:AiOpenBmatSource",
    "echoes": "mom_bench.dataset.sources.echoes:EchoesSource",
    "aime": "mom_bench.dataset.sources.aime:AimeSource",
    "artifactbench": "mom_bench.dataset.sources.artifactbench:ArtifactBenchSource",
    "music8k": "mom_bench.dataset.sources.music8k:Music8kSource",
}, error=ProtocolError)


def source_class(kind: str) -> Any:
    return SOURCE_CLASSES.load(kind)


def open_source(protocol, options: dict | None = None):
    """The source object of ``protocol``: ``options`` (from the command line or the API) are laid over
    the protocol's own ``source`` block."""
    merged = {k: v for k, v in protocol.source.items() if k not in ("kind", "host")}  # host only describes
    merged.update({k: v for k, v in (options or {}).items() if v is not None})
    return source_class(protocol.source_kind)(protocol, merged)
