"""Lineage across builds: which rows of one build already appear in another (exact and near duplicates).

Corpora copy each other (the reals of one are the reals of another, a generator's songs are re-released, a
song is re-encoded), so a detector trained on one build and tested on another can be tested on songs it
trained on. Three per-row columns let builds be compared without decoding any audio again:

- ``content_sha256``: the sha256 of the stored 16-bit PCM. Exact, but only between builds that stored the
  song identically (same protocol rate, same ``--max-seconds``): the same song stored at 24 kHz and at
  16 kHz, or whole and cut to 90 s, has another hash.
- ``pcm16k_sha256``: the sha256 of the first :data:`SECONDS` s of the INPUT file decoded at :data:`RATE` Hz
  mono on the 16-bit grid. It does not depend on the build's rate, length cap or ``--store``: the same input
  file gives the same hash in every build. A re-encoded file (another codec, another rate) has another one.
- ``pcm16k_print``: a robust fingerprint of the same samples for re-encoded copies, in the manner of the
  sub-fingerprints of Haitsma and Kalker ("A Highly Robust Audio Fingerprinting System", ISMIR 2002): for each
  frame, 32 bits, each the sign of the change over time of the energy difference of two adjacent bands
  (33 log-spaced bands, 250 Hz to 4 kHz). Two rows are near duplicates when their bit error rate (BER) is at
  most :data:`NEAR_BER` over at least :data:`MIN_WORDS` aligned frames (best of a few frames' shift).

Builds made before these columns existed have ``content_sha256`` only: they take part in the exact check on
it and have no invariant or near-duplicate data.
"""
from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: Rate and length of the decoding that the invariant hash and the fingerprint are made from.
RATE = 16000
SECONDS = 30.0
_FRAME = 2048  # 128 ms
_HOP = 1600  # 100 ms: 32 bits per 100 ms, 1.2 kB per row for 30 s
_N_BANDS = 33
_BAND_LO, _BAND_HI = 250.0, 4000.0
#: Bit error rate at or under which two rows are near duplicates (basis: docs/corpora.md, measured on
#: mom-mini's distinct rows).
NEAR_BER = 0.25
#: Aligned frames two fingerprints must share (with some sound in them) for a near-duplicate verdict.
MIN_WORDS = 8
_SHIFTS = range(-2, 3)
#: A fingerprint word shared by more rows than this is not a clue (silence, a constant tone).
_BUCKET_CAP = 64
#: The columns of a build this module reads (those a build lacks are simply absent).
COLUMNS = ("id", "split", "content_sha256", "pcm16k_sha256", "pcm16k_print")


def head(samples: Any) -> Any:
    """The part of a decoding at :data:`RATE` that the hash and the fingerprint are made from: the first
    :data:`SECONDS` s without trailing exact zeros (a song shorter than that comes padded from a ``first`` clip,
    or not, depending on how it was decoded; its digital silence at the end is no content either way).

    >>> head(np.array([0.5, 0.0, 0.25, 0.0, 0.0])).tolist()
    [0.5, 0.0, 0.25]
    """
    x = samples[: int(SECONDS * RATE)]
    nonzero = np.flatnonzero(np.asarray(x) != 0)
    return x[: int(nonzero[-1]) + 1] if nonzero.size else x[:0]


def pcm16k_sha256(samples: np.ndarray) -> str:
    """sha256 of ``samples`` (mono float at :data:`RATE`, first :data:`SECONDS` s) on the 16-bit grid.

    >>> pcm16k_sha256(np.zeros(4, dtype=np.float32)) == hashlib.sha256(bytes(8)).hexdigest()
    True
    """
    x = np.asarray(samples, dtype=np.float32)[: int(SECONDS * RATE)]
    pcm = np.clip(np.round(x * 32768.0), -32768, 32767).astype("<i2")
    return hashlib.sha256(pcm.tobytes()).hexdigest()


def _band_edges() -> np.ndarray:
    freqs = np.geomspace(_BAND_LO, _BAND_HI, _N_BANDS + 1)
    return np.round(freqs / RATE * _FRAME).astype(int)


def fingerprint(samples: np.ndarray) -> bytes:
    """The near-duplicate fingerprint of ``samples`` (mono float at :data:`RATE`): one big-endian 32-bit word
    per 100 ms frame after the first; empty for audio shorter than two frames."""
    x = np.asarray(samples, dtype=np.float64)[: int(SECONDS * RATE)]
    if x.size < _FRAME + _HOP:
        return b""
    n = 1 + (x.size - _FRAME) // _HOP
    idx = np.arange(_FRAME)[None, :] + _HOP * np.arange(n)[:, None]
    spec = np.abs(np.fft.rfft(x[idx] * np.hanning(_FRAME), axis=1)) ** 2
    edges = _band_edges()
    energy = np.stack([spec[:, a:max(b, a + 1)].sum(axis=1) for a, b in zip(edges[:-1], edges[1:])], axis=1)
    diff = energy[:, :-1] - energy[:, 1:]  # (frames, 32)
    bits = (diff[1:] - diff[:-1]) > 0
    words = (bits.astype(np.uint64) << np.arange(31, -1, -1, dtype=np.uint64)).sum(axis=1)
    return words.astype(">u4").tobytes()


def words(print_bytes: bytes | None) -> np.ndarray:
    return np.frombuffer(print_bytes or b"", dtype=">u4").astype(np.uint32)


def bit_error_rate(a: np.ndarray, b: np.ndarray) -> float | None:
    """Least bit error rate of two fingerprints (word arrays) over the shifts of :data:`_SHIFTS` frames, counting
    only aligned frames where either has sound (a word other than 0); None when fewer than :data:`MIN_WORDS`
    such frames align."""
    best: float | None = None
    for s in _SHIFTS:
        x, y = (a[s:], b) if s >= 0 else (a, b[-s:])
        m = min(x.size, y.size)
        x, y = x[:m], y[:m]
        live = (x != 0) | (y != 0)
        if int(live.sum()) < MIN_WORDS:
            continue
        xor = np.bitwise_xor(x[live], y[live])
        ber = float(np.unpackbits(xor.view(np.uint8)).sum()) / (32 * int(live.sum()))
        best = ber if best is None else min(best, ber)
    return best


# --------------------------------------------------------------------------------------------------
# comparing builds


@dataclass
class Rows:
    """The lineage columns of one build (or of the rows being built)."""

    name: str
    ids: list[str]
    splits: list[str]
    content: list[str | None]
    pcm16k: list[str | None]
    prints: list[bytes | None]
    has_prints: bool = False

    @classmethod
    def from_records(cls, name: str, records: Iterable[dict]) -> Rows:
        recs = list(records)
        return cls(name, [str(r["id"]) for r in recs], [str(r.get("split") or "") for r in recs],
                   [r.get("content_sha256") for r in recs], [r.get("pcm16k_sha256") for r in recs],
                   [r.get("pcm16k_print") for r in recs],
                   has_prints=any(r.get("pcm16k_print") for r in recs))

    def only(self, splits: Iterable[str]) -> Rows:
        keep = [i for i, s in enumerate(self.splits) if s in set(splits)]
        return Rows(self.name, [self.ids[i] for i in keep], [self.splits[i] for i in keep],
                    [self.content[i] for i in keep], [self.pcm16k[i] for i in keep], [self.prints[i] for i in keep],
                    self.has_prints)


def read_build(folder: Path, name: str | None = None) -> Rows:
    """The lineage columns of the build in ``folder`` (its shards' small columns; no audio is read)."""
    import pyarrow.parquet as pq

    records: list[dict] = []
    for shard in sorted((Path(folder) / "data").glob("*.parquet")):
        have = set(pq.read_schema(shard).names)
        records += pq.read_table(shard, columns=[c for c in COLUMNS if c in have]).to_pylist()
    return Rows.from_records(name or Path(folder).name, records)


@dataclass
class Overlap:
    """Rows of ``new`` found in ``other``: ``exact`` (new id -> other id: same stored audio or same input file)
    and ``near`` (new id -> (other id, BER))."""

    other: str
    exact: dict[str, str] = field(default_factory=dict)
    near: dict[str, tuple[str, float]] = field(default_factory=dict)
    near_checked: bool = True

    @property
    def ids(self) -> set[str]:
        return set(self.exact) | set(self.near)

    def to_json(self, folder: str | None = None) -> dict[str, Any]:
        return {"build": self.other, **({"folder": folder} if folder else {}),
                "exact": len(self.exact), "near": len(self.near), "near_checked": self.near_checked,
                "exact_ids": {k: self.exact[k] for k in sorted(self.exact)},
                "near_ids": {k: {"id": v[0], "ber": round(v[1], 4)} for k, v in sorted(self.near.items())}}


def overlap(new: Rows, other: Rows, *, near_ber: float = NEAR_BER) -> Overlap:
    """The rows of ``new`` that ``other`` holds too: exact on ``content_sha256`` or ``pcm16k_sha256``, else near
    on the fingerprint (candidates: rows sharing a fingerprint word; verdict: :func:`bit_error_rate` <=
    ``near_ber``). Without fingerprints on either side, ``near_checked`` is False."""
    result = Overlap(other.name, near_checked=new.has_prints and other.has_prints)
    by_hash: dict[str, str] = {}
    for i, c, p in zip(other.ids, other.content, other.pcm16k):
        for h in (c, p):
            if h:
                by_hash.setdefault(h, i)
    for i, c, p in zip(new.ids, new.content, new.pcm16k):
        hit = next((by_hash[h] for h in (c, p) if h and h in by_hash), None)
        if hit is not None:
            result.exact[i] = hit
    if not result.near_checked:
        return result
    other_words = [words(p) for p in other.prints]
    index: dict[int, list[int]] = defaultdict(list)
    for j, w in enumerate(other_words):
        for word in set(w.tolist()) - {0}:
            index[word].append(j)
    for i, fp in zip(new.ids, new.prints):
        if i in result.exact or not fp:
            continue
        mine = words(fp)
        candidates: set[int] = set()
        for word in set(mine.tolist()) - {0}:
            bucket = index.get(word)
            if bucket and len(bucket) <= _BUCKET_CAP:
                candidates.update(bucket)
        best: tuple[str, float] | None = None
        for j in candidates:
            ber = bit_error_rate(mine, other_words[j])
            if ber is not None and ber <= near_ber and (best is None or ber < best[1]):
                best = (other.ids[j], ber)
        if best is not None:
            result.near[i] = best
    return result


def local_builds(extra: Iterable[str | Path] = (), *, skip: Path | None = None) -> list[Path]:
    """The finished builds to compare a new build with: those under ``$MOM_BENCH_HOME``'s datasets folder and
    the folders of ``extra`` (each must be a build), without ``skip`` (the build being made)."""
    from mom_bench.core import settings
    from mom_bench.core.errors import NotABuiltBenchmark

    found: list[Path] = []
    home = settings.datasets_dir()
    if home.is_dir():
        found += sorted(p for p in home.iterdir() if (p / "build_report.json").is_file())
    for e in extra:
        p = Path(e).expanduser()
        if not (p / "build_report.json").is_file():
            raise NotABuiltBenchmark(f"--dedup-against {p}: not a finished mom-bench build (no build_report.json)")
        found.append(p)
    seen, out = set(), []
    for p in found:
        r = p.resolve()
        if r in seen or (skip is not None and r == Path(skip).resolve()):
            continue
        seen.add(r)
        out.append(p)
    return out
