"""Training any registry detector on a built benchmark: recipes as data, one loop, resumable runs.

Two recipes (see :data:`RECIPES`), chosen by the model's class:

- ``clam`` (frozen encoders): features of every training and validation song are extracted once, then only
  the head trains on them. Loss: BCE + ``aux_weight`` x an alignment loss between the two branch embeddings
  of the batch's real songs (``bce+triplet``: anchor MERT branch i, positive wav2vec2 branch i, negatives
  wav2vec2 branch j != i, margin 0.2, mean over the N(N-1) triplets, 0 when N <= 1; ``bce+mse`` /
  ``bce+huber``: mean MSE / Huber distance between the two branches of each real song). AdamW 1e-4, wd 0.01,
  batch 16, no schedule, no augmentation; the epoch with the best validation F1 is kept.
- ``spectttra`` (trained end to end): BCE with label smoothing 0.02, AdamW wd 0.05, cosine schedule after a
  linear warm-up from 1e-6, gradient clipping at 5, MixUp (alpha 2.5, p 0.5) and SpecAugment on the log-mel,
  random crops, mixed precision on GPU.

Per-model values (learning rate, batch size, the small epoch counts of the mom-mini configurations) are in
:data:`MODEL_RECIPES`; a YAML/JSON file or keyword overrides go on top.

A run folder holds ``train_config.json``, ``train_log.jsonl`` (one line per epoch), ``best/`` and ``last/``
(each a saved detector, loadable with ``mom_bench.models.load``); ``last/`` also holds the optimizer state
(``optimizer.safetensors`` + ``trainer_state.json``: tensors only, never pickled objects) for ``resume``.
Randomness is drawn from generators seeded with (seed, epoch), so a resumed run continues exactly as an
uninterrupted one would.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from mom_bench import settings
from mom_bench.build import read

TRAIN_LOG = "train_log.jsonl"
TRAIN_CONFIG = "train_config.json"
TRAINER_STATE = "trainer_state.json"
OPTIMIZER_FILE = "optimizer.safetensors"

LOSSES = ("bce", "bce+triplet", "bce+mse", "bce+huber")
NEGATIVES = ("in-batch", "hard")
DISTANCES = ("l2", "sql2")


@dataclass
class Recipe:
    """Every knob of a training run. Unknown keys in a config file are an error, not silently ignored."""

    epochs: int = 10
    batch_size: int = 16
    lr: float = 1e-4
    weight_decay: float = 0.01
    loss: str = "bce"
    aux_weight: float = 0.5          # lambda of the auxiliary (triplet / mse / huber) loss
    margin: float = 0.2              # triplet margin
    negatives: str = "in-batch"      # in-batch: every other real of the batch; hard: the closest one
    triplet_distance: str = "l2"     # l2 (official code) or sql2 (paper's Algorithm 1)
    label_smoothing: float = 0.0
    schedule: str = "constant"       # constant | cosine
    warmup_epochs: float = 0.0
    warmup_start_lr: float = 1e-6
    min_lr: float = 0.0
    grad_clip: float | None = None
    mixup_alpha: float = 0.0
    mixup_p: float = 0.0
    spec_augment: bool = False
    random_crop: bool = False        # crop training songs with the model's train_clip (random windows)
    amp: bool = False                # mixed precision, only ever on a GPU
    eval_batch_size: int = 16
    shuffle_buffer: int = 2048       # rows held for shuffling when audio is streamed (end-to-end training)
    preload_bytes: int = 1 << 30     # decode a split once and keep it in memory when it fits in this
    seed: int = 0

    def __post_init__(self):
        checks = [(self.loss in LOSSES, f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}"),
                  (self.negatives in NEGATIVES, f"negatives must be one of {', '.join(NEGATIVES)}"),
                  (self.triplet_distance in DISTANCES, f"triplet_distance must be one of {', '.join(DISTANCES)}"),
                  (self.schedule in ("constant", "cosine"), "schedule must be constant or cosine"),
                  (self.epochs >= 1, "epochs must be at least 1"), (self.batch_size >= 1, "batch_size must be >= 1"),
                  (self.lr > 0, "lr must be positive"), (0 <= self.label_smoothing < 1, "label_smoothing in [0, 1)"),
                  (0 <= self.mixup_p <= 1, "mixup_p in [0, 1]")]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"training config: {message}")

    @classmethod
    def from_dict(cls, values: dict) -> "Recipe":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            import difflib

            hints = [f"{k} (did you mean {m[0]}?)" if (m := difflib.get_close_matches(k, known, 1)) else k
                     for k in unknown]
            raise ValueError(f"training config: unknown key(s) {', '.join(hints)}; known: {', '.join(sorted(known))}")
        return cls(**values)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


#: Recipes by family. Facts: FACTS.md §2 (CLAM) and §3 (SpecTTTra).
RECIPES: dict[str, dict[str, Any]] = {
    "clam": {"epochs": 50, "batch_size": 16, "lr": 1e-4, "weight_decay": 0.01, "loss": "bce+triplet",
             "aux_weight": 0.5, "margin": 0.2, "negatives": "in-batch", "triplet_distance": "l2"},
    "spectttra": {"epochs": 50, "batch_size": 96, "lr": 5e-4, "weight_decay": 0.05, "loss": "bce",
                  "label_smoothing": 0.02, "schedule": "cosine", "warmup_epochs": 5, "warmup_start_lr": 1e-6,
                  "grad_clip": 5.0, "mixup_alpha": 2.5, "mixup_p": 0.5, "spec_augment": True, "random_crop": True,
                  "amp": True, "seed": 42},
    "generic": {"epochs": 20, "batch_size": 16, "lr": 1e-4, "weight_decay": 0.01, "loss": "bce"},
}

_ONE_STREAM = {"loss": "bce"}  # no second branch to align
# mom-mini has 96 training songs: 6 steps per epoch instead of the ~5,600 of MoM, so the paper's lr 1e-4
# barely moves the head in 30 epochs (train loss 0.798 -> 0.769). lr 3e-3 reaches validation F1 0.82 in 30
# epochs (about 8 s on cached features); 30 epochs keep build + train + evaluate within a few minutes.
_MINI = {"epochs": 30, "lr": 3e-3}

#: Per registry name (after the family recipe). A ``-mini`` row also inherits the row it is a variant of.
MODEL_RECIPES: dict[str, dict[str, Any]] = {
    "mert-only": _ONE_STREAM, "wav2vec2-only": _ONE_STREAM,
    "clam-mini": _MINI, "clam-wca-mini": _MINI, "mert-only-mini": _MINI, "wav2vec2-only-mini": _MINI,
    "clam-tiny": {"epochs": 3, "batch_size": 8},
    **{f"spectttra-{v}-5s": {"lr": 8e-4, "batch_size": 256} for v in ("alpha", "beta", "gamma")},
    "spectttra-alpha-120s": {"lr": 5e-4, "batch_size": 96},
    "spectttra-beta-120s": {"lr": 8e-4, "batch_size": 128},
    "spectttra-gamma-120s": {"lr": 5e-4, "batch_size": 128},
    "spectttra-mini": {"epochs": 8, "batch_size": 16, "lr": 5e-4, "warmup_epochs": 1},
}


class TrainError(RuntimeError):
    """A training run that cannot start or continue; the message says what to do."""


def family_of(spec) -> str:
    target = spec.target.rsplit(":", 1)[-1]
    return {"ClamDetector": "clam", "SpecTTTra": "spectttra"}.get(target, "generic")


def recipe_for(spec, overrides: dict | None = None) -> Recipe:
    """Family recipe, then the model's own values (a variant inherits its base row's), then ``overrides``."""
    values = dict(RECIPES[family_of(spec)])
    if spec.variant_of:
        values.update(MODEL_RECIPES.get(spec.variant_of, {}))
    values.update(MODEL_RECIPES.get(spec.name, {}))
    if spec.config.get("streams") is not None and len(spec.config["streams"]) < 2:
        values.update(_ONE_STREAM)
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return Recipe.from_dict(values)


def read_config_file(path: str | Path) -> dict:
    """A YAML or JSON mapping of :class:`Recipe` keys."""
    import yaml

    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise TrainError(f"{path}: cannot read the training config ({err})") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise TrainError(f"{path}: a training config must be a mapping of keys to values")
    return values


def default_run_dir(benchmark: str, model_name: str) -> Path:
    """``<runs>/<benchmark>/<resolved model name>``: where `train` writes and `evaluate` looks."""
    return settings.runs_dir() / benchmark / model_name


def pick_device(device: str | None = None) -> torch.device:
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_data(data_dir: str | Path | None, benchmark: str | None) -> tuple[Path, dict]:
    """The built dataset folder and its info: ``data_dir`` if given, else the default folder of ``benchmark``
    (default: the default benchmark)."""
    from mom_bench import protocols

    if data_dir is None:
        benchmark = benchmark or protocols.DEFAULT
        data_dir = settings.default_dataset_dir(benchmark)
    info = read.read_info(data_dir, benchmark)
    if benchmark and info["benchmark"] != benchmark:
        raise TrainError(f"{data_dir} holds benchmark {info['benchmark']!r}, not {benchmark!r}")
    return Path(data_dir), info


# --------------------------------------------------------------------------------------------------
# Losses


def alignment_loss(a: torch.Tensor, p: torch.Tensor, kind: str, *, margin: float = 0.2,
                   negatives: str = "in-batch", distance: str = "l2") -> torch.Tensor:
    """Auxiliary loss over the real songs of a batch: ``a`` = MERT-branch embeddings ``[N, D]``, ``p`` =
    wav2vec2-branch embeddings of the same songs.

    ``triplet``: for anchor i, positive p_i and negatives p_j (j != i), ``max(0, d(a_i, p_i) - d(a_i, p_j) +
    margin)`` averaged over all N(N-1) pairs (``in-batch``) or over the N hardest (closest) negatives
    (``hard``); 0 when N <= 1. ``mse`` / ``huber``: distance between a_i and p_i, averaged.
    """
    n = a.shape[0]
    if n == 0:
        return a.new_zeros(())
    if kind == "mse":
        return torch.nn.functional.mse_loss(a, p)
    if kind == "huber":
        return torch.nn.functional.huber_loss(a, p)
    if n <= 1:
        return a.new_zeros(())
    sq = (a[:, None, :] - p[None, :, :]).pow(2).sum(-1)  # [N, N]: d(a_i, p_j)^2
    # The epsilon keeps the gradient of the square root finite when two embeddings coincide.
    dist = sq if distance == "sql2" else torch.sqrt(sq + 1e-12)
    pos = dist.diagonal()[:, None]
    off = ~torch.eye(n, dtype=torch.bool, device=a.device)
    if negatives == "hard":
        neg = dist.masked_fill(~off, float("inf")).min(dim=1, keepdim=True).values
        return torch.relu(pos - neg + margin).mean()
    return torch.relu(pos - dist + margin)[off].mean()


def bce_loss(logits: torch.Tensor, targets: torch.Tensor, smoothing: float) -> torch.Tensor:
    targets = targets.float()
    if smoothing:
        targets = targets * (1 - smoothing) + 0.5 * smoothing
    return torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), targets)


def lr_at(recipe: Recipe, epoch_progress: float) -> float:
    """Learning rate at a fractional epoch: linear warm-up from ``warmup_start_lr``, then constant or cosine."""
    if recipe.warmup_epochs and epoch_progress < recipe.warmup_epochs:
        return recipe.warmup_start_lr + (recipe.lr - recipe.warmup_start_lr) * epoch_progress / recipe.warmup_epochs
    if recipe.schedule == "constant":
        return recipe.lr
    span = max(1e-9, recipe.epochs - recipe.warmup_epochs)
    t = min(1.0, (epoch_progress - recipe.warmup_epochs) / span)
    return recipe.min_lr + (recipe.lr - recipe.min_lr) * 0.5 * (1 + math.cos(math.pi * t))


# --------------------------------------------------------------------------------------------------
# Data


def decode_row(row: dict, model, clip, rng: np.random.Generator | None = None) -> torch.Tensor:
    from mom_bench import audio

    return audio.load(row["audio"], model.sample_rate, clip=clip, rng=rng, name=f"row {row['id']}").samples


def extract_features(model, data_dir: Path, split: str, device: torch.device, batch_size: int,
                     progress: bool = True, desc: str | None = None) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """Frozen-encoder features ``{stream: [n, L, H]}`` of every row of ``split`` (decoded with the model's
    clip policy), in stored row order, plus each row's id/label/generator.

    Features go through the on-disk cache (:class:`mom_bench.models.cache.FeatureCache`, keyed on the
    dataset fingerprint, split, encoders and clip), so a second run, an ablation of the head or an
    evaluation of another epoch never runs the encoders again."""
    from mom_bench.models.cache import FeatureCache, stack

    info = read.read_info(data_dir)
    meta = read.read_table(data_dir, split, ["id", "label", "generator"]).to_dict("records")
    stream = read.iter_rows(data_dir, split, columns=["id", "audio"])

    def loader(item_id: str):
        # The cache calls loaders of missing items in item order, so one pass over the shards serves them
        # all and audio is never held for more than one row at a time.
        def load():
            for row in stream:
                if row["id"] == item_id:
                    # on the model's device, so the cache's batched extract runs on the GPU when there is one
                    return decode_row(row, model, model.clip).to(device)
            raise KeyError(f"row {item_id} vanished from {data_dir} while reading it")
        return load

    model.to(device)
    feats = FeatureCache().get_or_compute(
        model, [(m["id"], loader(m["id"])) for m in meta], {"dataset": info["fingerprint"], "split": split},
        batch_size=batch_size, progress=progress, desc=desc or f"features {split}")
    # Cached items come back on the CPU, fresh ones on the model's device: gather everything on the CPU.
    return stack([{k: v.cpu() for k, v in feats[m["id"]].items()} for m in meta]), meta


def shuffled_rows(data_dir: Path, split: str, rng: np.random.Generator, buffer: int,
                  columns: list[str] | None = None) -> Iterator[dict]:
    """Rows of ``split`` in a seeded random order: shards in random order, then a shuffle buffer of
    ``buffer`` rows, so memory stays bounded on large datasets (a full shuffle when the split fits)."""
    pool: list[dict] = []
    for shard in rng.permutation(len(read.shards(data_dir, split))):
        for row in read.iter_rows(data_dir, split, columns=columns, shard_index=int(shard)):
            pool.append(row)
            if len(pool) >= buffer:
                yield pool.pop(int(rng.integers(len(pool))))
    while pool:
        yield pool.pop(int(rng.integers(len(pool))))


# --------------------------------------------------------------------------------------------------
# Checkpoints


def write_dir_atomically(target: Path, write: Callable[[Path], None]) -> None:
    """Write a folder under a temporary name and swap it in, so a crash never leaves a half checkpoint."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        write(tmp)
        old = None
        if target.exists():
            old = target.parent / f".{target.name}.old.{os.getpid()}"
            os.replace(target, old)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _flatten_optimizer(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """Optimizer state dict -> (tensors for safetensors, JSON-able rest)."""
    tensors, meta = {}, {"param_groups": state["param_groups"], "state": {}}
    for pid, entries in state["state"].items():
        meta["state"][str(pid)] = {}
        for key, value in entries.items():
            if torch.is_tensor(value):
                tensors[f"{pid}.{key}"] = value.detach().cpu().contiguous()
                meta["state"][str(pid)][key] = {"tensor": f"{pid}.{key}"}
            else:
                meta["state"][str(pid)][key] = {"value": value}
    return tensors, meta


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state = {}
    for pid, entries in meta["state"].items():
        state[int(pid)] = {k: tensors[v["tensor"]] if "tensor" in v else v["value"] for k, v in entries.items()}
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(folder: Path, model, optimizer=None, trainer_state: dict | None = None) -> None:
    def write(tmp: Path):
        model.save_pretrained(tmp)
        if optimizer is not None:
            from safetensors.torch import save_file

            tensors, meta = _flatten_optimizer(optimizer.state_dict())
            save_file(tensors, str(tmp / OPTIMIZER_FILE))
            (tmp / TRAINER_STATE).write_text(json.dumps({**(trainer_state or {}), "optimizer": meta}, indent=1))

    write_dir_atomically(folder, write)


def load_optimizer_state(folder: Path, optimizer) -> dict:
    from safetensors.torch import load_file

    state_file, tensor_file = folder / TRAINER_STATE, folder / OPTIMIZER_FILE
    if not state_file.is_file() or not tensor_file.is_file():
        raise TrainError(f"{folder}: no optimizer state to resume from ({TRAINER_STATE}, {OPTIMIZER_FILE})")
    trainer_state = json.loads(state_file.read_text())
    optimizer.load_state_dict(_unflatten_optimizer(load_file(str(tensor_file)), trainer_state.pop("optimizer")))
    return trainer_state


# --------------------------------------------------------------------------------------------------
# The loop


@dataclass
class _Batch:
    labels: torch.Tensor
    features: dict[str, torch.Tensor] | None = None
    wave: torch.Tensor | None = None


def _feature_batches(feats: dict[str, torch.Tensor], labels: torch.Tensor, order: np.ndarray, batch_size: int,
                     device) -> Iterator[_Batch]:
    for i in range(0, len(order), batch_size):
        idx = torch.as_tensor(order[i:i + batch_size])
        yield _Batch(labels[idx].to(device), features={s: v[idx].to(device) for s, v in feats.items()})


def preload(model, data_dir: Path, split: str, clip, budget_bytes: int) -> list[tuple[int, torch.Tensor]] | None:
    """Every song of ``split`` decoded once (label, samples at the model's rate, cut by ``clip``), when the
    split fits in ``budget_bytes`` of float32; else None and the songs are decoded again each epoch. Decoding
    was about a third of an end-to-end epoch on mom-mini."""
    from mom_bench.audio import full

    seconds = float(read.read_table(data_dir, split, ["duration_s"])["duration_s"].sum())
    n = clip.n_samples(model.sample_rate)
    rows = read.num_rows(data_dir, split)
    size = 4 * (rows * n if n is not None and clip.kind != "random" else seconds * model.sample_rate)
    if size > budget_bytes:
        return None
    stored_clip = full() if clip.kind == "random" else clip  # random windows are cut afresh every epoch
    return [(int(row["label"]), decode_row(row, model, stored_clip))
            for row in read.iter_rows(data_dir, split, columns=["id", "audio", "label"])]


def _wave_batches(model, data_dir: Path, split: str, rng: np.random.Generator | None, recipe: Recipe, device,
                  clip, shuffle: bool, preloaded: list | None = None) -> Iterator[_Batch]:
    if preloaded is not None:
        order = rng.permutation(len(preloaded)) if shuffle else range(len(preloaded))
        items = ((preloaded[i][0], clip.apply(preloaded[i][1], model.sample_rate, rng=rng)
                  if clip.kind == "random" else preloaded[i][1]) for i in order)
    else:
        rows = (shuffled_rows(data_dir, split, rng, recipe.shuffle_buffer, ["id", "audio", "label"]) if shuffle
                else read.iter_rows(data_dir, split, columns=["id", "audio", "label"]))
        items = ((int(row["label"]), decode_row(row, model, clip, rng)) for row in rows)
    waves, labels = [], []
    for label, wave in items:
        waves.append(wave)
        labels.append(label)
        if len(waves) == recipe.batch_size:
            yield _Batch(torch.tensor(labels, device=device), wave=torch.stack(waves).to(device))
            waves, labels = [], []
    if waves:
        yield _Batch(torch.tensor(labels, device=device), wave=torch.stack(waves).to(device))


def _train_step(model, batch: _Batch, recipe: Recipe, gen: torch.Generator, rng: np.random.Generator,
                amp_dtype) -> tuple[torch.Tensor, dict]:
    parts = {}
    if batch.features is not None:
        out = model.head_outputs(batch.features)
        logits = out["logits"]
        loss = bce_loss(logits, batch.labels, recipe.label_smoothing)
        parts["bce"] = float(loss.detach())
        if recipe.loss != "bce":
            if "emb_mert" not in out or "emb_w2v" not in out:
                raise TrainError(f"loss {recipe.loss} needs two branch embeddings (MERT and wav2vec2); "
                                 f"{model.name} has one stream: use --loss bce")
            real = batch.labels == 0
            aux = alignment_loss(out["emb_mert"][real], out["emb_w2v"][real], recipe.loss.split("+")[1],
                                 margin=recipe.margin, negatives=recipe.negatives, distance=recipe.triplet_distance)
            parts["aux"] = float(aux.detach())
            loss = loss + recipe.aux_weight * aux
        return loss, parts

    targets = batch.labels.float()
    with torch.autocast(device_type=batch.wave.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
        mixing = recipe.mixup_alpha > 0 and rng.random() < recipe.mixup_p and len(targets) > 1
        if hasattr(model, "features") and hasattr(model, "classify"):
            x = model.features(batch.wave)
        else:
            x = batch.wave
        if mixing:
            lam = float(rng.beta(recipe.mixup_alpha, recipe.mixup_alpha))
            perm = torch.randperm(len(targets), generator=gen).to(targets.device)
            x = lam * x + (1 - lam) * x[perm]
            targets = lam * targets + (1 - lam) * targets[perm]
            parts["mixup_lambda"] = lam
        if x is batch.wave:
            logits = model(x)
        else:
            if recipe.spec_augment:
                x = model.spec_augment(x, generator=gen)
            logits = model.classify(x)
    loss = bce_loss(logits, targets, recipe.label_smoothing)
    parts["bce"] = float(loss.detach())
    return loss, parts


@torch.no_grad()
def _validate(model, recipe: Recipe, device, val_feats=None, val_labels=None, data_dir=None,
              val_waves=None) -> dict:
    from mom_bench import metrics

    model.eval()
    logits, labels = [], []
    if val_feats is not None:
        n = len(val_labels)
        for i in range(0, n, recipe.eval_batch_size):
            batch = {s: v[i:i + recipe.eval_batch_size].to(device) for s, v in val_feats.items()}
            logits.append(model.head_forward(batch).float().cpu())
        labels = val_labels
    else:
        for batch in _wave_batches(model, data_dir, "validation", None, recipe, device, model.clip, shuffle=False,
                                   preloaded=val_waves):
            logits.append(model(batch.wave).float().cpu())
            labels.append(batch.labels.cpu())
        labels = torch.cat(labels)
    logits = torch.cat(logits)
    probs = torch.sigmoid(logits).numpy()
    y = labels.numpy()
    c = metrics.confusion(y, probs)
    tm = metrics.threshold_metrics(**c)
    loss = float(torch.nn.functional.binary_cross_entropy_with_logits(logits, labels.float()))
    clean = lambda v: None if v is None or not math.isfinite(float(v)) else float(v)  # noqa: E731
    return {"val_loss": loss, "val_f1": clean(tm["f1"]), "val_accuracy": clean(tm["accuracy"]),
            "val_auc": clean(metrics.roc_auc(y, probs)), "val_n": int(len(y))}


def _read_saved_config(run_dir: Path) -> dict | None:
    try:
        saved = json.loads((run_dir / TRAIN_CONFIG).read_text())
    except (OSError, ValueError):
        return None
    return saved if isinstance(saved, dict) else None


def _selection_key(entry: dict) -> tuple:
    # Best validation F1; ties (frequent on small validation sets) go to the lower validation loss.
    f1 = entry.get("val_f1")
    return (-1.0 if f1 is None else f1, -entry["val_loss"])


def train(model_name: str, data_dir: str | Path | None = None, out_dir: str | Path | None = None, *,
          benchmark: str | None = None, config: dict | str | Path | None = None, epochs: int | None = None,
          seed: int | None = None, resume: bool = False, overwrite: bool = False, loss: str | None = None,
          negatives: str | None = None, triplet_distance: str | None = None, device: str | None = None,
          progress: bool = True, log: Callable[[str], None] | None = None) -> Path:
    """Train ``model_name`` (resolved for the dataset's benchmark) and return the run folder.

    ``config``: a dict or a YAML/JSON file of :class:`Recipe` keys; ``epochs``, ``seed``, ``loss``,
    ``negatives``, ``triplet_distance`` override it. ``resume`` continues from ``<run>/last`` with the run's
    saved config (only ``epochs`` may be raised). An existing run is never overwritten unless ``overwrite``.
    """
    from tqdm.auto import tqdm

    from mom_bench.models import registry

    say = log or (lambda msg: None)
    registry.resolve(model_name, benchmark)  # a mistyped model name is reported before any data is read
    data_dir, info = resolve_data(data_dir, benchmark)
    benchmark = info["benchmark"]
    spec = registry.resolve(model_name, benchmark)
    run_dir = Path(out_dir).expanduser() if out_dir else default_run_dir(benchmark, spec.name)
    dev = pick_device(device)
    overrides = dict(read_config_file(config) if isinstance(config, (str, Path)) else (config or {}))
    overrides.update({k: v for k, v in {"epochs": epochs, "seed": seed, "loss": loss, "negatives": negatives,
                                        "triplet_distance": triplet_distance}.items() if v is not None})
    last = run_dir / "last"

    if not resume and not overwrite and ((run_dir / TRAIN_CONFIG).exists() or last.exists()):
        # Re-running the same command (the Quickstart twice, a job retried after a crash) must not fail:
        # an identical finished run is reused, an identical interrupted one continues. Anything else is refused.
        saved = _read_saved_config(run_dir)
        wanted = recipe_for(spec, overrides).to_dict()
        same = (saved is not None and saved.get("model") == spec.name
                and saved.get("dataset_fingerprint") == info["fingerprint"] and saved.get("recipe") == wanted)
        if not same:
            raise TrainError(f"{run_dir} already holds a different training run: pass --resume to continue it, "
                             "--overwrite to start again, or --out DIR for a new folder")
        if int(saved.get("epochs_done", 0)) >= wanted["epochs"] and (run_dir / "best").is_dir():
            say(f"{run_dir} already holds this run, finished ({saved['epochs_done']} epochs, best val F1 "
                f"{_fmt(saved.get('best_val_f1'))}); reusing it (--overwrite trains again)")
            return run_dir
        if last.is_dir():
            say(f"{run_dir} holds this run, unfinished: continuing it from last/ (--overwrite starts again)")
            resume = True
        else:  # stopped before its first epoch ended: there is nothing to keep
            say(f"{run_dir} holds this run, stopped before its first epoch ended: starting it again")

    if resume:
        if not (run_dir / TRAIN_CONFIG).is_file() or not last.is_dir():
            raise TrainError(f"nothing to resume in {run_dir}: no {TRAIN_CONFIG} or last/ checkpoint")
        saved = json.loads((run_dir / TRAIN_CONFIG).read_text())
        if saved["dataset_fingerprint"] != info["fingerprint"]:
            raise TrainError(f"{run_dir} was trained on another dataset (fingerprint "
                             f"{saved['dataset_fingerprint'][:12]}, this one {info['fingerprint'][:12]})")
        changed = {k: v for k, v in overrides.items() if k != "epochs" and saved["recipe"].get(k) != v}
        if changed:
            raise TrainError(f"--resume continues the saved run; it cannot change {', '.join(sorted(changed))}. "
                             "Start a new run (--out DIR or --overwrite) instead")
        recipe = Recipe.from_dict({**saved["recipe"], **({"epochs": epochs} if epochs else {})})
        model = registry.load(last)
    else:
        if last.exists() or (run_dir / TRAIN_CONFIG).exists():
            for name in ("best", "last", TRAIN_LOG, TRAIN_CONFIG):
                path = run_dir / name
                shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
        recipe = recipe_for(spec, overrides)
        torch.manual_seed(recipe.seed)  # model initialisation
        model = registry.build(model_name, benchmark)
    say(f"training {model.name} (resolved from {model_name!r} for benchmark {benchmark}) on {data_dir}, device {dev}")
    model.to(dev)
    frozen = bool(getattr(model, "frozen_encoders", False))
    if recipe.loss != "bce" and len(getattr(model, "streams", ())) < 2:
        raise TrainError(f"loss {recipe.loss} needs two branch embeddings (MERT and wav2vec2); {model.name} has "
                         "one stream (or is not a CLAM-family model): use --loss bce")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise TrainError(f"{model.name} has no trainable parameters")
    optimizer = torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    start_epoch, history = 0, []
    if resume:
        state = load_optimizer_state(last, optimizer)
        start_epoch = int(state["epochs_done"])
        history = _read_log(run_dir)[:start_epoch]
        if start_epoch >= recipe.epochs:
            say(f"{run_dir} has already trained {start_epoch} epochs (of {recipe.epochs}); nothing to do")
            return run_dir

    run_dir.mkdir(parents=True, exist_ok=True)
    train_config = {"model": model.name, "requested_model": model_name, "benchmark": benchmark,
                    "benchmark_version": info.get("benchmark_version"), "dataset": str(data_dir),
                    "dataset_fingerprint": info["fingerprint"], "recipe": recipe.to_dict(),
                    "recipe_family": family_of(spec), "model_config": model.config, "device": str(dev)}
    if not resume:
        (run_dir / TRAIN_CONFIG).write_text(json.dumps(train_config, indent=2))
        (run_dir / TRAIN_LOG).write_text("")

    if "validation" not in info["splits"] or "train" not in info["splits"]:
        raise TrainError(f"{data_dir} needs train and validation splits (has {', '.join(info['splits'])})")
    amp_dtype = None
    if recipe.amp and dev.type == "cuda":
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)

    train_feats = val_feats = train_labels = val_labels = None
    if frozen:
        model.eval()
        train_feats, meta = extract_features(model, data_dir, "train", dev, recipe.eval_batch_size, progress)
        train_labels = torch.tensor([int(m["label"]) for m in meta])
        val_feats, vmeta = extract_features(model, data_dir, "validation", dev, recipe.eval_batch_size, progress)
        val_labels = torch.tensor([int(m["label"]) for m in vmeta])
    train_waves = val_waves = None
    if not frozen:
        train_clip = model.train_clip if recipe.random_crop else model.clip
        train_waves = preload(model, data_dir, "train", train_clip, recipe.preload_bytes)
        val_waves = preload(model, data_dir, "validation", model.clip, recipe.preload_bytes)
    n_train = read.num_rows(data_dir, "train")
    steps_per_epoch = max(1, math.ceil(n_train / recipe.batch_size))
    best = max(history, key=_selection_key) if history else None

    threads = torch.get_num_threads()
    if frozen and dev.type == "cpu":
        # Heads on cached features are small: intra-op threads gain little, and on a busy
        # machine their synchronisation made each step ~30x slower (0.65 s vs 0.02 s, 2-core container).
        torch.set_num_threads(1)
    try:
        for epoch in range(start_epoch, recipe.epochs):
            t0 = time.time()
            rng = np.random.default_rng([recipe.seed, epoch])
            gen = torch.Generator().manual_seed(recipe.seed * 100_003 + epoch)
            torch.manual_seed(recipe.seed * 100_003 + epoch)  # dropout
            model.train()
            if frozen:
                batches = _feature_batches(train_feats, train_labels, rng.permutation(len(train_labels)),
                                           recipe.batch_size, dev)
            else:
                clip = model.train_clip if recipe.random_crop else model.clip
                batches = _wave_batches(model, data_dir, "train", rng, recipe, dev, clip, shuffle=True,
                                        preloaded=train_waves)
            sums: dict[str, float] = {}
            n_steps = 0
            bar = tqdm(batches, total=steps_per_epoch, desc=f"epoch {epoch + 1}/{recipe.epochs}",
                       disable=not progress, unit="batch", leave=False)
            for step, batch in enumerate(bar):
                lr = lr_at(recipe, epoch + step / steps_per_epoch)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                loss, parts = _train_step(model, batch, recipe, gen, rng, amp_dtype)
                if not torch.isfinite(loss):
                    raise TrainError(f"epoch {epoch + 1}, step {step + 1}: the loss is {float(loss)}; lower the "
                                     "learning rate or check the data")
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if recipe.grad_clip:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(params, recipe.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                n_steps += 1
                sums["loss"] = sums.get("loss", 0.0) + float(loss.detach())
                for k, v in parts.items():
                    sums[k] = sums.get(k, 0.0) + v
                bar.set_postfix(loss=f"{sums['loss'] / n_steps:.4f}")
            bar.close()
            entry = {"epoch": epoch + 1, **{f"train_{k}": v / max(1, n_steps) for k, v in sums.items()},
                     "lr": optimizer.param_groups[0]["lr"],
                     **_validate(model, recipe, dev, val_feats, val_labels, data_dir, val_waves)}
            entry["seconds"] = round(time.time() - t0, 3)
            improved = best is None or _selection_key(entry) > _selection_key(best)
            entry["best"] = improved
            if improved:
                best = entry
                save_checkpoint(run_dir / "best", model)
            save_checkpoint(last, model, optimizer, {"epochs_done": epoch + 1, "best_epoch": best["epoch"]})
            with open(run_dir / TRAIN_LOG, "a") as fh:
                fh.write(json.dumps(entry) + "\n")
            history.append(entry)
            say(f"epoch {epoch + 1}/{recipe.epochs}: loss {entry.get('train_loss', float('nan')):.4f}, "
                f"val F1 {_fmt(entry['val_f1'])}, val AUC {_fmt(entry['val_auc'])}"
                + ("  (best so far)" if improved else ""))
    finally:
        torch.set_num_threads(threads)

    summary = {**train_config, "epochs_done": len(history), "best_epoch": best["epoch"],
               "best_val_f1": best["val_f1"], "best_val_loss": best["val_loss"]}
    (run_dir / TRAIN_CONFIG).write_text(json.dumps(summary, indent=2))
    say(f"best epoch {best['epoch']} (val F1 {_fmt(best['val_f1'])}); saved to {run_dir / 'best'}")
    return run_dir


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def _read_log(run_dir: Path) -> list[dict]:
    path = run_dir / TRAIN_LOG
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
