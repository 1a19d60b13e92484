"""`mom-bench predict` for collections: rows written as each file is scored, and a stopped run resumed.

The crash test kills a real `python -m mom_bench predict` process with SIGKILL mid-run and resumes its file."""
import csv
import io
import json
import os
import signal as signals
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from mom_bench.cli import main
from mom_bench.loop import prediction as P
from mom_bench.loop import prediction_output as O
from mom_bench.models import registry
from tests._fixtures_loop import flac_bytes, signal

ROOT = Path(__file__).resolve().parents[1]
N_SONGS = 10
SLOW = ("--clip", "all-windows")  # 3 windows a song rather than 1: the run is stopped midway, not after it ends


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    # Songs of 6 s (3 windows of clam-tiny's 2 s clip each): scoring them takes long enough to stop a run midway.
    folder = tmp_path_factory.mktemp("collection")
    for i in range(N_SONGS):
        kind = "real" if i % 2 else "gen_a"
        (folder / f"song{i:02d}.flac").write_bytes(flac_bytes(signal(kind, 6.0, 300 + i)))
    (folder / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEthis is not audio")
    return folder


@pytest.fixture(scope="module")
def run(loop_run):
    return loop_run


def _args(folder, run, *extra):
    return ["predict", str(folder), "--model", "clam-tiny", "--checkpoint", str(run / "best"), *extra]


def _process(folder, run, *extra):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-m", "mom_bench", *_args(folder, run, *extra)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _rows(path: Path) -> list[dict]:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith(O.CSV_MARK) and lines[1] == ",".join(P.COLUMNS)
    return list(csv.DictReader(io.StringIO("\n".join(lines[1:]) + "\n")))


@pytest.fixture(scope="module")
def uninterrupted(folder, run, tmp_path_factory):
    out = tmp_path_factory.mktemp("whole") / "scores.csv"
    r = CliRunner().invoke(main, _args(folder, run, "--out", str(out), *SLOW))
    assert r.exit_code == 1, r.output  # broken.wav
    return out


def test_a_killed_run_resumes_to_one_row_per_file_with_the_same_scores(folder, run, uninterrupted, tmp_path):
    out = tmp_path / "scores.csv"
    proc = _process(folder, run, "--out", str(out), *SLOW)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if out.exists() and len(out.read_text(encoding="utf-8").splitlines()) >= 3:  # header, columns, a row
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.kill(proc.pid, signals.SIGKILL)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == -signals.SIGKILL
    kept = _rows(out)
    assert 1 <= len(kept) < N_SONGS + 1  # every finished row survived the kill, and some were left to do

    r = CliRunner().invoke(main, _args(folder, run, "--out", str(out), "--resume", *SLOW))
    assert r.exit_code == 1 and f"{len(kept)} file(s) already scored" in r.output
    resumed, whole = _rows(out), _rows(uninterrupted)
    assert sorted(x["file"] for x in resumed) == sorted(x["file"] for x in whole)  # exactly one row per file
    assert resumed[:len(kept)] == kept
    assert sorted(resumed, key=lambda x: x["file"]) == sorted(whole, key=lambda x: x["file"])  # same text


def test_a_torn_last_row_is_scored_again(folder, run, uninterrupted, tmp_path):
    out = tmp_path / "scores.csv"
    text = uninterrupted.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    torn = lines[-1][: len(lines[-1]) // 2]
    out.write_text("".join(lines[:-1]) + torn, encoding="utf-8")
    r = CliRunner().invoke(main, _args(folder, run, "--out", str(out), "--resume", *SLOW))
    assert r.exit_code == 1 and f"{N_SONGS} file(s) already scored" in r.output
    assert out.read_text(encoding="utf-8") == text  # the torn row is gone and its file scored once more


def test_resume_refuses_a_file_made_another_way(folder, run, uninterrupted, tmp_path):
    out = tmp_path / "scores.csv"
    out.write_bytes(uninterrupted.read_bytes())
    r = CliRunner().invoke(main, _args(folder, run, "--out", str(out), "--resume", "--threshold", "0.7", *SLOW))
    assert r.exit_code == 2 and "threshold: file 0.5, now 0.7" in r.output
    header = json.loads(out.read_text(encoding="utf-8").splitlines()[0][len(O.CSV_MARK):])
    for field, value in (("model", "clam"), ("clip", "first:30"), ("checkpoint_sha256", "0" * 64)):
        lines = out.read_text(encoding="utf-8").splitlines(keepends=True)
        lines[0] = O.CSV_MARK + json.dumps({**header, field: value}) + "\n"
        out.write_text("".join(lines), encoding="utf-8")
        r = CliRunner().invoke(main, _args(folder, run, "--out", str(out), "--resume", *SLOW))
        assert r.exit_code == 2 and f"{field}: file {value!r}" in r.output, r.output
    r = CliRunner().invoke(main, _args(folder, run, "--out", str(out), "--resume", "--format", "jsonl", *SLOW))
    assert r.exit_code == 2 and "does not start with a mom-bench predict jsonl header" in r.output


def test_an_existing_out_needs_resume_or_overwrite(folder, run, uninterrupted, tmp_path):
    out = tmp_path / "scores.csv"
    out.write_text("precious\n", encoding="utf-8")
    r = CliRunner().invoke(main, _args(folder, run, "--out", str(out)))
    assert r.exit_code == 2 and "exists: add --resume" in r.output
    assert out.read_text(encoding="utf-8") == "precious\n"  # nothing lost
    r = CliRunner().invoke(main, _args(folder / "song00.flac", run, "--out", str(out), "--overwrite"))
    assert r.exit_code == 0 and [x["file"] for x in _rows(out)] == [str(folder / "song00.flac")]


def test_rows_come_out_before_the_run_ends_and_jsonl_lines_parse(folder, run):
    proc = _process(folder, run, "--format", "jsonl")
    try:
        first = proc.stdout.readline()
        running = proc.poll() is None  # the first row arrived while files were still being scored
        rest, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert running
    rows = [json.loads(line) for line in (first + rest).decode("utf-8").splitlines()]
    assert len(rows) == N_SONGS + 1 and list(rows[0]) == P.COLUMNS
    assert [r["file"] for r in rows] == sorted(r["file"] for r in rows)  # input order
    assert proc.returncode == 1


def test_predict_iter_yields_the_rows_of_predict(folder, run):
    files = [folder / "song00.flac", folder / "broken.wav"]
    model = registry.load(run / "best")
    streamed = list(P.predict_iter(files, model, progress=False))
    rows, _ = P.predict(files, model, progress=False)
    assert streamed == rows and [r["status"] for r in rows] == ["ok", "error"]


def test_the_progress_bar_counts_files_and_hours_on_stderr(folder, run, capsys):
    P.score_files(registry.load(run / "best"), [folder / "song00.flac", folder / "song01.flac"], progress=True)
    captured = capsys.readouterr()
    assert captured.out == "" and "2/2" in captured.err and "0.00 h of audio" in captured.err
    P.score_files(registry.load(run / "best"), [folder / "song00.flac"], progress=False)
    assert capsys.readouterr().err == ""


def _json_rows(folder, run, song, *extra):
    r = CliRunner().invoke(main, _args(folder / song, run, "--format", "json", *extra))
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout), r.stderr


@pytest.mark.parametrize("batch_size", ["1", "8"])
def test_clip_default_is_the_models_policy_and_all_windows_or_another_policy_can_be_chosen(folder, run,
                                                                                         batch_size):
    from mom_bench.core import audio

    model = registry.load(run / "best")  # clam-tiny: first:2; the songs are 6 s long
    default, said = _json_rows(folder, run, "song00.flac", "--batch-size", batch_size)
    assert "clip: first:2 (the model's declared policy)" in said and default["clip"] == "first:2"
    x = audio.load(folder / "song00.flac", model.sample_rate, clip=model.clip).samples
    assert default["rows"][0]["windows"] == 1
    assert default["rows"][0]["p_fake"] == pytest.approx(float(model.predict_proba(x[None])[0]), abs=1e-5)

    every, said = _json_rows(folder, run, "song00.flac", "--clip", "all-windows", "--batch-size", batch_size)
    assert "clip: all windows of first:2" in said and every["rows"][0]["windows"] == 3
    longer, _ = _json_rows(folder, run, "song00.flac", "--clip", "first:4", "--batch-size", batch_size)
    assert longer["clip"] == "first:4" and longer["rows"][0]["windows"] == 1
    scores = {default["rows"][0]["p_fake"], every["rows"][0]["p_fake"], longer["rows"][0]["p_fake"]}
    assert len(scores) == 3  # three different parts of the song, three different scores


@pytest.mark.parametrize(("clip", "says"), [("random:2", "draws a random window"), ("bogus", "bad clip policy")])
def test_a_clip_that_cannot_score_is_refused(folder, run, clip, says):
    r = CliRunner().invoke(main, _args(folder / "song00.flac", run, "--clip", clip))
    assert r.exit_code == 2 and says in r.output


def test_a_jsonl_out_file_resumes_and_records_the_checkpoint_sha256(folder, run, tmp_path):
    from mom_bench.core.files import sha256_file

    out = tmp_path / "scores.jsonl"
    songs = [str(folder / "song00.flac"), str(folder / "song01.flac")]
    r = CliRunner().invoke(main, ["predict", *songs, "--model", "clam-tiny", "--checkpoint", str(run / "best"),
                                  "--out", str(out)])
    assert r.exit_code == 0, r.output
    whole = out.read_text(encoding="utf-8")
    lines = whole.splitlines()
    header = json.loads(lines[0])[O.JSONL_KEY]
    assert header["format"] == "jsonl" and header["clip"] == "first:2" and header["threshold"] == 0.5
    assert header["checkpoint_sha256"] == sha256_file(run / "best" / "model.safetensors")
    assert [json.loads(line)["file"] for line in lines[1:]] == songs
    out.write_text(whole[:-5], encoding="utf-8")  # killed while writing the last row
    r = CliRunner().invoke(main, ["predict", *songs, "--model", "clam-tiny", "--checkpoint", str(run / "best"),
                                  "--out", str(out), "--resume"])
    assert r.exit_code == 0 and "1 file(s) already scored" in r.output and out.read_text(encoding="utf-8") == whole


def test_on_a_three_minute_song_first_30_s_and_the_default_clip_score_different_parts(run, tmp_path):
    """The issue's case: a 3-minute file scored by default (the model's declared policy, first:2 for clam-tiny)
    and with --clip first:30 gives two different, documented results, each the score of the part it names."""
    import torch

    from mom_bench.core import audio

    song = tmp_path / "three-minutes.flac"  # 20 s of tone, then 160 s of the generator's signal
    song.write_bytes(flac_bytes(torch.cat([signal("real", 20.0, 1), signal("gen_a", 160.0, 2)])))
    model = registry.load(run / "best")
    results = {}
    for clip in (None, "first:30"):
        document, said = _json_rows(song.parent, run, song.name, *(("--clip", clip) if clip else ()))
        row = document["rows"][0]
        policy = clip or str(model.clip)
        seconds = audio.parse_clip(policy).seconds
        assert row["status"] == "ok" and row["windows"] == 1 and row["duration_s"] == pytest.approx(seconds)
        assert document["clip"] == policy and f"clip: {policy}" in said
        x = audio.load(song, model.sample_rate, clip=audio.parse_clip(policy)).samples
        assert x.shape[-1] == audio.parse_clip(policy).n_samples(model.sample_rate)
        assert row["p_fake"] == pytest.approx(float(model.predict_proba(x[None])[0]), abs=1e-5)
        results[policy] = row["p_fake"]
    assert len(set(results.values())) == 2, results
