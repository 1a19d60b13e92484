"""Training recipes as data: every knob of a run (:class:`Recipe`), and the defaults of each training family.

A detector declares its *training family* (``Detector.training_family``), which says how the trainer feeds it:

- ``frozen-encoder``: features of every song are extracted once by frozen encoders and cached; only the head
  trains on them. Defaults: the CLAM recipe of the MoM paper (arXiv 2512.00621, section 4 and its released
  code): BCE + 0.5 x triplet loss (margin 0.2, in-batch negatives, L2 distance) over the batch's reals,
  AdamW lr 1e-4, weight decay 0.01, batch 16, 50 epochs, no schedule, no augmentation.
- ``spectrogram``: trained end to end on waveforms, with MixUp and SpecAugment on the model's spectrogram.
  Defaults: the SpecTTTra recipe of SONICS (arXiv 2408.14080, section 5 and its released configs): BCE with
  label smoothing 0.02, AdamW wd 0.05, cosine schedule after 5 warm-up epochs from 1e-6, gradient clipping
  at 5, MixUp (alpha 2.5, p 0.5), SpecAugment, random crops, mixed precision on GPU, seed 42.
- ``waveform``: any other detector, trained end to end on waveforms with plain BCE.

A registry row adds its own values on top of its family's (:attr:`mom_bench.models.registry.ModelSpec.recipe`);
a config file or keyword overrides go last. The ``baselines/`` recipe files are generated from the registry.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mom_bench.core import loader
from mom_bench.core.errors import TrainingConfigError
from mom_bench.core.precision import PRECISIONS
from mom_bench.core.registry import Registry, did_you_mean

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
    # fp32 | bf16 | fp16 | auto (mom_bench.core.precision): features of frozen encoders are extracted, and
    # end-to-end steps run under autocast, at this precision; null keeps the family's own (fp32, or amp above)
    precision: str | None = None
    eval_batch_size: int = 16
    shuffle_buffer: int = 2048       # rows held for shuffling when audio is streamed (end-to-end training)
    preload_bytes: int = 1 << 30     # decode a split once and keep it in memory when it fits in this
    seed: int = 0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # types first: `epochs: 2.5` or `'3'` must not reach the loop
            value, kind = getattr(self, f.name), str(f.type)
            if kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
                raise TrainingConfigError(f"training config: {f.name} must be an integer, got {value!r}")
            if kind.startswith("float") and value is not None and (isinstance(value, bool) or not isinstance(
                    value, (int, float)) or not math.isfinite(value)):
                raise TrainingConfigError(f"training config: {f.name} must be a finite number, got {value!r}")
            if kind == "bool" and not isinstance(value, bool):
                raise TrainingConfigError(f"training config: {f.name} must be true or false, got {value!r}")
            if kind in ("str", "str | None") and not isinstance(value, str) and not (value is None and "None" in kind):
                raise TrainingConfigError(f"training config: {f.name} must be a string, got {value!r}")
        checks = [(self.loss in LOSSES, f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}"),
                  (self.negatives in NEGATIVES, f"negatives must be one of {', '.join(NEGATIVES)}"),
                  (self.triplet_distance in DISTANCES, f"triplet_distance must be one of {', '.join(DISTANCES)}"),
                  (self.schedule in ("constant", "cosine"), "schedule must be constant or cosine"),
                  (self.precision is None or self.precision in PRECISIONS,
                   f"precision must be one of {', '.join(PRECISIONS)} (or null for the family's own), got "
                   f"{self.precision!r}"),
                  (self.epochs >= 1, "epochs must be at least 1"), (self.batch_size >= 1, "batch_size must be >= 1"),
                  (self.eval_batch_size >= 1, "eval_batch_size must be >= 1"),
                  (self.lr > 0, "lr must be positive"), (0 <= self.label_smoothing < 1, "label_smoothing in [0, 1)"),
                  (0 <= self.mixup_p <= 1, "mixup_p in [0, 1]"),
                  (self.grad_clip is None or self.grad_clip > 0, "grad_clip must be positive (or null for none)"),
                  (self.weight_decay >= 0, "weight_decay must be >= 0"),
                  (self.aux_weight >= 0, "aux_weight must be >= 0"),
                  (self.margin >= 0, "margin must be >= 0"), (self.warmup_epochs >= 0, "warmup_epochs must be >= 0"),
                  (self.warmup_start_lr >= 0, "warmup_start_lr must be >= 0"),
                  (self.min_lr >= 0, "min_lr must be >= 0"),
                  (self.mixup_alpha >= 0, "mixup_alpha must be >= 0"),
                  (self.shuffle_buffer >= 1, "shuffle_buffer must be >= 1"),
                  (self.preload_bytes >= 0, "preload_bytes must be >= 0")]
        for ok, message in checks:
            if not ok:
                raise TrainingConfigError(f"training config: {message}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Recipe:
        known = SCHEMA["properties"]
        unknown = sorted(set(values) - set(known))
        if unknown:
            hints = [f"{k}{did_you_mean(k, known, quote=False)}" for k in unknown]
            raise TrainingConfigError(f"training config: unknown key(s) {', '.join(hints)}; known: "
                                      f"{', '.join(sorted(known))}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_JSON_TYPES = {"int": "integer", "float": "number", "float | None": ["number", "null"], "bool": "boolean",
               "str": "string", "str | None": ["string", "null"]}
#: The shape of a training config file: every :class:`Recipe` field and its type, none required (the values
#: themselves are checked by :class:`Recipe`, whose messages name the allowed range).
SCHEMA: dict[str, Any] = {
    "title": "mom-bench training config", "type": "object", "additionalProperties": False,
    "properties": {f.name: {"type": _JSON_TYPES[str(f.type)]} for f in dataclasses.fields(Recipe)},
}

#: Defaults of each training family (see the module docstring for their sources).
FAMILY_RECIPES: Registry[dict[str, Any]] = Registry("training family", {
    "frozen-encoder": {"epochs": 50, "batch_size": 16, "lr": 1e-4, "weight_decay": 0.01, "loss": "bce+triplet",
                       "aux_weight": 0.5, "margin": 0.2, "negatives": "in-batch", "triplet_distance": "l2"},
    "spectrogram": {"epochs": 50, "batch_size": 96, "lr": 5e-4, "weight_decay": 0.05, "loss": "bce",
                    "label_smoothing": 0.02, "schedule": "cosine", "warmup_epochs": 5, "warmup_start_lr": 1e-6,
                    "grad_clip": 5.0, "mixup_alpha": 2.5, "mixup_p": 0.5, "spec_augment": True, "random_crop": True,
                    "amp": True, "seed": 42},
    "waveform": {"epochs": 20, "batch_size": 16, "lr": 1e-4, "weight_decay": 0.01, "loss": "bce"},
})
FAMILIES = tuple(FAMILY_RECIPES.names())


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A YAML or JSON mapping of :class:`Recipe` keys."""
    path = Path(path)
    values = loader.read_yaml(path, TrainingConfigError, what="a training config")
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise TrainingConfigError(f"{path}: a training config must be a mapping of keys to values")
    return values
