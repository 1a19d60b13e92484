"""The cross-corpus matrix an entry carries, as it is kept beside the entry (``<slug>.matrix.json``,
:data:`schema.MATRIX_DOCUMENT`): the sets of ``mom-bench matrix``, and each training set's validation
predictions and each cell's predictions as columns, in the order of the files they came from (the bootstrap
draws follow the row order, so the order is part of the numbers).

Every number the entry shows is drawn from this document, the same way at submit and at validate: the
thresholds re-chosen on each training set's validation predictions (:func:`carried.home_thresholds`), each cell
re-scored with them carried (:func:`carried.cell_metrics`, the functions the matrix itself used), and the
summary (:data:`schema.MATRIX`) read off those cells.
"""
from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pandas as pd

from mom_bench.core.errors import UnsafePath
from mom_bench.core.files import read_regular
from mom_bench.leaderboard import schema
from mom_bench.leaderboard.scoring import jsonable, same_numbers
from mom_bench.leaderboard.submission_files import json_object
from mom_bench.report import documents
from mom_bench.report.metrics import carried

COLUMNS = carried.PREDICTION_COLUMNS
#: The carried threshold the summary and the boards show: the home 5 % FPR budget of the cross-corpus studies.
HEADLINE = "fpr_5pct"
#: Prediction rows a stored matrix may hold in all (validation rows and every cell's rows): a MoM test set is
#: ~40k rows, so this is a grid of some fifty full cells. Each row is ~100 bytes of JSON.
MAX_ROWS = 2_000_000
#: The stored document's size, in bytes: :data:`MAX_ROWS` rows and their sets fit well inside.
MAX_STORED_BYTES = 256 * 1024 * 1024
#: Re-scoring draws ``n_bootstrap`` resamples of every cell (and of its families and pools): rows times
#: resamples bounds the work submit and validate do for a document they did not write.
MAX_BOOTSTRAP_ROWS = 2_000_000_000
#: The fields of the entry's matrix block recomputed from the document (the rest name files and hashes, or say
#: what was compared with builds at submission).
SUMMARY_FIELDS = tuple(k for k in schema.MATRIX["required"]
                       if k not in ("stored", "stored_sha256", "file_sha256", "labels_checked", "unchecked_sets"))
_TEXT = 1000  # the schema's longest text cell


def document_text(doc: Mapping[str, Any]) -> str:
    """The stored form: one line of compact JSON with sorted keys, so a document has one text and one hash."""
    return json.dumps(doc, ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")) + "\n"


#: The JSON object in the raw bytes of a document, or None with why not.
parse = json_object


def read_stored(entry_path: Path, claim: Mapping[str, Any]) -> tuple[dict[str, Any] | None, list[str]]:
    """The document kept beside the entry at ``entry_path`` whose matrix block is ``claim``: a regular file inside
    the entry's folder, read no further than :data:`MAX_STORED_BYTES`, with the sha256 the entry records, made
    from the matrix.json the entry names and without :func:`problems`; None with the problems otherwise."""
    doc_path = entry_path.parent / claim["stored"]
    try:
        raw = read_regular(doc_path, entry_path.parent, MAX_STORED_BYTES)
    except UnsafePath as err:
        return None, [f"stored matrix document {doc_path.name} is missing or unusable ({err})"]
    digest = hashlib.sha256(raw).hexdigest()
    if digest != claim["stored_sha256"]:
        return None, [f"{doc_path}: sha256 {digest[:12]}... does not match the entry's matrix stored_sha256 "
                      f"{claim['stored_sha256'][:12]}... (edited after submission?)"]
    doc, found = parse(raw)
    if doc is not None:
        found = problems(doc)
    if not found and doc is not None and doc["source_sha256"] != claim["file_sha256"]:
        found = [f"made from a matrix.json with sha256 {doc['source_sha256'][:12]}..., the entry's file_sha256 is "
                 f"{claim['file_sha256'][:12]}..."]
    if found or doc is None:
        return None, [f"matrix from {doc_path.name}: {p}" for p in found]
    return doc, []


# --------------------------------------------------------------------------------------------------
# shape


def problems(doc: Any) -> list[str]:
    """Why ``doc`` is not a stored matrix document this module can re-score: its schema, its columns (checked
    here rather than item by item by the schema validator, which would take minutes on millions of rows),
    names that refer to no set, and the budgets (:data:`MAX_ROWS`, :data:`MAX_BOOTSTRAP_ROWS`)."""
    found = schema.text_problems(_skeleton(doc)) + schema.validate(_skeleton(doc), schema.MATRIX_DOCUMENT)
    if found:
        return found[:20] + ([f"and {len(found) - 20} more"] if len(found) > 20 else [])
    out: list[str] = []
    for t in doc["training_sets"]:
        out += _column_problems(t["validation"], f"training set {t['name']!r}: validation")
    for c in doc["cells"]:
        out += _column_problems(c["predictions"], f"cell {c['train']!r} x {c['test']!r}: predictions")
    out += _reference_problems(doc)
    if out:
        return out
    rows = n_rows(doc)
    if rows > MAX_ROWS:
        out.append(f"{rows:,} prediction rows in all, over the limit of {MAX_ROWS:,}")
    elif rows * doc["n_bootstrap"] > MAX_BOOTSTRAP_ROWS:
        out.append(f"{rows:,} rows x {doc['n_bootstrap']:,} bootstrap resamples is over the limit of "
                   f"{MAX_BOOTSTRAP_ROWS:,}: re-scoring would take too long (use fewer resamples)")
    return out


def n_rows(doc: Mapping[str, Any]) -> int:
    return (sum(len(t["validation"]["id"]) for t in doc["training_sets"])
            + sum(len(c["predictions"]["id"]) for c in doc["cells"]))


def _skeleton(doc: Any) -> Any:
    """``doc`` with every column emptied: what the schema validator walks (the columns are checked apart)."""
    if not isinstance(doc, dict):
        return doc
    out = dict(doc)
    for key, table in (("training_sets", "validation"), ("cells", "predictions")):
        items = doc.get(key)
        if isinstance(items, list):
            out[key] = [{**item, table: {c: [] if isinstance(v, list) else v for c, v in item[table].items()}}
                        if isinstance(item, dict) and isinstance(item.get(table), dict) else item for item in items]
    return out


def _is_text(value: Any, longest: int = _TEXT) -> bool:
    return isinstance(value, str) and len(value) <= longest


def _is_score(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value) and 0 <= value <= 1


_COLUMN_RULES = {
    "id": (lambda v: _is_text(v, 500) and v != "", "a non-empty id of at most 500 characters"),
    "from_split": (_is_text, "a split name"),
    "generator": (_is_text, "a generator id"),
    "decoder_family": (_is_text, "a decoder family (empty for reals)"),
    "label": (lambda v: type(v) is int and v in (0, 1), "0 or 1"),
    "score": (_is_score, "a number in [0, 1]"),
    "source": (lambda v: v is None or _is_text(v), "a source name or null"),
}


def _column_problems(columns: Mapping[str, list], where: str) -> list[str]:
    lengths = {name: len(columns[name]) for name in COLUMNS}
    if len(set(lengths.values())) != 1:
        return [f"{where}: columns of unequal lengths ({', '.join(f'{k} {v}' for k, v in lengths.items())})"]
    if not lengths["id"]:
        return [f"{where}: no rows"]
    out = []
    for name, (ok, expected) in _COLUMN_RULES.items():
        bad = next((i for i, v in enumerate(columns[name]) if not ok(v)), None)
        if bad is not None:
            out.append(f"{where}: row {bad}: {name} {shown(columns[name][bad])} is not {expected}")
    ids = pd.Series(columns["id"], dtype=object)
    if not out and ids.duplicated().any():
        out.append(f"{where}: id {ids[ids.duplicated()].iloc[0]!r} occurs more than once")
    return out


def _reference_problems(doc: Mapping[str, Any]) -> list[str]:
    out = []
    for key in ("training_sets", "test_sets"):
        names = pd.Series([s["name"] for s in doc[key]], dtype=object)
        out += [f"{key}: the name {n!r} is used twice" for n in names[names.duplicated()].unique()]
    trains = {t["name"] for t in doc["training_sets"]}
    tests = {t["name"] for t in doc["test_sets"]}
    seen: set[tuple[str, str]] = set()
    for c in doc["cells"]:
        pair = (c["train"], c["test"])
        if c["train"] not in trains:
            out.append(f"cell {c['train']!r} x {c['test']!r}: no training set is named {c['train']!r}")
        if c["test"] not in tests:
            out.append(f"cell {c['train']!r} x {c['test']!r}: no test set is named {c['test']!r}")
        if pair in seen:
            out.append(f"cell {c['train']!r} x {c['test']!r} occurs twice")
        seen.add(pair)
    return out


# --------------------------------------------------------------------------------------------------
# re-scoring


def frame(columns: Mapping[str, list]) -> pd.DataFrame:
    """A table of predictions as :func:`carried.cell_metrics` reads it. A ``source`` column that is empty
    throughout is dropped: the matrix wrote one for a build without sources, whose cells have no pools."""
    out = pd.DataFrame({name: columns[name] for name in COLUMNS})
    out["id"] = out["id"].astype(str)
    out["label"] = out["label"].astype(int)
    out["score"] = out["score"].astype(float)
    if out["source"].isna().all():
        out = out.drop(columns="source")
    return out


@dataclass(frozen=True)
class Rescored:
    """What :func:`rescore` recomputes: each training set's thresholds and each cell's numbers, as JSON."""

    thresholds: dict[str, dict[str, Any]]
    cells: dict[tuple[str, str], dict[str, Any]]


def rescore(doc: Mapping[str, Any]) -> Rescored:
    """Thresholds from the validation rows alone, then every cell with them carried (raises ``MetricsError``
    when a table cannot be scored). ``doc`` has no :func:`problems`."""
    thresholds = {}
    for t in doc["training_sets"]:
        rows = frame(t["validation"]).rename(columns={"from_split": "split"})
        thresholds[t["name"]] = jsonable(carried.home_thresholds(rows, threshold=doc["threshold"], seed=doc["seed"]))
    cells = {}
    for c in doc["cells"]:
        rows = frame(c["predictions"])
        fakes = rows[rows["label"] == 1]
        families = dict(zip(fakes["generator"], fakes["decoder_family"]))
        metrics = carried.cell_metrics(cast(documents.FrozenThresholds, thresholds[c["train"]]), rows,
                                       decoder_families=families, n_bootstrap=doc["n_bootstrap"], seed=doc["seed"])
        cells[(c["train"], c["test"])] = jsonable(metrics)
    return Rescored(thresholds, cells)


def threshold_values(frozen: Mapping[str, Any]) -> dict[str, float | None]:
    """rule -> threshold of a :class:`documents.FrozenThresholds` (what the stored document keeps)."""
    return {rule: entry["threshold"] for rule, entry in frozen["thresholds"].items()}


def threshold_differences(doc: Mapping[str, Any], again: Rescored) -> list[str]:
    """Each training set whose stored thresholds are not those re-chosen on its validation rows."""
    out = []
    for t in doc["training_sets"]:
        fresh = threshold_values(again.thresholds[t["name"]])
        if not same_numbers(t["thresholds"], fresh):
            out.append(f"training set {t['name']!r}: thresholds {shown(t['thresholds'])} are not those re-chosen on "
                       f"its validation predictions, {shown(fresh)}")
    return out


# --------------------------------------------------------------------------------------------------
# summary


def is_home(doc: Mapping[str, Any], train: str, test: str) -> bool:
    """Whether the test set holds rows of the training set's own build (same base build): not cross-corpus."""
    base = {("train", t["name"]): t["base_fingerprint"] for t in doc["training_sets"]}
    base.update({("test", t["name"]): t["base_fingerprint"] for t in doc["test_sets"]})
    return base[("train", train)] == base[("test", test)]


def _stat(block: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if block is None else {"value": block["value"], "ci": block.get("ci")}


def _extreme(cell: Mapping[str, Any] | None, key: str) -> dict[str, Any] | None:
    return None if cell is None else {**cell[key], "train": cell["train"], "test": cell["test"]}


def summary(doc: Mapping[str, Any], again: Rescored, unchecked: Mapping[str, Iterable[str]]) -> dict[str, Any]:
    """The entry's matrix block (:data:`schema.MATRIX`) but its file names and hashes: per cell the AUC and the
    FPR / TPR at the carried 5 % threshold, and over the cells off the home set the highest such FPR and the
    lowest AUC (ties: the first in the document's order). ``unchecked``: the names of the training sets and of
    the test sets whose builds were not at hand (``training_sets``, ``test_sets``)."""
    skip_train, skip_test = set(unchecked.get("training_sets", ())), set(unchecked.get("test_sets", ()))
    cells = []
    for c in doc["cells"]:
        m = again.cells[(c["train"], c["test"])]
        point = m["carried"].get(HEADLINE)
        cells.append({"train": c["train"], "test": c["test"], "home": is_home(doc, c["train"], c["test"]),
                      "labels_checked": c["train"] not in skip_train and c["test"] not in skip_test,
                      "n_fake": m["n_fake"], "n_real": m["n_real"], "auc": _stat(m["auc"]),
                      "fpr_carried_5pct": _stat(point["fpr"]) if point else None,
                      "tpr_carried_5pct": _stat(point["tpr"]) if point else None})
    off = [c for c in cells if not c["home"]]
    worst = max((c for c in off if (c["fpr_carried_5pct"] or {}).get("value") is not None),
                key=lambda c: c["fpr_carried_5pct"]["value"], default=None)
    lowest = min((c for c in off if c["auc"]["value"] is not None), key=lambda c: c["auc"]["value"], default=None)
    trains = [t["name"] for t in doc["training_sets"]]
    tests = [t["name"] for t in doc["test_sets"]]
    return {"model": doc["model"], "threshold": doc["threshold"], "n_bootstrap": doc["n_bootstrap"],
            "seed": doc["seed"], "n_rows": n_rows(doc), "labels_checked": not (skip_train or skip_test),
            "unchecked_sets": {"training_sets": [n for n in trains if n in skip_train],
                               "test_sets": [n for n in tests if n in skip_test]},
            "training_sets": trains, "test_sets": tests, "cells": cells,
            "worst_fpr_carried_5pct": _extreme(worst, "fpr_carried_5pct"),
            "lowest_auc_off_home": _extreme(lowest, "auc")}


def summary_differences(claimed: Mapping[str, Any], fresh: Mapping[str, Any]) -> list[str]:
    """Each field of the entry's block (:data:`SUMMARY_FIELDS`) that is not the one recomputed, a cell named by
    its training and test set; empty when all agree."""
    out = []
    for key in SUMMARY_FIELDS:
        if key != "cells" and not same_numbers(claimed.get(key), fresh.get(key)):
            out.append(f"{key}: claimed {shown(claimed.get(key))}, recomputed {shown(fresh.get(key))}")
    theirs = {(c["train"], c["test"]): c for c in claimed.get("cells") or []}
    ours = {(c["train"], c["test"]): c for c in fresh["cells"]}
    for pair, cell in ours.items():
        if pair not in theirs:
            out.append(f"cell {pair[0]!r} x {pair[1]!r}: missing from the summary")
            continue
        out += [f"cell {pair[0]!r} x {pair[1]!r}: {k}: claimed {shown(theirs[pair].get(k))}, recomputed "
                f"{shown(cell[k])}" for k in cell if not same_numbers(theirs[pair].get(k), cell[k])]
    out += [f"cell {a!r} x {b!r}: in the summary but not in the document" for a, b in theirs if (a, b) not in ours]
    return out


def shown(value: Any) -> str:
    """A value for a message: a statistic as its value, anything else as JSON, shortened."""
    if isinstance(value, dict) and "value" in value:
        value = value["value"]
    text = json.dumps(value, ensure_ascii=True, default=str)
    return text if len(text) <= 80 else text[:77] + "..."
