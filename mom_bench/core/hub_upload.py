"""Uploading files to the Hugging Face Hub as one commit (what `push` and `push-dataset` share).

huggingface_hub does the work (``create_repo``, ``create_branch``, ``create_commit``); this module words its
failures as :class:`~mom_bench.core.errors.HubPushError` (the Hub's own message kept) and returns the commit id,
which is what a user pins (``owner/name@<commit>``).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mom_bench.core.errors import HubPushError

_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


def check_repo_id(repo_id: str) -> str:
    """``owner/name`` as the Hub spells repository ids, or :class:`HubPushError`.

    >>> check_repo_id("lab/clam-mini")
    'lab/clam-mini'
    """
    if not isinstance(repo_id, str) or not _REPO_ID.match(repo_id) or ".." in repo_id:
        raise HubPushError(f"--repo {repo_id!r}: expected a Hub repository id owner/name (letters, digits, '-', '_', "
                           "'.')")
    return repo_id


@dataclass(frozen=True)
class Pushed:
    repo_id: str
    repo_type: str
    commit: str  # 40 hex digits: pin it as owner/name@<commit>
    url: str
    branch: str
    files: tuple[str, ...]


def upload_files(files: Mapping[str, Path | bytes], repo_id: str, *, repo_type: str, private: bool = False,
                 branch: str | None = None, message: str) -> Pushed:
    """Create ``repo_id`` if needed (``private`` applies only then), the branch if needed, and commit ``files``
    (path in the repository -> a local file or bytes) to it in one commit."""
    from huggingface_hub import CommitOperationAdd, HfApi, constants
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    check_repo_id(repo_id)
    if constants.HF_HUB_OFFLINE:
        raise HubPushError(f"cannot push to {repo_id}: HF_HUB_OFFLINE is set (mom-bench sets it by default for "
                           "reproducible runs); run with HF_HUB_OFFLINE=0")
    branch = branch or constants.DEFAULT_REVISION
    api = HfApi()
    operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=source if isinstance(source, bytes)
                                     else str(source)) for name, source in sorted(files.items())]
    try:
        url = api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        if branch != constants.DEFAULT_REVISION:
            api.create_branch(repo_id, repo_type=repo_type, branch=branch, exist_ok=True)
        info = api.create_commit(repo_id=repo_id, repo_type=repo_type, operations=operations, revision=branch,
                                 commit_message=message)
    except OfflineModeIsEnabled as err:
        raise HubPushError(f"cannot push to {repo_id}: {err}; run with HF_HUB_OFFLINE=0") from None
    except HfHubHTTPError as err:
        status = err.response.status_code if err.response is not None else None
        hint = {401: " (no valid token: `hf auth login` or set HF_TOKEN)",
                403: " (the token cannot write to this repository)"}.get(status or 0, "")
        raise HubPushError(f"the Hub refused the push to {repo_id}{hint}: {str(err).splitlines()[0]}") from None
    except Exception as err:
        # the endpoint cannot be reached: huggingface_hub's HTTP client raises its own TransportError
        if not isinstance(err, OSError) and not any(c.__name__ == "TransportError" for c in type(err).__mro__):
            raise
        raise HubPushError(f"cannot reach the Hub ({constants.ENDPOINT}) to push to {repo_id}: {err}") from None
    return Pushed(repo_id=repo_id, repo_type=repo_type, commit=info.oid, url=str(url), branch=branch,
                  files=tuple(sorted(files)))
