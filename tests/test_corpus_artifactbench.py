"""ArtifactBench from its v1 manifest, Parquet shards of AI tracks and v2 metadata (tests/_fixtures_parquet.py): reals
matched in --reals by their YouTube / FMA ids, rows without audio reported missing with their ids, the re-host lineage
kept, official splits from bench_origin or protocol_split, the loopback Hub, load_dataset and a tiny detector."""
from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from test_decoder_families import Brightness

from mom_bench.dataset import build_benchmark
from tests._fixtures_parquet import (
    AB_MISSING_AI,
    AB_REVISION,
    ab_corrupt,
    ab_reals,
    ab_reals_folder,
    ab_repo,
    ab_track_id,
    serve,
    write_tree,
)


def _report(out):
    return {r["id"]: r for r in json.loads((out / "build_report.json").read_text())["rows"]}


def _meta(out) -> dict[str, dict]:
    table = pq.read_table(sorted((out / "data").glob("*.parquet")),
                          columns=["id", "split", "track_id", "lineage", "lineage_id", "upstream", "source"])
    return {r["id"]: r for r in table.to_pylist()}


def _by_track(rows: dict) -> dict[str, str]:
    return {tid: rid for rid in rows for tid in [rid.split("-", 1)[1]]}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    base = tmp_path_factory.mktemp("artifactbench")
    return write_tree(ab_repo(), base / "artifactbench"), ab_reals_folder(base / "my_reals")


@pytest.fixture(scope="module")
def strict_build(corpus):
    root, reals = corpus
    out = root.parent / "built"
    result = build_benchmark("artifactbench", out, source_options={"root": str(root), "reals": str(reals)},
                             progress=False)
    return result, out


def test_rows_without_audio_are_missing_with_their_ids_and_a_corrupt_cell_is_unusable(strict_build):
    result, out = strict_build
    rows = _report(out)
    assert len(rows) == 13 + 1 + len(ab_reals())
    missing_ai = rows[f"yue-{AB_MISSING_AI}"]
    assert missing_ai["status"] == "missing" and AB_MISSING_AI in missing_ai["reason"]
    source, tid, uid, _ = ab_reals()[-1]  # the real the user has no copy of
    missing_real = rows[f"{source}-{tid}"]
    assert missing_real["status"] == "missing" and uid in missing_real["reason"]
    assert rows[f"yue-{ab_corrupt()}"]["status"] == "unusable"
    assert (result.n_missing, result.n_unusable) == (2, 1)
    others = [r for r in rows.values() if r["id"] not in (f"yue-{AB_MISSING_AI}", f"{source}-{tid}",
                                                          f"yue-{ab_corrupt()}")]
    assert {r["status"] for r in others} == {"written"}


def test_reals_are_found_by_their_youtube_or_fma_id_and_keep_the_leading_zeros(strict_build):
    _, out = strict_build
    meta = _meta(out)
    fma = [r for r in meta.values() if r["source"] == "fma_hardneg"]
    assert fma and all(r["track_id"].split("_", 1)[1].startswith("000") for r in fma)
    assert {r["lineage"] for r in fma} == {"fma"}


def test_every_row_keeps_its_re_host_lineage_and_v2_metadata(strict_build):
    _, out = strict_build
    meta = _meta(out)
    lineages = {r["source"]: r["lineage"] for r in meta.values()}
    assert lineages["musicgen_small"] == lineages["stable_audio_1"] == "aime"
    assert (lineages["yue"], lineages["suno_cdn_latest"], lineages["sonics_real"]) == ("mom", "cdn", "sonics")
    aime = next(r for r in meta.values() if r["source"] == "musicgen_small")
    assert aime["upstream"] == "disco-eth/AIME" and aime["lineage_id"].startswith("ab2l-")
    cdn = [r for r in meta.values() if r["source"] == "suno_cdn_latest"]
    assert {r["track_id"] for r in cdn} == {ab_track_id("suno_cdn_latest", k) for k in range(3)}
    assert all(" " not in r["id"] for r in cdn)  # "Song Title 0_..." made a valid id, kept as track_id
    assert {r["split"] for r in meta.values() if r["source"] == "stable_audio_1"} == {"test_ood"}


def test_official_v1_keeps_bench_origin_and_v2_its_protocol_split(corpus, tmp_path):
    root, reals = corpus
    opts = {"root": str(root), "reals": str(reals)}
    build_benchmark("artifactbench", tmp_path / "v1", split_mode="official", source_options=opts, progress=False)
    rows = _report(tmp_path / "v1")
    musicgen = {ab_track_id("aime_musicgen_small", k): rows[f"musicgen_small-{ab_track_id('aime_musicgen_small', k)}"]
                for k in range(4)}
    assert [m["split"] for m in musicgen.values()] == ["test_id", "train", "test_id", "train"]
    ood = [rows[f"stable_audio_1-{ab_track_id('aime_stable_audio_v1', k)}"] for k in range(3)]
    assert [(r["status"], r["split"] if r["status"] == "written" else None) for r in ood] == [
        ("written", "test_ood"), ("excluded", None), ("written", "test_ood")]
    build_benchmark("artifactbench", tmp_path / "v2", split_mode="official", progress=False,
                    source_options={**opts, "official_split": "v2"})
    rows2 = _report(tmp_path / "v2")
    first = rows2[f"musicgen_small-{ab_track_id('aime_musicgen_small', 0)}"]  # v2 row 0: calibration
    second = rows2[f"musicgen_small-{ab_track_id('aime_musicgen_small', 1)}"]  # v2 row 1: validation
    assert (first["split"], second["split"]) == ("train", "validation")
    source, tid, _uid, _ = ab_reals()[-1]  # outside the v2 protocol
    assert rows2[f"{source}-{tid}"]["status"] == "excluded" and "v2" in rows2[f"{source}-{tid}"]["reason"]


def test_the_build_loads_and_evaluates_with_a_tiny_detector(strict_build, tmp_path):
    import datasets

    from mom_bench.loop.evaluation import evaluate

    _, out = strict_build
    ood = datasets.load_dataset(str(out), split="test_ood")
    assert {"real", "stable_audio_1"} <= set(ood["generator"])
    assert "lineage" in ood.column_names and "path" not in ood.column_names
    evaluate(Brightness(), data_dir=out, out_dir=tmp_path / "results", n_bootstrap=20, progress=False, plots=False)
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    assert 0 <= results["metrics"]["splits"]["test_ood"]["overall"]["auc"]["value"] <= 1


@pytest.mark.slow
def test_download_fetches_the_manifests_and_shards_and_offline_names_the_missing_files(corpus, tmp_path):
    from tests._loopback_hub import UploadHub

    _, reals = corpus
    with UploadHub() as hub:
        serve(hub, "intrect/artifactbench", AB_REVISION, ab_repo())
        out = tmp_path / "built"
        run = hub.run(["-m", "mom_bench", "build", "-b", "artifactbench", "--download", "--reals", str(reals),
                       "--out", str(out), "-q"], tmp_path)
        fetched = sorted(r.split("/resolve/")[1].split("/", 1)[1] for r in hub.requests
                         if r.startswith("GET") and "/resolve/" in r)
    assert run.returncode == 1, run.stderr  # missing rows (the manifest's AI row without audio, one real)
    assert fetched == ["ai_tracks/shard_000.parquet", "ai_tracks/shard_001.parquet",
                       "artifactbench_v1_manifest.json", "v2/artifactbench_v2_primary_manifest.json"]
    assert _report(out)[f"yue-{AB_MISSING_AI}"]["status"] == "missing"
    offline = hub.run(["-m", "mom_bench", "build", "-b", "artifactbench", "--download", "--out", str(tmp_path / "off"),
                       "-q"], tmp_path / "fresh", env={"HF_HUB_OFFLINE": "1"})
    assert offline.returncode == 2
    assert "ai_tracks/shard_000.parquet" in offline.stderr and "hf download intrect/artifactbench" in offline.stderr
    assert f"--revision {AB_REVISION}" in offline.stderr
