"""SONICS in its current Hub layout: CSVs, metadata.json's file_mapping and fake_songs/part_NN.zip, fetched from a
loopback Hub (only the parts that hold wanted songs) or read from a local --root, fakes read member by member, the
official split from train/valid/test.csv with its algorithm x split table, a corrupted member reported, the gated
and offline errors worded."""
from __future__ import annotations

import json

from _build_fixtures import FirstSecondBrightness, report_rows
from _fixtures_hubzip import CORRUPT_SONICS, SONICS_REPO, SONICS_SHA, publish, sonics_files, sonics_reals
from _loopback_hub import UploadHub

from mom_bench.dataset import build_benchmark


def _check(rows):
    assert rows["fake_30004_suno_0"]["status"] == "excluded" and "30 s" in rows["fake_30004_suno_0"]["reason"]
    assert rows["fake_30005_suno_0"]["status"] == "excluded" and "vocals" in rows["fake_30005_suno_0"]["reason"]
    assert rows[CORRUPT_SONICS]["status"] == "unusable" and "corrupt member of part_02.zip" in \
        rows[CORRUPT_SONICS]["reason"]
    assert rows["real_00004"]["status"] == "missing" and "YouTube" in rows["real_00004"]["reason"]
    written = {i for i, r in rows.items() if r["status"] == "written"}
    assert written == {"fake_22147_suno_0", "fake_22147_suno_1", "fake_30001_udio_0", "fake_30002_suno_0",
                       "real_00001", "real_00002", "real_00003"}
    assert rows["fake_30002_suno_0"]["generator"] == "suno_3" and rows["fake_30001_udio_0"]["generator"] == "udio_130"


def test_sonics_parts_from_the_hub_official_split_loads_and_evaluates(tmp_path):
    files = sonics_files()
    reals = sonics_reals(tmp_path / "mine")
    out = tmp_path / "sonics"
    with UploadHub() as hub:
        publish(hub, SONICS_REPO, SONICS_SHA, files)
        env = {"MOM_BENCH_HOME": str(tmp_path / "home")}
        done = hub.run(["-m", "mom_bench", "build", "-b", "sonics", "--download", "--root", str(reals),
                        "--split-mode", "official", "--out", str(out), "-q"], tmp_path, env)
        assert done.returncode == 1 and "7 of 11 rows written, 1 missing, 1 unusable, 2 excluded" in done.stdout, \
            done.stderr + done.stdout
        got = [r for r in hub.requests if r.startswith("GET") and "/resolve/" in r]
        # only the parts holding wanted songs: part 3 holds a short song and one without vocals
        assert any("part_01.zip" in r for r in got) and any("part_02.zip" in r for r in got)
        assert not any("part_03.zip" in r for r in got)
        assert any("/paths-info/" in r for r in hub.requests)
        assert "algorithm x split" in done.stderr and "chirp-v3.5" in done.stderr
        # gated: accept the terms and log in
        hub.gated.add(("dataset", SONICS_REPO))
        gated = hub.run(["-m", "mom_bench", "build", "-b", "sonics", "--download", "--out", str(tmp_path / "g")],
                        tmp_path, {**env, "HF_HOME": str(tmp_path / "other-hf")})
        # offline, nothing cached: the files and the command that fetches them
        off = hub.run(["-m", "mom_bench", "build", "-b", "sonics", "--download", "--out", str(tmp_path / "o")],
                      tmp_path, {**env, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "empty-hf")})
    page = "https://huggingface.co/datasets/awsaf49/sonics"
    assert gated.returncode == 2 and f"gated dataset: accept its terms at {page}" in gated.stderr and \
        "hf auth login" in gated.stderr, gated.stderr
    assert off.returncode == 2 and "fake_songs.csv, real_songs.csv" in off.stderr and \
        f"hf download {SONICS_REPO} fake_songs.csv real_songs.csv --repo-type dataset --revision {SONICS_SHA}" \
        in off.stderr, off.stderr
    rows = report_rows(out)
    _check(rows)
    assert {i: rows[i]["split"] for i in ("fake_22147_suno_0", "fake_30001_udio_0", "fake_30002_suno_0",
                                          "real_00003")} == {
        "fake_22147_suno_0": "train", "fake_30001_udio_0": "validation", "fake_30002_suno_0": "test_id",
        "real_00003": "test_id"}
    import datasets

    from mom_bench.loop.evaluation import evaluate

    test = datasets.load_dataset(str(out), split="test_id")
    assert sorted(test["id"]) == ["fake_30002_suno_0", "real_00003"]
    evaluate(FirstSecondBrightness(), data_dir=out, splits=["test_id"], out_dir=tmp_path / "results", n_bootstrap=10,
             progress=False, plots=False)
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    assert "test_id" in results["metrics"]["splits"]


def test_sonics_parts_from_a_local_root(tmp_path):
    root = sonics_reals(tmp_path / "SONICS")
    for name, data in sonics_files().items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    out = tmp_path / "out"
    result = build_benchmark("sonics", out, split_mode="official", progress=False, source_options={"root": str(root)})
    assert result.n_written == 7
    rows = report_rows(out)
    _check(rows)
    assert rows["fake_30001_udio_0"]["split"] == "validation"
