"""AI-OpenBMAT (López-Ayala et al., "AI-Generated Music Detection in Broadcast Monitoring", ICASSP 2026,
arXiv 2602.06823): one-minute TV-style excerpts, human production music against Suno v3.5 continuations, each
mixed with speech; read member by member out of ``AI-OpenBMAT.zip`` (Zenodo record 20031232).

Layout: ``AI-OpenBMAT/ai/gen_<id>_ai.wav`` and ``AI-OpenBMAT/human/gen_<id>.wav``, each with a JSON file of the
same name describing its timeline. The excerpts are found by the name of the folder that holds them (``ai`` /
``human``, the protocol's ``folder`` keys), at any depth, so an archive without the top folder reads the same.
The reals ship in the archive.

An AI excerpt and the human one of the same ``<id>`` share their speech timeline (and the AI music continues the
human piece), so both are in one group, ``pair=gen_<id>``, and a pair never straddles splits. From each JSON
only cheap facts are kept as row columns: ``speech_s`` (seconds with speech, overlaps merged) and ``speech_share``
(that over the duration); a JSON that is absent or unreadable gives the row no such columns. There is one
generator, so nothing is held out: the data card says what test_ood means here (nothing).
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import PurePosixPath

from mom_bench.core.errors import AudioError, BuildError
from mom_bench.dataset.sources.mom import AUDIO_EXTS, stem
from mom_bench.dataset.sources.rows import SourceRow
from mom_bench.dataset.sources.zenodo import ZenodoArchive, member_reader

#: A timeline JSON larger than this is not one (they are a few kB).
_MAX_JSON_BYTES = 1 << 20


def speech_facts(doc) -> dict[str, float]:
    """``speech_s`` and ``speech_share`` of a timeline document (``duration``, ``segments[].sources[]`` with
    ``type``, ``start``, ``duration``), or ``{}`` when it does not have that shape.

    >>> speech_facts({"duration": 60, "segments": [{"sources": [
    ...     {"type": "speech", "start": 0, "duration": 10}, {"type": "speech", "start": 5, "duration": 10},
    ...     {"type": "music", "start": 0, "duration": 60}]}]})
    {'speech_s': 15.0, 'speech_share': 0.25}
    """
    try:
        total = float(doc["duration"])
        spans = sorted((float(s["start"]), float(s["start"]) + float(s["duration"]))
                       for seg in doc["segments"] for s in seg.get("sources", []) if s.get("type") == "speech")
    except (KeyError, TypeError, ValueError, AttributeError):
        return {}
    if not total > 0:
        return {}
    covered, end = 0.0, 0.0
    for a, b in spans:
        a, b = max(a, end, 0.0), min(b, total)
        if b > a:
            covered += b - a
            end = b
    return {"speech_s": round(covered, 3), "speech_share": round(covered / total, 4)}


class AiOpenBmatSource:
    def __init__(self, protocol, options: dict):
        if options.get("split_mode") == "official":
            raise BuildError(f"{protocol.name} publishes no split; use the strict split (the default; see the "
                             "data card)")
        self.protocol = protocol
        self.archive = ZenodoArchive(protocol, options)
        self.fake = protocol.generators[0]
        self.real = protocol.reals[0]
        self.folders = {str(self.fake.extra.get("folder", "ai")).lower(): 1,
                        str(self.real.extra.get("folder", "human")).lower(): 0}

    def rows(self) -> Iterator[SourceRow]:
        zf = self.archive.open()
        members = list(zf.members())
        present = set(members)
        for name in members:
            path = PurePosixPath(name)
            label = self.folders.get(path.parent.name.lower()) if len(path.parts) >= 2 else None
            if label is None or path.suffix.lower() not in AUDIO_EXTS:
                continue
            row_id = stem(path.name)
            pair = row_id[:-3] if label == 1 and row_id.lower().endswith("_ai") else row_id
            meta: dict = {"pair": pair, "member": name}
            doc_name = str(path.with_suffix(".json"))
            if doc_name in present:
                meta.update(self._timeline(zf, doc_name))
            source = self.fake.id if label else self.real.id
            yield SourceRow(id=row_id, label=label, generator=self.fake.id if label else "real", source=source,
                            group_key=f"pair={pair}", meta=meta, fetch=member_reader(zf, name),
                            stamp=f"{zf.path.name}|{name}|{zf.size(name)}")

    @staticmethod
    def _timeline(zf, name: str) -> dict[str, float]:
        if zf.size(name) > _MAX_JSON_BYTES:
            return {}
        try:
            return speech_facts(json.loads(zf.read(name)))
        except (AudioError, ValueError):  # a damaged side file costs the row its speech columns, nothing more
            return {}
