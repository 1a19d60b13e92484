"""JSON Schemas of the leaderboard's files.

Four documents are described, each versioned by ``SCHEMA_VERSION``:

* ``PREDICTION_ROW``: one row of a predictions file (CSV or Parquet columns ``id``, ``score``).
* ``SUBMISSION_META``: the metadata file that travels with a submission (YAML or JSON).
* ``ENTRY_REPRODUCED``: ``leaderboard/entries/<benchmark>/<slug>.json`` scored here from predictions.
* ``ENTRY_REPORTED``: the same place, for numbers copied from a paper (with the citation).

They are applied by the small validator of :mod:`mom_bench.json_schema`, which implements only the JSON
Schema keywords these schemas use (listed in ``SUPPORTED``), so no third-party package is needed;
``unsupported_keywords`` lets a test prove the schemas stay inside that subset, since a keyword the
validator ignored would silently accept anything. ``validate``, ``unsupported_keywords`` and ``SUPPORTED``
are re-exported here for existing callers.
"""
from __future__ import annotations

from typing import Any

# re-exported: callers use schema.validate(...), schema.unsupported_keywords(...)
from mom_bench.json_schema import SUPPORTED, _close, unsupported_keywords, validate  # noqa: F401

SCHEMA_VERSION = 1
_BASE = "urn:mom-bench:schema"  # an identifier, not a place to fetch from

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
# A leading = + - @ would make spreadsheets evaluate the name as a formula when leaderboard.csv is opened;
# control characters (line breaks, terminal escapes) would rewrite the terminal or the rendered tables.
_MODEL_NAME = {"type": "string", "minLength": 1, "maxLength": 100,
               "pattern": r"^[^=+\-@\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$",
               "description": "a name that does not start with =, +, -, @ or a space and has no line breaks "
                              "or other control characters"}
_SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_URL = {"type": ["string", "null"], "pattern": r"^https?://[^\s]+$", "maxLength": 500}


def _metric(description: str) -> dict[str, Any]:
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


PREDICTION_ROW: dict[str, Any] = {
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

SUBMISSION_META: dict[str, Any] = {
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
        "partial": {"type": "boolean",
                    "description": "true when the predictions leave out whole test splits on purpose; the entry "
                                   "is then scored on the splits it covers, marked partial and not ranked"},
    },
}

_PER_GENERATOR: dict[str, Any] = {
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
SUMMARY: dict[str, Any] = {
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

_COMMON_ENTRY: dict[str, Any] = {
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

ENTRY_REPRODUCED: dict[str, Any] = {
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
        "dataset_fingerprint": {**_SHA256, "description": "the build's fingerprint (labels and audio hashes)"},
        "label_fingerprint": {**_SHA256, "description": "sha256 of the build's id, split, label and generator "
                                                         "lines: what scoring reads, the same on every machine"},
        "partial": {"type": "boolean", "description": "true when the entry covers only some test splits "
                                                      "(scoring.splits); never ranked with complete entries"},
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

ENTRY_REPORTED: dict[str, Any] = {
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
PUBLISHED_ROW: dict[str, Any] = {
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
RECIPE: dict[str, Any] = {
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

def text_problems(value: Any, path: str = "") -> list[str]:
    """Strings (keys included) that cannot be written as UTF-8, such as a lone surrogate from a JSON
    ``\\ud800`` escape: the schemas cannot express it, and every output of the leaderboard is UTF-8."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as err:
            return [f"{path or '/'}: not valid Unicode text (character {err.start} is a lone surrogate "
                    f"{ascii(value[err.start])})"]
        return []
    out: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}/{ascii(str(key))[1:-1]}"
            out += text_problems(str(key), f"{where} (the key)") + text_problems(item, where)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += text_problems(item, f"{path}/{i}")
    return out


ENTRY_SCHEMAS = {"reproduced": ENTRY_REPRODUCED, "reported": ENTRY_REPORTED}
SCHEMAS = {"prediction-row": PREDICTION_ROW, "submission-meta": SUBMISSION_META,
           "entry-reproduced": ENTRY_REPRODUCED, "entry-reported": ENTRY_REPORTED, "baseline-recipe": RECIPE}
