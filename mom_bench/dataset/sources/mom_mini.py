"""The mom-mini source: shipped real excerpts plus fakes made from them at build time.

Content pairing: every fake is re-synthesised from one real excerpt and keeps that excerpt's track as
its ``group_key``, so a track, its excerpts and all fakes made from them land in one split.

Split allocation (pre-assigned on every row): with 16 tracks, hashing each track on its own would give
lopsided splits, so tracks are ordered by ``sha256(salt + ":" + track_id)`` and dealt out in that order
by the protocol's ``splits.reals`` weights (largest-remainder rounding, at least one track per split).
Fakes: each excerpt gets exactly one fake, its family taken in turn from the families allowed in its
split (in-distribution families for train/validation/test_id, OOD families for test_ood), so every
split is half real, half fake, and the families of a split are equally represented.

Every clip, real or fake, leaves here in the same format (``mom_bench.dataset.mini.dsp.finish``): mono, the
protocol's rate, ``clip_seconds`` long, fixed RMS, soft peak ceiling, common band limit; fakes also have
their long-term spectrum matched to their source excerpt. The builder then stores them all as FLAC.
"""
from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from mom_bench.core.splits import SPLITS, TEST_OOD, TRAIN
from mom_bench.dataset.mini import dsp
from mom_bench.dataset.mini.excerpts import Excerpt, excerpts, load_excerpt
from mom_bench.dataset.mini.families import Family
from mom_bench.dataset.mini.generators import make_family
from mom_bench.dataset.sources.rows import SourceRow

REAL_SOURCE = "debian_music"


def allocate_tracks(track_ids: list[str], salt: str, weights: dict[str, float]) -> dict[str, str]:
    """Deal tracks into splits: salted-hash order, cumulative proportions by largest remainder."""
    order = sorted(set(track_ids), key=lambda t: hashlib.sha256(f"{salt}:{t}".encode()).hexdigest())
    splits = [s for s in SPLITS if weights.get(s, 0) > 0]
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


class _SingleThread:
    """mom-mini's torch work runs one call at a time, on one intra-op thread.

    Results of convolutions and FFTs differ in the last bits between 1 and 2 intra-op threads (measured),
    and the builder fetches rows from several threads at once, where each thread has its own OpenMP
    setting. Serialising the work and pinning one thread for its duration makes every build
    bit-identical (same ``content_sha256``, same fingerprint). The builder keeps encoding and hashing
    finished rows on the other core meanwhile."""

    def __init__(self):
        self._lock = threading.RLock()
        self._depth = 0  # re-entered by the thread that holds it (preparing the families inside a fetch)

    def __enter__(self):
        self._lock.acquire()
        self._depth += 1
        if self._depth == 1:
            self._saved = torch.get_num_threads()
            torch.set_num_threads(1)

    def __exit__(self, *exc):
        self._depth -= 1
        if self._depth == 0:
            torch.set_num_threads(self._saved)
        self._lock.release()


_single_thread = _SingleThread()


def _row_seed(seed: int, row_id: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{row_id}".encode()).digest()[:4], "little")


@dataclass
class _Plan:
    excerpt: Excerpt
    split: str
    generator: str | None  # None for the real row


class MomMiniSource:
    """``source: {kind: mom-mini}`` options: ``seed`` (generation and auto-encoder training, default 0),
    ``clip_seconds`` (default 10), ``data_dir`` (another excerpt folder with an ATTRIBUTION.csv; default
    the shipped one), ``excerpts_per_track`` (use only the first N excerpts of each track; smoke tests),
    ``train_steps`` (override the auto-encoders' training steps; smoke tests)."""

    def __init__(self, protocol, options: dict):
        self.protocol = protocol
        self.rate = int(protocol.sample_rate)
        self.seed = int(options.get("seed", 0) or 0)
        self.clip_seconds = float(options.get("clip_seconds", 10.0) or 10.0)
        self.n_samples = int(round(self.clip_seconds * self.rate))
        self.data_dir = options.get("data_dir")
        per_track = options.get("excerpts_per_track")
        self.excerpts_per_track = int(per_track) if per_track else None
        self.train_steps = options.get("train_steps")
        self.generators = {g.id: g for g in protocol.generators}
        self._families: dict[str, Family] = {}
        self._decoded: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        self._plans: list[_Plan] | None = None
        self._prepared = False

    # ----------------------------------------------------------------------------------------------
    def _excerpts(self) -> list[Excerpt]:
        items = excerpts(self.data_dir)
        if self.excerpts_per_track:
            items = [e for e in items if e.index < self.excerpts_per_track]
        return items

    def plan(self) -> list[_Plan]:
        """Every row to build, in a fixed order: reals and their fakes, split by split."""
        items = self._excerpts()
        split_of = allocate_tracks([e.track_id for e in items], self.protocol.salt, self.protocol.real_weights)
        id_gens = [g.id for g in self.protocol.generators if not g.is_ood]
        ood_gens = [g.id for g in self.protocol.generators if g.is_ood]
        if not id_gens or not ood_gens:
            raise ValueError(f"{self.protocol.name}: mom-mini needs at least one in-distribution and one OOD generator")
        order = sorted(items, key=lambda e: (SPLITS.index(split_of[e.track_id]),
                                             hashlib.sha256(f"{self.protocol.salt}:{e.track_id}".encode()).hexdigest(),
                                             e.index))
        plans, turn = [], {s: 0 for s in SPLITS}
        for e in order:
            split = split_of[e.track_id]
            gens = ood_gens if split == TEST_OOD else id_gens
            plans.append(_Plan(e, split, None))
            plans.append(_Plan(e, split, gens[turn[split] % len(gens)]))
            turn[split] += 1
        return plans

    def _samples(self, e: Excerpt) -> np.ndarray:
        with self._lock:
            cached = self._decoded.get(e.file)
        if cached is None:
            x = load_excerpt(e, self.rate)
            x = x[:self.n_samples] if x.size >= self.n_samples else np.pad(x, (0, self.n_samples - x.size))
            cached = x.astype(np.float32)
            with self._lock:
                self._decoded[e.file] = cached
        return cached

    def family(self, gen_id: str) -> Family:
        """The (prepared) family object of a protocol generator."""
        fam = self._families.get(gen_id)
        if fam is None:
            g = self.generators[gen_id]
            options = dict(g.extra.get("options") or {})
            method = options.pop("method", gen_id)
            if self.train_steps is not None:
                options["steps"] = int(self.train_steps)
            fam = make_family(method, self.rate, **options)
            self._families[gen_id] = fam
        return fam

    def _prepare(self, plans: list[_Plan]) -> None:
        """Train (or load from the cache) every family that needs training, on the training reals only."""
        from tqdm.auto import tqdm

        needing = [g for g in dict.fromkeys(p.generator for p in plans if p.generator) if self.family(g).needs_training]
        if not needing:
            return
        train = [p.excerpt for p in plans if p.generator is None and p.split == TRAIN]
        clips = [self._samples(e) for e in train]
        for gen_id in needing:
            fam = self.family(gen_id)
            bar = tqdm(total=int(getattr(fam, "steps", 0)) or None, desc=f"mom-mini: train {gen_id}",
                       unit="step", leave=False, disable=None)

            def step(done, total, loss, bar=bar):
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.3f}", refresh=False)

            fam.prepare(clips, seed=self.seed, progress=step)
            bar.close()

    def _ensure_prepared(self) -> None:
        """Train the families on first use, not when listing: a build that finds itself up to date lists
        the rows and stops there."""
        with _single_thread:
            if not self._prepared:
                self._prepare(self._plans if self._plans is not None else self.plan())
                self._prepared = True

    def stamp(self) -> str:
        """sha256 of the attribution table and of every excerpt file: each row's audio (and every fake,
        through the auto-encoders trained on the training excerpts) depends on them."""
        items = self._excerpts()
        h = hashlib.sha256((items[0].path.parent / "ATTRIBUTION.csv").read_bytes())
        for e in sorted(items, key=lambda e: e.file):
            h.update(e.file.encode("utf-8") + b"\0" + hashlib.sha256(e.path.read_bytes()).digest())
        return h.hexdigest()

    # ----------------------------------------------------------------------------------------------
    def _fetch_real(self, e: Excerpt):
        with _single_thread:
            return dsp.finish(self._samples(e), self.rate, self.n_samples), self.rate

    def _fetch_fake(self, e: Excerpt, gen_id: str, row_id: str):
        with _single_thread:
            self._ensure_prepared()
            x = self._samples(e)
            y = self.family(gen_id).generate(x, _row_seed(self.seed, row_id))
            return dsp.finish(y, self.rate, self.n_samples, ref=x), self.rate

    def rows(self) -> Iterator:
        plans = self._plans = self.plan()
        stamp = self.stamp()
        for p in plans:
            e = p.excerpt
            meta = {"track": e.track_id, "title": e.title, "author": e.author, "license": e.license,
                    "genre": e.genre, "debian_package": e.package, "excerpt_file": e.file,
                    "excerpt_start_s": e.start_s}
            if p.generator is None:
                rid = f"mini-real-{e.track_id}-{e.index}"
                yield SourceRow(id=rid, label=0, generator="real", source=REAL_SOURCE, group_key=e.track_id,
                                meta=meta, fetch=functools.partial(self._fetch_real, e), split=p.split,
                                stamp=stamp)
            else:
                rid = f"mini-{p.generator}-{e.track_id}-{e.index}"
                yield SourceRow(id=rid, label=1, generator=p.generator, source=p.generator,
                                group_key=e.track_id, meta=meta,
                                fetch=functools.partial(self._fetch_fake, e, p.generator, rid), split=p.split,
                                stamp=stamp)
