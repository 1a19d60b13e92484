"""A benchmark listed in a CSV file beside local audio files (custom benchmarks, tests, perf/ scripts).

Options: ``csv`` (path of the list) and ``root`` (folder the ``path`` column is relative to; default
the CSV's folder). Columns: ``id``, ``label`` (0/1), ``generator`` (``real`` for reals), ``source``,
``path``; optional ``group`` (shared by every row that carries the same value, across sources; default: the
protocol's ``group_by`` for reals, else the row's own id) and ``split`` (pre-assigned). Every other
column becomes metadata. Paths must stay inside ``root``: a list from elsewhere cannot make the
builder read arbitrary files. Written in the protocol file, ``csv`` and ``root`` are relative to the
protocol's folder and must stay inside it (``root`` may also lie inside the folder of a row list given on
the command line); given on the command line or through the API they are trusted as they are.

The list is read strictly, because a misread list silently changes a benchmark: UTF-8 only (a BOM is
fine), a header with unique, non-empty names whose metadata columns do not collide with the build's own
(``audio`` and ``meta_audio``), and every row as long as the header. A row of another length (an unquoted
comma, a missing field: its values would land in the wrong columns) is reported as unusable with its line
number; it does not stop the build.
"""
from __future__ import annotations

import csv
import io
import math
import re
from collections import Counter
from pathlib import Path

from mom_bench.core.errors import ManifestError, ManifestNotFound, UnusableRow
from mom_bench.dataset.columns import ColumnClash, meta_column_names
from mom_bench.dataset.paths import confine, safe_join
from mom_bench.dataset.protocols import FromProtocolFile
from mom_bench.dataset.sources.rows import MissingAudio, SourceRow, group_key

_CORE = {"id", "label", "generator", "source", "path", "group", "split"}
_REQUIRED = {"id", "label", "generator", "path"}
_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _value(text: str):
    """A metadata value: an int or a finite float when the whole text is one (ASCII digits, surrounding
    spaces allowed), else the text."""
    number = text.strip()
    if _INT.fullmatch(number):
        return int(number)
    if _FLOAT.fullmatch(number) and math.isfinite(float(number)):
        return float(number)
    return text


def _label(text):
    """0 / 1 from the ``label`` text; anything else is passed on as it is, for the builder to report."""
    if isinstance(text, str) and _INT.fullmatch(text.strip()):
        return int(text.strip())
    return text


def _decode(data: bytes, path: Path) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        offset = err.start
        line = data.count(b"\n", 0, offset) + 1
        column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
        raise ManifestError(f"{path}: not UTF-8 text: byte 0x{data[offset]:02x} at byte offset {offset} (line {line}, "
                            f"column {column}); re-save the file as UTF-8 (e.g. 'CSV UTF-8' in a spreadsheet, "
                            "or iconv -f latin1 -t utf-8)") from None


def _trusted(value) -> bool:
    return not isinstance(value, FromProtocolFile)


class CsvSource:
    def __init__(self, protocol, options: dict):
        if not options.get("csv"):
            raise ManifestError(f"{protocol.path}: source kind 'csv' needs the option 'csv' (path of the row list)")
        here = Path(protocol.path).resolve().parent
        hint = ("a protocol file's paths must stay in its folder; give the path on the command line to use "
                "another (-o csv=FILE, --root DIR)")
        if _trusted(options["csv"]):
            self.csv = Path(options["csv"]).expanduser()
        else:
            self.csv = confine(options["csv"], here, [here], what=f"{protocol.path}: source.csv", hint=hint)
        if not self.csv.is_file():
            raise ManifestNotFound(f"row list not found: {self.csv}")
        root = options.get("root")
        if not root or _trusted(root):
            self.root = Path(root or self.csv.parent).expanduser().resolve()
        else:
            allowed = [here] + ([self.csv.resolve().parent] if _trusted(options["csv"]) else [])
            self.root = confine(root, here, allowed, what=f"{protocol.path}: source.root", hint=hint)
        self.group_by = {r.id: r.group_by for r in protocol.reals}
        self.header = self._header()

    # -- reading the list

    def _text(self) -> str:
        return _decode(self.csv.read_bytes(), self.csv)

    def _records(self):
        """``(line, fields)`` of every record after the header; ``line`` is where the record starts."""
        reader = csv.reader(io.StringIO(self._text(), newline=""))
        line = 1
        try:
            for fields in reader:
                start, line = line, reader.line_num + 1
                if fields:  # a blank line is not a row
                    yield start, fields
        except csv.Error as err:
            raise ManifestError(f"{self.csv} line {reader.line_num}: not readable as CSV ({err})") from None

    def _header(self) -> list[str]:
        first = next(iter(self._records()), None)
        header = first[1] if first else []
        unnamed = [i + 1 for i, name in enumerate(header) if not name.strip()]
        if unnamed:
            raise ManifestError(f"{self.csv}: header column(s) {', '.join(map(str, unnamed))} have no name; name "
                                "them or delete the column(s)")
        twice = {name: n for name, n in Counter(header).items() if n > 1}
        if twice:
            where = "; ".join(f"{name!r} in columns {', '.join(str(i + 1) for i, h in enumerate(header) if h == name)}"
                              for name in twice)
            raise ManifestError(f"{self.csv}: duplicated column name(s) in the header: {where}; every column needs a "
                                "name of its own")
        missing = _REQUIRED - set(header)
        if missing:
            raise ManifestError(f"{self.csv}: missing column(s) {', '.join(sorted(missing))}")
        try:
            meta_column_names([h for h in header if h not in _CORE], where=str(self.csv))
        except ColumnClash as err:
            raise ManifestError(str(err)) from None
        return header

    def _shape_problem(self, line: int, fields: list[str]) -> str | None:
        n, m = len(fields), len(self.header)
        if n == m or (n > m and not any(fields[m:])):  # trailing empty fields (a trailing comma) carry nothing
            return None
        return f"{self.csv.name} line {line}: has {n} fields, header has {m}"

    # -- rows

    def rows(self):
        records = iter(self._records())
        next(records, None)  # the header, checked by __init__
        for line, fields in records:
            problem = self._shape_problem(line, fields)
            rec = dict(zip(self.header, fields))
            label = _label(rec.get("label"))
            generator = rec.get("generator", "")
            source = rec.get("source") or generator
            meta = {} if problem else {k: _value(v) for k, v in rec.items() if k not in _CORE and v != ""}
            yield SourceRow(
                id=rec.get("id", ""), label=label, generator=generator, source=source,
                group_key=self._group(rec, source, label, meta, problem), meta=meta,
                fetch=self._refusal(problem) if problem else self._fetcher(rec["path"], line),
                split=None if problem else rec.get("split") or None, stamp=problem or self._stamp(rec["path"]))

    def _group(self, rec: dict, source: str, label, meta: dict, problem: str | None) -> str:
        if problem:  # its fields may be shifted: the row joins no group
            return f"{source}:id={rec.get('id', '')}"
        if rec.get("group"):
            return f"group={rec['group']}"  # shared across sources: pairs a real with its fakes
        return group_key(source, rec["id"], meta, self.group_by.get(source) if label == 0 else ())

    def _refusal(self, problem: str):
        def fetch():
            raise UnusableRow(self.csv.name, problem)
        return fetch

    def _fetcher(self, rel: str, line: int):
        def fetch():
            path = safe_join(self.root, rel, what=f"{self.csv.name} line {line}")
            if not path.exists():
                raise MissingAudio(f"file not found: {path}")
            return path
        return fetch

    def _stamp(self, rel: str) -> str:
        """The row's file as listed now (path, size, mtime_ns), part of the row's identity: a file edited or
        restored after a build makes the next build of the same command redo the row."""
        try:
            st = safe_join(self.root, rel, what=self.csv.name).stat()
        except (OSError, ValueError):  # missing or refused: the fetch says why; the stamp changes once it is fixed
            return f"{rel}\tabsent"
        return f"{rel}\t{st.st_size}\t{st.st_mtime_ns}"
