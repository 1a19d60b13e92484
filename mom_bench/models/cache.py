"""On-disk cache of frozen-encoder features, so heads train and evaluate without re-running the encoders.

Features of a song depend on the audio (the dataset fingerprint names it), on the encoders (id + revision,
or a hash of random weights), on their input rate and normalisation, and on the clip policy. All of that
goes into the cache key, so changing any of it selects a different cache folder: stale features are never
served.

Layout: ``<root>/<key>/key.json`` (the key in readable form) and ``shard-*.safetensors``, each holding one
tensor per stream (``[n, L, H]``, float32) and the item ids in its metadata. Shards are written to a temporary
name and renamed, under a name unique to the writing process, so several processes (ranks of a distributed
job, array jobs of a scheduler) can fill one cache folder at once; an interrupted run leaves only whole
shards, and the next run computes only what is missing. ``parts/`` records which parts of a sharded
extraction finished (see :mod:`mom_bench.loop.inference`). A cache may be shared by many users (docs/scaling.md):
only regular files inside it are read (a FIFO, device or link out of the folder is skipped with a warning).
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
from mom_bench.core.errors import CacheInputError, CacheWriteError
from mom_bench.core.files import opened_regular, write_atomic

log = logging.getLogger(__name__)

# Bumped when what is stored (pooling, dtype, layout) changes, so old caches are not read as new ones.
CACHE_FORMAT = 1

Features = dict[str, torch.Tensor]
Loader = Callable[[], torch.Tensor]


def cache_key(model, key_parts: dict | None = None, precision: str = "fp32") -> dict:
    """Everything that determines the cached features, as a JSON-able dict. Reduced precision is part of it
    (fp32 adds nothing, so caches made before precision was a choice stay valid)."""
    key = {"format": CACHE_FORMAT, "encoders": model.feature_key(), "clip": str(model.clip),
           "sample_rate": model.sample_rate, **(key_parts or {})}
    if precision != "fp32":
        key["precision"] = precision
    return key


def _digest(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:24]


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

    def folder(self, model, key_parts: dict | None = None, precision: str = "fp32") -> Path:
        return self.root / _digest(cache_key(model, key_parts, precision))

    def open(self, model, key_parts: dict | None = None, precision: str = "fp32") -> Path:
        """The cache folder of this key, made if needed, with its ``key.json``."""
        key = cache_key(model, key_parts, precision)
        folder = self.root / _digest(key)
        folder.mkdir(parents=True, exist_ok=True)
        key_file = folder / "key.json"
        if not key_file.exists():  # several ranks may get here at once: each writes whole, identical files
            write_atomic(key_file, json.dumps(key, indent=2, sort_keys=True, default=str))
        return folder

    # ---------------------------------------------------------------------------------------------
    def stored_ids(self, folder: Path) -> set[str]:
        """Ids held in ``folder``, from the shards' headers (no tensor is read)."""
        from safetensors import safe_open

        ids: set[str] = set()
        for shard in sorted(folder.glob("shard-*.safetensors")):
            try:
                with opened_regular(shard, folder) as name, safe_open(name, framework="pt") as f:
                    ids.update(json.loads(f.metadata()["ids"]))
            except Exception as err:  # recomputed by the run, like load() does
                log.warning("ignoring unreadable feature shard %s (%s)", shard, err)
        return ids

    def load(self, folder: Path, ids: set[str] | None = None) -> dict[str, Features]:
        """Items stored in ``folder`` (only ``ids`` when given, to bound memory). Unreadable shards are skipped
        with a warning (their items are then recomputed)."""
        from safetensors import safe_open

        out: dict[str, Features] = {}
        for shard in sorted(folder.glob("shard-*.safetensors")):
            try:
                with opened_regular(shard, folder) as name, safe_open(name, framework="pt") as f:
                    shard_ids = json.loads(f.metadata()["ids"])
                    if ids is not None and not ids.intersection(shard_ids):
                        continue
                    tensors = {name: f.get_tensor(name) for name in f.keys()}
            except Exception as err:  # a foreign or damaged file: recompute rather than fail the run
                log.warning("ignoring unreadable feature shard %s (%s)", shard, err)
                continue
            for i, item in enumerate(shard_ids):
                if ids is None or item in ids:
                    out[item] = {name: t[i].clone() for name, t in tensors.items()}
        return out

    def _write_shard(self, folder: Path, ids: list[str], feats: list[Features], tag: str = "") -> None:
        from safetensors.torch import save_file

        tensors = {name: torch.stack([f[name] for f in feats]).contiguous() for name in feats[0]}
        # unique across processes and hosts writing one shared cache (ranks, array jobs)
        name = f"shard-{tag}{time.time_ns()}-{socket.gethostname()}-{os.getpid()}.safetensors"
        try:
            write_atomic(folder / name, lambda tmp: save_file(tensors, str(tmp), metadata={"ids": json.dumps(ids)}))
        except Exception as err:  # safetensors reports ENOSPC/EFBIG as its own error type, not an OSError
            size = sum(t.numel() * t.element_size() for t in tensors.values())
            raise CacheWriteError(f"could not write a feature shard of {size} bytes ({len(ids)} songs) into "
                                  f"{folder}: {err}; free space there (or lift the file-size limit), or set "
                                  "MOM_BENCH_HOME to a larger disk, then run again: shards already written are "
                                  "kept") from None

    # ---------------------------------------------------------------------------------------------
    def fill(self, model, folder: Path, batches: Iterable[Batch], *, total: int, device: torch.device | None = None,
             precision: str = "fp32", skip: Collection[str] = (), on_error: str = "raise", progress: bool = True,
             desc: str = "features", tag: str = "") -> dict[str, Features]:
        """Run ``model.extract`` over ``batches`` (``total`` songs in all, for the progress bar) and store the
        features of every id not in ``skip``, in whole shards written as they fill up, so a run stopped at
        any point keeps all but its last unwritten shard. Returns the features computed here.

        A batch is always encoded whole (with the ids in ``skip`` too), so a song's batch-mates, and with them
        its features to the last bit, do not depend on what was cached before."""
        from tqdm.auto import tqdm

        from mom_bench.core import precision as P

        if on_error not in {"raise", "skip"}:
            raise ValueError("on_error must be 'raise' or 'skip'")
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
                    self._write_shard(folder, pending_ids, pending, tag)
                    pending_ids, pending = [], []
                    since = time.monotonic()
        finally:
            if pending:  # keep what was computed even if the run stops here
                self._write_shard(folder, pending_ids, pending, tag)
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
                                skip=set(stored), on_error=on_error, progress=progress, desc=desc))
        return {i: stored[i] for i in ids if i in stored}


def stack(features: list[Features]) -> Features:
    """``[{stream: [L, H]}, ...]`` -> ``{stream: [B, L, H]}``, the input of ``head_forward``."""
    return {name: torch.stack([f[name] for f in features]) for name in features[0]}
