"""Where leaderboard entries live, and how they are written there without ever leaving the folder.

An entry's file name is a sanitised slug, written only through real folders inside
``entries/<benchmark>/`` (a symlinked folder or a slug that is not a plain name raises
:class:`~mom_bench.core.errors.UnsafePath`); an entry and the predictions it refers to are swapped in
together, all or none.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from mom_bench.core.errors import UnsafePath
from mom_bench.core.files import FILE_MODE, fsync_dir
from mom_bench.leaderboard import schema


def slugify(name: str) -> str:
    """``"CLAM (mini) v2"`` -> ``"clam-mini-v2"``: only [a-z0-9-], so a name can never form a path."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:64].strip("-")


def stored_robustness_name(slug: str) -> str:
    """The name of the robustness.json kept beside the entry ``slug`` (a slug has no dot, so no entry has it)."""
    return f"{slug}{schema.ROBUSTNESS_SUFFIX}"


def stored_matrix_name(slug: str) -> str:
    """The name of the cross-corpus matrix document kept beside the entry ``slug``."""
    return f"{slug}{schema.MATRIX_SUFFIX}"


def is_stored_document(path: Path) -> bool:
    """Whether ``path`` is a document kept beside an entry (robustness, matrix) rather than an entry."""
    return path.name.endswith(schema.STORED_SUFFIXES)


def entries_dir(root: Path | str, benchmark: str) -> Path:
    if not re.fullmatch(schema.SLUG_PATTERN, benchmark or ""):
        raise UnsafePath(f"benchmark name {benchmark!r} is not a plain name")
    return Path(root) / "entries" / benchmark


def refuse_symlinks(root: Path | str, *parts: str) -> None:
    """Refuse (:class:`UnsafePath`) when a folder below ``root`` on the way to ``root/parts...`` is a symlink:
    writing through one would put files outside the leaderboard (the root itself is the caller's choice)."""
    path = Path(root)
    for part in parts:
        path = path / part
        if path.is_symlink():
            raise UnsafePath(f"{path} is a symlink; mom-bench writes inside a leaderboard only through real "
                             "folders: replace the link with a folder")


def check_slug(slug: str) -> None:
    """Refuse (:class:`UnsafePath`) a slug that is not a plain name."""
    if not re.fullmatch(schema.SLUG_PATTERN, slug or ""):
        raise UnsafePath(f"slug {slug!r} is not allowed: use 1-64 characters from [a-z0-9-], "
                         "starting and ending with a letter or digit")


def entry_path(root: Path | str, benchmark: str, slug: str) -> Path:
    """Where an entry lives; refuses any slug that is not a plain name or would leave the folder, and a
    symlinked ``entries/`` or ``entries/<benchmark>/`` folder."""
    check_slug(slug)
    entries_dir(root, benchmark)  # refuses a benchmark name that is not plain
    refuse_symlinks(root, "entries", benchmark)
    # the slug pattern has no separator and no dot, so the name cannot leave the folder
    return Path(root).resolve() / "entries" / benchmark / f"{slug}.json"


def _staged(target: Path, text: str) -> Path:
    """``text`` written and fsynced under a temporary name beside ``target``, ready to be swapped in."""
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(name, FILE_MODE)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def _keep_aside(target: Path) -> Path | None:
    """A second name for what ``target`` is now (a hard link to the file or to the link itself), so it can
    be put back; None when there is nothing there."""
    if not os.path.lexists(target):
        return None
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".old")
    os.close(fd)
    os.unlink(name)
    os.link(target, name, follow_symlinks=False)
    return Path(name)


def swap_in(changes: list[tuple[Path, str | None]]) -> None:
    """Apply ``(path, text)`` changes in order (text None removes the file), all or none.

    Every new text is written and fsynced under a temporary name first, and what each path holds now is
    kept under a second name; only then are the temporary files renamed over the targets (a rename
    replaces a symlink itself, never the file it points to). If anything fails, the paths already changed
    get their previous content back. Callers put the file that commits the change (the entry) after the
    files it refers to. A crash mid-way can leave the kept copies as hidden ``.<name>.*.old`` files, which
    ``leaderboard validate`` reports, so nothing is lost silently."""
    staged: list[Path | None] = []
    kept: list[Path | None] = []
    done = 0
    try:
        for path, text in changes:
            path.parent.mkdir(parents=True, exist_ok=True)
            staged.append(None if text is None else _staged(path, text))
        for path, _ in changes:
            kept.append(_keep_aside(path))
        for (path, _), tmp in zip(changes, staged):
            if tmp is None:
                if os.path.lexists(path):
                    os.unlink(path)
            else:
                os.replace(tmp, path)
            done += 1
    except BaseException:
        for (path, _), old in list(zip(changes, kept))[:done]:
            if old is not None:
                os.replace(old, path)
            elif os.path.lexists(path):
                os.unlink(path)
        for tmp in staged:
            if tmp is not None and os.path.lexists(tmp):
                tmp.unlink()
        raise
    finally:
        for old in kept:
            if old is not None and os.path.lexists(old):
                old.unlink()
    for folder in {path.parent for path, _ in changes}:
        fsync_dir(folder)


def entry_text(entry: dict[str, Any]) -> str:
    """An entry (or any leaderboard JSON file) as it is stored: indented UTF-8, NaN refused, not written."""
    return json.dumps(entry, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def stored_predictions_text(pred: pd.DataFrame) -> str:
    """The id,score table kept beside an entry so ``leaderboard validate`` can re-score it."""
    ordered = pred[["id", "score"]].sort_values("id", kind="stable")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["id", "score"])
    for ident, value in ordered.itertuples(index=False):
        writer.writerow([ident, repr(float(value))])
    return buf.getvalue()
