"""Large files of a Hub dataset repo (a corpus zip, the parts of a split archive) fetched through the local
Hugging Face cache, with the disk preflight before any of them is written: their sizes as the Hub's file
listing publishes them, against the free space of the cache's filesystem.

The transfer itself is :func:`mom_bench.core.hub_files.dataset_file` (resumable, verified by the Hub's ETags);
this module decides whether it may start, and words offline and gated failures once for a whole set of files
rather than once per row. Light: huggingface_hub is imported inside the functions.
"""
from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from mom_bench.core import settings
from mom_bench.core.errors import AccessRefused, CorpusFilesMissing, NotEnoughSpace
from mom_bench.core.hub_files import dataset_file, missing_from_cache, offline_hint
from mom_bench.dataset.storage import free_bytes, human_bytes


def cache_dir() -> Path:
    """The Hugging Face hub cache folder (``HF_HUB_CACHE``, below ``HF_HOME``) files are downloaded into."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def published_sizes(repo_id: str, files: Sequence[str], revision: str | None) -> dict[str, int]:
    """Bytes of each of ``files`` as the Hub's file listing of ``repo_id`` at ``revision`` gives them (files it
    does not list are left out). Raises :class:`AccessRefused` for a gated or private repo."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    page = f"https://huggingface.co/datasets/{repo_id}"
    try:
        infos = HfApi().get_paths_info(repo_id, list(files), revision=revision, repo_type="dataset")
    except GatedRepoError as err:
        raise AccessRefused(f"{repo_id} is a gated dataset: accept its terms at {page} with your account, then log "
                            f"in here with `hf auth login` (or set HF_TOKEN) and run the command again") from err
    except RepositoryNotFoundError as err:
        raise AccessRefused(f"{repo_id}: no such dataset repo, or it is private (log in with `hf auth login` if "
                            f"you have access; see {page})") from err
    except OSError as err:  # connection refused, timeouts: requests' errors are OSErrors
        raise CorpusFilesMissing(f"{repo_id}: cannot read the Hub's file listing ({type(err).__name__}: {err}); "
                                 "check the network, or pass the local folder that holds the files") from err
    sizes = {i.path: getattr(i, "size", None) for i in infos}
    return {path: int(size) for path, size in sizes.items() if size is not None}


def preflight(repo_id: str, files: Sequence[str], revision: str | None, *, known: Mapping[str, int] | None = None,
              what: str = "") -> list[str]:
    """Check, before anything is downloaded, that those of ``files`` the local cache lacks can be fetched and
    fit: offline, :class:`CorpusFilesMissing` lists them with the command that fetches them; otherwise their
    published sizes (the Hub's listing, else ``known``) are checked against the cache's free space
    (:class:`NotEnoughSpace`, naming each file and its size). Returns the files to download."""
    missing = missing_from_cache(repo_id, list(files), revision, repo_type="dataset")
    if not missing:
        return []
    if settings.offline():
        raise CorpusFilesMissing(f"{repo_id}: {what or 'the build'} needs {len(missing)} file(s) not in the local "
                                 "cache. " + offline_hint(repo_id, revision, missing, repo_type="dataset"))
    sizes = {**(known or {}), **published_sizes(repo_id, missing, revision)}
    unknown = [f for f in missing if f not in sizes]
    if unknown:
        raise CorpusFilesMissing(f"{repo_id}" + (f" at revision {revision}" if revision else "") +
                                 f" has no file {', '.join(unknown)} (the Hub's listing does not show it)")
    need = sum(sizes[f] for f in missing)
    target = cache_dir()
    free = free_bytes(target)
    if need > free:
        listed = ", ".join(f"{f} ({human_bytes(sizes[f])})" for f in missing)
        raise NotEnoughSpace(
            f"{repo_id}: downloading {listed} needs {human_bytes(need)} in the Hugging Face cache {target}, and its "
            f"filesystem has {human_bytes(free)} free. Nothing was downloaded. Make room, point HF_HOME (or "
            "HF_HUB_CACHE) at a larger disk, or download the files elsewhere and pass their folder with --root.")
    return missing


class LazyFiles:
    """Files of one repo fetched on first use, once each even when rows ask from several threads."""

    def __init__(self, repo_id: str, revision: str | None, needs: Sequence[str] = ()):
        self.repo_id, self.revision, self.needs = repo_id, revision, list(needs)
        self._paths: dict[str, Path] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, filename: str) -> Path:
        with self._guard:
            lock = self._locks.setdefault(filename, threading.Lock())
        with lock:
            if filename not in self._paths:
                self._paths[filename] = dataset_file(self.repo_id, filename, revision=self.revision,
                                                     needs=self.needs or [filename])
            return self._paths[filename]
