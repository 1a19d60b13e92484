"""Run folders: where runs live, which built dataset a command reads, the torch device, training
checkpoints, and finding a trained detector. What to do when the same command meets earlier work is
:func:`mom_bench.rerun.rerun`, shared with the builder."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mom_bench import protocols, settings
from mom_bench._io import replace_dir_atomic, sha256_file
from mom_bench.dataset import read
from mom_bench.errors import CheckpointStateError, DeviceError, NoTrainedModel, WrongDataset
from mom_bench.models import registry
from mom_bench.models.checkpoints import CONFIG_NAME, WEIGHTS_NAME, resolve_file

def default_run_dir(benchmark: str, model_name: str) -> Path:
    """``<runs>/<benchmark>/<resolved model name>``: where `train` writes and `evaluate` looks."""
    return settings.runs_dir() / benchmark / model_name


def default_results_dir(benchmark: str, model_name: str) -> Path:
    return default_run_dir(benchmark, model_name) / "results"


def pick_device(device: Any = None) -> Any:
    """``device`` as a ``torch.device``; default: CUDA when available, else the CPU. A name torch does not
    know, or CUDA where there is none, is refused here, before any work is done."""
    import torch

    if not device:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise DeviceError(f"device {device!r} is not a torch device name (e.g. cpu, cuda, cuda:1)") from None
    if chosen.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {device!r}: CUDA is not available on this machine; use --device cpu")
        if chosen.index is not None and chosen.index >= torch.cuda.device_count():
            raise DeviceError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                              f"numbered from 0")
    return chosen


def resolve_data(data_dir: str | Path | None, benchmark: str | None) -> tuple[Path, dict[str, Any]]:
    """The built dataset folder and its verified info (:func:`mom_bench.dataset.read.verify_build`: a build
    edited after it was written is refused): ``data_dir`` if given, else the default folder of ``benchmark``
    (default: the default benchmark)."""
    if data_dir is None:
        benchmark = benchmark or protocols.DEFAULT
        data_dir = settings.default_dataset_dir(benchmark)
    info = read.verify_build(data_dir, benchmark)
    if benchmark and info["benchmark"] != benchmark:
        raise WrongDataset(f"{data_dir} holds benchmark {info['benchmark']!r}, not {benchmark!r}")
    return Path(data_dir), info


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
    return model, source


def checkpoint_sha256(source: str) -> str | None:
    """sha256 of the checkpoint's weights file (None when it cannot be read, e.g. a Hub id offline)."""
    try:
        return sha256_file(resolve_file(source, WEIGHTS_NAME))
    except OSError:
        return None


def train_summary(source: str) -> dict[str, Any] | None:
    """The run's train_config.json essentials when the checkpoint sits in a run folder (best/ or last/)."""
    path = Path(source).parent / TRAIN_CONFIG
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except ValueError:
        return None
    keys = ("model", "requested_model", "benchmark", "dataset_fingerprint", "recipe", "recipe_family", "epochs_done",
            "best_epoch", "best_val_f1")
    return {k: data.get(k) for k in keys}
