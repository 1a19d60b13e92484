"""MUSIC8K from its MP3 folders (tests/_fixtures_parquet.py): flat and per-item layouts, every item in one split,
HeartMuLa held out, reals only from --reals with the missing ones named, a corrupted MP3 reported with its row, the
loopback Hub and the offline error, then load_dataset and a tiny detector."""
from __future__ import annotations

import json
from collections import defaultdict

import pyarrow.parquet as pq
import pytest
from test_decoder_families import Brightness

from mom_bench.dataset import build_benchmark
from tests._fixtures_parquet import (
    M8K_REVISION,
    m8k_corrupt,
    m8k_items,
    m8k_reals_folder,
    m8k_repo,
    serve,
    write_tree,
)


def _report(out):
    return {r["id"]: r for r in json.loads((out / "build_report.json").read_text())["rows"]}


@pytest.fixture(scope="module")
def m8k_build(tmp_path_factory):
    base = tmp_path_factory.mktemp("music8k")
    root, reals = write_tree(m8k_repo(), base / "MUSIC8K"), m8k_reals_folder(base / "refs")
    out = base / "built"
    result = build_benchmark("music8k", out, source_options={"root": str(root), "reals": str(reals)}, progress=False)
    return result, out


def test_both_folder_layouts_are_read_and_every_item_lives_in_one_split(m8k_build):
    result, out = m8k_build
    rows = _report(out)
    items = [i for i, _ in m8k_items()]
    assert {f"heartmula-{i}" for i in items} <= set(rows)  # <folder>/<id>/<id>.mp3
    assert {f"acestep_1.5-{i}" for i in items} <= set(rows)  # <folder>/<id>.mp3
    table = pq.read_table(sorted((out / "data").glob("*.parquet")), columns=["id", "split", "item_id", "prompt_set"])
    splits = defaultdict(set)
    for rid, split, item in zip(*(table.column(c).to_pylist() for c in ("id", "split", "item_id"))):
        splits[item].add(split)
        assert not rid.startswith("heartmula-") or split == "test_ood"
    assert all(len(s) == 1 for s in splits.values()) and set(splits) <= set(items)
    assert set(table.column("item_id").to_pylist()) & {i for i in items if i.startswith("000")}  # zeros kept
    assert "pop+musiccaps" in table.column("prompt_set").to_pylist()
    assert result.n_excluded == 8


def test_reals_come_from_your_folder_and_a_missing_one_is_named(m8k_build):
    _, out = m8k_build
    rows = _report(out)
    last = m8k_items()[-1][0]
    assert rows[f"pop_references-{last}"]["status"] == "missing" and last in rows[f"pop_references-{last}"]["reason"]
    assert all(rows[f"pop_references-{i}"]["status"] == "written" for i, _ in m8k_items()[:-1])


def test_a_corrupted_mp3_is_reported_with_its_row(m8k_build):
    result, out = m8k_build
    item = m8k_corrupt().split("/")[1].split(".")[0]
    assert _report(out)[f"mureka_v9-{item}"]["status"] == "unusable" and result.n_unusable == 1


def test_the_build_loads_and_evaluates_with_a_tiny_detector(m8k_build, tmp_path):
    import datasets

    from mom_bench.loop.evaluation import evaluate

    _, out = m8k_build
    ood = datasets.load_dataset(str(out), split="test_ood")
    assert set(ood["generator"]) == {"real", "heartmula"}
    evaluate(Brightness(), data_dir=out, out_dir=tmp_path / "results", n_bootstrap=20, progress=False, plots=False)
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    assert set(results["metrics"]["splits"]["test_ood"]["per_decoder_family"]) == {"hybrid-rvq-flow"}


@pytest.mark.slow
def test_download_from_the_hub_and_the_offline_error(tmp_path):
    from tests._loopback_hub import UploadHub

    with UploadHub() as hub:
        serve(hub, "homura23/MUSIC8K", M8K_REVISION, m8k_repo())
        out = tmp_path / "built"
        run = hub.run(["-m", "mom_bench", "build", "-b", "music8k", "--download", "--out", str(out), "-q"], tmp_path)
        fetched = {r.split("/resolve/")[1].split("/", 1)[1] for r in hub.requests
                   if r.startswith("GET") and "/resolve/" in r}
    assert run.returncode == 1, run.stderr  # the corrupted MP3
    assert fetched == {p for p in m8k_repo() if p.endswith((".mp3", ".csv", ".jsonl"))}
    assert _report(out)[f"heartmula-{m8k_items()[0][0]}"]["status"] in ("written", "excluded")
    offline = hub.run(["-m", "mom_bench", "build", "-b", "music8k", "--download", "--out", str(tmp_path / "off"),
                       "-q"], tmp_path / "fresh", env={"HF_HUB_OFFLINE": "1"})
    assert offline.returncode == 2
    assert "metadata/pop_1000_unique_artist.csv" in offline.stderr
    assert f"hf download homura23/MUSIC8K --repo-type dataset --revision {M8K_REVISION} --include" in offline.stderr
