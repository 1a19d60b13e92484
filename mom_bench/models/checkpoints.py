"""Where a saved detector's files come from: a local folder or a Hugging Face Hub repo, with errors that say
what to do when they are not there. Imports nothing heavy, so the registry can use it while listing models."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mom_bench.core import settings
from mom_bench.core.errors import CheckpointError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
#: The keyword arguments of a Hub download that callers may pass through.
HUB_KWARGS = ("revision", "cache_dir", "force_download", "local_files_only", "token")


def hub_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The Hub download options among ``kwargs``."""
    return {k: kwargs[k] for k in HUB_KWARGS if k in kwargs}


def resolve_file(model_id: str, filename: str, **hub_kwargs) -> str:
    """Path of ``filename`` in a local folder or a Hub repo, with an error that says what to do when it is
    not there (offline, missing file, wrong id)."""
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
        raise _unreachable(model_id, filename, revision, err) from err
    except RevisionNotFoundError as err:
        raise CheckpointError(f"{model_id}: the Hub repo has no revision {revision!r} (a commit id, branch or "
                              "tag of that repo)") from err
    except RepositoryNotFoundError as err:
        raise CheckpointError(f"{model_id}: no such Hub repo (or it is private: log in with `hf auth login`); "
                              f"wanted {filename}{at}") from err
    except EntryNotFoundError as err:
        raise CheckpointError(f"{model_id}{at} has no {filename}: not a saved mom-bench detector") from err
    except Exception as err:
        raise _unreachable(model_id, filename, revision, err) from err


def _unreachable(model_id: str, filename: str, revision: str | None, err: Exception) -> CheckpointError:
    at = f" at revision {revision}" if revision else ""
    hint = (" HF_HUB_OFFLINE is set and the file is not in the local Hugging Face cache: download it on a machine "
            f"with network (`hf download {model_id}" + (f" --revision {revision}" if revision else "")
            + "`) or pass a local folder instead." if settings.offline() else " Check the id and the network.")
    return CheckpointError(f"{model_id}: cannot get {filename}{at} ({type(err).__name__}).{hint}")
