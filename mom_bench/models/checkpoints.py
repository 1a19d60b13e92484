"""Where a saved detector's files come from: a local folder or a Hugging Face Hub repo, with errors that say
what to do when they are not there. Imports nothing heavy, so the registry can use it while listing models."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from mom_bench.core import settings
from mom_bench.core.errors import CheckpointError

# the offline wording is shared with dataset downloads; re-exported here for the detectors' modules
from mom_bench.core.hub_files import fetch_command as fetch_command
from mom_bench.core.hub_files import missing_from_cache as missing_from_cache
from mom_bench.core.hub_files import offline_hint as offline_hint

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
#: The keyword arguments of a Hub download that callers may pass through.
HUB_KWARGS = ("revision", "cache_dir", "force_download", "local_files_only", "token")


def hub_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The Hub download options among ``kwargs``."""
    return {k: kwargs[k] for k in HUB_KWARGS if k in kwargs}


def resolve_file(model_id: str, filename: str, *, needs: tuple[str, ...] | None = None,
                 weights_note: str = "", **hub_kwargs) -> str:
    """Path of ``filename`` in a local folder or a Hub repo, with an error that says what to do when it is
    not there (offline, missing file, wrong id). ``needs``: every file the caller will want from the repo
    (default: ``filename``); offline, the error lists those missing from the local cache and the command that
    fetches them. ``weights_note``: said after that list when the weights file is not known yet."""
    if os.path.isdir(model_id):
        path = Path(model_id) / filename
        if not path.is_file():
            raise CheckpointError(f"{model_id}: {filename} not found (a saved detector folder holds "
                                  f"{CONFIG_NAME} and {WEIGHTS_NAME})")
        return str(path)
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    revision = hub_kwargs.get("revision")
    at = f" at revision {revision}" if revision else ""
    try:
        return hf_hub_download(repo_id=model_id, filename=filename, **hub_kwargs)
    except LocalEntryNotFoundError as err:  # offline or unreachable; it subclasses EntryNotFoundError
        raise _unreachable(model_id, filename, hub_kwargs, err, needs, weights_note) from err
    except RevisionNotFoundError as err:
        raise CheckpointError(f"{model_id}: the Hub repo has no revision {revision!r} (a commit id, branch or "
                              "tag of that repo)") from err
    except RepositoryNotFoundError as err:
        raise CheckpointError(f"{model_id}: no such Hub repo (or it is private: log in with `hf auth login`); "
                              f"wanted {filename}{at}") from err
    except EntryNotFoundError as err:
        raise CheckpointError(f"{model_id}{at} has no {filename}: not a saved mom-bench detector") from err
    except Exception as err:
        raise _unreachable(model_id, filename, hub_kwargs, err, needs, weights_note) from err


def _unreachable(model_id: str, filename: str, hub_kwargs: dict[str, Any], err: Exception,
                 needs: tuple[str, ...] | None, weights_note: str) -> CheckpointError:
    revision = hub_kwargs.get("revision")
    at = f" at revision {revision}" if revision else ""
    hint = (offline_hint(model_id, revision, needs or (filename,), cache_dir=hub_kwargs.get("cache_dir"),
                         weights_note=weights_note, whole_repo=bool(weights_note))
            if settings.offline() else "Check the id and the network.")
    return CheckpointError(f"{model_id}: cannot get {filename}{at} ({type(err).__name__}). {hint}")


# --------------------------------------------------------------------------------------------------
# Released SONICS checkpoints converted on first use (mom_bench.models.spectttra.load_released): a saved
# mom-bench detector per repo and commit, so a commit is converted once and later loads need no network.

#: Beside the converted detector: the repo, the commit and the sha256 of the released files it came from.
SONICS_RECORD = "sonics_source.json"
_COMMIT = re.compile(r"[0-9a-f]{40}")
_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")


#: ``sonics:<Hub id or folder>[@revision]``: a released SONICS checkpoint, said outright (a plain Hub id or folder
#: is recognised by its config.json, :func:`is_sonics_config`).
SONICS_PREFIX = "sonics:"


def is_sonics_config(config: Any) -> bool:
    """Whether a ``config.json`` is SONICS' rather than mom-bench's: SONICS nests the model's settings in an
    object under ``"model"``, where a saved mom-bench detector names its registry row there (a string).

    >>> is_sonics_config({"model": {"name": "SpecTTTra"}}), is_sonics_config({"model": "spectttra-alpha-5s"})
    (True, False)
    """
    return isinstance(config, dict) and isinstance(config.get("model"), dict)


def is_commit(revision: str | None) -> bool:
    """Whether ``revision`` is a full commit id (what a cache can be keyed by; a branch moves)."""
    return bool(revision) and _COMMIT.fullmatch(str(revision)) is not None


def sonics_cache_dir(repo_id: str, commit: str) -> Path:
    """``<cache>/sonics/<owner>--<name>/<commit>``: where the conversion of ``repo_id`` at ``commit`` is kept."""
    if not _REPO_ID.fullmatch(repo_id) or ".." in repo_id:
        raise CheckpointError(f"{repo_id!r} is not a Hub id owner/name")
    if not is_commit(commit):
        raise CheckpointError(f"{repo_id}: {commit!r} is not a commit id (40 hex digits)")
    return settings.cache_dir() / "sonics" / repo_id.replace("/", "--") / commit


def split_hub_ref(ref: str) -> tuple[str, str | None]:
    """(Hub id, revision or None) of ``owner/name[@revision]``.

    >>> split_hub_ref("lab/x@main"), split_hub_ref("lab/x")
    (('lab/x', 'main'), ('lab/x', None))
    """
    repo_id, at, revision = ref.rpartition("@")
    return (repo_id, revision) if at else (ref, None)


def converted_sonics(ref: str) -> Path | None:
    """The cached conversion named by ``owner/name@<commit>``, if there is one (no network)."""
    repo_id, revision = split_hub_ref(ref)
    if not is_commit(revision) or not _REPO_ID.fullmatch(repo_id):
        return None
    folder = sonics_cache_dir(repo_id, str(revision))
    return folder if (folder / CONFIG_NAME).is_file() and (folder / SONICS_RECORD).is_file() else None
