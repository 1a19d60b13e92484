"""Reading a built benchmark (the output of `mom-bench build`) inside mom-bench.

Rows are streamed from the parquet shards with pyarrow, one record batch at a time, so a split never has to
fit in memory. The ``audio`` column comes back as the stored FLAC bytes; decode them with
``mom_bench.core.audio.load(row["audio"], rate, clip=...)`` so that training, evaluation and prediction read audio
exactly as everything else does. (Outside mom-bench, ``datasets.load_dataset(str(dir), split=...)`` reads the
same folder.)
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mom_bench.core.errors import BuildTampered, NotABuiltBenchmark
from mom_bench.core.splits import SPLITS, RowStatus
from mom_bench.dataset import protocols

REPORT_NAME = "build_report.json"
#: Optional dataset columns that become strata of the report, and the names they may have (first found wins).
STRATA_COLUMNS = {"vocals": ("vocals", "has_vocals"), "language": ("language", "lang")}


def _hint(benchmark: str | None = None) -> str:
    return f"build it with `mom-bench build --benchmark {benchmark or 'NAME'}`"


def shards(data_dir: str | Path, split: str) -> list[Path]:
    """The parquet shards of ``split``, in order (empty when the split is absent)."""
    return sorted((Path(data_dir) / "data").glob(f"{split}-*.parquet"))


_shards = shards


def read_info(data_dir: str | Path, benchmark: str | None = None) -> dict:
    """The essentials of ``build_report.json``: ``benchmark``, ``benchmark_version``, ``fingerprint``,
    ``counts`` (split -> generator -> rows written), ``row_totals`` (rows, written, missing, unusable, ...),
    plus ``path`` and the ``splits`` that have shards.

    Raises :class:`NotABuiltBenchmark` when the folder or its report is missing or unreadable.
    """
    data_dir = Path(data_dir).expanduser()
    if not data_dir.is_dir():
        raise NotABuiltBenchmark(f"{data_dir}: no such folder; {_hint(benchmark)}")
    report_path = data_dir / REPORT_NAME
    if not report_path.is_file():
        raise NotABuiltBenchmark(f"{data_dir}: not a built benchmark (no {REPORT_NAME}; an unfinished build "
                                 f"leaves none); {_hint(benchmark)}")
    try:
        report = json.loads(report_path.read_text())
    except (OSError, ValueError) as err:
        raise NotABuiltBenchmark(f"{report_path}: unreadable ({err}); rebuild it: {_hint(benchmark)}") from None
    missing = [k for k in ("benchmark", "fingerprint") if k not in report]
    if missing:
        raise NotABuiltBenchmark(f"{report_path}: lacks {', '.join(missing)}; rebuild it: {_hint(benchmark)}")
    found = {p.name.rsplit("-", 1)[0] for p in (data_dir / "data").glob("*-*.parquet")}
    splits = [s for s in SPLITS if s in found] + sorted(found - set(SPLITS))
    if not splits:
        raise NotABuiltBenchmark(f"{data_dir}: no parquet shards under data/; {_hint(report['benchmark'])}")
    counts = report.get("counts") or {}
    return {"benchmark": report["benchmark"], "benchmark_version": report.get("benchmark_version"),
            "fingerprint": report["fingerprint"], "counts": counts.get("by_split", counts),
            "row_totals": {k: v for k, v in counts.items() if not isinstance(v, dict)},
            "path": str(data_dir), "splits": splits}


def num_rows(data_dir: str | Path, split: str) -> int:
    """Rows of a split, from the parquet footers (no data read)."""
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in _shards(Path(data_dir), split))


def _check_split(data_dir: Path, split: str) -> list[Path]:
    shards = _shards(data_dir, split)
    if not shards:
        have = read_info(data_dir)["splits"]
        raise NotABuiltBenchmark(f"{data_dir}: no split {split!r} (this build has {', '.join(have)})")
    return shards


def iter_rows(data_dir: str | Path, split: str, columns: list[str] | None = None,
              batch_size: int = 64, shard_index: int | None = None) -> Iterator[dict]:
    """Rows of ``split`` as dicts, in stored order. ``columns`` limits what is read (leaving out ``audio``
    makes this cheap). ``row["audio"]`` is the FLAC ``bytes`` of the stored mono audio. ``shard_index``
    reads only that shard of :func:`shards` (for shuffling shard by shard)."""
    import pyarrow.parquet as pq

    data_dir = Path(data_dir)
    read_info(data_dir)
    files = _check_split(data_dir, split)
    for shard in files if shard_index is None else [files[shard_index]]:
        pf = pq.ParquetFile(shard)
        names = pf.schema_arrow.names
        if columns is not None:
            absent = [c for c in columns if c not in names]
            if absent:
                raise NotABuiltBenchmark(f"{shard}: no column(s) {', '.join(absent)} (has {', '.join(names)})")
        for batch in pf.iter_batches(batch_size=batch_size, columns=columns):
            for row in batch.to_pylist():
                if "audio" in row:
                    row["audio"] = _audio_bytes(row["audio"], shard, row.get("id"))
                yield row


class RowRange:
    """Rows ``[start, stop)`` of a split in stored order, read row group by row group: what one rank or one
    decode worker reads of a split, without scanning the rows before its block. The last row group read is
    kept, so consecutive calls for neighbouring batches read each group once."""

    def __init__(self, data_dir: str | Path, split: str, columns: list[str]):
        import pyarrow.parquet as pq

        self.data_dir, self.split, self.columns = Path(data_dir), split, columns
        # (shard, group, first row of the group in the split, rows in the group), from the footers only
        self.groups: list[tuple[Path, int, int, int]] = []
        first = 0
        for shard in _check_split(self.data_dir, split):
            meta = pq.ParquetFile(shard).metadata
            for g in range(meta.num_row_groups):
                n = meta.row_group(g).num_rows
                self.groups.append((shard, g, first, n))
                first += n
        self.n_rows = first
        self._cached: tuple[int, list[dict]] | None = None

    def _group_rows(self, index: int) -> list[dict]:
        import pyarrow.parquet as pq

        if self._cached is None or self._cached[0] != index:
            shard, group, _, _ = self.groups[index]
            pf = pq.ParquetFile(shard)
            absent = [c for c in self.columns if c not in pf.schema_arrow.names]
            if absent:
                raise NotABuiltBenchmark(f"{shard}: no column(s) {', '.join(absent)}")
            rows = pf.read_row_group(group, columns=self.columns).to_pylist()
            for row in rows:
                if "audio" in row:
                    row["audio"] = _audio_bytes(row["audio"], shard, row.get("id"))
            self._cached = (index, rows)
        return self._cached[1]

    def rows(self, start: int, stop: int) -> Iterator[dict]:
        """Rows ``start .. stop - 1`` of the split (stored order)."""
        if not 0 <= start <= stop <= self.n_rows:
            raise IndexError(f"rows {start}..{stop} are outside {self.split} ({self.n_rows} rows)")
        for index, (_, _, first, n) in enumerate(self.groups):
            if first + n <= start or first >= stop:
                continue
            group = self._group_rows(index)
            yield from group[max(start, first) - first:min(stop, first + n) - first]


def read_table(data_dir: str | Path, split: str, columns: list[str]):
    """Non-audio ``columns`` of a split as a pandas DataFrame (row order = :func:`iter_rows` order)."""
    import pandas as pd
    import pyarrow.parquet as pq

    if "audio" in columns:
        raise ValueError("read_table is for metadata; stream audio with iter_rows")
    data_dir = Path(data_dir)
    read_info(data_dir)
    frames = [pq.read_table(p, columns=columns).to_pandas() for p in _check_split(data_dir, split)]
    return pd.concat(frames, ignore_index=True)


def _audio_bytes(value, shard: Path, row_id) -> bytes:
    # The datasets Audio feature stores {"bytes", "path"}; a bare binary column is accepted too.
    if isinstance(value, dict):
        value = value.get("bytes")
    if not value:
        raise NotABuiltBenchmark(f"{shard}: row {row_id!r} has no embedded audio bytes")
    return bytes(value)


def column_names(data_dir: str | Path, split: str) -> list[str]:
    """The columns of ``split``'s shards (empty when the split is absent)."""
    import pyarrow.parquet as pq

    found = shards(data_dir, split)
    return list(pq.ParquetFile(found[0]).schema_arrow.names) if found else []


def stratum_columns(data_dir: str | Path, split: str) -> dict[str, str | None]:
    """For each stratum of :data:`STRATA_COLUMNS`, the column of ``split`` that holds it, or None."""
    names = column_names(data_dir, split)
    return {key: next((c for c in candidates if c in names), None) for key, candidates in STRATA_COLUMNS.items()}


#: The columns :func:`verify_build` reads: everything the fingerprints cover, nothing that needs decoding.
_VERIFIED = ["id", "split", "label", "generator", "content_sha256", "source"]


def verify_build(data_dir: str | Path, benchmark: str | None = None) -> dict:
    """:func:`read_info` after checking that the shards still hold what the build wrote.

    Reads only the fingerprinted columns (no audio is decoded) and compares the shard files, their row counts
    and the rows' id/split/label/generator/audio hash with ``build_report.json``. Adds ``label_fingerprint``
    (ids, splits, labels, generators: what scoring depends on, the same on every machine) and
    ``audio_fingerprint`` (the stored audio's hashes) to the returned info. Raises :class:`BuildTampered`
    naming the files or rows that differ."""
    import pyarrow.parquet as pq

    from mom_bench.dataset.build_report import audio_fingerprint, fingerprint, label_fingerprint

    data_dir = Path(data_dir).expanduser()
    info = read_info(data_dir, benchmark)
    report = json.loads((data_dir / REPORT_NAME).read_text())
    rebuild = f"rebuild it (`mom-bench build --benchmark {info['benchmark']} --out {data_dir} --overwrite`)"
    recorded = {f["file"]: f["rows"] for files in (report.get("files") or {}).values() for f in files}
    present = {f"data/{p.name}" for p in (data_dir / "data").glob("*.parquet")}
    problems = [f"{name} is missing" for name in sorted(set(recorded) - present)]
    problems += [f"{name} was not written by the build" for name in sorted(present - set(recorded))]
    rows: list[dict] = []
    for name in sorted(present & set(recorded)):
        try:
            table = pq.read_table(data_dir / name, columns=_VERIFIED)
        except Exception as err:  # unreadable or without the columns: either way not what was written
            problems.append(f"{name} is unreadable ({type(err).__name__}: {err})")
            continue
        if table.num_rows != recorded[name]:
            problems.append(f"{name} has {table.num_rows} rows, the build wrote {recorded[name]}")
        rows.extend(table.to_pylist())
    if problems:
        raise BuildTampered(f"{data_dir}: the build was changed after it was written: "
                            + "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
                            + f"; {rebuild}")
    if fingerprint(rows) != report["fingerprint"]:
        raise BuildTampered(f"{data_dir}: the rows in the shards do not match the build's fingerprint: "
                            + _row_differences(rows, report.get("rows") or []) + f"; {rebuild}")
    # `source` is outside the fingerprints (changing them would change every entry's) but per-source
    # false-positive rates read it, so it is compared with the report's list of rows instead.
    recorded_source = {r["id"]: r.get("source") for r in report.get("rows") or []
                       if r.get("status") == RowStatus.WRITTEN}
    moved = sorted(r["id"] for r in rows if r["id"] in recorded_source and r["source"] != recorded_source[r["id"]])
    if moved:
        raise BuildTampered(f"{data_dir}: the source column was changed after the build: rows "
                            + ", ".join(repr(i) for i in moved[:5]) + (f" and {len(moved) - 5} more" if len(moved) > 5
                                                                       else "") + f"; {rebuild}")
    info.update(label_fingerprint=label_fingerprint(rows), audio_fingerprint=audio_fingerprint(rows))
    return info


def _row_differences(rows: list[dict], report_rows: list[dict], show: int = 5) -> str:
    """Which rows differ between the shards and the report's list of written rows, for the error message."""
    written = {r["id"]: r for r in report_rows if r.get("status") == RowStatus.WRITTEN}
    stored = {r["id"]: r for r in rows}
    found = [f"row {i!r} is not in the build's list" for i in sorted(set(stored) - set(written))]
    found += [f"row {i!r} is gone from the shards" for i in sorted(set(written) - set(stored))]
    for i in sorted(set(stored) & set(written)):
        found += [f"row {i!r} has {key} {stored[i][key]!r}, the build wrote {written[i][key]!r}"
                  for key in ("split", "label", "generator") if str(stored[i][key]) != str(written[i][key])]
    if len(stored) != len(rows):
        found.append("some ids occur more than once")
    if not found:
        return "audio hashes (content_sha256) were changed"
    return "; ".join(found[:show]) + (f"; and {len(found) - show} more" if len(found) > show else "")


@dataclass(frozen=True)
class Build:
    """A built benchmark opened once: its report's essentials as typed fields, and reading its splits.

    :meth:`open` verifies the shards against the build report (:func:`verify_build`), so code handed a
    ``Build`` reads data that is what the build wrote without opening or checking the folder again.
    ``Build.open(path, verify=False)`` reads only the report (:func:`read_info`): for library callers that
    pass a bare folder to the lower-level functions, as before."""

    path: Path
    benchmark: str
    benchmark_version: str | None
    fingerprint: str
    splits: tuple[str, ...]
    #: split -> generator -> rows written, and the build's row totals (rows, written, missing, unusable...)
    counts: dict[str, Any] = field(repr=False)
    row_totals: dict[str, Any] = field(repr=False)
    #: what scoring depends on (ids, splits, labels, generators) and the stored audio's hashes; None when
    #: opened without verification
    label_fingerprint: str | None = None
    audio_fingerprint: str | None = None

    @classmethod
    def open(cls, path: str | Path | Build, benchmark: str | None = None, *, verify: bool = True) -> Build:
        """The build in ``path`` (a ``Build`` is returned as it is), verified unless ``verify`` is False.
        Raises :class:`NotABuiltBenchmark` or :class:`BuildTampered`."""
        if isinstance(path, Build):
            return path
        info = verify_build(path, benchmark) if verify else read_info(path, benchmark)
        return cls(path=Path(info["path"]), benchmark=info["benchmark"],
                   benchmark_version=info.get("benchmark_version"), fingerprint=info["fingerprint"],
                   splits=tuple(info["splits"]), counts=info["counts"], row_totals=info["row_totals"],
                   label_fingerprint=info.get("label_fingerprint"), audio_fingerprint=info.get("audio_fingerprint"))

    @property
    def info(self) -> dict[str, Any]:
        """The same essentials as the dict :func:`verify_build` returns (what run records store)."""
        info: dict[str, Any] = {"benchmark": self.benchmark, "benchmark_version": self.benchmark_version,
                                "fingerprint": self.fingerprint, "counts": self.counts,
                                "row_totals": self.row_totals, "path": str(self.path), "splits": list(self.splits)}
        if self.label_fingerprint is not None:
            info.update(label_fingerprint=self.label_fingerprint, audio_fingerprint=self.audio_fingerprint)
        return info

    def has(self, split: str) -> bool:
        return split in self.splits

    def report(self) -> dict[str, Any]:
        """The whole ``build_report.json`` (row list, audio settings, leakage audit...)."""
        return dict(json.loads((self.path / REPORT_NAME).read_text(encoding="utf-8")))

    def decoder_families(self) -> dict[str, str]:
        """Generator id -> decoder family, as the build report records them (``unspecified`` where the
        protocol named none). A build made before the report recorded them takes its shipped protocol's (when
        its benchmark is a shipped one, a ``-lofo-`` variant included); otherwise every generator is
        ``unspecified``."""
        generators = [g for g in self.report().get("generators") or [] if isinstance(g, dict) and "id" in g]
        if generators and all("decoder_family" in g for g in generators):
            return {str(g["id"]): str(g["decoder_family"]) for g in generators}
        shipped: dict[str, str] = {}
        if protocols.base_name(self.benchmark) in protocols.names():
            try:
                shipped = protocols.load(self.benchmark).decoder_families
            except protocols.ProtocolError:
                shipped = {}
        return {str(g["id"]): shipped.get(str(g["id"]), protocols.UNSPECIFIED) for g in generators} or shipped

    def shards(self, split: str) -> list[Path]:
        return shards(self.path, split)

    def num_rows(self, split: str) -> int:
        return num_rows(self.path, split)

    def table(self, split: str, columns: list[str]) -> Any:
        """Non-audio ``columns`` of ``split`` as a pandas DataFrame (:func:`read_table`)."""
        return read_table(self.path, split, columns)

    def rows(self, split: str, columns: list[str] | None = None, batch_size: int = 64,
             shard_index: int | None = None) -> Iterator[dict]:
        """Rows of ``split`` as dicts in stored order (:func:`iter_rows`)."""
        return iter_rows(self.path, split, columns, batch_size=batch_size, shard_index=shard_index)

    def row_range(self, split: str, columns: list[str]) -> RowRange:
        """Random access to blocks of ``split``'s rows (:class:`RowRange`)."""
        return RowRange(self.path, split, columns)

    def column_names(self, split: str) -> list[str]:
        return column_names(self.path, split)

    def stratum_columns(self, split: str) -> dict[str, str | None]:
        return stratum_columns(self.path, split)

    def __str__(self) -> str:  # messages name the folder, as they did when they were handed a path
        return str(self.path)

    def __fspath__(self) -> str:  # the path-taking helpers above accept an opened build too
        return str(self.path)
