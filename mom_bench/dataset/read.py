"""Reading a built benchmark (the output of `mom-bench build`) inside mom-bench.

Rows are streamed from the parquet shards with pyarrow, one record batch at a time, so a split never has to
fit in memory. The ``audio`` column comes back as the stored FLAC bytes; decode them with
``mom_bench.core.audio.load(row["audio"], rate, clip=...)`` so that training, evaluation and prediction read audio
exactly as everything else does. (Outside mom-bench, ``datasets.load_dataset(str(dir), split=...)`` reads the
same folder.)

A fold view (:class:`View`, made by :mod:`mom_bench.dataset.views`) is read through the same interface: its
rows are rows of its base build, each in the split the fold gives it, and ``Build.open`` returns one for a
folder holding ``view.json``.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mom_bench.core.errors import BuildTampered, FoldError, NotABuiltBenchmark, UnsafePath, ViewBaseMissing
from mom_bench.core.files import read_regular
from mom_bench.core.splits import SPLITS, TEST_OOD, RowStatus, split_rank
from mom_bench.dataset import folds, protocols

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
    if is_view(data_dir):
        raise NotABuiltBenchmark(f"{data_dir}: a fold view over a build ({folds.VIEW_FILE}), not a build itself: "
                                 "train, evaluate and extract read it (`--data` it); what needs the build's own "
                                 f"files (submit, validate) needs its base ({_view_base_hint(data_dir)})")
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


class RowBlocks(Protocol):
    """Random access to the rows of one split in its order (what :meth:`Build.row_range` returns)."""

    n_rows: int

    def rows(self, start: int, stop: int) -> Iterator[dict]: ...


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
#: ... and those of them only some builds have (``segments``: spliced builds; their fingerprints cover it).
_VERIFIED_IF_PRESENT = ["segments"]


def verify_build(data_dir: str | Path, benchmark: str | None = None) -> dict:
    """:func:`read_info` after checking that the shards still hold what the build wrote.

    Reads only the fingerprinted columns (no audio is decoded) and compares the shard files, their row counts
    and the rows' id/split/label/generator/audio hash (and ``segments`` where the build has them) with
    ``build_report.json``. Adds ``label_fingerprint``
    (ids, splits, labels, generators, segments: what scoring depends on, the same on every machine) and
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
            names = pq.read_schema(data_dir / name).names
            table = pq.read_table(data_dir / name, columns=_VERIFIED + [c for c in _VERIFIED_IF_PRESENT if c in names])
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
        return "audio hashes (content_sha256) or segments were changed"
    return "; ".join(found[:show]) + (f"; and {len(found) - show} more" if len(found) > show else "")


def is_view(path: str | Path) -> bool:
    """Whether ``path`` is a fold view's folder (``view.json`` and no build report of its own)."""
    path = Path(path).expanduser()
    return os.path.lexists(path / folds.VIEW_FILE) and not (path / REPORT_NAME).exists()


def _view_base_hint(path: Path) -> str:
    try:
        raw = json.loads(read_regular(path / folds.VIEW_FILE, path, MAX_VIEW_BYTES))
        return f"recorded as {raw['base']['path']!r}"
    except Exception:  # only a hint for a message: an unreadable view says so when it is opened
        return f"named in {folds.VIEW_FILE}"


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
        if is_view(path):
            return View.open_view(Path(path).expanduser(), verify=verify)
        if cls is View:
            raise NotABuiltBenchmark(f"{path}: not a fold view (no {folds.VIEW_FILE}); make one with `mom-bench fold`")
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

    def sources(self, split: str) -> list[tuple[Build, str]]:
        """The built splits whose rows ``split`` is made of: itself for a build, its base's for a view (what
        feature caches are keyed on, so a song's features are shared by a build and its views)."""
        return [(self, split)]

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

    def row_range(self, split: str, columns: list[str]) -> RowBlocks:
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


# --------------------------------------------------------------------------------------------------
# Fold views: a build's rows in the splits of a leave-one-generator-out or leave-one-family-out fold
# (mom_bench.dataset.folds has the rule, mom_bench.dataset.views makes them)

#: Largest view.json read: the file lists every row id of the view (a million ids is a few tens of MB).
MAX_VIEW_BYTES = 256 * 1024 * 1024


def base_metadata(base: Build) -> Any:
    """The columns the fold rule reads (:data:`mom_bench.dataset.folds.COLUMNS`) of every row of ``base``, split
    after split in the base's order, plus ``position``: the row's index in its split."""
    import pandas as pd

    frames = []
    for split in base.splits:
        names = base.column_names(split)
        frame = base.table(split, [c for c in folds.COLUMNS if c in names and c != "split"])
        if "group_id" not in frame:  # a build of another tool: every row is its own group
            frame["group_id"] = None
        frame.insert(1, "split", split)
        frame["position"] = range(len(frame))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def compute_fold(base: Build, meta: Any, kind: str, held_out: str, *, seed: int,
                 count_control: bool) -> tuple[folds.Fold, dict[str, Any]]:
    """The fold of ``base`` (rows ``meta``, :func:`base_metadata`) holding out ``held_out`` (a generator for
    ``logo``, a decoder family for ``lofo``), and its ``view.json`` content without the base's paths.
    Raises :class:`mom_bench.core.errors.FoldError` for a fold that cannot be made."""
    name = folds.view_name(base.benchmark, kind, held_out)
    where = f"{base.path} ({base.benchmark}), fold {name}"
    held = folds.held_out_generators(kind, held_out, base.decoder_families(), folds.fake_generators(meta), where)
    fold = folds.assign(meta, held, seed=seed, count_control=count_control)
    folds.check(fold, meta, where)
    block = {"benchmark": base.benchmark, "benchmark_version": base.benchmark_version,
             "fingerprint": base.fingerprint, "label_fingerprint": base.label_fingerprint}
    return fold, folds.document(fold, meta, benchmark=name, base=block, kind=kind,
                                family=held_out if kind == folds.LOFO else None, seed=seed)


def remake_command(view_dir: str | Path, doc: dict[str, Any], base: str | Path = "BASE") -> str:
    """The `mom-bench fold` command that makes the view ``doc`` describes again, into ``view_dir``."""
    fold = doc["fold"]
    held = fold["family"] if fold["kind"] == folds.LOFO else fold["held_out"][0]
    leave = "family" if fold["kind"] == folds.LOFO else "generator"
    control = "" if fold["count_control"].get("enabled", True) else " --no-count-control"
    return (f"`mom-bench fold --data {base} --leave-out {leave} --held-out {held} --seed {fold['seed']}{control} "
            f"--out {view_dir} --overwrite`")


def _find_base(view_dir: Path, doc: dict[str, Any]) -> Path:
    recorded, absolute = doc["base"]["path"], doc["base"].get("absolute_path")
    candidates = [(view_dir / recorded).resolve()] + ([Path(absolute)] if isinstance(absolute, str) and absolute
                                                       else [])
    for candidate in candidates:
        if (candidate / REPORT_NAME).is_file() and (candidate / "data").is_dir():
            return candidate
    where = f"{recorded!r} (from the view: {os.path.normpath(view_dir / recorded)})" + (
        f" nor {absolute!r}" if isinstance(absolute, str) and absolute else "")
    raise ViewBaseMissing(f"{view_dir}: the base build of this view ({doc['base']['benchmark']}) is not where the view "
                          f"records it: no build at {where}. Move the base build back there, or make the view again "
                          f"from where the base is now: {remake_command(view_dir, doc)}")


def _runs(positions: list[int]) -> Iterator[tuple[int, int]]:
    """Increasing positions as ``[start, stop)`` runs of consecutive ones."""
    if not positions:
        return
    start = prev = positions[0]
    for p in positions[1:]:
        if p != prev + 1:
            yield start, prev + 1
            start = p
        prev = p
    yield start, prev + 1


@dataclass(frozen=True)
class View(Build):
    """A fold view opened once: the rows of its base build (``base``) in the splits of the fold, read through
    the interface of :class:`Build` (``path`` is the view's folder), so train, evaluate and extract take it as
    they take a build.

    ``Build.open`` / ``View.open`` check it completely: the base is verified (:func:`verify_build`), its
    fingerprint must be the one the view records, and the fold is computed again from the base's rows and
    must list the same ids per split, the same rows left out and the same fingerprints (:class:`BuildTampered`
    naming what differs). Columns ``split`` and ``is_ood`` read through a view are the fold's."""

    base: Build = field(kw_only=True, repr=False, compare=False)
    #: the content of view.json, as recomputed from the base (its base block as recorded)
    document: dict[str, Any] = field(kw_only=True, repr=False, compare=False)
    #: split -> ((base split, positions of its rows in that base split), ...), in view order
    members: dict[str, tuple[tuple[str, tuple[int, ...]], ...]] = field(kw_only=True, repr=False, compare=False)
    #: True when :func:`mom_bench.dataset.views.make_fold` found this view already made
    reused: bool = field(default=False, kw_only=True, compare=False)

    @classmethod
    def open_view(cls, path: Path, *, verify: bool = True) -> View:
        """The view in folder ``path`` (see the class docstring; ``verify=False`` skips only the check of the
        base's shards against its report)."""
        where = path / folds.VIEW_FILE
        try:
            text = read_regular(where, path, MAX_VIEW_BYTES)
        except UnsafePath as err:
            raise NotABuiltBenchmark(f"{err}; a view's file must be a regular file inside its folder, of at most "
                                     f"{MAX_VIEW_BYTES} bytes") from None
        try:
            raw = json.loads(text)
        except (ValueError, RecursionError) as err:
            raise BuildTampered(f"{where}: not valid JSON ({str(err)[:100]}); the view file was damaged: make the "
                                "view again (`mom-bench fold ... --overwrite`)") from None
        doc = folds.parse(raw, str(where))
        base_dir = _find_base(path, doc)
        try:
            base = Build.open(base_dir, verify=verify)
        except BuildTampered as err:
            raise BuildTampered(f"the base build of the view {path}: {err}") from None
        if base.fingerprint != doc["base"]["fingerprint"]:
            raise BuildTampered(f"{path}: its base build {base_dir} changed after the view was made (fingerprint "
                                f"{base.fingerprint[:12]}, the view records {doc['base']['fingerprint'][:12]}: "
                                "rebuilt or replaced); make the view again: "
                                + remake_command(path, doc, base_dir))
        meta = base_metadata(base)
        fold_block = doc["fold"]
        held = fold_block["family"] if fold_block["kind"] == folds.LOFO else fold_block["held_out"][0]
        try:
            fold, expected = compute_fold(base, meta, fold_block["kind"], held, seed=fold_block["seed"],
                                          count_control=fold_block["count_control"]["enabled"])
        except FoldError as err:
            raise BuildTampered(f"{where}: its fold cannot be made from the base any more ({err}); the view or "
                                f"its base was changed: make the view again: {remake_command(path, doc, base_dir)}"
                                ) from None
        if expected["base"]["label_fingerprint"] is None:  # base opened without verification
            expected["base"]["label_fingerprint"] = doc["base"].get("label_fingerprint")
        problems = folds.differences(doc, expected)
        if problems:
            raise BuildTampered(f"{where}: the view does not match its fold recomputed from the base {base_dir}: "
                                + "; ".join(problems) + f"; make the view again: {remake_command(path, doc, base_dir)}")
        expected["base"] = doc["base"]
        members: dict[str, list[tuple[str, list[int]]]] = {}
        for base_split, position, split in zip(meta["split"], meta["position"], fold.split):
            if split is None:
                continue
            parts = members.setdefault(split, [])
            if not parts or parts[-1][0] != base_split:
                parts.append((base_split, []))
            parts[-1][1].append(int(position))
        left = sum(len(v) for v in expected["left_out"].values())
        totals = dict(base.row_totals)
        totals.update(written=len(meta) - left, left_out=left,
                      excluded=int(totals.get("excluded") or 0) + left)
        return cls(path=path, benchmark=expected["benchmark"], benchmark_version=base.benchmark_version,
                   fingerprint=expected["fingerprint"], splits=tuple(expected["splits"]), counts=expected["counts"],
                   row_totals=totals, label_fingerprint=expected["label_fingerprint"],
                   audio_fingerprint=expected["audio_fingerprint"], base=base, document=expected,
                   members={s: tuple((b, tuple(p)) for b, p in parts)
                            for s, parts in sorted(members.items(), key=lambda kv: (split_rank(kv[0]), kv[0]))})

    @property
    def info(self) -> dict[str, Any]:
        info = super().info
        fold = self.document["fold"]
        info["view"] = {"base": str(self.base.path), "base_benchmark": self.base.benchmark,
                        "base_fingerprint": self.base.fingerprint, "kind": fold["kind"], "family": fold["family"],
                        "held_out": list(fold["held_out"]), "seed": fold["seed"],
                        "count_control": dict(fold["count_control"])}
        return info

    @property
    def fold(self) -> dict[str, Any]:
        """The fold block of view.json: kind, family, held_out, seed, count_control, groups_moved."""
        return dict(self.document["fold"])

    @property
    def left_out(self) -> dict[str, list[str]]:
        """Ids of the base's rows the view leaves out, by reason (:data:`mom_bench.dataset.folds.REASONS`)."""
        return {k: list(v) for k, v in self.document["left_out"].items()}

    def ids(self, split: str) -> list[str]:
        """The ids of ``split`` in view order."""
        self._members(split)
        return list(self.document["splits"][split])

    def _members(self, split: str) -> tuple[tuple[str, tuple[int, ...]], ...]:
        if split not in self.members:
            raise NotABuiltBenchmark(f"{self.path}: no split {split!r} (this view has {', '.join(self.splits)})")
        return self.members[split]

    def report(self) -> dict[str, Any]:
        """The base's report as the view sees it: the view's name, fingerprints and counts, each listed row in
        the fold's split (rows the fold leaves out as ``excluded``, with the reason), and the view's ``base`` and
        ``fold``. What describes the base's own files (shards, leakage audit, shortcut check) is left out."""
        report = self.base.report()
        for key in ("files", "leakage_audit", "shortcut_check", "expected_audio_fingerprint"):
            report.pop(key, None)
        split_of = {i: s for s, ids in self.document["splits"].items() for i in ids}
        left = {i: why for why, ids in self.document["left_out"].items() for i in ids}
        fold = self.document["fold"]
        held, moved = set(fold["held_out"]), set(fold["groups_moved"])
        rows = []
        for row in report.get("rows") or []:
            if not isinstance(row, dict):
                continue
            row, rid = dict(row), str(row.get("id"))
            if row.get("status") == RowStatus.WRITTEN and rid in split_of:
                row["split"] = split_of[rid]
            elif rid in left:
                row.update(split=None, status=RowStatus.EXCLUDED, reason=f"left out of the fold view: {left[rid]}")
            elif row.get("status") != RowStatus.EXCLUDED and row.get("split") is not None:
                # a listed row without audio takes the split its written twins would take (steps 1, 2, 4)
                split, fake = str(row["split"]), str(row.get("label")) == "1"
                heldout = fake and str(row.get("generator")) in held
                if heldout and (split in ("train", "validation") or row.get("group_id") in moved):
                    row.update(split=None, status=RowStatus.EXCLUDED,
                               reason=f"left out of the fold view: {folds.HELD_OUT_IN_TRAINING} "
                                      f"(in the base: {row.get('status')}: {row.get('reason')})")
                elif heldout:
                    row["split"] = TEST_OOD
                elif fake and split == TEST_OOD:
                    row["split"] = "test_id"
                elif split == "test_id" and row.get("group_id") in moved:
                    row["split"] = "train"
            rows.append(row)
        report.update(benchmark=self.benchmark, fingerprint=self.fingerprint, label_fingerprint=self.label_fingerprint,
                      audio_fingerprint=self.audio_fingerprint, counts={**self.row_totals, "by_split": self.counts},
                      rows=rows, view={"base": self.document["base"], "fold": fold})
        return report

    def decoder_families(self) -> dict[str, str]:
        return self.base.decoder_families()

    def sources(self, split: str) -> list[tuple[Build, str]]:
        return [(self.base, base_split) for base_split, _ in self._members(split)]

    def _shard_plan(self, split: str) -> list[tuple[Path, str, list[int]]]:
        """The base shards holding rows of ``split``: (shard, base split, positions of those rows in the base
        split), from the footers only."""
        import bisect

        import pyarrow.parquet as pq

        plan = []
        for base_split, positions in self._members(split):
            first = 0
            for shard in self.base.shards(base_split):
                n = pq.ParquetFile(shard).metadata.num_rows
                inside = list(positions[bisect.bisect_left(positions, first):bisect.bisect_left(positions, first + n)])
                if inside:
                    plan.append((shard, base_split, inside))
                first += n
        return plan

    def shards(self, split: str) -> list[Path]:
        """The base shards that hold rows of ``split`` (what ``shard_index`` of :meth:`rows` indexes)."""
        return [shard for shard, _, _ in self._shard_plan(split)]

    def num_rows(self, split: str) -> int:
        return sum(len(positions) for _, positions in self._members(split))

    def _wanted(self, columns: list[str]) -> list[str]:
        # is_ood is the fold's: a fake in the fold's test_ood, which the label tells
        return columns + (["label"] if "is_ood" in columns and "label" not in columns else [])

    def _relabel(self, row: dict, split: str, columns: list[str] | None) -> dict:
        if columns is None or "split" in columns:
            row["split"] = split
        if columns is None or "is_ood" in columns:
            row["is_ood"] = split == TEST_OOD and int(row["label"]) == 1
        if columns is not None and "label" not in columns:
            row.pop("label", None)
        return row

    def table(self, split: str, columns: list[str]) -> Any:
        import pandas as pd

        if "audio" in columns:
            raise ValueError("table is for metadata; stream audio with rows")
        frames = [self.base.table(base_split, self._wanted(columns)).iloc[list(positions)]
                  for base_split, positions in self._members(split)]
        frame = pd.concat(frames, ignore_index=True)
        if "split" in columns:
            frame["split"] = split
        if "is_ood" in columns:
            frame["is_ood"] = (split == TEST_OOD) & (frame["label"].astype(int) == 1)
        return frame[columns]

    def rows(self, split: str, columns: list[str] | None = None, batch_size: int = 64,
             shard_index: int | None = None) -> Iterator[dict]:
        """Rows of ``split`` in view order, read row group by row group from the base (groups without a row
        of the view are not read); ``shard_index`` reads only the rows in that shard of :meth:`shards`."""
        plan = self._shard_plan(split)
        wanted = None if columns is None else self._wanted(columns)
        readers: dict[str, RowBlocks] = {}
        for _, base_split, positions in plan if shard_index is None else [plan[shard_index]]:
            if base_split not in readers:
                names = wanted if wanted is not None else self.base.column_names(base_split)
                readers[base_split] = self.base.row_range(base_split, names)
            for start, stop in _runs(positions):
                for row in readers[base_split].rows(start, stop):
                    yield self._relabel(row, split, columns)

    def row_range(self, split: str, columns: list[str]) -> RowBlocks:
        return ViewRowRange(self, split, columns)

    def column_names(self, split: str) -> list[str]:
        return self.base.column_names(self._members(split)[0][0])

    def stratum_columns(self, split: str) -> dict[str, str | None]:
        return self.base.stratum_columns(self._members(split)[0][0])


class ViewRowRange:
    """Rows ``[start, stop)`` of a view's split in view order (:class:`RowRange`'s interface), each read from
    its base split through a :class:`RowRange`, so only the row groups that hold them are read."""

    def __init__(self, view: View, split: str, columns: list[str]):
        self.view, self.split, self.columns = view, split, columns
        self.parts = view._members(split)
        self.n_rows = sum(len(p) for _, p in self.parts)
        self._readers: dict[str, RowBlocks] = {}

    def rows(self, start: int, stop: int) -> Iterator[dict]:
        if not 0 <= start <= stop <= self.n_rows:
            raise IndexError(f"rows {start}..{stop} are outside {self.split} ({self.n_rows} rows)")
        first = 0
        for base_split, positions in self.parts:
            lo, hi = max(start, first) - first, min(stop, first + len(positions)) - first
            first += len(positions)
            if lo >= hi:
                continue
            if base_split not in self._readers:
                self._readers[base_split] = self.view.base.row_range(base_split, self.view._wanted(self.columns))
            for a, b in _runs(list(positions[lo:hi])):
                for row in self._readers[base_split].rows(a, b):
                    yield self.view._relabel(row, self.split, self.columns)
