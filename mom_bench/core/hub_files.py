"""Files of Hugging Face Hub repos (models and datasets) on this machine: fetched through the local cache, with
errors that say what to do when a file cannot be had (offline, gated, missing) and the command that fetches it.

huggingface_hub does the transfer (resumable, checksummed by the Hub's own ETags); this module only words its
failures. Light: huggingface_hub is imported inside the functions.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mom_bench.core import settings
from mom_bench.core.errors import AccessRefused, CorpusFilesMissing


def fetch_command(repo_id: str, revision: str | None = None, files: Sequence[str] = (), *,
                  repo_type: str = "model") -> str:
    """The shell command that puts ``files`` of a Hub repo (all of them when none are named) in the local
    Hugging Face cache, where an offline run finds them; it overrides an exported ``HF_HUB_OFFLINE``.

    >>> fetch_command("lab/x", "main", ["config.json", "pytorch_model.bin"])
    'HF_HUB_OFFLINE=0 hf download lab/x config.json pytorch_model.bin --revision main'
    >>> fetch_command("lab/data", "abc123", ["data.zip"], repo_type="dataset")
    'HF_HUB_OFFLINE=0 hf download lab/data data.zip --repo-type dataset --revision abc123'
    """
    kind = ["--repo-type", repo_type] if repo_type != "model" else []
    return " ".join(["HF_HUB_OFFLINE=0 hf download", repo_id, *files, *kind,
                     *(["--revision", revision] if revision else [])])


def missing_from_cache(repo_id: str, filenames: Sequence[str], revision: str | None = None,
                       cache_dir: str | None = None, *, repo_type: str = "model") -> list[str]:
    """Those of ``filenames`` that the local Hugging Face cache does not hold for ``repo_id`` at ``revision``."""
    from huggingface_hub import try_to_load_from_cache

    missing = []
    for name in filenames:
        try:
            found = try_to_load_from_cache(repo_id, name, cache_dir=cache_dir, revision=revision, repo_type=repo_type)
        except Exception:  # a malformed id or revision: nothing of it can be cached
            found = None
        if not isinstance(found, str):
            missing.append(name)
    return missing


def offline_hint(repo_id: str, revision: str | None, needs: Sequence[str], *, cache_dir: str | None = None,
                 weights_note: str = "", whole_repo: bool = False, repo_type: str = "model") -> str:
    """What an offline error says: which of ``needs`` the local cache lacks and the command that fetches them
    (``whole_repo``: the command fetches the whole repo, when the files are not all known in advance)."""
    missing = missing_from_cache(repo_id, needs, revision, cache_dir, repo_type=repo_type) or list(needs)
    command = fetch_command(repo_id, revision, () if whole_repo else missing, repo_type=repo_type)
    return (f"HF_HUB_OFFLINE is set and the local Hugging Face cache lacks {', '.join(missing)}{weights_note}: "
            f"fetch {'them' if len(missing) > 1 or weights_note else 'it'} where there is network with `{command}` "
            "(then it is found offline), or pass a local folder instead.")


def dataset_file(repo_id: str, filename: str, *, revision: str | None = None, cache_dir: str | None = None,
                 needs: Sequence[str] = ()) -> Path:
    """The local path of ``filename`` of the dataset repo ``repo_id`` at ``revision``, downloaded (resumably)
    into the Hugging Face cache when it is not there yet.

    Raises :class:`AccessRefused` for a gated or private repo (accept its terms on its page, log in), and
    :class:`CorpusFilesMissing` when the file cannot be had: offline (the message lists which of ``needs``,
    default ``filename``, the cache lacks and the command that fetches them), no such repo, revision or file.
    """
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    at = f" at revision {revision}" if revision else ""
    page = f"https://huggingface.co/datasets/{repo_id}"
    try:
        return Path(hf_hub_download(repo_id=repo_id, filename=filename, repo_type="dataset", revision=revision,
                                    cache_dir=cache_dir))
    except GatedRepoError as err:  # a subclass of RepositoryNotFoundError: test it first
        raise AccessRefused(f"{repo_id} is a gated dataset: accept its terms at {page} with your account, then log "
                            f"in here with `hf auth login` (or set HF_TOKEN) and run the command again") from err
    except LocalEntryNotFoundError as err:  # offline or unreachable; it subclasses EntryNotFoundError
        hint = (offline_hint(repo_id, revision, list(needs) or [filename], cache_dir=cache_dir, repo_type="dataset")
                if settings.offline() else "Check the network (or pass the local folder that holds the files).")
        raise CorpusFilesMissing(f"{repo_id}: cannot get {filename}{at} ({type(err).__name__}). {hint}") from err
    except RevisionNotFoundError as err:
        raise CorpusFilesMissing(f"{repo_id}: the dataset repo has no revision {revision!r}") from err
    except RepositoryNotFoundError as err:
        raise AccessRefused(f"{repo_id}: no such dataset repo, or it is private (log in with `hf auth login` if "
                            f"you have access; see {page})") from err
    except EntryNotFoundError as err:
        raise CorpusFilesMissing(f"{repo_id}{at} has no file {filename}") from err
