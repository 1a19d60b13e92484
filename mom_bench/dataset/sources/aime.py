"""The AIME source (Grötschla et al., ICASSP 2025, arXiv 2506.19085; Hugging Face ``disco-eth/AIME``): Parquet
shards ``data/train-NNNNN-of-00210.parquet`` whose rows hold ``id``, ``model``, ``description`` and ``audio``
(a ``datasets.Audio`` struct of ``bytes`` and ``path``; the dataset card lists the fields and the 13 model
labels). The label ``MTG-Jamendo`` marks the 500 real Jamendo excerpts, shipped in the same shards.

Every generator renders the same 500 descriptions as the reals, so rows are grouped by description and split
by :mod:`.shared_prompts` (a prompt never straddles splits). The corpus publishes no split: ``--split-mode
official`` is refused. What identifies the generator without listening (the shard index, the ``id`` range,
``audio.path``, which spells the prompt tags) never reaches the audio column: ``id`` is kept as the
``aime_id`` metadata (read as text, leading zeros intact) and ``audio.path`` is not read.

Options: ``root`` (a folder holding the shards, e.g. ``hf download disco-eth/AIME --repo-type dataset``) or
``download`` (only the shards selected by ``shards``, e.g. ``-o shards=0-9``, into the Hugging Face cache after
the disk preflight), ``hf_repo``, ``hf_revision``, ``hf_files``.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

from mom_bench.core.errors import CorpusFilesMissing, ProtocolError
from mom_bench.dataset.sources.hub_corpus import hub_corpus, select_indices
from mom_bench.dataset.sources.parquet_cells import Readers, small_columns
from mom_bench.dataset.sources.rows import Excluded, SourceRow, normalise
from mom_bench.dataset.sources.shared_prompts import place

_SHARD = re.compile(r"-(\d+)-of-(\d+)\.parquet$")
_SAFE = re.compile(r"[^A-Za-z0-9._\-]+")


def shard_index(name: str, position: int) -> int:
    """The shard number in ``train-00012-of-00210.parquet``; a file named otherwise counts by its position.

    >>> shard_index("data/train-00012-of-00210.parquet", 0), shard_index("x.parquet", 3)
    (12, 3)
    """
    m = _SHARD.search(name)
    return int(m.group(1)) if m else position


def text_id(value) -> str:
    """A corpus id as text: strings as they are (``"05331"`` keeps its zero), numbers in decimal."""
    return value if isinstance(value, str) else str(value)


def row_id(prefix: str, corpus_id: str) -> str:
    """``<prefix>-<corpus id>`` with characters outside ``[A-Za-z0-9._-]`` replaced (and a short hash of the
    original added when anything was replaced, so two ids never collide).

    >>> row_id("musicgen_small", "05331"), row_id("udio", "a b")
    ('musicgen_small-05331', 'udio-a-b-c8687a08')
    """
    clean = _SAFE.sub("-", corpus_id).strip("-.") or "x"
    if clean != corpus_id:
        clean = f"{clean[:150]}-{hashlib.sha256(corpus_id.encode('utf-8')).hexdigest()[:8]}"
    return f"{prefix}-{clean}"


def description_text(value) -> str:
    """A ``description`` cell (a list of tag strings, or a string) as one line of tags."""
    if isinstance(value, (list, tuple)):
        return " | ".join(str(v) for v in value)
    return "" if value is None else str(value)


def prompt_key(corpus: str, value) -> str | None:
    """The group key of a description: its tags, normalised and sorted (the same prompt however listed)."""
    tags = value if isinstance(value, (list, tuple)) else [value] if value not in (None, "") else []
    tags = sorted(normalise(t) for t in tags if str(t).strip())
    return f"{corpus}:description={' | '.join(tags)}" if tags else None


class AimeSource:
    def __init__(self, protocol, options: dict):
        self.protocol, self.opt = protocol, options
        if options.get("split_mode") == "official":
            raise ProtocolError("AIME publishes no split of its own (it is the material of a listening survey): "
                                "build it with the strict split (the default)")
        self.corpus = hub_corpus("AIME", options, protocol)
        self.by_model = {m: g for g in protocol.generators for m in g.extra.get("match", [g.name])}
        self.real_models = {m: r for r in protocol.reals for m in r.extra.get("match", [r.name])}
        self.readers = Readers(options.get("audio_column", "audio"), options.get("audio_field", "bytes") or None)

    def shards(self) -> list[Path]:
        folder = str(self.opt.get("data_folder", "data"))
        chosen = select_indices(self.opt.get("shards"), "AIME: shards")
        local = self.corpus.local_files(lambda rel: rel.endswith(".parquet"))
        names: dict[str, Path | None] = dict(local)
        if self.corpus.download:
            listed = {p: s for p, s in self.corpus.listing(folder).items() if p.endswith(".parquet")}
            have = {Path(p).name for p in local}
            wanted = {p: s for i, (p, s) in enumerate(listed.items())
                      if (chosen is None or shard_index(p, i) in chosen) and Path(p).name not in have}
            names.update(self.corpus.fetch(wanted, include=[f"{folder}/*.parquet"]))
        elif self.corpus.root is None:
            raise CorpusFilesMissing("AIME needs its Parquet shards: pass --root DIR (a folder holding "
                                     f"{folder}/train-*.parquet) or --download (fetches them from "
                                     f"{self.corpus.repo} at {self.corpus.revision})")
        ordered = sorted(((shard_index(p, i), p, path) for i, (p, path) in enumerate(sorted(names.items()))),
                         key=lambda t: (t[0], t[1]))
        paths = [path for i, _p, path in ordered if path is not None and (chosen is None or i in chosen)]
        if not paths:
            raise CorpusFilesMissing(f"AIME: no Parquet shards found under {self.corpus.root or 'the download'}")
        return paths

    def rows(self) -> Iterator[SourceRow]:
        for path in self.shards():
            cols = small_columns(path, ["id", "model"], optional=("description",))
            size = path.stat().st_size
            descriptions = cols.get("description") or [None] * len(cols["id"])
            for i, (cid, model, desc) in enumerate(zip(cols["id"], cols["model"], descriptions)):
                yield self._row(path, i, text_id(cid), str(model), desc, f"{path.name}:{size}:{i}")

    def _row(self, path: Path, index: int, cid: str, model: str, desc, stamp: str) -> SourceRow:
        real = self.real_models.get(model)
        gen = self.by_model.get(model)
        if real is not None:
            label, generator, source, rid = 0, "real", real.id, row_id(real.id, cid)
        else:
            label, generator = 1, gen.id if gen is not None else f"unknown:{model}"
            source, rid = generator, row_id(gen.id if gen is not None else "unknown", cid)
        key = prompt_key("aime", desc) or f"aime:id={rid}"
        spot = place(self.protocol, key, rid, label, bool(gen is not None and gen.is_ood))
        meta = {"aime_id": cid, "model": model, "description": description_text(desc)}
        readers, excluded = self.readers, spot.excluded

        def fetch():
            if excluded:
                raise Excluded(excluded)
            return readers.get(path, index, rid)
        return SourceRow(id=rid, label=label, generator=generator, source=source, group_key=spot.group_key,
                         meta=meta, fetch=fetch, split=spot.split, stamp=stamp)
