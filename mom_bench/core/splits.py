"""The split vocabulary shared by protocols, builds, training, evaluation and the leaderboard.

Fakes of training generators appear in ``train``, ``validation`` and ``test_id``; fakes of held-out
generators only in ``test_ood``; reals in all four (MoM, arXiv 2512.00621, section 3).
"""
from __future__ import annotations

#: Every split, in the order outputs list them.
SPLITS: tuple[str, ...] = ("train", "validation", "test_id", "test_ood")
#: Splits that may hold fakes of in-distribution (training) generators.
ID_SPLITS: tuple[str, ...] = ("train", "validation", "test_id")
#: The splits a detector is scored on.
TEST_SPLITS: tuple[str, ...] = ("test_id", "test_ood")
#: The only split that holds fakes of held-out generators.
OOD_SPLIT = "test_ood"


def split_rank(split: str) -> int:
    """Position of ``split`` in :data:`SPLITS` (unknown splits sort last).

    >>> sorted(["test_ood", "custom", "train"], key=split_rank)
    ['train', 'test_ood', 'custom']
    """
    return SPLITS.index(split) if split in SPLITS else len(SPLITS)
