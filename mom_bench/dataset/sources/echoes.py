"""The Echoes source (Pascu et al., arXiv 2603.23667): one zip of generated songs with a manifest, and FMA reals
named only by title and artist, which the user supplies.

Where the fakes are read from, in order:

1. ``root``: a folder holding ``Echoes.zip``, or the unpacked tree (a folder holding ``dataset_manifest.csv``,
   or an ``Echoes/`` folder that does); a path to the zip itself works too;
2. with ``download``: ``Echoes.zip`` of the dataset repo ``hf_repo`` at the pinned ``hf_revision``, through the
   local Hugging Face cache (resumable; the disk preflight checks its published size against the cache's free
   space before the download starts; offline, the error names the file and the command that fetches it).

The zip is never unpacked: ``dataset_manifest.csv`` and each song are read member by member
(:class:`mom_bench.dataset.archive.ZipArchive`; archiver junk such as ``__MACOSX/`` is skipped, a corrupt member
is that row's ``unusable`` reason). The manifest's ``path_in_dataset`` is relative to the folder that holds the
manifest (``Echoes/`` in the published zip); it is found wherever it sits in the archive.

Fakes: one row per manifest line, generator from the ``generator`` column (kept as the manifest names it, e.g.
``producer``), id ``<type>-<generator>-<file stem>`` made safe. A path the manifest lists twice is one file: the
repeats are reported ``excluded`` with the line they repeat. Every fake is grouped by its reference
(``original_audio``), so that a reference and the fakes made from it never straddle splits.

Reals: one row per distinct ``original_audio`` ("<FMA track title> - <FMA artist name>"), matched in ``reals``
(``--reals DIR``), which holds either

- ``echoes_reals.csv`` with columns ``original_audio`` (the reference string as in the manifest) and ``file`` (a
  path relative to DIR): the user's own matching, used as it is; or
- FMA's ``tracks.csv`` (from ``fma_metadata.zip``; at DIR's top or in ``DIR/fma_metadata/``) and the FMA audio
  (``fma_large`` or ``fma_full``: files named ``<6-digit track id>.mp3`` anywhere below DIR): a reference matches
  the tracks whose ``track.title + " - " + artist.name`` equals it (compared case-insensitively, spaces
  collapsed); when several tracks match, the lowest track id present below DIR is taken and the others are
  recorded in the row's ``fma_candidates``.

An unmatched reference is reported ``missing`` with the reference string and why (no such track in
``tracks.csv``, or its file not below DIR).
"""
from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import Counter
from pathlib import Path, PurePosixPath

from mom_bench.core.errors import CorpusFilesMissing, ManifestError
from mom_bench.dataset import archive as A
from mom_bench.dataset.paths import safe_join
from mom_bench.dataset.sources.mom import AudioIndex, _flag
from mom_bench.dataset.sources.rows import Excluded, MissingAudio, SourceRow, normalise, path_option

MANIFEST = "dataset_manifest.csv"
_COLUMNS = ("path_in_dataset", "original_audio", "generator")
_META = ("type", "genre", "description", "duration")
_UNSAFE = re.compile(r"[^A-Za-z0-9._\-]+")
REALS_INDEX = "echoes_reals.csv"


def safe_id(text: str, *, limit: int = 200) -> str:
    """``text`` as a row id: characters outside ``[A-Za-z0-9._-]`` become ``_``; a changed, leading-symbol or
    over-long text gets a short hash of the original so that two texts never meet in one id.

    >>> safe_id("TTA-acestep-Remain_acestep_TTA_001")
    'TTA-acestep-Remain_acestep_TTA_001'
    >>> safe_id("real-10,000 People") == safe_id("real-10,000 People") != safe_id("real-10_000 People")
    True
    """
    clean = _UNSAFE.sub("_", text)
    if clean == text and len(clean) <= limit and clean[:1].isalnum():
        return clean
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]
    head = clean.lstrip("._-")[: limit - 11] or "x"
    return f"{head}-{digest}"




class _Zip:
    """The corpus in a zip: ``read(rel)`` gives a member's bytes, ``rel`` relative to the manifest's folder."""

    def __init__(self, path: Path):
        self.archive = A.ZipArchive(path)
        names = [m for m in self.archive.members() if PurePosixPath(m).name == MANIFEST]
        if not names:
            raise CorpusFilesMissing(f"{path}: no {MANIFEST} in the archive; is it Echoes.zip?")
        manifest = min(names, key=lambda m: (m.count("/"), m))
        self.base = manifest[: -len(MANIFEST)]
        self.members = set(self.archive.members())
        self.where = str(path)
        self._manifest = manifest

    def manifest(self) -> bytes:
        return self.archive.read(self._manifest)

    def name(self, rel: str) -> str:
        return A.check_member_name(self.base + rel, self.where)

    def has(self, rel: str) -> bool:
        return self.name(rel) in self.members

    def size(self, rel: str) -> int | None:
        return self.archive.size(self.name(rel)) if self.has(rel) else None

    def read(self, rel: str) -> bytes:
        return self.archive.read(self.name(rel))

    def stamp(self, rel: str) -> str | None:
        """What the member is made from, for the builder's reuse of a row: the zip (its size and modification
        time: another copy or revision of it redoes the rows) and the member's size."""
        if not self.has(rel):
            return None
        st = self.archive.path.stat()
        return f"zip={st.st_size}:{st.st_mtime_ns} member={self.archive.size(self.name(rel))}"


class _Folder:
    """The unpacked tree: the folder that holds the manifest."""

    def __init__(self, folder: Path):
        self.folder, self.where = folder, str(folder)

    def manifest(self) -> bytes:
        return (self.folder / MANIFEST).read_bytes()

    def has(self, rel: str) -> bool:
        return safe_join(self.folder, rel, what="path_in_dataset").is_file()

    def size(self, rel: str) -> int | None:
        path = safe_join(self.folder, rel, what="path_in_dataset")
        return path.stat().st_size if path.is_file() else None

    def read(self, rel: str) -> Path:
        return safe_join(self.folder, rel, what="path_in_dataset")

    def stamp(self, rel: str) -> str | None:
        path = safe_join(self.folder, rel, what="path_in_dataset")
        if not path.is_file():
            return None
        st = path.stat()
        return f"size={st.st_size} mtime_ns={st.st_mtime_ns}"


class MemberFetch:
    """The fetch of one fake: the member's bytes (or the unpacked file); ``known_input`` tells the disk
    preflight its size and the manifest's duration without reading it."""

    def __init__(self, tree, rel: str, seconds: float | None):
        self.tree, self.rel, self.seconds = tree, rel, seconds

    def __call__(self):
        if not self.tree.has(self.rel):
            raise MissingAudio(f"the manifest lists {self.rel} but {self.tree.where} does not hold it")
        return self.tree.read(self.rel)

    def known_input(self) -> tuple[int | None, float | None]:
        return self.tree.size(self.rel), self.seconds


def _float(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def reference_key(ref: str) -> str:
    """What two reference strings are compared by: case-folded, runs of spaces collapsed.

    >>> reference_key("Remain -  Acoustic Unleashed") == reference_key("remain - acoustic unleashed")
    True
    """
    return normalise(ref)


def has_reference(ref: str) -> bool:
    """Whether ``original_audio`` names a track (some manifest rows carry an empty title and artist, ``" - "``)."""
    return bool(ref.replace("-", " ").strip())


def read_fma_tracks(path: Path) -> dict[str, list[str]]:
    """FMA's ``tracks.csv`` (two header rows, then a ``track_id`` row): reference key of
    ``track.title + " - " + artist.name`` -> the track ids (6 digits) that carry it."""
    out: dict[str, list[str]] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        try:
            top, sub = next(reader), next(reader)
        except StopIteration:
            raise ManifestError(f"{path}: empty; expected FMA's tracks.csv from fma_metadata.zip") from None
        cols = list(zip(top, sub))
        try:
            title, artist = cols.index(("track", "title")), cols.index(("artist", "name"))
        except ValueError:
            raise ManifestError(f"{path}: no ('track', 'title') and ('artist', 'name') columns in its two header "
                                "rows; expected FMA's tracks.csv from fma_metadata.zip") from None
        for rec in reader:
            if not rec or not rec[0].strip().isdigit() or len(rec) <= max(title, artist):
                continue  # the 'track_id' header row
            key = reference_key(f"{rec[title]} - {rec[artist]}")
            out.setdefault(key, []).append(f"{int(rec[0]):06d}")
    return out


class _Reals:
    """Reference string -> the user's file for it, or why there is none."""

    def __init__(self, folder: Path | None):
        self.folder = folder
        self.index: dict[str, Path] | None = None
        self.tracks: dict[str, list[str]] | None = None
        self.audio = AudioIndex()
        if folder is None:
            return
        if not folder.is_dir():
            raise CorpusFilesMissing(f"--reals {folder}: no such folder")
        own = folder / REALS_INDEX
        if own.is_file():
            self.index = {}
            with open(own, newline="", encoding="utf-8-sig") as fh:
                reader = csv.DictReader(fh)
                if not {"original_audio", "file"} <= set(reader.fieldnames or ()):
                    raise ManifestError(f"{own}: expected columns original_audio and file, got {reader.fieldnames}")
                for line, rec in enumerate(reader, start=2):
                    if (rec.get("file") or "").strip():
                        self.index[reference_key(rec["original_audio"] or "")] = safe_join(
                            folder, rec["file"].strip(), what=f"{own} line {line}")
            return
        tracks = next((p for p in (folder / "tracks.csv", folder / "fma_metadata" / "tracks.csv") if p.is_file()), None)
        if tracks is None:
            raise CorpusFilesMissing(
                f"--reals {folder} holds neither {REALS_INDEX} (columns original_audio,file) nor FMA's tracks.csv "
                "(from fma_metadata.zip, at its top or in fma_metadata/): Echoes names its reals by FMA title and "
                "artist only, so one of the two is needed to find them (data_cards/echoes.md)")
        self.tracks = read_fma_tracks(tracks)
        self.audio.add_tree(folder)

    def find(self, ref: str) -> tuple[Path | None, dict, str]:
        """(file or None, meta to record, why it is missing)."""
        key = reference_key(ref)
        if self.folder is None:
            return None, {}, "no --reals folder given (the FMA audio and tracks.csv; see data_cards/echoes.md)"
        if self.index is not None:
            path = self.index.get(key)
            if path is None:
                return None, {}, f"not listed in {self.folder / REALS_INDEX}"
            return (path, {}, "") if path.is_file() else (None, {}, f"{path} (from {REALS_INDEX}) does not exist")
        assert self.tracks is not None
        ids = sorted(self.tracks.get(key, ()))
        if not ids:
            return None, {}, "no track of FMA's tracks.csv has this title and artist"
        present = [(i, sorted(self.audio.by_stem[i])[0]) for i in ids if self.audio.by_stem.get(i)]
        meta = {"fma_candidates": " ".join(ids)} if len(ids) > 1 else {}
        if not present:
            return None, meta, f"FMA track(s) {', '.join(ids)} (tracks.csv) not found below {self.folder}"
        track, path = present[0]
        return path, {**meta, "fma_track_id": track}, ""


class EchoesSource:
    def __init__(self, protocol, options: dict):
        self.protocol, self.opt = protocol, options
        self.download = _flag(options.get("download", False))
        self.root = path_option(protocol, options, "root")
        self.reals_dir = path_option(protocol, options, "reals")
        self.by_name = {m: g for g in protocol.generators for m in g.extra.get("match", [g.id])}
        self.repo: str = str(options.get("hf_repo") or "Octavian97/Echoes")
        self.revision: str | None = options.get("hf_revision")
        self.archive_name = options.get("archive") or "Echoes.zip"

    def _tree(self):
        root = self.root
        if root is not None:
            if root.is_file():
                return _Zip(root)
            for folder in (root, root / "Echoes"):
                if (folder / MANIFEST).is_file():
                    return _Folder(folder)
            if (root / self.archive_name).is_file():
                return _Zip(root / self.archive_name)
            if not self.download:
                raise CorpusFilesMissing(f"--root {root} holds neither {self.archive_name} nor the unpacked Echoes/ "
                                         f"folder ({MANIFEST} and TTA/, ATA/); pass the folder that does, or "
                                         "--download")
        if not self.download:
            raise CorpusFilesMissing(f"Echoes needs {self.archive_name}: pass --root DIR (the folder holding it or the "
                                     f"unpacked Echoes/ folder) or --download to fetch it from {self.repo}")
        from mom_bench.core.hub_files import dataset_file
        from mom_bench.dataset import hub_parts

        known = {self.archive_name: int(self.opt["archive_bytes"])} if self.opt.get("archive_bytes") else {}
        hub_parts.preflight(self.repo, [self.archive_name], self.revision, known=known, what="Echoes")
        return _Zip(dataset_file(self.repo, self.archive_name, revision=self.revision))

    def rows(self):
        tree = self._tree()
        data = tree.manifest()
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise ManifestError(f"{tree.where}: {MANIFEST} is not UTF-8 ({err})") from None
        reader = csv.DictReader(io.StringIO(text, newline=""))
        missing = [c for c in _COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise ManifestError(f"{tree.where}: {MANIFEST} lacks column(s) {', '.join(missing)} "
                                f"(columns: {reader.fieldnames})")
        real = self.protocol.reals[0]
        reals = _Reals(self.reals_dir)
        seen: dict[str, int] = {}
        repeats: Counter = Counter()
        references: dict[str, str] = {}  # reference key -> the string as first written
        for line, rec in enumerate(reader, start=2):
            rel = (rec.get("path_in_dataset") or "").strip()
            ref = (rec.get("original_audio") or "").strip()
            name = (rec.get("generator") or "").strip()
            g = self.by_name.get(name)
            generator = g.id if g else f"unknown:{name}"
            kind = (rec.get("type") or "").strip() or "x"
            row_id = safe_id(f"{kind}-{name}-{PurePosixPath(rel).stem}")
            meta = {k: rec[k] for k in _META if rec.get(k) not in (None, "")}
            meta.update(original_audio=ref, path_in_dataset=rel)
            grouped = has_reference(ref)
            key = f"{real.id}:ref={reference_key(ref)}" if grouped else f"{generator}:id={row_id}"
            if grouped:
                references.setdefault(reference_key(ref), ref)
            if rel in seen:
                repeats[rel] += 1
                first = seen[rel]
                yield SourceRow(id=f"{row_id}.dup{repeats[rel] + 1}", label=1, generator=generator, source=generator,
                                group_key=key, meta=meta, fetch=_excluded(
                                    f"{MANIFEST} line {line} repeats path_in_dataset {rel} of line {first}: one "
                                    "file, counted once"))
                continue
            seen[rel] = line
            fetch = MemberFetch(tree, rel, _float(rec.get("duration"))) if rel else _excluded(
                f"{MANIFEST} line {line}: empty path_in_dataset")
            yield SourceRow(id=row_id, label=1, generator=generator, source=generator, group_key=key, meta=meta,
                            fetch=fetch, stamp=tree.stamp(rel) if rel else None)
        for key, ref in references.items():
            path, extra, why = reals.find(ref)
            row_id = safe_id(f"fma-{ref}", limit=120)
            meta = {"original_audio": ref, **extra}
            yield SourceRow(id=row_id, label=0, generator="real", source=real.id, group_key=f"{real.id}:ref={key}",
                            meta=meta, fetch=_found(path, f"FMA reference <{ref}>: {why}"),
                            stamp=str(path) if path else None)


def _excluded(reason: str):
    def fetch():
        raise Excluded(reason)
    return fetch


def _found(path: Path | None, why: str):
    def fetch():
        if path is None:
            raise MissingAudio(why)
        return path
    return fetch
