"""Turn a predictions file plus its metadata into a scored leaderboard entry.

A submission is untrusted data from a stranger. Nothing in it is executed: CSV is parsed by the csv
module, Parquet by pyarrow, metadata by ``yaml.safe_load``/``json``; pickles and archives are refused by
their magic bytes before any parser sees them, sizes are checked before reading and every budget of
:class:`Limits` while streaming (a Parquet file is judged from its footer first), and the entry's file name
is sanitised and written only through real folders inside ``entries/<benchmark>/``. Every problem found
is collected, so the submitter sees the whole list at once instead of fixing one error per attempt.

Labels never come from the submission: they are read from the built dataset, which is verified against
its build report first (``verify_build``) and whose benchmark version and fingerprint must match what the
submission claims. Nothing is written until everything is checked and scored; then the entry and its
stored predictions are swapped in together, one writer at a time per leaderboard folder.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mom_bench.core import provenance, settings
from mom_bench.core.errors import MetricsError, MomBenchError, UnknownModelError, UnsafePath
from mom_bench.core.files import sha256_file, writer_lock
from mom_bench.core.formatting import stat
from mom_bench.dataset import protocols
from mom_bench.dataset.read import verify_build
from mom_bench.leaderboard import matrix_document, schema
from mom_bench.leaderboard.board import run_text
from mom_bench.leaderboard.entry_files import (
    check_slug,
    entries_dir,
    entry_path,
    entry_text,
    is_stored_document,
    slugify,
    stored_matrix_name,
    stored_predictions_text,
    stored_robustness_name,
    swap_in,
)
from mom_bench.leaderboard.localisation import localisation_block, stored_timeline_name
from mom_bench.leaderboard.matrix_claim import DEFAULT_MATRIX_LIMITS, MatrixLimits, matrix_claim
from mom_bench.leaderboard.robustness_claim import robustness_claim
from mom_bench.leaderboard.scoring import (
    SubmissionRejected,
    benchmark_test_splits,
    check_predictions,
    dataset_labels,
    jsonable,
    same_numbers,
    score,
    summarise,
)
from mom_bench.leaderboard.submission_files import DEFAULT_LIMITS, Limits, load_meta, load_predictions
from mom_bench.leaderboard.timeline_files import (
    DEFAULT_TIMELINE_LIMITS,
    TimelineLimits,
    check_timeline,
    is_timeline,
    load_timeline,
    song_scores,
    timeline_text,
)
from mom_bench.models import registry
from mom_bench.report.metrics import registry as metric_registry

__all__ = ["submit", "entry_from_evaluation", "rescore", "describe", "run_settings", "Limits", "MatrixLimits",
           "SubmissionRejected",
           "check_predictions", "dataset_labels", "entries_dir", "entry_path", "load_meta", "load_predictions",
           "same_numbers", "score", "slugify", "stored_predictions_text", "summarise", "entry_text"]

#: Bootstrap resamples allowed: each one re-scores every test row, so the count bounds the work.
MAX_BOOTSTRAP = 10_000


@dataclass
class _Prepared:
    """A checked and scored submission, not yet written: ``path`` and, when kept, ``predictions_text``, the
    robustness document's ``robustness_text`` and the cross-corpus matrix's ``matrix_text``."""

    root: Path
    path: Path
    entry: dict
    predictions_text: str | None
    robustness_text: str | None = None
    matrix_text: str | None = None
    timeline_text: str | None = None


def submit(predictions: Path | str, meta: Path | str | dict, benchmark: str, data_dir: Path | str | None = None,
           root: Path | str = "leaderboard", *, replace: bool = False, store_predictions: bool = True,
           limits: Limits = DEFAULT_LIMITS, n_bootstrap: int = 1000, seed: int = 0, today: str | None = None,
           expect_fingerprint: str | None = None, partial: bool = False, matrix: Path | str | None = None,
           matrix_data: Sequence[Path | str] = (), matrix_limits: MatrixLimits = DEFAULT_MATRIX_LIMITS,
           timeline_limits: TimelineLimits = DEFAULT_TIMELINE_LIMITS) -> Path:
    """Validate, score and write ``<root>/entries/<benchmark>/<slug>.json``; returns its path.

    ``predictions`` is song-level (``id,score``) or a timeline (``id,start,end,p_fake`` per scored window; told
    apart by its header, :func:`~mom_bench.leaderboard.timeline_files.is_timeline`). A timeline's song-level rows
    are each song's highest window P(fake), and the entry carries its localisation metrics against the build's
    segments (``localisation``), the checked timeline kept beside it as ``<slug>.timeline.csv``.

    Raises ``SubmissionRejected`` listing every problem when anything is wrong; nothing is written then.
    ``partial`` (or ``partial: true`` in the metadata) accepts predictions that leave out whole test splits;
    the entry is then scored on the splits it covers and marked partial. With ``replace``, an existing
    reproduced entry of the same slug and its stored predictions are swapped for the new ones only once
    everything is checked; any failure leaves them as they were. Writers of one leaderboard folder take
    turns: another one writing there at the same time makes this raise ``FolderBusy``.

    ``matrix`` is a folder written by ``mom-bench matrix``: it is checked and re-scored
    (:func:`~mom_bench.leaderboard.matrix_claim.matrix_claim`, within ``matrix_limits``), its rows compared
    with the builds at hand (``data_dir``, the ``matrix_data`` folders, the default folder of each set's
    benchmark), and the entry carries its summary, the compact document kept beside it as
    ``<slug>.matrix.json``.
    """
    prepared = _prepare(predictions, meta, benchmark, data_dir, root, replace=replace,
                        store_predictions=store_predictions, limits=limits, n_bootstrap=n_bootstrap, seed=seed,
                        today=today, expect_fingerprint=expect_fingerprint, partial=partial, matrix=matrix,
                        matrix_data=matrix_data, matrix_limits=matrix_limits, timeline_limits=timeline_limits)
    return _write(prepared, replace=replace)


def _settings_problems(n_bootstrap: Any, seed: Any) -> list[str]:
    problems = []
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, int) or not 1 <= n_bootstrap <= MAX_BOOTSTRAP:
        problems.append(f"n_bootstrap {n_bootstrap!r}: expected a whole number from 1 to {MAX_BOOTSTRAP:,}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 32:
        problems.append(f"seed {seed!r}: expected a whole number from 0 to {2 ** 32 - 1:,}")
    return problems


def _prepare(predictions: Path | str, meta: Path | str | dict, benchmark: str, data_dir: Path | str | None,
             root: Path | str, *, replace: bool, store_predictions: bool, limits: Limits, n_bootstrap: int,
             seed: int, today: str | None, expect_fingerprint: str | None, partial: bool,
             matrix: Path | str | None = None, matrix_data: Sequence[Path | str] = (),
             matrix_limits: MatrixLimits = DEFAULT_MATRIX_LIMITS,
             timeline_limits: TimelineLimits = DEFAULT_TIMELINE_LIMITS) -> _Prepared:
    """Every check of a submission, then its scoring; nothing is written. Raises SubmissionRejected."""
    problems: list[str] = _settings_problems(n_bootstrap, seed)
    meta_data, meta_problems = load_meta(meta, limits)
    problems += meta_problems
    windows = None
    if is_timeline(predictions):
        windows, pinfo, pred_problems = load_timeline(predictions, timeline_limits)
        pred = windows  # what the split coverage reads (its ids); the song-level rows are made once it is checked
    else:
        pred, pinfo, pred_problems = load_predictions(predictions, limits)
    problems += pred_problems
    protocol = _shipped_protocol(benchmark, problems)
    data_dir = Path(data_dir) if data_dir else settings.default_dataset_dir(benchmark)
    info, labels = _verified_labels(data_dir, benchmark, protocol, problems) if protocol is not None else (None, None)
    if meta_data is not None:
        problems += _claim_problems(meta_data, info, protocol, benchmark, expect_fingerprint)
    omitted: list[str] = []
    if pred is not None and labels is not None and protocol is not None:
        declared_partial = partial or (meta_data or {}).get("partial") is True
        labels, omitted, split_problems = _covered(pred, labels, benchmark_test_splits(protocol), declared_partial,
                                                   f"predictions {pinfo['file']}", data_dir)
        problems += split_problems
        if windows is not None:
            problems += check_timeline(windows, set(labels["id"]), f"timeline {pinfo['file']}",
                                       "line" if pinfo["format"] == "csv" else "row")
        else:
            problems += check_predictions(pred, labels, f"predictions {pinfo['file']}",
                                          "line" if pinfo["format"] == "csv" else "row")
    slug = path = None
    if meta_data is not None and not meta_problems:
        slug, path = _entry_target(meta_data, root, benchmark, replace, problems)
    claim = None
    if matrix is not None:
        try:
            claim = matrix_claim(matrix, matrix_data, known={data_dir: info} if info else None, limits=matrix_limits)
        except SubmissionRejected as err:
            problems += err.problems
    if problems:
        raise SubmissionRejected(problems)
    # with no problem found, every part was read (each None above comes with a problem)
    assert pred is not None and labels is not None and meta_data is not None and path is not None and info is not None
    assert slug is not None

    if windows is not None:
        pred = song_scores(windows)
    scored = score(pred, labels, n_bootstrap=n_bootstrap, seed=seed)
    entry = _new_entry(benchmark, slug, info, meta_data, pinfo, pred, labels, scored, omitted=omitted,
                       n_bootstrap=n_bootstrap, seed=seed, today=today)
    text = None
    if store_predictions:
        text = stored_predictions_text(pred)
        entry["predictions"]["stored"] = f"{slug}.predictions.csv"
        entry["predictions"]["stored_sha256"] = hashlib.sha256(text.encode("utf-8")).hexdigest()
    timeline = None
    if windows is not None:
        entry["localisation"] = localisation_block(windows, labels, data_dir, n_bootstrap=n_bootstrap, seed=seed)
        entry["localisation"].update(file_sha256=pinfo["sha256"], format=pinfo["format"], stored=None,
                                     stored_sha256=None)
        if store_predictions:
            timeline = timeline_text(windows)
            entry["localisation"].update(stored=stored_timeline_name(slug),
                                         stored_sha256=hashlib.sha256(timeline.encode("utf-8")).hexdigest())
    if claim is not None:
        entry["matrix"] = {"stored": stored_matrix_name(slug),
                           "stored_sha256": hashlib.sha256(claim.text.encode("utf-8")).hexdigest(), **claim.block}
    bad = schema.text_problems(entry) + schema.validate(entry, schema.entry_schema("reproduced"))
    if bad:  # our own output must satisfy our own schema; fail loudly rather than publish a broken entry
        raise RuntimeError("internal error: the new entry breaks the entry schema: " + "; ".join(bad[:5]))
    return _Prepared(Path(root), path, entry, text, matrix_text=claim.text if claim else None,
                     timeline_text=timeline)



def _shipped_protocol(benchmark: str, problems: list[str]) -> protocols.BenchmarkProtocol | None:
    """The shipped benchmark of that name, or None with the reason added to ``problems``."""
    try:
        protocol = protocols.load(benchmark)
        if protocol.name != benchmark:
            raise ValueError(f"benchmark {benchmark!r} must be a shipped benchmark name")
    except ValueError as err:  # ProtocolError included
        problems.append(f"benchmark: {err}")
        return None
    return protocol


def _verified_labels(data_dir: Path, benchmark: str, protocol: protocols.BenchmarkProtocol,
                     problems: list[str]) -> tuple[dict | None, pd.DataFrame | None]:
    """``(build info, test labels)`` of the build at ``data_dir``, each None with its reason added to
    ``problems`` when the build is not a verified, current build of ``benchmark``."""
    try:
        # the shards are re-read and compared with the build report: labels edited, rows added or a
        # split's shard deleted after the build would otherwise be scored as if they were the benchmark
        info = verify_build(data_dir)
    except (MomBenchError, OSError, ValueError) as err:  # not a build, tampered, or shards unreadable
        problems.append(f"dataset {data_dir}: {err}")
        return None, None
    if info.get("benchmark") != benchmark:
        problems.append(f"dataset {data_dir}: it is a build of {info.get('benchmark')!r}, not {benchmark!r}")
        return info, None
    if str(info.get("benchmark_version")) != protocol.version:
        problems.append(f"dataset {data_dir}: built for {benchmark} version {info.get('benchmark_version')}, "
                        f"but this mom-bench defines version {protocol.version}: rebuild it")
        return info, None
    labels = dataset_labels(data_dir)
    if labels.empty:
        problems.append(f"dataset {data_dir}: no test rows (splits "
                        f"{', '.join(benchmark_test_splits(protocol))})")
        return info, None
    return info, labels


def _claim_problems(meta_data: dict, info: dict | None, protocol: protocols.BenchmarkProtocol | None, benchmark: str,
                    expect_fingerprint: str | None) -> list[str]:
    """What the metadata (and the evaluation it came from) claims about the data that the build contradicts."""
    problems = []
    if info is not None:
        claimed = meta_data.get("benchmark_version")
        if claimed is not None and str(claimed) != str(info.get("benchmark_version")):
            problems.append(f"meta: benchmark_version {claimed!r} does not match the dataset's "
                            f"{info.get('benchmark_version')!r}")
        fingerprints = {"meta": meta_data.get("dataset_fingerprint"), "evaluation": expect_fingerprint}
        for origin, fp in fingerprints.items():
            if fp and fp != info.get("fingerprint"):
                problems.append(f"{origin}: dataset fingerprint {str(fp)[:12]}... does not match the dataset's "
                                f"{str(info.get('fingerprint'))[:12]}... (a different build of the data)")
    if protocol is not None and protocol.ood_generators:
        training = meta_data.get("training_data")
        # a non-object training_data is already reported by the schema check; do not crash on it
        declared = training.get("only_in_distribution_generators") if isinstance(training, dict) else None
        if declared is False:
            problems.append(f"meta: training_data.only_in_distribution_generators must be true on {benchmark}: "
                            "a model trained on the held-out generators cannot be ranked here")
    return problems


def _entry_target(meta_data: dict, root: Path | str, benchmark: str, replace: bool,
                  problems: list[str]) -> tuple[str | None, Path | None]:
    """``(slug, path)`` the entry will be written to; a None with the reason added to ``problems`` when the
    slug is not plain, the path is unsafe, or what is there may not be replaced."""
    slug = meta_data.get("slug") or slugify(str(meta_data.get("model_name", "")))
    try:
        check_slug(slug)
    except UnsafePath as err:
        problems.append(f"meta: {err}")
        return slug, None
    try:
        path = entry_path(root, benchmark, slug)
        _check_replaceable(path, replace)
    except UnsafePath as err:
        problems.append(str(err))
        return slug, None
    except SubmissionRejected as err:
        problems += err.problems
        return slug, None
    return slug, path


def _new_entry(benchmark: str, slug: str, info: dict, meta_data: dict, pinfo: dict, pred: pd.DataFrame,
               labels: pd.DataFrame, scored: dict, *, omitted: list[str], n_bootstrap: int, seed: int,
               today: str | None) -> dict[str, Any]:
    """The reproduced entry of checked and scored predictions (its stored predictions not yet named)."""
    return {
        "schema_version": schema.SCHEMA_VERSION,
        "kind": "reproduced",
        "benchmark": benchmark,
        "benchmark_version": str(info["benchmark_version"]),
        "dataset_fingerprint": info["fingerprint"],
        "label_fingerprint": info["label_fingerprint"],
        "partial": bool(omitted),
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


def _covered(pred, labels, required: list[str], partial: bool, where: str, data_dir: Path):
    """Restrict ``labels`` to the test splits the predictions cover; returns ``(labels, omitted, problems)``.

    A split none of whose ids is predicted is omitted: allowed only when the submission is declared partial,
    so a file that silently leaves out ``test_ood`` can never be ranked on ``test_id`` alone."""
    covered = set(labels.loc[labels["id"].isin(set(pred["id"].astype(str))), "split"])
    omitted = [s for s in required if s not in covered]
    if not covered:  # nothing matches: report every id as missing against the whole test set
        return labels, omitted, []
    if omitted and not partial:
        problems = []
        for split in omitted:
            n = int((labels["split"] == split).sum())
            held = (f"none of its {n} ids has a prediction" if n else
                    f"the build at {data_dir} holds no {split} rows, so it cannot be scored there")
            problems.append(f"{where}: test split {split!r} is left out ({held}); predict every test split, or "
                            "declare the submission partial (`partial: true` in the metadata, or --partial)")
        return labels, omitted, problems
    return labels[labels["split"].isin(covered)].reset_index(drop=True), omitted, []


def _check_replaceable(path: Path, replace: bool) -> dict | None:
    """The entry ``path`` holds now, if it may be replaced; raises SubmissionRejected otherwise.

    Only a reproduced entry (what submit writes) is ever replaced, and only with ``replace``: a reported
    row, a file that is not an entry, or a symlink stays where it is."""
    if path.is_symlink():
        raise SubmissionRejected([f"entry {path} is a symlink; mom-bench does not write through links: remove it"])
    if not path.exists():
        return None
    if not replace:
        raise SubmissionRejected([f"entry {path} already exists: choose another slug, or pass --replace to overwrite"])
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise SubmissionRejected([f"entry {path} is not a readable entry ({type(err).__name__}); it is not "
                                  "replaced: move it away first"]) from None
    if not isinstance(old, dict) or old.get("kind") != "reproduced":
        kind = old.get("kind") if isinstance(old, dict) else type(old).__name__
        raise SubmissionRejected([f"entry {path} is a {kind!s} entry, not a reproduced one; --replace replaces "
                                  "only entries made by submit: choose another slug"])
    return old


def _write(prepared: _Prepared, *, replace: bool) -> Path:
    """Swap the entry and its stored predictions in, holding the leaderboard's writer lock.

    Everything was checked before; what may have changed since (another writer, a planted symlink) is
    checked again under the lock, then the predictions and the entry go in together (``swap_in``)."""
    path, entry = prepared.path, prepared.entry
    with writer_lock(prepared.root, "submit"):
        try:
            entry_path(prepared.root, entry["benchmark"], entry["slug"])
            old = _check_replaceable(path, replace)
        except UnsafePath as err:
            raise SubmissionRejected([str(err)]) from None
        changes: list[tuple[Path, str | None]] = []
        stored = path.with_name(f"{entry['slug']}.predictions.csv")
        robustness = path.with_name(stored_robustness_name(entry["slug"]))
        matrix = path.with_name(stored_matrix_name(entry["slug"]))
        timeline = path.with_name(stored_timeline_name(entry["slug"]))
        if prepared.predictions_text is not None:
            changes.append((stored, prepared.predictions_text))
        if prepared.timeline_text is not None:
            changes.append((timeline, prepared.timeline_text))
        if prepared.robustness_text is not None:
            changes.append((robustness, prepared.robustness_text))
        if prepared.matrix_text is not None:
            changes.append((matrix, prepared.matrix_text))
        changes.append((path, entry_text(entry)))
        if prepared.predictions_text is None and _old_stored(old, "predictions") == stored.name:
            changes.append((stored, None))  # the replaced entry's own predictions, no longer referred to
        if prepared.robustness_text is None and _old_stored(old, "robustness") == robustness.name:
            changes.append((robustness, None))  # the replaced entry's robustness document, likewise
        if prepared.matrix_text is None and _old_stored(old, "matrix") == matrix.name:
            changes.append((matrix, None))  # and its matrix
        if prepared.timeline_text is None and _old_stored(old, "localisation") == timeline.name:
            changes.append((timeline, None))  # and its timeline
        swap_in(changes)
    return path


def _old_stored(old: dict | None, part: str) -> Any:
    """The file name the replaced entry ``old`` gives for its ``part`` ("predictions", "robustness", "matrix"),
    if any."""
    held = (old or {}).get(part)
    return held.get("stored") if isinstance(held, dict) else None


def entry_from_evaluation(results_dir: Path | str, meta: Path | str | dict | None = None, *,
                          root: Path | str = "leaderboard", data_dir: Path | str | None = None,
                          benchmark: str | None = None, replace: bool = False, **kwargs) -> Path:
    """Turn a ``mom-bench evaluate`` results folder into a reproduced entry (``evaluate --submit``).

    Reads ``results.json`` (benchmark, version, dataset fingerprint and folder, model) and
    ``predictions.csv``. Metadata fields the run knows are filled in when ``meta`` lacks them (model name,
    registry name, parameter count, benchmark version, fingerprint, date), so ``meta`` only has to add
    authors, contact, licence and the training declaration. The entry is scored with the run's bootstrap
    settings and must reproduce the run's metrics exactly; a predictions.csv edited after the run is refused
    before anything is written, so a previous entry of the same slug stays as it was. When the run had a
    robustness suite (``robustness/robustness.json``), its summary goes into the entry as the submitter's
    claim once it equals the summary recomputed from that document (:func:`robustness_claim`), and the document
    is stored beside the entry (``<slug>.robustness.json``) for ``leaderboard validate``.
    """
    results_dir = Path(results_dir)
    results_file = results_dir / "results.json"
    if not results_file.is_file():
        raise SubmissionRejected([f"{results_dir}: no results.json (is this a `mom-bench evaluate` output?)"])
    if results_file.stat().st_size > 64 * 1024 * 1024:
        raise SubmissionRejected([f"{results_file}: over 64 MiB, not a results file of `mom-bench evaluate`"])
    try:
        results = json.loads(results_file.read_text(encoding="utf-8"))
    except ValueError as err:
        raise SubmissionRejected([f"{results_file}: not valid JSON ({err})"]) from None
    if not isinstance(results, dict):
        raise SubmissionRejected([f"{results_file}: expected a JSON object"])
    named = results.get("benchmark")
    bench: dict[str, Any] = named if isinstance(named, dict) else {"name": named}
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
    model: dict[str, Any] = results["model"] if isinstance(results.get("model"), dict) else {}
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
    run_metrics: dict[str, Any] = results["metrics"] if isinstance(results.get("metrics"), dict) else {}
    for key in ("n_bootstrap", "seed"):
        if key not in kwargs and isinstance(run_metrics.get(key), int):
            kwargs[key] = run_metrics[key]
    fp = bench.get("fingerprint")
    options = {"store_predictions": True, "limits": DEFAULT_LIMITS, "n_bootstrap": 1000, "seed": 0, "today": None,
               "partial": False, "matrix": None, "matrix_data": (), "matrix_limits": DEFAULT_MATRIX_LIMITS, **kwargs}
    dataset = data_dir or bench.get("dataset")
    prepared = _prepare(results_dir / "predictions.csv", meta_data, name,
                        dataset if isinstance(dataset, (str, Path)) else None, root, replace=replace,
                        expect_fingerprint=fp if isinstance(fp, str) else None, **options)
    entry = prepared.entry
    entry["run"] = run_settings(results, results_file)
    claim = robustness_claim(results_dir, results, entry)
    if claim is not None:
        entry["robustness"] = {**claim.claim, "stored": stored_robustness_name(entry["slug"])}
        prepared.robustness_text = claim.text
    bad = schema.validate(entry, schema.entry_schema("reproduced"))
    if bad:  # the claim and the run were checked against the same schema; anything else is our own bug
        raise RuntimeError("internal error: the new entry breaks the entry schema: " + "; ".join(bad[:5]))
    same_settings = (run_metrics.get("threshold") == 0.5
                     and run_metrics.get("n_bootstrap") == entry["scoring"]["n_bootstrap"]
                     and run_metrics.get("seed") == entry["scoring"]["seed"]
                     and isinstance(run_metrics.get("splits"), dict)
                     and sorted(run_metrics["splits"]) == entry["scoring"]["splits"])
    # evaluate adds per_decoder_family (from the build's protocol), which entries do not carry; no other number
    # of its report depends on it, so the rest must match the re-scoring exactly
    run_splits = {name: {k: v for k, v in s.items() if k != "per_decoder_family"} if isinstance(s, dict) else s
                  for name, s in (run_metrics.get("splits") or {}).items()} if same_settings else {}
    if same_settings and not same_numbers(jsonable(run_splits), entry["report"].get("splits")):
        raise SubmissionRejected([f"{results_dir}/predictions.csv does not reproduce the metrics in results.json "
                                  "(edited after the run?)"])
    return _write(prepared, replace=replace)


def run_settings(results: dict, results_file: Path) -> dict[str, Any]:
    """The precision, batch size and clip results.json records under ``model`` (:data:`schema.RUN`; None
    where it does not, as older results lack batch_size and clip). Raises SubmissionRejected naming the field
    when a recorded value is not one evaluate writes."""
    model: dict[str, Any] = results["model"] if isinstance(results.get("model"), dict) else {}
    run = {key: model.get(key) for key in schema.RUN["required"]}
    found = schema.text_problems(run) + schema.validate(run, schema.RUN)
    if found:
        raise SubmissionRejected([f"{results_file}: model{p}" for p in found])
    return run


def rescore(benchmark: str, data_dir: Path | str | None = None, root: Path | str = "leaderboard") -> list[Path]:
    """Score every reproduced entry of ``benchmark`` again from its stored predictions, with this mom-bench's
    metrics, and rewrite its numbers (``report``, ``report_all_tests``, ``summary``) and ``mom_bench_version``;
    everything else in the entry is kept (a ``robustness`` claim too: it does not come from the predictions). A
    cross-corpus matrix is re-scored from its stored document, hash-checked, and its summary rewritten (and the
    document's thresholds, should this version choose others on the same validation rows).
    For when the metrics change: ``leaderboard validate`` then finds the entries identical again. Returns the
    entries rewritten.

    The build is verified and must hold each entry's labels (its ``label_fingerprint``, or for older entries
    its ``dataset_fingerprint``); each stored predictions file must have its recorded hash. Every entry is
    checked and scored first, under the leaderboard's writer lock: on any problem ``SubmissionRejected``
    lists them all and no file is changed; otherwise all entries are swapped in together."""
    data_dir = Path(data_dir) if data_dir else settings.default_dataset_dir(benchmark)
    try:
        info = verify_build(data_dir)
    except (MomBenchError, OSError, ValueError) as err:  # not a build, tampered, or shards unreadable
        raise SubmissionRejected([f"dataset {data_dir}: {err}"]) from None
    if info.get("benchmark") != benchmark:
        raise SubmissionRejected([f"dataset {data_dir}: it is a build of {info.get('benchmark')!r}, not {benchmark!r}"])
    folder = entries_dir(root, benchmark)
    with writer_lock(root, "rescore"):
        problems: list[str] = []
        changes: list[tuple[Path, str | None]] = []
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            if is_stored_document(path):
                continue
            try:
                entry = _rescored(path, info, data_dir)
                if entry is not None and entry.get("matrix"):
                    changes += _rescored_matrix(path, entry)
            except SubmissionRejected as err:
                problems += err.problems
                continue
            if entry is not None:
                changes.append((path, entry_text(entry)))
        if problems:
            raise SubmissionRejected(problems)
        swap_in(changes)
    return [path for path, _ in changes if not is_stored_document(path)]


def _rescored_matrix(path: Path, entry: dict) -> list[tuple[Path, str | None]]:
    """The entry's matrix summary recomputed from its stored document (updated in ``entry``), and the document
    itself when the thresholds re-chosen on its validation rows are no longer those it keeps."""
    claim = entry["matrix"]
    doc, problems = matrix_document.read_stored(path, claim)
    if doc is None:
        raise SubmissionRejected([f"{path}: {p}" for p in problems])
    try:
        again = matrix_document.rescore(doc)
    except MetricsError as err:
        raise SubmissionRejected([f"{path}: matrix from {claim['stored']}: cannot be re-scored: {err}"]) from None
    fresh = matrix_document.summary(doc, again, claim["unchecked_sets"])
    claim.update({key: fresh[key] for key in matrix_document.SUMMARY_FIELDS})
    if not matrix_document.threshold_differences(doc, again):
        return []
    for t in doc["training_sets"]:
        t["thresholds"] = matrix_document.threshold_values(again.thresholds[t["name"]])
    text = matrix_document.document_text(doc)
    claim["stored_sha256"] = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return [(path.with_name(claim["stored"]), text)]


def _rescored(path: Path, info: dict, data_dir: Path) -> dict | None:
    """The entry at ``path`` with its numbers scored again; None for a reported entry."""
    if path.is_symlink():
        raise SubmissionRejected([f"{path}: a symlink; entries must be regular files"])
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise SubmissionRejected([f"{path}: not a readable entry ({type(err).__name__})"]) from None
    if not isinstance(entry, dict) or entry.get("kind") != "reproduced":
        return None
    bad = schema.validate(entry, schema.entry_schema("reproduced"))
    if bad:
        raise SubmissionRejected([f"{path}: {p}" for p in bad])
    own, theirs = ((entry["label_fingerprint"], info["label_fingerprint"]) if entry.get("label_fingerprint")
                   else (entry["dataset_fingerprint"], info["fingerprint"]))
    if own != theirs:
        raise SubmissionRejected([f"{path}: scored on other labels than the build at {data_dir} holds (fingerprint "
                                  f"{own[:12]}..., build {theirs[:12]}...)"])
    stored = entry["predictions"].get("stored")
    pred_path = path.with_name(stored) if stored else None
    if pred_path is None or pred_path.is_symlink() or not pred_path.is_file():
        raise SubmissionRejected([f"{path}: no stored predictions to score again"])
    digest = sha256_file(pred_path)
    if digest != entry["predictions"].get("stored_sha256"):
        raise SubmissionRejected([f"{pred_path}: sha256 {digest[:12]}... is not the one the entry recorded"])
    pred, _, problems = load_predictions(pred_path)
    used = entry["scoring"]
    labels = dataset_labels(data_dir, splits=tuple(used["splits"]))
    if pred is not None:
        problems += check_predictions(pred, labels, str(pred_path))
    if problems or pred is None:
        raise SubmissionRejected([f"{path}: {p}" for p in problems])
    scored = score(pred, labels, threshold=used["threshold"], n_bootstrap=used["n_bootstrap"], seed=used["seed"])
    if entry.get("localisation"):
        entry["localisation"].update(_rescored_timeline(path, entry["localisation"], labels, data_dir))
    entry.update(report=scored["report"], report_all_tests=scored["report_all_tests"],
                 summary=summarise(scored["report"], scored["report_all_tests"]),
                 mom_bench_version=provenance.mom_bench_version(), label_fingerprint=info["label_fingerprint"])
    return entry


def _rescored_timeline(path: Path, claim: dict, labels: pd.DataFrame, data_dir: Path) -> dict[str, Any]:
    """An entry's localisation numbers scored again from its stored timeline (hash-checked)."""
    stored = claim.get("stored")
    timeline = path.with_name(stored) if stored else None
    if timeline is None or timeline.is_symlink() or not timeline.is_file():
        raise SubmissionRejected([f"{path}: no stored timeline to score its localisation again"])
    digest = sha256_file(timeline)
    if digest != claim.get("stored_sha256"):
        raise SubmissionRejected([f"{timeline}: sha256 {digest[:12]}... is not the one the entry recorded"])
    frame, _, problems = load_timeline(timeline)
    if frame is not None:
        problems += check_timeline(frame, set(labels["id"]), str(timeline))
    if problems or frame is None:
        raise SubmissionRejected([f"{path}: {p}" for p in problems])
    return localisation_block(frame, labels, data_dir, n_bootstrap=claim["n_bootstrap"], seed=claim["seed"])


def _parameter_count(model_name: Any) -> int | None:
    if not isinstance(model_name, str):
        return None
    try:
        spec = registry.resolve(model_name)
    except UnknownModelError:  # not a row of this registry: the submitter states the count
        return None
    try:
        return int(spec.parameter_count())
    except Exception:  # a plugin's class that cannot be built here (third-party code): the submitter states it
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
             f"  F1 {fmt(s.get('f1'))}   " + "   ".join(f"{c.header} {fmt(s.get(c.key))}"
                                                      for c in metric_registry.board_columns() if c.brief)]
    point, worst = s.get("tpr_at_1pct_fpr"), s.get("worst_source_fpr")
    if point or worst:
        lines.append(f"  TPR@1%FPR {fmt(point)}" + ("" if not point or point["resolvable"] else
                                                     f" (only {point['n_real']} test reals)")
                     + (f"   worst source FPR {fmt(worst)} ({_terminal(worst['source'])})" if worst else ""))
    pool = s.get("worst_real_pool")
    if pool:
        lines.append(f"  worst real pool AUC {fmt(pool)} ({_terminal(pool['pool'])} on {_terminal(pool['split'])}, "
                     f"{pool['n_real']} reals)")
    for gen, m in s.get("per_generator", {}).items():
        lines.append(f"  {gen:<24} F1 {fmt(m.get('f1'))}   TPR {fmt(m.get('tpr'))}")
    run = entry.get("run")
    if run:
        lines.append("  run: " + run_text(run))
    grid = entry.get("matrix")
    if grid:
        worst, lowest = grid["worst_fpr_carried_5pct"], grid["lowest_auc_off_home"]
        lines.append(f"  cross-corpus matrix of {_terminal(grid['model'])}: {len(grid['cells'])} cells re-scored"
                     + (f"; off the home set, worst FPR at the carried 5 % threshold {fmt(worst)} "
                        f"({_terminal(worst['train'])} -> {_terminal(worst['test'])})" if worst else "")
                     + (f", lowest AUC {fmt(lowest)} ({_terminal(lowest['train'])} -> {_terminal(lowest['test'])})"
                        if lowest else ""))
        unchecked = [f"training set {_terminal(n)}" for n in grid["unchecked_sets"]["training_sets"]] + \
            [f"test set {_terminal(n)}" for n in grid["unchecked_sets"]["test_sets"]]
        if unchecked:
            lines.append("  matrix labels not checked (no build at hand; --matrix-data) for: " + ", ".join(unchecked))
    loc = entry.get("localisation")
    if loc:
        lines.append(f"  localisation ({loc['n_songs']} songs, {loc['n_windows']} windows, coverage "
                     f"{fmt(loc['coverage'])}): " + "   ".join(
                         f"{m.header} {fmt(loc['metrics'].get(m.key))}" for m in metric_registry.localisation_metrics()
                         if m.board and m.key in loc["metrics"]))
    robust = entry.get("robustness")
    if robust:
        lines.append(f"  robustness (reported by the run, suite {robust['suite']}): codec worst TPR "
                     f"{fmt({'value': robust['codec_worst_tpr']})}, mean |dP| "
                     f"{fmt({'value': robust['codec_mean_abs_dp']})}")
    return "\n".join(lines)


def _terminal(text: str) -> str:
    """A build's text for the terminal: control characters (escape sequences) shown as '?', shortened."""
    return re.sub(r"[\x00-\x1f\x7f]", "?", text)[:40]
