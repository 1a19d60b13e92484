"""The one audio path: probe, decode, mix down, resample and crop.

Every command that touches audio goes through this module, so that a song is read the same way when a
dataset is built, when a model is trained and when a file is scored. Decoding is done by torchcodec
(FFmpeg); resampling to the requested rate happens inside the decoder. Channels are mixed down here by
their plain mean, because FFmpeg's own downmix weights surround channels and would not be a mean.

Anything unusable raises :class:`AudioError`, which names the file and the reason. A broken file is never
turned into silence.

A file's header is not trusted for resources: decoding stops a little past ``max_seconds`` whatever the
header says (a short file's VBR header in front of hours of frames), so memory is bounded by the limit.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from mom_bench.core.errors import AudioError as AudioError  # raised here, caught by readers of audio

if TYPE_CHECKING:
    from torchcodec.decoders import AudioDecoder

AudioSource = str | Path | bytes | bytearray | memoryview

#: Longest song accepted by default (seconds). Longer inputs are rejected rather than silently cut,
#: because a 3-hour "song" in a music benchmark is almost always a mistake in a manifest.
DEFAULT_MAX_SECONDS = 30 * 60

#: Clip lengths accepted (seconds). Longer than the longest song accepted would only pad with silence while
#: allocating it (``first:1e9`` asks for terabytes); under 10 ms is no audio at any supported sample rate.
MIN_CLIP_SECONDS = 0.01
MAX_CLIP_SECONDS = float(DEFAULT_MAX_SECONDS)

#: Sample rates a detector may declare (Hz): telephone-band models up to high-resolution studio audio.
MIN_SAMPLE_RATE = 1000
MAX_SAMPLE_RATE = 384_000

#: Decoded peaks above this many times full scale are refused. Decoders of float formats (and lossy codecs'
#: overshoot) legitimately go a little over 1.0; thousands of times over is a broken or hostile file, and
#: clipping it would store a square wave that looks like audio.
MAX_PEAK = 1e3

# A decoded file shorter than its header promises by more than this is reported as truncated.
_TRUNCATION_TOLERANCE = 0.9
_TRUNCATION_SLACK_S = 0.5
# Decoded durations up to this far over ``max_seconds`` are accepted (header estimates and frame padding);
# decoding stops just past it, so a longer file is refused without being decoded to its end.
_LIMIT_SLACK_S = 1.0
_DECODE_PAST_LIMIT_S = 2.0


@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says, read without decoding the samples."""

    name: str
    codec: str
    sample_rate: int
    channels: int
    duration_s: float | None
    bit_rate: int | None


@dataclass
class DecodedAudio:
    """Mono float32 samples at ``sample_rate`` plus the original file's header facts."""

    samples: torch.Tensor  # shape (n,), float32
    sample_rate: int
    info: AudioInfo

    @property
    def duration_s(self) -> float:
        return self.samples.numel() / self.sample_rate


def _name_of(src: AudioSource, name: str | None) -> str:
    if name:
        return name
    if isinstance(src, (str, Path)):
        return str(src)
    return "<bytes>"


def _clean(err: Exception) -> str:
    # torchcodec prefixes messages with the C++ function, file and line; users need only the reason.
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    text = re.sub(r"^\w+, \S+\.cpp:\d+, ", "", text)
    return text


def _open(src: AudioSource, name: str, sample_rate: int | None = None) -> AudioDecoder:
    from torchcodec.decoders import AudioDecoder

    source: str | bytes
    if isinstance(src, (str, Path)):
        path = Path(src)
        if not path.exists():
            raise AudioError(name, "file not found")
        if path.is_dir():
            raise AudioError(name, "is a directory, not an audio file")
        if path.stat().st_size == 0:
            raise AudioError(name, "empty file (0 bytes)")
        source = str(path)
    else:
        source = bytes(src)
        if not source:
            raise AudioError(name, "empty input (0 bytes)")
    try:
        return AudioDecoder(source, sample_rate=sample_rate)
    except Exception as err:  # torchcodec raises RuntimeError/ValueError with FFmpeg's text
        raise AudioError(name, f"not readable as audio ({_clean(err)})") from None


def _info(decoder: AudioDecoder, name: str) -> AudioInfo:
    m = decoder.metadata
    duration = m.duration_seconds_from_header
    if duration is None:
        duration = m.duration_seconds
    return AudioInfo(
        name=name,
        codec=str(m.codec),
        # torchcodec types both as optional (a stream whose header lacks them); int(None) then raises TypeError
        # as it always did: turning that into an AudioError would change behaviour, left for its own change
        sample_rate=int(m.sample_rate),  # type: ignore[arg-type]
        channels=int(m.num_channels),  # type: ignore[arg-type]
        duration_s=float(duration) if duration is not None else None,
        bit_rate=int(m.bit_rate) if m.bit_rate else None,
    )


def check_signal(samples: torch.Tensor, name: str) -> float:
    """The peak of ``samples`` (any shape), after refusing an empty signal, non-finite samples and a peak over
    :data:`MAX_PEAK` times full scale with :class:`AudioError`."""
    if samples.numel() == 0:
        raise AudioError(name, "no audio samples")
    if not torch.isfinite(samples).all():
        raise AudioError(name, "non-finite samples (NaN or infinity)")
    peak = float(samples.abs().max())
    if peak > MAX_PEAK:
        raise AudioError(name, f"peak {peak:.3g} x full scale is over the limit of {MAX_PEAK:g} x full scale "
                               "(a broken float file, not audio)")
    return peak


def _checked_info(decoder: AudioDecoder, name: str, max_seconds: float | None,
                  min_sample_rate: int | None) -> AudioInfo:
    """The header facts, after refusing no channels, a native rate under ``min_sample_rate`` and a header
    duration over ``max_seconds``."""
    info = _info(decoder, name)
    if info.channels < 1:
        raise AudioError(name, "no audio channels")
    if min_sample_rate and info.sample_rate < min_sample_rate:
        raise AudioError(name, f"native sample rate {info.sample_rate} Hz is below the minimum {min_sample_rate} Hz")
    if max_seconds is not None and info.duration_s is not None and info.duration_s > max_seconds:
        raise AudioError(name, f"duration {info.duration_s:.1f} s is over the limit of {max_seconds:g} s")
    return info


def _over_limit(name: str, max_seconds: float, reached_s: float, info: AudioInfo) -> AudioError:
    said = f"; the header says {info.duration_s:.1f} s" if info.duration_s is not None else ""
    return AudioError(name, f"duration over the limit of {max_seconds:g} s (decoding stopped at {reached_s:.1f} s"
                            f"{said})")


def probe(src: AudioSource, *, name: str | None = None) -> AudioInfo:
    """Header facts (codec, native rate, channels, duration, bit rate) without decoding samples."""
    name = _name_of(src, name)
    return _info(_open(src, name), name)


def load(
    src: AudioSource,
    sample_rate: int | None = None,
    *,
    clip: ClipPolicy | None = None,
    max_seconds: float | None = DEFAULT_MAX_SECONDS,
    min_sample_rate: int | None = None,
    rng: np.random.Generator | None = None,
    name: str | None = None,
) -> DecodedAudio:
    """Decode ``src`` to mono float32 at ``sample_rate`` (default: the native rate) and apply ``clip``
    (default: the full song).

    Raises :class:`AudioError` for anything unusable: unreadable or not audio, no samples, non-finite
    samples or a peak over :data:`MAX_PEAK` x full scale, a file shorter than its header says (truncated),
    a duration over ``max_seconds`` (by the header, or by decoding, which stops just past the limit), or a
    native rate under ``min_sample_rate`` when one is given.
    """
    name = _name_of(src, name)
    clip = clip or full()
    decoder = _open(src, name, sample_rate=sample_rate)
    info = _checked_info(decoder, name, max_seconds, min_sample_rate)
    sample_rate = sample_rate or info.sample_rate

    start, stop = clip.decode_range(info.duration_s)
    cropped = (start, stop) != (0.0, None)
    if max_seconds is not None:
        bound = max_seconds + _DECODE_PAST_LIMIT_S
        stop = bound if stop is None else min(stop, bound)
    data = _decode(decoder, name, start, stop)
    check_signal(data, name)
    samples = data.mean(dim=0) if data.shape[0] > 1 else data[0]
    samples = samples.to(torch.float32).contiguous()

    decoded_s = samples.numel() / sample_rate
    expected = info.duration_s
    if expected is not None:
        expected = (min(expected, stop) if stop is not None else expected) - start
        if decoded_s < expected * _TRUNCATION_TOLERANCE - _TRUNCATION_SLACK_S:
            raise AudioError(name, f"truncated: header says {expected:.2f} s, only {decoded_s:.2f} s decoded")
    if max_seconds is not None and start + decoded_s > max_seconds + _LIMIT_SLACK_S:
        raise _over_limit(name, max_seconds, start + decoded_s, info)

    return DecodedAudio(clip.apply(samples, sample_rate, rng=rng, already_cropped=cropped), sample_rate, info)


def _decode(decoder: AudioDecoder, name: str, start: float, stop: float | None) -> torch.Tensor:
    """Samples (channels, n) played in [start, stop). A stop past the end decodes exactly what the whole
    file decodes to, so bounding the decode by the limit changes no accepted file's samples."""
    try:
        if start == 0.0 and stop is None:
            return decoder.get_all_samples().data
        return decoder.get_samples_played_in_range(start_seconds=start, stop_seconds=stop).data
    except Exception as err:
        if "No audio frames were decoded" in str(err):
            raise AudioError(name, "no audio samples") from None
        raise AudioError(name, f"decoding failed ({_clean(err)})") from None


# --------------------------------------------------------------------------------------------------
# Decoding piece by piece (a song of any length in bounded memory)

#: Seconds of native audio decoded per step by :class:`Stream`: what it holds in memory besides one piece of output.
STREAM_CHUNK_SECONDS = 30.0


class Stream:
    """A file's samples as mono float32 pieces at ``sample_rate`` (default: the native rate), decoded and
    resampled a piece at a time, so memory does not grow with the file's length.

    Concatenated, the pieces are exactly the native-rate decode of :func:`load` mixed to mono, resampled by
    :func:`resample` when ``sample_rate`` differs from the file's rate. (:func:`load` instead resamples inside
    FFmpeg, which cannot be resumed from a piece boundary: a decoder that seeks restarts its resampler on another
    sample grid.) The native frames are decoded in order without seeking: each step asks torchcodec for the frames
    from the end of the last one, as its ``AudioDecoder.get_samples_played_in_range`` does for one range.

    The checks of :func:`load` apply: unreadable, no samples, non-finite samples, a peak over :data:`MAX_PEAK`,
    truncated (checked at the end), and a duration over ``max_seconds``, by the header or once decoding passes
    it (so the limit bounds the time a file can take). They raise :class:`AudioError` while the pieces are
    iterated; ``info`` is read when the stream is made. ``decoded_s`` is the duration read so far.
    """

    def __init__(self, src: AudioSource, sample_rate: int | None = None, *,
                 max_seconds: float | None = DEFAULT_MAX_SECONDS, min_sample_rate: int | None = None,
                 name: str | None = None, chunk_seconds: float = STREAM_CHUNK_SECONDS) -> None:
        self.name = _name_of(src, name)
        self._decoder = _open(src, self.name)
        self.info = _checked_info(self._decoder, self.name, max_seconds, min_sample_rate)
        self.sample_rate = sample_rate or self.info.sample_rate
        self.max_seconds, self.chunk_seconds = max_seconds, chunk_seconds
        self.native_samples = 0

    @property
    def decoded_s(self) -> float:
        return self.native_samples / self.info.sample_rate

    def __iter__(self) -> Iterator[torch.Tensor]:
        resampler = StreamResampler(self.info.sample_rate, self.sample_rate)
        for data in self._native():
            check_signal(data, self.name)
            mono = (data.mean(dim=0) if data.shape[0] > 1 else data[0]).to(torch.float32)
            self.native_samples += mono.numel()
            if self.max_seconds is not None and self.decoded_s > self.max_seconds + _LIMIT_SLACK_S:
                raise _over_limit(self.name, self.max_seconds, self.decoded_s, self.info)
            piece = resampler.push(mono)
            if piece.numel():
                yield piece
        if self.native_samples == 0:
            raise AudioError(self.name, "no audio samples")
        expected = self.info.duration_s
        if expected is not None and self.decoded_s < expected * _TRUNCATION_TOLERANCE - _TRUNCATION_SLACK_S:
            raise AudioError(self.name, f"truncated: header says {expected:.2f} s, only {self.decoded_s:.2f} s decoded")
        rest = resampler.flush()
        if rest.numel():
            yield rest

    def _native(self) -> Iterator[torch.Tensor]:
        """Native-rate frames (channels, n), in order, about ``chunk_seconds`` at a time."""
        from torchcodec import _core  # the frame-level call AudioDecoder's range method makes (torchcodec 0.13)

        rate = self.info.sample_rate
        start, end = 0.0, None
        while True:
            try:
                frames, first_pts = _core.get_frames_by_pts_in_range_audio(
                    self._decoder._decoder, start_seconds=start, stop_seconds=start + self.chunk_seconds)
            except Exception as err:
                if "No audio frames were decoded" in str(err):
                    return  # past the last frame (an empty file is refused after the loop)
                raise AudioError(self.name, f"decoding failed ({_clean(err)})") from None
            first = float(first_pts)
            if end is not None and first < end - 0.5 / rate:  # a frame given twice: keep its samples once
                frames = frames[:, int(round((end - first) * rate)):]
            if frames.shape[1] == 0:
                return
            yield frames
            end = max(first, end or 0.0) + frames.shape[1] / rate
            # Just past the end of the frames given: the next call starts at the frame after them, never the last
            # one again (an epsilon far under one sample at any supported rate).
            start = end + 1e-7


class StreamResampler:
    """:func:`resample` of a signal given piece by piece: :meth:`push` returns the output samples that the
    input so far determines, :meth:`flush` the rest once the input has ended. The output, concatenated, is
    :func:`resample` of the whole input (each output frame is the same dot product over the same inputs)."""

    def __init__(self, orig_rate: int, new_rate: int, *, lowpass_width: int = 6, rolloff: float = 0.99) -> None:
        self.same = orig_rate == new_rate
        self.up, self.down, self.width, kernel = _sinc_kernel(orig_rate, new_rate, lowpass_width, rolloff)
        self.kernel = kernel.to(torch.float32)[:, None, :]
        self.span = 2 * self.width + self.down  # inputs of one output frame
        self.buffer = torch.zeros(self.width)  # resample()'s left zero padding, then the inputs not yet used up
        self.length = self.emitted = 0

    def push(self, samples: torch.Tensor) -> torch.Tensor:
        if self.same:
            return samples
        self.length += samples.numel()
        self.buffer = torch.cat([self.buffer, samples.to(torch.float32)])
        ready = (self.buffer.numel() - self.span) // self.down + 1
        return self._frames(ready)

    def flush(self) -> torch.Tensor:
        if self.same:
            return torch.zeros(0)
        target = math.ceil(self.up * self.length / self.down) - self.emitted
        frames = -(-target // self.up)
        need = (frames - 1) * self.down + self.span
        if self.buffer.numel() < need:  # resample()'s right zero padding
            self.buffer = torch.nn.functional.pad(self.buffer, (0, need - self.buffer.numel()))
        return self._frames(frames)[:max(target, 0)]

    def _frames(self, frames: int) -> torch.Tensor:
        if frames <= 0:
            return torch.zeros(0)
        part = self.buffer[:(frames - 1) * self.down + self.span]
        y = torch.nn.functional.conv1d(part[None, None], self.kernel, stride=self.down)  # (1, up, frames)
        self.buffer = self.buffer[frames * self.down:]
        out = y[0].T.reshape(-1)
        self.emitted += out.numel()
        return out


# --------------------------------------------------------------------------------------------------
# Crop / pad policies


@dataclass(frozen=True)
class ClipPolicy:
    """How a song becomes a model input of fixed length.

    - ``first``: the first ``seconds`` (MoM / CLAM: 90 s), zero-padded at the end.
    - ``sonics_eval``: a window starting at ``(L - n) * 3/4`` (SONICS evaluation), zero-padded at the end.
    - ``random``: a uniformly random window (training), zero-padded at the end.
    - ``full``: the whole song, unchanged.
    """

    kind: str
    seconds: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in {"first", "sonics_eval", "random", "full"}:
            raise ValueError(f"unknown clip policy {self.kind!r}")
        if self.kind == "full":
            return
        if self.seconds is None or isinstance(self.seconds, bool) or not isinstance(self.seconds, (int, float)):
            raise ValueError(f"clip policy {self.kind!r} needs a positive length in seconds")
        if not (math.isfinite(self.seconds) and MIN_CLIP_SECONDS <= self.seconds <= MAX_CLIP_SECONDS):
            raise ValueError(f"clip policy {self.kind!r} has length {self.seconds!r} s; it must be from "
                             f"{MIN_CLIP_SECONDS:g} to {MAX_CLIP_SECONDS:g} s")

    def __str__(self) -> str:
        return self.kind if self.kind == "full" else f"{self.kind}:{self.seconds:g}"

    def n_samples(self, sample_rate: int) -> int | None:
        return None if self.seconds is None else int(round(self.seconds * sample_rate))

    def decode_range(self, duration_s: float | None) -> tuple[float, float | None]:
        # Only `first` can safely decode a prefix: the other policies need the decoded length, and
        # header durations of VBR mp3s are estimates.
        if self.kind == "first":
            assert self.seconds is not None  # __post_init__: "first" always has a length
            return 0.0, float(self.seconds)
        return 0.0, None

    def offset(self, length: int, sample_rate: int, rng: np.random.Generator | None = None) -> int:
        """Start sample of the window for a signal of ``length`` samples.

        A signal that fits in the window (and any signal under ``first`` or ``full``) starts at 0;
        ``sonics_eval`` starts three quarters of the way into the spare length; ``random`` draws a
        start from ``rng`` such that the window stays inside the signal:

        >>> ClipPolicy("sonics_eval", 10).offset(30 * 16000, 16000)  # (30 s - 10 s) * 3/4 = 15 s
        240000
        >>> ClipPolicy("first", 10).offset(30 * 16000, 16000), ClipPolicy("sonics_eval", 10).offset(5 * 16000, 16000)
        (0, 0)
        >>> start = ClipPolicy("random", 5).offset(30 * 16000, 16000, np.random.default_rng(0))
        >>> 0 <= start <= (30 - 5) * 16000
        True
        >>> ClipPolicy("random", 5).offset(30 * 16000, 16000)
        Traceback (most recent call last):
            ...
        ValueError: the random clip policy needs an rng (numpy.random.Generator)
        """
        n = self.n_samples(sample_rate)
        if n is None or length <= n or self.kind == "first":
            return 0
        if self.kind == "sonics_eval":
            return int((length - n) * 3 / 4)
        if rng is None:
            raise ValueError("the random clip policy needs an rng (numpy.random.Generator)")
        return int(rng.integers(0, length - n + 1))

    def apply(self, samples: torch.Tensor, sample_rate: int, rng: np.random.Generator | None = None,
              already_cropped: bool = False) -> torch.Tensor:
        n = self.n_samples(sample_rate)
        if n is None:
            return samples
        start = 0 if already_cropped else self.offset(samples.shape[-1], sample_rate, rng)
        out = samples[..., start:start + n]
        if out.shape[-1] < n:
            out = torch.nn.functional.pad(out, (0, n - out.shape[-1]))
        return out


def first(seconds: float) -> ClipPolicy:
    return ClipPolicy("first", seconds)


def sonics_eval(seconds: float) -> ClipPolicy:
    return ClipPolicy("sonics_eval", seconds)


def random(seconds: float) -> ClipPolicy:
    """Random window; pass ``rng`` to :meth:`ClipPolicy.apply` or :func:`load`."""
    return ClipPolicy("random", seconds)


def full() -> ClipPolicy:
    return ClipPolicy("full")


def parse_clip(spec: str | ClipPolicy) -> ClipPolicy:
    """``"first:90"``, ``"sonics_eval:120"``, ``"random:5"`` or ``"full"``; a :class:`ClipPolicy` is
    returned as it is.

    >>> parse_clip("first:90")
    ClipPolicy(kind='first', seconds=90.0)
    >>> parse_clip("full")
    ClipPolicy(kind='full', seconds=None)
    >>> str(parse_clip(" sonics_eval :120"))
    'sonics_eval:120'
    >>> parse_clip("first")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: bad clip policy 'first': clip policy 'first' needs a positive length in seconds. Use e.g. ...
    >>> parse_clip("first:nan")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: bad clip policy 'first:nan': clip policy 'first' has length nan s; it must be from 0.01 to 1800 s. ...
    """
    if isinstance(spec, ClipPolicy):
        return spec
    kind, _, seconds = str(spec).partition(":")
    try:
        return ClipPolicy(kind.strip(), float(seconds) if seconds else None)
    except ValueError as err:
        raise ValueError(f"bad clip policy {spec!r}: {err}. Use e.g. 'first:90', 'sonics_eval:120', "
                         "'random:5' or 'full'.") from None


def sample_rate_problem(rate: Any) -> str | None:
    """Why ``rate`` is not a sample rate a detector may declare, or None when it is one.

    >>> sample_rate_problem(16000) is None, sample_rate_problem(10**9)
    (True, 'sample_rate must be an int from 1000 to 384000 Hz, got 1000000000')
    """
    if isinstance(rate, bool) or not isinstance(rate, int) or not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        return f"sample_rate must be an int from {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz, got {rate!r}"
    return None


# --------------------------------------------------------------------------------------------------
# Resampling of in-memory signals (when one decode must serve models at two rates)


def resample(samples: torch.Tensor, orig_rate: int, new_rate: int, *, lowpass_width: int = 6,
             rolloff: float = 0.99) -> torch.Tensor:
    """Band-limited (Hann-windowed sinc) polyphase resampling along the last axis."""
    if orig_rate == new_rate:
        return samples
    up, down, width, kernel = _sinc_kernel(orig_rate, new_rate, lowpass_width, rolloff)
    kernel = kernel.to(samples.dtype)

    shape = samples.shape
    x = samples.reshape(-1, 1, shape[-1])
    length = shape[-1]
    x = torch.nn.functional.pad(x, (width, width + down))
    y = torch.nn.functional.conv1d(x, kernel[:, None, :], stride=down)  # (b, up, frames)
    y = y.transpose(1, 2).reshape(x.shape[0], -1)
    target = math.ceil(up * length / down)
    return y[:, :target].reshape(*shape[:-1], target)


def _sinc_kernel(orig_rate: int, new_rate: int, lowpass_width: int, rolloff: float
                 ) -> tuple[int, int, int, torch.Tensor]:
    """(up, down, width, kernel ``[up, 2 * width + down]`` in float64) of :func:`resample`."""
    g = math.gcd(orig_rate, new_rate)
    up, down = new_rate // g, orig_rate // g
    cutoff = min(up, down) * rolloff
    width = math.ceil(lowpass_width * down / cutoff)
    idx = torch.arange(-width, width + down, dtype=torch.float64)[None, :] / down
    t = (-torch.arange(up, dtype=torch.float64)[:, None] / up + idx) * cutoff
    t = t.clamp(-lowpass_width, lowpass_width)
    window = torch.cos(t * math.pi / lowpass_width / 2) ** 2
    t = t * math.pi
    kernel = torch.where(t == 0, torch.ones_like(t), torch.sin(t) / t) * window * (cutoff / down)
    return up, down, width, kernel
