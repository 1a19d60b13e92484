"""A cross-corpus matrix's rows against the builds they claim to come from.

Each set of ``mom-bench matrix`` names its build by ``label_fingerprint`` (ids, splits, labels, generators:
the same on every machine). Where a verified build with that fingerprint is at hand, its rows are the truth and
the predictions files only carry scores: every row must have the build's split, label, generator, decoder
family and source; a training set's validation rows must be its whole validation split (its thresholds are
chosen there and nowhere else); a cell must hold every row of its test set's splits (for a pool, every fake and
that pool's reals) but those its training set trained or validated on, and none of those. A label flipped or the
hard rows of a cell dropped are refused, the row named. Where no build is at hand the rows are the submitter's,
and the entry says so (``labels_checked``).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mom_bench.core import settings
from mom_bench.core.errors import BuildTampered, MomBenchError
from mom_bench.core.splits import TRAIN, VALIDATION
from mom_bench.dataset import protocols, read
from mom_bench.leaderboard.matrix_document import COLUMNS, is_home

#: Where a row is, for a message: ``locate(table, row)`` with ``table`` ("validation", training set) or
#: ("cell", training set, test set) and ``row`` its index (None: the table itself).
Locate = Callable[[tuple[str, ...], "int | None"], str]
_FIELDS = ("from_split", "label", "generator", "decoder_family", "source")


@dataclass
class LabelCheck:
    """The problems found, and the names of the sets no build was at hand for."""

    problems: list[str] = field(default_factory=list)
    unchecked: dict[str, list[str]] = field(default_factory=lambda: {"training_sets": [], "test_sets": []})


def builds_at_hand(doc: Mapping[str, Any], named: Iterable[Path | str] = (),
                   known: Mapping[Path, Mapping[str, Any]] | None = None) -> tuple[dict[str, Path], list[str]]:
    """Label fingerprint -> folder of the verified builds the sets of ``doc`` may be checked against, and the
    problems found: ``known`` (folder -> its :func:`read.verify_build` info, already verified), the ``named``
    folders (each must be a verified build), and the default folder of each set's benchmark under
    ``$MOM_BENCH_HOME`` (skipped when it holds no build; a build that fails verification is a problem wherever
    it is). The folders the matrix.json of a submission names are never read: they are paths of another
    machine, chosen by the submitter."""
    found: dict[Path, Mapping[str, Any]] = {Path(p).resolve(): info for p, info in (known or {}).items()}
    problems = []
    benchmarks = {s["benchmark"] for key in ("training_sets", "test_sets") for s in doc[key]}
    candidates = [(Path(p), True) for p in named]
    # only a shipped benchmark's name becomes a folder name: the document's names are the submitter's text
    candidates += [(settings.default_dataset_dir(b), False) for b in sorted(benchmarks & set(protocols.names()))]
    for folder, required in candidates:
        if folder.resolve() in found:
            continue
        try:  # a build, or a fold view verified against its base (Build.open checks both)
            found[folder.resolve()] = read.Build.open(folder).info
        except BuildTampered as err:
            problems.append(f"matrix data {folder}: {err}")
        except (MomBenchError, OSError, ValueError) as err:  # no build there
            if required:
                problems.append(f"matrix data {folder}: {err}")
    return {str(info["label_fingerprint"]): path for path, info in found.items()
            if info.get("label_fingerprint")}, problems


@dataclass(frozen=True)
class _Truth:
    path: Path
    rows: pd.DataFrame  # indexed by id: split, label, generator, decoder_family, source, group_id


def _truth(path: Path) -> _Truth:
    build = read.Build.open(path, verify=False)  # the caller verified it (its label fingerprint is the match)
    families = build.decoder_families()
    frames = []
    for split in build.splits:
        names = build.column_names(split)
        table = build.table(split, ["id", "label", "generator"] + [c for c in ("source", "group_id") if c in names])
        frames.append(table.assign(split=split))
    rows = pd.concat(frames, ignore_index=True)
    for name in ("source", "group_id"):
        if name not in rows.columns:
            rows[name] = None
    rows["id"] = rows["id"].astype(str)
    # as the matrix writes it: reals have none, a generator the build does not place is "unspecified"
    rows["decoder_family"] = ["" if g == "real" else families.get(str(g), protocols.UNSPECIFIED)
                              for g in rows["generator"]]
    return _Truth(path, rows.set_index("id"))


def _text(value: Any) -> str:
    """A cell as text for comparing: a missing source (None, NaN, empty) is the empty text."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(int(value)) if isinstance(value, (bool, np.bool_)) else str(value)


def check_labels(doc: Mapping[str, Any], builds: Mapping[str, Path], locate: Locate) -> LabelCheck:
    """Every table of ``doc`` (a stored matrix document without :func:`matrix_document.problems`) whose set has
    a build in ``builds`` (label fingerprint -> verified build folder) against that build's rows."""
    out = LabelCheck()
    cache: dict[Path, _Truth] = {}

    def truth(s: Mapping[str, Any]) -> _Truth | None:
        path = builds.get(s["label_fingerprint"])
        if path is None:
            return None
        if path not in cache:
            cache[path] = _truth(path)
        return cache[path]

    trains = {t["name"]: t for t in doc["training_sets"]}
    tests = {t["name"]: t for t in doc["test_sets"]}
    for name, t in trains.items():
        found = truth(t)
        if found is None:
            out.unchecked["training_sets"].append(name)
            continue
        key: tuple[str, ...] = ("validation", name)
        out.problems += _row_problems(t["validation"], found, key, locate, {VALIDATION})
        ids = set(t["validation"]["id"])
        expected = found.rows.index[found.rows["split"] == VALIDATION]
        out.problems += _left_out(expected.difference(list(ids)), locate(key, None), found.path,
                                  "validation rows of the build (thresholds are chosen on the whole split)")
    out.unchecked["test_sets"] = [name for name, s in tests.items() if builds.get(s["label_fingerprint"]) is None]
    for c in doc["cells"]:
        s, t = tests[c["test"]], trains[c["train"]]
        found = truth(s)
        if found is None:
            continue
        key = ("cell", c["train"], c["test"])
        out.problems += _row_problems(c["predictions"], found, key, locate, set(s["splits"]))
        out.problems += _coverage(c, s, t, found, truth(t), is_home(doc, c["train"], c["test"]), locate(key, None))
    return out


def _row_problems(columns: Mapping[str, list], truth: _Truth, key: tuple[str, ...], locate: Locate,
                  splits: set[str]) -> list[str]:
    mine = pd.DataFrame({c: columns[c] for c in COLUMNS})
    known = mine["id"].isin(truth.rows.index).to_numpy()
    out = []
    if not known.all():
        first = int(np.flatnonzero(~known)[0])
        out.append(f"{locate(key, first)}: id {mine['id'][first]!r} is not a row of the build at {truth.path}"
                   + _more(int((~known).sum()), "such rows"))
    theirs = truth.rows.reindex(mine["id"]).rename(columns={"split": "from_split"}).reset_index(drop=True)
    for name in _FIELDS:
        a, b = mine[name].map(_text), theirs[name].map(_text)
        if name == "label":  # the build's labels are integers, read back as floats beside unknown ids
            b = theirs[name].map(lambda v: _text(int(v)) if v == v and v is not None else "")
        bad = known & (a != b).to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            out.append(f"{locate(key, i)}: id {mine['id'][i]!r} has {name} {a[i]!r}, the build at {truth.path} has "
                       f"{b[i]!r}" + _more(int(bad.sum()), "rows differ so"))
    outside = known & ~theirs["from_split"].isin(list(splits)).to_numpy()
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        out.append(f"{locate(key, i)}: id {mine['id'][i]!r} is in the build's {theirs['from_split'][i]} split, not "
                   f"among the set's ({', '.join(sorted(splits))})" + _more(int(outside.sum()), "such rows"))
    return out


def _coverage(cell: Mapping[str, Any], test: Mapping[str, Any], train: Mapping[str, Any], truth: _Truth,
              trained: _Truth | None, same_base: bool, where: str) -> list[str]:
    """A cell holds its test set's rows but those its training set saw, and none of those (mirrors the
    matrix's own overlap rule: same id, or, over the same base build, same group)."""
    rows = truth.rows[truth.rows["split"].isin(test["splits"])]
    if test["pool"] is not None:
        rows = rows[(rows["label"].astype(int) == 1) | (rows["source"].map(_text) == test["pool"])]
    ids = set(cell["predictions"]["id"])
    missing = rows.index.difference(list(ids))
    out = []
    if len(missing) != cell["excluded_overlap"]:
        out.append(f"{where}: leaves out {len(missing)} row(s) of test set {test['name']!r} in the build at "
                   f"{truth.path}" + (f" (first: {missing[0]!r})" if len(missing) else "")
                   + f", but excluded_overlap says {cell['excluded_overlap']} (the rows training set "
                     f"{train['name']!r} trained or validated on)")
    if trained is None:
        return out
    saw = trained.rows[trained.rows["split"].isin([TRAIN, VALIDATION])]
    seen = set(saw.index)
    groups = {g for g in saw["group_id"].map(_text) if g}
    if same_base and groups:
        seen |= set(rows.index[rows["group_id"].map(_text).isin(groups)])
    held = sorted(ids & seen)
    if held:
        out.append(f"{where}: holds {len(held)} row(s) training set {train['name']!r} trained or validated on "
                   f"(first: {held[0]!r})")
    unexplained = sorted(set(missing) - seen)
    if unexplained:
        out.append(f"{where}: leaves out {len(unexplained)} row(s) of test set {test['name']!r} that training set "
                   f"{train['name']!r} never saw (first: {unexplained[0]!r})")
    return out


def _left_out(missing: pd.Index, where: str, path: Path, what: str) -> list[str]:
    if not len(missing):
        return []
    return [f"{where}: leaves out {len(missing)} {what} at {path} (first: {missing[0]!r})"]


def _more(n: int, what: str) -> str:
    return f" ({n} {what})" if n > 1 else ""
