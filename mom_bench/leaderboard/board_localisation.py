"""The localisation section of the boards: the entries submitted as timelines (their ``localisation`` object,
:func:`schema.localisation_schema`) with every registered localisation metric and its interval, in Markdown (one
table per benchmark), in ``leaderboard_localisation.csv`` (one row per entry) and in HTML. Rows are ordered by
frame AUC (best first; none last), then name. Boards without a timeline entry have no such section, and their
outputs are what they were before."""
from __future__ import annotations

import csv
import html
import io
from typing import Any

from mom_bench.core.formatting import md_text
from mom_bench.leaderboard.board import _ci, _num, _stat_value, heat_class
from mom_bench.leaderboard.board_csv import _csv_text, _plain
from mom_bench.report.metrics import registry as metric_registry

#: The file of one row per timeline entry, written beside leaderboard.csv when some entry has one.
LOCALISATION_CSV = "leaderboard_localisation.csv"
NOTE = ("Scores over time against the songs' segments: frames of {frame} s weighted by duration, a predicted AI "
        "segment matching a true one when both ends are within {tol} s, song-level rows from each song's highest "
        "window P(fake); brackets are 95 % bootstrap intervals over songs")


def _md(text: Any) -> str:
    return md_text(text, untrusted=True)


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _localisation(entry: dict) -> dict | None:
    return entry.get("localisation") if entry["kind"] == "reproduced" else None


def has_localisation(boards: dict[str, list[dict]]) -> bool:
    return any(_localisation(e) for entries in boards.values() for e in entries)


def localised(entries: list[dict]) -> list[dict]:
    """The board's timeline entries in the section's order."""
    carrying = [e for e in entries if _localisation(e)]

    def key(e: dict) -> tuple:
        auc = _stat_value(e["localisation"]["metrics"].get("frame_auc"))
        return (auc is None, -(auc or 0.0), e["model_name"].lower(), e["slug"])
    return sorted(carrying, key=key)


def _note(entries: list[dict]) -> str:
    first = entries[0]["localisation"]
    return NOTE.format(frame=f"{first['frame_s']:g}", tol=f"{first['tolerance_s']:g}")


def _header(m: metric_registry.LocalisationMetric) -> str:
    return m.header + (" (lower is better)" if not m.higher_is_better else "")


def markdown_section(bench: str, entries: list[dict]) -> list[str]:
    """The lines of the board's localisation section; none when no entry was submitted as a timeline."""
    rows = localised(entries)
    if not rows:
        return []
    metrics = [m for m in metric_registry.localisation_metrics() if m.board]
    out = ["", f"### Localisation ({_md(bench)})", "", f"{_md(_note(rows))}. All rows as CSV"
           f": {LOCALISATION_CSV}.", "",
           "| Model | " + " | ".join(_md(_header(m)) for m in metrics) + " | Coverage | Songs (mixed) |",
           "|---|" + "---:|" * (len(metrics) + 2)]
    for e in rows:
        loc = e["localisation"]
        cells = []
        for m in metrics:
            block = loc["metrics"].get(m.key)
            value = _stat_value(block)
            cells.append("n/a" if value is None else f"{_num(value, m.digits)} {_ci(block)}".strip())
        cells.append(_num(_stat_value(loc["coverage"])))
        cells.append(f"{loc['n_songs']} ({loc['n_songs_mixed']})")
        out.append(f"| {_md(e['model_name'])} | " + " | ".join(cells) + " |")
    return out


def render_localisation_csv(boards: dict[str, list[dict]]) -> str:
    """leaderboard_localisation.csv: one row per timeline entry, each metric with its interval's ends."""
    metrics = metric_registry.localisation_metrics()
    fields = ["benchmark", "slug", "model_name", "n_songs", "n_songs_with_ai", "n_songs_mixed", "n_windows",
              "frame_s", "tolerance_s", "threshold", "n_bootstrap", "seed"]
    for key in ("coverage", *(m.key for m in metrics)):
        fields += [key, f"{key}_ci_low", f"{key}_ci_high"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for bench, entries in boards.items():
        for e in localised(entries):
            loc = e["localisation"]
            row: dict[str, Any] = {key: _csv_text(value) for key, value in (
                ("benchmark", bench), ("slug", e["slug"]), ("model_name", e["model_name"]))}
            row.update({k: loc[k] for k in fields[3:12]})
            for key, block in (("coverage", loc["coverage"]), *((m.key, loc["metrics"].get(m.key)) for m in metrics)):
                ci = (block or {}).get("ci") or [None, None]
                row.update({key: _plain(_stat_value(block)), f"{key}_ci_low": _plain(ci[0]),
                            f"{key}_ci_high": _plain(ci[1])})
            writer.writerow(row)
    return buf.getvalue()


def html_section(bench: str, entries: list[dict]) -> str:
    """The board's localisation section: one table, each metric cell coloured from chance (red) to perfect (green)
    where the metric is a rate; empty when no entry was submitted as a timeline."""
    rows = localised(entries)
    if not rows:
        return ""
    metrics = [m for m in metric_registry.localisation_metrics() if m.board]
    head = '<th class="text">Model</th>' + "".join(f'<th title="{_e(m.title or m.definition)}">{_e(_header(m))}</th>'
                                                   for m in metrics) + "<th>Coverage</th><th>Songs (mixed)</th>"
    body = []
    for e in rows:
        loc = e["localisation"]
        tds = []
        for m in metrics:
            block = loc["metrics"].get(m.key)
            value = _stat_value(block)
            if value is None:
                tds.append('<td title="undefined on these songs">n/a</td>')
                continue
            good = value if m.higher_is_better else 1 - value
            if m.key.endswith("auc"):
                good = (value - 0.5) * 2  # chance is 0.5, as in the cross-corpus tables
            tip = f"{m.header} {_num(value, m.digits)} {_ci(block)}".strip()
            tds.append(f'<td class="heat {heat_class(good)}" title="{_e(tip)}">{_num(value, m.digits)}</td>')
        tds.append(f'<td title="{_e(_ci(loc["coverage"]))}">{_num(_stat_value(loc["coverage"]))}</td>')
        tds.append(f"<td>{loc['n_songs']} ({loc['n_songs_mixed']})</td>")
        body.append(f'<tr><td class="text model">{_e(e["model_name"])}</td>' + "".join(tds) + "</tr>")
    return (f'<h3>Localisation ({_e(bench)})</h3><p class="muted">{_e(_note(rows))}. All rows as CSV: '
            f'<a href="{LOCALISATION_CSV}">{LOCALISATION_CSV}</a>.</p><div class="scroll"><table class="heatmap" '
            f'id="localisation-{_e(bench)}"><thead><tr>{head}</tr></thead><tbody>\n' + "\n".join(body)
            + "\n</tbody></table></div>")
