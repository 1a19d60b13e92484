"""Strict splits for corpora whose generators all render the same prompts (AIME's 500 tag triples, MUSIC8K's
item ids): every prompt lives in one split, held-out generators included.

Grouping the rows of a prompt is not enough there: every prompt is rendered by the held-out (OOD) generators
too, so each group would hold an OOD fake and the whole corpus would land in ``test_ood``. Instead each prompt
gets one split from the hash of its key, over the protocol's ``reals`` weights (which include ``test_ood``):

- a prompt placed in ``test_ood`` keeps its reals and its OOD fakes there; its in-distribution fakes are
  ``excluded`` (a detector must not have trained on other renders of a test prompt);
- any other prompt keeps its reals and in-distribution fakes in its split; its OOD fakes are ``excluded``.

Excluded rows are listed with their reason, so the build report accounts for every row.
"""
from __future__ import annotations

from dataclasses import dataclass

from mom_bench.core.splits import TEST_OOD
from mom_bench.dataset.splitting import assign_split


@dataclass(frozen=True)
class Placement:
    group_key: str
    split: str | None
    excluded: str | None  # the reason, when the row is left out


def place(protocol, key: str, row_id: str, label: int, is_ood: bool) -> Placement:
    """Where a row of prompt ``key`` goes (see the module's rules)."""
    split = assign_split(key, protocol.salt, protocol.real_weights)
    if label == 0:
        return Placement(key, split, None)
    held_prompt = split == TEST_OOD
    if is_ood == held_prompt:
        return Placement(key, split, None)
    why = ("its prompt is one of the held-out generators' test prompts (test_ood): an in-distribution render of it "
           "would leak the prompt") if held_prompt else (
           f"held-out generator on a prompt of split {split}: only prompts placed in test_ood keep their "
           "held-out renders")
    return Placement(f"{key}|excluded={row_id}", None, f"excluded by the strict prompt split: {why}")
