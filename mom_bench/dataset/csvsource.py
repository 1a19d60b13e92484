"""A benchmark listed in a CSV file beside local audio files (custom benchmarks, tests, perf/ scripts).

Options: ``csv`` (path of the list) and ``root`` (folder the ``path`` column is relative to; default
the CSV's folder). Columns: ``id``, ``label`` (0/1), ``generator`` (``real`` for reals), ``source``,
``path``; optional ``group`` (shared by every row that carries the same value, across sources; default: the
protocol's ``group_by`` for reals, else the row's own id) and ``split`` (pre-assigned). Every other
column becomes metadata. Paths must stay inside ``root``: a list from elsewhere cannot make the
builder read arbitrary files.
"""
from __future__ import annotations

import csv
from pathlib import Path

from mom_bench.dataset.paths import safe_join
from mom_bench.dataset.sources import MissingAudio, SourceRow, group_key

_CORE = {"id", "label", "generator", "source", "path", "group", "split"}


def _value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


class CsvSource:
    def __init__(self, protocol, options: dict):
        if not options.get("csv"):
            raise ValueError(f"{protocol.path}: source kind 'csv' needs the option 'csv' (path of the row list)")
        self.csv = Path(options["csv"]).expanduser()
        if not self.csv.is_file():
            raise FileNotFoundError(f"row list not found: {self.csv}")
        self.root = Path(options.get("root") or self.csv.parent).expanduser().resolve()
        self.group_by = {r.id: r.group_by for r in protocol.reals}

    def rows(self):
        with open(self.csv, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = {"id", "label", "generator", "path"} - set(reader.fieldnames or [])
            if missing:
                raise ValueError(f"{self.csv}: missing column(s) {', '.join(sorted(missing))}")
            for n, rec in enumerate(reader, start=2):
                try:
                    label = int(rec["label"])
                except ValueError:
                    label = rec["label"]  # reported as unusable by the builder
                meta = {k: _value(v) for k, v in rec.items() if k not in _CORE and v not in ("", None)}
                source = rec.get("source") or rec["generator"]
                if rec.get("group"):
                    key = f"group={rec['group']}"  # shared across sources: pairs a real with its fakes
                else:
                    key = group_key(source, rec["id"], meta, self.group_by.get(source) if label == 0 else ())
                yield SourceRow(
                    id=rec["id"], label=label, generator=rec["generator"], source=source, group_key=key,
                    meta=meta, fetch=self._fetcher(rec["path"], n), split=rec.get("split") or None)

    def _fetcher(self, rel: str, line: int):
        def fetch():
            path = safe_join(self.root, rel, what=f"{self.csv.name} line {line}")
            if not path.exists():
                raise MissingAudio(f"file not found: {path}")
            return path
        return fetch
