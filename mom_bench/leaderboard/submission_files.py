"""Reading a stranger's submission files without trusting them: the predictions table and its metadata.

Nothing in a submission is executed: CSV is parsed by the csv module, Parquet by pyarrow, metadata by
``yaml.safe_load``/``json``; pickles and archives are refused by their magic bytes before any parser sees
them, and sizes are checked before reading and every budget of :class:`Limits` while streaming (a Parquet
file is judged from its footer first). Every problem found is collected, so the submitter sees the whole
list at once instead of fixing one error per attempt.
"""
from __future__ import annotations

import codecs
import csv
import datetime as _dt
import json
import math
import os
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mom_bench.core import loader
from mom_bench.core.errors import YamlRefused
from mom_bench.core.files import sha256_file
from mom_bench.leaderboard import schema

PREDICTION_FORMATS = {".csv": "csv", ".parquet": "parquet"}
META_FORMATS = {".json", ".yaml", ".yml"}


@dataclass(frozen=True)
class Limits:
    """Budgets for an untrusted submission, each enforced before or while the data is read, never after.

    A MoM test set is ~40k rows, ~2 MB of CSV: every default leaves a wide margin for honest files while
    bounding what a crafted one can make mom-bench allocate. Parquet is compressed (a dictionary-encoded
    column repeats one long value for free), so its decoded text is budgeted separately from its size."""

    predictions_bytes: int = 64 * 1024 * 1024
    meta_bytes: int = 64 * 1024
    rows: int = 2_000_000
    #: one id, in UTF-8 bytes (the schema allows 500 characters)
    id_bytes: int = 2_000
    #: every id of a Parquet file together, once decoded
    text_bytes: int = 64 * 1024 * 1024
    #: one physical line of a CSV file, in characters
    line_chars: int = 64 * 1024
    #: header fields of a CSV file (id, score and ignored extras)
    columns: int = 100
    #: the Thrift footer of a Parquet file (its schema and row-group index)
    footer_bytes: int = 1024 * 1024


#: The default budgets (a frozen value, so one instance serves as every function's default).
DEFAULT_LIMITS = Limits()


def _sniff(head: bytes) -> str | None:
    """Name the kind of binary file that must never reach a parser, if ``head`` looks like one."""
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return f"a Python pickle (magic bytes 80 {head[1]:02x})"
    if head.startswith(b"PK\x03\x04"):
        return "a zip archive (torch.save / numpy .npz files are zips)"
    if head.startswith(b"\x93NUMPY"):
        return "a numpy .npy array"
    if head.startswith(b"\x1f\x8b"):
        return "a gzip file (submit the CSV uncompressed)"
    return None


def load_predictions(path: Path | str, limits: Limits = DEFAULT_LIMITS) -> tuple[pd.DataFrame | None, dict, list[str]]:
    """Read ``id``, ``score`` from a CSV or Parquet file without trusting it.

    Returns ``(frame, info, problems)``; ``frame`` is None when the file cannot be read at all. The frame
    keeps the file's row order and every row (duplicates and bad scores are judged later, with labels).
    ``score`` is float64 with NaN where the text was not a number; ``raw_score`` keeps the text of the rows
    whose score is not a probability (empty elsewhere), for the messages. Every budget of ``limits`` is
    enforced while streaming, so a file over one is refused after reading at most one budget's worth.
    """
    path = Path(path)
    name = path.name
    info: dict[str, Any] = {"file": name}
    if not path.is_file():
        return None, info, [f"predictions {name}: file not found"]
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(16)
    kind = _sniff(head)
    if kind:
        return None, info, [f"predictions {name}: the file is {kind}; only CSV or Parquet is accepted, "
                            "and pickles are never loaded"]
    suffix = path.suffix.lower()
    if suffix in {".pkl", ".pickle", ".pt", ".pth", ".joblib", ".npy", ".npz", ".bin"}:
        return None, info, [f"predictions {name}: {suffix} files are not accepted (pickles are never loaded); "
                            "write a CSV or Parquet file with columns id,score"]
    fmt = PREDICTION_FORMATS.get(suffix)
    if fmt is None:
        return None, info, [f"predictions {name}: unknown extension {suffix or '(none)'!r}; use .csv or .parquet"]
    info["format"] = fmt
    if size > limits.predictions_bytes:
        return None, info, [f"predictions {name}: {size:,} bytes is over the limit of "
                            f"{limits.predictions_bytes:,} bytes"]
    if size == 0:
        return None, info, [f"predictions {name}: the file is empty"]
    info["sha256"] = sha256_file(path)
    try:
        frame, ignored = (_read_csv if fmt == "csv" else _read_parquet)(path, limits)
    except _Unreadable as err:
        return None, info, [f"predictions {name}: {err}"]
    info["ignored_columns"] = ignored
    if len(frame) > limits.rows:
        return None, info, [f"predictions {name}: {len(frame):,} rows is over the limit of {limits.rows:,}"]
    if len(frame) == 0:
        return None, info, [f"predictions {name}: no rows"]
    return frame, info, []


class _Unreadable(Exception):
    pass


def _columns(found: list[str]) -> list[str]:
    missing = [c for c in ("id", "score") if c not in found]
    if missing:
        shown = ", ".join(str(c)[:40] for c in found[:20]) + (", ..." if len(found) > 20 else "")
        raise _Unreadable(f"missing column(s) {', '.join(missing)} (found: {shown or 'none'}); "
                          "the header must name id and score")
    dupes = sorted({c for c in found if found.count(c) > 1})
    if dupes:
        raise _Unreadable(f"column(s) {', '.join(dupes)} appear more than once in the header")
    return [c for c in found if c not in ("id", "score")]


#: Score text longer than this is not a number anyone writes; it is kept shortened, for the message only.
_SCORE_CHARS = 64


def _frame(ids: list, scores: array, rows: array, raw: dict[int, str]) -> pd.DataFrame:
    """The reader's output: ``raw_score`` holds text only where the score is not a probability."""
    values = np.frombuffer(scores, dtype="float64") if len(scores) else np.zeros(0, dtype="float64")
    texts = [""] * len(ids)
    for i in np.flatnonzero(~(np.isfinite(values) & (values >= 0.0) & (values <= 1.0))):
        texts[i] = raw.get(int(i), repr(float(values[i])))
    return pd.DataFrame({"id": ids, "raw_score": texts, "score": values.copy(),
                         "line": np.frombuffer(rows, dtype="int64").copy() if len(rows) else np.zeros(0, "int64")})


def _score_value(text: str) -> float:
    """The number in a CSV score field, or NaN. Python's float() also reads '1_0'; a CSV number does not."""
    if "_" in text or len(text) > _SCORE_CHARS:
        return math.nan
    try:
        return float(text)
    except ValueError:
        return math.nan


def _check_text(path: Path) -> None:
    """Refuse NUL bytes and invalid UTF-8, reading the file in blocks (nothing is kept)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            if b"\x00" in block:
                raise _Unreadable("malformed CSV: it contains NUL bytes (is it a binary file?)")
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(block)
            except UnicodeDecodeError as err:
                raise _Unreadable(f"malformed CSV: not UTF-8 text (byte {offset - pending + err.start})") from None
            offset += len(block)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise _Unreadable(f"malformed CSV: not UTF-8 text (byte {offset - len(decoder.getstate()[0])})") from None


def _bounded_lines(fh, limit: int):
    """The file's physical lines, refusing one longer than ``limit`` characters before it is all read: the
    csv module would otherwise build one huge row (a line of commas is millions of fields)."""
    number = 0
    while True:
        line = fh.readline(limit + 1)
        if not line:
            return
        number += 1
        if len(line) > limit and not line.endswith(("\n", "\r")):
            raise _Unreadable(f"malformed CSV: line {number} is longer than {limit:,} characters")
        yield line


def _read_csv(path: Path, limits: Limits) -> tuple[pd.DataFrame, list[str]]:
    _check_text(path)
    # The csv module rather than pandas: pandas quietly turns extra leading fields into an index, and a
    # row-by-row read lets a ragged line be named and every budget be enforced as the rows stream in.
    # Ids stay text, so ids like "007" survive; bad scores are reported by line later.
    ids: list[str] = []
    scores, rows = array("d"), array("q")
    raw: dict[int, str] = {}
    ragged: list[str] = []
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(_bounded_lines(fh, limits.line_chars), strict=True)
        try:
            header = [h.strip() for h in next(reader, [])]
            if len(header) > limits.columns:
                raise _Unreadable(f"the header has {len(header):,} columns, over the limit of {limits.columns}")
            ignored = _columns(header)
            i_id, i_score = header.index("id"), header.index("score")
            for fields in reader:
                line = reader.line_num
                if not fields:  # blank line
                    continue
                if len(fields) != len(header):
                    ragged.append(f"line {line} has {len(fields)} fields, the header {len(header)}")
                    if len(ragged) > 3:
                        break  # the message shows three; the file is refused either way
                    continue
                if len(ids) >= limits.rows:
                    raise _Unreadable(f"more rows than the limit of {limits.rows:,} (stopped reading at line {line})")
                ident, text = fields[i_id].strip(), fields[i_score].strip()
                if len(ident.encode("utf-8")) > limits.id_bytes:
                    raise _Unreadable(f"line {line}: the id is {len(ident.encode('utf-8')):,} bytes, over the "
                                      f"limit of {limits.id_bytes:,}")
                value = _score_value(text)
                if not (math.isfinite(value) and 0.0 <= value <= 1.0):
                    raw[len(ids)] = text if len(text) <= _SCORE_CHARS else text[:20] + "..."
                ids.append(ident)
                scores.append(value)
                rows.append(line)
        except csv.Error as err:
            raise _Unreadable(f"malformed CSV at line {reader.line_num}: {err}") from None
    if ragged:
        more = " (and more such lines)" if len(ragged) > 3 else ""
        raise _Unreadable("malformed CSV: " + "; ".join(ragged[:3]) + more)
    return _frame(ids, scores, rows, raw), ignored


def _parquet_footer(path: Path, limits: Limits) -> None:
    """Check the magic bytes and the footer's length before any parser reads the footer."""
    with open(path, "rb") as fh:
        start = fh.read(4)
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - 8))
        tail = fh.read(8)
    if start != b"PAR1" or tail[-4:] != b"PAR1" or size < 12:
        raise _Unreadable("malformed Parquet: missing the PAR1 magic bytes")
    footer = int.from_bytes(tail[:4], "little")
    if footer > limits.footer_bytes or footer > size - 12:
        raise _Unreadable(f"malformed Parquet: a footer of {footer:,} bytes (the limit is {limits.footer_bytes:,}, "
                          f"the file {size:,} bytes)")


def _parquet_plan(pf, limits: Limits) -> None:
    """Judge the file from its footer alone: types, rows, and the decoded size of each id column chunk."""
    import pyarrow as pa

    fields = {f.name: f.type for f in pf.schema_arrow}
    id_type, score_type = fields["id"], fields["score"]
    if pa.types.is_dictionary(id_type):
        id_type = id_type.value_type
    if pa.types.is_dictionary(score_type):
        score_type = score_type.value_type
    if not (pa.types.is_string(id_type) or pa.types.is_large_string(id_type) or pa.types.is_integer(id_type)):
        raise _Unreadable(f"column id must hold strings, found {id_type}")
    if not (pa.types.is_floating(score_type) or pa.types.is_integer(score_type)):
        raise _Unreadable(f"column score must hold numbers, found {score_type}")
    meta = pf.metadata
    if meta.num_rows > limits.rows:
        raise _Unreadable(f"{meta.num_rows:,} rows is over the limit of {limits.rows:,}")
    total = 0
    for i in range(meta.num_row_groups):
        group = meta.row_group(i)
        for j in range(group.num_columns):
            chunk = group.column(j)
            if chunk.path_in_schema in ("id", "score"):
                total += chunk.total_uncompressed_size
        if total > limits.text_bytes:
            raise _Unreadable(f"the id and score columns hold over {limits.text_bytes:,} bytes once decompressed "
                              f"(row group {i}), over the limit")


def _read_parquet(path: Path, limits: Limits) -> tuple[pd.DataFrame, list[str]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    _parquet_footer(path, limits)
    try:
        # ids are read as a dictionary: a value repeated a million times stays one value until every
        # length is checked, instead of a million copies
        pf = pq.ParquetFile(path, read_dictionary=["id"])
        ignored = _columns(list(pf.schema_arrow.names))
        _parquet_plan(pf, limits)
        ids: list = []
        scores, rows = array("d"), array("q")
        raw: dict[int, str] = {}
        decoded = 0
        for i in range(pf.metadata.num_row_groups):
            table = pf.read_row_group(i, columns=["id", "score"])
            for chunk in table.column("id").chunks:
                part, size = _parquet_ids(chunk, limits, len(ids))
                decoded += size
                if decoded > limits.text_bytes:
                    raise _Unreadable(f"the ids hold over {limits.text_bytes:,} bytes of text once decoded "
                                      f"(row group {i}), over the limit")
                ids.extend(part)
            for chunk in table.column("score").chunks:
                # a null score reads as NaN; its text is left empty so the message says "is empty"
                for k in np.flatnonzero(chunk.is_null().to_numpy(zero_copy_only=False)):
                    raw[len(scores) + int(k)] = ""
                values = chunk.cast(pa.float64()).to_numpy(zero_copy_only=False)
                scores.frombytes(np.ascontiguousarray(values, dtype="float64").tobytes())
            if len(ids) > limits.rows:
                raise _Unreadable(f"more rows than the limit of {limits.rows:,} (row group {i})")
    except _Unreadable:
        raise
    except (pa.ArrowException, OSError, ValueError) as err:
        raise _Unreadable(f"malformed Parquet: {err}") from None
    rows.frombytes(np.arange(len(ids), dtype="int64").tobytes())  # Parquet rows are 0-based
    return _frame(ids, scores, rows, raw), ignored


def _parquet_ids(chunk, limits: Limits, first: int) -> tuple[list, int]:
    """One chunk of the id column as Python values, after checking each distinct value's length.

    Returns the values and their decoded size in bytes."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pa.types.is_dictionary(chunk.type):  # integer ids
        values = [None if v is None else str(v) for v in chunk.to_pylist()]
        return values, sum(len(v) for v in values if v is not None)
    lengths = pc.binary_length(chunk.dictionary)
    longest = pc.max(lengths).as_py() if len(lengths) else 0
    if longest and longest > limits.id_bytes:
        at = pc.index(lengths, longest).as_py()
        row = pc.index(chunk.indices, at).as_py()
        raise _Unreadable(f"row {first + row if row is not None and row >= 0 else '?'}: an id of {longest:,} bytes, "
                          f"over the limit of {limits.id_bytes:,}")
    size = pc.sum(pc.take(lengths, chunk.indices)).as_py() or 0
    if size > limits.text_bytes:
        raise _Unreadable(f"the ids hold {size:,} bytes of text once decoded, over the limit of "
                          f"{limits.text_bytes:,}")
    dictionary = chunk.dictionary.to_pylist()
    # each row refers to the one string of its dictionary entry: no copy per row
    return [None if k is None else dictionary[k] for k in chunk.indices.to_pylist()], size


def load_meta(source: Path | str | dict, limits: Limits = DEFAULT_LIMITS) -> tuple[dict | None, list[str]]:
    """Read submission metadata (YAML/JSON file, or a dict) and check it against ``SUBMISSION_META``.

    A baselines/ recipe file can be passed as it is: its ``submission_meta`` section is used.
    """
    if isinstance(source, dict):
        data, label = dict(source), "meta"
    else:
        path = Path(source)
        label = f"meta {path.name}"
        if not path.is_file():
            return None, [f"{label}: file not found"]
        if path.suffix.lower() not in META_FORMATS:
            return None, [f"{label}: unknown extension {path.suffix or '(none)'!r}; use .yaml, .yml or .json"]
        size = path.stat().st_size
        if size > limits.meta_bytes:
            return None, [f"{label}: {size:,} bytes is over the limit of {limits.meta_bytes:,} bytes"]
        raw = path.read_bytes()
        kind = _sniff(raw[:16])
        if kind:
            return None, [f"{label}: the file is {kind}, not YAML or JSON"]
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            return None, [f"{label}: not UTF-8 text (byte {err.start})"]
        try:
            if path.suffix.lower() == ".json":
                data = json.loads(text, parse_constant=_no_constant)
            else:
                # Aliases let a few hundred bytes expand into gigabytes once loaded ("billion laughs") and
                # deep nesting makes PyYAML recurse for minutes: both are refused while parsing, before
                # anything is built.
                try:
                    data = loader.parse_yaml(text, "metadata", refuse_aliases=True)
                except YamlRefused as err:
                    return None, [f"{label}: {err}"]
        except json.JSONDecodeError as err:
            return None, [f"{label}: malformed JSON at line {err.lineno} column {err.colno}: {err.msg}"]
        except ValueError as err:
            return None, [f"{label}: malformed JSON: {err}"]
        except Exception as err:  # yaml.YAMLError and its subclasses, incl. refused python tags
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            return None, [f"{label}: malformed YAML: {first}"]
        if isinstance(data, dict) and isinstance(data.get("submission_meta"), dict):
            data = data["submission_meta"]
    if not isinstance(data, dict):
        return None, [f"{label}: expected a mapping of fields, got {type(data).__name__}"]
    data = _plain(data)
    found = schema.text_problems(data) + schema.validate(data, schema.SUBMISSION_META)
    problems = [f"{label}: {p.lstrip('/') or 'document'}" for p in found]
    return data, problems


def _no_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def json_object(raw: bytes) -> tuple[dict[str, Any] | None, list[str]]:
    """The JSON object in ``raw`` (a document stored beside an entry; NaN and Infinity refused), or None with
    why not."""
    try:
        doc = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        return None, [f"not valid JSON ({str(err)[:120]})"]
    if not isinstance(doc, dict):
        return None, [f"expected a JSON object, got {type(doc).__name__}"]
    return doc, []


def _plain(value: Any) -> Any:
    """YAML turns ``2026-01-31`` into a date object: make it the ISO string the schema expects."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()[:10]
    return value
