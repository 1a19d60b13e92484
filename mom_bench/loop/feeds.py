"""How the trainer feeds each training family (:mod:`mom_bench.core.recipes`): one :class:`Feed` per family, each
holding what its epochs read, its loss of one batch and its validation scores. The loop around them
(:mod:`mom_bench.loop.training`) is the same for every family.

- ``frozen-encoder`` (:class:`FrozenEncoderFeed`): features of every training and validation song are extracted
  once (and cached), then only the head trains on them. Loss: BCE + ``aux_weight`` x an alignment loss between
  the two branch embeddings of the batch's real songs (:func:`mom_bench.loop.losses.alignment_loss`).
- ``waveform`` (:class:`WaveformFeed`): trained end to end on waveforms; MixUp mixes the waveforms.
- ``spectrogram`` (:class:`SpectrogramFeed`): trained end to end; MixUp and SpecAugment act on the model's
  spectrogram.

End-to-end feeds decode every song once into memory when the split fits ``preload_bytes``, else stream it
each epoch through a shuffle buffer. Under a launcher with several processes each rank takes its slice of
every global batch (:func:`mom_bench.core.distributed.rank_slice`) and the step runs through DistributedDataParallel.
"""
from __future__ import annotations

import itertools
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from mom_bench.core import distributed
from mom_bench.core.audio import ClipPolicy, full
from mom_bench.core.distributed import Part
from mom_bench.core.recipes import Recipe
from mom_bench.core.splits import TRAIN, VALIDATION
from mom_bench.dataset.read import Build
from mom_bench.loop.inference import decode_row, extract_features, feature_logits, split_logits, wave_logits
from mom_bench.loop.losses import alignment_loss, bce_loss
from mom_bench.loop.runs import TrainError
from mom_bench.models.base import Detector, FrozenEncoderDetector, SpectrogramDetector
from mom_bench.report import metrics

Preloaded = list[tuple[int, torch.Tensor]]


# --------------------------------------------------------------------------------------------------
# Reading songs


def shuffled_rows(build: Build, split: str, rng: np.random.Generator, buffer: int,
                  columns: list[str] | None = None) -> Iterator[dict[str, Any]]:
    """Rows of ``split`` in a seeded random order: shards in random order, then a shuffle buffer of
    ``buffer`` rows, so memory stays bounded on large datasets (a full shuffle when the split fits)."""
    pool: list[dict[str, Any]] = []
    for shard in rng.permutation(len(build.shards(split))):
        for row in build.rows(split, columns, shard_index=int(shard)):
            pool.append(row)
            if len(pool) >= buffer:
                yield pool.pop(int(rng.integers(len(pool))))
    while pool:
        yield pool.pop(int(rng.integers(len(pool))))


def preload(model: Detector, build: Build, split: str, clip: ClipPolicy, budget_bytes: int,
            rows: tuple[int, int] | None = None) -> Preloaded | None:
    """Every song of ``split`` (or of its rows ``[start, stop)`` in stored order) decoded once (label, samples
    at the model's rate, cut by ``clip``), when they fit in ``budget_bytes`` of float32; else None and the
    songs are decoded again each epoch (decoding is a large share of an end-to-end epoch on small benchmarks)."""
    durations = build.table(split, ["duration_s"])["duration_s"]
    start, stop = rows if rows is not None else (0, len(durations))
    seconds = float(durations.iloc[start:stop].sum())
    n = clip.n_samples(model.sample_rate)
    size = 4 * ((stop - start) * n if n is not None and clip.kind != "random" else seconds * model.sample_rate)
    if size > budget_bytes:
        return None
    stored_clip = full() if clip.kind == "random" else clip  # random windows are cut afresh every epoch
    stream = build.row_range(split, ["id", "audio", "label"]).rows(start, stop)  # only this block's row groups
    return [(int(row["label"]), decode_row(row, model, stored_clip)) for row in stream]


def labels(build: Build, split: str) -> torch.Tensor:
    return torch.tensor(build.table(split, ["label"])["label"].astype(int).to_numpy())


@dataclass
class Batch:
    labels: torch.Tensor
    features: dict[str, torch.Tensor] | None = None
    wave: torch.Tensor | None = None
    #: Under DDP: rows of the whole global batch (this rank holds a slice of it) and the factor on this
    #: rank's mean loss that makes the all-reduced gradient the one-process gradient of the global batch.
    global_size: int | None = None
    weight: float = 1.0


@dataclass
class Draws:
    """An epoch's random streams besides the order: MixUp's decision and lambda (``rng``), its pairing and
    SpecAugment's masks (``gen``)."""

    rng: np.random.Generator
    gen: torch.Generator


#: Entropy words that tell the per-epoch random streams of a DDP run apart (seeds [seed, epoch, stream, ...]);
#: a one-process run draws everything from [seed, epoch] as it always has.
MIX_STREAM, CROP_STREAM, TORCH_STREAM = 1, 2, 3


def ddp_seed(*words: int) -> int:
    """A 63-bit torch seed from entropy words, so each rank and epoch draws a stream of its own."""
    return int(np.random.SeedSequence(list(words)).generate_state(1, np.uint64)[0]) >> 1


def val_scores(logits: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
    """The validation record of an epoch: loss, F1, accuracy and AUC at the fixed threshold, rows."""
    probs = torch.sigmoid(logits).numpy()
    truth = y.numpy()
    tm = metrics.threshold_metrics(**metrics.confusion(truth, probs))
    loss = float(torch.nn.functional.binary_cross_entropy_with_logits(logits, y.float()))

    def clean(v: Any) -> float | None:
        return None if v is None or not math.isfinite(float(v)) else float(v)

    return {"val_loss": loss, "val_f1": clean(tm["f1"]), "val_accuracy": clean(tm["accuracy"]),
            "val_auc": clean(metrics.roc_auc(truth, probs)), "val_n": int(len(truth))}


# --------------------------------------------------------------------------------------------------
# The feeds


class Feed(ABC):
    """A training family as the loop sees it. The loop calls :meth:`prepare` once, then per epoch
    :meth:`batches`, :meth:`loss` for each batch and :meth:`validate`."""

    #: The training family this feed serves (:attr:`mom_bench.models.base.Detector.training_family`).
    family: ClassVar[str]
    #: Whether the model trains in one process even under a launcher (the ranks only help to prepare).
    one_process: ClassVar[bool] = False
    #: Whether steps are small enough that intra-op threads cost more than they gain on the CPU.
    single_thread: ClassVar[bool] = False

    def __init__(self, model: Detector, build: Build, recipe: Recipe, device: torch.device, part: Part, *,
                 progress: bool = True, num_workers: int = 0, precision: str = "fp32"):
        self.model, self.build, self.recipe, self.device, self.part = model, build, recipe, device, part
        # resolved (mom_bench.core.precision): of the cached features here, of the steps' autocast in the loop
        self.progress, self.num_workers, self.precision = progress, num_workers, precision
        self.train_labels = labels(build, TRAIN)
        self.val_labels = labels(build, VALIDATION)

    @property
    def world(self) -> int:
        """Processes the model trains in."""
        return 1 if self.one_process else self.part.world

    @abstractmethod
    def prepare(self) -> Part | None:
        """Read what every epoch needs; returns the processes the loop goes on with (None: this rank is done)."""

    @abstractmethod
    def batches(self, epoch: int, rng: np.random.Generator) -> Iterator[Batch]:
        """The epoch's training batches, in the order drawn from ``rng``."""

    @abstractmethod
    def loss(self, batch: Batch, draws: Draws, amp_dtype: torch.dtype | None) -> tuple[torch.Tensor, dict[str, float]]:
        """The loss of one batch (in train mode) and its parts for the log."""

    @abstractmethod
    def validate(self) -> dict[str, Any] | None:
        """This epoch's validation scores (:func:`val_scores`) on the main process; None on the others."""


class FrozenEncoderFeed(Feed):
    """Cached encoder features; the head alone trains, in one process (it takes seconds)."""

    family = "frozen-encoder"
    one_process = True
    # Heads on cached features are small: intra-op threads gain little, and on a busy machine their
    # synchronisation made each step many times slower (measured: docs/benchmark_loop.md).
    single_thread = True
    model: FrozenEncoderDetector

    def prepare(self) -> Part | None:
        self.model.eval()
        batch = self.recipe.eval_batch_size
        self.train_feats, _ = extract_features(self.model, self.build, TRAIN, self.device, batch, self.progress,
                                               num_workers=self.num_workers, precision=self.precision)
        self.val_feats, _ = extract_features(self.model, self.build, VALIDATION, self.device, batch,
                                             self.progress, num_workers=self.num_workers, precision=self.precision)
        if self.part.world > 1:
            # every rank has the features: leave the group together now, so a head training for longer than
            # the group's timeout never keeps a finished rank waiting
            distributed.shutdown()
        return Part() if self.part.main else None  # no collective from here on: the other ranks are done

    def batches(self, epoch: int, rng: np.random.Generator) -> Iterator[Batch]:
        order = rng.permutation(len(self.train_labels))
        for i in range(0, len(order), self.recipe.batch_size):
            idx = torch.as_tensor(order[i:i + self.recipe.batch_size])
            yield Batch(self.train_labels[idx].to(self.device),
                        features={s: v[idx].to(self.device) for s, v in self.train_feats.items()})

    def loss(self, batch: Batch, draws: Draws, amp_dtype: torch.dtype | None) -> tuple[torch.Tensor, dict[str, float]]:
        assert batch.features is not None
        recipe = self.recipe
        out = self.model.head_outputs(batch.features)
        loss = bce_loss(out["logits"], batch.labels, recipe.label_smoothing)
        parts = {"bce": float(loss.detach())}
        if recipe.loss != "bce":
            embeddings = [v for k, v in out.items() if k.startswith("emb_")]
            if len(embeddings) != 2:
                raise TrainError(f"loss {recipe.loss} needs two branch embeddings (MERT and wav2vec2); "
                                f"{self.model.name} has one stream: use --loss bce")
            real = batch.labels == 0
            aux = alignment_loss(embeddings[0][real], embeddings[1][real], recipe.loss.split("+")[1],
                                 margin=recipe.margin, negatives=recipe.negatives, distance=recipe.triplet_distance)
            parts["aux"] = float(aux.detach())
            loss = loss + recipe.aux_weight * aux
        return loss, parts

    @torch.no_grad()
    def validate(self) -> dict[str, Any] | None:
        self.model.eval()
        return val_scores(feature_logits(self.model, self.val_feats, self.recipe.eval_batch_size), self.val_labels)


class _Step(torch.nn.Module):
    """The forward of an end-to-end step (MixUp, then the model) as one module call: DistributedDataParallel
    synchronises the gradients of what runs through its wrapped module's forward."""

    def __init__(self, model: Detector, spec_augment: bool):
        super().__init__()
        self.model = model
        self.augment = spec_augment
        self.generator: torch.Generator | None = None  # SpecAugment's masks, set before each call

    def forward(self, wave: torch.Tensor, lam: float | None, perm: torch.Tensor | None) -> torch.Tensor:
        return self.model(_mix(wave, lam, perm))


class _SpectrogramStep(_Step):
    """Spectrogram, MixUp and SpecAugment on it, classifier."""

    model: SpectrogramDetector

    def forward(self, wave: torch.Tensor, lam: float | None, perm: torch.Tensor | None) -> torch.Tensor:
        x = _mix(self.model.features(wave), lam, perm)
        if self.augment:
            x = self.model.spec_augment(x, generator=self.generator)
        return self.model.classify(x)


def _mix(x: torch.Tensor, lam: float | None, perm: torch.Tensor | None) -> torch.Tensor:
    return lam * x + (1 - lam) * x[perm] if lam is not None and perm is not None else x


class WaveformFeed(Feed):
    """Waveforms, trained end to end (DistributedDataParallel over the launcher's ranks)."""

    family = "waveform"
    step_class: ClassVar[type[_Step]] = _Step

    def prepare(self) -> Part | None:
        recipe, world = self.recipe, self.world
        self.train_clip = self.model.train_clip if recipe.random_crop else self.model.clip
        self.val_rows = distributed.block(len(self.val_labels), recipe.eval_batch_size, self.part.rank, world)
        self.train_waves = preload(self.model, self.build, TRAIN, self.train_clip, recipe.preload_bytes)
        self.val_waves = preload(self.model, self.build, VALIDATION, self.model.clip, recipe.preload_bytes,
                                 rows=self.val_rows if world > 1 else None)
        self.step = self.step_class(self.model, recipe.spec_augment)
        self.runner: torch.nn.Module = self.step
        if world > 1:
            from torch.nn.parallel import DistributedDataParallel

            self.runner = DistributedDataParallel(
                self.step, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        return self.part

    def batches(self, epoch: int, rng: np.random.Generator) -> Iterator[Batch]:
        if self.world > 1:
            return self._rank_batches(epoch, rng)
        return self._batches(rng)

    def _batches(self, rng: np.random.Generator) -> Iterator[Batch]:
        """Shuffled training batches of waveforms (from memory when preloaded, else streamed)."""
        model, clip, preloaded, device, size = self.model, self.train_clip, self.train_waves, self.device, \
            self.recipe.batch_size
        items: Iterator[tuple[int, torch.Tensor]]
        if preloaded is not None:
            items = ((preloaded[i][0], clip.apply(preloaded[i][1], model.sample_rate, rng=rng)
                      if clip.kind == "random" else preloaded[i][1]) for i in rng.permutation(len(preloaded)))
        else:
            rows = shuffled_rows(self.build, TRAIN, rng, self.recipe.shuffle_buffer, ["id", "audio", "label"])
            items = ((int(row["label"]), decode_row(row, model, clip, rng)) for row in rows)
        waves: list[torch.Tensor] = []
        found: list[int] = []
        for label, wave in items:
            waves.append(wave)
            found.append(label)
            if len(waves) == size:
                yield Batch(torch.tensor(found, device=device), wave=torch.stack(waves).to(device))
                waves, found = [], []
        if waves:
            yield Batch(torch.tensor(found, device=device), wave=torch.stack(waves).to(device))

    def _rank_batches(self, epoch: int, rng: np.random.Generator) -> Iterator[Batch]:
        """This rank's slice of each global batch, the global batches being those of a one-process run: the
        shuffle draws the same order from ``rng``; each rank reads the whole order and decodes only its rows.

        Random crops cannot come from ``rng`` as in one process (there they interleave with the streamed
        shuffle, and each rank would have to decode every song to draw them): the window of the song at
        position ``i`` of the epoch is drawn from its own generator seeded with (seed, epoch, i), whatever the
        world size."""
        model, clip, preloaded, recipe, device = self.model, self.train_clip, self.train_waves, self.recipe, \
            self.device
        rank, world = self.part.rank, self.world
        Loader = Callable[[np.random.Generator | None], torch.Tensor]
        items: Iterator[tuple[int, Loader]]
        if preloaded is not None:
            def stored(wave: torch.Tensor) -> Loader:
                return lambda g: clip.apply(wave, model.sample_rate, rng=g) if clip.kind == "random" else wave
            items = ((preloaded[i][0], stored(preloaded[i][1])) for i in rng.permutation(len(preloaded)))
        else:
            def streamed(row: dict[str, Any]) -> Loader:
                return lambda g: decode_row(row, model, clip, g)
            rows = shuffled_rows(self.build, TRAIN, rng, recipe.shuffle_buffer, ["id", "audio", "label"])
            items = ((int(row["label"]), streamed(row)) for row in rows)

        def crop_rng(position: int) -> np.random.Generator | None:
            return np.random.default_rng([recipe.seed, epoch, CROP_STREAM, position]) if clip.kind == "random" \
                else None

        position = 0
        while group := list(itertools.islice(items, recipe.batch_size)):
            lo, hi = distributed.rank_slice(len(group), rank, world)
            weight = (hi - lo) * world / len(group)
            if hi == lo:  # a short last batch with fewer rows than ranks: one row at weight 0 keeps this rank
                lo, hi = 0, 1  # in the gradient all-reduce without changing the average
            waves = [group[k][1](crop_rng(position + k)) for k in range(lo, hi)]
            yield Batch(torch.tensor([group[k][0] for k in range(lo, hi)], device=device),
                        wave=torch.stack(waves).to(device), global_size=len(group), weight=weight)
            position += len(group)

    def loss(self, batch: Batch, draws: Draws, amp_dtype: torch.dtype | None) -> tuple[torch.Tensor, dict[str, float]]:
        """Loss of one batch through the runner (the step itself, or DDP around it). The draws keep their
        order in each stream: MixUp's decision and lambda from ``draws.rng``, then its pairing and SpecAugment
        from ``draws.gen``."""
        assert batch.wave is not None
        recipe = self.recipe
        parts: dict[str, float] = {}
        targets = batch.labels.float()
        lam, perm = None, None
        if recipe.mixup_alpha > 0 and draws.rng.random() < recipe.mixup_p and (batch.global_size or len(targets)) > 1:
            lam = float(draws.rng.beta(recipe.mixup_alpha, recipe.mixup_alpha))
            perm = torch.randperm(len(targets), generator=draws.gen).to(targets.device)
            targets = lam * targets + (1 - lam) * targets[perm]
            parts["mixup_lambda"] = lam
        self.step.generator = draws.gen
        with torch.autocast(device_type=batch.wave.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits = self.runner(batch.wave, lam, perm)
        loss = bce_loss(logits, targets, recipe.label_smoothing)
        parts["bce"] = float(loss.detach())
        return loss, parts

    @torch.no_grad()
    def validate(self) -> dict[str, Any] | None:
        self.model.eval()
        if self.world == 1:
            logits = split_logits(self.model, self.build, VALIDATION, batch_size=self.recipe.eval_batch_size,
                                  progress=False, preloaded=self.val_waves)
            return val_scores(logits, self.val_labels)
        # each rank scores its block of whole eval batches (the batches of one process, so each logit is the
        # one-process logit bit for bit), gathered on rank 0
        if self.val_waves is not None:
            own = wave_logits(self.model, (wave for _, wave in self.val_waves), self.recipe.eval_batch_size)
        else:
            stream = self.build.row_range(VALIDATION, ["id", "audio"]).rows(*self.val_rows)
            own = wave_logits(self.model, (decode_row(row, self.model, self.model.clip, where="validation row")
                                           for row in stream), self.recipe.eval_batch_size)
        gathered = distributed.gather_on_main(own)
        return None if gathered is None else val_scores(gathered, self.val_labels)


class SpectrogramFeed(WaveformFeed):
    """Waveforms to the model's spectrogram, MixUp and SpecAugment there, trained end to end."""

    family = "spectrogram"
    step_class = _SpectrogramStep


def feed_class(detector_class: type[Detector]) -> type[Feed]:
    """The feed of a detector class's training family."""
    if issubclass(detector_class, FrozenEncoderDetector):
        return FrozenEncoderFeed
    if issubclass(detector_class, SpectrogramDetector):
        return SpectrogramFeed
    return WaveformFeed
