"""The SONICS source: its metadata CSVs + a local copy of its audio (the official layout).

Layout under ``root`` (as the official code expects it): ``fake_songs.csv``, ``real_songs.csv``,
``fake_songs/<filename>.mp3``, ``real_songs/<filename>.<ext>`` (files are found by name anywhere below
the root). With ``download`` the CSVs (and whatever ``hf_patterns`` names) are fetched from the
dataset repo at ``hf_revision``; the real songs are YouTube audio and must be local.

Fake rows get their generator from the ``algorithm`` column (``match`` lists in the protocol) and keep
the fake type (``label``: full / mostly / half fake) as ``fake_type``. Rows outside the official filter
(shorter than ``min_duration_s`` or without vocals) are reported as ``excluded``. With
``--split-mode official`` each row keeps its ``split`` column (train / valid -> validation / test ->
test_id).
"""
from __future__ import annotations

import csv
from pathlib import Path

from mom_bench.core import settings
from mom_bench.core.splits import TEST_ID, TRAIN, VALIDATION
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

    def _meta_folder(self) -> Path:
        if self.opt.get("manifests"):
            return Path(self.opt["manifests"]).expanduser()
        if self.root is not None and (self.root / self.opt["fakes_csv"]).exists():
            return self.root
        if not self.download:
            raise FileNotFoundError("SONICS needs fake_songs.csv and real_songs.csv: pass --root (the SONICS folder), "
                                    "--manifests DIR, or --download")
        from huggingface_hub import snapshot_download

        patterns = [self.opt["fakes_csv"], self.opt["reals_csv"]]
        patterns += [p for g in self.protocol.generators for p in g.extra.get("hf_patterns", [])]
        snapshot_download(self.opt["hf_repo"], repo_type="dataset", revision=self.opt.get("hf_revision"),
                          allow_patterns=patterns, local_dir=self.cache)
        return self.cache

    def rows(self):
        folder = self._meta_folder()
        index = AudioIndex()
        for tree in {self.root, self.cache if self.download else None} - {None}:
            if tree.exists():
                index.add_tree(tree)
        real = self.protocol.reals[0]
        for key, label in (("reals_csv", 0), ("fakes_csv", 1)):
            path = folder / self.opt[key]
            with open(path, newline="", encoding="utf-8") as fh:
                for line, rec in enumerate(csv.DictReader(fh), start=2):
                    yield self._row(rec, label, real, index, f"{path.name} line {line}")

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
        excluded = None
        duration = _float(rec.get("duration"))
        if self.min_duration is not None and duration is not None and duration < self.min_duration:
            excluded = f"excluded by the official filter: duration {duration:.1f} s < {self.min_duration:g} s"
        elif self.require_vocals and str(rec.get("no_vocal", "")).strip().lower() in ("true", "1"):
            excluded = "excluded by the official filter: no vocals"
        split = _SPLIT.get(str(rec.get("split", "")).strip().lower()) if self.official else None
        folders = ("fake_songs",) if label else ("real_songs",)

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
