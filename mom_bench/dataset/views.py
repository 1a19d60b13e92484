"""Fold views: leave-one-generator-out (LOGO) and leave-one-family-out (LOFO) variants of any build, made without
decoding or copying a song.

A view is a folder holding ``view.json`` (the base build's path and fingerprints, the fold, the ids of each
split in order, the rows left out and why, the view's own fingerprints) and a README. Its rows are rows of the
base build; ``train``, ``evaluate`` and ``extract`` take the folder as they take a build (``--data VIEW``), and
``mom_bench.dataset.read.Build.open`` returns a :class:`View` for it, verified like a build: the base must still
be the build the view was made from, and the fold is computed again from it and compared (docs/folds.md).

The fold rule (count control included) is :mod:`mom_bench.dataset.folds`. Frozen-encoder features of a view's
songs are read from, and computed into, the base build's feature cache, so a song is encoded once for a build
and all its views::

    views = make_folds(base_dir, "lofo")                   # every decoder family held out in turn
    view = make_fold(base_dir, "logo", "rvq_codec")        # one generator held out
    load_dataset(view.path, "test_ood")                    # a datasets.Dataset of the fold's test_ood
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

from mom_bench.core import provenance, settings
from mom_bench.core.errors import FoldError, ForeignFolder, MomBenchError, NotABuiltBenchmark
from mom_bench.core.files import read_regular, write_atomic, write_json_atomic, writer_lock
from mom_bench.core.splits import TEST_OOD
from mom_bench.dataset import folds
from mom_bench.dataset.folds import KINDS, LOFO, LOGO
from mom_bench.dataset.read import (
    MAX_VIEW_BYTES,
    REPORT_NAME,
    Build,
    View,
    base_metadata,
    compute_fold,
    is_view,
)

__all__ = ["KINDS", "LOFO", "LOGO", "View", "FoldSkipped", "fold_ids", "make_fold", "make_folds", "load_dataset"]

README_NAME = "README.md"


class FoldSkipped(UserWarning):
    """:func:`make_folds` did not make one of the folds (the message says which and why)."""


class CountControlShort(UserWarning):
    """A fold's train holds fewer fakes than its base's: test_id had no more groups to move."""


def _open_base(base: str | Path | Build) -> Build:
    build = Build.open(base)
    if isinstance(build, View):
        raise FoldError(f"{build.path} is a fold view; make folds of its base build ({build.base.path})")
    return build


def fold_ids(base: str | Path | Build, kind: str) -> list[str]:
    """Every held-out choice of ``kind`` in ``base``: the generators with fakes (``logo``), or the decoder
    families among them (``lofo``)."""
    folds.check_kind(kind)
    build = _open_base(base)
    return folds.choices(kind, build.decoder_families(), folds.fake_generators(base_metadata(build)))


def _readme(doc: dict[str, Any], base_dir: Path, out_dir: Path) -> str:
    fold = doc["fold"]
    what = (f"decoder family `{fold['family']}` ({', '.join(fold['held_out'])})" if fold["kind"] == LOFO
            else f"generator `{fold['held_out'][0]}`")
    control = fold["count_control"]
    rows = "\n".join(f"| {split} | {len(ids)} | " + ", ".join(f"{g} {n}" for g, n in doc["counts"][split].items())
                     + " |" for split, ids in doc["splits"].items())
    if not control["enabled"]:
        topped = f"Count control off: train holds {control['reached']} fakes, the base's train {control['target']}."
    else:
        topped = (f"Count control: train holds {control['reached']} fakes, as many as the base's train"
                  if not control["short_by"] else
                  f"Count control: train holds {control['reached']} fakes, {control['short_by']} fewer than the "
                  "base's train (test_id had no more groups to move)") + \
            f"; {len(fold['groups_moved'])} groups moved from test_id, seed {fold['seed']}."
    return f"""# {doc['benchmark']}: a fold view of {doc['base']['benchmark']}

This folder is a view made by `mom-bench fold`; it holds no audio. Its rows are rows of the build
`{base_dir}` (fingerprint `{doc['base']['fingerprint'][:16]}`), each in the split of the fold that holds
out {what}. The held-out set's test fakes are the only fakes of test_ood; its fakes in train and validation
are left out; the base's other held-out generators are scored in test_id. The rule: docs/folds.md of
mom-bench.

{topped}

| split | rows | by generator |
|---|---|---|
{rows}

Left out: {len(doc['left_out'][folds.HELD_OUT_IN_TRAINING])} rows of the held-out set beside training songs,
{len(doc['left_out'][folds.COUNT_CONTROL_SURPLUS])} surplus fakes of count control (their ids are in view.json).

## Use it

```
mom-bench train --model clam --data {out_dir}
mom-bench evaluate --model clam --data {out_dir}
```

```python
from mom_bench.dataset.views import load_dataset
ds = load_dataset("{out_dir}")  # a datasets.DatasetDict, one entry per split of the fold
```

Opening the view checks that its base is still the build it was made from and computes the fold again:
a moved or rebuilt base, or an edited view.json, is refused with the command that makes the view again.
"""


def _check_out(out: Path, base: Build) -> None:
    if out.is_symlink():
        raise ForeignFolder(f"{out} is a symlink; give the real folder or another --out")
    if out.exists() and not out.is_dir():
        raise ForeignFolder(f"{out} exists and is not a folder; choose another --out")
    resolved, base_dir = out.resolve(), base.path.resolve()
    if resolved == base_dir or resolved.is_relative_to(base_dir):
        raise ForeignFolder(f"{out} is inside the base build {base.path}; a view is written beside it, never into it")
    if (out / REPORT_NAME).exists():
        raise ForeignFolder(f"{out} holds a build ({REPORT_NAME}); a view never replaces a build: choose another --out")
    if out.is_dir() and not is_view(out):
        foreign = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
        if foreign:
            raise ForeignFolder(f"{out} is not empty and is not a fold view (no {folds.VIEW_FILE}; it holds "
                                f"{', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}): choose another --out "
                                "or move it away")


def _recorded(out: Path) -> dict[str, Any] | None:
    """The existing view.json of ``out`` as far as reuse needs it, None when unreadable."""
    try:
        raw = json.loads(read_regular(out / folds.VIEW_FILE, out, MAX_VIEW_BYTES))
        return folds.parse(raw, str(out / folds.VIEW_FILE))
    except (MomBenchError, ValueError, RecursionError):
        return None


def _same_definition(old: dict[str, Any], new: dict[str, Any], base_dir: Path) -> bool:
    a, b = old["fold"], new["fold"]
    return (a.get("kind"), a.get("family"), a.get("held_out"), a.get("seed"), a["count_control"].get("enabled")) \
        == (b["kind"], b["family"], b["held_out"], b["seed"], b["count_control"]["enabled"]) \
        and old["base"].get("fingerprint") == new["base"]["fingerprint"] \
        and old["base"].get("absolute_path") == str(base_dir)


def make_fold(base: str | Path | Build, kind: str, held_out: str, out: str | Path | None = None, *, seed: int = 0,
              count_control: bool = True, overwrite: bool = False) -> View:
    """The fold view of ``base`` (a build folder or an opened build, verified) that holds out ``held_out``: a
    generator id (``kind="logo"``) or a decoder family (``kind="lofo"``), written into ``out`` (default
    ``$MOM_BENCH_HOME/datasets/<base benchmark>~<kind>-<held_out>``) and returned opened.

    The same fold of the same base already in ``out`` is reused (``view.reused``); a different view there is
    refused unless ``overwrite`` (which replaces only ``view.json`` and the README, the files a view is); a
    folder that is not a view is never touched. A fold whose train falls short of the base's fakes is made,
    with a :class:`CountControlShort` warning. Raises :class:`mom_bench.core.errors.FoldError` for a fold that
    cannot be made (unknown id, train without fakes, test_ood without fakes)."""
    folds.check_kind(kind)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= folds.MAX_SEED:
        raise FoldError(f"seed must be an integer in [0, {folds.MAX_SEED}], got {seed!r}")
    build = _open_base(base)
    meta = base_metadata(build)
    fold, doc = compute_fold(build, meta, kind, held_out, seed=seed, count_control=count_control)
    out_dir = Path(out).expanduser() if out is not None else settings.default_dataset_dir(doc["benchmark"])
    _check_out(out_dir, build)
    base_dir = build.path.resolve()
    out_abs = out_dir.parent.resolve() / out_dir.name
    doc["base"] = {"path": os.path.relpath(base_dir, out_abs), "absolute_path": str(base_dir), **doc["base"]}
    doc = {**doc, "mom_bench_version": provenance.mom_bench_version()}
    control = doc["fold"]["count_control"]
    if control["enabled"] and control["short_by"]:
        warnings.warn(CountControlShort(
            f"{doc['benchmark']}: train holds {control['reached']} fakes, {control['short_by']} fewer than the "
            f"{control['target']} of {build.benchmark}'s train: test_id had no more groups to move"), stacklevel=2)
    with writer_lock(out_dir, "making a fold view"):
        if is_view(out_dir):
            old = _recorded(out_dir)
            if old is not None and _same_definition(old, doc, base_dir):
                try:
                    return _reopen(out_dir, reused=True)
                except MomBenchError as err:
                    if not overwrite:
                        raise type(err)(f"{err} (--overwrite makes it again)") from None
            elif not overwrite:
                what = "another fold" if old is not None else "an unreadable view"
                raise ForeignFolder(f"{out_dir} already holds {what} ({old['benchmark'] if old else folds.VIEW_FILE}"
                                    f"{'' if old is None else ' of base ' + str(old['base'].get('absolute_path'))}): "
                                    "pass --overwrite to replace it, or --out DIR for another folder")
        write_atomic(out_dir / README_NAME, _readme(doc, base_dir, out_abs))
        write_json_atomic(out_dir / folds.VIEW_FILE, doc, indent=1)  # last: the folder is a view once it exists
    return _reopen(out_dir)


def _reopen(out_dir: Path, reused: bool = False) -> View:
    from dataclasses import replace

    view = Build.open(out_dir)
    assert isinstance(view, View)
    return replace(view, reused=reused) if reused else view


def make_folds(base: str | Path | Build, kind: str, out_root: str | Path | None = None, *, seed: int = 0,
               count_control: bool = True, overwrite: bool = False) -> list[View]:
    """Every fold of ``kind`` of ``base`` (:func:`fold_ids`), each into ``<out_root>/<view benchmark name>``
    (default ``out_root``: ``$MOM_BENCH_HOME/datasets``). A fold that cannot be made (e.g. a family holding
    every training generator) is skipped with a :class:`FoldSkipped` warning naming it and why; when none can
    be made, the first reason is raised."""
    build = _open_base(base)
    root = Path(out_root).expanduser() if out_root is not None else settings.datasets_dir()
    made: list[View] = []
    refused: list[FoldError] = []
    for held in fold_ids(build, kind):
        name = folds.view_name(build.benchmark, kind, held)
        try:
            made.append(make_fold(build, kind, held, root / name, seed=seed, count_control=count_control,
                                  overwrite=overwrite))
        except FoldError as err:
            refused.append(err)
            warnings.warn(FoldSkipped(f"skipped {name}: {err}"), stacklevel=2)
    if not made:
        if refused:
            raise refused[0]
        raise FoldError(f"{build.path} ({build.benchmark}): no {kind} fold to make (no held-out choice: "
                        f"{'no generator names a decoder family' if kind == LOFO else 'no fakes'})")
    return made


def load_dataset(view_dir: str | Path | View, split: str | None = None) -> Any:
    """The view as a ``datasets.DatasetDict`` (one entry per split of the fold), or the ``datasets.Dataset`` of
    ``split``: each base split is loaded with ``datasets.load_dataset("parquet", data_files=<its shards>)``, the
    view's rows are picked with ``select`` (view order) and the parts of a split concatenated. ``split`` and
    ``is_ood`` hold the fold's values. Nothing is copied: ``datasets`` caches the base's parquet shards as it does
    for any build (its usual cache folder, once per base), and the selections are index mappings over it.

    The view is opened (and so verified) first."""
    import datasets

    view = Build.open(view_dir) if not isinstance(view_dir, View) else view_dir
    if not isinstance(view, View):
        raise NotABuiltBenchmark(f"{view_dir}: not a fold view (no {folds.VIEW_FILE}); load a build with "
                                 "datasets.load_dataset(folder)")
    chosen = [split] if split is not None else list(view.splits)
    for name in chosen:
        view.num_rows(name)  # an unknown split is named with the ones the view has
    loaded: dict[str, Any] = {}

    def base_split(name: str) -> Any:
        if name not in loaded:
            files = [str(p) for p in view.base.shards(name)]
            ds = datasets.load_dataset("parquet", data_files={name: files}, split=name)
            # The fold's split and is_ood for every row of this base split, added before any selection so the
            # new columns sit beside the memory-mapped shards instead of forcing a copy of the selected rows.
            where = {position: fold_split for fold_split in view.splits
                     for b, positions in view.members[fold_split] if b == name for position in positions}
            labels = ds["label"]
            splits = [where.get(i, name) for i in range(len(ds))]
            ood = [s == TEST_OOD and int(label) == 1 for s, label in zip(splits, labels)]
            features = ds.features
            ds = ds.remove_columns([c for c in ("split", "is_ood") if c in ds.column_names])
            ds = ds.add_column("split", splits, feature=features.get("split"))
            ds = ds.add_column("is_ood", ood, feature=features.get("is_ood"))
            loaded[name] = ds
        return loaded[name]

    out = {}
    for name in chosen:
        parts = [base_split(b).select(list(positions)) for b, positions in view.members[name]]
        out[name] = parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)
    return out[split] if split is not None else datasets.DatasetDict(out)
