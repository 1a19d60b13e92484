"""`build_benchmark`: protocol + source -> a Hugging Face dataset folder with trusted splits.

The run has two phases:

1. **process** every row (fetch -> decode -> FLAC + hash + format statistics) in source order, with a
   thread pool for fetching (downloads) and a process pool for decoding, and append the results to the
   crash-safe staging journal (:mod:`mom_bench.dataset.staging`). ``resume`` skips the rows already there.
2. **finalise** from the journal: join groups that share decoded audio, audit the splits, stream the rows
   into bounded parquet shards per split, and write ``splits.csv``, ``build_report.json`` and the data
   card. Only then are the old outputs replaced and the journal removed.

Splits are decided per group before any audio is read, from the group key alone (see
:mod:`mom_bench.dataset.splits`); only exact duplicates found after decoding can move a row.
"""
from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import multiprocessing
import re
import shutil
import sys
from collections import Counter, defaultdict, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mom_bench.rerun import Previous, rerun
from mom_bench import protocols, settings
from mom_bench.audio import AudioError
from mom_bench.dataset import splits as S
from mom_bench.dataset.paths import UnsafePath
from mom_bench.dataset.process import process, worker_init
from mom_bench.dataset.sources import Excluded, MissingAudio, SourceRow, open_source
from mom_bench.dataset.finalize import finalize
from mom_bench.dataset.report import BuildError, BuildResult
from mom_bench.dataset.staging import Staging, dumps, fsync_write

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,199}$")
_OUR_FILES = {"README.md", "data", "splits.csv", "build_report.json", ".build"}
_PACKAGED_BUILDERS = {"parquet", "audiofolder", "imagefolder", "videofolder", "csv", "json", "text", "arrow",
                      "pandas", "sql", "webdataset", "generator", "cache", "xml", "hdf5", "pdffolder"}


# --------------------------------------------------------------------------------------------------
# listing and split assignment


@dataclass
class _Listed:
    rows: list[SourceRow]
    split_of: dict[str, str]  # id -> split
    is_ood: dict[str, bool]
    rejected: list[dict]


def list_rows(protocol, source, split_mode: str, limit: int | None) -> _Listed:
    """Phase 0 of a build, before any audio is read: list ``source``'s rows, check them against
    ``protocol`` and decide every row's split.

    ``split_mode`` is ``strict`` (the protocol's weights) or ``official`` (its ``splits.official`` weights
    where it has them); ``limit`` keeps the first N rows of each source (None: all). Returns an object with
    ``rows`` (the accepted :class:`SourceRow` s, in source order), ``split_of`` (id -> split), ``is_ood``
    (id -> whether it is a fake of an OOD generator) and ``rejected`` (report rows, status ``unusable``
    with a reason, for invalid or duplicate ids, bad labels, unknown generators or real sources and bad
    pre-assigned splits). Splits follow :mod:`mom_bench.dataset.splits`: OOD fakes go to ``test_ood``, a
    group pre-assigned by the source keeps that split, any other group is placed by the hash of its key.
    Raises :class:`BuildError` when pre-assignments contradict each other or put an OOD fake elsewhere.
    """
    gens = {g.id: g for g in protocol.generators}
    reals = {r.id for r in protocol.reals}
    weights = protocol.official_weights if split_mode == "official" and protocol.official_weights else \
        {"reals": protocol.real_weights, "fakes_id": protocol.fake_id_weights}
    rows: list[SourceRow] = []
    rejected: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    per_source: Counter = Counter()
    def reject(row, reason):
        rejected.append({"id": str(getattr(row, "id", "")), "source": str(getattr(row, "source", "")),
                         "generator": str(getattr(row, "generator", "")), "label": getattr(row, "label", None),
                         "split": None, "group_id": None, "status": "unusable", "reason": reason})

    for i, row in enumerate(source.rows()):
        if not isinstance(row.id, str) or not _ID_RE.match(row.id):
            reject(row, f"row {i}: invalid id {row.id!r} (letters, digits, '.', '_', '-' only)")
            continue
        if row.id in seen:
            reject(row, f"duplicate id (first listed by source {seen[row.id]!r})")
            continue
        if row.label not in (0, 1):
            reject(row, f"label must be 0 (real) or 1 (fake), got {row.label!r}")
            continue
        if row.label == 1 and row.generator not in gens:
            reject(row, f"generator {row.generator!r} is not in protocol {protocol.name} "
                   f"(known: {', '.join(gens)})")
            continue
        if row.label == 0 and row.generator != "real":
            reject(row, f"a real row must have generator 'real', got {row.generator!r}")
            continue
        if row.label == 0 and reals and row.source not in reals:
            reject(row, f"real source {row.source!r} is not in protocol {protocol.name} (known: {', '.join(sorted(reals))})")
            continue
        if row.split is not None and row.split not in S.SPLITS:
            reject(row, f"pre-assigned split {row.split!r} is not one of {', '.join(S.SPLITS)}")
            continue
        if not row.group_key:
            reject(row, "empty group key")
            continue
        if limit is not None:
            per_source[row.source] += 1
            if per_source[row.source] > limit:
                continue
        seen[row.id] = row.source
        rows.append(row)

    groups: dict[str, list[SourceRow]] = defaultdict(list)
    for row in rows:
        groups[row.group_key].append(row)
    is_ood = {r.id: r.label == 1 and gens[r.generator].is_ood for r in rows}
    split_of: dict[str, str] = {}
    errors = []
    for key, members in groups.items():
        pre = sorted({m.split for m in members if m.split})
        any_ood = any(is_ood[m.id] for m in members)
        if len(pre) > 1:
            errors.append(f"group {key!r} is pre-assigned to several splits ({', '.join(pre)})")
            continue
        if pre:
            split = pre[0]
            if any_ood and split != "test_ood":
                bad = next(m for m in members if is_ood[m.id])
                errors.append(f"row {bad.id!r} of OOD generator {bad.generator!r} is pre-assigned to {split!r}; "
                              "OOD generators may only appear in test_ood")
                continue
        elif any_ood:
            split = "test_ood"
        elif any(m.label == 0 for m in members):
            split = S.assign_split(key, protocol.salt, weights["reals"])
        else:
            split = S.assign_split(key, protocol.salt, weights["fakes_id"])
        for m in members:
            split_of[m.id] = split
    if errors:
        more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
        raise BuildError("split audit failed: " + "; ".join(errors[:10]) + more)
    return _Listed(rows, split_of, is_ood, rejected)


# --------------------------------------------------------------------------------------------------
# processing pipeline


def _fetch(row: SourceRow):
    try:
        if row.fetch is None:
            raise MissingAudio("the source gives no way to fetch this row's audio")
        return row, row.fetch(), None
    except MissingAudio as err:
        return row, None, ("missing", str(err) or "missing audio")
    except Excluded as err:
        return row, None, ("excluded", str(err))
    except AudioError as err:
        return row, None, ("unusable", err.reason)
    except UnsafePath as err:
        return row, None, ("unusable", str(err))
    except Exception as err:  # a failed download or a source bug: reported against the row, run goes on
        return row, None, ("missing", f"{type(err).__name__}: {err}")


def _done(value) -> cf.Future:
    fut: cf.Future = cf.Future()
    fut.set_result(value)
    return fut


def _pipeline(todo, *, num_workers: int, fetch_concurrency: int, proc_kwargs: dict):
    """Yield ``(row, result)`` in the order of ``todo``; fetches run in threads, decoding in processes."""
    fetch_pool = cf.ThreadPoolExecutor(max_workers=max(1, fetch_concurrency), thread_name_prefix="fetch")
    proc_pool = None
    if num_workers > 1:
        proc_pool = cf.ProcessPoolExecutor(max_workers=num_workers, mp_context=multiprocessing.get_context("spawn"),
                                           initializer=worker_init)
    fetch_window = max(2, fetch_concurrency * 2)
    proc_window = max(2, num_workers * 2)
    fetch_q: deque = deque()
    proc_q: deque = deque()
    rows = iter(todo)
    exhausted = False
    try:
        while True:
            while not exhausted and len(fetch_q) < fetch_window:
                try:
                    fetch_q.append(fetch_pool.submit(_fetch, next(rows)))
                except StopIteration:
                    exhausted = True
            while fetch_q and len(proc_q) < proc_window and (fetch_q[0].done() or not proc_q):
                row, fetched, err = fetch_q.popleft().result()
                if err:
                    proc_q.append(_done((row, {"status": err[0], "reason": err[1]})))
                elif proc_pool is None:
                    proc_q.append(_done((row, process(row.id, fetched, **proc_kwargs))))
                else:
                    fut = proc_pool.submit(process, row.id, fetched, **proc_kwargs)
                    proc_q.append((row, fut))
            if not proc_q:
                if exhausted and not fetch_q:
                    return
                continue
            head = proc_q.popleft()
            if isinstance(head, tuple):
                row, fut = head
                try:
                    yield row, fut.result()
                except cf.process.BrokenProcessPool:
                    raise
                except Exception as err:  # e.g. an unpicklable fetch result
                    yield row, {"status": "unusable", "reason": f"{type(err).__name__}: {err}"}
            else:
                yield head.result()
    finally:
        fetch_pool.shutdown(wait=False, cancel_futures=True)
        if proc_pool is not None:
            proc_pool.shutdown(wait=True, cancel_futures=True)


def _record(row: SourceRow, split: str, result: dict) -> dict:
    rec: dict[str, Any] = {k: None for k in ("audio_bytes", "audio_path", "duration_s", "orig_codec", "orig_sample_rate",
                             "orig_channels", "orig_bit_rate", "orig_duration_s", "content_sha256")}
    rec.update({k: v for k, v in result.items() if k in rec})
    rec.update(id=row.id, label=int(row.label), generator=row.generator, source=row.source,
               group_key=row.group_key, preassigned=row.split, split=split, status=result["status"],
               reason=result.get("reason"), meta_json=dumps(row.meta or {}),
               stats_json=dumps(result["stats"]) if result.get("stats") else None)
    return rec


# --------------------------------------------------------------------------------------------------
# the entry point


def build_benchmark(name: str | None = None, out_dir: str | Path | None = None, *, split_mode: str = "strict",
                    num_workers: int = 1, resume: bool = False, overwrite: bool = False,
                    max_seconds: float | None = None, keep_original: bool = False, limit: int | None = None,
                    source_options: dict | None = None, fetch_concurrency: int = 8,
                    shard_bytes: int = 256 << 20, progress: bool = True, keep_staging: bool = False,
                    journal_every: int = 200) -> BuildResult:
    """Build benchmark ``name`` (default ``mom-mini``) into ``out_dir`` (default
    ``settings.default_dataset_dir(name)``) and return what was written.

    ``split_mode``: ``strict`` (hash of the group key) or ``official`` (the proportions of the benchmark's
    official code, and its own split column where the source has one). An interrupted build made with
    the same options continues from its journal (``resume`` only states that intent); ``overwrite``
    replaces a finished or unfinished one. A finished build made
    from the same protocol file and options is returned as it is (``result.reused``). ``limit`` keeps the
    first N rows of each source (smoke tests). ``source_options`` are laid over the protocol's ``source``
    block (e.g. ``{"root": ..., "manifests": ...}`` for MoM). ``journal_every`` rows make one journal
    part (the most a kill -9 can lose). Rows that are missing or unusable are
    reported, never dropped silently: see ``BuildResult.ok`` and ``build_report.json``.
    """
    from tqdm.auto import tqdm

    protocol = protocols.load(name or protocols.DEFAULT)
    if split_mode not in ("strict", "official"):
        raise BuildError(f"unknown split mode {split_mode!r}: use 'strict' or 'official'")
    if max_seconds is not None and max_seconds <= 0:
        raise BuildError("--max-seconds must be positive")
    if keep_original and max_seconds is not None:
        raise BuildError("--keep-original stores the input files unchanged, so it cannot be combined with --max-seconds")
    if keep_original and protocol.max_seconds is not None:
        raise BuildError(f"--keep-original stores whole input files, but benchmark {protocol.name} stores only the "
                         f"first {protocol.max_seconds:g} s of each song")
    max_seconds = max_seconds if max_seconds is not None else protocol.max_seconds
    out = Path(out_dir) if out_dir else settings.default_dataset_dir(protocol.name)
    out = out.expanduser().resolve()
    if out.name.lower() in _PACKAGED_BUILDERS:
        # load_dataset("…/parquet") would pick datasets' packaged builder instead of this folder
        raise BuildError(f"output folder name {out.name!r} is also a datasets builder name; choose another --out")
    work = out / ".build"
    options = {"benchmark": protocol.name, "benchmark_version": protocol.version,
               "protocol_sha256": hashlib.sha256(protocol.path.read_bytes()).hexdigest(),
               "split_mode": split_mode, "max_seconds": max_seconds, "keep_original": keep_original,
               "sample_rate": protocol.sample_rate, "limit": limit,
               "source_options": json.loads(dumps(source_options or {}))}

    report_file = out / "build_report.json"
    if work.exists() and report_file.exists() and not overwrite:
        shutil.rmtree(work)  # a finished build whose clean-up was interrupted
    finished, unfinished = report_file.exists(), work.exists()
    if unfinished:
        before = json.loads((work / "options.json").read_text()) if (work / "options.json").exists() else None
    else:
        before = json.loads(report_file.read_text()).get("options") if finished else None
    decision = rerun(Previous(finished=finished, unfinished=unfinished, same=before == options), overwrite=overwrite)
    if decision == "refuse":
        if unfinished:
            raise BuildError(f"the unfinished build in {out} used other options ({before}); pass the same "
                             "options to continue it, or --overwrite to start again")
        raise BuildError(f"{out} already holds a build made with other options; pass --overwrite to rebuild it "
                         "or --out DIR")
    if decision == "reuse":  # same protocol file and options: the build is up to date
        result = BuildResult.from_report(out)
        result.reused = True
        return result
    if decision == "restart":
        report_file.unlink(missing_ok=True)  # the old outputs no longer count as a finished build
        if work.exists():
            shutil.rmtree(work)
    elif decision == "continue":
        # The same command run again after an interruption continues it; --resume only makes that explicit.
        if progress:
            print(f"continuing the unfinished build in {out} (--overwrite starts again)", file=sys.stderr)
    elif out.exists() and not overwrite and any(p.name not in _OUR_FILES for p in out.iterdir()):
        raise BuildError(f"{out} is not empty and holds no mom-bench build; choose another --out")
    work.mkdir(parents=True, exist_ok=True)
    fsync_write(work / "options.json", json.dumps(options, indent=2, sort_keys=True).encode())

    source = open_source(protocol, {**(source_options or {}), "split_mode": split_mode})
    listed = list_rows(protocol, source, split_mode, limit)
    # journal_every: rows per journal part, i.e. the most work a kill -9 can lose
    staging = Staging(work / "staging", max_rows=journal_every)
    done = staging.done_ids()
    todo = [r for r in listed.rows if r.id not in done]

    statuses: Counter = Counter()
    bar = tqdm(total=len(listed.rows), initial=len(listed.rows) - len(todo), desc=f"build {protocol.name}",
               unit="song", disable=not progress, dynamic_ncols=True)
    proc_kwargs = {"sample_rate": protocol.sample_rate, "max_seconds": max_seconds, "keep_original": keep_original}
    try:
        for row, result in _pipeline(todo, num_workers=num_workers, fetch_concurrency=fetch_concurrency,
                                     proc_kwargs=proc_kwargs):
            staging.add(_record(row, listed.split_of[row.id], result))
            statuses[result["status"]] += 1
            bar.update(1)
            if statuses["missing"] or statuses["unusable"]:
                bar.set_postfix(missing=statuses["missing"], unusable=statuses["unusable"], refresh=False)
    finally:
        staging.flush()  # keep what is done (Ctrl-C, errors); after kill -9 the last part is redone
        bar.close()

    return finalize(protocol, out, work, staging, listed, options, shard_bytes=shard_bytes,
                    keep_staging=keep_staging, progress=progress)
