"""End to end on a small real benchmark: real audio files, real parquet, real `datasets.load_dataset`."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from _build_fixtures import make_benchmark
from click.testing import CliRunner

from mom_bench.cli import main
from mom_bench.dataset import BuildError, build_benchmark, fingerprint
from mom_bench.dataset.shortcut import FEATURES, WARN_BALANCED_ACCURACY

EXTRA = [  # rows that must be reported, not dropped
    {"id": "gone", "label": 0, "generator": "real", "source": "real", "path": "audio/nothing.wav", "artist": "z"},
    {"id": "garbage", "label": 1, "generator": "gen_a", "source": "gen_a", "path": "audio/garbage.mp3"},
    {"id": "escape", "label": 1, "generator": "gen_a", "source": "gen_a", "path": "../../etc/passwd"},
    {"id": "stranger", "label": 1, "generator": "gen_x", "source": "gen_x", "path": "audio/fake_000.flac"},
    {"id": "real_000", "label": 0, "generator": "real", "source": "real", "path": "audio/real_001.mp3"},  # dup id
    # the same audio as real_003 under another group: must be joined with it
    {"id": "copy_of_real_003", "label": 0, "generator": "real", "source": "real", "path": "audio/real_003.wav",
     "artist": "someone else"},
]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    proto, table = make_benchmark(root, extra_rows=EXTRA)
    (root / "audio" / "garbage.mp3").write_bytes(b"not audio at all" * 64)
    out = root / "out"
    result = build_benchmark(str(proto), out, source_options={"csv": str(table)}, progress=False)
    return root, proto, table, out, result


def _shard_rows(out: Path):
    rows = []
    for f in sorted((out / "data").glob("*.parquet")):
        t = pq.read_table(f)
        rows += [dict(r, _file=f.name) for r in t.drop(["audio"]).to_pylist()]
    return rows


def test_every_row_is_accounted_for(built):
    _, _, table, out, result = built
    report = json.loads((out / "build_report.json").read_text())
    with open(table) as fh:
        listed = list(csv.DictReader(fh))
    assert report["counts"]["rows"] == len(listed) == len(report["rows"])
    status = {(r["id"], r["status"]) for r in report["rows"]}
    assert ("gone", "missing") in status
    assert ("garbage", "unusable") in status
    assert ("escape", "unusable") in status
    assert ("stranger", "unusable") in status
    reasons = {r["id"]: r["reason"] for r in report["rows"] if r["status"] != "written"}
    assert "leaves" in reasons["escape"] and "gen_x" in reasons["stranger"]
    assert any("duplicate id" in (r["reason"] or "") for r in report["rows"])
    assert result.n_written == 31 and result.n_missing == 1 and result.n_unusable == 4 and not result.ok


def test_shards_splits_csv_and_report_agree(built):
    _, _, _, out, result = built
    rows = _shard_rows(out)
    assert len(rows) == result.n_written == len({r["id"] for r in rows})
    for r in rows:
        assert r["_file"].startswith(r["split"] + "-")
    with open(out / "splits.csv") as fh:
        splits = {r["id"]: (r["split"], r["group_id"]) for r in csv.DictReader(fh)}
    assert splits == {r["id"]: (r["split"], r["group_id"]) for r in rows}
    report = json.loads((out / "build_report.json").read_text())
    assert report["schema_version"] == 1 and report["benchmark"] == "tiny" and report["benchmark_version"] == "0.1.0"
    assert report["fingerprint"] == fingerprint(rows) == result.fingerprint
    counts = defaultdict(lambda: defaultdict(int))
    for r in rows:
        counts[r["split"]][r["generator"]] += 1
    assert report["counts"]["by_split"] == {s: dict(g) for s, g in counts.items()}

    # the shortcut check ran on this build's written rows (an audit that fails reports "error" instead)
    check = report["shortcut_check"]
    assert "error" not in check and "skipped" not in check, check
    assert result.shortcut == check and check["features"] == list(FEATURES) and check["seed"] == 0
    test = [r for r in rows if r["split"] in ("test_id", "test_ood")]
    assert check["n_train"] == sum(r["split"] == "train" for r in rows) and check["n_test"] == len(test)
    prevalence = sum(r["label"] for r in test) / len(test)
    assert check["chance_f1"] == round(prevalence / (prevalence + 0.5), 4)
    assert set(check["per_classifier"]) == {"logistic_regression", "decision_tree_depth3"}
    assert check["f1"] == max(c["test"] for c in check["per_classifier"].values()) == \
        check["per_classifier"][check["classifier"]]["test"]
    assert 0 <= check["f1"] <= 1 and check["threshold"] == WARN_BALANCED_ACCURACY
    assert check["warn"] == (check["balanced_accuracy"] > WARN_BALANCED_ACCURACY)


def test_no_ood_outside_test_ood_and_no_group_across_splits(built):
    _, _, _, out, _ = built
    rows = _shard_rows(out)
    assert all(r["split"] == "test_ood" for r in rows if r["generator"] == "gen_ood")
    assert all(r["is_ood"] == (r["generator"] == "gen_ood") for r in rows)
    by_group = defaultdict(set)
    for r in rows:
        by_group[r["group_id"]].add(r["split"])
    assert all(len(s) == 1 for s in by_group.values())
    # real_003 and its copy carry the same audio: one group, one split, recorded in the audit
    dup = {r["id"]: r for r in rows if r["id"] in ("real_003", "copy_of_real_003")}
    assert dup["real_003"]["content_sha256"] == dup["copy_of_real_003"]["content_sha256"]
    assert dup["real_003"]["group_id"] == dup["copy_of_real_003"]["group_id"]
    assert dup["real_003"]["split"] == dup["copy_of_real_003"]["split"]
    audit = json.loads((out / "build_report.json").read_text())["leakage_audit"]
    assert audit["ok"] and len(audit["duplicates_merged"]) == 1
    # reals of one artist share a group
    arts = {r["artist"]: r["group_id"] for r in rows if r["generator"] == "real" and r["id"].startswith("real_00")}
    assert len(set(arts.values())) == len(arts)


def test_columns_and_original_format(built):
    _, _, _, out, _ = built
    rows = {r["id"]: r for r in _shard_rows(out)}
    r = rows["real_000"]  # a 22.05 kHz stereo wav
    assert (r["orig_codec"], r["orig_sample_rate"], r["orig_channels"], r["orig_bit_rate"]) == \
        ("pcm_s16le", 22050, 2, 705600)
    m = rows["real_002"]  # a 44.1 kHz stereo mp3 at 128 kb/s
    assert (m["orig_codec"], m["orig_sample_rate"], m["orig_bit_rate"]) == ("mp3", 44100, 128000)
    assert r["label"] == 0 and r["label_name"] == "real" and r["generator_name"] == "Real"
    assert r["duration_s"] == pytest.approx(1.0, abs=0.01)
    f = rows["fake_001"]
    assert f["label"] == 1 and f["generator_family"] in {"a", "b"} and f["label_name"] == "fake"
    schema = pq.read_schema(next((out / "data").glob("train-*.parquet")))
    hf = json.loads(schema.metadata[b"huggingface"])
    assert hf["info"]["features"]["audio"]["_type"] == "Audio"


@pytest.mark.slow
def test_load_dataset_in_a_fresh_process_decodes_audio(built, tmp_path):
    _, _, _, out, _ = built
    code = (
        "import datasets, json, sys\n"
        f"ds = datasets.load_dataset({str(out)!r}, split='test_ood', cache_dir={str(tmp_path / 'hf')!r})\n"
        "row = ds[0]\n"
        "a = row['audio']\n"
        "print(json.dumps({'n': len(ds), 'rate': a['sampling_rate'], 'len': len(a['array']),"
        " 'splits': sorted(set(ds['split'])), 'ood': sorted(set(ds['generator']))}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    assert info["rate"] == 16000 and info["len"] == pytest.approx(16000, abs=200)
    assert info["splits"] == ["test_ood"] and "gen_ood" in info["ood"]


def test_same_inputs_give_the_same_build(built, tmp_path):
    _, proto, table, out, result = built
    again = build_benchmark(str(proto), tmp_path / "again", source_options={"csv": str(table)}, progress=False)
    assert again.fingerprint == result.fingerprint
    assert (tmp_path / "again" / "splits.csv").read_bytes() == (out / "splits.csv").read_bytes()


def test_a_finished_build_is_reused_or_protected(built):
    _, proto, table, out, result = built
    again = build_benchmark(str(proto), out, source_options={"csv": str(table)}, progress=False)
    assert again.reused and again.fingerprint == result.fingerprint
    with pytest.raises(BuildError, match="other options"):
        build_benchmark(str(proto), out, source_options={"csv": str(table)}, progress=False, max_seconds=0.5)


def test_a_build_from_an_earlier_protocol_file_is_rebuilt_with_the_same_choices(built, tmp_path, capsys):
    """After an upgrade the protocol file changes (mom-mini 1.0 -> 2.0): the same command rebuilds, saying so,
    rather than refusing; a build whose user choices differ is still refused."""
    import shutil

    _, proto, table, out, result = built
    mine = tmp_path / "upgraded"
    shutil.copytree(out, mine)
    newer = tmp_path / proto.name
    newer.write_text(proto.read_text().replace("version:", "# a newer protocol file\nversion:", 1))
    with pytest.raises(BuildError, match="other options"):
        build_benchmark(str(newer), mine, source_options={"csv": str(table)}, progress=False, limit=4)
    again = build_benchmark(str(newer), mine, source_options={"csv": str(table)})
    assert not again.reused and again.n_written == result.n_written
    assert "built from an earlier protocol file" in capsys.readouterr().err
    assert build_benchmark(str(newer), mine, source_options={"csv": str(table)}, progress=False).reused


def test_a_build_from_an_earlier_protocol_file_with_the_same_rows_is_reused(built, tmp_path):
    """An upgrade that only documents a benchmark (decoder families, releases) lists the earlier file's sha256
    in same_rows_as: the finished build is reused as it is, not rebuilt (on MoM a rebuild costs days)."""
    import hashlib
    import shutil

    _, proto, table, out, result = built
    mine = tmp_path / "documented"
    shutil.copytree(out, mine)
    before = (mine / "build_report.json").read_bytes()
    earlier = hashlib.sha256(proto.read_bytes()).hexdigest()
    newer = tmp_path / proto.name
    newer.write_text(proto.read_text().replace("version:", f'same_rows_as: ["{earlier}"]\nversion:', 1))
    again = build_benchmark(str(newer), mine, source_options={"csv": str(table)}, progress=False)
    assert again.reused and again.fingerprint == result.fingerprint
    assert (mine / "build_report.json").read_bytes() == before
    # another earlier file is not vouched for: rebuilt, as after any upgrade
    other = tmp_path / "other" / proto.name
    other.parent.mkdir()
    other.write_text(proto.read_text().replace("version:", f'same_rows_as: ["{"0" * 64}"]\nversion:', 1))
    assert not build_benchmark(str(other), mine, source_options={"csv": str(table)}, progress=False).reused


def test_cli_build_exit_status_and_hints(tmp_path):
    proto, table = make_benchmark(tmp_path / "b", n_real=3, n_fake=3, n_ood=2)
    runner = CliRunner()
    res = runner.invoke(main, ["build", "-b", str(proto), "--out", str(tmp_path / "o"), "-o", f"csv={table}", "-q"])
    assert res.exit_code == 0, res.output
    assert "load_dataset(" in res.output and "8 of 8 rows written" in res.output
    with open(table, "a") as fh:
        fh.write("lost,0,real,real,audio/none.wav,,,\n")
    res = runner.invoke(main, ["build", "-b", str(proto), "--out", str(tmp_path / "o2"), "-o", f"csv={table}", "-q"])
    assert res.exit_code == 1 and "1 missing" in res.output
    res = runner.invoke(main, ["build", "--list"])
    assert res.exit_code == 0 and "mom " in res.output and "sonics" in res.output
