"""Robustness suites as data: the suite YAML files in ``suites/``, their strict loader
(:mod:`mom_bench.dataset.transforms.suite`), the transform kinds (:mod:`.kinds`) and the signal operations
(:mod:`.ops`). The names below are the suite loader's public ones."""
from __future__ import annotations

from mom_bench.core.errors import SuiteError
from mom_bench.dataset.transforms.kinds import KINDS, SAMPLE_RATES, Transform
from mom_bench.dataset.transforms.ops import TransformError
from mom_bench.dataset.transforms.suite import (
    DEFAULT,
    MAX_CLIPS,
    MAX_FILE_BYTES,
    MAX_SEED,
    MAX_TRANSFORMS,
    SCHEMA,
    SUITES,
    Suite,
    item_seed,
    load_suite,
    parse_suite,
    path_of,
    suite_names,
)

__all__ = ["DEFAULT", "KINDS", "MAX_CLIPS", "MAX_FILE_BYTES", "MAX_SEED", "MAX_TRANSFORMS", "SAMPLE_RATES", "SCHEMA",
           "SUITES", "Suite", "SuiteError", "Transform", "TransformError", "item_seed", "load_suite", "parse_suite",
           "path_of", "suite_names"]
