"""A matrix folder of ``mom-bench matrix`` carried into a leaderboard entry (``submit --matrix DIR``).

The folder is a stranger's: ``matrix.json`` is read bounded and checked against its schema
(:func:`mom_bench.report.matrix_render.check_matrix`); the predictions files it names are read only through
relative paths that stay inside the folder (no ``..``, no link leading out, regular files only), bounded in
bytes and in rows, each checked against the sha256 matrix.json records for it. Where a set's build is at hand
its rows are compared with the build (:mod:`.matrix_labels`). Then every number is recomputed from the
predictions, the thresholds re-chosen on the validation rows first (:mod:`.matrix_document`), and any claimed
number of matrix.json that differs (a cell's AUC, its rates at each carried threshold, a threshold) refuses
the folder, the cell and the field named. What is kept beside the entry is the compact stored document, and the
entry carries its summary.
"""
from __future__ import annotations

import csv
import hashlib
import io
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from mom_bench.core.errors import DocumentError, MetricsError, UnsafePath
from mom_bench.core.files import read_regular
from mom_bench.leaderboard import matrix_document, matrix_labels, schema
from mom_bench.leaderboard.scoring import SubmissionRejected, same_numbers
from mom_bench.leaderboard.submission_files import _score_value
from mom_bench.report.matrix_render import check_matrix

#: What of a matrix.json cell is compared with the cell re-scored from its predictions.
_CELL_NUMBERS = ("n", "n_fake", "n_real", "auc", "eer", "carried", "per_decoder_family", "per_real_pool")
_SHOWN = 8  # differences listed per cell before summarising


@dataclass(frozen=True)
class MatrixLimits:
    """Budgets for a submitted matrix folder, each enforced before or while a file is read."""

    #: matrix.json itself: its cells and sets, never the predictions
    json_bytes: int = 64 * 1024 * 1024
    #: one predictions file (a cell's or a training set's validation rows)
    csv_bytes: int = 256 * 1024 * 1024
    #: prediction rows of every file together (what the stored document keeps)
    rows: int = matrix_document.MAX_ROWS
    #: the stored document
    stored_bytes: int = matrix_document.MAX_STORED_BYTES


DEFAULT_MATRIX_LIMITS = MatrixLimits()


@dataclass(frozen=True)
class MatrixClaim:
    """The entry's matrix block (:data:`schema.MATRIX`, without the stored file's name and hash) and the text
    of the stored document."""

    block: dict[str, Any]
    text: str


def matrix_claim(folder: Path | str, build_dirs: Iterable[Path | str] = (), *,
                 known: Mapping[Path, Mapping[str, Any]] | None = None,
                 limits: MatrixLimits = DEFAULT_MATRIX_LIMITS) -> MatrixClaim:
    """Check and re-score the matrix folder ``folder`` (see the module docstring). The sets' rows are compared
    with the builds at hand (:func:`matrix_labels.builds_at_hand`): ``build_dirs`` (each must be a build),
    ``known`` (builds verified already, folder -> info) and each set's benchmark's default folder. Raises
    SubmissionRejected listing the problems, each naming the file (and the cell, row and field) it is about."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SubmissionRejected([f"matrix {folder}: not a folder (give the folder `mom-bench matrix` wrote)"])
    home = folder.resolve()
    source = home / "matrix.json"
    try:
        raw = read_regular(source, home, limits.json_bytes)
    except UnsafePath as err:
        raise SubmissionRejected([f"matrix {source}: {err} (the limit for a matrix.json is {limits.json_bytes:,} "
                                  "bytes)" if "larger than" in str(err) else f"matrix {source}: {err}"]) from None
    claimed, problems = matrix_document.parse(raw)
    if claimed is None:
        raise SubmissionRejected([f"matrix {source}: {p}" for p in problems])
    try:
        check_matrix(claimed)
    except DocumentError as err:
        raise SubmissionRejected([f"matrix {source}: {err}"]) from None
    if claimed["n_bootstrap"] > schema.MATRIX["properties"]["n_bootstrap"]["maximum"]:
        raise SubmissionRejected([f"matrix {source}: n_bootstrap {claimed['n_bootstrap']:,} is over the limit of "
                                  f"{schema.MATRIX['properties']['n_bootstrap']['maximum']:,}"])
    files: dict[tuple[str, ...], str] = {}
    doc, problems = _stored_document(claimed, home, hashlib.sha256(raw).hexdigest(), limits, files)
    if doc is None or problems:
        raise SubmissionRejected(problems)
    problems = matrix_document.problems(doc)
    if problems:
        raise SubmissionRejected([f"matrix {source}: {p}" for p in problems])
    builds, problems = matrix_labels.builds_at_hand(doc, build_dirs, known)
    if problems:
        raise SubmissionRejected(problems)

    def locate(table: tuple[str, ...], row: int | None) -> str:
        # header is line 1 of a predictions file
        return f"matrix {home / files[table]}" + ("" if row is None else f": line {row + 2}")

    labels = matrix_labels.check_labels(doc, builds, locate)
    if labels.problems:
        raise SubmissionRejected(labels.problems)
    try:
        again = matrix_document.rescore(doc)
    except MetricsError as err:
        raise SubmissionRejected([f"matrix {source}: cannot be re-scored: {err}"]) from None
    problems = _claimed_differences(claimed, again, files)
    if problems:
        raise SubmissionRejected([f"matrix {source}: {p}" for p in problems])
    text = matrix_document.document_text(doc)
    size = len(text.encode("utf-8"))
    if size > limits.stored_bytes:
        raise SubmissionRejected([f"matrix {source}: the stored document would be {size:,} bytes, over the limit "
                                  f"of {limits.stored_bytes:,}; submit fewer cells or sets"])
    block = {**matrix_document.summary(doc, again, labels.unchecked), "file_sha256": hashlib.sha256(raw).hexdigest()}
    return MatrixClaim(block, text)


def _stored_document(claimed: dict[str, Any], home: Path, digest: str, limits: MatrixLimits,
                     files: dict[tuple[str, ...], str]) -> tuple[dict[str, Any] | None, list[str]]:
    """The stored document (:data:`schema.MATRIX_DOCUMENT`) of a matrix.json that fits its schema, each table
    read from its file; ``files`` gets each table's file, relative to the folder."""
    problems: list[str] = []
    budget = [limits.rows]
    keep = ("name", "benchmark", "version", "fingerprint", "label_fingerprint", "base_fingerprint", "held_out")
    trains = []
    for t in claimed["training_sets"]:
        key: tuple[str, ...] = ("validation", t["name"])
        files[key] = t["validation_predictions"]
        columns = _table(home, t["validation_predictions"], None, limits, budget, problems)
        trains.append({**{k: t[k] for k in keep}, "thresholds": matrix_document.threshold_values(t["thresholds"]),
                       "validation": columns})
    cells = []
    for c in claimed["cells"]:
        key = ("cell", c["train"], c["test"])
        files[key] = c["predictions"]
        columns = _table(home, c["predictions"], c["predictions_sha256"] or None, limits, budget, problems)
        cells.append({"train": c["train"], "test": c["test"], "excluded_overlap": c["excluded_overlap"],
                      "predictions": columns})
        if budget[0] < 0:
            break
    if problems:
        return None, problems
    return {"schema_version": schema.SCHEMA_VERSION, "model": claimed["model"]["requested"],
            "threshold": claimed["threshold"], "n_bootstrap": claimed["n_bootstrap"], "seed": claimed["seed"],
            "source_sha256": digest, "training_sets": trains,
            "test_sets": [{**{k: t[k] for k in keep}, "splits": t["splits"], "pool": t["pool"]}
                          for t in claimed["test_sets"]],
            "cells": cells}, []


def _inside(home: Path, relative: str) -> Path:
    """``home/relative`` when ``relative`` is a plain relative path that stays inside ``home`` once every link
    on the way is followed; raises UnsafePath otherwise."""
    parts = PurePosixPath(relative)
    if not relative or parts.is_absolute() or ".." in parts.parts or "\\" in relative:
        raise UnsafePath(f"{relative!r} is not a plain path inside the matrix folder")
    try:
        target = (home / parts).resolve(strict=True)
    except OSError as err:
        raise UnsafePath(f"{relative} cannot be read ({err.strerror or err})") from None
    if not target.is_relative_to(home):
        raise UnsafePath(f"{relative} leads out of the matrix folder (to {target})")
    return target


def _table(home: Path, relative: str, sha256: str | None, limits: MatrixLimits, budget: list[int],
           problems: list[str]) -> dict[str, list]:
    """The columns of one predictions file, with what is wrong added to ``problems`` (naming the file);
    ``budget`` holds the rows still allowed."""
    empty: dict[str, list] = {name: [] for name in matrix_document.COLUMNS}
    if budget[0] < 0:
        return empty
    try:
        raw = read_regular(_inside(home, relative), home, limits.csv_bytes)
    except UnsafePath as err:  # its message names the file
        problems.append(f"matrix {home}: {err}" + (
            f" (the limit for a predictions file is {limits.csv_bytes:,} bytes)" if "larger than" in str(err) else ""))
        return empty
    if sha256 is not None and hashlib.sha256(raw).hexdigest() != sha256:
        problems.append(f"matrix {home / relative}: sha256 {hashlib.sha256(raw).hexdigest()[:12]}... is not the "
                        f"{sha256[:12]}... matrix.json records for it (edited after the matrix was made?)")
        return empty
    columns, found = _parse_csv(raw, budget)
    problems += [f"matrix {home / relative}: {p}" for p in found]
    return columns


def _parse_csv(raw: bytes, budget: list[int]) -> tuple[dict[str, list], list[str]]:
    """The columns of a predictions file, read by the csv module as text (ids stay text: "007" survives)."""
    out: dict[str, list] = {name: [] for name in matrix_document.COLUMNS}
    if b"\x00" in raw:
        return out, ["malformed CSV: it contains NUL bytes"]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        return out, [f"malformed CSV: not UTF-8 text (byte {err.start})"]
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    problems: list[str] = []
    try:
        header = next(reader, [])
        if header != list(matrix_document.COLUMNS):
            return out, [f"header {','.join(header)[:200]!r}: expected {','.join(matrix_document.COLUMNS)}"]
        for fields in reader:
            if len(problems) >= 5:
                problems.append("(and more; reading stopped)")
                break
            if not fields:
                continue
            line = reader.line_num
            if len(fields) != len(header):
                problems.append(f"line {line}: {len(fields)} fields, the header has {len(header)}")
                continue
            budget[0] -= 1
            if budget[0] < 0:
                problems.append(f"line {line}: over the limit of prediction rows for a whole matrix (reading "
                                "stopped); submit fewer cells or sets")
                break
            ident, split, generator, family, label, score, source = fields
            value = _score_value(score.strip())
            if not (math.isfinite(value) and 0.0 <= value <= 1.0):
                problems.append(f"line {line}: score {score[:20]!r} is not a number in [0, 1]")
            if label not in ("0", "1"):
                problems.append(f"line {line}: label {label[:20]!r} is not 0 or 1")
            for name, cell in zip(matrix_document.COLUMNS, (ident, split, generator, family, label, value, source)):
                out[name].append(cell)
    except csv.Error as err:
        return out, [f"malformed CSV at line {reader.line_num}: {err}"]
    out["label"] = [1 if v == "1" else 0 for v in out["label"]]
    out["source"] = [v or None for v in out["source"]]
    return out, problems


def _claimed_differences(claimed: Mapping[str, Any], again: matrix_document.Rescored,
                         files: Mapping[tuple[str, ...], str]) -> list[str]:
    """Every number of matrix.json that is not the one recomputed: each training set's thresholds, and each
    cell's counts, AUC, EER and rates at each carried threshold, per decoder family and per pool too."""
    out = []
    for t in claimed["training_sets"]:
        fresh = again.thresholds[t["name"]]
        out += [f"training set {t['name']!r}: thresholds/{path}: claimed {mine}, re-chosen on "
                f"{files[('validation', t['name'])]} {theirs}"
                for path, mine, theirs in _differences(t["thresholds"]["thresholds"], fresh["thresholds"])]
    for c in claimed["cells"]:
        fresh = again.cells[(c["train"], c["test"])]
        found = [(path, mine, theirs) for key in _CELL_NUMBERS
                 for path, mine, theirs in _differences(c.get(key), fresh.get(key), key)]
        where = f"cell {c['train']!r} x {c['test']!r}"
        out += [f"{where}: {path}: claimed {mine}, recomputed from {c['predictions']} {theirs}"
                for path, mine, theirs in found[:_SHOWN]]
        if len(found) > _SHOWN:
            out.append(f"{where}: and {len(found) - _SHOWN} more numbers differ")
    return out


def _differences(mine: Any, theirs: Any, path: str = "") -> list[tuple[str, str, str]]:
    """(path, claimed, recomputed) of each number that differs; a statistic is one number (its value, then its
    interval), a rate's confusion counts another."""
    if isinstance(mine, dict) and isinstance(theirs, dict) and "value" not in theirs:
        keys = list(theirs) + [k for k in mine if k not in theirs]
        return [d for k in keys for d in _differences(mine.get(k), theirs.get(k), f"{path}/{k}".lstrip("/"))]
    if same_numbers(mine, theirs):
        return []
    if isinstance(mine, dict) and isinstance(theirs, dict) and same_numbers(mine.get("value"), theirs.get("value")):
        return [(f"{path}/ci", matrix_document.shown(mine.get("ci")), matrix_document.shown(theirs.get("ci")))]
    return [(path, matrix_document.shown(mine), matrix_document.shown(theirs))]
