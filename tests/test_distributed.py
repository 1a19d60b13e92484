"""Sharded feature extraction and evaluation, as users launch them: `torchrun` with 2 gloo processes on the
CPU, `--num-shards` array jobs plus the merge check, and a rank killed with SIGKILL then relaunched.

Distributed runs are real `python -m torch.distributed.run` processes with one intra-op thread each (what
torchrun gives a rank); the one-process runs they are compared with, bit for bit, run the CLI in this process
with one thread too (starting a process per command would only add import time)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from mom_bench.cli import main
from mom_bench.models.cache import FeatureCache
from tests._fixtures_loop import build_loop_benchmark

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "MOM_BENCH_HOME": str(home), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def _run(cmd: list[str], home: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, env=_env(home), capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, (f"{' '.join(cmd[-12:])} failed ({done.returncode}):\n"
                                  f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def _cli(args: list[str], home: Path, monkeypatch, code: int = 0):
    """The CLI in this process, with one intra-op thread like each torchrun rank."""
    monkeypatch.setenv("MOM_BENCH_HOME", str(home))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = CliRunner().invoke(main, args, catch_exceptions=False)
    finally:
        torch.set_num_threads(threads)
    assert result.exit_code == code, result.output
    return result


def _features(home: Path) -> dict[str, dict[str, dict[str, torch.Tensor]]]:
    """Every cache folder under ``home`` (by key digest) -> id -> stream -> tensor."""
    root = home / "cache" / "features"
    cache = FeatureCache(root)
    return {folder.name: cache.load(folder) for folder in sorted(root.iterdir()) if folder.is_dir()}


def _assert_same_features(a: dict, b: dict) -> None:
    assert a.keys() == b.keys() and a, "the runs filled different cache folders"
    for key in a:
        assert a[key].keys() == b[key].keys(), f"{key}: different songs"
        for item, streams in a[key].items():
            for stream, tensor in streams.items():
                assert torch.equal(tensor, b[key][item][stream]), f"{key} {item} {stream} differs"


def _evaluate(model: Path, data: Path, out: Path) -> list[str]:
    return ["evaluate", "--model", str(model), "--data", str(data), "--out", str(out), "--n-bootstrap", "50",
            "--batch-size", "3", "--no-plots"]


def test_two_ranks_evaluate_like_one_process(loop_benchmark, loop_run, tmp_path, monkeypatch):
    model = loop_run / "best"
    _cli(_evaluate(model, loop_benchmark, tmp_path / "one"), tmp_path / "home-one", monkeypatch)
    done = _run(TORCHRUN + ["-m", "mom_bench"] + _evaluate(model, loop_benchmark, tmp_path / "two"),
                tmp_path / "home-two")
    assert "rank 1 of 2" in done.stdout + done.stderr

    # merged features of both ranks are the one-process features, bit for bit
    _assert_same_features(_features(tmp_path / "home-one"), _features(tmp_path / "home-two"))
    one = json.loads((tmp_path / "one" / "results.json").read_text())
    two = json.loads((tmp_path / "two" / "results.json").read_text())
    assert two["model"]["world_size"] == 2 and one["model"]["world_size"] == 1
    assert one["metrics"] == two["metrics"] and one["frozen_thresholds"] == two["frozen_thresholds"]
    # every row once: no duplicates from evening out the ranks
    p1, p2 = (pd.read_csv(tmp_path / name / "predictions.csv") for name in ("one", "two"))
    assert p2["id"].is_unique and len(p2) == len(p1)
    pd.testing.assert_frame_equal(p1, p2)


def test_array_shards_then_merge_equal_one_process(loop_benchmark, tmp_path, monkeypatch):
    base = ["extract", "--model", "clam-tiny", "--data", str(loop_benchmark), "--batch-size", "3", "-q"]
    merge = ["extract", "--model", "clam-tiny", "--data", str(loop_benchmark), "--merge"]
    _cli(base, tmp_path / "one", monkeypatch)
    home = tmp_path / "sharded"
    _cli(base + ["--num-shards", "2", "--shard-index", "1"], home, monkeypatch)

    # the merge check refuses the incomplete set and names the missing shard
    refused = _cli(merge, home, monkeypatch, code=2)
    assert "shard 0 of 2" in refused.output and "not run or not finished" in refused.output
    assert "shard 1 of 2" not in refused.output

    _cli(base + ["--num-shards", "2", "--shard-index", "0"], home, monkeypatch)
    assert _cli(merge, home, monkeypatch).output.count("complete") == 4  # every split
    _assert_same_features(_features(tmp_path / "one"), _features(home))


@pytest.fixture(scope="module")
def longer_benchmark(tmp_path_factory):
    """Enough short songs in train that a rank is still busy when the test kills it."""
    layout = [("train", "real", 60), ("train", "gen_a", 30), ("train", "gen_b", 30),
              ("validation", "real", 2), ("validation", "gen_a", 1), ("validation", "gen_b", 1),
              ("test_id", "real", 2), ("test_id", "gen_a", 1), ("test_id", "gen_b", 1),
              ("test_ood", "real", 2), ("test_ood", "gen_ood", 2)]
    return build_loop_benchmark(tmp_path_factory.mktemp("longer"), seconds=1.0, layout=layout)


def test_a_killed_rank_resumes_to_the_same_features(longer_benchmark, tmp_path, monkeypatch):
    base = ["extract", "--model", "clam-tiny", "--data", str(longer_benchmark), "--splits", "train",
            "--batch-size", "1", "--flush-every", "1", "-q"]
    _cli(base, tmp_path / "one", monkeypatch)

    home = tmp_path / "killed"
    launcher = subprocess.Popen(TORCHRUN + ["-m", "mom_bench"] + base, env=_env(home), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
    root = home / "cache" / "features"
    victim = None
    deadline = time.monotonic() + 240
    try:
        while victim is None and launcher.poll() is None and time.monotonic() < deadline:
            # a cache shard's name carries the part and the writer's pid
            shards = list(root.glob("*/shard-p00001of00002-*.safetensors")) if root.is_dir() else []
            if shards:
                victim = int(shards[0].name.rsplit("-", 1)[1].split(".")[0])
                os.kill(victim, signal.SIGKILL)
            time.sleep(0.002)
        launcher.wait(timeout=120)
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
    assert victim is not None, "rank 1 never wrote a cache shard"
    assert launcher.returncode != 0, "torchrun reports the killed rank"
    written = _features(home)
    (folder,) = written.values()
    assert len(folder) < 120, "rank 1 finished before it was killed: the test did not test a resume"

    _run(TORCHRUN + ["-m", "mom_bench"] + base, home)
    _assert_same_features(_features(tmp_path / "one"), _features(home))
    # nothing computed twice: what survived the kill was kept, the rest was added
    shard_ids = [json.loads(_safetensors_ids(p)) for p in next(iter(root.iterdir())).glob("shard-*.safetensors")]
    flat = [i for ids in shard_ids for i in ids]
    assert len(flat) == len(set(flat)) == 120


def _safetensors_ids(path: Path) -> str:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return f.metadata()["ids"]


def test_a_shard_of_an_array_job_is_not_a_rank_of_a_process_group():
    from mom_bench.core.distributed import Part

    shard = Part(3, 8)  # --num-shards 8 --shard-index 3: a process of its own, writing its own files
    assert (shard.rank, shard.world, shard.main) == (0, 1, True)
    assert shard.on_main(lambda: "done here") == "done here"  # no collective outside a process group
    rank = Part(1, 2, distributed=True)
    assert (rank.rank, rank.world, rank.main) == (1, 2, False)


@pytest.mark.parametrize("tamper, field", [
    ({"count": 1e12}, "count"),
    ({"count": 1000000000000}, "count"),
    ({"index": "zero"}, "index"),
    ({"batch_size": [3]}, "batch_size"),
    ({"rows": [0, 10**9]}, "rows"),
    ({"index": None}, "index"),
    ("missing-count", "count"),
    ("list", "record"),
    ("fifo", "regular file"),
])
def test_a_tampered_part_record_is_refused_promptly(loop_benchmark, tmp_path, monkeypatch, tamper, field):
    """`extract --merge` reads the parts/ records other jobs left in a shared cache: each is validated against
    the split before it is used. Run in a process of its own with a timeout: a regression spins or hangs."""
    home = tmp_path / "home"
    _cli(["extract", "--model", "clam-tiny", "--data", str(loop_benchmark), "--batch-size", "3", "-q",
          "--num-shards", "2", "--shard-index", "1"], home, monkeypatch)
    records = sorted((home / "cache" / "features").glob("*/parts/*.json"))
    assert records
    for record in records:
        if tamper == "fifo":
            record.unlink()
            os.mkfifo(record)
        elif tamper == "list":
            record.write_text("[1, 2]")
        elif tamper == "missing-count":
            value = json.loads(record.read_text())
            del value["count"]
            record.write_text(json.dumps(value))
        else:
            record.write_text(json.dumps({**json.loads(record.read_text()), **tamper}))
    done = subprocess.run([sys.executable, "-m", "mom_bench", "extract", "--model", "clam-tiny", "--data",
                           str(loop_benchmark), "--merge"], env=_env(home), capture_output=True, text=True,
                          timeout=120)
    out = done.stdout + done.stderr
    assert done.returncode == 2, out[-3000:]
    assert "internal error" not in out
    assert any(str(record) in out for record in records), out[-3000:]
    assert field in out


def test_shards_run_with_different_batch_sizes_are_named_as_such(loop_benchmark, tmp_path, monkeypatch):
    base = ["extract", "--model", "clam-tiny", "--data", str(loop_benchmark), "-q", "--num-shards", "2"]
    home = tmp_path / "home"
    _cli(base + ["--batch-size", "3", "--shard-index", "1"], home, monkeypatch)
    _cli(base + ["--batch-size", "8", "--shard-index", "0"], home, monkeypatch)
    refused = _cli(["extract", "--model", "clam-tiny", "--data", str(loop_benchmark), "--merge"], home, monkeypatch,
                   code=2)
    assert "finished but its features are gone" not in refused.output
    assert "different --num-shards/--batch-size" in refused.output and "--batch-size 3" in refused.output


_FULL_DISK = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # what a full disk gives a writer: a failed write, not a signal
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), int(sys.argv[1])))
from mom_bench.cli import main
main(sys.argv[2:])
"""


def test_a_shard_that_cannot_be_written_is_a_clear_error(loop_benchmark, tmp_path):
    done = subprocess.run([sys.executable, "-c", _FULL_DISK, "2000", "extract", "--model", "clam-tiny", "--data",
                           str(loop_benchmark), "-q"], env=_env(tmp_path / "home"), capture_output=True, text=True,
                          timeout=120)
    out = done.stdout + done.stderr
    assert done.returncode == 2, out[-3000:]
    assert "internal error" not in out and "could not write a feature shard" in out, out[-3000:]
