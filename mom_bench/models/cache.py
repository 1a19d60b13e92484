"""On-disk cache of frozen-encoder features, so heads train and evaluate without re-running the encoders.

Features of a song depend on the audio (the dataset fingerprint names it), on the encoders (id + revision,
or a hash of random weights), on their input rate and normalisation, and on the clip policy. All of that
goes into the cache key, so changing any of it selects a different cache folder: stale features are never
served.

Layout: ``<root>/<key>/key.json`` (the key in readable form) and ``shard-*.safetensors``, each holding one
tensor per stream (``[n, L, H]``) and the item ids in its metadata. Shards are written to a temporary name and
renamed, so an interrupted run leaves only whole shards, and the next run computes only what is missing.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Callable, Iterable

import torch

from mom_bench import settings
from mom_bench._io import write_atomic

log = logging.getLogger(__name__)

# Bumped when what is stored (pooling, dtype, layout) changes, so old caches are not read as new ones.
CACHE_FORMAT = 1

Features = dict[str, torch.Tensor]
Loader = Callable[[], torch.Tensor]


def cache_key(model, key_parts: dict | None = None) -> dict:
    """Everything that determines the cached features, as a JSON-able dict."""
    return {"format": CACHE_FORMAT, "encoders": model.feature_key(), "clip": str(model.clip),
            "sample_rate": model.sample_rate, **(key_parts or {})}


def _digest(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:24]


class FeatureCache:
    """Features per item id under ``root`` (default: ``<MOM_BENCH_HOME>/cache/features``)."""

    def __init__(self, root: str | Path | None = None, shard_size: int = 256):
        self.root = Path(root) if root is not None else settings.cache_dir() / "features"
        self.shard_size = shard_size
        #: ids whose audio could not be used in the last :meth:`get_or_compute` (id -> reason).
        self.failures: dict[str, str] = {}
        #: how many items the last call computed (0 means everything came from the cache).
        self.computed = 0

    def folder(self, model, key_parts: dict | None = None) -> Path:
        return self.root / _digest(cache_key(model, key_parts))

    # ---------------------------------------------------------------------------------------------
    def load(self, folder: Path, ids: set[str] | None = None) -> dict[str, Features]:
        """Items stored in ``folder`` (only ``ids`` when given, to bound memory). Unreadable shards are skipped
        with a warning (their items are then recomputed)."""
        from safetensors import safe_open

        out: dict[str, Features] = {}
        for shard in sorted(folder.glob("shard-*.safetensors")):
            try:
                with safe_open(str(shard), framework="pt") as f:
                    shard_ids = json.loads(f.metadata()["ids"])
                    tensors = {name: f.get_tensor(name) for name in f.keys()}
            except Exception as err:  # a foreign or damaged file: recompute rather than fail the run
                log.warning("ignoring unreadable feature shard %s (%s)", shard, err)
                continue
            for i, item in enumerate(shard_ids):
                if ids is None or item in ids:
                    out[item] = {name: t[i].clone() for name, t in tensors.items()}
        return out

    def _write_shard(self, folder: Path, ids: list[str], feats: list[Features]) -> None:
        from safetensors.torch import save_file

        tensors = {name: torch.stack([f[name] for f in feats]).contiguous() for name in feats[0]}
        name = f"shard-{time.time_ns()}-{os.getpid()}.safetensors"
        write_atomic(folder / name, lambda tmp: save_file(tensors, str(tmp), metadata={"ids": json.dumps(ids)}))

    # ---------------------------------------------------------------------------------------------
    def get_or_compute(self, model, items: Iterable[tuple[str, Loader]], key_parts: dict | None = None, *,
                       batch_size: int = 8, on_error: str = "raise", progress: bool = True,
                       desc: str = "features") -> dict[str, Features]:
        """Features ``{id: {stream: [L, H]}}`` of ``items`` (pairs of id and a loader returning the waveform
        ``[T]`` at ``model.sample_rate``, already clipped). Missing ones are computed with ``model.extract`` in
        batches and stored; loaders of cached items are never called.

        ``on_error="skip"`` records items whose loader raises in :attr:`failures` and goes on; ``"raise"``
        stops at the first one. ``key_parts`` must name the data (e.g. ``{"dataset": fingerprint}``)."""
        if on_error not in {"raise", "skip"}:
            raise ValueError("on_error must be 'raise' or 'skip'")
        key = cache_key(model, key_parts)
        folder = self.root / _digest(key)
        folder.mkdir(parents=True, exist_ok=True)
        key_file = folder / "key.json"
        if not key_file.exists():
            key_file.write_text(json.dumps(key, indent=2, sort_keys=True, default=str))

        items = list(items)
        ids = [i for i, _ in items]
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})[:5]
            raise ValueError(f"duplicate item ids given to the feature cache: {dup}")
        stored = self.load(folder, set(ids))
        todo = [(i, loader) for i, loader in items if i not in stored]
        self.failures, self.computed = {}, 0

        if todo:
            from tqdm.auto import tqdm

            was_training = model.training
            model.eval()
            pending_ids: list[str] = []
            pending: list[Features] = []
            bar = tqdm(total=len(todo), desc=desc, unit="song", disable=not progress)
            try:
                for start in range(0, len(todo), batch_size):
                    batch_ids, waves = [], []
                    for item, loader in todo[start:start + batch_size]:
                        try:
                            waves.append(torch.as_tensor(loader(), dtype=torch.float32).reshape(-1))
                            batch_ids.append(item)
                        except Exception as err:
                            if on_error == "raise":
                                raise
                            self.failures[item] = f"{type(err).__name__}: {err}"
                    bar.update(len(todo[start:start + batch_size]))
                    if not waves:
                        continue
                    with torch.inference_mode():
                        if len({w.numel() for w in waves}) == 1:
                            feats = model.extract(torch.stack(waves))
                            rows = [{s: t[j].clone() for s, t in feats.items()} for j in range(len(waves))]
                        else:  # unequal lengths (clip policy "full"): one at a time, no padding artefacts
                            rows = [{s: t[0].clone() for s, t in model.extract(w[None]).items()} for w in waves]
                    for item, row in zip(batch_ids, rows):
                        stored[item] = row
                        pending_ids.append(item)
                        pending.append(row)
                    self.computed += len(rows)
                    if len(pending) >= self.shard_size:
                        self._write_shard(folder, pending_ids, pending)
                        pending_ids, pending = [], []
            finally:
                if pending:  # keep what was computed even if the run stops here
                    self._write_shard(folder, pending_ids, pending)
                bar.close()
                model.train(was_training)
        return {i: stored[i] for i in ids if i in stored}


def stack(features: list[Features]) -> Features:
    """``[{stream: [L, H]}, ...]`` -> ``{stream: [B, L, H]}``, the input of ``head_forward``."""
    return {name: torch.stack([f[name] for f in features]) for name in features[0]}
