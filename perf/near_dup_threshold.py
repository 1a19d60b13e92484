"""The basis of the near-duplicate threshold (mom_bench.dataset.lineage.NEAR_BER): the bit error rate (BER) of the
fingerprints of distinct rows of a build, against that of a row and its own re-encoded copies.

Every row's stored audio is decoded at 16 kHz and fingerprinted (`lineage.fingerprint`); all pairs of rows of
different groups (different tracks: on mom-mini a real clip and the fakes made from it share a group) give the
false-match side, pairs within a group are shown apart. For a sample of rows the stored audio is re-encoded
(MP3 at 44.1 kHz and 128 kb/s; WAV at 22.05 kHz), decoded again at 16 kHz and compared with the original: the
true-match side. Prints both distributions and how many distinct pairs each candidate threshold would call
near duplicates.

    python perf/near_dup_threshold.py [BUILD_DIR] [--sample 100]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch

from mom_bench.core import audio as A
from mom_bench.core import settings
from mom_bench.dataset import lineage

_POP = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint16)


def _prints(folder: Path) -> tuple[list[str], list[str], list[np.ndarray], list[bytes]]:
    ids, groups, prints, audio = [], [], [], []
    for shard in sorted((folder / "data").glob("*.parquet")):
        for rec in pq.read_table(shard, columns=["id", "group_id", "audio"]).to_pylist():
            x = lineage.head(A.load(rec["audio"]["bytes"], sample_rate=lineage.RATE,
                                    clip=A.first(lineage.SECONDS + 1)).samples)
            ids.append(rec["id"])
            groups.append(rec["group_id"])
            prints.append(lineage.words(lineage.fingerprint(x.numpy())))
            audio.append(rec["audio"]["bytes"])
    return ids, groups, prints, audio


def _all_pairs(words: np.ndarray) -> np.ndarray:
    """(N, N) least BER over the shifts of lineage (same live-frame rule as lineage.bit_error_rate)."""
    n, w = words.shape
    best = np.full((n, n), np.inf)
    for s in lineage._SHIFTS:
        a = words[:, s:] if s >= 0 else words
        b = words if s >= 0 else words[:, -s:]
        m = min(a.shape[1], b.shape[1])
        a, b = a[:, :m], b[:, :m]
        for i in range(n):
            x = np.bitwise_xor(a[i][None, :], b)  # row i shifted against every row
            live = (a[i][None, :] != 0) | (b != 0)
            bits = _POP[x.view(np.uint8)].reshape(n, m, 4).sum(axis=2)
            n_live = live.sum(axis=1)
            ber = np.where(n_live >= lineage.MIN_WORDS, (bits * live).sum(axis=1) / (32 * np.maximum(n_live, 1)),
                           np.inf)
            best[i] = np.minimum(best[i], ber)
    return np.minimum(best, best.T)


def _reencoded(flac: bytes, fmt: str, rate: int) -> np.ndarray:
    from torchcodec.encoders import AudioEncoder

    x = A.load(flac).samples
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"copy.{fmt}"
        enc = AudioEncoder(A.resample(x, 24000, rate).reshape(1, -1), sample_rate=rate)
        enc.to_file(str(path), **({"bit_rate": 128_000} if fmt == "mp3" else {}))
        y = lineage.head(A.load(path, sample_rate=lineage.RATE, clip=A.first(lineage.SECONDS + 1)).samples)
    return lineage.words(lineage.fingerprint(y.numpy()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build", nargs="?", type=Path, default=settings.default_dataset_dir("mom-mini"))
    ap.add_argument("--sample", type=int, default=100, help="rows re-encoded for the true-match side")
    args = ap.parse_args()
    torch.set_num_threads(1)
    ids, groups, prints, audio = _prints(args.build)
    width = min(p.size for p in prints)
    words = np.stack([p[:width] for p in prints])
    ber = _all_pairs(words)
    g = np.array(groups, dtype=object)
    upper = np.triu(np.ones_like(ber, dtype=bool), k=1)
    distinct = ber[upper & (g[:, None] != g[None, :])]
    same_group = ber[upper & (g[:, None] == g[None, :])]
    rng = np.random.default_rng(0)
    sample = rng.choice(len(ids), size=min(args.sample, len(ids)), replace=False)
    # the vectorised pass is checked against the library's own function on a few pairs
    for i, j in zip(sample[:10], sample[10:20]):
        ref = lineage.bit_error_rate(words[i], words[j])
        assert ref is None or abs(ref - min(ber[i, j], 9)) < 1e-9, (ids[i], ids[j], ref, ber[i, j])
    copies = {fmt: np.array([lineage.bit_error_rate(prints[i], _reencoded(audio[i], fmt, rate)) for i in sample],
                            dtype=float) for fmt, rate in (("mp3", 44100), ("wav", 22050))}

    def q(x: np.ndarray) -> str:
        x = x[np.isfinite(x)]
        return (f"n={x.size} min {x.min():.3f} p0.1 {np.quantile(x, 0.001):.3f} p1 {np.quantile(x, 0.01):.3f} "
                f"median {np.median(x):.3f} p99 {np.quantile(x, 0.99):.3f} max {x.max():.3f}")

    print(f"build {args.build}: {len(ids)} rows, {width} fingerprint words each")
    print(f"distinct rows (different groups), BER: {q(distinct)}")
    print(f"same group (a track and the fakes made from it), BER: {q(same_group)}")
    for fmt, x in copies.items():
        print(f"re-encoded copies ({fmt}), BER against the original: {q(x)}")
    for t in (0.15, 0.2, 0.25, 0.3, 0.35):
        fp = int((distinct <= t).sum())
        tp = {fmt: float(np.mean(x <= t)) for fmt, x in copies.items()}
        print(f"threshold {t:.2f}: distinct pairs called near duplicates {fp} of {distinct.size}; same-group pairs "
              f"{int((same_group <= t).sum())} of {same_group.size}; copies found "
              + ", ".join(f"{fmt} {v:.1%}" for fmt, v in tp.items()))


if __name__ == "__main__":
    main()
