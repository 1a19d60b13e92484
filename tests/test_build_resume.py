"""Robust runs: a build killed with SIGKILL resumes to exactly the result of an uninterrupted one, and
the number of worker processes does not change the result."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from _build_fixtures import make_benchmark

from mom_bench.dataset import BuildError, build_benchmark

REPO = Path(__file__).resolve().parents[1]


def _content(out: Path):
    """Everything a reader sees: per split, the rows in order with their audio bytes."""
    got = {}
    for f in sorted((out / "data").glob("*.parquet")):
        t = pq.read_table(f)
        got[f.name] = [(r["id"], r["audio"]["bytes"], r["content_sha256"], r["split"]) for r in t.to_pylist()]
    return got, (out / "splits.csv").read_text()


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    proto, table = make_benchmark(root, n_real=30, n_fake=24, n_ood=10, seconds=4.0)
    reference = build_benchmark(str(proto), root / "ref", source_options={"csv": str(table)}, progress=False)
    return root, proto, table, reference


@pytest.mark.slow
def test_kill_minus_9_then_resume_gives_the_same_dataset(bench):
    root, proto, table, reference = bench
    out = root / "killed"
    code = (
        "from mom_bench.dataset import build_benchmark\n"
        f"build_benchmark({str(proto)!r}, {str(out)!r}, source_options={{'csv': {str(table)!r}}}, "
        "progress=False, journal_every=3)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    staging = out / ".build" / "staging"
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and len(list(staging.glob("part-*.parquet"))) < 4:
            assert proc.poll() is None, "the build finished before it could be killed"
            time.sleep(0.02)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    parts_before = len(list(staging.glob("part-*.parquet")))
    assert 4 <= parts_before < 64 / 3, "killed too late to test a resume"
    assert not (out / "build_report.json").exists()

    with pytest.raises(BuildError, match="other options"):
        build_benchmark(str(proto), out, source_options={"csv": str(table)}, progress=False, limit=5)
    # the same command again (no --resume needed) continues from the journal
    resumed = build_benchmark(str(proto), out, source_options={"csv": str(table)}, progress=False)
    assert resumed.fingerprint == reference.fingerprint
    assert resumed.n_written == reference.n_written == 64
    assert _content(out) == _content(root / "ref")
    assert not (out / ".build").exists()
    assert not list(out.rglob("*.tmp"))


@pytest.mark.slow
def test_two_workers_give_the_same_dataset_as_one(bench):
    root, proto, table, reference = bench
    two = build_benchmark(str(proto), root / "two", source_options={"csv": str(table)}, progress=False,
                          num_workers=2)
    assert two.fingerprint == reference.fingerprint
    assert _content(root / "two") == _content(root / "ref")


def test_resume_with_other_options_is_refused(tmp_path):
    proto, table = make_benchmark(tmp_path / "b", n_real=2, n_fake=2, n_ood=1)
    work = tmp_path / "o" / ".build"
    work.mkdir(parents=True)
    (work / "options.json").write_text('{"benchmark": "other"}')
    with pytest.raises(BuildError, match="other options"):
        build_benchmark(str(proto), tmp_path / "o", source_options={"csv": str(table)}, progress=False, resume=True)


def test_small_shards_split_a_split_into_several_files(tmp_path):
    proto, table = make_benchmark(tmp_path / "b", n_real=20, n_fake=4, n_ood=1)
    build_benchmark(str(proto), tmp_path / "o", source_options={"csv": str(table)}, progress=False,
                    shard_bytes=40_000)
    train = sorted((tmp_path / "o" / "data").glob("train-*.parquet"))
    assert len(train) >= 2
    assert [f.name for f in train] == [f"train-{i:05d}.parquet" for i in range(len(train))]
    ids = [i for f in train for i in pq.read_table(f, columns=["id"]).column("id").to_pylist()]
    assert len(ids) == len(set(ids))
