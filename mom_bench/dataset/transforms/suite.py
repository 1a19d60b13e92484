"""Robustness suites as data: named signal transforms (codecs, pitch, tempo, filters, resampling, noise,
gain) to apply to a benchmark's audio before scoring, and clip policies to sweep.

A suite is a YAML file in ``suites/`` (or any path): a name, a version, a description, a seed, a list of
transforms and an optional list of clip policies. The loader refuses anything it does not understand,
because a misspelt parameter would otherwise silently measure a different perturbation under the same
name. See docs/robustness.md for the shipped suite and how to write one.

>>> suite = load_suite("standard")
>>> t = suite.transform("mp3_64k")
>>> t.key, t.family
('codec@1(bit_rate=64000,format=mp3)', 'codec')
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mom_bench.core import loader
from mom_bench.core.audio import ClipPolicy, parse_clip
from mom_bench.core.errors import SuiteError
from mom_bench.core.registry import Registry, did_you_mean
from mom_bench.dataset.transforms.kinds import KINDS, SAMPLE_RATES, ParamError, Transform, check_rate_known, make
from mom_bench.dataset.transforms.ops import TransformError

__all__ = ["KINDS", "SAMPLE_RATES", "Suite", "SuiteError", "Transform", "TransformError", "item_seed",
           "load_suite", "parse_suite", "suite_names"]

SUITES = Path(__file__).resolve().parent / "suites"

#: The suite used when none is named.
DEFAULT = "standard"

#: Bounds on a suite file, so that a hostile or broken file cannot make the loader (or a run) unbounded.
MAX_FILE_BYTES = 1 << 20
MAX_TRANSFORMS = 256
MAX_CLIPS = 32
MAX_SEED = 2**63 - 1

# Transform and family names end up in file names, table cells and cache keys: keep them plain.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}")

#: The shape of a suite file (checked by :mod:`mom_bench.core.loader`; the loader words what it cannot say, such
#: as each kind's parameters, which :data:`KINDS` describes).
SCHEMA: dict[str, Any] = {
    "title": "mom-bench robustness suite", "type": "object", "additionalProperties": False,
    "required": ["name", "version", "description", "seed", "transforms"],
    "properties": {
        "name": {"type": "string", "pattern": f"^{_NAME.pattern}$"}, "version": {"type": "string", "minLength": 1},
        "description": {"type": "string", "minLength": 1},
        "seed": {"type": "integer", "minimum": 0, "maximum": MAX_SEED},
        "transforms": {"type": "array", "minItems": 1, "maxItems": MAX_TRANSFORMS, "items": {
            "type": "object", "required": ["name", "kind", "family", "params"], "additionalProperties": False,
            "properties": {"name": {"type": "string", "pattern": f"^{_NAME.pattern}$"}, "kind": {"type": "string"},
                           "family": {"type": "string", "pattern": f"^{_NAME.pattern}$"},
                           "params": {"type": "object"}, "description": {"type": "string"}}}},
        "clips": {"type": ["array", "null"], "minItems": 1, "maxItems": MAX_CLIPS, "items": {"type": "string"}},
    },
}


@dataclass(frozen=True)
class Suite:
    name: str
    version: str
    description: str
    seed: int
    transforms: tuple[Transform, ...]
    clips: tuple[ClipPolicy, ...]
    path: Path

    def transform(self, name: str) -> Transform:
        for t in self.transforms:
            if t.name == name:
                return t
        hint = did_you_mean(name, [t.name for t in self.transforms])
        raise SuiteError(f"{self.path}: no transform {name!r}{hint}; known: "
                         f"{', '.join(t.name for t in self.transforms)}")

    @property
    def families(self) -> list[str]:
        """Families in the order of their first transform."""
        return list(dict.fromkeys(t.family for t in self.transforms))

    def item_seed(self, transform: str | Transform, item_id: str) -> int:
        """:func:`item_seed` with this suite's seed."""
        return item_seed(self.seed, transform.name if isinstance(transform, Transform) else transform, item_id)

    def check_sample_rate(self, sample_rate: int) -> None:
        """Raise :class:`TransformError` naming every transform of the suite that cannot run at
        ``sample_rate``, so a run can refuse before it writes anything."""
        try:
            check_rate_known(sample_rate)
        except TransformError as err:
            raise TransformError(f"suite {self.name!r}: {err}") from None
        problems = []
        for t in self.transforms:
            try:
                t.check_sample_rate(sample_rate)
            except TransformError as err:
                problems.append(str(err))
        if problems:
            raise TransformError(f"suite {self.name!r} at {sample_rate} Hz: " + "; ".join(problems))


def item_seed(suite_seed: int, transform_name: str, item_id: str) -> int:
    """The seed of one item under one transform: the first 63 bits of the sha256 of the three values, so it
    is the same in every process and on every machine (Python's ``hash()`` is salted per process).

    >>> item_seed(0, "noise_snr20", "song-1") == item_seed(0, "noise_snr20", "song-1")
    True
    >>> item_seed(0, "noise_snr20", "song-1") != item_seed(0, "noise_snr20", "song-2")
    True
    """
    text = f"{int(suite_seed)}\x00{transform_name}\x00{item_id}".encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big") & MAX_SEED


def suite_names() -> list[str]:
    """Suites shipped with mom-bench."""
    return sorted(p.stem for p in SUITES.glob("*.yaml"))


def path_of(name_or_path: str | Path) -> Path:
    """The YAML file of a shipped suite, or the argument itself when it is a path to a YAML file."""
    candidate = Path(name_or_path)
    if candidate.suffix in {".yaml", ".yml"}:
        if not candidate.is_file():
            raise SuiteError(f"suite file not found: {candidate}")
        return candidate
    shipped: Registry[Path] = Registry("robustness suite", {s: SUITES / f"{s}.yaml" for s in suite_names()},
                                       error=SuiteError)
    if str(name_or_path) not in shipped:
        raise SuiteError(f"{shipped.unknown(str(name_or_path))} (or pass the path of a .yaml file)")
    return shipped.get(str(name_or_path))


def load_suite(name_or_path: str | Path = DEFAULT) -> Suite:
    """Load and validate a suite by name (``standard``) or by the path of a YAML file."""
    path = path_of(name_or_path)
    raw = loader.read_yaml(path, SuiteError, max_bytes=MAX_FILE_BYTES, refuse_aliases=True, what="a suite")
    return parse_suite(raw, path)


def _text(where: str, value: Any, hint: str = "") -> str:
    if not isinstance(value, str) or not value.strip():
        raise SuiteError(f"{where}: expected a non-empty string{hint}, got {value!r}")
    return value


def _plain_name(where: str, value: Any) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise SuiteError(f"{where}: {value!r} is not a plain name (1 to 64 of A-Z a-z 0-9 _ . + -, starting "
                         "with a letter or digit)")
    return value


def _transform(where: str, raw: Any) -> Transform:
    raw = loader.keys(where, raw, SCHEMA["properties"]["transforms"]["items"], SuiteError)
    name = _plain_name(f"{where}.name", raw["name"])
    where = f"{where} ({name})"
    family = _plain_name(f"{where}.family", raw["family"])
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise SuiteError(f"{where}.description: expected a string")
    if not isinstance(raw["kind"], str):
        raise SuiteError(f"{where}.kind: expected one of {', '.join(KINDS)}, got {raw['kind']!r}")
    try:
        return make(name, raw["kind"], family, raw["params"], description)
    except ParamError as err:
        raise SuiteError(f"{where}.{err}") from None


def _clips(where: str, raw: Any) -> tuple[ClipPolicy, ...]:
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_CLIPS:
        raise SuiteError(f"{where}: expected a list of 1 to {MAX_CLIPS} clip policies (e.g. [\"first:30\", "
                         "\"first:90\"])")
    clips = []
    for i, spec in enumerate(raw):
        if not isinstance(spec, str):
            raise SuiteError(f"{where}[{i}]: expected a clip policy string such as 'first:90', got {spec!r}")
        try:
            clip = parse_clip(spec)
        except ValueError as err:
            raise SuiteError(f"{where}[{i}]: {err}") from None
        if clip.kind == "random":
            raise SuiteError(f"{where}[{i}]: {spec!r}: a random window is for training; an evaluation sweep needs "
                             "a fixed one ('first', 'sonics_eval' or 'full')")
        if clip in clips:
            raise SuiteError(f"{where}[{i}]: {spec!r} is listed twice")
        clips.append(clip)
    return tuple(clips)


def parse_suite(raw: Any, path: Path | str = "<suite>") -> Suite:
    """Validate a suite already read from YAML. Every message starts with the file."""
    path = Path(path)
    f = str(path)
    raw = loader.keys(f, raw, SCHEMA, SuiteError)
    name = _plain_name(f"{f}: name", raw["name"])
    version = _text(f"{f}: version", raw["version"], ' (quote versions: "1.0.0")')
    description = _text(f"{f}: description", raw["description"])
    seed = raw["seed"]
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise SuiteError(f"{f}: seed: expected an integer from 0 to {MAX_SEED}, got {seed!r}")
    items = raw["transforms"]
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_TRANSFORMS:
        raise SuiteError(f"{f}: transforms: expected a list of 1 to {MAX_TRANSFORMS} transforms")
    transforms: list[Transform] = []
    for i, item in enumerate(items):
        t = _transform(f"{f}: transforms[{i}]", item)
        if any(t.name == other.name for other in transforms):
            raise SuiteError(f"{f}: transforms[{i}].name: {t.name!r} is used twice")
        transforms.append(t)
    clips = _clips(f"{f}: clips", raw["clips"]) if raw.get("clips") is not None else ()
    loader.check(f, raw, SCHEMA, SuiteError)  # whatever the checks above do not word themselves
    return Suite(name, version, description, seed, tuple(transforms), clips, path)
