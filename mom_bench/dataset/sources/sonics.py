"""The SONICS source: its metadata CSVs + the fake songs, local or from the dataset repo's zipped parts.

Layouts under ``root``, found by name: the official code's (``fake_songs.csv``, ``real_songs.csv``,
``fake_songs/<filename>.mp3``, ``real_songs/<filename>.<ext>``; files are found anywhere below the root) or the
dataset repo's current one (the same CSVs, ``metadata.json`` and ``fake_songs/part_NN.zip``; ``metadata.json``'s
``file_mapping`` names the part that holds each ``fake_songs/<filename>.mp3``). With ``download`` the CSVs and
``metadata.json`` (with ``--split-mode official`` also ``train.csv``, ``valid.csv``, ``test.csv``) are fetched
from the dataset repo ``hf_repo`` at the pinned ``hf_revision`` through the local Hugging Face cache, and of the
parts only those holding a wanted fake that is not local: their published sizes are checked against the cache's
free space before any is fetched, and each is fetched when its first row is built (resumable). Fakes are read
member by member from the parts, never unpacked. The repo is gated: without accepted terms the error says so.
The real songs are YouTube audio and must be local.

Fake rows get their generator from the ``algorithm`` column (``match`` lists in the protocol) and keep
the fake type (``label``: full / mostly / half fake) as ``fake_type``. Rows outside the official filter
(shorter than ``min_duration_s`` or without vocals) are reported as ``excluded``. With
``--split-mode official`` each row keeps its official split (train / valid -> validation / test ->
test_id): from the repo's ``train.csv`` / ``valid.csv`` / ``test.csv`` where they are there, else from the
``split`` column; the algorithm x split table is printed.
"""
from __future__ import annotations

import csv
import json
import sys
import threading
from collections import Counter
from pathlib import Path

from mom_bench.core import settings
from mom_bench.core.errors import ManifestError
from mom_bench.core.splits import TEST_ID, TRAIN, VALIDATION
from mom_bench.dataset import archive as A
from mom_bench.dataset.sources.mom import AudioIndex, _flag, stem
from mom_bench.dataset.sources.rows import Excluded, MissingAudio, SourceRow, group_key

_SPLIT = {"train": TRAIN, "valid": VALIDATION, "validation": VALIDATION, "test": TEST_ID}
_META = ("title", "artist", "year", "duration", "youtube_id", "artist_overlap", "no_vocal", "style", "genre",
         "mood", "topic", "source", "bit_rate")


def _float(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


#: The repo's split files and the split each one holds.
SPLIT_FILES = {"train.csv": "train", "valid.csv": "valid", "test.csv": "test"}
MAPPING = "metadata.json"


def _excluded_by(rec: dict, min_duration: float | None, require_vocals: bool) -> str | None:
    duration = _float(rec.get("duration"))
    if min_duration is not None and duration is not None and duration < min_duration:
        return f"excluded by the official filter: duration {duration:.1f} s < {min_duration:g} s"
    if require_vocals and str(rec.get("no_vocal", "")).strip().lower() in ("true", "1"):
        return "excluded by the official filter: no vocals"
    return None


def read_mapping(path: Path) -> dict[str, str]:
    """``metadata.json``'s ``file_mapping`` as song stem -> the part (a repo path such as
    ``fake_songs/part_03.zip``) that holds ``fake_songs/<stem>.mp3``."""
    try:
        mapping = json.loads(path.read_text(encoding="utf-8")).get("file_mapping")
    except (OSError, ValueError, AttributeError) as err:
        raise ManifestError(f"{path}: not SONICS' metadata.json ({err})") from None
    if not isinstance(mapping, dict):
        raise ManifestError(f"{path}: no 'file_mapping' object (song -> part zip)")
    out = {}
    for song, part in mapping.items():
        if isinstance(song, str) and isinstance(part, str):
            out[stem(song)] = A.check_member_name(part, path)
    return out


class _Parts:
    """The fake songs in the repo's zipped parts: each part opened once (its directory), members found by
    song name, read one by one; a part is local (``root``) or fetched through the Hub cache on first use."""

    def __init__(self, mapping: dict[str, str], local: dict[str, Path], lazy):
        self.mapping, self.local, self.lazy = mapping, local, lazy
        self._open: dict[str, tuple[A.ZipArchive, dict[str, str]]] = {}
        self._lock = threading.Lock()

    def archive(self, part: str) -> tuple[A.ZipArchive, dict[str, str]]:
        with self._lock:
            if part not in self._open:
                path = self.local.get(part) or self.lazy.get(part)
                zf = A.ZipArchive(path)
                self._open[part] = (zf, {stem(m): m for m in zf.members()})
            return self._open[part]


class _PartFetch:
    """The fetch of one fake from its part; ``known_input`` gives the disk preflight what is known without
    fetching the part (the member's size once the part is on this machine, the CSV's duration)."""

    def __init__(self, parts: _Parts, part: str, name: str, seconds: float | None):
        self.parts, self.part, self.name, self.seconds = parts, part, name, seconds

    def __call__(self):
        zf, members = self.parts.archive(self.part)
        member = members.get(stem(self.name))
        if member is None:
            raise MissingAudio(f"{self.part} holds no {stem(self.name)}.mp3 although {MAPPING} maps it there")
        return zf.read(member)

    def known_input(self) -> tuple[int | None, float | None]:
        if self.part in self.parts.local:
            zf, members = self.parts.archive(self.part)
            member = members.get(stem(self.name))
            return (zf.size(member) if member else None), self.seconds
        return None, self.seconds


class SonicsSource:
    def __init__(self, protocol, options: dict):
        self.protocol, self.opt = protocol, options
        self.download = _flag(options.get("download", False))
        self.official = options.get("split_mode") == "official"
        self.root = Path(options["root"]).expanduser().resolve() if options.get("root") else None
        self.cache = Path(options.get("cache") or settings.cache_dir() / "downloads" / protocol.name).expanduser()
        self.by_algo = {m: g for g in protocol.generators for m in g.extra.get("match", [g.id])}
        self.min_duration = _float(options.get("min_duration_s"))
        self.require_vocals = _flag(options.get("require_vocals", False))
        self.repo: str = str(options.get("hf_repo") or "awsaf49/sonics")
        self.revision: str | None = options.get("hf_revision")
        self._fetched: dict[str, Path] = {}

    def _hub(self, files: list[str], what: str) -> dict[str, Path]:
        """``files`` of the dataset repo, through the local Hugging Face cache (preflight first)."""
        from mom_bench.core.hub_files import dataset_file
        from mom_bench.dataset import hub_parts

        hub_parts.preflight(self.repo, files, self.revision, what=what)
        return {f: dataset_file(self.repo, f, revision=self.revision, needs=files) for f in files}

    def _meta_folder(self) -> Path:
        if self.opt.get("manifests"):
            return Path(self.opt["manifests"]).expanduser()
        if self.root is not None and (self.root / self.opt["fakes_csv"]).exists():
            return self.root
        if not self.download:
            raise FileNotFoundError("SONICS needs fake_songs.csv and real_songs.csv: pass --root (the SONICS folder), "
                                    "--manifests DIR, or --download")
        files = [self.opt["fakes_csv"], self.opt["reals_csv"]] + (list(SPLIT_FILES) if self.official else [])
        self._fetched.update(self._hub(files, "SONICS' metadata"))
        return self._fetched[self.opt["fakes_csv"]].parent

    def _official_splits(self, folder: Path) -> dict[str, str] | None:
        """song stem -> its split from the repo's split files, where they are (else None: the column)."""
        paths = {name: self._fetched.get(name) or folder / name for name in SPLIT_FILES}
        if not all(p.is_file() for p in paths.values()):
            return None
        out: dict[str, str] = {}
        for name, path in paths.items():
            with open(path, newline="", encoding="utf-8") as fh:
                reader = csv.DictReader(fh)
                col = next((c for c in ("filename", "filepath", "file", "path") if c in (reader.fieldnames or ())),
                           None)
                if col is None:
                    raise ManifestError(f"{path}: no filename or filepath column (columns: {reader.fieldnames})")
                for rec in reader:
                    out[stem(rec.get(col) or "")] = SPLIT_FILES[name]
        return out

    def _parts(self, folder: Path, index: AudioIndex) -> _Parts | None:
        """The zipped parts that hold wanted fakes without a local copy, or None when there are none (or no
        ``metadata.json`` to say where they are). Checks free space before any part is fetched."""
        wanted: list[str] = []
        with open(folder / self.opt["fakes_csv"], newline="", encoding="utf-8") as fh:
            for rec in csv.DictReader(fh):
                name = rec.get("filename") or ""
                if name and not index.by_stem.get(stem(name)) and \
                        _excluded_by(rec, self.min_duration, self.require_vocals) is None:
                    wanted.append(stem(name))
        if not wanted:
            return None
        local_map = next((p for p in (self.root / MAPPING if self.root else None, folder / MAPPING)
                          if p is not None and p.is_file()), None)
        if local_map is None and not self.download:
            return None
        if local_map is None:
            local_map = self._hub([MAPPING], "SONICS' part index")[MAPPING]
        mapping = read_mapping(local_map)
        from mom_bench.dataset.paths import safe_join

        needed = sorted({mapping[s] for s in wanted if s in mapping})
        local = {p: safe_join(self.root, p, what=MAPPING) for p in needed
                 if self.root is not None and safe_join(self.root, p, what=MAPPING).is_file()}
        lazy = None
        fetch = [p for p in needed if p not in local]
        if fetch and self.download:
            from mom_bench.dataset import hub_parts

            hub_parts.preflight(self.repo, fetch, self.revision, what=f"SONICS ({len(wanted)} fake songs)")
            lazy = hub_parts.LazyFiles(self.repo, self.revision, fetch)
            for p in fetch:  # the parts already in the cache count as local: their sizes are known
                cached = self._cached(p)
                if cached is not None:
                    local[p] = cached
        return _Parts({s: p for s, p in mapping.items() if p in local or lazy is not None}, local, lazy)

    def _cached(self, filename: str) -> Path | None:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(self.repo, filename, revision=self.revision, repo_type="dataset")
        return Path(found) if isinstance(found, str) else None

    def rows(self):
        folder = self._meta_folder()
        index = AudioIndex()
        for tree in {self.root, self.cache if self.download else None} - {None}:
            if tree.exists():
                index.add_tree(tree)
        self.splits = self._official_splits(folder) if self.official else None
        self.parts = self._parts(folder, index)
        self.table: Counter = Counter()
        self.disagree = 0
        real = self.protocol.reals[0]
        for key, label in (("reals_csv", 0), ("fakes_csv", 1)):
            path = folder / self.opt[key]
            with open(path, newline="", encoding="utf-8") as fh:
                for line, rec in enumerate(csv.DictReader(fh), start=2):
                    yield self._row(rec, label, real, index, f"{path.name} line {line}")
        if self.official:
            self._print_table()

    def _print_table(self) -> None:
        """The algorithm x split table of the fakes kept, and whatever it shows: an algorithm only in test is
        a generator no training split holds."""
        splits = [s for s in ("train", "valid", "test", "none") if any(k[1] == s for k in self.table)]
        algos = sorted({a for a, _ in self.table})
        where = "train.csv / valid.csv / test.csv" if self.splits is not None else "the split column"
        lines = [f"SONICS official split ({where}), fake songs kept, algorithm x split:",
                 "  " + "algorithm".ljust(22) + "".join(s.rjust(9) for s in splits)]
        for a in algos:
            lines.append("  " + a.ljust(22) + "".join(str(self.table[(a, s)]).rjust(9) for s in splits))
        only_test = [a for a in algos if all(self.table[(a, s)] == 0 for s in splits if s != "test")]
        if only_test:
            lines.append(f"  only in test (unseen in training): {', '.join(only_test)}")
        if self.disagree:
            lines.append(f"  {self.disagree} rows whose split column differs from the split files (the files win)")
        print("\n".join(lines), file=sys.stderr)

    def _split_of(self, rec: dict, row_id: str) -> str | None:
        column = str(rec.get("split", "")).strip().lower()
        if self.splits is None:
            return column or None
        official = self.splits.get(row_id)
        if official and column and column != official:
            self.disagree += 1
        return official

    def _row(self, rec: dict, label: int, real, index: AudioIndex, where: str) -> SourceRow:
        name = rec.get("filename") or ""
        row_id = stem(name) or f"row-{where}"
        meta = {k: rec[k] for k in _META if rec.get(k) not in (None, "")}
        if label == 1:
            meta["fake_type"] = rec.get("label") or ""
            g = self.by_algo.get(rec.get("algorithm", ""))
            generator = g.id if g else f"unknown:{rec.get('algorithm')}"
            source, key = generator, f"{generator}:id={row_id}"
        else:
            generator, source = "real", real.id
            # SONICS' own split has singers in several splits on purpose (seen/unseen singer): in official
            # mode each song is its own group, otherwise reals are grouped by artist
            key = f"{source}:id={row_id}" if self.official else group_key(source, row_id, meta, real.group_by)
        excluded = _excluded_by(rec, self.min_duration, self.require_vocals)
        official = self._split_of(rec, row_id) if self.official else None
        split = _SPLIT.get(official or "") if self.official else None
        if label == 1 and self.official and not excluded:
            self.table[(str(rec.get("algorithm", "")), official or "none")] += 1
        folders = ("fake_songs",) if label else ("real_songs",)
        part = self.parts.mapping.get(row_id) if self.parts is not None and label == 1 else None
        if part is not None and not excluded and not index.by_stem.get(row_id):
            assert self.parts is not None
            return SourceRow(id=row_id, label=label, generator=generator, source=source, group_key=key, meta=meta,
                             fetch=_PartFetch(self.parts, part, name, _float(rec.get("duration"))), split=split,
                             stamp=f"{part}@{self.revision or 'local'}")

        def fetch():
            if excluded:
                raise Excluded(excluded)
            path = index.find(name, folders)
            if path is None:
                where_ = f"not found under {self.root}" if self.root else "no local audio root given (--root)"
                raise MissingAudio(f"{'YouTube-only real song, ' if label == 0 else ''}{where_}")
            return path
        return SourceRow(id=row_id, label=label, generator=generator, source=source, group_key=key, meta=meta,
                         fetch=fetch, split=split)
