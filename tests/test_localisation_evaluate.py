"""Localisation end to end on a real spliced build (`build -b splice --from` the loop fixture benchmark, by the
real builder): the truth read back exactly, oracle and constant timelines through `submit`, the leaderboard and
`mb.evaluate_localisation`, and `evaluate --timeline` writing both result blocks, timeline.csv and the plots.

The base is the loop fixture (2.5 s tones and noises) rather than the 0.25 s clips of the leaderboard fixture:
its sections of 0.3-0.6 s hold several 0.1 s frames each, so the frame metrics can resolve every segment.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
import yaml
from click.testing import CliRunner

import mom_bench as mb
from mom_bench.cli import main
from mom_bench.dataset import protocols
from mom_bench.dataset.read import Build
from mom_bench.dataset.truth import song_truth
from mom_bench.leaderboard import render
from mom_bench.leaderboard.localisation import plot_sample
from mom_bench.report.metrics import registry
from mom_bench.report.metrics.schema import check_results
from tests._fixtures_leaderboard import valid_meta
from tests._fixtures_loop import RATE

TESTS = ("test_id", "test_ood")


def _rows(build: Path, splits=None, columns=None) -> list[dict]:
    out = []
    for shard in sorted((build / "data").glob("*.parquet")):
        if splits is None or shard.name.split("-")[0] in splits:
            out += pq.read_table(shard, columns=columns).to_pylist()
    return out


def _from_parts(song: dict) -> list[tuple]:
    """The segments a song's ``parts`` say it has: one per run of human / AI sections, in seconds."""
    rate = json.loads((Path(song["_build"]) / "build_report.json").read_text())["audio"]["sample_rate"]
    out: list[list] = []
    for p in json.loads(song["parts"]):
        ai = int(p["kind"] != "human")
        start, end = p["start"] / rate, (p["start"] + p["length"]) / rate
        if out and out[-1][2] == ai:
            out[-1][1] = end
        else:
            out.append([start, end, ai, song["generator"] if ai else "real"])
    return [tuple(s) for s in out]


def test_song_truth_reads_the_segments_column_exactly(loop_splice):
    rows = _rows(loop_splice)
    truth = song_truth(loop_splice)
    assert sorted(truth) == sorted(r["id"] for r in rows)
    patterns = set()
    for row in rows:
        row["_build"] = str(loop_splice)
        got = [(s.start, s.end, s.label, s.generator) for s in truth[row["id"]].segments]
        stored = [(s["start"], s["end"], s["label"], s["generator"]) for s in row["segments"]]
        assert got == stored  # the column as it is, no rounding
        assert got == _from_parts(row), row["id"]  # and the boundaries the parts give, exactly
        assert truth[row["id"]].split == row["split"] and truth[row["id"]].duration == row["duration_s"]
        patterns.add(row["pattern"])
    assert {"insert", "ai_intro", "ai_outro", "alternating", "human", "ai"} <= patterns


# --------------------------------------------------------------------------------------------------
# oracle and constant timelines: submit, the leaderboard, the Python API


def _truth_frame(build: Path) -> dict:
    return song_truth(build, TESTS)


def oracle(truth: dict) -> pd.DataFrame:
    """One window per true segment, P(fake) its label."""
    return pd.DataFrame([(i, s.start, s.end, float(s.label)) for i, t in truth.items() for s in t.segments],
                        columns=["id", "start", "end", "p_fake"])


def constant(truth: dict) -> pd.DataFrame:
    """Two overlapping windows per song, both 0.5."""
    return pd.DataFrame([row for i, t in truth.items()
                         for row in ((i, 0.0, 0.6 * t.duration, 0.5), (i, 0.4 * t.duration, t.duration, 0.5))],
                        columns=["id", "start", "end", "p_fake"])


def _fraction_error_bound(truth: dict, frame_s: float) -> float:
    """The oracle's AI-fraction error can only come from frames straddling a boundary: half a frame each."""
    errs = [0.5 * frame_s * (len(t.segments) - 1) / t.duration for t in truth.values()]
    return sum(errs) / len(errs)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mom_bench", *args], capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("kind", ["oracle", "constant"])
def test_oracle_and_constant_timelines_through_submit_and_the_api(tmp_path, loop_splice, kind):
    truth = _truth_frame(loop_splice)
    assert any(len(t.segments) > 1 for t in truth.values())  # mixed songs: the localisation is not whole-file
    frame = oracle(truth) if kind == "oracle" else constant(truth)
    path = tmp_path / "timeline.csv"
    frame.to_csv(path, index=False)
    meta = tmp_path / "meta.yaml"
    meta.write_text(yaml.safe_dump(valid_meta(benchmark_version=protocols.load("splice").version)))
    root = tmp_path / "lb"
    out = _cli("submit", str(path), "--meta", str(meta), "--benchmark", "splice", "--data", str(loop_splice),
               "--root", str(root), "--n-bootstrap", "50")
    assert out.returncode == 0, out.stderr + out.stdout
    entry = json.loads((root / "entries" / "splice" / "test-detector.json").read_text())
    m = entry["localisation"]["metrics"]
    api = mb.evaluate_localisation(loop_splice, path, n_bootstrap=50)
    assert {k: v["value"] for k, v in api["metrics"].items()} == {k: v["value"] for k, v in m.items()}
    if kind == "oracle":
        for key in ("frame_auc", "segment_precision", "segment_recall", "segment_f1", "song_auc", "song_f1"):
            assert m[key]["value"] == 1.0, key
        assert m["frame_eer"]["value"] == 0.0
        # both shares are read on the frame grid: zero at the default 0.1 s frames ...
        assert m["ai_fraction_mae"]["value"] == pytest.approx(0.0, abs=1e-12)
        assert _fraction_error_bound(truth, 0.1) > 0  # (boundaries do fall inside frames here)
        # ... and with frames of one sample, where every boundary (a sample index) is a frame edge
        fine = mb.evaluate_localisation(loop_splice, path, n_bootstrap=10, frame_s=1 / RATE)
        assert fine["metrics"]["ai_fraction_mae"]["value"] == pytest.approx(0.0, abs=1e-9)
        assert fine["metrics"]["segment_f1"]["value"] == 1.0 and fine["metrics"]["frame_auc"]["value"] == 1.0
        assert entry["summary"]["auc"]["value"] == 1.0  # song level: each song's highest window
    else:
        assert m["frame_auc"]["value"] == 0.5 and m["song_auc"]["value"] == 0.5
        assert m["frame_eer"]["value"] == pytest.approx(0.5)
    shown = _cli("leaderboard", "render", "--root", str(root))
    assert shown.returncode == 0, shown.stderr + shown.stdout
    md = (root / "LEADERBOARD.md").read_text()
    assert "### Localisation (splice)" in md and all(x.header in md for x in registry.localisation_metrics())
    assert render.render(root, chart=False)  # the Python API renders the same folder


# --------------------------------------------------------------------------------------------------
# evaluate --timeline


def _expected_plots(build: Path) -> int:
    counts: dict[tuple[str, str], int] = {}
    for r in _rows(build, TESTS, ["split", "pattern"]):
        counts[(r["split"], r["pattern"])] = counts.get((r["split"], r["pattern"]), 0) + 1
    return sum(min(2, n) for n in counts.values())


@pytest.mark.slow
def test_evaluate_timeline_writes_both_blocks_the_file_and_the_plots(tmp_path, loop_splice, loop_run):
    out = tmp_path / "results"
    done = _cli("evaluate", "--model", str(loop_run / "best"), "--data", str(loop_splice), "--timeline",
                "--window", "0.5", "--hop", "0.25", "--out", str(out), "--n-bootstrap", "20")
    assert done.returncode == 0, done.stderr + done.stdout
    assert "## Localisation" in done.stdout and "Frame AUC" in done.stdout
    timeline = pd.read_csv(out / "timeline.csv")
    assert (out / "timeline.csv").read_text().splitlines()[0] == "id,start,end,p_fake"
    truth = song_truth(loop_splice, TESTS)
    assert set(timeline["id"]) == set(truth)
    assert (timeline["end"] - timeline["start"]).round(6).max() == pytest.approx(0.5)
    doc = json.loads((out / "results.json").read_text())
    check_results(doc)
    assert doc["timeline"]["window_s"] == 0.5 and doc["timeline"]["hop_s"] == 0.25
    assert doc["timeline"]["n_windows"] == len(timeline) and "highest" in doc["timeline"]["song_score"]
    assert doc["localisation"]["n_songs"] == len(truth) and doc["localisation"]["coverage"]["value"] == 1.0
    assert set(doc["metrics"]["splits"]) == set(TESTS)
    # the song score is the highest window P(fake)
    preds = pd.read_csv(out / "predictions.csv").set_index("id")["score"]
    top = timeline.groupby("id")["p_fake"].max()
    assert preds.loc[top.index].to_numpy() == pytest.approx(top.to_numpy(), abs=1e-6)
    # the song-level and localisation numbers agree on the song AUC (one set of scores)
    song_auc = doc["localisation"]["metrics"]["song_auc"]["value"]
    again = mb.evaluate_localisation(loop_splice, out / "timeline.csv", n_bootstrap=20)
    assert again["metrics"] == doc["localisation"]["metrics"]
    assert song_auc is not None
    md = (out / "results.md").read_text()
    assert md.count("## Localisation") == 1 and "## Overall" in md and "highest P(fake)" in md
    pngs = sorted((out / "timelines").glob("*.png"))
    assert len(pngs) == _expected_plots(loop_splice) and all(p.stat().st_size > 1000 for p in pngs)
    # the same sample is drawn by evaluate_localisation into any folder it writes
    other = tmp_path / "other"
    mb.evaluate_localisation(loop_splice, out / "timeline.csv", n_bootstrap=10, out_dir=other)
    assert sorted(p.name for p in (other / "timelines").glob("*.png")) == [p.name for p in pngs]


class Loud(torch.nn.Module):
    """A detector by hand: the logit follows the window's level."""

    sample_rate, clip = RATE, "first:1"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 10 * x.pow(2).mean(dim=1).sqrt() - 2


def test_the_api_with_change_points_then_a_plain_evaluate_replaces_it(tmp_path, loop_splice):
    out = tmp_path / "results"
    result = mb.evaluate_timeline(Loud(), data_dir=loop_splice, window=0.4, hop=0.2, changepoint=True, out_dir=out,
                                  n_bootstrap=10, progress=False, splits=["test_id"])
    assert result.results["timeline"]["changepoint"] is True
    assert result.results["timeline"]["label"] == "Loud (windows 0.4 s / hop 0.2 s, change points)"
    assert set(result.timelines) == set(song_truth(loop_splice, ["test_id"]))
    for windows in result.timelines.values():  # change points: the song's scored span tiled, no overlap
        assert all(a.end == pytest.approx(b.start) for a, b in zip(windows, windows[1:]))
    doc = json.loads((out / "results.json").read_text())
    assert doc["localisation"] == json.loads(json.dumps(result.results["localisation"]))
    assert (out / "timelines").is_dir() and (out / "timeline.csv").is_file()
    # a plain evaluate of the same folder leaves no timeline of the earlier run behind its new numbers
    mb.evaluate(Loud(), data_dir=loop_splice, out_dir=out, n_bootstrap=10, progress=False, splits=["test_id"])
    assert "localisation" not in json.loads((out / "results.json").read_text())
    assert not (out / "timeline.csv").exists() and not (out / "timelines").exists()


def test_the_sample_is_deterministic_per_pattern(loop_splice):
    build = Build.open(loop_splice)
    truth = song_truth(build, TESTS)
    sample = plot_sample(build, truth)
    assert sample == plot_sample(build, dict(reversed(list(truth.items()))))
    assert len(sample) == _expected_plots(loop_splice)
    per = pd.Series([(s, p) for s, p, _ in sample]).value_counts()
    assert per.max() <= 2


@pytest.mark.parametrize("args, says", [
    (["--window", "1"], "--window applies only with --timeline"),
    (["--hop", "1", "--changepoint"], "--hop, --changepoint apply only with --timeline"),
    (["--timeline", "--robustness", "standard"], "--timeline does not combine with --robustness"),
    (["--timeline", "--num-shards", "2", "--shard-index", "0"], "--timeline does not combine"),
])
def test_options_that_do_not_combine_are_refused(args, says, loop_splice):
    result = CliRunner().invoke(main, ["evaluate", "--model", "clam-tiny", "--data", str(loop_splice), *args])
    assert result.exit_code == 2 and says in result.output, result.output


def test_help_explains_the_window_defaults():
    text = " ".join(CliRunner().invoke(main, ["evaluate", "--help"]).output.split())
    assert "--timeline" in text and "--window S --timeline: window length in seconds (default: the model's clip "\
        "length" in text
    assert "(default: the window, so windows do not overlap)" in text and "--changepoint" in text
