"""``matrix.json`` of `mom-bench matrix`: its JSON Schema (generated from
:class:`mom_bench.report.documents.Matrix`, shipped as ``mom_bench/report/schemas/matrix.schema.json``), the check
run before it is written, and what is drawn from it: ``matrix.md`` (the tables), the plain-text summary the
command prints, and ``matrix.png`` (heatmaps of AUC, of FPR at the carried 5 % threshold, and of AUC per decoder
family).

``python -m mom_bench.report.matrix_render`` rewrites the shipped schema after a change to the types.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mom_bench.core.files import write_atomic, write_json_atomic
from mom_bench.core.formatting import md_text, number, stat, table
from mom_bench.core.json_schema import DIALECT, from_type, validate
from mom_bench.report import documents

MATRIX_SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "matrix.schema.json"
#: The carried threshold the headline tables and the heatmap show: the home 5 % FPR budget of the studies.
HEADLINE = "fpr_5pct"
_RULE_NAMES = {"fixed": "fixed", "max_f1": "max F1", "fpr_5pct": "FPR 5 %", "fpr_1pct": "FPR 1 %"}


def matrix_schema() -> dict[str, Any]:
    return {"$schema": DIALECT, "$id": f"urn:mom-bench:schema:matrix:{documents.MATRIX_SCHEMA_VERSION}",
            "title": "matrix.json of `mom-bench matrix`", **from_type(documents.Matrix)}


def check_matrix(doc: Any) -> None:
    """Raise :class:`DocumentError` listing the problems when ``doc`` is not a valid matrix.json."""
    problems = validate(doc, matrix_schema())
    if problems:
        raise documents.DocumentError(f"matrix document does not match its schema ({len(problems)} problems): "
                                      + "; ".join(problems[:20]))


def schema_text() -> str:
    return json.dumps(matrix_schema(), indent=2, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------------------------------
# Tables


def _cells(doc: Mapping[str, Any]) -> dict[tuple[str, str], Mapping[str, Any]]:
    return {(c["train"], c["test"]): c for c in doc["cells"]}


def _point(cell: Mapping[str, Any] | None, rule: str, rate: str) -> Mapping[str, Any] | None:
    point = (cell or {}).get("carried", {}).get(rule)
    return point[rate] if point else None


def _home_fpr(row: Mapping[str, Any], rule: str = HEADLINE) -> str:
    entry = row["thresholds"]["thresholds"].get(rule) or {}
    rates = entry.get("on_calibration") or {}
    return "n/a" if entry.get("threshold") is None else f"{number(rates.get('fpr'))} (t={entry['threshold']:.3g})"


def _grid(doc: Mapping[str, Any], value: Any, *, markdown: bool, home: bool = False) -> str:
    cells = _cells(doc)
    tests = [t["name"] for t in doc["test_sets"]]
    head = ["training set"] + (["home (validation)"] if home else []) + tests
    rows = []
    for row in doc["training_sets"]:
        name = row["name"]
        rows.append([md_text(name) if markdown else name] + ([_home_fpr(row)] if home else [])
                    + [value(cells.get((name, t))) for t in tests])
    if markdown:
        head = [head[0]] + ([head[1]] if home else []) + [md_text(t) for t in tests]
    return table(head, rows, markdown=markdown)


def _held(row: Mapping[str, Any], family: str, members: Sequence[str]) -> bool:
    held = set(row.get("held_out") or [])
    return family in held or bool(held & set(members))


def _breakdown_table(doc: Mapping[str, Any], test: str, block: str, rate: str, *, markdown: bool) -> str | None:
    """Training sets x the groups of ``block`` (``per_decoder_family`` or ``per_real_pool``) of ``test``'s cells:
    "AUC / ``rate`` at the carried 5 % threshold", a family held out of the row's training starred."""
    cells = _cells(doc)
    groups: dict[str, list[str]] = {}  # group -> its generators (families), for the held-out mark
    for row in doc["training_sets"]:
        for name, entry in (cells.get((row["name"], test)) or {}).get(block, {}).items():
            groups.setdefault(name, entry.get("generators") or [])
    if not groups:
        return None
    rows = []
    for row in doc["training_sets"]:
        cell = cells.get((row["name"], test)) or {}
        out = [md_text(row["name"]) if markdown else row["name"]]
        for name, members in groups.items():
            entry = cell.get(block, {}).get(name)
            mark = "*" if block == "per_decoder_family" and _held(row, name, members) else ""
            out.append("" if entry is None else f"{number(entry['auc']['value'])}{mark} / "
                                                f"{number(entry[rate].get(HEADLINE, {}).get('value'))}")
        rows.append(out)
    return table(["training set"] + list(groups), rows, markdown=markdown)


def _auc(cell: Mapping[str, Any] | None) -> str:
    return stat(cell["auc"]) if cell else ""


def _fpr(cell: Mapping[str, Any] | None) -> str:
    return stat(_point(cell, HEADLINE, "fpr")) if cell else ""


def _tpr(cell: Mapping[str, Any] | None) -> str:
    return stat(_point(cell, HEADLINE, "tpr")) if cell else ""


def summary_text(doc: Mapping[str, Any]) -> str:
    """What the command prints: AUC, FPR and TPR at the carried 5 % threshold, and where the files are."""
    timing = doc["timing"]
    return "\n".join([
        "AUC [95% CI] (rows: trained on; columns: tested on)", _grid(doc, _auc, markdown=False), "",
        "FPR at the threshold chosen for 5 % FPR on the training set's validation split, carried",
        _grid(doc, _fpr, markdown=False, home=True), "",
        "TPR at the carried 5 % threshold", _grid(doc, _tpr, markdown=False), "",
        f"time: features {timing['features_s']:.1f} s, training {timing['training_s']:.1f} s, scoring "
        f"{timing['scoring_s']:.1f} s, total {timing['total_s']:.1f} s; {timing['songs_extracted']} songs' features "
        f"computed, {timing['distinct_songs']} distinct songs read"])


def render_markdown(doc: Mapping[str, Any]) -> str:
    model = doc["model"]
    timing = doc["timing"]
    lines = [f"# Generalisation matrix: {md_text(model['requested'])}", "",
             f"mom-bench {doc['mom_bench_version']}, {doc['created']}; {doc['n_bootstrap']} bootstrap resamples "
             f"(seed {doc['seed']}), 95 % intervals.", "",
             "Each row is one training set: the detector is trained on it, and its thresholds (the fixed "
             f"{doc['threshold']:g}, max F1, FPR 5 % and 1 %) are chosen on its validation split before any test set "
             "is scored. Each column is a test set, scored with those thresholds carried unchanged. Test rows the "
             "training set trained or validated on are left out of the cell.", "",
             "## AUC [95 % CI]", "", _grid(doc, _auc, markdown=True), "",
             "## FPR at the carried 5 % threshold", "",
             "`home (validation)`: the FPR the threshold was chosen for, on the training set's own validation split "
             "(and the threshold itself).", "", _grid(doc, _fpr, markdown=True, home=True), "",
             "## TPR at the carried 5 % threshold", "", _grid(doc, _tpr, markdown=True), ""]
    whole = [t["name"] for t in doc["test_sets"] if t["pool"] is None]
    for test in whole:
        fam = _breakdown_table(doc, test, "per_decoder_family", "tpr", markdown=True)
        if fam:
            lines += [f"## Per decoder family on {md_text(test)}: AUC / TPR at the carried 5 % threshold", "",
                      "`*`: the family was held out of that training set.", "", fam, ""]
        pools = _breakdown_table(doc, test, "per_real_pool", "fpr", markdown=True)
        if pools:
            lines += [f"## Per pool of reals on {md_text(test)}: AUC / FPR at the carried 5 % threshold", "", pools, ""]
    lines += ["## Training sets", "", table(
        ["training set", "model", "held out", "validation reals / fakes", "thresholds (max F1, FPR 5 %, FPR 1 %)"],
        [[md_text(r["name"]), r["model"], ", ".join(r["held_out"]) or "-",
          f"{r['thresholds']['n_real']} / {r['thresholds']['n_fake']}",
          ", ".join(number(r["thresholds"]["thresholds"].get(k, {}).get("threshold"), 4)
                    for k in ("max_f1", "fpr_5pct", "fpr_1pct"))] for r in doc["training_sets"]], markdown=True), ""]
    left = [c for c in doc["cells"] if c["excluded_overlap"]]
    if left:
        lines += ["Rows left out of cells because the training set trained or validated on them: "
                  + "; ".join(f"{md_text(c['train'])} x {md_text(c['test'])}: {c['excluded_overlap']}" for c in left)
                  + ".", ""]
    content = [c for c in doc["cells"] if c.get("excluded_content_overlap")]
    if content:
        lines += ["Rows left out of cells because the training set's train or validation split holds their audio "
                  "(matrix --exclude-overlap): "
                  + "; ".join(f"{md_text(c['train'])} x {md_text(c['test'])}: {c['excluded_content_overlap']}"
                              for c in content) + ".", ""]
    lines += ["## Time", "",
              f"features {timing['features_s']:.1f} s, training {timing['training_s']:.1f} s, scoring "
              f"{timing['scoring_s']:.1f} s, total {timing['total_s']:.1f} s in the run that wrote this file; "
              f"{timing['songs_extracted']} songs' features computed, {timing['distinct_songs']} distinct songs read; "
              f"reused: {', '.join(f'{v} {k}' for k, v in timing['reused'].items())}.", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Heatmap


def heatmap(doc: Mapping[str, Any]) -> bytes:
    """A PNG of training sets x test sets: AUC, and FPR at the carried 5 % threshold; then, for the first test
    set taken whole, training sets x decoder families: the family's AUC, starred where it was held out."""
    import io

    from mom_bench.report.plots import _plt

    plt = _plt()
    cells = _cells(doc)
    trains = [r["name"] for r in doc["training_sets"]]
    tests = [t["name"] for t in doc["test_sets"]]

    def grid(value: Any) -> np.ndarray:
        out = np.full((len(trains), len(tests)), np.nan)
        for i, a in enumerate(trains):
            for j, b in enumerate(tests):
                v = value(cells.get((a, b)))
                out[i, j] = np.nan if v is None else v
        return out

    Panel = tuple[str, list[str], np.ndarray, str, np.ndarray | None]  # title, columns, values, colours, stars
    panels: list[Panel] = [
        ("AUC", tests, grid(lambda c: c and c["auc"]["value"]), "RdYlGn", None),
        ("FPR at the carried 5 % threshold", tests,
         grid(lambda c: c and (_point(c, HEADLINE, "fpr") or {}).get("value")), "RdYlGn_r", None)]
    whole = next((t["name"] for t in doc["test_sets"] if t["pool"] is None), None)
    families = sorted({f for r in trains for f in (cells.get((r, whole)) or {}).get("per_decoder_family", {})}
                      ) if whole is not None else []
    if whole is not None and families:  # the third panel: which decoder family each training set misses
        values = np.full((len(trains), len(families)), np.nan)
        held = np.zeros(values.shape, dtype=bool)
        for i, row in enumerate(doc["training_sets"]):
            for j, fam in enumerate(families):
                block = (cells.get((row["name"], whole)) or {}).get("per_decoder_family", {}).get(fam)
                if block and block["auc"]["value"] is not None:
                    values[i, j] = block["auc"]["value"]
                    held[i, j] = _held(row, fam, block["generators"])
        panels.append((f"AUC per decoder family on {whole} (* held out)", families, values, "RdYlGn", held))
    width = max(4.0, 0.9 * max(len(p[1]) for p in panels) + 2.8)
    fig, axes = plt.subplots(1, len(panels), figsize=(len(panels) * width, 0.42 * len(trains) + 2.2))
    for ax, (title, columns, values, cmap, marks) in zip(np.atleast_1d(axes), panels):
        image = ax.imshow(values, cmap=cmap, vmin=0, vmax=1, aspect="auto")
        ax.set_xticks(np.arange(len(columns)), columns, fontsize=7, rotation=30, ha="right")
        ax.set_yticks(np.arange(len(trains)), trains, fontsize=7)
        for (i, j), v in np.ndenumerate(values):
            if np.isfinite(v):
                star = "*" if marks is not None and marks[i, j] else ""
                ax.text(j, i, f"{v:.2f}{star}", ha="center", va="center", fontsize=7,
                        color="white" if v < 0.25 or v > 0.85 else "black")
        ax.set_title(title, fontsize=9)
        fig.colorbar(image, ax=ax, fraction=0.046)
    fig.suptitle(f"{doc['model']['requested']}: trained on (rows), tested on (columns)", fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def write_outputs(doc: documents.Matrix, out: Path) -> None:
    """matrix.json, matrix.md and matrix.png, each replaced atomically."""
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "matrix.json", doc, indent=1)
    write_atomic(out / "matrix.md", render_markdown(doc))
    write_atomic(out / "matrix.png", heatmap(doc))


if __name__ == "__main__":  # pragma: no cover - maintenance entry point
    MATRIX_SCHEMA_PATH.write_text(schema_text(), encoding="utf-8")
    print(MATRIX_SCHEMA_PATH)
