"""Audio bytes stored in the cells of Parquet files, read one row group at a time.

Corpora on the Hub embed each song's encoded file in a binary cell (a ``bytes`` column, or the ``bytes`` field of
a ``datasets.Audio`` struct), and a shard can be several GB. A shard is never read whole: its small columns are
read once to list the rows (:func:`small_columns`), and the audio column alone is streamed in row order
(:class:`CellReader`), keeping only the last few batches. pyarrow decodes a row group's column chunk whole before
it slices it into batches, so the memory a reader holds is bounded by its current row group (a few times its size
at the peak; the data cards give measured figures), not by the shard. The builder fetches rows from a thread pool
in listing order, a few rows ahead, so a source lists a shard's rows in file order and each fetch finds its row in
a batch already read or in the next ones; only a fetch further back than the kept batches streams again from its
row group.

A cell that is null or empty is that row's :class:`AudioError` (reported ``unusable`` with the row); bytes that
do not decode are caught by the builder's decoder the same way. pyarrow is imported inside the functions.
"""
from __future__ import annotations

import threading
from collections import deque
from pathlib import Path
from typing import Any

from mom_bench.core.errors import AudioError, CorpusFilesMissing

#: Rows per streamed batch, and batches kept: more than the builder's fetch window (twice its concurrency).
BATCH_ROWS = 8
KEEP_BATCHES = 6
#: Bytes pyarrow buffers per read from the file (reads are buffered rather than one per page).
_BUFFER = 1 << 20


def open_parquet(path: Path):
    """A ``pyarrow.parquet.ParquetFile`` of ``path`` reading through a bounded buffer, or
    :class:`CorpusFilesMissing` when the file is not a readable Parquet file (a truncated download)."""
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path, buffer_size=_BUFFER, pre_buffer=False)
    except Exception as err:  # ArrowInvalid, OSError: the footer is unreadable
        raise CorpusFilesMissing(f"{path}: not a readable Parquet file ({type(err).__name__}: {err}); fetch it "
                                 "again") from err


def small_columns(path: Path, columns: list[str], optional: tuple[str, ...] = ()) -> dict[str, list]:
    """``columns`` (and whichever of ``optional`` exist) of the Parquet file ``path`` as Python lists, read one
    row group at a time without the audio column. A missing required column is refused, naming the file."""
    pf = open_parquet(path)
    names = set(pf.schema_arrow.names)
    absent = [c for c in columns if c not in names]
    if absent:
        raise CorpusFilesMissing(f"{path}: no column {', '.join(absent)} (columns: {', '.join(sorted(names))}); "
                                 "is this a file of the corpus?")
    wanted = list(columns) + [c for c in optional if c in names]
    out: dict[str, list] = {c: [] for c in wanted}
    for g in range(pf.num_row_groups):
        table = pf.read_row_group(g, columns=wanted)
        for c in wanted:
            out[c].extend(table.column(c).to_pylist())
    return out


class Readers:
    """One :class:`CellReader` per file, at most ``keep`` open (a build reads the shards one after another). When a
    file is asked for after another, the others drop their stream (its row group) and keep their last batches, which
    serve the late fetches of their last rows."""

    def __init__(self, column: str, field: str | None = None, keep: int = 2):
        self.column, self.field, self.keep = column, field, keep
        self._lock = threading.Lock()
        self._open: dict[Path, CellReader] = {}

    def get(self, path: Path, index: int, row: str) -> bytes:
        with self._lock:
            latest = next(reversed(self._open), None)
            reader = self._open.pop(path, None) or CellReader(path, self.column, self.field)
            if latest is not None and latest != path:
                for other in self._open.values():
                    other.release()
            self._open[path] = reader  # most recent last
            while len(self._open) > self.keep:
                self._open.pop(next(iter(self._open))).close()
        return reader.get(index, row)


class CellReader:
    """The binary cells of one column of one Parquet file, by row index, streamed in row order.

    ``column``: the column name; ``field``: the struct field holding the bytes (``"bytes"`` for a
    ``datasets.Audio`` column), or None for a plain binary column. Thread-safe: fetches of one file are
    served one at a time (they share the stream).
    """

    def __init__(self, path: Path, column: str, field: str | None = None):
        self.path, self.column, self.field = Path(path), column, field
        self._lock = threading.Lock()
        self._pf: Any = None
        self._stream: Any = None
        self._next = 0  # index of the first row the stream has not given yet
        self._kept: deque[tuple[int, list]] = deque(maxlen=KEEP_BATCHES)
        self._starts: list[int] = []  # first row of each row group

    def _open_at(self, index: int) -> None:
        if self._pf is None:
            self._pf = open_parquet(self.path)
            meta = self._pf.metadata
            acc = 0
            for g in range(meta.num_row_groups):
                self._starts.append(acc)
                acc += meta.row_group(g).num_rows
        group = max(g for g, start in enumerate(self._starts) if start <= index) if self._starts else 0
        self._kept.clear()
        self._next = self._starts[group] if self._starts else 0
        self._stream = self._pf.iter_batches(batch_size=BATCH_ROWS, row_groups=range(group, len(self._starts)),
                                             columns=[self.column], use_threads=False)

    def _cells(self, batch) -> list:
        col = batch.column(0)
        if self.field is not None:
            col = col.field(self.field)
        return col.to_pylist()

    def get(self, index: int, row: str) -> bytes:
        """The bytes of row ``index``; :class:`AudioError` naming ``row`` when the cell is null or empty."""
        with self._lock:
            data = self._find(index)
            if data is None:
                earliest = self._kept[0][0] if self._kept else self._next
                if self._stream is None or index < earliest:  # behind the kept batches: stream again from its group
                    self._open_at(index)
                while data is None and self._next <= index:
                    try:
                        batch = next(self._stream)
                    except StopIteration:
                        break
                    except Exception as err:  # a corrupt page: that row's error, not the build's
                        self._stream = None
                        raise AudioError(row, f"unreadable audio cell in {self.path.name} row {index}: "
                                              f"{type(err).__name__}: {err}") from None
                    self._kept.append((self._next, self._cells(batch)))
                    self._next += batch.num_rows
                    data = self._find(index)
        if data is None:
            raise AudioError(row, f"no row {index} in {self.path.name}")
        if not data[0]:
            raise AudioError(row, f"empty audio cell in {self.path.name} row {index}")
        return bytes(data[0])

    def _find(self, index: int):
        for start, cells in self._kept:
            if start <= index < start + len(cells):
                return (cells[index - start],)
        return None

    def release(self) -> None:
        """Drop the stream (the row group pyarrow holds), keeping the last batches."""
        with self._lock:
            self._stream = None

    def close(self) -> None:
        with self._lock:
            self._stream = None
            self._kept.clear()
            self._pf = None
