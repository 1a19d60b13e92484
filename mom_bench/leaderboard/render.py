"""Render the leaderboard folder: LEADERBOARD.md, leaderboard.csv, index.html and per_generator_f1.png.

Output depends only on the entry files (no clock, no machine names, sorted everywhere), so rendering the
same entries twice gives byte-identical files and CI can tell when a committed rendering is stale.
The HTML page is static and self-contained: CSS and JS inline, no external assets, and a
Content-Security-Policy that allows only those inline blocks (by hash), so even a crafted entry could not
make the page load or run anything else.

Every text from an entry is escaped for its medium: HTML-escaped on the page (whose template placeholders
are filled in one pass, so a ``{{js}}`` inside a model name stays text); in Markdown, HTML special
characters become entities, Markdown punctuation is backslash-escaped and code spans are fenced with more
backticks than the text holds; in the CSV, every text field that a spreadsheet would read as a formula
gets a leading apostrophe. Partial entries (some test splits left out) are marked on every output and
never ranked. Boards whose rows have them add TPR at 1 % FPR (test splits pooled) and the worst real
source's false-positive rate, and, where a row carries one, the robustness summary of the submitter's run,
labelled as such (suite name@version) wherever it is shown. Boards where a row carries a cross-corpus matrix add
a worst carried FPR column and a cross-corpus section (:mod:`~mom_bench.leaderboard.board_matrix`), and
leaderboard_matrix.csv holds one row per entry and cell. Boards where a row was submitted as a timeline add a
localisation section (:mod:`~mom_bench.leaderboard.board_localisation`), and leaderboard_localisation.csv holds one
row per such entry. Outputs are written atomically (a symlink
planted at an output's name is replaced, never followed), one writer at a time per output folder.

The three texts are drawn by :mod:`~mom_bench.leaderboard.board_markdown`,
:mod:`~mom_bench.leaderboard.board_csv` and :mod:`~mom_bench.leaderboard.board_html`, from the entries as
:mod:`~mom_bench.leaderboard.board` loads and ranks them; this module writes them and the chart.
"""
from __future__ import annotations

import os
import textwrap
from pathlib import Path

from mom_bench.core.files import write_atomic, writer_lock
from mom_bench.leaderboard.board import EntryError, _group, _value, check_entry, generators, is_partial, load_entries
from mom_bench.leaderboard.board_csv import render_csv
from mom_bench.leaderboard.board_html import render_html
from mom_bench.leaderboard.board_localisation import LOCALISATION_CSV, has_localisation, render_localisation_csv
from mom_bench.leaderboard.board_markdown import render_markdown
from mom_bench.leaderboard.board_matrix import MATRIX_CSV, has_matrix, render_matrix_csv

# What callers import from here: the entry point, the three text renderings and the loading they rest on.
__all__ = ["CHART_TOP", "MATRIX_CSV", "OUTPUTS", "EntryError", "check_entry", "load_entries", "render", "render_chart",
           "render_csv", "render_matrix_csv",
           "render_html", "render_markdown", "render_texts"]

CHART_TOP = 5
OUTPUTS = ("LEADERBOARD.md", "leaderboard.csv", "index.html", "per_generator_f1.png")


# --------------------------------------------------------------------------------------------------
# chart


def render_chart(boards: dict[str, list[dict]], path: Path) -> None:
    """Grouped bars of per-generator F1 for the top entries of each benchmark (reported rows hatched)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = []
    for bench, entries in boards.items():
        with_gen = [e for e in entries if any(_value(m.get("f1")) is not None
                                              for m in e["summary"].get("per_generator", {}).values())]
        top = sorted(with_gen, key=lambda e: (_group(e), -(_value(e["summary"].get("f1")) or 0),
                                              e["slug"]))[:CHART_TOP]
        if top:
            panels.append((bench, top, generators(bench, top)))
    with matplotlib.rc_context({"svg.hashsalt": "mom-bench", "font.size": 9}):
        fig, axes = plt.subplots(max(1, len(panels)), 1, figsize=(13, 3.4 * max(1, len(panels))), squeeze=False)
        if not panels:
            axes[0][0].text(0.5, 0.5, "no per-generator results yet", ha="center", va="center")
            axes[0][0].set_axis_off()
        for ax, (bench, top, gens) in zip(axes[:, 0], panels):
            width = 0.8 / len(top)
            for i, e in enumerate(top):
                pg = e["summary"].get("per_generator", {})
                values = [_value(pg.get(g, {}).get("f1")) for g, _ in gens]
                xs = [j + (i - (len(top) - 1) / 2) * width for j in range(len(gens))]
                bars = ax.bar([x for x, v in zip(xs, values) if v is not None],
                              [v for v in values if v is not None], width,
                              label=f"{e['model_name']} ({'partial' if is_partial(e) else e['kind']})",
                              hatch="//" if e["kind"] == "reported" else None, edgecolor="white")
                for bar, g in zip(bars, [g for (g, _), v in zip(gens, values) if v is not None]):
                    ci = (pg[g].get("f1") or {}).get("ci")
                    if ci:
                        x = bar.get_x() + bar.get_width() / 2
                        ax.plot([x, x], ci, color="black", linewidth=0.8)
            ax.set_xticks(range(len(gens)))
            ax.set_xticklabels([textwrap.fill(name, 24) for _, name in gens])
            ax.set_ylim(0, 1.05)
            ax.set_ylabel("F1")
            ax.set_title(f"{bench}: per-generator F1 (top {len(top)}; lines: 95 % CI)")
            ax.grid(axis="y", alpha=0.3)
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        fig.tight_layout()
        # no Software/date chunks in the PNG: the same entries give the same bytes
        write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None}))
        plt.close(fig)


# --------------------------------------------------------------------------------------------------


def render_texts(boards: dict[str, list[dict]]) -> dict[str, str]:
    """The text outputs, by file name (what ``leaderboard validate`` compares with the committed ones): the
    three boards, leaderboard_matrix.csv when some entry carries a cross-corpus matrix, and
    leaderboard_localisation.csv when some entry was submitted as a timeline."""
    texts = {"LEADERBOARD.md": render_markdown(boards), "leaderboard.csv": render_csv(boards),
             "index.html": render_html(boards)}
    if has_matrix(boards):
        texts[MATRIX_CSV] = render_matrix_csv(boards)
    if has_localisation(boards):
        texts[LOCALISATION_CSV] = render_localisation_csv(boards)
    return texts


def render(root: Path | str = "leaderboard", out_dir: Path | str | None = None, chart: bool = True) -> list[Path]:
    """Render every output of the leaderboard in ``root`` (into ``out_dir``, default ``root``).

    Holds the writer lock of the output folder (``FolderBusy`` while a submit or another render writes
    there), so the entries are read in one state and the outputs are never interleaved."""
    root = Path(root)
    out = Path(out_dir) if out_dir else root
    with writer_lock(out, "render"):
        boards = load_entries(root)
        written = []
        texts = render_texts(boards)
        for name, text in texts.items():
            written.append(write_atomic(out / name, text))
        for optional in (MATRIX_CSV, LOCALISATION_CSV):
            stale = out / optional
            if optional not in texts and os.path.lexists(stale):
                stale.unlink()  # the last entry with a matrix (a timeline) is gone: its rows must not stay published
        if chart:
            render_chart(boards, out / "per_generator_f1.png")
            written.append(out / "per_generator_f1.png")
    return written
