"""`mom-bench predict`: windowed scoring of files, and a broken file that does not stop the others."""
import json

import pytest
import torch
from click.testing import CliRunner

from mom_bench.cli import main
from mom_bench.loop import prediction as P
from mom_bench.models import registry
from tests._fixtures_loop import RATE, flac_bytes, signal


def test_windows():
    x = torch.arange(24, dtype=torch.float32)
    w = P.windows(x, 10)
    assert w.shape == (2, 10)  # the trailing 4 samples are under half a window: dropped
    assert torch.equal(w[1], torch.arange(10, 20, dtype=torch.float32))
    w = P.windows(torch.arange(25, dtype=torch.float32), 10)
    assert w.shape == (3, 10) and torch.equal(w[2, :5], torch.arange(20, 25, dtype=torch.float32))
    assert w[2, 5:].abs().sum() == 0  # half a window or more is kept, zero-padded at the end
    short = P.windows(torch.ones(3), 10)
    assert short.shape == (1, 10) and short.sum() == 3  # a short song is one padded window
    assert P.windows(torch.ones(7), None).shape == (1, 7)


@pytest.fixture(scope="module")
def songs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("songs")
    (folder / "real.flac").write_bytes(flac_bytes(signal("real", 1.5, 101)))
    (folder / "fake.flac").write_bytes(flac_bytes(signal("gen_a", 1.5, 102)))
    (folder / "long.flac").write_bytes(flac_bytes(signal("gen_a", 6.6, 103)))
    (folder / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEthis is not audio")
    return folder


@pytest.fixture(scope="module")
def run(loop_run):
    return loop_run  # trained once per session on the loop benchmark (tests/conftest.py)


def test_score_files_reports_the_broken_one(songs, run):
    model = registry.load(run / "best")
    files = sorted(songs.iterdir())
    rows = P.score_files(model, files, progress=False)
    by_name = {r["file"].rsplit("/", 1)[-1]: r for r in rows}
    assert [r["file"] for r in rows] == [str(f) for f in files]
    assert by_name["broken.wav"]["status"] == "error" and by_name["broken.wav"]["error"]
    assert by_name["broken.wav"]["p_fake"] == ""
    for name in ("real.flac", "fake.flac", "long.flac"):
        assert by_name[name]["status"] == "ok" and 0 <= by_name[name]["p_fake"] <= 1
    assert by_name["long.flac"]["windows"] == 3 and by_name["real.flac"]["windows"] == 1  # 2 s clips of clam-tiny

    # a song that fits one clip scores exactly as the model scores its clip; a long one is the mean logit
    from mom_bench.core import audio

    x = audio.load(songs / "real.flac", model.sample_rate, clip=model.clip).samples
    assert by_name["real.flac"]["p_fake"] == pytest.approx(float(model.predict_proba(x[None])[0]), abs=1e-5)
    full = audio.load(songs / "long.flac", model.sample_rate).samples
    with torch.inference_mode():
        logits = model(P.windows(full, model.clip.n_samples(RATE)))
    assert by_name["long.flac"]["p_fake"] == pytest.approx(float(torch.sigmoid(logits.mean())), abs=1e-5)


def test_cli_predict_folder(songs, run):
    args = ["predict", str(songs), "--model", "clam-tiny", "--checkpoint", str(run / "best")]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 1
    assert "broken.wav" in r.output and "error" in r.output and "3 ok, 1 failed" in r.output
    r = CliRunner().invoke(main, args + ["--format", "json"])
    data = json.loads(r.stdout)  # the clip choice is said on stderr
    assert data["model"] == "clam-tiny" and "mean of window logits" in data["aggregation"]
    assert sorted(x["status"] for x in data["rows"]) == ["error", "ok", "ok", "ok"]
    r = CliRunner().invoke(main, ["predict", str(songs / "real.flac"), "--model", "clam-tiny", "--checkpoint",
                                  str(run / "best"), "--format", "csv"])
    assert r.exit_code == 0 and r.stdout.splitlines()[0].startswith("file,status,p_fake")


def test_cli_predict_without_a_trained_model(songs, tmp_path, monkeypatch):
    monkeypatch.setenv("MOM_BENCH_HOME", str(tmp_path))
    r = CliRunner().invoke(main, ["predict", str(songs / "real.flac"), "--model", "clam"])
    assert r.exit_code == 2 and "no trained model for clam (resolved to clam-mini) on mom-mini" in r.output


def test_a_checkpoint_with_nan_weights_is_never_reported_ok(songs, run, tmp_path):
    # A saved head whose weights are NaN (a diverged or corrupted run): every file gets an error, exit 1.
    model = registry.load(run / "best")
    with torch.no_grad():
        for p in model.head.parameters():
            p.fill_(float("nan"))
    model.save_pretrained(tmp_path / "nan")
    rows = P.score_files(registry.load(tmp_path / "nan"), [songs / "real.flac"], progress=False)
    assert rows[0]["status"] == "error" and "non-finite score" in rows[0]["error"] and rows[0]["p_fake"] == ""
    r = CliRunner().invoke(main, ["predict", str(songs / "real.flac"), "--model", "clam-tiny", "--checkpoint",
                                  str(tmp_path / "nan"), "--format", "csv"])
    assert r.exit_code == 1 and "non-finite score" in r.output


@pytest.mark.parametrize("threshold", ["nan", "-1", "2"])
def test_a_threshold_that_is_not_a_probability_is_refused(songs, run, threshold):
    r = CliRunner().invoke(main, ["predict", str(songs / "real.flac"), "--model", "clam-tiny", "--checkpoint",
                                  str(run / "best"), "--threshold", threshold])
    assert r.exit_code == 2 and ("threshold" in r.output.lower())
    with pytest.raises(P.PredictionError, match=r"threshold must be a probability in \[0, 1\]"):
        P.score_files(registry.load(run / "best"), [songs / "real.flac"], threshold=float(threshold), progress=False)
