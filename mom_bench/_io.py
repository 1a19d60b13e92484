"""Durable file operations: one atomic file write, one atomic folder swap, one file hash.

A reader (or a crash) never sees a half-written file: data goes to a temporary name in the same folder,
is flushed and fsynced, then renamed over the target; the folder entry is fsynced too where the platform
allows, so the rename itself survives a power loss.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

#: Permissions of the files :func:`write_atomic` writes (what ``open`` gives under the usual umask 022).
FILE_MODE = 0o644


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. platforms that cannot open a folder
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: str | Path, data: bytes | str | Callable[[Path], None]) -> Path:
    """Write ``data`` (bytes, text as UTF-8, or a function that writes a file at the path it is given) to
    ``path`` atomically and durably; returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        if callable(data):
            os.close(fd)
            data(tmp)
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data.encode("utf-8") if isinstance(data, str) else data)
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, FILE_MODE)  # mkstemp makes files private; what we write is meant to be read
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def write_json_atomic(path: str | Path, value: Any, **dumps_kwargs: Any) -> Path:
    """:func:`write_atomic` of ``json.dumps(value, **dumps_kwargs)`` (indent 2 unless given)."""
    dumps_kwargs.setdefault("indent", 2)
    return write_atomic(path, json.dumps(value, **dumps_kwargs))


def replace_dir_atomic(target: str | Path, write: Callable[[Path], None]) -> Path:
    """Fill a new folder with ``write(tmp)`` under a temporary name, then swap it in for ``target``.

    A crash leaves either the old folder or the new one, never a mixture. The old folder is removed only
    after the new one is in place. The caller decides whether ``target`` may be replaced at all."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        write(tmp)
        old = None
        if target.exists():
            old = target.parent / f".{target.name}.old.{os.getpid()}"
            os.replace(target, old)
        os.replace(tmp, target)
        _fsync_dir(target.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in chunks (bounded memory for any size)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()
