"""Leave-one-generator-out (LOGO) and leave-one-family-out (LOFO) folds of a built benchmark: which split each
row of the build takes in the fold, which rows the fold leaves out and why. Pure functions over the build's
metadata (one pandas row per built row); the view folder that records a fold is written by
:mod:`mom_bench.dataset.views` and read back by :class:`mom_bench.dataset.read.View`.

The rule (docs/folds.md), for a base build B and a held-out set H (one generator for LOGO; every generator whose
decoder family is F for LOFO):

1. Fakes of H in B's ``test_id`` or ``test_ood`` go to the fold's ``test_ood``. Fakes of H in B's ``train`` or
   ``validation`` are left out (``held_out_in_training``): they were made from, or sit beside, songs the
   detector trains on.
2. Fakes of the other generators in B's ``test_ood`` (B's own held-out generators that are not in H) go to the
   fold's ``test_id``: from test side to test side, so nothing crosses into training, and the fold's
   ``test_ood`` holds H alone.
3. Every other row keeps its split; the pools of reals are untouched but for step 4.
4. Count control: with N the fakes of B's ``train``, while the fold's ``train`` holds fewer than N fakes, whole
   groups (``group_id``; a row without one is its own group) move from ``test_id`` to ``train`` in the salted
   order sha256(f"{seed}:{group}"). A moved group brings all its rows (its reals and its fakes of other
   generators); its fakes of H, put in ``test_ood`` by step 1, are left out (``held_out_in_training``), so no
   group is on both sides. Only groups whose every row is in B's ``test_id`` and that hold a fake to give are
   candidates: the fakes step 2 moved belong to groups whose reals are in ``test_ood``. The last group's
   fakes beyond N are left out (``count_control_surplus``), in the order sha256(f"{seed}:{id}"), so ``train``
   ends with exactly N fakes; when ``test_id`` runs out first the fold records how far it fell short.
   ``validation`` gets no count control: it loses H's fakes and nothing replaces them.

A fold is refused (:class:`FoldError`) when its ``train`` would hold no fakes or its ``test_ood`` none.
"""
from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mom_bench.core.errors import BuildTampered, FoldError
from mom_bench.core.splits import TEST_ID, TEST_OOD, TRAIN, VALIDATION, split_rank
from mom_bench.dataset.build_report import audio_fingerprint, fingerprint, label_fingerprint
from mom_bench.dataset.protocols.families import UNSPECIFIED
from mom_bench.dataset.protocols.protocol import VIEW_MARK

LOGO, LOFO = "logo", "lofo"
KINDS = (LOGO, LOFO)
#: why a row of the base is not in the fold
HELD_OUT_IN_TRAINING, COUNT_CONTROL_SURPLUS = "held_out_in_training", "count_control_surplus"
REASONS = (HELD_OUT_IN_TRAINING, COUNT_CONTROL_SURPLUS)
#: the base columns the rule and the fingerprints read
COLUMNS = ["id", "split", "label", "generator", "group_id", "content_sha256"]
#: a view's benchmark name is the base's, this mark, and the fold (``mom-mini~logo-rvq_codec``)
MARK = VIEW_MARK
VIEW_FILE = "view.json"
VIEW_FORMAT, VIEW_VERSION = "mom-bench-view", 1
MAX_SEED = 2**32 - 1


def view_name(base_benchmark: str, kind: str, held_out: str) -> str:
    """``<base>~logo-<generator>`` or ``<base>~lofo-<family>``."""
    return f"{base_benchmark}{MARK}{kind}-{held_out}"


def fake_generators(meta: Any) -> list[str]:
    """The generators with fakes in the build, in order of first appearance."""
    fakes = meta.loc[meta["label"].astype(int) == 1, "generator"].astype(str)
    return list(dict.fromkeys(fakes))


def choices(kind: str, families: Mapping[str, str], fakes: Sequence[str]) -> list[str]:
    """Every held-out choice of ``kind``: the generators with fakes (LOGO), or the decoder families among them
    (LOFO; ``unspecified`` is no family and never a choice)."""
    check_kind(kind)
    if kind == LOGO:
        return list(fakes)
    return sorted({families.get(g, UNSPECIFIED) for g in fakes} - {UNSPECIFIED})


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise FoldError(f"unknown fold kind {kind!r}: {LOGO} (leave one generator out) or {LOFO} (leave one "
                        "decoder family out)")


def held_out_generators(kind: str, held_out: str, families: Mapping[str, str], fakes: Sequence[str],
                        where: str) -> list[str]:
    """The generators ``held_out`` names in a build whose fake generators are ``fakes`` (``where`` names the
    build in messages): itself (LOGO) or those of that decoder family (LOFO)."""
    check_kind(kind)
    if kind == LOGO:
        if held_out not in fakes:
            raise FoldError(f"{where}: no generator {held_out!r} with fakes in this build; known generators: "
                            f"{', '.join(fakes)}")
        return [held_out]
    present = choices(LOFO, families, fakes)
    if held_out not in present:
        whole = {families.get(g, UNSPECIFIED) for g in fakes}
        if held_out == UNSPECIFIED:
            raise FoldError(f"{where}: {UNSPECIFIED!r} is not a decoder family (the protocol named none for "
                            f"those generators); hold out one of: {', '.join(present) or 'none'}")
        known = f"known families: {', '.join(present)}" if present else "no generator names a decoder family"
        raise FoldError(f"{where}: no generator of decoder family {held_out!r} has fakes in this build; {known}"
                        + (f" ({', '.join(f'{g}: {families.get(g, UNSPECIFIED)}' for g in fakes)})"
                           if len(whole) <= 1 else ""))
    held = [g for g in fakes if families.get(g) == held_out]
    if len(held) == len(fakes):
        raise FoldError(f"{where}: every generator of this build ({', '.join(fakes)}) is of decoder family "
                        f"{held_out!r}: holding it out leaves nothing to train on; a leave-one-family-out fold "
                        "needs generators of at least two families (hold out one generator instead: --leave-out "
                        "generator)")
    return held


@dataclass(frozen=True)
class Fold:
    """Where each row of the base goes, aligned with the metadata the fold was computed from."""

    held_out: tuple[str, ...]
    #: the fold's split of each row, None for a row left out
    split: list[str | None]
    #: why each left-out row is left out (one of :data:`REASONS`), None for the others
    reason: list[str | None]
    groups_moved: list[str] = field(default_factory=list)
    #: enabled, target (fakes of the base's train), reached (fakes of the fold's train), short_by
    count_control: dict[str, Any] = field(default_factory=dict)


def _hash(seed: int, text: str) -> str:
    return hashlib.sha256(f"{seed}:{text}".encode()).hexdigest()


def assign(meta: Any, held_out: Collection[str], *, seed: int = 0, count_control: bool = True) -> Fold:
    """The fold of the build whose rows are ``meta`` (columns :data:`COLUMNS`, in the base's order) that holds
    out the generators ``held_out`` (the rule of this module's docstring)."""
    ids = [str(i) for i in meta["id"]]
    base = [str(s) for s in meta["split"]]
    fake = [int(v) == 1 for v in meta["label"]]
    held = set(held_out)
    is_h = [f and str(g) in held for f, g in zip(fake, meta["generator"])]
    groups = [str(g) if isinstance(g, str) and g else None for g in meta["group_id"]]
    split: list[str | None] = list(base)
    reason: list[str | None] = [None] * len(ids)
    for i in range(len(ids)):
        if is_h[i]:
            if base[i] in (TRAIN, VALIDATION):
                reason[i] = HELD_OUT_IN_TRAINING
            elif base[i] in (TEST_ID, TEST_OOD):
                split[i] = TEST_OOD
        elif fake[i] and base[i] == TEST_OOD:
            split[i] = TEST_ID
    target = sum(f and s == TRAIN for f, s in zip(fake, base))
    reached = sum(fake[i] and not is_h[i] and base[i] == TRAIN for i in range(len(ids)))
    moved: list[str] = []
    if count_control and reached < target:
        # a row without a group is its own group, named by its id (keys keep the two kinds apart)
        keys = [("g", g) if g is not None else ("r", ids[i]) for i, g in enumerate(groups)]
        members: dict[tuple[str, str], list[int]] = {}
        for i, key in enumerate(keys):
            members.setdefault(key, []).append(i)
        candidates = [k for k, rows in members.items()
                      if all(base[i] == TEST_ID for i in rows) and any(fake[i] and not is_h[i] for i in rows)]
        candidates.sort(key=lambda k: (_hash(seed, k[1]), k))
        for key in candidates:
            if reached >= target:
                break
            rows = members[key]
            for i in rows:
                if is_h[i]:
                    reason[i] = HELD_OUT_IN_TRAINING
                else:
                    split[i] = TRAIN
            given = [i for i in rows if fake[i] and not is_h[i]]
            reached += len(given)
            moved.append(key[1])
            if reached > target:
                surplus = reached - target
                for i in sorted(given, key=lambda i: (_hash(seed, ids[i]), ids[i]))[len(given) - surplus:]:
                    reason[i] = COUNT_CONTROL_SURPLUS
                reached = target
    for i, why in enumerate(reason):
        if why is not None:
            split[i] = None
    control = {"enabled": bool(count_control), "target": int(target), "reached": int(reached),
               "short_by": int(max(target - reached, 0))}
    return Fold(tuple(g for g in dict.fromkeys(str(g) for g in meta["generator"]) if g in held),
                split, reason, moved, control)


def check(fold: Fold, meta: Any, where: str) -> None:
    """Refuse a fold whose train holds no fakes, or whose test_ood holds none (``where`` names base and fold)."""
    fake = [int(v) == 1 for v in meta["label"]]
    if not any(f and s == TRAIN for f, s in zip(fake, fold.split)):
        raise FoldError(f"{where}: the fold leaves train without fakes (held out: {', '.join(fold.held_out)}); "
                        "hold out fewer generators")
    if not any(f and s == TEST_OOD for f, s in zip(fake, fold.split)):
        raise FoldError(f"{where}: the fold's test_ood holds no fakes: the fakes of {', '.join(fold.held_out)} are "
                        "all in the base's train or validation; hold out a generator the base has test fakes of")


def document(fold: Fold, meta: Any, *, benchmark: str, base: dict[str, Any], kind: str, family: str | None,
             seed: int) -> dict[str, Any]:
    """The content of ``view.json`` for ``fold`` (``base``: the block naming the base build)."""
    rows = [{"id": str(r["id"]), "split": s, "label": int(r["label"]), "generator": str(r["generator"]),
             "content_sha256": r["content_sha256"]}
            for r, s in zip(meta[["id", "label", "generator", "content_sha256"]].to_dict("records"), fold.split)
            if s is not None]
    splits: dict[str, list[str]] = {}
    counts: dict[str, dict[str, int]] = {}
    for r in sorted(rows, key=lambda r: split_rank(r["split"])):  # stable: base order inside each split
        splits.setdefault(r["split"], []).append(r["id"])
        gens = counts.setdefault(r["split"], {})
        gens[r["generator"]] = gens.get(r["generator"], 0) + 1
    splits = dict(sorted(splits.items(), key=lambda kv: (split_rank(kv[0]), kv[0])))
    left_out = {why: [str(i) for i, w in zip(meta["id"], fold.reason) if w == why] for why in REASONS}
    return {
        "format": VIEW_FORMAT, "version": VIEW_VERSION, "benchmark": benchmark, "base": base,
        "fold": {"kind": kind, "family": family, "held_out": list(fold.held_out), "seed": seed,
                 "count_control": fold.count_control, "groups_moved": fold.groups_moved},
        "fingerprint": fingerprint(rows), "label_fingerprint": label_fingerprint(rows),
        "audio_fingerprint": audio_fingerprint(rows),
        "counts": {s: dict(sorted(counts[s].items())) for s in splits},
        "left_out": left_out,
        "splits": splits,
    }


# --------------------------------------------------------------------------------------------------
# Reading view.json back: its shape is checked before anything in it is used


def _field(where: str, doc: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = doc.get(key) if isinstance(doc, Mapping) else None
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        names = "/".join(t.__name__ for t in (kind if isinstance(kind, tuple) else (kind,)))
        raise BuildTampered(f"{where}: field {key} is {repr(value)[:60]}, must be a {names}; the view file was "
                            "changed: make the view again (`mom-bench fold ... --overwrite`)")
    return value


def parse(raw: Any, where: str) -> dict[str, Any]:
    """The fields of a ``view.json`` mapping that opening a view uses, each checked for type; raises
    :class:`BuildTampered` naming the file and the field."""
    if not isinstance(raw, dict):
        raise BuildTampered(f"{where}: not a JSON object; the view file was changed: make the view again")
    if raw.get("format") != VIEW_FORMAT or raw.get("version") != VIEW_VERSION:
        raise BuildTampered(f"{where}: format {raw.get('format')!r} version {raw.get('version')!r}, expected "
                            f"{VIEW_FORMAT!r} version {VIEW_VERSION}: not a view this mom-bench reads")
    base = _field(where, raw, "base", dict)
    for key in ("path", "benchmark", "fingerprint"):
        _field(where + " base", base, key, str)
    fold = _field(where, raw, "fold", dict)
    kind = _field(where + " fold", fold, "kind", str)
    if kind not in KINDS:
        raise BuildTampered(f"{where}: fold kind {kind!r} is none of {', '.join(KINDS)}")
    held = _field(where + " fold", fold, "held_out", list)
    if not held or not all(isinstance(g, str) for g in held):
        raise BuildTampered(f"{where}: fold held_out must be a non-empty list of generator ids")
    if kind == LOFO:
        _field(where + " fold", fold, "family", str)
    seed = _field(where + " fold", fold, "seed", int)
    if not 0 <= seed <= MAX_SEED:
        raise BuildTampered(f"{where}: fold seed {seed} is outside [0, {MAX_SEED}]")
    control = _field(where + " fold", fold, "count_control", dict)
    _field(where + " fold count_control", control, "enabled", bool)
    splits = _field(where, raw, "splits", dict)
    for split, ids in splits.items():
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise BuildTampered(f"{where}: splits.{split} must be a list of row ids")
    return raw


def differences(recorded: Mapping[str, Any], expected: Mapping[str, Any], show: int = 5) -> list[str]:
    """What differs between a view file and the view recomputed from its base (base paths and the writing
    mom-bench's version aside), for the error message."""
    found: list[str] = []
    rec_splits, exp_splits = recorded.get("splits") or {}, expected["splits"]
    for split in sorted(set(rec_splits) | set(exp_splits), key=lambda s: (split_rank(s), s)):
        rec, exp = rec_splits.get(split, []), exp_splits.get(split, [])
        if rec == exp:
            continue
        rec_set, exp_set = set(rec), set(exp)
        extra, gone = [i for i in rec if i not in exp_set], [i for i in exp if i not in rec_set]
        if extra:
            found.append(f"split {split} lists {len(extra)} row(s) the fold does not put there (first: {extra[0]!r})")
        if gone:
            found.append(f"split {split} lacks {len(gone)} row(s) of the fold (first: {gone[0]!r})")
        if not extra and not gone:
            found.append(f"split {split} lists its rows in another order")
    for key in ("benchmark", "fold", "left_out", "counts", "fingerprint", "label_fingerprint", "audio_fingerprint"):
        if recorded.get(key) != expected[key]:
            found.append(f"{key} differs from the fold recomputed from the base")
    for key in ("benchmark", "fingerprint", "label_fingerprint"):
        if (recorded.get("base") or {}).get(key) != expected["base"].get(key):
            found.append(f"base {key} differs")
    return found[:show] + ([f"and {len(found) - show} more"] if len(found) > show else [])

