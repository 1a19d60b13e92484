"""Where a build's songs are AI-made: the truth that localisation is scored against.

A build whose source gives segments (a splice build) stores them in its ``segments`` column (sorted structs
``{start, end, label, generator}`` tiling ``[0, duration_s]`` of the stored audio); any other build means one
whole-file segment per row, ``whole_file(duration_s, label, generator)``. Either way every song comes out as a
:class:`SongTruth`, checked (:func:`mom_bench.core.segments.check_segments`), so the metrics never see a gap or
an overlap.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mom_bench.core.segments import Segment, check_segments, whole_file

#: The built column holding a song's segments (absent from whole-file builds).
SEGMENTS_COLUMN = "segments"


@dataclass(frozen=True)
class SongTruth:
    """One song's truth: its stored duration (seconds), its segments (tiling ``[0, duration]``), its split and
    its row's generator (``real`` for a human song; a splice build names what its row column says)."""

    duration: float
    segments: list[Segment]
    split: str
    generator: str

    @property
    def has_ai(self) -> bool:
        """Whether any part of the song is AI-made (the song-level "contains AI" label)."""
        return any(s.label == 1 for s in self.segments)


def _segments_of(raw: Any) -> list[tuple[Any, ...]]:
    """The stored segments of one row (a list of dicts as pyarrow gives them) as tuples."""
    return [(s["start"], s["end"], s["label"], s.get("generator")) for s in raw]


def song_truth(build_or_view: Any, splits: Iterable[str] | None = None) -> dict[str, SongTruth]:
    """``{id: SongTruth}`` of every row of ``splits`` (default: every split) of a build or fold view (a folder or
    an opened :class:`mom_bench.dataset.read.Build`), in stored order. Reads the ``segments`` column where the
    split has it, else one whole-file segment per row. Raises :class:`mom_bench.core.errors.SegmentError`
    naming the split and id of a row whose segments do not tile its duration."""
    from mom_bench.dataset.read import Build

    build = build_or_view if isinstance(build_or_view, Build) else Build.open(Path(build_or_view), verify=False)
    out: dict[str, SongTruth] = {}
    for split in build.splits if splits is None else splits:
        if not build.has(split):
            continue
        names = build.column_names(split)
        columns = ["id", "duration_s", "label", "generator"] + ([SEGMENTS_COLUMN] if SEGMENTS_COLUMN in names else [])
        table = build.table(split, columns)
        has_segments = SEGMENTS_COLUMN in table.columns
        for row in table.itertuples(index=False):
            ident, duration, generator = str(row.id), float(row.duration_s), str(row.generator)
            raw = getattr(row, SEGMENTS_COLUMN) if has_segments else None
            if raw is None or len(raw) == 0:
                segments = whole_file(duration, int(row.label), generator)
            else:
                segments = check_segments(_segments_of(raw), duration, where=f"{build} {split} id {ident!r}")
            out[ident] = SongTruth(duration, segments, split, generator)
    return out
