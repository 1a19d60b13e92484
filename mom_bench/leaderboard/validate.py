"""Check a whole leaderboard folder, for CI: ``mom-bench leaderboard validate``.

What is checked, all of it reported at once:

* every entry parses and matches its schema; its folder is a shipped benchmark and its file name its slug;
* no stray files, no duplicate model names or identical prediction files within a benchmark;
* reproduced entries: the stored predictions match their recorded hash, and the summary matches the full
  report; when the benchmark is built here with the entry's fingerprint, the predictions are re-scored
  and must give the recorded report (otherwise a note says why that was skipped);
* reported entries agree with the ``baselines/`` recipes they were imported from, both ways;
* LEADERBOARD.md, leaderboard.csv and index.html equal a fresh rendering of the entries.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from mom_bench import protocols, settings
from mom_bench._io import sha256_file
from mom_bench.dataset.read import read_info
from mom_bench.leaderboard import render
from mom_bench.leaderboard import scoring
from mom_bench.leaderboard.reported import RecipeError, load_recipes, reported_entry


@dataclass
class ValidationResult:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    n_entries: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def validate_folder(root: Path | str = "leaderboard", *, data_dirs: dict[str, Path | str] | None = None,
                    baselines_dir: Path | str | None = None, recompute: bool = True,
                    check_rendered: bool = True) -> ValidationResult:

    root = Path(root)
    result = ValidationResult()
    entries_root = root / "entries"
    if not entries_root.is_dir():
        result.problems.append(f"{entries_root}: no entries folder")
        return result
    shipped = set(protocols.names())
    entries: dict[Path, dict] = {}
    for folder in sorted(p for p in entries_root.iterdir()):
        if not folder.is_dir():
            result.problems.append(f"{folder}: unexpected file (entries live in entries/<benchmark>/)")
            continue
        if folder.name not in shipped:
            result.problems.append(f"{folder}: {folder.name!r} is not a benchmark of this mom-bench "
                                   f"({', '.join(sorted(shipped))})")
        for path in sorted(folder.iterdir()):
            if path.suffix == ".json" and path.is_file():
                try:
                    entry = json.loads(path.read_text(encoding="utf-8"))
                except (OSError, ValueError) as err:
                    result.problems.append(f"{path}: not valid JSON ({err})")
                    continue
                bad = render.check_entry(entry, path)
                result.problems += bad
                if not bad:
                    entries[path] = entry
            elif not path.name.endswith(".predictions.csv"):
                result.problems.append(f"{path}: unexpected file in an entries folder")
    result.n_entries = len(entries)

    _duplicates(entries, result)
    stored_names = set()
    for path, entry in entries.items():
        if entry["kind"] == "reproduced":
            stored = entry["predictions"].get("stored")
            if stored:
                stored_names.add(path.parent / stored)
            data_dir = (data_dirs or {}).get(entry["benchmark"]) or settings.default_dataset_dir(entry["benchmark"])
            _check_reproduced(path, entry, Path(data_dir), recompute, result)
    for orphan in sorted(set(entries_root.glob("*/*.predictions.csv")) - stored_names):
        result.problems.append(f"{orphan}: predictions file that no entry refers to")

    if baselines_dir is not None and Path(baselines_dir).is_dir():
        _check_reported(entries, Path(baselines_dir), root, result)
    elif baselines_dir is not None:
        result.notes.append(f"{baselines_dir}: not found; reported rows not compared with their recipes")

    if check_rendered and not result.problems:
        fresh = render.render_texts(render.load_entries(root))
        for name, text in fresh.items():
            target = root / name
            if not target.is_file():
                result.problems.append(f"{target}: missing; run `mom-bench leaderboard render`")
            elif target.read_text(encoding="utf-8") != text:
                result.problems.append(f"{target}: out of date with the entries; run `mom-bench leaderboard render`")
        if not (root / "per_generator_f1.png").is_file():
            result.problems.append(f"{root / 'per_generator_f1.png'}: missing; run `mom-bench leaderboard render`")
    return result


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


def _check_reproduced(path: Path, entry: dict, data_dir: Path, recompute: bool, result: ValidationResult) -> None:
    expected = scoring.summarise(entry["report"], entry.get("report_all_tests", {}))
    if not scoring.same_numbers(expected, entry["summary"]):
        result.problems.append(f"{path}: summary does not match its report (edited by hand?)")
    stored = entry["predictions"].get("stored")
    if not stored:
        result.notes.append(f"{path}: predictions not stored; not re-scored")
        return
    pred_path = path.parent / stored
    if not pred_path.is_file():
        result.problems.append(f"{path}: stored predictions {pred_path.name} are missing")
        return
    digest = sha256_file(pred_path)
    if digest != entry["predictions"].get("stored_sha256"):
        result.problems.append(f"{pred_path}: sha256 {digest[:12]}... does not match the entry's "
                               f"{str(entry['predictions'].get('stored_sha256'))[:12]}...")
        return
    pred, _, problems = scoring.load_predictions(pred_path)
    if problems or pred is None:
        result.problems += [f"{path}: {p}" for p in problems]
        return
    if len(pred) != entry["predictions"]["n_rows"]:
        result.problems.append(f"{pred_path}: {len(pred)} rows, the entry says {entry['predictions']['n_rows']}")
    if not recompute:
        return

    try:
        info = read_info(data_dir)
    except Exception as err:
        result.notes.append(f"{path}: not re-scored: {err}")
        return
    if info.get("fingerprint") != entry["dataset_fingerprint"]:
        result.notes.append(f"{path}: not re-scored: the dataset at {data_dir} has another fingerprint "
                            f"({str(info.get('fingerprint'))[:12]}..., entry {entry['dataset_fingerprint'][:12]}...)")
        return
    labels = scoring.dataset_labels(data_dir)
    bad = scoring.check_predictions(pred, labels, str(pred_path))
    if bad:
        result.problems += bad
        return
    used = entry["scoring"]
    again = scoring.score(pred, labels, threshold=used["threshold"], n_bootstrap=used["n_bootstrap"],
                         seed=used["seed"])
    for key in ("report", "report_all_tests"):
        # the metric definitions are prose that may be reworded between versions; the numbers may not change
        fresh = {k: v for k, v in json.loads(json.dumps(again[key])).items() if k != "definitions"}
        stored = {k: v for k, v in (entry.get(key) or {}).items() if k != "definitions"}
        if not scoring.same_numbers(fresh, stored):
            result.problems.append(f"{path}: re-scoring the stored predictions gives a different {key}")
            return
    result.notes.append(f"{path}: re-scored from {pred_path.name}: identical")


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
