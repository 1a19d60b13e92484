"""Issue 11 ("Nothing lost, nothing trusted that should not be") on the benchmark loop: evaluate and checkpoints
replace only their own folders (item 1), a training run killed at any point resumes to the uninterrupted run
(item 6), predict accounts for every path it is given or finds (item 14), bootstrap intervals depend on the
predictions, not their row order, and are reported as computed (item 24), and nonsense option values are
refused before any folder is made."""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

import mom_bench
from mom_bench.cli import main
from mom_bench.core.files import ForeignFolder
from mom_bench.loop import evaluation as E
from mom_bench.loop import prediction as P
from mom_bench.loop import runs
from mom_bench.loop import training as T
from mom_bench.models import registry
from mom_bench.report import metrics
from tests._fixtures_loop import TINY_RECIPE, flac_bytes
from tests._fixtures_loop import signal as tone

# The code under test, wherever it is imported from (a throwaway worktree of an older commit included).
REPO = Path(mom_bench.__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data(loop_benchmark):
    return loop_benchmark


@pytest.fixture(scope="module")
def run(loop_run):
    return loop_run  # clam-tiny, TINY_RECIPE (4 epochs), trained once per session


def _user_folder(folder: Path) -> dict[str, bytes]:
    """A folder of the user's own files; returns what it holds, to check that nothing was touched."""
    (folder / "photos").mkdir(parents=True)
    (folder / "thesis.txt").write_text("four years of work\n")
    (folder / "photos" / "beach.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    return _contents(folder)


def _contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------------------------------------- item 1


def test_evaluate_refuses_a_folder_that_is_not_a_results_folder_before_scoring(data, run, tmp_path):
    """issue 11 item 1: `evaluate --out DIR` over a user's folder exits 2 naming it, before anything is scored,
    and leaves the folder as it was."""
    out = tmp_path / "mine"
    before = _user_folder(out)
    r = CliRunner().invoke(main, ["evaluate", "--model", "clam-tiny", "--checkpoint", str(run / "best"), "--data",
                                  str(data), "--out", str(out), "--n-bootstrap", "20", "--no-plots"])
    assert r.exit_code == 2, r.output
    assert str(out) in r.output and "not a results folder" in r.output
    assert "evaluating" not in r.output  # refused before the model was even loaded
    assert _contents(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # no temporary sibling left behind


def test_evaluate_replaces_its_own_results_folder_or_an_empty_one(data, run, tmp_path):
    """issue 11 item 1: a results folder (results.json) and an empty folder are still replaced; what evaluate
    makes goes with the old folder (a plot of a run with plots), what it does not make is kept (issue 26 item 2)."""
    empty = tmp_path / "empty"
    empty.mkdir()
    first = E.evaluate("clam-tiny", run / "best", data, out_dir=empty, n_bootstrap=20, plots=False, progress=False)
    assert (first.out_dir / "results.json").is_file()
    (empty / "roc.png").write_text("a plot of an earlier evaluation")
    (empty / "notes.txt").write_text("the user's")
    E.evaluate("clam-tiny", run / "best", data, out_dir=empty, n_bootstrap=20, plots=False, progress=False)
    assert not (empty / "roc.png").exists() and (empty / "results.json").is_file()
    assert (empty / "notes.txt").read_text() == "the user's"


def test_the_default_results_folder_is_refused_too_when_it_is_not_one(data, run, tmp_path, monkeypatch):
    """issue 11 item 1: the default <runs>/<benchmark>/<model>/results is checked the same way."""
    monkeypatch.setenv("MOM_BENCH_HOME", str(tmp_path / "home"))
    benchmark = json.loads((data / "build_report.json").read_text())["benchmark"]
    default = tmp_path / "home" / "runs" / benchmark / "clam-tiny" / "results"
    before = _user_folder(default)
    with pytest.raises(ForeignFolder, match="not a results folder"):
        E.evaluate("clam-tiny", run / "best", data, n_bootstrap=20, plots=False, progress=False)
    assert _contents(default) == before


def test_a_checkpoint_replaces_only_a_checkpoint_folder(run, tmp_path):
    """issue 11 item 1 (runs.save_checkpoint swaps folders in too): a folder without config.json is refused."""
    model = registry.load(run / "best")
    foreign = tmp_path / "best"
    before = _user_folder(foreign)
    with pytest.raises(ForeignFolder, match="not a checkpoint folder"):
        runs.save_checkpoint(foreign, model)
    assert _contents(foreign) == before
    own = tmp_path / "own"
    runs.save_checkpoint(own, model)
    runs.save_checkpoint(own, model)  # its own kind: replaced
    assert registry.load(own).name == "clam-tiny"


def test_train_refuses_a_folder_that_is_not_a_run_folder(data, tmp_path):
    """issue 11 item 1: `train --out DIR` over a user's folder is refused; nothing is written into it."""
    out = tmp_path / "mine"
    before = _user_folder(out)
    with pytest.raises(T.TrainError, match="not a run folder"):
        T.train("clam-tiny", data, out, config=TINY_RECIPE, progress=False)
    assert _contents(out) == before


# ---------------------------------------------------------------------------------------------- item 6

KILL_RECIPE = {**TINY_RECIPE, "epochs": 7}
# On the loop fixture with KILL_RECIPE, epoch 6 is the best and epoch 7 beats every epoch before 6: a resume
# that forgets epoch 6 ends with epoch 7 in best/.
KILLED_EPOCH = 6

# The child trains and kills itself with SIGKILL right after the given checkpoint folder was saved for the
# n-th time: a real process dying at an exact point between two writes.
_KILL_AFTER_SAVE = r"""
import json, os, signal, sys
from pathlib import Path
from mom_bench.loop import training

data, out, folder_name, nth, config = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), json.loads(sys.argv[5])
real_save = training.save_checkpoint
saves = {"n": 0}

def save_then_die(folder, *args, **kwargs):
    real_save(folder, *args, **kwargs)
    if Path(folder).name == folder_name:
        saves["n"] += 1
        if saves["n"] == nth:
            os.kill(os.getpid(), signal.SIGKILL)

training.save_checkpoint = save_then_die
training.train("clam-tiny", data, out, config=config, progress=False)
"""

_TRAIN = r"""
import json, sys
from mom_bench.loop import training
training.train("clam-tiny", sys.argv[1], sys.argv[2], config=json.loads(sys.argv[3]), progress=False)
"""


def _child(code: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=REPO, env=env)


def _log(run_dir: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / runs.TRAIN_LOG).read_text().splitlines()]
    for row in rows:
        row.pop("seconds")
    return rows


def _same_run(a: Path, b: Path) -> None:
    """Everything a user reads of a run: the log, the best epoch, the weights of best/ and last/."""
    assert _log(a) == _log(b)
    ca, cb = (json.loads((d / runs.TRAIN_CONFIG).read_text()) for d in (a, b))
    assert (ca["epochs_done"], ca["best_epoch"]) == (cb["epochs_done"], cb["best_epoch"])
    for name in ("best", "last"):
        assert (a / name / "model.safetensors").read_bytes() == (b / name / "model.safetensors").read_bytes(), name


@pytest.fixture(scope="module")
def uninterrupted(data, tmp_path_factory):
    run_dir = T.train("clam-tiny", data, tmp_path_factory.mktemp("uninterrupted") / "run", config=KILL_RECIPE,
                      progress=False)
    log = _log(run_dir)
    # what makes the kill tests bite: epoch 7 is not the best, yet it beats every epoch before 6
    assert json.loads((run_dir / runs.TRAIN_CONFIG).read_text())["best_epoch"] == KILLED_EPOCH
    assert runs.selection_key(log[KILLED_EPOCH]) > max(runs.selection_key(e) for e in log[:KILLED_EPOCH - 1])
    return run_dir


def _resume_and_compare(data, out: Path, reference: Path) -> list[str]:
    said: list[str] = []
    T.train("clam-tiny", data, out, config=KILL_RECIPE, progress=False, log=said.append)  # the same command
    assert "continuing it" in said[0]
    _same_run(out, reference)
    return said


@pytest.mark.slow
def test_a_kill_after_saving_last_before_the_log_line_resumes_to_the_uninterrupted_run(data, uninterrupted,
                                                                                       tmp_path):
    """issue 11 item 6: SIGKILL right after last/ of epoch 6 was saved, before the epoch's log line: the same
    command continues, the log gets epoch 6 back and best/ holds epoch 6, as in an uninterrupted run (it used to
    resume from a log without epoch 6 and end with the worse epoch 7 in best/)."""
    out = tmp_path / "run"
    proc = _child(_KILL_AFTER_SAVE, str(data), str(out), "last", str(KILLED_EPOCH), json.dumps(KILL_RECIPE))
    assert proc.wait(timeout=300) == -signal.SIGKILL
    assert len(_log(out)) == KILLED_EPOCH - 1  # the kill came before the epoch's log line
    said = _resume_and_compare(data, out, uninterrupted)
    assert any(f"lacked epoch(s) {KILLED_EPOCH}" in m for m in said)


@pytest.mark.slow
def test_sigkill_timed_on_the_checkpoint_marker_resumes_to_the_uninterrupted_run(data, uninterrupted, tmp_path):
    """issue 11 item 6: SIGKILL from outside as soon as last/ records epoch 6, wherever the run then is."""
    out = tmp_path / "run"
    marker = out / "last" / runs.TRAINER_STATE
    proc = _child(_TRAIN, str(data), str(out), json.dumps(KILL_RECIPE))
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            assert proc.poll() is None, "the run finished before it could be killed"
            try:
                if json.loads(marker.read_text())["epochs_done"] >= KILLED_EPOCH:
                    break
            except (OSError, ValueError):  # not there yet (it is swapped in whole, never half written)
                pass
            time.sleep(0.005)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert "epochs_done" not in json.loads((out / runs.TRAIN_CONFIG).read_text()), "killed too late"
    _resume_and_compare(data, out, uninterrupted)


def _interrupted_after(data, out: Path, epochs_logged: int) -> None:
    def stop(msg: str) -> None:
        if msg.startswith(f"epoch {epochs_logged}/"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        T.train("clam-tiny", data, out, config=TINY_RECIPE, progress=False, log=stop)


# The child trains and stops itself (SIGSTOP) once its first epoch is logged: a run caught in the middle.
_STOP_AFTER_EPOCH_1 = r"""
import json, os, signal, sys
from mom_bench.loop import training

def stop_after_epoch_1(msg):
    if msg.startswith("epoch 1/"):
        os.kill(os.getpid(), signal.SIGSTOP)

training.train("clam-tiny", sys.argv[1], sys.argv[2], config=json.loads(sys.argv[3]), progress=False,
               log=stop_after_epoch_1)
"""


def test_a_second_train_into_a_folder_being_trained_is_refused_and_the_first_run_is_whole(data, tmp_path):
    """Issue 26 item 1: two trainings into one run folder interleaved their epochs in one log and both said
    they succeeded. The second is now refused while the first holds the folder's writer lock."""
    out = tmp_path / "run"
    first = _child(_STOP_AFTER_EPOCH_1, str(data), str(out), json.dumps(TINY_RECIPE))
    try:
        _, status = os.waitpid(first.pid, os.WUNTRACED)
        assert os.WIFSTOPPED(status), "the first training ended before its first epoch was logged"
        second = subprocess.run([sys.executable, "-m", "mom_bench", "train", "--model", "clam-tiny", "--data",
                                 str(data), "--out", str(out), "--config", str(_recipe_file(tmp_path))],
                                cwd=REPO, env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)},
                                capture_output=True, text=True, timeout=300)
        assert second.returncode != 0
        assert f"another mom-bench process (pid {first.pid}) is writing here (train)" in second.stderr
        assert [r["epoch"] for r in _log(out)] == [1]  # the refused command wrote nothing
    finally:
        os.kill(first.pid, signal.SIGCONT)
    first.wait(timeout=300)
    assert first.returncode == 0
    assert [r["epoch"] for r in _log(out)] == [1, 2, 3, 4]
    said: list[str] = []
    T.train("clam-tiny", data, out, config=TINY_RECIPE, progress=False, log=said.append)  # the lock was released
    assert "reusing it" in said[-1]


def _recipe_file(folder: Path) -> Path:
    path = folder / "recipe.json"
    path.write_text(json.dumps(TINY_RECIPE))
    return path


def test_a_torn_last_log_line_is_dropped_with_a_warning_and_rebuilt(data, run, tmp_path):
    """issue 11 item 6: a last line of train_log.jsonl cut mid-way (power loss) no longer makes every resume
    fail with JSONDecodeError: it is dropped with a warning and the run ends as the uninterrupted one."""
    out = tmp_path / "run"
    _interrupted_after(data, out, 2)
    log = out / runs.TRAIN_LOG
    text = log.read_bytes()
    log.write_bytes(text[:len(text) - 25])  # line 2 torn
    said: list[str] = []
    T.train("clam-tiny", data, out, config=TINY_RECIPE, progress=False, log=said.append)
    assert any("warning" in m and "line 2 is cut short" in m for m in said), said
    _same_run(out, run)


def test_a_corrupt_line_before_the_last_is_an_error_naming_it(data, tmp_path):
    """issue 11 item 6: only a torn last line is dropped; a damaged line in the middle is named."""
    out = tmp_path / "run"
    _interrupted_after(data, out, 3)
    log = out / runs.TRAIN_LOG
    lines = log.read_text().splitlines()
    lines[1] = lines[1][:20]
    log.write_text("\n".join(lines) + "\n")
    with pytest.raises(T.TrainError, match=rf"{runs.TRAIN_LOG}: line 2 is not a valid epoch record"):
        T.train("clam-tiny", data, out, config=TINY_RECIPE, progress=False)


def test_a_finished_run_killed_before_its_summary_gets_one(data, run, tmp_path):
    """issue 11 item 6: stopped after the last epoch's checkpoint and log line, before train_config.json got its
    summary: the same command writes the summary instead of looping on 'nothing to do'."""
    out = tmp_path / "run"
    shutil.copytree(run, out)
    config = json.loads((out / runs.TRAIN_CONFIG).read_text())
    for key in ("epochs_done", "best_epoch", "best_val_f1", "best_val_loss"):
        config.pop(key)
    (out / runs.TRAIN_CONFIG).write_text(json.dumps(config))
    T.train("clam-tiny", data, out, config=TINY_RECIPE, progress=False)
    summary = json.loads((out / runs.TRAIN_CONFIG).read_text())
    assert summary["epochs_done"] == 4 and summary["best_epoch"] == json.loads(
        (run / runs.TRAIN_CONFIG).read_text())["best_epoch"]


# ---------------------------------------------------------------------------------------------- item 14


def _csv_rows(stdout: bytes) -> dict[str, dict[str, str]]:
    text = stdout.decode("utf-8")  # strict: the output must be valid UTF-8
    return {row["file"]: row for row in csv.DictReader(io.StringIO(text))}


@pytest.fixture()
def hostile_folder(tmp_path):
    """A folder with a good song, a FIFO, a dangling symlink, a symlinked folder, a symlink loop, a valid FLAC
    whose name is not UTF-8 and a text file."""
    songs = tmp_path / "songs"
    elsewhere = tmp_path / "elsewhere"
    songs.mkdir()
    elsewhere.mkdir()
    audio = flac_bytes(tone("gen_a", 1.5, 7))
    (songs / "good.flac").write_bytes(audio)
    (elsewhere / "inner.flac").write_bytes(audio)
    os.mkfifo(songs / "stream.wav")
    (songs / "gone.flac").symlink_to(tmp_path / "deleted.flac")
    (songs / "linked").symlink_to(elsewhere, target_is_directory=True)
    (songs / "loop").symlink_to(songs, target_is_directory=True)
    with open(os.path.join(os.fsencode(songs), b"caf\xe9.flac"), "wb") as fh:
        fh.write(audio)
    (songs / "notes.txt").write_text("not audio")
    return songs


def test_predict_gives_every_path_a_row_and_writes_valid_utf8(hostile_folder, run):
    """issue 11 item 14: a FIFO, a dangling symlink, files behind a symlinked folder and a symlink loop each
    get a row; a FLAC whose name is not UTF-8 is read, and the CSV stays valid UTF-8 (name escaped)."""
    songs = hostile_folder
    r = CliRunner().invoke(main, ["predict", str(songs), "--model", "clam-tiny", "--checkpoint", str(run / "best"),
                                  "--format", "csv"])
    assert r.exit_code == 1, r.output
    rows = _csv_rows(r.stdout_bytes)
    good = rows[f"{songs}/good.flac"]
    assert good["status"] == "ok"
    escaped = rows[f"{songs}/caf\\xe9.flac"]
    assert escaped["status"] == "ok" and escaped["p_fake"] == good["p_fake"]  # the same audio, read
    assert rows[f"{songs}/linked/inner.flac"]["status"] == "ok"  # symlinked folders are followed
    assert rows[f"{songs}/stream.wav"]["error"] == "not a regular file (FIFO)"
    assert rows[f"{songs}/gone.flac"]["error"] == "dangling symlink"
    assert "already searched" in rows[f"{songs}/loop"]["error"]
    assert len(rows) == 6
    assert "1 file(s) without an audio extension not scored" in r.stderr and "notes.txt" in r.stderr

    # Paths given directly are accounted for the same way, in the JSON output too.
    given = [str(songs / "stream.wav"), os.fsdecode(os.fsencode(songs) + b"/caf\xe9.flac"), str(songs / "nope.flac")]
    r = CliRunner().invoke(main, ["predict", *given, "--model", "clam-tiny", "--checkpoint", str(run / "best"),
                                  "--format", "json"])
    out = json.loads(r.stdout_bytes.decode("utf-8"))["rows"]
    assert [(x["status"], x["error"]) for x in out] == [("error", "not a regular file (FIFO)"), ("ok", ""),
                                                         ("error", "file not found")]
    assert out[1]["file"].endswith("caf\\xe9.flac")


@pytest.mark.slow
def test_an_unreadable_subfolder_gets_a_permission_denied_row(hostile_folder, run):
    """issue 11 item 14: an unreadable subfolder gets a row. Root reads every folder, so as root the command
    runs with the capabilities that bypass file permissions dropped (setpriv); without setpriv it is skipped."""
    locked = hostile_folder / "locked"
    locked.mkdir()
    (locked / "hidden.flac").write_bytes(b"never read")
    locked.chmod(0)
    try:
        args = ["predict", str(locked.parent), "--model", "clam-tiny", "--checkpoint", str(run / "best"),
                "--format", "csv"]
        if os.geteuid() != 0:
            r = CliRunner().invoke(main, args)
            stdout, code = r.stdout_bytes, r.exit_code
        else:
            setpriv = shutil.which("setpriv")
            if setpriv is None:
                pytest.skip("running as root without setpriv: root reads every folder, so none is unreadable")
            cmd = [setpriv, "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search", "--",
                   sys.executable, "-m", "mom_bench", *args]
            env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
            proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, timeout=300)
            stdout, code = proc.stdout, proc.returncode
            assert stdout, proc.stderr.decode(errors="replace")[-2000:]
        rows = _csv_rows(stdout)
        assert rows[str(locked)]["error"] == "permission denied (folder not searched)"
        assert rows[f"{locked.parent}/good.flac"]["status"] == "ok"
        assert code == 1
    finally:
        locked.chmod(0o755)


# ---------------------------------------------------------------------------------------------- item 24


def _predictions(n: int = 240, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"id": [f"song{i:04d}" for i in range(n)], "split": rng.choice(["test_id", "test_ood"], n),
                       "generator": rng.choice(["real", "suno", "udio"], n, p=[0.5, 0.25, 0.25])})
    df["label"] = (df["generator"] != "real").astype(int)
    df["score"] = np.clip(rng.normal(0.35 + 0.3 * df["label"], 0.25), 0, 1)
    df["duration_s"] = rng.uniform(5, 240, n)
    return df


def test_bootstrap_intervals_do_not_depend_on_row_order():
    """issue 11 item 24: the same predictions in another row order give the same report, AUC and EER
    intervals included."""
    df = _predictions()
    a = metrics.compute_report(df, n_bootstrap=300, seed=3)
    for k in range(3):
        shuffled = df.sample(frac=1, random_state=k).reset_index(drop=True)
        assert metrics.compute_report(shuffled, n_bootstrap=300, seed=3) == a


def test_intervals_are_the_percentiles_as_computed_never_widened():
    """issue 11 item 24: with one resample the percentile interval is that one draw; widening it to reach the
    estimate (as before) would give a non-zero width wherever the draw differs from the estimate."""
    report = metrics.compute_report(_predictions(), n_bootstrap=1, seed=0)
    stats = [report["splits"][s]["overall"][m] for s in report["splits"] for m in ("f1", "auc", "eer", "recall")]
    assert all(st["ci"][0] == st["ci"][1] for st in stats), stats
    assert any(st["ci"][0] != st["value"] for st in stats)  # so the estimate is indeed outside some of them
    assert "widened" not in metrics.DEFINITIONS["ci"]


# ---------------------------------------------------------------------------------------------- option values


@pytest.mark.parametrize("args,needle", [
    (["--seed", "-1"], "--seed"),
    (["--seed", "3.5"], "--seed"),
    (["--n-bootstrap", "0"], "--n-bootstrap"),
    (["--batch-size", "0"], "--batch-size"),
    (["--device", "nonsense"], "not a torch device"),
    (["--splits", "test_id,test_id"], "more than once"),
])
def test_evaluate_refuses_nonsense_options_before_any_folder_is_made(data, run, tmp_path, args, needle):
    """issue 11 (values checked where they enter, before any folder is made): evaluate's options."""
    out = tmp_path / "results"
    r = CliRunner().invoke(main, ["evaluate", "--model", "clam-tiny", "--checkpoint", str(run / "best"), "--data",
                                  str(data), "--out", str(out), "--no-plots", *args])
    assert r.exit_code == 2 and needle in r.output, r.output
    assert not out.exists()


@pytest.mark.parametrize("kwargs,error,needle", [
    ({"seed": -1}, metrics.MetricsError, r"seed must be an integer >= 0"),
    ({"seed": "3"}, metrics.MetricsError, r"seed must be an integer >= 0"),
    ({"n_bootstrap": 0}, metrics.MetricsError, r"n_bootstrap must be an integer >= 1"),
    ({"threshold": float("nan")}, metrics.MetricsError, r"threshold must be a probability in \[0, 1\]"),
    ({"batch_size": 0}, E.EvaluationError, r"batch_size must be an integer >= 1"),
])
def test_evaluate_library_refuses_nonsense_values(data, run, tmp_path, kwargs, error, needle):
    """issue 11 (values checked where they enter): the library's evaluate, before anything is read."""
    with pytest.raises(error, match=needle):
        E.evaluate("clam-tiny", run / "best", data, out_dir=tmp_path / "results", progress=False, **kwargs)
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("args,needle", [
    (["--seed", "-1"], "--seed"),
    (["--seed", str(2**40)], "--seed"),
    (["--epochs", "0"], "--epochs"),
    (["--device", "nonsense"], "not a torch device"),
])
def test_train_refuses_nonsense_options_before_any_folder_is_made(data, tmp_path, args, needle):
    """issue 11 (values checked where they enter, before any folder is made): train's options."""
    out = tmp_path / "run"
    r = CliRunner().invoke(main, ["train", "--model", "clam-tiny", "--data", str(data), "--out", str(out), *args])
    assert r.exit_code == 2 and needle in r.output, r.output
    assert not out.exists()


@pytest.mark.parametrize("kwargs,needle", [
    ({"seed": -1}, r"seed must be an integer in \[0, "),
    ({"seed": 2**40}, r"seed must be an integer in \[0, "),
    ({"seed": True}, r"seed must be an integer in \[0, "),
    ({"epochs": 0, "resume": True}, "epochs must be an integer >= 1"),
    ({"config": {"seed": -3}}, r"seed must be an integer in \[0, "),
])
def test_train_library_refuses_nonsense_values(data, tmp_path, kwargs, needle):
    """issue 11 (values checked where they enter): a negative or huge seed used to fail inside the first epoch,
    after the run folder was made; a resume with epochs=0 silently kept the saved count."""
    with pytest.raises(T.TrainError, match=needle):
        T.train("clam-tiny", data, tmp_path / "run", progress=False, **kwargs)
    assert not (tmp_path / "run").exists()


def test_predict_refuses_a_batch_size_that_is_not_one(run, tmp_path):
    """issue 11 (values checked where they enter): predict's batch size."""
    with pytest.raises(P.PredictionError, match="batch_size must be an integer >= 1"):
        P.score_files(registry.load(run / "best"), [tmp_path / "x.flac"], batch_size=0, progress=False)


class _Energy(torch.nn.Module):
    """Log energy of each song: a detector that keeps the contract."""
    sample_rate, clip = 24000, "first:1"

    def forward(self, wave):
        return wave.pow(2).mean(dim=1).add(1e-8).log()


class _Centred(_Energy):
    """Energy minus the batch's mean: each score depends on its batch-mates (0 for a song alone)."""

    def forward(self, wave):
        x = super().forward(wave)
        return x - x.mean()


class _TwoColumns(_Energy):
    """[B, 2] logits (real, fake), which a flat reshape would read as 2B songs."""

    def forward(self, wave):
        x = super().forward(wave)
        return torch.stack([-x, x], dim=1)


def test_evaluate_holds_a_brought_detector_to_the_contract_on_real_songs(data, tmp_path):
    def run(model, name, **kw):
        return mom_bench.evaluate(model, data_dir=data, out_dir=tmp_path / name, n_bootstrap=10, plots=False,
                                  progress=False, **kw)

    with pytest.raises(E.EvaluationError, match="must not depend on its batch-mates") as err:
        run(_Centred(), "centred")
    assert "test_id" in str(err.value) and "models --check" in str(err.value)
    with pytest.raises(E.EvaluationError, match=r"shape \[3, 2\]; a detector returns one logit per song"):
        run(_TwoColumns(), "columns")
    assert not (tmp_path / "centred").exists() and not (tmp_path / "columns").exists()
    # the scoring loop refuses such output too, naming the shape (not a pandas length error further on)
    from mom_bench.core.errors import NotADetector
    from mom_bench.loop.inference import split_logits
    from mom_bench.models.adapters import as_detector
    with pytest.raises(NotADetector, match=r"shape \[4, 2\] for a batch of 4 songs"):
        split_logits(as_detector(_TwoColumns()), data, "test_id", batch_size=4, progress=False)

    kept = run(_Energy(), "energy", batch_size=4)
    assert (kept.results["model"]["batch_size"], kept.results["model"]["clip"]) == (4, "first:1")
    assert json.loads((tmp_path / "energy" / "results.json").read_text())["model"]["batch_size"] == 4
