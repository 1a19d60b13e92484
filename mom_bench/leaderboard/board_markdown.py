"""LEADERBOARD.md: every text from an entry made inert Markdown (HTML special characters become entities,
Markdown punctuation is backslash-escaped, code spans are fenced with more backticks than the text holds)."""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

from mom_bench.core.formatting import md_code, md_text
from mom_bench.leaderboard import board_localisation
from mom_bench.leaderboard.board import (
    _CLAIMED_BY,
    POOL_NOTE,
    ROBUSTNESS_NOTE,
    RUN_NOTE,
    SOURCE_NOTE,
    TPR_NOTE,
    WORST_CARRIED_NOTE,
    _ci,
    _generator_cells,
    _has_matrix,
    _has_operating_points,
    _has_pools,
    _has_runs,
    _num,
    _params,
    _partial_note,
    _ranks,
    _robustness,
    _signed,
    _suites,
    _table_columns,
    _tpr_point,
    _value,
    _versions,
    _worst_carried,
    _worst_pool,
    _worst_source,
    _yes_no,
    generators,
    is_partial,
    run_cells,
)
from mom_bench.leaderboard.board_matrix import markdown_section


def _md(text: Any) -> str:
    """Text from an entry as inert Markdown (the strict rules: see :func:`~mom_bench.core.formatting.md_text`)."""
    return md_text(text, untrusted=True)


def _md_code(text: Any) -> str:
    """Text from an entry as a code span, in a table cell or a line of notes alike."""
    return md_code(text, cell=True)


def _md_url(url: str) -> str:
    """A link destination that cannot end early: parentheses, brackets, pipes, spaces and the like are
    percent-encoded; ``&`` becomes ``&amp;``, which Markdown turns back into ``&``."""
    return quote(url, safe=":/?#@!$&*+,;=%-._~").replace("&", "&amp;")



# --------------------------------------------------------------------------------------------------
# Markdown


def render_markdown(boards: dict[str, list[dict]]) -> str:
    out = ["# mom-bench leaderboard", "",
           "Rendered by `mom-bench leaderboard render` from `leaderboard/entries/`; do not edit by hand.", "",
           "- **reproduced**: scored by mom-bench from submitted predictions on the built dataset (command given).",
           "- **reported**: copied from a publication (citation given), measured on the authors' own test set; "
           "not re-scored here and not ranked.", "",
           "F1 treats fake as the positive class at threshold 0.5; brackets are 95 % bootstrap intervals. "
           "Per-generator F1 is on that generator's fakes plus all reals of its test split.", ""]
    for bench, entries in boards.items():
        ranks = _ranks(entries)
        out += [f"## {bench}", ""]
        versions = _versions(entries)
        if versions:
            out += [f"Reproduced rows: {_md(versions)}.", ""]
        if any(is_partial(e) for e in entries):
            out += ["Rows marked **partial** were scored on only some of the test splits (named in the row); "
                    "they are not ranked.", ""]
        robust = bool(_suites(entries))
        operating = robust or _has_operating_points(entries)  # the codec columns follow these
        runs = _has_runs(entries)
        pools = _has_pools(entries)
        matrix = _has_matrix(entries)
        columns = _md_columns(operating, robust, runs, pools, matrix)
        out += ["| " + " | ".join(name for name, _ in columns) + " |",
                "|" + "".join(align + "|" for _, align in columns)]
        test_sets: list[str] = []
        row_notes = []
        for e in entries:
            s = e["summary"]
            name = _md(e["model_name"])
            if e["kind"] == "reported":
                if e["test_set"] not in test_sets:
                    test_sets.append(e["test_set"])
                name += f" (test set {test_sets.index(e['test_set']) + 1})"
                src = f"[{_md(e['source'])}]({_md_url(e['citation']['url'])})"
            else:
                name += f" (**{_partial_note(e)}**)" if is_partial(e) else ""
                src = _md_code(e["command"]) if e.get("command") else ""
            if e.get("notes"):
                row_notes.append(f"- {_md(e['model_name'])} ({e['kind']}): {_md(e['notes'])}")
            cells = [str(ranks.get(e["slug"], "")), name, e["kind"], _num(_value(s.get("f1"))), _ci(s.get("f1"))]
            cells += [_num(_value(s.get(c.key))) for c in _table_columns()]
            cells += _md_operating_cells(e, robust) if operating else []
            cells += [_md_pool_cell(e)] if pools else []
            cells += [_md_carried_cell(e)] if matrix else []
            cells += [_md(c) if c else "" for c in run_cells(e)] if runs else []
            cells += [_params(e.get("parameters")), src]
            out.append("| " + " | ".join(cells) + " |")
        if operating:
            out += ["", f"TPR@1%FPR: {_md(TPR_NOTE)}. Worst source FPR: {_md(SOURCE_NOTE)} (source, reals called fake "
                    "/ reals)."]
        if pools:
            out += ["", f"Worst real pool AUC: {_md(POOL_NOTE)}."]
        if matrix:
            out += ["", f"Worst carried FPR: {_md(WORST_CARRIED_NOTE)}."]
        if runs:
            out += ["", f"Run precision, batch, clip: {_md(RUN_NOTE)}."]
        if robust:
            out += ["", f"Codec columns: {_md(ROBUSTNESS_NOTE)}; suite {_md(', '.join(_suites(entries)))}. Codec "
                    "invariant: ArtifactBench's criterion (mean \\|dP\\| <= 0.15 and max <= 0.35 under codecs).", ""]
            out += [_md_robustness_line(e) for e in entries if _robustness(e)]
        gens = generators(bench, entries)
        if gens:
            out += ["", f"### Per-generator F1 ({bench})", "",
                    "| Model | Type | " + " | ".join(_md(n) for _, n in gens) + " |",
                    "|---|---|" + "---:|" * len(gens)]
            for e, row in _generator_cells(entries, gens):
                cells = ["" if value is None else _num(value) + (" (TPR)" if which == "tpr" else "")
                         for _, value, which in row]
                partial = f" (**{_partial_note(e)}**)" if is_partial(e) else ""
                out.append(f"| {_md(e['model_name'])}{partial} | {e['kind']} | " + " | ".join(cells) + " |")
        out += markdown_section(bench, entries)
        out += board_localisation.markdown_section(bench, entries)
        if test_sets:
            out += ["", "Test sets of the reported rows:", ""] + [f"{i}. {_md(t)}" for i, t in enumerate(test_sets, 1)]
        if row_notes:
            out += ["", "Row notes:", ""] + row_notes
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


_MD_HEAD = [("#", "---:"), ("Model", "---"), ("Type", "---"), ("F1", "---:"), ("95 % CI", "---")]
_MD_OPERATING = [("TPR@1%FPR", "---:"), ("Worst source FPR", "---:")]
_MD_ROBUSTNESS = [("Codec worst TPR", "---:"), ("Codec mean \\|dP\\|", "---:"), ("Codec invariant", "---")]
_MD_POOL = [("Worst real pool AUC", "---:")]
_MD_MATRIX = [("Worst carried FPR", "---:")]
_MD_RUN = [("Run precision", "---"), ("Batch", "---:"), ("Clip", "---")]  # not the metric's precision
_MD_TAIL = [("Params", "---:"), ("Source", "---")]


def _md_columns(operating: bool, robust: bool, runs: bool = False, pools: bool = False,
                matrix: bool = False) -> list[tuple[str, str]]:
    """(header, alignment) of the main Markdown table: the operating-point, robustness, worst-pool, worst
    carried FPR and run columns only on a board where some row has them."""
    metric_columns = [(c.header, "---:") for c in _table_columns()]
    return (_MD_HEAD + metric_columns + (_MD_OPERATING if operating else []) + (_MD_ROBUSTNESS if robust else [])
            + (_MD_POOL if pools else []) + (_MD_MATRIX if matrix else []) + (_MD_RUN if runs else []) + _MD_TAIL)


def _md_carried_cell(entry: dict) -> str:
    """The worst FPR at the carried 5 % threshold off the home set, with its cell (empty where the row has none)."""
    worst = _worst_carried(entry)
    return "" if not worst else f"{_num(worst['value'])} ({_md(worst['train'] + ' -> ' + worst['test'])})"


def _md_pool_cell(entry: dict) -> str:
    """The worst pool's AUC, with the pool and its split (empty where the row has none)."""
    worst = _worst_pool(entry)
    return "" if not worst else f"{_num(worst['value'])} ({_md(worst['pool'])}, {_md(worst['split'])})"


def _md_operating_cells(entry: dict, robust: bool) -> list[str]:
    """TPR@1%FPR, the worst source's FPR and, on a board with robustness rows, the codec columns."""
    value, resolved = _tpr_point(entry)
    cells = [_num(value) + ("" if resolved else "\\*")]
    worst = _worst_source(entry)
    cells.append("" if not worst else f"{_num(worst['value'])} ({_md(worst['source'])}, "
                                      f"{worst['n_called_fake']}/{worst['n_real']})")
    if robust:
        r = _robustness(entry) or {}
        cells += [_num(r.get("codec_worst_tpr")), _num(r.get("codec_mean_abs_dp")), _yes_no(r.get("codec_invariant"))]
    return cells


def _md_robustness_line(entry: dict) -> str:
    r = entry["robustness"]
    harmful = (f"; most harmful transform {_md_code(r['most_harmful'])} (TPR {_signed(r['most_harmful_delta_tpr'])})"
               if r.get("most_harmful") else "")
    return (f"- {_md(entry['model_name'])}: {_md(_CLAIMED_BY)} {_md(r['suite'])}, "
            f"{r['transforms']} transforms; codec worst FPR {_num(r.get('codec_worst_fpr')) or 'n/a'}, max \\|dP\\| "
            f"{_num(r.get('codec_max_abs_dp')) or 'n/a'}{harmful}")
