"""Scores over time: P(fake) of consecutive (or overlapping) windows of each song, for any detector.

One windowed path for registry detectors, ``hf:`` classifiers and Python objects (all seen through the detector
contract, :func:`mom_bench.models.adapters.as_detector`), for audio files (``mom-bench predict --timeline``) and for
the rows of a built benchmark (:func:`timeline_for_build`).

The grid. ``window`` and ``hop`` are in seconds (default: the detector's clip length, and ``hop = window``), turned
into whole samples at the detector's rate; window ``k`` covers samples ``[k * hop, k * hop + window)``, and
windows are cut while they fit in the song. Then:

- the **last partial window**: when the full windows leave a tail of the song unscored, one more window is scored
  that *ends at the song's end* (``[T - window, T)``, so it overlaps the one before). Every second of the song is
  scored with real audio only: zero padding would make the tail look unlike any window the model saw;
- a **song shorter than one window** is one window ``[0, T)``, zero-padded at the end to the window's length, as
  the clip policies pad a short song (:meth:`mom_bench.core.audio.ClipPolicy.apply`);
- a window shorter than the detector's clip (2 s windows for a detector of 3 s clips) is zero-padded to the clip
  length, which is how the detector sees any song that short in training and evaluation; a longer one is given at
  its own length (a detector with a fixed input length, such as SpecTTTra, then reports an error for the file).

Each window is decoded from the song's samples (:class:`mom_bench.core.audio.Stream`: a song of any length is read
a piece at a time, as ``predict``'s all-windows does) and scored **on its own**: windows of several songs share a
batch only for speed, and detectors score every item independently of its batch-mates (the detector contract),
so a window's score does not depend on the batch size or on the other songs.

Frozen-encoder detectors (``clam-mini``...) keep each window's encoder features in the feature cache
(:class:`mom_bench.models.cache.FeatureCache`), keyed by the song's content (sha256 of the file, or of the decoded
audio for a built row), the window's first sample and its length, so a second pass (another hop that shares
window starts, another head, a re-run) runs only the head.
"""
from __future__ import annotations

import csv
import math
import numbers
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from mom_bench.core import audio
from mom_bench.core import precision as P
from mom_bench.core.errors import PredictionError
from mom_bench.core.files import sha256_file, write_atomic
from mom_bench.core.inputs import Input, display_name, os_reason
from mom_bench.core.segments import Window
from mom_bench.dataset import read
from mom_bench.loop.inference import feature_logits, model_device, uses_cached_features, wave_logits
from mom_bench.loop.prediction import MAX_WINDOWED_SECONDS, _decoder_source, load_model, unusable
from mom_bench.models.adapters import as_detector
from mom_bench.models.cache import FeatureCache, stack

#: The columns of a timeline predictions file (CSV header, or Parquet columns), in this order.
TIMELINE_COLUMNS = ("id", "start", "end", "p_fake")
#: Decimals written for seconds and for P(fake): a microsecond is far under one sample at any supported rate.
DECIMALS = 6


@dataclass(frozen=True)
class Grid:
    """A window grid in samples at ``rate``: ``window`` and ``hop`` of the grid, ``length`` of each model input
    (``window`` padded up to the detector's clip)."""

    rate: int
    window: int
    hop: int
    length: int

    @property
    def window_s(self) -> float:
        return self.window / self.rate

    @property
    def hop_s(self) -> float:
        return self.hop / self.rate


def _seconds(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise PredictionError(f"{name} must be a number of seconds, got {value!r}")
    value = float(value)
    if not audio.MIN_CLIP_SECONDS <= value <= audio.MAX_CLIP_SECONDS:
        raise PredictionError(f"{name} is {value:g} s; it must be from {audio.MIN_CLIP_SECONDS:g} to "
                              f"{audio.MAX_CLIP_SECONDS:g} s")
    return value


def resolve_grid(model: Any, window: float | None = None, hop: float | None = None) -> Grid:
    """The grid of ``model`` (a detector: ``sample_rate``, ``clip``) for ``window``/``hop`` seconds (None: the
    detector's clip length; hop None: the window). A detector whose clip is ``full`` has no length: give a window."""
    clip_s = model.clip.seconds
    if window is None:
        if clip_s is None:
            raise PredictionError(f"{getattr(model, 'name', type(model).__name__)} scores whole songs (clip full): "
                                  "give the window length in seconds (--window)")
        window = clip_s
    window = _seconds(window, "window")
    hop = window if hop is None else _seconds(hop, "hop")
    if hop > window:
        raise PredictionError(f"hop {hop:g} s is longer than the window {window:g} s: parts of the song would "
                              "not be scored")
    rate = int(model.sample_rate)
    n = max(1, int(round(window * rate)))
    clip_n = model.clip.n_samples(rate) or 0
    return Grid(rate, n, max(1, int(round(hop * rate))), max(n, clip_n))


def window_spans(total: int, window: int, hop: int) -> list[tuple[int, int]]:
    """The ``[start, end)`` sample spans scored in a song of ``total`` samples (see the module docstring).

    >>> window_spans(10, 4, 4)  # two full windows, then one ending at the song's end
    [(0, 4), (4, 8), (6, 10)]
    >>> window_spans(10, 4, 2)
    [(0, 4), (2, 6), (4, 8), (6, 10)]
    >>> window_spans(3, 4, 2)  # shorter than one window: the whole song, padded when scored
    [(0, 3)]
    """
    if total <= window:
        return [(0, total)]
    spans = [(s, s + window) for s in range(0, total - window + 1, hop)]
    if spans[-1][1] < total:
        spans.append((total - window, total))
    return spans


def iter_sliding(pieces: Iterable[torch.Tensor], window: int, hop: int
                 ) -> Iterator[tuple[int, int, torch.Tensor]]:
    """``(start, end, samples)`` of :func:`window_spans` for a signal given piece by piece, each window yielded
    once it is complete; holds about one window of samples.

    >>> [(s, e, w.tolist()) for s, e, w in iter_sliding([torch.arange(3.0), torch.arange(3.0, 10.0)], 4, 4)]
    [(0, 4, [0.0, 1.0, 2.0, 3.0]), (4, 8, [4.0, 5.0, 6.0, 7.0]), (6, 10, [6.0, 7.0, 8.0, 9.0])]
    """
    buf = torch.zeros(0)
    buf_start = 0  # sample index of buf[0]
    nxt = 0  # start of the next full window
    last_end = 0
    for piece in pieces:
        buf = torch.cat([buf, piece.to(torch.float32).reshape(-1)])
        while nxt + window <= buf_start + buf.numel():
            at = nxt - buf_start
            yield nxt, nxt + window, buf[at:at + window].clone()
            last_end = nxt + window
            nxt += hop
        # keep the samples of the next window and the last `window` samples (for an end-aligned tail window)
        keep_from = min(nxt, buf_start + buf.numel() - window)
        if keep_from > buf_start:
            buf = buf[keep_from - buf_start:]
            buf_start = keep_from
    total = buf_start + buf.numel()
    if total <= window and last_end == 0:
        if total:
            yield 0, total, buf.clone()
    elif last_end < total:
        yield total - window, total, buf[buf.numel() - window:].clone()


def _padded(x: torch.Tensor, length: int) -> torch.Tensor:
    return torch.nn.functional.pad(x, (0, length - x.numel())) if x.numel() < length else x


# --------------------------------------------------------------------------------------------------
# The songs: audio files, or rows of a built benchmark


@dataclass
class SongTimeline:
    """One song's scored windows (in time order), its duration at the detector's rate, or its error."""

    id: str
    duration_s: float = 0.0
    windows: list[Window] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class _Song:
    id: str
    source: Any  # a Path, bytes, or a callable giving either (so bytes are read only when the song is decoded)
    content: str | None = None  # what identifies the audio for the feature cache (None: computed from the source)
    problem: str | None = None


def file_songs(files: Iterable[str | Path | Input]) -> list[_Song]:
    """The songs of audio files (or the inputs :func:`mom_bench.core.inputs.find_inputs` found), named as ``predict``
    names them."""
    songs = []
    for f in files:
        item = f if isinstance(f, Input) else Input(Path(f))
        name = display_name(item.path)
        songs.append(_Song(name, item.path, problem=item.problem or unusable(item.path)))
    return songs


#: What the decoder hands the scorer: (song index, its content id, window spans, windows ``[b, L]`` or None,
#: None or the song's end facts ``{"duration_s"}`` / ``{"error"}``).
_Piece = tuple[int, str, list[tuple[int, int]], "torch.Tensor | None", "dict[str, Any] | None"]


class _SongWindows(torch.utils.data.IterableDataset):
    """The songs' windows, at most ``batch_size`` at a time and never two songs in one piece. Worker ``w`` of ``W``
    decodes songs ``w, w + W, ...`` (a DataLoader takes a piece from each worker in turn)."""

    def __init__(self, songs: list[_Song], grid: Grid, batch_size: int, max_seconds: float, with_content: bool):
        super().__init__()
        self.songs, self.grid, self.batch_size, self.max_seconds = songs, grid, batch_size, max_seconds
        self.with_content = with_content

    def __iter__(self) -> Iterator[_Piece]:
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        if info is not None:
            torch.set_num_threads(1)
        for j in range(worker, len(self.songs), workers):
            yield from song_pieces(j, self.songs[j], self.grid, self.batch_size, self.max_seconds, self.with_content)


def song_pieces(j: int, song: _Song, grid: Grid, batch_size: int, max_seconds: float,
                with_content: bool) -> Iterator[_Piece]:
    """One song's windows in pieces of at most ``batch_size``; the last piece carries its end facts or error."""
    if song.problem:
        yield j, "", [], None, {"error": song.problem}
        return
    content = song.content or ""
    try:
        src = song.source() if callable(song.source) else song.source
        if isinstance(src, Path):
            src = _decoder_source(src, song.id)
        if with_content and not content:
            content = "file:" + (sha256_file(src) if isinstance(src, Path) else _sha256(bytes(src)))
        stream = audio.Stream(src, grid.rate, max_seconds=max_seconds, name=song.id)
        spans: list[tuple[int, int]] = []
        waves: list[torch.Tensor] = []
        total = 0
        for start, end, x in iter_sliding(stream, grid.window, grid.hop):
            spans.append((start, end))
            waves.append(_padded(x, grid.length))
            total = max(total, end)
            if len(waves) == batch_size:
                yield j, content, spans, torch.stack(waves), None
                spans, waves = [], []
        yield j, content, spans, torch.stack(waves) if waves else None, {"duration_s": total / grid.rate}
    except audio.AudioError as err:
        yield j, content, [], None, {"error": err.reason}
    except OSError as err:
        yield j, content, [], None, {"error": os_reason(err)}


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------------------
# Scoring


def _check(batch_size: Any, num_workers: Any) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise PredictionError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if isinstance(num_workers, bool) or not isinstance(num_workers, numbers.Integral) or num_workers < 0:
        raise PredictionError(f"num_workers must be an integer >= 0, got {num_workers!r}")


def _pieces(songs: list[_Song], grid: Grid, batch_size: int, num_workers: int, with_content: bool,
            device: torch.device) -> Iterator[_Piece]:
    source = _SongWindows(songs, grid, batch_size, MAX_WINDOWED_SECONDS, with_content)
    if num_workers <= 0 or len(songs) < 2:
        return iter(source)
    return iter(torch.utils.data.DataLoader(source, batch_size=None, num_workers=min(num_workers, len(songs)),
                                            pin_memory=device.type == "cuda"))


def _to_window(grid: Grid, span: tuple[int, int], logit: float) -> Window:
    p = 1.0 / (1.0 + math.exp(-logit)) if logit >= 0 else math.exp(logit) / (1.0 + math.exp(logit))
    return Window(span[0] / grid.rate, span[1] / grid.rate, p)


def iter_timelines(model: Any, songs: list[_Song], *, window: float | None = None, hop: float | None = None,
                   batch_size: int = 8, num_workers: int = 0, precision: str = "fp32", progress: bool | None = False,
                   cache: FeatureCache | None = None) -> Iterator[SongTimeline]:
    """A :class:`SongTimeline` per song, in the order given. ``model``: any detector, module or callable with
    ``sample_rate`` and ``clip``. Windows of consecutive songs are batched together (``batch_size`` windows per
    forward pass); ``num_workers`` processes decode songs ahead. A frozen-encoder detector's window features go
    through ``cache`` (default: the feature cache under ``$MOM_BENCH_HOME``)."""
    from tqdm.auto import tqdm

    _check(batch_size, num_workers)
    model = as_detector(model)
    grid = resolve_grid(model, window, hop)
    device = model_device(model)
    resolved = P.resolve(precision, device)
    cached = uses_cached_features(model)
    stream = _pieces(songs, grid, batch_size, num_workers, cached, device)
    with tqdm(total=len(songs), desc="timeline", unit="song",
              disable=None if progress is None else not progress) as bar:
        if cached:
            scored = _cached_scores(model, stream, grid, batch_size, device, resolved, cache or FeatureCache())
        else:
            scored = _wave_scores(model, stream, batch_size, device, resolved)
        for j, spans, logits, end in scored:
            song = songs[j]
            bar.update(1)
            if "error" in end:
                yield SongTimeline(song.id, error=end["error"])
                continue
            values = logits.tolist()
            if not all(math.isfinite(v) for v in values):
                yield SongTimeline(song.id, error="the model returned a non-finite score (NaN or infinity)")
                continue
            yield SongTimeline(song.id, float(end["duration_s"]),
                               [_to_window(grid, s, v) for s, v in zip(spans, values)])


_Scored = tuple[int, list[tuple[int, int]], torch.Tensor, dict[str, Any]]


def _wave_scores(model: Any, pieces: Iterable[_Piece], batch_size: int, device: torch.device,
                 precision: str) -> Iterator[_Scored]:
    """Songs scored from waveforms, windows of consecutive songs sharing batches; yielded in song order as soon as
    a song's windows are all scored (a song's last windows wait for the next song's to fill their batch)."""
    spans: dict[int, list[tuple[int, int]]] = {}
    logits: dict[int, list[torch.Tensor]] = {}
    ends: dict[int, dict[str, Any]] = {}
    failed: dict[int, str] = {}
    owed: dict[int, int] = {}  # windows of a song waiting in `queue`
    queue: list[tuple[int, torch.Tensor]] = []

    def flush() -> None:
        try:
            out = wave_logits(model, (w for _, w in queue), len(queue), device, precision)
        except (RuntimeError, ValueError) as err:  # a model that cannot take these inputs: its songs say so
            out = torch.full((len(queue),), math.nan)
            for j, _ in queue:
                failed[j] = f"{type(err).__name__}: {err}"
        for (j, _), value in zip(queue, out):
            logits.setdefault(j, []).append(value.reshape(1))
            owed[j] -= 1
        queue.clear()

    def finished(j: int) -> _Scored:
        end = ends.pop(j)
        if j in failed:
            end = {"error": failed.pop(j)}
        got = logits.pop(j, [])
        return j, spans.pop(j, []), torch.cat(got) if got else torch.zeros(0), end

    due = 0
    for j, _, piece_spans, waves, end in pieces:
        if waves is not None:
            spans.setdefault(j, []).extend(piece_spans)
            for w in waves:
                queue.append((j, w))
                owed[j] = owed.get(j, 0) + 1
                if len(queue) == batch_size:
                    flush()
        if end is not None:
            ends[j] = end
        while due in ends and owed.get(due, 0) == 0:
            yield finished(due)
            due += 1
    if queue:
        flush()
    while due in ends:
        yield finished(due)
        due += 1


def window_key(content: str, start: int) -> str:
    """The feature-cache id of the window starting at sample ``start`` of the audio ``content`` names (its length
    and the detector's rate are in the cache folder's key)."""
    return f"{content}@{start}"


def _cached_scores(model: Any, pieces: Iterable[_Piece], grid: Grid, batch_size: int, device: torch.device,
                   precision: str, cache: FeatureCache) -> Iterator[_Scored]:
    """Songs scored from cached window features: encoders run only on windows the cache lacks (windows of
    several songs sharing batches), then the head on every window. Songs come out once all are encoded."""
    folder = cache.open(model, {"timeline": 1, "window_samples": grid.window, "input_samples": grid.length},
                        precision)
    stored = cache.stored_ids(folder)
    queued: set[str] = set()
    songs: list[tuple[int, list[tuple[int, int]], list[str], dict[str, Any]]] = []
    current: dict[int, tuple[list[tuple[int, int]], list[str]]] = {}

    def batches() -> Iterator[tuple[list[str], list[torch.Tensor], dict[str, str]]]:
        ids: list[str] = []
        waves: list[torch.Tensor] = []
        for j, content, piece_spans, piece_waves, end in pieces:
            got = current.setdefault(j, ([], []))
            if piece_waves is not None:
                for span, wave in zip(piece_spans, piece_waves):
                    key = window_key(content, span[0])
                    got[0].append(span)
                    got[1].append(key)
                    if key in stored or key in queued:
                        continue
                    queued.add(key)
                    ids.append(key)
                    waves.append(wave)
                    if len(ids) == batch_size:
                        yield ids, waves, {}
                        ids, waves = [], []
            if end is not None:
                done = current.pop(j)
                songs.append((j, done[0], done[1], end))
        if ids:
            yield ids, waves, {}

    model.to(device)
    computed = cache.fill(model, folder, batches(), total=0, device=device, precision=precision, progress=False,
                          desc="window features", batch_size=batch_size)
    needed = {k for _, _, keys, end in songs if "error" not in end for k in keys} - set(computed)
    feats = cache.load(folder, needed) if needed else {}
    feats.update(computed)
    for j, spans, keys, end in sorted(songs, key=lambda s: s[0]):
        if "error" in end or not keys:
            yield j, spans, torch.zeros(0), end
            continue
        missing = [k for k in keys if k not in feats]
        if missing:  # a shard that failed verification between fill and load
            yield j, [], torch.zeros(0), {"error": f"window features missing from the cache ({missing[0]})"}
            continue
        logits = feature_logits(model, stack([feats[k] for k in keys]), batch_size=256, device=device)
        yield j, spans, logits, end


# --------------------------------------------------------------------------------------------------
# Public entry points


def predict_timeline(files: Iterable[str | Path | Input], model: Any, *, window: float | None = None,
                     hop: float | None = None, changepoint: bool = False, benchmark: str | None = None,
                     checkpoint: str | Path | None = None, device: str | None = None, batch_size: int = 8,
                     progress: bool | None = False, fake_label: str | None = None, clip: str | None = None,
                     num_workers: int = 0, precision: str = "fp32") -> list[SongTimeline]:
    """Per-window P(fake) of audio ``files`` (one :class:`SongTimeline` each, ``id`` as ``predict``'s ``file``
    column) with ``model``: a registry name (its trained checkpoint, or ``checkpoint``), ``hf:<id>``, or a detector
    object. ``window``/``hop``: seconds (default: the detector's clip length, hop = window). ``changepoint``: each
    timeline made piecewise constant by :func:`mom_bench.loop.changepoint.piecewise`.

    >>> import torch
    >>> class Loud(torch.nn.Module):  # P(fake) grows with the level of the window
    ...     sample_rate, clip = 8000, "first:1"
    ...     def forward(self, x): return 20 * x.abs().mean(dim=1) - 1
    >>> import pathlib, tempfile, wave
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "song.wav"  # 1 s of silence, then 1 s at half scale
    >>> with wave.open(str(path), "wb") as f:
    ...     f.setnchannels(1); f.setsampwidth(2); f.setframerate(8000)
    ...     f.writeframes(bytes(16000) + (16384).to_bytes(2, "little") * 8000)
    >>> [(w.start, w.end, round(w.p_fake, 3)) for w in predict_timeline([path], Loud())[0].windows]
    [(0.0, 1.0, 0.269), (1.0, 2.0, 1.0)]
    """
    detector, _ = load_model(model, benchmark=benchmark, checkpoint=checkpoint, device=device,
                             fake_label=fake_label, clip=clip)
    out = list(iter_timelines(detector, file_songs(files), window=window, hop=hop, batch_size=batch_size,
                              num_workers=num_workers, precision=precision, progress=progress))
    return [smoothed(t) for t in out] if changepoint else out


def smoothed(song: SongTimeline, penalty: float | None = None) -> SongTimeline:
    """``song`` with its windows replaced by the change-point baseline's piecewise-constant timeline."""
    from mom_bench.loop.changepoint import piecewise

    if not song.ok or not song.windows:
        return song
    return SongTimeline(song.id, song.duration_s, piecewise(song.windows, penalty=penalty), song.error)


def timeline_for_build(detector: Any, build_dir: str | Path | read.Build, split: str, window: float | None = None,
                       hop: float | None = None, *, changepoint: bool = False, batch_size: int = 8,
                       precision: str = "fp32", progress: bool | None = False,
                       cache: FeatureCache | None = None, num_workers: int = 0) -> dict[str, list[Window]]:
    """``{row id: windows}`` of every row of ``split`` of a built benchmark (or fold view), in stored row order,
    scored by ``detector`` (a detector object: load a registry one with :func:`mom_bench.loop.runs.load_trained`).
    Times are seconds of the stored audio, as the build's ``segments`` are. A built row that does not decode
    stops the run (a build holds only decodable audio)."""
    build = read.Build.open(build_dir, verify=False)
    songs = [_Song(str(row["id"]), row["audio"], f"audio:{row['content_sha256']}")
             for row in build.rows(split, ["id", "audio", "content_sha256"])]
    out: dict[str, list[Window]] = {}
    for song in iter_timelines(detector, songs, window=window, hop=hop, batch_size=batch_size, precision=precision,
                               progress=progress, cache=cache, num_workers=num_workers):
        if not song.ok:
            raise audio.AudioError(f"{split} row {song.id}", f"{song.error} (a song of the built dataset "
                                   f"{build.path} that could not be scored)")
        out[song.id] = (smoothed(song) if changepoint else song).windows
    return out


# --------------------------------------------------------------------------------------------------
# The timeline predictions file


Timelines = Mapping[str, Iterable[Window]] | Iterable[SongTimeline]


def timeline_rows(timelines: Timelines) -> Iterator[tuple[str, float, float, float]]:
    """``(id, start, end, p_fake)`` of every window, rounded to :data:`DECIMALS`; songs that failed have none."""
    items = timelines.items() if isinstance(timelines, Mapping) else ((t.id, t.windows) for t in timelines)
    for item, windows in items:
        for w in windows:
            yield (str(item), round(float(w.start), DECIMALS), round(float(w.end), DECIMALS),
                   round(float(w.p_fake), DECIMALS))


def write_timeline(path: str | Path, timelines: Timelines) -> Path:
    """Write the timeline predictions file: CSV with the header ``id,start,end,p_fake`` (UTF-8, one row per
    window), or Parquet with those four columns when ``path`` ends in ``.parquet``. Written atomically."""
    path = Path(path)
    rows = list(timeline_rows(timelines))
    if path.suffix.lower() == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({"id": pa.array([r[0] for r in rows], pa.string()),
                          "start": pa.array([r[1] for r in rows], pa.float64()),
                          "end": pa.array([r[2] for r in rows], pa.float64()),
                          "p_fake": pa.array([r[3] for r in rows], pa.float64())})
        return write_atomic(path, lambda tmp: pq.write_table(table, str(tmp)))

    def text() -> str:
        import io

        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(TIMELINE_COLUMNS)
        writer.writerows(rows)
        return buf.getvalue()

    return write_atomic(path, text())


# --------------------------------------------------------------------------------------------------
# Reference localisers


@dataclass(frozen=True)
class Localiser:
    """A detector's windowed scoring (and optionally the change-point baseline on it), with its row label."""

    model: str
    window: float
    hop: float
    changepoint: bool = False

    @property
    def label(self) -> str:
        return localiser_label(self.model, self.window, self.hop, self.changepoint)


def localiser_label(model: str, window: float, hop: float, changepoint: bool = False) -> str:
    """The results/leaderboard row label of a windowed detector.

    >>> localiser_label("clam-mini", 2, 1), localiser_label("fakeprint", 2.0, 1.0, changepoint=True)
    ('clam-mini (windows 2 s / hop 1 s)', 'fakeprint (windows 2 s / hop 1 s, change points)')
    """
    extra = ", change points" if changepoint else ""
    return f"{model} (windows {float(window):g} s / hop {float(hop):g} s{extra})"


#: The reference localisers on mom-mini: 2 s windows every second. mom-mini's clips are 3 s (its protocol's
#: ``clip_seconds``), so a spliced song of a few parts is some 6-15 s long: a 1 s hop resolves a boundary to a
#: second, and a 2 s window keeps two thirds of the clip length the detectors were trained on (padded to it).
REFERENCE_LOCALISERS = tuple(Localiser(name, 2.0, 1.0, cp) for cp in (False, True)
                             for name in ("clam-mini", "fakeprint", "spectttra-mini"))
