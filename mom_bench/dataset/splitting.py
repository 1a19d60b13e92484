"""Strict, deterministic split assignment.

A row's split depends only on its group key, the protocol's salt and the weights: never on row order, on
which other rows exist, or on a random seed. So the same inputs always give the same splits, and adding
rows to a manifest never moves the rows that were already there.

Rules (see :func:`split_for`):
- fakes of an OOD generator -> ``test_ood``, always;
- fakes of an in-distribution generator -> by their group over ``fakes_id`` weights;
- reals -> by their group over ``reals`` weights;
- a pre-assigned split (content-paired sources, official split columns) is kept but audited.

Duplicate audio is handled after decoding by :func:`merge_duplicates`: rows with equal content hashes are
joined into one group (union of their groups) and the whole joined group moves to one split.
"""
from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import Any

# SPLITS is also read through this module (S.SPLITS), where it was once defined a second time.
from mom_bench.core.splits import SPLITS, TEST_OOD  # noqa: F401


def unit_hash(group_key: str, salt: str) -> float:
    """A uniform number in [0, 1) from sha256(salt + NUL + key): stable across machines and Python runs."""
    digest = hashlib.sha256(f"{salt}\0{group_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64


def assign_split(group_key: str, salt: str, weights: dict[str, float]) -> str:
    """Split of a group: ``unit_hash`` against the cumulative weights, in their declared order."""
    u = unit_hash(group_key, salt)
    acc = 0.0
    last = None
    for split, w in weights.items():
        if w <= 0:
            continue
        acc += w
        last = split
        if u < acc:
            return split
    if last is None:
        raise ValueError("assign_split needs at least one positive weight")
    return last  # u within rounding of 1.0


def split_for(*, label: int, is_ood: bool, group_key: str, salt: str, real_weights: dict[str, float],
              fake_id_weights: dict[str, float]) -> str:
    """The split of one row by the rules above: an OOD fake goes to ``test_ood``; any other row goes where
    :func:`assign_split` puts its group key, over ``fake_id_weights`` for fakes, ``real_weights`` for reals.

    >>> weights = dict(real_weights={"train": 0.7, "test_id": 0.15, "test_ood": 0.15},
    ...                fake_id_weights={"train": 0.8, "test_id": 0.2})
    >>> split_for(label=1, is_ood=True, group_key="yue:id=y1", salt="mom-v1", **weights)
    'test_ood'
    >>> split_for(label=0, is_ood=False, group_key="real_songs:artist=queen", salt="mom-v1", **weights)
    'test_ood'

    The key hashes to the same point (0.748 here) whatever the label; the weights decide the split:

    >>> split_for(label=0, is_ood=False, group_key="suno_3.5:id=s2", salt="mom-v1", **weights)
    'test_id'
    >>> split_for(label=1, is_ood=False, group_key="suno_3.5:id=s2", salt="mom-v1", **weights)
    'train'
    """
    if label == 1 and is_ood:
        return TEST_OOD
    return assign_split(group_key, salt, fake_id_weights if label == 1 else real_weights)


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # the smaller key becomes the root, so the result does not depend on the order of unions
            if rb < ra:
                ra, rb = rb, ra
            self.parent[rb] = ra


def merge_duplicates(rows: list[dict]) -> tuple[dict[str, tuple[str, str]], list[dict]]:
    """Force rows with the same decoded audio into one group and one split.

    ``rows``: dicts with ``id``, ``group_id``, ``split``, ``content_sha256`` (None for rows without
    audio), ``is_ood`` and optionally ``preassigned``. Groups sharing a content hash are joined; the
    joined group goes to ``test_ood`` when it holds an OOD fake (OOD fakes never leave ``test_ood``),
    else to the split a source pre-assigned to any of its rows, else to the split of its smallest group
    key. Returns ``{id: (new_split, new_group_id)}`` for the rows that change and the audit records (one
    per joined group; a ``conflict`` key marks pre-assignments that cannot all hold: a build error).
    """
    uf = _UnionFind()
    by_hash: dict[str, str] = {}
    for r in rows:
        uf.find(r["group_id"])
        h = r.get("content_sha256")
        if h:
            if h in by_hash:
                uf.union(by_hash[h], r["group_id"])
            else:
                by_hash[h] = r["group_id"]
    members: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        members[uf.find(r["group_id"])].append(r)

    changes: dict[str, tuple[str, str]] = {}
    audit: list[dict[str, Any]] = []
    for root, rs in members.items():
        groups = sorted({r["group_id"] for r in rs})
        if len(groups) == 1:
            continue
        pre = sorted({r["preassigned"] for r in rs if r.get("preassigned")})
        conflict = None
        if any(r["is_ood"] for r in rs):
            target = TEST_OOD
            if pre and pre != [TEST_OOD]:
                conflict = f"holds an OOD fake and rows pre-assigned to {', '.join(pre)}"
        elif len(pre) == 1:
            target = pre[0]  # a source's own pairing outranks the hash of the other groups
        elif pre:
            target, conflict = pre[0], f"rows pre-assigned to several splits ({', '.join(pre)})"
        else:
            target = next(r["split"] for r in sorted(rs, key=lambda r: (r["group_id"], r["id"])))
        moved = []
        for r in rs:
            if r["split"] != target or r["group_id"] != root:
                changes[r["id"]] = (target, root)
                if r["split"] != target:
                    moved.append({"id": r["id"], "from": r["split"], "to": target})
        entry: dict[str, Any] = {"group_id": root, "joined_groups": groups, "split": target, "moved": moved}
        if conflict:
            entry["conflict"] = f"identical audio joins groups {', '.join(groups)}, which {conflict}"
        audit.append(entry)
    audit.sort(key=lambda a: a["group_id"])
    return changes, audit


def audit_splits(rows: list[dict], ood_generators: set[str]) -> dict:
    """Leakage audit of final assignments: OOD generators outside test_ood, groups spanning splits,
    content hashes spanning splits. Each list is empty in a valid build."""
    group_splits: dict[str, set] = defaultdict(set)
    hash_splits: dict[str, set] = defaultdict(set)
    ood_outside = []
    for r in rows:
        group_splits[r["group_id"]].add(r["split"])
        if r.get("content_sha256"):
            hash_splits[r["content_sha256"]].add(r["split"])
        if r["generator"] in ood_generators and r["split"] != TEST_OOD:
            ood_outside.append({"id": r["id"], "generator": r["generator"], "split": r["split"]})
    spanning = sorted(g for g, s in group_splits.items() if len(s) > 1)
    dup_spanning = sorted(h for h, s in hash_splits.items() if len(s) > 1)
    return {
        "ood_outside_test_ood": ood_outside,
        "groups_spanning_splits": spanning,
        "duplicate_audio_spanning_splits": dup_spanning,
        "n_groups": len(group_splits),
        "ok": not ood_outside and not spanning and not dup_spanning,
    }
