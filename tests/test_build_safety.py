"""Issue 11 for `mom-bench build`: nothing lost, nothing trusted that should not be.

A build replaces only its own kind of folder (item 3), keeps the previous build complete until the new one
is (item 5), reuses a finished build only when its inputs did not change (items 9 and 10), leaves no worker
processes behind when it is killed (item 21), writes a data card that datasets reads without a warning
(item 23), and is one writer at a time per folder.
"""
from __future__ import annotations

import contextlib
import csv
import json
import logging
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _build_fixtures import make_benchmark, write_tone
from click.testing import CliRunner

from mom_bench.cli import main
from mom_bench.core.files import LOCK_NAME, FolderBusy
from mom_bench.dataset import build_benchmark
from mom_bench.dataset.read import read_info, verify_build

REPO = Path(__file__).resolve().parents[1]


def _build(proto, table, out, **kwargs):
    kwargs.setdefault("progress", False)
    return build_benchmark(str(proto), out, source_options={"csv": str(table)}, **kwargs)


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file of a build as a reader sees it (the writer lock aside)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != LOCK_NAME}


def _report(out: Path) -> dict:
    return json.loads((out / "build_report.json").read_text())


def _edit_rows(table: Path, edit) -> None:
    """Rewrite the row list through ``edit(rows) -> rows`` (dicts of the CSV's columns)."""
    with open(table, newline="") as fh:
        reader = csv.DictReader(fh)
        fields, rows = list(reader.fieldnames or []), list(reader)
    rows = edit(rows)
    with open(table, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def _relabel_first_real(rows):
    """The first real row becomes a fake of gen_a (a relabelled manifest row)."""
    first = next(r for r in rows if r["id"] == "real_000")
    first.update(label="1", generator="gen_a", source="gen_a", artist="")
    return rows


@pytest.fixture
def bench(tmp_path):
    proto, table = make_benchmark(tmp_path / "b", n_real=6, n_fake=6, n_ood=3, seconds=1.0)
    return tmp_path, proto, table


# --------------------------------------------------------------------------------------------------
# item 3: only a mom-bench build (or an empty folder) is ever replaced


@pytest.mark.parametrize("overwrite", [True, False])
def test_a_folder_that_is_not_a_build_is_refused_with_or_without_overwrite(bench, overwrite):
    """issue 11 item 3"""
    tmp_path, proto, table = bench
    theirs = tmp_path / "theirs"
    (theirs / "data").mkdir(parents=True)
    (theirs / "data" / "important.csv").write_text("keep,me\n1,2\n")
    (theirs / "README.md").write_text("# my notes\n")
    before = _snapshot(theirs)
    args = ["build", "-b", str(proto), "--out", str(theirs), "-o", f"csv={table}", "-q"]
    res = CliRunner().invoke(main, args + (["--overwrite"] if overwrite else []))
    assert res.exit_code == 2, res.output
    assert str(theirs) in res.output and "holds no mom-bench build" in res.output
    assert _snapshot(theirs) == before
    assert sorted(p.name for p in theirs.iterdir()) == ["README.md", "data"]  # not even a lock file


def test_an_empty_folder_or_one_holding_only_the_lock_file_is_built_into(bench):
    """issue 11 item 3: the lock file does not count as someone else's file"""
    tmp_path, proto, table = bench
    (tmp_path / "empty").mkdir()
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / LOCK_NAME).write_text("")
    for name in ("empty", "locked"):
        assert _build(proto, table, tmp_path / name).n_written == 15


def test_overwrite_replaces_a_finished_or_an_unfinished_build(bench):
    """issue 11 item 3: a finished build (build_report.json) and an unfinished one (.build/options.json) are
    mom-bench's own and may be replaced"""
    tmp_path, proto, table = bench
    out = tmp_path / "o"
    _build(proto, table, out, max_seconds=0.5)
    again = _build(proto, table, out, overwrite=True)
    assert _report(out)["options"]["max_seconds"] is None and not again.reused
    unfinished = tmp_path / "u"
    (unfinished / ".build").mkdir(parents=True)
    (unfinished / ".build" / "options.json").write_text('{"benchmark": "other"}')
    assert _build(proto, table, unfinished, overwrite=True).n_written == 15


# --------------------------------------------------------------------------------------------------
# item 5: the previous build stays complete until the new one is


@contextlib.contextmanager
def _file_size_limit(limit: int):
    """Writes beyond ``limit`` bytes of a file fail with EFBIG while the block runs: the same failure path as
    a full disk (ENOSPC), for this process only (Python ignores SIGXFSZ, so the write fails, nothing dies)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ") or signal.getsignal(signal.SIGXFSZ) != signal.SIG_IGN,
                    reason="needs RLIMIT_FSIZE with SIGXFSZ ignored")
@pytest.mark.parametrize("where, limit", [("journal", 4_000), ("shards", 32_000)])
def test_a_rebuild_that_runs_out_of_room_leaves_the_previous_build_intact(bench, where, limit):
    """issue 11 item 5: running out of room (a file size limit) while the --overwrite rebuild writes its
    journal (each part is about 20 kB) or its shards (each over 40 kB) leaves the old build untouched and
    loadable; the same command, with room, continues to a complete new build"""
    import datasets

    tmp_path, proto, table = bench
    out = tmp_path / "o"
    old = _build(proto, table, out)
    before = _snapshot(out)
    with _file_size_limit(limit), pytest.raises(OSError, match="File too large") as failed:
        _build(proto, table, out, overwrite=True, max_seconds=0.5, journal_every=1)
    parts = list((out / ".build" / "staging").glob("part-*.parquet"))
    assert len(parts) == {"journal": 0, "shards": 15}[where]  # where the limit stopped it
    assert {k: v for k, v in _snapshot(out).items() if not k.startswith(".build/")} == before
    assert verify_build(out)["fingerprint"] == read_info(out)["fingerprint"] == old.fingerprint
    ds = datasets.load_dataset(str(out), split="train", cache_dir=str(tmp_path / "hf"))
    assert len(ds) == sum(old.counts["train"].values())
    from mom_bench.dataset.builder import BuildWriteFailed

    assert isinstance(failed.value, BuildWriteFailed)  # a MomBenchError: `error: ...`, exit status 2
    assert str(out) in str(failed.value) and "previous build there (if any) is unchanged" in str(failed.value)

    new = _build(proto, table, out, max_seconds=0.5)  # the same options, with room: continues the journal
    assert new.n_written == 15 and new.fingerprint != old.fingerprint
    assert _report(out)["options"]["max_seconds"] == 0.5 and not (out / ".build").exists()
    assert verify_build(out)["fingerprint"] == new.fingerprint


def test_a_swap_interrupted_half_way_is_completed_by_the_next_run(bench):
    """issue 11 item 5: the swap state a crash can leave (new data in place, the old report still there,
    the rest of the new build committed in .build/swap) is finished, not mixed"""
    tmp_path, proto, table = bench
    out, other = tmp_path / "o", tmp_path / "other"
    _build(proto, table, out)
    _build(proto, table, other, max_seconds=0.5)
    work = out / ".build"
    (work / "old").mkdir(parents=True)
    shutil.copytree(other, work / "swap", ignore=shutil.ignore_patterns(LOCK_NAME))
    (work / "options.json").write_text((work / "swap" / "build_report.json").read_text())  # any content
    os.replace(out / "data", work / "old" / "data")  # the swap had moved the old data aside...
    os.replace(work / "swap" / "data", out / "data")  # ...and the new data in, then stopped
    result = _build(proto, table, out, max_seconds=0.5)
    assert result.reused and not work.exists()
    assert _snapshot(out) == _snapshot(other)


# --------------------------------------------------------------------------------------------------
# items 9 and 10: a finished build is reused only when what it was made from did not change


def test_an_edited_manifest_updates_the_build_keeping_the_unchanged_rows(bench, capfd):
    """issue 11 item 9: relabelling a row and adding ten rows is not "already built": the build is updated
    (the other rows are kept, not made again) to exactly what a fresh build of the edited list gives"""
    tmp_path, proto, table = bench
    out = tmp_path / "o"
    _build(proto, table, out)
    assert _build(proto, table, out).reused
    for k in range(10):
        write_tone(tmp_path / "b" / "audio" / f"new_{k}.wav", 100 + k, 1.0, ("wav", 16000, 1))
    _edit_rows(table, lambda rows: _relabel_first_real(rows) + [
        {"id": f"new_{k}", "label": "1", "generator": "gen_b", "source": "gen_b", "path": f"audio/new_{k}.wav"}
        for k in range(10)])
    capfd.readouterr()
    updated = _build(proto, table, out, progress=True)
    said = capfd.readouterr().err
    assert not updated.reused
    assert "updating the build" in said and "10 new, 1 changed" in said and "14 unchanged rows kept, 11 to make" in said
    report = _report(out)
    assert report["inputs"]["rows_kept_from_previous_build"] == 14 and report["inputs"]["rows_made"] == 11
    row = next(r for r in report["rows"] if r["id"] == "real_000")
    assert (row["label"], row["generator"]) == (1, "gen_a")
    fresh = _build(proto, table, tmp_path / "fresh")
    assert updated.n_written == fresh.n_written == 25 and updated.fingerprint == fresh.fingerprint
    assert verify_build(out)["fingerprint"] == fresh.fingerprint
    assert _build(proto, table, out).reused


def test_a_row_missing_once_is_made_when_its_file_is_back(tmp_path, capfd):
    """issue 11 item 10: a missing row is tried again by the same command; while its file is still absent
    the build stays up to date, once it is back the build is updated with it"""
    late = {"id": "late", "label": 0, "generator": "real", "source": "real", "path": "audio/late.wav",
            "artist": "someone"}
    proto, table = make_benchmark(tmp_path / "b", n_real=4, n_fake=4, n_ood=2, extra_rows=[late])
    out = tmp_path / "o"
    first = _build(proto, table, out)
    assert (first.n_missing, first.n_written) == (1, 10)
    assert _build(proto, table, out).reused  # still missing: nothing to do
    write_tone(tmp_path / "b" / "audio" / "late.wav", 77, 1.0, ("wav", 16000, 1))
    capfd.readouterr()
    again = _build(proto, table, out, progress=True)
    assert "1 of them missing before" in capfd.readouterr().err
    assert not again.reused and (again.n_missing, again.n_written) == (0, 11)
    assert _report(out)["inputs"]["rows_made"] == 1
    assert _build(proto, table, out).reused


def _wait_for_parts(proc, staging: Path, n: int, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while len(list(staging.glob("part-*.parquet"))) < n:
        assert proc.poll() is None, "the build finished before it could be killed"
        assert time.monotonic() < deadline, "the build made no progress"
        time.sleep(0.01)


@pytest.mark.slow
def test_rows_edited_after_a_kill_are_made_again_from_the_edited_list(tmp_path, capfd):
    """issue 11 item 9: after kill -9, a relabelled row and a row whose audio file was replaced are not
    taken from the journal: the continued build equals a fresh build of the edited inputs"""
    proto, table = make_benchmark(tmp_path / "b", n_real=16, n_fake=16, n_ood=8, seconds=3.0)
    out = tmp_path / "o"
    code = ("from mom_bench.dataset import build_benchmark\n"
            f"build_benchmark({str(proto)!r}, {str(out)!r}, source_options={{'csv': {str(table)!r}}}, "
            "progress=False, journal_every=1)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO)
    try:
        _wait_for_parts(proc, out / ".build" / "staging", 3)  # real_000, real_001 and more are in the journal
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (out / "build_report.json").exists()
    _edit_rows(table, _relabel_first_real)
    write_tone(tmp_path / "b" / "audio" / "real_001.flac", 999, 2.0, ("flac", 16000, 1))  # other audio
    capfd.readouterr()
    resumed = _build(proto, table, out, progress=True)
    assert "2 rows changed in the source since they were made and are made again" in capfd.readouterr().err
    fresh = _build(proto, table, tmp_path / "fresh")
    assert resumed.fingerprint == fresh.fingerprint and resumed.n_written == 40


# --------------------------------------------------------------------------------------------------
# one writer at a time per build folder


@pytest.mark.slow
def test_a_second_build_of_the_same_folder_refuses_at_once(tmp_path):
    """issue 11 (one writer per build folder): while a build process writes a folder, another build of it
    refuses at once naming the folder; once the first is killed the lock is gone and the build continues"""
    proto, table = make_benchmark(tmp_path / "b", n_real=16, n_fake=16, n_ood=8, seconds=3.0)
    out = tmp_path / "o"
    code = ("from mom_bench.dataset import build_benchmark\n"
            f"build_benchmark({str(proto)!r}, {str(out)!r}, source_options={{'csv': {str(table)!r}}}, "
            "progress=False, journal_every=1)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO)
    try:
        _wait_for_parts(proc, out / ".build" / "staging", 1)
        started = time.monotonic()
        with pytest.raises(FolderBusy, match=re.escape(f"{out}: another mom-bench process (pid {proc.pid})")):
            _build(proto, table, out)
        assert time.monotonic() - started < 10
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert _build(proto, table, out).n_written == 40


# --------------------------------------------------------------------------------------------------
# item 21: a killed build leaves no worker processes behind


def _descendants(pid: int) -> set[int]:
    """Every living process below ``pid``, from /proc (no /proc/<pid>/task/*/children needed)."""
    parent_of = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent_of[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, pp in parent_of.items() if pp in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has exited; only its parent's reaping is pending


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_workers_exit_when_the_build_process_is_killed(tmp_path):
    """issue 11 item 21: kill -9 of `mom-bench build -j 2` while it works takes its decoding processes
    (and multiprocessing's resource tracker) with it within seconds"""
    proto, table = make_benchmark(tmp_path / "b", n_real=24, n_fake=24, n_ood=12, seconds=4.0)
    out = tmp_path / "o"
    proc = subprocess.Popen([sys.executable, "-m", "mom_bench", "build", "-b", str(proto), "--out", str(out),
                             "-o", f"csv={table}", "-j", "2", "-q"], cwd=REPO)
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 240
        while len(workers) < 3:  # two decoding processes and the resource tracker
            assert proc.poll() is None, "the build finished before it could be killed"
            assert time.monotonic() < deadline, "no workers appeared"
            workers |= _descendants(proc.pid)
            time.sleep(0.05)
        time.sleep(1.0)  # let them get to work
        workers |= _descendants(proc.pid)
        assert proc.poll() is None, "the build finished before it could be killed"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 5
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [p for p in workers if _alive(p)]
    for p in left:  # do not leave them to the rest of the suite
        os.kill(p, signal.SIGKILL)
    assert not left, f"still running 5 s after the build was killed: {left}"


# --------------------------------------------------------------------------------------------------
# item 23: the data card as datasets reads it


def test_load_dataset_reads_the_card_without_a_warning(bench):
    """issue 11 item 23 (and the lock file and row table in the folder do not disturb load_dataset)"""
    import datasets

    tmp_path, proto, table = bench
    out = tmp_path / "o"
    result = _build(proto, table, out)
    assert (out / LOCK_NAME).exists()
    heard: list[str] = []

    class Catch(logging.Handler):
        def emit(self, record):
            heard.append(record.getMessage())

    handler = Catch(level=logging.WARNING)
    logger = logging.getLogger("datasets")
    logger.addHandler(handler)
    try:
        ds = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "hf"))
    finally:
        logger.removeHandler(handler)
    assert not [m for m in heard if "dataset_info" in m or "malformed" in m], heard
    for split, gens in result.counts.items():
        assert ds[split].info.splits[split].num_examples == len(ds[split]) == sum(gens.values())
        assert ds[split].info.splits[split].num_bytes > 0
