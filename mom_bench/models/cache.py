"""On-disk cache of frozen-encoder features, so heads train and evaluate without re-running the encoders.

Features of a song depend on the audio (the dataset fingerprint names it), on the encoders (id + revision,
or a hash of random weights), on their input rate and normalisation, and on the clip policy. All of that
goes into the cache key, so changing any of it selects a different cache folder: stale features are never
served.

Layout: ``<root>/<key>/key.json`` (the key in readable form) and ``shard-*.safetensors``, each holding one
tensor per stream (``[n, L, H]``, float32) and, in its metadata, the item ids, the cache key, the batch size
it was computed with and a sha256 of all of these and of its tensors (:func:`shard_checksum`). Shards are
written to a temporary name and renamed, under a name unique to the writing process, so several processes
(ranks of a distributed job, array jobs of a scheduler) can fill one cache folder at once; an interrupted run
leaves only whole shards, and the next run computes only what is missing. ``parts/`` records which parts of a
sharded extraction finished (see :mod:`mom_bench.loop.inference`).

A cache may be shared by many users and its files copied around (docs/scaling.md), so a shard is verified,
not trusted, before any of it is used: only regular files inside the folder are read (a FIFO, device or link
out of the folder is skipped); the header is checked first (the key must be this folder's, the streams the
key's, one float32 row per id), so a file whose header does not fit is never read further; then the
checksum, which catches rows permuted against their ids and bytes changed in place. A shard that fails is
reported with its path and the reason, and its songs are computed again; the file itself is left for the
user to inspect or delete (it may be another user's).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path

import torch

from mom_bench.core import settings
from mom_bench.core.errors import CacheInputError, CacheWriteError, UnsafePath
from mom_bench.core.files import opened_regular, read_regular, write_atomic

log = logging.getLogger(__name__)

# Bumped when what is stored (pooling, dtype, layout) changes, so old caches are not read as new ones.
# 2: shards record their key, batch size and checksum (format-1 shards have none, so could not be verified).
CACHE_FORMAT = 2
#: Largest ``key.json`` read back (a key is a few hundred bytes; the bound only keeps a planted file cheap).
KEY_BYTES = 64 * 1024

Features = dict[str, torch.Tensor]
Loader = Callable[[], torch.Tensor]


def cache_key(model, key_parts: dict | None = None, precision: str = "fp32") -> dict:
    """Everything that determines the cached features, as a JSON-able dict. Reduced precision is part of it
    (fp32 adds nothing: an fp32 key is the one made before precision was a choice)."""
    key = {"format": CACHE_FORMAT, "encoders": model.feature_key(), "clip": str(model.clip),
           "sample_rate": model.sample_rate, **(key_parts or {})}
    if precision != "fp32":
        key["precision"] = precision
    return key


def _digest(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:24]


class DamagedShard(Exception):
    """A feature shard that must not be served; the message says why. Internal: readers report it and
    compute the shard's songs again."""


def shard_checksum(meta: dict[str, str], tensors: dict[str, torch.Tensor]) -> str:
    """sha256 of a shard's metadata (all but the checksum itself) and of its tensors in name order, each with
    its name, dtype and shape. The ids are in it, so ids rotated against the rows change it, like a row
    dropped or a byte changed."""
    h = hashlib.sha256(json.dumps({k: v for k, v in meta.items() if k != "sha256"}, sort_keys=True).encode())
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        h.update(json.dumps([name, str(t.dtype), list(t.shape)]).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().data)
    return h.hexdigest()


def _read_key(folder: Path) -> object:
    return json.loads(read_regular(folder / "key.json", folder, KEY_BYTES))


def _folder_key(folder: Path) -> str:
    """``folder``'s key as each of its shards records it, from its ``key.json``, which must match the folder's
    name: a shard stamped with a wrong key would be refused by every reader."""
    try:
        key = _read_key(folder)
    except (UnsafePath, ValueError, RecursionError) as err:
        raise CacheWriteError(f"cannot read the key of feature cache folder {folder} ({str(err)[:200]})") from None
    if not isinstance(key, dict) or _digest(key) != folder.name:
        raise CacheWriteError(f"{folder / 'key.json'} does not hold the key its folder is named after; open the "
                              "folder with FeatureCache.open (which rewrites it) before filling it")
    return json.dumps(key, sort_keys=True, default=str)


def _key_difference(key: dict, folder: Path) -> str:
    """The fields in which a shard's key differs from ``folder``'s, for the report."""
    try:
        mine = _read_key(folder)
    except (UnsafePath, ValueError, RecursionError):
        mine = None
    if not isinstance(mine, dict):
        return f"key {_digest(key)}, not this folder's {folder.name}"

    def shown(k: str, d: dict) -> str:
        return json.dumps(d[k], sort_keys=True, default=str)[:80] if k in d else "absent"

    diff = [f"{k} {shown(k, key)} in the shard, {shown(k, mine)} in the folder's" for k in sorted(set(key) | set(mine))
            if key.get(k) != mine.get(k)]
    return "; ".join(diff) or f"key {_digest(key)}, not this folder's {folder.name}"


def _shard_ids(meta: dict[str, str], layout: dict[str, tuple[list[int], str]], folder: Path) -> list[str]:
    """The ids of a shard whose header fits ``folder`` (its key, streams and rows: ``layout`` is stream ->
    (shape, dtype)); :class:`DamagedShard` otherwise."""
    absent = [k for k in ("key", "ids", "batch_size", "sha256") if k not in meta]
    if absent:
        raise DamagedShard(f"it records no {', '.join(absent)} (written by hand or by an older mom-bench)")
    try:
        key, ids = json.loads(meta["key"]), json.loads(meta["ids"])
    except (ValueError, RecursionError) as err:
        raise DamagedShard(f"its metadata is not valid JSON ({str(err)[:100]})") from None
    if not isinstance(key, dict):
        raise DamagedShard("its key is not a JSON object")
    if _digest(key) != folder.name:
        raise DamagedShard(f"it was computed for another cache key: {_key_difference(key, folder)}")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or len(set(ids)) != len(ids):
        raise DamagedShard("its ids are not a list of distinct strings")
    streams = sorted(key.get("encoders") or ())
    if sorted(layout) != streams:
        raise DamagedShard(f"it holds streams {sorted(layout)}, its key has {streams}")
    for name, (shape, dtype) in sorted(layout.items()):
        if dtype != "F32" or not shape or shape[0] != len(ids):
            raise DamagedShard(f"stream {name} is {dtype} {shape}: it must be F32 with one row per id "
                               f"({len(ids)} ids)")
    return ids


def _read_shard(shard: Path, folder: Path, wanted: set[str] | None) -> tuple[list[str], Features] | None:
    """A verified shard's ids and tensors, or None when it holds none of ``wanted``; raises otherwise. The
    header is checked before any tensor is read, so a file whose header does not fit is never read further
    (safetensors bounds the header itself and maps the file rather than reading it)."""
    from safetensors import safe_open

    with opened_regular(shard, folder) as name, safe_open(name, framework="pt") as f:
        meta = f.metadata() or {}
        layout = {n: (f.get_slice(n).get_shape(), f.get_slice(n).get_dtype()) for n in f.keys()}
        ids = _shard_ids(meta, layout, folder)
        if wanted is not None and wanted.isdisjoint(ids):
            return None
        tensors = {n: f.get_tensor(n) for n in f.keys()}
    if shard_checksum(meta, tensors) != meta["sha256"]:
        raise DamagedShard("its checksum does not match its ids and tensors (changed after it was written)")
    return ids, tensors


#: One batch for :meth:`FeatureCache.fill`: ids, the waveforms of those that decoded (same order), and
#: ``{id: reason}`` for those that did not.
Batch = tuple[list[str], list[torch.Tensor], dict[str, str]]


class FeatureCache:
    """Features per item id under ``root`` (default: ``<MOM_BENCH_HOME>/cache/features``)."""

    def __init__(self, root: str | Path | None = None, shard_size: int = 256, flush_seconds: float = 300.0):
        self.root = Path(root) if root is not None else settings.cache_dir() / "features"
        #: a shard is written every ``shard_size`` songs or ``flush_seconds`` of computing, whichever comes
        #: first: what a killed process loses at most
        self.shard_size, self.flush_seconds = shard_size, flush_seconds
        #: ids whose audio could not be used in the last :meth:`get_or_compute` (id -> reason).
        self.failures: dict[str, str] = {}
        #: how many items the last call computed (0 means everything came from the cache).
        self.computed = 0
        #: shards the last :meth:`stored_ids` or :meth:`load` did not serve (path -> reason).
        self.damaged: dict[Path, str] = {}

    def folder(self, model, key_parts: dict | None = None, precision: str = "fp32") -> Path:
        return self.root / _digest(cache_key(model, key_parts, precision))

    def open(self, model, key_parts: dict | None = None, precision: str = "fp32") -> Path:
        """The cache folder of this key, made if needed, with its ``key.json``."""
        key = cache_key(model, key_parts, precision)
        folder = self.root / _digest(key)
        folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps(key, indent=2, sort_keys=True, default=str)
        try:
            current = read_regular(folder / "key.json", folder, KEY_BYTES).decode("utf-8", "replace")
        except UnsafePath:  # absent, or not a file it may read
            current = None
        if current != text:  # several ranks may get here at once: each writes whole, identical files
            write_atomic(folder / "key.json", text)
        return folder

    # ---------------------------------------------------------------------------------------------
    def _verified(self, folder: Path, wanted: set[str] | None) -> Iterator[tuple[list[str], Features]]:
        """The shards of ``folder`` that pass every check and hold any of ``wanted`` (all when None), as
        (ids, tensors). The others are reported and left out, so their songs are computed again."""
        self.damaged = {}
        for shard in sorted(folder.glob("shard-*.safetensors")):
            try:
                read = _read_shard(shard, folder, wanted)
            except Exception as err:  # a foreign or damaged file: recompute rather than fail the run
                reason = str(err) if isinstance(err, (DamagedShard, UnsafePath)) else f"unreadable: {err}"
                self.damaged[shard] = reason
                log.warning("ignoring feature shard %s: %s; its songs will be computed again", shard, reason)
                continue
            if read is not None:
                yield read

    def stored_ids(self, folder: Path, ids: set[str] | None = None) -> set[str]:
        """Ids held in ``folder`` by shards that pass every check, checksum included (so each shard holding
        any of ``ids``, or every shard when None, is read in full, one at a time)."""
        return {item for shard_ids, _ in self._verified(folder, ids) for item in shard_ids}

    def load(self, folder: Path, ids: set[str] | None = None) -> dict[str, Features]:
        """Items stored in ``folder`` (only ``ids`` when given, to bound memory), from shards that pass every
        check; the others are reported in the log and :attr:`damaged`, and their items are then recomputed."""
        out: dict[str, Features] = {}
        for shard_ids, tensors in self._verified(folder, ids):
            for i, item in enumerate(shard_ids):
                if ids is None or item in ids:
                    out[item] = {name: t[i].clone() for name, t in tensors.items()}
        return out

    def _write_shard(self, folder: Path, ids: list[str], feats: list[Features], key: str,
                     batch_size: int | None, tag: str = "") -> None:
        from safetensors.torch import save_file

        tensors = {name: torch.stack([f[name] for f in feats]).contiguous() for name in feats[0]}
        meta = {"ids": json.dumps(ids), "key": key, "batch_size": json.dumps(batch_size)}
        meta["sha256"] = shard_checksum(meta, tensors)
        # unique across processes and hosts writing one shared cache (ranks, array jobs)
        name = f"shard-{tag}{time.time_ns()}-{socket.gethostname()}-{os.getpid()}.safetensors"
        try:
            write_atomic(folder / name, lambda tmp: save_file(tensors, str(tmp), metadata=meta))
        except Exception as err:  # safetensors reports ENOSPC/EFBIG as its own error type, not an OSError
            size = sum(t.numel() * t.element_size() for t in tensors.values())
            raise CacheWriteError(f"could not write a feature shard of {size} bytes ({len(ids)} songs) into "
                                  f"{folder}: {err}; free space there (or lift the file-size limit), or set "
                                  "MOM_BENCH_HOME to a larger disk, then run again: shards already written are "
                                  "kept") from None

    # ---------------------------------------------------------------------------------------------
    def fill(self, model, folder: Path, batches: Iterable[Batch], *, total: int, device: torch.device | None = None,
             precision: str = "fp32", skip: Collection[str] = (), on_error: str = "raise", progress: bool = True,
             desc: str = "features", tag: str = "", batch_size: int | None = None) -> dict[str, Features]:
        """Run ``model.extract`` over ``batches`` (``total`` songs in all, for the progress bar) and store the
        features of every id not in ``skip``, in whole shards written as they fill up, so a run stopped at
        any point keeps all but its last unwritten shard. Returns the features computed here. ``folder``
        comes from :meth:`open`; ``batch_size`` (the grid of ``batches``) is recorded in each shard.

        A batch is always encoded whole (with the ids in ``skip`` too), so a song's batch-mates, and with them
        its features to the last bit, do not depend on what was cached before."""
        from tqdm.auto import tqdm

        from mom_bench.core import precision as P

        if on_error not in {"raise", "skip"}:
            raise ValueError("on_error must be 'raise' or 'skip'")
        key = _folder_key(folder)
        self.failures, self.computed = {}, 0
        out: dict[str, Features] = {}
        was_training = model.training
        model.eval()
        pending_ids: list[str] = []
        pending: list[Features] = []
        since = time.monotonic()
        bar = tqdm(total=total, desc=desc, unit="song", disable=not progress)
        try:
            for ids, waves, errors in batches:
                bar.update(len(ids))
                if errors:
                    if on_error == "raise":
                        item, reason = next(iter(errors.items()))
                        raise CacheInputError(item, reason)
                    self.failures.update(errors)
                if not waves:
                    continue
                good = [i for i in ids if i not in errors]
                if device is not None:
                    waves = [w.to(device, non_blocking=True) for w in waves]
                with torch.inference_mode(), P.autocast(precision, waves[0].device):
                    if len({w.numel() for w in waves}) == 1:
                        feats = model.extract(torch.stack(waves))
                        rows = [{s: t[j].float().cpu().clone() for s, t in feats.items()} for j in range(len(waves))]
                    else:  # unequal lengths (clip policy "full"): one at a time, no padding artefacts
                        rows = [{s: t[0].float().cpu().clone() for s, t in model.extract(w[None]).items()}
                                for w in waves]
                for item, row in zip(good, rows):
                    if item in skip:
                        continue
                    out[item] = row
                    pending_ids.append(item)
                    pending.append(row)
                    self.computed += 1
                if pending and (len(pending) >= self.shard_size or time.monotonic() - since >= self.flush_seconds):
                    self._write_shard(folder, pending_ids, pending, key, batch_size, tag)
                    pending_ids, pending = [], []
                    since = time.monotonic()
        finally:
            if pending:  # keep what was computed even if the run stops here
                self._write_shard(folder, pending_ids, pending, key, batch_size, tag)
            bar.close()
            model.train(was_training)
        return out

    def get_or_compute(self, model, items: Iterable[tuple[str, Loader]], key_parts: dict | None = None, *,
                       batch_size: int = 8, on_error: str = "raise", progress: bool = True,
                       desc: str = "features", precision: str = "fp32") -> dict[str, Features]:
        """Features ``{id: {stream: [L, H]}}`` of ``items`` (pairs of id and a loader returning the waveform
        ``[T]`` at ``model.sample_rate``, already clipped). Missing ones are computed with ``model.extract`` in
        batches of ``batch_size`` consecutive items and stored; loaders of batches that are wholly cached are
        never called.

        ``on_error="skip"`` records items whose loader raises in :attr:`failures` and goes on; ``"raise"``
        stops at the first one. ``key_parts`` must name the data (e.g. ``{"dataset": fingerprint}``).
        ``precision`` (resolved, see :mod:`mom_bench.core.precision`) runs the encoders under autocast."""
        items = list(items)
        ids = [i for i, _ in items]
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})[:5]
            raise ValueError(f"duplicate item ids given to the feature cache: {dup}")
        folder = self.open(model, key_parts, precision)
        stored = self.load(folder, set(ids))
        grid = [items[k:k + batch_size] for k in range(0, len(items), batch_size)]
        todo = [b for b in grid if any(i not in stored for i, _ in b)]

        def decoded() -> Iterator[Batch]:
            for chunk in todo:
                waves, errors, ok = [], {}, []
                for item, loader in chunk:
                    try:
                        waves.append(torch.as_tensor(loader(), dtype=torch.float32).reshape(-1))
                        ok.append(item)
                    except Exception as err:
                        if on_error == "raise":
                            raise
                        errors[item] = f"{type(err).__name__}: {err}"
                yield ok + list(errors), waves, errors

        stored.update(self.fill(model, folder, decoded(), total=sum(len(b) for b in todo), precision=precision,
                                skip=set(stored), on_error=on_error, progress=progress, desc=desc,
                                batch_size=batch_size))
        return {i: stored[i] for i in ids if i in stored}


def stack(features: list[Features]) -> Features:
    """``[{stream: [L, H]}, ...]`` -> ``{stream: [B, L, H]}``, the input of ``head_forward``."""
    return {name: torch.stack([f[name] for f in features]) for name in features[0]}
