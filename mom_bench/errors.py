"""The root of every error mom-bench raises on purpose.

A :class:`MomBenchError` is a problem the user can act on (a bad file, a missing checkpoint, a refused
submission); its message says what and, where it can, what to do. The CLI prints it as one line and exits
2. Anything else that escapes is a bug, reported as an internal error with exit status 1.

Each concrete error also derives from the builtin it used to be (``NotABuiltBenchmark`` is still a
``FileNotFoundError``), so existing ``except`` clauses keep working.
"""
from __future__ import annotations


class MomBenchError(Exception):
    """Base class of mom-bench's own errors: user-fixable, with an actionable message."""

    def __str__(self) -> str:
        # KeyError quotes its message and OSError may carry (errno, text); show the message as written.
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()
