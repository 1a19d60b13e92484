"""Timeline predictions (id,start,end,p_fake per window) through `mom-bench submit`, the leaderboard and
`mb.evaluate_localisation`, on a real whole-file build (every song one segment): an oracle timeline scores
perfectly, a constant one at chance, and every bad row is named by its line."""
from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

import mom_bench as mb
from mom_bench.core.errors import MetricsError
from mom_bench.core.segments import Window
from mom_bench.dataset.truth import song_truth
from mom_bench.leaderboard import render, schema
from mom_bench.leaderboard.submit import SubmissionRejected, rescore, submit
from mom_bench.leaderboard.timeline_files import TimelineLimits, is_timeline
from mom_bench.leaderboard.validate import validate_folder
from mom_bench.report.metrics import registry
from tests._fixtures_leaderboard import BENCHMARK, labels_frame, valid_meta

PERFECT = {"frame_auc": 1.0, "frame_eer": 0.0, "segment_precision": 1.0, "segment_recall": 1.0, "segment_f1": 1.0,
           "ai_fraction_mae": 0.0, "song_auc": 1.0, "song_f1": 1.0}


@pytest.fixture(scope="module")
def labels(mom_build):
    return labels_frame(mom_build)


def oracle(labels: pd.DataFrame) -> pd.DataFrame:
    """Windows exactly the truth segments (here the whole song), P(fake) 1 on AI and 0 on human music."""
    return pd.DataFrame({"id": labels["id"], "start": 0.0, "end": labels["duration_s"].astype(float),
                         "p_fake": labels["label"].astype(float)})


def constant(labels: pd.DataFrame) -> pd.DataFrame:
    """Two overlapping windows per song, both 0.5."""
    d = labels["duration_s"].astype(float)
    first = pd.DataFrame({"id": labels["id"], "start": 0.0, "end": d * 0.6, "p_fake": 0.5})
    second = pd.DataFrame({"id": labels["id"], "start": d * 0.4, "end": d, "p_fake": 0.5})
    return pd.concat([first, second], ignore_index=True)


def _files(tmp_path, frame: pd.DataFrame, name="timeline.csv"):
    path = tmp_path / name
    if name.endswith(".parquet"):
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    else:
        frame.to_csv(path, index=False)
    meta = tmp_path / "meta.yaml"
    meta.write_text(yaml.safe_dump(valid_meta()))
    return path, meta


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mom_bench", *args], capture_output=True, text=True, timeout=300)


def test_song_truth_of_a_whole_file_build_is_one_segment_per_song(mom_build, labels):
    truth = song_truth(mom_build, ["test_id", "test_ood"])
    assert sorted(truth) == sorted(labels["id"])
    for row in labels.itertuples():
        t = truth[row.id]
        assert t.split == row.split and t.generator == row.generator and t.duration == pytest.approx(row.duration_s)
        assert [(s.start, s.end, s.label) for s in t.segments] == [(0.0, t.duration, row.label)]


@pytest.mark.parametrize("kind", ["oracle", "constant"])
def test_submit_a_timeline_through_the_cli_and_the_python_api(tmp_path, mom_build, labels, kind):
    frame = oracle(labels) if kind == "oracle" else constant(labels)
    path, meta = _files(tmp_path, frame)
    assert is_timeline(path)
    root = tmp_path / "lb"
    out = _cli("submit", str(path), "--meta", str(meta), "--benchmark", BENCHMARK, "--data", str(mom_build),
               "--root", str(root), "--n-bootstrap", "50")
    assert out.returncode == 0, out.stderr + out.stdout
    assert "localisation (" in out.stdout and "Frame AUC" in out.stdout
    entry = json.loads((root / "entries" / BENCHMARK / "test-detector.json").read_text())
    loc = entry["localisation"]
    assert not schema.validate(entry, schema.entry_schema("reproduced"))
    assert loc["n_songs"] == len(labels) and loc["n_windows"] == len(frame) and loc["coverage"]["value"] == 1.0
    stored = root / "entries" / BENCHMARK / loc["stored"]
    assert stored.read_text().splitlines()[0] == "id,start,end,p_fake"

    api = mb.evaluate_localisation(mom_build, path, n_bootstrap=50)
    for key in PERFECT:
        assert api["metrics"][key]["value"] == loc["metrics"][key]["value"], key
        assert api["metrics"][key]["ci"] == loc["metrics"][key]["ci"], key
    m = loc["metrics"]
    if kind == "oracle":
        for key, want in PERFECT.items():
            assert m[key]["value"] == want, key
        assert entry["summary"]["auc"]["value"] == 1.0  # the song-level rows: each song's highest window
    else:
        assert m["frame_auc"]["value"] == 0.5 and m["song_auc"]["value"] == 0.5
        assert m["frame_eer"]["value"] == pytest.approx(0.5)
        assert entry["summary"]["auc"]["value"] == 0.5

    written = render.render(root, chart=False)
    assert root / "leaderboard_localisation.csv" in written
    md = (root / "LEADERBOARD.md").read_text()
    assert f"### Localisation ({BENCHMARK})" in md
    assert all(m.header in md for m in registry.localisation_metrics())
    rows = pd.read_csv(root / "leaderboard_localisation.csv")
    assert rows.loc[0, "slug"] == "test-detector" and rows.loc[0, "frame_auc"] == m["frame_auc"]["value"]
    assert f'id="localisation-{BENCHMARK}"' in (root / "index.html").read_text()
    result = validate_folder(root, data_dirs={BENCHMARK: mom_build}, check_rendered=False)
    assert result.ok, result.problems
    assert any("timeline.csv: identical" in n for n in result.notes), result.notes
    rescore(BENCHMARK, mom_build, root)  # what follows a change of the metrics: the same numbers from the timeline
    again = json.loads((root / "entries" / BENCHMARK / "test-detector.json").read_text())
    assert again["localisation"] == loc
    stored.write_text(stored.read_text().replace(",1.0\n", ",0.0\n").replace(",0.5\n", ",0.25\n"))
    result = validate_folder(root, data_dirs={BENCHMARK: mom_build}, check_rendered=False)
    assert any("is not the one the entry recorded" in p for p in result.problems), result.problems


def test_a_parquet_timeline_scores_like_its_csv(tmp_path, mom_build, labels):
    frame = constant(labels).assign(p_fake=lambda f: (f.index % 7) / 7)
    csv_path, _ = _files(tmp_path, frame)
    pq_path, _ = _files(tmp_path, frame, "timeline.parquet")
    assert is_timeline(pq_path)
    a = mb.evaluate_localisation(mom_build, csv_path, n_bootstrap=20)
    b = mb.evaluate_localisation(mom_build, pq_path, n_bootstrap=20)
    assert a == b


def _csv(frame: pd.DataFrame, override: dict[int, str]) -> str:
    lines = frame.to_csv(index=False).splitlines()
    for line, text in override.items():
        lines[line - 1] = text
    return "\n".join(lines) + "\n"


def test_bad_rows_are_named_by_their_line(tmp_path, mom_build, labels):
    frame = oracle(labels)
    ident = frame.loc[3, "id"]
    path, meta = _files(tmp_path, frame)
    path.write_text(_csv(frame.iloc[1:], {
        3: f"{ident},0.2,0.1,0.5", 4: f"{frame.loc[2, 'id']},0,0.1,1.5", 5: f"{frame.loc[4, 'id']},0,0.1,nan",
        6: "nobody,0,1,0.5", 7: f"{frame.loc[6, 'id']},-1,0.1,0.5"}))
    with pytest.raises(SubmissionRejected) as err:
        submit(path, meta, BENCHMARK, data_dir=mom_build, root=tmp_path / "lb", n_bootstrap=10)
    text = "\n".join(err.value.problems)
    assert "line 3" in text and "end 0.1 is not after start 0.2" in text
    assert "line 4" in text and "p_fake 1.5 is outside [0, 1]" in text
    assert "line 5" in text and "not a finite number" in text
    assert "line 7" in text and "start -1.0 is negative" in text
    assert "1 id(s) are not in the test splits" in text and "nobody" in text
    assert "have no window" in text and frame.loc[0, "id"] in text
    assert not (tmp_path / "lb").exists()  # nothing written


def test_too_many_windows_per_song_and_a_wrong_header_are_refused(tmp_path, mom_build, labels):
    frame = pd.concat([oracle(labels)] + [oracle(labels).iloc[:1]] * 3, ignore_index=True)
    path, meta = _files(tmp_path, frame)
    with pytest.raises(SubmissionRejected, match="more than 3 windows"):
        submit(path, meta, BENCHMARK, data_dir=mom_build, root=tmp_path / "lb", n_bootstrap=10,
               timeline_limits=TimelineLimits(windows_per_song=3))
    pq_path, _ = _files(tmp_path, frame, "timeline.parquet")
    with pytest.raises(SubmissionRejected, match="4 windows, over the limit of 3"):
        submit(pq_path, meta, BENCHMARK, data_dir=mom_build, root=tmp_path / "lb", n_bootstrap=10,
               timeline_limits=TimelineLimits(windows_per_song=3))
    odd = tmp_path / "odd.csv"
    odd.write_text("id,start,stop,p_fake\na,0,1,0.5\n")
    assert not is_timeline(odd)  # then read as a song-level file, which names what it lacks
    with pytest.raises(SubmissionRejected, match="missing column"):
        submit(odd, meta, BENCHMARK, data_dir=mom_build, root=tmp_path / "lb", n_bootstrap=10)


def test_evaluate_localisation_writes_its_section_and_accepts_windows(tmp_path, mom_build, labels):
    timelines = {row.id: [Window(0.0, row.duration_s / 2, float(row.label))] for row in labels.itertuples()
                 if row.split == "test_id"}
    report = mb.evaluate_localisation(mom_build, timelines, split="test_id", n_bootstrap=20, out_dir=tmp_path / "out")
    n = int((labels["split"] == "test_id").sum())
    assert report["n_songs"] == n and 0 < report["coverage"]["value"] < 1  # the second halves are uncovered
    assert report["metrics"]["frame_auc"]["value"] == 1.0
    # a quarter-second song: the predicted AI run ends within the 1 s tolerance of the true end
    assert report["metrics"]["segment_recall"]["value"] == 1.0
    tight = mb.evaluate_localisation(mom_build, timelines, split="test_id", n_bootstrap=20, tolerance=0.05)
    assert tight["metrics"]["segment_recall"]["value"] == 0.0
    saved = json.loads((tmp_path / "out" / "localisation.json").read_text())
    assert saved == json.loads(json.dumps(report))
    assert "## Localisation" in (tmp_path / "out" / "localisation.md").read_text()
    with pytest.raises(MetricsError, match="not in the test splits"):
        mb.evaluate_localisation(mom_build, {"nobody": [Window(0, 1, 0.5)]}, n_bootstrap=5)
    with pytest.raises(MetricsError, match="no split nope"):
        mb.evaluate_localisation(mom_build, timelines, split="nope", n_bootstrap=5)


def test_the_report_goes_into_an_evaluate_results_folder(tmp_path, mom_build, labels):
    from mom_bench.report.metrics.schema import check_results
    from tests.test_documents import report, results_document

    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps(results_document(report())))
    (folder / "results.md").write_text("# clam-mini on tiny\n\n## Overall\n\nnumbers\n")
    for _ in range(2):  # a second run replaces the section, it does not add one
        written = mb.evaluate_localisation(mom_build, oracle(labels), n_bootstrap=10, out_dir=folder)
    doc = json.loads((folder / "results.json").read_text())
    check_results(doc)
    assert doc["localisation"] == json.loads(json.dumps(written))
    md = (folder / "results.md").read_text()
    assert md.count("## Localisation") == 1 and md.startswith("# clam-mini on tiny\n\n## Overall\n\nnumbers\n")
    assert "| Frame AUC (higher is better) | 1.000 [1.000, 1.000] |" in md
    assert not (folder / "localisation.json").exists()
