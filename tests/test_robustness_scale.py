"""`evaluate --robustness` on the fast path (issue 25, part 5): transforms run in the decode workers, scoring
takes --precision and --batch-size, transformed features and scores stay cached, and the run splits like
`extract` (torchrun ranks, or --num-shards array jobs gathered by a run without shards). None of the speed
options may change a number: each song's transform is seeded by the song and the transform alone."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from mom_bench.cli import main
from mom_bench.loop import robustness as R
from tests.test_robustness import Loudness

#: A random transform (noise: its draw is seeded per song), one that runs FFmpeg (codec) and a phase vocoder.
TRANSFORMS = ["noise_snr20", "mp3_64k", "pitch_+1st"]
#: The sharded runs: the random transform, and a cheap one.
SHARDED = ["noise_snr20", "gain_-6db"]


def _document(folder):
    doc = json.loads((folder / "robustness" / "robustness.json").read_text())
    return {k: v for k, v in doc.items() if k != "checkpoint"}


def _predictions(folder):
    return pd.read_csv(folder / "robustness" / "robustness_predictions.csv")


def test_decode_workers_and_batch_size_change_no_number(loop_benchmark, tmp_path):
    runs = {}
    for workers, batch in ((0, 8), (2, 3)):
        out = tmp_path / f"w{workers}-b{batch}"
        said = []
        R.evaluate_robustness(Loudness(), data_dir=loop_benchmark, out_dir=out, transforms=TRANSFORMS,
                              n_bootstrap=20, progress=False, plots=False, num_workers=workers, batch_size=batch,
                              log=said.append)
        assert any(f"{workers} decode workers" in s for s in said)
        runs[workers] = out
    assert _document(runs[0]) == _document(runs[2])
    pd.testing.assert_frame_equal(_predictions(runs[0]), _predictions(runs[2]))
    # the noise really differs between songs and the transforms really moved the scores
    assert _predictions(runs[0]).groupby("transform")["score"].nunique().min() > 1


def _lines(said, word):
    return [s for s in said if s.startswith("robustness: ") and word in s]


def _head_changed(best, out):
    """A second head over the same encoders: the checkpoint with its head's weights moved."""
    from safetensors.torch import load_file, save_file

    out.mkdir()
    for item in best.iterdir():
        (out / item.name).write_bytes(item.read_bytes())
    weights = next(out.glob("*.safetensors"))
    tensors = load_file(weights)
    head = sorted(k for k in tensors if "encoder" not in k)[0]
    tensors[head] = tensors[head] + 0.5
    save_file(tensors, weights)
    return out


def test_a_rerun_and_a_second_head_encode_nothing_again(loop_benchmark, loop_run, tmp_path, monkeypatch):
    monkeypatch.setenv("MOM_BENCH_HOME", str(tmp_path / "home"))
    kwargs = dict(data_dir=loop_benchmark, transforms=TRANSFORMS[:2], n_bootstrap=20, progress=False, plots=False)
    first, again, other = [], [], []
    R.evaluate_robustness("clam-tiny", loop_run / "best", out_dir=tmp_path / "a", log=first.append, **kwargs)
    assert _lines(first, "song-transforms computed here") and not _lines(first, " 0 song-transforms computed")
    R.evaluate_robustness("clam-tiny", loop_run / "best", out_dir=tmp_path / "b", log=again.append, **kwargs)
    assert _lines(again, "robustness: 0 song-transforms computed here"), again
    assert _document(tmp_path / "a") == _document(tmp_path / "b")

    features = tmp_path / "home" / "cache" / "features"
    stamps = {p: p.stat().st_mtime_ns for p in features.rglob("*")}
    head = _head_changed(loop_run / "best", tmp_path / "other-head")
    _, robust = R.evaluate_robustness("clam-tiny", head, out_dir=tmp_path / "c", log=other.append, **kwargs)
    # its scores are its own (not the first head's, read from the score cache) ...
    assert _lines(other, "0 read from the score cache")
    assert _predictions(tmp_path / "c")["score"].tolist() != _predictions(tmp_path / "a")["score"].tolist()
    # ... made from the transformed features the first head left: no song was encoded again
    assert _lines(other, "robustness: 0 song-transforms computed here"), other
    assert {p: p.stat().st_mtime_ns for p in features.rglob("*")} == stamps


def test_reduced_precision_is_recorded_and_never_served_fp32_scores(loop_benchmark, loop_run, tmp_path,
                                                                     monkeypatch):
    monkeypatch.setenv("MOM_BENCH_HOME", str(tmp_path / "home"))
    kwargs = dict(data_dir=loop_benchmark, transforms=["gain_+6db"], n_bootstrap=20, progress=False, plots=False)
    _, fp32 = R.evaluate_robustness("clam-tiny", loop_run / "best", out_dir=tmp_path / "a", **kwargs)
    said = []
    _, bf16 = R.evaluate_robustness("clam-tiny", loop_run / "best", out_dir=tmp_path / "b", precision="bf16",
                                    log=said.append, **kwargs)
    assert fp32.document["precision"] == "fp32" and bf16.document["precision"] == "bf16"
    assert _lines(said, "0 read from the score cache") and not _lines(said, " 0 song-transforms computed")
    a, b = _predictions(tmp_path / "a")["score"], _predictions(tmp_path / "b")["score"]
    assert (a - b).abs().max() < 0.05  # bf16 moves scores slightly, not arbitrarily


def _evaluate(model, data, out, *extra):
    return ["evaluate", "--model", str(model), "--data", str(data), "--out", str(out), "--n-bootstrap", "20",
            "--batch-size", "3", "--no-plots", "--robustness", "standard", "--transforms", ",".join(SHARDED),
            *extra]


def _cli(args, home, monkeypatch, code=0):
    monkeypatch.setenv("MOM_BENCH_HOME", str(home))
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def waveform_model(tmp_path):
    """A saved waveform detector (untrained spectttra-mini): its scores have a checkpoint to be cached under."""
    from mom_bench.models import registry

    torch.manual_seed(0)
    folder = tmp_path / "spectttra"
    registry.create("spectttra-mini").save_pretrained(folder)
    return folder


@pytest.mark.parametrize("kind", ["waveform", "frozen-encoder"])
def test_array_shards_then_a_gathering_run_equal_one_process(kind, loop_benchmark, loop_run, waveform_model,
                                                             tmp_path, monkeypatch):
    model = waveform_model if kind == "waveform" else loop_run / "best"
    _cli(_evaluate(model, loop_benchmark, tmp_path / "one"), tmp_path / "home-one", monkeypatch)
    home = tmp_path / "home-sharded"
    for index in (1, 0):
        said = _cli(_evaluate(model, loop_benchmark, tmp_path / "unused", "--num-shards", "2", "--shard-index",
                              str(index)), home, monkeypatch)
        assert f"shard {index} of 2:" in said and "without --num-shards" in said
    assert not (tmp_path / "unused").exists()  # a shard writes no results
    said = _cli(_evaluate(model, loop_benchmark, tmp_path / "gathered"), home, monkeypatch)
    assert "robustness: 0 song-transforms computed here" in said
    assert _document(tmp_path / "gathered") == _document(tmp_path / "one")
    pd.testing.assert_frame_equal(_predictions(tmp_path / "gathered"), _predictions(tmp_path / "one"))


def test_a_missing_shard_is_computed_by_the_gathering_run(loop_benchmark, waveform_model, tmp_path, monkeypatch):
    home = tmp_path / "home"
    _cli(_evaluate(waveform_model, loop_benchmark, tmp_path / "x", "--num-shards", "3", "--shard-index", "1"), home,
         monkeypatch)
    said = _cli(_evaluate(waveform_model, loop_benchmark, tmp_path / "gathered"), home, monkeypatch)
    _cli(_evaluate(waveform_model, loop_benchmark, tmp_path / "one"), tmp_path / "home-one", monkeypatch)
    computed = int(said.split("robustness: ")[1].split(" song-transforms")[0])
    assert 0 < computed < len(_predictions(tmp_path / "one"))
    pd.testing.assert_frame_equal(_predictions(tmp_path / "gathered"), _predictions(tmp_path / "one"))


def test_shard_options_are_checked(tmp_path, monkeypatch):
    out = _cli(["evaluate", "--model", "clam", "--num-shards", "2", "--shard-index", "0"], tmp_path, monkeypatch,
               code=2)
    assert "--robustness" in out
    out = _cli(["evaluate", "--model", "clam", "--robustness", "standard", "--num-shards", "2"], tmp_path,
               monkeypatch, code=2)
    assert "go together" in out


def test_a_python_object_cannot_be_sharded(loop_benchmark, tmp_path):
    with pytest.raises(R.RobustnessError, match="no identity"):
        R.score_shard(Loudness(), data_dir=loop_benchmark, num_shards=2, shard_index=0, transforms=["gain_+6db"],
                      progress=False)


@pytest.mark.slow
def test_two_ranks_score_the_suite_like_one_process(loop_benchmark, loop_run, tmp_path, monkeypatch):
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # like each torchrun rank, so features are bit-identical
    try:
        _cli(_evaluate(loop_run / "best", loop_benchmark, tmp_path / "one"), tmp_path / "home-one", monkeypatch)
    finally:
        torch.set_num_threads(threads)
    env = {**os.environ, "MOM_BENCH_HOME": str(tmp_path / "home-two"), "OMP_NUM_THREADS": "1",
           "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(torchrun + ["-m", "mom_bench"] + _evaluate(loop_run / "best", loop_benchmark,
                                                                      tmp_path / "two"),
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert _document(tmp_path / "two") == _document(tmp_path / "one")
    pd.testing.assert_frame_equal(_predictions(tmp_path / "two"), _predictions(tmp_path / "one"))
