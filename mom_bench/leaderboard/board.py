"""The leaderboard's boards: entries loaded and checked, ranked per benchmark, and the helpers every
rendering (Markdown, CSV, HTML) shares, so the three show the same rows, ranks and cells."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from mom_bench.core import formatting
from mom_bench.core.errors import EntryError
from mom_bench.dataset import protocols
from mom_bench.leaderboard import schema
from mom_bench.report.metrics import registry as metric_registry

BENCHMARK_ORDER = ("mom", "sonics", "mom-mini")
_KIND_ORDER = {"reproduced": 0, "reported": 1}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


# --------------------------------------------------------------------------------------------------
# loading


def entry_files(root: Path | str) -> list[Path]:
    """The entries' files: ``entries/<benchmark>/*.json``, without the documents stored beside them (robustness,
    matrix)."""
    return sorted(p for p in (Path(root) / "entries").glob("*/*.json") if not p.name.endswith(schema.STORED_SUFFIXES))


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
    except ValueError:  # ProtocolError: an entry for a benchmark this mom-bench does not ship: ids still shown
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


def heat_class(v: float) -> str:
    """The page's colour class of a value in [0, 1] (h0 red ... h10 green), for every heatmap."""
    return f"h{max(0, min(10, int(round(v * 10))))}"


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
POOL_NOTE = ("the lowest AUC of all the fakes of a test split against the reals of one pool (the build's source "
             "column: the protocol's reals id), over the pools of every scored test split (lower is worse); shown "
             "with the pool and its split")
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


def _worst_pool(entry: dict) -> dict | None:
    return entry["summary"].get("worst_real_pool")


def _has_pools(entries: list[dict]) -> bool:
    """Whether any row has a worst pool of reals (reported rows, entries of builds without a source column and
    entries scored before pools were reported do not): the column appears only then."""
    return any(_worst_pool(e) for e in entries)


def _robustness(entry: dict) -> dict | None:
    return entry.get("robustness") if entry["kind"] == "reproduced" else None


#: What the cross-corpus sections and the worst carried FPR column show, for the headers and notes of every output.
MATRIX_NOTE = ("a detector trained on each training set (rows) and scored on each test set (columns) by "
               "mom-bench matrix, its thresholds chosen on the training set's validation split and carried "
               "unchanged (the protocol of the cross-corpus studies); each cell shows AUC / FPR at the carried "
               "threshold chosen for 5 % FPR at home. Re-scored here from the submitted predictions, with the "
               "thresholds re-chosen on the submitted validation predictions")
HOME_NOTE = "home: the test set is drawn from the training set's own build (not cross-corpus)"
UNCHECKED_NOTE = ("labels not checked: no build of that set was at hand when the matrix was submitted, so its "
                  "labels are the submitter's")
WORST_CARRIED_NOTE = ("the highest FPR at the carried 5 % threshold over the cells of the entry's cross-corpus "
                      "matrix off the home set, with the cell (training set -> test set); the budget at home was "
                      "5 %")


def _matrix(entry: dict) -> dict | None:
    """The entry's cross-corpus matrix summary (:data:`schema.MATRIX`); None for a reported row or one without."""
    return entry.get("matrix") if entry["kind"] == "reproduced" else None


def _has_matrix(entries: list[dict]) -> bool:
    """Whether any row of a board carries a matrix (the cross-corpus section and column appear only then)."""
    return any(_matrix(e) for e in entries)


def _worst_carried(entry: dict) -> dict | None:
    return (_matrix(entry) or {}).get("worst_fpr_carried_5pct")


def matrix_grid(matrix: dict) -> tuple[list[str], list[str], dict[tuple[str, str], dict]]:
    """(training sets, test sets, cell by (training set, test set)) of a matrix summary: rows and columns."""
    return matrix["training_sets"], matrix["test_sets"], {(c["train"], c["test"]): c for c in matrix["cells"]}


def _stat_value(block: dict | None) -> float | None:
    return None if block is None else block.get("value")


#: What the run columns show for a setting the entry does not record (an older results.json, or predictions
#: submitted without one).
NOT_RECORDED = "not recorded"
RUN_NOTE = ("precision, batch size and clip of the mom-bench evaluate run that computed the scores (from its "
            "results.json); not recorded for rows submitted as a plain predictions file or from an older run")


def _run(entry: dict) -> dict | None:
    """The entry's run settings (:data:`schema.RUN`); None for a reported row or one that records none."""
    return entry.get("run") if entry["kind"] == "reproduced" else None


def _has_runs(entries: list[dict]) -> bool:
    """Whether any row of a board records its run settings (the run columns are shown only then)."""
    return any(_run(e) for e in entries)


def run_cells(entry: dict) -> tuple[str, str, str]:
    """(precision, batch size, clip) of a row as the pages show them: '' for a reported row, "not recorded"
    for a reproduced row without run settings, "—" for a setting its results.json did not record."""
    if entry["kind"] != "reproduced":
        return "", "", ""
    run = _run(entry)
    if not run:
        return NOT_RECORDED, "—", "—"
    precision, batch, clip = run.get("precision"), run.get("batch_size"), run.get("clip")
    return precision or NOT_RECORDED, "—" if batch is None else str(batch), "—" if clip is None else str(clip)


def run_text(run: dict) -> str:
    """One line of run settings, for the terminal: ``precision bf16, batch size 8, clip first:90``."""
    precision, batch, clip = run_cells({"kind": "reproduced", "run": run}) if run else (NOT_RECORDED, "—", "—")
    return f"precision {precision}, batch size {batch}, clip {clip}"


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
