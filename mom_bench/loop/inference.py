"""Scoring songs with a detector: decoding rows of a built dataset, frozen-encoder features through the cache,
and the one batched logits loop used by validation, `evaluate` and `predict`.

Every song is decoded on its own with the model's clip policy and batched only for speed; detectors score
each item independently of its batch-mates (``mom-bench models --check`` tests this), so a song's score does
not depend on the batch size.
"""
from __future__ import annotations

import bisect
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from mom_bench.core import audio, distributed
from mom_bench.core import precision as P
from mom_bench.core.audio import ClipPolicy
from mom_bench.core.distributed import Part
from mom_bench.core.errors import ExtractionIncomplete, NotADetector, PartRecordError, UnsafePath
from mom_bench.core.files import read_regular, write_json_atomic
from mom_bench.dataset import read
from mom_bench.models.base import FrozenEncoderDetector
from mom_bench.models.cache import CacheInputError, FeatureCache, stack


def model_device(model: Any) -> torch.device:
    """The device of a model's parameters (the CPU for a parameterless module or a plain callable)."""
    params = getattr(model, "parameters", None)
    first = next(iter(params()), None) if callable(params) else None
    return first.device if first is not None else torch.device("cpu")


def uses_cached_features(model: Any) -> bool:
    """Whether the model is scored and trained from cached frozen-encoder features."""
    return isinstance(model, FrozenEncoderDetector)


class RowTransform(Protocol):
    """A deterministic change of a song's audio before it is scored (a robustness transform).

    ``key`` names it completely (kind, parameters, seed), for the feature cache; calling it with the samples
    of the model's clip window at their stored rate and the row's id returns the changed samples at that
    rate (any length)."""

    @property
    def key(self) -> str: ...

    def __call__(self, samples: torch.Tensor, sample_rate: int, item_id: str) -> torch.Tensor: ...


def decode_row(row: dict[str, Any], model: Any, clip: ClipPolicy, rng: np.random.Generator | None = None,
               where: str = "row", transform: RowTransform | None = None) -> torch.Tensor:
    """A dataset row's audio as mono float32 at the model's rate, cut by ``clip``.

    With ``transform``, the clip window is decoded at the stored rate, transformed there (where a platform
    would re-encode or filter it), resampled to the model's rate and cut to the policy's length again (a
    time stretch changes the length)."""
    name = f"{where} {row['id']}"
    if transform is None:
        return audio.load(row["audio"], model.sample_rate, clip=clip, rng=rng, name=name).samples
    decoded = audio.load(row["audio"], None, clip=clip, rng=rng, name=name)
    changed = transform(decoded.samples, decoded.sample_rate, str(row["id"]))
    at_rate = audio.resample(changed, decoded.sample_rate, model.sample_rate)
    return clip.apply(at_rate, model.sample_rate, already_cropped=True).contiguous()


def batches(items: Iterable[torch.Tensor], batch_size: int) -> Iterator[torch.Tensor]:
    """Equal-length tensors stacked into batches of at most ``batch_size``."""
    pending: list[torch.Tensor] = []
    for item in items:
        pending.append(item)
        if len(pending) >= batch_size:
            yield torch.stack(pending)
            pending = []
    if pending:
        yield torch.stack(pending)


@torch.inference_mode()
def wave_logits(model: Any, waves: Iterable[torch.Tensor], batch_size: int = 8,
                device: torch.device | None = None, precision: str = "fp32") -> torch.Tensor:
    """Logits ``[N]`` (float32, on the CPU) of equal-length waveforms, in batches: the one scoring loop.
    ``precision`` (resolved, :mod:`mom_bench.core.precision`) runs the model under autocast."""
    device = device or model_device(model)
    out = []
    for batch in batches(waves, batch_size):
        with P.autocast(precision, device):
            logits = torch.as_tensor(model(batch.to(device)))
        if tuple(logits.shape) not in ((len(batch),), (len(batch), 1)):  # [B, 2] must not pass as 2B songs
            raise NotADetector(f"{getattr(model, 'name', type(model).__name__)} gave logits of shape "
                               f"{list(logits.shape)} for a batch of {len(batch)} songs; a detector returns one "
                               f"logit per song, shape [{len(batch)}]")
        out.append(logits.float().reshape(-1).cpu())
    return torch.cat(out) if out else torch.zeros(0)


@torch.inference_mode()
def feature_logits(model: FrozenEncoderDetector, features: dict[str, torch.Tensor], batch_size: int = 256,
                   device: torch.device | None = None) -> torch.Tensor:
    """Logits ``[N]`` of cached features ``{stream: [N, ...]}`` through the model's head."""
    device = device or model_device(model)
    n = len(next(iter(features.values()))) if features else 0
    out = [model.head_forward({k: v[i:i + batch_size].to(device) for k, v in features.items()}).float().cpu()
           for i in range(0, n, batch_size)]
    return torch.cat(out) if out else torch.zeros(0)


# --------------------------------------------------------------------------------------------------
# Decoding ahead of compute


def grid(start: int, stop: int, batch_size: int) -> list[tuple[int, int]]:
    """Row ranges of the batches ``[start, stop)`` is cut into (``start`` on the batch grid)."""
    return [(i, min(i + batch_size, stop)) for i in range(start, stop, batch_size)]


class DecodedBatches(torch.utils.data.IterableDataset):
    """Batches of a split's rows, decoded with a clip policy (and changed by a transform): what the decode
    workers of a DataLoader produce. Worker ``w`` of ``W`` decodes batches ``w, w + W, ...``; the DataLoader
    takes one batch from each worker in turn, so batches arrive in order whatever the number of workers and
    every batch holds the same rows. Each worker reads its rows through its own parquet reader and decoder
    (the build's :meth:`~mom_bench.dataset.read.Build.row_range`, so a fold view reads its base's rows), with one
    intra-op thread (the parallelism is the workers)."""

    def __init__(self, build: read.Build, split: str, ranges: list[tuple[int, int]], sample_rate: int,
                 clip: ClipPolicy, transform: RowTransform | None = None, where: str = "row"):
        super().__init__()
        self.build, self.split, self.ranges = build, split, ranges
        self.sample_rate, self.clip, self.transform, self.where = sample_rate, clip, transform, where

    def __iter__(self) -> Iterator[tuple[int, list[str], list[torch.Tensor], dict[str, str]]]:
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        if info is not None:
            torch.set_num_threads(1)
        reader = self.build.row_range(self.split, ["id", "audio"])
        for j in range(worker, len(self.ranges), workers):
            ids: list[str] = []
            waves: list[torch.Tensor] = []
            errors: dict[str, str] = {}
            for row in reader.rows(*self.ranges[j]):
                ids.append(str(row["id"]))
                try:
                    waves.append(decode_row(row, self, self.clip, where=self.where, transform=self.transform))
                except audio.AudioError as err:
                    errors[str(row["id"])] = err.reason
            yield j, ids, waves, errors


def decoded_batches(data_dir: Path | read.Build, split: str, ranges: list[tuple[int, int]], model: Any, *,
                    num_workers: int = 0, transform: RowTransform | None = None, device: torch.device | None = None,
                    where: str = "row") -> Iterator[tuple[list[str], list[torch.Tensor], dict[str, str]]]:
    """``(ids, waveforms, {id: error})`` per row range, in order; with ``num_workers`` > 0 decoded ahead in
    that many worker processes (pinned memory when the model is on CUDA)."""
    build = read.Build.open(data_dir, verify=False)
    source = DecodedBatches(build, split, ranges, model.sample_rate, model.clip, transform, where)
    if num_workers <= 0 or not ranges:
        stream: Iterable = iter(source)
    else:
        stream = torch.utils.data.DataLoader(
            source, batch_size=None, num_workers=min(num_workers, len(ranges)),
            pin_memory=device is not None and device.type == "cuda")
    for expected, (j, ids, waves, errors) in enumerate(stream):
        if j != expected:  # pragma: no cover - the DataLoader's in-order contract
            raise RuntimeError(f"decode workers returned batch {j} where {expected} was due")
        yield ids, waves, errors


def _damaged(data_dir: Path, split: str, item: str, reason: str) -> audio.AudioError:
    # Not "rebuild it": the build's fingerprints were checked when it was opened, and a rebuild of MoM costs
    # days; a stored song that passed them and still does not decode points at the decoder first.
    return audio.AudioError(f"{split} row {item}", f"{reason} (a song of the built dataset {data_dir} that could "
                            "not be decoded; `mom-bench info` checks the decoder)")


# --------------------------------------------------------------------------------------------------
# Frozen-encoder features


def feature_key_parts(info: dict[str, Any], split: str, transform: RowTransform | None) -> dict[str, Any]:
    key_parts: dict[str, Any] = {"dataset": info["fingerprint"], "split": split}
    if transform is not None:
        key_parts["transform"] = transform.key
    return key_parts


def fill_features(model: FrozenEncoderDetector, data_dir: Path | read.Build, split: str, device: torch.device,
                  batch_size: int, *, part: Part | None = None, num_workers: int = 0, precision: str = "fp32",
                  transform: RowTransform | None = None, progress: bool = True,
                  desc: str | None = None, cache: FeatureCache | None = None) -> tuple[Path, int]:
    """Compute into the feature cache the features of this process's part of ``split`` that are not there
    yet (``part``: default the launcher's rank, else the whole split); returns the cache folder and the
    number of songs computed. A part that finishes is recorded under ``<folder>/parts/``, so a merge can
    name the parts that did not. ``cache`` sets where and how often shards are written.

    ``split`` is a split of a build: a fold view's features are those of its base's splits
    (:meth:`~mom_bench.dataset.read.Build.sources`), filled one by one by :func:`extract_features`."""
    build = read.Build.open(data_dir, verify=False)  # a Build is used as it is; a bare folder is read once
    if isinstance(build, read.View):
        raise ValueError(f"{build}: {split} of a fold view has no cache of its own; fill its base's splits "
                         f"({', '.join(s for _, s in build.sources(split))} of {build.base})")
    part = part or distributed.part()
    precision = P.resolve(precision, device)
    cache = cache or FeatureCache()
    folder = cache.open(model, feature_key_parts(build.info, split, transform), precision)
    ids = [str(i) for i in build.table(split, ["id"])["id"]]
    start, stop = part.batch_range(len(ids), batch_size)
    stored = cache.stored_ids(folder, set(ids[start:stop]))
    todo = [r for r in grid(start, stop, batch_size) if any(i not in stored for i in ids[r[0]:r[1]])]
    model.to(device)
    label = "" if part.whole else f" ({part.label()})"
    try:
        cache.fill(model, folder, decoded_batches(build, split, todo, model, num_workers=num_workers,
                                                  transform=transform, device=device, where=f"{split} row"),
                   total=sum(b - a for a, b in todo), device=device, precision=precision, skip=stored,
                   progress=progress, desc=(desc or f"features {split}") + label,
                   tag="" if part.whole else f"p{part.index:05d}of{part.count:05d}-", batch_size=batch_size)
    except CacheInputError as err:
        raise _damaged(build.path, split, err.item, err.reason) from None
    if not part.whole:
        write_json_atomic(folder / "parts" / f"{part.count:05d}-{part.index:05d}.json",
                          {"split": split, "index": part.index, "count": part.count, "rows": [start, stop],
                           "batch_size": batch_size, "songs": stop - start})
    return folder, cache.computed


#: Bounds of a ``parts/`` record: its size in bytes, and how many parts and rows per batch it may name (a
#: merge walks every part of every plan, so ``count`` bounds its time).
RECORD_BYTES, MAX_PARTS, MAX_BATCH = 64 * 1024, 100_000, 1 << 30


def _record_field(path: Path, record: dict, name: str, lo: int, hi: int) -> int:
    if name not in record:
        raise PartRecordError(f"part record {path}: field {name} is missing")
    value = record[name]
    if type(value) is not int or not lo <= value <= hi:  # bool and float (1e12) are not counts
        raise PartRecordError(f"part record {path}: field {name} is {repr(value)[:60]}, "
                              f"must be an integer in [{lo}, {hi}]")
    return value


def _part_records(folder: Path, n_rows: int, split: str) -> list[dict[str, Any]]:
    """The ``parts/`` records of ``folder``, each checked against the split it describes (``n_rows`` rows):
    other jobs write them into a cache that may be shared, so every field is validated before it is used."""
    records = []
    for path in sorted((folder / "parts").glob("*.json")):
        try:
            record = json.loads(read_regular(path, folder, RECORD_BYTES))
        except UnsafePath as err:
            raise PartRecordError(f"part record {err}") from None
        except (ValueError, RecursionError) as err:
            raise PartRecordError(f"part record {path} is not valid JSON ({str(err)[:100]})") from None
        if not isinstance(record, dict):
            raise PartRecordError(f"part record {path} is a JSON {type(record).__name__}, must be an object")
        if record.get("split") != split:
            raise PartRecordError(f"part record {path}: field split is {repr(record.get('split'))[:60]}, "
                                  f"must be {split!r}")
        count = _record_field(path, record, "count", 1, MAX_PARTS)
        index = _record_field(path, record, "index", 0, count - 1)
        batch_size = _record_field(path, record, "batch_size", 1, MAX_BATCH)
        start, stop = distributed.block(n_rows, batch_size, index, count)
        if record.get("rows") != [start, stop]:
            raise PartRecordError(f"part record {path}: field rows is {repr(record.get('rows'))[:60]}, must be "
                                  f"[{start}, {stop}] for part {index} of {count} in batches of {batch_size} "
                                  f"of the {n_rows} rows of split {split}")
        _record_field(path, record, "songs", stop - start, stop - start)
        records.append({"count": count, "index": index, "batch_size": batch_size})
    return records


def check_complete(folder: Path, ids: list[str], split: str) -> None:
    """Raise :class:`ExtractionIncomplete` unless every id has features in ``folder``, naming the shard files
    that failed verification (their songs count as missing) and the parts of a sharded extraction whose rows
    are missing (from the part records each finished part leaves)."""
    cache = FeatureCache()
    stored = cache.stored_ids(folder)
    missing = [i for i, item in enumerate(ids) if item not in stored]
    if not missing:
        return
    records = _part_records(folder, len(ids), split)
    plans = sorted({(r["count"], r["batch_size"]) for r in records})
    damaged = [f"not counted: {path} ({reason})" for path, reason in cache.damaged.items()]
    gone = "gone or damaged" if damaged else "gone"
    lines = []
    if len(plans) > 1:  # each plan cuts the rows differently: none of them can say which rows a part owes
        ran = ", ".join(f"--num-shards {c} --batch-size {b}" for c, b in plans)
        lines.append(f"{len(missing)} of {len(ids)} songs missing (first: {ids[missing[0]]}); the parts were run "
                     f"with different --num-shards/--batch-size ({ran})")
        plans = []
    for count, batch_size in plans:
        done = {r["index"] for r in records if (r["count"], r["batch_size"]) == (count, batch_size)}
        for index in range(count):
            start, stop = distributed.block(len(ids), batch_size, index, count)
            lost = bisect.bisect_left(missing, stop) - bisect.bisect_left(missing, start)
            if lost:
                state = f"finished but its features are {gone}" if index in done else "not run or not finished"
                lines.append(f"shard {index} of {count} (rows {start}..{stop - 1}): {lost} of {stop - start} "
                             f"songs missing, {state}")
    if not lines:
        lines.append(f"{len(missing)} of {len(ids)} songs missing (first: {ids[missing[0]]}); no sharded run "
                     "recorded its parts")
    raise ExtractionIncomplete(f"features of split {split} are incomplete in {folder}:\n  "
                               + "\n  ".join(damaged + lines)
                               + "\nrun the missing shards again (same --num-shards, --batch-size and options), "
                               "then merge")


def extract_features(model: FrozenEncoderDetector, data_dir: Path | read.Build, split: str, device: torch.device,
                     batch_size: int, progress: bool = True, desc: str | None = None,
                     transform: RowTransform | None = None, *, num_workers: int = 0,
                     precision: str = "fp32") -> tuple[dict[str, torch.Tensor], list[dict[str, Any]]]:
    """Frozen-encoder features ``{stream: [n, L, H]}`` of every row of ``split`` (decoded with the model's
    clip policy), in stored row order, plus each row's id/label/generator.

    Features go through the on-disk cache (:class:`mom_bench.models.cache.FeatureCache`, keyed on the
    dataset fingerprint, split, encoders, clip, precision and ``transform``), so a second run, an ablation of
    the head or an evaluation of another epoch never runs the encoders again. Under a distributed launcher
    each rank computes its block of rows (:mod:`mom_bench.core.distributed`), all wait for each other, and every
    rank then reads the whole split from the shared cache.

    For a fold view, each split of its base that ``split`` draws rows from is filled whole, in the base's cache
    (keyed on the base's fingerprint and split), and the view's rows are picked from there: a song is encoded
    once for a build and every view of it."""
    feats, meta, _ = extract_features_counted(model, data_dir, split, device, batch_size, progress, desc, transform,
                                              num_workers=num_workers, precision=precision)
    return feats, meta


def extract_features_counted(model: FrozenEncoderDetector, data_dir: Path | read.Build, split: str,
                             device: torch.device, batch_size: int, progress: bool = True, desc: str | None = None,
                             transform: RowTransform | None = None, *, num_workers: int = 0, precision: str = "fp32"
                             ) -> tuple[dict[str, torch.Tensor], list[dict[str, Any]], int]:
    """:func:`extract_features` and the number of songs this process encoded (0 when all came from the cache)."""
    build = read.Build.open(data_dir, verify=False)
    meta = build.table(split, ["id", "label", "generator"]).to_dict("records")
    part = distributed.part()
    if part.distributed:
        distributed.init(device)  # the barrier below needs the group (a no-op when the caller joined it)
    sources = build.sources(split)
    filled = [fill_features(model, source, source_split, device, batch_size, part=part, num_workers=num_workers,
                            precision=precision, transform=transform, progress=progress,
                            desc=desc if len(sources) == 1 else None)
              for source, source_split in sources]
    folders = [folder for folder, _ in filled]
    distributed.barrier()
    ids = [str(m["id"]) for m in meta]
    feats: dict[str, Any] = {}
    for folder in folders:
        feats.update(FeatureCache().load(folder, set(ids) - set(feats)))
    if len(feats) < len(ids):
        for folder, (source, source_split) in zip(folders, sources):
            check_complete(folder, [str(i) for i in source.table(source_split, ["id"])["id"]], source_split)
    return stack([feats[i] for i in ids]), meta, sum(n for _, n in filled)


def split_logits(model: Any, data_dir: Path | read.Build, split: str, *, batch_size: int = 8, progress: bool = True,
                 preloaded: list[tuple[int, torch.Tensor]] | None = None,
                 transform: RowTransform | None = None, desc: str | None = None, num_workers: int = 0,
                 precision: str = "fp32") -> torch.Tensor:
    """Logits ``[n]`` of every row of ``split`` in stored row order: frozen-encoder models from cached
    features, others from waveforms decoded with the model's clip policy (or ``preloaded`` ones), each
    changed by ``transform`` when one is given (see :func:`decode_row`), decoded ahead by ``num_workers``
    processes. Under a distributed launcher each rank scores its block of rows and every rank gets all.

    A song that cannot be decoded stops the run with its id: a built benchmark holds only decodable audio,
    so this means the folder is damaged."""
    from tqdm.auto import tqdm

    device = model_device(model)
    precision = P.resolve(precision, device)
    build = read.Build.open(data_dir, verify=False)
    if uses_cached_features(model):
        feats, _ = extract_features(model, build, split, device, batch_size, progress,
                                    desc=desc or f"features {split}", transform=transform,
                                    num_workers=num_workers, precision=precision)
        return feature_logits(model, feats, device=device)
    if preloaded is not None and transform is None and precision == "fp32":
        return wave_logits(model, (wave for _, wave in preloaded), batch_size, device)
    part = distributed.part()
    if part.distributed:
        distributed.init(device)  # the gather below needs the group
    start, stop = part.batch_range(build.num_rows(split), batch_size)
    bar = tqdm(total=stop - start, desc=(desc or f"scoring {split}") + ("" if part.whole else f" ({part.label()})"),
               unit="song", disable=not progress)

    def waves() -> Iterator[torch.Tensor]:
        for ids, decoded, errors in decoded_batches(build, split, grid(start, stop, batch_size), model,
                                                    num_workers=num_workers, transform=transform, device=device,
                                                    where=f"{split} row"):
            if errors:
                item, reason = next(iter(errors.items()))
                raise _damaged(build.path, split, item, reason)
            bar.update(len(ids))
            yield from decoded

    try:
        logits = wave_logits(model, waves(), batch_size, device, precision)
    finally:
        bar.close()
    return distributed.gather_in_order(logits) if part.distributed else logits
