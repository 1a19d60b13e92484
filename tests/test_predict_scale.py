"""`mom-bench predict` on large collections: all-windows decoded window by window (equal to the whole decode),
decode workers and precision, and shards (array-job processes, torchrun ranks) merged into one output."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from mom_bench.cli import main
from mom_bench.core import audio
from mom_bench.loop import prediction as P
from mom_bench.loop import prediction_output as O
from mom_bench.models import registry
from tests._fixtures_loop import flac_bytes, signal

ROOT = Path(__file__).resolve().parents[1]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]


def _encoded(seconds: float, rate: int, fmt: str, seed: int) -> bytes:
    """Stereo noise plus a tone at ``rate``: energy up to the band edge, where resamplers differ most."""
    from torchcodec.encoders import AudioEncoder

    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    left = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.2 * rng.standard_normal(t.size)
    x = torch.tensor(np.stack([left, 0.2 * rng.standard_normal(t.size)]), dtype=torch.float32).clamp(-1, 1)
    return AudioEncoder(x, sample_rate=rate).to_tensor(format=fmt).numpy().tobytes()


@pytest.mark.parametrize("fmt", ["flac", "mp3"])
@pytest.mark.parametrize("rate", [16000, 44100])
def test_window_by_window_decoding_equals_the_whole_decode(tmp_path, fmt, rate):
    path = tmp_path / f"long.{fmt}"
    path.write_bytes(_encoded(9.3, 44100, fmt, 1))
    n = int(1.3 * rate)  # windows that fall across decode steps of 0.7 s, and a tail of 0.2 windows (dropped)
    native = audio.load(path, None, max_seconds=None)
    whole = P.windows(audio.resample(native.samples, native.sample_rate, rate), n)
    stream = audio.Stream(path, rate, chunk_seconds=0.7)
    pieces = []
    windowed = torch.stack(list(P.iter_windows((pieces.append(p.numel()) or p for p in stream), n)))
    assert windowed.shape == whole.shape == (7, n)  # no window shifted, added or lost at a step boundary
    assert (windowed - whole).abs().max() < 1e-5
    assert max(pieces) <= 0.8 * rate  # one step of output at a time, never the file
    assert stream.decoded_s == pytest.approx(native.duration_s)
    if rate == 44100:  # no resampling: the very samples of the whole decode
        assert torch.equal(windowed, whole)


def test_a_stream_checks_what_load_checks(tmp_path):
    path = tmp_path / "six.flac"
    path.write_bytes(flac_bytes(signal("real", 6.0, 1)))
    with pytest.raises(audio.AudioError, match="over the limit of 2 s"):
        list(audio.Stream(path, 16000, max_seconds=2))
    (tmp_path / "nan.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEthis is not audio")
    with pytest.raises(audio.AudioError, match="not readable as audio"):
        audio.Stream(tmp_path / "nan.wav")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    # A long song first (its rows come last out of the workers) and songs at another rate than the model's.
    folder = tmp_path_factory.mktemp("catalogue")
    (folder / "a-long.flac").write_bytes(flac_bytes(signal("gen_a", 12.0, 7)))
    for i in range(5):
        (folder / f"song{i}.flac").write_bytes(_encoded(3.0 + i, 44100, "flac", 10 + i))
    (folder / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEthis is not audio")
    return folder


def _files(folder):
    return sorted(folder.iterdir())


def test_decode_workers_do_not_change_scores_or_their_order(folder, loop_run):
    model = registry.load(loop_run / "best")
    one = list(P.iter_scores(model, _files(folder), progress=False))
    two = list(P.iter_scores(model, _files(folder), progress=False, num_workers=2))
    assert two == one and [r["file"] for r in one] == [str(f) for f in _files(folder)]
    assert [r["status"] for r in one].count("error") == 1 and one[0]["windows"] == 6
    first = list(P.iter_scores(model, _files(folder), progress=False, num_workers=2, clip_policy="first:2"))
    assert [r["windows"] for r in first if r["status"] == "ok"] == [1] * 6


def _one_thread(args, code=1):
    """The CLI in this process with one intra-op thread, as each shard process and torchrun rank runs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        r = CliRunner().invoke(main, args)
    finally:
        torch.set_num_threads(threads)
    assert r.exit_code == code, r.output  # 1: broken.wav's row
    return r


def _args(files, run, *extra):
    return ["predict", *map(str, files), "--model", "clam-tiny", "--checkpoint", str(run / "best"), "-q",
            "--clip", "all-windows", *extra]


def test_precision_is_recorded_and_a_resume_in_another_precision_is_refused(folder, loop_run, tmp_path):
    out = tmp_path / "scores.jsonl"
    song = folder / "song0.flac"
    r = CliRunner().invoke(main, _args([song], loop_run, "--out", str(out), "--precision", "bf16"))
    assert r.exit_code == 0, r.output
    assert json.loads(out.read_text().splitlines()[0])[O.JSONL_KEY]["precision"] == "bf16"
    r = CliRunner().invoke(main, _args([song], loop_run, "--out", str(out), "--resume"))
    assert r.exit_code == 2 and "precision: file 'bf16', now 'fp32'" in r.output


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def test_two_shard_processes_then_merge_equal_one_process(folder, loop_run, tmp_path):
    one = tmp_path / "one.csv"
    _one_thread(_args([folder], loop_run, "--out", str(one)))
    out = tmp_path / "sharded" / "scores.csv"
    out.parent.mkdir()
    shard = [sys.executable, "-m", "mom_bench", *_args([folder], loop_run, "--out", str(out), "--num-shards", "2")]
    done = subprocess.run(shard + ["--shard-index", "1", "--num-workers", "2"], env=_env(), cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "shard 1 of 2: files 3..6 of 7" in done.stderr, done.stderr

    refused = CliRunner().invoke(main, _args([folder], loop_run, "--out", str(out), "--merge"))
    assert refused.exit_code == 2 and "shard 0 of 2: no scores.csv.part-00000-of-00002" in refused.output
    assert "shard 1 of 2" not in refused.output and not out.exists()

    done = subprocess.run(shard + ["--shard-index", "0"], env=_env(), cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 1, done.stderr  # broken.wav is in its block
    part0 = O.part_path(out, 0, 2)
    whole = part0.read_text()
    part0.write_text(whole[:whole.rstrip("\n").rfind("\n") + 1])  # its last row lost
    refused = CliRunner().invoke(main, _args([folder], loop_run, "--out", str(out), "--merge"))
    assert refused.exit_code == 2 and "shard 0 of 2: incomplete, 2 of 3 files scored" in refused.output
    part0.write_text(whole)

    merged = CliRunner().invoke(main, _args([folder], loop_run, "--out", str(out), "--merge"))
    assert merged.exit_code == 1 and "merged 7 rows" in merged.output  # 1: broken.wav's row
    assert out.read_bytes() == one.read_bytes()  # header and every score, byte for byte


def test_torchrun_ranks_score_their_blocks_and_rank_0_merges(folder, loop_run, tmp_path):
    one = tmp_path / "one.jsonl"
    _one_thread(_args([folder], loop_run, "--out", str(one)))
    out = tmp_path / "ranks" / "scores.jsonl"
    out.parent.mkdir()
    done = subprocess.run(TORCHRUN + ["-m", "mom_bench", *_args([folder], loop_run, "--out", str(out))],
                          env=_env(), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert "rank 1 of 2" in done.stderr and "merged 7 rows" in done.stderr, done.stderr[-3000:]
    assert out.read_bytes() == one.read_bytes()
    assert O.part_path(out, 1, 2).exists()


@pytest.mark.parametrize(("extra", "says"), [
    (["--device", "cuda:7"] if not torch.cuda.is_available() else ["--device", "nonsense"], "device"),
    (["--precision", "fp16", "--device", "cpu"], "fp16 needs a CUDA device"),
    (["--merge"], "no part files scores.csv.part-*-of-*"),
    (["--num-shards", "2", "--shard-index", "0"], "need --out FILE"),
])
def test_a_device_precision_or_shard_option_that_cannot_work_is_refused_before_scoring(folder, loop_run, tmp_path,
                                                                                     extra, says):
    out = ["--out", str(tmp_path / "scores.csv")] if "--num-shards" not in extra else []
    r = CliRunner().invoke(main, _args([folder / "song0.flac"], loop_run, *out, *extra))
    assert r.exit_code == 2 and says in r.output and not (tmp_path / "scores.csv").exists(), r.output
