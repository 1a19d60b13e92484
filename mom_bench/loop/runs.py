"""Run folders: where runs live, which built dataset a command reads, the torch device, training
checkpoints, and finding a trained detector. What to do when the same command meets earlier work is
:func:`mom_bench.core.rerun.rerun`, shared with the builder."""
from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from mom_bench.core import settings
from mom_bench.core.errors import CheckpointStateError, NoTrainedModel, TrainError, WrongDataset
from mom_bench.core.files import check_replaceable, replace_dir_atomic, sha256_file, write_atomic, write_json_atomic
from mom_bench.core.formatting import number
from mom_bench.core.recipes import Recipe
from mom_bench.core.rerun import Previous, rerun
from mom_bench.core.runtime import DeviceError as DeviceError  # re-exported: callers found them here before
from mom_bench.core.runtime import pick_device as pick_device
from mom_bench.dataset import protocols, read
from mom_bench.models import registry
from mom_bench.models.base import Detector, detector_config
from mom_bench.models.checkpoints import CONFIG_NAME, SONICS_RECORD, WEIGHTS_NAME, converted_sonics, resolve_file
from mom_bench.report import documents


def default_run_dir(benchmark: str, model_name: str) -> Path:
    """``<runs>/<benchmark>/<resolved model name>``: where `train` writes and `evaluate` looks."""
    return settings.runs_dir() / benchmark / model_name


def default_results_dir(benchmark: str, model_name: str) -> Path:
    return default_run_dir(benchmark, model_name) / "results"


def open_build(data_dir: str | Path | read.Build | None, benchmark: str | None) -> read.Build:
    """The built dataset a command reads, opened and verified once (:meth:`mom_bench.dataset.read.Build.open`:
    a build edited after it was written is refused): ``data_dir`` if given, else the default folder of
    ``benchmark`` (default: the default benchmark)."""
    if isinstance(data_dir, read.Build):
        # handed down already open; one opened without verification (no label fingerprint) is verified now
        build = data_dir if data_dir.label_fingerprint is not None else read.Build.open(data_dir.path, benchmark)
    else:
        if data_dir is None:
            benchmark = benchmark or protocols.DEFAULT
            data_dir = settings.default_dataset_dir(benchmark)
        build = read.Build.open(data_dir, benchmark)
    if benchmark and build.benchmark != benchmark:
        raise WrongDataset(f"{build.path} holds benchmark {build.benchmark!r}, not {benchmark!r}")
    return build


def resolve_data(data_dir: str | Path | None, benchmark: str | None) -> tuple[Path, dict[str, Any]]:
    """The built dataset folder and its verified info, as a path and a dict (:func:`open_build`)."""
    build = open_build(data_dir, benchmark)
    return build.path, build.info


# --------------------------------------------------------------------------------------------------
# Training checkpoints: a saved detector plus the trainer's record of the epoch it holds and, in last/, the
# optimizer state (tensors in safetensors, the rest as JSON; nothing pickled), so a run continues exactly where
# it stopped. The record travels inside the checkpoint folder, so the two are swapped in together.

TRAIN_LOG = "train_log.jsonl"
TRAIN_CONFIG = "train_config.json"
TRAINER_STATE = "trainer_state.json"
OPTIMIZER_FILE = "optimizer.safetensors"


def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Optimizer state dict -> (tensors for safetensors, JSON-able rest)."""
    import torch

    tensors: dict[str, Any] = {}
    meta: dict[str, Any] = {"param_groups": state["param_groups"], "state": {}}
    for pid, entries in state["state"].items():
        meta["state"][str(pid)] = {}
        for key, value in entries.items():
            if torch.is_tensor(value):
                tensors[f"{pid}.{key}"] = value.detach().cpu().contiguous()
                meta["state"][str(pid)][key] = {"tensor": f"{pid}.{key}"}
            else:
                meta["state"][str(pid)][key] = {"value": value}
    return tensors, meta


def _unflatten_optimizer(tensors: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    state = {}
    for pid, entries in meta["state"].items():
        state[int(pid)] = {k: tensors[v["tensor"]] if "tensor" in v else v["value"] for k, v in entries.items()}
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(folder: Path, model: Any, optimizer: Any = None,
                    trainer_state: dict[str, Any] | None = None) -> None:
    """Save ``model`` (and the optimizer state, and ``trainer_state`` as :data:`TRAINER_STATE`) into
    ``folder``, swapped in whole: a crash leaves the old checkpoint or the new one. Only a checkpoint folder
    (one holding ``config.json``) or an empty folder is replaced; anything else is refused, naming it."""
    def write(tmp: Path) -> None:
        model.save_pretrained(tmp)
        state = dict(trainer_state or {})
        if optimizer is not None:
            from safetensors.torch import save_file

            tensors, meta = _flatten_optimizer(optimizer.state_dict())
            save_file(tensors, str(tmp / OPTIMIZER_FILE))
            state["optimizer"] = meta
        if state:
            (tmp / TRAINER_STATE).write_text(json.dumps(state, indent=1), encoding="utf-8")

    replace_dir_atomic(folder, write, marker=CONFIG_NAME, kind="checkpoint folder")


def read_trainer_state(folder: Path) -> dict[str, Any] | None:
    """The trainer's record saved with a checkpoint (without the optimizer part); None when the folder has
    none (a checkpoint saved by an earlier mom-bench, or by ``save_pretrained`` alone)."""
    path = folder / TRAINER_STATE
    if not path.is_file():
        return None
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise CheckpointStateError(f"{path}: unreadable trainer record ({err}); the checkpoint is damaged") from None
    if not isinstance(state, dict):
        raise CheckpointStateError(f"{path}: the trainer record is not a JSON object; the checkpoint is damaged")
    state.pop("optimizer", None)
    return state


def load_optimizer_state(folder: Path, optimizer: Any) -> dict[str, Any]:
    """Restore the optimizer from ``folder``; returns the trainer state saved with it."""
    from safetensors.torch import load_file

    state_file, tensor_file = folder / TRAINER_STATE, folder / OPTIMIZER_FILE
    if not state_file.is_file() or not tensor_file.is_file():
        raise CheckpointStateError(f"{folder}: no optimizer state to resume from ({TRAINER_STATE}, {OPTIMIZER_FILE})")
    try:
        trainer_state = json.loads(state_file.read_text(encoding="utf-8"))
        meta = trainer_state.pop("optimizer")
    except (OSError, ValueError, KeyError, AttributeError) as err:
        raise CheckpointStateError(f"{state_file}: unreadable optimizer state ({type(err).__name__}: {err}); "
                                   "the checkpoint is damaged: --overwrite starts the run again") from None
    optimizer.load_state_dict(_unflatten_optimizer(load_file(str(tensor_file)), meta))
    return dict(trainer_state)


# --------------------------------------------------------------------------------------------------
# Finding a trained detector


def find_checkpoint(model_name: str, benchmark: str, checkpoint: str | Path | None = None) -> tuple[str, str]:
    """(checkpoint folder or Hub id, resolved model name). Without ``checkpoint``: the ``best/`` folder of
    the default run of ``model_name`` on ``benchmark``."""
    spec = registry.resolve(model_name, benchmark)
    if checkpoint is not None:
        local = Path(checkpoint).expanduser()
        return (str(local) if local.exists() else str(checkpoint)), spec.name
    best = default_run_dir(benchmark, spec.name) / "best"
    if not (best / "config.json").is_file():
        alias = f" (resolved to {spec.name})" if spec.name != model_name else ""
        raise NoTrainedModel(f"no trained model for {model_name}{alias} on {benchmark} (looked in {best}): train "
                             f"it with `mom-bench train --model {model_name}`"
                             + (f" --benchmark {benchmark}" if benchmark != protocols.DEFAULT else "")
                             + ", or pass --checkpoint PATH")
    return str(best), spec.name


def load_trained(model_name: str, benchmark: str, checkpoint: str | Path | None = None,
                 device: Any = None, *, fake_label: str | None = None,
                 clip: str | None = None) -> tuple[Any, str]:
    """The trained detector (eval mode, on ``device``) and the checkpoint it came from.

    ``hf:<Hub id or folder>[@revision]`` names a transformers audio classifier instead
    (:mod:`mom_bench.models.hub_classifier`; its checkpoint is ``hf:<id>@<commit>``); ``fake_label`` and ``clip``
    apply only to those."""
    if str(model_name).startswith("hf:"):
        from mom_bench.models import hub_classifier

        if checkpoint is not None:
            raise hub_classifier.HubClassifierError(
                f"{model_name}: --checkpoint does not apply to hf: models; pin a revision as hf:<id>@<revision>")
        hub = hub_classifier.load(str(model_name), fake_label=fake_label, clip=clip)
        hub.to(pick_device(device)).eval()
        return hub, hub.checkpoint
    if fake_label is not None or clip is not None:
        from mom_bench.models.hub_classifier import HubClassifierError

        given = " and ".join(f for f, v in (("--fake-label", fake_label), ("--clip", clip)) if v is not None)
        raise HubClassifierError(f"{given} apply only to hf: models (a Hub audio classifier, --model hf:<id>); "
                                 f"{model_name!r} is a registry model, whose configuration fixes its clip")
    source, resolved = find_checkpoint(model_name, benchmark, checkpoint)
    model = registry.load(source)
    if checkpoint is None and model.name != resolved:
        raise NoTrainedModel(f"{source} holds {model.name}, expected {resolved}")
    model.to(pick_device(device)).eval()
    # A released SONICS checkpoint says where it came from: <Hub id>@<commit>, a branch resolved to its commit.
    return model, getattr(model, "checkpoint", None) or source


def checkpoint_sha256(source: str) -> str | None:
    """sha256 of the checkpoint's weights file (None when it cannot be read, e.g. a Hub id offline); for a
    released SONICS checkpoint (``<Hub id>@<commit>`` converted before, or its folder), that of the released
    ``pytorch_model.bin``."""
    try:
        converted = converted_sonics(source)
        if converted is not None:
            return str(json.loads((converted / SONICS_RECORD).read_text())["files"]["pytorch_model.bin"])
        folder = Path(source)
        if folder.is_dir() and not (folder / WEIGHTS_NAME).is_file() and (folder / "pytorch_model.bin").is_file():
            return sha256_file(folder / "pytorch_model.bin")
        return sha256_file(resolve_file(source, WEIGHTS_NAME))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def train_summary(source: str) -> documents.TrainingSummary | None:
    """The run's train_config.json essentials when the checkpoint sits in a run folder (best/ or last/)."""
    path = Path(source).parent / TRAIN_CONFIG
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except ValueError:
        return None
    keys = ("model", "requested_model", "benchmark", "dataset_fingerprint", "recipe", "recipe_family", "epochs_done",
            "best_epoch", "best_val_f1", "precision")
    return cast(documents.TrainingSummary, {k: data.get(k) for k in keys})  # the keys above, values as saved


# --------------------------------------------------------------------------------------------------
# Run folders of `train`: what the same command does with earlier work, and resuming a stopped run. A run stopped
# at any point resumes to the uninterrupted run: each epoch ends by swapping in last/ (whose trainer_state.json
# records every epoch so far and the best one), then best/, then appending the log line; on resume last/ is the
# record, the log is rewritten to agree with it and a best/ one improvement behind is restored from last/.


def read_saved_config(run_dir: Path) -> dict[str, Any] | None:
    try:
        saved = json.loads((run_dir / TRAIN_CONFIG).read_text())
    except (OSError, ValueError):
        return None
    return saved if isinstance(saved, dict) else None


#: Recipe keys added since runs were first saved, with the value that reproduces what those runs did: an
#: earlier run is the same run as today's command when it differs only by lacking these.
_ADDED_RECIPE_KEYS: dict[str, Any] = {"precision": None}


def _as_now(recipe: Any) -> Any:
    return {**_ADDED_RECIPE_KEYS, **recipe} if isinstance(recipe, dict) else recipe


#: Largest seed accepted: the loop derives per-epoch seeds from it, which must stay within 64 bits.
MAX_SEED = 2**32 - 1
#: Names a run folder may hold besides its own files without being taken for someone else's folder.
_RUN_FOLDER_GUESTS = ("results",)  # `evaluate` writes its default results folder inside the run folder


def check_seed(seed: Any) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise TrainError(f"seed must be an integer in [0, {MAX_SEED}], got {seed!r}")


def check_run_folder(run_dir: Path) -> None:
    """Refuse to train into an existing folder that is not a run folder: one that is not empty and holds
    no train_config.json (its files would be mixed with the run's, and --overwrite would delete some)."""
    if run_dir.exists() and not run_dir.is_dir():
        raise TrainError(f"{run_dir} exists and is not a folder; choose another --out")
    if not run_dir.is_dir() or (run_dir / TRAIN_CONFIG).is_file():
        return
    foreign = sorted(p.name for p in run_dir.iterdir()
                     if p.name not in _RUN_FOLDER_GUESTS and not p.name.startswith("."))
    if foreign:
        raise TrainError(f"{run_dir} is not empty and is not a run folder (no {TRAIN_CONFIG}; it holds "
                         f"{', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}): mom-bench trains only "
                         "into its own run folders or empty ones: choose another --out or move it away")


def _remove_run_files(run_dir: Path) -> None:
    """Delete the files of the run in ``run_dir`` (for --overwrite); a best/ or last/ that is not a
    checkpoint folder is refused, never deleted."""
    for name in ("best", "last"):
        check_replaceable(run_dir / name, CONFIG_NAME, "checkpoint folder")
    for name in ("best", "last", TRAIN_LOG, TRAIN_CONFIG):
        path = run_dir / name
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)


def _read_log(run_dir: Path, say: Callable[[str], None]) -> list[dict[str, Any]]:
    """The epoch records of train_log.jsonl. A torn last line (the run stopped, or the power went, while it
    was being appended) is dropped with a warning; an unreadable line before the last is an error naming it."""
    path = run_dir / TRAIN_LOG
    if not path.is_file():
        return []
    lines = [(line_no, line) for line_no, line in enumerate(path.read_text(encoding="utf-8", errors="replace")
                                                         .split("\n"), start=1) if line.strip()]
    entries = []
    for k, (line_no, line) in enumerate(lines):
        try:
            entry = json.loads(line)
            if not isinstance(entry, dict) or not isinstance(entry.get("epoch"), int):
                raise ValueError("not an epoch record")
        except ValueError as err:
            if k == len(lines) - 1:
                say(f"warning: {path}: line {line_no} is cut short (the run stopped while writing it); dropped, "
                    "and rewritten from the checkpoint where it holds that epoch")
                break
            raise TrainError(f"{path}: line {line_no} is not a valid epoch record ({err}); only a torn last line is "
                             "dropped: repair or delete that line, or start again with --overwrite") from None
        entries.append(entry)
    return entries


def append_log(run_dir: Path, entry: dict[str, Any]) -> None:
    with open(run_dir / TRAIN_LOG, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def recover_history(run_dir: Path, state: dict[str, Any], say: Callable[[str], None]) -> list[dict[str, Any]]:
    """The run's epoch records, from last/ (written first and swapped in whole, so it is the record), with
    train_log.jsonl rewritten to agree with it. A checkpoint of an earlier mom-bench holds no records: then
    the log is the only record, and it must reach the checkpoint's epoch."""
    done = int(state["epochs_done"])
    logged = _read_log(run_dir, say)
    history = state.get("history")
    if history is None:
        if len(logged) < done:
            raise TrainError(f"{run_dir / TRAIN_LOG} records {len(logged)} epoch(s) but last/ holds epoch {done}, and "
                             "this checkpoint (made by an earlier mom-bench) does not record its epochs: the run "
                             "cannot be continued consistently; start again with --overwrite")
        history = logged[:done]
    if [e.get("epoch") for e in history] != list(range(1, done + 1)):
        raise CheckpointStateError(f"{run_dir / 'last'}: its record does not list epochs 1 to {done}; the checkpoint "
                                   "is damaged: start again with --overwrite")
    if logged != history:
        if logged != history[:len(logged)]:
            say(f"warning: {run_dir / TRAIN_LOG} disagrees with the checkpoint in last/; rewritten from it")
        else:
            say(f"note: {run_dir / TRAIN_LOG} lacked epoch(s) {len(logged) + 1}-{done} (the run stopped before "
                "logging them); rewritten from the checkpoint in last/")
        write_atomic(run_dir / TRAIN_LOG, "".join(json.dumps(e) + "\n" for e in history))
    return history


def repair_best(run_dir: Path, state: dict[str, Any], model: Detector, say: Callable[[str], None]) -> None:
    """Make best/ hold the epoch last/ records as the best. last/ is saved before best/, so a run stopped
    between the two has a best/ one improvement behind, and last/ then holds the best weights."""
    best_epoch, done = state.get("best_epoch"), int(state["epochs_done"])
    if "history" not in state or best_epoch is None:
        return  # a checkpoint of an earlier mom-bench records nothing to check best/ against
    best = run_dir / "best"
    held = (read_trainer_state(best) or {}).get("epoch") if (best / CONFIG_NAME).is_file() else None
    if held == best_epoch:
        return
    if best_epoch != done:
        raise TrainError(f"{best} holds epoch {held}, but the checkpoint in last/ records epoch {best_epoch} as the "
                         "best: the run folder was changed by another program; start again with --overwrite")
    save_checkpoint(best, model, trainer_state={"epoch": done, "entry": state["history"][-1]})
    say(f"note: {best} was one improvement behind (the run stopped before saving it); restored epoch {done} "
        "from last/")


def selection_key(entry: dict[str, Any]) -> tuple[float, float]:
    # Best validation F1; ties (frequent on small validation sets) go to the lower validation loss.
    f1 = entry.get("val_f1")
    return (-1.0 if f1 is None else f1, -entry["val_loss"])




def prepare_run(run_dir: Path, spec: registry.ModelSpec, info: dict[str, Any], overrides: dict[str, Any], *,
                 epochs: int | None, resume: bool, overwrite: bool, plain: bool, world: int,
                 say: Callable[[str], None], moved: Callable[[], None] = lambda: None) -> tuple[str, dict[str, Any]]:
    """What to do with the run folder (rank 0 alone: it may move or delete the run's files) and the recipe:
    ``("reuse", {})`` for a finished identical run, else ``("resume" | "new", recipe values)``.
    ``plain``: the command has no overrides and no --out; ``world``: the processes the model trains in;
    ``moved()`` is called after an earlier run was moved aside (its writer lock went with it)."""
    check_run_folder(run_dir)
    last = run_dir / "last"
    if not resume:
        # Re-running the same command (the Quickstart twice, a job retried after a crash) must not fail:
        # an identical finished run is reused, an identical interrupted one continues. Anything else is refused.
        saved = read_saved_config(run_dir)
        wanted = registry.recipe_for(spec, overrides).to_dict()
        check_seed(wanted["seed"])
        exists = (run_dir / TRAIN_CONFIG).exists() or last.exists()
        done = exists and saved is not None and int(saved.get("epochs_done", 0)) >= wanted["epochs"] \
            and (run_dir / "best").is_dir()
        # The row's configuration counts too: a registry row whose encoders changed is another run. (Runs
        # made before train_config.json recorded it are compared by the model's own config.)
        row_config = detector_config(spec.full_config())
        same = (saved is not None and saved.get("model") == spec.name
                and saved.get("dataset_fingerprint") == info["fingerprint"] and _as_now(saved.get("recipe")) == wanted
                and saved.get("registry_config", saved.get("model_config")) == row_config)
        decision = rerun(Previous(finished=done, unfinished=exists and not done, same=same,
                                  progress=last.is_dir()), overwrite=overwrite)
        if decision == "refuse" and plain and saved is not None \
                and saved.get("model") == spec.name and not saved.get("overrides"):
            # The plain command, over a run that the plain command made with an earlier mom-bench whose row has
            # changed since: keep that run (moved aside, nothing deleted) and train the current configuration,
            # so the same command keeps working. A run made with the user's own flags is refused below.
            aside = run_dir.with_name(f"{run_dir.name}.previous-{time.strftime('%Y%m%d-%H%M%S')}")
            os.replace(run_dir, aside)
            moved()
            say(f"{run_dir} held a run of an earlier {spec.name} configuration or recipe; moved it to {aside} "
                "and training the current one")
            decision = "new"
        if decision == "refuse":
            raise TrainError(f"{run_dir} already holds a different training run: pass --resume to continue it, "
                             "--overwrite to start again, or --out DIR for a new folder")
        if decision == "reuse":
            assert saved is not None
            say(f"{run_dir} already holds this run, finished ({saved['epochs_done']} epochs, best val F1 "
                f"{number(saved.get('best_val_f1'))}); reusing it (--overwrite trains again)")
            return "reuse", {}
        if decision == "continue":
            say(f"{run_dir} holds this run, unfinished: continuing it from last/ (--overwrite starts again)")
            resume = True
        elif decision == "restart" and not overwrite:  # stopped before its first epoch ended: nothing to keep
            say(f"{run_dir} holds this run, stopped before its first epoch ended: starting it again")
    if resume:
        if not (run_dir / TRAIN_CONFIG).is_file() or not last.is_dir():
            raise TrainError(f"nothing to resume in {run_dir}: no {TRAIN_CONFIG} or last/ checkpoint")
        saved = read_saved_config(run_dir)
        if saved is None or not isinstance(saved.get("recipe"), dict) or "dataset_fingerprint" not in saved:
            raise TrainError(f"{run_dir / TRAIN_CONFIG} is unreadable or incomplete; the run cannot be continued: "
                             "start again with --overwrite")
        if saved["dataset_fingerprint"] != info["fingerprint"]:
            raise TrainError(f"{run_dir} was trained on another dataset (fingerprint "
                             f"{saved['dataset_fingerprint'][:12]}, this one {info['fingerprint'][:12]})")
        changed = {k: v for k, v in overrides.items() if k != "epochs" and saved["recipe"].get(k) != v}
        if changed:
            raise TrainError(f"--resume continues the saved run; it cannot change {', '.join(sorted(changed))}. "
                             "Start a new run (--out DIR or --overwrite) instead")
        recipe = Recipe.from_dict({**saved["recipe"], **({"epochs": epochs} if epochs is not None else {})})
    else:
        recipe = registry.recipe_for(spec, overrides)
    check_world(recipe.batch_size, world)
    if not resume and (last.exists() or (run_dir / TRAIN_CONFIG).exists()):
        _remove_run_files(run_dir)
    return ("resume" if resume else "new"), recipe.to_dict()


def check_world(batch_size: int, world: int) -> None:
    """Refuse a global batch that the ranks cannot share equally (each takes ``batch_size / world`` rows)."""
    if batch_size % world:
        fits = [k for k in range(2, min(batch_size, 64) + 1) if batch_size % k == 0]
        raise TrainError(f"batch_size {batch_size} cannot be split over {world} processes (each rank takes "
                         f"batch_size / world size rows): set batch_size to a multiple of {world} (e.g. "
                         f"{batch_size + world - batch_size % world}) in --config, or launch "
                         + (f"{' or '.join(map(str, fits[:4]))} processes" if fits else "1 process"))




def write_summary(run_dir: Path, train_config: dict[str, Any], history: list[dict[str, Any]]) -> dict[str, Any]:
    """train_config.json with the epochs done and the best epoch; returns the best epoch's record."""
    best = max(history, key=selection_key)
    write_json_atomic(run_dir / TRAIN_CONFIG, {**train_config, "epochs_done": len(history),
                                               "best_epoch": best["epoch"], "best_val_f1": best["val_f1"],
                                               "best_val_loss": best["val_loss"]})
    return best
