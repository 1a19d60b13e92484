"""Training any registry detector on a built benchmark: one loop for every training family, resumable runs.

The loop here (epochs, optimiser, learning-rate schedule, mixed precision, checkpoints, log, resume) is the
same for every detector; what it trains on and the loss of a batch are the family's :class:`~mom_bench.loop.feeds.Feed`
(:mod:`mom_bench.loop.feeds`: cached features for ``frozen-encoder``, waveforms for ``waveform``, the model's
spectrogram for ``spectrogram``).

The recipe is the registry row's (:func:`mom_bench.models.registry.recipe_for`); a YAML/JSON file or keyword
overrides go on top.

A run folder holds ``train_config.json``, ``train_log.jsonl`` (one line per epoch), ``best/`` and ``last/``
(each a saved detector, loadable with ``mom_bench.load_detector``); ``last/`` also holds the optimizer state
for ``resume`` (:func:`mom_bench.loop.runs.save_checkpoint`). Randomness is drawn from generators seeded with
(seed, epoch), so a resumed run continues exactly as an uninterrupted one would.

A run stopped at any point (kill -9, power loss) resumes to the uninterrupted run. Each epoch ends by swapping
in ``last/``, whose ``trainer_state.json`` records every epoch so far and the best one, then ``best/`` (which
records its epoch), then appending the log line. On resume ``last/`` is the record: the log is rewritten to
agree with it (a torn last line is dropped with a warning; a damaged line before it is an error naming it),
and a ``best/`` one improvement behind is restored from ``last/`` (:func:`mom_bench.loop.runs.recover_history`,
:func:`mom_bench.loop.runs.repair_best`). Only a run folder or an empty folder is trained into, and ``--overwrite``
deletes only the run's own files (:func:`mom_bench.loop.runs.prepare_run`). One training writes a run folder at
a time: it holds the folder's writer lock (the advisory lock build and submit take) from its first check to its
summary, and a second one started meanwhile is refused at once.

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

import contextlib
import math
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mom_bench.core import distributed
from mom_bench.core import precision as P
from mom_bench.core.distributed import rank_slice
from mom_bench.core.files import write_atomic, write_json_atomic, writer_lock
from mom_bench.core.formatting import number
from mom_bench.core.recipes import Recipe, read_config_file
from mom_bench.core.runtime import Runtime
from mom_bench.core.splits import TRAIN, VALIDATION
from mom_bench.dataset.read import Build
from mom_bench.loop.feeds import MIX_STREAM, TORCH_STREAM, Draws, Feed, ddp_seed, feed_class
from mom_bench.loop.losses import lr_at
from mom_bench.loop.runs import (
    MAX_SEED,
    TRAIN_CONFIG,
    TRAIN_LOG,
    TrainError,
    append_log,
    check_run_folder,
    check_seed,
    check_world,
    default_run_dir,
    load_optimizer_state,
    open_build,
    prepare_run,
    recover_history,
    repair_best,
    save_checkpoint,
    selection_key,
    write_summary,
)
from mom_bench.models import registry
from mom_bench.models.base import Detector, detector_config

# Names that moved to runs, distributed and feeds with the split of this module, kept importable from here.
__all__ = ["train", "check_arguments", "TrainError", "MAX_SEED", "check_seed", "check_world", "rank_slice"]


def check_arguments(epochs: Any = None, seed: Any = None) -> None:
    """Refuse an ``epochs`` or ``seed`` override of the wrong type or range, before any folder is made."""
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1):
        raise TrainError(f"epochs must be an integer >= 1, got {epochs!r}")
    if seed is not None:
        check_seed(seed)


def _quiet(msg: str) -> None:
    pass


def train(model_name: str, data_dir: str | Path | Build | None = None, out_dir: str | Path | None = None, *,
          benchmark: str | None = None, config: dict[str, Any] | str | Path | None = None, epochs: int | None = None,
          seed: int | None = None, resume: bool = False, overwrite: bool = False, loss: str | None = None,
          negatives: str | None = None, triplet_distance: str | None = None, device: str | None = None,
          progress: bool = True, log: Callable[[str], None] | None = None, num_workers: int = 0,
          precision: str | None = None) -> Path:
    """Train ``model_name`` (resolved for the dataset's benchmark) and return the run folder.

    ``config``: a dict or a YAML/JSON file of :class:`~mom_bench.core.recipes.Recipe` keys; ``epochs``, ``seed``,
    ``loss``, ``negatives``, ``triplet_distance`` override it. ``resume`` continues from ``<run>/last`` with the
    run's saved config (only ``epochs`` may be raised). The same command run again reuses a finished run and
    continues an interrupted one; a different run in the folder is never overwritten unless ``overwrite``.

    Under a distributed launcher (``torchrun``, ``accelerate launch``) with several processes, end-to-end
    models train with DistributedDataParallel over the launcher's ranks, and frozen-encoder models share the
    feature extraction, then train their head on rank 0 alone; only rank 0 writes the run folder.
    ``num_workers`` processes decode ahead of the encoders of a frozen-encoder model (the features do not
    depend on it).

    ``precision`` (``fp32``, ``bf16``, ``fp16`` on CUDA, ``auto``; a recipe key like the others): a frozen-encoder
    model's features are extracted at it (so features cached by ``extract --precision`` are the ones used) and an
    end-to-end model's steps run under autocast at it. None keeps the family's own: fp32, or the recipe's ``amp``
    on a GPU. ``train_config.json`` records the precision used; evaluate says when it scores at another.
    """
    check_arguments(epochs, seed)
    registry.resolve(model_name, benchmark)  # a mistyped model name is reported before any data is read
    build = open_build(data_dir, benchmark)
    spec = registry.resolve(model_name, build.benchmark)
    run_dir = Path(out_dir).expanduser() if out_dir else default_run_dir(build.benchmark, spec.name)
    runtime = Runtime.resolve(device, num_workers=num_workers)
    main = runtime.part.main
    trainer = _Trainer(model_name, spec, build, run_dir, runtime, progress=progress and main,
                       say=(log or _quiet) if main else _quiet)
    try:
        overrides = dict(read_config_file(config) if isinstance(config, (str, Path)) else (config or {}))
        named = {"epochs": epochs, "seed": seed, "loss": loss, "negatives": negatives,
                 "triplet_distance": triplet_distance, "precision": precision}
        overrides.update({k: v for k, v in named.items() if v is not None})
        result = trainer.run(overrides, epochs=epochs, resume=resume, overwrite=overwrite,
                             plain=not out_dir and not overrides)
    except BaseException:
        runtime.leave(wait=False)  # the other ranks may never get here; the launcher stops them
        raise
    runtime.leave()
    return result


class _Trainer:
    """One training run in this process (one of the launcher's ranks, or the only one)."""

    def __init__(self, model_name: str, spec: registry.ModelSpec, build: Build, run_dir: Path, runtime: Runtime, *,
                 progress: bool, say: Callable[[str], None]):
        self.model_name, self.spec, self.build, self.run_dir = model_name, spec, build, run_dir
        self.runtime, self.part, self.device = runtime, runtime.part, runtime.device
        self.progress, self.say = progress, say
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] | None = None

    def run(self, overrides: dict[str, Any], *, epochs: int | None, resume: bool, overwrite: bool,
            plain: bool) -> Path:
        with contextlib.ExitStack() as held:
            return self._run_locked(held, overrides, epochs=epochs, resume=resume, overwrite=overwrite, plain=plain)

    def _lock(self, held: contextlib.ExitStack) -> None:
        """Take the run folder's writer lock (rank 0) until ``held`` closes: two trainings started together into
        one folder would otherwise both pass the checks below and interleave their epochs in one log."""
        check_run_folder(self.run_dir)  # refusals come before the lock makes the folder
        held.enter_context(writer_lock(self.run_dir, "train"))

    def _run_locked(self, held: contextlib.ExitStack, overrides: dict[str, Any], *, epochs: int | None,
                    resume: bool, overwrite: bool, plain: bool) -> Path:
        run_dir, feed_type = self.run_dir, feed_class(self.spec.load_class())
        # Heads on cached features train in seconds: on rank 0 alone, after every rank helped extract the features.
        world = 1 if feed_type.one_process else self.part.world
        if not resume:  # bad recipe values are refused before the lock makes the folder
            wanted = registry.recipe_for(self.spec, overrides)
            check_seed(wanted.seed)
            P.resolve(wanted.precision, self.device)  # fp16 on a CPU, say
        self.part.on_main(lambda: self._lock(held), error=TrainError)
        action, recipe_values = self.part.on_main(lambda: prepare_run(
            run_dir, self.spec, self.build.info, overrides, epochs=epochs, resume=resume, overwrite=overwrite,
            plain=plain, world=world, say=self.say, moved=lambda: self._lock(held)), error=TrainError)
        if action == "reuse":
            return run_dir
        resume = action == "resume"
        self.recipe = Recipe.from_dict(recipe_values)
        self.precision = self._precision()
        self._open_model(resume, world)
        train_config = self._train_config(overrides, world)
        start_epoch = self._begin(resume, train_config)
        if start_epoch is None:
            return run_dir
        if not (self.build.has(VALIDATION) and self.build.has(TRAIN)):
            raise TrainError(f"{self.build} needs train and validation splits (has {', '.join(self.build.splits)})")
        self.amp_dtype = P.torch_dtype(self.precision)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        feed = feed_type(self.model, self.build, self.recipe, self.device, self.part, progress=self.progress,
                         num_workers=self.runtime.num_workers, precision=self.precision)
        part = feed.prepare()
        if part is None:
            return run_dir
        self.part = part
        self._epochs(feed, start_epoch)

        def summary() -> None:
            final = write_summary(run_dir, train_config, self.history)
            self.say(f"best epoch {final['epoch']} (val F1 {number(final['val_f1'])}); saved to {run_dir / 'best'}")

        self.part.on_main(summary, error=TrainError)
        return run_dir

    def _precision(self) -> str:
        """The resolved precision of this run: the recipe's, or the family's own (the recipe's amp on a GPU)."""
        if self.recipe.precision is not None:
            return P.resolve(self.recipe.precision, self.device)
        if self.recipe.amp and self.device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "fp32"

    def _open_model(self, resume: bool, world: int) -> None:
        """The model (from last/ when resuming, else initialised from the recipe's seed) on the device, and
        its optimizer."""
        recipe, benchmark = self.recipe, self.build.benchmark
        model: Detector
        if resume:
            model = registry.load(self.run_dir / "last")
        else:
            torch.manual_seed(recipe.seed)  # model initialisation, the same in every rank
            model = registry.create(self.model_name, benchmark)
        self.say(f"training {model.name} (resolved from {self.model_name!r} for benchmark {benchmark}) on "
                 f"{self.build}, device {self.device}"
                 + (f", DDP over {world} processes ({recipe.batch_size // world} rows of each batch per rank)"
                    if world > 1 else ""))
        model.to(self.device)
        if recipe.loss != "bce" and len(model.streams) < 2:
            raise TrainError(f"loss {recipe.loss} needs two branch embeddings (MERT and wav2vec2); {model.name} has "
                             "one stream (or is not a CLAM-family model): use --loss bce")
        self.params = [p for p in model.parameters() if p.requires_grad]
        if not self.params:
            raise TrainError(f"{model.name} has no trainable parameters")
        self.model = model
        self.optimizer = torch.optim.AdamW(self.params, lr=recipe.lr, weight_decay=recipe.weight_decay)

    def _train_config(self, overrides: dict[str, Any], world: int) -> dict[str, Any]:
        """What train_config.json records of the run."""
        build, recipe = self.build, self.recipe
        return {"model": self.model.name, "requested_model": self.model_name, "benchmark": build.benchmark,
                "benchmark_version": build.benchmark_version, "dataset": str(build.path),
                "dataset_fingerprint": build.fingerprint, "recipe": recipe.to_dict(),
                "recipe_family": self.spec.family, "model_config": self.model.config,
                "registry_config": detector_config(self.spec.full_config()), "overrides": overrides,
                "device": str(self.device), "precision": self.precision, "world_size": world,
                "rank_batch_size": recipe.batch_size // world}

    def _begin(self, resume: bool, train_config: dict[str, Any]) -> int | None:
        """Start the run folder, or restore the optimizer and the epochs done from last/; the first epoch to
        train, or None when a resumed run has trained all its epochs."""
        run_dir, recipe, say = self.run_dir, self.recipe, self.say
        if not resume:
            def start() -> None:
                run_dir.mkdir(parents=True, exist_ok=True)
                write_json_atomic(run_dir / TRAIN_CONFIG, train_config)
                write_atomic(run_dir / TRAIN_LOG, "")

            self.part.on_main(start, error=TrainError)
            return 0
        state = load_optimizer_state(run_dir / "last", self.optimizer)  # every rank reads last/; rank 0 repairs
        start_epoch = int(state["epochs_done"])

        def recover() -> list[dict[str, Any]]:
            recovered = recover_history(run_dir, state, say)
            repair_best(run_dir, state, self.model, say)
            if start_epoch >= recipe.epochs:
                say(f"{run_dir} has already trained {start_epoch} epochs (of {recipe.epochs}); nothing to do")
                # a run stopped after its last epoch but before its summary still gets one
                write_summary(run_dir, train_config, recovered)
            return recovered

        self.history = self.part.on_main(recover, error=TrainError)
        return None if start_epoch >= recipe.epochs else start_epoch

    def _epochs(self, feed: Feed, start_epoch: int) -> None:
        self.best = max(self.history, key=selection_key) if self.history else None
        threads = torch.get_num_threads()
        if feed.single_thread and self.device.type == "cpu":
            torch.set_num_threads(1)
        try:
            for epoch in range(start_epoch, self.recipe.epochs):
                t0 = time.time()
                rng, draws = self._streams(epoch, feed.world)
                self.model.train()
                sums, n_steps = self._steps(feed, epoch, rng, draws)
                scores = feed.validate()
                self.part.on_main(partial(self._record, epoch, t0, sums, n_steps, scores), error=TrainError)
        finally:
            torch.set_num_threads(threads)

    def _streams(self, epoch: int, world: int) -> tuple[np.random.Generator, Draws]:
        """The epoch's random streams: the order from [seed, epoch]; in one process everything else too, under
        DDP MixUp's decision and lambda once per step for every rank (the ranks see only their slice), the
        pairing, SpecAugment and dropout from streams of each rank."""
        seed, rank = self.recipe.seed, self.part.rank
        rng = np.random.default_rng([seed, epoch])
        if world > 1:
            step_rng = np.random.default_rng([seed, epoch, MIX_STREAM])
            gen = torch.Generator().manual_seed(ddp_seed(seed, epoch, TORCH_STREAM, rank))
            torch.manual_seed(ddp_seed(seed, epoch, TORCH_STREAM, rank, 1))
        else:
            step_rng = rng
            gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
            torch.manual_seed(seed * 100_003 + epoch)  # dropout
        return rng, Draws(step_rng, gen)

    def _steps(self, feed: Feed, epoch: int, rng: np.random.Generator, draws: Draws) -> tuple[dict[str, float], int]:
        """One epoch's optimiser steps; the sums of the logged losses and the number of steps."""
        from tqdm.auto import tqdm

        recipe, optimizer, scaler, world = self.recipe, self.optimizer, self.scaler, feed.world
        steps_per_epoch = max(1, math.ceil(len(feed.train_labels) / recipe.batch_size))
        sums: dict[str, float] = {}
        n_steps = 0
        bar = tqdm(feed.batches(epoch, rng), total=steps_per_epoch, desc=f"epoch {epoch + 1}/{recipe.epochs}",
                   disable=not self.progress, unit="batch", leave=False)
        for step, batch in enumerate(bar):
            lr = lr_at(recipe, epoch + step / steps_per_epoch)
            for group in optimizer.param_groups:
                group["lr"] = lr
            step_loss, parts = feed.loss(batch, draws, self.amp_dtype)
            logged = float(step_loss.detach())
            if world > 1:
                step_loss = step_loss * batch.weight
                # the loss of the whole global batch (what DDP does to the gradients): every rank logs, and
                # checks, the one-process value
                logged = distributed.mean_over_ranks(step_loss)
                parts["bce"] = logged
            if not math.isfinite(logged):  # under DDP every rank sees the same global loss and stops
                raise TrainError(f"epoch {epoch + 1}, step {step + 1}: the loss is {logged}; lower the "
                                 "learning rate or check the data")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(step_loss).backward()
            if recipe.grad_clip:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(self.params, recipe.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            n_steps += 1
            sums["loss"] = sums.get("loss", 0.0) + logged
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v
            bar.set_postfix(loss=f"{sums['loss'] / n_steps:.4f}")
        bar.close()
        return sums, n_steps

    def _record(self, epoch: int, t0: float, sums: dict[str, float], n_steps: int,
                scores: dict[str, Any] | None) -> None:
        """End the epoch on rank 0: its log record, the checkpoints, the log line."""
        assert scores is not None
        entry = {"epoch": epoch + 1, **{f"train_{k}": v / max(1, n_steps) for k, v in sums.items()},
                 "lr": self.optimizer.param_groups[0]["lr"], **scores}
        entry["seconds"] = round(time.time() - t0, 3)
        improved = self.best is None or selection_key(entry) > selection_key(self.best)
        entry["best"] = improved
        if improved:
            self.best = entry
        assert self.best is not None
        self.history.append(entry)
        # The order is what makes a stop at any point recoverable: last/ carries the epoch's record and is
        # swapped in first; best/ and the log line follow and are rebuilt from it on resume.
        save_checkpoint(self.run_dir / "last", self.model, self.optimizer,
                        {"epochs_done": epoch + 1, "best_epoch": self.best["epoch"], "history": self.history})
        if improved:
            save_checkpoint(self.run_dir / "best", self.model, trainer_state={"epoch": epoch + 1, "entry": entry})
        append_log(self.run_dir, entry)
        self.say(f"epoch {epoch + 1}/{self.recipe.epochs}: loss {entry.get('train_loss', float('nan')):.4f}, "
                 f"val F1 {number(entry['val_f1'])}, val AUC {number(entry['val_auc'])}"
                 + ("  (best so far)" if improved else ""))
