"""Tiny copies of the two Hub-hosted zipped corpora, in their published layouts, with real audio written by the
suite's encoder path, and the loopback Hub (tests/_loopback_hub.py) that serves them.

- Echoes (HF ``Octavian97/Echoes``): one ``Echoes.zip`` holding ``Echoes/dataset_manifest.csv`` (columns
  ``path_in_dataset, original_audio, generator, type, genre, description, duration``; references with embedded
  commas and doubled quotes; the empty-reference MusicGen path listed three times) and the songs under
  ``Echoes/{TTA,ATA}/<generator>/`` (mp3, MusicGen wav), macOS junk included, one member corrupted; and the
  user's FMA folder (``fma_metadata/tracks.csv`` with FMA's two header rows, ``fma_large/NNN/NNNNNN.mp3``).
- SONICS (HF ``awsaf49/sonics``): ``fake_songs.csv``, ``real_songs.csv``, ``train.csv``/``valid.csv``/``test.csv``,
  ``metadata.json`` (``file_mapping``) and ``fake_songs/part_NN.zip`` (members ``fake_songs/<filename>.mp3``).
"""
from __future__ import annotations

import csv
import io
import json
import tempfile
import zipfile
from pathlib import Path

from _build_fixtures import write_tone
from _loopback_hub import Repo, UploadHub

ECHOES_REPO, ECHOES_SHA = "Octavian97/Echoes", "14b0c76c6a691c42fadfab9fb6a4eb1ee8c628a2"
SONICS_REPO, SONICS_SHA = "awsaf49/sonics", "3788dca9f9f11ad92e9097ef4b58eee247661e7f"


def tone(index: int, ext: str, seconds: float = 1.0) -> bytes:
    """A short noisy tone encoded as ``ext`` (mp3: 44.1 kHz stereo, wav: 32 kHz mono, as the corpora ship)."""
    fmt = {"mp3": ("mp3", 44100, 2), "wav": ("wav", 32000, 1)}[ext]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"x.{ext}"
        write_tone(path, index, seconds, fmt)
        return path.read_bytes()


def corrupt(zip_bytes: bytes, member: str) -> bytes:
    """``zip_bytes`` with bytes in the middle of ``member``'s stored data flipped: its CRC no longer matches."""
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as zf:
        info = zf.getinfo(member)
    data = bytearray(zip_bytes)
    name_len = int.from_bytes(data[info.header_offset + 26: info.header_offset + 28], "little")
    extra_len = int.from_bytes(data[info.header_offset + 28: info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_len + extra_len + info.compress_size // 2
    for i in range(start, start + 64):
        data[i] ^= 0xFF
    return bytes(data)


def make_zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:  # mp3 is stored, as archivers do
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------------- Echoes

# reference -> (FMA track ids carrying that title and artist in tracks.csv, the ids whose audio the user has)
REFERENCES = {
    '10,000 People Chanting, "I\'m an Individual" - Nihilore': ([2], [2]),
    "Remain - Acoustic Unleashed": ([5, 140], [140]),  # ambiguous in FMA: the copy present is taken
    "Night Drive - Kosmo": ([1001], [1001]),
    "Paper Boats - Lina Vale": ([2002], [2002]),
    "Lost Song - Nobody Known": ([], []),  # no such track in FMA's metadata
    "Gone Track - Away": ([3003], []),  # in tracks.csv, but not in the user's audio
}
_TITLES = {
    2: ('10,000 People Chanting, "I\'m an Individual"', "Nihilore"), 5: ("Remain", "Acoustic Unleashed"),
    140: ("Remain", "Acoustic Unleashed"), 1001: ("Night Drive", "Kosmo"), 2002: ("Paper Boats", "Lina Vale"),
    3003: ("Gone Track", "Away"), 4004: ("Unrelated", "Someone"),
}
# (type, generator, reference index, extension)
_FAKES = [("TTA", "acestep", 0, "mp3"), ("TTA", "suno", 0, "mp3"), ("ATA", "diffrhythm", 0, "mp3"),
          ("TTA", "acestep", 1, "mp3"), ("TTA", "producer", 1, "mp3"), ("TTA", "suno", 2, "mp3"),
          ("TTA", "udio", 2, "mp3"), ("TTA", "mubert", 3, "mp3"), ("ATA", "songgen", 3, "mp3"),
          ("TTA", "elevenlabs", 4, "mp3"), ("TTA", "stableaudio", 5, "mp3"), ("TTA", "brev", 5, "mp3")]
MUSICGEN_EMPTY = "TTA/musicgen/_musicgen_TTA_001.wav"
CORRUPT = "TTA/udio/Night_Drive_Kosmo_udio_TTA_001.mp3"


def _file_name(ref: str, generator: str, kind: str, ext: str) -> str:
    title, _, artist = ref.rpartition(" - ")
    words = "".join(c if c.isalnum() or c == " " else "" for c in f"{title} {artist}").split()
    return f"{'_'.join(words)}_{generator}_{kind}_001.{ext}"


def echoes_zip(*, corrupt_member: bool = True) -> tuple[bytes, list[dict]]:
    """Echoes.zip's bytes and its manifest rows."""
    refs = list(REFERENCES)
    rows, members = [], {}
    for i, (kind, gen, r, ext) in enumerate(_FAKES):
        rel = f"{kind}/{gen}/{_file_name(refs[r], gen, kind, ext)}"
        rows.append({"path_in_dataset": rel, "original_audio": refs[r], "generator": gen, "type": kind,
                     "genre": "Electronic", "description": "cinematic, idm, downtempo, layered", "duration": "1.0"})
        members[f"Echoes/{rel}"] = tone(100 + i, ext)
    for _ in range(3):  # the manifest lists this path three times
        rows.append({"path_in_dataset": MUSICGEN_EMPTY, "original_audio": " - ", "generator": "musicgen",
                     "type": "TTA", "genre": "Pop", "description": "pop, upbeat", "duration": "1.0"})
    members[f"Echoes/{MUSICGEN_EMPTY}"] = tone(99, "wav")
    manifest = io.StringIO()
    w = csv.DictWriter(manifest, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    files = {"Echoes/dataset_manifest.csv": manifest.getvalue().encode(),
             "__MACOSX/Echoes/TTA/acestep/._junk.mp3": b"\x00\x05\x16\x07 apple double",
             "Echoes/.DS_Store": b"junk", **members}
    data = make_zip(files)
    return (corrupt(data, f"Echoes/{CORRUPT}") if corrupt_member else data), rows


def fma_folder(folder: Path) -> Path:
    """The user's FMA copy: FMA's tracks.csv (two header rows and the track_id row) and the audio present."""
    meta = folder / "fma_metadata"
    meta.mkdir(parents=True)
    with open(meta / "tracks.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["", "album", "artist", "artist", "set", "track", "track"])
        w.writerow(["", "title", "id", "name", "subset", "genre_top", "title"])
        w.writerow(["track_id", "", "", "", "", "", ""])
        for tid, (title, artist) in sorted(_TITLES.items()):
            w.writerow([tid, "An album", tid, artist, "large", "Electronic", title])
    for _ref, (_ids, present) in REFERENCES.items():
        for tid in present:
            path = folder / "fma_large" / f"{tid // 1000:03d}" / f"{tid:06d}.mp3"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(tone(tid % 97, "mp3"))
    return folder


# --------------------------------------------------------------------------------------------------- SONICS

SONICS_FAKES = [  # filename, algorithm, fake type, duration, no_vocal, split, part
    ("fake_22147_suno_0", "chirp-v3.5", "full fake", 60.0, "False", "train", 1),
    ("fake_22147_suno_1", "chirp-v3.5", "full fake", 60.0, "False", "train", 1),
    ("fake_30001_udio_0", "udio-120s", "half fake", 120.0, "False", "valid", 1),
    ("fake_30002_suno_0", "chirp-v3", "mostly fake", 90.0, "False", "test", 2),
    ("fake_30003_udio_0", "udio-30s", "full fake", 40.0, "False", "test", 2),
    ("fake_30004_suno_0", "chirp-v2-xxl-alpha", "full fake", 20.0, "False", "train", 3),  # too short
    ("fake_30005_suno_0", "chirp-v3", "full fake", 60.0, "True", "train", 3),  # no vocals: part 3 is never wanted
]
SONICS_REALS = [  # filename, artist, duration, split
    ("real_00001", "Artist A", 200.0, "train"), ("real_00002", "Artist B", 180.0, "valid"),
    ("real_00003", "Artist C", 150.0, "test"), ("real_00004", "Artist D", 100.0, "test"),
]
CORRUPT_SONICS = "fake_30003_udio_0"


def _csv(rows: list[dict]) -> bytes:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return out.getvalue().encode()


def sonics_files() -> dict[str, bytes]:
    """The repo's files. Part 3 holds only a short song and one without vocals, so a build never fetches it."""
    fakes = [{"id": i, "filename": f, "title": f"Song {i}", "duration": d, "algorithm": a, "style": "pop",
              "source": f.split("_")[2], "label": t, "target": 1, "no_vocal": nv,
              "split": s} for i, (f, a, t, d, nv, s, _p) in enumerate(SONICS_FAKES)]
    reals = [{"id": i, "filename": f, "title": f"Real {i}", "artist": artist, "year": 2010, "duration": d,
              "youtube_id": f"yt{i}", "label": "real", "target": 0, "no_vocal": "False", "split": s}
             for i, (f, artist, d, s) in enumerate(SONICS_REALS)]
    files: dict[str, bytes] = {"fake_songs.csv": _csv(fakes), "real_songs.csv": _csv(reals)}
    for name, split in (("train.csv", "train"), ("valid.csv", "valid"), ("test.csv", "test")):
        kept = [{"filepath": f"./dataset/{'fake' if r['target'] else 'real'}_songs/{r['filename']}.mp3",
                 "filename": r["filename"], "target": r["target"]} for r in fakes + reals
                if r["split"] == split and float(r["duration"]) >= 30 and r["no_vocal"] == "False"]
        files[name] = _csv(kept)
    parts: dict[int, dict[str, bytes]] = {}
    for i, (f, *_rest, part) in enumerate(SONICS_FAKES):
        parts.setdefault(part, {"__MACOSX/fake_songs/._x.mp3": b"junk"})[f"fake_songs/{f}.mp3"] = tone(200 + i, "mp3")
    mapping = {}
    for part, members in parts.items():
        name = f"fake_songs/part_{part:02d}.zip"
        data = make_zip(members)
        if part == 2:
            data = corrupt(data, f"fake_songs/{CORRUPT_SONICS}.mp3")
        files[name] = data
        mapping.update({m: name for m in members if not m.startswith("__MACOSX")})
    files["metadata.json"] = json.dumps({"file_mapping": mapping}).encode()
    return files


def sonics_reals(folder: Path, present=("real_00001", "real_00002", "real_00003")) -> Path:
    """The user's YouTube reals (``real_songs/<filename>.wav``); the others are missing."""
    (folder / "real_songs").mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(present):
        write_tone(folder / "real_songs" / f"{name}.wav", 300 + i, 1.0, ("wav", 22050, 2))
    return folder


# --------------------------------------------------------------------------------------------------- the Hub

def publish(hub: UploadHub, repo_id: str, sha: str, files: dict[str, bytes]) -> None:
    """``files`` as commit ``sha`` (also ``main``) of dataset repo ``repo_id`` on the loopback Hub."""
    repo = hub.repos.setdefault(("dataset", repo_id), Repo(private=False))
    repo.commits[sha] = dict(files)
    repo.refs["main"] = sha
