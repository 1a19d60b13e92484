"""Validation of paths that come from manifests, link lists and protocol files."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mom_bench.core.errors import UnsafePath


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


def confine(value: str, base: Path, allowed: Sequence[Path], *, what: str, hint: str = "") -> Path:
    """``value`` (relative to ``base``, or absolute) resolved, symlinks included, and refused unless it is
    one of the ``allowed`` folders or lies inside one of them.

    For paths written in a file from elsewhere (a protocol's source options): unlike :func:`safe_join` an
    absolute path is accepted when it stays inside.
    """
    if not isinstance(value, str) or not value or "\0" in value:
        raise UnsafePath(f"{what}: empty or invalid path {value!r}")
    full = (Path(base) / value).resolve()
    folders = [Path(a).resolve() for a in allowed]
    if any(full == a or a in full.parents for a in folders):
        return full
    inside = " or ".join(str(a) for a in folders)
    raise UnsafePath(f"{what}: path {value!r} resolves to {full}, outside {inside}" + (f"; {hint}" if hint else ""))
