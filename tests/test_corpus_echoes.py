"""Echoes end to end: its zip fetched from a loopback Hub (or given with --root, zipped or unpacked), read member by
member, FMA reals matched in the user's folder by title and artist, every reference and its fakes in one split,
the repeated manifest path and a corrupted member reported; the build loads with datasets and evaluates."""
from __future__ import annotations

import json
import shutil
import zipfile
from collections import defaultdict

import pytest
from _build_fixtures import FirstSecondBrightness, report_rows
from _fixtures_hubzip import (
    CORRUPT,
    ECHOES_REPO,
    ECHOES_SHA,
    MUSICGEN_EMPTY,
    REFERENCES,
    echoes_zip,
    fma_folder,
    publish,
)
from _loopback_hub import UploadHub

from mom_bench.core.errors import CorpusFilesMissing
from mom_bench.dataset import build_benchmark


def _check_build(out, *, reals: bool):
    rows = report_rows(out)
    fakes = {i: r for i, r in rows.items() if r["label"] == 1}
    real = {i: r for i, r in rows.items() if r["label"] == 0}
    # twelve fakes, the repeated MusicGen path once written and twice excluded, one member corrupt
    assert len(fakes) == 15 and len(real) == len(REFERENCES)
    dups = sorted(i for i in fakes if ".dup" in i)
    assert len(dups) == 2 and all(fakes[i]["status"] == "excluded" and MUSICGEN_EMPTY in fakes[i]["reason"]
                                  and "repeats" in fakes[i]["reason"] for i in dups)
    bad = [r for r in fakes.values() if r["status"] == "unusable"]
    assert len(bad) == 1 and "corrupt" in bad[0]["reason"] and "udio" in bad[0]["id"], bad
    assert sum(r["status"] == "written" for r in fakes.values()) == 12
    assert {r["generator"] for r in fakes.values()} >= {"producer", "musicgen", "mubert", "elevenlabs"}
    missing = {r["reason"] for r in real.values() if r["status"] == "missing"}
    if reals:
        assert sum(r["status"] == "written" for r in real.values()) == 4
        assert len(missing) == 2
        assert any("<Lost Song - Nobody Known>" in m and "no track of FMA's tracks.csv" in m for m in missing)
        assert any("<Gone Track - Away>" in m and "003003" in m for m in missing)
    else:
        assert len(missing) == len(REFERENCES) and all("no --reals folder" in m for m in missing)
        assert any('<10,000 People Chanting, "I\'m an Individual" - Nihilore>' in m for m in missing)
    # a reference and every fake made from it share one group and one split
    by_group = defaultdict(set)
    for r in rows.values():
        if r.get("group_id") is not None and r["split"]:
            by_group[r["group_id"]].add(r["split"])
    assert all(len(s) == 1 for s in by_group.values())
    splits = defaultdict(set)
    for r in rows.values():
        if r["status"] == "written":
            splits[r["split"]].add(r["label"])
    return rows, splits


def _evaluate(out, tmp_path, splits):
    import datasets

    from mom_bench.loop.evaluation import evaluate

    for split in splits:
        ds = datasets.load_dataset(str(out), split=split)
        assert len(ds) >= 1 and set(ds.column_names) >= {"audio", "label", "generator", "group_id"}
    both = sorted(s for s, labels in splits.items() if labels == {0, 1})
    assert both, splits  # the fixture's references fall so that some split holds reals and fakes
    result = evaluate(FirstSecondBrightness(), data_dir=out, splits=both, out_dir=tmp_path / "results", n_bootstrap=10,
                      progress=False, plots=False, calibration_split=None)
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    assert set(results["metrics"]["splits"]) >= set(both)
    return result


def test_echoes_from_the_hub_with_fma_reals_builds_loads_and_evaluates(tmp_path):
    data, _rows_ = echoes_zip()
    reals = fma_folder(tmp_path / "fma")
    out = tmp_path / "echoes"
    with UploadHub() as hub:
        publish(hub, ECHOES_REPO, ECHOES_SHA, {"Echoes.zip": data, "README.md": b"---\nlicense: cc-by-sa-4.0\n---\n"})
        env = {"MOM_BENCH_HOME": str(tmp_path / "home")}
        done = hub.run(["-m", "mom_bench", "build", "-b", "echoes", "--download", "--reals", str(reals), "--out",
                        str(out), "-q"], tmp_path, env)
        # exit status 1: rows are missing or unusable, each reported
        assert done.returncode == 1 and "16 of 21 rows written, 2 missing, 1 unusable, 2 excluded" in done.stdout, \
            done.stderr + done.stdout
        assert any(r.startswith("POST /api/datasets/Octavian97/Echoes/paths-info/") for r in hub.requests)
        assert sum(f"/resolve/{ECHOES_SHA}/Echoes.zip" in r and r.startswith("GET") for r in hub.requests) == 1
        # the Hub's listing says the zip is larger than any disk: refused before a byte of it is fetched
        hub.listed_sizes["Echoes.zip"] = 10**18
        before = len(hub.requests)
        full = hub.run(["-m", "mom_bench", "build", "-b", "echoes", "--download", "--out", str(tmp_path / "o1")],
                       tmp_path, {**env, "HF_HOME": str(tmp_path / "small-hf")})
        assert full.returncode == 2 and "Echoes.zip (1e+06 TB)" in full.stderr and \
            "Nothing was downloaded" in full.stderr, full.stderr
        assert not any("Echoes.zip" in r for r in hub.requests[before:] if r.startswith("GET"))
        # offline with an empty cache: which file is missing and the command that fetches it
        off = hub.run(["-m", "mom_bench", "build", "-b", "echoes", "--download", "--out", str(tmp_path / "o2")],
                      tmp_path, {**env, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "empty-hf")})
    assert off.returncode == 2, off.stderr
    assert "Echoes.zip" in off.stderr and \
        f"hf download {ECHOES_REPO} Echoes.zip --repo-type dataset --revision {ECHOES_SHA}" in off.stderr
    rows, splits = _check_build(out, reals=True)
    remain = next(r for r in rows.values() if r["label"] == 0 and "Remain" in r["id"])
    assert remain["status"] == "written"
    import pyarrow.parquet as pq

    table = pq.read_table(list((out / "data").glob("*.parquet")),
                          columns=["id", "fma_track_id", "fma_candidates", "original_audio"]).to_pylist()
    got = {r["id"]: r for r in table}
    assert got[remain["id"]]["fma_track_id"] == "000140" and got[remain["id"]]["fma_candidates"] == "000005 000140"
    _evaluate(out, tmp_path, splits)


def test_echoes_from_a_local_root_zipped_or_unpacked(tmp_path):
    data, _rows_ = echoes_zip()
    zipped = tmp_path / "dl"
    zipped.mkdir()
    (zipped / "Echoes.zip").write_bytes(data)
    a = tmp_path / "a"
    result = build_benchmark("echoes", a, progress=False, source_options={"root": str(zipped)})
    _check_build(a, reals=False)
    assert result.n_written == 12

    # the unpacked tree (as `unzip` leaves it, the corrupt member's bytes included) gives the same fakes
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(zipped / "Echoes.zip") as zf:
        for info in zf.infolist():
            target = unpacked / info.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as dst:
                try:
                    shutil.copyfileobj(src, dst)
                except zipfile.BadZipFile:
                    pass  # what is left of the corrupt member: a truncated mp3
    (unpacked / "Echoes" / CORRUPT).write_bytes(b"not audio at all")
    b = tmp_path / "b"
    build_benchmark("echoes", b, progress=False, source_options={"root": str(unpacked)})
    rows_a, rows_b = report_rows(a), report_rows(b)
    assert {i: (r["status"], r["split"]) for i, r in rows_a.items()} == \
        {i: (r["status"], r["split"]) for i, r in rows_b.items()}

    with pytest.raises(CorpusFilesMissing, match="neither Echoes.zip nor the unpacked"):
        build_benchmark("echoes", tmp_path / "c", progress=False, source_options={"root": str(tmp_path / "fma0")})
    (tmp_path / "nothing").mkdir()
    with pytest.raises(CorpusFilesMissing, match="neither echoes_reals.csv .* nor FMA's tracks.csv"):
        build_benchmark("echoes", tmp_path / "d", progress=False,
                        source_options={"root": str(zipped), "reals": str(tmp_path / "nothing")})
