"""FakeMusicCaps (Comanducci, Bestagini, Tubaro; J. Imaging 2025, 11(7):242): MusicCaps captions rendered by five
text-to-music models, read member by member out of ``FakeMusicCaps.zip`` (Zenodo record 15063698).

The archive holds one folder per generator, ``<generator>/<ytid>.wav``, named as the authors' code names them
(``paper_experiments/data_lib.py`` of github.com/polimi-ispl/FakeMusicCaps) and no metadata file: a fake's
generator is its folder (each protocol generator lists the folder names it answers to in ``match``, e.g.
``audioldm2`` and ``audioldm2-music``, the folder the generation script writes), its caption the MusicCaps
YouTube id of its file name. The folders may sit at the archive's root or under one top folder; archiver junk
(``__MACOSX/``, ``._*``) is skipped by :class:`mom_bench.dataset.archive.ZipArchive`.

The reals are the MusicCaps clips themselves, which the archive does not hold (the paper counts 27,605 fakes and
nothing else): one real row per YouTube id met in the archive, read from the user's own copies (``reals``, a
folder searched for ``<ytid>.<audio extension>``; every id without a file is reported ``missing`` with its id).

Splits: every version of one caption (the real clip and each generator's rendering) shares the group key
``musiccaps:ytid=<ytid>``, so a caption is in one split only. A generator of role ``ood`` is held out: its
renderings are kept only for the captions whose group falls in ``test_ood``, and the in-distribution generators'
renderings of those captions are left out, each reported ``excluded`` with the reason, so that test_ood holds
captions no training row has seen, with the real clip and the held-out generator's version of each. The paper's
split is not reproducible from the archive (its test captions are those of SunoCaps, which the archive does not
hold; train and validation come from an unseeded shuffle), so ``--split-mode official`` is refused.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from mom_bench.core.errors import BuildError, CorpusFilesMissing
from mom_bench.core.splits import TEST_OOD
from mom_bench.dataset import splitting
from mom_bench.dataset.sources.mom import AUDIO_EXTS, AudioIndex, stem
from mom_bench.dataset.sources.rows import Excluded, MissingAudio, SourceRow, path_option
from mom_bench.dataset.sources.zenodo import ZenodoArchive, member_reader


def excluded(why: str):
    """A row's fetch that leaves the row out on purpose, with ``why``."""
    def fetch() -> bytes:
        raise Excluded(why)
    return fetch


def file_stamp(path: Path | None) -> str:
    """What a local input file is made of as listed (path, size, mtime_ns), or ``absent``."""
    if path is None:
        return "absent"
    try:
        st = path.stat()
    except OSError:
        return f"unreadable:{path}"
    return f"{path}|{st.st_size}|{st.st_mtime_ns}"


class FakeMusicCapsSource:
    def __init__(self, protocol, options: dict):
        if options.get("split_mode") == "official":
            raise BuildError(f"{protocol.name} has no official split that can be rebuilt: the paper's test set is the "
                             "captions of SunoCaps (not in the archive) and its train/validation split an unseeded "
                             "shuffle; use the strict split (the default; see the data card)")
        self.protocol = protocol
        self.archive = ZenodoArchive(protocol, options)
        self.reals = path_option(protocol, options, "reals")
        if self.reals is not None and not self.reals.is_dir():
            raise CorpusFilesMissing(f"--reals {self.reals}: not a folder (it should hold your MusicCaps clips as "
                               "<ytid>.wav)")
        self.by_folder = {str(m).lower(): g for g in protocol.generators for m in g.extra.get("match", [g.id])}
        self.real = protocol.reals[0]
        self.any_ood = any(g.is_ood for g in protocol.generators)

    def rows(self) -> Iterator[SourceRow]:
        zf = self.archive.open()
        fakes: list[tuple[str, str, str]] = []  # (folder, ytid, member)
        zipped: dict[str, str] = {}  # ytid -> member of a MusicCaps folder, should an archive hold one
        real_folder = str(self.real.extra.get("folder", "")).lower()
        for name in zf.members():
            parts = PurePosixPath(name).parts
            if len(parts) < 2 or PurePosixPath(name).suffix.lower() not in AUDIO_EXTS:
                continue  # a notice or a stray file at the top: no row
            if real_folder and parts[-2].lower() == real_folder:
                zipped[stem(parts[-1])] = name
            else:
                fakes.append((parts[-2], stem(parts[-1]), name))
        index = AudioIndex()
        if self.reals is not None:
            index.add_tree(self.reals)
        for ytid in sorted({ytid for _, ytid, _ in fakes}):
            yield self._real(ytid, index, zf, zipped.get(ytid))
        for folder, ytid, name in fakes:
            yield self._fake(folder, ytid, name, zf)

    def _caption_split(self, key: str) -> str:
        # the split the listing gives the caption's group (it holds the real row, so the reals' weights decide)
        return splitting.assign_split(key, self.protocol.salt, self.protocol.real_weights)

    def _real(self, ytid: str, index: AudioIndex, zf, member: str | None) -> SourceRow:
        src = self.real.id
        path = None
        try:
            path = index.find(ytid, ())
        except MissingAudio:
            pass  # several files for one id: the fetch says so

        def fetch():
            found = index.find(ytid, ())
            if found is None and member is not None:
                return member_reader(zf, member)()
            if found is None:
                where = (f"not in {self.reals}" if self.reals is not None else "no --reals DIR given")
                raise MissingAudio(f"MusicCaps clip {ytid} (YouTube id; its start_s/end_s are in the MusicCaps "
                                   f"CSV) {where}: put its 10-s segment there as {ytid}.wav")
            return found
        return SourceRow(id=f"{src}.{ytid}", label=0, generator="real", source=src, group_key=f"{src}:ytid={ytid}",
                         meta={"ytid": ytid}, fetch=fetch,
                         stamp=file_stamp(path) + (f"|{zf.path.name}|{member}" if member else ""))

    def _fake(self, folder: str, ytid: str, name: str, zf) -> SourceRow:
        g = self.by_folder.get(folder.lower())
        gen_id = g.id if g is not None else folder
        key = f"{self.real.id}:ytid={ytid}"
        meta = {"ytid": ytid, "member": name}
        fetch = member_reader(zf, name)
        if g is not None and self.any_ood:
            split = self._caption_split(key)
            why = None
            if g.is_ood and split != TEST_OOD:
                why = (f"held-out generator {g.id}: caption {ytid} is in {split}, and a held-out generator's "
                       "renderings are kept only for test_ood captions, so that no caption is in two splits")
                key = f"{g.id}:held-out={ytid}"  # its own group: it must not pull the caption into test_ood
            elif not g.is_ood and split == TEST_OOD:
                why = (f"caption {ytid} is a test_ood caption: only the held-out generators' renderings of it are "
                       "kept, so that test_ood holds no in-distribution fake")
            if why is not None:
                fetch = excluded(why)
        return SourceRow(id=f"{gen_id}.{ytid}", label=1, generator=gen_id, source=gen_id, group_key=key, meta=meta,
                         fetch=fetch, stamp=f"{zf.path.name}|{name}|{zf.size(name)}")
