"""Turn a predictions file plus its metadata into a scored leaderboard entry.

A submission is untrusted data from a stranger. Nothing in it is executed: CSV is parsed by pandas,
Parquet by pyarrow, metadata by ``yaml.safe_load``/``json``; pickles and archives are refused by their
magic bytes before any parser sees them, sizes are checked before reading, and the entry's file name is
sanitised and then proven to stay inside ``entries/<benchmark>/``. Every problem found is collected, so the
submitter sees the whole list at once instead of fixing one error per attempt.

Labels never come from the submission: they are read from the built dataset, whose benchmark version and
fingerprint must match what the submission claims.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
from pathlib import Path
from typing import Any

from mom_bench import protocols, provenance, settings
from mom_bench.dataset.read import read_info
from mom_bench.formatting import stat
from mom_bench.leaderboard import schema
from mom_bench.leaderboard.scoring import (Limits, SubmissionRejected, jsonable, check_predictions, dataset_labels,
                                           entries_dir, entry_path, load_meta, load_predictions, same_numbers, score,
                                           slugify, stored_predictions_text, summarise, write_json_atomic)
from mom_bench.models import registry
from mom_bench.splits import TEST_SPLITS

__all__ = ["submit", "entry_from_evaluation", "describe", "Limits", "SubmissionRejected", "check_predictions",
           "dataset_labels", "entries_dir", "entry_path", "load_meta", "load_predictions", "same_numbers", "score",
           "slugify", "stored_predictions_text", "summarise", "write_json_atomic"]


def submit(predictions: Path | str, meta: Path | str | dict, benchmark: str, data_dir: Path | str | None = None,
           root: Path | str = "leaderboard", *, replace: bool = False, store_predictions: bool = True,
           limits: Limits = Limits(), n_bootstrap: int = 1000, seed: int = 0, today: str | None = None,
           expect_fingerprint: str | None = None) -> Path:
    """Validate, score and write ``<root>/entries/<benchmark>/<slug>.json``; returns its path.

    Raises ``SubmissionRejected`` listing every problem when anything is wrong; nothing is written then.
    """
    problems: list[str] = []
    meta_data, meta_problems = load_meta(meta, limits)
    problems += meta_problems
    pred, pinfo, pred_problems = load_predictions(predictions, limits)
    problems += pred_problems

    protocol = None
    try:
        protocol = protocols.load(benchmark)
        if protocol.name != benchmark:
            raise ValueError(f"benchmark {benchmark!r} must be a shipped benchmark name")
    except Exception as err:
        problems.append(f"benchmark: {err}")

    info, labels = None, None
    data_dir = Path(data_dir) if data_dir else settings.default_dataset_dir(benchmark)
    if protocol is not None:
        try:
            info = read_info(data_dir)
        except Exception as err:
            problems.append(f"dataset {data_dir}: {err}")
    if info is not None and protocol is not None:
        if info.get("benchmark") != benchmark:
            problems.append(f"dataset {data_dir}: it is a build of {info.get('benchmark')!r}, not {benchmark!r}")
        elif str(info.get("benchmark_version")) != protocol.version:
            problems.append(f"dataset {data_dir}: built for {benchmark} version {info.get('benchmark_version')}, "
                            f"but this mom-bench defines version {protocol.version}: rebuild it")
        else:
            labels = dataset_labels(data_dir)
            if labels.empty:
                problems.append(f"dataset {data_dir}: no test rows (splits {', '.join(TEST_SPLITS)})")
                labels = None
    if meta_data is not None and info is not None:
        claimed = meta_data.get("benchmark_version")
        if claimed is not None and str(claimed) != str(info.get("benchmark_version")):
            problems.append(f"meta: benchmark_version {claimed!r} does not match the dataset's "
                            f"{info.get('benchmark_version')!r}")
        fingerprints = {"meta": meta_data.get("dataset_fingerprint"), "evaluation": expect_fingerprint}
        for origin, fp in fingerprints.items():
            if fp and fp != info.get("fingerprint"):
                problems.append(f"{origin}: dataset fingerprint {fp[:12]}... does not match the dataset's "
                                f"{str(info.get('fingerprint'))[:12]}... (a different build of the data)")
    if meta_data is not None and protocol is not None and protocol.ood_generators:
        training = meta_data.get("training_data")
        # a non-object training_data is already reported by the schema check; do not crash on it
        declared = training.get("only_in_distribution_generators") if isinstance(training, dict) else None
        if declared is False:
            problems.append(f"meta: training_data.only_in_distribution_generators must be true on {benchmark}: "
                            "a model trained on the held-out generators cannot be ranked here")
    if pred is not None and labels is not None:
        problems += check_predictions(pred, labels, f"predictions {pinfo['file']}",
                                      "line" if pinfo["format"] == "csv" else "row")

    slug = path = None
    if meta_data is not None and not meta_problems:
        slug = meta_data.get("slug") or slugify(str(meta_data.get("model_name", "")))
        try:
            path = entry_path(root, benchmark, slug)
        except ValueError as err:
            problems.append(f"meta: {err}")
        if path is not None and path.exists() and not replace:
            problems.append(f"entry {path} already exists: choose another slug, or pass --replace to overwrite")
    if problems:
        raise SubmissionRejected(problems)
    # with no problem found, every part was read (each None above comes with a problem)
    assert pred is not None and labels is not None and meta_data is not None and path is not None and info is not None

    scored = score(pred, labels, n_bootstrap=n_bootstrap, seed=seed)
    entry: dict[str, Any] = {
        "schema_version": schema.SCHEMA_VERSION,
        "kind": "reproduced",
        "benchmark": benchmark,
        "benchmark_version": str(info["benchmark_version"]),
        "dataset_fingerprint": info["fingerprint"],
        "slug": slug,
        "model_name": meta_data["model_name"],
        "parameters": meta_data.get("parameters"),
        "paper_url": meta_data.get("paper_url"),
        "code_url": meta_data.get("code_url"),
        "command": meta_data.get("command"),
        "notes": meta_data.get("description"),
        "meta": meta_data,
        "predictions": {"sha256": pinfo["sha256"], "n_rows": int(len(pred)), "format": pinfo["format"],
                        "ignored_columns": pinfo.get("ignored_columns", [])},
        "scoring": {"threshold": 0.5, "n_bootstrap": n_bootstrap, "seed": seed,
                    "splits": sorted(labels["split"].unique().tolist())},
        "report": scored["report"],
        "report_all_tests": scored["report_all_tests"],
        "summary": summarise(scored["report"], scored["report_all_tests"]),
        "mom_bench_version": provenance.mom_bench_version(),
        "date": today or _dt.date.today().isoformat(),
    }
    if store_predictions:
        text = stored_predictions_text(pred)
        stored = path.with_name(f"{slug}.predictions.csv")
        stored.parent.mkdir(parents=True, exist_ok=True)
        stored.write_text(text, encoding="utf-8")
        entry["predictions"]["stored"] = stored.name
        entry["predictions"]["stored_sha256"] = hashlib.sha256(text.encode()).hexdigest()
    bad = schema.validate(entry, schema.ENTRY_REPRODUCED)
    if bad:  # our own output must satisfy our own schema; fail loudly rather than publish a broken entry
        raise RuntimeError("internal error: the new entry breaks the entry schema: " + "; ".join(bad[:5]))
    write_json_atomic(path, entry)
    return path


def entry_from_evaluation(results_dir: Path | str, meta: Path | str | dict | None = None, *,
                          root: Path | str = "leaderboard", data_dir: Path | str | None = None,
                          benchmark: str | None = None, replace: bool = False, **kwargs) -> Path:
    """Turn a ``mom-bench evaluate`` results folder into a reproduced entry (``evaluate --submit``).

    Reads ``results.json`` (benchmark, version, dataset fingerprint and folder, model) and
    ``predictions.csv``. Metadata fields the run knows are filled in when ``meta`` lacks them (model name,
    registry name, parameter count, benchmark version, fingerprint, date), so ``meta`` only has to add
    authors, contact, licence and the training declaration. The entry is scored with the run's bootstrap
    settings and must reproduce the run's metrics exactly; a predictions.csv edited after the run is refused.
    """
    results_dir = Path(results_dir)
    results_file = results_dir / "results.json"
    if not results_file.is_file():
        raise SubmissionRejected([f"{results_dir}: no results.json (is this a `mom-bench evaluate` output?)"])
    try:
        results = json.loads(results_file.read_text(encoding="utf-8"))
    except ValueError as err:
        raise SubmissionRejected([f"{results_file}: not valid JSON ({err})"]) from None
    bench = results.get("benchmark")
    bench = bench if isinstance(bench, dict) else {"name": bench}
    name = bench.get("name")
    if not isinstance(name, str):
        raise SubmissionRejected([f"{results_file}: does not name its benchmark"])
    if benchmark and benchmark != name:
        raise SubmissionRejected([f"{results_file}: the run is on {name!r}, not {benchmark!r}"])
    if meta is None or isinstance(meta, dict):
        meta_data = dict(meta or {})
    else:
        loaded, problems = load_meta(meta)
        if loaded is None:
            raise SubmissionRejected(problems)
        meta_data = loaded
    model = results.get("model") if isinstance(results.get("model"), dict) else {}
    defaults = {
        "model_name": model.get("name"),
        "registry_model": model.get("name"),
        "parameters": _parameter_count(model.get("name")),
        "benchmark_version": bench.get("version"),
        "dataset_fingerprint": bench.get("fingerprint"),
        "date": _dt.date.today().isoformat(),
    }
    for key, value in defaults.items():
        if meta_data.get(key) in (None, "") and value not in (None, ""):
            meta_data[key] = value
    run_metrics = results.get("metrics") if isinstance(results.get("metrics"), dict) else {}
    for key in ("n_bootstrap", "seed"):
        if key not in kwargs and isinstance(run_metrics.get(key), int):
            kwargs[key] = run_metrics[key]
    fp = bench.get("fingerprint")
    path = submit(results_dir / "predictions.csv", meta_data, name, data_dir=data_dir or bench.get("dataset"),
                  root=root, replace=replace, expect_fingerprint=fp if isinstance(fp, str) else None, **kwargs)
    entry = json.loads(path.read_text(encoding="utf-8"))
    same_settings = (run_metrics.get("threshold") == 0.5 and run_metrics.get("n_bootstrap") == entry["scoring"]["n_bootstrap"]
                     and run_metrics.get("seed") == entry["scoring"]["seed"]
                     and sorted(run_metrics.get("splits", {})) == entry["scoring"]["splits"])
    if same_settings and not same_numbers(jsonable(run_metrics.get("splits")), entry["report"].get("splits")):
        path.unlink()
        stored = entry["predictions"].get("stored")
        if stored:
            path.with_name(stored).unlink(missing_ok=True)
        raise SubmissionRejected([f"{results_dir}/predictions.csv does not reproduce the metrics in results.json "
                                  "(edited after the run?)"])
    return path


def _parameter_count(model_name: Any) -> int | None:
    if not isinstance(model_name, str):
        return None
    try:
        return int(registry.resolve(model_name).parameter_count())
    except Exception:  # unknown to this registry or not countable here: the submitter states it
        return None


def _first(data: dict, *paths: tuple[str, ...]):
    for path in paths:
        node: Any = data
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if node is not None:
            return node
    return None


def describe(entry: dict) -> str:
    """A few lines for the terminal after a successful submission."""
    s = entry["summary"]

    fmt = stat

    lines = [f"{entry['model_name']} on {entry['benchmark']} {entry['benchmark_version']} "
             f"({entry['predictions']['n_rows']} predictions)",
             f"  F1 {fmt(s.get('f1'))}   F1 ID {fmt(s.get('f1_id'))}   F1 OOD {fmt(s.get('f1_ood'))}   "
             f"AUC {fmt(s.get('auc'))}   EER {fmt(s.get('eer'))}"]
    for gen, m in s.get("per_generator", {}).items():
        lines.append(f"  {gen:<24} F1 {fmt(m.get('f1'))}   TPR {fmt(m.get('tpr'))}")
    return "\n".join(lines)
