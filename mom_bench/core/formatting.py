"""Plain-text presentation shared by the commands and the reports: statistics with their intervals, and
tables (fixed-width for terminals, Markdown for files), and text made inert for Markdown."""
from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from typing import Any


def stat(value: Mapping[str, Any] | None, digits: int = 3) -> str:
    """``value [lo, hi]`` of a statistic ``{"value": v, "ci": [lo, hi] | None}``; ``n/a`` when it has none.

    >>> stat({"value": 0.8123, "ci": [0.7, 0.9]})
    '0.812 [0.700, 0.900]'
    >>> stat({"value": None, "ci": None}), stat({"value": 0.5, "ci": None}, digits=1)
    ('n/a', '0.5')
    """
    if not value or value.get("value") is None:
        return "n/a"
    ci = value.get("ci")
    text = f"{value['value']:.{digits}f}"
    return text + (f" [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]" if ci else "")


def ci(value: Mapping[str, Any] | None, digits: int = 3) -> str:
    """Just ``[lo, hi]`` of a statistic, or an empty string.

    >>> ci({"value": 0.5, "ci": [0.25, 0.75]}), ci({"value": 0.5})
    ('[0.250, 0.750]', '')
    """
    interval = value.get("ci") if isinstance(value, Mapping) else None
    return f"[{interval[0]:.{digits}f}, {interval[1]:.{digits}f}]" if interval else ""


def number(value: float | None, digits: int = 3) -> str:
    """A float with ``digits`` decimals, ``n/a`` for None.

    >>> number(0.76234), number(None)
    ('0.762', 'n/a')
    """
    return "n/a" if value is None else f"{value:.{digits}f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, markdown: bool = False,
          strip: bool = False) -> str:
    """A fixed-width text table (columns padded, two spaces apart, a dashed rule under the header), or a
    Markdown table. ``strip`` drops trailing spaces from text lines.

    >>> print(table(["a", "bb"], [[1, 2], [333, 4]], strip=True))
    a    bb
    ---  --
    1    2
    333  4
    >>> print(table(["a", "b"], [[1, 2]], markdown=True))
    | a | b |
    |---|---|
    | 1 | 2 |
    """
    if markdown:
        lines = ["| " + " | ".join(map(str, headers)) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
        return "\n".join(lines)
    cells = [[str(c) for c in r] for r in rows]
    widths = [max([len(str(h))] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        text = "  ".join(v.ljust(w) for v, w in zip(values, widths))
        return text.rstrip() if strip else text

    return "\n".join([line([str(h) for h in headers]), line(["-" * w for w in widths])] + [line(r) for r in cells])


def rows_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """A fixed-width text table of ``rows`` (mappings) in ``columns`` order; a missing key is an empty cell.

    >>> print(rows_table([{"name": "clam", "params": "1.2M"}, {"name": "spectttra"}], ["name", "params"]))
    name       params
    ---------  ------
    clam       1.2M
    spectttra
    """
    return table(columns, [[r.get(c, "") for c in columns] for r in rows], strip=True)


# Runs of control characters (line breaks included) become one space: a Markdown line or cell is one line.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_MD_SPECIAL = re.compile(r"([\\`*\[\]<>|&])")
_MD_SPECIAL_UNTRUSTED = re.compile(r"([\\`*_\[\]{}|~])")


def md_text(value: Any, *, untrusted: bool = False) -> str:
    """``value`` as inert text for a Markdown line or table cell: one line (each run of control characters
    becomes a space), with every character that could start a link, an image, HTML, a code span or
    emphasis, or end a table cell, backslash-escaped.

    ``untrusted=True`` is for text from outside the run (a leaderboard entry's names and notes, shown on a
    public page): ``&``, ``<`` and ``>`` become HTML entities instead, ``_``, ``{}`` and ``~`` are escaped
    too, surrounding spaces are dropped, and a heading, list or quote marker at the start is escaped, since
    such text may open a list item. The default keeps a run's own names readable in the Markdown source
    (``test_ood``, not ``test\\_ood``), as ``results.md`` has always written them.

    >>> print(md_text("a|b <i> *test_ood*"))
    a\\|b \\<i\\> \\*test_ood\\*
    >>> print(md_text(" - a_b <i>\\n", untrusted=True))
    \\- a\\_b &lt;i&gt;
    """
    if not untrusted:
        return _MD_SPECIAL.sub(r"\\\1", _CONTROL.sub(" ", str(value)))
    out = html.escape(_CONTROL.sub(" ", str(value)).strip(), quote=False)
    out = _MD_SPECIAL_UNTRUSTED.sub(r"\\\1", out)
    out = re.sub(r"^([#+\-=])", r"\\\1", out)
    return re.sub(r"^(\d+)([.)])", r"\1\\\2", out)


def md_code(value: Any, *, cell: bool = False) -> str:
    """``value`` as a Markdown code span on one line, fenced by more backticks than any run inside it.
    ``cell=True`` for a span inside a table cell, where a pipe would end the cell even in a code span and
    so is escaped (outside a table the backslash would show).

    >>> md_code("a`b"), md_code("x|y"), md_code("x|y", cell=True)
    ('``a`b``', '`x|y`', '`x\\\\|y`')
    """
    text = _CONTROL.sub(" ", str(value))
    if cell:
        text = text.replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"
