"""Benchmarks as data: one YAML file per benchmark in this folder, and the strict loader for them.

Adding a benchmark means adding a file here (or passing the path of one), never an ``if`` branch in the
builder. The loader refuses anything it does not understand: a typo in a key would otherwise silently
change how a benchmark is split, and two people would then publish numbers on two different datasets.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mom_bench.core import loader
from mom_bench.core.errors import ProtocolError
from mom_bench.core.registry import Registry
from mom_bench.core.splits import ID_SPLITS, SPLITS
from mom_bench.dataset.protocols.families import UNSPECIFIED, check_family

HERE = Path(__file__).resolve().parent

#: The default benchmark: built offline from shipped audio.
DEFAULT = "mom-mini"

ROLES = ("train", "ood")

_STRING = {"type": "string"}
_ANY: dict[str, Any] = {}
_WEIGHTS = {"type": "object"}
# Source-specific facts about a generator or a real source sit beside the common keys; they are listed here
# so that a misspelt key is still caught.
_SOURCE_DETAILS = {k: _ANY for k in ("manifest_name", "folder", "hf_patterns", "link_list", "match", "description",
                                   "url", "license", "options", "manifest", "youtube_only")}

#: The shape of a protocol file (checked by :mod:`mom_bench.core.loader`; the loader words what it cannot say).
SCHEMA: dict[str, Any] = {
    "title": "mom-bench benchmark protocol", "type": "object", "additionalProperties": False,
    "required": ["name", "version", "title", "description", "license", "citation", "audio", "clip_policy",
                 "source", "splits", "generators", "reals"],
    "properties": {
        **{k: _STRING for k in ("name", "version", "title", "description", "license", "citation", "clip_policy")},
        "homepage": _ANY, "notes": _ANY,
        # what to download and where to put the reals, in a few lines (`mom-bench build -b NAME --help` shows it)
        "download": {"type": "string", "minLength": 1},
        # whether a build may be published (`mom-bench push-dataset`), why, and the licence notices (files of
        # mom-bench's shipped data, mom_bench/data) that must travel with it; no entry: not published
        "redistribution": {"type": "object", "required": ["allowed", "reason"], "additionalProperties": False,
                           "properties": {"allowed": {"type": "boolean"}, "reason": {"type": "string", "minLength": 1},
                                          "notices": {"type": "array", "items": {"type": "string", "minLength": 1}}}},
        # sha256 of the ids and 16-bit audio of a build with the protocol's own options (a benchmark that is
        # generated, like mom-mini, is the same on every machine; the test suite holds it to this value)
        "audio_fingerprint": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        # sha256 of earlier versions of this file whose builds hold the same rows (the edits since were
        # descriptive: names, decoder families, releases): such a build is reused, not rebuilt, after an upgrade
        "same_rows_as": {"type": "array", "items": {"type": "string", "pattern": "^[0-9a-f]{64}$"}},
        # hold_out: true lets `<name>-lofo-<generator id>` name the variant that holds out that one generator
        # (test_ood only) and trains on all the others (see hold_out below)
        "variants": {"type": "object", "additionalProperties": False, "properties": {"hold_out": {"type": "boolean"}}},
        "audio": {"type": "object", "required": ["sample_rate", "format"], "additionalProperties": False,
                  "properties": {"sample_rate": _ANY, "format": _ANY, "max_seconds": _ANY}},
        # host: where the corpus is published, one line (`mom-bench build --list` shows it), e.g.
        # "hf-dataset:awsaf49/sonics@<revision>" or "zenodo:<record> <file> (<bytes> B)"; not a source option
        "source": {"type": "object", "required": ["kind"],
                   "properties": {"kind": _STRING, "host": {"type": "string", "minLength": 1, "pattern": "^[^\\n]*$"}}},
        "splits": {"type": "object", "required": ["salt", "reals", "fakes_id"], "additionalProperties": False,
                   "properties": {"salt": _STRING, "reals": _WEIGHTS, "fakes_id": _WEIGHTS,
                                  "official": {"type": ["object", "null"], "required": ["reals", "fakes_id"],
                                               "additionalProperties": False,
                                               "properties": {"reals": _WEIGHTS, "fakes_id": _WEIGHTS}}}},
        # FROM_BASE for a source kind that makes its rows from another build (DERIVED_KINDS): that build's
        "generators": {"type": ["array", "string"], "minItems": 1, "items": {
            "type": "object", "required": ["id", "name", "family", "role"], "additionalProperties": False,
            "properties": {"id": _STRING, "name": _STRING, "family": _STRING, "role": {"enum": list(ROLES)},
                           # how the generator makes its waveform: an id of the decoder-family vocabulary
                           # (families.py); for a generated family (mom-mini), which real generators it stands for
                           "decoder_family": _STRING, "stands_for": _ANY,
                           # the generator's version or release as its makers name it (e.g. chirp-v3.5)
                           "release": _STRING,
                           **{k: v for k, v in _SOURCE_DETAILS.items() if k not in ("manifest", "youtube_only")}}}},
        "reals": {"type": ["array", "string"], "minItems": 1, "items": {
            "type": "object", "required": ["id", "name"], "additionalProperties": False,
            "properties": {"id": _ANY, "name": _ANY, "group_by": {"type": ["array", "null"], "items": _STRING},
                           **{k: v for k, v in _SOURCE_DETAILS.items()
                              if k not in ("manifest_name", "hf_patterns", "link_list")}}}},
    },
}
_WEIGHT_TOL = 1e-6

#: The kinds of source a protocol may name (``source.kind``); each has its class in
#: :data:`mom_bench.dataset.sources.SOURCE_CLASSES`, which the builder opens.
SOURCE_KINDS: Registry[str] = Registry("kind", {
    "mom": "the MoM release: its manifest and audio from the Hub or a local copy",
    "sonics": "the SONICS release: its CSV files and audio folders",
    "mom-mini": "shipped real excerpts and fakes generated offline from them",
    "csv": "rows listed in a CSV next to local files: custom benchmarks and tests",
    "fakemusiccaps": "FakeMusicCaps: per-generator folders of a Zenodo zip, MusicCaps reals from your own copies",
    "ai-openbmat": "AI-OpenBMAT: paired AI and human excerpts of a Zenodo zip",
    "echoes": "the Echoes release: one zip with a manifest CSV (Hub or local), FMA reals from the user's folder",
    "splice": "songs spliced from the rows of another build (`--from DIR`): partial fakes with their segments",
    "aime": "AIME's Parquet shards with the audio in their cells (reals included), from the Hub or a local copy",
    "artifactbench": "ArtifactBench's manifests and Parquet shards of AI tracks; its reals from your own copies",
    "music8k": "MUSIC8K's MP3 folders per generator and item metadata, from the Hub or a local copy",
}, error=ProtocolError)

#: ``generators: from-base`` / ``reals: from-base``: the generators and real sources are those of the build the
#: source makes its rows from; allowed only for the source kinds in :data:`DERIVED_KINDS`, whose source object
#: then gives the whole protocol (``derived_protocol()``) once it has opened that build.
FROM_BASE = "from-base"
DERIVED_KINDS = ("splice",)


#: Source options that name files or folders. Written in a protocol file they are not trusted (a protocol
#: from elsewhere must not make the builder read any file of the machine): see :class:`FromProtocolFile`.
PATH_OPTIONS = ("csv", "root", "reals", "base")


class FromProtocolFile(str):
    """A path option as written in a protocol file (``source.csv``, ``source.root``), marked so that the
    source using it resolves it against the protocol's folder and confines it there. The same option given
    on the command line or through the API is a plain string: what the user passes is trusted."""


@dataclass(frozen=True)
class Generator:
    id: str
    name: str
    family: str
    role: str  # "train" (in-distribution) or "ood" (only ever in test_ood)
    extra: dict = field(default_factory=dict)

    @property
    def is_ood(self) -> bool:
        return self.role == "ood"

    @property
    def decoder_family(self) -> str:
        """Its id in the decoder-family vocabulary, or ``unspecified`` when its protocol names none."""
        return str(self.extra.get("decoder_family") or UNSPECIFIED)

    @property
    def release(self) -> str | None:
        return self.extra.get("release")


@dataclass(frozen=True)
class RealSource:
    id: str
    name: str
    group_by: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class BenchmarkProtocol:
    name: str
    version: str
    title: str
    description: str
    license: str
    citation: str
    sample_rate: int
    audio_format: str
    max_seconds: float | None
    clip_policy: str
    source: dict
    salt: str
    real_weights: dict
    fake_id_weights: dict
    official_weights: dict | None
    generators: tuple[Generator, ...]
    reals: tuple[RealSource, ...]
    path: Path
    raw: dict = field(default_factory=dict, repr=False)
    base: str | None = None  # the shipped protocol a variant (``<base>-lofo-<generator>``) derives from

    @property
    def same_rows_as(self) -> tuple[str, ...]:
        """sha256 of earlier versions of the protocol file whose builds are this version's builds."""
        return tuple(self.raw.get("same_rows_as") or ())

    @property
    def redistribution(self) -> dict[str, Any] | None:
        """``{"allowed": bool, "reason": str, "notices": [...]}`` as the protocol declares it, or None."""
        return self.raw.get("redistribution")

    @property
    def host(self) -> str | None:
        """Where the corpus is published (``source.host``, one line), or None when the protocol does not say."""
        return self.source.get("host")

    @property
    def download(self) -> str | None:
        """What to download and where to put the reals (``download``), or None."""
        return self.raw.get("download")

    @property
    def source_kind(self) -> str:
        return self.source["kind"]

    def generator(self, gen_id: str) -> Generator:
        for g in self.generators:
            if g.id == gen_id:
                return g
        raise KeyError(f"{self.name}: no generator {gen_id!r} (known: {', '.join(g.id for g in self.generators)})")

    def real(self, real_id: str) -> RealSource:
        for r in self.reals:
            if r.id == real_id:
                return r
        raise KeyError(f"{self.name}: no real source {real_id!r} (known: {', '.join(r.id for r in self.reals)})")

    @property
    def ood_generators(self) -> list[str]:
        return [g.id for g in self.generators if g.is_ood]

    @property
    def decoder_families(self) -> dict[str, str]:
        """Generator id -> decoder family (``unspecified`` where the protocol names none)."""
        return {g.id: g.decoder_family for g in self.generators}


def names() -> list[str]:
    """Benchmarks shipped with mom-bench."""
    return sorted(p.stem for p in HERE.glob("*.yaml"))


def path_of(name: str) -> Path:
    """The YAML file of a shipped benchmark, or ``name`` itself when it is a path to a YAML file."""
    candidate = Path(name)
    if candidate.suffix in {".yaml", ".yml"}:
        if not candidate.is_file():
            raise ProtocolError(f"protocol file not found: {candidate}")
        return candidate
    shipped: Registry[Path] = Registry("benchmark", {p: HERE / f"{p}.yaml" for p in names()}, error=ProtocolError)
    return shipped.get(name)


#: ``<benchmark>-lofo-<generator id>``: the leave-one-family-out variant of a benchmark that allows it.
LOFO = "-lofo-"


#: ``<benchmark>~<fold>``: the name of a fold view over a build of ``<benchmark>`` (mom_bench.dataset.views).
VIEW_MARK = "~"


def base_name(name: str) -> str:
    """The shipped benchmark a name refers to: itself, the base of a ``-lofo-`` variant, or the benchmark a fold
    view (``mom-mini~logo-rvq_codec``) was made from."""
    name = name.split(VIEW_MARK, 1)[0]
    return name.split(LOFO, 1)[0] if LOFO in name and name.split(LOFO, 1)[0] in names() else name


def load(name: str) -> BenchmarkProtocol:
    """Load and validate a benchmark by name (``mom``, ``sonics``, ``mom-mini``, or a variant such as
    ``mom-mini-lofo-rvq_codec``) or YAML path."""
    if LOFO in name and name not in names() and Path(name).suffix not in {".yaml", ".yml"}:
        base, held = name.split(LOFO, 1)
        return hold_out(load(base), held)
    path = path_of(name)
    return parse(loader.read_yaml(path, ProtocolError, what="a protocol"), path)


def hold_out(protocol: BenchmarkProtocol, generator: str) -> BenchmarkProtocol:
    """The leave-one-family-out variant: ``generator`` held out (only ever in test_ood), every other generator
    in-distribution. The reals and their splits are the base protocol's; so is every fake that both make (same
    row id, same audio), which lets one detector be compared across the folds of one benchmark."""
    if not (protocol.raw.get("variants") or {}).get("hold_out"):
        raise ProtocolError(f"{protocol.name} has no leave-one-family-out variants (its protocol does not declare "
                            "variants: {hold_out: true})")
    ids = [g.id for g in protocol.generators]
    if generator not in ids:
        raise ProtocolError(f"{protocol.name}{LOFO}{generator}: {generator!r} is not a generator of {protocol.name} "
                            f"({', '.join(ids)})")
    gens = tuple(replace(g, role="ood" if g.id == generator else "train") for g in protocol.generators)
    name = f"{protocol.name}{LOFO}{generator}"
    raw = {k: v for k, v in protocol.raw.items() if k != "audio_fingerprint"}
    raw.update(name=name, title=f"{protocol.title} (leave {generator} out)")
    return replace(protocol, name=name, title=raw["title"], generators=gens, raw=raw, base=protocol.name)


def _weights(where: str, obj: Any, allowed: tuple[str, ...]) -> dict[str, float]:
    if not isinstance(obj, dict) or not obj:
        raise ProtocolError(f"{where}: expected a mapping of split -> weight")
    out = {}
    for split, w in obj.items():
        if split not in allowed:
            raise ProtocolError(f"{where}: split {split!r} not allowed here (allowed: {', '.join(allowed)})")
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
            raise ProtocolError(f"{where}.{split}: weight must be a non-negative number, got {w!r}")
        out[split] = float(w)
    total = sum(out.values())
    if abs(total - 1.0) > _WEIGHT_TOL:
        raise ProtocolError(f"{where}: weights sum to {total:.6g}, not 1")
    return out


def _mark_paths(f: str, source: dict) -> dict:
    """A copy of the ``source`` block with its path options marked :class:`FromProtocolFile`."""
    out = dict(source)
    for key in PATH_OPTIONS:
        if key not in out or out[key] is None:
            continue
        value = out[key]
        if not isinstance(value, str) or not value.strip() or "\0" in value:
            raise ProtocolError(f"{f}: source.{key}: expected a path relative to the protocol's folder, "
                                f"got {value!r}")
        out[key] = FromProtocolFile(value)
    return out


def parse(raw: Any, path: Path | str = "<protocol>") -> BenchmarkProtocol:
    """Validate a protocol already read from YAML. Every message starts with the file and the key."""
    path = Path(path)
    f = str(path)
    raw = loader.keys(f, raw, SCHEMA, ProtocolError)
    shape = SCHEMA["properties"]
    for key in ("name", "version", "title", "description", "license", "citation", "clip_policy"):
        if not isinstance(raw[key], str) or not raw[key].strip():
            raise ProtocolError(f"{f}: {key}: expected a non-empty string (quote versions: \"1.0.0\")")

    audio = loader.keys(f"{f}: audio", raw["audio"], shape["audio"], ProtocolError)
    if not isinstance(audio["sample_rate"], int) or not 8000 <= audio["sample_rate"] <= 192000:
        raise ProtocolError(f"{f}: audio.sample_rate: expected an integer rate in Hz, got {audio['sample_rate']!r}")
    if audio["format"] != "flac":
        raise ProtocolError(f"{f}: audio.format: only 'flac' is supported, got {audio['format']!r}")
    max_seconds = audio.get("max_seconds")
    if max_seconds is not None and (not isinstance(max_seconds, (int, float)) or max_seconds <= 0):
        raise ProtocolError(f"{f}: audio.max_seconds: expected a positive number or null")

    from mom_bench.core.audio import parse_clip  # lazily: listing benchmarks must not import torch

    try:
        parse_clip(raw["clip_policy"])
    except ValueError as err:
        raise ProtocolError(f"{f}: clip_policy: {err}") from None

    source = raw["source"]
    if not isinstance(source, dict) or not isinstance(source.get("kind"), str):
        raise ProtocolError(f"{f}: source: expected a mapping with a 'kind' (e.g. kind: mom)")
    if source["kind"] not in SOURCE_KINDS:
        raise ProtocolError(f"{f}: source.kind: {SOURCE_KINDS.unknown(source['kind'])}")

    source = _mark_paths(f, source)

    splits = loader.keys(f"{f}: splits", raw["splits"], shape["splits"], ProtocolError)
    if not isinstance(splits["salt"], str) or not splits["salt"]:
        raise ProtocolError(f"{f}: splits.salt: expected a non-empty string")
    real_w = _weights(f"{f}: splits.reals", splits["reals"], SPLITS)
    fake_w = _weights(f"{f}: splits.fakes_id", splits["fakes_id"], ID_SPLITS)
    official = None
    if splits.get("official") is not None:
        off = loader.keys(f"{f}: splits.official", splits["official"], shape["splits"]["properties"]["official"],
                          ProtocolError)
        official = {"reals": _weights(f"{f}: splits.official.reals", off["reals"], SPLITS),
                    "fakes_id": _weights(f"{f}: splits.official.fakes_id", off["fakes_id"],
                                         ID_SPLITS)}

    derived = source["kind"] in DERIVED_KINDS
    for key in ("generators", "reals"):
        if derived and raw[key] != FROM_BASE:
            raise ProtocolError(f"{f}: {key}: a {source['kind']} benchmark takes them from the build it is made from: "
                                f"write {key}: {FROM_BASE}")
        if not derived and raw[key] == FROM_BASE:
            raise ProtocolError(f"{f}: {key}: {FROM_BASE} needs a source kind that is made from another build "
                                f"({', '.join(DERIVED_KINDS)}), not {source['kind']!r}")
    if not derived and (not isinstance(raw["generators"], list) or not raw["generators"]):
        raise ProtocolError(f"{f}: generators: expected a non-empty list")
    generators, seen = [], set()
    for i, g in enumerate(raw["generators"] if not derived else []):
        where = f"{f}: generators[{i}]"
        g = loader.keys(where, g, shape["generators"]["items"], ProtocolError)
        for key in ("id", "name", "family"):
            if not isinstance(g[key], str) or not g[key]:
                raise ProtocolError(f"{where}.{key}: expected a non-empty string")
        if g["role"] not in ROLES:
            raise ProtocolError(f"{where}.role: unknown role {g['role']!r}; use 'train' (in-distribution) or "
                                "'ood' (only ever in test_ood)")
        if g["id"] in seen or g["id"] == "real":
            raise ProtocolError(f"{where}.id: {g['id']!r} is duplicated or reserved")
        if "decoder_family" in g:
            check_family(f"{where} ({g['id']}).decoder_family", g["decoder_family"])
        if "release" in g and (not isinstance(g["release"], str) or not g["release"].strip()):
            raise ProtocolError(f"{where} ({g['id']}).release: expected a non-empty string (quote versions: \"1.5\")")
        seen.add(g["id"])
        generators.append(Generator(g["id"], g["name"], g["family"], g["role"],
                                    {k: v for k, v in g.items() if k not in ("id", "name", "family", "role")}))

    if not derived and (not isinstance(raw["reals"], list) or not raw["reals"]):
        raise ProtocolError(f"{f}: reals: expected a non-empty list")
    reals = []
    for i, r in enumerate(raw["reals"] if not derived else []):
        where = f"{f}: reals[{i}]"
        r = loader.keys(where, r, shape["reals"]["items"], ProtocolError)
        group_by = r.get("group_by") or []
        if not isinstance(group_by, list) or not all(isinstance(x, str) for x in group_by):
            raise ProtocolError(f"{where}.group_by: expected a list of column names")
        if r["id"] in seen:
            raise ProtocolError(f"{where}.id: {r['id']!r} is duplicated")
        seen.add(r["id"])
        reals.append(RealSource(r["id"], r["name"], tuple(group_by),
                                {k: v for k, v in r.items() if k not in ("id", "name", "group_by")}))

    loader.check(f, raw, SCHEMA, ProtocolError)  # whatever the checks above do not word themselves
    return BenchmarkProtocol(
        name=raw["name"], version=raw["version"], title=raw["title"], description=raw["description"],
        license=raw["license"], citation=raw["citation"], sample_rate=audio["sample_rate"],
        audio_format=audio["format"], max_seconds=max_seconds, clip_policy=raw["clip_policy"], source=source,
        salt=splits["salt"], real_weights=real_w, fake_id_weights=fake_w, official_weights=official,
        generators=tuple(generators), reals=tuple(reals), path=path, raw=raw,
    )
