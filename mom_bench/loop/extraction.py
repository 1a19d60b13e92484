"""`mom-bench extract`: fill the feature cache of a frozen-encoder model (CLAM and its relatives) without
training or scoring, in one process, as ranks of a distributed launcher, or as ``--num-shards`` array jobs
of a cluster scheduler; and the merge check that a sharded extraction is complete.

The encoders' features depend only on the encoders, the clip policy, the precision and the data (the cache
key), not on a trained head: a registry name extracts with the configuration's encoders, so features can
be computed before any head is trained, and ``train``/``evaluate`` then read them from the cache.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mom_bench.core import distributed
from mom_bench.core.errors import ExtractError
from mom_bench.core.runtime import Runtime
from mom_bench.dataset.read import Build
from mom_bench.loop.inference import check_complete, feature_key_parts, fill_features
from mom_bench.loop.runs import open_build
from mom_bench.models import registry
from mom_bench.models.base import FrozenEncoderDetector
from mom_bench.models.cache import FeatureCache


@dataclass
class ExtractResult:
    """What one process did: per split, songs computed here and the cache folder."""

    model: str
    part: distributed.Part
    precision: str
    computed: dict[str, int] = field(default_factory=dict)
    folders: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0


def _model(model: str | Path, benchmark: str, checkpoint: str | Path | None) -> FrozenEncoderDetector:
    if checkpoint is not None or Path(str(model)).expanduser().is_dir():
        detector = registry.load(Path(checkpoint or model).expanduser())
    else:
        detector = registry.create(str(model), benchmark)
    if not isinstance(detector, FrozenEncoderDetector):
        raise ExtractError(f"{detector.name} is not a frozen-encoder model: it has no encoder features to cache "
                           "(train and evaluate read its audio directly; they take --num-workers too)")
    return detector.eval()


def _splits(build: Build, splits: list[str] | tuple[str, ...] | None) -> list[str]:
    if not splits:
        return list(build.splits)
    unknown = [s for s in splits if not build.has(s)]
    if unknown:
        raise ExtractError(f"no split {', '.join(unknown)} in {build} (it has {', '.join(build.splits)})")
    return list(dict.fromkeys(splits))


def _sources(build: Build, splits: list[str]) -> list[tuple[Build, str]]:
    """The built splits whose features ``splits`` need: themselves for a build; for a fold view, each split of
    its base they draw rows from (the features live in the base's cache, shared by the base and its views)."""
    out: list[tuple[Build, str]] = []
    for split in splits:
        out += [(source, name) for source, name in build.sources(split)
                if not any(name == s and source is b for b, s in out)]
    return out


def extract(model: str | Path, data_dir: str | Path | Build | None = None, *, benchmark: str | None = None,
            checkpoint: str | Path | None = None, splits: list[str] | tuple[str, ...] | None = None,
            num_shards: int | None = None, shard_index: int | None = None, batch_size: int = 8,
            num_workers: int = 0, precision: str = "fp32", device: str | None = None, progress: bool = True,
            flush_every: int = 256, log: Callable[[str], None] | None = None) -> ExtractResult:
    """Compute the cached features of ``model`` for ``splits`` (default: every split of the build). For a fold
    view, the splits of its base that ``splits`` draw rows from are extracted (whole, into the base's cache), and
    ``result.computed`` / ``result.folders`` are keyed by those base splits.

    Work is split by :func:`mom_bench.core.distributed.part`: the launcher's ranks, or ``num_shards`` /
    ``shard_index`` for a scheduler's array jobs, each taking a contiguous block of whole batches of every
    split. What is already cached is skipped, so an interrupted part resumes from its last written shard.
    ``batch_size`` must be the same for every part (it sets the blocks) and for the run that reads the
    features back, for them to be bit-identical to a one-process extraction. A cache shard is written every
    ``flush_every`` songs or five minutes, whichever comes first: what a killed process loses at most."""
    say = log or (lambda msg: None)
    if batch_size < 1:
        raise ExtractError(f"--batch-size must be at least 1 (got {batch_size})")
    if flush_every < 1:
        raise ExtractError(f"--flush-every must be at least 1 (got {flush_every})")
    if num_workers < 0:
        raise ExtractError(f"--num-workers must be 0 or more (got {num_workers})")
    runtime = Runtime.resolve(device, precision=precision, num_workers=num_workers, batch_size=batch_size,
                              num_shards=num_shards, shard_index=shard_index)
    build = open_build(data_dir, benchmark)
    detector = _model(model, build.benchmark, checkpoint)
    sources = _sources(build, _splits(build, splits))
    part, dev, resolved = runtime.part, runtime.device, runtime.precision
    result = ExtractResult(detector.name, part, resolved)
    if any(source is not build for source, _ in sources):
        say(f"{build} is a fold view of {sources[0][0]}: extracting the features of the base's splits it reads, "
            "into the base's cache (shared with the base and its other views)")
    say(f"extracting {detector.name} features of {', '.join(s for _, s in sources)} ({part.label()}, {resolved}, "
        f"{num_workers} decode workers, device {dev})")
    t0 = time.perf_counter()
    for source, split in sources:
        folder, computed = fill_features(detector, source, split, dev, runtime.batch_size, part=part,
                                         num_workers=runtime.num_workers, precision=resolved, progress=progress,
                                         cache=FeatureCache(shard_size=flush_every))
        result.computed[split], result.folders[split] = computed, folder
    distributed.barrier()
    result.seconds = time.perf_counter() - t0
    return result


def merge(model: str | Path, data_dir: str | Path | Build | None = None, *, benchmark: str | None = None,
          checkpoint: str | Path | None = None, splits: list[str] | tuple[str, ...] | None = None,
          precision: str = "fp32", device: str | None = None) -> dict[str, Path]:
    """Check that the shards of a sharded extraction together hold every row of ``splits``; raise
    :class:`mom_bench.loop.inference.ExtractionIncomplete` naming the missing shards otherwise. The shards are
    then read as one cache by ``train`` and ``evaluate`` (nothing is copied). For a fold view, the base splits
    it reads are checked (keys of the result)."""
    build = open_build(data_dir, benchmark)
    detector = _model(model, build.benchmark, checkpoint)
    resolved = Runtime.resolve(device, precision=precision, join=False).precision
    folders: dict[str, Path] = {}
    for source, split in _sources(build, _splits(build, splits)):
        folder = FeatureCache().folder(detector, feature_key_parts(source.info, split, None), resolved)
        ids = [str(i) for i in source.table(split, ["id"])["id"]]
        check_complete(folder, ids, split)
        folders[split] = folder
    return folders
