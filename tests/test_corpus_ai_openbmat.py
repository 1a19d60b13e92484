"""AI-OpenBMAT end to end on a fixture zip in its documented layout (paired AI and human excerpts with their
timeline JSONs, reals shipped): downloaded from a loopback Zenodo or read from a local --root, built by the real
builder, loaded with `datasets`, scored by a tiny detector; a corrupt member, the offline error and an interrupted
download."""
from __future__ import annotations

import json
from collections import defaultdict

import pytest
from _build_fixtures import FirstSecondBrightness, report_rows
from _fixtures_zenodo import ZenodoServer, ai_openbmat_zip, md5

from mom_bench.core.errors import CorpusFilesMissing
from mom_bench.dataset import build_benchmark

RECORD = "20031232"
ZIP = "AI-OpenBMAT.zip"


def test_download_from_zenodo_builds_pairs_in_one_split_loads_and_evaluates(tmp_path, monkeypatch):
    zip_path, pairs = ai_openbmat_zip(tmp_path / "src" / ZIP, pairs=12)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    out, cache = tmp_path / "out", tmp_path / "cache"
    with ZenodoServer(RECORD, {ZIP: zip_path.read_bytes()}) as srv:
        result = build_benchmark("ai-openbmat", out, progress=False, source_options={
            "download": True, "url": srv.file_url(RECORD, ZIP), "size": zip_path.stat().st_size,
            "md5": md5(zip_path), "cache": str(cache), "retries": 0})
    assert result.ok and result.n_written == 2 * len(pairs)  # junk entries and JSON side files make no row
    rows = report_rows(out)
    assert set(rows) == {p for p in pairs} | {f"{p}_ai" for p in pairs}
    by_pair = defaultdict(set)
    for r in rows.values():
        by_pair[r["group_id"]].add(r["split"])
    assert len(by_pair) == len(pairs) and all(len(s) == 1 for s in by_pair.values())
    assert {rows[p]["group_id"] for p in pairs} == {rows[f"{p}_ai"]["group_id"] for p in pairs}
    assert "test_ood" not in {r["split"] for r in rows.values()}  # one generator: nothing held out

    import datasets

    train = datasets.load_dataset(str(out), split="train")
    assert train[0]["audio"]["sampling_rate"] == 22050
    assert set(train["generator"]) <= {"real", "suno_3.5"}
    shares = {r["id"]: r["speech_share"] for r in train}
    expected = {p: (i % 3) * 0.25 for i, p in enumerate(pairs)}
    assert shares and all(shares[i] == pytest.approx(expected[i.removesuffix("_ai")]) for i in shares)

    from mom_bench.loop.evaluation import evaluate

    evaluate(FirstSecondBrightness(22050), data_dir=out, out_dir=tmp_path / "results", n_bootstrap=20, progress=False,
             plots=False)
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    assert "test_id" in results["metrics"]["splits"] and "test_ood" not in results["metrics"]["splits"]


def test_local_root_reports_a_corrupt_member_by_name(tmp_path):
    bad = "AI-OpenBMAT/ai/gen_0002_ai.wav"
    zip_path, pairs = ai_openbmat_zip(tmp_path / "root" / ZIP, pairs=4, corrupt=bad)
    result = build_benchmark("ai-openbmat", tmp_path / "out", progress=False,
                             source_options={"root": str(zip_path.parent)})
    row = report_rows(tmp_path / "out")["gen_0002_ai"]
    assert row["status"] == "unusable" and bad in row["reason"] and "CRC" in row["reason"]
    assert result.n_written == 2 * len(pairs) - 1


def test_offline_names_the_archive_and_an_interrupted_download_resumes(tmp_path, monkeypatch):
    zip_path, _ = ai_openbmat_zip(tmp_path / "src" / ZIP, pairs=3)
    cache = tmp_path / "cache"
    with ZenodoServer(RECORD, {ZIP: zip_path.read_bytes()}, cut_first=True) as srv:
        opts = {"download": True, "url": srv.file_url(RECORD, ZIP), "size": zip_path.stat().st_size,
                "cache": str(cache), "retries": 0, "timeout": 5}
        with pytest.raises(CorpusFilesMissing) as err:  # HF_HUB_OFFLINE=1 (the suite's default): nothing fetched
            build_benchmark("ai-openbmat", tmp_path / "out", progress=False, source_options=opts)
        text = str(err.value)
        assert ZIP in text and "20031232" in text and str(cache) in text and "--root DIR" in text
        assert "HF_HUB_OFFLINE=0 mom-bench build -b ai-openbmat --download" in text
        assert srv.hits == {} and not cache.exists()
        monkeypatch.setenv("HF_HUB_OFFLINE", "0")
        with pytest.raises(CorpusFilesMissing, match="resumes from there"):
            build_benchmark("ai-openbmat", tmp_path / "out", progress=False, source_options=opts)
        result = build_benchmark("ai-openbmat", tmp_path / "out", progress=False, source_options=opts)
    assert srv.ranges[-1] == f"bytes={zip_path.stat().st_size // 2}-" and result.ok
