"""What produced a result: mom-bench's version, the versions of the libraries that shape the numbers, and
the git commit of a source checkout."""
from __future__ import annotations

import importlib.metadata
import subprocess
from pathlib import Path

#: Libraries whose versions are recorded with results and printed by `mom-bench info`.
LIBRARIES = ("torch", "torchcodec", "transformers", "datasets", "huggingface-hub", "numpy", "pandas",
             "scikit-learn", "pyarrow")


def package_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None when it is not installed."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def mom_bench_version() -> str:
    """mom-bench's own version, from the installed distribution's metadata."""
    return package_version("mom-bench") or "0+unknown"


def library_versions(names: tuple[str, ...] = LIBRARIES) -> dict[str, str | None]:
    return {name: package_version(name) for name in names}


def git_commit() -> str | None:
    """The commit of the mom-bench source tree, when it is a git checkout (None for an installed wheel);
    ``+dirty`` marks uncommitted changes."""
    here = Path(__file__).resolve().parents[1]  # the package folder, not only this zone
    try:
        done = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=5)
        if done.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--", "."], capture_output=True,
                               text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() + ("+dirty" if dirty.returncode == 0 and dirty.stdout.strip() else "")
