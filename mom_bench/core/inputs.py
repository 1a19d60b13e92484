"""Which files a command was given: paths as given, and the audio files found in given folders.

`predict` and `inspect` share this so that both account for every path the same way. Every path given, and
every file with an audio extension found in a given folder, becomes an :class:`Input`; a path that is not a
folder is taken whatever its name, so a bad file is reported rather than skipped. Folders are searched
recursively with an explicit stack (a hostile tree may be deeper than Python's recursion limit) and
symlinked folders are followed, each real folder at most once: a second path to a folder already searched
(a symlink loop) becomes an input carrying that problem and is not searched again, as does a folder that
cannot be listed.
"""
from __future__ import annotations

import errno
import os
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path

#: File name endings (lower-case, with the dot) taken as audio when a folder is searched.
AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".mp4", ".wma",
                              ".aif", ".aiff", ".webm", ".mka"})


@dataclass(frozen=True)
class Input:
    """A path given to a command or found in a given folder, and why it cannot be used when listing the
    folders already said so (e.g. a folder that could not be searched)."""

    path: Path
    problem: str | None = None


@dataclass
class Found:
    """What :func:`find_inputs` found: the inputs (one row each) and the files of searched folders whose
    names lack an audio extension (not used, counted)."""

    inputs: list[Input] = field(default_factory=list)
    ignored: list[Path] = field(default_factory=list)


def display_name(path: str | Path) -> str:
    """``path`` as valid UTF-8 text: bytes of a POSIX file name that are not UTF-8 become backslash escapes.

    >>> display_name(os.fsdecode(b"songs/caf\\xe9.flac"))
    'songs/caf\\\\xe9.flac'
    """
    return os.fsencode(os.fspath(path)).decode("utf-8", "backslashreplace")


def os_reason(err: OSError) -> str:
    """A short, lower-case reason for an OS error on a file, as shown on its row.

    >>> os_reason(PermissionError(errno.EACCES, "Permission denied"))
    'permission denied'
    """
    if err.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if err.errno == errno.ELOOP:
        return "symlink loop"
    if err.errno == errno.ENOENT:
        return "file not found"
    return (err.strerror or type(err).__name__).lower()


def find_inputs(paths: Iterable[str | Path], extensions: Collection[str] = AUDIO_EXTENSIONS) -> Found:
    """The inputs of ``paths``: each path that is not a folder as given; for a folder, every entry found
    recursively whose name ends in one of ``extensions`` (with the dot, any case), in sorted order (see the
    module docstring)."""
    found = Found()
    searched: dict[tuple[int, int], Path] = {}
    for path in map(Path, paths):
        if path.is_dir():
            _search(path, {e.lower() for e in extensions}, found, searched)
        else:
            found.inputs.append(Input(path))
    return found


def _search(root: Path, extensions: set[str], found: Found, searched: dict[tuple[int, int], Path]) -> None:
    # An explicit stack, not recursion: a hostile tree may be deeper than Python's recursion limit.
    stack: list[list[Path]] = [[root]]
    while stack:
        level = stack[-1]
        if not level:
            stack.pop()
            continue
        path = level.pop()
        if path is not root and not _is_dir(path):
            if path.suffix.lower() in extensions:
                found.inputs.append(Input(path))
            else:
                found.ignored.append(path)
            continue
        children = _list_folder(path, found, searched)
        if children:
            stack.append(sorted(children, reverse=True))  # popped from the end: sorted order


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()  # follows symlinks; a dangling one is not a folder
    except OSError:
        return False


def _list_folder(folder: Path, found: Found, searched: dict[tuple[int, int], Path]) -> list[Path]:
    """The entries of ``folder``, or none (with an error row) when it cannot be searched or was already."""
    try:
        st = folder.stat()
    except OSError as err:
        found.inputs.append(Input(folder, f"{os_reason(err)} (folder not searched)"))
        return []
    key = (st.st_dev, st.st_ino)
    if key in searched:
        found.inputs.append(Input(folder, f"folder already searched as {display_name(searched[key])} (a symlink "
                                          "loop or a second path to it): not searched again"))
        return []
    searched[key] = folder
    try:
        with os.scandir(folder) as entries:
            return [Path(entry.path) for entry in entries]
    except OSError as err:
        found.inputs.append(Input(folder, f"{os_reason(err)} (folder not searched)"))
        return []
