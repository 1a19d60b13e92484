"""SONICS: generators from the `algorithm` column, fake types, the official filter (reported as
excluded) and the official split column."""
from __future__ import annotations

import csv
import json

import pytest
from _build_fixtures import write_tone

from mom_bench.dataset import build_benchmark

FAKES = [  # filename, algorithm, label (fake type), duration, no_vocal, split
    ("fake_0001_suno", "chirp-v3.5", "full fake", 60.0, "False", "train"),
    ("fake_0002_suno", "chirp-v2-xxl-alpha", "mostly fake", 90.0, "False", "valid"),
    ("fake_0003_udio", "udio-120s", "half fake", 120.0, "False", "test"),
    ("fake_0004_udio", "udio-30s", "full fake", 20.0, "False", "train"),  # too short: excluded
    ("fake_0005_suno", "chirp-v3", "full fake", 60.0, "True", "test"),  # no vocals: excluded
]
REALS = [  # filename, artist, duration, split
    ("real_00001", "Artist A", 200.0, "train"), ("real_00002", "Artist A", 180.0, "test"),
    ("real_00003", "Artist B", 150.0, "valid"), ("real_00004", "Artist C", 100.0, "test"),
]


@pytest.fixture()
def sonics_dir(tmp_path):
    return make_sonics_dir(tmp_path)


def make_sonics_dir(tmp_path):
    """A SONICS folder in its official layout: the two CSV files and the audio folders."""
    root = tmp_path / "SONICS"
    (root / "fake_songs").mkdir(parents=True)
    (root / "real_songs").mkdir()
    with open(root / "fake_songs.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "filename", "title", "duration", "algorithm", "label", "no_vocal", "split", "style"])
        for i, (f, algo, kind, dur, nv, split) in enumerate(FAKES):
            w.writerow([i, f, f"Song {i}", dur, algo, kind, nv, split, "pop"])
            write_tone(root / "fake_songs" / f"{f}.mp3", i, 1.0, ("mp3", 44100, 2))
    with open(root / "real_songs.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["filename", "title", "artist", "duration", "youtube_id", "label", "no_vocal", "split"])
        for i, (f, artist, dur, split) in enumerate(REALS):
            w.writerow([f, f"Real {i}", artist, dur, f"yt{i}", "real", "False", split])
            if f != "real_00004":  # the YouTube-only real we do not have
                write_tone(root / "real_songs" / f"{f}.wav", 10 + i, 1.0, ("wav", 22050, 2))
    return root


def _rows(out):
    return {r["id"]: r for r in json.loads((out / "build_report.json").read_text())["rows"]}


def test_official_mode_keeps_the_sonics_split_and_reports_exclusions(sonics_dir, tmp_path):
    out = tmp_path / "out"
    result = build_benchmark("sonics", out, split_mode="official", progress=False,
                             source_options={"root": str(sonics_dir)})
    rows = _rows(out)
    assert len(rows) == 9
    assert rows["fake_0004_udio"]["status"] == "excluded" and "30 s" in rows["fake_0004_udio"]["reason"]
    assert rows["fake_0005_suno"]["status"] == "excluded" and "vocals" in rows["fake_0005_suno"]["reason"]
    assert rows["real_00004"]["status"] == "missing" and "YouTube" in rows["real_00004"]["reason"]
    assert result.n_excluded == 2 and result.n_missing == 1 and result.n_written == 6
    assert {i: rows[i]["split"] for i in ("fake_0001_suno", "fake_0002_suno", "fake_0003_udio", "real_00002")} == {
        "fake_0001_suno": "train", "fake_0002_suno": "validation", "fake_0003_udio": "test_id",
        "real_00002": "test_id"}
    assert {rows[i]["generator"] for i in ("fake_0001_suno", "fake_0002_suno", "fake_0003_udio")} == {
        "suno_3.5", "suno_2", "udio_130"}
    import pyarrow.parquet as pq

    table = pq.read_table(next((out / "data").glob("train-*.parquet")), columns=["id", "fake_type", "artist"])
    fake_types = dict(zip(table.column("id").to_pylist(), table.column("fake_type").to_pylist()))
    assert fake_types["fake_0001_suno"] == "full fake"


def test_strict_mode_groups_reals_by_artist(sonics_dir, tmp_path):
    out = tmp_path / "out"
    build_benchmark("sonics", out, progress=False, source_options={"root": str(sonics_dir)})
    rows = _rows(out)
    assert rows["real_00001"]["group_id"] == rows["real_00002"]["group_id"]
    assert rows["real_00001"]["split"] == rows["real_00002"]["split"]
    assert rows["real_00003"]["group_id"] != rows["real_00001"]["group_id"]
