"""Scoring audio files with a trained detector: P(fake) per file.

A song longer than the model's clip is cut into consecutive, non-overlapping windows of the clip length
(10 s for ``clam-mini``, 90 s for ``clam``) starting at 0 s; a trailing part shorter than half a window is
dropped unless it is the whole song, and a short window is zero-padded at the end, as the clip policies do.
Each window is scored on its own and the file's score is **sigmoid(mean of the window logits)**: averaging
logits rather than probabilities keeps one confident window from being washed out by the others, and it
equals the single-window score for a song that fits in one clip. A file that cannot be used gets its error on
its row; the other files are still scored.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable

import torch

from mom_bench import audio, protocols
from mom_bench.errors import MomBenchError
from mom_bench.inference import model_device, wave_logits
from mom_bench.models.adapters import as_detector
from mom_bench.runs import load_trained

AGGREGATION = "sigmoid(mean of window logits)"


class PredictionError(MomBenchError, ValueError):
    """Scoring options that cannot be used (e.g. a threshold outside [0, 1])."""
COLUMNS = ["file", "status", "p_fake", "prediction", "windows", "duration_s", "error"]


def windows(samples: torch.Tensor, n: int | None) -> torch.Tensor:
    """``[W, n]`` windows of a mono signal (see the module docstring); ``[1, T]`` when ``n`` is None.

    >>> windows(torch.arange(10.0), 4).tolist()  # the 2-sample tail is half a window: kept, zero-padded
    [[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0], [8.0, 9.0, 0.0, 0.0]]
    >>> windows(torch.arange(9.0), 4).shape  # a 1-sample tail is dropped
    torch.Size([2, 4])
    >>> windows(torch.arange(3.0), 4).tolist()  # a song shorter than one window is that window
    [[0.0, 1.0, 2.0, 0.0]]
    """
    if n is None:
        return samples[None]
    total = samples.shape[-1]
    starts = list(range(0, max(total, 1), n))
    if len(starts) > 1 and total - starts[-1] < n / 2:
        starts.pop()
    out = torch.zeros(len(starts), n, dtype=samples.dtype)
    for i, s in enumerate(starts):
        part = samples[s:s + n]
        out[i, :part.shape[-1]] = part
    return out


def score_files(model: Any, files: Iterable[str | Path], *, threshold: float = 0.5, batch_size: int = 8,
                max_seconds: float | None = audio.DEFAULT_MAX_SECONDS, progress: bool = True) -> list[dict[str, Any]]:
    """One row per file (columns :data:`COLUMNS`), in the order given. ``model``: a detector, or any module /
    callable with ``sample_rate`` and ``clip``."""
    from tqdm.auto import tqdm

    if not 0 <= threshold <= 1:  # also refuses NaN
        raise PredictionError(f"threshold must be a probability in [0, 1], got {threshold}")
    model = as_detector(model)
    files = [Path(f) for f in files]
    device = model_device(model)
    n = model.clip.n_samples(model.sample_rate)
    rows = []
    for path in tqdm(files, desc="scoring", unit="file", disable=not progress):
        row: dict[str, Any] = dict.fromkeys(COLUMNS, "")
        row["file"] = str(path)
        try:
            decoded = audio.load(path, model.sample_rate, max_seconds=max_seconds)
            wins = windows(decoded.samples, n)
            logits = wave_logits(model, wins, batch_size, device)
            p = float(torch.sigmoid(logits.mean()))
            if not math.isfinite(p):  # broken weights or a model that cannot take this input: never "ok"
                raise ValueError("the model returned a non-finite score (NaN or infinity) for this file")
            row.update(status="ok", p_fake=round(p, 6), prediction="fake" if p >= threshold else "real",
                       windows=int(wins.shape[0]), duration_s=round(decoded.duration_s, 3))
        except audio.AudioError as err:
            row.update(status="error", error=err.reason)
        except (RuntimeError, ValueError) as err:  # a model that cannot take this input: report, go on
            row.update(status="error", error=f"{type(err).__name__}: {err}")
        rows.append(row)
    return rows


def predict(files: Iterable[str | Path], model: Any, *, benchmark: str | None = None,
            checkpoint: str | Path | None = None, device: str | None = None, threshold: float = 0.5,
            batch_size: int = 8, progress: bool = True, fake_label: str | None = None,
            clip: str | None = None) -> tuple[list[dict[str, Any]], Any]:
    """Score ``files`` with ``model``: a registry name (its trained checkpoint, or ``checkpoint``),
    ``hf:<Hub id or folder>[@revision]`` (a transformers audio classifier; ``fake_label`` and ``clip`` apply to
    it), or a detector object. Returns (rows, the detector used)."""
    if isinstance(model, (str, Path)):
        model, _ = load_trained(str(model), benchmark or protocols.DEFAULT, checkpoint, device,
                                fake_label=fake_label, clip=clip)
    elif fake_label is not None or clip is not None:
        from mom_bench.models.hub_classifier import HubClassifierError

        raise HubClassifierError("fake_label and clip apply only to hf: model names, not to a detector object")
    return score_files(model, files, threshold=threshold, batch_size=batch_size, progress=progress), model
