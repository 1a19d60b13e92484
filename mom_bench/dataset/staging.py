"""Crash-safe staging of processed rows: the journal of a build.

Processed rows (with their FLAC bytes, or their missing/unusable reason) are appended to
``<out>/.build/staging/part-NNNNN.parquet``. Each part is written under a temporary name, flushed to
disk and renamed: a part either exists complete or not at all, so after a kill -9 the finished rows are
exactly the ids in the existing parts, and the rows of the part being written are simply done again.
The final dataset is written from the parts once every row is done.

Each record carries the ``identity`` of the listed row it was made from
(:func:`mom_bench.dataset.sources.row_identity`): a row edited in the source after it was staged has another
identity, so its old record no longer counts and the row is done again. When a row is staged twice under one
identity (a missing row retried), the later record wins.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from mom_bench.core.files import write_atomic
from mom_bench.core.splits import RowStatus

SCHEMA = pa.schema([
    ("id", pa.string()), ("label", pa.int64()), ("generator", pa.string()), ("source", pa.string()),
    ("group_key", pa.string()), ("preassigned", pa.string()), ("split", pa.string()),
    ("status", pa.string()), ("reason", pa.string()),
    ("audio_bytes", pa.binary()), ("audio_path", pa.string()), ("duration_s", pa.float64()),
    ("orig_codec", pa.string()), ("orig_sample_rate", pa.int64()), ("orig_channels", pa.int64()),
    ("orig_bit_rate", pa.int64()), ("orig_duration_s", pa.float64()), ("content_sha256", pa.string()),
    # lineage and shortcut columns (mom_bench.dataset.lineage); parts written before them lack them
    ("orig_bytes", pa.int64()), ("pcm16k_sha256", pa.string()), ("pcm16k_print", pa.binary()),
    ("meta_json", pa.string()), ("stats_json", pa.string()), ("identity", pa.string()),
    # the row's segments as JSON (sources that give them: spliced songs); absent in journals of earlier versions
    ("segments_json", pa.string()),
])
#: Columns a journal part or row table written by an earlier version may lack (read back as None).
OPTIONAL = ("orig_bytes", "pcm16k_sha256", "pcm16k_print", "segments_json")
#: Columns read back for the split pass (everything but the audio).
SMALL = [f.name for f in SCHEMA if f.name != "audio_bytes"]


def fsync_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically and durably (:func:`mom_bench.core.files.write_atomic`)."""
    write_atomic(path, data)


class Staging:
    def __init__(self, folder: Path, *, max_bytes: int = 64 << 20, max_rows: int = 500, max_age_s: float = 60.0):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        for tmp in self.folder.glob("*.tmp"):  # a part that was being written when the build died
            tmp.unlink()
        self.max_bytes, self.max_rows, self.max_age_s = max_bytes, max_rows, max_age_s
        self._rows: list[dict] = []
        self._bytes = 0
        self._since = time.monotonic()
        self._next = len(self.parts())

    def parts(self) -> list[Path]:
        return sorted(self.folder.glob("part-*.parquet"))

    def done(self) -> set[tuple[str, str | None]]:
        """``(id, identity)`` of every staged row that needs no retry (all but the ``missing`` ones)."""
        return {(r["id"], r["identity"]) for r in self.read_small() if r["status"] != RowStatus.MISSING}

    def add(self, record: dict) -> None:
        self._rows.append(record)
        self._bytes += len(record.get("audio_bytes") or b"") + 512
        if (self._bytes >= self.max_bytes or len(self._rows) >= self.max_rows
                or time.monotonic() - self._since >= self.max_age_s):
            self.flush()

    def flush(self) -> None:
        if not self._rows:
            return
        table = pa.Table.from_pylist(self._rows, schema=SCHEMA)
        path = self.folder / f"part-{self._next:05d}.parquet"
        tmp = path.with_name(path.name + ".tmp")
        # row groups of about 16 MiB: the final pass reads one at a time, so this bounds its memory
        per_row = max(1, self._bytes // len(self._rows))
        pq.write_table(table, tmp, row_group_size=max(1, min(256, (16 << 20) // per_row)))
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        self._next += 1
        self._rows, self._bytes, self._since = [], 0, time.monotonic()

    def read_small(self) -> list[dict]:
        """Every staged row without its audio, in staging order (``identity`` None in parts written before
        records had one: such rows never match a listed row and are done again)."""
        rows = []
        for part in self.parts():
            names = set(pq.read_schema(part).names)
            table = pq.read_table(part, columns=[c for c in SMALL if c in names])
            for row in table.to_pylist():
                row.setdefault("identity", None)
                for name in OPTIONAL:
                    row.setdefault(name, None)
                rows.append(row)
        return rows

    def iter_batches(self):
        """Staged rows with audio, a row group at a time (bounded memory), in the order of :meth:`read_small`."""
        for part in self.parts():
            f = pq.ParquetFile(part)
            for i in range(f.num_row_groups):
                yield from f.read_row_group(i).to_pylist()


def dumps(obj) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, allow_nan=False, default=str)
