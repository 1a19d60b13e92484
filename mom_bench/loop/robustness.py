"""Scoring a detector under a robustness suite: every test split again under each transform of the suite
(codec round trips, pitch, tempo, filters, resampling, noise, gain; :mod:`mom_bench.dataset.transforms`) and each clip
policy it sweeps, compared with the clean evaluation of the same checkpoint.

The built dataset is never changed: each song's clip window is decoded, transformed at the stored rate,
resampled to the model's rate and scored (:func:`mom_bench.loop.inference.decode_row`). For every transform x
split x generator it reports TPR on fakes, FPR on reals, F1 and AUC with bootstrap intervals, their deltas
against clean, and the per-item invariance: mean and max |P(fake, transformed) - P(fake, clean)|, per
transform and per family, judged against ArtifactBench's codec-invariance criterion (arXiv 2604.16254:
mean <= 0.15 and max <= 0.35).

Scores of each (split, transform) are cached under a key naming the checkpoint's hash, the dataset's
fingerprint, the clip, the transform (kind, parameters, seed) and a reduced precision, and frozen-encoder
features of transformed audio go through the feature cache under a key that includes the transform, so an
interrupted run continues where it stopped, a second run only re-computes the metrics and a second head over the
same encoders encodes nothing again.

It runs on the path `extract` uses (:class:`mom_bench.core.runtime.Runtime`): the transforms in the decode
workers of :func:`mom_bench.loop.inference.decoded_batches`, batches and precision as asked, torchrun ranks each
scoring a block of whole batches, or array shards (:func:`score_shard`) that fill the caches for a later run
without shards to gather. Each song's randomness is seeded by the song and the transform
(:func:`mom_bench.dataset.transforms.item_seed`), so workers, batches, ranks and shards change no score.

Outputs, in ``<results folder>/robustness/`` (swapped in whole, beside the clean ``results.json``):
``robustness.json``, ``robustness.md``, ``robustness_predictions.csv`` (``id, split, transform, score``) and the
figures ``robustness_heatmap.png`` (transform x generator: delta TPR, and delta FPR on each split's reals) and
``robustness_codecs.png`` (TPR and FPR over codec bit rates).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mom_bench.core import distributed, settings
from mom_bench.core.errors import RobustnessError, UnsafePath
from mom_bench.core.files import check_replaceable, read_regular, write_atomic
from mom_bench.core.runtime import Runtime
from mom_bench.core.splits import RowStatus
from mom_bench.dataset import read
from mom_bench.dataset.transforms import Suite, Transform, TransformError, item_seed, load_suite
from mom_bench.report import metrics

if TYPE_CHECKING:  # evaluation is imported when a suite runs, keeping it off the import of this module
    from mom_bench.loop.evaluation import EvalConfig, EvalResult

SCHEMA_VERSION = 1
FOLDER = "robustness"
MARKER = "robustness.json"
#: ArtifactBench's codec-invariance criterion (arXiv 2604.16254): an item and its re-encoded copies may differ
#: in P(fake) by at most this much on average, and at most ``INVARIANCE_MAX`` for any item.
INVARIANCE_MEAN = 0.15
INVARIANCE_MAX = 0.35
_STATS = ("tpr", "fpr", "f1", "auc")


@dataclass(frozen=True)
class AppliedTransform:
    """A suite transform bound to the suite's seed: what :func:`mom_bench.loop.inference.split_logits` calls on
    each song (:class:`mom_bench.loop.inference.RowTransform`)."""

    transform: Transform
    suite_seed: int

    @property
    def key(self) -> str:
        # a random transform's output also depends on its name and the suite seed (the per-item seed's inputs)
        t = self.transform
        return f"{t.key}|{t.name}|seed={self.suite_seed}" if t.is_random else t.key

    def __call__(self, samples, sample_rate: int, item_id: str):
        seed = item_seed(self.suite_seed, self.transform.name, item_id)
        return self.transform.apply(samples, sample_rate, seed=seed)


@dataclass
class RobustnessResult:
    out_dir: Path
    document: dict[str, Any]

    def summary(self) -> str:
        """The table `mom-bench evaluate --robustness` prints."""
        return render_markdown(self.document, compact=True)


def select(suite: Suite, names: list[str] | tuple[str, ...] | None) -> list[Transform]:
    """The suite's transforms named in ``names`` (all when None), in suite order; unknown names are refused.
    ``clip:<policy>`` names pick entries of the suite's clip sweep and must be among them."""
    if not names:
        return list(suite.transforms)
    wanted = [n.strip() for n in names if n.strip()]
    clips = {f"clip:{c}" for c in suite.clips}
    for name in wanted:
        if name.startswith("clip:"):
            if name not in clips:
                raise RobustnessError(f"{suite.path}: no clip entry {name!r}; the suite sweeps "
                                      f"{', '.join(sorted(clips)) or 'no clip policies'}")
        else:
            suite.transform(name)  # raises naming the close match and every known name
    return [t for t in suite.transforms if t.name in set(wanted)]


def evaluate_robustness(model: Any, checkpoint: str | Path | None = None, data_dir: str | Path | None = None, *,
                        benchmark: str | None = None, suite: str | Path = "standard",
                        transforms: list[str] | tuple[str, ...] | None = None, clips: bool = True,
                        splits: list[str] | tuple[str, ...] | None = None, out_dir: str | Path | None = None,
                        n_bootstrap: int = 1000, seed: int = 0, threshold: float = 0.5, batch_size: int = 8,
                        device: str | None = None, progress: bool = True, plots: bool = True,
                        log: Callable[[str], None] | None = None, fake_label: str | None = None,
                        clip: str | None = None, calibration_split: str | None = metrics.CALIBRATION_SPLIT,
                        num_workers: int = 0, precision: str = "fp32",
                        ) -> tuple[EvalResult, RobustnessResult]:
    """Evaluate ``model`` as :func:`mom_bench.loop.evaluation.evaluate` does (clean results folder), then score its
    test splits under each transform of ``suite`` (a shipped suite's name or a YAML path; ``transforms``
    picks a subset by name; ``clips=False`` skips the suite's clip-policy sweep) and write the ``robustness/``
    folder inside the results folder. Returns (the clean ``EvalResult``, the :class:`RobustnessResult`).

    ``num_workers`` processes decode and transform songs ahead of the model and ``batch_size`` songs are scored
    at once: neither changes a score (each song's transform is seeded by the song and the transform alone).
    ``precision`` (``bf16``, ...; :mod:`mom_bench.core.precision`) moves scores slightly and is part of every cache
    key. Under a distributed launcher every rank scores its block of each split; :func:`score_shard` does one
    shard of a scheduler's array job, after which this function, run once without shards, gathers them."""
    from mom_bench.loop import evaluation

    config = evaluation.EvalConfig(benchmark=benchmark, splits=splits, out_dir=out_dir, n_bootstrap=n_bootstrap,
                                   seed=seed, threshold=threshold, batch_size=batch_size, device=device,
                                   progress=progress, plots=plots, log=log, fake_label=fake_label, clip=clip,
                                   calibration_split=calibration_split, num_workers=num_workers, precision=precision)
    return run(model, config, suite=suite, transforms=transforms, clips=clips, checkpoint=checkpoint,
               data_dir=data_dir)


@dataclass(frozen=True)
class _Change:
    """One entry of the suite to score: a transform of the samples or a clip policy of the model."""

    name: str
    kind: str
    family: str
    params: dict[str, Any]
    key: str
    clip_text: str
    transform: AppliedTransform | None = None
    clip: Any = None

    def skipped(self, reason: str) -> dict[str, Any]:
        return _skipped(self.name, self.kind, self.family, self.params, self.key, reason)


def _plan(loaded: Suite, chosen: list[Transform], clips: bool, names: list[str] | tuple[str, ...] | None,
          stored_rate: int, model_clip: str) -> list[_Change | dict[str, Any]]:
    """The suite's entries in order: a :class:`_Change` to score, or the row of one that cannot run here."""
    out: list[_Change | dict[str, Any]] = []
    for t in chosen:
        try:
            t.check_sample_rate(stored_rate)
        except TransformError as err:
            out.append(_skipped(t.name, t.kind, t.family, t.params, t.key, str(err)))
            continue
        applied = AppliedTransform(t, loaded.seed)
        out.append(_Change(t.name, t.kind, t.family, t.params, applied.key, model_clip, transform=applied))
    if clips:
        for policy in loaded.clips:
            name = f"clip:{policy}"
            if names and name not in names:
                continue
            out.append(_Change(name, "clip", "clip", {"clip": str(policy)}, f"clip={policy}", str(policy),
                               clip=policy))
    return out


def run(model: Any, config: EvalConfig, *, suite: str | Path = "standard",
        transforms: list[str] | tuple[str, ...] | None = None, clips: bool = True,
        checkpoint: str | Path | None = None, data_dir: str | Path | None = None
        ) -> tuple[EvalResult, RobustnessResult]:
    """:func:`evaluate_robustness` with the evaluation options as one :class:`mom_bench.loop.evaluation.EvalConfig`."""
    import time

    from mom_bench.loop import evaluation
    from mom_bench.loop.inference import model_device

    say, threshold, n_bootstrap, seed = config.say, config.threshold, config.n_bootstrap, config.seed
    progress, plots = config.progress, config.plots
    config.check()
    loaded = load_suite(suite)
    chosen = select(loaded, transforms)
    runtime = config.runtime()
    # The clean results are written with robustness/ at the end, in one swap: a run that fails on the way
    # leaves the previous results folder, robustness/ included, as it was.
    clean = evaluation.run(model, config, checkpoint=checkpoint, data_dir=data_dir, runtime=runtime, write=False)
    check_replaceable(clean.out_dir / FOLDER, MARKER, "robustness folder")  # before the long part
    bench = clean.results["benchmark"]
    assert clean.build is not None
    data = clean.build  # opened and verified once; a fold view reads its base's rows through it
    tests = [s for s in bench["splits"] if s.startswith("test")]
    if not tests:
        raise RobustnessError(f"no test split among the evaluated splits ({', '.join(bench['splits'])}): the "
                              "robustness suite scores test splits")
    detector, source = clean.detector, clean.results["model"]["checkpoint"]
    runtime = runtime.on(model_device(detector))
    stored_rate = int(clean.build.report()["audio"]["sample_rate"])
    clean_rows = clean.predictions[clean.predictions["split"].isin(tests)].reset_index(drop=True)
    cache_id = clean.results["model"].get("checkpoint_sha256")
    scorer = _Scorer(detector, data, bench["fingerprint"], cache_id, runtime, progress)

    entries: list[dict[str, Any]] = []
    scored: list[pd.DataFrame] = []
    say(f"robustness suite {loaded.name} {loaded.version}: {len(chosen)} transforms on {', '.join(tests)} "
        f"(stored audio at {stored_rate} Hz; {runtime.precision}, batches of {runtime.batch_size}, "
        f"{runtime.num_workers} decode workers)")
    t0 = time.perf_counter()
    for change in _plan(loaded, chosen, clips, transforms, stored_rate, str(detector.clip)):
        if isinstance(change, dict):
            entries.append(change)
            continue
        try:
            frame = scorer.score(tests, clean_rows, change)
        except ValueError as err:  # e.g. a model built for one input length (SpecTTTra's fixed patch grid)
            if change.clip is None:
                raise
            entries.append(change.skipped(f"the model does not take this clip: {err}"))
            continue
        entries.append(_entry(change.name, change.kind, change.family, change.params, change.key, clean.report,
                              clean_rows, frame, threshold, n_bootstrap, seed))
        scored.append(frame.assign(transform=change.name))
    say(f"robustness: {scorer.computed} song-transforms computed here, {scorer.cached} read from the score cache "
        f"({time.perf_counter() - t0:.1f} s)")

    document = {
        "schema_version": SCHEMA_VERSION,
        "suite": {"name": loaded.name, "version": loaded.version, "seed": loaded.seed,
                  "file": loaded.path.name},
        "model": clean.results["model"]["name"], "checkpoint": source,
        "benchmark": {k: bench[k] for k in ("name", "version", "fingerprint")},
        "splits": tests, "stored_sample_rate": stored_rate, "model_clip": str(detector.clip),
        "precision": runtime.precision,
        "threshold": threshold, "n_bootstrap": n_bootstrap, "seed": seed,
        "criterion": {"mean_abs_dp": INVARIANCE_MEAN, "max_abs_dp": INVARIANCE_MAX,
                      "source": "ArtifactBench codec invariance (arXiv 2604.16254)"},
        "clean": {s: _split_stats(clean.report["splits"][s]) for s in tests},
        "transforms": entries,
        "families": _families(entries),
    }
    document["summary"] = summary(document)
    out = clean.out_dir / FOLDER
    predictions = pd.concat(scored, ignore_index=True) if scored else pd.DataFrame(
        columns=["id", "split", "transform", "score"])

    def write(tmp: Path) -> None:
        (tmp / MARKER).write_text(json.dumps(document, indent=2), encoding="utf-8")
        (tmp / "robustness.md").write_text(render_markdown(document), encoding="utf-8")
        predictions[["id", "split", "transform", "score"]].to_csv(tmp / "robustness_predictions.csv", index=False,
                                                                   encoding="utf-8")
        if plots:
            from mom_bench.report import plots as plotting

            plotting.robustness_heatmap(document, tmp / "robustness_heatmap.png")
            plotting.codec_lines(document, tmp / "robustness_codecs.png")

    def write_folder(tmp: Path) -> list[str]:
        folder = tmp / FOLDER
        folder.mkdir()
        write(folder)
        return [FOLDER]

    if runtime.part.main:
        evaluation.write_results(clean, also=write_folder, say=say)
    distributed.barrier()  # the other ranks return once the results are written
    return clean, RobustnessResult(out, document)


@dataclass
class ShardResult:
    """What one shard of a robustness run did: song-transforms computed here and read from a cache."""

    part: distributed.Part
    precision: str
    computed: int = 0
    cached: int = 0
    seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)


def score_shard(model: Any, checkpoint: str | Path | None = None, data_dir: str | Path | None = None, *,
                num_shards: int, shard_index: int, benchmark: str | None = None, suite: str | Path = "standard",
                transforms: list[str] | tuple[str, ...] | None = None, clips: bool = True,
                splits: list[str] | tuple[str, ...] | None = None, batch_size: int = 8, num_workers: int = 0,
                precision: str = "fp32", device: str | None = None, progress: bool = True,
                log: Callable[[str], None] | None = None, fake_label: str | None = None,
                clip: str | None = None) -> ShardResult:
    """Shard ``shard_index`` of ``num_shards`` of a robustness run (array jobs of a cluster scheduler): for every
    transform and test split, the block of whole batches of rows that :func:`mom_bench.core.distributed.block`
    gives this shard is scored into the caches (frozen-encoder features into the feature cache, other models'
    scores into the robustness score cache), and nothing else: no clean evaluation, no results folder. Then
    :func:`evaluate_robustness` without shards, at the same ``batch_size`` and ``precision``, reads what the
    shards left, computes whatever is missing and writes the results."""
    import time

    from mom_bench.loop import evaluation
    from mom_bench.loop.inference import model_device, uses_cached_features
    from mom_bench.loop.runs import open_build

    say = log or (lambda msg: None)
    if distributed.launched():
        raise RobustnessError("this process was started by a distributed launcher: its ranks are the shards; run "
                              "evaluate_robustness (mom-bench evaluate --robustness) without --num-shards")
    config = evaluation.EvalConfig(benchmark=benchmark, splits=splits, batch_size=batch_size, device=device,
                                   progress=progress, log=log, fake_label=fake_label, clip=clip,
                                   num_workers=num_workers, precision=precision)
    config.check()
    runtime = Runtime.resolve(device, precision=precision, num_workers=num_workers, batch_size=batch_size,
                              num_shards=num_shards, shard_index=shard_index)
    loaded = load_suite(suite)
    chosen = select(loaded, transforms)
    build = open_build(data_dir, benchmark)
    tests = [s for s in evaluation.chosen_splits(build, splits) if s.startswith("test")]
    if not tests:
        raise RobustnessError(f"no test split among {', '.join(splits or build.splits)}: the robustness suite "
                              "scores test splits")
    detector, source = evaluation.load_for_scoring(model, config, build, runtime, checkpoint)
    runtime = runtime.on(model_device(detector))
    cache_id = evaluation.weights_sha256(detector, source)
    if cache_id is None and not uses_cached_features(detector):
        raise RobustnessError(f"{detector.name} is a Python object with no checkpoint: its scores have no identity "
                              "to be cached under, so shards of its robustness run could not be gathered; save it "
                              "(save_pretrained) and pass the folder, or run without shards")
    stored_rate = int(build.report()["audio"]["sample_rate"])
    scorer = _Scorer(detector, build, build.info["fingerprint"], cache_id, runtime, progress)
    result = ShardResult(runtime.part, runtime.precision)
    say(f"robustness suite {loaded.name} {loaded.version}, {runtime.part.label()}: {len(chosen)} transforms on "
        f"{', '.join(tests)} ({runtime.precision}, batches of {runtime.batch_size}, {runtime.num_workers} decode "
        "workers)")
    t0 = time.perf_counter()
    for change in _plan(loaded, chosen, clips, transforms, stored_rate, str(detector.clip)):
        if isinstance(change, dict):
            result.skipped.append(change["name"])
            continue
        for split in tests:
            try:
                scorer.fill(split, change)
            except ValueError:
                if change.clip is None:
                    raise
                result.skipped.append(change.name)  # the merge reports it skipped, with the model's reason
                break
    result.computed, result.cached = scorer.computed, scorer.cached
    result.seconds = time.perf_counter() - t0
    return result


#: Largest score file read back from the cache (ids and scores of one split: a few MB for 100 000 songs).
SCORES_BYTES = 256 * 1024 * 1024


class _Scorer:
    """Scores test splits under one change at a time, through a per-(split, change) score cache: the whole
    split's scores in ``<key>.json``, and, from the shards of an array job, the scores of each shard's block in
    ``<key>.parts/``, which a later run gathers (computing only the batches no shard left)."""

    def __init__(self, detector: Any, data: read.Build, fingerprint: str, checkpoint_sha: str | None,
                 runtime: Runtime, progress: bool):
        self.detector, self.data, self.fingerprint = detector, data, fingerprint
        self.checkpoint_sha, self.runtime, self.progress = checkpoint_sha, runtime, progress
        self.computed = 0  # song-transforms scored (or encoded) by this process
        self.cached = 0  # song-transforms read from the score cache

    def score(self, splits: list[str], clean_rows: pd.DataFrame, change: _Change) -> pd.DataFrame:
        frames = []
        for split in splits:
            rows = clean_rows[clean_rows["split"] == split].reset_index(drop=True)
            ids = rows["id"].astype(str).tolist()
            probs = self._cached(split, change, ids)
            if not distributed.all_ok(probs is not None):  # every rank scores, or none: they meet in collectives
                probs = None
            if probs is None:
                probs = self._compute(split, change, ids)
                if len(probs) != len(rows):
                    raise RobustnessError(f"{self.data}: split {split} gave {len(probs)} scores under {change.name}, "
                                          f"{len(rows)} clean ones (the build changed during the run?)")
                if self.runtime.part.main:
                    self._store(self._path(split, change), {"ids": ids, "scores": probs.tolist()})
            else:
                self.cached += len(ids)
            frames.append(rows.assign(score=probs))
        return pd.concat(frames, ignore_index=True)

    def fill(self, split: str, change: _Change) -> None:
        """This shard's block of ``split`` under ``change`` into the caches."""
        from mom_bench.loop.inference import fill_features, grid, uses_cached_features

        part, batch_size = self.runtime.part, self.runtime.batch_size
        ids = [str(i) for i in self.data.table(split, ["id"])["id"]]
        if self._cached(split, change, ids) is not None:
            self.cached += len(ids)
            return
        start, stop = part.batch_range(len(ids), batch_size)
        if uses_cached_features(self.detector):
            with self._clip(change.clip):
                for source, source_split in self.data.sources(split):
                    _, n = fill_features(self.detector, source, source_split, self.runtime.device, batch_size,
                                         part=part, num_workers=self.runtime.num_workers,
                                         precision=self.runtime.precision, transform=change.transform,
                                         progress=self.progress, desc=f"{change.name} {source_split}")
                    self.computed += n
            return
        path = self._part_path(split, change)
        assert path is not None  # score_shard refuses a waveform model with no checkpoint hash
        stored = self._read(path, ids)
        if stored is not None and stored["ids"] == ids[start:stop]:
            self.cached += stop - start
            return
        got, probs = self._waves(split, grid(start, stop, batch_size), change)
        self._store(path, {"ids": got, "scores": probs.tolist(), "rows": [start, stop],
                           "batch_size": batch_size})

    def _compute(self, split: str, change: _Change, ids: list[str]) -> np.ndarray:
        from mom_bench.loop.inference import (
            extract_features_counted,
            feature_logits,
            grid,
            split_logits,
            uses_cached_features,
        )

        rt, desc = self.runtime, f"{change.name} {split}"
        with self._clip(change.clip):
            if uses_cached_features(self.detector):
                feats, _, n = extract_features_counted(self.detector, self.data, split, rt.device, rt.batch_size,
                                                       self.progress, desc, change.transform,
                                                       num_workers=rt.num_workers, precision=rt.precision)
                self.computed += n
                return feature_logits(self.detector, feats, device=rt.device).sigmoid().double().numpy()
            if rt.part.distributed:
                start, stop = rt.part.batch_range(len(ids), rt.batch_size)
                self.computed += stop - start
                logits = split_logits(self.detector, self.data, split, batch_size=rt.batch_size,
                                      progress=self.progress, transform=change.transform, desc=desc,
                                      num_workers=rt.num_workers, precision=rt.precision)
                return logits.sigmoid().double().numpy()
            known = self._gathered(split, change, ids)
            todo = [(a, b) for a, b in grid(0, len(ids), rt.batch_size) if any(i not in known for i in ids[a:b])]
            if todo:
                got, probs = self._waves(split, todo, change)
                known.update(zip(got, probs.tolist()))
            missing = [i for i in ids if i not in known]
            if missing:
                raise RobustnessError(f"{self.data}: split {split} has no score for {missing[0]} under {change.name} "
                                      "(the build changed during the run?)")
            return np.asarray([known[i] for i in ids], dtype=np.float64)

    def _waves(self, split: str, ranges: list[tuple[int, int]], change: _Change) -> tuple[list[str], np.ndarray]:
        """Ids and P(fake) of the rows in ``ranges``, decoded and changed by the decode workers."""
        from tqdm.auto import tqdm

        from mom_bench.core import audio
        from mom_bench.loop.inference import decoded_batches, wave_logits

        rt = self.runtime
        got: list[str] = []
        bar = tqdm(total=sum(b - a for a, b in ranges), desc=f"{change.name} {split}", unit="song",
                   disable=not self.progress)

        def waves():
            for ids, decoded, errors in decoded_batches(self.data, split, ranges, self.detector,
                                                        num_workers=rt.num_workers, transform=change.transform,
                                                        device=rt.device, where=f"{split} row"):
                if errors:
                    item, reason = next(iter(errors.items()))
                    raise audio.AudioError(f"{split} row {item}", f"{reason} (a song of the built dataset "
                                           f"{self.data} that could not be decoded)")
                got.extend(ids)
                bar.update(len(ids))
                yield from decoded

        try:
            logits = wave_logits(self.detector, waves(), rt.batch_size, rt.device, rt.precision)
        finally:
            bar.close()
        self.computed += len(got)
        return got, logits.sigmoid().double().numpy()

    @contextmanager
    def _clip(self, clip: Any) -> Iterator[None]:
        saved = self.detector.clip
        if clip is not None:
            self.detector.clip = clip
        try:
            yield
        finally:
            self.detector.clip = saved

    def _key(self, split: str, change: _Change) -> str | None:
        if not self.checkpoint_sha:  # a Python object has no identity to key its scores on
            return None
        parts = {"checkpoint": self.checkpoint_sha, "config": getattr(self.detector, "config", None),
                 "dataset": self.fingerprint, "split": split, "change": change.key, "clip": change.clip_text}
        if self.runtime.precision != "fp32":  # fp32 adds nothing: its keys are those made before precision was one
            parts["precision"] = self.runtime.precision
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]

    def _path(self, split: str, change: _Change) -> Path | None:
        key = self._key(split, change)
        return None if key is None else settings.cache_dir() / "robustness-scores" / f"{key}.json"

    def _part_path(self, split: str, change: _Change) -> Path | None:
        key, part = self._key(split, change), self.runtime.part
        if key is None:
            return None
        return (settings.cache_dir() / "robustness-scores" / f"{key}.parts"
                / f"{part.count:05d}-{part.index:05d}-b{self.runtime.batch_size}.json")

    @staticmethod
    def _read(path: Path, ids: list[str]) -> dict[str, Any] | None:
        """A score file's ``ids`` and ``scores`` when it is sound: a regular file inside its folder, its ids
        among the split's (in order), one finite probability each; None otherwise (then scored again)."""
        try:
            stored = json.loads(read_regular(path, path.parent, SCORES_BYTES))
            got, scores = stored["ids"], np.asarray(stored["scores"], dtype=np.float64)
        except (OSError, ValueError, KeyError, TypeError, UnsafePath):
            return None  # a damaged cache file is scored again and rewritten
        if not isinstance(got, list) or scores.shape != (len(got),) or not np.isfinite(scores).all() \
                or not ((scores >= 0) & (scores <= 1)).all() or not set(got) <= set(ids):
            return None
        return {"ids": got, "scores": scores}

    def _cached(self, split: str, change: _Change, ids: list[str]) -> np.ndarray | None:
        path = self._path(split, change)
        if path is None or not path.is_file():
            return None
        stored = self._read(path, ids)
        return stored["scores"] if stored is not None and stored["ids"] == ids else None

    def _gathered(self, split: str, change: _Change, ids: list[str]) -> dict[str, float]:
        """The scores the shards of an array job left for ``split`` under ``change``, by id."""
        path = self._part_path(split, change)
        folder = None if path is None else path.parent
        known: dict[str, float] = {}
        if folder is None or not folder.is_dir():
            return known
        for part in sorted(folder.glob("*.json")):
            stored = self._read(part, ids)
            if stored is not None:
                known.update(zip(stored["ids"], stored["scores"].tolist()))
        return known

    @staticmethod
    def _store(path: Path | None, value: dict[str, Any]) -> None:
        if path is not None:
            write_atomic(path, json.dumps(value))


# --------------------------------------------------------------------------------------------------
# Metrics of one transform against clean


def _stat(value: Any) -> dict[str, Any]:
    return {"value": value["value"], "ci": value.get("ci")} if isinstance(value, dict) else {"value": value, "ci": None}


def _fpr(specificity: dict[str, Any]) -> dict[str, Any]:
    v, ci = specificity.get("value"), specificity.get("ci")
    return {"value": None if v is None else 1.0 - v,
            "ci": None if not ci or None in ci else [1.0 - ci[1], 1.0 - ci[0]]}


def _split_stats(split_report: Mapping[str, Any]) -> dict[str, Any]:
    o = split_report["overall"]
    return {"n": split_report["n"], "n_fake": split_report["n_fake"], "n_real": split_report["n_real"],
            "tpr": _stat(o["recall"]), "fpr": _fpr(o["specificity"]), "f1": _stat(o["f1"]), "auc": _stat(o["auc"]),
            "per_generator": {g: {"tpr": _stat(m["tpr"]), "f1": _stat(m["f1"])}
                              for g, m in split_report["per_generator"].items()}}


def _delta(after: dict[str, Any] | None, before: dict[str, Any] | None) -> float | None:
    a, b = (after or {}).get("value"), (before or {}).get("value")
    return None if a is None or b is None else float(a) - float(b)


def _invariance(clean: np.ndarray, changed: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    dp = np.abs(changed - clean)
    out: dict[str, Any] = {"mean_abs_dp": float(dp.mean()) if len(dp) else None,
                           "max_abs_dp": float(dp.max()) if len(dp) else None}
    for name, mask in (("fake", labels == 1), ("real", labels == 0)):
        out[f"mean_abs_dp_{name}"] = float(dp[mask].mean()) if mask.any() else None
    return out


def _entry(name: str, kind: str, family: str, params: dict, key: str, clean_report: Mapping[str, Any],
           clean_rows: pd.DataFrame, frame: pd.DataFrame, threshold: float, n_bootstrap: int,
           seed: int) -> dict[str, Any]:
    report = metrics.compute_report(frame, threshold=threshold, n_bootstrap=n_bootstrap, seed=seed)
    paired = frame[["split", "id", "label", "score"]].merge(
        clean_rows[["split", "id", "score"]], on=["split", "id"], suffixes=("", "_clean"), validate="one_to_one")
    splits = {}
    for split, split_report in report["splits"].items():
        stats = _split_stats(split_report)
        before = _split_stats(clean_report["splits"][split])
        stats["delta"] = {k: _delta(stats[k], before[k]) for k in _STATS}
        for g, m in stats["per_generator"].items():
            b = before["per_generator"].get(g, {})
            m["delta_tpr"], m["delta_f1"] = _delta(m["tpr"], b.get("tpr")), _delta(m["f1"], b.get("f1"))
        rows = paired[paired["split"] == split]
        stats["invariance"] = _invariance(rows["score_clean"].to_numpy(float), rows["score"].to_numpy(float),
                                          rows["label"].to_numpy(int))
        splits[split] = stats
    dp = np.abs(paired["score"].to_numpy(float) - paired["score_clean"].to_numpy(float))
    return {"name": name, "kind": kind, "family": family, "params": params, "key": key, "status": RowStatus.OK,
            "splits": splits,
            "invariance": {"mean_abs_dp": float(dp.mean()), "max_abs_dp": float(dp.max()),
                           "passes": bool(dp.mean() <= INVARIANCE_MEAN and dp.max() <= INVARIANCE_MAX)}}


def _skipped(name: str, kind: str, family: str, params: dict, key: str, reason: str) -> dict[str, Any]:
    return {"name": name, "kind": kind, "family": family, "params": params, "key": key, "status": RowStatus.SKIPPED,
            "reason": reason}


def _families(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Per family: the item-weighted mean and the max of |dP| over its transforms, the criterion's verdict,
    and the worst TPR / FPR over its transforms and test splits."""
    out: dict[str, Any] = {}
    for family in dict.fromkeys(e["family"] for e in entries):
        done = [e for e in entries if e["family"] == family and e["status"] == RowStatus.OK]
        if not done:
            out[family] = {"transforms": 0}
            continue
        mean = float(np.mean([e["invariance"]["mean_abs_dp"] for e in done]))
        worst = float(max(e["invariance"]["max_abs_dp"] for e in done))
        tprs = [s["tpr"]["value"] for e in done for s in e["splits"].values() if s["tpr"]["value"] is not None]
        fprs = [s["fpr"]["value"] for e in done for s in e["splits"].values() if s["fpr"]["value"] is not None]
        out[family] = {"transforms": len(done), "mean_abs_dp": mean, "max_abs_dp": worst,
                       "passes_invariance": bool(mean <= INVARIANCE_MEAN and worst <= INVARIANCE_MAX),
                       "worst_tpr": min(tprs) if tprs else None, "worst_fpr": max(fprs) if fprs else None}
    return out


def summary(document: dict[str, Any]) -> dict[str, Any]:
    """The few numbers a leaderboard row carries: worst-case TPR and FPR under codecs, mean and max |dP| under
    codecs with the criterion's verdict, and the transform that hurts TPR most."""
    codec = document["families"].get("codec") or {}
    worst: tuple[float, str] | None = None
    for e in document["transforms"]:
        if e["status"] != RowStatus.OK:
            continue
        for s in e["splits"].values():
            d = s["delta"]["tpr"]
            if d is not None and (worst is None or d < worst[0]):
                worst = (d, e["name"])
    return {"suite": f"{document['suite']['name']}@{document['suite']['version']}",
            "transforms": sum(e["status"] == RowStatus.OK for e in document["transforms"]),
            "codec_worst_tpr": codec.get("worst_tpr"), "codec_worst_fpr": codec.get("worst_fpr"),
            "codec_mean_abs_dp": codec.get("mean_abs_dp"), "codec_max_abs_dp": codec.get("max_abs_dp"),
            "codec_invariant": codec.get("passes_invariance"),
            "most_harmful": worst[1] if worst else None, "most_harmful_delta_tpr": worst[0] if worst else None}


def recomputed_summary(document: dict[str, Any]) -> dict[str, Any]:
    """:func:`summary` of ``document`` with its families made again from its transform rows by
    :func:`_families`, as :func:`run` makes them: what the ``summary`` of a robustness.json must equal (the
    leaderboard refuses a submitted summary that differs, and ``leaderboard validate`` checks stored ones).

    Raises KeyError, TypeError, ValueError or AttributeError on a document that is not in the shape
    :func:`run` writes."""
    return summary({**document, "families": _families(document["transforms"])})


# --------------------------------------------------------------------------------------------------
# Rendering


def _f(value: Any, digits: int = 3, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def render_markdown(document: dict[str, Any], compact: bool = False) -> str:
    """``robustness.md``: per transform and split, TPR / FPR / F1 / AUC with deltas against clean and the
    invariance; then per family; ``compact`` gives the pooled table only (what the CLI prints)."""
    crit = document["criterion"]
    lines = [f"# Robustness: {document['model']} on {document['benchmark']['name']} "
             f"(suite {document['suite']['name']} {document['suite']['version']})", "",
             f"Threshold {document['threshold']}; 95 % bootstrap intervals ({document['n_bootstrap']} resamples). "
             f"Transforms run on the stored audio ({document['stored_sample_rate']} Hz) inside the model's clip "
             f"window ({document['model_clip']}). Invariance: |dP| = |P(fake) transformed - P(fake) clean| per "
             f"item; passes when mean <= {crit['mean_abs_dp']} and max <= {crit['max_abs_dp']} "
             f"({crit['source']}).", ""]
    head = "| transform | split | TPR | dTPR | FPR | dFPR | F1 | dF1 | AUC | dAUC | mean abs dP | max abs dP |"
    lines += [head, "|" + "---|" * 12]
    for s, st in document["clean"].items():
        lines.append(f"| clean | {s} | {_f(st['tpr']['value'])} | | {_f(st['fpr']['value'])} | | "
                     f"{_f(st['f1']['value'])} | | {_f(st['auc']['value'])} | | | |")
    for e in document["transforms"]:
        if e["status"] != RowStatus.OK:
            lines.append(f"| {e['name']} | skipped: {e['reason']} |" + " |" * 10)
            continue
        for s, st in e["splits"].items():
            d, inv = st["delta"], st["invariance"]
            lines.append(f"| {e['name']} | {s} | {_f(st['tpr']['value'])} | {_f(d['tpr'], signed=True)} | "
                         f"{_f(st['fpr']['value'])} | {_f(d['fpr'], signed=True)} | {_f(st['f1']['value'])} | "
                         f"{_f(d['f1'], signed=True)} | {_f(st['auc']['value'])} | {_f(d['auc'], signed=True)} | "
                         f"{_f(inv['mean_abs_dp'])} | {_f(inv['max_abs_dp'])} |")
    lines += ["", "| family | transforms | mean abs dP | max abs dP | invariant | worst TPR | worst FPR |",
              "|---|---|---|---|---|---|---|"]
    for family, f in document["families"].items():
        if not f.get("transforms"):
            continue
        lines.append(f"| {family} | {f['transforms']} | {_f(f['mean_abs_dp'])} | {_f(f['max_abs_dp'])} | "
                     f"{'yes' if f['passes_invariance'] else 'no'} | {_f(f['worst_tpr'])} | {_f(f['worst_fpr'])} |")
    if compact:
        return "\n".join(lines) + "\n"
    lines += ["", "## Per generator (delta TPR against clean)", ""]
    gens = sorted({g for st in document["clean"].values() for g in st["per_generator"]})
    lines += ["| transform | " + " | ".join(gens) + " |", "|---|" + "---|" * len(gens)]
    for e in document["transforms"]:
        if e["status"] != RowStatus.OK:
            continue
        cells = []
        for g in gens:
            found = [st["per_generator"][g]["delta_tpr"] for st in e["splits"].values() if g in st["per_generator"]]
            cells.append(_f(found[0], signed=True) if found else "")
        lines.append(f"| {e['name']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
