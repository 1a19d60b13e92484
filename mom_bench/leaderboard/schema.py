"""JSON Schemas of the leaderboard's files.

The documents are described, each versioned by ``SCHEMA_VERSION``:

* ``PREDICTION_ROW``: one row of a predictions file (CSV or Parquet columns ``id``, ``score``).
* ``TIMELINE_ROW``: one row of a timeline predictions file (``id``, ``start``, ``end``, ``p_fake``); an entry
  scored from one carries a ``localisation`` object (:func:`localisation_schema`).
* ``SUBMISSION_META``: the metadata file that travels with a submission (YAML or JSON).
* ``ENTRY_REPRODUCED``: ``leaderboard/entries/<benchmark>/<slug>.json`` scored here from predictions; its
  optional ``robustness`` object (``ROBUSTNESS``) is the summary of the submitter's robustness run, a claim
  that is range-checked and recomputed from the run's document (stored beside the entry) but not re-scored.
  Its optional ``run`` object (``RUN``) records the precision, batch size and clip of the evaluate run the
  predictions came from (entries submitted from a plain predictions file, and older ones, lack it).
  Its optional ``matrix`` object (``MATRIX``) summarises the cross-corpus matrix of ``mom-bench matrix`` the
  entry carries, recomputed from the compact document stored beside it (``MATRIX_DOCUMENT``).
* ``ENTRY_REPORTED``: the same place, for numbers copied from a paper (with the citation).
* ``MATRIX_DOCUMENT``: ``<slug>.matrix.json`` beside an entry: the matrix's sets, thresholds and, per
  training set and per cell, the predictions as columns.

They are applied by the small validator of :mod:`mom_bench.core.json_schema`, which implements only the JSON
Schema keywords these schemas use (listed in ``SUPPORTED``), so no third-party package is needed;
``unsupported_keywords`` lets a test prove the schemas stay inside that subset, since a keyword the
validator ignored would silently accept anything. ``validate``, ``unsupported_keywords`` and ``SUPPORTED``
are re-exported here for existing callers.
"""
from __future__ import annotations

from typing import Any

# re-exported: callers use schema.validate(...), schema.unsupported_keywords(...)
from mom_bench.core.json_schema import SUPPORTED, _close, unsupported_keywords, validate  # noqa: F401
from mom_bench.report.metrics import registry as metric_registry

SCHEMA_VERSION = 1
_BASE = "urn:mom-bench:schema"  # an identifier, not a place to fetch from

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
#: The suffix of the robustness.json stored beside an entry (``<slug>.robustness.json``): not an entry itself.
ROBUSTNESS_SUFFIX = ".robustness.json"
#: The suffix of the cross-corpus matrix stored beside an entry (``<slug>.matrix.json``): not an entry either.
MATRIX_SUFFIX = ".matrix.json"
#: Documents stored beside entries, by suffix (a slug has no dot, so no entry's file name ends so).
STORED_SUFFIXES = (ROBUSTNESS_SUFFIX, MATRIX_SUFFIX)
# A leading = + - @ would make spreadsheets evaluate the name as a formula when leaderboard.csv is opened;
# control characters (line breaks, terminal escapes) would rewrite the terminal or the rendered tables.
_MODEL_NAME = {"type": "string", "minLength": 1, "maxLength": 100,
               "pattern": r"^[^=+\-@\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$",
               "description": "a name that does not start with =, +, -, @ or a space and has no line breaks "
                              "or other control characters"}
_SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_URL = {"type": ["string", "null"], "pattern": r"^https?://[^\s]+$", "maxLength": 500}


_CI = {"type": ["array", "null"], "items": {"type": "number"}, "minItems": 2, "maxItems": 2,
       "description": "95 % bootstrap interval [low, high]; null when not available"}


def _metric(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "type": ["object", "null"],
        "required": ["value"],
        "additionalProperties": False,
        "properties": {"value": {"type": ["number", "null"]}, "ci": _CI},
    }


def _closed_document(name: str, title: str) -> dict[str, Any]:
    """How each document schema begins: its dialect, its id (``name`` and the schema version), its title, and
    an object that takes no field it does not declare."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": f"{_BASE}:{name}:{SCHEMA_VERSION}",
            "title": title, "type": "object", "additionalProperties": False}


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

TIMELINE_ROW: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": f"{_BASE}:timeline-row:{SCHEMA_VERSION}",
    "title": "One row of a mom-bench timeline predictions file",
    "description": "A timeline file is CSV (UTF-8, header exactly id,start,end,p_fake) or Parquet with those columns: "
                   "one row per scored window of a song, at least one window for every id of every test split. "
                   "Windows of a song may overlap and need not cover it; end must be after start",
    "type": "object",
    "required": ["id", "start", "end", "p_fake"],
    "properties": {
        "id": PREDICTION_ROW["properties"]["id"],
        "start": {"type": "number", "minimum": 0, "description": "seconds from the start of the stored audio"},
        "end": {"type": "number", "minimum": 0, "description": "seconds, after start"},
        "p_fake": {"type": "number", "minimum": 0, "maximum": 1, "description": "P(fake) of the window"},
    },
}

SUBMISSION_META: dict[str, Any] = {
    **_closed_document("submission-meta", "mom-bench submission metadata"),
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

_RATE = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
_COUNT = {"type": "integer", "minimum": 0}


def _rate(description: str) -> dict[str, Any]:
    """A rate in [0, 1] with its interval, as in the report."""
    return {**_metric(description), "properties": {"value": _RATE, "ci": _CI}}


# TPR at a false-positive budget, with whether the test reals are enough to resolve the budget at all.
_OPERATING_POINT: dict[str, Any] = {
    "description": "TPR at 1 % FPR on the ROC curve of every test item pooled (all test splits the entry is scored "
                   "on); resolvable is false when there are fewer than min_reals (1 / 0.01) test reals, so one real "
                   "called fake already exceeds 1 % and the value rests on interpolation",
    "type": "object",
    "additionalProperties": False,
    "required": ["value", "resolvable", "n_real"],
    "properties": {
        "value": _RATE,
        "ci": _CI,
        "resolvable": {"type": "boolean"},
        "n_real": _COUNT,
        "min_reals": _COUNT,
    },
}

_SOURCE_FPR: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["n_real", "n_called_fake", "fpr"],
    "properties": {"n_real": _COUNT, "n_called_fake": _COUNT,
                   "fpr": _rate("share of this source's test reals called fake at threshold 0.5")},
}

# What every entry, reported or reproduced, offers the renderer besides its metric columns.
_SUMMARY_REST: dict[str, Any] = {
    "per_generator": _PER_GENERATOR,
    "tpr_at_1pct_fpr": _OPERATING_POINT,
    "fpr_by_source": {"type": "object", "additionalProperties": _SOURCE_FPR,
                      "description": "false-positive rate of each real source (the build's source column) over "
                                     "the test reals of every scored split pooled, at threshold 0.5; "
                                     "'_unknown' holds reals without a source"},
    "worst_source_fpr": {
        "description": "the real source with the highest false-positive rate in fpr_by_source (ties: more reals, "
                       "then the name)",
        "type": "object",
        "additionalProperties": False,
        "required": ["source", "value", "n_real", "n_called_fake"],
        "properties": {"source": {"type": "string", "minLength": 1, "maxLength": 1000},
                       "value": _RATE, "ci": _CI,
                       "n_real": _COUNT, "n_called_fake": _COUNT},
    },
    "worst_real_pool": {
        "description": "the pool of reals (the build's source column: the protocol's reals id) with the lowest AUC "
                       "of all the fakes of its test split against that pool's reals, over the test splits scored "
                       "(ties: more reals, then the split, then the name); from the report's per_real_pool",
        "type": "object",
        "additionalProperties": False,
        "required": ["pool", "split", "value", "n_real", "n_fake"],
        "properties": {"pool": {"type": "string", "minLength": 1, "maxLength": 1000},
                       "split": {"type": "string", "minLength": 1, "maxLength": 100},
                       "value": _RATE, "ci": _CI, "n_real": _COUNT, "n_fake": _COUNT},
    },
}


def summary_schema() -> dict[str, Any]:
    """The summary every entry, reported or reproduced, offers the renderer (the same keys, so columns line
    up): the primary metric, then one per leaderboard column of the metric registry as it is now."""
    return {"type": "object", "additionalProperties": False, "required": [metric_registry.PRIMARY],
            "properties": {metric_registry.PRIMARY: _metric("F1 (fake positive, threshold 0.5) over every test item"),
                           **{c.key: _metric(c.description) for c in metric_registry.board_columns()},
                           **_SUMMARY_REST}}


#: The summary with the built-in metrics (what the constants below hold; :func:`entry_schema` follows the
#: registry as it is when called).
SUMMARY: dict[str, Any] = summary_schema()

_SHARE = {"type": ["number", "null"], "minimum": 0, "maximum": 1, "description": "in [0, 1], or null"}
_LABEL = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"^[^\x00-\x1f\x7f]+$",
          "description": "1 to 200 characters without line breaks or other control characters"}

# The summary `mom-bench evaluate --robustness` writes (mom_bench.loop.robustness.summary), as an entry carries it.
ROBUSTNESS: dict[str, Any] = {
    "description": "robustness: reported by the submitter's run of `mom-bench evaluate --robustness` (the summary "
                   "of robustness/robustness.json in the results folder, whose sha256 is kept), for the suite named "
                   "name@version. It is the submitter's claim: the scores of transformed audio are not part of an "
                   "id,score submission, so these numbers are not re-scored here; their ranges are checked, and "
                   "they must equal the summary recomputed from the document (stored beside the entry)",
    "type": "object",
    "additionalProperties": False,
    "required": ["reported_by", "file_sha256", "suite", "transforms", "codec_worst_tpr", "codec_worst_fpr",
                 "codec_mean_abs_dp", "codec_max_abs_dp", "codec_invariant", "most_harmful",
                 "most_harmful_delta_tpr"],
    "properties": {
        "reported_by": {"const": "submitter"},
        "file_sha256": {**_SHA256, "description": "sha256 of the robustness.json the summary was copied from"},
        "stored": {"type": "string", "pattern": SLUG_PATTERN[:-1] + ROBUSTNESS_SUFFIX.replace(".", r"\.") + "$",
                   "description": "file beside the entry holding that robustness.json, byte for byte, from which "
                                  "`leaderboard validate` recomputes the summary"},
        "suite": {**_LABEL, "description": "the suite as name@version (1 to 200 characters, no control characters)"},
        "transforms": {"type": "integer", "minimum": 0, "maximum": 10000,
                       "description": "transforms that ran (0 to 10000)"},
        "codec_worst_tpr": {**_SHARE, "description": "lowest TPR over the codec transforms and test splits, "
                                                     "in [0, 1] or null"},
        "codec_worst_fpr": {**_SHARE, "description": "highest FPR over the codec transforms and test splits, "
                                                     "in [0, 1] or null"},
        "codec_mean_abs_dp": {**_SHARE, "description": "mean |P(fake, re-encoded) - P(fake, clean)| over the codec "
                                                       "transforms, in [0, 1] or null"},
        "codec_max_abs_dp": {**_SHARE, "description": "largest |dP| of any item under a codec, in [0, 1] or null"},
        "codec_invariant": {"type": ["boolean", "null"],
                            "description": "whether the codec family meets ArtifactBench's invariance criterion"},
        "most_harmful": {**_LABEL, "type": ["string", "null"],
                         "description": "the transform that lowers TPR most (1 to 200 characters, no control "
                                        "characters), or null"},
        "most_harmful_delta_tpr": {"type": ["number", "null"], "minimum": -1, "maximum": 1,
                                   "description": "its TPR change against clean, in [-1, 1], or null"},
    },
}

# How `mom-bench evaluate` computed the submitted scores, from its results.json: a bf16 run and an fp32 run of one
# checkpoint give different scores, so the entry says which it is.
RUN: dict[str, Any] = {
    "description": "how `mom-bench evaluate` computed the submitted scores, copied from its results.json "
                   "(model.precision, model.batch_size, model.clip); null where that results.json does not record "
                   "it (older ones lack batch_size and clip). Absent when the predictions came without a results.json",
    "type": "object",
    "additionalProperties": False,
    "required": ["precision", "batch_size", "clip"],
    "properties": {
        "precision": {"enum": ["fp32", "bf16", "fp16", None],
                      "description": "numeric precision of the encoders and the model: fp32, bf16, fp16 or null"},
        "batch_size": {"type": ["integer", "null"], "minimum": 1, "maximum": 1_000_000,
                       "description": "items per forward pass (1 to 1,000,000), or null"},
        "clip": {**_LABEL, "type": ["string", "null"], "maxLength": 100,
                 "description": "the model's clip policy, e.g. first:90 (1 to 100 characters, no control "
                                "characters), or null"},
    },
}

#: The most cells a matrix may have (training sets x test sets): far above any study's grid, and it bounds the
#: entry's size.
MAX_MATRIX_CELLS = 2_500
_SET_NAME = {**_LABEL, "description": "a set's name as `mom-bench matrix` gives it (1 to 200 characters, no "
                                      "control characters)"}
_CARRIED_RATE = {**_rate("the rate at the threshold chosen for 5 % FPR on the training set's validation split, "
                         "carried unchanged to the test set; null when that split had too few reals to choose it"),
                 "type": ["object", "null"]}
_MATRIX_CELL: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["train", "test", "home", "labels_checked", "n_fake", "n_real", "auc", "fpr_carried_5pct",
                 "tpr_carried_5pct"],
    "properties": {
        "train": _SET_NAME, "test": _SET_NAME,
        "home": {"type": "boolean", "description": "the test set holds rows of the training set's own build (its "
                                                   "held-out splits, or a pool of them): not a cross-corpus cell"},
        "labels_checked": {"type": "boolean", "description": "the rows of both sets were compared with their "
                                                             "builds at submission"},
        "n_fake": _COUNT, "n_real": _COUNT,
        "auc": _rate("AUC of the test set's scores"),
        "fpr_carried_5pct": _CARRIED_RATE, "tpr_carried_5pct": _CARRIED_RATE,
    },
}
_MATRIX_EXTREME: dict[str, Any] = {
    "type": ["object", "null"],
    "additionalProperties": False,
    "required": ["value", "train", "test"],
    "properties": {"value": _RATE, "ci": _CI, "train": _SET_NAME, "test": _SET_NAME},
}
_SET_NAMES = {"type": "array", "items": _SET_NAME, "maxItems": MAX_MATRIX_CELLS}
# The cross-corpus matrix an entry carries: recomputed from the stored document at submit and at validate.
MATRIX: dict[str, Any] = {
    "description": "matrix: the cross-corpus matrix of `mom-bench matrix` submitted with the entry (a detector "
                   "trained on each training set, scored on each test set with the thresholds of its training "
                   "set's validation split carried). Every number is recomputed from the predictions kept in the "
                   "stored document; labels are compared with the builds where they were found (labels_checked)",
    "type": "object",
    "additionalProperties": False,
    "required": ["stored", "stored_sha256", "file_sha256", "model", "threshold", "n_bootstrap", "seed", "n_rows",
                 "labels_checked", "unchecked_sets", "training_sets", "test_sets", "cells",
                 "worst_fpr_carried_5pct", "lowest_auc_off_home"],
    "properties": {
        "stored": {"type": "string", "pattern": SLUG_PATTERN[:-1] + MATRIX_SUFFIX.replace(".", r"\.") + "$",
                   "description": "file beside the entry holding the compact matrix document (MATRIX_DOCUMENT)"},
        "stored_sha256": {**_SHA256, "description": "sha256 of that file"},
        "file_sha256": {**_SHA256, "description": "sha256 of the matrix.json submitted"},
        "model": {**_LABEL, "description": "the model `mom-bench matrix` trained (as it was asked for)"},
        "threshold": {"type": "number", "minimum": 0, "maximum": 1, "description": "the fixed threshold"},
        "n_bootstrap": {"type": "integer", "minimum": 1, "maximum": 10_000},
        "seed": {"type": "integer", "minimum": 0},
        "n_rows": {**_COUNT, "description": "prediction rows kept: validation rows and every cell's rows"},
        "labels_checked": {"type": "boolean",
                           "description": "every set's rows (ids, splits, labels, generators, sources) were "
                                          "compared with its build at submission"},
        "unchecked_sets": {
            "type": "object", "additionalProperties": False, "required": ["training_sets", "test_sets"],
            "properties": {"training_sets": _SET_NAMES, "test_sets": _SET_NAMES},
            "description": "sets whose build was not found at submission: their labels are the submitter's"},
        "training_sets": {**_SET_NAMES, "minItems": 1},
        "test_sets": {**_SET_NAMES, "minItems": 1},
        "cells": {"type": "array", "minItems": 1, "maxItems": MAX_MATRIX_CELLS, "items": _MATRIX_CELL},
        "worst_fpr_carried_5pct": {**_MATRIX_EXTREME, "description": "the cell off the home set (home false) with "
                                                                     "the highest FPR at the carried 5 % threshold"},
        "lowest_auc_off_home": {**_MATRIX_EXTREME, "description": "the cell off the home set with the lowest AUC"},
    },
}

_TEXT_COLUMN = {"type": "array", "items": {"type": "string", "maxLength": 1000}}
# A table of predictions as columns of equal length (the columns of the predictions files of `mom-bench matrix`).
_PREDICTION_COLUMNS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "from_split", "generator", "decoder_family", "label", "score", "source"],
    "description": "one row per song, in the order of the file it came from (the bootstrap draws follow it)",
    "properties": {
        "id": {"type": "array", "items": PREDICTION_ROW["properties"]["id"]},
        "from_split": _TEXT_COLUMN, "generator": _TEXT_COLUMN,
        "decoder_family": {**_TEXT_COLUMN, "description": "the generator's decoder family; empty for reals"},
        "label": {"type": "array", "items": {"enum": [0, 1]}, "description": "1 fake, 0 real"},
        "score": {"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 1}},
        "source": {"type": "array", "items": {"type": ["string", "null"], "maxLength": 1000},
                   "description": "the build's source column (a real's pool); null where it has none"},
    },
}
_MATRIX_SET: dict[str, Any] = {
    "name": _SET_NAME,
    "benchmark": {"type": "string", "minLength": 1, "maxLength": 200},
    "version": {"type": ["string", "null"], "maxLength": 40},
    "fingerprint": _SHA256, "label_fingerprint": _SHA256, "base_fingerprint": _SHA256,
    "held_out": {"type": "array", "items": _LABEL, "maxItems": 1000},
}
MATRIX_DOCUMENT: dict[str, Any] = {
    **_closed_document("matrix-document", "The cross-corpus matrix kept beside a leaderboard entry"),
    "description": "<slug>.matrix.json: a compact copy of the matrix.json of `mom-bench matrix` and of its "
                   "predictions files, from which `leaderboard validate` recomputes the entry's matrix summary. "
                   "Absolute paths of the submitter's machine are not kept",
    "required": ["schema_version", "model", "threshold", "n_bootstrap", "seed", "source_sha256", "training_sets",
                 "test_sets", "cells"],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "model": MATRIX["properties"]["model"],
        "threshold": MATRIX["properties"]["threshold"],
        "n_bootstrap": MATRIX["properties"]["n_bootstrap"],
        "seed": MATRIX["properties"]["seed"],
        "source_sha256": {**_SHA256, "description": "sha256 of the matrix.json it was made from"},
        "training_sets": {"type": "array", "minItems": 1, "maxItems": MAX_MATRIX_CELLS, "items": {
            "type": "object", "additionalProperties": False,
            "required": [*_MATRIX_SET, "thresholds", "validation"],
            "properties": {**_MATRIX_SET,
                           "thresholds": {"type": "object", "additionalProperties": {"type": ["number", "null"]},
                                          "description": "rule -> the threshold chosen on the validation rows "
                                                         "(null: not resolvable there)"},
                           "validation": {**_PREDICTION_COLUMNS, "description": "the training set's validation "
                                                                                "predictions"}}}},
        "test_sets": {"type": "array", "minItems": 1, "maxItems": MAX_MATRIX_CELLS, "items": {
            "type": "object", "additionalProperties": False,
            "required": [*_MATRIX_SET, "splits", "pool"],
            "properties": {**_MATRIX_SET,
                           "splits": {"type": "array", "minItems": 1, "maxItems": 20, "items": _LABEL},
                           "pool": {**_LABEL, "type": ["string", "null"], "maxLength": 1000,
                                    "description": "the pool of reals kept (all fakes kept); null: every real"}}}},
        "cells": {"type": "array", "minItems": 1, "maxItems": MAX_MATRIX_CELLS, "items": {
            "type": "object", "additionalProperties": False,
            "required": ["train", "test", "excluded_overlap", "predictions"],
            "properties": {"train": _SET_NAME, "test": _SET_NAME,
                           "excluded_overlap": {**_COUNT, "description": "test rows left out: the training set "
                                                                         "trained or validated on them"},
                           "predictions": {**_PREDICTION_COLUMNS, "description": "the cell's predictions"}}}},
    },
}

#: The suffix of the timeline kept beside an entry scored from a timeline file (``<slug>.timeline.csv``).
TIMELINE_SUFFIX = ".timeline.csv"


def localisation_schema() -> dict[str, Any]:
    """An entry's ``localisation`` object (a timeline submission's localisation metrics), with the localisation
    metrics registered now."""
    metrics = metric_registry.localisation_metrics()
    return {
        "description": "localisation: the entry was submitted as a timeline (id,start,end,p_fake per scored window) "
                       "and is scored against the songs' segments of the build over the scored test splits; its "
                       "song-level rows use each song's highest window P(fake). Every number is re-scored from the "
                       "timeline stored beside the entry",
        "type": "object",
        "additionalProperties": False,
        "required": ["file_sha256", "format", "n_windows", "n_songs", "n_songs_with_ai", "n_songs_mixed",
                     "n_songs_without_windows", "seconds", "frame_s", "tolerance_s", "threshold", "n_bootstrap",
                     "seed", "coverage", "metrics"],
        "properties": {
            "stored": {"type": ["string", "null"], "pattern": SLUG_PATTERN[:-1] + TIMELINE_SUFFIX.replace(".", r"\.")
                       + "$", "description": "file beside the entry holding the checked timeline (sorted by id)"},
            "stored_sha256": {"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$"},
            "file_sha256": {**_SHA256, "description": "sha256 of the submitted timeline file's bytes"},
            "format": {"enum": ["csv", "parquet"]},
            **{key: _COUNT for key in ("n_windows", "n_songs", "n_songs_with_ai", "n_songs_mixed",
                                       "n_songs_without_windows")},
            "seconds": {"type": "number", "minimum": 0},
            "frame_s": {"type": "number", "minimum": 0}, "tolerance_s": {"type": "number", "minimum": 0},
            "threshold": {"type": "number", "minimum": 0, "maximum": 1},
            "n_bootstrap": {"type": "integer", "minimum": 1}, "seed": {"type": "integer", "minimum": 0},
            "coverage": _metric("share of the songs' time some window holds"),
            "metrics": {"type": "object", "additionalProperties": False, "required": [m.key for m in metrics],
                        "properties": {m.key: _metric(m.definition) for m in metrics}},
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
    **_closed_document("entry-reproduced", "A leaderboard entry scored by mom-bench from a predictions file"),
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
        "robustness": ROBUSTNESS,
        "localisation": localisation_schema(),
        "matrix": MATRIX,
        "run": RUN,
        "report": {"type": "object", "description": "mom_bench.report.metrics.compute_report on the test splits"},
        "report_all_tests": {"type": "object",
                             "description": "compute_report with every test split pooled as one ('test')"},
        "command": {"type": ["string", "null"], "maxLength": 2000},
        "mom_bench_version": {"type": "string", "minLength": 1},
        "date": {"type": "string", "format": "date", "description": "day the entry was scored"},
    },
}

ENTRY_REPORTED: dict[str, Any] = {
    **_closed_document("entry-reported", "A leaderboard entry copied from a publication (not scored here)"),
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


def _published_numbers() -> dict[str, Any]:
    """A plain number for the primary metric and each leaderboard column of the registry."""
    return {k: _PUBLISHED_NUMBER for k in (metric_registry.PRIMARY, *(c.key for c in metric_registry.board_columns()))}

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
                **_published_numbers(),
                "per_generator": {"type": "object", "additionalProperties": {
                    "type": "object", "additionalProperties": False,
                    "properties": {"f1": _PUBLISHED_NUMBER, "tpr": _PUBLISHED_NUMBER}}},
            },
        },
    },
}

# baselines/<model>.yaml: how a reference model is trained here, and what its authors published.
RECIPE: dict[str, Any] = {
    **_closed_document("baseline-recipe", "A reference model's recipe (baselines/<model>.yaml)"),
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


def entry_schema(kind: str) -> dict[str, Any]:
    """:data:`ENTRY_SCHEMAS` ``[kind]`` with the summary of the metrics registered now (the constants were
    built with the built-in ones, at import)."""
    base = ENTRY_SCHEMAS[kind]
    fresh = {"summary": summary_schema()} | ({"localisation": localisation_schema()} if kind == "reproduced" else {})
    return {**base, "properties": {**base["properties"], **fresh}}
SCHEMAS = {"prediction-row": PREDICTION_ROW, "timeline-row": TIMELINE_ROW, "submission-meta": SUBMISSION_META,
           "entry-reproduced": ENTRY_REPRODUCED, "entry-reported": ENTRY_REPORTED, "baseline-recipe": RECIPE,
           "matrix-document": MATRIX_DOCUMENT}
