"""What a command does when its output folder already holds earlier work, one policy for `build` and `train`:
the same command run again reuses a finished result and continues an unfinished one; work made with other
options is refused (never silently replaced) unless the user asks to start again."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Decision = Literal["new", "reuse", "continue", "restart", "refuse"]


@dataclass(frozen=True)
class Previous:
    """What an output folder already holds: ``finished`` (a complete result) or ``unfinished`` (interrupted
    work); ``same`` when it was made by the same command (options, dataset); ``progress`` when the
    unfinished work has something worth continuing from."""

    finished: bool = False
    unfinished: bool = False
    same: bool = False
    progress: bool = True

    @property
    def exists(self) -> bool:
        return self.finished or self.unfinished


def rerun(previous: Previous, *, overwrite: bool = False) -> Decision:
    """What a command does with its output folder.

    >>> rerun(Previous())
    'new'
    >>> rerun(Previous(finished=True, same=True)), rerun(Previous(unfinished=True, same=True))
    ('reuse', 'continue')
    >>> rerun(Previous(unfinished=True, same=True, progress=False)), rerun(Previous(finished=True))
    ('restart', 'refuse')
    >>> rerun(Previous(finished=True), overwrite=True)
    'restart'
    """
    if not previous.exists:
        return "new"
    if overwrite:
        return "restart"
    if not previous.same:
        return "refuse"
    if previous.finished:
        return "reuse"
    return "continue" if previous.progress else "restart"
