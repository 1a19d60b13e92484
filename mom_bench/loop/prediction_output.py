"""Prediction rows written as each file is scored, and an output file that a stopped run can resume.

An output file (CSV or JSON Lines) starts with a header that says how its scores were made, then one row per
file, each written in one piece, flushed at once and fsynced at least every :data:`FSYNC_SECONDS` seconds or
:data:`FSYNC_ROWS` rows, so a killed run keeps (nearly) every finished row:

- CSV: a first line ``# mom-bench predict {json}``, then the column line and the rows (read it with
  ``pandas.read_csv(path, comment="#")``, or skip the first line);
- JSON Lines: a first line ``{"mom_bench_predict": {json}}``, then one object per row.

The header (:func:`run_header`) holds the model, its checkpoint and the checkpoint's sha256, the clip policy,
the aggregation, the threshold, the format, the longest audio read and the precision (and, in a shard's part file,
which part it is: :func:`part_path`, :func:`merge_parts`). Resuming (:func:`open_output` with
``resume=True``) refuses a file whose header differs from this run's, naming the fields; it keeps every row
that reads back exactly as it was written and drops a torn last row (a write the kill cut short), whose file
is then scored again. A row that does not read back and is not the last one is damage: refused, not dropped.
"""
from __future__ import annotations

import csv
import fcntl
import glob
import io
import json
import os
import re
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
#: ``precision`` is fp32 in a file written before it was recorded; ``part`` is set in a shard's part file only.
MUST_MATCH = ("model", "checkpoint_sha256", "clip", "aggregation", "threshold", "format", "max_seconds", "columns",
              "precision", "part")
_ABSENT_MEANS = {"precision": "fp32"}


def run_header(model: Any, checkpoint: str | None, *, threshold: float, fmt: str, clip: str,
               max_seconds: float | None, precision: str = "fp32",
               part: tuple[int, int] | None = None) -> dict[str, Any]:
    """What an output file records about the run that wrote it; ``clip``: what of each song was scored;
    ``precision``: the resolved precision (fp32, bf16 or fp16); ``part``: (index, count) of a shard's part file."""
    from mom_bench.loop.runs import checkpoint_sha256

    header = {"model": getattr(model, "name", type(model).__name__), "checkpoint": checkpoint,
              "checkpoint_sha256": checkpoint_sha256(checkpoint) if checkpoint else None,
              "clip": clip, "aggregation": AGGREGATION, "threshold": float(threshold), "format": fmt,
              "max_seconds": max_seconds, "columns": list(COLUMNS), "precision": precision}
    if part is not None:
        header["part"] = list(part)
    return header


def _field(header: dict[str, Any], key: str) -> Any:
    return header.get(key, _ABSENT_MEANS.get(key))


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


def _differ(old: dict[str, Any], new: dict[str, Any]) -> str:
    """The header fields two runs do not share, said as 'field: file X, now Y; ...' ('' when none)."""
    differ = [k for k in MUST_MATCH if _field(old, k) != _field(new, k)]
    if old.get("checkpoint_sha256") is None and new.get("checkpoint_sha256") is None \
            and old.get("checkpoint") != new.get("checkpoint"):
        differ.append("checkpoint")
    return "; ".join(f"{k}: file {_field(old, k)!r}, now {_field(new, k)!r}" for k in differ)


def _read_output(path: Path, header: dict[str, Any]) -> tuple[set[str], int, int]:
    """(files with a row, failed rows, byte length of the part to keep) of an output file being resumed."""
    old, records, keep = read_rows(path, header["format"])
    said = _differ(old, header)
    if said:
        raise PredictionError(f"{path} was written by another predict run ({said}): cannot resume it; use "
                              "--overwrite to replace it or another --out")
    return {r["file"] for r in records}, sum(r["status"] != RowStatus.OK for r in records), keep


def read_rows(path: Path, fmt: str) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
    """(header, rows, byte length of the part to keep) of an output file: every row that reads back exactly as
    it was written; a torn last row is left out (not in the length to keep); any other damage is refused."""
    data = path.read_bytes()
    text = data.decode("utf-8", errors="surrogateescape")  # a torn tail may end inside a character
    old, body_start = _parse_header(path, text, fmt)
    records: list[dict[str, Any]] = []
    done: set[str] = set()
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
        records.append(record)
        line_no += piece.count("\n")
        pos += len(piece)
    return old, records, len(text[:pos].encode("utf-8", errors="surrogateescape"))


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


# --------------------------------------------------------------------------------------------------
# Shards: part files and their merge


def part_path(out: str | Path, index: int, count: int) -> Path:
    """The part file shard ``index`` of ``count`` writes for the output ``out``.

    >>> part_path("scores.csv", 3, 8).name
    'scores.csv.part-00003-of-00008'
    """
    out = Path(out)
    return out.with_name(f"{out.name}.part-{index:05d}-of-{count:05d}")


def _part_counts(out: Path) -> set[int]:
    """The shard counts of the part files found next to ``out``."""
    pattern = re.compile(re.escape(out.name) + r"\.part-(\d{5})-of-(\d{5})")
    found = (pattern.fullmatch(p.name) for p in out.parent.glob(glob.escape(out.name) + ".part-*-of-*"))
    return {int(m.group(2)) for m in found if m}


def merge_parts(out: str | Path, names: list[str], fmt: str, *, count: int | None = None,
                overwrite: bool = False) -> tuple[int, int]:
    """Write ``out`` from the part files of its shards: one row per file of ``names`` (the input list every
    shard cut its block from, in input order), in that order, under the shards' common header (without its
    ``part``). Refused, naming each shard, when a part file is missing, incomplete (a row of its block
    lacking: run that shard again with ``--resume``), holds rows of other files or was made another way.
    ``count``: the number of shards (default: that of the part files found). Returns (rows, failed rows)."""
    from mom_bench.core.distributed import block

    out = Path(out)
    if out.exists() and not overwrite:
        raise PredictionError(f"{out} exists: add --overwrite to replace it with the merged shards")
    if count is None:
        counts = _part_counts(out)
        if not counts:
            raise PredictionError(f"no part files {out.name}.part-*-of-* in {out.parent}: run the shards first "
                                  "(--num-shards K --shard-index i, or under torchrun)")
        if len(counts) > 1:
            raise PredictionError(f"part files of {out.name} for different shard counts ({sorted(counts)}) in "
                                  f"{out.parent}: remove the stale ones or give --num-shards")
        count = counts.pop()
    problems: list[str] = []
    headers: dict[int, dict[str, Any]] = {}
    rows: dict[str, dict[str, Any]] = {}
    for index in range(count):
        path = part_path(out, index, count)
        lo, hi = block(len(names), 1, index, count)
        expected = names[lo:hi]
        if not path.exists():
            problems.append(f"shard {index} of {count}: no {path.name} (not run; {len(expected)} files)")
            continue
        header, records, _ = read_rows(path, fmt)
        headers[index] = header
        if header.get("part") != [index, count]:
            problems.append(f"shard {index} of {count}: {path.name} says it is part {header.get('part')}")
            continue
        got = {r["file"]: r for r in records}
        missing = [f for f in expected if f not in got]
        stray = sorted(set(got) - set(expected))
        if missing:
            problems.append(f"shard {index} of {count}: incomplete, {len(expected) - len(missing)} of "
                            f"{len(expected)} files scored (first missing: {missing[0]}); finish it with --resume")
        if stray:
            problems.append(f"shard {index} of {count}: rows of files not in its block (e.g. {stray[0]}): was it "
                            "run on other inputs?")
        rows.update(got)
    first = min(headers, default=None)
    for index, header in headers.items():
        others = _differ({**headers[first], "part": None}, {**header, "part": None}) if first is not None else ""
        if others:
            problems.append(f"shard {index} of {count}: made another way than shard {first} ({others})")
    if problems:
        raise PredictionError(f"cannot merge {out.name}: " + "; ".join(problems))
    assert first is not None  # count >= 1 and no problems: every part file was read
    merged = {k: v for k, v in headers[first].items() if k != "part"}

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(_header_text(merged, fmt))
            for name in names:
                fh.write(format_row(rows[name], fmt))

    write_atomic(out, write)
    return len(names), sum(rows[n]["status"] != RowStatus.OK for n in names)
