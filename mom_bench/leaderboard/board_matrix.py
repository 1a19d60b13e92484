"""The cross-corpus section of the boards: for each entry that carries a matrix (:data:`schema.MATRIX`), its grid
training set x test set of AUC and of FPR at the carried 5 % threshold, in Markdown (one table, "AUC / FPR"),
in ``leaderboard_matrix.csv`` (one row per entry and cell) and in HTML (two colour-scaled tables per entry, drawn
with the page's own heat classes: no external resource). Boards without a matrix have no such section, and
their outputs are what they were before matrices existed."""
from __future__ import annotations

import csv
import html
import io
from typing import Any

from mom_bench.core.formatting import md_code, md_text
from mom_bench.leaderboard.board import (
    HOME_NOTE,
    MATRIX_NOTE,
    UNCHECKED_NOTE,
    _ci,
    _matrix,
    _num,
    _stat_value,
    heat_class,
    matrix_grid,
)
from mom_bench.leaderboard.board_csv import _csv_text, _plain

#: The file of one row per entry and matrix cell, written beside leaderboard.csv when some entry has a matrix.
MATRIX_CSV = "leaderboard_matrix.csv"
_DAGGER = "†"  # a cell whose labels were not compared with a build


def _md(text: Any) -> str:
    return md_text(text, untrusted=True)


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _cell_marks(cell: dict) -> str:
    return (" (home)" if cell["home"] else "") + ("" if cell["labels_checked"] else f" {_DAGGER}")


def _extremes(matrix: dict) -> list[tuple[str, dict]]:
    return [(label, matrix[key]) for label, key in (("lowest AUC", "lowest_auc_off_home"),
                                                    ("worst FPR at the carried 5 % threshold",
                                                     "worst_fpr_carried_5pct")) if matrix.get(key)]


# --------------------------------------------------------------------------------------------------
# Markdown


def markdown_section(bench: str, entries: list[dict]) -> list[str]:
    """The lines of the board's cross-corpus section; none when no entry has a matrix."""
    carrying = [e for e in entries if _matrix(e)]
    if not carrying:
        return []
    out = ["", f"### Cross-corpus ({_md(bench)})", "",
           f"Each matrix: {_md(MATRIX_NOTE)}. {_md(HOME_NOTE)}; {_DAGGER} {_md(UNCHECKED_NOTE)}. One row per entry "
           f"and cell: {MATRIX_CSV}."]
    for e in carrying:
        m = e["matrix"]
        trains, tests, cells = matrix_grid(m)
        extremes = "; ".join(f"{label} off the home set {_num(x['value'])} ({_md(x['train'] + ' -> ' + x['test'])})"
                             for label, x in _extremes(m))
        out += ["", f"**{_md(e['model_name'])}** (matrix of {md_code(m['model'], cell=True)}, {m['n_bootstrap']} "
                    f"bootstrap resamples){': ' + extremes if extremes else ''}.", "",
                "| Trained on | " + " | ".join(_md(t) for t in tests) + " |", "|---|" + "---:|" * len(tests)]
        for train in trains:
            row = []
            for test in tests:
                cell = cells.get((train, test))
                row.append("" if cell is None else
                           f"{_num(_stat_value(cell['auc'])) or 'n/a'} / "
                           f"{_num(_stat_value(cell['fpr_carried_5pct'])) or 'n/a'}{_cell_marks(cell)}")
            out.append(f"| {_md(train)} | " + " | ".join(row) + " |")
    return out


# --------------------------------------------------------------------------------------------------
# CSV

_COLUMNS = ("benchmark", "slug", "model_name", "matrix_model", "train", "test", "home", "labels_checked", "n_fake",
            "n_real", "auc", "auc_ci_low", "auc_ci_high", "fpr_carried_5pct", "fpr_carried_5pct_ci_low",
            "fpr_carried_5pct_ci_high", "tpr_carried_5pct", "tpr_carried_5pct_ci_low", "tpr_carried_5pct_ci_high")


def has_matrix(boards: dict[str, list[dict]]) -> bool:
    return any(_matrix(e) for entries in boards.values() for e in entries)


def render_matrix_csv(boards: dict[str, list[dict]]) -> str:
    """leaderboard_matrix.csv: one row per entry and cell, ``fpr_carried_5pct`` a column of its own."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for bench, entries in boards.items():
        for e in entries:
            m = _matrix(e)
            if not m:
                continue
            for cell in m["cells"]:
                row: dict[str, Any] = {key: _csv_text(value) for key, value in (
                    ("benchmark", bench), ("slug", e["slug"]), ("model_name", e["model_name"]),
                    ("matrix_model", m["model"]), ("train", cell["train"]), ("test", cell["test"]))}
                row.update(home=str(cell["home"]).lower(), labels_checked=str(cell["labels_checked"]).lower(),
                           n_fake=cell["n_fake"], n_real=cell["n_real"])
                for key in ("auc", "fpr_carried_5pct", "tpr_carried_5pct"):
                    block = cell[key] or {}
                    ci = block.get("ci") or [None, None]
                    row.update({key: _plain(block.get("value")), f"{key}_ci_low": _plain(ci[0]),
                                f"{key}_ci_high": _plain(ci[1])})
                writer.writerow(row)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------------
# HTML


def _goodness(key: str, value: float) -> float:
    """Where a value sits between chance (0: an AUC of 0.5, half the reals called fake) and perfect (1), so the
    colours of both tables read alike; a linear [0, 1] scale would paint an AUC below chance yellow."""
    return (value - 0.5) * 2 if key == "auc" else 1 - 2 * value


def _html_grid(entry: dict, what: str, key: str) -> str:
    m = entry["matrix"]
    trains, tests, cells = matrix_grid(m)
    head = '<th class="text">Trained on</th>' + "".join(f"<th>{_e(t)}</th>" for t in tests)
    rows = []
    for train in trains:
        tds = []
        for test in tests:
            cell = cells.get((train, test))
            value = None if cell is None else _stat_value(cell[key])
            if cell is None or value is None:
                tds.append("<td></td>" if cell is None else f'<td title="{_e(what)}: not resolvable">n/a</td>')
                continue
            tip = [f"{train} -> {test}: {what} {_num(value)} {_ci(cell[key])}".strip(),
                   f"{cell['n_fake']} fakes, {cell['n_real']} reals"]
            tip += [HOME_NOTE] if cell["home"] else []
            tip += [] if cell["labels_checked"] else [UNCHECKED_NOTE]
            marks = (' <span class="muted">home</span>' if cell["home"] else "") + \
                ("" if cell["labels_checked"] else f" {_DAGGER}")
            tds.append(f'<td class="heat {heat_class(_goodness(key, value))}" '
                       f'title="{_e("; ".join(tip))}">{_num(value)}{marks}</td>')
        rows.append(f'<tr><td class="text model">{_e(train)}</td>' + "".join(tds) + "</tr>")
    return (f'<p class="muted">{_e(what)}</p><div class="scroll"><table class="heatmap" '
            f'id="matrix-{key}-{_e(entry["benchmark"])}-{_e(entry["slug"])}"><thead><tr>{head}</tr></thead><tbody>\n'
            + "\n".join(rows) + "\n</tbody></table></div>")


def html_section(bench: str, entries: list[dict]) -> str:
    """The board's cross-corpus section: per entry with a matrix, a colour-scaled table of AUC and one of FPR at
    the carried 5 % threshold (red at chance, green at perfect, in both); empty when no entry has a matrix."""
    carrying = [e for e in entries if _matrix(e)]
    if not carrying:
        return ""
    parts = [f'<h3>Cross-corpus ({_e(bench)})</h3><p class="muted">Each matrix: {_e(MATRIX_NOTE)}. '
             f'{_e(HOME_NOTE)}; {_DAGGER} {_e(UNCHECKED_NOTE)}. Colours run from red at chance (an AUC of 0.5 or '
             f'less, an FPR of 0.5 or more) to green at perfect (AUC 1, FPR 0). One row per entry and cell: '
             f'<a href="{MATRIX_CSV}">{MATRIX_CSV}</a>.</p>']
    for e in carrying:
        m = e["matrix"]
        extremes = "; ".join(f"{label} off the home set {_num(x['value'])} ({_e(x['train'] + ' -> ' + x['test'])})"
                             for label, x in _extremes(m))
        parts.append(f'<h4>{_e(e["model_name"])} <span class="muted">matrix of <code>{_e(m["model"])}</code>, '
                     f'{m["n_bootstrap"]} bootstrap resamples{": " + extremes if extremes else ""}</span></h4>')
        parts.append(_html_grid(e, "AUC", "auc"))
        parts.append(_html_grid(e, "FPR at the carried 5 % threshold", "fpr_carried_5pct"))
    return "\n".join(parts)
