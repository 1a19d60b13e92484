"""Suite-wide settings (no network, a private mom-bench home so tests never touch the user's) and the
benchmarks built once per session for the train, evaluate, predict and leaderboard tests."""
from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def _home(tmp_path_factory) -> str:
    return str(tmp_path_factory.getbasetemp() / "mom-bench-home")


@pytest.fixture(autouse=True)
def _private_home(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MOM_BENCH_HOME", _home(tmp_path_factory))


@contextlib.contextmanager
def _session_home(tmp_path_factory):
    """The private home for session fixtures, which are set up before any test's ``_private_home``."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOM_BENCH_HOME", _home(tmp_path_factory))
        yield


# --------------------------------------------------------------------------------------------------
# Benchmarks built once per session by the real builder (tests/_fixtures_loop.py,
# tests/_fixtures_leaderboard.py). Tests must not change them: copy one with shutil.copytree first.


@pytest.fixture(scope="session")
def loop_benchmark(tmp_path_factory) -> Path:
    """The loop fixture benchmark (generated tones vs noise; LAYOUT of tests/_fixtures_loop.py)."""
    from tests._fixtures_loop import build_loop_benchmark

    with _session_home(tmp_path_factory):
        return build_loop_benchmark(tmp_path_factory.mktemp("loop_benchmark"))


@pytest.fixture(scope="session")
def loop_run(tmp_path_factory, loop_benchmark) -> Path:
    """A clam-tiny run (TINY_RECIPE) trained on ``loop_benchmark``."""
    from tests._fixtures_loop import train_loop_run

    with _session_home(tmp_path_factory):
        return train_loop_run(loop_benchmark, tmp_path_factory.mktemp("loop_run") / "run")


@pytest.fixture(scope="session")
def loop_splice(tmp_path_factory, loop_benchmark) -> Path:
    """A spliced benchmark (`build -b splice --from`) made by the real builder from ``loop_benchmark``: 2 songs
    per pattern and split, sections of 0.3 to 0.6 s (so 0.1 s frames resolve every segment)."""
    from mom_bench.dataset import build_benchmark

    with _session_home(tmp_path_factory):
        out = tmp_path_factory.mktemp("loop_splice") / "splice"
        result = build_benchmark("splice", out, source_options={"base": str(loop_benchmark), "songs_per_pattern": 2,
                                                                "section_seconds": 0.6, "crossfade_ms": 20},
                                 progress=False)
        assert result.ok, result.summary()
        return out


@pytest.fixture(scope="session")
def mom_build(tmp_path_factory) -> Path:
    """A tiny build posing as the current version of ``mom`` (LAYOUT of tests/_fixtures_leaderboard.py)."""
    from tests._fixtures_leaderboard import build_mom_benchmark

    with _session_home(tmp_path_factory):
        return build_mom_benchmark(tmp_path_factory.mktemp("mom_build"))


@pytest.fixture(scope="session")
def mom_build_old(tmp_path_factory) -> Path:
    """The same rows built as ``mom`` version 0.1.0 (an outdated build)."""
    from tests._fixtures_leaderboard import build_mom_benchmark

    with _session_home(tmp_path_factory):
        return build_mom_benchmark(tmp_path_factory.mktemp("mom_build_old"), version="0.1.0")


def shared_path(*parts: str) -> Path:
    """A file under ../shared, or skip the test: users' clones have no ../shared."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not available (it exists only beside the developers' checkout)")
    return path


@pytest.fixture(scope="session")
def mini_build(tmp_path_factory) -> Path:
    """mom-mini as `mom-bench build` makes it with every default, built once per session (a full build is a
    minute or two of CPU). Tests that run a job in a home of their own start from a copy (:func:`seed_home`)."""
    from mom_bench.dataset import build_benchmark

    with _session_home(tmp_path_factory):
        out = tmp_path_factory.mktemp("mini_build") / "mom-mini"
        build_benchmark("mom-mini", out, progress=False)
        return out


def seed_home(home: Path, build: Path) -> Path:
    """Put a copy of ``build`` where ``home``'s default mom-mini build goes; `mom-bench build` then finds it up
    to date (the builder's own reuse check) instead of building it again."""
    target = home / "datasets" / "mom-mini"
    shutil.copytree(build, target)
    return target
