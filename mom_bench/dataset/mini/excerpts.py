"""The real-music excerpts shipped with mom-bench (``mom_bench/data/mom_mini``).

``ATTRIBUTION.csv`` lists every excerpt with its pool (``debian_music``: Debian game-music packages;
``cc_recordings``: freely licensed recordings from public GitHub repositories), its source (Debian package
and version, or repository and commit), track, author, licence, genre, whether it has sung vocals, and its
offset in the original track; ``LICENSES/`` holds the sources' copyright and licence files. The excerpts
were cut by ``scripts/make_mom_mini_excerpts.py``.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mom_bench.core.audio import AudioError, load

DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "mom_mini"
_FIELDS = ("file", "track_id", "pool", "package", "package_version", "source_path", "title", "author", "license",
           "genre", "vocals", "start_s", "duration_s")
#: Excerpts are cut into clips of this many seconds at build time, so their lengths are whole multiples of it.
CLIP_SECONDS = 3.0
_VOCALS = {"yes": True, "no": False}


@dataclass(frozen=True)
class Excerpt:
    file: str
    track_id: str
    pool: str
    package: str
    package_version: str
    source_path: str
    title: str
    author: str
    license: str
    genre: str
    vocals: bool
    start_s: float
    duration_s: float
    path: Path

    @property
    def index(self) -> int:
        """Position of the excerpt within its track (0, 1, ...)."""
        return int(Path(self.file).stem.rsplit("-", 1)[1])


def listed_files(folder: Path, table_name: str, fields: tuple[str, ...], what: str):
    """``(line, row, path)`` for every row of the CSV table ``folder/table_name``: its ``file`` must be a plain
    ``.ogg`` file name of ``folder`` that exists, so a doctored table cannot point outside the folder. Errors
    name the table and line."""
    table = folder / table_name
    if not table.is_file():
        raise FileNotFoundError(f"{table}: mom-mini {what} table not found")
    with open(table, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in fields if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{table}: missing column(s) {', '.join(missing)}")
        for line, row in enumerate(reader, start=2):
            name = row["file"] or ""
            if not name or Path(name).name != name or name.startswith(".") or not name.endswith(".ogg"):
                raise ValueError(f"{table}:{line}: file {name!r} must be a plain .ogg file name in {folder}")
            yield line, row, folder / name


def excerpts(data_dir: str | Path | None = None) -> list[Excerpt]:
    """Every excerpt listed in ``ATTRIBUTION.csv`` of ``data_dir`` (default: the shipped folder).

    Raises ``ValueError`` naming the line for anything that is not a plain file of that folder, so a
    doctored attribution file cannot point outside it.
    """
    folder = Path(data_dir) if data_dir else DATA_DIR
    table = folder / "ATTRIBUTION.csv"
    out: list[Excerpt] = []
    for line, row, path in listed_files(folder, "ATTRIBUTION.csv", _FIELDS, "attribution"):
        name = path.name
        if not row["track_id"] or not name.startswith(row["track_id"] + "-"):
            raise ValueError(f"{table}:{line}: file {name!r} does not belong to track {row['track_id']!r}")
        if not path.is_file():
            raise ValueError(f"{table}:{line}: {path} is missing")
        try:
            start, duration = float(row["start_s"]), float(row["duration_s"])
        except ValueError:
            raise ValueError(f"{table}:{line}: start_s/duration_s must be numbers") from None
        clips = duration / CLIP_SECONDS
        if not start >= 0 or not (clips >= 1 and abs(clips - round(clips)) < 1e-6):
            raise ValueError(f"{table}:{line}: duration_s must be a multiple of {CLIP_SECONDS:g} s and start_s "
                             f"not negative, got {row['duration_s']!r} and {row['start_s']!r}")
        if not row["pool"]:
            raise ValueError(f"{table}:{line}: pool is empty")
        if row["vocals"] not in _VOCALS:
            raise ValueError(f"{table}:{line}: vocals must be yes or no, got {row['vocals']!r}")
        out.append(Excerpt(name, row["track_id"], row["pool"], row["package"], row["package_version"],
                           row["source_path"], row["title"], row["author"], row["license"], row["genre"],
                           _VOCALS[row["vocals"]], start, duration, path))
    if not out:
        raise ValueError(f"{table}: lists no excerpts")
    return out


def load_excerpt(excerpt: Excerpt, sample_rate: int) -> np.ndarray:
    """Mono float32 samples of one excerpt at ``sample_rate``, through the one audio path."""
    try:
        return load(excerpt.path, sample_rate).samples.numpy()
    except AudioError as err:
        raise AudioError(excerpt.file, err.reason) from None
