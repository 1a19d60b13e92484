"""Sharing a trained detector on the Hugging Face Hub (`mom-bench push`).

What goes up, in one commit: the checkpoint's ``config.json`` and ``model.safetensors`` (what
:func:`mom_bench.load_detector` reads; not the optimizer state nor the trainer's record), ``results.json`` (the
evaluation of exactly those weights) and a model card, ``README.md``, whose ``model-index`` is made from
results.json (:mod:`mom_bench.report.model_card`) so the Hub page shows the scores. A checkpoint is pushed with
the results of its own weights only: results.json records the sha256 of the weights it scored, and results of
other weights (an earlier epoch, another run) are refused. Pushing without scores takes ``no_results=True``.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mom_bench.core.errors import DocumentError, NoTrainedModel, ProtocolError, PushRefused
from mom_bench.core.files import sha256_file
from mom_bench.core.hub_upload import Pushed, check_repo_id, upload_files
from mom_bench.dataset import card, protocols
from mom_bench.loop.runs import TRAIN_CONFIG
from mom_bench.models.checkpoints import CONFIG_NAME, WEIGHTS_NAME
from mom_bench.report import model_card
from mom_bench.report.metrics import schema as results_schema

RESULTS_NAME = "results.json"
CARD_NAME = "README.md"


def find_checkpoint_folder(run_or_checkpoint: str | Path) -> tuple[Path, Path | None]:
    """(checkpoint folder, run folder or None): a run folder of `train` gives its ``best/`` checkpoint."""
    path = Path(run_or_checkpoint).expanduser()
    if (path / "best" / CONFIG_NAME).is_file():
        return path / "best", path
    if (path / CONFIG_NAME).is_file():
        return path, path.parent if (path.parent / TRAIN_CONFIG).is_file() else None
    raise NoTrainedModel(f"{path}: neither a run folder of `mom-bench train` (with best/{CONFIG_NAME}) nor a "
                         f"checkpoint folder (with {CONFIG_NAME})")


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise PushRefused(f"{path}: unreadable {what} ({err})") from None


def read_results(path: str | Path, weights: Path, weights_sha256: str | None = None) -> dict[str, Any]:
    """``results.json`` at ``path`` (a file, or a results folder holding one), checked against its schema and
    against ``weights`` (whose sha256 is ``weights_sha256`` when already known): it must be the evaluation of
    exactly that file."""
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / RESULTS_NAME
    if not path.is_file():
        raise PushRefused(f"{path}: no such results file")
    results = _read_json(path, RESULTS_NAME)
    try:
        results_schema.check_results(results)
    except DocumentError as err:
        raise PushRefused(f"{path}: {err}; a results.json of an earlier mom-bench is published after evaluating the "
                          "checkpoint again") from None
    recorded, actual = results["model"].get("checkpoint_sha256"), weights_sha256 or sha256_file(weights)
    if recorded != actual:
        raise PushRefused(f"{path} scored other weights than {weights} (sha256 {str(recorded)[:16]} in the results, "
                          f"{actual[:16]} pushed): evaluate this checkpoint (`mom-bench evaluate --checkpoint "
                          f"{weights.parent}`) and push with those results")
    return results


def _licence(results: dict[str, Any] | None, license: str | None) -> tuple[str, str | None, str]:
    """(Hub licence id, licence name for ``other``, what the card says about it)."""
    if license:
        return license, None, ""
    name = (results or {}).get("benchmark", {}).get("name")
    try:
        data_licence = protocols.load(protocols.base_name(name)).license if name else None  # a fold view: its base
    except ProtocolError:  # a benchmark of the user's own protocol file: no shipped licence to go by
        data_licence = None
    if not data_licence:
        return "other", "unspecified", "The uploader stated no licence (`mom-bench push --license`)."
    lic, lic_name = card.hub_license(data_licence)
    return lic, lic_name, (f"The licence is that of the training and evaluation data ({data_licence}, benchmark "
                           f"`{name}`), chosen by default by `mom-bench push`; the uploader may state another "
                           "with `--license`.")


def push_detector(run_or_checkpoint: str | Path, repo_id: str, *, results: str | Path | None = None,
                  no_results: bool = False, private: bool = False, branch: str | None = None,
                  license: str | None = None, dataset_id: str | None = None, message: str | None = None,
                  say: Callable[[str], None] = lambda _: None) -> Pushed:
    """Push the detector in ``run_or_checkpoint`` (a run folder of `train`: its ``best/``; or a checkpoint
    folder) to the Hub repository ``repo_id`` with its model card, in one commit, and return that commit.

    ``results``: its results.json (default: the run's ``results/results.json``); refused when missing unless
    ``no_results``, and when it scored other weights. ``license``: the Hub licence id (default: the evaluation
    benchmark's data licence); ``dataset_id``: the Hub dataset the benchmark was pushed to (`push-dataset`),
    named in the card; ``branch``: the branch to commit to (default ``main``)."""
    check_repo_id(repo_id)
    checkpoint, run_dir = find_checkpoint_folder(run_or_checkpoint)
    weights = checkpoint / WEIGHTS_NAME
    if not weights.is_file():
        raise NoTrainedModel(f"{checkpoint}: no {WEIGHTS_NAME}; not a saved mom-bench detector")
    config = _read_json(checkpoint / CONFIG_NAME, CONFIG_NAME)
    if not isinstance(config, dict) or "model" not in config:
        raise NoTrainedModel(f"{checkpoint / CONFIG_NAME}: not the config of a mom-bench detector (no 'model')")
    if results is None and not no_results:
        default = run_dir / "results" / RESULTS_NAME if run_dir is not None else None
        if default is None or not default.is_file():
            raise PushRefused(f"no results to publish with {checkpoint} (looked for "
                              f"{default or 'results/results.json in its run folder'}): evaluate it first "
                              f"(`mom-bench evaluate --checkpoint {checkpoint}`), pass --results FILE, or push "
                              "without scores with --no-results")
        results = default
    if results is not None and no_results:
        raise PushRefused("--results and --no-results contradict each other: give one")
    # read once: the bytes pushed are the bytes checked, whatever happens to the folder meanwhile
    blob = weights.read_bytes()
    doc = read_results(results, weights, hashlib.sha256(blob).hexdigest()) if results is not None else None

    from huggingface_hub import constants

    branch = branch or constants.DEFAULT_REVISION
    source_url = f"{constants.ENDPOINT}/{repo_id}/blob/{branch}/{RESULTS_NAME}" if doc else None
    lic, lic_name, note = _licence(doc, license)
    text = model_card.render_model_card(doc, repo_id=repo_id, config=config, license=lic, license_name=lic_name,
                                        dataset_id=dataset_id, source_url=source_url, license_note=note)
    files: dict[str, Path | bytes] = {CONFIG_NAME: json.dumps(config, indent=2, sort_keys=True).encode("utf-8"),
                                      WEIGHTS_NAME: blob, CARD_NAME: text.encode("utf-8")}
    if doc is not None:
        files[RESULTS_NAME] = json.dumps(doc, indent=2).encode("utf-8")
    say(f"pushing {checkpoint} ({config['model']}) to {repo_id} ({branch})")
    return upload_files(files, repo_id, repo_type="model", private=private, branch=branch,
                        message=message or f"mom-bench push: {config['model']}"
                        + (f" evaluated on {doc['benchmark']['name']}" if doc else ""))
