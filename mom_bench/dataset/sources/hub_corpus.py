"""The files of a corpus published in a Hugging Face dataset repo: found in a local copy (``--root``) or fetched
into the Hugging Face cache (``--download``), only those a build needs, after a disk preflight.

A local copy is a folder holding the repo's files as the Hub lays them out (``hf download`` into a folder
gives exactly that); a file is looked up under its repo path, then by its name anywhere below the folder, so a
copy of one sub-folder works too. With ``download`` the repo is listed at the pinned revision (the Hub's tree
gives every file's published size), the files the cache lacks are summed and refused (:class:`NotEnoughSpace`)
when the cache's filesystem has less free, and only then fetched one by one through
:func:`mom_bench.core.hub_files.dataset_file` (resumable, ETag-checked by huggingface_hub). Offline, the files a
build needs are named by the protocol (``hf_files``) and the error lists those the cache lacks with the
command that fetches them.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from mom_bench.core import settings
from mom_bench.core.errors import CorpusFilesMissing, NotEnoughSpace, ProtocolError
from mom_bench.core.hub_files import dataset_file, fetch_command, missing_from_cache
from mom_bench.dataset.sources.rows import path_option
from mom_bench.dataset.storage import free_bytes, human_bytes

#: Room left besides the files to fetch (the cache also holds their metadata; a build writes after them).
FETCH_MARGIN = 1.05
#: Missing files named one by one in an offline error; beyond it, the command fetches a pattern.
_NAMED = 10


def local_option(options: dict, key: str, protocol) -> Path | None:
    """A folder option (``root``, ``reals``) as a resolved path: from the command line as given, from a
    protocol file confined to the protocol's folder. Refuses a folder that does not exist."""
    path = path_option(protocol, options, key)
    if path is None:
        return None
    if not path.is_dir():
        raise CorpusFilesMissing(f"--{key} folder not found: {path}")
    return path


def expected_files(spec) -> list[str]:
    """Repo paths a protocol's ``hf_files`` names: paths, and ``{pattern, count}`` entries whose ``str.format``
    pattern takes the file index (one such mapping alone works too).

    >>> expected_files({"pattern": "data/train-{:05d}-of-00003.parquet", "count": 3})[-1]
    'data/train-00002-of-00003.parquet'
    >>> expected_files(["index.json", {"pattern": "s_{:03d}.parquet", "count": 2}])
    ['index.json', 's_000.parquet', 's_001.parquet']
    """
    if not spec:
        return []
    out: list[str] = []
    for item in [spec] if isinstance(spec, dict) else spec:
        if isinstance(item, dict):
            out += [str(item["pattern"]).format(i) for i in range(int(item["count"]))]
        else:
            out.append(str(item))
    return out


@dataclass
class HubCorpus:
    """Where the files of one corpus come from. ``repo`` and ``revision``: the dataset repo and its pinned
    commit; ``root``: a local copy (searched first); ``download``: fetch what the copy lacks; ``expected``:
    the repo paths a build needs when the repo cannot be listed (offline)."""

    name: str
    repo: str
    revision: str | None
    root: Path | None
    download: bool
    expected: Sequence[str] = ()

    # ------------------------------------------------------------------ local copy
    def local(self, rel: str) -> Path | None:
        """The local copy's file at repo path ``rel`` (or of that name anywhere below the root), or None."""
        if self.root is None:
            return None
        direct = self.root.joinpath(*PurePosixPath(rel).parts)
        if direct.is_file():
            return direct
        name = PurePosixPath(rel).name
        for dirpath, _dirs, files in os.walk(self.root, followlinks=False):
            if name in files:
                return Path(dirpath) / name
        return None

    def local_files(self, accept: Callable[[str], bool]) -> dict[str, Path]:
        """Repo-style relative path -> file, for the local copy's files ``accept`` takes (paths relative to
        the root, ``/``-separated; symlinks are not followed out of the root)."""
        out: dict[str, Path] = {}
        if self.root is None:
            return out
        for dirpath, _dirs, files in os.walk(self.root, followlinks=False):
            for f in files:
                path = Path(dirpath) / f
                rel = path.relative_to(self.root).as_posix()
                if accept(rel) and not path.is_symlink():
                    out[rel] = path
        return dict(sorted(out.items()))

    # ------------------------------------------------------------------ the Hub
    def listing(self, folder: str | None = None) -> dict[str, int]:
        """Repo path -> published size of every file (below ``folder``) at the pinned revision. Offline, or when
        the Hub cannot be reached: the ``expected`` files, size unknown (-1)."""
        from huggingface_hub import HfApi

        if settings.offline():
            return {p: -1 for p in self.expected if folder is None or p.startswith(folder.rstrip("/") + "/")}
        try:
            entries = HfApi().list_repo_tree(self.repo, path_in_repo=folder, recursive=True, repo_type="dataset",
                                             revision=self.revision)
            out = {e.path: int(getattr(e, "size", 0) or 0) for e in entries if hasattr(e, "size")}
        except Exception as err:
            if not self.expected:
                raise CorpusFilesMissing(f"{self.name}: cannot list {self.repo} at {self.revision} "
                                         f"({type(err).__name__}: {err}); check the network or pass --root") from err
            return {p: -1 for p in self.expected if folder is None or p.startswith(folder.rstrip("/") + "/")}
        return dict(sorted(out.items()))

    def fetch(self, files: dict[str, int], *, include: Sequence[str] = (), complete: bool = True) -> dict[str, Path]:
        """The local paths of repo ``files`` (path -> published size, -1 unknown), fetched into the Hugging Face
        cache after the disk preflight; offline, :class:`CorpusFilesMissing` lists what the cache lacks and the
        command (``include``: the patterns it fetches when the list is long, or always when ``files`` is not
        ``complete``: offline only part of what a build needs can be named)."""
        from huggingface_hub import constants

        lacking = missing_from_cache(self.repo, list(files), self.revision, repo_type="dataset")
        if lacking and settings.offline():
            more = f" and {len(lacking) - _NAMED} more" if len(lacking) > _NAMED else ""
            named = ", ".join(lacking[:_NAMED]) + more
            if (len(lacking) <= _NAMED and complete) or not include:
                command = fetch_command(self.repo, self.revision, lacking, repo_type="dataset")
            else:
                command = " ".join([fetch_command(self.repo, self.revision, (), repo_type="dataset"),
                                    *(f"--include '{p}'" for p in include)])
            raise CorpusFilesMissing(
                f"{self.name}: HF_HUB_OFFLINE is set and the local Hugging Face cache lacks {len(lacking)} file(s) of "
                f"{self.repo}: {named}{'' if complete else ' (and the audio files, which cannot be listed offline)'}. "
                f"Fetch them where there is network with `{command}` (then they are found "
                "offline), or pass --root with a local copy of the repo.")
        need = sum(max(0, files[p]) for p in lacking)
        cache = Path(constants.HF_HUB_CACHE)
        free = free_bytes(cache)
        if need * FETCH_MARGIN > free:
            raise NotEnoughSpace(
                f"{self.name}: the {len(lacking)} file(s) to fetch from {self.repo} take {human_bytes(need)} (their "
                f"published sizes) and the Hugging Face cache ({cache}) has {human_bytes(free)} free. Nothing was "
                "fetched. Make room, point HF_HUB_CACHE at a larger disk, or build from fewer files (-o shards=...).")
        return {p: dataset_file(self.repo, p, revision=self.revision, needs=lacking) for p in files}


def hub_corpus(name: str, options: dict, protocol) -> HubCorpus:
    """The :class:`HubCorpus` of a source's options (``hf_repo``, ``hf_revision``, ``hf_files``, ``root``,
    ``download``)."""
    from mom_bench.dataset.sources.mom import _flag

    return HubCorpus(name=name, repo=str(options["hf_repo"]), revision=options.get("hf_revision"),
                     root=local_option(options, "root", protocol), download=_flag(options.get("download", False)),
                     expected=expected_files(options.get("hf_files")))


def select_indices(spec, what: str) -> set[int] | None:
    """Indices named by ``spec`` (``"0-9,12"``), or None for all (no spec); a malformed spec is refused.

    >>> sorted(select_indices("0-2,5", "shards")), select_indices("", "shards")
    ([0, 1, 2, 5], None)
    """
    if spec in (None, ""):
        return None
    out: set[int] = set()
    for part in str(spec).split(","):
        lo, sep, hi = part.strip().partition("-")
        try:
            a, b = int(lo), int(hi) if sep else int(lo)
        except ValueError:
            raise ProtocolError(f"{what}: expected indices like 0-9,12, got {spec!r}") from None
        out.update(range(a, b + 1))
    return out
