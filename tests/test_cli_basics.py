"""`mom-bench --version`, `info` and `inspect`, run as a user runs them."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import scipy.io.wavfile
import torch
from click.testing import CliRunner
from torchcodec.encoders import AudioEncoder

from mom_bench import __version__
from mom_bench.cli import main


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "mom_bench", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


def test_version_from_the_console_entry_point():
    out = run_cli("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"mom-bench, version {__version__}"


def test_info_reports_decoder_health_folders_and_offline_mode(monkeypatch, tmp_path):
    monkeypatch.setenv("MOM_BENCH_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(main, ["info", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["runtime"]["audio decoder (torchcodec + FFmpeg)"].startswith("ok")
    assert data["runtime"]["offline mode (HF_HUB_OFFLINE)"] == "on"  # the suite runs offline (conftest)
    assert data["folders"]["home ($MOM_BENCH_HOME)"] == str(tmp_path / "home")
    assert data["packages"]["torch"].startswith("2.13")
    assert "torchaudio" not in data["packages"]


def test_inspect_reports_every_file_and_fails_if_any_is_unusable(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    t = torch.sin(torch.arange(44100 * 2) * 0.05)[None] * 0.3
    AudioEncoder(t, sample_rate=44100).to_file(str(folder / "good.mp3"))
    AudioEncoder(t, sample_rate=44100).to_file(str(folder / "good.flac"))
    (folder / "empty.wav").write_bytes(b"")
    (folder / "notes.mp3").write_text("not audio at all\n" * 10)
    scipy.io.wavfile.write(folder / "nan.wav", 16000, np.full(1600, np.nan, np.float32))
    (folder / "readme.txt").write_text("ignored: not an audio extension")

    out = run_cli("inspect", str(folder))
    assert out.returncode == 1, out.stderr
    lines = out.stdout.splitlines()
    for name, status in [("good.mp3", "ok"), ("good.flac", "ok"), ("empty.wav", "unusable"),
                         ("notes.mp3", "unusable"), ("nan.wav", "unusable")]:
        row = [line for line in lines if name in line]
        assert len(row) == 1 and status in row[0].split(), (name, out.stdout)
    assert "readme.txt" not in out.stdout
    assert "5 files: 2 ok, 3 unusable" in out.stdout

    as_json = json.loads(run_cli("inspect", "--format", "json", str(folder / "good.flac")).stdout)
    assert as_json[0]["status"] == "ok" and as_json[0]["codec"] == "flac" and as_json[0]["channels"] == 1


def test_inspect_of_good_files_exits_zero(tmp_path):
    path = tmp_path / "a.wav"
    scipy.io.wavfile.write(path, 16000, (np.random.default_rng(0).random(16000) * 0.1).astype(np.float32))
    out = run_cli("inspect", str(path), "--sample-rate", "24000")
    assert out.returncode == 0 and "1 files: 1 ok, 0 unusable" in out.stdout


def test_errors_are_one_line_without_traceback(tmp_path):
    out = run_cli("inspect", str(tmp_path / "empty-folder-that-does-not-exist"))
    assert out.returncode == 1  # a missing path is reported as an unusable file, not a crash
    assert "file not found" in out.stdout and "Traceback" not in out.stderr

    empty = tmp_path / "nothing"
    empty.mkdir()
    out = run_cli("inspect", str(empty))
    assert out.returncode == 2 and out.stderr.strip().startswith("error: no audio files found")
    assert "Traceback" not in out.stderr


def test_a_library_error_is_a_one_line_user_error_with_exit_2(tmp_path):
    out = run_cli("evaluate", "--model", "clam", "--data", str(tmp_path / "no-such-build"))
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("error: ") and "mom-bench build" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


def test_a_bad_option_value_is_a_usage_error_before_any_work(tmp_path):
    out = run_cli("evaluate", "--model", "clam-tiny", "--batch-size", "0")
    assert out.returncode == 2
    assert "Invalid value for '--batch-size'" in out.stderr and "range()" not in out.stderr


def test_an_internal_error_says_so_and_exits_1(tmp_path):
    # A bug (here a ZeroDivisionError injected into the library function `info` calls) must not pass for a
    # user error: exit 1 and the words "internal error", in a real process.
    code = ("import sys, mom_bench.report.diagnostics as d, mom_bench.cli as c\n"
            "d.collect_info = lambda: 1 / 0\n"
            "sys.argv = ['mom-bench', 'info']\n"
            "c.main()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1, out.stderr
    assert out.stderr.strip() == ("internal error: ZeroDivisionError: division by zero "
                                  "(run with --debug for the traceback)")
    debug = subprocess.run([sys.executable, "-c", code.replace("'info'", "'--debug', 'info'")], capture_output=True,
                           text=True, timeout=120)
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "ZeroDivisionError" in debug.stderr


def test_every_command_has_help_and_help_loads_no_heavy_library():
    # Each command lives in its own module of mom_bench.cli and imports the library inside its function: one
    # left off the group would vanish from `mom-bench`, and a top-level torch import would cost every --help
    # seconds. A fresh process, so modules loaded by other tests do not count.
    code = ("import sys\n"
            "from click.testing import CliRunner\n"
            "from mom_bench.cli import main\n"
            "for args in [[]] + [[name] for name in main.commands]:\n"
            "    result = CliRunner().invoke(main, args + ['--help'])\n"
            "    assert result.exit_code == 0 and 'Usage:' in result.output, (args, result.output)\n"
            "print(' '.join(sorted(main.commands)))\n"
            "print(' '.join(m for m in ('torch', 'sklearn', 'numpy', 'pandas') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    commands, heavy = out.stdout.split("\n")[:2]
    assert commands.split() == ["build", "evaluate", "extract", "fold", "import-sonics", "info", "inspect",
                                "leaderboard", "matrix", "models", "predict", "push", "push-dataset", "submit", "train",
                                "weights"]
    assert heavy == ""
