"""leaderboard.csv: one row per entry, every metric column of the registry, and text cells a spreadsheet
cannot read as a formula."""
from __future__ import annotations

import csv
import io
from typing import Any

from mom_bench.leaderboard.board import (
    _has_matrix,
    _has_pools,
    _matrix,
    _ranks,
    _robustness,
    _run,
    _source,
    _value,
    _worst_pool,
    _worst_source,
    generators,
    is_partial,
)
from mom_bench.report.metrics import registry as metric_registry

#: A leading character that makes a spreadsheet read a cell as a formula (or hides what follows it).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# --------------------------------------------------------------------------------------------------
# CSV


def render_csv(boards: dict[str, list[dict]]) -> str:
    gen_columns: list[str] = []
    for bench, entries in boards.items():
        for g, _ in generators(bench, entries):
            for col in (f"f1[{g}]", f"tpr[{g}]"):
                if col not in gen_columns:
                    gen_columns.append(col)
    # the worst-pool columns only where some row has one, so boards of older entries keep their columns
    pools = any(_has_pools(entries) for entries in boards.values())
    matrix = any(_has_matrix(entries) for entries in boards.values())  # likewise the matrix columns
    fields = ["benchmark", "kind", "partial", "splits", "rank", "slug", "model_name", "f1", "f1_ci_low",
              "f1_ci_high", *(c.key for c in metric_registry.board_columns()), *_CSV_OPERATING, *_CSV_ROBUSTNESS,
              *(_CSV_POOL if pools else ()), *(_CSV_MATRIX if matrix else ()), "parameters", *_CSV_RUN,
              "benchmark_version", "dataset_fingerprint", "date", "source"] + gen_columns
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
            if pools:
                row.update(_csv_pool(e))
            if matrix:
                row.update(_csv_matrix(e))
            run = _run(e) or {}
            row.update({"run_precision": _csv_text(run.get("precision") or ""),
                        "run_batch_size": "" if run.get("batch_size") is None else str(run["batch_size"]),
                        "run_clip": _csv_text(run.get("clip") or "")})
            for g, m in s.get("per_generator", {}).items():
                row[f"f1[{g}]"] = _plain(_value(m.get("f1")))
                row[f"tpr[{g}]"] = _plain(_value(m.get("tpr")))
            writer.writerow(row)
    return buf.getvalue()


#: How evaluate computed the scores of a reproduced row (its results.json); empty when not recorded. "run_": the
#: metric columns have a "precision" already.
_CSV_RUN = ("run_precision", "run_batch_size", "run_clip")
#: TPR@1%FPR over the test splits pooled, and the real source with the highest FPR there.
_CSV_OPERATING = ("tpr_at_1pct_fpr", "tpr_at_1pct_fpr_ci_low", "tpr_at_1pct_fpr_ci_high", "tpr_at_1pct_fpr_resolvable",
                  "worst_source_fpr", "worst_source", "worst_source_n_real", "worst_source_n_called_fake")
#: The pool of reals with the lowest AUC (all fakes of its test split against it): on boards where a row has one.
_CSV_POOL = ("worst_real_pool_auc", "worst_real_pool_auc_ci_low", "worst_real_pool_auc_ci_high", "worst_real_pool",
             "worst_real_pool_split", "worst_real_pool_n_real", "worst_real_pool_n_fake")
#: The cross-corpus matrix of a row, summed up (its cells are rows of leaderboard_matrix.csv): on boards where a
#: row has one.
_CSV_MATRIX = ("worst_fpr_carried_5pct", "worst_fpr_carried_5pct_ci_low", "worst_fpr_carried_5pct_ci_high",
               "worst_fpr_carried_5pct_train", "worst_fpr_carried_5pct_test", "lowest_auc_off_home",
               "lowest_auc_off_home_train", "lowest_auc_off_home_test", "matrix_labels_checked")
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


def _csv_pool(entry: dict) -> dict[str, str]:
    """The cells of :data:`_CSV_POOL` (empty where the row has no worst pool)."""
    worst = _worst_pool(entry) or {}
    ci = worst.get("ci") or [None, None]
    return {"worst_real_pool_auc": _plain(worst.get("value")), "worst_real_pool_auc_ci_low": _plain(ci[0]),
            "worst_real_pool_auc_ci_high": _plain(ci[1]), "worst_real_pool": _csv_text(worst.get("pool", "")),
            "worst_real_pool_split": _csv_text(worst.get("split", "")),
            "worst_real_pool_n_real": str(worst.get("n_real", "")),
            "worst_real_pool_n_fake": str(worst.get("n_fake", ""))}


def _csv_matrix(entry: dict) -> dict[str, str]:
    """The cells of :data:`_CSV_MATRIX` (empty where the row has no matrix, or no cell off its home set)."""
    m = _matrix(entry) or {}
    worst, lowest = m.get("worst_fpr_carried_5pct") or {}, m.get("lowest_auc_off_home") or {}
    ci = worst.get("ci") or [None, None]
    return {"worst_fpr_carried_5pct": _plain(worst.get("value")), "worst_fpr_carried_5pct_ci_low": _plain(ci[0]),
            "worst_fpr_carried_5pct_ci_high": _plain(ci[1]),
            "worst_fpr_carried_5pct_train": _csv_text(worst.get("train", "")),
            "worst_fpr_carried_5pct_test": _csv_text(worst.get("test", "")),
            "lowest_auc_off_home": _plain(lowest.get("value")),
            "lowest_auc_off_home_train": _csv_text(lowest.get("train", "")),
            "lowest_auc_off_home_test": _csv_text(lowest.get("test", "")),
            "matrix_labels_checked": _flag(m.get("labels_checked"))}


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
