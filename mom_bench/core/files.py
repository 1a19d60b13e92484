"""Durable file operations: one atomic file write, one atomic folder swap (keeping what it did not make), one
writer lock, one file hash.

A reader (or a crash) never sees a half-written file: data goes to a temporary name in the same folder,
is flushed and fsynced, then renamed over the target; the folder entry is fsynced too where the platform
allows, so the rename itself survives a power loss.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from mom_bench.core.errors import FolderBusy as FolderBusy  # raised here
from mom_bench.core.errors import ForeignFolder as ForeignFolder
from mom_bench.core.errors import UnsafePath as UnsafePath

#: Permissions of the files :func:`write_atomic` writes (what ``open`` gives under the usual umask 022).
FILE_MODE = 0o644
#: Name of the advisory lock file :func:`writer_lock` keeps inside a folder it guards.
LOCK_NAME = ".mom-bench.lock"


def fsync_dir(folder: Path) -> None:
    """Make the renames inside ``folder`` durable, where the platform can open a folder."""
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
    fsync_dir(path.parent)
    return path


def write_json_atomic(path: str | Path, value: Any, **dumps_kwargs: Any) -> Path:
    """:func:`write_atomic` of ``json.dumps(value, **dumps_kwargs)`` (indent 2 unless given)."""
    dumps_kwargs.setdefault("indent", 2)
    return write_atomic(path, json.dumps(value, **dumps_kwargs))


def check_replaceable(target: str | Path, marker: str, kind: str) -> None:
    """Refuse (:class:`ForeignFolder`) unless ``target`` is absent, empty, or holds the file ``marker`` that
    marks it as ``kind`` (what this command writes). A symlink is never replaced."""
    target = Path(target)
    if target.is_symlink():
        raise ForeignFolder(f"{target} is a symlink; give the real folder or another path")
    if not target.exists():
        return
    if not target.is_dir():
        raise ForeignFolder(f"{target} exists and is not a folder; choose another path")
    if any(target.iterdir()) and not (target / marker).is_file():
        raise ForeignFolder(f"{target} is not empty and is not a {kind} (no {marker}); mom-bench replaces only "
                            f"its own {kind}s or empty folders: choose another path or move it away")


def replace_dir_atomic(target: str | Path, write: Callable[[Path], None], *,
                       marker: str | None = None, kind: str = "folder") -> Path:
    """Fill a new folder with ``write(tmp)`` under a temporary name, then swap it in for ``target``.

    A crash leaves either the old folder or the new one, never a mixture. The old folder is removed only
    after the new one is in place. With ``marker``, an existing non-empty ``target`` is replaced only when it
    holds that file (see :func:`check_replaceable`), checked before ``write`` runs and again before the swap."""
    target = Path(target)
    if marker is not None:
        check_replaceable(target, marker, kind)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        write(tmp)
        if marker is not None:
            check_replaceable(target, marker, kind)
        old = None
        if target.exists():
            old = target.parent / f".{target.name}.old.{os.getpid()}"
            os.replace(target, old)
        os.replace(tmp, target)
        fsync_dir(target.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def carry_over(old: str | Path, new: str | Path, keep: Callable[[str], bool]) -> list[str]:
    """Give ``new`` the entries of folder ``old`` that ``keep(name)`` accepts and ``new`` lacks, as hard links
    (a copy where links are not possible), so a folder about to be replaced by ``new`` loses nothing that the
    command replacing it did not make. Symlinks are copied as links, never followed. Returns the names given."""
    old, new = Path(old), Path(new)
    if old.is_symlink() or not old.is_dir():
        return []
    given = []
    for entry in sorted(old.iterdir()):
        if not keep(entry.name) or os.path.lexists(new / entry.name):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, new / entry.name, symlinks=True, copy_function=_link_or_copy)
        else:
            _link_or_copy(entry, new / entry.name)
        given.append(entry.name)
    return given


def _link_or_copy(src: str | Path, dst: str | Path) -> None:
    if os.path.islink(src):
        os.symlink(os.readlink(src), dst)
        return
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError:
        shutil.copy2(src, dst, follow_symlinks=False)


@contextlib.contextmanager
def writer_lock(folder: str | Path, what: str) -> Iterator[Path]:
    """Hold the advisory writer lock of ``folder`` (the file ``<folder>/.mom-bench.lock``) for the block.

    Refuses at once with :class:`FolderBusy` when another process holds it. The kernel drops the lock when
    its holder exits, however it exits, so a killed writer never leaves the folder locked."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, FILE_MODE)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            try:
                holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "?"
            except OSError:
                holder = "?"
            raise FolderBusy(f"{folder}: another mom-bench process (pid {holder}) is writing here ({what}); "
                             "wait for it to finish and run the command again") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in chunks (bounded memory for any size)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def check_regular(path: str | Path, within: str | Path) -> None:
    """Raise :class:`UnsafePath` unless ``path`` is a regular file, or a link to one inside ``within``.

    Folders others can write into (a shared feature cache) may hold a FIFO, whose opening blocks every reader
    forever, a device that reads without end, or a link serving any file of the machine."""
    path = Path(path)
    try:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            target = path.resolve(strict=True)
            if not target.is_relative_to(Path(within).resolve()):
                raise UnsafePath(f"{path} is a link leading out of {within} (to {target})")
            st = os.stat(target)
    except OSError as err:
        raise UnsafePath(f"{path} cannot be read ({err.strerror or err})") from None
    if not stat.S_ISREG(st.st_mode):
        raise UnsafePath(f"{path} is not a regular file")


@contextlib.contextmanager
def opened_regular(path: str | Path, within: str | Path) -> Iterator[str]:
    """A name under which a library can open ``path``, checked by :func:`check_regular`. The file is opened
    non-blocking and checked again by descriptor, so a FIFO swapped in after the check cannot block either;
    where ``/proc/self/fd`` exists the name is that descriptor's, so the file checked is the file read."""
    check_regular(path, within)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as err:
        raise UnsafePath(f"{path} cannot be read ({err.strerror or err})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafePath(f"{path} is not a regular file")
        by_fd = f"/proc/self/fd/{fd}"
        yield by_fd if os.path.exists(by_fd) else str(path)
    finally:
        os.close(fd)


def read_regular(path: str | Path, within: str | Path, limit: int) -> bytes:
    """The bytes of ``path`` (see :func:`opened_regular`), refused with :class:`UnsafePath` past ``limit``."""
    with opened_regular(path, within) as name, open(name, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise UnsafePath(f"{path} is larger than {limit} bytes")
    return data
