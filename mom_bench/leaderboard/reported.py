"""Reported rows: numbers copied from papers, kept in the ``baselines/`` recipes and imported as entries.

The recipe is the one place a published number is written down (with its citation); the entry files are
generated from it, and ``leaderboard validate`` checks that they still agree, so a number cannot be edited
in one place and forgotten in the other. Reported entries carry ``kind: reported`` and are never scored or
ranked with reproduced ones.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from mom_bench.core import loader
from mom_bench.core.errors import RecipeError, YamlRefused
from mom_bench.core.files import write_atomic, writer_lock
from mom_bench.leaderboard import schema
from mom_bench.leaderboard.entry_files import entry_path, entry_text


def recipe_files(baselines_dir: Path | str) -> list[Path]:
    return sorted(Path(baselines_dir).glob("*.yaml"))


def load_recipes(baselines_dir: Path | str) -> dict[str, dict]:
    """``{"baselines/<file>": recipe}`` for every recipe; raises RecipeError listing every problem."""
    problems, out = [], {}
    for path in recipe_files(baselines_dir):
        key = f"baselines/{path.name}"
        try:
            recipe = loader.parse_yaml(path.read_text(encoding="utf-8"), "a recipe")
        except (OSError, yaml.YAMLError, YamlRefused) as err:
            problems.append(f"{key}: unreadable YAML ({str(err).splitlines()[0]})")
            continue
        bad = schema.validate(recipe, schema.RECIPE)
        if bad:
            problems += [f"{key}: {p}" for p in bad]
            continue
        out[key] = recipe
    seen: dict[tuple[str, str], str] = {}
    for key, recipe in out.items():
        for row in recipe["published"]:
            ident = (row["benchmark"], row["slug"])
            if ident in seen:
                problems.append(f"{key}: published row {row['benchmark']}/{row['slug']} is also in {seen[ident]}")
            seen[ident] = key
    if problems:
        raise RecipeError(problems)
    return out


def _metric(value: Any) -> dict | None:
    return None if value is None else {"value": float(value), "ci": None}


def reported_entry(row: dict, recipe_key: str) -> dict:
    """A published row of a recipe as a leaderboard entry (schema ``ENTRY_REPORTED``)."""
    summary: dict[str, Any] = {}
    for key, value in row["summary"].items():
        if key == "per_generator":
            summary[key] = {g: {k: _metric(v) for k, v in m.items() if v is not None}
                            for g, m in sorted(value.items())}
        else:
            summary[key] = _metric(value)
    summary.setdefault("f1", None)
    entry = {"schema_version": schema.SCHEMA_VERSION, "kind": "reported", "benchmark": row["benchmark"],
             "slug": row["slug"], "model_name": row["model_name"], "parameters": row.get("parameters"),
             "paper_url": row.get("paper_url"), "code_url": row.get("code_url"), "citation": row["citation"],
             "source": row["source"], "test_set": row["test_set"], "notes": row.get("notes"),
             "summary": summary, "recipe": recipe_key}
    return entry


def reported_entries(baselines_dir: Path | str) -> list[dict]:
    return [reported_entry(row, key) for key, recipe in load_recipes(baselines_dir).items()
            for row in recipe["published"]]


def import_reported(baselines_dir: Path | str, root: Path | str = "leaderboard") -> tuple[list[Path], list[Path]]:
    """Write every published row as ``entries/<benchmark>/<slug>.json``; remove reported entries whose
    row is gone from the recipes. Returns ``(written, removed)``. Reproduced entries are never touched.
    Holds the leaderboard's writer lock (``FolderBusy`` while a submit or render writes there)."""
    entries = reported_entries(baselines_dir)
    with writer_lock(root, "import-reported"):
        return _import(entries, Path(root))


def _kind_of(path: Path) -> Any:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data.get("kind") if isinstance(data, dict) else None


def _import(entries: list[dict], root: Path) -> tuple[list[Path], list[Path]]:
    """Check every target first, then write: a refused row leaves the folder as it was."""
    problems, targets = [], []
    for entry in entries:
        path = entry_path(root, entry["benchmark"], entry["slug"])
        if path.is_symlink():
            problems.append(f"{entry['recipe']}: {path} is a symlink; mom-bench does not write through links")
        elif path.exists() and _kind_of(path) != "reported":
            problems.append(f"{entry['recipe']}: slug {entry['slug']!r} is taken by a {_kind_of(path)} entry in "
                            f"{path}; reported and reproduced rows need different slugs")
        targets.append(path)
    if problems:
        raise RecipeError(problems)
    for path, entry in zip(targets, entries):
        write_atomic(path, entry_text(entry))
    wanted = set(targets)
    removed = []
    for path in sorted((root / "entries").glob("*/*.json")):
        if path.resolve() in wanted or path.is_symlink():
            continue
        if _kind_of(path) == "reported":  # only rows this command writes are ever removed
            path.unlink()
            removed.append(path)
    return targets, removed
