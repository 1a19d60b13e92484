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
labelled as such (suite name@version) wherever it is shown. Outputs are written atomically (a symlink
planted at an output's name is replaced, never followed), one writer at a time per output folder.
"""
from __future__ import annotations

import base64
import csv
import hashlib
import html
import io
import json
import re
import textwrap
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mom_bench import formatting, protocols
from mom_bench._io import write_atomic, writer_lock
from mom_bench.errors import MomBenchError
from mom_bench.leaderboard import schema
from mom_bench.metrics import registry as metric_registry

BENCHMARK_ORDER = ("mom", "sonics", "mom-mini")
CHART_TOP = 5
OUTPUTS = ("LEADERBOARD.md", "leaderboard.csv", "index.html", "per_generator_f1.png")
_KIND_ORDER = {"reproduced": 0, "reported": 1}
#: A leading character that makes a spreadsheet read a cell as a formula (or hides what follows it).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_TEMPLATE_SLOT = re.compile(r"\{\{(csp|nav|body|css|js)\}\}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class EntryError(MomBenchError, ValueError):
    """Entries that cannot be rendered; ``problems`` lists each one."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid leaderboard entries:\n" + "\n".join(f"  - {p}" for p in problems))


# --------------------------------------------------------------------------------------------------
# loading


def entry_files(root: Path | str) -> list[Path]:
    return sorted((Path(root) / "entries").glob("*/*.json"))


def check_entry(entry: Any, path: Path | None = None) -> list[str]:
    """Schema problems of one entry, plus its place: folder = benchmark, file name = slug."""
    where = str(path) if path else "entry"
    if not isinstance(entry, dict):
        return [f"{where}: expected a JSON object"]
    kind = entry.get("kind")
    if kind not in schema.ENTRY_SCHEMAS:
        return [f"{where}: kind must be one of {sorted(schema.ENTRY_SCHEMAS)}, got {kind!r}"]
    found = schema.text_problems(entry) + schema.validate(entry, schema.entry_schema(kind))
    problems = [f"{where}: {p}" for p in found]
    if path is not None:
        if entry.get("benchmark") != path.parent.name:
            problems.append(f"{where}: benchmark {entry.get('benchmark')!r} does not match its folder "
                            f"{path.parent.name!r}")
        if entry.get("slug") != path.stem:
            problems.append(f"{where}: slug {entry.get('slug')!r} does not match its file name {path.stem!r}")
    return problems


def load_entries(root: Path | str) -> dict[str, list[dict]]:
    """All entries by benchmark, each list ranked; raises EntryError listing every invalid entry."""
    problems: list[str] = []
    out: dict[str, list[dict]] = {}
    for path in entry_files(root):
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            problems.append(f"{path}: not valid JSON ({err})")
            continue
        bad = check_entry(entry, path)
        if bad:
            problems += bad
            continue
        out.setdefault(entry["benchmark"], []).append(entry)
    if problems:
        raise EntryError(problems)
    return {b: rank(out[b]) for b in benchmark_order(out)}


def benchmark_order(names) -> list[str]:
    known = [b for b in BENCHMARK_ORDER if b in names]
    return known + sorted(set(names) - set(known))


def _value(metric: Any) -> float | None:
    return metric.get("value") if isinstance(metric, dict) else None


def is_partial(entry: dict) -> bool:
    """A reproduced entry scored on only some of the benchmark's test splits."""
    return entry["kind"] == "reproduced" and entry.get("partial") is True


def _group(entry: dict) -> int:
    """Complete reproduced rows, then partial ones, then reported rows."""
    return 1 if is_partial(entry) else 2 * _KIND_ORDER[entry["kind"]]


def rank(entries: list[dict]) -> list[dict]:
    """Complete reproduced rows first (best overall F1 first), then partial ones, then reported rows; ties by
    name and slug."""
    def key(e):
        f1 = _value(e["summary"].get("f1"))
        return (_group(e), f1 is None, -(f1 or 0.0), e["model_name"].lower(), e["slug"])
    return sorted(entries, key=key)


def generators(benchmark: str, entries: list[dict]) -> list[tuple[str, str]]:
    """(id, display name) of the heatmap's columns: the protocol's order, then any others seen."""
    seen = {g for e in entries for g in e["summary"].get("per_generator", {})}
    ordered: list[tuple[str, str]] = []
    try:
        for g in protocols.load(benchmark).generators:
            if g.id in seen:
                ordered.append((g.id, g.name))
    except Exception:  # an entry for a benchmark this mom-bench does not ship: ids are still shown
        pass
    known = {g for g, _ in ordered}
    return ordered + [(g, g) for g in sorted(seen - known)]


# --------------------------------------------------------------------------------------------------
# formatting helpers


def _num(v: float | None, digits: int = 3) -> str:
    return "" if v is None else f"{v:.{digits}f}"


def _ci(metric: Any) -> str:
    return formatting.ci(metric)


def _params(n: int | None) -> str:
    if n is None:
        return ""
    if n >= 1_000_000:
        return f"{n / 1e6:.3g} M"
    if n >= 1_000:
        return f"{n / 1e3:.3g} k"
    return str(n)


def _source(entry: dict) -> str:
    if entry["kind"] == "reported":
        return entry["citation"]["url"]
    return entry.get("command") or ""


def _ranks(entries: list[dict]) -> dict[str, int]:
    """1, 2, ... over complete reproduced rows with an F1; partial rows cover fewer test splits and reported
    rows come from other test sets: no rank."""
    out, n = {}, 0
    for e in entries:
        if e["kind"] == "reproduced" and not is_partial(e) and _value(e["summary"].get("f1")) is not None:
            n += 1
            out[e["slug"]] = n
    return out


def _cell_metric(pg: dict) -> tuple[float | None, str]:
    """A heatmap cell shows F1; rows that only published a detection rate show that, marked TPR."""
    f1 = _value(pg.get("f1"))
    if f1 is not None:
        return f1, "f1"
    return _value(pg.get("tpr")), "tpr"


def _generator_cells(entries: list[dict], gens: list[tuple[str, str]]):
    """``(entry, [(metrics of g, value, "f1"|"tpr"), ...])`` for every entry with per-generator results, in
    the order of ``gens``: the Markdown table and the HTML heatmap show the same cells."""
    for e in entries:
        pg = e["summary"].get("per_generator", {})
        if pg:
            yield e, [(pg.get(g, {}), *_cell_metric(pg.get(g, {}))) for g, _ in gens]


def _versions(entries: list[dict]) -> str:
    found = sorted({(str(e.get("benchmark_version")), str(e.get("label_fingerprint") or ""),
                     str(e.get("dataset_fingerprint"))) for e in entries if e["kind"] == "reproduced"})
    return "; ".join(f"version {v}, " + (f"label fingerprint {lfp[:12]}, " if lfp else "")
                     + f"dataset fingerprint {fp[:12]}" for v, lfp, fp in found)


def _partial_note(entry: dict) -> str:
    return f"partial: {', '.join(entry['scoring']['splits'])} only" if is_partial(entry) else ""


#: What the operating-point columns show, for the headers and notes of every output.
TPR_NOTE = ("TPR at 1 % FPR, read off the ROC curve of every test item pooled (all scored test splits "
            "together); * marks fewer than 100 test reals, too few to resolve a 1 % budget, so the value rests "
            "on interpolation")
SOURCE_NOTE = ("the highest false-positive rate among the real sources (the build's source column), over the "
               "test reals of all scored splits pooled, at threshold 0.5")
ROBUSTNESS_NOTE = ("robustness: reported by the submitter's run of mom-bench evaluate --robustness, not "
                   "re-scored here (the scores of transformed audio are not part of an id,score submission)")


#: How every robustness cell and note introduces the numbers, before the suite's name@version.
_CLAIMED_BY = "robustness: reported by the submitter's run, suite "


def _tpr_point(entry: dict) -> tuple[float | None, bool]:
    """TPR at 1 % FPR and whether the test reals resolve that budget (True when there is no value)."""
    point = entry["summary"].get("tpr_at_1pct_fpr") or {}
    return point.get("value"), point.get("value") is None or bool(point.get("resolvable"))


def _worst_source(entry: dict) -> dict | None:
    return entry["summary"].get("worst_source_fpr")


def _robustness(entry: dict) -> dict | None:
    return entry.get("robustness") if entry["kind"] == "reproduced" else None


def _has_operating_points(entries: list[dict]) -> bool:
    """Whether any row has TPR@1%FPR or a per-source FPR (reported rows and older entries do not)."""
    return any(_tpr_point(e)[0] is not None or _worst_source(e) for e in entries)


def _suites(entries: list[dict]) -> list[str]:
    return sorted({r["suite"] for r in map(_robustness, entries) if r})


def _yes_no(flag: bool | None) -> str:
    return "" if flag is None else ("yes" if flag else "no")


def _signed(v: float | None) -> str:
    return "" if v is None else f"{v:+.3f}"


def _table_columns() -> list[metric_registry.BoardColumn]:
    """The metric columns the Markdown and HTML tables show after F1 and its interval (the CSV has them all)."""
    return [c for c in metric_registry.board_columns() if c.table]


def _md(text: Any) -> str:
    """User text as inert Markdown: one line, no HTML, no emphasis, links, code or table breaks, and no
    block marker (heading, list, quote) where it starts a list item."""
    out = _CONTROL.sub(" ", str(text)).strip()
    out = html.escape(out, quote=False)
    out = re.sub(r"([\\`*_\[\]{}|~])", r"\\\1", out)
    out = re.sub(r"^([#+\-=])", r"\\\1", out)
    return re.sub(r"^(\d+)([.)])", r"\1\\\2", out)


def _md_code(text: Any) -> str:
    """User text as a code span no backtick run inside it can close (and no pipe can split its cell)."""
    out = _CONTROL.sub(" ", str(text)).replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall(r"`+", out)), default=0) + 1)
    pad = " " if out.startswith("`") or out.endswith("`") else ""
    return f"{fence}{pad}{out}{pad}{fence}"


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
        columns = _md_columns(operating, robust)
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
            cells += [_params(e.get("parameters")), src]
            out.append("| " + " | ".join(cells) + " |")
        if operating:
            out += ["", f"TPR@1%FPR: {_md(TPR_NOTE)}. Worst source FPR: {_md(SOURCE_NOTE)} (source, reals called fake "
                    "/ reals)."]
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
        if test_sets:
            out += ["", "Test sets of the reported rows:", ""] + [f"{i}. {_md(t)}" for i, t in enumerate(test_sets, 1)]
        if row_notes:
            out += ["", "Row notes:", ""] + row_notes
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


_MD_HEAD = [("#", "---:"), ("Model", "---"), ("Type", "---"), ("F1", "---:"), ("95 % CI", "---")]
_MD_OPERATING = [("TPR@1%FPR", "---:"), ("Worst source FPR", "---:")]
_MD_ROBUSTNESS = [("Codec worst TPR", "---:"), ("Codec mean \\|dP\\|", "---:"), ("Codec invariant", "---")]
_MD_TAIL = [("Params", "---:"), ("Source", "---")]


def _md_columns(operating: bool, robust: bool) -> list[tuple[str, str]]:
    """(header, alignment) of the main Markdown table: the operating-point and robustness columns only on a
    board where some row has them."""
    metric_columns = [(c.header, "---:") for c in _table_columns()]
    return (_MD_HEAD + metric_columns + (_MD_OPERATING if operating else []) + (_MD_ROBUSTNESS if robust else [])
            + _MD_TAIL)


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


# --------------------------------------------------------------------------------------------------
# CSV


def render_csv(boards: dict[str, list[dict]]) -> str:
    gen_columns: list[str] = []
    for bench, entries in boards.items():
        for g, _ in generators(bench, entries):
            for col in (f"f1[{g}]", f"tpr[{g}]"):
                if col not in gen_columns:
                    gen_columns.append(col)
    fields = ["benchmark", "kind", "partial", "splits", "rank", "slug", "model_name", "f1", "f1_ci_low",
              "f1_ci_high", *(c.key for c in metric_registry.board_columns()), *_CSV_OPERATING, *_CSV_ROBUSTNESS, "parameters", "benchmark_version", "dataset_fingerprint", "date",
              "source"] + gen_columns
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for bench, entries in boards.items():
        ranks = _ranks(entries)
        for e in entries:
            s = e["summary"]
            ci = (s.get("f1") or {}).get("ci") or [None, None]
            reproduced = e["kind"] == "reproduced"
            text = {"benchmark": bench, "kind": e["kind"], "partial": str(is_partial(e)).lower() if reproduced else "",
                    "splits": " ".join(e["scoring"]["splits"]) if reproduced else "", "slug": e["slug"],
                    "model_name": e["model_name"], "benchmark_version": e.get("benchmark_version", ""),
                    "dataset_fingerprint": e.get("dataset_fingerprint", ""), "date": e.get("date", ""),
                    "source": _source(e)}
            row: dict[str, Any] = {key: _csv_text(value) for key, value in text.items()}
            row.update({"rank": ranks.get(e["slug"], ""), "f1": _plain(_value(s.get("f1"))), "f1_ci_low": _plain(ci[0]),
                        "f1_ci_high": _plain(ci[1]), "parameters": e.get("parameters") or ""})
            for column in metric_registry.board_columns():
                row[column.key] = _plain(_value(s.get(column.key)))
            row.update(_csv_operating(e))
            for g, m in s.get("per_generator", {}).items():
                row[f"f1[{g}]"] = _plain(_value(m.get("f1")))
                row[f"tpr[{g}]"] = _plain(_value(m.get("tpr")))
            writer.writerow(row)
    return buf.getvalue()


#: TPR@1%FPR over the test splits pooled, and the real source with the highest FPR there.
_CSV_OPERATING = ("tpr_at_1pct_fpr", "tpr_at_1pct_fpr_ci_low", "tpr_at_1pct_fpr_ci_high", "tpr_at_1pct_fpr_resolvable",
                  "worst_source_fpr", "worst_source", "worst_source_n_real", "worst_source_n_called_fake")
#: The robustness claim of a reproduced row (reported by the submitter's run; empty when it has none).
_CSV_ROBUSTNESS = ("robustness_reported_by", "robustness_suite", "robustness_transforms", "codec_worst_tpr",
                   "codec_worst_fpr", "codec_mean_abs_dp", "codec_max_abs_dp", "codec_invariant", "most_harmful",
                   "most_harmful_delta_tpr")


def _csv_operating(entry: dict) -> dict[str, str]:
    """The cells of :data:`_CSV_OPERATING` and :data:`_CSV_ROBUSTNESS` (empty where the row has none)."""
    point = entry["summary"].get("tpr_at_1pct_fpr") or {}
    ci = point.get("ci") or [None, None]
    worst = _worst_source(entry) or {}
    row = {"tpr_at_1pct_fpr": _plain(point.get("value")), "tpr_at_1pct_fpr_ci_low": _plain(ci[0]),
           "tpr_at_1pct_fpr_ci_high": _plain(ci[1]), "tpr_at_1pct_fpr_resolvable": _flag(point.get("resolvable")),
           "worst_source_fpr": _plain(worst.get("value")), "worst_source": _csv_text(worst.get("source", "")),
           "worst_source_n_real": str(worst.get("n_real", "")),
           "worst_source_n_called_fake": str(worst.get("n_called_fake", ""))}
    return row | _csv_robustness(_robustness(entry) or {})


def _csv_robustness(r: dict) -> dict[str, str]:
    row = {"robustness_reported_by": _csv_text(r.get("reported_by", "")),
           "robustness_suite": _csv_text(r.get("suite", "")), "robustness_transforms": str(r.get("transforms", "")),
           "codec_invariant": _flag(r.get("codec_invariant")), "most_harmful": _csv_text(r.get("most_harmful") or "")}
    for key in ("codec_worst_tpr", "codec_worst_fpr", "codec_mean_abs_dp", "codec_max_abs_dp",
                "most_harmful_delta_tpr"):
        row[key] = _plain(r.get(key))
    return row


def _flag(value: bool | None) -> str:
    return "" if value is None else str(bool(value)).lower()


def _plain(v: float | None) -> str:
    return "" if v is None else repr(round(float(v), 6))


def _csv_text(value: Any) -> str:
    """A text cell a spreadsheet shows as text: one that would start a formula gets a leading apostrophe."""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


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


def _heat_class(v: float) -> str:
    return f"h{max(0, min(10, int(round(v * 10))))}"


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
    head = "".join([
        _th("#", "rank", title="rank among reproduced rows; reported rows are not ranked"),
        _th("Model", "model", "text"), _th("Type", "kind", "text"),
        _th("F1", "f1", title="F1 over every test item, fake = positive, threshold 0.5"),
        '<th class="text">95 % CI</th>',
        *(_th(c.header, c.key, title=c.title) for c in _table_columns()),
        *(_OPERATING_HEADS if operating else ()),
        *(_ROBUSTNESS_HEADS if robust else ()),
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
                cls = f"heat {_heat_class(value)}" + (" tpr" if which == "tpr" else "")
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
    if notes:
        table += f'\n<p class="muted">{notes.strip()}</p>'
    return f'<section id="bench-{_e(bench)}"><h2>{_e(bench)}</h2>{intro}\n{table}\n{heat}</section>'


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
    """The three text outputs, by file name (what ``leaderboard validate`` compares with the committed ones)."""
    return {"LEADERBOARD.md": render_markdown(boards), "leaderboard.csv": render_csv(boards),
            "index.html": render_html(boards)}


def render(root: Path | str = "leaderboard", out_dir: Path | str | None = None, chart: bool = True) -> list[Path]:
    """Render every output of the leaderboard in ``root`` (into ``out_dir``, default ``root``).

    Holds the writer lock of the output folder (``FolderBusy`` while a submit or another render writes
    there), so the entries are read in one state and the outputs are never interleaved."""
    root = Path(root)
    out = Path(out_dir) if out_dir else root
    with writer_lock(out, "render"):
        boards = load_entries(root)
        written = []
        for name, text in render_texts(boards).items():
            written.append(write_atomic(out / name, text))
        if chart:
            render_chart(boards, out / "per_generator_f1.png")
            written.append(out / "per_generator_f1.png")
    return written
