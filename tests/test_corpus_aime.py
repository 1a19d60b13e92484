"""AIME from its Parquet shards (tests/_fixtures_parquet.py): a local copy and the loopback Hub, every prompt in one
split, the held-out Stable Audio renders only in test_ood, ids with their leading zeros, a corrupted audio cell
reported with its row, the disk preflight and the offline error, then load_dataset and a tiny detector."""
from __future__ import annotations

import json
from collections import defaultdict

import pyarrow.parquet as pq
import pytest
from test_decoder_families import Brightness

from mom_bench.core.errors import NotEnoughSpace, ProtocolError
from mom_bench.dataset import build_benchmark
from tests._fixtures_parquet import AIME_REVISION, aime_corrupt, aime_id, aime_repo, serve, write_tree

MODELS = ["MTG-Jamendo", "MusicGen Small", "Udio", "Stable Audio v1"]


def _report(out):
    return {r["id"]: r for r in json.loads((out / "build_report.json").read_text())["rows"]}


def _corrupt_row() -> str:
    model, prompt = aime_corrupt()
    return f"udio-{aime_id(MODELS.index(model), prompt)}"


@pytest.fixture(scope="module")
def aime_build(tmp_path_factory):
    root = write_tree(aime_repo(), tmp_path_factory.mktemp("aime") / "AIME")
    out = root.parent / "built"
    result = build_benchmark("aime", out, source_options={"root": str(root)}, progress=False)
    return result, out


def test_every_prompt_lives_in_one_split_and_held_out_renders_only_in_test_ood(aime_build):
    result, out = aime_build
    rows = _report(out)
    assert len(rows) == 4 * 6
    table = pq.read_table(sorted((out / "data").glob("*.parquet")), columns=["id", "split", "description", "aime_id"])
    splits_of = defaultdict(set)
    for rid, split, desc in zip(*(table.column(c).to_pylist() for c in ("id", "split", "description"))):
        splits_of[desc].add(split)
        assert not rid.startswith("stable_audio_1-") or split == "test_ood"
    assert all(len(s) == 1 for s in splits_of.values()), splits_of
    ood_prompts = {d for d, s in splits_of.items() if s == {"test_ood"}}
    assert len(ood_prompts) == 2
    # ids keep the corpus' leading zeros, as text
    assert rows["mtg_jamendo-00000"]["status"] == "written"
    assert "00000" in table.column("aime_id").to_pylist()
    for row in rows.values():
        if row["status"] == "excluded":
            assert "strict prompt split" in row["reason"]
    excluded = {r for r, row in rows.items() if row["status"] == "excluded"}
    assert {r.split("-")[0] for r in excluded} == {"musicgen_small", "udio", "stable_audio_1"}
    assert result.n_excluded == len(excluded) == 2 * 2 + 4  # 2 ID models x 2 test_ood prompts + 4 OOD renders


def test_a_corrupted_audio_cell_is_reported_with_its_row(aime_build):
    result, out = aime_build
    row = _report(out)[_corrupt_row()]
    assert row["status"] == "unusable" and row["reason"]
    assert result.n_unusable == 1 and not result.ok


def test_the_prompt_tags_of_audio_path_never_reach_the_audio_column(aime_build):
    _, out = aime_build
    table = pq.read_table(sorted((out / "data").glob("*.parquet")), columns=["audio"])
    paths = [a["path"] for a in table.column("audio").to_pylist()]
    assert not any(p and "genre---" in p for p in paths)


def test_the_build_loads_and_evaluates_with_a_tiny_detector(aime_build, tmp_path):
    import datasets

    from mom_bench.loop.evaluation import evaluate

    _, out = aime_build
    ood = datasets.load_dataset(str(out), split="test_ood")
    assert sorted(set(ood["generator"])) == ["real", "stable_audio_1"] and len(ood) == 4
    assert all(isinstance(i, str) and len(i) == 5 for i in ood["aime_id"])
    evaluate(Brightness(), data_dir=out, out_dir=tmp_path / "results", n_bootstrap=20, progress=False, plots=False)
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    ood_metrics = results["metrics"]["splits"]["test_ood"]
    assert 0 <= ood_metrics["overall"]["auc"]["value"] <= 1
    assert set(ood_metrics["per_decoder_family"]) == {"continuous-vae"}


def test_official_mode_is_refused_for_a_corpus_without_a_split(tmp_path):
    with pytest.raises(ProtocolError, match="publishes no split"):
        build_benchmark("aime", tmp_path / "out", split_mode="official", progress=False,
                        source_options={"root": str(tmp_path)})


def test_the_disk_preflight_refuses_before_fetching_anything(tmp_path, monkeypatch):
    from mom_bench.dataset.sources.hub_corpus import HubCorpus

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    corpus = HubCorpus("AIME", "disco-eth/AIME", AIME_REVISION, None, True)
    with pytest.raises(NotEnoughSpace, match="published sizes"):
        corpus.fetch({"data/train-00000-of-00210.parquet": 1 << 60})


@pytest.mark.slow
def test_download_fetches_only_the_chosen_shards_and_offline_names_the_missing_ones(tmp_path):
    from tests._loopback_hub import UploadHub

    with UploadHub() as hub:
        serve(hub, "disco-eth/AIME", AIME_REVISION, aime_repo())
        out = tmp_path / "built"
        run = hub.run(["-m", "mom_bench", "build", "-b", "aime", "--download", "-o", "shards=0-1", "--out", str(out),
                       "-q"], tmp_path)
        fetched = [r for r in hub.requests if r.startswith("GET") and "/resolve/" in r]
    assert run.returncode == 1, run.stderr  # the corrupted cell is in shard 1
    assert sorted(f.split("/")[-1] for f in fetched) == ["train-00000-of-00210.parquet",
                                                         "train-00001-of-00210.parquet"]
    rows = _report(out)
    assert rows[_corrupt_row()]["status"] == "unusable"
    assert not any(r.startswith("stable_audio_1-") for r in rows)  # shard 2 was not asked for
    offline = hub.run(["-m", "mom_bench", "build", "-b", "aime", "--download", "-o", "shards=2",
                       "--out", str(tmp_path / "off"), "-q"], tmp_path / "fresh", env={"HF_HUB_OFFLINE": "1"})
    assert offline.returncode == 2
    assert "train-00002-of-00210.parquet" in offline.stderr
    assert (f"hf download disco-eth/AIME data/train-00002-of-00210.parquet --repo-type dataset --revision "
            f"{AIME_REVISION}") in offline.stderr


def test_the_cell_reader_serves_rows_in_any_order_and_names_an_empty_cell(tmp_path):
    import pyarrow as pa

    from mom_bench.core.errors import AudioError
    from mom_bench.dataset.sources.parquet_cells import CellReader, Readers

    cells = [None if i == 33 else f"cell {i:03d}".encode() * 50 for i in range(60)]
    table = pa.table({"audio": pa.array([{"bytes": c, "path": f"p{i}"} for i, c in enumerate(cells)],
                                        pa.struct([("bytes", pa.binary()), ("path", pa.string())]))})
    path = tmp_path / "cells.parquet"
    pq.write_table(table, path, row_group_size=7)
    reader = CellReader(path, "audio", "bytes")
    order = [i for i in range(60) if i != 33] + [0, 59, 5, 58, 14]  # in order, then behind the kept batches
    assert all(reader.get(i, f"row{i}") == cells[i] for i in order)
    with pytest.raises(AudioError, match="empty audio cell"):
        reader.get(33, "row33")
    readers = Readers("audio", "bytes")
    other = tmp_path / "other.parquet"
    pq.write_table(table.slice(0, 10), other, row_group_size=4)
    # a late fetch of the first file's last rows after the second file was started is served from its kept batches
    assert [readers.get(path, 58, "a"), readers.get(other, 0, "b"), readers.get(path, 59, "c")] == [
        cells[58], cells[0], cells[59]]
