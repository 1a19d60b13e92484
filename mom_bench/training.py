"""Training any registry detector on a built benchmark: one loop, resumable runs.

How a detector is fed follows its training family (:mod:`mom_bench.recipes`):

- ``frozen-encoder`` (CLAM family): features of every training and validation song are extracted once (and
  cached), then only the head trains on them. Loss: BCE + ``aux_weight`` x an alignment loss between the two
  branch embeddings of the batch's real songs (:func:`mom_bench.losses.alignment_loss`).
- ``spectrogram`` (SpecTTTra): trained end to end; MixUp and SpecAugment act on the model's spectrogram.
- ``waveform``: trained end to end on waveforms.

The recipe is the registry row's (:func:`mom_bench.models.registry.recipe_for`); a YAML/JSON file or keyword
overrides go on top.

A run folder holds ``train_config.json``, ``train_log.jsonl`` (one line per epoch), ``best/`` and ``last/``
(each a saved detector, loadable with ``mom_bench.load_detector``); ``last/`` also holds the optimizer state
for ``resume`` (:func:`mom_bench.runs.save_checkpoint`). Randomness is drawn from generators seeded with
(seed, epoch), so a resumed run continues exactly as an uninterrupted one would.

A run stopped at any point (kill -9, power loss) resumes to the uninterrupted run. Each epoch ends by swapping
in ``last/``, whose ``trainer_state.json`` records every epoch so far and the best one, then ``best/`` (which
records its epoch), then appending the log line. On resume ``last/`` is the record: the log is rewritten to
agree with it (a torn last line is dropped with a warning; a damaged line before it is an error naming it),
and a ``best/`` one improvement behind is restored from ``last/``. Only a run folder or an empty folder is
trained into, and ``--overwrite`` deletes only the run's own files.

Under a distributed launcher with several processes (``torchrun``, ``accelerate launch``; mom-bench has no
process manager of its own), end-to-end models train with DistributedDataParallel (gloo on the CPU, NCCL on
CUDA). Each epoch's order is drawn exactly as in one process and each step's global batch holds the same rows;
rank ``r`` trains on its contiguous slice (``batch_size / world size`` rows; a short last batch is split as
evenly as possible and each rank's mean loss weighted by its share of the batch, so the averaged gradient is
the one-process gradient). Validation: each rank scores a block of whole eval batches, gathered on rank 0.
Rank 0 alone writes the run folder; the others wait for it there and stop with its error. With augmentation
and dropout off, the weights are a one-process run's up to float rounding; MixUp, SpecAugment, random crops and
dropout are drawn from streams of their own (per rank, or per song for crops), deterministic for a given world
size but not a one-process run's draws. Frozen-encoder models share the feature extraction between the ranks,
then the head trains on rank 0 alone (it takes seconds). A failure inside one rank's step is left to the
launcher, which stops the other ranks (torchrun does).
"""
from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import numpy as np
import torch

from mom_bench import distributed, metrics
from mom_bench._io import check_replaceable, write_atomic, write_json_atomic
from mom_bench.audio import ClipPolicy, full
from mom_bench.dataset import read
from mom_bench.errors import TrainError
from mom_bench.formatting import number
from mom_bench.inference import decode_row, extract_features, feature_logits, split_logits, wave_logits
from mom_bench.losses import alignment_loss, bce_loss, lr_at
from mom_bench.models import registry
from mom_bench.models.base import Detector, FrozenEncoderDetector, SpectrogramDetector, detector_config
from mom_bench.models.checkpoints import CONFIG_NAME
from mom_bench.recipes import Recipe, read_config_file
from mom_bench.rerun import Previous, rerun
from mom_bench.runs import (TRAIN_CONFIG, TRAIN_LOG, CheckpointStateError, default_run_dir, load_optimizer_state,
                            pick_device, read_trainer_state, resolve_data, save_checkpoint)


# --------------------------------------------------------------------------------------------------
# Data


def shuffled_rows(data_dir: Path, split: str, rng: np.random.Generator, buffer: int,
                  columns: list[str] | None = None) -> Iterator[dict[str, Any]]:
    """Rows of ``split`` in a seeded random order: shards in random order, then a shuffle buffer of
    ``buffer`` rows, so memory stays bounded on large datasets (a full shuffle when the split fits)."""
    pool: list[dict[str, Any]] = []
    for shard in rng.permutation(len(read.shards(data_dir, split))):
        for row in read.iter_rows(data_dir, split, columns=columns, shard_index=int(shard)):
            pool.append(row)
            if len(pool) >= buffer:
                yield pool.pop(int(rng.integers(len(pool))))
    while pool:
        yield pool.pop(int(rng.integers(len(pool))))


def preload(model: Detector, data_dir: Path, split: str, clip: ClipPolicy, budget_bytes: int,
            rows: tuple[int, int] | None = None) -> list[tuple[int, torch.Tensor]] | None:
    """Every song of ``split`` (or of its rows ``[start, stop)`` in stored order) decoded once (label, samples
    at the model's rate, cut by ``clip``), when they fit in ``budget_bytes`` of float32; else None and the
    songs are decoded again each epoch (decoding is a large share of an end-to-end epoch on small benchmarks)."""
    durations = read.read_table(data_dir, split, ["duration_s"])["duration_s"]
    start, stop = rows if rows is not None else (0, len(durations))
    seconds = float(durations.iloc[start:stop].sum())
    n = clip.n_samples(model.sample_rate)
    size = 4 * ((stop - start) * n if n is not None and clip.kind != "random" else seconds * model.sample_rate)
    if size > budget_bytes:
        return None
    stored_clip = full() if clip.kind == "random" else clip  # random windows are cut afresh every epoch
    stream = read.RowRange(data_dir, split, ["id", "audio", "label"]).rows(start, stop)  # only this block's row groups
    return [(int(row["label"]), decode_row(row, model, stored_clip)) for row in stream]


@dataclass
class _Batch:
    labels: torch.Tensor
    features: dict[str, torch.Tensor] | None = None
    wave: torch.Tensor | None = None
    #: Under DDP: rows of the whole global batch (this rank holds a slice of it) and the factor on this
    #: rank's mean loss that makes the all-reduced gradient the one-process gradient of the global batch.
    global_size: int | None = None
    weight: float = 1.0


def _feature_batches(feats: dict[str, torch.Tensor], labels: torch.Tensor, order: np.ndarray, batch_size: int,
                     device: torch.device) -> Iterator[_Batch]:
    for i in range(0, len(order), batch_size):
        idx = torch.as_tensor(order[i:i + batch_size])
        yield _Batch(labels[idx].to(device), features={s: v[idx].to(device) for s, v in feats.items()})


def _wave_batches(model: Detector, data_dir: Path, split: str, rng: np.random.Generator, recipe: Recipe,
                  device: torch.device, clip: ClipPolicy,
                  preloaded: list[tuple[int, torch.Tensor]] | None = None) -> Iterator[_Batch]:
    """Shuffled training batches of waveforms (from memory when preloaded, else streamed)."""
    items: Iterator[tuple[int, torch.Tensor]]
    if preloaded is not None:
        items = ((preloaded[i][0], clip.apply(preloaded[i][1], model.sample_rate, rng=rng)
                  if clip.kind == "random" else preloaded[i][1]) for i in rng.permutation(len(preloaded)))
    else:
        rows = shuffled_rows(data_dir, split, rng, recipe.shuffle_buffer, ["id", "audio", "label"])
        items = ((int(row["label"]), decode_row(row, model, clip, rng)) for row in rows)
    waves: list[torch.Tensor] = []
    labels: list[int] = []
    for label, wave in items:
        waves.append(wave)
        labels.append(label)
        if len(waves) == recipe.batch_size:
            yield _Batch(torch.tensor(labels, device=device), wave=torch.stack(waves).to(device))
            waves, labels = [], []
    if waves:
        yield _Batch(torch.tensor(labels, device=device), wave=torch.stack(waves).to(device))


def rank_slice(size: int, rank: int, world: int) -> tuple[int, int]:
    """Rows ``[lo, hi)`` of a global batch of ``size`` rows that rank ``rank`` of ``world`` trains on: contiguous
    and as even as possible (the first ``size % world`` ranks hold one row more; a rank may hold none)."""
    base, extra = divmod(size, world)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (1 if rank < extra else 0)


#: Entropy words that tell the per-epoch random streams of a DDP run apart (seeds [seed, epoch, stream, ...]);
#: a one-process run draws everything from [seed, epoch] as it always has.
_MIX_STREAM, _CROP_STREAM, _TORCH_STREAM = 1, 2, 3


def _ddp_seed(*words: int) -> int:
    """A 63-bit torch seed from entropy words, so each rank and epoch draws a stream of its own."""
    return int(np.random.SeedSequence(list(words)).generate_state(1, np.uint64)[0]) >> 1


def _ddp_wave_batches(model: Detector, data_dir: Path, split: str, rng: np.random.Generator, recipe: Recipe,
                      device: torch.device, clip: ClipPolicy, preloaded: list[tuple[int, torch.Tensor]] | None,
                      rank: int, world: int, epoch: int) -> Iterator[_Batch]:
    """This rank's slice of each global batch, the global batches being those of a one-process run: the
    shuffle draws the same order from ``rng``; each rank reads the whole order and decodes only its rows.

    Random crops cannot come from ``rng`` as in one process (there they interleave with the streamed shuffle,
    and each rank would have to decode every song to draw them): the window of the song at position ``i``
    of the epoch is drawn from its own generator seeded with (seed, epoch, i), whatever the world size."""
    Loader = Callable[[np.random.Generator | None], torch.Tensor]
    items: Iterator[tuple[int, Loader]]
    if preloaded is not None:
        def stored(wave: torch.Tensor) -> Loader:
            return lambda g: clip.apply(wave, model.sample_rate, rng=g) if clip.kind == "random" else wave
        items = ((preloaded[i][0], stored(preloaded[i][1])) for i in rng.permutation(len(preloaded)))
    else:
        def streamed(row: dict[str, Any]) -> Loader:
            return lambda g: decode_row(row, model, clip, g)
        rows = shuffled_rows(data_dir, split, rng, recipe.shuffle_buffer, ["id", "audio", "label"])
        items = ((int(row["label"]), streamed(row)) for row in rows)

    def crop_rng(position: int) -> np.random.Generator | None:
        return np.random.default_rng([recipe.seed, epoch, _CROP_STREAM, position]) if clip.kind == "random" else None

    position = 0
    while group := list(itertools.islice(items, recipe.batch_size)):
        lo, hi = rank_slice(len(group), rank, world)
        weight = (hi - lo) * world / len(group)
        if hi == lo:  # a short last batch with fewer rows than ranks: one row at weight 0 keeps this rank in the
            lo, hi = 0, 1  # gradient all-reduce without changing the average
        waves = [group[k][1](crop_rng(position + k)) for k in range(lo, hi)]
        yield _Batch(torch.tensor([group[k][0] for k in range(lo, hi)], device=device),
                     wave=torch.stack(waves).to(device), global_size=len(group), weight=weight)
        position += len(group)


# --------------------------------------------------------------------------------------------------
# One step of each family


def _head_step(model: FrozenEncoderDetector, batch: _Batch, recipe: Recipe) -> tuple[torch.Tensor, dict[str, float]]:
    assert batch.features is not None
    out = model.head_outputs(batch.features)
    loss = bce_loss(out["logits"], batch.labels, recipe.label_smoothing)
    parts = {"bce": float(loss.detach())}
    if recipe.loss != "bce":
        embeddings = [v for k, v in out.items() if k.startswith("emb_")]
        if len(embeddings) != 2:
            raise TrainError(f"loss {recipe.loss} needs two branch embeddings (MERT and wav2vec2); "
                             f"{model.name} has one stream: use --loss bce")
        real = batch.labels == 0
        aux = alignment_loss(embeddings[0][real], embeddings[1][real], recipe.loss.split("+")[1],
                             margin=recipe.margin, negatives=recipe.negatives, distance=recipe.triplet_distance)
        parts["aux"] = float(aux.detach())
        loss = loss + recipe.aux_weight * aux
    return loss, parts


class _EndToEnd(torch.nn.Module):
    """The forward of an end-to-end step (spectrogram, MixUp, SpecAugment, classifier) as one module call:
    DistributedDataParallel synchronises the gradients of what runs through its wrapped module's forward."""

    def __init__(self, model: Detector, spec_augment: bool):
        super().__init__()
        self.model = model
        self.augment = spec_augment
        self.generator: torch.Generator | None = None  # SpecAugment's masks, set before each call

    def forward(self, wave: torch.Tensor, lam: float | None, perm: torch.Tensor | None) -> torch.Tensor:
        spectrogram = self.model if isinstance(self.model, SpectrogramDetector) else None
        x = spectrogram.features(wave) if spectrogram is not None else wave
        if lam is not None and perm is not None:
            x = lam * x + (1 - lam) * x[perm]
        if spectrogram is None:
            return self.model(x)
        if self.augment:
            x = spectrogram.spec_augment(x, generator=self.generator)
        return spectrogram.classify(x)


def _end_to_end_step(runner: torch.nn.Module, step: _EndToEnd, batch: _Batch, recipe: Recipe, gen: torch.Generator,
                     rng: np.random.Generator, amp_dtype: torch.dtype | None) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss of one batch through ``runner`` (``step`` itself, or DDP around it). The draws keep their order
    in each stream: MixUp's decision and lambda from ``rng``, then its pairing and SpecAugment from ``gen``."""
    assert batch.wave is not None
    parts: dict[str, float] = {}
    targets = batch.labels.float()
    lam, perm = None, None
    if recipe.mixup_alpha > 0 and rng.random() < recipe.mixup_p and (batch.global_size or len(targets)) > 1:
        lam = float(rng.beta(recipe.mixup_alpha, recipe.mixup_alpha))
        perm = torch.randperm(len(targets), generator=gen).to(targets.device)
        targets = lam * targets + (1 - lam) * targets[perm]
        parts["mixup_lambda"] = lam
    step.generator = gen
    with torch.autocast(device_type=batch.wave.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
        logits = runner(batch.wave, lam, perm)
    loss = bce_loss(logits, targets, recipe.label_smoothing)
    parts["bce"] = float(loss.detach())
    return loss, parts


@torch.no_grad()
def _validate(model: Detector, recipe: Recipe, labels: torch.Tensor, val_feats: dict[str, torch.Tensor] | None,
              data_dir: Path, val_waves: list[tuple[int, torch.Tensor]] | None) -> dict[str, Any]:
    model.eval()
    if val_feats is not None:
        logits = feature_logits(model, val_feats, recipe.eval_batch_size)  # type: ignore[arg-type]
    else:
        logits = split_logits(model, data_dir, "validation", batch_size=recipe.eval_batch_size, progress=False,
                              preloaded=val_waves)
    return _val_metrics(logits, labels)


@torch.no_grad()
def _ddp_val_logits(model: Detector, recipe: Recipe, data_dir: Path, rows: tuple[int, int],
                    waves: list[tuple[int, torch.Tensor]] | None) -> torch.Tensor | None:
    """Validation logits under DDP: each rank scores its block of whole eval batches (the batches of one
    process, so each logit is the one-process logit bit for bit), gathered on rank 0 (None elsewhere)."""
    import torch.distributed as dist

    model.eval()
    if waves is not None:
        own = wave_logits(model, (wave for _, wave in waves), recipe.eval_batch_size)
    else:
        stream = read.RowRange(data_dir, "validation", ["id", "audio"]).rows(*rows)
        own = wave_logits(model, (decode_row(row, model, model.clip, where="validation row") for row in stream),
                          recipe.eval_batch_size)
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, own)
    return torch.cat(gathered) if dist.get_rank() == 0 else None


def _val_metrics(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, Any]:
    probs = torch.sigmoid(logits).numpy()
    y = labels.numpy()
    tm = metrics.threshold_metrics(**metrics.confusion(y, probs))
    loss = float(torch.nn.functional.binary_cross_entropy_with_logits(logits, labels.float()))

    def clean(v: Any) -> float | None:
        return None if v is None or not math.isfinite(float(v)) else float(v)

    return {"val_loss": loss, "val_f1": clean(tm["f1"]), "val_accuracy": clean(tm["accuracy"]),
            "val_auc": clean(metrics.roc_auc(y, probs)), "val_n": int(len(y))}


# --------------------------------------------------------------------------------------------------
# Run folders


def _read_saved_config(run_dir: Path) -> dict[str, Any] | None:
    try:
        saved = json.loads((run_dir / TRAIN_CONFIG).read_text())
    except (OSError, ValueError):
        return None
    return saved if isinstance(saved, dict) else None


#: Largest seed accepted: the loop derives per-epoch seeds from it, which must stay within 64 bits.
MAX_SEED = 2**32 - 1
#: Names a run folder may hold besides its own files without being taken for someone else's folder.
_RUN_FOLDER_GUESTS = ("results",)  # `evaluate` writes its default results folder inside the run folder


def check_arguments(epochs: Any = None, seed: Any = None) -> None:
    """Refuse an ``epochs`` or ``seed`` override of the wrong type or range, before any folder is made."""
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1):
        raise TrainError(f"epochs must be an integer >= 1, got {epochs!r}")
    if seed is not None:
        check_seed(seed)


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
    lines = [(number, line) for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace")
                                                         .split("\n"), start=1) if line.strip()]
    entries = []
    for k, (number, line) in enumerate(lines):
        try:
            entry = json.loads(line)
            if not isinstance(entry, dict) or not isinstance(entry.get("epoch"), int):
                raise ValueError("not an epoch record")
        except ValueError as err:
            if k == len(lines) - 1:
                say(f"warning: {path}: line {number} is cut short (the run stopped while writing it); dropped, "
                    "and rewritten from the checkpoint where it holds that epoch")
                break
            raise TrainError(f"{path}: line {number} is not a valid epoch record ({err}); only a torn last line is "
                             "dropped: repair or delete that line, or start again with --overwrite") from None
        entries.append(entry)
    return entries


def _append_log(run_dir: Path, entry: dict[str, Any]) -> None:
    with open(run_dir / TRAIN_LOG, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _recover_history(run_dir: Path, state: dict[str, Any], say: Callable[[str], None]) -> list[dict[str, Any]]:
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


def _repair_best(run_dir: Path, state: dict[str, Any], model: Detector, say: Callable[[str], None]) -> None:
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


def _selection_key(entry: dict[str, Any]) -> tuple[float, float]:
    # Best validation F1; ties (frequent on small validation sets) go to the lower validation loss.
    f1 = entry.get("val_f1")
    return (-1.0 if f1 is None else f1, -entry["val_loss"])


def _labels(data_dir: Path, split: str) -> torch.Tensor:
    return torch.tensor(read.read_table(data_dir, split, ["label"])["label"].astype(int).to_numpy())


# --------------------------------------------------------------------------------------------------
# Processes: one, or the ranks of a distributed launcher

_T = TypeVar("_T")


@dataclass(frozen=True)
class _Ranks:
    """The processes of a run: rank 0 of 1 in one process, else the launcher's ranks (one process group)."""

    rank: int = 0
    world: int = 1

    @classmethod
    def of_launcher(cls) -> "_Ranks":
        part = distributed.part()
        return cls(part.index, part.count) if part.distributed else cls()

    @property
    def main(self) -> bool:
        return self.rank == 0

    def on_main(self, fn: Callable[[], _T]) -> _T:
        """``fn()`` run by rank 0 alone (the one that writes run files), its result shared with every rank.
        The others wait here while rank 0 writes, and stop with rank 0's error instead of waiting for it."""
        if self.world == 1:
            return fn()
        import torch.distributed as dist

        box: list[Any] = [None]
        failure: BaseException | None = None
        if self.main:
            try:
                box = [("ok", fn())]
            except Exception as err:  # shared first, then raised here as itself
                failure, box = err, [("error", f"{type(err).__name__}: {err}")]
        dist.broadcast_object_list(box, src=0)
        if failure is not None:
            raise failure
        status, value = box[0]
        if status == "error":
            raise TrainError(f"rank 0 stopped the run: {value}")
        return value


def _prepare_run(run_dir: Path, spec: registry.ModelSpec, info: dict[str, Any], overrides: dict[str, Any], *,
                 epochs: int | None, resume: bool, overwrite: bool, plain: bool, world: int,
                 say: Callable[[str], None]) -> tuple[str, dict[str, Any]]:
    """What to do with the run folder (rank 0 alone: it may move or delete the run's files) and the recipe:
    ``("reuse", {})`` for a finished identical run, else ``("resume" | "new", recipe values)``.
    ``plain``: the command has no overrides and no --out; ``world``: the processes the model trains in."""
    check_run_folder(run_dir)
    last = run_dir / "last"
    if not resume:
        # Re-running the same command (the Quickstart twice, a job retried after a crash) must not fail:
        # an identical finished run is reused, an identical interrupted one continues. Anything else is refused.
        saved = _read_saved_config(run_dir)
        wanted = registry.recipe_for(spec, overrides).to_dict()
        check_seed(wanted["seed"])
        exists = (run_dir / TRAIN_CONFIG).exists() or last.exists()
        done = exists and saved is not None and int(saved.get("epochs_done", 0)) >= wanted["epochs"] \
            and (run_dir / "best").is_dir()
        # The row's configuration counts too: a registry row whose encoders changed is another run. (Runs
        # made before train_config.json recorded it are compared by the model's own config.)
        row_config = detector_config(spec.full_config())
        same = (saved is not None and saved.get("model") == spec.name
                and saved.get("dataset_fingerprint") == info["fingerprint"] and saved.get("recipe") == wanted
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
        saved = _read_saved_config(run_dir)
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


# --------------------------------------------------------------------------------------------------
# The loop


def train(model_name: str, data_dir: str | Path | None = None, out_dir: str | Path | None = None, *,
          benchmark: str | None = None, config: dict[str, Any] | str | Path | None = None, epochs: int | None = None,
          seed: int | None = None, resume: bool = False, overwrite: bool = False, loss: str | None = None,
          negatives: str | None = None, triplet_distance: str | None = None, device: str | None = None,
          progress: bool = True, log: Callable[[str], None] | None = None, num_workers: int = 0) -> Path:
    """Train ``model_name`` (resolved for the dataset's benchmark) and return the run folder.

    ``config``: a dict or a YAML/JSON file of :class:`~mom_bench.recipes.Recipe` keys; ``epochs``, ``seed``,
    ``loss``, ``negatives``, ``triplet_distance`` override it. ``resume`` continues from ``<run>/last`` with the
    run's saved config (only ``epochs`` may be raised). The same command run again reuses a finished run and
    continues an interrupted one; a different run in the folder is never overwritten unless ``overwrite``.

    Under a distributed launcher (``torchrun``, ``accelerate launch``) with several processes, end-to-end
    models train with DistributedDataParallel over the launcher's ranks, and frozen-encoder models share the
    feature extraction, then train their head on rank 0 alone; only rank 0 writes the run folder.
    ``num_workers`` processes decode ahead of the encoders of a frozen-encoder model (the features do not
    depend on it).
    """
    check_arguments(epochs, seed)
    registry.resolve(model_name, benchmark)  # a mistyped model name is reported before any data is read
    data_dir, info = resolve_data(data_dir, benchmark)
    benchmark = info["benchmark"]
    spec = registry.resolve(model_name, benchmark)
    run_dir = Path(out_dir).expanduser() if out_dir else default_run_dir(benchmark, spec.name)
    ranks = _Ranks.of_launcher()
    dev = pick_device(distributed.local_device(device))
    started = False
    if ranks.world > 1:
        import torch.distributed as dist

        started = not dist.is_initialized()
        distributed.init(dev)
    try:
        result = _train(model_name, spec, benchmark, data_dir, info, run_dir, ranks, dev, config=config,
                        epochs=epochs, seed=seed, resume=resume, overwrite=overwrite, plain=not out_dir,
                        named={"loss": loss, "negatives": negatives, "triplet_distance": triplet_distance},
                        progress=progress and ranks.main, num_workers=num_workers,
                        say=(log or (lambda msg: None)) if ranks.main else (lambda msg: None))
    except BaseException:
        if started:
            distributed.shutdown(wait=False)  # the other ranks may never get here; the launcher stops them
        raise
    if started:
        distributed.shutdown()
    return result


def _train(model_name: str, spec: registry.ModelSpec, benchmark: str, data_dir: Path, info: dict[str, Any],
           run_dir: Path, ranks: _Ranks, dev: torch.device, *, config: dict[str, Any] | str | Path | None,
           epochs: int | None, seed: int | None, resume: bool, overwrite: bool, plain: bool,
           named: dict[str, str | None], progress: bool, say: Callable[[str], None], num_workers: int = 0) -> Path:
    """:func:`train` in each process: ``ranks`` are the launcher's (or one process)."""
    from tqdm.auto import tqdm

    overrides = dict(read_config_file(config) if isinstance(config, (str, Path)) else (config or {}))
    overrides.update({k: v for k, v in {"epochs": epochs, "seed": seed, **named}.items() if v is not None})
    last = run_dir / "last"
    frozen = issubclass(spec.load_class(), FrozenEncoderDetector)
    # Heads on cached features train in seconds: on rank 0 alone, after every rank helped extract the features.
    world = 1 if frozen else ranks.world
    action, recipe_values = ranks.on_main(lambda: _prepare_run(
        run_dir, spec, info, overrides, epochs=epochs, resume=resume, overwrite=overwrite,
        plain=plain and not overrides, world=world, say=say))
    if action == "reuse":
        return run_dir
    resume = action == "resume"
    recipe = Recipe.from_dict(recipe_values)

    model: Detector
    if resume:
        model = registry.load(last)
    else:
        torch.manual_seed(recipe.seed)  # model initialisation, the same in every rank
        model = registry.create(model_name, benchmark)
    say(f"training {model.name} (resolved from {model_name!r} for benchmark {benchmark}) on {data_dir}, device {dev}"
        + (f", DDP over {world} processes ({recipe.batch_size // world} rows of each batch per rank)"
           if world > 1 else ""))
    model.to(dev)
    if recipe.loss != "bce" and len(getattr(model, "streams", ())) < 2:
        raise TrainError(f"loss {recipe.loss} needs two branch embeddings (MERT and wav2vec2); {model.name} has "
                         "one stream (or is not a CLAM-family model): use --loss bce")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise TrainError(f"{model.name} has no trainable parameters")
    optimizer = torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    train_config = {"model": model.name, "requested_model": model_name, "benchmark": benchmark,
                    "benchmark_version": info.get("benchmark_version"), "dataset": str(data_dir),
                    "dataset_fingerprint": info["fingerprint"], "recipe": recipe.to_dict(),
                    "recipe_family": spec.family, "model_config": model.config,
                    "registry_config": detector_config(spec.full_config()), "overrides": overrides,
                    "device": str(dev), "world_size": world, "rank_batch_size": recipe.batch_size // world}
    start_epoch, history = 0, []
    if resume:
        state = load_optimizer_state(last, optimizer)  # every rank reads last/; rank 0 alone repairs the folder
        start_epoch = int(state["epochs_done"])

        def recover() -> list[dict[str, Any]]:
            recovered = _recover_history(run_dir, state, say)
            _repair_best(run_dir, state, model, say)
            if start_epoch >= recipe.epochs:
                say(f"{run_dir} has already trained {start_epoch} epochs (of {recipe.epochs}); nothing to do")
                # a run stopped after its last epoch but before its summary still gets one
                _write_summary(run_dir, train_config, recovered)
            return recovered

        history = ranks.on_main(recover)
        if start_epoch >= recipe.epochs:
            return run_dir
    else:
        def start() -> None:
            run_dir.mkdir(parents=True, exist_ok=True)
            write_json_atomic(run_dir / TRAIN_CONFIG, train_config)
            write_atomic(run_dir / TRAIN_LOG, "")

        ranks.on_main(start)

    if "validation" not in info["splits"] or "train" not in info["splits"]:
        raise TrainError(f"{data_dir} needs train and validation splits (has {', '.join(info['splits'])})")
    amp_dtype = None
    if recipe.amp and dev.type == "cuda":
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)

    train_feats = val_feats = None
    train_waves = val_waves = None
    train_labels = _labels(data_dir, "train")
    val_labels = _labels(data_dir, "validation")
    train_clip = model.train_clip if recipe.random_crop else model.clip
    val_rows = distributed.block(len(val_labels), recipe.eval_batch_size, ranks.rank, world)
    if isinstance(model, FrozenEncoderDetector):
        model.eval()
        train_feats, _ = extract_features(model, data_dir, "train", dev, recipe.eval_batch_size, progress,
                                          num_workers=num_workers)
        val_feats, _ = extract_features(model, data_dir, "validation", dev, recipe.eval_batch_size, progress,
                                        num_workers=num_workers)
        if ranks.world > 1:
            # every rank has the features: leave the group together now, so a head training for longer than
            # the group's timeout never keeps a finished rank waiting
            distributed.shutdown()
        if not ranks.main:
            return run_dir
        ranks = _Ranks()  # no collective from here on: the other ranks are done
    else:
        train_waves = preload(model, data_dir, "train", train_clip, recipe.preload_bytes)
        val_waves = preload(model, data_dir, "validation", model.clip, recipe.preload_bytes,
                            rows=val_rows if world > 1 else None)
    steps_per_epoch = max(1, math.ceil(len(train_labels) / recipe.batch_size))
    best = max(history, key=_selection_key) if history else None
    step_module = _EndToEnd(model, recipe.spec_augment)
    runner: torch.nn.Module = step_module
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        runner = DistributedDataParallel(step_module, device_ids=[dev.index] if dev.type == "cuda" else None)

    threads = torch.get_num_threads()
    if isinstance(model, FrozenEncoderDetector) and dev.type == "cpu":
        # Heads on cached features are small: intra-op threads gain little, and on a busy machine their
        # synchronisation made each step many times slower (measured: docs/benchmark_loop.md).
        torch.set_num_threads(1)
    try:
        for epoch in range(start_epoch, recipe.epochs):
            t0 = time.time()
            rng = np.random.default_rng([recipe.seed, epoch])
            if world > 1:
                # The order comes from `rng` as in one process; the per-batch draws cannot (each rank sees only its
                # slice): MixUp's decision and lambda are drawn once per step for every rank, the pairing,
                # SpecAugment and dropout from streams of each rank.
                step_rng = np.random.default_rng([recipe.seed, epoch, _MIX_STREAM])
                gen = torch.Generator().manual_seed(_ddp_seed(recipe.seed, epoch, _TORCH_STREAM, ranks.rank))
                torch.manual_seed(_ddp_seed(recipe.seed, epoch, _TORCH_STREAM, ranks.rank, 1))
            else:
                step_rng = rng
                gen = torch.Generator().manual_seed(recipe.seed * 100_003 + epoch)
                torch.manual_seed(recipe.seed * 100_003 + epoch)  # dropout
            model.train()
            batches: Iterator[_Batch]
            if train_feats is not None:
                batches = _feature_batches(train_feats, train_labels, rng.permutation(len(train_labels)),
                                           recipe.batch_size, dev)
            elif world > 1:
                batches = _ddp_wave_batches(model, data_dir, "train", rng, recipe, dev, train_clip, train_waves,
                                            ranks.rank, world, epoch)
            else:
                batches = _wave_batches(model, data_dir, "train", rng, recipe, dev, train_clip, train_waves)
            sums: dict[str, float] = {}
            n_steps = 0
            bar = tqdm(batches, total=steps_per_epoch, desc=f"epoch {epoch + 1}/{recipe.epochs}",
                       disable=not progress, unit="batch", leave=False)
            for step, batch in enumerate(bar):
                lr = lr_at(recipe, epoch + step / steps_per_epoch)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                if isinstance(model, FrozenEncoderDetector):
                    step_loss, parts = _head_step(model, batch, recipe)
                else:
                    step_loss, parts = _end_to_end_step(runner, step_module, batch, recipe, gen, step_rng, amp_dtype)
                logged = float(step_loss.detach())
                if world > 1:
                    step_loss = step_loss * batch.weight
                    logged = _global_loss(step_loss, world)
                    parts["bce"] = logged
                if not math.isfinite(logged):  # under DDP every rank sees the same global loss and stops
                    raise TrainError(f"epoch {epoch + 1}, step {step + 1}: the loss is {logged}; lower the "
                                     "learning rate or check the data")
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(step_loss).backward()
                if recipe.grad_clip:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(params, recipe.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                n_steps += 1
                sums["loss"] = sums.get("loss", 0.0) + logged
                for k, v in parts.items():
                    sums[k] = sums.get(k, 0.0) + v
                bar.set_postfix(loss=f"{sums['loss'] / n_steps:.4f}")
            bar.close()
            if world > 1:
                val_logits = _ddp_val_logits(model, recipe, data_dir, val_rows, val_waves)
                scores = None if val_logits is None else _val_metrics(val_logits, val_labels)
            else:
                scores = _validate(model, recipe, val_labels, val_feats, data_dir, val_waves)

            def finish_epoch() -> None:
                nonlocal best
                assert scores is not None
                entry = {"epoch": epoch + 1, **{f"train_{k}": v / max(1, n_steps) for k, v in sums.items()},
                         "lr": optimizer.param_groups[0]["lr"], **scores}
                entry["seconds"] = round(time.time() - t0, 3)
                improved = best is None or _selection_key(entry) > _selection_key(best)
                entry["best"] = improved
                if improved:
                    best = entry
                assert best is not None
                history.append(entry)
                # The order is what makes a stop at any point recoverable: last/ carries the epoch's record and is
                # swapped in first; best/ and the log line follow and are rebuilt from it on resume.
                save_checkpoint(last, model, optimizer, {"epochs_done": epoch + 1, "best_epoch": best["epoch"],
                                                         "history": history})
                if improved:
                    save_checkpoint(run_dir / "best", model, trainer_state={"epoch": epoch + 1, "entry": entry})
                _append_log(run_dir, entry)
                say(f"epoch {epoch + 1}/{recipe.epochs}: loss {entry.get('train_loss', float('nan')):.4f}, "
                    f"val F1 {number(entry['val_f1'])}, val AUC {number(entry['val_auc'])}"
                    + ("  (best so far)" if improved else ""))

            ranks.on_main(finish_epoch)
    finally:
        torch.set_num_threads(threads)

    def summary() -> None:
        final = _write_summary(run_dir, train_config, history)
        say(f"best epoch {final['epoch']} (val F1 {number(final['val_f1'])}); saved to {run_dir / 'best'}")

    ranks.on_main(summary)
    return run_dir


def _global_loss(rank_loss: torch.Tensor, world: int) -> float:
    """The loss of the whole global batch: the mean of the ranks' weighted losses (what DDP does to the
    gradients), so every rank logs, and checks, the one-process value."""
    import torch.distributed as dist

    total = rank_loss.detach().float().reshape(1).clone()
    if total.device.type != "cpu" and dist.get_backend() != "nccl":
        total = total.cpu()
    dist.all_reduce(total)
    return float(total) / world


def _write_summary(run_dir: Path, train_config: dict[str, Any], history: list[dict[str, Any]]) -> dict[str, Any]:
    """train_config.json with the epochs done and the best epoch; returns the best epoch's record."""
    best = max(history, key=_selection_key)
    write_json_atomic(run_dir / TRAIN_CONFIG, {**train_config, "epochs_done": len(history),
                                               "best_epoch": best["epoch"], "best_val_f1": best["val_f1"],
                                               "best_val_loss": best["val_loss"]})
    return best
