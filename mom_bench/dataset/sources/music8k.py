"""The MUSIC8K source (arXiv 2606.16612; Hugging Face ``homura23/MUSIC8K``, an audio folder of MP3s).

Layout of the dataset repo, as third-party loaders list it: one folder per generator (``acestep1.5``,
``heartmula``, ``mureka_v9``, ``minimax_2.6``, ``suno_v5.5``, ``sunov5_new``) holding ``<item id>.mp3``, or
per-item sub-folders ``<item id>/<name>.mp3``; metadata ``metadata/pop_1000_unique_artist.csv`` (``id``,
``artist``, ``lyrics``, ...) and ``metadata/songs_musiccaps.jsonl`` (``id``, ``lyrics``, ``caption``, ...). Both
layouts are read, below the root or one top folder deeper; a folder that is no generator of the protocol is
reported (its files ``unusable`` with the folder named), never dropped silently.

The item ids are shared across generators (every generator renders the same items), so rows are grouped by item
and split by :mod:`.shared_prompts`. MUSIC8K publishes no reals on the Hub: with ``--reals DIR`` your own copies
of the reference songs, named ``<item id>.<ext>``, are the reals of their items (one real row per id of
``pop_1000_unique_artist.csv``; each id without a file is reported ``missing``).

Options: ``root`` or ``download`` (the generator folders and ``metadata/`` at ``hf_revision``, after the disk
preflight), ``reals``, ``hf_repo``, ``hf_revision``.
"""
from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from mom_bench.core import settings
from mom_bench.core.errors import CorpusFilesMissing, ProtocolError
from mom_bench.dataset.archive import is_junk
from mom_bench.dataset.sources.aime import row_id
from mom_bench.dataset.sources.hub_corpus import hub_corpus, local_option
from mom_bench.dataset.sources.mom import AUDIO_EXTS, AudioIndex, stem
from mom_bench.dataset.sources.rows import Excluded, MissingAudio, SourceRow
from mom_bench.dataset.sources.shared_prompts import place

_ITEM = re.compile(r"^\d+$")
POP = "metadata/pop_1000_unique_artist.csv"
CAPS = "metadata/songs_musiccaps.jsonl"


def audio_item(rel: str, folders: set[str]) -> tuple[str, str, str] | None:
    """(generator folder, item id, take) of an audio file's repo path: ``<folder>/<id>.mp3`` or
    ``<folder>/<id>/<name>.mp3``, the folder at the top or one level down; None for a file outside any folder.

    >>> audio_item("mureka_v9/97136.mp3", {"mureka_v9"}), audio_item("x/heartmula/0012/a.mp3", {"heartmula"})
    (('mureka_v9', '97136', ''), ('heartmula', '0012', 'a'))
    """
    parts = PurePosixPath(rel).parts
    j = next((k for k, p in enumerate(parts[:2]) if p in folders), 0 if len(parts) > 1 else None)
    if j is None or len(parts) - j < 2:
        return None
    rest = parts[j + 1:]
    if len(rest) == 1:
        return parts[j], stem(rest[0]), ""
    item = rest[0] if _ITEM.match(rest[0]) else stem(rest[-1])
    take = stem(rest[-1])
    return parts[j], item, "" if take == item else take


def _metadata(path: Path | None, reader: str) -> dict[str, dict]:
    if path is None:
        return {}
    text = path.read_text(encoding="utf-8-sig")
    rows = (csv.DictReader(io.StringIO(text)) if reader == "csv"
            else (json.loads(line) for line in text.splitlines() if line.strip()))
    return {str(r["id"]).strip(): r for r in rows if isinstance(r, dict) and str(r.get("id", "")).strip()}


class Music8kSource:
    def __init__(self, protocol, options: dict):
        self.protocol, self.opt = protocol, options
        if options.get("split_mode") == "official":
            raise ProtocolError("MUSIC8K publishes no split on the Hub (its MUSIC8K-O / -P subsets are not listed "
                                "per file): build it with the strict split (the default)")
        self.corpus = hub_corpus("MUSIC8K", options, protocol)
        self.reals_dir = local_option(options, "reals", protocol)
        self.by_folder = {g.extra.get("folder", g.id): g for g in protocol.generators}

    def _files(self) -> tuple[dict[str, Path], Path | None, Path | None]:
        def wanted(rel: str) -> bool:
            return not is_junk(rel) and (PurePosixPath(rel).suffix.lower() in AUDIO_EXTS or rel.endswith((POP, CAPS)))
        files = self.corpus.local_files(wanted)
        if self.corpus.download:
            have = set(files)
            listed = {p: s for p, s in self.corpus.listing().items() if wanted(p) and p not in have}
            files.update(self.corpus.fetch(listed, include=[f"{f}/*" for f in self.by_folder] + ["metadata/*"],
                                           complete=not settings.offline()))
        elif self.corpus.root is None:
            raise CorpusFilesMissing(f"MUSIC8K needs its generator folders: pass --root DIR (a copy of "
                                     f"{self.corpus.repo}) or --download")
        pop = next((p for r, p in files.items() if r.endswith(POP)), None)
        caps = next((p for r, p in files.items() if r.endswith(CAPS)), None)
        audio = {r: p for r, p in files.items() if not r.endswith((POP, CAPS))}
        if not audio:
            raise CorpusFilesMissing(
                f"MUSIC8K: no audio files found under {self.corpus.root or self.corpus.repo}"
                + ("; offline the repo's audio files cannot be listed: build from a local copy (--root DIR, made with "
                   f"`hf download {self.corpus.repo} --repo-type dataset --revision {self.corpus.revision} "
                   "--local-dir DIR`)" if settings.offline() and self.corpus.root is None else ""))
        return audio, pop, caps

    def rows(self) -> Iterator[SourceRow]:
        audio, pop_path, caps_path = self._files()
        pop, caps = _metadata(pop_path, "csv"), _metadata(caps_path, "jsonl")
        folders = set(self.by_folder)
        for rel, path in audio.items():
            found = audio_item(rel, folders)
            if found is None:
                continue
            folder, item, take = found
            gen = self.by_folder.get(folder)
            generator = gen.id if gen is not None else f"unknown:{folder}"
            rid = row_id(gen.id if gen is not None else "unknown", f"{item}-{take}" if take else item)
            meta = self._meta(item, pop, caps)
            meta["file"] = rel
            yield self._row(rid, 1, generator, generator, item, meta, path, bool(gen is not None and gen.is_ood))
        if self.reals_dir is not None:
            index = AudioIndex()
            index.add_tree(self.reals_dir)
            real = self.protocol.reals[0]
            for item in pop:
                paths = index.by_stem.get(item, [])
                yield self._row(row_id(real.id, item), 0, "real", real.id, item, self._meta(item, pop, caps),
                                paths[0] if paths else None, False)

    @staticmethod
    def _meta(item: str, pop: dict, caps: dict) -> dict:
        sets = [name for name, table in (("pop", pop), ("musiccaps", caps)) if item in table]
        meta = {"item_id": item, "prompt_set": "+".join(sets)}
        if item in pop and pop[item].get("artist"):
            meta["artist"] = str(pop[item]["artist"])
        if item in caps and caps[item].get("caption"):
            meta["caption"] = str(caps[item]["caption"])
        return meta

    def _row(self, rid: str, label: int, generator: str, source: str, item: str, meta: dict, path: Path | None,
             is_ood: bool) -> SourceRow:
        spot = place(self.protocol, f"music8k:item={item}", rid, label, is_ood)
        reals_dir, excluded = self.reals_dir, spot.excluded
        stamp = None
        if path is not None:
            st = path.stat()
            stamp = f"{st.st_size}:{st.st_mtime_ns}"

        def fetch():
            if excluded:
                raise Excluded(excluded)
            if path is None:
                raise MissingAudio(f"reference song of item {item} not in --reals {reals_dir} (name it {item}.<ext>; "
                                   "MUSIC8K does not distribute its reals)")
            return path
        return SourceRow(id=rid, label=label, generator=generator, source=source, group_key=spot.group_key,
                         meta=meta, fetch=fetch, split=spot.split, stamp=stamp)
