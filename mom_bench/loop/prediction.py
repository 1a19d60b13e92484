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

:data:`ALL_WINDOWS` decodes a file window by window (:class:`mom_bench.core.audio.Stream`): memory holds a few
windows, not the song, so an hour-long file costs no more memory than a short one. Its samples are those of the
whole file's native-rate decode resampled by :func:`mom_bench.core.audio.resample` (the streamed resampler is
the same computation), where a clip policy's one window is resampled inside FFmpeg by
:func:`mom_bench.core.audio.load` as in training; the two resamplers differ in the top of the band, so the first
window of all-windows can score slightly differently from ``first:N``. A file longer than
:data:`MAX_WINDOWED_SECONDS` (6 h) is refused under all-windows (the cap bounds the time one file may take),
longer than :data:`mom_bench.core.audio.DEFAULT_MAX_SECONDS` (30 min) under a clip policy.

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
from mom_bench.core import precision as P
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
                max_seconds: float | None = None, progress: bool | None = True,
                skip: Collection[str] = (), clip_policy: str | audio.ClipPolicy = ALL_WINDOWS,
                num_workers: int = 0, precision: str = "fp32") -> Iterator[PredictionRow]:
    """One row per file (columns :data:`COLUMNS`), yielded as soon as it and every file before it are scored,
    in the order given; ``file`` is :func:`display_name` of the path. Files whose name is in ``skip`` (rows kept
    from a stopped run) are left out. ``model``: a detector, or any module / callable with ``sample_rate`` and
    ``clip``. ``progress``: a bar on stderr (None: only when stderr is a terminal). ``clip_policy``:
    :data:`ALL_WINDOWS` (every window of the model's clip length, the logits averaged), or one clip policy (e.g.
    the model's own ``model.clip``, or ``"first:30"``): the one window it cuts is the file's score.

    ``num_workers``: decode worker processes (a DataLoader) that decode files ahead while the model scores;
    scores do not depend on it. ``precision``: fp32, bf16, fp16 or auto (:mod:`mom_bench.core.precision`).
    ``max_seconds``: the longest file scored; None: :func:`max_seconds_for` the clip choice."""
    check_options(threshold, batch_size)
    if isinstance(num_workers, bool) or not isinstance(num_workers, numbers.Integral) or num_workers < 0:
        raise PredictionError(f"num_workers must be an integer >= 0, got {num_workers!r}")
    policy = clip_choice(clip_policy)
    model = as_detector(model)
    inputs = [f if isinstance(f, Input) else Input(Path(f)) for f in files]
    inputs = [i for i in inputs if display_name(i.path) not in skip] if skip else inputs
    device = model_device(model)
    resolved = P.resolve(precision, device)
    n = (model.clip if policy is None else policy).n_samples(model.sample_rate)
    limit = max_seconds_for(policy) if max_seconds is None else max_seconds
    source = _FilePieces(inputs, model.sample_rate, n, policy, batch_size, limit)
    stream: Iterable[_Piece]
    if num_workers <= 0 or len(inputs) < 2:
        stream = iter(source)
    else:
        stream = torch.utils.data.DataLoader(source, batch_size=None, num_workers=min(num_workers, len(inputs)),
                                             pin_memory=device.type == "cuda")
    logits: dict[int, list[torch.Tensor]] = {}
    failed: dict[int, str] = {}
    done: dict[int, PredictionRow] = {}
    due, seconds = 0, 0.0
    with _progress_bar(len(inputs), progress) as bar:
        for j, waves, end in stream:
            if waves is not None and j not in failed:
                try:
                    logits.setdefault(j, []).append(wave_logits(model, waves, batch_size, device, resolved))
                except (RuntimeError, ValueError) as err:  # a model that cannot take this input: report, go on
                    failed[j] = f"{type(err).__name__}: {err}"
            if end is None:
                continue
            scored = logits.pop(j, [])
            done[j] = _row(inputs[j], torch.cat(scored) if scored else torch.zeros(0), end, failed.pop(j, None),
                           threshold)
            while due in done:  # in input order: a row waits for the rows before it
                row = done.pop(due)
                due += 1
                if row["status"] == RowStatus.OK:
                    seconds += float(row["duration_s"])
                bar.set_postfix_str(f"{seconds / 3600:.2f} h of audio", refresh=False)
                bar.update(1)
                yield row


#: The longest file :data:`ALL_WINDOWS` scores by default. It is decoded a window at a time, so memory does not
#: grow with its length; the cap bounds the time one file can take (a day of audio in a catalogue of songs is a
#: mistake, not a song). A clip policy keeps :data:`mom_bench.core.audio.DEFAULT_MAX_SECONDS`.
MAX_WINDOWED_SECONDS = 6 * 3600.0


def max_seconds_for(policy: audio.ClipPolicy | None) -> float:
    """The default longest file for a clip choice (None: :data:`ALL_WINDOWS`)."""
    return MAX_WINDOWED_SECONDS if policy is None else float(audio.DEFAULT_MAX_SECONDS)


#: What a decode step hands the scorer: (file index, windows ``[b, n]`` or None, None or the file's end facts).
_Piece = tuple[int, "torch.Tensor | None", "dict[str, Any] | None"]


class _FilePieces(torch.utils.data.IterableDataset):
    """The files' windows, at most ``batch_size`` at a time and never two files in one piece, so the model sees
    the same batches whatever the number of workers. Worker ``w`` of ``W`` decodes files ``w, w + W, ...``; the
    DataLoader takes one piece from each worker in turn. A file's last piece carries its duration and window
    count, or its error. :data:`ALL_WINDOWS` decodes a file window by window (:class:`audio.Stream`)."""

    def __init__(self, inputs: list[Input], sample_rate: int, n: int | None, clip: audio.ClipPolicy | None,
                 batch_size: int, max_seconds: float | None) -> None:
        super().__init__()
        self.inputs, self.sample_rate, self.n, self.clip = inputs, sample_rate, n, clip
        self.batch_size, self.max_seconds = batch_size, max_seconds

    def __iter__(self) -> Iterator[_Piece]:
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        if info is not None:
            torch.set_num_threads(1)  # the parallelism is the workers
        for j in range(worker, len(self.inputs), workers):
            yield from self._file(j)

    def _file(self, j: int) -> Iterator[_Piece]:
        item = self.inputs[j]
        name = display_name(item.path)
        problem = item.problem or unusable(item.path)
        if problem:
            yield j, None, {"error": problem}
            return
        count = 0
        try:
            src = _decoder_source(item.path, name)
            if self.clip is None:
                stream = audio.Stream(src, self.sample_rate, max_seconds=self.max_seconds, name=name)
                waves = iter_windows(stream, self.n)
            else:
                decoded = audio.load(src, self.sample_rate, clip=self.clip, max_seconds=self.max_seconds, name=name)
                waves = iter(windows(decoded.samples, self.n))
            pending: list[torch.Tensor] = []
            for wave in waves:
                pending.append(wave)
                count += 1
                if len(pending) == self.batch_size:
                    yield j, torch.stack(pending), None
                    pending = []
            duration = stream.decoded_s if self.clip is None else decoded.duration_s
            yield j, torch.stack(pending) if pending else None, {"windows": count, "duration_s": duration}
        except audio.AudioError as err:
            yield j, None, {"error": err.reason}
        except OSError as err:  # the file changed between the checks and the read
            yield j, None, {"error": os_reason(err)}


def iter_windows(pieces: Iterable[torch.Tensor], n: int | None) -> Iterator[torch.Tensor]:
    """:func:`windows` of a signal given piece by piece, each window yielded once it is complete (the tail
    rule is applied at the end), so only one window is held at a time.

    >>> [w.tolist() for w in iter_windows([torch.arange(3.0), torch.arange(3.0, 10.0)], 4)]
    [[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0], [8.0, 9.0, 0.0, 0.0]]
    """
    if n is None:
        yield torch.cat(list(pieces))
        return
    held, size, count = [], 0, 0
    for piece in pieces:
        held.append(piece)
        size += piece.numel()
        if size < n:
            continue
        flat = torch.cat(held)
        at = 0
        while size - at >= n:
            yield flat[at:at + n].clone()  # a copy: the piece it came from is not kept alive
            at += n
            count += 1
        held, size = [flat[at:].clone()], size - at
    if count == 0 or size >= n / 2:  # what windows() keeps of the tail
        yield windows(torch.cat(held) if held else torch.zeros(0), n)[0]


def _row(item: Input, logits: torch.Tensor, end: dict[str, Any], failed: str | None,
         threshold: float) -> PredictionRow:
    row: dict[str, Any] = dict.fromkeys(COLUMNS, "")
    row["file"] = display_name(item.path)
    error = end.get("error") or failed
    if error is None:
        p = float(torch.sigmoid(logits.mean()))
        if math.isfinite(p):
            row.update(status=RowStatus.OK, p_fake=round(p, 6), prediction="fake" if p >= threshold else "real",
                       windows=int(end["windows"]), duration_s=round(end["duration_s"], 3))
            return cast(PredictionRow, row)
        error = "the model returned a non-finite score (NaN or infinity) for this file"  # never "ok"
    row.update(status=RowStatus.ERROR, error=error)
    return cast(PredictionRow, row)  # every row starts as dict.fromkeys(COLUMNS, "")


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


def score_files(model: Any, files: Iterable[str | Path | Input], *, threshold: float = 0.5, batch_size: int = 8,
                max_seconds: float | None = None, progress: bool | None = True, num_workers: int = 0,
                precision: str = "fp32") -> list[PredictionRow]:
    """:func:`iter_scores` as a list: every row once all files are scored."""
    return list(iter_scores(model, files, threshold=threshold, batch_size=batch_size, max_seconds=max_seconds,
                            progress=progress, num_workers=num_workers, precision=precision))


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
                 clip: str | None = None, clip_policy: str | audio.ClipPolicy = ALL_WINDOWS,
                 num_workers: int = 0, precision: str = "fp32") -> Iterator[PredictionRow]:
    """:func:`predict`, one row at a time as each file is scored (in input order): a caller that writes each
    row as it comes keeps every finished score if the run is stopped. The model is loaded on the first
    ``next()``. ``clip_policy``, ``num_workers`` (decode worker processes) and ``precision``: see
    :func:`iter_scores`."""
    check_options(threshold, batch_size)
    detector, _ = load_model(model, benchmark=benchmark, checkpoint=checkpoint, device=device,
                             fake_label=fake_label, clip=clip)
    yield from iter_scores(detector, files, threshold=threshold, batch_size=batch_size, progress=progress,
                           clip_policy=clip_policy, num_workers=num_workers, precision=precision)


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
