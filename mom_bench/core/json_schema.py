"""A small JSON Schema validator: the subset of draft 2020-12 that mom-bench's own schemas use.

It needs no third-party package and imports nothing from mom-bench, so any module (the leaderboard, the
typed documents of :mod:`mom_bench.report.documents`) can validate against a schema written as a plain dict.

Only the keywords in ``SUPPORTED`` are enforced. A keyword outside that set would be ignored silently, i.e.
accept anything, so every schema mom-bench ships is checked by a test with :func:`unsupported_keywords`
(which must return an empty list).

>>> validate({"a": 1}, {"type": "object", "properties": {"a": {"type": "string"}}})
['/a: expected string, got int 1']
"""
from __future__ import annotations

import difflib
import math
import re
import types as _types
import typing
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

DIALECT = "https://json-schema.org/draft/2020-12/schema"

SUPPORTED = {"$schema", "$id", "title", "description", "type", "required", "properties", "additionalProperties",
             "enum", "const", "pattern", "minLength", "maxLength", "minimum", "maximum", "items", "minItems",
             "maxItems", "format"}
_ANNOTATIONS = {"$schema", "$id", "title", "description"}
_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
}


def unsupported_keywords(schema: Any, where: str = "") -> list[str]:
    """Keywords in ``schema`` that ``validate`` would not enforce (must stay empty)."""
    found: list[str] = []
    if isinstance(schema, dict):
        for key, sub in schema.items():
            if key not in SUPPORTED:
                found.append(f"{where}/{key}")
            elif key == "properties":
                for name, prop in sub.items():
                    found += unsupported_keywords(prop, f"{where}/properties/{name}")
            elif key in ("items", "additionalProperties") and isinstance(sub, dict):
                found += unsupported_keywords(sub, f"{where}/{key}")
    return found


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _size_problems(schema: dict[str, Any], size: int, keyword: str, too_few: Callable[[Any], str],
                   too_many: Callable[[Any], str]) -> list[str]:
    """``min<keyword>`` and ``max<keyword>`` (``Length`` or ``Items``) checked against ``size``; each message
    is made from the bound it breaks."""
    problems = []
    if size < schema.get(f"min{keyword}", 0):
        problems.append(too_few(schema[f"min{keyword}"]))
    if f"max{keyword}" in schema and size > schema[f"max{keyword}"]:
        problems.append(too_many(schema[f"max{keyword}"]))
    return problems


def validate(instance: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Every way ``instance`` breaks ``schema``, one message each, as ``/json/pointer: reason``."""
    where = path or "/"
    types = schema.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else types
        if not any(_TYPES[t](instance) for t in types):
            return [f"{where}: expected {' or '.join(types)}, got {type(instance).__name__} {_show(instance)}"]
    if isinstance(instance, float) and not math.isfinite(instance):
        return [f"{where}: {instance} is not a finite number"]
    problems: list[str] = []
    if "const" in schema and instance != schema["const"]:
        problems.append(f"{where}: must be {schema['const']!r}, got {_show(instance)}")
    if "enum" in schema and instance not in schema["enum"]:
        problems.append(f"{where}: must be one of {schema['enum']}, got {_show(instance)}")
    if isinstance(instance, str):
        problems += _size_problems(schema, len(instance), "Length",
                                   lambda n: f"{where}: must have at least {n} characters",
                                   lambda n: f"{where}: longer than {n} characters")
        if "pattern" in schema and not re.search(schema["pattern"], instance):
            expected = schema.get("description") or f"the pattern {schema['pattern']}"
            problems.append(f"{where}: {_show(instance)} is not valid (expected {expected})")
        if schema.get("format") == "date":
            try:
                date.fromisoformat(instance)
                ok = len(instance) == 10
            except ValueError:
                ok = False
            if not ok:
                problems.append(f"{where}: {_show(instance)} is not a date like 2026-01-31")
    if _TYPES["number"](instance):
        if "minimum" in schema and instance < schema["minimum"]:
            problems.append(f"{where}: {instance} is below the minimum {schema['minimum']}")
        if "maximum" in schema and instance > schema["maximum"]:
            problems.append(f"{where}: {instance} is above the maximum {schema['maximum']}")
    if isinstance(instance, list):
        problems += _size_problems(schema, len(instance), "Items",
                                   lambda n: f"{where}: needs at least {n} items, has {len(instance)}",
                                   lambda n: f"{where}: at most {n} items, has {len(instance)}")
        if isinstance(schema.get("items"), dict):
            for i, item in enumerate(instance):
                problems += validate(item, schema["items"], f"{path}/{i}")
    if isinstance(instance, dict):
        for name in schema.get("required", []):
            if name not in instance:
                problems.append(f"{path}/{name}: required but missing")
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for name, value in instance.items():
            if name in props:
                problems += validate(value, props[name], f"{path}/{name}")
            elif extra is False:
                hint = _close(name, props)
                problems.append(f"{path}/{name}: unknown field" + (f" (did you mean {hint!r}?)" if hint else ""))
            elif isinstance(extra, dict):
                problems += validate(value, extra, f"{path}/{name}")
    return problems


def _close(name: str, options: Iterable[str]) -> str | None:
    """The option most like ``name`` (for a "did you mean" hint), or None."""
    match = difflib.get_close_matches(name, list(options), n=1, cutoff=0.5)
    return match[0] if match else None


# --------------------------------------------------------------------------------------------------
# Schemas generated from types


def from_type(tp: Any, resolve: Callable[[Any], dict[str, Any] | None] | None = None) -> dict[str, Any]:
    """The JSON Schema of the documents of type ``tp``, so a document's shape is written once, as types.

    A ``TypedDict`` is a fixed-shape object (its required keys required, no other key allowed); ``dict[str,
    X]`` a map whose values follow ``X``; ``list[X]`` an array; ``X | None`` adds ``null`` to ``X``'s type;
    ``Literal`` one value or several; ``Any`` anything. ``Annotated[X, {...}]`` adds the dict's keywords
    (``minimum``, ``pattern``, ``description``...) to ``X``'s schema; where a keyword's value is a type
    (``additionalProperties``, or a ``properties`` entry) its schema is generated. Any other ``Annotated``
    metadata is handed to ``resolve``, whose schema (when it gives one) stands for the whole annotation;
    ``resolve`` is asked about every type too, first, so it can stand in for a type wherever it is used.

    >>> from typing import Annotated, NotRequired, TypedDict
    >>> Point = TypedDict("Point", {"x": Annotated[int, {"minimum": 0}], "label": NotRequired[str | None]})
    >>> from_type(Point)  # doctest: +NORMALIZE_WHITESPACE
    {'type': 'object', 'required': ['x'], 'additionalProperties': False,
     'properties': {'x': {'type': 'integer', 'minimum': 0}, 'label': {'type': ['string', 'null']}}}
    """
    if resolve is not None and typing.get_origin(tp) is not typing.Annotated:
        found = resolve(tp)
        if found is not None:
            return found
    if typing.get_origin(tp) is typing.Annotated:
        base, *extras = typing.get_args(tp)
        for extra in extras:
            if not isinstance(extra, dict) and resolve is not None:
                found = resolve(extra)
                if found is not None:
                    return found
        dicts = [e for e in extras if isinstance(e, dict)]
        if typing.get_origin(base) is dict and any("additionalProperties" in e for e in dicts):
            out: dict[str, Any] = {"type": "object"}  # the annotation says what the values are
        else:
            out = from_type(base, resolve)
        for extra in extras:
            if isinstance(extra, dict):
                out.update({k: _converted(k, v, resolve) for k, v in extra.items()})
        return out
    if typing.is_typeddict(tp):
        hints = typing.get_type_hints(tp, include_extras=True)
        required = tp.__required_keys__
        return {"type": "object", "required": [k for k in hints if k in required], "additionalProperties": False,
                "properties": {k: from_type(_strip_required(v), resolve) for k, v in hints.items()}}
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, _types.UnionType):
        present = [a for a in args if a is not type(None)]
        if len(present) != 1:
            raise TypeError(f"no schema for the union {tp} (only X | None is supported)")
        out = from_type(present[0], resolve)
        if len(present) < len(args):
            kinds = out.get("type")
            if kinds is None:
                raise TypeError(f"no schema for {tp}: {present[0]} has no type to add null to")
            out["type"] = [*([kinds] if isinstance(kinds, str) else kinds), "null"]
        return out
    if origin is typing.Literal:
        return {"const": args[0]} if len(args) == 1 else {"enum": list(args)}
    if origin is dict:
        return {"type": "object", "additionalProperties": from_type(args[1], resolve)}
    if origin is list:
        return {"type": "array", "items": from_type(args[0], resolve)}
    if tp is Any:
        return {}
    plain = {bool: "boolean", int: "integer", float: "number", str: "string"}
    if tp in plain:
        return {"type": plain[tp]}
    raise TypeError(f"no JSON Schema for {tp!r}")


def _strip_required(tp: Any) -> Any:
    """``X`` of ``NotRequired[X]`` / ``Required[X]`` (the TypedDict's required keys already say which)."""
    while typing.get_origin(tp) in (typing.NotRequired, typing.Required):
        tp = typing.get_args(tp)[0]
    return tp


def _converted(keyword: str, value: Any, resolve: Callable[[Any], dict[str, Any] | None] | None) -> Any:
    if keyword == "additionalProperties" and not isinstance(value, (bool, dict)):
        return from_type(value, resolve)
    if keyword == "properties":
        return {k: v if isinstance(v, dict) else from_type(v, resolve) for k, v in value.items()}
    return value
