"""The mom-mini source: shipped real excerpts, cut into clips, plus fakes made from them at build time.

Reals come from two independent pools (``pool`` in ATTRIBUTION.csv and in every row's ``source``): music
from Debian's game-music packages and freely licensed recordings from public repositories. Each shipped
excerpt (12 s) is cut into ``clip_seconds`` clips; a clip is the unit every model scores.

Content pairing: every fake is re-synthesised from one real clip and keeps that clip's track as its
``group_key``, so a track, its clips and all fakes made from them land in one split.

Split allocation (pre-assigned on every row): tracks are dealt out pool by pool, so that every split holds
reals of every pool. Within a pool, tracks are ordered by ``sha256(salt + ":" + track_id)``, those with sung
vocals first, and dealt in that order by the protocol's ``splits.reals`` weights (largest-remainder rounding,
at least one track per split, test_ood first): the few songs with human vocals land in the test splits.
Fakes: each real clip gets exactly one fake, its family taken in turn from the families allowed in its split
(in-distribution families for train/validation/test_id, held-out ones for test_ood), so every split is half
real, half fake, and the families of a split are equally represented. Families that mix in a shipped stem
(``machine_vocals``) draw it only from the stems dealt to the row's split, the same way, so no stem is heard
in two splits.

Every clip, real or fake, leaves here in the same format (``mom_bench.dataset.mini.dsp.finish``): mono, the
protocol's rate, ``clip_seconds`` long, fixed RMS, soft peak ceiling, common band limit, on the 16-bit grid
with a dither seeded by the row id; fakes also have their long-term spectrum matched to their source clip.
All of it runs in float64 on one thread, so every machine builds the same bytes: the build's audio
fingerprint is written in the protocol (``audio_fingerprint``) and checked by the test suite.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mom_bench.core.splits import SPLITS, TEST_OOD
from mom_bench.dataset.mini import dsp
from mom_bench.dataset.mini.excerpts import Excerpt, excerpts, load_excerpt
from mom_bench.dataset.mini.families import Family
from mom_bench.dataset.mini.generators import make_family
from mom_bench.dataset.mini.vocals import MachineVocals
from mom_bench.dataset.sources.rows import SourceRow

#: Folder of the shipped decoder weights that the neural families load (part of every fake's provenance).
WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "data" / "weights" / "mom_mini"


def _hash_order(salt: str, ids) -> list[str]:
    return sorted(set(ids), key=lambda t: hashlib.sha256(f"{salt}:{t}".encode()).hexdigest())


def allocate_tracks(track_ids: list[str], salt: str, weights: dict[str, float], *,
                    first: frozenset[str] = frozenset()) -> dict[str, str]:
    """Deal tracks into splits: salted-hash order (the tracks in ``first`` ahead of the others), cumulative
    proportions by largest remainder, the test splits dealt first."""
    ranked = _hash_order(salt, track_ids)
    order = [t for t in ranked if t in first] + [t for t in ranked if t not in first]
    splits = [s for s in reversed(SPLITS) if weights.get(s, 0) > 0]
    n = len(order)
    if n < len(splits):
        raise ValueError(f"mom-mini needs at least {len(splits)} tracks to fill {', '.join(splits)}; got {n}")
    total = sum(weights[s] for s in splits)
    exact = {s: weights[s] / total * n for s in splits}
    counts = {s: max(1, int(exact[s])) for s in splits}
    by_remainder = sorted(splits, key=lambda s: (-(exact[s] - int(exact[s])), splits.index(s)))
    i = 0
    while sum(counts.values()) < n:
        counts[by_remainder[i % len(splits)]] += 1
        i += 1
    while sum(counts.values()) > n:  # only when the at-least-one rule overshot
        biggest = max(splits, key=lambda s: (counts[s] - exact[s], counts[s]))
        counts[biggest] -= 1
    out, pos = {}, 0
    for s in splits:
        for t in order[pos:pos + counts[s]]:
            out[t] = s
        pos += counts[s]
    return out


def allocate_by_pool(items: list[Excerpt], salt: str, weights: dict[str, float]) -> dict[str, str]:
    """:func:`allocate_tracks` within each pool of reals, so that every split holds every pool. Tracks with
    sung vocals lead their pool's order: they are few, and this deals them to the test splits, where a
    detector's false alarms on human singing are measured (next to the held-out machine vocals)."""
    pools: dict[str, list[str]] = {}
    sung = frozenset(e.track_id for e in items if e.vocals)
    for e in items:
        pools.setdefault(e.pool, []).append(e.track_id)
    out: dict[str, str] = {}
    for pool, tracks in sorted(pools.items()):
        try:
            out.update(allocate_tracks(tracks, salt, weights, first=sung))
        except ValueError as err:
            raise ValueError(f"pool {pool!r}: {err}") from None
    return out


@contextlib.contextmanager
def _one_thread():
    """Run the enclosed torch work on one intra-op thread, in the calling thread only.

    Float64 results can differ in the last bits between one and several intra-op threads (a reduction split
    another way), so every clip is made on one. torch's thread count (OpenMP, MKL) is a per-thread setting,
    which lets the builder's fetch threads generate several clips at once, each on its own single thread,
    without a lock; the caller's own setting is restored afterwards."""
    saved = torch.get_num_threads()
    if saved != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if saved != 1:
            torch.set_num_threads(saved)


def _row_seed(seed: int, row_id: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{row_id}".encode()).digest()[:4], "little")


@dataclass(frozen=True)
class Clip:
    """The ``index``-th ``seconds``-long clip of a shipped excerpt."""
    excerpt: Excerpt
    index: int
    seconds: float

    @property
    def id(self) -> str:
        return f"{self.excerpt.track_id}-{self.excerpt.index}-{self.index}"

    @property
    def start_s(self) -> float:
        """Offset in the excerpt file."""
        return self.index * self.seconds


@dataclass
class _Plan:
    clip: Clip
    split: str
    generator: str | None  # None for the real row

    @property
    def excerpt(self) -> Excerpt:
        return self.clip.excerpt


class MomMiniSource:
    """``source: {kind: mom-mini}`` options: ``seed`` (generation, default 0), ``clip_seconds`` (default 3),
    ``data_dir`` (another excerpt folder with an ATTRIBUTION.csv; default the shipped one),
    ``excerpts_per_track`` and ``clips_per_excerpt`` (use only the first N; smoke tests)."""

    def __init__(self, protocol, options: dict):
        unknown = set(options) - {"kind", "host", "split_mode", "seed", "clip_seconds", "data_dir",
                                  "excerpts_per_track", "clips_per_excerpt"}
        if unknown:
            raise ValueError(f"{protocol.name}: unknown mom-mini source option(s) {', '.join(sorted(unknown))}")
        self.protocol = protocol
        self.rate = int(protocol.sample_rate)
        self.seed = int(options.get("seed", 0) or 0)
        self.clip_seconds = float(options.get("clip_seconds", 3.0) or 3.0)
        self.n_samples = int(round(self.clip_seconds * self.rate))
        self.data_dir = options.get("data_dir")
        per_track = options.get("excerpts_per_track")
        self.excerpts_per_track = int(per_track) if per_track else None
        per_excerpt = options.get("clips_per_excerpt")
        self.clips_per_excerpt = int(per_excerpt) if per_excerpt else None
        self.generators = {g.id: g for g in protocol.generators}
        self._families: dict[str, Family] = {}
        self._decoded: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    # ----------------------------------------------------------------------------------------------
    def _excerpts(self) -> list[Excerpt]:
        items = excerpts(self.data_dir)
        if self.excerpts_per_track:
            items = [e for e in items if e.index < self.excerpts_per_track]
        return items

    def clips(self, e: Excerpt) -> list[Clip]:
        """The clips cut from one excerpt: as many whole ``clip_seconds`` as its listed duration holds."""
        n = int(e.duration_s / self.clip_seconds + 1e-6)
        if self.clips_per_excerpt:
            n = min(n, self.clips_per_excerpt)
        return [Clip(e, j, self.clip_seconds) for j in range(n)]

    def split_of_track(self) -> dict[str, str]:
        """Which split each real track is dealt to."""
        return allocate_by_pool(self._excerpts(), self.protocol.salt, self.protocol.real_weights)

    def plan(self) -> list[_Plan]:
        """Every row to build, in a fixed order: reals and their fakes, split by split."""
        items = self._excerpts()
        split_of = allocate_by_pool(items, self.protocol.salt, self.protocol.real_weights)
        rank = {t: i for i, t in enumerate(_hash_order(self.protocol.salt, split_of))}
        id_gens = [g.id for g in self.protocol.generators if not g.is_ood]
        ood_gens = [g.id for g in self.protocol.generators if g.is_ood]
        if not id_gens or not ood_gens:
            raise ValueError(f"{self.protocol.name}: mom-mini needs at least one in-distribution and one OOD generator")
        order = sorted(items, key=lambda e: (SPLITS.index(split_of[e.track_id]), rank[e.track_id], e.index))
        plans, turn = [], {s: 0 for s in SPLITS}
        for e in order:
            split = split_of[e.track_id]
            gens = ood_gens if split == TEST_OOD else id_gens
            for clip in self.clips(e):
                plans.append(_Plan(clip, split, None))
                plans.append(_Plan(clip, split, gens[turn[split] % len(gens)]))
                turn[split] += 1
        return plans

    def _samples(self, clip: Clip) -> np.ndarray:
        """The clip's samples (float64), cut from its decoded excerpt (decoded once, kept while building)."""
        e = clip.excerpt
        with self._lock:
            whole = self._decoded.get(e.file)
        if whole is None:
            whole = load_excerpt(e, self.rate)  # float32 as decoded: half the memory, the same values
            with self._lock:
                self._decoded[e.file] = whole
        start = int(round(clip.start_s * self.rate))
        x = whole[start:start + self.n_samples].astype(np.float64)
        return x if x.size == self.n_samples else np.pad(x, (0, self.n_samples - x.size))

    def family(self, gen_id: str) -> Family:
        """The family object of a protocol generator."""
        fam = self._families.get(gen_id)
        if fam is None:
            g = self.generators[gen_id]
            options = dict(g.extra.get("options") or {})
            method = options.pop("method", gen_id)
            fam = make_family(method, self.rate, **options)
            self._families[gen_id] = fam
        return fam

    def stems_of(self, fam: MachineVocals, split: str) -> list[str]:
        """The shipped stems the vocals family may use in ``split``: stems are dealt into splits like tracks,
        so a detector never hears a test stem while training."""
        dealt = allocate_tracks(fam.stem_ids, f"{self.protocol.salt}:stems", self.protocol.real_weights)
        return [s for s in sorted(dealt) if dealt[s] == split]

    def stamp(self) -> str:
        """sha256 of everything a row's audio depends on: the attribution table, every excerpt file, and the
        shipped stems and decoder weights the families read."""
        items = self._excerpts()
        folder = items[0].path.parent
        h = hashlib.sha256((folder / "ATTRIBUTION.csv").read_bytes())
        for e in sorted(items, key=lambda e: e.file):
            h.update(e.file.encode("utf-8") + b"\0" + hashlib.sha256(e.path.read_bytes()).digest())
        extra = sorted((folder / "vocals").glob("*")) if (folder / "vocals").is_dir() else []
        extra += sorted(WEIGHTS_DIR.glob("*.safetensors")) if WEIGHTS_DIR.is_dir() else []
        for path in extra:
            if path.is_file():
                h.update(path.name.encode("utf-8") + b"\0" + hashlib.sha256(path.read_bytes()).digest())
        return h.hexdigest()

    # ----------------------------------------------------------------------------------------------
    def _fetch_real(self, clip: Clip, row_id: str):
        with _one_thread():
            return dsp.finish(self._samples(clip), self.rate, self.n_samples,
                              seed=_row_seed(self.seed, row_id)), self.rate

    def _fetch_fake(self, clip: Clip, gen_id: str, row_id: str, split: str):
        with _one_thread():
            x = self._samples(clip)
            seed = _row_seed(self.seed, row_id)
            fam = self.family(gen_id)
            if isinstance(fam, MachineVocals):
                y = fam.generate(x, seed, stems=self.stems_of(fam, split))
            else:
                y = fam.generate(x, seed)
            return dsp.finish(y, self.rate, self.n_samples, ref=x, seed=seed), self.rate

    def rows(self) -> Iterator:
        plans = self.plan()
        stamp = self.stamp()
        for p in plans:
            e, clip = p.excerpt, p.clip
            meta = {"track": e.track_id, "title": e.title, "author": e.author, "license": e.license,
                    "genre": e.genre, "pool": e.pool, "vocals": e.vocals, "package": e.package,
                    "excerpt_file": e.file, "clip_start_s": round(e.start_s + clip.start_s, 3)}
            if p.generator is None:
                rid = f"mini-real-{clip.id}"
                yield SourceRow(id=rid, label=0, generator="real", source=e.pool, group_key=e.track_id,
                                meta=meta, fetch=functools.partial(self._fetch_real, clip, rid), split=p.split,
                                stamp=stamp)
            else:
                rid = f"mini-{p.generator}-{clip.id}"
                yield SourceRow(id=rid, label=1, generator=p.generator, source=p.generator,
                                group_key=e.track_id, meta=meta,
                                fetch=functools.partial(self._fetch_fake, clip, p.generator, rid, p.split),
                                split=p.split, stamp=stamp)
