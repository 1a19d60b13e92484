"""The split and row-status vocabulary shared by protocols, builds, training, evaluation and the leaderboard.

Fakes of training generators appear in ``train``, ``validation`` and ``test_id``; fakes of held-out
generators only in ``test_ood``; reals in all four (MoM, arXiv 2512.00621, section 3).
"""
from __future__ import annotations

from enum import StrEnum
from typing import Final

TRAIN: Final = "train"
VALIDATION: Final = "validation"
TEST_ID: Final = "test_id"
TEST_OOD: Final = "test_ood"

#: Every split, in the order outputs list them.
SPLITS: tuple[str, ...] = (TRAIN, VALIDATION, TEST_ID, TEST_OOD)
#: Splits that may hold fakes of in-distribution (training) generators.
ID_SPLITS: tuple[str, ...] = (TRAIN, VALIDATION, TEST_ID)
#: The splits a detector is scored on.
TEST_SPLITS: tuple[str, ...] = (TEST_ID, TEST_OOD)
#: The only split that holds fakes of held-out generators.
OOD_SPLIT: Final = TEST_OOD


def split_rank(split: str) -> int:
    """Position of ``split`` in :data:`SPLITS` (unknown splits sort last).

    >>> sorted(["test_ood", "custom", "train"], key=split_rank)
    ['train', 'test_ood', 'custom']
    """
    return SPLITS.index(split) if split in SPLITS else len(SPLITS)


class RowStatus(StrEnum):
    """The ``status`` of a row, as written to files (a member equals and serialises as its value).

    A build's source rows (``build_report.json``, the staging table) are WRITTEN, MISSING, UNUSABLE or
    EXCLUDED (by the protocol); a file row of ``inspect`` is OK or UNUSABLE, one of ``predict`` OK or ERROR;
    a robustness transform entry is OK or SKIPPED.

    >>> RowStatus.WRITTEN == "written", f"{RowStatus.MISSING}"
    (True, 'missing')
    """

    WRITTEN = "written"
    MISSING = "missing"
    UNUSABLE = "unusable"
    EXCLUDED = "excluded"
    OK = "ok"
    ERROR = "error"
    SKIPPED = "skipped"
