"""Scores over time (`predict --timeline`, mom_bench.loop.timeline): the window grid and its last partial window,
windows scored independently of their batch-mates, every kind of detector, the timeline file, the feature cache
reused, the change-point baseline, and the plots."""
from __future__ import annotations

import csv
import itertools
import math

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from click.testing import CliRunner

from mom_bench.cli import main
from mom_bench.core import audio
from mom_bench.core.errors import PredictionError
from mom_bench.core.segments import Segment, Window
from mom_bench.loop import changepoint as cp
from mom_bench.loop import timeline as tl
from mom_bench.models import registry
from mom_bench.models.cache import FeatureCache
from tests._fixtures_loop import RATE, flac_bytes, signal


class Level(torch.nn.Module):
    """A detector by hand: the logit follows the window's RMS level (so a quiet stretch reads as real)."""

    sample_rate, clip = RATE, "first:1"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 40 * x.pow(2).mean(dim=1).sqrt() - 4


def step_song(quiet_s: float, loud_s: float) -> torch.Tensor:
    """Silence-ish then a loud noise: the second part is 'AI' for :class:`Level`."""
    rng = np.random.default_rng(0)
    quiet = 0.001 * rng.standard_normal(int(quiet_s * RATE))
    loud = 0.5 * rng.standard_normal(int(loud_s * RATE))
    return torch.tensor(np.clip(np.concatenate([quiet, loud]), -1, 1), dtype=torch.float32)


@pytest.fixture(scope="module")
def songs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("timeline-songs")
    (folder / "a-short.flac").write_bytes(flac_bytes(signal("real", 1.5, 11)))
    (folder / "b-long.flac").write_bytes(flac_bytes(signal("gen_a", 6.5, 12)))
    (folder / "c-step.flac").write_bytes(flac_bytes(step_song(4.0, 4.0)))
    (folder / "d-broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot audio")
    return folder


# --------------------------------------------------------------------------------------------------
# The grid


def test_window_spans_cover_the_song_with_real_audio():
    assert tl.window_spans(10, 4, 4) == [(0, 4), (4, 8), (6, 10)]  # the tail window ends at the song's end
    assert tl.window_spans(8, 4, 4) == [(0, 4), (4, 8)]  # no tail: nothing added
    assert tl.window_spans(9, 4, 3) == [(0, 4), (3, 7), (5, 9)]
    assert tl.window_spans(4, 4, 1) == [(0, 4)]
    assert tl.window_spans(3, 4, 1) == [(0, 3)]  # a short song is one window, padded when scored
    for total, n, h in itertools.product(range(1, 30), range(1, 9), range(1, 9)):
        if h > n:
            continue
        spans = tl.window_spans(total, n, h)
        assert spans[0][0] == 0 and spans[-1][1] == total
        assert all(e - s == min(n, total) for s, e in spans)
        covered = np.zeros(total, bool)
        for s, e in spans:
            covered[s:e] = True
        assert covered.all()


def test_streamed_windows_are_the_spans_of_the_whole_signal():
    rng = np.random.default_rng(1)
    for total, n, h in [(1000, 100, 100), (1000, 100, 30), (1050, 100, 50), (99, 100, 10), (100, 100, 7)]:
        x = torch.tensor(rng.standard_normal(total), dtype=torch.float32)
        cuts = sorted(rng.choice(np.arange(1, total), size=min(6, total - 1), replace=False).tolist())
        pieces = [x[a:b] for a, b in zip([0] + cuts, cuts + [total])]
        got = list(tl.iter_sliding(pieces, n, h))
        assert [(s, e) for s, e, _ in got] == tl.window_spans(total, n, h)
        for s, e, w in got:
            assert torch.equal(w, x[s:e])


def test_grid_defaults_to_the_clip_and_refuses_bad_windows():
    model = registry.create("clam-tiny")  # clip first:2 at 24 kHz
    g = tl.resolve_grid(model)
    assert (g.window, g.hop, g.length) == (2 * RATE, 2 * RATE, 2 * RATE)
    g = tl.resolve_grid(model, 1.0, 0.5)
    assert (g.window, g.hop, g.length) == (RATE, RATE // 2, 2 * RATE)  # a 1 s window is padded to the 2 s clip
    assert tl.resolve_grid(model, 3.0).length == 3 * RATE  # a longer one is given whole
    with pytest.raises(PredictionError, match="longer than the window"):
        tl.resolve_grid(model, 1.0, 2.0)
    with pytest.raises(PredictionError, match="window"):
        tl.resolve_grid(model, -1.0)
    with pytest.raises(PredictionError, match="give the window"):
        tl.resolve_grid(registry.create("stats-lr"))  # clip full: no default length


# --------------------------------------------------------------------------------------------------
# Scoring


def test_a_python_object_localises_the_loud_half(songs):
    out = tl.predict_timeline([songs / "c-step.flac"], Level(), window=1.0, hop=0.5)
    (song,) = out
    assert song.ok and song.duration_s == pytest.approx(8.0)
    assert [w.start for w in song.windows] == [k * 0.5 for k in range(15)]
    quiet = [w.p_fake for w in song.windows if w.end <= 4.0]
    loud = [w.p_fake for w in song.windows if w.start >= 4.0]
    assert max(quiet) < 0.05 and min(loud) > 0.95
    # each window's score is the detector's score of exactly those samples
    x = audio.load(songs / "c-step.flac", RATE).samples
    w = song.windows[9]
    expect = torch.sigmoid(Level()(x[int(w.start * RATE):int(w.end * RATE)][None]))[0]
    assert w.p_fake == pytest.approx(float(expect), abs=1e-5)
    # the change-point baseline turns it into two stretches, split at the step
    (smooth,) = tl.predict_timeline([songs / "c-step.flac"], Level(), window=1.0, hop=0.5, changepoint=True)
    assert len(smooth.windows) == 2 and smooth.windows[0].end == pytest.approx(4.0, abs=0.51)
    assert smooth.windows[0].p_fake < 0.05 < 0.95 < smooth.windows[1].p_fake


def test_window_scores_do_not_depend_on_batch_mates(songs, tmp_path):
    files = sorted(songs.iterdir())
    model = registry.create("clam-tiny").eval()  # frozen encoders: scored through the feature cache
    for detector in (Level(), model):
        runs = []
        for batch_size, workers, home in ((1, 0, "a"), (5, 0, "b"), (64, 2, "c")):
            songs_ = tl.iter_timelines(detector, tl.file_songs(files), window=1.0, hop=0.75, batch_size=batch_size,
                                       num_workers=workers, cache=FeatureCache(tmp_path / home))
            runs.append(list(songs_))
        assert [s.id for s in runs[0]] == [tl.display_name(f) for f in files]  # input order
        assert [s.ok for s in runs[0]] == [True, True, True, False] and "not readable" in runs[0][3].error
        for other in runs[1:]:
            for a, b in zip(runs[0], other):
                assert [(w.start, w.end) for w in a.windows] == [(w.start, w.end) for w in b.windows]
                assert np.allclose([w.p_fake for w in a.windows], [w.p_fake for w in b.windows], atol=1e-6)
        # one song alone scores as it does among the others
        alone = list(tl.iter_timelines(detector, tl.file_songs([files[1]]), window=1.0, hop=0.75,
                                       cache=FeatureCache(tmp_path / "d")))
        assert np.allclose([w.p_fake for w in alone[0].windows], [w.p_fake for w in runs[0][1].windows], atol=1e-6)


def test_a_trained_registry_model_and_the_build(songs, loop_run, loop_benchmark):
    out = tl.predict_timeline([songs / "b-long.flac", songs / "a-short.flac"], "clam-tiny",
                              checkpoint=loop_run / "best")
    assert [len(s.windows) for s in out] == [4, 1]  # 2 s clips: 0, 2, 4, then the tail 4.5-6.5; the short one whole
    assert out[0].windows[-1] == pytest.approx(Window(4.5, 6.5, out[0].windows[-1].p_fake))
    assert out[1].windows[0][:2] == pytest.approx((0.0, 1.5))
    assert all(0 <= w.p_fake <= 1 for s in out for w in s.windows)

    from mom_bench.dataset import read
    from mom_bench.loop.runs import load_trained

    model, _ = load_trained("clam-tiny", "loop-fixture", loop_run / "best")
    got = tl.timeline_for_build(model, loop_benchmark, "test_id", window=1.0, hop=0.5)
    table = read.Build.open(loop_benchmark).table("test_id", ["id", "duration_s"])
    assert list(got) == [str(i) for i in table["id"]]
    for item, duration in zip(table["id"], table["duration_s"]):
        windows = got[str(item)]
        assert windows[0].start == 0 and windows[-1].end == pytest.approx(duration, abs=1e-3)
    smooth = tl.timeline_for_build(model, loop_benchmark, "test_id", window=1.0, hop=0.5, changepoint=True)
    for item, windows in smooth.items():  # non-overlapping, tiling the song
        assert windows[0].start == 0 and windows[-1].end == got[item][-1].end
        assert all(a.end == b.start for a, b in zip(windows, windows[1:]))


def test_an_hf_classifier_gives_a_timeline(songs, tmp_path):
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForSequenceClassification

    tiny = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32,
            "conv_dim": [8, 8, 8], "conv_stride": [10, 8, 8], "conv_kernel": [10, 8, 8],
            "num_conv_pos_embeddings": 8, "num_conv_pos_embedding_groups": 2, "classifier_proj_size": 8}
    config = Wav2Vec2Config(**tiny, num_labels=2, id2label={0: "real", 1: "fake"}, label2id={"real": 0, "fake": 1})
    torch.manual_seed(0)
    Wav2Vec2ForSequenceClassification(config).save_pretrained(tmp_path / "hf")
    Wav2Vec2FeatureExtractor(sampling_rate=16000).save_pretrained(tmp_path / "hf")
    (song,) = tl.predict_timeline([songs / "b-long.flac"], f"hf:{tmp_path / 'hf'}", clip="first:2", hop=1.0)
    assert song.ok and [(w.start, w.end) for w in song.windows] == [(k, k + 2.0) for k in range(5)] + [(4.5, 6.5)]
    assert len({round(w.p_fake, 6) for w in song.windows}) > 1 and all(0 < w.p_fake < 1 for w in song.windows)


# --------------------------------------------------------------------------------------------------
# The feature cache


def test_cached_window_features_are_reused(songs, tmp_path):
    base = type(registry.create("clam-tiny"))

    class Counting(base):  # the real detector, counting the windows its encoders see
        encoded = 0

        def extract(self, wave):
            Counting.encoded += wave.shape[0]
            return super().extract(wave)

    model = Counting(registry.create("clam-tiny").config).eval()
    cache = FeatureCache(tmp_path / "cache")
    files = [songs / "b-long.flac", songs / "c-step.flac"]
    first = list(tl.iter_timelines(model, tl.file_songs(files), window=2.0, hop=1.0, cache=cache))
    windows = sum(len(s.windows) for s in first)
    assert Counting.encoded == windows == cache.computed == 6 + 7
    again = list(tl.iter_timelines(model, tl.file_songs(files), window=2.0, hop=1.0, cache=cache))
    assert Counting.encoded == windows and cache.computed == 0  # the head only
    assert [w.p_fake for s in again for w in s.windows] == pytest.approx([w.p_fake for s in first for w in s.windows],
                                                                         abs=1e-6)
    # a 2 s hop starts its windows (0, 2, 4 and the tail at 4.5 s) where the 1 s hop did: nothing is encoded
    list(tl.iter_timelines(model, tl.file_songs(files[:1]), window=2.0, hop=2.0, cache=cache))
    assert Counting.encoded == windows
    # another window length is another key
    list(tl.iter_timelines(model, tl.file_songs(files[:1]), window=1.0, cache=cache))
    assert Counting.encoded == windows + 7


# --------------------------------------------------------------------------------------------------
# The change-point baseline


def brute_force(y, penalty):
    """Every partition of ``y`` into contiguous segments, the cheapest: squared error + penalty per segment."""
    n = len(y)
    best = (math.inf, None)
    for k in range(n):
        for cuts in itertools.combinations(range(1, n), k):
            ends = list(cuts) + [n]
            cost, a = 0.0, 0
            for b in ends:
                seg = np.asarray(y[a:b])
                cost += float(((seg - seg.mean()) ** 2).sum()) + penalty
                a = b
            if cost < best[0] - 1e-12:
                best = (cost, ends)
    return best[1]


def test_change_points_find_the_step_and_are_the_exact_optimum():
    rng = np.random.default_rng(3)
    y = np.concatenate([0.1 + 0.03 * rng.standard_normal(12), 0.85 + 0.03 * rng.standard_normal(8),
                        0.2 + 0.03 * rng.standard_normal(6)])
    assert cp.change_points(y) == [12, 20, 26]
    assert cp.change_points(np.full(10, 0.3)) == [10]
    for trial in range(40):
        z = rng.uniform(0, 1, size=int(rng.integers(1, 10)))
        for penalty in (0.0, 0.02, 0.2, 1.0):
            assert cp.change_points(z, penalty) == brute_force(list(z), penalty), (trial, penalty)
    assert cp.change_points(y, min_size=3) == [12, 20, 26]
    with pytest.raises(ValueError, match="penalty"):
        cp.change_points(y, -1.0)


def test_piecewise_timeline_tiles_the_windows():
    windows = [Window(s, s + 2.0, p) for s, p in zip(range(8), [0.1, 0.1, 0.15, 0.1, 0.9, 0.95, 0.9, 0.9])]
    out = cp.piecewise(windows)
    assert [(w.start, w.end) for w in out] == [(0.0, 4.5), (4.5, 9.0)]  # cut halfway between window centres
    assert out[0].p_fake == pytest.approx(0.1125) and out[1].p_fake == pytest.approx(0.9125)
    assert cp.piecewise([]) == []


# --------------------------------------------------------------------------------------------------
# The command line, the file and the plots


def test_cli_timeline_table_file_and_plots(songs, loop_run, tmp_path):
    base = ["predict", "--model", "clam-tiny", "--checkpoint", str(loop_run / "best"), "--timeline"]
    r = CliRunner().invoke(main, base + [str(songs / "b-long.flac"), "--window", "2", "--hop", "1"])
    assert r.exit_code == 0, r.output
    assert "clam-tiny (windows 2 s / hop 1 s)" in r.stderr
    lines = r.stdout.splitlines()
    assert lines, r.output
    assert "b-long.flac (6.50 s, 6 windows)" in lines[0] and len([ln for ln in lines if ln.strip()]) == 8

    out = tmp_path / "t.csv"
    plots = tmp_path / "plots"
    r = CliRunner().invoke(main, base + [str(songs), "--out", str(out), "--plot", str(plots)])
    assert r.exit_code == 1 and "3 ok, 1 failed" in r.stderr  # the broken file: no rows, exit status 1
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["id", "start", "end", "p_fake"]
    ids = {row[0] for row in rows[1:]}
    assert ids == {str(songs / n) for n in ("a-short.flac", "b-long.flac", "c-step.flac")}  # predict's file names
    assert all(0 <= float(p) <= 1 and float(s) < float(e) for _, s, e, p in rows[1:])
    pngs = sorted(p.name for p in plots.iterdir())
    assert pngs == ["000-a-short.flac.png", "001-b-long.flac.png", "002-c-step.flac.png"]
    assert all((plots / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)

    pq_out = tmp_path / "t.parquet"
    r = CliRunner().invoke(main, base + [str(songs / "b-long.flac"), "--out", str(pq_out), "--changepoint"])
    assert r.exit_code == 0, r.output
    table = pq.read_table(pq_out)
    assert table.column_names == ["id", "start", "end", "p_fake"]
    assert str(table.schema.field("start").type) == "double"
    starts, ends = table.column("start").to_pylist(), table.column("end").to_pylist()
    assert starts[0] == 0 and ends[-1] == 6.5 and starts[1:] == ends[:-1]  # piecewise constant, no overlap

    r = CliRunner().invoke(main, base + [str(songs / "a-short.flac"), "--format", "csv"])
    assert r.exit_code == 0 and r.stdout.splitlines()[0] == "id,start,end,p_fake"


@pytest.mark.parametrize("extra, says", [
    (["--resume", "--out", "x.csv"], "does not support --resume"),
    (["--num-shards", "2", "--shard-index", "0", "--out", "x.csv"], "does not support --num-shards"),
    (["--clip", "first:1"], "--clip does not apply"),
    (["--format", "jsonl"], "table or csv"),
    (["--hop", "5"], "longer than the window"),
])
def test_cli_timeline_refuses_what_it_does_not_support(songs, loop_run, extra, says, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["predict", str(songs / "a-short.flac"), "--model", "clam-tiny", "--checkpoint", str(loop_run / "best"),
            "--timeline", *extra]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2 and says in r.output, r.output


def test_cli_timeline_options_need_timeline(songs):
    r = CliRunner().invoke(main, ["predict", str(songs / "a-short.flac"), "--model", "clam-tiny", "--window", "2"])
    assert r.exit_code == 2 and "--window applies only with --timeline" in r.output


def test_the_plot_draws_truth_and_windows(tmp_path):
    from mom_bench.report.plots import song_timeline

    path = song_timeline([Window(0, 2, 0.1), Window(1, 3, 0.8), Window(2, 4, 0.9)], tmp_path / "s.png",
                         truth=[Segment(0, 1.5, 0), Segment(1.5, 4, 1, "suno")], threshold=0.5, title="song")
    assert path.stat().st_size > 5000 and path.read_bytes()[:4] == b"\x89PNG"


def test_reference_localisers_are_named():
    labels = [loc.label for loc in tl.REFERENCE_LOCALISERS]
    assert "clam-mini (windows 2 s / hop 1 s)" in labels and "spectttra-mini (windows 2 s / hop 1 s)" in labels
    assert "fakeprint (windows 2 s / hop 1 s, change points)" in labels
    assert all(registry.resolve(loc.model) for loc in tl.REFERENCE_LOCALISERS)
