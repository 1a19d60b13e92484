"""Validation of paths that come from manifests and link lists."""
from __future__ import annotations

from pathlib import Path

from mom_bench.errors import MomBenchError


class UnsafePath(MomBenchError, ValueError):
    pass


def safe_join(root: Path, rel: str, *, what: str = "path") -> Path:
    """``root / rel``, refusing absolute paths, ``..`` escapes and symlinks that leave ``root``."""
    if not rel or "\0" in rel:
        raise UnsafePath(f"{what}: empty or invalid path {rel!r}")
    p = Path(rel)
    if p.is_absolute() or p.drive:
        raise UnsafePath(f"{what}: absolute path {rel!r} not allowed; paths are relative to {root}")
    root = Path(root).resolve()
    full = (root / p).resolve()
    if full != root and root not in full.parents:
        raise UnsafePath(f"{what}: path {rel!r} leaves {root}")
    return full
