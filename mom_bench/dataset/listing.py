"""Phase 0 of a build, before any audio is read: a source's rows checked against the protocol and every
accepted row given its split (see :mod:`mom_bench.dataset.splitting`)."""
from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from mom_bench.core.splits import TEST_OOD, RowStatus
from mom_bench.dataset import splitting as S
from mom_bench.dataset.build_report import BuildError
from mom_bench.dataset.sources import SourceRow, row_identity

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,199}$")


@dataclass
class Listed:
    rows: list[SourceRow]
    split_of: dict[str, str]  # id -> split
    is_ood: dict[str, bool]
    rejected: list[dict]
    identity: dict[str, str] = field(default_factory=dict)  # id -> sources.row_identity of each accepted row
    digest: str = ""  # sha256 over the identities of every listed row, refused ones included


def list_rows(protocol, source, split_mode: str, limit: int | None) -> Listed:
    """Phase 0 of a build, before any audio is read: list ``source``'s rows, check them against
    ``protocol`` and decide every row's split.

    ``split_mode`` is ``strict`` (the protocol's weights) or ``official`` (its ``splits.official`` weights
    where it has them); ``limit`` keeps the first N rows of each source (None: all). Returns an object with
    ``rows`` (the accepted :class:`SourceRow` s, in source order), ``split_of`` (id -> split), ``is_ood``
    (id -> whether it is a fake of an OOD generator) and ``rejected`` (report rows, status ``unusable``
    with a reason, for invalid or duplicate ids, bad labels, unknown generators or real sources and bad
    pre-assigned splits), plus ``identity`` (id -> :func:`mom_bench.dataset.sources.row_identity`) and
    ``digest`` (one hash of every listed row's identity, the refused ones included: what a finished build
    was made from). Splits follow :mod:`mom_bench.dataset.splitting`: OOD fakes go to ``test_ood``, a
    group pre-assigned by the source keeps that split, any other group is placed by the hash of its key.
    Raises :class:`BuildError` when pre-assignments contradict each other or put an OOD fake elsewhere.
    """
    gens = {g.id: g for g in protocol.generators}
    reals = {r.id for r in protocol.reals}
    rows: list[SourceRow] = []
    rejected: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    per_source: Counter = Counter()
    identities: dict[str, str] = {}
    refused: list[str] = []
    for i, row in enumerate(source.rows()):
        reason = _refusal(row, i, protocol, gens, reals, seen)
        if reason is not None:
            refused.append(row_identity(row))
            rejected.append({"id": str(getattr(row, "id", "")), "source": str(getattr(row, "source", "")),
                             "generator": str(getattr(row, "generator", "")), "label": getattr(row, "label", None),
                             "split": None, "group_id": None, "status": RowStatus.UNUSABLE, "reason": reason})
            continue
        if limit is not None:
            per_source[row.source] += 1
            if per_source[row.source] > limit:
                continue
        seen[row.id] = row.source
        rows.append(row)
        identities[row.id] = row_identity(row)
    is_ood = {r.id: r.label == 1 and gens[r.generator].is_ood for r in rows}
    split_of = _assign_splits(rows, is_ood, protocol, split_mode)
    digest = hashlib.sha256("\n".join(sorted(identities.values()) + ["refused"] + sorted(refused)).encode())
    return Listed(rows, split_of, is_ood, rejected, identities, digest.hexdigest())


def _refusal(row: SourceRow, i: int, protocol, gens: dict, reals: set[str], seen: dict[str, str]) -> str | None:
    """Why ``row`` (the ``i``-th listed) cannot be in the build, or None; ``seen`` maps accepted ids to sources."""
    if not isinstance(row.id, str) or not _ID_RE.match(row.id):
        return f"row {i}: invalid id {row.id!r} (letters, digits, '.', '_', '-' only)"
    if row.id in seen:
        return f"duplicate id (first listed by source {seen[row.id]!r})"
    if row.label not in (0, 1):
        return f"label must be 0 (real) or 1 (fake), got {row.label!r}"
    if row.label == 1 and row.generator not in gens:
        return f"generator {row.generator!r} is not in protocol {protocol.name} (known: {', '.join(gens)})"
    if row.label == 0 and row.generator != "real":
        return f"a real row must have generator 'real', got {row.generator!r}"
    if row.label == 0 and reals and row.source not in reals:
        return f"real source {row.source!r} is not in protocol {protocol.name} (known: {', '.join(sorted(reals))})"
    if row.split is not None and row.split not in S.SPLITS:
        return f"pre-assigned split {row.split!r} is not one of {', '.join(S.SPLITS)}"
    if not row.group_key:
        return "empty group key"
    return None


def _assign_splits(rows: list[SourceRow], is_ood: dict[str, bool], protocol, split_mode: str) -> dict[str, str]:
    """id -> split for every accepted row, decided per group; raises :class:`BuildError` listing every
    contradiction between pre-assignments (or an OOD fake pre-assigned outside ``test_ood``)."""
    weights = protocol.official_weights if split_mode == "official" and protocol.official_weights else \
        {"reals": protocol.real_weights, "fakes_id": protocol.fake_id_weights}
    groups: dict[str, list[SourceRow]] = defaultdict(list)
    for row in rows:
        groups[row.group_key].append(row)
    split_of: dict[str, str] = {}
    errors = []
    for key, members in groups.items():
        pre = sorted({m.split for m in members if m.split})
        any_ood = any(is_ood[m.id] for m in members)
        if len(pre) > 1:
            errors.append(f"group {key!r} is pre-assigned to several splits ({', '.join(pre)})")
            continue
        if pre:
            split = pre[0]
            if any_ood and split != TEST_OOD:
                bad = next(m for m in members if is_ood[m.id])
                errors.append(f"row {bad.id!r} of OOD generator {bad.generator!r} is pre-assigned to {split!r}; "
                              "OOD generators may only appear in test_ood")
                continue
        elif any_ood:
            split = TEST_OOD
        elif any(m.label == 0 for m in members):
            split = S.assign_split(key, protocol.salt, weights["reals"])
        else:
            split = S.assign_split(key, protocol.salt, weights["fakes_id"])
        for m in members:
            split_of[m.id] = split
    if errors:
        more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
        raise BuildError("split audit failed: " + "; ".join(errors[:10]) + more)
    return split_of
