"""Prediction rows written as each file is scored, and an output file that a stopped run can resume.

An output file (CSV or JSON Lines) starts with a header that says how its scores were made, then one row per
file, each written in one piece, flushed at once and fsynced at least every :data:`FSYNC_SECONDS` seconds or
:data:`FSYNC_ROWS` rows, so a killed run keeps (nearly) every finished row:

- CSV: a first line ``# mom-bench predict {json}``, then the column line and the rows (read it with
  ``pandas.read_csv(path, comment="#")``, or skip the first line);
- JSON Lines: a first line ``{"mom_bench_predict": {json}}``, then one object per row.

The header (:func:`run_header`) holds the model, its checkpoint and the checkpoint's sha256, the clip policy,
the aggregation, the threshold, the format and the longest audio read. Resuming (:func:`open_output` with
``resume=True``) refuses a file whose header differs from this run's, naming the fields; it keeps every row
that reads back exactly as it was written and drops a torn last row (a write the kill cut short), whose file
is then scored again. A row that does not read back and is not the last one is damage: refused, not dropped.
"""
from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import time
from pathlib import Path
from typing import IO, Any

from mom_bench.core.errors import PredictionError
from mom_bench.core.files import write_atomic
from mom_bench.core.splits import RowStatus
from mom_bench.loop.prediction import AGGREGATION, COLUMNS, PredictionRow

STREAM_FORMATS = ("csv", "jsonl")
CSV_MARK = "# mom-bench predict "
JSONL_KEY = "mom_bench_predict"
FSYNC_SECONDS = 2.0
FSYNC_ROWS = 50
#: Header fields a resumed run must share with the file; ``checkpoint`` (a path) is only compared when neither
#: side has a sha256 (a Hub id offline), so a checkpoint folder that moved still resumes.
MUST_MATCH = ("model", "checkpoint_sha256", "clip", "aggregation", "threshold", "format", "max_seconds", "columns")


def run_header(model: Any, checkpoint: str | None, *, threshold: float, fmt: str, clip: str,
               max_seconds: float | None) -> dict[str, Any]:
    """What an output file records about the run that wrote it; ``clip``: what of each song was scored."""
    from mom_bench.loop.runs import checkpoint_sha256

    return {"model": getattr(model, "name", type(model).__name__), "checkpoint": checkpoint,
            "checkpoint_sha256": checkpoint_sha256(checkpoint) if checkpoint else None,
            "clip": clip, "aggregation": AGGREGATION, "threshold": float(threshold), "format": fmt,
            "max_seconds": max_seconds, "columns": list(COLUMNS)}


def format_row(row: PredictionRow | dict[str, Any], fmt: str) -> str:
    """One row as the single piece of text written for it, ending in a newline."""
    if fmt == "jsonl":
        return json.dumps({c: row[c] for c in COLUMNS}, ensure_ascii=False) + "\n"  # type: ignore[literal-required]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([row[c] for c in COLUMNS])  # type: ignore[literal-required]
    return buf.getvalue()


def _header_text(header: dict[str, Any], fmt: str) -> str:
    if fmt == "jsonl":
        return json.dumps({JSONL_KEY: header}, ensure_ascii=False) + "\n"
    return CSV_MARK + json.dumps(header, ensure_ascii=False) + "\n" + ",".join(COLUMNS) + "\n"


class RowWriter:
    """Writes rows to an open text stream, one piece per row, flushed at once, fsynced every few seconds or
    rows when the stream is a file. Counts the rows and the failed ones (those kept from a stopped run too)."""

    def __init__(self, stream: IO[str], fmt: str, *, rows: int = 0, failed: int = 0) -> None:
        if fmt not in STREAM_FORMATS:
            raise PredictionError(f"rows are streamed as {' or '.join(STREAM_FORMATS)}, not {fmt}")
        self.stream, self.fmt, self.rows, self.failed = stream, fmt, rows, failed
        self._unsynced, self._synced_at = 0, time.monotonic()

    def write(self, row: PredictionRow) -> None:
        self.stream.write(format_row(row, self.fmt))
        self.stream.flush()
        self.rows += 1
        self.failed += row["status"] != RowStatus.OK
        self._unsynced += 1
        if self._unsynced >= FSYNC_ROWS or time.monotonic() - self._synced_at >= FSYNC_SECONDS:
            self.sync()

    def sync(self) -> None:
        self.stream.flush()
        try:
            os.fsync(self.stream.fileno())
        except (OSError, ValueError, io.UnsupportedOperation):  # stdout to a pipe or a terminal
            pass
        self._unsynced, self._synced_at = 0, time.monotonic()


class Output:
    """An output file open for appending rows: ``done`` holds the files it already has rows for."""

    def __init__(self, path: Path, fh: IO[str], writer: RowWriter, done: set[str]) -> None:
        self.path, self.fh, self.writer, self.done = path, fh, writer, done

    def close(self) -> None:
        self.writer.sync()
        self.fh.close()

    def __enter__(self) -> Output:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_output(path: str | Path, header: dict[str, Any], *, resume: bool = False,
                overwrite: bool = False) -> Output:
    """Open ``path`` to write this run's rows (``header["format"]``): a new file with ``header``, or with
    ``resume`` an existing one whose header matches (a torn last row dropped). An existing file without
    ``resume`` or ``overwrite`` is refused. The file is locked: a second run writing it is refused."""
    path = Path(path)
    fmt = header["format"]
    exists = path.exists()
    if exists and not (resume or overwrite):
        raise PredictionError(f"{path} exists: add --resume to continue it or --overwrite to replace it")
    done: set[str] = set()
    failed = 0
    if exists and resume:
        done, failed, keep = _read_output(path, header)
        with open(path, "rb+") as raw:
            if raw.seek(0, os.SEEK_END) != keep:  # drop the torn last row before appending
                raw.truncate(keep)
                raw.flush()
                os.fsync(raw.fileno())
    else:
        write_atomic(path, _header_text(header, fmt))  # a file that exists always has its header
    fh = open(path, "a", encoding="utf-8", newline="")
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        raise PredictionError(f"{path}: another mom-bench predict is writing it") from None
    return Output(path, fh, RowWriter(fh, fmt, rows=len(done), failed=failed), done)


def _read_output(path: Path, header: dict[str, Any]) -> tuple[set[str], int, int]:
    """(files with a row, failed rows, byte length of the part to keep) of an output file being resumed."""
    data = path.read_bytes()
    text = data.decode("utf-8", errors="surrogateescape")  # a torn tail may end inside a character
    fmt = header["format"]
    old, body_start = _parse_header(path, text, fmt)
    differ = [k for k in MUST_MATCH if old.get(k) != header.get(k)]
    if old.get("checkpoint_sha256") is None and header.get("checkpoint_sha256") is None \
            and old.get("checkpoint") != header.get("checkpoint"):
        differ.append("checkpoint")
    if differ:
        said = "; ".join(f"{k}: file {old.get(k)!r}, now {header.get(k)!r}" for k in differ)
        raise PredictionError(f"{path} was written by another predict run ({said}): cannot resume it; use "
                              "--overwrite to replace it or another --out")
    done: set[str] = set()
    failed = 0
    pos = body_start
    line_no = text.count("\n", 0, body_start) + 1
    while pos < len(text):
        record = _next_record(text, pos, fmt)
        piece = format_row(record, fmt) if record is not None else None
        if record is None or piece is None or not text.startswith(piece, pos):
            rest = text[pos:]
            # Every row is written in one piece ending in a newline, so only the last write can lack its end.
            if not rest.endswith("\n") or (record is None and rest.count("\n") <= 1):
                break  # a torn last row: dropped, its file is scored again
            raise PredictionError(f"{path}: line {line_no} is not a row this tool wrote; fix or remove it, or "
                                  "use --overwrite")
        if record["file"] in done:
            raise PredictionError(f"{path}: line {line_no}: a second row for {record['file']}")
        done.add(record["file"])
        failed += record["status"] != RowStatus.OK
        line_no += piece.count("\n")
        pos += len(piece)
    return done, failed, len(text[:pos].encode("utf-8", errors="surrogateescape"))


def _parse_header(path: Path, text: str, fmt: str) -> tuple[dict[str, Any], int]:
    """The header an output file starts with and where its rows start."""
    first, _, _ = text.partition("\n")
    try:
        if fmt == "jsonl":
            old = json.loads(first)[JSONL_KEY]
            start = len(first) + 1
        else:
            if not first.startswith(CSV_MARK):
                raise ValueError
            old = json.loads(first[len(CSV_MARK):])
            columns = ",".join(COLUMNS) + "\n"
            start = len(first) + 1
            if text[start:start + len(columns)] != columns:
                raise ValueError
            start += len(columns)
        if not isinstance(old, dict):
            raise ValueError
    except (ValueError, KeyError, TypeError):
        other = "a JSON Lines" if first.startswith("{") else "a CSV" if first.startswith(CSV_MARK) else "no"
        raise PredictionError(f"{path} does not start with a mom-bench predict {fmt} header (it has {other} "
                              f"header): cannot resume it as --format {fmt}") from None
    return old, start


def _next_record(text: str, pos: int, fmt: str) -> dict[str, Any] | None:
    """The row starting at ``pos``, or None when none can be read there."""
    try:
        if fmt == "jsonl":
            end = text.find("\n", pos)
            value = json.loads(text[pos:] if end < 0 else text[pos:end])
            if not isinstance(value, dict) or list(value) != COLUMNS:
                return None
            return value
        fields = next(csv.reader(io.StringIO(text[pos:], newline=""), strict=True))
    except (ValueError, StopIteration, csv.Error):
        return None
    if len(fields) != len(COLUMNS):
        return None
    return dict(zip(COLUMNS, fields))
