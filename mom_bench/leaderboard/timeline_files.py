"""Reading a stranger's timeline predictions file without trusting it: P(fake) per scored window of each song.

The format (docs/submitting.md): CSV with the header exactly ``id,start,end,p_fake`` (UTF-8, one row per window,
seconds as decimals, p_fake in [0, 1]; windows of one song may overlap and need not cover it), or Parquet with
those four columns. A submission is a timeline when its header says so (:func:`is_timeline`); it is read with the
safeguards of :mod:`.submission_files` (magic bytes sniffed, sizes and every budget of :class:`TimelineLimits`
enforced while streaming, the Parquet footer judged first), and every bad row is named by its line.
"""
from __future__ import annotations

import csv
import io
import math
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mom_bench.core.files import sha256_file
from mom_bench.leaderboard.submission_files import (
    PREDICTION_FORMATS,
    _bounded_lines,
    _check_text,
    _parquet_footer,
    _parquet_ids,
    _score_value,
    _sniff,
    _Unreadable,
)

#: The header of a timeline CSV, exactly.
COLUMNS = ("id", "start", "end", "p_fake")
_ROW_PROBLEMS = 10  # bad rows listed one by one before summarising
_EXAMPLES = 5


@dataclass(frozen=True)
class TimelineLimits:
    """Budgets for an untrusted timeline file. A MoM test set (~40k songs of ~2 min) scored with 10 s windows at
    a 5 s hop is ~1M rows, ~40 MB of CSV: the defaults leave room for that and bound what a crafted file costs."""

    file_bytes: int = 256 * 1024 * 1024
    rows: int = 5_000_000
    #: windows of one song (a 10-minute song at a 0.1 s hop is 6,000)
    windows_per_song: int = 20_000
    id_bytes: int = 2_000
    text_bytes: int = 256 * 1024 * 1024
    line_chars: int = 64 * 1024
    footer_bytes: int = 1024 * 1024


DEFAULT_TIMELINE_LIMITS = TimelineLimits()


def is_timeline(path: Path | str) -> bool:
    """Whether ``path`` is a timeline file by its header: a CSV whose first line is ``id,start,end,p_fake``, or a
    Parquet file with columns start, end and p_fake. False for anything unreadable (the song-level reader then
    says what is wrong with it)."""
    path = Path(path)
    try:
        if not path.is_file():
            return False
        suffix = path.suffix.lower()
        if suffix == ".csv":
            with open(path, "rb") as fh:
                first = fh.readline(4096)
            text = first.decode("utf-8-sig", errors="replace").strip()
            return [c.strip() for c in text.split(",")] == list(COLUMNS)
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            _parquet_footer(path, TimelineLimits())  # type: ignore[arg-type]  # it reads footer_bytes alone
            names = set(pq.ParquetFile(path).schema_arrow.names)
            return {"start", "end", "p_fake"} <= names
    except Exception:  # not readable as either: judged by the song-level reader, which names the problem
        return False
    return False


def _number(text: str) -> float:
    """A CSV seconds/probability field as a float, NaN when it is not a plain number."""
    return _score_value(text)


def load_timeline(path: Path | str, limits: TimelineLimits = DEFAULT_TIMELINE_LIMITS
                  ) -> tuple[pd.DataFrame | None, dict[str, Any], list[str]]:
    """Read a timeline file without trusting it: ``(frame, info, problems)``, frame None when unreadable.

    The frame has ``id, start, end, p_fake`` (floats, NaN where a field is not a number), ``line`` (CSV line,
    header = 1; Parquet row from 0) and ``raw`` (the text of the row's fields, kept only for rows that may need
    a message). Values are judged later, with the build's ids (:func:`check_timeline`)."""
    path = Path(path)
    name = path.name
    info: dict[str, Any] = {"file": name}
    if not path.is_file():
        return None, info, [f"timeline {name}: file not found"]
    with open(path, "rb") as fh:
        head = fh.read(16)
    kind = _sniff(head)
    if kind:
        return None, info, [f"timeline {name}: the file is {kind}; only CSV or Parquet is accepted, and pickles "
                            "are never loaded"]
    fmt = PREDICTION_FORMATS.get(path.suffix.lower())
    if fmt is None:
        return None, info, [f"timeline {name}: unknown extension {path.suffix or '(none)'!r}; use .csv or .parquet"]
    info["format"] = fmt
    size = path.stat().st_size
    if size > limits.file_bytes:
        return None, info, [f"timeline {name}: {size:,} bytes is over the limit of {limits.file_bytes:,} bytes"]
    if size == 0:
        return None, info, [f"timeline {name}: the file is empty"]
    info["sha256"] = sha256_file(path)
    try:
        frame = _read_csv(path, limits) if fmt == "csv" else _read_parquet(path, limits)
    except _Unreadable as err:
        return None, info, [f"timeline {name}: {err}"]
    if len(frame) == 0:
        return None, info, [f"timeline {name}: no rows"]
    return frame, info, []


def _frame(ids: list, values: dict[str, array], lines: array, raw: dict[int, str]) -> pd.DataFrame:
    out = pd.DataFrame({"id": ids, **{k: np.frombuffer(v, dtype="float64").copy() if len(v) else np.zeros(0)
                                      for k, v in values.items()}})
    out["line"] = np.frombuffer(lines, dtype="int64").copy() if len(lines) else np.zeros(0, dtype="int64")
    out["raw"] = [raw.get(i, "") for i in range(len(ids))]
    return out


def _read_csv(path: Path, limits: TimelineLimits) -> pd.DataFrame:
    _check_text(path)
    ids: list[str] = []
    values = {k: array("d") for k in COLUMNS[1:]}
    lines = array("q")
    raw: dict[int, str] = {}
    ragged: list[str] = []
    per_song: dict[str, int] = {}
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(_bounded_lines(fh, limits.line_chars), strict=True)
        try:
            header = [h.strip() for h in next(reader, [])]
            if header != list(COLUMNS):
                shown = ",".join(h[:40] for h in header[:10]) + (",..." if len(header) > 10 else "")
                raise _Unreadable(f"the header must be exactly {','.join(COLUMNS)} (found {shown or 'nothing'})")
            for fields in reader:
                line = reader.line_num
                if not fields:
                    continue
                if len(fields) != len(COLUMNS):
                    ragged.append(f"line {line} has {len(fields)} fields, the header {len(COLUMNS)}")
                    if len(ragged) > 3:
                        break
                    continue
                if len(ids) >= limits.rows:
                    raise _Unreadable(f"more rows than the limit of {limits.rows:,} (stopped reading at line {line})")
                ident = fields[0].strip()
                if len(ident.encode("utf-8")) > limits.id_bytes:
                    raise _Unreadable(f"line {line}: the id is {len(ident.encode('utf-8')):,} bytes, over the limit "
                                      f"of {limits.id_bytes:,}")
                per_song[ident] = per_song.get(ident, 0) + 1
                if per_song[ident] > limits.windows_per_song:
                    raise _Unreadable(f"line {line}: id {ident[:40]!r} has more than {limits.windows_per_song:,} "
                                      "windows, over the limit per song")
                numbers = [_number(f.strip()) for f in fields[1:]]
                if not all(math.isfinite(v) for v in numbers):
                    raw[len(ids)] = ",".join(f.strip()[:20] for f in fields[1:])
                ids.append(ident)
                for key, v in zip(COLUMNS[1:], numbers):
                    values[key].append(v)
                lines.append(line)
        except csv.Error as err:
            raise _Unreadable(f"malformed CSV at line {reader.line_num}: {err}") from None
    if ragged:
        more = " (and more such lines)" if len(ragged) > 3 else ""
        raise _Unreadable("malformed CSV: " + "; ".join(ragged[:3]) + more)
    return _frame(ids, values, lines, raw)


def _read_parquet(path: Path, limits: TimelineLimits) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    _parquet_footer(path, limits)  # type: ignore[arg-type]  # it reads footer_bytes alone
    try:
        pf = pq.ParquetFile(path, read_dictionary=["id"])
        fields = {f.name: f.type for f in pf.schema_arrow}
        missing = [c for c in COLUMNS if c not in fields]
        if missing:
            raise _Unreadable(f"missing column(s) {', '.join(missing)}; a timeline has columns {', '.join(COLUMNS)}")
        for key in COLUMNS[1:]:
            t = fields[key].value_type if pa.types.is_dictionary(fields[key]) else fields[key]
            if not (pa.types.is_floating(t) or pa.types.is_integer(t)):
                raise _Unreadable(f"column {key} must hold numbers, found {t}")
        if pf.metadata.num_rows > limits.rows:
            raise _Unreadable(f"{pf.metadata.num_rows:,} rows is over the limit of {limits.rows:,}")
        ids: list = []
        values = {k: array("d") for k in COLUMNS[1:]}
        decoded = 0
        for i in range(pf.metadata.num_row_groups):
            table = pf.read_row_group(i, columns=list(COLUMNS))
            for chunk in table.column("id").chunks:
                part, size = _parquet_ids(chunk, limits, len(ids))  # type: ignore[arg-type]  # id/text bytes alone
                decoded += size
                if decoded > limits.text_bytes:
                    raise _Unreadable(f"the ids hold over {limits.text_bytes:,} bytes of text once decoded")
                ids.extend(part)
            for key in COLUMNS[1:]:
                for chunk in table.column(key).chunks:
                    got = chunk.cast(pa.float64()).to_numpy(zero_copy_only=False)
                    values[key].frombytes(np.ascontiguousarray(got, dtype="float64").tobytes())
    except _Unreadable:
        raise
    except (pa.ArrowException, OSError, ValueError) as err:
        raise _Unreadable(f"malformed Parquet: {err}") from None
    counts = pd.Series([i for i in ids if i is not None], dtype=object).value_counts()
    if len(counts) and int(counts.iloc[0]) > limits.windows_per_song:
        raise _Unreadable(f"id {str(counts.index[0])[:40]!r} has {int(counts.iloc[0]):,} windows, over the limit of "
                          f"{limits.windows_per_song:,} per song")
    lines = array("q")
    lines.frombytes(np.arange(len(ids), dtype="int64").tobytes())
    frame = _frame(ids, values, lines, {})
    bad = ~np.isfinite(frame[list(COLUMNS[1:])].to_numpy()).all(axis=1)
    frame.loc[bad, "raw"] = [",".join(repr(float(v)) for v in row) for row in
                             frame.loc[bad, list(COLUMNS[1:])].to_numpy()]
    return frame


def check_timeline(frame: pd.DataFrame, known_ids: set[str], where: str, pid: str = "line", *,
                   every_id: bool = True) -> list[str]:
    """Every row's id a song of the scored splits, every window ``0 <= start < end`` with finite times and p_fake
    a probability, and (with ``every_id``) every song with at least one window. ``pid``: "line" (CSV) or "row"
    (Parquet)."""
    problems: list[str] = []
    empty = frame["id"].isna() | (frame["id"].astype(str) == "")
    if empty.any():
        problems.append(f"{where}: {int(empty.sum())} row(s) with an empty id ({pid}s "
                        f"{_quote(frame.loc[empty, 'line'].tolist())})")
    ids = frame.loc[~empty, "id"].astype(str)
    unknown = sorted(set(ids) - known_ids)
    if unknown:
        problems.append(f"{where}: {len(unknown)} id(s) are not in the test splits of this dataset (e.g. "
                        f"{_quote(unknown)})")
    missing = sorted(known_ids - set(ids)) if every_id else []
    if missing:
        problems.append(f"{where}: {len(missing)} test id(s) have no window (e.g. {_quote(missing)})")
    start, end, p = (frame[c].to_numpy() for c in COLUMNS[1:])
    bad: list[str] = []
    suspect = np.flatnonzero(~(np.isfinite(start) & np.isfinite(end) & np.isfinite(p) & (start >= 0)
                               & (end > start) & (p >= 0) & (p <= 1)))
    for i in suspect[:_ROW_PROBLEMS]:  # the rest are counted: naming a million bad rows helps nobody
        row = frame.iloc[int(i)]
        s, e, q = float(start[i]), float(end[i]), float(p[i])
        if not (math.isfinite(s) and math.isfinite(e) and math.isfinite(q)):
            reason = f"a field is not a finite number ({row['raw'][:60] or 'NaN'})"
        elif s < 0:
            reason = f"start {s!r} is negative"
        elif e <= s:
            reason = f"end {e!r} is not after start {s!r}"
        else:
            reason = f"p_fake {q!r} is outside [0, 1] (P(fake))"
        bad.append(f"{where} {pid} {row['line']} (id {str(row['id'])[:40]!r}): {reason}")
    problems += bad
    if len(suspect) > _ROW_PROBLEMS:
        problems.append(f"{where}: ... and {len(suspect) - _ROW_PROBLEMS} more bad row(s)")
    return problems


def _quote(items: list) -> str:
    shown = ", ".join(str(i)[:40] for i in items[:_EXAMPLES])
    return shown + (", ..." if len(items) > _EXAMPLES else "")


def song_scores(frame: pd.DataFrame) -> pd.DataFrame:
    """The song-level predictions of a checked timeline: ``id, score`` (the song's highest window P(fake), what
    the song-level "contains AI" metrics use), ``raw_score`` and ``line`` (its first row), as
    :func:`mom_bench.leaderboard.submission_files.load_predictions` gives them."""
    grouped = frame.assign(id=frame["id"].astype(str)).groupby("id", sort=True)
    out = pd.DataFrame({"score": grouped["p_fake"].max(), "line": grouped["line"].min()}).reset_index()
    out["raw_score"] = ""
    return out[["id", "raw_score", "score", "line"]]


def timeline_text(frame: pd.DataFrame) -> str:
    """The checked timeline kept beside an entry (sorted by id, then start and end), for ``leaderboard validate``."""
    ordered = frame.assign(id=frame["id"].astype(str)).sort_values(["id", "start", "end", "p_fake"], kind="stable")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for ident, s, e, q in ordered[list(COLUMNS)].itertuples(index=False):
        writer.writerow([ident, repr(float(s)), repr(float(e)), repr(float(q))])
    return buf.getvalue()
