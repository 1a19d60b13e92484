"""index.html: a static, self-contained page (CSS and JS inline, a Content-Security-Policy that allows only
those blocks, by hash); every text from an entry is HTML-escaped and the template's placeholders are filled
in one pass, so a ``{{js}}`` inside a model name stays text."""
from __future__ import annotations

import base64
import hashlib
import html
import re
from importlib import resources
from typing import Any

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
    _run,
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
    heat_class,
    is_partial,
    run_cells,
)
from mom_bench.leaderboard.board_matrix import html_section

_TEMPLATE_SLOT = re.compile(r"\{\{(csp|nav|body|css|js)\}\}")


# --------------------------------------------------------------------------------------------------
# HTML


def _asset(name: str) -> str:
    return resources.files("mom_bench.leaderboard").joinpath(name).read_text(encoding="utf-8")


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _link(url: str | None, label: str) -> str:
    if not url:
        return ""
    return f'<a href="{_e(url)}" rel="noopener noreferrer nofollow">{_e(label)}</a>'


def _th(label: str, key: str, kind: str = "num", title: str = "") -> str:
    cls = "" if kind == "num" else ' class="text"'
    tip = f' title="{_e(title)}"' if title else ""
    return f'<th{cls} data-key="{_e(key)}" data-type="{kind}" aria-sort="none"{tip}>{_e(label)}</th>'


def _td_num(v: float | None, digits: int = 3, extra: str = "") -> str:
    return f'<td data-sort="{_sort_key(v)}"{extra}>{_num(v, digits)}</td>'


def _row_class(entry: dict) -> str:
    return entry["kind"] + (" partial" if is_partial(entry) else "")


def _kind_cell(entry: dict) -> str:
    """The Type cell: the kind's badge, and a partial badge naming the splits the row was scored on."""
    kind = entry["kind"]
    badges = f'<span class="badge badge-{kind}">{kind}</span>'
    if is_partial(entry):
        badges += (f' <span class="badge badge-partial" title="{_e(_partial_note(entry))}; not ranked">'
                   "partial</span>")
    return f'<td class="text" data-sort="{_e(_row_class(entry))}">{badges}</td>'


def _html_board(bench: str, entries: list[dict]) -> str:
    ranks = _ranks(entries)
    bid = f"board-{bench}"
    robust = bool(_suites(entries))
    operating = robust or _has_operating_points(entries)  # the codec columns follow these
    runs = _has_runs(entries)
    pools = _has_pools(entries)
    matrix = _has_matrix(entries)
    head = "".join([
        _th("#", "rank", title="rank among reproduced rows; reported rows are not ranked"),
        _th("Model", "model", "text"), _th("Type", "kind", "text"),
        _th("F1", "f1", title="F1 over every test item, fake = positive, threshold 0.5"),
        '<th class="text">95 % CI</th>',
        *(_th(c.header, c.key, title=c.title) for c in _table_columns()),
        *(_OPERATING_HEADS if operating else ()),
        *(_ROBUSTNESS_HEADS if robust else ()),
        *(_POOL_HEADS if pools else ()),
        *(_MATRIX_HEADS if matrix else ()),
        *(_RUN_HEADS if runs else ()),
        _th("Params", "params"), '<th class="text">Links</th>', '<th class="text">Details</th>'])
    rows = []
    for e in entries:
        s = e["summary"]
        kind = e["kind"]
        links = [_link(e.get("paper_url"), "paper"), _link(e.get("code_url"), "code")]
        if kind == "reported":
            cite = e["citation"]
            links.insert(0, _link(cite["url"], "source"))
            summary = "test set &amp; source"
            detail = f'{_e(e["test_set"])} <span class="muted">Source: {_e(e["source"])}; {_e(cite["title"])}.</span>'
        else:
            summary = "command &amp; hash"
            detail = (f'<code>{_e(e["command"])}</code> ' if e.get("command") else "") + \
                     f'<span class="muted">Scored {_e(e.get("date", ""))} on {_e(", ".join(e["scoring"]["splits"]))}' \
                     f'; predictions sha256 {_e(e["predictions"]["sha256"][:16])}...</span>'
        if _robustness(e):
            detail += f' <span class="muted">{_html_robustness_note(e["robustness"])}</span>'
        if e.get("notes"):
            detail += f' <span class="muted">{_e(e["notes"])}</span>'
        detail = f"<details><summary>{summary}</summary>{detail}</details>"
        rank_value = ranks.get(e["slug"])
        rows.append(
            f'<tr class="{_row_class(e)}" data-slug="{_e(e["slug"])}">'
            f'<td data-sort="{rank_value or ""}">{rank_value or ""}</td>'
            f'<td class="text model" data-sort="{_e(e["model_name"].lower())}">{_e(e["model_name"])}</td>'
            + _kind_cell(e)
            + _td_num(_value(s.get("f1")))
            + f'<td class="ci">{_ci(s.get("f1"))}</td>'
            + "".join(_td_num(_value(s.get(c.key))) for c in _table_columns())
            + (_html_operating_cells(e, robust) if operating else "")
            + (_html_pool_cell(e) if pools else "")
            + (_html_carried_cell(e) if matrix else "")
            + (_html_run_cells(e) if runs else "")
            + f'<td data-sort="{e.get("parameters") if e.get("parameters") is not None else ""}">'
              f'{_params(e.get("parameters"))}</td>'
            + f'<td class="text links">{" &middot; ".join(x for x in links if x)}</td>'
            + f'<td class="text details">{detail}</td></tr>')
    table = (f'<div class="scroll"><table class="board sortable" id="{_e(bid)}"><thead><tr>{head}</tr></thead>'
             f'<tbody>\n' + "\n".join(rows) + "\n</tbody></table></div>")
    gens = generators(bench, entries)
    heat = ""
    if gens:
        head = _th("Model", "model", "text") + _th("Type", "kind", "text") + "".join(
            _th(name, f"gen:{g}", title=f"generator id {g}") for g, name in gens)
        hrows = []
        for e, row in _generator_cells(entries, gens):
            cells = []
            for m, value, which in row:
                if value is None:
                    cells.append('<td data-sort=""></td>')
                    continue
                tip = [f"{which.upper()} {value:.3f} {_ci(m.get(which))}".strip()]
                if which == "f1" and _value(m.get("tpr")) is not None:
                    tip.append(f"TPR {_value(m['tpr']):.3f} {_ci(m.get('tpr'))}".strip())
                if m.get("n_fake") is not None:
                    tip.append(f"{m['n_fake']} fakes")
                label = _num(value) + (" TPR" if which == "tpr" else "")
                cls = f"heat {heat_class(value)}" + (" tpr" if which == "tpr" else "")
                cells.append(f'<td class="{cls}" data-sort="{round(value, 6)!r}" title="{_e("; ".join(tip))}">'
                             f'{label}</td>')
            hrows.append(f'<tr class="{_row_class(e)}"><td class="text model">{_e(e["model_name"])}</td>'
                         + _kind_cell(e) + "".join(cells) + "</tr>")
        heat = (f'<h3>Per-generator F1 ({_e(bench)})</h3><p class="muted">F1 on each generator\'s fakes plus all '
                f'reals of its test split; cells marked TPR show a detection rate where a paper gave only that. '
                f'Hover a cell for its interval.</p><div class="scroll"><table class="heatmap sortable" '
                f'id="heat-{_e(bench)}"><thead><tr>{head}</tr></thead><tbody>\n' + "\n".join(hrows)
                + "\n</tbody></table></div>")
    versions = _versions(entries)
    intro = f'<p class="muted">Reproduced rows: {_e(versions)}.</p>' if versions else ""
    notes = f"TPR@1%FPR: {_e(TPR_NOTE)}. Worst source FPR: {_e(SOURCE_NOTE)}." if operating else ""
    if robust:
        notes += (f" Codec columns: {_e(ROBUSTNESS_NOTE)}; suite {_e(', '.join(_suites(entries)))}. Codec invariant: "
                  "ArtifactBench's criterion (mean |dP| &lt;= 0.15 and max &lt;= 0.35 under codecs).")
    if pools:
        notes += f" Worst real pool AUC: {_e(POOL_NOTE)}."
    if matrix:
        notes += f" Worst carried FPR: {_e(WORST_CARRIED_NOTE)}."
    if runs:
        notes += f" Run precision, batch, clip: {_e(RUN_NOTE)}."
    if notes:
        table += f'\n<p class="muted">{notes.strip()}</p>'
    cross = html_section(bench, entries)
    localisation = board_localisation.html_section(bench, entries)
    return (f'<section id="bench-{_e(bench)}"><h2>{_e(bench)}</h2>{intro}\n{table}\n{heat}'
            + (f"\n{cross}" if cross else "") + (f"\n{localisation}" if localisation else "") + "</section>")


_OPERATING_HEADS = (
    _th("TPR@1%FPR", "tpr_at_1pct_fpr", title=TPR_NOTE),
    _th("Worst source FPR", "worst_source_fpr",
        title=SOURCE_NOTE + " (lower is better); hover a cell for every source"),
)
_ROBUSTNESS_HEADS = (
    _th("Codec worst TPR", "codec_worst_tpr",
        title=ROBUSTNESS_NOTE + ": the lowest TPR under any codec round trip of the suite, over the test splits"),
    _th("Codec mean |dP|", "codec_mean_abs_dp",
        title=ROBUSTNESS_NOTE + ": mean |P(fake, re-encoded) - P(fake, clean)| over the codec transforms "
                                "(lower is better)"),
    _th("Codec invariant", "codec_invariant",
        title=ROBUSTNESS_NOTE + ": whether the codec family meets ArtifactBench's criterion (mean |dP| <= 0.15, "
                                "max <= 0.35)"),
)


_POOL_HEADS = (_th("Worst real pool AUC", "worst_real_pool", title=POOL_NOTE),)


def _html_pool_cell(entry: dict) -> str:
    """The worst pool's AUC with the pool's name and split (its interval and counts in the tooltip)."""
    worst = _worst_pool(entry)
    if worst is None:
        return '<td data-sort=""></td>'
    tip = (f"{worst['pool']} on {worst['split']}: AUC {_num(worst['value'])} {_ci(worst)}; {worst['n_real']} reals "
           f"against {worst['n_fake']} fakes").replace("  ", " ")
    return (f'<td class="source" data-sort="{_sort_key(worst["value"])}" title="{_e(tip)}">{_num(worst["value"])} '
            f'<span class="muted">{_e(worst["pool"])}, {_e(worst["split"])}</span></td>')


_MATRIX_HEADS = (_th("Worst carried FPR", "worst_fpr_carried_5pct", title=WORST_CARRIED_NOTE),)


def _html_carried_cell(entry: dict) -> str:
    """The worst FPR at the carried 5 % threshold off the home set, with its cell (its interval in the tooltip)."""
    worst = _worst_carried(entry)
    if worst is None:
        return '<td data-sort=""></td>'
    cell = f"{worst['train']} -> {worst['test']}"
    tip = f"{cell}: FPR {_num(worst['value'])} {_ci(worst)} at the threshold chosen for 5 % FPR at home".strip()
    return (f'<td class="source" data-sort="{_sort_key(worst["value"])}" title="{_e(tip)}">{_num(worst["value"])} '
            f'<span class="muted">{_e(cell)}</span></td>')


_RUN_HEADS = (
    _th("Run precision", "run_precision", "text", title=RUN_NOTE),  # not the metric's "precision"
    _th("Batch", "run_batch_size", title=RUN_NOTE),
    _th("Clip", "run_clip", "text", title=RUN_NOTE),
)


def _html_run_cells(entry: dict) -> str:
    """Precision, batch size and clip of a row ("not recorded" / "—" where its run did not record them)."""
    precision, batch, clip = run_cells(entry)
    run = _run(entry) or {}
    size = run.get("batch_size")
    return (f'<td class="text" data-sort="{_e(run.get("precision") or "")}">{_e(precision)}</td>'
            f'<td data-sort="{"" if size is None else int(size)}">{_e(batch)}</td>'
            f'<td class="text" data-sort="{_e(run.get("clip") or "")}">{_e(clip)}</td>')


def _html_operating_cells(entry: dict, robust: bool) -> str:
    """TPR@1%FPR, the worst source's FPR (every source in its tooltip) and, on a board with robustness rows,
    the codec columns."""
    point = entry["summary"].get("tpr_at_1pct_fpr") or {}
    value, resolved = _tpr_point(entry)
    if value is None:
        cells = '<td data-sort=""></td>'
    else:
        tip = f"TPR@1%FPR {_num(value)} {_ci(point)}; {point.get('n_real')} test reals"
        tip += "" if resolved else ", fewer than 100: the 1 % budget is not resolved"
        cells = f'<td data-sort="{_sort_key(value)}" title="{_e(tip)}">{_num(value)}{"" if resolved else "*"}</td>'
    cells += _html_source_cell(entry)
    if not robust:
        return cells
    r = _robustness(entry)
    if r is None:
        return cells + '<td data-sort=""></td>' * 3
    tip = f' title="{_e(_CLAIMED_BY + r["suite"])}"'
    flag = r.get("codec_invariant")
    return (cells + _td_num(r.get("codec_worst_tpr"), extra=tip) + _td_num(r.get("codec_mean_abs_dp"), extra=tip)
            + f'<td data-sort="{"" if flag is None else int(flag)}"{tip}>{_yes_no(flag)}</td>')


def _html_source_cell(entry: dict) -> str:
    worst = _worst_source(entry)
    if worst is None:
        return '<td data-sort=""></td>'
    sources = "; ".join(f"{name}: {_num(g['fpr']['value'])} ({g['n_called_fake']}/{g['n_real']} reals called fake)"
                        for name, g in (entry["summary"].get("fpr_by_source") or {}).items())
    return (f'<td class="source" data-sort="{_sort_key(worst["value"])}" title="{_e(sources)}">{_num(worst["value"])} '
            f'<span class="muted">{_e(worst["source"])}, {worst["n_called_fake"]}/{worst["n_real"]}</span></td>')


def _sort_key(v: float | None) -> str:
    return "" if v is None else repr(round(float(v), 6))


def _html_robustness_note(r: dict) -> str:
    harmful = (f"; most harmful transform <code>{_e(r['most_harmful'])}</code> (TPR "
               f"{_e(_signed(r.get('most_harmful_delta_tpr')))})" if r.get("most_harmful") else "")
    return (f"{_e(_CLAIMED_BY)}{_e(r['suite'])}, {r['transforms']} transforms; "
            f"codec worst FPR {_num(r.get('codec_worst_fpr')) or 'n/a'}, max |dP| "
            f"{_num(r.get('codec_max_abs_dp')) or 'n/a'}{harmful}.")


def render_html(boards: dict[str, list[dict]]) -> str:
    css, js = _asset("leaderboard.css"), _asset("leaderboard.js")
    csp = (f"default-src 'none'; style-src {_csp_hash(css)}; script-src {_csp_hash(js)}; base-uri 'none'; "
           "form-action 'none'")
    nav = " ".join(f'<a href="#bench-{_e(b)}">{_e(b)}</a>' for b in boards)
    body = "\n".join(_html_board(b, entries) for b, entries in boards.items()) or "<p>No entries yet.</p>"
    values = {"csp": csp, "nav": nav, "body": body, "css": css, "js": js}
    # one pass over the template: text inserted for one placeholder is never scanned for another
    return _TEMPLATE_SLOT.sub(lambda m: values[m.group(1)], _asset("template.html"))
