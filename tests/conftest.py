"""Suite-wide settings: no network, and a private mom-bench home so tests never touch the user's."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(autouse=True)
def _private_home(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MOM_BENCH_HOME", str(tmp_path_factory.getbasetemp() / "mom-bench-home"))


def shared_path(*parts: str) -> Path:
    """A file under ../shared, or skip the test: users' clones have no ../shared."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not available (it exists only beside the developers' checkout)")
    return path
