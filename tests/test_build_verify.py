"""A build is verified from its shards before it is used (issue 11 item 7): editing, deleting or adding shard
rows after the build is refused with the rows named; the label fingerprint ignores the audio."""
from __future__ import annotations

import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mom_bench.dataset import read
from mom_bench.dataset.read import BuildTampered, verify_build


@pytest.fixture
def build(tmp_path, loop_benchmark):
    out = tmp_path / "bench"
    shutil.copytree(loop_benchmark, out)
    return out


def _rewrite(shard, change):
    """Rewrite one shard with ``change(table) -> table``, keeping its schema metadata (what a hand edit does)."""
    table = pq.read_table(shard)
    pq.write_table(change(table), shard)


def test_untouched_build_verifies_and_carries_both_fingerprints(build):
    info = verify_build(build)
    report = read.read_info(build)
    assert info["fingerprint"] == report["fingerprint"]
    assert len(info["label_fingerprint"]) == len(info["audio_fingerprint"]) == 64
    assert info["label_fingerprint"] != info["audio_fingerprint"]


def test_flipped_label_is_refused_naming_the_row(build):
    shard = read.shards(build, "test_id")[0]
    first = pq.read_table(shard, columns=["id", "label"]).to_pylist()[0]

    def flip(table):
        labels = table.column("label").to_pylist()
        labels[0] = 1 - labels[0]
        return table.set_column(table.schema.get_field_index("label"), "label", pa.array(labels, pa.int64()))

    _rewrite(shard, flip)
    with pytest.raises(BuildTampered, match=f"row '{first['id']}' has label {1 - first['label']}"):
        verify_build(build)


def test_deleted_split_shard_is_refused_naming_the_file(build):
    shard = read.shards(build, "test_ood")[0]
    shard.unlink()
    with pytest.raises(BuildTampered, match=f"data/{shard.name} is missing"):
        verify_build(build)


def test_added_shard_is_refused(build):
    src = read.shards(build, "test_id")[0]
    shutil.copy(src, src.with_name("test_id-00099.parquet"))
    with pytest.raises(BuildTampered, match="test_id-00099.parquet was not written by the build"):
        verify_build(build)


def test_dropped_row_is_refused(build):
    shard = read.shards(build, "train")[0]
    with pytest.raises(BuildTampered, match="rows, the build wrote"):
        _rewrite(shard, lambda t: t.slice(1))
        verify_build(build)


def test_changed_audio_hash_changes_audio_not_label_fingerprint(build):
    before = verify_build(build)
    shard = read.shards(build, "validation")[0]

    def rehash(table):
        hashes = table.column("content_sha256").to_pylist()
        hashes[0] = "0" * 64
        i = table.schema.get_field_index("content_sha256")
        return table.set_column(i, "content_sha256", pa.array(hashes, pa.string()))

    _rewrite(shard, rehash)
    with pytest.raises(BuildTampered, match="audio hashes"):
        verify_build(build)
    # What scoring depends on is unchanged: the label fingerprint of the same rows stays the same.
    from mom_bench.dataset.build_report import label_fingerprint

    rows = [r for s in read.read_info(build)["splits"]
            for r in read.read_table(build, s, ["id", "split", "label", "generator"]).to_dict("records")]
    assert label_fingerprint(rows) == before["label_fingerprint"]


def test_evaluate_and_train_refuse_an_edited_build(build, loop_run, tmp_path):
    """The regression of issue 11 item 7: a flipped label used to be evaluated and submitted without a word."""
    from mom_bench.loop import evaluation, training

    shard = read.shards(build, "test_ood")[0]
    shard.unlink()
    with pytest.raises(BuildTampered, match="is missing"):
        evaluation.evaluate("clam-tiny", loop_run / "best", build, out_dir=tmp_path / "res", progress=False)
    assert not (tmp_path / "res").exists()
    with pytest.raises(BuildTampered):
        training.train("clam-tiny", data_dir=build, out_dir=tmp_path / "run", progress=False)
    # submit: tests/test_leaderboard_hostile.py::test_item7_the_build_is_verified_and_its_label_fingerprint_recorded


def test_results_record_both_fingerprint_halves(build, loop_run, tmp_path):
    import json

    from mom_bench.loop import evaluation

    evaluation.evaluate("clam-tiny", loop_run / "best", build, out_dir=tmp_path / "res", progress=False,
                        n_bootstrap=20)
    bench = json.loads((tmp_path / "res" / "results.json").read_text())["benchmark"]
    info = verify_build(build)
    assert bench["label_fingerprint"] == info["label_fingerprint"]
    assert bench["audio_fingerprint"] == info["audio_fingerprint"]


def test_edited_source_is_refused_though_outside_the_fingerprints(build):
    """Per-source false-positive rates read `source`: an edit of it is refused like a label edit."""
    shard = read.shards(build, "test_id")[0]
    first = pq.read_table(shard, columns=["id"]).to_pylist()[0]["id"]

    def resource(table):
        sources = table.column("source").to_pylist()
        sources[0] = "somewhere_else"
        return table.set_column(table.schema.get_field_index("source"), "source", pa.array(sources, pa.string()))

    _rewrite(shard, resource)
    with pytest.raises(BuildTampered, match=f"source column was changed.*'{first}'"):
        verify_build(build)
