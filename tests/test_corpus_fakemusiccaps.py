"""FakeMusicCaps end to end on a fixture zip in its documented layout: downloaded from a loopback Zenodo or read
from a local --root, built by the real builder, loaded with `datasets`, scored by a tiny detector; missing reals,
a corrupt member, the offline error, an interrupted download and the disk preflight."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from _build_fixtures import FirstSecondBrightness, report_rows
from _fixtures_zenodo import FMC_FOLDERS, ZenodoServer, fakemusiccaps_zip, md5, musiccaps_reals

from mom_bench.core.errors import BuildError, CorpusFilesMissing, NotEnoughSpace
from mom_bench.dataset import build_benchmark

REPO = Path(__file__).resolve().parents[1]
RECORD = "15063698"
ZIP = "FakeMusicCaps.zip"


@pytest.fixture()
def corpus(tmp_path):
    """The zip (one member corrupt), and the user's reals folder lacking the first caption's clip."""
    zip_path, ytids = fakemusiccaps_zip(tmp_path / "root" / ZIP, corrupt=None)
    reals = musiccaps_reals(tmp_path / "reals", ytids[1:])
    return zip_path, ytids, reals


def test_download_from_zenodo_builds_loads_and_evaluates(corpus, tmp_path, monkeypatch):
    zip_path, ytids, reals = corpus
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    out, cache = tmp_path / "out", tmp_path / "cache"
    with ZenodoServer(RECORD, {ZIP: zip_path.read_bytes()}) as srv:
        result = build_benchmark("fakemusiccaps", out, progress=False, source_options={
            "download": True, "url": srv.file_url(RECORD, ZIP), "size": zip_path.stat().st_size,
            "md5": md5(zip_path), "cache": str(cache), "reals": str(reals), "retries": 0})
    assert (cache / ZIP).read_bytes() == zip_path.read_bytes() and not list(cache.glob("*.part"))
    rows = report_rows(out)
    # 5 generators x 7 captions + 7 reals; the junk entries (__MACOSX/, ._*, .DS_Store) make no row
    assert len(rows) == 6 * len(ytids)
    missing = rows[f"musiccaps.{ytids[0]}"]
    assert missing["status"] == "missing" and ytids[0] in missing["reason"] and str(reals) in missing["reason"]
    assert result.n_missing == 1
    # the folder the AudioLDM 2 script writes is read as the protocol's audioldm2
    assert {r["generator"] for r in rows.values()} == {"real", "musicgen_medium", "musicldm", "audioldm2",
                                                       "stable_audio_open", "mustango"}
    # one caption, one split: every written row of a caption shares its real clip's split
    splits = defaultdict(set)
    for r in rows.values():
        if r["status"] == "written":
            splits[r["id"].split(".", 1)[1]].add(r["split"])
    assert all(len(s) == 1 for s in splits.values()) and len(splits) == len(ytids)
    # test_ood: the held-out generator's renderings of test_ood captions and their reals, nothing else
    ood = [r for r in rows.values() if r["split"] == "test_ood" and r["status"] == "written"]
    assert {r["generator"] for r in ood} == {"real", "stable_audio_open"}
    held_elsewhere = [r for r in rows.values() if r["generator"] == "stable_audio_open" and r["status"] != "written"]
    assert held_elsewhere and all(r["status"] == "excluded" and "held-out" in r["reason"] for r in held_elsewhere)
    in_dist_ood = [r for r in rows.values() if r["generator"] in ("musicldm", "mustango")
                   and r["status"] == "excluded"]
    assert in_dist_ood and all("test_ood caption" in r["reason"] for r in in_dist_ood)
    assert result.n_written == sum(r["status"] == "written" for r in rows.values())

    import datasets

    train = datasets.load_dataset(str(out), split="train")
    assert train[0]["audio"]["sampling_rate"] == 16000 and set(train["label"]) == {0, 1}
    assert "pcm_f32" in train.filter(lambda r: r["label"] == 1)[0]["orig_codec"]
    test_ood = datasets.load_dataset(str(out), split="test_ood")
    assert set(test_ood["generator"]) == {"real", "stable_audio_open"}

    from mom_bench.loop.evaluation import evaluate

    evaluate(FirstSecondBrightness(16000), data_dir=out, out_dir=tmp_path / "results", n_bootstrap=20, progress=False,
             plots=False)
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    assert {"test_id", "test_ood"} <= set(results["metrics"]["splits"])
    assert results["metrics"]["splits"]["test_ood"]["per_decoder_family"]["continuous-vae"]["n_fake"] == 2


def test_local_root_reports_a_corrupt_member_by_name(tmp_path):
    """`mom-bench build --root DIR --reals DIR` in a subprocess: the corrupt member is that row's `unusable`."""
    from _fixtures_zenodo import fmc_ytids

    bad = f"mustango/{fmc_ytids()[1]}.wav"
    zip_path, ytids = fakemusiccaps_zip(tmp_path / "root" / ZIP, corrupt=bad)
    reals = musiccaps_reals(tmp_path / "reals", ytids)
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "mom_bench", "build", "-b", "fakemusiccaps", "--root",
                           str(zip_path.parent), "--reals", str(reals), "--out", str(out), "-q"],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stderr  # a build with an unusable row says so by its exit status
    assert "unusable" in done.stdout
    row = report_rows(out)[f"mustango.{ytids[1]}"]
    assert row["status"] == "unusable" and bad in row["reason"] and "CRC" in row["reason"]
    assert sum(r["status"] == "written" for r in report_rows(out).values()) > 0


def test_offline_names_the_archive_where_it_goes_and_the_fetch_command(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MOM_BENCH_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-m", "mom_bench", "build", "-b", "fakemusiccaps", "--download",
                           "--out", str(tmp_path / "out")], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env=env)
    assert done.returncode == 2
    err = done.stderr
    assert err.startswith("error: ") and ZIP in err and "15063698" in err and "HF_HUB_OFFLINE is set" in err
    assert "--root DIR" in err and str(tmp_path / "home") in err
    assert "HF_HUB_OFFLINE=0 mom-bench build -b fakemusiccaps --download" in err
    assert "zenodo.org/records/15063698/files/FakeMusicCaps.zip" in err
    assert not (tmp_path / "out").exists()
    with pytest.raises(CorpusFilesMissing, match="--download"):  # no --download: the same advice
        build_benchmark("fakemusiccaps", tmp_path / "out", progress=False, source_options={"root": str(tmp_path)})


def test_an_interrupted_download_resumes_where_it_stopped(corpus, tmp_path, monkeypatch):
    zip_path, ytids, reals = corpus
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    cache = tmp_path / "cache"
    size = zip_path.stat().st_size
    with ZenodoServer(RECORD, {ZIP: zip_path.read_bytes()}, cut_first=True) as srv:
        opts = {"download": True, "url": srv.file_url(RECORD, ZIP), "size": size, "md5": md5(zip_path),
                "cache": str(cache), "reals": str(reals), "retries": 0, "timeout": 5}
        with pytest.raises(CorpusFilesMissing, match="resumes from there"):
            build_benchmark("fakemusiccaps", tmp_path / "out", progress=False, source_options=opts)
        part = cache / f"{ZIP}.part"
        assert 0 < part.stat().st_size < size and not (tmp_path / "out").exists()
        result = build_benchmark("fakemusiccaps", tmp_path / "out", progress=False, source_options=opts)
    assert srv.ranges == [None, f"bytes={size // 2}-"]
    assert (cache / ZIP).read_bytes() == zip_path.read_bytes() and result.n_written > 0


def test_disk_preflight_refuses_before_anything_is_written(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    cache = tmp_path / "cache"
    with pytest.raises(NotEnoughSpace, match="Nothing was written"):
        build_benchmark("fakemusiccaps", tmp_path / "out", progress=False, source_options={
            "download": True, "url": "http://127.0.0.1:9/never", "size": 1 << 60, "cache": str(cache)})
    assert not cache.exists() and not (tmp_path / "out").exists()


def test_a_variant_holds_out_another_generator_from_the_archive_in_the_download_cache(tmp_path):
    """`fakemusiccaps-lofo-mustango` finds the base benchmark's archive in the download cache (no --root)."""
    from mom_bench.core import settings

    cached = settings.cache_dir() / "downloads" / "fakemusiccaps" / ZIP
    _, ytids = fakemusiccaps_zip(cached)
    reals = musiccaps_reals(tmp_path / "reals", ytids)
    build_benchmark("fakemusiccaps-lofo-mustango", tmp_path / "out", progress=False, source_options={
        "reals": str(reals)})
    rows = report_rows(tmp_path / "out")
    ood = {r["generator"] for r in rows.values() if r["split"] == "test_ood" and r["status"] == "written"}
    assert ood == {"real", "mustango"}
    assert all(r["status"] == "written" for r in rows.values() if r["generator"] == "stable_audio_open"
               and r["split"] != "test_ood")


def test_there_is_no_official_split_to_rebuild(tmp_path):
    with pytest.raises(BuildError, match="SunoCaps"):
        build_benchmark("fakemusiccaps", tmp_path / "out", split_mode="official", progress=False)


def test_fixture_mirrors_the_documented_layout(corpus):
    import zipfile

    names = zipfile.ZipFile(corpus[0]).namelist()
    assert {n.split("/")[0] for n in names} == set(FMC_FOLDERS) | {"__MACOSX"}
    assert all(len(n.rsplit("/", 1)[1]) == len("-WvVG0wHcTc.wav") for n in names if n.endswith(".wav")
               and "/._" not in n)
