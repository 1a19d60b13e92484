"""The ArtifactBench source (Intrect; runner github.com/Intrect-io/artifactbench; Hub ``intrect/artifactbench``).

Files of the dataset repo:

- ``artifactbench_v1_manifest.json``: ``{"bench": [...], "metadata": {...}}``, one row per track with ``path`` (the
  author's own disk path: never used as a path here), ``label`` (``ai`` | ``real``), ``source``, ``track_id``,
  ``bench_origin`` (``test`` | ``train``) and ``generator`` (the runner's ``load_manifest`` reads these keys);
- ``ai_tracks/*.parquet``: the AI tracks' encoded files in ``audio_bytes``, with ``track_id``, ``source``,
  ``generator``, ``format``;
- ``v2/artifactbench_v2_primary_manifest.json`` (optional): ``{"tracks": [...], ...}``, metadata only, each track
  with ``protocol_split`` (calibration / validation / test), ``lineage_id``, ``audio_sha256``,
  ``legacy_track_id_sha256`` (sha256 of the v1 ``track_id``) and ``retrieval`` (``mode``, ``upstream``, and
  ``fma_track_id`` or ``video_id`` for reals), as the runner's release script writes it.

The reals are not distributed (YouTube and FMA ids): ``--reals DIR`` is matched by file name against the id in
the ``track_id`` (``<16 hex>_<YouTube id>``, ``<16 hex>_<6-digit FMA id>``), the v2 ``video_id`` /
``fma_track_id``, the whole ``track_id`` and the file name of the author's path; every unmatched real is
reported ``missing`` with its ids. A manifest row whose AI track is in no shard is reported ``missing`` too.

ArtifactBench re-hosts tracks of AIME, SONICS and MoM: each row's ``lineage`` column (``aime``, ``sonics``,
``mom``, ``cdn``, ``fma``, ``youtube``) lets a cross-corpus evaluation drop them, and ``lineage_id`` /
``upstream`` (from v2) are kept beside it.

Splits: strict by default (rows grouped by v2 ``lineage_id`` where known, else by track). ``--split-mode
official``: ``bench_origin`` (train -> train, test -> test_id), or with ``-o official_split=v2`` the v2
``protocol_split`` (calibration -> train, validation -> validation, test -> test_id; rows outside the v2
protocol are excluded). A held-out generator's rows keep only their official test part (in test_ood).
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

from mom_bench.core import settings
from mom_bench.core.errors import CorpusFilesMissing, ManifestError, ProtocolError
from mom_bench.core.hub_files import missing_from_cache
from mom_bench.core.splits import TEST_ID, TEST_OOD, TRAIN, VALIDATION
from mom_bench.dataset.sources.aime import row_id
from mom_bench.dataset.sources.hub_corpus import hub_corpus, local_option, select_indices
from mom_bench.dataset.sources.mom import AudioIndex, stem
from mom_bench.dataset.sources.parquet_cells import Readers, small_columns
from mom_bench.dataset.sources.rows import Excluded, MissingAudio, SourceRow

_V1 = {"train": TRAIN, "test": TEST_ID}
_V2 = {"calibration": TRAIN, "validation": VALIDATION, "test": TEST_ID}
_HASHED = re.compile(r"^[0-9a-f]{16}_(.+)$")
_LINEAGE = (("aime_", "aime"), ("sonics_", "sonics"), ("mom_", "mom"), ("suno_", "cdn"), ("udio_", "cdn"),
            ("fma_", "fma"), ("youtube_", "youtube"))


def lineage(source: str) -> str:
    """The corpus a track was taken from, by its ArtifactBench ``source`` name.

    >>> lineage("aime_musicgen_large"), lineage("mom_real_wav"), lineage("udio_cdn_latest"), lineage("x")
    ('aime', 'mom', 'cdn', 'artifactbench')
    """
    return next((name for prefix, name in _LINEAGE if source.startswith(prefix)), "artifactbench")


def real_keys(track_id: str, v2: dict | None, path: str) -> list[str]:
    """File stems a user's copy of a real track may carry, most specific first.

    >>> real_keys("62936ba7333c2f5f_gvPMVKUI9go", None, "/media/x/mom_real_wav/gvPMVKUI9go.wav")
    ['gvPMVKUI9go', '62936ba7333c2f5f_gvPMVKUI9go']
    """
    keys = []
    retrieval = (v2 or {}).get("retrieval") or {}
    for k in ("video_id", "fma_track_id"):
        if retrieval.get(k):
            keys.append(str(retrieval[k]))
    m = _HASHED.match(track_id)
    if m:
        keys.append(m.group(1))
    keys.append(track_id)
    if path:
        keys.append(stem(str(path).replace("\\", "/")))  # the author's file name, as a name only
    out: list[str] = []
    for k in keys:
        if k and k not in out:
            out.append(k)
    return out


def _read_json(path: Path, what: str) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ManifestError(f"{path}: not a readable {what} ({type(err).__name__}: {err})") from err
    if not isinstance(data, dict):
        raise ManifestError(f"{path}: {what}: expected a JSON object")
    return data


class ArtifactBenchSource:
    def __init__(self, protocol, options: dict):
        self.protocol, self.opt = protocol, options
        self.official = options.get("split_mode") == "official"
        self.which = str(options.get("official_split", "v1"))
        if self.which not in ("v1", "v2"):
            raise ProtocolError(f"ArtifactBench: official_split must be v1 (bench_origin) or v2 (protocol_split), "
                                f"got {self.which!r}")
        self.corpus = hub_corpus("ArtifactBench", options, protocol)
        self.reals_dir = local_option(options, "reals", protocol)
        self.by_source = {m: g for g in protocol.generators for m in g.extra.get("match", [g.id])}
        self.real_by_source = {m: r for r in protocol.reals for m in r.extra.get("match", [r.id])}
        self.readers = Readers("audio_bytes")
        self.notes: list[str] = []

    # ------------------------------------------------------------------ files
    def _files(self) -> tuple[Path, Path | None, list[Path]]:
        manifest = str(self.opt.get("manifest", "artifactbench_v1_manifest.json"))
        v2_name = str(self.opt.get("v2_manifest", "v2/artifactbench_v2_primary_manifest.json"))
        folder = str(self.opt.get("tracks_folder", "ai_tracks"))
        chosen = select_indices(self.opt.get("shards"), "ArtifactBench: shards")
        local = {k: self.corpus.local(k) for k in (manifest, v2_name)}
        shards = self.corpus.local_files(lambda rel: rel.endswith(".parquet"))
        if self.corpus.download:
            listed = self.corpus.listing()
            want = {p: s for p, s in listed.items()
                    if (p in (manifest, v2_name) and local.get(p) is None)
                    or (p.startswith(folder + "/") and p.endswith(".parquet") and Path(p).name not in
                        {Path(q).name for q in shards})}
            if manifest not in listed and local[manifest] is None:
                want[manifest] = -1
            if settings.offline() and v2_name in want and not (self.official and self.which == "v2") and \
                    missing_from_cache(self.corpus.repo, [v2_name], self.corpus.revision, repo_type="dataset"):
                del want[v2_name]  # optional metadata: offline, its absence from the cache is no error
            got = self.corpus.fetch(want, include=[f"{folder}/*.parquet", manifest, v2_name])
            for key in (manifest, v2_name):
                local[key] = local.get(key) or got.pop(key, None)
            shards.update(got)
        elif self.corpus.root is None:
            raise CorpusFilesMissing(f"ArtifactBench needs its manifest and Parquet shards: pass --root DIR (a copy "
                                     f"of {self.corpus.repo}) or --download; the reals come from --reals DIR")
        found = local[manifest]
        if found is None:
            raise CorpusFilesMissing(f"ArtifactBench: {manifest} not found under {self.corpus.root}")
        ordered = [path for i, (_rel, path) in enumerate(sorted(shards.items(), key=lambda kv: Path(kv[0]).name))
                   if chosen is None or i in chosen]
        return found, local.get(v2_name), ordered

    # ------------------------------------------------------------------ rows
    def rows(self) -> Iterator[SourceRow]:
        manifest_path, v2_path, shards = self._files()
        manifest = _read_json(manifest_path, "ArtifactBench manifest")
        entries = manifest.get("bench", manifest.get("tracks"))
        if not isinstance(entries, list):
            raise ManifestError(f"{manifest_path}: no 'bench' list of tracks")
        by_id: dict[str, dict] = {}
        for i, e in enumerate(entries):
            if not isinstance(e, dict) or not isinstance(e.get("track_id"), str):
                raise ManifestError(f"{manifest_path}: bench[{i}] has no track_id")
            by_id.setdefault(e["track_id"], e)
        v2: dict[str, dict] = {}
        if v2_path is not None:
            for t in _read_json(v2_path, "ArtifactBench v2 manifest").get("tracks") or []:
                if isinstance(t, dict) and t.get("legacy_track_id_sha256"):
                    v2[str(t["legacy_track_id_sha256"])] = t
        elif self.official and self.which == "v2":
            raise CorpusFilesMissing("ArtifactBench: -o official_split=v2 needs v2/artifactbench_v2_primary_manifest"
                                     ".json (in --root, or fetched with --download)")
        index = AudioIndex()
        if self.reals_dir is not None:
            index.add_tree(self.reals_dir)
        seen: set[str] = set()
        for path in shards:  # AI tracks in file order: the audio column is streamed
            cols = small_columns(path, ["track_id"], optional=("source", "generator", "format"))
            size = path.stat().st_size
            for i, tid in enumerate(cols["track_id"]):
                tid = str(tid)
                entry = by_id.get(tid)
                if tid in seen:
                    continue
                seen.add(tid)
                if entry is None:
                    entry = {"track_id": tid, "label": "ai", "source": str((cols.get("source") or [""] * (i + 1))[i]),
                             "generator": (cols.get("generator") or [None] * (i + 1))[i], "_unlisted": True}
                fmt = (cols.get("format") or [None] * (i + 1))[i]
                yield self._row(entry, v2, index, (path, i, f"{path.name}:{size}:{i}", fmt))
        for tid, entry in by_id.items():
            if tid not in seen:
                yield self._row(entry, v2, index, None)

    def _row(self, e: dict, v2: dict, index: AudioIndex, cell) -> SourceRow:
        tid, source = str(e["track_id"]), str(e.get("source") or "")
        label = 0 if str(e.get("label")).lower() == "real" else 1
        t2 = v2.get(hashlib.sha256(tid.encode("utf-8")).hexdigest())
        meta = {"track_id": tid, "lineage": lineage(source), "bench_origin": e.get("bench_origin") or "",
                "manifest_generator": e.get("generator") or "", "in_manifest": not e.get("_unlisted")}
        if t2 is not None:
            meta.update(v2_track_id=t2.get("track_id") or "", lineage_id=t2.get("lineage_id") or "",
                        protocol_split=t2.get("protocol_split") or "",
                        upstream=(t2.get("retrieval") or {}).get("upstream") or "",
                        retrieval_mode=(t2.get("retrieval") or {}).get("mode") or "",
                        v2_audio_sha256=t2.get("audio_sha256") or "")
        if cell is not None and cell[3]:
            meta["hosted_format"] = str(cell[3])
        if label == 0:
            real = self.real_by_source.get(source)
            generator, src = "real", real.id if real is not None else source
            gen = None
        else:
            gen = self.by_source.get(source)
            generator = src = gen.id if gen is not None else f"unknown:{source}"
        rid = row_id(src if gen is not None or label == 0 else "unknown", tid)
        group = f"artifactbench:lineage={meta['lineage_id']}" if meta.get("lineage_id") else \
            f"artifactbench:track={tid}"
        split, excluded = self._official(e, t2, bool(gen is not None and gen.is_ood))
        stamp, fetch = None, None
        if cell is not None:
            path, i, stamp, _fmt = cell
            readers = self.readers

            def fetch():
                if excluded:
                    raise Excluded(excluded)
                return readers.get(path, i, rid)
        elif label == 1:
            def fetch():
                if excluded:
                    raise Excluded(excluded)
                raise MissingAudio(f"listed in the manifest (track_id {tid!r}, source {source}) but its audio is in "
                                   "no Parquet shard of ai_tracks/")
        else:
            keys = real_keys(tid, t2, str(e.get("path") or ""))
            found = next((p for k in keys for p in [self._find(index, k)] if p is not None), None)
            if found is not None:
                st = found.stat()
                stamp = f"{found}:{st.st_size}:{st.st_mtime_ns}"
            where = f"not in --reals {self.reals_dir}" if self.reals_dir else "no --reals folder given"

            def fetch():
                if excluded:
                    raise Excluded(excluded)
                if found is None:
                    raise MissingAudio(f"real track {tid} ({source}) is not distributed: {where}; put your copy "
                                       f"there named {keys[0]}.<ext> (ids: {', '.join(keys[:2])})")
                return found
        return SourceRow(id=rid, label=label, generator=generator, source=src, group_key=group, meta=meta,
                         fetch=fetch, split=split, stamp=stamp)

    @staticmethod
    def _find(index: AudioIndex, key: str) -> Path | None:
        try:
            return index.find(key, ())
        except MissingAudio:
            return None

    def _official(self, e: dict, t2: dict | None, is_ood: bool) -> tuple[str | None, str | None]:
        """(pre-assigned split, exclusion reason) of a row in official mode; (None, None) in strict mode."""
        if not self.official:
            return None, None
        if self.which == "v2":
            raw, table, what = (t2 or {}).get("protocol_split"), _V2, "v2 protocol_split"
        else:
            raw, table, what = e.get("bench_origin"), _V1, "v1 bench_origin"
        split = table.get(str(raw).strip().lower()) if raw else None
        if split is None:
            return None, f"excluded in official mode: no {what} for this track"
        if is_ood:
            if split != TEST_ID:
                return None, f"excluded in official mode: a held-out generator's track of official split {raw}"
            return TEST_OOD, None
        return split, None
