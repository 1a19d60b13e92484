"""Audio read member by member out of the zip archives corpora are published as, without unpacking them.

A corpus zip is opened once (its central directory: names and sizes, a few MB even for a 13 GB archive) and each
row's audio is read from its member when the builder asks for it, so a build needs no second copy of the archive
on disk. Member names come from someone else's archive: they are checked (no absolute paths, no ``..``), the
junk that macOS and Windows archivers add (``__MACOSX/``, ``._*`` AppleDouble files, ``.DS_Store``,
``Thumbs.db``) is skipped, and a member is read only up to a size bound. A member whose bytes are corrupt (a bad
CRC, a truncated archive) is that row's error, reported with the row, never a failed build.
"""
from __future__ import annotations

import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from mom_bench.core.errors import AudioError, CorpusFilesMissing, UnsafePath

#: A member larger than this is not a song of any corpus (the largest are hour-long WAVs well under it).
MAX_MEMBER_BYTES = 1 << 30
_JUNK_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini"}


def is_junk(name: str) -> bool:
    """Whether a member name is archiver junk rather than corpus content.

    >>> [is_junk(n) for n in ("__MACOSX/a/._x.wav", "a/._x.wav", "a/.DS_Store", "a/x.wav")]
    [True, True, True, False]
    """
    parts = PurePosixPath(name).parts
    return (not parts or parts[0] == "__MACOSX" or parts[-1].startswith("._") or parts[-1] in _JUNK_NAMES)


def check_member_name(name: str, archive: str | Path = "") -> str:
    """``name`` when it is a safe relative member path, else :class:`UnsafePath` naming it and the archive."""
    where = f"{archive}: " if archive else ""
    if not name or "\0" in name or "\\" in name:
        raise UnsafePath(f"{where}member {name!r} has an invalid name")
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or (p.parts and ":" in p.parts[0]):
        raise UnsafePath(f"{where}member {name!r} leaves the archive (absolute or '..')")
    return name


class ZipArchive:
    """A local zip archive of a corpus: its content members and their bytes.

    One handle per thread (the builder fetches rows from a thread pool; a ``ZipFile`` shares one file
    position between readers).
    """

    def __init__(self, path: str | Path, *, max_member_bytes: int = MAX_MEMBER_BYTES):
        self.path = Path(path)
        self.max_member_bytes = max_member_bytes
        if not self.path.is_file():
            raise CorpusFilesMissing(f"{self.path}: archive not found")
        self._local = threading.local()
        try:
            with zipfile.ZipFile(self.path) as zf:
                self._infos = {i.filename: i for i in zf.infolist()}
        except (zipfile.BadZipFile, OSError) as err:
            raise CorpusFilesMissing(f"{self.path}: not a readable zip archive ({err}); download it again") from err

    def _zip(self) -> zipfile.ZipFile:
        zf = getattr(self._local, "zf", None)
        if zf is None:
            zf = self._local.zf = zipfile.ZipFile(self.path)
        return zf

    def members(self) -> Iterator[str]:
        """Names of the content members (files, not folders or junk), in archive order; each checked safe."""
        for name, info in self._infos.items():
            if info.is_dir() or is_junk(name):
                continue
            yield check_member_name(name, self.path)

    def size(self, name: str) -> int:
        """The uncompressed size of member ``name``, as the central directory records it."""
        return int(self._infos[name].file_size)

    def read(self, name: str) -> bytes:
        """The bytes of member ``name``. A member that is absent, too large or corrupt raises
        :class:`AudioError` (the builder reports the row with the reason and goes on)."""
        info = self._infos.get(name)
        if info is None:
            raise AudioError(name, f"no member {name!r} in {self.path.name}")
        if info.file_size > self.max_member_bytes:
            raise AudioError(name, f"member of {info.file_size} bytes in {self.path.name}, over the "
                                   f"{self.max_member_bytes}-byte limit")
        try:
            with self._zip().open(info) as fh:
                data = fh.read(self.max_member_bytes + 1)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, NotImplementedError) as err:
            raise AudioError(name, f"corrupt member of {self.path.name}: {err}") from None
        if len(data) > self.max_member_bytes:
            raise AudioError(name, f"member of {self.path.name} is over the {self.max_member_bytes}-byte limit")
        return data
