"""The one loader of the YAML files people write: benchmark protocols, robustness suites and training configs.

Each kind of file declares its shape once, as a JSON Schema beside its loader, and is read and checked here
with the validator that checks results and leaderboard entries (:mod:`mom_bench.core.json_schema`). A loader is
strict because a typo would otherwise silently change what is measured: keys are checked first, worded for
a person editing the file (``missing key(s) ...``, ``unknown key(s) 'x' (did you mean 'y'?); allowed: ...``),
then every remaining problem of the schema is reported by its path. Checks a schema cannot say (weights
summing to 1, a clip policy that parses) stay in the loaders.

>>> SHAPE = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"},
...                                                                   "seed": {"type": "integer"}},
...          "additionalProperties": False}
>>> keys("f.yaml", {"name": "x", "sed": 1}, SHAPE, ValueError)
Traceback (most recent call last):
...
ValueError: f.yaml: unknown key(s) 'sed' (did you mean 'seed'?); allowed: name, seed
>>> check("f.yaml", {"name": 3}, SHAPE, ValueError)
Traceback (most recent call last):
...
ValueError: f.yaml: /name: expected string, got int 3
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from mom_bench.core import json_schema
from mom_bench.core.errors import YamlRefused
from mom_bench.core.registry import unknown_keys

#: How deep a YAML file people write may nest lists and mappings. The shipped protocols, suites, recipes and
#: metadata nest at most 6 levels; past a few hundred, PyYAML's composer and constructor recurse until the
#: interpreter's limit and its scanner slows down with the depth, so ``[[[[...`` the size of a suite took
#: minutes to reach an internal RecursionError.
MAX_YAML_DEPTH = 32


def parse_yaml(text: str, what: str = "this file", *, refuse_aliases: bool = False,
               max_depth: int = MAX_YAML_DEPTH) -> Any:
    r"""The document in ``text``, read with PyYAML's safe loader once its event stream has been walked:
    the walk stops at the first list or mapping nested deeper than ``max_depth`` (and, with
    ``refuse_aliases``, at the first alias), before the rest of the text is scanned or anything is built.
    :class:`YamlRefused` says why, naming ``what``; malformed text raises ``yaml.YAMLError``.

    >>> parse_yaml("a: [1, {b: 2}]")
    {'a': [1, {'b': 2}]}
    >>> parse_yaml("[" * 100_000, "a suite")
    Traceback (most recent call last):
    ...
    mom_bench.core.errors.YamlRefused: nesting reaches level 33 at line 1, column 33; a suite may nest at most 32 levels
    >>> parse_yaml("a: &x 1\nb: *x\n", "metadata", refuse_aliases=True)
    Traceback (most recent call last):
    ...
    mom_bench.core.errors.YamlRefused: YAML aliases (*name) are not accepted in metadata; write the values out
    """
    import yaml  # lazily: `import mom_bench` stays light

    depth = 0
    # yaml.parse yields events as it scans, so a refusal costs only the text before the offending event.
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            depth += 1
            if depth > max_depth:
                mark = event.start_mark
                where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
                raise YamlRefused(f"nesting reaches level {depth}{where}; {what} may nest at most {max_depth} levels")
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            depth -= 1
        elif refuse_aliases and isinstance(event, yaml.AliasEvent):
            raise YamlRefused(f"YAML aliases (*name) are not accepted in {what}; write the values out")
    return yaml.safe_load(text)


def read_yaml(path: Path, error: type[Exception], *, max_bytes: int | None = None,
              refuse_aliases: bool = False, what: str = "this file") -> Any:
    """The document in ``path``. ``max_bytes``, ``refuse_aliases`` and the nesting limit of
    :func:`parse_yaml` bound what a hostile file can make the loader do (an alias lets a few bytes expand
    into a huge document once loaded); ``what`` names the kind of file in those messages."""
    import yaml  # lazily: `import mom_bench` stays light

    try:
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise error(f"{path}: {size:,} bytes is over the limit of {max_bytes:,} bytes for {what}")
        data = path.read_bytes()
    except OSError as err:
        raise error(f"{path}: cannot read it ({err.strerror or err})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise error(f"{path}: not UTF-8 text (byte {err.start})") from None
    try:
        return parse_yaml(text, what, refuse_aliases=refuse_aliases)
    except YamlRefused as err:
        raise error(f"{path}: {err}") from None
    except yaml.YAMLError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise error(f"{path}: not valid YAML ({first})") from None


def keys(where: str, obj: Any, schema: dict[str, Any], error: type[Exception]) -> dict[Any, Any]:
    """``obj`` if it is a mapping with the schema's required keys and (when the schema closes it with
    ``additionalProperties: false``) no others; else ``error`` naming what is missing or unknown."""
    if not isinstance(obj, dict):
        raise error(f"{where}: expected a mapping, got {type(obj).__name__}")
    missing = [k for k in sorted(schema.get("required", ())) if k not in obj]
    if missing:
        raise error(f"{where}: missing key(s) {', '.join(missing)}")
    allowed = sorted(schema.get("properties", {}))
    if schema.get("additionalProperties", True) is False:
        unknown = unknown_keys(obj, allowed)
        if unknown:
            raise error(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
    return obj


def check(where: str, obj: Any, schema: dict[str, Any], error: type[Exception]) -> None:
    """Every way ``obj`` breaks ``schema``, in one ``error`` (``where: /pointer: reason; ...``)."""
    problems = json_schema.validate(obj, schema)
    if problems:
        raise error(f"{where}: " + "; ".join(problems))
