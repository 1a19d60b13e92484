"""The change-point baseline of localisation: a song's window scores made piecewise constant.

A detector's window scores are noisy; the AI part of a spliced song is a few contiguous stretches. The baseline
fits a step function to the sequence of window P(fake) by penalised least squares and returns it as a timeline:
each stretch between two change points gets the mean score of its windows.

The fit is the exact minimiser of ``sum of squared residuals + penalty x number of segments``, found by optimal
partitioning with the pruning of PELT (R. Killick, P. Fearnhead and I. A. Eckley, "Optimal detection of
changepoints with a linear computational cost", JASA 107(500), 2012): with a squared-error cost, a candidate last
change point that cannot beat the best cost so far can never win later and is dropped, so the search is linear
in the number of windows for well-separated changes (quadratic at worst). The default penalty is the BIC-like
``2 * sigma^2 * ln(n)`` (the choice of Killick et al.'s examples) with the noise ``sigma`` estimated from the
median absolute difference of consecutive scores (robust to the steps themselves; the MAD divided by
``0.6745 * sqrt(2)`` estimates the standard deviation of Gaussian noise), floored at :data:`MIN_PENALTY` so that a
clean sequence is not cut at every window.

Why not a two-state HMM with Viterbi smoothing: it needs emission and switching probabilities per detector (its
scores are not calibrated alike), where the least-squares fit needs one penalty with a data-driven default.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from mom_bench.core.segments import Window

#: The smallest default penalty (in squared P(fake) units): a step of 0.3 held for two windows on each side
#: (a gain of 4 * 0.25 * 0.09 = 0.09) is kept, a wobble of 0.1 over one window is not.
MIN_PENALTY = 0.05


def default_penalty(y: Sequence[float] | np.ndarray) -> float:
    """``max(2 * sigma^2 * ln(n), MIN_PENALTY)``, sigma from the median absolute difference (module docstring)."""
    values = np.asarray(y, dtype=np.float64)
    if len(values) < 3:
        return MIN_PENALTY
    sigma = float(np.median(np.abs(np.diff(values)))) / (0.6745 * math.sqrt(2))
    return max(2.0 * sigma * sigma * math.log(len(values)), MIN_PENALTY)


def change_points(y: Sequence[float] | np.ndarray, penalty: float | None = None, min_size: int = 1) -> list[int]:
    """The ends of the fitted segments of ``y`` (indices ``0 < e_1 < ... < e_k = len(y)``): segment ``i`` is
    ``y[e_{i-1}:e_i]``. ``penalty`` None: :func:`default_penalty`; ``min_size``: fewest points in a segment.

    >>> change_points([0.1, 0.12, 0.09, 0.11, 0.9, 0.88, 0.92, 0.9])
    [4, 8]
    >>> change_points([0.5] * 6)
    [6]
    """
    values = np.asarray(y, dtype=np.float64)
    n = len(values)
    if n == 0:
        return []
    beta = default_penalty(values) if penalty is None else float(penalty)
    if not math.isfinite(beta) or beta < 0:
        raise ValueError(f"penalty must be a finite number >= 0, got {penalty!r}")
    min_size = max(1, int(min_size))
    s1 = np.concatenate([[0.0], np.cumsum(values)])
    s2 = np.concatenate([[0.0], np.cumsum(values * values)])

    def cost(a: int, b: int) -> float:  # squared error of y[a:b] about its mean
        m = b - a
        return float(s2[b] - s2[a] - (s1[b] - s1[a]) ** 2 / m)

    best = np.full(n + 1, math.inf)
    best[0] = -beta
    last = np.zeros(n + 1, dtype=int)
    candidates = [0]
    for t in range(min_size, n + 1):
        usable = [s for s in candidates if t - s >= min_size]
        if not usable:
            candidates.append(t)
            continue
        totals = [best[s] + cost(s, t) + beta for s in usable]
        k = int(np.argmin(totals))
        best[t], last[t] = totals[k], usable[k]
        # PELT pruning: s with best[s] + cost(s, t) > best[t] can never be the last change point of a later t
        candidates = [s for s in candidates if t - s < min_size or best[s] + cost(s, t) <= best[t]]
        candidates.append(t)
    ends = []
    t = n
    while t > 0:
        ends.append(t)
        t = int(last[t])
    return ends[::-1]


def cells(windows: Sequence[Window]) -> list[tuple[float, float]]:
    """Non-overlapping time cells, one per window, tiling ``[first start, last end]``: the boundary between two
    consecutive windows is halfway between their centres (each window speaks for the time nearest its centre).

    >>> cells([Window(0, 2, 0.1), Window(1, 3, 0.2), Window(2, 4, 0.3)])
    [(0.0, 1.5), (1.5, 2.5), (2.5, 4.0)]
    """
    centres = [(w.start + w.end) / 2 for w in windows]
    bounds = [float(windows[0].start)] + [(a + b) / 2 for a, b in zip(centres, centres[1:])] + [float(windows[-1].end)]
    return list(zip(bounds, bounds[1:]))


def piecewise(windows: Sequence[Window], penalty: float | None = None, min_size: int = 1) -> list[Window]:
    """The change-point baseline's timeline of one song: the windows (in time order) cut into stretches by
    :func:`change_points` of their scores, one non-overlapping :class:`Window` per stretch (over the stretch's
    :func:`cells`) holding the mean P(fake) of its windows.

    >>> piecewise([Window(0, 1, 0.1), Window(1, 2, 0.12), Window(2, 3, 0.9), Window(3, 4, 0.92)], penalty=0.05)
    [Window(start=0.0, end=2.0, p_fake=0.11), Window(start=2.0, end=4.0, p_fake=0.91)]
    """
    if not windows:
        return []
    windows = sorted(windows, key=lambda w: (w.start, w.end))
    scores = [float(w.p_fake) for w in windows]
    spans = cells(windows)
    out, a = [], 0
    for b in change_points(scores, penalty, min_size):
        out.append(Window(spans[a][0], spans[b - 1][1], round(float(np.mean(scores[a:b])), 12)))
        a = b
    return out
