"""The MoM v1 source: manifests of the official code + a local audio root + (on request) downloads.

Where a row's audio comes from, in order:

1. the **local audio root** (``root``), laid out as the official instructions describe: one folder per
   generator or real source holding the files named as in the manifests. Any layout below the root
   works: files are found by name (with or without extension); when a name occurs twice, the copy in
   the folder named after the generator (its ``folder``, ``manifest_name`` or ``id``) wins;
2. with ``download``: the Hugging Face dataset repo (``hf_repo`` at the pinned ``hf_revision``) for the
   generators it hosts (``hf_patterns``), fetched once with ``huggingface_hub.snapshot_download`` (which
   resumes interrupted files), then found by name like the local root;
3. with ``download``: the generator's HTTP link list (``link_list``: a CSV with a file-name column and a
   URL column, read from the ``links`` folder or from the dataset repo), fetched by
   :func:`mom_bench.dataset.download.download` into the cache;
4. otherwise the row is reported ``missing`` with the reason (YouTube-only reals are never downloaded:
   they must be in the local root).

Options (protocol ``source`` block, overridable from the command line): ``manifests`` (folder with the
three manifest CSVs; default: fetched from the dataset repo when ``download`` is set), ``root``,
``download``, ``links``, ``hf_repo``, ``hf_revision``, ``cache`` (download folder), ``sonics_metadata``
(SONICS ``real_songs.csv``: groups the real songs by artist), ``timeout``, ``retries``.
"""
from __future__ import annotations

import csv
import os
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from mom_bench.core import settings
from mom_bench.dataset.paths import safe_join
from mom_bench.dataset.sources.rows import MissingAudio, SourceRow, group_key

AUDIO_EXTS = {".mp3", ".wav", ".flac", ".ogg", ".opus", ".m4a", ".aac", ".webm", ".mp4"}
_BOOL = {"1", "true", "yes", "on"}


def _flag(value) -> bool:
    return value is True or str(value).strip().lower() in _BOOL


def stem(filename: str) -> str:
    """File name without folder and audio extension: the row id (called for every manifest row)."""
    name = str(filename).strip().rpartition("/")[2]
    base, dot, ext = name.rpartition(".")
    return base if dot and base and f".{ext.lower()}" in AUDIO_EXTS else name


class AudioIndex:
    """File name -> paths under one or more folders, built by one walk of each folder."""

    def __init__(self) -> None:
        self.by_stem: dict[str, list[Path]] = defaultdict(list)

    def add_tree(self, root: Path) -> None:
        for dirpath, _dirs, files in os.walk(root, followlinks=False):
            for f in files:
                if os.path.splitext(f)[1].lower() in AUDIO_EXTS:
                    self.by_stem[stem(f)].append(Path(dirpath) / f)

    def find(self, name: str, folders: tuple[str, ...]) -> Path | None:
        paths = self.by_stem.get(stem(name), [])
        if len(paths) <= 1:
            return paths[0] if paths else None
        wanted = {f.lower() for f in folders if f}
        preferred = [p for p in paths if p.parent.name.lower() in wanted]
        if len(preferred) == 1:
            return preferred[0]
        raise MissingAudio(f"{len(paths)} files named {stem(name)!r} in the audio root "
                           f"({', '.join(map(str, paths[:3]))}); "
                           "keep one, or put it in the generator's folder")


def read_manifests(folder: Path, names: dict) -> dict[str, list[dict]]:
    """The three manifests as lists of dict rows, keyed ``fakes``, ``real_songs``, ``real_yt_covers``."""
    out = {}
    for key in ("fakes", "real_songs", "real_yt_covers"):
        path = Path(folder) / names[key]
        if not path.is_file():
            raise FileNotFoundError(f"MoM manifest not found: {path} (pass --manifests DIR holding "
                                    f"{', '.join(names.values())}, or --download to fetch them)")
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if "filename" not in (reader.fieldnames or []):
                raise ValueError(f"{path}: no 'filename' column (columns: {reader.fieldnames})")
            out[key] = [dict(r, _line=i) for i, r in enumerate(reader, start=2)]
    return out


def _read_links(path: Path, prefix: str | None) -> dict[str, dict]:
    """stem -> {url, size, sha256, md5} from a link CSV. File-name column: filename/file/name/id; URL
    column: the first whose name contains 'url' or 'link'. Without a name column the n-th link (from 0)
    is taken to be ``<prefix>_<n>``, the naming of the manifests."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        cols = reader.fieldnames or []
        lower = {c.lower(): c for c in cols}
        url_col = next((c for c in cols if "url" in c.lower() or "link" in c.lower()), None)
        name_col = next((lower[k] for k in ("filename", "file", "file_name", "name", "id", "song_id") if k in lower),
                        None)
        if url_col is None:
            raise ValueError(f"{path}: no URL column (a column whose name contains 'url' or 'link'); columns: {cols}")
        if name_col is None and not prefix:
            raise ValueError(f"{path}: no file-name column (filename/file/name/id) and no naming prefix")
        links = {}
        for i, rec in enumerate(reader):
            url = (rec.get(url_col) or "").strip()
            if not url:
                continue
            key = stem(rec[name_col]) if name_col else f"{prefix}_{i}"
            links[key] = {"url": url, "size": _int(rec.get(lower.get("size", ""), None)),
                          "sha256": rec.get(lower.get("sha256", "")) or None,
                          "md5": rec.get(lower.get("md5", "")) or None}
        return links


def _int(v):
    try:
        return int(v) if v not in (None, "") else None
    except ValueError:
        return None


class MomSource:
    def __init__(self, protocol, options: dict):
        self.protocol = protocol
        self.opt = options
        self.download = _flag(options.get("download", False))
        self.official = options.get("split_mode") == "official"
        self.cache = Path(options.get("cache") or settings.cache_dir() / "downloads" / protocol.name).expanduser()
        self.root = Path(options["root"]).expanduser().resolve() if options.get("root") else None
        if self.root is not None and not self.root.is_dir():
            raise FileNotFoundError(f"local audio root not found: {self.root}")
        self.by_manifest = {g.extra.get("manifest_name", g.id): g for g in protocol.generators}
        self.manifest_names = options.get("manifests_files") or protocol.source.get("manifests") or {}
        if isinstance(self.manifest_names, str):
            raise ValueError(f"{protocol.path}: source.manifests must map fakes/real_songs/real_yt_covers "
                             "to file names")
        self.timeout = float(options.get("timeout", 30))
        self.retries = int(options.get("retries", 4))

    # ---------------------------------------------------------------------------------- manifests
    def _manifest_folder(self) -> Path:
        folder = self.opt.get("manifests")
        if isinstance(folder, dict):
            folder = None
        if folder:
            return Path(folder).expanduser()
        if not self.download:
            raise FileNotFoundError("MoM needs its manifests: pass --manifests DIR (the CSVs of the official code: "
                                    f"{', '.join(self.manifest_names.values())}) or --download to fetch them from "
                                    f"{self.opt.get('hf_repo')}")
        from huggingface_hub import hf_hub_download

        out = self.cache / "manifests"
        for name in self.manifest_names.values():
            hf_hub_download(self.opt["hf_repo"], name, repo_type="dataset", revision=self.opt.get("hf_revision"),
                            local_dir=out)
        return out

    def _hf_snapshot(self) -> Path | None:
        patterns = [p for g in self.protocol.generators for p in g.extra.get("hf_patterns", [])]
        if not (self.download and patterns):
            return None
        from huggingface_hub import snapshot_download

        target = self.cache / "hf"
        snapshot_download(self.opt["hf_repo"], repo_type="dataset", revision=self.opt.get("hf_revision"),
                          allow_patterns=patterns, local_dir=target)
        return target

    def _links_for(self, gen) -> dict[str, dict]:
        rel = gen.extra.get("link_list")
        if not (self.download and rel):
            return {}
        if self.opt.get("links"):
            path = safe_join(Path(self.opt["links"]).expanduser(), os.path.basename(rel), what="link list")
            if not path.exists():
                path = safe_join(Path(self.opt["links"]).expanduser(), rel, what="link list")
        else:
            from huggingface_hub import hf_hub_download

            path = Path(hf_hub_download(self.opt["hf_repo"], rel, repo_type="dataset",
                                        revision=self.opt.get("hf_revision"), local_dir=self.cache / "links"))
        if not path.exists():
            raise FileNotFoundError(f"link list of {gen.id} not found: {path}")
        return _read_links(path, self._prefixes.get(gen.id))

    # ---------------------------------------------------------------------------------- rows
    def rows(self) -> Iterator[SourceRow]:
        manifests = read_manifests(self._manifest_folder(), self.manifest_names)
        index = AudioIndex()
        if self.root is not None:
            index.add_tree(self.root)
        self._errors: dict[str, str] = {}  # generator id -> why its online copy could not be had
        hosted = {g.id for g in self.protocol.generators if g.extra.get("hf_patterns")}
        if self.download and any(self.by_manifest.get(r.get("model_name")) is not None
                                 and self.by_manifest[r["model_name"]].id in hosted
                                 and index.by_stem.get(stem(r["filename"])) is None for r in manifests["fakes"]):
            try:
                hf = self._hf_snapshot()
                if hf is not None and hf.exists():
                    index.add_tree(hf)
            except Exception as err:  # offline, auth, a moved repo: the rows are reported, the build goes on
                for gid in hosted:
                    self._errors[gid] = f"download from {self.opt.get('hf_repo')} failed ({type(err).__name__}: {err})"
        self._prefixes: dict[str, str] = {}  # generator id -> file-name prefix of its fakes
        for rec in manifests["fakes"]:
            g = self.by_manifest.get(rec.get("model_name"))
            m = re.match(r"^(.*)_\d+$", stem(rec["filename"]))
            if g is not None and m:
                self._prefixes.setdefault(g.id, m.group(1))
        links = {}
        for g in self.protocol.generators:
            try:
                links[g.id] = self._links_for(g)
            except Exception as err:
                links[g.id] = {}
                self._errors[g.id] = f"link list unavailable ({type(err).__name__}: {err})"
        artists = self._sonics_artists()

        for rec in manifests["fakes"]:
            name = rec["filename"]
            g = self.by_manifest.get(rec.get("model_name"))
            gen_id = g.id if g else str(rec.get("model_name"))
            row_id = stem(name)
            folders = (g.extra.get("folder", ""), g.extra.get("manifest_name", ""), g.id) if g else ()
            yield SourceRow(id=row_id, label=1, generator=gen_id, source=gen_id, group_key=f"{gen_id}:id={row_id}",
                            meta={"filename": name},
                            fetch=self._fetcher(index, name, folders, links.get(gen_id, {}), g, youtube=False))
        for key in ("real_songs", "real_yt_covers"):
            real = next((r for r in self.protocol.reals if r.extra.get("manifest", r.id) == key), None)
            src = real.id if real else key
            for rec in manifests[key]:
                name = rec["filename"]
                row_id = stem(name)
                meta = {"filename": name}
                if key == "real_songs" and row_id in artists:
                    meta["artist"] = artists[row_id]
                yield SourceRow(id=row_id, label=0, generator="real", source=src,
                                group_key=group_key(src, row_id, meta, real.group_by if real else ()), meta=meta,
                                fetch=self._fetcher(index, name, (real.extra.get("folder", ""), src) if real else (),
                                                    {}, None, youtube=bool(real and real.extra.get("youtube_only"))))

    def _sonics_artists(self) -> dict[str, str]:
        path = self.opt.get("sonics_metadata")
        if not path:
            return {}
        with open(Path(path).expanduser(), newline="", encoding="utf-8") as fh:
            return {stem(r["filename"]): r["artist"] for r in csv.DictReader(fh) if r.get("artist")}

    def _fetcher(self, index: AudioIndex, name: str, folders, links: dict, gen, *, youtube: bool):
        def fetch():
            path = index.find(name, folders)
            if path is not None:
                return path
            where = f"not in the local audio root ({self.root})" if self.root else "no local audio root given (--root)"
            if youtube:
                raise MissingAudio(f"YouTube-only row, {where}; place it there as <root>/<folder>/{name}")
            link = links.get(stem(name))
            if link is not None:
                from mom_bench.dataset.download import download

                ext = os.path.splitext(name)[1] or ".mp3"
                dest = safe_join(self.cache / "links" / gen.id, stem(name) + ext, what="download target")
                return download(link["url"], dest, size=link["size"], sha256=link["sha256"], md5=link["md5"],
                                timeout=self.timeout, retries=self.retries)
            if gen is not None and gen.id in self._errors:
                raise MissingAudio(f"{where}; {self._errors[gen.id]}")
            if gen is not None and (gen.extra.get("hf_patterns") or gen.extra.get("link_list")) and not self.download:
                raise MissingAudio(f"{where}; hosted online: pass --download to fetch it")
            raise MissingAudio(where + (" and not found online" if self.download else ""))
        return fetch
