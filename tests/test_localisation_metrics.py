"""The localisation metrics against an independent brute-force computation: frames walked one by one in plain
Python, scikit-learn's weighted ROC AUC, every one-to-one matching enumerated; and their edge cases."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from sklearn.metrics import f1_score, roc_auc_score, roc_curve

from mom_bench.core.errors import MetricsError
from mom_bench.core.json_schema import validate
from mom_bench.core.segments import Segment, Window
from mom_bench.dataset.truth import SongTruth
from mom_bench.report.metrics import registry
from mom_bench.report.metrics.localisation import match_count
from mom_bench.report.metrics.localisation_report import localisation_report
from mom_bench.report.metrics.schema import results_schema


def song(duration, *parts, split="test_id"):
    """A SongTruth from (end, label) parts tiling [0, duration]."""
    segs, t = [], 0.0
    for end, label in parts:
        segs.append(Segment(t, float(end), label, "suno" if label else "real"))
        t = float(end)
    assert abs(t - duration) < 1e-9
    return SongTruth(float(duration), segs, split, "mix")


# ---------------------------------------------------------------------------------------------------------------
# brute force: one frame at a time


def brute_frames(truth, timelines, frame_s):
    """[(song id, label, score or None, duration)] walking each song's frames in plain Python."""
    out = []
    for ident, t in truth.items():
        k = 0
        while k * frame_s < t.duration - 1e-9:
            a, b = k * frame_s, min((k + 1) * frame_s, t.duration)
            c = (a + b) / 2
            label = next(s.label for s in t.segments if s.start <= c < s.end or (c >= s.end == t.duration))
            held = [w.p_fake for w in timelines.get(ident, []) if w.start <= c < w.end]
            # rounded as the metrics round (a mean of thirds differs in its last bit with the order of the sum)
            out.append((ident, label, round(sum(held) / len(held), 10) if held else None, b - a, a, b))
            k += 1
    return out


def brute_eer(labels, scores, weights):
    fpr, tpr, _ = roc_curve(labels, scores, sample_weight=weights, drop_intermediate=False)
    for i in range(1, len(fpr)):
        d0, d1 = (1 - tpr[i - 1]) - fpr[i - 1], (1 - tpr[i]) - fpr[i]
        if d1 <= 0:
            return fpr[i - 1] + d0 / (d0 - d1) * (fpr[i] - fpr[i - 1]) if d0 != d1 else fpr[i - 1]
    raise AssertionError("the curve never crosses")


def brute_best_matching(pred, true, tol):
    best = 0
    for k in range(min(len(pred), len(true)), 0, -1):
        for ps in itertools.combinations(range(len(pred)), k):
            for ts in itertools.permutations(range(len(true)), k):
                if all(abs(pred[p][0] - true[t][0]) <= tol + 1e-9 and abs(pred[p][1] - true[t][1]) <= tol + 1e-9
                       for p, t in zip(ps, ts)):
                    return k
    return best


def brute_all(truth, timelines, frame_s, tol, thr):
    frames = brute_frames(truth, timelines, frame_s)
    covered = [f for f in frames if f[2] is not None]
    labels = [f[1] for f in covered]
    scores = [f[2] for f in covered]
    weights = [f[3] for f in covered]
    out = {}
    both = 0 < sum(labels) < len(labels)
    out["frame_auc"] = roc_auc_score(labels, scores, sample_weight=weights) if both else None
    out["frame_eer"] = brute_eer(labels, scores, weights) if both else None
    tp = n_pred = n_true = 0
    errors = []
    for ident, t in truth.items():
        mine = [f for f in frames if f[0] == ident]
        pred, cur = [], None
        for _, _, score, _, a, b in mine:
            if score is not None and score >= thr:
                cur = (cur[0], b) if cur else (a, b)
            elif cur:
                pred.append(cur)
                cur = None
        if cur:
            pred.append(cur)
        true, cur = [], None
        for s in t.segments:
            if s.label == 1:
                cur = (cur[0], s.end) if cur else (s.start, s.end)
            elif cur:
                true.append(cur)
                cur = None
        if cur:
            true.append(cur)
        tp += brute_best_matching(pred, true, tol)
        n_pred, n_true = n_pred + len(pred), n_true + len(true)
        called = sum(f[3] for f in mine if f[2] is not None and f[2] >= thr)
        share = sum(f[3] for f in mine if f[1] == 1) / t.duration  # on the frame grid, as the metric defines it
        errors.append(abs(called / t.duration - share))
    out["segment_precision"] = tp / n_pred if n_pred else None
    out["segment_recall"] = tp / n_true if n_true else None
    out["segment_f1"] = 2 * tp / (n_pred + n_true) if n_pred + n_true else None
    out["ai_fraction_mae"] = sum(errors) / len(errors)
    ids = [i for i in truth if timelines.get(i)]
    song_y = [int(any(s.label for s in truth[i].segments)) for i in ids]
    song_s = [max(w.p_fake for w in timelines[i]) for i in ids]
    out["song_auc"] = roc_auc_score(song_y, song_s) if 0 < sum(song_y) < len(song_y) else None
    out["song_f1"] = f1_score(song_y, [int(s >= thr) for s in song_s], zero_division=np.nan) \
        if sum(song_y) or any(s >= thr for s in song_s) else None
    if out["song_f1"] is not None and math.isnan(out["song_f1"]):
        out["song_f1"] = None
    out["coverage"] = sum(weights) / sum(t.duration for t in truth.values())
    return out


def _random_case(rng, n_songs):
    truth, timelines = {}, {}
    for i in range(n_songs):
        duration = float(rng.integers(30, 90)) / 4  # 7.5 .. 22.25 s, not a multiple of the frame
        cuts = sorted(set(float(c) / 8 for c in rng.integers(8, int(duration * 8) - 8, size=rng.integers(0, 4))))
        ends = cuts + [duration]
        first = int(rng.integers(0, 2))
        parts = [(e, (first + k) % 2) for k, e in enumerate(ends)]
        truth[f"s{i:02d}"] = song(duration, *parts)
        hop, size = float(rng.choice([0.5, 1.0, 1.5])), float(rng.choice([1.0, 2.0, 3.0]))
        starts = np.arange(0.0, duration - 0.5, hop)
        windows = []
        for a in starts:
            if rng.random() < 0.15:
                continue  # a gap the timeline leaves
            b = min(a + size, duration + 0.5)
            mid = (a + b) / 2
            label = next(s.label for s in truth[f"s{i:02d}"].segments if s.start <= mid < s.end or mid >= s.end ==
                         duration)
            p = float(np.clip(0.55 * label + 0.25 + rng.choice([-0.25, -0.125, 0.0, 0.125, 0.25]), 0, 1))
            windows.append(Window(float(a), float(b), p))
        timelines[f"s{i:02d}"] = windows
    return truth, timelines


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_metric_agrees_with_brute_force(seed):
    rng = np.random.default_rng(seed)
    truth, timelines = _random_case(rng, 8)
    frame_s, tol, thr = 0.25, 1.0, 0.5
    report = localisation_report(truth, timelines, frame_s=frame_s, tolerance=tol, threshold=thr, n_bootstrap=20)
    expected = brute_all(truth, timelines, frame_s, tol, thr)
    for key, want in expected.items():
        got = report["coverage"]["value"] if key == "coverage" else report["metrics"][key]["value"]
        if want is None:
            assert got is None, key
        else:
            assert got == pytest.approx(want, abs=1e-9), key
    assert set(report["metrics"]) == {m.key for m in registry.localisation_metrics()}


def test_matching_is_a_maximum_one_to_one_matching():
    rng = np.random.default_rng(5)
    for _ in range(200):
        pred = [tuple(sorted(rng.integers(0, 12, 2) + np.array([0, 1]))) for _ in range(rng.integers(0, 5))]
        true = [tuple(sorted(rng.integers(0, 12, 2) + np.array([0, 1]))) for _ in range(rng.integers(0, 5))]
        assert match_count(pred, true, 1.0) == brute_best_matching(pred, true, 1.0)


def test_overlapping_windows_average_and_uncovered_frames_are_left_out():
    truth = {"a": song(4.0, (2.0, 0), (4.0, 1))}
    # two windows over [1, 2): mean 0.5; nothing over [3, 4)
    timelines = {"a": [Window(0.0, 2.0, 0.25), Window(1.0, 3.0, 0.75), Window(2.0, 3.0, 0.75)]}
    report = localisation_report(truth, timelines, frame_s=0.5, n_bootstrap=10)
    assert report["coverage"]["value"] == pytest.approx(0.75)
    # frames: [0,1) 0.25 human, [1,2) 0.5 human, [2,3) 0.75 AI; [3,4) uncovered
    assert report["metrics"]["frame_auc"]["value"] == pytest.approx(1.0)
    # called AI: [1, 3) -> share 0.5 vs truth 0.5
    assert report["metrics"]["ai_fraction_mae"]["value"] == pytest.approx(0.0)
    # predicted [1, 3) against true [2, 4): both ends 1 s away, within the 1 s tolerance
    assert report["metrics"]["segment_f1"]["value"] == pytest.approx(1.0)
    tight = localisation_report(truth, timelines, frame_s=0.5, tolerance=0.5, n_bootstrap=10)
    assert tight["metrics"]["segment_f1"]["value"] == 0.0


def test_no_ai_anywhere_leaves_the_class_metrics_undefined_with_a_reason():
    truth = {f"h{i}": song(5.0, (5.0, 0)) for i in range(4)}
    timelines = {k: [Window(0.0, 5.0, 0.1 + 0.1 * i)] for i, k in enumerate(truth)}
    report = localisation_report(truth, timelines, n_bootstrap=10)
    m = report["metrics"]
    for key in ("frame_auc", "frame_eer", "song_auc", "segment_recall", "segment_precision", "segment_f1",
                "song_f1"):
        assert m[key]["value"] is None and m[key]["ci"] is None and m[key]["reason"], key
    assert m["ai_fraction_mae"]["value"] == 0.0
    assert report["n_songs_with_ai"] == 0


def test_all_ai_songs_and_a_whole_song_window():
    truth = {f"f{i}": song(6.0, (6.0, 1)) for i in range(3)}
    timelines = {k: [Window(0.0, 6.0, 0.9)] for k in truth}
    report = localisation_report(truth, timelines, n_bootstrap=10)
    m = report["metrics"]
    assert m["frame_auc"]["value"] is None and m["song_auc"]["value"] is None
    assert m["segment_precision"]["value"] == m["segment_recall"]["value"] == 1.0
    assert m["song_f1"]["value"] == 1.0
    assert m["ai_fraction_mae"]["value"] == 0.0


def test_oracle_is_perfect_and_constant_is_at_chance_on_mixed_songs():
    truth = {"m1": song(10.0, (3.0, 0), (7.5, 1), (10.0, 0)), "m2": song(8.0, (4.0, 1), (8.0, 0)),
             "h": song(6.0, (6.0, 0)), "f": song(5.0, (5.0, 1))}
    oracle = {k: [Window(s.start, s.end, float(s.label)) for s in t.segments] for k, t in truth.items()}
    m = localisation_report(truth, oracle, n_bootstrap=50)["metrics"]
    for key in ("frame_auc", "segment_precision", "segment_recall", "segment_f1", "song_auc", "song_f1"):
        assert m[key]["value"] == 1.0, key
    assert m["frame_eer"]["value"] == 0.0 and m["ai_fraction_mae"]["value"] == 0.0
    constant = {k: [Window(0.0, t.duration, 0.5)] for k, t in truth.items()}
    c = localisation_report(truth, constant, n_bootstrap=50)["metrics"]
    assert c["frame_auc"]["value"] == 0.5 and c["song_auc"]["value"] == 0.5
    assert c["frame_eer"]["value"] == pytest.approx(0.5)


def test_intervals_are_seeded_and_do_not_depend_on_the_order_of_songs():
    truth, timelines = _random_case(np.random.default_rng(3), 10)
    a = localisation_report(truth, timelines, n_bootstrap=100, seed=7)
    b = localisation_report(dict(reversed(list(truth.items()))), dict(reversed(list(timelines.items()))),
                            n_bootstrap=100, seed=7)
    assert a == b
    c = localisation_report(truth, timelines, n_bootstrap=100, seed=8)
    assert c["metrics"]["frame_auc"]["ci"] != a["metrics"]["frame_auc"]["ci"]
    lo, hi = a["metrics"]["frame_auc"]["ci"]
    assert 0 <= lo <= hi <= 1
    assert not validate({**a}, results_schema()["properties"]["localisation"])


def test_a_song_without_windows_is_uncovered_and_unknown_ids_are_refused():
    truth = {"a": song(4.0, (4.0, 1)), "b": song(4.0, (4.0, 0))}
    report = localisation_report(truth, {"a": [Window(0.0, 4.0, 0.8)]}, n_bootstrap=10)
    assert report["n_songs_without_windows"] == 1 and report["coverage"]["value"] == 0.5
    assert report["metrics"]["song_auc"]["value"] is None  # the one song scored holds AI
    with pytest.raises(MetricsError, match="'zz'"):
        localisation_report(truth, {"zz": [Window(0.0, 1.0, 0.5)]}, n_bootstrap=10)
    with pytest.raises(MetricsError, match="frame_s"):
        localisation_report(truth, {}, frame_s=0.0, n_bootstrap=10)


def test_a_registered_localisation_metric_is_reported_and_accepted_by_the_schema():
    def longest_song(p, w):  # the longest drawn song's duration: any function of the prepared songs and weights
        return np.where(w > 0, p.duration, 0).max(axis=1)

    metric = registry.LocalisationMetric("longest_song", "the longest song drawn (seconds)", longest_song, "Longest")
    registry.register_localisation(metric)
    try:
        with pytest.raises(MetricsError, match="already registered"):
            registry.register_localisation(metric)
        truth = {"a": song(4.0, (4.0, 1)), "b": song(6.0, (6.0, 0))}
        report = localisation_report(truth, {"a": [Window(0, 4, 0.9)], "b": [Window(0, 6, 0.1)]}, n_bootstrap=30)
        assert report["metrics"]["longest_song"]["value"] == 6.0
        assert report["definitions"]["longest_song"] == "the longest song drawn (seconds)"
        assert not validate(report, results_schema()["properties"]["localisation"])
    finally:
        registry.unregister_localisation("longest_song")
    assert validate(report, results_schema()["properties"]["localisation"])  # unknown to the schema again
    with pytest.raises(MetricsError, match="built-in"):
        registry.unregister_localisation("frame_auc")
