"""Scoring audio files with a trained detector: P(fake) per file.

A song longer than the model's clip is cut into consecutive, non-overlapping windows of the clip length
(10 s for ``clam-mini``, 90 s for ``clam``) starting at 0 s; a trailing part shorter than half a window is
dropped unless it is the whole song, and a short window is zero-padded at the end, as the clip policies do.
Each window is scored on its own and the file's score is **sigmoid(mean of the window logits)**: averaging
logits rather than probabilities keeps one confident window from being washed out by the others, and it
equals the single-window score for a song that fits in one clip. That is :data:`ALL_WINDOWS`, the library's
default; ``clip_policy`` can instead score the one window a clip policy cuts (``mom-bench predict`` defaults to
the model's declared policy). A file that cannot be used gets its error on its row; the other files are still
scored. :func:`predict_iter` / :func:`iter_scores` yield each row as soon as its file is scored
(:mod:`mom_bench.loop.prediction_output` writes them to a file a stopped run can resume).

Every path given, and every audio file found in a given folder, gets a row: a FIFO, a socket or a device
(``not a regular file (FIFO)``), a dangling symlink, an unreadable file or folder (``permission denied``) each
get an error row instead of being skipped. Folders are searched recursively and symlinked folders are
followed, each real folder at most once: a second path to a folder already searched (a symlink loop) gets an
error row and is not searched again. File names are shown as valid UTF-8: bytes of a name that are not UTF-8
are written as backslash escapes (``caf\\xe9.flac``), and such a file is still read.
"""
from __future__ import annotations

import math
import numbers
import os
import stat
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path
from typing import Any, TypedDict, cast

import torch

from mom_bench.core import audio
from mom_bench.core.errors import PredictionError

# Found, find_inputs and display_name are also reached through this module, where they lived before.
from mom_bench.core.inputs import Found, Input, display_name, find_inputs, os_reason  # noqa: F401
from mom_bench.core.splits import RowStatus
from mom_bench.dataset import protocols
from mom_bench.loop.inference import model_device, wave_logits
from mom_bench.loop.runs import load_trained
from mom_bench.models.adapters import as_detector

AGGREGATION = "sigmoid(mean of window logits)"
#: The ``clip_policy`` that scores every window of the model's clip length (see the module docstring).
ALL_WINDOWS = "all-windows"


COLUMNS = ["file", "status", "p_fake", "prediction", "windows", "duration_s", "error"]


class PredictionRow(TypedDict):
    """One scored file, a value under each of :data:`COLUMNS`: ``""`` where it does not apply (the score of a
    file that could not be scored, the error of one that was)."""

    file: str
    status: str  # ok or error
    p_fake: float | str
    prediction: str  # fake or real
    windows: int | str
    duration_s: float | str
    error: str


#: Largest file read into memory to be decoded, which only a file whose name is not valid UTF-8 needs (the
#: decoder takes such a name neither as text nor as bytes).
MAX_IN_MEMORY_BYTES = 1 << 30


# --------------------------------------------------------------------------------------------------
# Which files: every path given or found is accounted for (found by mom_bench.core.inputs)


def _file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "character device"),
                       (stat.S_ISBLK, "block device")):
        if test(mode):
            return name
    return "special file"


def unusable(path: Path) -> str | None:
    """Why ``path`` cannot be opened as an audio file (a dangling symlink, a FIFO, permission denied, ...),
    or None. Checked before the decoder opens it: opening a FIFO would wait for a writer forever."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return "dangling symlink" if path.is_symlink() else "file not found"
    except OSError as err:
        return os_reason(err)
    if stat.S_ISDIR(st.st_mode):
        return "is a directory, not an audio file"
    if not stat.S_ISREG(st.st_mode):
        return f"not a regular file ({_file_kind(st.st_mode)})"
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
    except OSError as err:
        return os_reason(err)
    return None


def _decoder_source(path: Path, display: str) -> Path | bytes:
    """What to give the decoder: the path, or the file's bytes when its name is not valid UTF-8."""
    if display == str(path):
        return path
    size = path.stat().st_size
    if size > MAX_IN_MEMORY_BYTES:
        raise audio.AudioError(display, f"its name is not valid UTF-8 and it is over {MAX_IN_MEMORY_BYTES >> 20} MiB, "
                                        "too large to read into memory: rename it to score it")
    with open(path, "rb") as fh:
        return fh.read()


# --------------------------------------------------------------------------------------------------
# Scoring


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


def check_options(threshold: Any, batch_size: Any) -> None:
    """Refuse a threshold that is not a probability or a batch size that is not an integer >= 1."""
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not 0 <= float(threshold) <= 1:
        raise PredictionError(f"threshold must be a probability in [0, 1], got {threshold!r}")  # also refuses NaN
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise PredictionError(f"batch_size must be an integer >= 1, got {batch_size!r}")


def _progress_bar(total: int, progress: bool | None) -> Any:
    """A tqdm bar on stderr: files done, hours of audio scored, ETA. ``progress`` None: only on a terminal."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="scoring", unit="file", disable=None if progress is None else not progress)


def iter_scores(model: Any, files: Iterable[str | Path | Input], *, threshold: float = 0.5, batch_size: int = 8,
                max_seconds: float | None = audio.DEFAULT_MAX_SECONDS, progress: bool | None = True,
                skip: Collection[str] = (), clip_policy: str | audio.ClipPolicy = ALL_WINDOWS
                ) -> Iterator[PredictionRow]:
    """One row per file (columns :data:`COLUMNS`), yielded as soon as it is scored, in the order given;
    ``file`` is :func:`display_name` of the path. Files whose name is in ``skip`` (rows kept from a stopped
    run) are left out. ``model``: a detector, or any module / callable with ``sample_rate`` and ``clip``.
    ``progress``: a bar on stderr (None: only when stderr is a terminal). ``clip_policy``: :data:`ALL_WINDOWS`
    (every window of the model's clip length, the logits averaged), or one clip policy (e.g. the model's own
    ``model.clip``, or ``"first:30"``): the one window it cuts is the file's score."""
    check_options(threshold, batch_size)
    policy = clip_choice(clip_policy)
    model = as_detector(model)
    inputs = [f if isinstance(f, Input) else Input(Path(f)) for f in files]
    inputs = [i for i in inputs if display_name(i.path) not in skip] if skip else inputs
    device = model_device(model)
    n = (model.clip if policy is None else policy).n_samples(model.sample_rate)
    seconds = 0.0
    with _progress_bar(len(inputs), progress) as bar:
        for item in inputs:
            row = _score_one(model, item, n, device, threshold=threshold, batch_size=batch_size,
                             max_seconds=max_seconds, clip=policy)
            if row["status"] == RowStatus.OK:
                seconds += float(row["duration_s"])
            bar.set_postfix_str(f"{seconds / 3600:.2f} h of audio", refresh=False)
            bar.update(1)
            yield row


def clip_choice(spec: str | audio.ClipPolicy) -> audio.ClipPolicy | None:
    """None for :data:`ALL_WINDOWS`, else the clip policy ``spec`` names; ``random`` is refused (a score
    that changes from run to run)."""
    if spec == ALL_WINDOWS:
        return None
    try:
        policy = audio.parse_clip(spec)
    except ValueError as err:
        raise PredictionError(f"{err}; or {ALL_WINDOWS!r} to average every window") from None
    if policy.kind == "random":
        raise PredictionError(f"clip policy {policy} draws a random window: a file's score would change from run "
                              "to run; use first:N, sonics_eval:N, full or all-windows")
    return policy


def _score_one(model: Any, item: Input, n: int | None, device: Any, *, threshold: float, batch_size: int,
               max_seconds: float | None, clip: audio.ClipPolicy | None) -> PredictionRow:
    path, name = item.path, display_name(item.path)
    row: dict[str, Any] = dict.fromkeys(COLUMNS, "")
    row["file"] = name
    problem = item.problem or unusable(path)
    if problem:
        row.update(status=RowStatus.ERROR, error=problem)
        return cast(PredictionRow, row)
    try:
        decoded = audio.load(_decoder_source(path, name), model.sample_rate, clip=clip, max_seconds=max_seconds,
                             name=name)
        wins = windows(decoded.samples, n)
        logits = wave_logits(model, wins, batch_size, device)
        p = float(torch.sigmoid(logits.mean()))
        if not math.isfinite(p):  # broken weights or a model that cannot take this input: never "ok"
            raise ValueError("the model returned a non-finite score (NaN or infinity) for this file")
        row.update(status=RowStatus.OK, p_fake=round(p, 6), prediction="fake" if p >= threshold else "real",
                   windows=int(wins.shape[0]), duration_s=round(decoded.duration_s, 3))
    except audio.AudioError as err:
        row.update(status=RowStatus.ERROR, error=err.reason)
    except OSError as err:  # the file changed between the checks and the read
        row.update(status=RowStatus.ERROR, error=os_reason(err))
    except (RuntimeError, ValueError) as err:  # a model that cannot take this input: report, go on
        row.update(status=RowStatus.ERROR, error=f"{type(err).__name__}: {err}")
    return cast(PredictionRow, row)  # every row starts as dict.fromkeys(COLUMNS, "")


def score_files(model: Any, files: Iterable[str | Path | Input], *, threshold: float = 0.5, batch_size: int = 8,
                max_seconds: float | None = audio.DEFAULT_MAX_SECONDS, progress: bool | None = True
                ) -> list[PredictionRow]:
    """:func:`iter_scores` as a list: every row once all files are scored."""
    return list(iter_scores(model, files, threshold=threshold, batch_size=batch_size, max_seconds=max_seconds,
                            progress=progress))


def load_model(model: Any, *, benchmark: str | None = None, checkpoint: str | Path | None = None,
               device: str | None = None, fake_label: str | None = None,
               clip: str | None = None) -> tuple[Any, str | None]:
    """The detector :func:`predict` scores with and the checkpoint it came from (None for a detector object)."""
    if isinstance(model, (str, Path)):
        return load_trained(str(model), benchmark or protocols.DEFAULT, checkpoint, device,
                            fake_label=fake_label, clip=clip)
    if fake_label is not None or clip is not None:
        from mom_bench.models.hub_classifier import HubClassifierError

        raise HubClassifierError("fake_label and clip apply only to hf: model names, not to a detector object")
    return model, None


def predict_iter(files: Iterable[str | Path | Input], model: Any, *, benchmark: str | None = None,
                 checkpoint: str | Path | None = None, device: str | None = None, threshold: float = 0.5,
                 batch_size: int = 8, progress: bool | None = True, fake_label: str | None = None,
                 clip: str | None = None, clip_policy: str | audio.ClipPolicy = ALL_WINDOWS
                 ) -> Iterator[PredictionRow]:
    """:func:`predict`, one row at a time as each file is scored (in input order): a caller that writes each
    row as it comes keeps every finished score if the run is stopped. The model is loaded on the first
    ``next()``. ``clip_policy``: see :func:`iter_scores`."""
    check_options(threshold, batch_size)
    detector, _ = load_model(model, benchmark=benchmark, checkpoint=checkpoint, device=device,
                             fake_label=fake_label, clip=clip)
    yield from iter_scores(detector, files, threshold=threshold, batch_size=batch_size, progress=progress,
                           clip_policy=clip_policy)


def predict(files: Iterable[str | Path | Input], model: Any, *, benchmark: str | None = None,
            checkpoint: str | Path | None = None, device: str | None = None, threshold: float = 0.5,
            batch_size: int = 8, progress: bool | None = True, fake_label: str | None = None,
            clip: str | None = None) -> tuple[list[PredictionRow], Any]:
    """Score ``files`` (paths, or the inputs :func:`find_inputs` found in folders) with ``model``: a registry
    name (its trained checkpoint, or ``checkpoint``), ``hf:<Hub id or folder>[@revision]`` (a transformers
    audio classifier; ``fake_label`` and ``clip`` apply to it), or a detector object. Returns (rows, the
    detector used)."""
    check_options(threshold, batch_size)  # before a model is loaded
    model, _ = load_model(model, benchmark=benchmark, checkpoint=checkpoint, device=device, fake_label=fake_label,
                          clip=clip)
    return score_files(model, files, threshold=threshold, batch_size=batch_size, progress=progress), model
