"""The splice source: songs spliced from the rows of another build, each with the segments that say where its AI is.

A song is a sequence of sections (a pattern of the protocol: ``human``, ``ai`` or ``vocals``), every one taken
from a row of ONE split of the base build, and the song lands in that split (the leakage rule of every build:
no part of a test song was ever in train). Human sections come from one human group of the split (the
"host": a song, or in mom-mini a track whose clips follow each other), read on from where the previous human
section stopped; AI sections from the fakes of one generator (the song's ``generator``), those of the host's
group first (mom-mini: the same music re-synthesised), RMS-matched to the host; ``vocals`` sections are the host
with a machine-sung vocal over it, where the base benchmark has a vocal family with separate stems (mom-mini's
``machine_vocals``; the stems of the song's split only). In test_ood only OOD generators are used, elsewhere only
in-distribution ones, as in the base.

Joins: sections from different places meet in an equal-power crossfade (sin/cos weights, ``crossfade_ms`` long)
centred on the boundary, which is where ``segments`` puts it; two sections that continue one another in one row
join without a crossfade (the audio is continuous there). A vocal fades in and out with the same weights around
its section's boundaries. Away from the crossfades every sample of a song is ``gain * part[offset + t]``: the
``parts`` metadata column lists each section's row, its offset in that row and its place in the song, so a test
(and a user) can recompute the song from the base build. When the mix would exceed full scale, the whole song
is scaled down (one factor, so the level match holds).

Everything is chosen at listing time from the base's small columns, seeded by the protocol's salt, ``seed`` and
the song's id: two builds list the same rows and write the same samples.
"""
from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from mom_bench.core.errors import BuildError, BuildTampered, NotABuiltBenchmark, ProtocolError
from mom_bench.core.segments import Segment
from mom_bench.core.splits import SPLITS, TEST_OOD
from mom_bench.dataset.protocols import Generator, RealSource
from mom_bench.dataset.sources.rows import SourceRow, path_option

KINDS = ("human", "ai", "vocals")
_PATTERN_ID = re.compile(r"^[a-z0-9][a-z0-9_]{0,39}$")
#: The song's peak after mixing is kept at or below this (then stored on the 16-bit grid without clipping).
PEAK = 0.98
#: A vocal family the source can lay over a host: the mom-mini generator method whose stems are shipped apart.
VOCAL_METHOD = "machine_vocals"


@dataclass(frozen=True)
class Pattern:
    id: str
    sections: tuple[str, ...]
    description: str = ""

    @property
    def needs_human(self) -> bool:
        return any(k in ("human", "vocals") for k in self.sections)

    @property
    def needs_ai(self) -> bool:
        return "ai" in self.sections


def parse_patterns(raw, where: str) -> tuple[Pattern, ...]:
    """The ``patterns`` of a splice protocol's source block, checked (errors name ``where`` and the pattern)."""
    if not isinstance(raw, list) or not raw:
        raise ProtocolError(f"{where}: source.patterns: expected a non-empty list of {{id, sections}}")
    out, seen = [], set()
    for i, p in enumerate(raw):
        at = f"{where}: source.patterns[{i}]"
        if not isinstance(p, dict) or set(p) - {"id", "sections", "description"} or not {"id", "sections"} <= set(p):
            raise ProtocolError(f"{at}: expected a mapping with id, sections and optionally description")
        pid, sections = p["id"], p["sections"]
        if not isinstance(pid, str) or not _PATTERN_ID.match(pid) or pid in seen:
            raise ProtocolError(f"{at}.id: {pid!r} is duplicated or not a short lower-case name ([a-z0-9_])")
        if not isinstance(sections, list) or not sections or any(s not in KINDS for s in sections):
            raise ProtocolError(f"{at} ({pid}).sections: expected a non-empty list of {', '.join(KINDS)}; "
                                f"got {sections!r}")
        seen.add(pid)
        out.append(Pattern(pid, tuple(sections), str(p.get("description") or "")))
    return tuple(out)


@dataclass(frozen=True)
class _Part:
    id: str
    label: int
    generator: str
    group: str
    source: str
    n: int  # samples at the build's rate


@dataclass
class Piece:
    """One section of a song: ``length`` samples of row ``part`` from ``offset``, at ``start`` in the song."""
    kind: str
    part: str
    offset: int
    length: int
    start: int = 0

    def to_json(self) -> dict:
        return {"kind": self.kind, "id": self.part, "offset": self.offset, "length": self.length,
                "start": self.start}


@dataclass
class Song:
    id: str
    split: str
    pattern: str
    generator: str  # the AI generator, or "real" for the human control
    group: str
    source: str
    pieces: list[Piece]
    vocal_seed: int = 0
    vocal_stems: tuple[str, ...] = ()
    crossfade: list[bool] = field(default_factory=list)  # per join between pieces k and k+1

    @property
    def n(self) -> int:
        return self.pieces[-1].start + self.pieces[-1].length

    @property
    def label(self) -> int:
        return int(any(p.kind != "human" for p in self.pieces))

    def segments(self, rate: int) -> list[Segment]:
        """Sections merged where label and generator agree; boundaries at the join (the crossfade midpoint)."""
        out: list[Segment] = []
        for p in self.pieces:
            ai = p.kind != "human"
            gen = self.generator if ai else "real"
            start, end = p.start / rate, (p.start + p.length) / rate
            if out and out[-1].label == int(ai) and out[-1].generator == gen:
                out[-1] = out[-1]._replace(end=end)
            else:
                out.append(Segment(start, end, int(ai), gen))
        return out


def _order(salt: str, keys) -> list[str]:
    return sorted(keys, key=lambda k: hashlib.sha256(f"{salt}:{k}".encode()).hexdigest())


def _seed(salt: str) -> int:
    return int.from_bytes(hashlib.sha256(salt.encode()).digest()[:4], "little")


class _Cursor:
    """Walks a list of rows, giving sections of up to ``want`` samples that leave ``margin`` samples of the row
    on either side (room for a crossfade); a section continues where the previous one stopped, a row with too
    little left is passed over, and the walk starts over at the first row after the last."""

    def __init__(self, rows: list[_Part], margin: int, shortest: int):
        self.rows, self.margin, self.shortest = rows, margin, shortest
        self.i, self.pos, self.turns = 0, margin, 0

    def take(self, want: int) -> tuple[_Part, int, int] | None:
        for _ in range(2 * len(self.rows) + 1):
            row = self.rows[self.i]
            left = row.n - self.margin - self.pos
            if left >= self.shortest:
                n = min(want, left)
                at = self.pos
                self.pos += n
                return row, at, n
            self.i = (self.i + 1) % len(self.rows)
            self.pos = self.margin
        return None


class SpliceSource:
    """``source: {kind: splice}`` options: ``base`` (the base build's folder, required: ``--from``),
    ``songs_per_pattern`` (per split and pattern, default 4), ``seed`` (default 0), ``crossfade_ms`` (default
    50), ``section_seconds`` (default 3), ``patterns`` (the protocol's list; see :func:`parse_patterns`)."""

    def __init__(self, protocol, options: dict):
        known = {"kind", "split_mode", "base", "songs_per_pattern", "seed", "crossfade_ms", "section_seconds",
                 "patterns"}
        unknown = set(options) - known
        if unknown:
            raise ProtocolError(f"{protocol.path}: unknown splice source option(s) {', '.join(sorted(unknown))} "
                                f"(known: {', '.join(sorted(known - {'kind', 'split_mode'}))})")
        where = str(protocol.path)
        self.protocol = protocol
        self.base_dir = self._base_dir(protocol, options.get("base"))
        self.songs = _positive_int(options.get("songs_per_pattern", 4), "songs_per_pattern", where)
        self.seed = _int(options.get("seed", 0), "seed", where)
        self.crossfade_ms = _positive_float(options.get("crossfade_ms", 50), "crossfade_ms", where)
        self.section_seconds = _positive_float(options.get("section_seconds", 3.0), "section_seconds", where)
        self.patterns = parse_patterns(options.get("patterns"), where)
        from mom_bench.dataset.read import Build, View

        try:
            self.base = Build.open(self.base_dir)
        except (BuildTampered, NotABuiltBenchmark) as err:
            raise BuildError(f"splice: the base build {self.base_dir} cannot be used: {err}") from None
        if isinstance(self.base, View):
            raise BuildError(f"splice: {self.base_dir} is a fold view; splice its base build ({self.base.path})")
        self.report = self.base.report()
        self.rate = int(self.report["audio"]["sample_rate"])
        self.half = max(1, int(round(self.crossfade_ms / 2000 * self.rate)))
        self.want = max(1, int(round(self.section_seconds * self.rate)))
        self.shortest = max(self.want // 2, 2 * self.half + 1)
        self.parts = self._parts()
        self._lock = threading.Lock()
        self._ranges: dict[str, object] = {}
        self._index: dict[str, tuple[str, int]] = {}
        self._decoded: OrderedDict[str, np.ndarray] = OrderedDict()
        self._vocals: tuple[str, Any, Any] | None = None
        self.skipped: dict[str, dict[str, str]] = {}
        self._plan: list[Song] | None = None

    # ----------------------------------------------------------------------------------------------
    # the base build

    def _base_dir(self, protocol, value) -> Path:
        if not value:
            raise BuildError("splice makes its songs from a built benchmark: pass its folder with --from DIR "
                             "(or -o base=DIR)")
        path = path_option(protocol, {"base": value}, "base",
                           hint="give the base build on the command line (--from DIR) to use another folder")
        assert path is not None
        return path

    def _parts(self) -> dict[str, list[_Part]]:
        """split -> the base rows of that split (small columns only), in stored order."""
        out: dict[str, list[_Part]] = {}
        for split in SPLITS:
            if not self.base.has(split):
                continue
            table = self.base.table(split, ["id", "label", "generator", "group_id", "source", "duration_s"])
            out[split] = [_Part(str(r.id), int(r.label), str(r.generator), str(r.group_id), str(r.source),
                                int(round(float(r.duration_s) * self.rate)))
                          for r in table.itertuples(index=False)]
        return out

    def derived_protocol(self):
        """The protocol of this splice build: the splice file's, with the base build's generators, real sources
        and sample rate, and ``raw["base_build"]``: what the build is made from, for its report and card."""
        gens = []
        for g in self.report.get("generators") or []:
            extra = {k: g[k] for k in ("decoder_family", "release") if g.get(k)}
            gens.append(Generator(str(g["id"]), str(g.get("name") or g["id"]), str(g.get("family") or "unknown"),
                                  str(g.get("role") or "train"), extra))
        real_sources = sorted({p.source for parts in self.parts.values() for p in parts if p.label == 0})
        reals = tuple(RealSource(s, s) for s in real_sources) or (RealSource("real", "real"),)
        base_proto = self._base_protocol()
        title = f"{self.protocol.title} (from {self.base.benchmark} {self.base.benchmark_version})"
        base_info = {"path": str(self.base_dir), "benchmark": self.base.benchmark,
                     "benchmark_version": self.base.benchmark_version, "fingerprint": self.base.fingerprint,
                     "label_fingerprint": self.base.label_fingerprint,
                     "audio_fingerprint": self.base.audio_fingerprint,
                     "patterns": [{"id": p.id, "sections": list(p.sections), "description": p.description}
                                  for p in self.patterns],
                     "songs_per_pattern": self.songs, "seed": self.seed, "crossfade_ms": self.crossfade_ms,
                     "section_seconds": self.section_seconds, "skipped": self.plan_skipped()}
        raw = {**self.protocol.raw, "title": title, "base_build": base_info}
        licence = base_proto.license if base_proto is not None else self.protocol.license
        return replace(self.protocol, title=title, sample_rate=self.rate, generators=tuple(gens), reals=reals,
                       license=licence, raw=raw)

    def _base_protocol(self):
        """The base benchmark's protocol when it is a shipped one (its licence, its vocal family), else None."""
        from mom_bench.dataset import protocols

        try:
            return protocols.load(self.base.benchmark)
        except (ProtocolError, KeyError, ValueError):
            return None

    def _vocal_family(self):
        """``(generator id, family, stems_of(split))`` of the base's vocal family, or None when it has none."""
        proto = self._base_protocol()
        if proto is None:
            return None
        for g in proto.generators:
            if (g.extra.get("options") or {}).get("method") == VOCAL_METHOD:
                from mom_bench.dataset.mini.vocals import MachineVocals
                from mom_bench.dataset.sources.mom_mini import MomMiniSource

                fam = MachineVocals(self.rate)
                dealer = MomMiniSource(proto, {})
                return g.id, fam, functools.partial(dealer.stems_of, fam)
        return None

    # ----------------------------------------------------------------------------------------------
    # the plan: every song, from the small columns alone

    def plan_skipped(self) -> dict[str, dict[str, str]]:
        self.plan()
        return self.skipped

    def plan(self) -> list[Song]:
        if self._plan is None:
            self.skipped = {}
            songs: list[Song] = []
            vocal = self._vocal_family() if any("vocals" in p.sections for p in self.patterns) else None
            self._vocals = vocal
            for split, parts in self.parts.items():
                for pi, pattern in enumerate(self.patterns):
                    made, why = self._songs(split, parts, pi, pattern, vocal)
                    songs += made
                    if why:
                        self.skipped.setdefault(split, {})[pattern.id] = why
            self._plan = songs
        return self._plan

    def _songs(self, split: str, parts: list[_Part], pi: int, pattern: Pattern, vocal) -> tuple[list[Song], str]:
        salt = f"{self.protocol.salt}:{self.seed}:{split}:{pattern.id}"
        ood = {g.id for g in self.derived_generators() if g.role == "ood"}
        humans: dict[str, list[_Part]] = {}
        for p in parts:
            if p.label == 0:
                humans.setdefault(p.group, []).append(p)
        fakes: dict[str, list[_Part]] = {}
        for p in parts:
            if p.label == 1 and ((p.generator in ood) == (split == TEST_OOD)):
                fakes.setdefault(p.generator, []).append(p)
        if pattern.needs_human and not humans:
            return [], "no human rows in this split"
        gens = sorted(fakes)
        if pattern.needs_ai and not gens:
            return [], ("no fakes of OOD generators in this split" if split == TEST_OOD else
                        "no fakes of in-distribution generators in this split")
        vocal_gen, stems = None, ()
        if "vocals" in pattern.sections:
            if vocal is None:
                return [], (f"the base benchmark {self.base.benchmark!r} has no vocal family with separate vocal "
                            f"stems (mom-mini's {VOCAL_METHOD}), so there is no machine vocal to lay over a host")
            vocal_gen, _, stems_of = vocal
            present = {p.generator for p in parts if p.label == 1}
            if vocal_gen not in present or (vocal_gen in ood) != (split == TEST_OOD):
                return [], (f"the vocal family {vocal_gen!r} has no fakes in this split of the base (its stems are "
                            "used only where the base uses that generator)")
            stems = tuple(stems_of(split))
            if not stems:
                return [], f"no vocal stem of {vocal_gen!r} is dealt to this split"
            if pattern.needs_ai and vocal_gen not in gens:
                return [], "a pattern with both ai and vocals sections needs the vocal generator's fakes"
        hosts = _order(salt, humans) if pattern.needs_human else []
        n = min(self.songs, len(hosts)) if pattern.needs_human else min(self.songs, sum(map(len, fakes.values())))
        songs = []
        for i in range(n):
            song_id = f"splice-{split}-{pattern.id}-{i:03d}"
            host_group = hosts[i] if hosts else None
            if vocal_gen is not None:
                generator = vocal_gen
            elif pattern.needs_ai:
                generator = gens[(i + pi) % len(gens)]
            else:
                generator = "real"
            song = self._song(song_id, split, pattern, generator, humans.get(host_group or "", []),
                              fakes.get(generator, []), host_group, i)
            if song is None:
                continue
            if vocal_gen is not None:
                song.vocal_seed, song.vocal_stems = _seed(f"{salt}:{song_id}:vocal"), stems
            songs.append(song)
        why = "" if songs else "the rows of this split are too short for the pattern's sections"
        if songs and len(songs) < self.songs:
            why = f"{len(songs)} of {self.songs} songs: the split has no more distinct hosts or fakes"
        return songs, why

    def _song(self, song_id: str, split: str, pattern: Pattern, generator: str, host_rows: list[_Part],
              fake_rows: list[_Part], host_group: str | None, i: int) -> Song | None:
        host = _Cursor(sorted(host_rows, key=lambda p: p.id), self.half, self.shortest) if host_rows else None
        ai = None
        if fake_rows:
            by_id = {q.id: q for q in fake_rows}
            if host_group is not None:  # the host's own fakes first (mom-mini: its music re-synthesised)
                ordered = sorted((q for q in fake_rows if q.group == host_group), key=lambda q: q.id)
                ordered += [by_id[r] for r in _order(f"{self.protocol.salt}:{self.seed}:{song_id}:ai", by_id)
                            if by_id[r].group != host_group]
            else:  # the fully-AI control: each song starts at another fake
                ranked = _order(f"{self.protocol.salt}:{self.seed}:{split}:{generator}", by_id)
                k = (i * pattern.sections.count("ai")) % len(ranked)
                ordered = [by_id[r] for r in ranked[k:] + ranked[:k]]
            ai = _Cursor(ordered, self.half, self.shortest)
        pieces: list[Piece] = []
        at = 0
        # each section's length drawn between the shortest and the longest, so boundaries fall anywhere
        rng = np.random.default_rng(_seed(f"{self.protocol.salt}:{self.seed}:{song_id}:lengths"))
        for kind in pattern.sections:
            cursor = ai if kind == "ai" else host
            want = int(rng.integers(self.shortest, max(self.shortest, self.want) + 1))
            got = cursor.take(want) if cursor is not None else None
            if got is None:
                return None
            row, offset, length = got
            pieces.append(Piece(kind, row.id, offset, length, at))
            at += length
        joins = [not (a.part == b.part and b.offset == a.offset + a.length and (a.kind == "ai") == (b.kind == "ai"))
                 for a, b in zip(pieces, pieces[1:])]
        first = next((p for p in pieces if p.kind != "ai"), pieces[0])
        source_row = next(r for r in (host_rows or fake_rows) if r.id == first.part)
        label = int(any(p.kind != "human" for p in pieces))
        return Song(song_id, split, pattern.id, generator if label else "real", source_row.group,
                    source_row.source if not label else "splice", pieces, crossfade=joins)

    def derived_generators(self) -> list[Generator]:
        return [Generator(str(g["id"]), str(g.get("name") or g["id"]), str(g.get("family") or ""),
                          str(g.get("role") or "train")) for g in self.report.get("generators") or []]

    # ----------------------------------------------------------------------------------------------
    # rows and their audio

    def rows(self) -> Iterator[SourceRow]:
        stamp = f"base:{self.base.fingerprint}"
        for song in self.plan():
            segs = song.segments(self.rate)
            ai = sum(s.end - s.start for s in segs if s.label == 1) / (song.n / self.rate)
            meta = {"pattern": song.pattern, "ai_fraction": round(ai, 6),
                    "parts": json.dumps([p.to_json() for p in song.pieces], separators=(",", ":")),
                    "crossfade_samples": 2 * self.half}
            yield SourceRow(id=song.id, label=song.label, generator=song.generator, source=song.source,
                            group_key=song.group, meta=meta, fetch=functools.partial(self.render, song),
                            split=song.split, stamp=stamp, segments=tuple(segs))

    def _samples(self, row_id: str) -> np.ndarray:
        """The base row's decoded samples (float64 at the build's rate), a few kept between songs."""
        from mom_bench.core.audio import load
        from mom_bench.dataset.read import RowRange

        with self._lock:
            if row_id in self._decoded:
                self._decoded.move_to_end(row_id)
                return self._decoded[row_id]
            if not self._index:
                for split, parts in self.parts.items():
                    self._index.update({p.id: (split, i) for i, p in enumerate(parts)})
            split, i = self._index[row_id]
            rng = self._ranges.get(split)
            if rng is None:
                rng = self._ranges[split] = RowRange(self.base.path, split, ["id", "audio"])
            row = next(iter(rng.rows(i, i + 1)))  # type: ignore[attr-defined]
        if row["id"] != row_id:
            raise BuildError(f"splice: the base build {self.base_dir} changed while reading it ({row_id!r})")
        x = load(bytes(row["audio"]), self.rate, max_seconds=None, name=row_id).samples.numpy()
        x = x.astype(np.float64)
        with self._lock:
            self._decoded[row_id] = x
            while len(self._decoded) > 64:
                self._decoded.popitem(last=False)
        return x

    def _source(self, piece: Piece, before: int, after: int) -> np.ndarray:
        """The piece's part from ``before`` samples ahead of its offset to ``after`` samples past its end."""
        x = self._samples(piece.part)
        lo, hi = piece.offset - before, piece.offset + piece.length + after
        if lo < 0 or hi > x.size:  # a row shorter than its listed duration: silence, never another row's audio
            pad_lo, pad_hi = max(0, -lo), max(0, hi - x.size)
            x = np.pad(x, (pad_lo, pad_hi))
            lo, hi = lo + pad_lo, hi + pad_lo
        return x[lo:hi]

    def gains(self, song: Song) -> dict[str, float]:
        """Part id -> its gain before the peak guard: 1 for the host; an AI part's brings its RMS over the song's
        AI sections from it to the RMS of the host's sections (no host: 1)."""
        def rms(pieces):
            x = np.concatenate([self._source(p, 0, 0) for p in pieces]) if pieces else np.zeros(0)
            return float(np.sqrt(np.mean(np.square(x)))) if x.size else 0.0

        host = rms([p for p in song.pieces if p.kind != "ai"])
        out = {}
        for p in song.pieces:
            if p.kind == "ai" and p.part not in out:
                own = rms([q for q in song.pieces if q.kind == "ai" and q.part == p.part])
                out[p.part] = host / own if host > 0 and own > 1e-9 else 1.0
            elif p.kind != "ai":
                out.setdefault(p.part, 1.0)
        return out

    def render(self, song: Song) -> tuple[np.ndarray, int]:
        """The song's samples (float32, mono) and rate: what the builder stores on the 16-bit grid."""
        h, F = self.half, 2 * self.half
        t = (np.arange(F) + 0.5) / F
        fade_in, fade_out = np.sin(0.5 * math.pi * t), np.cos(0.5 * math.pi * t)
        gains = self.gains(song)
        y = np.zeros(song.n, dtype=np.float64)
        k_last = len(song.pieces) - 1
        for k, p in enumerate(song.pieces):
            xin = k > 0 and song.crossfade[k - 1]
            xout = k < k_last and song.crossfade[k]
            before, after = (h if xin else 0), (h if xout else 0)
            x = self._source(p, before, after) * gains[p.part]
            if xin:
                x[:F] *= fade_in
            if xout:
                x[-F:] *= fade_out
            y[p.start - before:p.start + p.length + after] += x
        vocals = self._overlay(song, fade_in, fade_out) if any(p.kind == "vocals" for p in song.pieces) else None
        if vocals is not None:
            y += vocals
        peak = float(np.max(np.abs(y))) if y.size else 0.0
        if peak > PEAK:
            y *= PEAK / peak
        return y.astype(np.float32), self.rate

    def _overlay(self, song: Song, fade_in: np.ndarray, fade_out: np.ndarray) -> np.ndarray:
        """The machine vocal over the song's ``vocals`` sections, faded in and out around their boundaries."""
        fam: Any = self._vocals[1] if self._vocals is not None else None
        h, F = self.half, 2 * self.half
        out = np.zeros(song.n, dtype=np.float64)
        last = len(song.pieces) - 1
        for k, p in enumerate(song.pieces):
            if p.kind != "vocals":
                continue
            before = h if k > 0 else 0
            after = h if k < last else 0
            bed = self._source(p, before, after)
            vocal = fam.generate(bed, song.vocal_seed + k, stems=list(song.vocal_stems)) - bed
            if before:
                vocal[:F] *= fade_in
            if after:
                vocal[-F:] *= fade_out
            out[p.start - before:p.start + p.length + after] += vocal
        return out


def _int(value, name: str, where: str) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise ProtocolError(f"{where}: splice option {name}: expected an integer, got {value!r}") from None


def _positive_int(value, name: str, where: str) -> int:
    n = _int(value, name, where)
    if n < 1:
        raise ProtocolError(f"{where}: splice option {name}: expected a positive integer, got {value!r}")
    return n


def _positive_float(value, name: str, where: str) -> float:
    try:
        x = float(str(value))
    except ValueError:
        x = float("nan")
    if not math.isfinite(x) or x <= 0:
        raise ProtocolError(f"{where}: splice option {name}: expected a positive number, got {value!r}")
    return x
