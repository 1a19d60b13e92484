"""Scoring checked predictions against a built benchmark: its test labels, the checks every id and score
must pass, the report (the same metrics as ``mom-bench evaluate``) and the summary the board ranks by.

Labels never come from a submission: they are read from the build. What submitting and validating share
here is the arithmetic; reading the files is :mod:`.submission_files`, where they are written
:mod:`.entry_files`.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mom_bench.core.errors import SubmissionRejected as SubmissionRejected  # raised by submit and validate
from mom_bench.core.splits import OOD_SPLIT, TEST_SPLITS
from mom_bench.dataset import read
from mom_bench.report import metrics
from mom_bench.report.metrics import registry as metric_registry

_EXAMPLES = 5  # ids quoted per problem; the count says how many there are in all
_ROW_PROBLEMS = 10  # bad-score rows listed one by one before summarising
#: The false-positive budget whose TPR the leaderboard shows (one of metrics.FPR_TARGETS).
TPR_BUDGET = 0.01


def benchmark_test_splits(protocol) -> list[str]:
    """The test splits a complete entry of ``protocol``'s benchmark is scored on: those its split weights
    fill, plus ``test_ood`` wherever it holds out generators."""
    filled = {s for weights in (protocol.real_weights, protocol.fake_id_weights) for s, w in weights.items() if w}
    return [s for s in TEST_SPLITS if s in filled or (s == OOD_SPLIT and protocol.ood_generators)]


def dataset_labels(data_dir: Path | str, splits=TEST_SPLITS) -> pd.DataFrame:
    """``id, split, generator, label`` of every row of the test splits a built benchmark has, plus the
    columns ``evaluate`` passes to the metrics where the build has them: the strata (``duration_s``, vocals,
    language), so the report has the same strata and bootstrap draws as ``evaluate``'s, and ``source``, which
    gives the false-positive rate of each real source (beside the split reports, which do not depend on it)."""
    base = ["id", "split", "generator", "label"]
    present = [s for s in splits if s in read.read_info(data_dir)["splits"]]
    frames = []
    for split in present:
        names = read.column_names(data_dir, split)
        extra: dict[str, str | None] = {c: c if c in names else None for c in ("duration_s", "source")}
        extra.update(read.stratum_columns(data_dir, split))
        columns = ["id", "generator", "label"] + [c for c in extra.values() if c]
        table = read.read_table(data_dir, split, columns).rename(columns={c: k for k, c in extra.items() if c})
        table.insert(1, "split", split)
        frames.append(table)
    if not frames:
        return pd.DataFrame({c: [] for c in base})
    labels = pd.concat(frames, ignore_index=True)
    labels["id"] = labels["id"].astype(str)
    labels["label"] = labels["label"].astype(int)
    return labels



def check_predictions(pred: pd.DataFrame, labels: pd.DataFrame, where: str, pid: str = "line") -> list[str]:
    """Every id present exactly once, nothing unknown, every score finite in [0, 1].

    ``pid`` names how rows are counted in messages: CSV "line" (header = line 1), Parquet "row" (from 0).
    """
    problems = []
    empty = pred["id"].isna() | (pred["id"].astype(str) == "")
    if empty.any():
        problems.append(f"{where}: {int(empty.sum())} row(s) with an empty id ({pid}s "
                        f"{_quote(pred.loc[empty, 'line'].tolist())})")
    ids = pred.loc[~empty, "id"].astype(str)
    counts = ids.value_counts()
    dupes = counts[counts > 1]
    if len(dupes):
        problems.append(f"{where}: {len(dupes)} id(s) appear more than once (e.g. "
                        f"{_quote([f'{i} x{n}' for i, n in dupes.sort_index().items()])})")
    known = set(labels["id"])
    unknown = sorted(set(ids) - known)
    if unknown:
        problems.append(f"{where}: {len(unknown)} id(s) are not in the test splits of this dataset (e.g. "
                        f"{_quote(unknown)})")
    missing = sorted(known - set(ids))
    if missing:
        problems.append(f"{where}: {len(missing)} test id(s) have no prediction (e.g. {_quote(missing)})")
    values = pred["score"].to_numpy()
    suspect = pred[~(np.isfinite(values) & (values >= 0.0) & (values <= 1.0))]
    bad = []
    for line, ident, raw, score in suspect[["line", "id", "raw_score", "score"]].itertuples(index=False):
        if math.isnan(score):
            reason = "is NaN" if raw.strip().lower() in {"nan", "-nan", "+nan"} else (
                "is empty" if raw == "" else f"{raw[:20]!r} is not a number")
        elif math.isinf(score):
            reason = f"is infinite ({raw[:20]})"
        elif not 0.0 <= score <= 1.0:
            reason = f"{raw[:20]} is outside [0, 1] (scores are P(fake))"
        else:
            continue
        bad.append(f"{where} {pid} {line} (id {str(ident)[:40]!r}): score {reason}")
    problems += bad[:_ROW_PROBLEMS]
    if len(bad) > _ROW_PROBLEMS:
        problems.append(f"{where}: ... and {len(bad) - _ROW_PROBLEMS} more row(s) with a bad score")
    return problems


def _quote(items: list) -> str:
    shown = ", ".join(str(i)[:40] for i in items[:_EXAMPLES])
    return shown + (", ..." if len(items) > _EXAMPLES else "")


def score(pred: pd.DataFrame, labels: pd.DataFrame, *, threshold=0.5, n_bootstrap=1000, seed=0) -> dict:
    """Score checked predictions with the same metrics module as ``mom-bench evaluate``."""
    # Rows stay in the dataset's stored order (test_id, then test_ood), the order `evaluate` scores them
    # in: the bootstrap of AUC/EER draws rows by position, so the same order gives the same intervals.
    df = labels.merge(pred[["id", "score"]], on="id", how="left", validate="one_to_one")
    front = ["id", "split", "generator", "label", "score"]
    df = df[front + [c for c in df.columns if c not in front]]
    report = metrics.compute_report(df, threshold=threshold, n_bootstrap=n_bootstrap, seed=seed)
    pooled = metrics.compute_report(df.assign(split="test"), threshold=threshold, n_bootstrap=n_bootstrap, seed=seed)
    return {"report": jsonable(report), "report_all_tests": jsonable(pooled)}


def summarise(report: dict, pooled: dict) -> dict:
    """The renderer's view of a reproduced entry: the same keys a reported entry fills by hand."""
    splits = report.get("splits", report)
    all_tests = pooled.get("splits", pooled).get("test", {})
    overall = all_tests.get("overall", {})

    def metric(src: dict, key: str):
        m = src.get(key)
        if not isinstance(m, dict) or "value" not in m:
            return None
        return {"value": m["value"], "ci": m.get("ci")}

    def split_metric(name, key):
        s = splits.get(name)
        return metric(s.get("overall", {}), key) if isinstance(s, dict) else None

    # A generator's fakes usually sit in one test split (ID generators in test_id, held-out ones in
    # test_ood): its F1 is then taken against that split's reals, the same number `evaluate` prints.
    # Only a generator present in several splits falls back to the pooled report.
    homes: dict[str, list[dict]] = {}
    for name in sorted(splits):
        for gen, m in (splits[name].get("per_generator") or {}).items():
            homes.setdefault(gen, []).append(m)
    pooled_gen = all_tests.get("per_generator") or {}
    per_gen = {}
    for gen in sorted(homes):
        m = homes[gen][0] if len(homes[gen]) == 1 else pooled_gen.get(gen, {})
        row = {"f1": metric(m, "f1"), "tpr": metric(m, "tpr"), "n_fake": m.get("n_fake"), "n_real": m.get("n_real")}
        per_gen[gen] = {k: v for k, v in row.items() if v is not None}
    summary = {metric_registry.PRIMARY: metric(overall, metric_registry.PRIMARY)}
    for column in metric_registry.board_columns():  # the leaderboard's columns, as the registry declares them
        if column.source[0] == "split":
            summary[column.key] = split_metric(column.source[1], column.source[2])
        else:
            summary[column.key] = metric(overall, column.source[1])
    summary["per_generator"] = per_gen
    summary.update(_operating_points(all_tests, (pooled.get("false_positive_rates") or {}).get("test") or {}))
    worst = metrics.worst_real_pool(report, TEST_SPLITS) if isinstance(report.get("per_real_pool"), dict) else None
    if worst is not None:  # absent from reports scored before per_real_pool existed, or without a source column
        split, pool, block = worst
        summary["worst_real_pool"] = {"pool": pool, "split": split, "value": block["auc"]["value"],
                                      "ci": block["auc"].get("ci"), "n_real": block["n_real"],
                                      "n_fake": block["n_fake"]}
    return summary


def _operating_points(all_tests: dict, false_positives: dict) -> dict:
    """TPR at 1 % FPR and the false-positive rate of each real source, over the test splits pooled; absent
    from reports scored before the metrics had them, so older entries keep matching their summaries."""
    out: dict[str, Any] = {}
    point = (all_tests.get("tpr_at_fpr") or {}).get(f"{TPR_BUDGET:g}")
    if isinstance(point, dict):
        out["tpr_at_1pct_fpr"] = {"value": point.get("value"), "ci": point.get("ci"),
                                  "resolvable": bool(point.get("resolvable")),
                                  "n_real": int(all_tests.get("n_real", 0)),
                                  "min_reals": int(point.get("min_reals", metrics.min_reals(TPR_BUDGET)))}
    by_source = false_positives.get("by_source")
    if isinstance(by_source, dict):
        out["fpr_by_source"] = {name: {"n_real": g["n_real"], "n_called_fake": g["n_called_fake"],
                                       "fpr": {"value": g["fpr"].get("value"), "ci": g["fpr"].get("ci")}}
                                for name, g in sorted(by_source.items())}
        rated = [(g["fpr"]["value"], g["n_real"], name) for name, g in out["fpr_by_source"].items()
                 if g["fpr"]["value"] is not None]
        if rated:
            value, _, name = min(rated, key=lambda r: (-r[0], -r[1], r[2]))
            worst = out["fpr_by_source"][name]
            out["worst_source_fpr"] = {"source": name, "value": value, "ci": worst["fpr"]["ci"],
                                       "n_real": worst["n_real"], "n_called_fake": worst["n_called_fake"]}
    return out


def jsonable(value: Any) -> Any:
    """numpy scalars -> Python numbers, NaN/inf -> None, tuples -> lists (JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def same_numbers(a: Any, b: Any, tol: float = 1e-9) -> bool:
    """Equal structure and equal numbers up to ``tol`` (a float written to CSV and read back may move 1 ulp)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_numbers(a[k], b[k], tol) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_numbers(x, y, tol) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=tol, abs_tol=tol)
    return a == b
