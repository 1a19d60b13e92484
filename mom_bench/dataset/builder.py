"""`build_benchmark`: protocol + source -> a Hugging Face dataset folder with trusted splits.

The run has two phases:

1. **process** every row (fetch -> decode -> FLAC + hash + format statistics) in source order, with a
   thread pool for fetching (downloads) and a process pool for decoding, and append the results to the
   crash-safe staging journal (:mod:`mom_bench.dataset.staging`). Rows already there (with the same
   identity: every listed field and the stamp of their input file) and rows of the previous build that did
   not change are not processed again.
2. **finalise** from the journal: join groups that share decoded audio, audit the splits, stream the rows
   into bounded parquet shards per split, and write ``splits.csv``, ``build_report.json`` and the data
   card, all beside the previous build; only then is the previous build swapped out and the journal removed
   (:mod:`mom_bench.dataset.finalize`).

Before phase 1 writes anything, the disk preflight (:mod:`mom_bench.dataset.storage`) refuses a build whose
journal and shards would not fit on the output folder's filesystem.

Splits are decided per group before any audio is read, from the group key alone (see
:mod:`mom_bench.dataset.splitting`); only exact duplicates found after decoding can move a row.

The output folder is written by one build at a time (an advisory lock, :func:`mom_bench.core.files.writer_lock`),
and only when it is empty or a mom-bench build (:func:`check_ours`).
"""
from __future__ import annotations

import concurrent.futures as cf
import errno
import hashlib
import json
import multiprocessing
import os
import pickle
import shutil
import sys
import tempfile
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mom_bench.core import settings
from mom_bench.core.audio import AudioError
from mom_bench.core.errors import BuildWriteFailed
from mom_bench.core.files import LOCK_NAME, ForeignFolder, writer_lock
from mom_bench.core.rerun import Previous, rerun
from mom_bench.core.splits import RowStatus
from mom_bench.dataset import lineage, protocols, storage, workers
from mom_bench.dataset.build_report import BuildError, BuildResult, fingerprint
from mom_bench.dataset.finalize import ROWS_NAME, finalize, read_rows, remove_journal, roll_forward
from mom_bench.dataset.listing import Listed, list_rows
from mom_bench.dataset.paths import UnsafePath
from mom_bench.dataset.process import process
from mom_bench.dataset.read import BuildTampered, NotABuiltBenchmark, verify_build
from mom_bench.dataset.sources import Excluded, MissingAudio, SourceRow, open_source
from mom_bench.dataset.staging import Staging, dumps, fsync_write

_PACKAGED_BUILDERS = {"parquet", "audiofolder", "imagefolder", "videofolder", "csv", "json", "text", "arrow",
                      "pandas", "sql", "webdataset", "generator", "cache", "xml", "hdf5", "pdffolder"}
#: The journal of a build in progress, inside the output folder; ``options.json`` in it marks an unfinished build.
_JOURNAL = ".build"
#: Scratch name of a journal folder before it holds its options.
_NEW_JOURNAL = ".build.new-"
#: Write errors that mean "no room": reported as such, with the previous build intact.
_OUT_OF_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
#: What a build stores in the ``audio`` column: mono FLAC at the protocol's rate, or the input files as they are.
STORES = ("flac", "original")


# --------------------------------------------------------------------------------------------------
# processing pipeline


def _fetch(row: SourceRow):
    try:
        if row.fetch is None:
            raise MissingAudio("the source gives no way to fetch this row's audio")
        return row, row.fetch(), None
    except MissingAudio as err:
        return row, None, (RowStatus.MISSING, str(err) or "missing audio")
    except Excluded as err:
        return row, None, (RowStatus.EXCLUDED, str(err))
    except AudioError as err:
        return row, None, (RowStatus.UNUSABLE, err.reason)
    except UnsafePath as err:
        return row, None, (RowStatus.UNUSABLE, str(err))
    except OSError as err:  # a file that cannot be read (permissions, a vanished mount): reported, run goes on
        return row, None, (RowStatus.MISSING, f"{type(err).__name__}: {err}")


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
                                           initializer=workers.start, initargs=(os.getpid(),))
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
                except (pickle.PicklingError, TypeError, AttributeError) as err:
                    # process() reports every decoding failure itself: only sending the fetched value to the
                    # worker can fail here (an unpicklable fetch result), which is the row's problem
                    yield row, {"status": RowStatus.UNUSABLE, "reason": f"{type(err).__name__}: {err}"}
            else:
                yield head.result()
    finally:
        fetch_pool.shutdown(wait=False, cancel_futures=True)
        if proc_pool is not None:
            proc_pool.shutdown(wait=True, cancel_futures=True)


def _record(row: SourceRow, split: str, result: dict, identity: str) -> dict:
    rec: dict[str, Any] = {k: None for k in ("audio_bytes", "audio_path", "duration_s", "orig_codec",
                                             "orig_sample_rate", "orig_channels", "orig_bit_rate", "orig_duration_s",
                                             "content_sha256", "orig_bytes", "pcm16k_sha256", "pcm16k_print")}
    rec.update({k: v for k, v in result.items() if k in rec})
    rec.update(id=row.id, label=int(row.label), generator=row.generator, source=row.source,
               group_key=row.group_key, preassigned=row.split, split=split, status=result["status"],
               reason=result.get("reason"), meta_json=dumps(row.meta or {}),
               stats_json=dumps(result["stats"]) if result.get("stats") else None, identity=identity,
               segments_json=dumps([list(s) for s in row.segments]) if row.segments is not None else None)
    return rec


# --------------------------------------------------------------------------------------------------
# the output folder


def _is_scratch(name: str) -> bool:
    """Entries that do not make a folder anything: the writer lock, and a journal folder being created."""
    return name == LOCK_NAME or name.startswith(_NEW_JOURNAL)


def check_ours(out: Path) -> None:
    """Refuse (:class:`ForeignFolder`) unless ``out`` is absent, empty, a finished mom-bench build (a
    readable ``build_report.json``) or an unfinished one (``.build/options.json``): a build replaces only
    its own kind of folder."""
    if not out.exists():
        return
    if not out.is_dir():
        raise ForeignFolder(f"{out} exists and is not a folder; choose another --out")
    report = out / "build_report.json"
    if report.is_file():
        try:
            content = json.loads(report.read_text(encoding="utf-8"))
            ok = isinstance(content, dict) and {"benchmark", "fingerprint", "options"} <= set(content)
        except (OSError, ValueError):
            ok = False
        if not ok:
            raise ForeignFolder(f"{out}: build_report.json there is not a mom-bench build report; mom-bench replaces "
                                "only its own builds or empty folders: choose another --out or move the folder away")
        return
    if (out / _JOURNAL / "options.json").is_file():
        return
    others = sorted(p.name for p in out.iterdir() if not _is_scratch(p.name))
    if others:
        shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        raise ForeignFolder(f"{out} is not empty ({shown}) and holds no mom-bench build (no build_report.json, no "
                            "unfinished build in .build/); mom-bench builds only into its own builds or empty "
                            "folders, with or without --overwrite: choose another --out or move the folder away")


def _settle(out: Path, progress: bool) -> None:
    """Finish what an earlier run left half done: a committed build not yet swapped in, a journal whose
    deletion stopped, a journal folder not yet named."""
    work = out / _JOURNAL
    for leftover in out.glob(_NEW_JOURNAL + "*"):
        remove_journal(leftover)
    if (work / "swap").is_dir():
        if progress:
            print(f"completing the build in {out} whose last step was interrupted", file=sys.stderr)
        roll_forward(out, work)
    elif work.is_dir() and not (work / "options.json").is_file():
        remove_journal(work)  # a finished build's journal (kept, or its deletion interrupted)


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        return {"unreadable": f"{path}: {err}"}  # compares unequal to any options: refused, never trusted


def _start_journal(out: Path, options: dict) -> None:
    """An empty journal holding ``options.json``: cleared in place when there is one (its options.json
    stays until the new one replaces it), else made under a scratch name and renamed, so that ``.build``
    never exists without its options."""
    work = out / _JOURNAL
    text = json.dumps(options, indent=2, sort_keys=True).encode()
    if work.is_dir():
        for child in work.iterdir():
            if child.name != "options.json":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        fsync_write(work / "options.json", text)
        return
    tmp = Path(tempfile.mkdtemp(dir=out, prefix=_NEW_JOURNAL))
    fsync_write(tmp / "options.json", text)
    os.replace(tmp, work)


# --------------------------------------------------------------------------------------------------
# what to do with what the folder holds


@dataclass
class _Plan:
    decision: str  # new, restart, continue, update, reuse
    carried: dict[str, dict] = field(default_factory=dict)  # id -> previous build's record, kept as it is
    update: dict = field(default_factory=dict)  # what changed since the previous build (for the report)
    notes: list[str] = field(default_factory=list)


def _same_options(before: Any, now: dict, same_rows_as: tuple[str, ...]) -> bool:
    """Whether a build made with the options ``before`` is one made with ``now``: equal, or differing only by
    an earlier protocol file that the protocol declares to give the same rows (``same_rows_as``), so that an
    upgrade which only documents a benchmark (a decoder family, a release) never rebuilds days of MoM."""
    if before == now:
        return True
    return isinstance(before, dict) and before.get("protocol_sha256") in same_rows_as \
        and {**before, "protocol_sha256": now["protocol_sha256"]} == now


def _plan(out: Path, options: dict, listed: Listed, *, overwrite: bool, fetch_concurrency: int,
          same_rows_as: tuple[str, ...] = ()) -> _Plan:
    """The rerun policy (:mod:`mom_bench.core.rerun`) applied to ``out``, then, for a finished build of the same
    command, whether its inputs changed: it is reused only when the listing is the one it was built from
    and none of its missing rows can be read now."""
    journal = _read_json(out / _JOURNAL / "options.json")
    report = _read_json(out / "build_report.json")
    same_build = report is not None and _same_options(report.get("options"), options, same_rows_as)
    if journal is not None:
        decision = rerun(Previous(unfinished=True, same=_same_options(journal, options, same_rows_as)),
                         overwrite=overwrite)
    elif report is not None and not same_build and _outdated(report.get("options"), options):
        was = report["options"].get("benchmark_version")
        return _Plan("restart", notes=[f"{out} holds {options['benchmark']} {was}, built from an earlier protocol "
                                       f"file: building {options['benchmark_version']} instead"])
    else:
        decision = rerun(Previous(finished=report is not None, same=same_build), overwrite=overwrite)
    if decision == "refuse":
        if journal is not None:
            kept = " (the finished build there is unchanged)" if report is not None else ""
            raise BuildError(f"the unfinished build in {out} used other options ({journal}){kept}; pass the same "
                             "options to continue it, or --overwrite to start again")
        raise BuildError(f"{out} already holds a build made with other options; pass --overwrite to rebuild it "
                         "or --out DIR")
    if not same_build or overwrite:
        return _Plan(decision)
    update = _changes(out, report, listed, fetch_concurrency) if decision == "reuse" else {}
    if decision == "reuse" and not update:
        return _Plan("reuse")
    carried, notes = _carry(out, report, listed)
    return _Plan("update" if decision == "reuse" else decision, carried, update, notes)


def _outdated(before: Any, now: dict) -> bool:
    """A finished build of the same benchmark, made with the same choices of the user, from another version of
    the protocol file (mom-bench was upgraded): it is rebuilt, not refused, since no option of the user's would
    be lost. ``max_seconds`` and ``sample_rate`` may come from the protocol, so they may differ too."""
    if not isinstance(before, dict) or before.get("protocol_sha256") == now["protocol_sha256"]:
        return False
    chosen = ("benchmark", "split_mode", "keep_original", "limit", "source_options")
    return all(before.get(k) == now[k] for k in chosen)


def _changes(out: Path, report: dict, listed: Listed, fetch_concurrency: int) -> dict:
    """What differs between the finished build in ``out`` and the source as listed now (empty: nothing)."""
    if (report.get("inputs") or {}).get("listing_sha256") != listed.digest:
        previous = read_rows(out)
        if previous is None:
            return {"note": "it records no listing to compare with (made by an older mom-bench or its row table "
                            "is damaged), so every row is made again"}
        now = listed.identity
        changed = [i for i in now if i in previous and previous[i]["identity"] != now[i]]
        return {"added": sum(1 for i in now if i not in previous),
                "changed": len(changed),
                "removed": sum(1 for i in previous if i not in now),
                "missing_before": sum(1 for i in changed if previous[i]["status"] == RowStatus.MISSING),
                "refused_at_listing": len(listed.rejected)}
    was_missing = {r["id"] for r in report.get("rows") or [] if r.get("status") == RowStatus.MISSING}
    retry = [r for r in listed.rows if r.id in was_missing]
    if not retry:
        return {}
    with cf.ThreadPoolExecutor(max_workers=max(1, fetch_concurrency), thread_name_prefix="retry") as pool:
        readable = sum(1 for _, _, err in pool.map(_fetch, retry) if not err or err[0] != RowStatus.MISSING)
    return {"missing_now_readable": readable} if readable else {}


def _carry(out: Path, report: dict, listed: Listed) -> tuple[dict[str, dict], list[str]]:
    """The previous build's records of the rows whose identity did not change (missing rows excepted:
    they are tried again), after checking that its shards and row table still hold what it wrote."""
    previous = read_rows(out)
    if previous is None:
        return {}, []
    try:
        verify_build(out)
    except (BuildTampered, NotABuiltBenchmark) as err:
        return {}, [f"no row of the previous build is kept: {err}"]
    written = [r for r in previous.values() if r["status"] == RowStatus.WRITTEN]
    if fingerprint(written) != report.get("fingerprint"):
        return {}, [f"no row of the previous build is kept: {out / ROWS_NAME} does not match its report"]
    keep = {i: r for i, r in previous.items()
            if r["status"] != RowStatus.MISSING and r["identity"] is not None
            and listed.identity.get(i) == r["identity"]}
    return keep, []


def _describe(out: Path, plan: _Plan, todo: int, redone: int) -> str | None:
    """The line that tells the user what this run does with the folder's earlier work."""
    u = plan.update
    kept = f"{len(plan.carried)} unchanged rows kept, {todo} to make"
    if plan.decision == "update":
        if "note" in u:
            what = u["note"]
        elif "missing_now_readable" in u:
            what = f"{u['missing_now_readable']} rows that were missing can be read now"
        elif u["added"] or u["changed"] or u["removed"]:
            what = (f"the source lists {u['added']} new, {u['changed']} changed ({u['missing_before']} of them "
                    f"missing before) and {u['removed']} removed rows since")
        else:
            what = f"only the rows refused when listing changed ({u['refused_at_listing']} refused now)"
        return f"updating the build in {out}: {what}; {kept}"
    if plan.decision == "continue":
        again = f"; {redone} rows changed in the source since they were made and are made again" if redone else ""
        return f"continuing the unfinished build in {out} (--overwrite starts again){again}; {kept}"
    if plan.decision == "restart":
        return f"starting the build in {out} again; the previous build there stays until the new one is complete"
    return None


# --------------------------------------------------------------------------------------------------
# the entry point


def build_benchmark(name: str | None = None, out_dir: str | Path | None = None, *, split_mode: str = "strict",
                    num_workers: int = 1, resume: bool = False, overwrite: bool = False,
                    max_seconds: float | None = None, keep_original: bool = False, limit: int | None = None,
                    source_options: dict | None = None, fetch_concurrency: int = 8,
                    shard_bytes: int = 256 << 20, progress: bool = True, keep_staging: bool = False,
                    journal_every: int = 200, store: str | None = None, space_check: bool = True,
                    dedup_against: list[str | Path] | tuple[str | Path, ...] = ()) -> BuildResult:
    """Build benchmark ``name`` (default ``mom-mini``) into ``out_dir`` (default
    ``settings.default_dataset_dir(name)``) and return what was written.

    ``split_mode``: ``strict`` (hash of the group key) or ``official`` (the proportions of the benchmark's
    official code, and its own split column where the source has one). An interrupted build made with
    the same options continues from its journal (``resume`` only states that intent). A finished build
    made from the same protocol file and options is returned as it is (``result.reused``) when the source
    lists the same rows (every field, and each local file's size and modification time) and none of its
    missing rows can be read now; otherwise it is updated, keeping the rows that did not change.
    ``overwrite`` starts again; either way the previous build stays complete in ``out_dir`` until the new
    one is, and only a folder that is a mom-bench build (or empty) is ever replaced. One build at a time
    per folder: a second one refuses (:class:`mom_bench.core.files.FolderBusy`). ``limit`` keeps the first N rows
    of each source (smoke tests). ``source_options`` are laid over the protocol's ``source`` block (e.g.
    ``{"root": ..., "manifests": ...}`` for MoM). ``journal_every`` rows make one journal part (the most a
    kill -9 can lose). Rows that are missing or unusable are reported, never dropped silently: see
    ``BuildResult.ok`` and ``build_report.json``.

    ``store``: ``flac`` (the default: mono 16-bit FLAC at the protocol's rate) or ``original`` (each
    validated input file's bytes as they are, no re-encode; every file is still decoded once to check it
    and to hash its audio). ``keep_original=True`` is the older spelling of ``store="original"``.
    ``max_seconds`` stores only the first N seconds of each song (with ``flac`` only): the option for jobs
    that read only the start of each song (CLAM: the first 90 s). ``space_check``: before writing anything,
    estimate the bytes the build needs at its peak and refuse (:class:`mom_bench.dataset.storage.NotEnoughSpace`)
    when the output folder's filesystem has less free (:mod:`mom_bench.dataset.storage`).

    Every finished build under ``$MOM_BENCH_HOME``'s datasets folder, and each build folder of
    ``dedup_against``, is compared with the new one (:mod:`mom_bench.dataset.lineage`): the rows they hold too,
    exact or near duplicates, are listed per build under ``overlap`` in the report. A reused build keeps the
    comparison made when it was written.
    """
    protocol = protocols.load(name or protocols.DEFAULT)
    source = None
    if protocol.source_kind in protocols.DERIVED_KINDS:
        # made from another build (splice): its source opens that build and gives the generators, reals and rate
        source = open_source(protocol, {**(source_options or {}), "split_mode": split_mode})
        protocol = source.derived_protocol()
    store = _store_of(store, keep_original)
    keep_original = store == "original"
    max_seconds = _check_options(protocol, split_mode, max_seconds, keep_original)
    out = Path(out_dir) if out_dir else settings.default_dataset_dir(protocol.name)
    out = out.expanduser().resolve()
    if out.name.lower() in _PACKAGED_BUILDERS:
        # load_dataset("…/parquet") would pick datasets' packaged builder instead of this folder
        raise BuildError(f"output folder name {out.name!r} is also a datasets builder name; choose another --out")
    options = {"benchmark": protocol.name, "benchmark_version": protocol.version,
               "protocol_sha256": hashlib.sha256(protocol.path.read_bytes()).hexdigest(),
               "split_mode": split_mode, "max_seconds": max_seconds, "keep_original": keep_original,
               "sample_rate": protocol.sample_rate, "limit": limit,
               "source_options": json.loads(dumps(source_options or {}))}
    check_ours(out)  # before the lock file is made there
    others = lineage.local_builds(dedup_against, skip=out)
    if source is None:
        source = open_source(protocol, {**(source_options or {}), "split_mode": split_mode})
    listed = list_rows(protocol, source, split_mode, limit)
    space = _Space(protocol, source, store, max_seconds, progress) if space_check else None
    if space is not None and (not out.exists() or not any(out.iterdir())):
        # nothing there to count: checked before the writer lock makes the folder and its lock file
        space.check(out, listed.rows, listed.rows)
        space = None
    with writer_lock(out, "build"):
        check_ours(out)
        _settle(out, progress)
        plan = _plan(out, options, listed, overwrite=overwrite, fetch_concurrency=fetch_concurrency,
                     same_rows_as=protocol.same_rows_as)
        if plan.decision == "reuse":
            result = BuildResult.from_report(out)
            result.reused = True
            return result
        try:
            return _run(protocol, out, listed, options, plan, num_workers=num_workers,
                        fetch_concurrency=fetch_concurrency, shard_bytes=shard_bytes, progress=progress,
                        keep_staging=keep_staging, journal_every=journal_every, max_seconds=max_seconds,
                        keep_original=keep_original, space=space, others=others)
        except OSError as err:
            if err.errno not in _OUT_OF_ROOM:
                raise
            raise BuildWriteFailed(f"{out}: the build stopped: {err}; the previous build there (if any) is unchanged "
                                   "and the work done so far is kept: make room and run the same command again "
                                   "(without --overwrite) to continue") from err


def _store_of(store: str | None, keep_original: bool) -> str:
    """The storage option from ``store`` and its older spelling ``keep_original``."""
    if store is None:
        return "original" if keep_original else "flac"
    if store not in STORES:
        raise BuildError(f"unknown store {store!r}: use {' or '.join(map(repr, STORES))}")
    if keep_original and store != "original":
        raise BuildError(f"--keep-original means --store original, but --store {store} was given: pass one of them")
    return store


def _check_options(protocol, split_mode: str, max_seconds: float | None, keep_original: bool) -> float | None:
    """Refuse contradictory options before anything is written; returns the stored length in seconds."""
    if split_mode not in ("strict", "official"):
        raise BuildError(f"unknown split mode {split_mode!r}: use 'strict' or 'official'")
    if max_seconds is not None and not max_seconds > 0:
        raise BuildError("--max-seconds must be positive")
    if max_seconds is not None and protocol.source_kind in protocols.DERIVED_KINDS:
        raise BuildError(f"--max-seconds would cut the songs of {protocol.name}, whose label, generator and AI "
                         "fraction describe the whole song; make shorter songs with -o section_seconds=N instead")
    if keep_original and max_seconds is not None:
        raise BuildError(f"--store original (--keep-original) stores each input file whole, unchanged, so it cannot "
                         f"be combined with --max-seconds; for jobs that use only the first {max_seconds:g} s (CLAM: "
                         f"90 s) use --store flac --max-seconds {max_seconds:g}")
    if keep_original and protocol.max_seconds is not None:
        raise BuildError(f"--store original (--keep-original) stores whole input files, but benchmark "
                         f"{protocol.name} stores only the first {protocol.max_seconds:g} s of each song: use "
                         "--store flac")
    return max_seconds if max_seconds is not None else protocol.max_seconds


class _Space:
    """The disk preflight of one build (:mod:`mom_bench.dataset.storage`), run once before anything is written:
    before the writer lock for a new or empty folder, else on the rows the folder does not already hold."""

    def __init__(self, protocol, source, store: str, max_seconds: float | None, progress: bool):
        self.protocol, self.source, self.store = protocol, source, store
        self.cap_s, self.progress = max_seconds, progress

    def check(self, out: Path, todo: list[SourceRow], every: list[SourceRow]) -> None:
        """Refuse (:class:`storage.NotEnoughSpace`) when ``todo`` (rows still to make) and ``every`` (rows the
        build writes) would not fit on ``out``'s filesystem; say what the build needs."""
        lookup = storage.fetch_is_lookup(self.protocol.source_kind, self.source)
        inputs = storage.survey(every, lookup=lookup, cap_s=self.cap_s)
        if isinstance(inputs, str):
            line = f"disk check skipped: source {self.protocol.source_kind!r}: {inputs}"
        else:
            line = storage.check_space(out, inputs, [r.id for r in todo], [r.id for r in every], store=self.store,
                                       sample_rate=self.protocol.sample_rate, cap_s=self.cap_s,
                                       original_allowed=self.protocol.max_seconds is None)
        if self.progress:
            print(line, file=sys.stderr)


def _run(protocol, out: Path, listed: Listed, options: dict, plan: _Plan, *, num_workers: int,
         fetch_concurrency: int, shard_bytes: int, progress: bool, keep_staging: bool, journal_every: int,
         max_seconds: float | None, keep_original: bool, space: _Space | None = None,
         others: list[Path] | None = None) -> BuildResult:
    """Process the rows the journal and the previous build do not already hold, then finalise; ``space``:
    the disk preflight, run on the rows left to make before the journal is touched."""
    from tqdm.auto import tqdm

    work = out / _JOURNAL
    # journal_every: rows per journal part, i.e. the most work a kill -9 can lose
    staging = Staging(work / "staging", max_rows=journal_every) if plan.decision == "continue" else None
    done = staging.done() if staging is not None else set()
    staged_ids = {i for i, _ in done}
    todo = [r for r in listed.rows if r.id not in plan.carried and (r.id, listed.identity[r.id]) not in done]
    if space is not None:
        space.check(out, todo, listed.rows)
    if staging is None:
        _start_journal(out, options)
        staging = Staging(work / "staging", max_rows=journal_every)
    redone = sum(1 for r in todo if r.id in staged_ids)
    line = _describe(out, plan, len(todo), redone)
    if progress and line:
        print(line, file=sys.stderr)
    for note in plan.notes if progress else ():
        print(note, file=sys.stderr)

    statuses: Counter = Counter()
    bar = tqdm(total=len(listed.rows), initial=len(listed.rows) - len(todo), desc=f"build {protocol.name}",
               unit="song", disable=not progress, dynamic_ncols=True)
    proc_kwargs = {"sample_rate": protocol.sample_rate, "max_seconds": max_seconds, "keep_original": keep_original}
    try:
        for row, result in _pipeline(todo, num_workers=num_workers, fetch_concurrency=fetch_concurrency,
                                     proc_kwargs=proc_kwargs):
            staging.add(_record(row, listed.split_of[row.id], result, listed.identity[row.id]))
            statuses[result["status"]] += 1
            bar.update(1)
            if statuses[RowStatus.MISSING] or statuses[RowStatus.UNUSABLE]:
                bar.set_postfix(missing=statuses[RowStatus.MISSING], unusable=statuses[RowStatus.UNUSABLE],
                                refresh=False)
    finally:
        staging.flush()  # keep what is done (Ctrl-C, errors); after kill -9 the last part is redone
        bar.close()

    inputs = {"listing_sha256": listed.digest, **({"changes": plan.update} if plan.update else {})}
    return finalize(protocol, out, work, staging, listed, options, shard_bytes=shard_bytes,
                    keep_staging=keep_staging, progress=progress, carried=plan.carried, inputs=inputs,
                    dedup_against=others)
