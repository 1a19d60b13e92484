"""A corpus published as one zip file of a Zenodo record: where the archive is found, and fetching it.

The archive is looked for, in order, at ``root`` (the zip itself, or a folder holding it) and in the download
cache (``cache``, default ``<mom-bench cache>/downloads/<benchmark>``; a variant's is its base benchmark's). With
``download`` (and not offline) a missing archive is fetched from ``url`` by
:func:`mom_bench.dataset.download.download` into the cache (resumed from the ``.part`` file an interrupted
transfer left, checked against the published ``size`` and ``md5``), after a disk preflight that refuses before
anything is written when the cache's filesystem lacks the room. Offline (``HF_HUB_OFFLINE=1``, mom-bench's
default) or without ``download`` a missing archive is an error that names it, where to put it and the command
that fetches it.

Source options (the protocol's ``source`` block, each overridable with ``-o KEY=VALUE``): ``archive`` (the file
name), ``record`` (the Zenodo record id, for messages), ``url``, ``size`` (bytes), ``md5``, ``root``,
``download``, ``cache``, ``timeout``, ``retries``.
"""
from __future__ import annotations

from pathlib import Path

from mom_bench.core import settings
from mom_bench.core.errors import AudioError, CorpusFilesMissing, DownloadError, NotEnoughSpace, ProtocolError
from mom_bench.dataset.archive import ZipArchive
from mom_bench.dataset.sources.mom import _flag
from mom_bench.dataset.sources.rows import path_option
from mom_bench.dataset.storage import free_bytes, human_bytes

#: Room kept free beyond the archive itself when downloading it (the filesystem is shared with everything else).
DOWNLOAD_MARGIN = 256 << 20




def member_reader(archive, name: str):
    """A row's fetch: the bytes of member ``name``; a corrupt or absent member is that row's error, naming it."""
    def fetch() -> bytes:
        try:
            return archive.read(name)
        except AudioError as err:
            raise AudioError(name, f"member {name}: {err.reason}") from None
    return fetch


def _int(options: dict, key: str) -> int | None:
    value = options.get(key)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ProtocolError(f"source option {key}: expected a whole number of bytes, got {value!r}") from None


class ZenodoArchive:
    """The archive of one benchmark (see the module's docstring for the options)."""

    def __init__(self, protocol, options: dict):
        self.protocol = protocol
        self.name = str(options.get("archive") or "")
        if not self.name or "/" in self.name or "\\" in self.name:
            raise ProtocolError(f"{protocol.path}: source.archive: expected the archive's file name, got {self.name!r}")
        self.record = str(options.get("record") or "")
        self.url = str(options.get("url") or "")
        self.size = _int(options, "size")
        self.md5 = str(options["md5"]).lower() if options.get("md5") else None
        self.root = path_option(protocol, options, "root")
        self.download = _flag(options.get("download", False))
        # a variant (``<name>-lofo-<generator>``) reads its base's archive: one download serves them all
        default = settings.cache_dir() / "downloads" / (protocol.base or protocol.name)
        self.cache = Path(options.get("cache") or default).expanduser()
        self.timeout = float(options.get("timeout", 60))
        self.retries = int(options.get("retries", 4))

    @property
    def cached(self) -> Path:
        return self.cache / self.name

    def _local(self) -> Path | None:
        candidates = []
        if self.root is not None:
            candidates += [self.root] if self.root.suffix.lower() == ".zip" else [self.root / self.name]
        candidates.append(self.cached)
        return next((p for p in candidates if p.is_file()), None)

    def published(self) -> str:
        """``Zenodo record N, FILE (S bytes, md5 M)`` as far as the protocol knows it."""
        facts = [f"{self.size:,} bytes" if self.size else "", f"md5 {self.md5}" if self.md5 else ""]
        detail = ", ".join(f for f in facts if f)
        return f"Zenodo record {self.record}, {self.name}" + (f" ({detail})" if detail else "")

    def open(self) -> ZipArchive:
        """The local archive, downloaded first when it is missing and ``download`` allows; else
        :class:`CorpusFilesMissing` saying what is missing, where it goes and how to fetch it."""
        path = self._local()
        if path is None:
            path = self._fetch()
        return ZipArchive(path)

    def _hint(self) -> str:
        where = (f"put it in a folder and pass --root DIR (or the file itself: --root {self.name}), or into "
                 f"{self.cache}")
        resume = f"curl -L -C - -o {self.cached} '{self.url}'" if self.url else ""
        return (f"{where}; to fetch it: HF_HUB_OFFLINE=0 mom-bench build -b {self.protocol.name} --download"
                + (f" (or {resume})" if resume else ""))

    def _fetch(self) -> Path:
        looked = ([str(self.root)] if self.root is not None else []) + [str(self.cached)]
        missing = f"{self.protocol.name} needs {self.published()}, not found (looked at: {', '.join(looked)})"
        if not self.download:
            raise CorpusFilesMissing(f"{missing}; {self._hint()}")
        if settings.offline():
            raise CorpusFilesMissing(f"{missing}, and HF_HUB_OFFLINE is set, so it is not downloaded; {self._hint()}")
        if not self.url:
            raise CorpusFilesMissing(f"{missing}, and the protocol names no download url; {self._hint()}")
        self._preflight()
        from mom_bench.dataset.download import download

        try:
            return download(self.url, self.cached, size=self.size, md5=self.md5, timeout=self.timeout,
                            retries=self.retries, max_bytes=max(self.size or 0, 1 << 30))
        except DownloadError as err:
            part = self.cached.with_name(self.cached.name + ".part")
            kept = (f"; the {human_bytes(part.stat().st_size)} downloaded so far are kept in {part} and the same "
                    "command resumes from there") if part.is_file() else ""
            raise CorpusFilesMissing(f"{missing}; the download failed: {err}{kept}") from None

    def _preflight(self) -> None:
        """Refuse (:class:`NotEnoughSpace`) a download that would not fit, before anything is written."""
        if not self.size:
            return
        part = self.cached.with_name(self.cached.name + ".part")
        have = part.stat().st_size if part.is_file() else 0
        needed = max(0, self.size - have)
        free = free_bytes(self.cache)
        if needed + DOWNLOAD_MARGIN > free:
            raise NotEnoughSpace(
                f"not enough disk space to download {self.published()} into {self.cache}: it needs "
                f"{human_bytes(needed)} more (plus a {human_bytes(DOWNLOAD_MARGIN)} margin) and its filesystem has "
                f"{human_bytes(free)} free; make room, or download it elsewhere and pass --root DIR (or "
                "-o cache=DIR). Nothing was written.")
