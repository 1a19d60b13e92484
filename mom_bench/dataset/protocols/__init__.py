"""Benchmarks as data: one YAML file per benchmark in this folder, read by the strict loader of
:mod:`mom_bench.dataset.protocols.protocol` (the names below are its public ones)."""
from __future__ import annotations

from mom_bench.core.errors import ProtocolError
from mom_bench.dataset.protocols.families import UNSPECIFIED, DecoderFamily, family_ids, load_vocabulary
from mom_bench.dataset.protocols.protocol import (
    DEFAULT,
    DERIVED_KINDS,
    FROM_BASE,
    LOFO,
    PATH_OPTIONS,
    ROLES,
    SCHEMA,
    SOURCE_KINDS,
    BenchmarkProtocol,
    FromProtocolFile,
    Generator,
    RealSource,
    base_name,
    hold_out,
    load,
    names,
    parse,
    path_of,
)

__all__ = ["DEFAULT", "DERIVED_KINDS", "FROM_BASE",
           "LOFO", "PATH_OPTIONS", "ROLES", "SCHEMA", "SOURCE_KINDS", "UNSPECIFIED", "BenchmarkProtocol",
           "DecoderFamily", "FromProtocolFile", "Generator", "ProtocolError", "RealSource", "base_name",
           "family_ids", "hold_out", "load", "load_vocabulary", "names", "parse", "path_of"]
