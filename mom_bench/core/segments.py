"""Where in a song the AI is: labelled time segments (the truth) and scored windows (a detector's timeline).

Both are plain tuples of seconds so that the dataset zone (which stores segments), the loop (which scores
windows) and the metrics (which compare the two) share them without importing each other. A whole-file row is
one segment ``(0, duration, label, generator)``; a spliced song is several, sorted, touching and covering the
song exactly.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from mom_bench.core.errors import SegmentError

#: Two boundaries closer than this (seconds) are one boundary: float32 storage and sample rounding stay below it.
TIME_EPS = 1e-6


class Segment(NamedTuple):
    start: float  # seconds from the start of the stored audio
    end: float
    label: int  # 0 human-made, 1 AI-generated
    generator: str = ""  # the protocol's generator id of an AI segment ("real" or "" for a human one)


class Window(NamedTuple):
    start: float
    end: float
    p_fake: float  # the detector's P(fake) for the audio in [start, end)


def whole_file(duration: float, label: int, generator: str = "") -> list[Segment]:
    """The segments of a row that is entirely one thing.

    >>> whole_file(10.0, 1, "udio")
    [Segment(start=0.0, end=10.0, label=1, generator='udio')]
    """
    return [Segment(0.0, float(duration), int(label), generator)]


def check_segments(segments: Iterable[tuple[Any, ...]], duration: float, *, where: str = "") -> list[Segment]:
    """``segments`` as :class:`Segment` s after checking they tile ``[0, duration]``: sorted, touching, no
    gap, labels 0/1. Raises :class:`SegmentError` naming ``where`` and the segment at fault.

    >>> check_segments([(0, 4, 0), (4, 6, 1, "suno")], 6.0)
    [Segment(start=0.0, end=4.0, label=0, generator=''), Segment(start=4.0, end=6.0, label=1, generator='suno')]
    """
    at = f"{where}: " if where else ""
    out: list[Segment] = []
    t = 0.0
    for i, raw in enumerate(segments):
        generator = str(raw[3]) if len(raw) > 3 and raw[3] is not None else ""
        seg = Segment(float(raw[0]), float(raw[1]), int(raw[2]), generator)
        if seg.label not in (0, 1):
            raise SegmentError(f"{at}segment {i} has label {seg.label}, expected 0 (human) or 1 (AI)")
        if not seg.end > seg.start:
            raise SegmentError(f"{at}segment {i} [{seg.start}, {seg.end}] is empty or reversed")
        if abs(seg.start - t) > TIME_EPS:
            kind = "a gap" if seg.start > t else "an overlap"
            raise SegmentError(f"{at}segment {i} starts at {seg.start} s but the previous one ends at {t} s ({kind})")
        out.append(seg)
        t = seg.end
    if not out:
        raise SegmentError(f"{at}no segments")
    if abs(t - float(duration)) > max(TIME_EPS, 1e-3):
        raise SegmentError(f"{at}segments end at {t} s but the song lasts {float(duration)} s")
    return out


def ai_fraction(segments: Sequence[Segment]) -> float:
    """The share of the song's time that is AI-made.

    >>> ai_fraction([Segment(0, 3, 0), Segment(3, 4, 1)])
    0.25
    """
    total = sum(s.end - s.start for s in segments)
    return sum(s.end - s.start for s in segments if s.label == 1) / total if total > 0 else 0.0
