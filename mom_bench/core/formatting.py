"""Plain-text presentation shared by the commands and the reports: statistics with their intervals, and
tables (fixed-width for terminals, Markdown for files)."""
from __future__ import annotations

from typing import Any, Mapping, Sequence


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
