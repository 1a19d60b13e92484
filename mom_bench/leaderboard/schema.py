"""JSON Schemas of the leaderboard's files, and the small validator that applies them.

Four documents are described, each versioned by ``SCHEMA_VERSION``:

* ``PREDICTION_ROW``: one row of a predictions file (CSV or Parquet columns ``id``, ``score``).
* ``SUBMISSION_META``: the metadata file that travels with a submission (YAML or JSON).
* ``ENTRY_REPRODUCED``: ``leaderboard/entries/<benchmark>/<slug>.json`` scored here from predictions.
* ``ENTRY_REPORTED``: the same place, for numbers copied from a paper (with the citation).

The validator implements only the JSON Schema keywords these schemas use (listed in ``SUPPORTED``), so
no third-party package is needed; ``unsupported_keywords`` lets a test prove the schemas stay inside that
subset, since a keyword the validator ignored would silently accept anything.
"""
from __future__ import annotations

import math
import re
from datetime import date
from typing import Any

SCHEMA_VERSION = 1
_BASE = "urn:mom-bench:schema"  # an identifier, not a place to fetch from

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
# A leading = + - @ would make spreadsheets evaluate the name as a formula when leaderboard.csv is opened.
_MODEL_NAME = {"type": "string", "minLength": 1, "maxLength": 100, "pattern": r"^[^=+\-@\s][^\r\n\t]*$",
               "description": "a name that does not start with =, +, -, @ or a space and has no line breaks"}
_URL = {"type": ["string", "null"], "pattern": r"^https?://[^\s]+$", "maxLength": 500}


def _metric(description: str) -> dict:
    return {
        "description": description,
        "type": ["object", "null"],
        "required": ["value"],
        "additionalProperties": False,
        "properties": {
            "value": {"type": ["number", "null"]},
            "ci": {"type": ["array", "null"], "items": {"type": "number"}, "minItems": 2, "maxItems": 2,
                   "description": "95 % bootstrap interval [low, high]; null when not available"},
        },
    }


PREDICTION_ROW = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": f"{_BASE}:prediction-row:{SCHEMA_VERSION}",
    "title": "One row of a mom-bench predictions file",
    "description": "A predictions file is CSV (UTF-8, header row) or Parquet with one row per test item of the "
                   "benchmark: every id of every test split exactly once. Other columns are ignored: labels "
                   "always come from the built dataset.",
    "type": "object",
    "required": ["id", "score"],
    "properties": {
        "id": {"type": "string", "minLength": 1, "maxLength": 500,
               "description": "the dataset's `id` column"},
        "score": {"type": "number", "minimum": 0, "maximum": 1,
                  "description": "P(fake): finite, in [0, 1]; fake when score >= 0.5"},
    },
}

SUBMISSION_META = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": f"{_BASE}:submission-meta:{SCHEMA_VERSION}",
    "title": "mom-bench submission metadata",
    "type": "object",
    "additionalProperties": False,
    "required": ["model_name", "authors", "contact", "parameters", "training_data", "license", "date",
                 "benchmark_version"],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "model_name": _MODEL_NAME,
        "slug": {"type": "string", "pattern": SLUG_PATTERN,
                 "description": "a plain name: 1-64 characters from a-z, 0-9 and '-', starting and ending "
                                "with a letter or digit (default: made from model_name)"},
        "authors": {"type": "array", "minItems": 1, "maxItems": 100,
                    "items": {"type": "string", "minLength": 1, "maxLength": 200}},
        "team": {"type": ["string", "null"], "maxLength": 200},
        "contact": {"type": "string", "minLength": 3, "maxLength": 200,
                    "pattern": r"^(?:[^@\s]+@[^@\s]+\.[^@\s]+|https?://\S+)$",
                    "description": "an e-mail address or an http(s) URL"},
        "paper_url": _URL,
        "code_url": _URL,
        "parameters": {"type": "integer", "minimum": 0, "description": "total parameter count of the detector"},
        "training_data": {
            "type": "object",
            "additionalProperties": False,
            "required": ["description", "only_in_distribution_generators"],
            "properties": {
                "description": {"type": "string", "minLength": 1, "maxLength": 2000},
                "datasets": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 200}},
                "only_in_distribution_generators": {
                    "type": "boolean",
                    "description": "true declares that no audio of the benchmark's out-of-distribution "
                                   "generators (nor any of its test items) was used for training or tuning; "
                                   "required to be true on benchmarks with a test_ood split"},
            },
        },
        "license": {"type": "string", "minLength": 1, "maxLength": 100},
        "date": {"type": "string", "format": "date"},
        "benchmark_version": {"type": "string", "minLength": 1, "maxLength": 40,
                              "description": "the benchmark version the predictions are for"},
        "dataset_fingerprint": {"type": "string", "pattern": "^[0-9a-f]{64}$",
                                "description": "optional: the build's fingerprint, checked when given"},
        "description": {"type": ["string", "null"], "maxLength": 2000},
        "command": {"type": ["string", "null"], "maxLength": 2000,
                    "description": "how the predictions were produced (shown on the leaderboard)"},
        "registry_model": {"type": ["string", "null"], "maxLength": 100,
                           "description": "mom-bench registry name, when the model is one of ours"},
    },
}

_PER_GENERATOR = {
    "type": "object",
    "additionalProperties": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "f1": _metric("F1 on the fakes of this generator plus all reals of the same test set"),
            "tpr": _metric("share of this generator's fakes detected (recall on them)"),
            "n_fake": {"type": "integer", "minimum": 0},
            "n_real": {"type": "integer", "minimum": 0},
        },
    },
}

# What every entry, reported or reproduced, offers the renderer: the same keys, so columns line up.
SUMMARY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["f1"],
    "properties": {
        "f1": _metric("F1 (fake positive, threshold 0.5) over every test item"),
        "f1_id": _metric("F1 on test_id (in-distribution generators)"),
        "f1_ood": _metric("F1 on test_ood (held-out generators)"),
        "precision": _metric("precision over every test item"),
        "recall": _metric("recall (sensitivity, TPR on fakes) over every test item"),
        "specificity": _metric("TNR on reals over every test item"),
        "accuracy": _metric("accuracy over every test item"),
        "auc": _metric("ROC AUC over every test item"),
        "eer": _metric("equal error rate over every test item"),
        "per_generator": _PER_GENERATOR,
    },
}

_COMMON_ENTRY = {
    "schema_version": {"const": SCHEMA_VERSION},
    "benchmark": {"type": "string", "pattern": SLUG_PATTERN},
    "slug": {"type": "string", "pattern": SLUG_PATTERN},
    "model_name": _MODEL_NAME,
    "parameters": {"type": ["integer", "null"], "minimum": 0},
    "paper_url": _URL,
    "code_url": _URL,
    "summary": SUMMARY,
    "notes": {"type": ["string", "null"], "maxLength": 4000},
}

ENTRY_REPRODUCED = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": f"{_BASE}:entry-reproduced:{SCHEMA_VERSION}",
    "title": "A leaderboard entry scored by mom-bench from a predictions file",
    "type": "object",
    "additionalProperties": False,
    "required": ["schema_version", "kind", "benchmark", "benchmark_version", "dataset_fingerprint", "slug",
                 "model_name", "meta", "predictions", "scoring", "report", "summary", "mom_bench_version",
                 "date"],
    "properties": {
        **_COMMON_ENTRY,
        "kind": {"const": "reproduced"},
        "benchmark_version": {"type": "string", "minLength": 1},
        "dataset_fingerprint": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "meta": SUBMISSION_META,
        "predictions": {
            "type": "object",
            "additionalProperties": False,
            "required": ["sha256", "n_rows", "format"],
            "properties": {
                "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$",
                           "description": "sha256 of the submitted file's bytes"},
                "n_rows": {"type": "integer", "minimum": 1},
                "format": {"enum": ["csv", "parquet"]},
                "ignored_columns": {"type": "array", "items": {"type": "string"}},
                "stored": {"type": ["string", "null"], "pattern": SLUG_PATTERN[:-1] + r"\.predictions\.csv$",
                           "description": "file beside the entry holding id,score (sorted by id)"},
                "stored_sha256": {"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$"},
            },
        },
        "scoring": {
            "type": "object",
            "additionalProperties": False,
            "required": ["threshold", "n_bootstrap", "seed", "splits"],
            "properties": {
                "threshold": {"type": "number"},
                "n_bootstrap": {"type": "integer", "minimum": 0},
                "seed": {"type": "integer"},
                "splits": {"type": "array", "minItems": 1, "items": {"type": "string"}},
            },
        },
        "report": {"type": "object", "description": "mom_bench.metrics.compute_report on the test splits"},
        "report_all_tests": {"type": "object",
                             "description": "compute_report with every test split pooled as one ('test')"},
        "command": {"type": ["string", "null"], "maxLength": 2000},
        "mom_bench_version": {"type": "string", "minLength": 1},
        "date": {"type": "string", "format": "date", "description": "day the entry was scored"},
    },
}

ENTRY_REPORTED = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": f"{_BASE}:entry-reported:{SCHEMA_VERSION}",
    "title": "A leaderboard entry copied from a publication (not scored here)",
    "type": "object",
    "additionalProperties": False,
    "required": ["schema_version", "kind", "benchmark", "slug", "model_name", "citation", "source", "test_set",
                 "summary", "recipe"],
    "properties": {
        **_COMMON_ENTRY,
        "kind": {"const": "reported"},
        "citation": {
            "type": "object",
            "additionalProperties": False,
            "required": ["title", "url"],
            "properties": {
                "title": {"type": "string", "minLength": 1},
                "authors": {"type": "string"},
                "venue": {"type": "string"},
                "year": {"type": "integer"},
                "url": {"type": "string", "pattern": r"^https?://\S+$"},
            },
        },
        "source": {"type": "string", "minLength": 1, "maxLength": 1000,
                   "description": "where in the publication (or its official code) the numbers are"},
        "test_set": {"type": "string", "minLength": 1, "maxLength": 1000,
                     "description": "what the numbers were measured on; reported rows rarely share our splits"},
        "recipe": {"type": "string", "pattern": r"^baselines/[a-z0-9][a-z0-9.-]*\.yaml$",
                   "description": "the baselines/ recipe file the row was imported from"},
    },
}

_PUBLISHED_NUMBER = {"type": ["number", "null"], "minimum": 0, "maximum": 1}

# A row copied from a paper, as written in a recipe: plain numbers (no intervals: papers rarely give them).
PUBLISHED_ROW = {
    "type": "object",
    "additionalProperties": False,
    "required": ["benchmark", "slug", "model_name", "citation", "source", "test_set", "summary"],
    "properties": {
        "benchmark": {"type": "string", "pattern": SLUG_PATTERN},
        "slug": {"type": "string", "pattern": SLUG_PATTERN},
        "model_name": {"type": "string", "minLength": 1, "maxLength": 100},
        "parameters": {"type": ["integer", "null"], "minimum": 0},
        "paper_url": _URL,
        "code_url": _URL,
        "citation": ENTRY_REPORTED["properties"]["citation"],
        "source": {"type": "string", "minLength": 1, "maxLength": 1000},
        "test_set": {"type": "string", "minLength": 1, "maxLength": 1000},
        "notes": {"type": ["string", "null"], "maxLength": 4000},
        "summary": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                **{k: _PUBLISHED_NUMBER for k in ("f1", "f1_id", "f1_ood", "precision", "recall", "specificity",
                                                   "accuracy", "auc", "eer")},
                "per_generator": {"type": "object", "additionalProperties": {
                    "type": "object", "additionalProperties": False,
                    "properties": {"f1": _PUBLISHED_NUMBER, "tpr": _PUBLISHED_NUMBER}}},
            },
        },
    },
}

# baselines/<model>.yaml: how a reference model is trained here, and what its authors published.
RECIPE = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": f"{_BASE}:baseline-recipe:{SCHEMA_VERSION}",
    "title": "A reference model's recipe (baselines/<model>.yaml)",
    "type": "object",
    "additionalProperties": False,
    "required": ["recipe_version", "model", "title", "description", "benchmarks", "hyperparameters", "commands",
                 "published"],
    "properties": {
        "recipe_version": {"const": SCHEMA_VERSION},
        "model": {"type": "string", "minLength": 1, "description": "mom-bench registry name"},
        "title": {"type": "string", "minLength": 1, "maxLength": 200},
        "description": {"type": "string", "minLength": 1, "maxLength": 4000},
        "benchmarks": {"type": "array", "minItems": 1, "items": {"type": "string", "pattern": SLUG_PATTERN}},
        "hyperparameters": {"type": "object"},
        "commands": {"type": "object", "required": ["train", "evaluate"],
                     "additionalProperties": {"type": "string", "minLength": 1}},
        "published": {"type": "array", "items": PUBLISHED_ROW,
                      "description": "numbers its authors published; imported as reported rows"},
        "submission_meta": {"type": "object",
                            "description": "metadata for `mom-bench submit --meta` of this model's reproduced row"},
    },
}

ENTRY_SCHEMAS = {"reproduced": ENTRY_REPRODUCED, "reported": ENTRY_REPORTED}
SCHEMAS = {"prediction-row": PREDICTION_ROW, "submission-meta": SUBMISSION_META,
           "entry-reproduced": ENTRY_REPRODUCED, "entry-reported": ENTRY_REPORTED, "baseline-recipe": RECIPE}

# --------------------------------------------------------------------------------------------------
# the validator

SUPPORTED = {"$schema", "$id", "title", "description", "type", "required", "properties", "additionalProperties",
             "enum", "const", "pattern", "minLength", "maxLength", "minimum", "maximum", "items", "minItems",
             "maxItems", "format"}
_ANNOTATIONS = {"$schema", "$id", "title", "description"}
_TYPES = {
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
    found = []
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


def validate(instance: Any, schema: dict, path: str = "") -> list[str]:
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
        if len(instance) < schema.get("minLength", 0):
            problems.append(f"{where}: must have at least {schema['minLength']} characters")
        if "maxLength" in schema and len(instance) > schema["maxLength"]:
            problems.append(f"{where}: longer than {schema['maxLength']} characters")
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
        if len(instance) < schema.get("minItems", 0):
            problems.append(f"{where}: needs at least {schema['minItems']} items, has {len(instance)}")
        if "maxItems" in schema and len(instance) > schema["maxItems"]:
            problems.append(f"{where}: at most {schema['maxItems']} items, has {len(instance)}")
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


def _close(name: str, options) -> str | None:
    import difflib

    match = difflib.get_close_matches(name, list(options), n=1, cutoff=0.5)
    return match[0] if match else None
