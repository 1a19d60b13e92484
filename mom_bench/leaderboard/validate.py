"""Check a whole leaderboard folder, for CI: ``mom-bench leaderboard validate``.

What is checked, all of it reported at once:

* every entry parses and matches its schema; its folder is a shipped benchmark and its file name its slug;
* no stray files, symlinks or leftovers of an interrupted write, no duplicate model names or identical
  prediction files within a benchmark;
* reproduced entries: their predictions are stored beside them and match their recorded hash, the summary
  (TPR at 1 % FPR, the per-source false-positive rates and the worst pool of reals included) matches the full
  report (a mismatch names the fields), and an entry that leaves out test splits says it is partial. A
  robustness summary is the submitter's claim: the schema bounds it, and it must equal the summary recomputed
  from the robustness.json stored beside the entry (whose sha256 the entry records), field by field; the
  transformed audio is not re-scored (a note says so). A cross-corpus matrix is re-scored from the document stored
  beside the entry (whose sha256 the entry records): thresholds re-chosen on its validation predictions, every
  cell re-scored with them carried, and the entry's summary must be the one recomputed, cell by cell; where a
  set's build is at hand (``data_dirs``, or the default build of its benchmark) its rows are compared with it.
  When
  the benchmark is built here (the build is verified first) with the entry's ``label_fingerprint`` (the ids,
  splits, labels and generators scoring reads, the same on every machine), the stored predictions are re-scored and
  every number must follow from them (an entry scored before reports had ``per_real_pool`` is compared without
  it, with a note); builds whose audio differs by machine (``dataset_fingerprint``) are still re-scored, with
  a note. An entry without a label fingerprint is re-scored when the dataset
  fingerprint matches. A label fingerprint that differs from a build of the same benchmark version is a
  problem; a build of another version, or none, is a note (a problem with ``require_rescore``);
* reported entries agree with the ``baselines/`` recipes they were imported from, both ways;
* LEADERBOARD.md, leaderboard.csv and index.html (and leaderboard_matrix.csv, where an entry has a matrix)
  equal a fresh rendering of the entries.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mom_bench.core import settings
from mom_bench.core.errors import MetricsError, UnsafePath
from mom_bench.core.files import read_regular, sha256_file
from mom_bench.dataset import protocols
from mom_bench.dataset.read import BuildTampered, verify_build
from mom_bench.leaderboard import (
    matrix_document,
    matrix_labels,
    render,
    robustness_claim,
    schema,
    scoring,
    submission_files,
)
from mom_bench.leaderboard.localisation import rescored_localisation
from mom_bench.leaderboard.reported import RecipeError, load_recipes, reported_entry


@dataclass
class ValidationResult:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    n_entries: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class _Build:
    """The local build of one benchmark, verified once for all its entries."""

    data_dir: Path
    info: dict | None = None
    missing: str | None = None  # why there is nothing to re-score with (a note)
    broken: str | None = None  # why the build cannot be trusted (a problem)


def validate_folder(root: Path | str = "leaderboard", *, data_dirs: dict[str, Path | str] | None = None,
                    baselines_dir: Path | str | None = None, recompute: bool = True,
                    check_rendered: bool = True, require_rescore: bool = False) -> ValidationResult:
    """Every check of the module docstring; ``require_rescore`` turns each "not re-scored" note into a
    problem (for CI that has the builds)."""
    root = Path(root)
    result = ValidationResult()
    entries_root = root / "entries"
    if not entries_root.is_dir() or entries_root.is_symlink():
        result.problems.append(f"{entries_root}: no entries folder" + (" (it is a symlink)"
                                                                      if entries_root.is_symlink() else ""))
        return result
    entries = _read_entries(entries_root, result)
    result.n_entries = len(entries)

    _duplicates(entries, result)
    stored_names = set()
    builds: dict[str, _Build] = {}
    for path, entry in entries.items():
        if entry["kind"] == "reproduced":
            stored = entry["predictions"].get("stored")
            if stored:
                stored_names.add(path.parent / stored)
            for part in ("robustness", "matrix", "localisation"):
                held = entry.get(part) or {}
                if held.get("stored"):
                    stored_names.add(path.parent / held["stored"])
            bench = entry["benchmark"]
            if bench not in builds:
                data_dir = (data_dirs or {}).get(bench) or settings.default_dataset_dir(bench)
                builds[bench] = _local_build(Path(data_dir), recompute)
            _check_reproduced(path, entry, builds[bench], recompute, require_rescore, result)
            if entry.get("matrix"):
                known = {b.data_dir: b.info for b in builds.values() if b.info is not None}
                _check_matrix(path, entry, known, recompute, require_rescore, result)
    for orphan in sorted(set(entries_root.glob("*/*.predictions.csv")) - stored_names):
        result.problems.append(f"{orphan}: predictions file that no entry refers to")
    for orphan in sorted(set(entries_root.glob(f"*/*{schema.ROBUSTNESS_SUFFIX}")) - stored_names):
        result.problems.append(f"{orphan}: robustness document that no entry refers to")
    for orphan in sorted(set(entries_root.glob(f"*/*{schema.MATRIX_SUFFIX}")) - stored_names):
        result.problems.append(f"{orphan}: matrix document that no entry refers to")
    for orphan in sorted(set(entries_root.glob(f"*/*{schema.TIMELINE_SUFFIX}")) - stored_names):
        result.problems.append(f"{orphan}: timeline that no entry refers to")

    if baselines_dir is not None and Path(baselines_dir).is_dir():
        _check_reported(entries, Path(baselines_dir), root, result)
    elif baselines_dir is not None:
        result.notes.append(f"{baselines_dir}: not found; reported rows not compared with their recipes")

    if check_rendered and not result.problems:
        fresh = render.render_texts(render.load_entries(root))
        if render.MATRIX_CSV not in fresh and (root / render.MATRIX_CSV).exists():
            result.problems.append(f"{root / render.MATRIX_CSV}: no entry has a matrix any more; run "
                                   "`mom-bench leaderboard render`")
        for name, text in fresh.items():
            target = root / name
            if not target.is_file():
                result.problems.append(f"{target}: missing; run `mom-bench leaderboard render`")
            elif target.read_text(encoding="utf-8") != text:
                result.problems.append(f"{target}: out of date with the entries; run `mom-bench leaderboard render`")
        if not (root / "per_generator_f1.png").is_file():
            result.problems.append(f"{root / 'per_generator_f1.png'}: missing; run `mom-bench leaderboard render`")
    return result


def _read_entries(entries_root: Path, result: ValidationResult) -> dict[Path, dict]:
    shipped = set(protocols.names())
    entries: dict[Path, dict] = {}
    for folder in sorted(p for p in entries_root.iterdir()):
        if folder.is_symlink():
            result.problems.append(f"{folder}: a symlink; entries live in real folders entries/<benchmark>/")
            continue
        if not folder.is_dir():
            result.problems.append(f"{folder}: unexpected file (entries live in entries/<benchmark>/)")
            continue
        if folder.name not in shipped:
            result.problems.append(f"{folder}: {folder.name!r} is not a benchmark of this mom-bench "
                                   f"({', '.join(sorted(shipped))})")
        for path in sorted(folder.iterdir()):
            if path.is_symlink():
                result.problems.append(f"{path}: a symlink; entries and stored predictions must be regular files")
            elif path.name.startswith(".") and path.name.endswith((".tmp", ".old")):
                result.problems.append(f"{path}: left over from an interrupted write (a new file not yet swapped "
                                       "in, or the kept copy of the file it replaced); compare it with its entry "
                                       "and remove it")
            elif path.name.endswith(schema.STORED_SUFFIXES):
                continue  # a stored robustness or matrix document, checked with the entry that refers to it
            elif path.suffix == ".json" and path.is_file():
                try:
                    entry = json.loads(path.read_text(encoding="utf-8"))
                except (OSError, ValueError) as err:
                    result.problems.append(f"{path}: not valid JSON ({err})")
                    continue
                bad = render.check_entry(entry, path)
                result.problems += bad
                if not bad:
                    entries[path] = entry
            elif not path.name.endswith((".predictions.csv", schema.TIMELINE_SUFFIX)):
                result.problems.append(f"{path}: unexpected file in an entries folder")
    return entries


def _duplicates(entries: dict[Path, dict], result: ValidationResult) -> None:
    names: dict[tuple, Path] = {}
    hashes: dict[tuple, Path] = {}
    for path, e in entries.items():
        key = (e["benchmark"], e["kind"], e["model_name"].strip().lower())
        if key in names:
            result.problems.append(f"{path}: model name {e['model_name']!r} is already used by {names[key]}")
        names.setdefault(key, path)
        if e["kind"] == "reproduced":
            hkey = (e["benchmark"], e["predictions"]["sha256"])
            if hkey in hashes:
                result.problems.append(f"{path}: the same predictions file as {hashes[hkey]} (sha256 "
                                       f"{e['predictions']['sha256'][:12]}...)")
            hashes.setdefault(hkey, path)


def _local_build(data_dir: Path, recompute: bool) -> _Build:
    build = _Build(data_dir)
    if not recompute:
        return build
    try:
        build.info = verify_build(data_dir)
    except BuildTampered as err:
        build.broken = str(err)
    except (OSError, ValueError) as err:  # no build there (NotABuiltBenchmark) or unreadable: nothing to re-score
        build.missing = str(err)
    return build


def _check_reproduced(path: Path, entry: dict, build: _Build, recompute: bool, require_rescore: bool,
                      result: ValidationResult) -> None:
    expected = scoring.summarise(entry["report"], entry.get("report_all_tests", {}))
    if not scoring.same_numbers(expected, entry["summary"]):
        result.problems.append(f"{path}: summary does not match its report (edited by hand?): "
                               f"{_differing('summary', expected, entry['summary'])}")
    if entry.get("robustness"):
        _check_robustness(path, entry, result)
    _check_partial(path, entry, result)
    pred = _stored_predictions(path, entry, result)
    if pred is None or not recompute:
        return

    def skipped(reason: str) -> None:
        (result.problems if require_rescore else result.notes).append(f"{path}: not re-scored: {reason}")

    if build.broken:
        result.problems.append(f"{path}: not re-scored: the local build fails verification: {build.broken}")
        return
    if build.info is None:
        skipped(build.missing or f"no build at {build.data_dir}")
        return
    info = build.info
    local_fp, local_labels = str(info.get("fingerprint")), str(info.get("label_fingerprint"))
    if entry.get("label_fingerprint"):
        if entry["label_fingerprint"] != local_labels:
            if str(info.get("benchmark_version")) == entry["benchmark_version"]:
                result.problems.append(
                    f"{path}: label fingerprint {entry['label_fingerprint'][:12]}... differs from the one of the "
                    f"build at {build.data_dir} ({local_labels[:12]}...), although both are {entry['benchmark']} "
                    f"{entry['benchmark_version']}: the entry was not scored on this benchmark's labels (or was "
                    "edited)")
            else:
                skipped(f"the build at {build.data_dir} is version {info.get('benchmark_version')}, the entry "
                        f"{entry['benchmark_version']}")
            return
        if entry["dataset_fingerprint"] != local_fp:
            result.notes.append(f"{path}: the audio of the build at {build.data_dir} differs from the entry's "
                                f"(dataset fingerprint {local_fp[:12]}..., entry {entry['dataset_fingerprint'][:12]}"
                                "...), as builds on other machines do; its labels are the same, so the entry is "
                                "re-scored anyway")
    elif entry["dataset_fingerprint"] != local_fp:
        skipped(f"the entry has no label fingerprint and the dataset at {build.data_dir} has another fingerprint "
                f"({local_fp[:12]}..., entry {entry['dataset_fingerprint'][:12]}...)")
        return
    _rescore(path, entry, pred, build.data_dir, result)


def _check_robustness(path: Path, entry: dict, result: ValidationResult) -> None:
    """The entry's robustness claim against the document stored beside it: the recorded sha256, the same build
    and clean numbers as the entry, and a summary equal, field by field, to the one recomputed from it."""
    claim = entry["robustness"]
    stored = claim.get("stored")
    if not stored:
        result.problems.append(f"{path}: its robustness summary has no stored robustness.json, so it cannot be "
                               "recomputed (submit the results folder again)")
        return
    doc_path = path.parent / stored
    try:  # a regular file inside the entry's folder, read no further than the limit
        raw = read_regular(doc_path, path.parent, robustness_claim.MAX_ROBUSTNESS_BYTES)
    except UnsafePath as err:
        result.problems.append(f"{path}: stored robustness document {doc_path.name} is missing or unusable ({err})")
        return
    digest = hashlib.sha256(raw).hexdigest()
    if digest != claim["file_sha256"]:
        result.problems.append(f"{doc_path}: sha256 {digest[:12]}... does not match the entry's robustness "
                               f"file_sha256 {claim['file_sha256'][:12]}...")
        return
    document, problems = robustness_claim.parse_document(raw)
    if document is not None:
        problems = robustness_claim.foreign_robustness(document, entry, model=None, check_model=False)
        problems += robustness_claim.summary_mismatches(claim, document)
    if problems:
        result.problems += [f"{path}: robustness from {doc_path.name}: {p}" for p in problems]
        return
    result.notes.append(f"{path}: its robustness summary (suite {claim['suite']}) is the submitter's claim, "
                        f"recomputed from {doc_path.name}: identical; the transformed audio is not re-scored here")


def _check_matrix(path: Path, entry: dict, known: dict[Path, dict], recompute: bool, require_rescore: bool,
                  result: ValidationResult) -> None:
    """The entry's matrix summary against the document stored beside it: the recorded sha256, a document that
    can be re-scored, rows that agree with the builds at hand, and a summary equal, cell by cell, to the one
    recomputed from it."""
    claim = entry["matrix"]
    doc_path = path.parent / claim["stored"]
    doc, problems = matrix_document.read_stored(path, claim)
    if doc is None:
        result.problems += [f"{path}: {p}" for p in problems]
        return
    if not recompute:
        result.notes.append(f"{path}: its matrix ({doc_path.name}) was not re-scored (recompute is off)")
        return
    builds, problems = matrix_labels.builds_at_hand(doc, known=known)

    def locate(table: tuple[str, ...], row: int | None) -> str:
        name = f"training set {table[1]!r} validation" if table[0] == "validation" else \
            f"cell {table[1]!r} x {table[2]!r}"
        return f"{path}: matrix from {doc_path.name}: {name}" + ("" if row is None else f", row {row}")

    labels = matrix_labels.check_labels(doc, builds, locate)
    problems += labels.problems
    try:
        again = matrix_document.rescore(doc)
    except MetricsError as err:
        result.problems += problems + [f"{path}: matrix from {doc_path.name}: cannot be re-scored: {err}"]
        return
    fresh = matrix_document.summary(doc, again, claim["unchecked_sets"])
    found = matrix_document.threshold_differences(doc, again) + matrix_document.summary_differences(claim, fresh)
    if claim["labels_checked"] != fresh["labels_checked"]:
        listed = [f"training set {n!r}" for n in fresh["unchecked_sets"]["training_sets"]] + \
            [f"test set {n!r}" for n in fresh["unchecked_sets"]["test_sets"]]
        found.append(f"labels_checked is {str(claim['labels_checked']).lower()}, but unchecked_sets lists "
                     f"{', '.join(listed) or 'none'}")
    problems += [f"{path}: matrix from {doc_path.name}: {p}" for p in found]
    if problems:
        result.problems += problems
        return
    missing = [f"training set {n!r}" for n in labels.unchecked["training_sets"]] + \
        [f"test set {n!r}" for n in labels.unchecked["test_sets"]]
    if missing:
        (result.problems if require_rescore else result.notes).append(
            f"{path}: matrix labels not compared with a build here (none at hand) for: {', '.join(missing)}")
    result.notes.append(f"{path}: its matrix ({len(fresh['cells'])} cells) re-scored from {doc_path.name}: identical")


def _check_partial(path: Path, entry: dict, result: ValidationResult) -> None:
    try:
        required = scoring.benchmark_test_splits(protocols.load(entry["benchmark"]))
    except (ValueError, KeyError, TypeError):  # no shipped benchmark named: reported by _read_entries already
        return
    left_out = [s for s in required if s not in entry["scoring"]["splits"]]
    if left_out and entry.get("partial") is not True:
        result.problems.append(f"{path}: scored without test split(s) {', '.join(left_out)} but not marked "
                               "partial (`partial: true`)")
    elif not left_out and entry.get("partial") is True:
        result.problems.append(f"{path}: marked partial but scored on every test split of {entry['benchmark']}")


def _stored_predictions(path: Path, entry: dict, result: ValidationResult) -> Any:
    """The entry's stored predictions, after checking they exist and have the recorded hash; None if not."""
    stored = entry["predictions"].get("stored")
    if not stored:
        result.problems.append(f"{path}: no stored predictions; a reproduced entry keeps them beside it so its "
                               "numbers can be re-scored (submit without --no-store-predictions)")
        return None
    pred_path = path.parent / stored
    if pred_path.is_symlink() or not pred_path.is_file():
        result.problems.append(f"{path}: stored predictions {pred_path.name} are missing")
        return None
    recorded = entry["predictions"].get("stored_sha256")
    digest = sha256_file(pred_path)
    if digest != recorded:
        result.problems.append(f"{pred_path}: sha256 {digest[:12]}... does not match the entry's "
                               f"{str(recorded)[:12]}...")
        return None
    pred, _, problems = submission_files.load_predictions(pred_path)
    if problems or pred is None:
        result.problems += [f"{path}: {p}" for p in problems]
        return None
    if len(pred) != entry["predictions"]["n_rows"]:
        result.problems.append(f"{pred_path}: {len(pred)} rows, the entry says {entry['predictions']['n_rows']}")
    return pred


def _rescore(path: Path, entry: dict, pred: Any, data_dir: Path, result: ValidationResult) -> None:
    used = entry["scoring"]
    labels = scoring.dataset_labels(data_dir, splits=tuple(used["splits"]))
    pred_path = path.parent / entry["predictions"]["stored"]
    bad = scoring.check_predictions(pred, labels, str(pred_path))
    if bad:
        result.problems += bad
        return
    again = scoring.score(pred, labels, threshold=used["threshold"], n_bootstrap=used["n_bootstrap"],
                          seed=used["seed"])
    older = []
    for key in ("report", "report_all_tests"):
        # the metric definitions are prose that may be reworded between versions; the numbers may not change
        fresh = {k: v for k, v in json.loads(json.dumps(again[key])).items() if k != "definitions"}
        stored = {k: v for k, v in (entry.get(key) or {}).items() if k != "definitions"}
        if "per_real_pool" in fresh and "per_real_pool" not in stored:
            # scored before reports had per_real_pool: its other numbers must still match (they do not
            # depend on it), and its summary has no worst pool
            fresh.pop("per_real_pool")
            older.append(key)
        if not scoring.same_numbers(fresh, stored):
            result.problems.append(f"{path}: re-scoring the stored predictions gives a different {key}: "
                                   f"{_differing(key, fresh, stored)}")
            return
    if entry.get("localisation"):
        bad = rescored_localisation(path, entry, labels, data_dir)
        if bad:
            result.problems += bad
            return
    timeline = f" and {entry['localisation']['stored']}" if entry.get("localisation") else ""
    result.notes.append(f"{path}: re-scored from {pred_path.name}{timeline}: identical"
                        + (f" (its {' and '.join(older)} predate per_real_pool, which is not compared; "
                           "`mom-bench leaderboard rescore` adds it)" if older else ""))


def _differing(name: str, fresh: Any, stored: Any) -> str:
    """Which top-level fields of ``name`` differ between the recomputed ``fresh`` and the ``stored`` one."""
    if not isinstance(fresh, dict) or not isinstance(stored, dict):
        return f"{name} differs"
    keys = [k for k in sorted(set(fresh) | set(stored))
            if k not in fresh or k not in stored or not scoring.same_numbers(fresh[k], stored[k])]
    return ", ".join(f"{name}.{k}" for k in keys) + " differ" + ("s" if len(keys) == 1 else "")


def _check_reported(entries: dict[Path, dict], baselines_dir: Path, root: Path, result: ValidationResult) -> None:

    try:
        recipes = load_recipes(baselines_dir)
    except RecipeError as err:
        result.problems += err.problems
        return
    expected = {}
    for key, recipe in recipes.items():
        for row in recipe["published"]:
            expected[(row["benchmark"], row["slug"])] = reported_entry(row, key)
    found = {(e["benchmark"], e["slug"]): (p, e) for p, e in entries.items() if e["kind"] == "reported"}
    for ident, (path, entry) in sorted(found.items()):
        if ident not in expected:
            result.problems.append(f"{path}: reported entry with no row in {baselines_dir}/ "
                                   "(run `mom-bench leaderboard import-reported`)")
        elif not scoring.same_numbers(json.loads(json.dumps(expected[ident])), entry):
            result.problems.append(f"{path}: differs from its recipe {entry.get('recipe')} "
                                   "(run `mom-bench leaderboard import-reported`)")
    for ident in sorted(set(expected) - set(found)):
        result.problems.append(f"{expected[ident]['recipe']}: published row {ident[0]}/{ident[1]} has no entry "
                               "(run `mom-bench leaderboard import-reported`)")
