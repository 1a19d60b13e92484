"""Strict splits: hashing, stability when rows are added, OOD isolation, duplicate merging."""
from __future__ import annotations

from collections import Counter

import pytest

from mom_bench.dataset.splitting import assign_split, audit_splits, merge_duplicates, split_for, unit_hash

W = {"train": 0.6, "validation": 0.2, "test_id": 0.1, "test_ood": 0.1}


def test_same_key_same_split_and_pinned_value():
    assert assign_split("real_songs:artist=x", "salt", W) == assign_split("real_songs:artist=x", "salt", W)
    # pinned values: sha256 makes the assignment identical on every machine and Python version, and a
    # change here would silently re-split every published benchmark
    assert unit_hash("real_songs:id=real_00000", "mom-v1") == 0.24343372524966872
    assert [assign_split(f"k{i}", "s", W) for i in range(8)] == [
        "validation", "train", "train", "validation", "test_id", "train", "validation", "train"]
    first = [assign_split(f"k{i}", "s", W) for i in range(200)]
    assert first == [assign_split(f"k{i}", "s", W) for i in range(200)]


def test_salt_changes_the_assignment():
    a = [assign_split(f"k{i}", "s1", W) for i in range(500)]
    b = [assign_split(f"k{i}", "s2", W) for i in range(500)]
    assert a != b


def test_proportions_follow_the_weights():
    n = 40000
    c = Counter(assign_split(f"key-{i}", "mom-v1", W) for i in range(n))
    for split, w in W.items():
        assert c[split] / n == pytest.approx(w, abs=0.01)


def test_adding_rows_never_moves_existing_rows():
    keys = [f"song-{i}" for i in range(3000)]
    before = {k: assign_split(k, "x", W) for k in keys}
    more = keys + [f"new-{i}" for i in range(3000)]
    after = {k: assign_split(k, "x", W) for k in reversed(more)}  # other order, more rows
    assert all(after[k] == before[k] for k in keys)


def test_zero_weight_split_is_never_chosen():
    w = {"train": 0.8, "validation": 0.2, "test_id": 0.0}
    assert "test_id" not in {assign_split(f"k{i}", "s", w) for i in range(2000)}


def test_ood_fakes_always_go_to_test_ood():
    for i in range(300):
        assert split_for(label=1, is_ood=True, group_key=f"g{i}", salt="s", real_weights=W,
                         fake_id_weights={"train": 1.0}) == "test_ood"
        assert split_for(label=1, is_ood=False, group_key=f"g{i}", salt="s", real_weights=W,
                         fake_id_weights={"train": 0.5, "test_id": 0.5}) != "test_ood"


def _row(i, group, split, h, ood=False, gen="g"):
    return {"id": i, "group_id": group, "split": split, "content_sha256": h, "is_ood": ood, "generator": gen}


def test_duplicates_are_joined_into_one_group_and_split():
    rows = [_row("a", "g1", "train", "h1"), _row("b", "g2", "test_id", "h1"), _row("c", "g2", "test_id", "h2"),
            _row("d", "g3", "validation", "h3")]
    changes, audit = merge_duplicates(rows)
    # g1 < g2: the joined group takes g1's split, and g2's other member moves with it
    assert changes == {"b": ("train", "g1"), "c": ("train", "g1")}
    assert audit[0]["joined_groups"] == ["g1", "g2"]
    assert {m["id"] for m in audit[0]["moved"]} == {"b", "c"}
    for r in rows:
        if r["id"] in changes:
            r["split"], r["group_id"] = changes[r["id"]]
    assert audit_splits(rows, set())["ok"]


def test_a_duplicate_of_an_ood_fake_goes_to_test_ood():
    rows = [_row("a", "g1", "train", "h", gen="real"), _row("b", "g9", "test_ood", "h", ood=True, gen="ood")]
    changes, _ = merge_duplicates(rows)
    assert changes["a"][0] == "test_ood"


def test_audit_finds_leaks():
    rows = [_row("a", "g1", "train", "h1", gen="ood"), _row("b", "g2", "train", "h2"),
            _row("c", "g2", "test_id", "h3"), _row("d", "g4", "test_id", "h2")]
    audit = audit_splits(rows, {"ood"})
    assert not audit["ok"]
    assert [x["id"] for x in audit["ood_outside_test_ood"]] == ["a"]
    assert audit["groups_spanning_splits"] == ["g2"]
    assert audit["duplicate_audio_spanning_splits"] == ["h2"]


def test_a_preassigned_split_wins_over_the_hash_when_duplicates_join():
    rows = [_row("a", "g1", "train", "h"), dict(_row("b", "g2", "test_id", "h"), preassigned="test_id")]
    changes, audit = merge_duplicates(rows)
    assert changes["a"][0] == "test_id" and "conflict" not in audit[0]
    rows.append(dict(_row("c", "g3", "validation", "h"), preassigned="validation"))
    _, audit = merge_duplicates(rows)
    assert "several splits" in audit[0]["conflict"]
