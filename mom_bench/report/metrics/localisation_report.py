"""The localisation report: every registered localisation metric
(:func:`mom_bench.report.metrics.registry.localisation_metrics`) on a set of songs, each with a bootstrap
interval over songs: results.json's ``localisation`` block and a leaderboard entry's."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from mom_bench.core.segments import Window
from mom_bench.report import documents
from mom_bench.report.metrics import localisation as L
from mom_bench.report.metrics import registry
from mom_bench.report.metrics.bootstrap import _stat, _Strata, _sub_rng, _weight_chunks
from mom_bench.report.metrics.report import check_options

#: What the report says of the interval and of coverage (its ``definitions`` adds each metric's).
INTERVAL_DEFINITION = (
    "95 % percentile bootstrap interval over songs: every resample draws songs with replacement within three "
    "strata (human-only, AI-only and mixed songs, so each keeps its count), songs in id order, from a generator "
    "seeded by seed and the metric's key; a drawn song brings all its frames and segments")
COVERAGE_DEFINITION = ("share of the songs' time whose frame centre some window holds; uncovered frames are left "
                       "out of frame_auc and frame_eer and never called AI")
#: Most values of (draws x frames) computed at once: bounds the memory of a bootstrap chunk.
_CHUNK_VALUES = 4_000_000


def _draws(prepared: L.Prepared, function: registry.LocalisationFunction, n_bootstrap: int,
           rng: np.random.Generator) -> np.ndarray:
    """``function`` on ``n_bootstrap`` resamples of songs (stratified as :data:`INTERVAL_DEFINITION` says)."""
    strata = _Strata(prepared.strata, np.full(prepared.n_songs, ""), np.zeros(prepared.n_songs, dtype=bool))
    out = np.empty(n_bootstrap)
    step = max(1, _CHUNK_VALUES // max(1, len(prepared.f_song), prepared.n_songs))
    for lo, weights in _weight_chunks(rng, strata, np.arange(prepared.n_songs), n_bootstrap):
        for a in range(0, len(weights), step):
            part = weights[a:a + step]
            out[lo + a:lo + a + len(part)] = function(prepared, part)
    return out


def localisation_report(truth: Mapping[str, L.Truth], timelines: Mapping[str, Sequence[Window]], *,
                        frame_s: float = L.FRAME_S, tolerance: float = L.TOLERANCE_S,
                        threshold: float = L.THRESHOLD, n_bootstrap: int = 1000, seed: int = 0,
                        ) -> documents.LocalisationReport:
    """Every localisation metric of the songs of ``truth`` (``{id: truth}``, e.g. from
    :func:`mom_bench.dataset.truth.song_truth`) given their ``timelines`` (``{id: [Window, ...]}``; a song
    without one is uncovered), with intervals; see :mod:`mom_bench.report.metrics.localisation`."""
    check_options(threshold, n_bootstrap, seed)
    prepared = L.prepare(truth, timelines, frame_s=frame_s, tolerance=tolerance, threshold=threshold)
    ones = np.ones((1, prepared.n_songs))
    metrics: dict[str, documents.Statistic] = {}
    for metric in registry.localisation_metrics():
        value = float(metric.function(prepared, ones)[0])
        boot = _draws(prepared, metric.function, n_bootstrap, _sub_rng(seed, "localisation", metric.key))
        metrics[metric.key] = _stat(value, boot, metric.undefined)
    cover = _stat(float(L.coverage(prepared, ones)[0]),
                  _draws(prepared, L.coverage, n_bootstrap, _sub_rng(seed, "localisation", "coverage")))
    with_windows = set(timelines)
    return {
        "n_songs": prepared.n_songs,
        "n_songs_with_ai": int(prepared.song_label.sum()),
        "n_songs_mixed": int(np.sum(prepared.strata == L.STRATA.index("mixed"))),
        "n_songs_without_windows": sum(1 for i in prepared.ids if i not in with_windows or not timelines[i]),
        "n_windows": int(sum(len(timelines[i]) for i in prepared.ids if i in with_windows)),
        "seconds": float(prepared.duration.sum()),
        "frame_s": prepared.frame_s, "tolerance_s": prepared.tolerance, "threshold": prepared.threshold,
        "n_bootstrap": int(n_bootstrap), "seed": int(seed),
        "coverage": cover,
        "metrics": metrics,
        "definitions": {"coverage": COVERAGE_DEFINITION, "ci": INTERVAL_DEFINITION,
                        **{m.key: m.definition for m in registry.localisation_metrics()}},
    }

