"""Localisation metrics: how well a detector's scores over time (its timeline of windows) find the AI-made parts
of songs whose truth is a list of labelled segments (:mod:`mom_bench.core.segments`).

Everything is computed on one frame grid per song (:data:`FRAME_S` seconds by default): frame ``k`` of a song of
duration ``D`` is ``[k f, min((k + 1) f, D))``, its truth the label of the segment holding its centre, its score the
mean P(fake) of the windows ``[start, end)`` holding its centre. A frame no window holds is *uncovered*: it is
left out of the frame AUC and EER and is never called AI; the share of time covered is reported beside the
metrics (``coverage``). The metrics (their definitions are :data:`DEFINITIONS`):

* ``frame_auc`` / ``frame_eer``: ROC AUC and equal error rate over the covered frames of all songs pooled, each
  frame weighted by its duration (so a song counts by its length, and a last short frame by its share);
* ``segment_precision`` / ``segment_recall`` / ``segment_f1``: event-based detection of AI segments with a
  tolerance on both boundaries, matched one to one;
* ``ai_fraction_mae``: mean over songs of |predicted AI share of the song - true AI share|, both measured on the
  frame grid (frames called AI, frames whose centre lies in an AI segment);
* ``song_auc`` / ``song_f1``: song-level "contains AI" from the song's highest window P(fake).

Each metric is a function of :class:`Prepared` (the frames and per-song counts, made once) and of song
weights: one row of ones for the value, one row of draw counts per bootstrap resample of songs. That keeps
the bootstrap over songs a matter of re-weighting, with no frame recomputed.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from mom_bench.core.segments import TIME_EPS, Segment, Window
from mom_bench.report.metrics.definitions import MetricsError

#: Frame length of the grid (seconds).
FRAME_S = 0.1
#: Boundary tolerance of segment detection (seconds): both ends of a predicted AI segment within it of the
#: true segment's ends.
TOLERANCE_S = 1.0
#: A frame is called AI when its score is >= this.
THRESHOLD = 0.5

#: Song strata of the bootstrap: resamples keep the number of human-only, AI-only and mixed songs.
STRATA = ("human", "ai", "mixed")


class Truth(Protocol):
    """What the metrics read of a song's truth (:class:`mom_bench.dataset.truth.SongTruth` is one)."""

    @property
    def duration(self) -> float: ...

    @property
    def segments(self) -> Sequence[Segment]: ...


def frame_grid(duration: float, frame_s: float = FRAME_S) -> np.ndarray:
    """The frame edges of a song: ``[0, f, 2f, ..., D]`` (the last frame may be shorter).

    >>> frame_grid(0.25, 0.1).round(6).tolist()
    [0.0, 0.1, 0.2, 0.25]
    """
    n = max(1, math.ceil(duration / frame_s - 1e-9))
    edges: np.ndarray = np.minimum(np.arange(n + 1) * frame_s, duration)
    edges[-1] = duration
    return edges


def frame_labels(segments: Sequence[Segment], centres: np.ndarray) -> np.ndarray:
    """The label (0/1) of the segment holding each centre."""
    ends = np.array([s.end for s in segments])
    labels = np.array([s.label for s in segments], dtype=np.int8)
    idx = np.minimum(np.searchsorted(ends, centres, side="right"), len(segments) - 1)
    out: np.ndarray = labels[idx]
    return out


def frame_scores(windows: Sequence[Window], centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean P(fake) of the windows holding each centre, how many hold it); the mean is NaN where none does.
    A window ``[start, end)`` holds centre ``c`` when ``start <= c < end``."""
    n = len(centres)
    total, count = np.zeros(n + 1), np.zeros(n + 1)
    if len(windows):
        w = np.asarray(windows, dtype=float).reshape(-1, 3)
        lo = np.searchsorted(centres, w[:, 0], side="left")  # first centre >= start
        hi = np.searchsorted(centres, w[:, 1], side="left")  # first centre >= end
        np.add.at(total, lo, w[:, 2])
        np.add.at(total, hi, -w[:, 2])
        np.add.at(count, lo, 1)
        np.add.at(count, hi, -1)
    sums, counts = np.cumsum(total)[:n], np.round(np.cumsum(count)[:n])
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = np.where(counts > 0, sums / np.where(counts > 0, counts, 1), np.nan)
    # the running sums leave ~1e-16 per window of rounding: rounded off, equal means stay equal (ties) and a
    # constant 0.5 stays 0.5 against the threshold
    return np.clip(np.round(scores, 10), 0.0, 1.0), counts


def runs(mask: np.ndarray, edges: np.ndarray) -> list[tuple[float, float]]:
    """The maximal runs of True frames as ``(start, end)`` seconds.

    >>> runs(np.array([False, True, True, False, True]), np.arange(6) * 1.0)
    [(1.0, 3.0), (4.0, 5.0)]
    """
    padded = np.r_[False, mask, False].astype(np.int8)
    change = np.flatnonzero(np.diff(padded))
    return [(float(edges[a]), float(edges[b])) for a, b in zip(change[::2], change[1::2])]


def ai_regions(segments: Sequence[Segment]) -> list[tuple[float, float]]:
    """The true AI segments to detect: maximal runs of AI-labelled segments (two touching AI segments of
    different generators are one AI stretch: a detector of AI music is not asked where one generator stops)."""
    out: list[tuple[float, float]] = []
    for s in segments:
        if s.label != 1:
            continue
        if out and abs(out[-1][1] - s.start) <= TIME_EPS:
            out[-1] = (out[-1][0], s.end)
        else:
            out.append((s.start, s.end))
    return out


def match_count(predicted: Sequence[tuple[float, float]], true: Sequence[tuple[float, float]],
                tolerance: float) -> int:
    """The size of a maximum one-to-one matching of predicted to true segments, a pair being allowed when both
    boundaries are within ``tolerance`` seconds (augmenting paths, as ``mir_eval.util._bipartite_match`` does).

    >>> match_count([(0, 10), (12, 20)], [(0.5, 10.4), (30, 40)], 1.0)
    1
    """
    allowed = [[j for j, t in enumerate(true) if abs(p[0] - t[0]) <= tolerance + TIME_EPS
                and abs(p[1] - t[1]) <= tolerance + TIME_EPS] for p in predicted]
    owner: dict[int, int] = {}

    def augment(i: int, seen: set[int]) -> bool:
        for j in allowed[i]:
            if j in seen:
                continue
            seen.add(j)
            if j not in owner or augment(owner[j], seen):
                owner[j] = i
                return True
        return False

    return sum(augment(i, set()) for i in range(len(predicted)))


@dataclass
class Prepared:
    """The songs of one evaluation, frames computed once. Songs are in id order (the bootstrap draws songs by
    position, so the same timelines listed in any order give the same intervals)."""

    ids: list[str]
    strata: np.ndarray  # index into STRATA per song
    # covered frames, merged per (song, label, score), sorted by descending score
    f_song: np.ndarray
    f_pos: np.ndarray
    f_dur: np.ndarray
    f_starts: np.ndarray  # first position of each run of equal scores
    covered: np.ndarray  # covered seconds per song
    duration: np.ndarray
    seg_tp: np.ndarray
    seg_pred: np.ndarray
    seg_true: np.ndarray
    fraction_error: np.ndarray  # |predicted AI share - true AI share| per song
    song_score: np.ndarray  # highest window P(fake); NaN for a song without windows
    song_label: np.ndarray  # 1 when the song holds any AI segment
    frame_s: float
    tolerance: float
    threshold: float

    @property
    def n_songs(self) -> int:
        return len(self.ids)


def prepare(truth: Mapping[str, Truth], timelines: Mapping[str, Sequence[Window]], *, frame_s: float = FRAME_S,
            tolerance: float = TOLERANCE_S, threshold: float = THRESHOLD) -> Prepared:
    """Frames and per-song counts of every song of ``truth`` (a song absent from ``timelines`` has no window:
    uncovered). Raises :class:`MetricsError` for a timeline id that ``truth`` lacks, or bad options."""
    if not (isinstance(frame_s, (int, float)) and math.isfinite(frame_s) and frame_s > 0):
        raise MetricsError(f"frame_s must be a positive number of seconds, got {frame_s!r}")
    if not (isinstance(tolerance, (int, float)) and math.isfinite(tolerance) and tolerance >= 0):
        raise MetricsError(f"tolerance must be a number of seconds >= 0, got {tolerance!r}")
    if not (isinstance(threshold, (int, float)) and 0 <= threshold <= 1):
        raise MetricsError(f"threshold must be a probability in [0, 1], got {threshold!r}")
    unknown = sorted(set(timelines) - set(truth))
    if unknown:
        raise MetricsError(f"{len(unknown)} timeline id(s) are not songs of the scored splits (e.g. "
                           f"{', '.join(repr(i) for i in unknown[:5])})")
    if not truth:
        raise MetricsError("no songs to score")
    ids = sorted(truth)
    frames: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    per_song: dict[str, list[float]] = {k: [] for k in ("covered", "duration", "tp", "pred", "true", "err",
                                                         "score", "label", "stratum")}
    for s, ident in enumerate(ids):
        song = truth[ident]
        edges = frame_grid(float(song.duration), frame_s)
        centres, dur = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
        labels = frame_labels(song.segments, centres)
        windows = timelines.get(ident, ())
        scores, counts = frame_scores(windows, centres)
        covered = counts > 0
        called = covered & (scores >= threshold)
        predicted, true = runs(called, edges), ai_regions(song.segments)
        seconds = float(np.sum(dur))
        # both shares on the one frame grid: an oracle timeline scores 0 whatever the frame length, and a boundary
        # inside a frame counts where the frame's centre falls, for the truth as for the prediction
        true_share = float(np.sum(dur[labels == 1])) / seconds if seconds else 0.0
        has_ai, has_human = any(x.label == 1 for x in song.segments), any(x.label == 0 for x in song.segments)
        per_song["covered"].append(float(np.sum(dur[covered])))
        per_song["duration"].append(seconds)
        per_song["tp"].append(match_count(predicted, true, tolerance))
        per_song["pred"].append(len(predicted))
        per_song["true"].append(len(true))
        per_song["err"].append(abs(float(np.sum(dur[called])) / seconds - true_share) if seconds else 0.0)
        per_song["score"].append(max((float(w[2]) for w in windows), default=math.nan))
        per_song["label"].append(int(has_ai))
        per_song["stratum"].append(STRATA.index("mixed" if has_ai and has_human else "ai" if has_ai else "human"))
        if covered.any():
            # frames of one song with the same label and score are one weighted item: fewer items, same curve
            keys = np.stack([labels[covered].astype(float), scores[covered]], axis=1)
            uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
            weight = np.bincount(inverse.ravel(), weights=dur[covered], minlength=len(uniq))
            frames.append((np.full(len(uniq), s), uniq[:, 0].astype(np.int8), uniq[:, 1], weight))
    if frames:
        f_song, f_pos, f_score, f_dur = (np.concatenate(parts) for parts in zip(*frames))
    else:
        f_song, f_pos, f_score, f_dur = (np.zeros(0, dtype=int), np.zeros(0, dtype=np.int8), np.zeros(0),
                                         np.zeros(0))
    order = np.argsort(-f_score, kind="mergesort")
    f_score = f_score[order]
    starts = np.r_[0, np.flatnonzero(np.diff(f_score)) + 1] if len(f_score) else np.zeros(0, dtype=int)
    arr = {k: np.asarray(v, dtype=float) for k, v in per_song.items()}
    return Prepared(ids=ids, strata=arr["stratum"].astype(int), f_song=f_song[order].astype(int),
                    f_pos=f_pos[order].astype(bool), f_dur=f_dur[order], f_starts=starts.astype(int),
                    covered=arr["covered"], duration=arr["duration"], seg_tp=arr["tp"], seg_pred=arr["pred"],
                    seg_true=arr["true"], fraction_error=arr["err"], song_score=arr["score"],
                    song_label=arr["label"].astype(int), frame_s=float(frame_s), tolerance=float(tolerance),
                    threshold=float(threshold))


# --------------------------------------------------------------------------------------------------
# The metrics: each takes song weights ``w`` of shape (draws, songs) and gives one value per draw (NaN where
# undefined). ``w`` is a row of ones for the value itself.


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        out: np.ndarray = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return out


def weighted_roc(weights: np.ndarray, positive: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fpr, tpr) per row of ``weights`` (items sorted by descending score; ``starts``: each run of equal scores),
    from (0, 0) to (1, 1); NaN rows where one class weighs nothing."""
    b = len(weights)
    if weights.shape[1] == 0:
        nan = np.full((b, 2), np.nan)
        return nan, nan
    pos = np.add.reduceat(weights * positive, starts, axis=1)
    neg = np.add.reduceat(weights * ~positive, starts, axis=1)
    tp, fp = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
    tpr = _ratio(tp, tp[:, -1:]) if tp.size else tp
    fpr = _ratio(fp, fp[:, -1:]) if fp.size else fp
    zero = np.zeros((b, 1))
    return np.concatenate([zero, fpr], axis=1), np.concatenate([zero, tpr], axis=1)


def _auc(fpr: np.ndarray, tpr: np.ndarray) -> np.ndarray:
    area: np.ndarray = np.sum(np.diff(fpr, axis=1) * (tpr[:, 1:] + tpr[:, :-1]) / 2, axis=1)
    return area


def _eer(fpr: np.ndarray, tpr: np.ndarray) -> np.ndarray:
    """The equal error rate of each curve, interpolated as :func:`mom_bench.report.metrics.scores.eer` does."""
    out = np.full(len(fpr), np.nan)
    ok = np.isfinite(fpr).all(axis=1) & np.isfinite(tpr).all(axis=1)
    if not ok.any():
        return out
    f, t = fpr[ok], tpr[ok]
    diff = (1.0 - t) - f  # 1 at the first point, -1 at the last
    i = np.argmax(diff <= 0, axis=1)
    rows = np.arange(len(f))
    d0, d1 = diff[rows, i - 1], diff[rows, i]
    f0, f1 = f[rows, i - 1], f[rows, i]
    out[ok] = np.where(i == 0, f[rows, 0], f0 + d0 / np.where(d0 - d1 == 0, 1.0, d0 - d1) * (f1 - f0))
    return out


def _frame_curve(p: Prepared, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return weighted_roc(w[:, p.f_song] * p.f_dur, p.f_pos, p.f_starts)


def frame_auc(p: Prepared, w: np.ndarray) -> np.ndarray:
    return _auc(*_frame_curve(p, w))


def frame_eer(p: Prepared, w: np.ndarray) -> np.ndarray:
    return _eer(*_frame_curve(p, w))


def segment_precision(p: Prepared, w: np.ndarray) -> np.ndarray:
    return _ratio(w @ p.seg_tp, w @ p.seg_pred)


def segment_recall(p: Prepared, w: np.ndarray) -> np.ndarray:
    return _ratio(w @ p.seg_tp, w @ p.seg_true)


def segment_f1(p: Prepared, w: np.ndarray) -> np.ndarray:
    return _ratio(2 * (w @ p.seg_tp), w @ p.seg_pred + w @ p.seg_true)


def ai_fraction_mae(p: Prepared, w: np.ndarray) -> np.ndarray:
    return _ratio(w @ p.fraction_error, w.sum(axis=1))


def _scored_songs(p: Prepared) -> np.ndarray:
    return np.flatnonzero(np.isfinite(p.song_score))


def song_auc(p: Prepared, w: np.ndarray) -> np.ndarray:
    keep = _scored_songs(p)
    order = keep[np.argsort(-p.song_score[keep], kind="mergesort")]
    scores = p.song_score[order]
    starts = np.r_[0, np.flatnonzero(np.diff(scores)) + 1] if len(scores) else np.zeros(0, dtype=int)
    return _auc(*weighted_roc(w[:, order], p.song_label[order] == 1, starts.astype(int)))


def song_f1(p: Prepared, w: np.ndarray) -> np.ndarray:
    keep = _scored_songs(p)
    called = (p.song_score[keep] >= p.threshold).astype(float)
    label = p.song_label[keep].astype(float)
    wk = w[:, keep]
    tp, fp, fn = wk @ (called * label), wk @ (called * (1 - label)), wk @ ((1 - called) * label)
    return _ratio(2 * tp, 2 * tp + fp + fn)


def coverage(p: Prepared, w: np.ndarray) -> np.ndarray:
    return _ratio(w @ p.covered, w @ p.duration)


def windows_of(rows: Iterable[tuple[Any, Any, Any, Any]]) -> dict[str, list[Window]]:
    """``{id: [Window, ...]}`` from ``(id, start, end, p_fake)`` rows (a checked timeline file), each song's
    windows in start order."""
    out: dict[str, list[Window]] = {}
    for ident, start, end, p in rows:
        out.setdefault(str(ident), []).append(Window(float(start), float(end), float(p)))
    for windows in out.values():
        windows.sort()
    return out
