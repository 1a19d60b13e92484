"""`mom-bench matrix`: one detector trained on each of several training sets and scored on each of several test
sets, with the thresholds chosen at home carried to every other set: the cross-corpus protocol of the 2026
generalisation studies (train on one corpus, test on the others; leave one decoder family out; every pool of
reals), run in one command.

A **cell** is (training set, test set). Its detector is the run trained on the training set (trained once per
training set, or reused); its thresholds are the fixed one and those chosen on the training set's validation
split (max F1, FPR 1 % and 5 %), written to disk before any test set is scored and never chosen again; its
numbers are the test set's AUC, EER, and TPR / FPR at each carried threshold, per decoder family and per pool
of reals too (:func:`mom_bench.report.metrics.carried.cell_metrics`). Test rows the training set trained or
validated on (same id, or same group of the same base build, as a fold's moved groups are) are left out of the
cell and counted.

Nothing is done twice: features of a frozen-encoder model go through the feature cache (a view reads its
base's), a finished run is reused by ``train``, and each training set's thresholds and each cell are files
keyed by what they depend on, so an interrupted matrix continues cell by cell and a second run reuses
everything. Under torchrun every step runs on the sharded path of ``extract``, ``train`` and ``evaluate``;
rank 0 writes.

Output folder: ``matrix.json`` (:class:`mom_bench.report.documents.Matrix`, schema
``mom_bench/report/schemas/matrix.schema.json``), ``matrix.md``, ``matrix.png`` (heatmaps of AUC and of FPR at
the carried 5 % threshold), ``rows/<training set>/`` (thresholds and validation predictions), ``cells/`` (each
cell's predictions and numbers), ``runs/`` (the training runs) and ``folds/`` (views made by ``folds=``).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import re
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pandas as pd

from mom_bench.core import distributed, provenance, settings
from mom_bench.core.errors import MatrixError, NotABuiltBenchmark, UnsafePath
from mom_bench.core.files import read_regular, write_atomic, write_json_atomic, writer_lock
from mom_bench.core.runtime import Runtime
from mom_bench.core.splits import TEST_SPLITS, TRAIN, VALIDATION
from mom_bench.dataset import read
from mom_bench.loop.evaluation import score_split
from mom_bench.loop.inference import fill_features
from mom_bench.loop.runs import checkpoint_sha256, load_trained, open_build, train_summary
from mom_bench.models import registry
from mom_bench.models.base import FrozenEncoderDetector
from mom_bench.report import documents
from mom_bench.report.metrics import carried

#: Columns of a cell's predictions file.
PREDICTION_COLUMNS = list(carried.PREDICTION_COLUMNS)
FOLD_KINDS = ("lofo", "logo")

SetLike = str | Path | read.Build


@dataclass
class _Set:
    """A training or test set, opened."""

    name: str
    build: read.Build
    slug: str
    pool: str | None = None
    splits: tuple[str, ...] = ()

    @property
    def base_fingerprint(self) -> str:
        return _base(self.build).fingerprint

    @property
    def held_out(self) -> list[str]:
        """A fold's held-out family (lofo) and generators; [] for a build."""
        if not isinstance(self.build, read.View):
            return []
        fold = self.build.fold
        return ([str(fold["family"])] if fold.get("family") else []) + [str(g) for g in fold.get("held_out") or []]

    def info(self) -> dict[str, Any]:
        b = self.build
        return {"name": self.name, "dataset": str(b.path), "benchmark": b.benchmark, "version": b.benchmark_version,
                "fingerprint": b.fingerprint, "label_fingerprint": b.label_fingerprint,
                "base_fingerprint": self.base_fingerprint, "held_out": self.held_out}


@dataclass
class MatrixResult:
    """What :func:`matrix` wrote: the folder and the ``matrix.json`` document (None on the ranks of a launch
    other than 0, which only helped extract the features)."""

    out: Path
    document: documents.Matrix | None

    def summary(self) -> str:
        from mom_bench.report.matrix_render import summary_text

        return summary_text(self.document) if self.document is not None else ""


def _base(build: read.Build) -> read.Build:
    """The build whose rows (and feature caches) ``build`` reads: itself, or a view's base."""
    return build.base if isinstance(build, read.View) else build


def _slug(name: str, fingerprint: str) -> str:
    return f"{re.sub(r'[^A-Za-z0-9._-]+', '-', name).strip('-.')[:60]}-{fingerprint[:8]}"


def _open(spec: SetLike, what: str) -> read.Build:
    """A build or view: an opened one as it is, a folder, or a benchmark name (its default folder)."""
    if isinstance(spec, read.Build):  # a View is one too
        return open_build(spec, None)
    path = Path(str(spec)).expanduser()
    if not path.exists() and "/" not in str(spec):
        path = settings.default_dataset_dir(str(spec))
        if not path.exists():
            raise NotABuiltBenchmark(f"{what} {spec!r}: no such folder, and no build of a benchmark of that name at "
                                     f"{path}; build it with `mom-bench build --benchmark {spec}`")
    return open_build(path, None)


def _named(builds: list[read.Build]) -> list[tuple[str, read.Build]]:
    """Each set's name: its benchmark, with a number where two sets share one."""
    seen: dict[str, int] = {}
    out = []
    for b in builds:
        n = seen[b.benchmark] = seen.get(b.benchmark, 0) + 1
        out.append((b.benchmark if n == 1 else f"{b.benchmark} ({n})", b))
    return out


def _training_sets(specs: Sequence[SetLike], folds: str | None, keep_base: bool, folds_root: Path,
                   seed: int, say: Callable[[str], None]) -> list[read.Build]:
    builds = [_open(s, "training set") for s in specs]
    if folds is None:
        return builds
    if folds not in FOLD_KINDS:
        raise MatrixError(f"folds must be one of {', '.join(FOLD_KINDS)}, got {folds!r}")
    from mom_bench.dataset import views

    out: list[read.Build] = []
    for base in builds:
        root = folds_root / _slug(base.benchmark, base.fingerprint)

        def make(base: read.Build = base, root: Path = root) -> list[str]:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                made = views.make_folds(base, folds, root, seed=seed)
            for warning in caught:  # a fold that cannot be made, a count control that fell short
                say(f"{base.benchmark}: {warning.message}")
            return [str(v.path) for v in made]

        # rank 0 writes the views (or reuses them); every rank then opens them, verified
        made = [read.Build.open(path) for path in distributed.part().on_main(make, error=MatrixError)]
        say(f"{base.benchmark}: {len(made)} {folds} folds ({', '.join(v.benchmark for v in made)})")
        out += ([base] if keep_base else []) + list(made)
    return out


def _test_sets(specs: Sequence[SetLike], splits: Sequence[str] | None, by_pool: bool) -> list[_Set]:
    out: list[_Set] = []
    for name, build in _named([_open(s, "test set") for s in specs]):
        chosen = tuple(splits) if splits else tuple(s for s in TEST_SPLITS if build.has(s))
        if not chosen:
            raise MatrixError(f"test set {build.path} has no test split (it has {', '.join(build.splits)}); pass "
                              "test_splits")
        missing = [s for s in chosen if not build.has(s)]
        if missing:
            raise MatrixError(f"test set {build.path} has no split {', '.join(missing)} (it has "
                              f"{', '.join(build.splits)})")
        slug = _slug(name, build.fingerprint)
        out.append(_Set(name, build, slug, None, chosen))
        if by_pool:
            pools: set[str] = set()
            for split in chosen:
                if "source" in build.column_names(split):
                    t = build.table(split, ["label", "source"])
                    pools |= {str(p) for p in t.loc[t["label"].astype(int) == 0, "source"].dropna()}
            # the pool's own hash keeps two names that clean to one text ("a b", "a-b") in two folders
            out += [_Set(f"{name} / {p}", build, f"{slug}--{_slug(p[:40], _key(p))}", p, chosen) for p in sorted(pools)]
    return out


def _key(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


#: Largest thresholds.json or cell.json read back from a matrix folder (a cell's numbers are a few hundred kB).
RECORD_BYTES = 64 * 1024 * 1024


def _read_json(path: Path, folder: Path) -> dict[str, Any] | None:
    """A record this command wrote into ``folder`` earlier, or None when it is absent or unusable (then the work
    is done again): a regular file inside the folder, bounded."""
    try:
        value = json.loads(read_regular(path, folder, RECORD_BYTES))
    except (UnsafePath, OSError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _predictions_frame(build: read.Build, frame: pd.DataFrame) -> pd.DataFrame:
    families = build.decoder_families()
    out = frame.rename(columns={"split": "from_split"})
    out["decoder_family"] = [families.get(g, documents.UNSPECIFIED_DECODER_FAMILY) if g != "real" else ""
                             for g in out["generator"]]
    if "source" not in out.columns:
        out["source"] = None
    return out[PREDICTION_COLUMNS]


def _csv(path: Path, frame: pd.DataFrame, write: bool) -> str:
    """The sha256 of ``frame`` as CSV, written to ``path`` when ``write`` (rank 0; every rank gets the hash)."""
    text = frame.to_csv(index=False)
    if write:
        write_atomic(path, text)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _overlap(train: read.Build, same_base: bool) -> tuple[set[str], set[str]]:
    """Ids (and, over the same base build, groups) the training set trained or validated on."""
    ids: set[str] = set()
    groups: set[str] = set()
    for split in (TRAIN, VALIDATION):
        cols = ["id"] + (["group_id"] if same_base and "group_id" in train.column_names(split) else [])
        t = train.table(split, cols)
        ids |= {str(i) for i in t["id"]}
        if "group_id" in t.columns:
            groups |= {str(g) for g in t["group_id"].dropna() if str(g)}
    return ids, groups


def _content_overlap(train: read.Build, test: read.Build) -> set[str]:
    """Ids of ``test``'s rows whose audio ``train``'s train or validation split holds too, under other ids or in
    another build (:func:`mom_bench.dataset.lineage.overlap`: exact hashes or near-duplicate fingerprints)."""
    from mom_bench.dataset import lineage

    def rows(b: read.Build) -> lineage.Rows:
        if isinstance(b, read.View):  # a view's rows in its own splits: the base's lineage columns, re-split
            frames = [b.table(split, ["id"]).assign(split=split) for split in b.splits]
            split_of = {str(i): s for f in frames for i, s in zip(f["id"], f["split"])}
            base = lineage.read_build(b.base.path)
            keep = [k for k, i in enumerate(base.ids) if i in split_of]
            return lineage.Rows(str(b.path), [base.ids[k] for k in keep], [split_of[base.ids[k]] for k in keep],
                                [base.content[k] for k in keep], [base.pcm16k[k] for k in keep],
                                [base.prints[k] for k in keep], base.has_prints)
        return lineage.read_build(b.path)

    return lineage.overlap(rows(test), rows(train).only((TRAIN, VALIDATION))).ids


class _Matrix:
    def __init__(self, model: str, out: Path, runtime: Runtime, *, n_bootstrap: int, seed: int, threshold: float,
                 train_options: dict[str, Any], precision: str | None, progress: bool, say: Callable[[str], None]):
        self.model, self.out, self.runtime = model, out, runtime
        self.n_bootstrap, self.seed, self.threshold = n_bootstrap, seed, threshold
        self.train_options, self.precision, self.progress, self.say = train_options, precision, progress, say
        self.main = runtime.part.main
        self.timing = {"features_s": 0.0, "training_s": 0.0, "scoring_s": 0.0}
        self.reused = {"runs": 0, "thresholds": 0, "cells": 0}
        self.extracted = 0
        #: whether every configuration trained here scores from cached encoder features (set by features())
        self.cached_only = False
        #: also leave out test rows whose audio a training set's train or validation split holds (lineage)
        self.exclude_content = False

    # ---- features --------------------------------------------------------------------------------
    def features(self, training: list[_Set], tests: list[_Set]) -> int:
        """Fill the feature cache for every (set, split) the matrix reads, once; returns the distinct songs."""
        # the built splits behind every split read (a view's are its base's): each is extracted once, whole
        wanted: dict[tuple[str, str], tuple[read.Build, str]] = {}
        songs: set[tuple[str, str]] = set()
        for build, splits in [(s.build, (TRAIN, VALIDATION)) for s in training] + [(s.build, s.splits) for s in tests]:
            for split in splits:
                for source, source_split in build.sources(split):
                    wanted.setdefault((source.fingerprint, source_split), (source, source_split))
                songs |= {(_base(build).fingerprint, str(i)) for i in build.table(split, ["id"])["id"]}
        specs: dict[str, tuple[registry.ModelSpec, str]] = {}  # resolved name -> (spec, a benchmark it is for)
        for s in training:
            spec = registry.resolve(self.model, s.build.benchmark)
            specs.setdefault(spec.name, (spec, s.build.benchmark))
        # only the configurations scored from cached encoder features are built here (for their encoders)
        cached = {name: registry.create(name, bench) for name, (spec, bench) in specs.items()
                  if issubclass(spec.load_class(), FrozenEncoderDetector)}
        self.cached_only = len(cached) == len(specs)
        if not cached:
            return len(songs)
        t0 = time.perf_counter()
        for detector in cached.values():
            precision = self._precision(None)
            for build, split in wanted.values():
                _, computed = fill_features(detector.eval(), build, split, self.runtime.device, self.runtime.batch_size,
                                            num_workers=self.runtime.num_workers, precision=precision,
                                            progress=self.progress, desc=f"features {build.benchmark} {split}")
                self.extracted += computed
            distributed.barrier()
        self.timing["features_s"] += time.perf_counter() - t0
        self.say(f"features: {self.extracted} songs computed, {len(songs)} distinct songs read "
                 f"({self.timing['features_s']:.1f} s)")
        return len(songs)

    def _precision(self, trained_at: str | None) -> str:
        from mom_bench.core import precision as P

        return P.resolve(self.precision or trained_at or "fp32", self.runtime.device)

    # ---- one training set ------------------------------------------------------------------------
    def train(self, s: _Set) -> tuple[Any, dict[str, Any], Path]:
        from mom_bench.loop.training import train

        run_dir = self.out / "runs" / s.slug
        before = checkpoint_sha256(str(run_dir / "best")) if (run_dir / "best").is_dir() else None
        t0 = time.perf_counter()
        device = None if self.runtime.requested is None else str(self.runtime.requested)
        train(self.model, s.build, run_dir, device=device, num_workers=self.runtime.num_workers,
              precision=self.precision, progress=self.progress, log=self.say, **self.train_options)
        distributed.barrier()  # every rank trained together (DDP): rank 0 has written the checkpoint
        after = checkpoint_sha256(str(run_dir / "best"))
        if after is None:
            raise MatrixError(f"{run_dir / 'best'}: the run left no readable checkpoint")
        if before == after:
            self.reused["runs"] += 1
        else:
            self.timing["training_s"] += time.perf_counter() - t0
        spec = registry.resolve(self.model, s.build.benchmark)
        detector, source = load_trained(spec.name, s.build.benchmark, run_dir / "best", self.runtime.device)
        summary: dict[str, Any] = dict(train_summary(source) or {})
        return detector, {"checkpoint_sha256": after, "run": str(run_dir), "model": spec.name,
                          "precision": self._precision(summary.get("precision"))}, run_dir

    def thresholds(self, s: _Set, detector: Any, run: dict[str, Any]) -> dict[str, Any]:
        """Chosen on the training set's validation split and written before any test set is scored."""
        folder = self.out / "rows" / s.slug
        key = _key({"checkpoint": run["checkpoint_sha256"], "set": s.build.label_fingerprint,
                    "threshold": self.threshold, "precision": run["precision"], "batch_size": self.runtime.batch_size})
        saved = _read_json(folder / "thresholds.json", self.out)
        if saved is not None and saved.get("key") == key and (folder / "validation_predictions.csv").is_file():
            self.reused["thresholds"] += 1
            return saved
        t0 = time.perf_counter()
        val = score_split(detector, s.build, VALIDATION, batch_size=self.runtime.batch_size, progress=self.progress,
                          num_workers=self.runtime.num_workers, precision=run["precision"])
        home = carried.home_thresholds(val, threshold=self.threshold, seed=self.seed)
        self.timing["scoring_s"] += time.perf_counter() - t0
        record = {"key": key, "thresholds": home, "validation_predictions": f"rows/{s.slug}/validation_predictions.csv"}
        _csv(folder / "validation_predictions.csv", _predictions_frame(s.build, val), self.main)
        if self.main:
            write_json_atomic(folder / "thresholds.json", record, indent=1)
        chosen = ", ".join(f"{rule} {entry['threshold']:.4g}" for rule, entry in home["thresholds"].items()
                           if entry["threshold"] is not None)
        self.say(f"  thresholds chosen on {s.name} validation ({home['n_real']} reals, {home['n_fake']} fakes) and "
                 f"frozen: {chosen}")
        return record

    # ---- the cells of one training set -------------------------------------------------------------
    def cells(self, s: _Set, detector: Any, run: dict[str, Any], record: dict[str, Any],
              tests: list[_Set]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        scored: dict[str, pd.DataFrame] = {}  # test build fingerprint -> its predictions, scored once per run
        seen: dict[bool, tuple[set[str], set[str]]] = {}  # same base? -> what the training set trained on
        for t in tests:
            same_base = t.base_fingerprint == s.base_fingerprint
            folder = self.out / "cells" / s.slug / t.slug
            key = _key({"run": run["checkpoint_sha256"], "thresholds": record["key"],
                        "train": s.build.label_fingerprint, "test": t.build.label_fingerprint, "splits": t.splits,
                        "pool": t.pool, "n_bootstrap": self.n_bootstrap, "seed": self.seed, "same_base": same_base,
                        **({"content_overlap": True} if self.exclude_content else {})})
            saved = _read_json(folder / "cell.json", self.out)
            if saved is not None and saved.get("key") == key and (folder / "predictions.csv").is_file():
                self.reused["cells"] += 1
                out.append(saved["cell"])
                continue
            t0 = time.perf_counter()
            if t.build.fingerprint not in scored:
                scored[t.build.fingerprint] = pd.concat(
                    [score_split(detector, t.build, split, batch_size=self.runtime.batch_size, progress=self.progress,
                                 num_workers=self.runtime.num_workers, precision=run["precision"])
                     for split in t.splits], ignore_index=True)
            rows = scored[t.build.fingerprint]
            if same_base not in seen:
                seen[same_base] = _overlap(s.build, same_base)
            ids, groups = seen[same_base]
            keep = ~rows["id"].astype(str).isin(ids)
            if groups and "group_id" in t.build.column_names(t.splits[0]):
                test_groups = pd.concat([t.build.table(split, ["id", "group_id"]) for split in t.splits])
                grouped = set(test_groups.loc[test_groups["group_id"].astype(str).isin(groups), "id"].astype(str))
                keep &= ~rows["id"].astype(str).isin(grouped)
            excluded = int((~keep).sum())
            content = 0
            if self.exclude_content:
                same = rows["id"].astype(str).isin(_content_overlap(s.build, t.build)) & keep
                content = int(same.sum())
                keep &= ~same
            rows = rows[keep]
            if t.pool is not None:
                rows = rows[(rows["label"] == 1) | (rows["source"].astype(str) == t.pool)]
            if rows.empty:
                raise MatrixError(f"cell {s.name} x {t.name}: no test row is left once the rows {s.name} trained or "
                                  "validated on are taken out")
            metrics = carried.cell_metrics(cast(documents.FrozenThresholds, record["thresholds"]), rows,
                                           decoder_families=t.build.decoder_families(),
                                           n_bootstrap=self.n_bootstrap, seed=self.seed)
            predictions = f"cells/{s.slug}/{t.slug}/predictions.csv"
            digest = _csv(self.out / predictions, _predictions_frame(t.build, rows), self.main)
            seconds = time.perf_counter() - t0
            self.timing["scoring_s"] += seconds
            cell = {"train": s.name, "test": t.name, **metrics, "excluded_overlap": excluded,
                    **({"excluded_content_overlap": content} if self.exclude_content else {}),
                    "predictions": predictions, "predictions_sha256": digest, "seconds": round(seconds, 3)}
            if self.main:
                write_json_atomic(folder / "cell.json", {"key": key, "cell": cell}, indent=1)
            five = metrics["carried"].get("fpr_5pct")
            self.say(f"  {t.name}: AUC {_num(metrics['auc']['value'])}, FPR at the carried 5 % threshold "
                     f"{_num(five['fpr']['value']) if five else 'n/a'}"
                     + (f" ({excluded} rows left out: {s.name} trained or validated on them)" if excluded else "")
                     + (f" ({content} rows left out: their audio is in {s.name}'s train or validation split)"
                        if content else ""))
            out.append(cell)
        return out


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def default_out(model: str) -> Path:
    """``<runs>/matrix/<model>``."""
    return settings.runs_dir() / "matrix" / re.sub(r"[^A-Za-z0-9._-]+", "-", model)


def matrix(model: str, train_sets: Sequence[SetLike], test_sets: Sequence[SetLike], out_dir: str | Path | None = None,
           *, folds: str | None = None, keep_base: bool = False, by_pool: bool = False,
           test_splits: Sequence[str] | None = None, epochs: int | None = None, train_seed: int | None = None,
           config: str | Path | dict[str, Any] | None = None, fold_seed: int = 0, n_bootstrap: int = 1000,
           seed: int = 0, threshold: float = 0.5, batch_size: int = 8, device: str | None = None,
           num_workers: int = 0, precision: str | None = None, progress: bool = True,
           log: Callable[[str], None] | None = None, exclude_content_overlap: bool = False) -> MatrixResult:
    """Train ``model`` (a registry name) on each of ``train_sets`` and score it on each of ``test_sets``, the
    thresholds of each training set's validation split carried unchanged (see the module docstring).

    Sets are built benchmark folders, views (``mom-bench fold``), opened builds, or benchmark names (their
    default folders). ``folds="lofo"`` / ``"logo"`` replaces each training set by its leave-one-family-out /
    leave-one-generator-out views (made under ``<out>/folds``, count-controlled;
    :mod:`mom_bench.dataset.views`), ``keep_base`` keeps the set itself as a row too. ``by_pool`` adds, per test
    set, one column per pool of reals (all its fakes against that pool's reals). ``test_splits`` (default: every
    test split of each test set) are scored together as one set. ``epochs``, ``train_seed``, ``config`` and
    ``precision`` go to :func:`mom_bench.train`; ``n_bootstrap``, ``seed`` and ``threshold`` to the metrics.
    ``exclude_content_overlap`` also leaves out, in each cell, the test rows whose audio the training set's train
    or validation split holds under another id or in another corpus (exact hashes or near-duplicate
    fingerprints, :mod:`mom_bench.dataset.lineage`), counted as the cell's ``excluded_content_overlap``."""
    from mom_bench.report.metrics import check_options

    say = log or (lambda msg: None)
    check_options(threshold, n_bootstrap, seed)
    if not train_sets:
        raise MatrixError("no training set: name at least one (a build folder, a view or a benchmark)")
    if not test_sets:
        raise MatrixError("no test set: name at least one (a build folder, a view or a benchmark)")
    registry.resolve(model, None)  # a mistyped model name is reported before any data is read
    out = Path(out_dir).expanduser() if out_dir else default_out(model)
    runtime = Runtime.resolve(device, precision=precision or "fp32", num_workers=num_workers, batch_size=batch_size)
    started = time.perf_counter()
    with writer_lock(out, "matrix") if runtime.part.main else contextlib.nullcontext():
        training = [_Set(name, b, _slug(name, b.fingerprint))
                    for name, b in _named(_training_sets(train_sets, folds, keep_base, out / "folds", fold_seed, say))]
        for s in training:
            missing = [x for x in (TRAIN, VALIDATION) if not s.build.has(x)]
            if missing:
                raise MatrixError(f"training set {s.build.path} has no {' or '.join(missing)} split: a row needs both "
                                  "(thresholds are chosen on validation)")
        tests = _test_sets(test_sets, test_splits, by_pool)
        say(f"matrix of {model}: {len(training)} training sets x {len(tests)} test sets -> {out}")
        options = {k: v for k, v in {"epochs": epochs, "seed": train_seed, "config": config}.items() if v is not None}
        job = _Matrix(model, out, runtime, n_bootstrap=n_bootstrap, seed=seed, threshold=threshold,
                      train_options=options, precision=precision, progress=progress, say=say)
        job.exclude_content = exclude_content_overlap
        distinct = job.features(training, tests)
        alone: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
        if runtime.part.distributed and job.cached_only:
            # every rank helped extract the features; heads train and score from the cache in seconds on one
            # process, so the others leave now (as `train` has them do) and rank 0 carries on by itself
            distributed.shutdown()
            if not runtime.part.main:
                return MatrixResult(out, None)
            alone = distributed.alone()
        with alone:
            document = _rows_and_cells(job, model, training, tests, distinct, started)
        reused = job.reused
        if reused["cells"] == len(document["cells"]) and reused["runs"] == len(training) and not job.extracted:
            say(f"everything was reused: {reused['runs']} runs, {reused['thresholds']} threshold sets, "
                f"{reused['cells']} cells, no features computed")
        elif any(reused.values()):
            say(f"reused {reused['runs']} runs, {reused['thresholds']} threshold sets, {reused['cells']} cells")
    distributed.barrier()
    runtime.leave()
    return MatrixResult(out, document)


def _rows_and_cells(job: _Matrix, model: str, training: list[_Set], tests: list[_Set], distinct: int,
                    started: float) -> documents.Matrix:
    """Train (or reuse) each row, choose its thresholds, score its cells; the matrix document, written."""
    from mom_bench.report import matrix_render

    say, runtime = job.say, job.runtime
    rows: list[dict[str, Any]] = []
    cells: list[dict[str, Any]] = []
    for k, s in enumerate(training, 1):
        say(f"[{k}/{len(training)}] {s.name}")
        detector, run, run_dir = job.train(s)
        record = job.thresholds(s, detector, run)
        rows.append({**s.info(), "model": run["model"], "run": str(run_dir),
                     "checkpoint_sha256": run["checkpoint_sha256"], "thresholds": record["thresholds"],
                     "validation_predictions": record["validation_predictions"]})
        cells += job.cells(s, detector, run, record, tests)
    timing = {k: round(v, 3) for k, v in job.timing.items()}
    timing["total_s"] = round(time.perf_counter() - started, 3)
    document = {
        "schema_version": documents.MATRIX_SCHEMA_VERSION,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "mom_bench_version": provenance.mom_bench_version(), "git_commit": provenance.git_commit(),
        "libraries": provenance.library_versions(),
        "model": {"requested": model, "batch_size": runtime.batch_size, "precision": job.precision},
        "threshold": job.threshold, "n_bootstrap": job.n_bootstrap, "seed": job.seed,
        "definitions": carried.DEFINITIONS,
        "training_sets": rows,
        "test_sets": [{**t.info(), "splits": list(t.splits), "pool": t.pool} for t in tests],
        "cells": cells,
        "timing": {**timing, "songs_extracted": job.extracted, "distinct_songs": distinct, "reused": job.reused},
    }
    matrix_render.check_matrix(document)
    if job.main:
        matrix_render.write_outputs(cast(documents.Matrix, document), job.out)
    return cast(documents.Matrix, document)

