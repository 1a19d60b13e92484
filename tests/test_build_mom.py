"""MoM: the real manifests of the official code (130,399 rows) and a small local audio root."""
from __future__ import annotations

import json
import time
from collections import Counter, defaultdict

import pytest
from _build_fixtures import write_tone
from conftest import shared_path

from mom_bench.dataset import protocols
from mom_bench.dataset.builder import list_rows
from mom_bench.dataset.sources import MissingAudio, open_source

# Rows per generator in the released MoM manifest ai_generated_music_metadata.csv (arXiv 2512.00621).
MANIFEST_COUNTS = {"suno_3.5": 23695, "udio_1.5": 19500, "diffrhythm": 4596, "suno_2": 110, "riffusion": 7045,
         "yue": 5278, "suno_3": 3512, "ai_covers": 1166, "suno_4": 48}
OOD = {"riffusion", "yue", "suno_3", "ai_covers", "suno_4"}


@pytest.fixture(scope="module")
def manifests():
    return shared_path("reference", "mom_v1_manifests")


_CACHE: dict = {}


def _listing(manifests, mode):
    """Listing + split assignment of the full manifests (computed once per mode)."""
    if mode not in _CACHE:
        p = protocols.load("mom")
        t0 = time.perf_counter()
        listed = list_rows(p, open_source(p, {"manifests": str(manifests), "split_mode": mode}), mode, None)
        _CACHE[mode] = listed, time.perf_counter() - t0
    return _CACHE[mode]


@pytest.mark.slow
def test_real_manifests_parse_with_the_published_counts(manifests):
    listed, seconds = _listing(manifests, "strict")
    assert listed.rejected == []
    assert len(listed.rows) == 130399
    gens = Counter(r.generator for r in listed.rows)
    assert {g: n for g, n in gens.items() if g != "real"} == MANIFEST_COUNTS
    assert Counter(r.source for r in listed.rows if r.label == 0) == {"real_songs": 47945, "real_yt_covers": 17504}
    assert len({r.id for r in listed.rows}) == 130399
    assert seconds < 60, f"listing and splitting 130k rows took {seconds:.1f} s"


def test_strict_splits_on_the_full_manifests(manifests):
    listed, _ = _listing(manifests, "strict")
    split = listed.split_of
    assert all(split[r.id] == "test_ood" for r in listed.rows if r.generator in OOD)
    assert not any(split[r.id] == "test_ood" for r in listed.rows if r.label == 1 and r.generator not in OOD)
    groups = defaultdict(set)
    for r in listed.rows:
        groups[r.group_key].add(split[r.id])
    assert all(len(s) == 1 for s in groups.values())
    by = Counter((r.label, split[r.id]) for r in listed.rows)
    n_real = 65449
    p = protocols.load("mom")
    for s, w in p.real_weights.items():
        assert by[(0, s)] / n_real == pytest.approx(w, abs=0.01)
    assert by[(1, "test_id")] > 0 and by[(0, "test_id")] > 0


@pytest.mark.slow
def test_official_mode_reproduces_the_official_proportions(manifests):
    listed, _ = _listing(manifests, "official")
    split = listed.split_of
    fakes = [r for r in listed.rows if r.label == 1]
    reals = [r for r in listed.rows if r.label == 0]
    # fakes strictly by generator: 47,901 in-distribution (train+validation), 17,049 OOD (test)
    assert sum(split[r.id] in ("train", "validation") for r in fakes) == 47901
    assert sum(split[r.id] == "test_ood" for r in fakes) == 17049
    assert not any(split[r.id] == "test_id" for r in listed.rows)  # the official code has no ID test
    ratio = 47901 / 64950  # the fakes' train:test ratio, applied to the reals
    real_train = sum(split[r.id] in ("train", "validation") for r in reals) / len(reals)
    assert real_train == pytest.approx(ratio, abs=0.01)
    train_val = Counter(split[r.id] for r in listed.rows if split[r.id] in ("train", "validation"))
    assert train_val["train"] / (train_val["train"] + train_val["validation"]) == pytest.approx(0.8, abs=0.01)


def test_rows_without_audio_say_why(manifests):
    listed, _ = _listing(manifests, "strict")
    by_id = {r.id: r for r in listed.rows}
    with pytest.raises(MissingAudio, match="YouTube-only"):
        by_id["real_00000"].fetch()
    with pytest.raises(MissingAudio, match="--download"):
        by_id["udio_1_5_0"].fetch()


def test_build_from_a_local_audio_root(tmp_path):
    """The official layout: one folder per generator, files named as in the manifests."""
    man = tmp_path / "manifests"
    man.mkdir()
    fakes = [("suno_3_5_0.mp3", "suno_3.5"), ("udio_1_5_0.mp3", "Udio_1.5"), ("yue_0.mp3", "Yue"),
             ("riffusion_0.mp3", "riffusion"), ("suno_4_0.mp3", "suno_4"), ("mystery_0.mp3", "musicgen")]
    (man / "ai_generated_music_metadata.csv").write_text(
        "filename,model_name\n" + "".join(f"{f},{m}\n" for f, m in fakes))
    (man / "real_songs_2.csv").write_text("filename,target,split\n" + "".join(
        f"real_{i:05d},0,train\n" for i in range(6)))
    (man / "real_yt_covers.csv").write_text("filename\nyt_covers_1.mp3\nyt_covers_2.mp3\n")
    root = tmp_path / "root"
    layout = {"suno_3.5": ["suno_3_5_0.mp3"], "Udio_1.5": ["udio_1_5_0.mp3"], "Yue": ["yue_0.mp3"],
              "riffusion": ["riffusion_0.mp3"], "real_songs": [f"real_{i:05d}.mp3" for i in range(5)],
              "real_yt_covers": ["yt_covers_1.mp3"]}  # suno_4_0, real_00005 and yt_covers_2 are absent
    i = 0
    for folder, files in layout.items():
        (root / folder).mkdir(parents=True)
        for f in files:
            write_tone(root / folder / f, i, 1.0, ("mp3", 44100, 2))
            i += 1
    from mom_bench.dataset import build_benchmark

    result = build_benchmark("mom", tmp_path / "out", progress=False,
                             source_options={"manifests": str(man), "root": str(root)})
    report = json.loads((tmp_path / "out" / "build_report.json").read_text())
    status = {r["id"]: (r["status"], r["split"]) for r in report["rows"]}
    assert len(status) == 6 + 6 + 2
    assert result.n_written == 10 and result.n_missing == 3 and result.n_unusable == 1
    assert status["mystery_0"][0] == "unusable"
    for gid in ("yue_0", "riffusion_0"):
        assert status[gid] == ("written", "test_ood")
    assert status["suno_4_0"][0] == "missing"
    assert report["counts"]["by_split"]["test_ood"].get("yue") == 1


def test_a_failed_hub_download_is_reported_per_row(tmp_path):
    """Offline (HF_HUB_OFFLINE=1): the hosted rows cannot be fetched; the build says so for each row and
    still writes what it has."""
    man = tmp_path / "manifests"
    man.mkdir()
    (man / "ai_generated_music_metadata.csv").write_text("filename,model_name\nudio_1_5_0.mp3,Udio_1.5\n"
                                                         "yue_0.mp3,Yue\n")
    (man / "real_songs_2.csv").write_text("filename,target,split\nreal_00000,0,train\n")
    (man / "real_yt_covers.csv").write_text("filename\n")
    root = tmp_path / "root" / "Yue"
    root.mkdir(parents=True)
    write_tone(root / "yue_0.mp3", 0, 1.0, ("mp3", 44100, 2))
    from mom_bench.dataset import build_benchmark

    result = build_benchmark("mom", tmp_path / "out", progress=False, source_options={
        "manifests": str(man), "root": str(tmp_path / "root"), "download": True, "cache": str(tmp_path / "cache")})
    rows = {r["id"]: r for r in json.loads((tmp_path / "out" / "build_report.json").read_text())["rows"]}
    assert rows["yue_0"]["status"] == "written"
    assert rows["udio_1_5_0"]["status"] == "missing"
    assert "anonymous2212/MoM-CLAM-dataset failed" in rows["udio_1_5_0"]["reason"]
    assert result.n_written == 1 and result.n_missing == 2
