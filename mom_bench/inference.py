"""Scoring songs with a detector: decoding rows of a built dataset, frozen-encoder features through the cache,
and the one batched logits loop used by validation, `evaluate` and `predict`.

Every song is decoded on its own with the model's clip policy and batched only for speed; detectors score
each item independently of its batch-mates (``mom-bench models --check`` tests this), so a song's score does
not depend on the batch size.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Iterator, Protocol

import numpy as np
import torch

from mom_bench import audio
from mom_bench.audio import ClipPolicy
from mom_bench.dataset import read
from mom_bench.models.base import FrozenEncoderDetector
from mom_bench.models.cache import FeatureCache, stack


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
                device: torch.device | None = None) -> torch.Tensor:
    """Logits ``[N]`` (float32, on the CPU) of equal-length waveforms, in batches: the one scoring loop."""
    device = device or model_device(model)
    out = [torch.as_tensor(model(batch.to(device))).float().reshape(-1).cpu() for batch in batches(waves, batch_size)]
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


def extract_features(model: FrozenEncoderDetector, data_dir: Path, split: str, device: torch.device,
                     batch_size: int, progress: bool = True, desc: str | None = None,
                     transform: RowTransform | None = None) -> tuple[dict[str, torch.Tensor], list[dict[str, Any]]]:
    """Frozen-encoder features ``{stream: [n, L, H]}`` of every row of ``split`` (decoded with the model's
    clip policy), in stored row order, plus each row's id/label/generator.

    Features go through the on-disk cache (:class:`mom_bench.models.cache.FeatureCache`, keyed on the
    dataset fingerprint, split, encoders, clip and ``transform``), so a second run, an ablation of the head
    or an evaluation of another epoch never runs the encoders again."""
    info = read.read_info(data_dir)
    meta = read.read_table(data_dir, split, ["id", "label", "generator"]).to_dict("records")
    stream = read.iter_rows(data_dir, split, columns=["id", "audio"])

    def loader(item_id: str):
        # The cache calls loaders of missing items in item order, so one pass over the shards serves them
        # all and audio is never held for more than one row at a time.
        def load() -> torch.Tensor:
            for row in stream:
                if row["id"] == item_id:
                    # on the model's device, so the cache's batched extract runs on the GPU when there is one
                    return decode_row(row, model, model.clip, transform=transform).to(device)
            raise KeyError(f"row {item_id} vanished from {data_dir} while reading it")
        return load

    model.to(device)
    key_parts = {"dataset": info["fingerprint"], "split": split}
    if transform is not None:
        key_parts["transform"] = transform.key
    feats = FeatureCache().get_or_compute(
        model, [(m["id"], loader(m["id"])) for m in meta], key_parts,
        batch_size=batch_size, progress=progress, desc=desc or f"features {split}")
    # Cached items come back on the CPU, fresh ones on the model's device: gather everything on the CPU.
    return stack([{k: v.cpu() for k, v in feats[m["id"]].items()} for m in meta]), meta


def split_logits(model: Any, data_dir: Path, split: str, *, batch_size: int = 8, progress: bool = True,
                 preloaded: list[tuple[int, torch.Tensor]] | None = None,
                 transform: RowTransform | None = None, desc: str | None = None) -> torch.Tensor:
    """Logits ``[n]`` of every row of ``split`` in stored row order: frozen-encoder models from cached
    features, others from waveforms decoded with the model's clip policy (or ``preloaded`` ones), each
    changed by ``transform`` when one is given (see :func:`decode_row`).

    A song that cannot be decoded stops the run with its id: a built benchmark holds only decodable audio,
    so this means the folder is damaged."""
    from tqdm.auto import tqdm

    device = model_device(model)
    if uses_cached_features(model):
        feats, _ = extract_features(model, data_dir, split, device, batch_size, progress,
                                    desc=desc or f"features {split}", transform=transform)
        return feature_logits(model, feats, device=device)
    if preloaded is not None and transform is None:
        return wave_logits(model, (wave for _, wave in preloaded), batch_size, device)
    rows = read.iter_rows(data_dir, split, columns=["id", "audio"])
    bar = tqdm(rows, total=read.num_rows(data_dir, split), desc=desc or f"scoring {split}", unit="song",
               disable=not progress)
    try:
        return wave_logits(model, (decode_row(row, model, model.clip, where=f"{split} row", transform=transform)
                                   for row in bar), batch_size, device)
    except audio.AudioError as err:
        raise audio.AudioError(err.name, f"{err.reason} (the built dataset {data_dir} looks damaged; rebuild "
                               "it)") from None
    finally:
        bar.close()
