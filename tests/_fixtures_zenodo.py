"""Small zips in the documented layouts of the Zenodo-hosted corpora (FakeMusicCaps, AI-OpenBMAT), archiver junk
and, on request, one corrupted member included; and a loopback server that hosts them as Zenodo does
(``/records/<record>/files/<name>``, HTTP Range honoured, the first transfer cut short on request)."""
from __future__ import annotations

import hashlib
import json
import math
import zipfile
from collections import Counter
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import numpy as np
import torch
from _loopback import LoopbackServer

from mom_bench.core.splits import TEST_ID, TEST_OOD, TRAIN, VALIDATION
from mom_bench.dataset import protocols, splitting

SECONDS = 1.0
# FakeMusicCaps folder names as the authors' code names them, except AudioLDM 2's, which uses the name its
# generation script writes (the protocol answers to both)
FMC_FOLDERS = ("MusicGen_medium", "musicldm", "audioldm2-music", "stable_audio_open", "mustango")


def tone(seed: int, rate: int, seconds: float = SECONDS) -> np.ndarray:
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(rate * seconds)) / rate
    return (0.3 * torch.sin(2 * math.pi * (110 + 7 * seed) * t) + 0.01 * torch.randn(t.shape, generator=g)).numpy()


def bright(seed: int, rate: int, seconds: float = SECONDS) -> np.ndarray:
    g = torch.Generator().manual_seed(1000 + seed)
    return (0.4 * torch.rand(int(rate * seconds), generator=g) - 0.2).numpy()


def float_wav(x: np.ndarray, rate: int) -> bytes:
    """A mono 32-bit IEEE-float WAV (format tag 3, as FakeMusicCaps ships): torchcodec's encoder writes 16-bit PCM
    only, so the RIFF header is written here."""
    data = np.asarray(x, dtype="<f4").tobytes()
    fmt = (3).to_bytes(2, "little") + (1).to_bytes(2, "little") + rate.to_bytes(4, "little") + \
        (rate * 4).to_bytes(4, "little") + (4).to_bytes(2, "little") + (32).to_bytes(2, "little")
    body = b"WAVE" + b"fmt " + len(fmt).to_bytes(4, "little") + fmt + b"data" + len(data).to_bytes(4, "little") + data
    return b"RIFF" + len(body).to_bytes(4, "little") + body


def pcm_wav(x: np.ndarray, rate: int, channels: int = 1) -> bytes:
    """16-bit PCM WAV through torchcodec's encoder (AI-OpenBMAT's format; and the reals a user downloads)."""
    from torchcodec.encoders import AudioEncoder

    wave = torch.from_numpy(np.asarray(x, dtype=np.float32)).repeat(channels, 1)
    return AudioEncoder(wave, sample_rate=rate).to_tensor("wav").numpy().tobytes()


def _zip(path: Path, members: dict[str, bytes], corrupt: str | None) -> Path:
    """Write ``members`` (name -> bytes, None for a folder entry) stored uncompressed, then flip bytes inside
    ``corrupt``'s data so that reading it fails its CRC check."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            if data is None:
                zf.writestr(zipfile.ZipInfo(name), b"")
            else:
                zf.writestr(name, data)
    if corrupt is not None:
        with zipfile.ZipFile(path) as zf:
            info = zf.getinfo(corrupt)
        raw = bytearray(path.read_bytes())
        start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
        for i in range(start + 100, start + 140):
            raw[i] ^= 0xFF
        path.write_bytes(bytes(raw))
    return path


def fmc_ytids() -> list[str]:
    """YouTube-style ids (11 characters, some starting with '-' or '_' as MusicCaps ids do) chosen so that the
    fixture's captions fall in every split of the protocol's strict rule (two each, one in validation)."""
    proto = protocols.load("fakemusiccaps")
    want = {TRAIN: 2, VALIDATION: 1, TEST_ID: 2, TEST_OOD: 2}
    got: list[str] = []
    i = 0
    while any(want.values()):
        ytid = ("-", "_", "a", "Q")[i % 4] + hashlib.sha256(str(i).encode()).hexdigest()[:10]
        split = splitting.assign_split(f"musiccaps:ytid={ytid}", proto.salt, proto.real_weights)
        if want[split]:
            want[split] -= 1
            got.append(ytid)
        i += 1
    return got


def fakemusiccaps_zip(path: Path, *, corrupt: str | None = None, top: str = "") -> tuple[Path, list[str]]:
    """``FakeMusicCaps.zip``: ``<generator>/<ytid>.wav`` (16 kHz mono float32), junk entries, folder entries;
    returns the zip and the ids."""
    ytids = fmc_ytids()
    members: dict[str, bytes | None] = {}
    for k, folder in enumerate(FMC_FOLDERS):
        members[f"{top}{folder}/"] = None
        for j, ytid in enumerate(ytids):
            members[f"{top}{folder}/{ytid}.wav"] = float_wav(bright(10 * k + j, 16000), 16000)
    members[f"__MACOSX/{top}musicldm/._{ytids[0]}.wav"] = b"\x00\x05\x16\x07AppleDouble junk"
    members[f"{top}musicldm/.DS_Store"] = b"junk"
    return _zip(path, members, corrupt), ytids


def musiccaps_reals(folder: Path, ytids: list[str]) -> Path:
    """The user's own MusicCaps clips, as a downloader leaves them: 44.1 kHz stereo 16-bit WAV named <ytid>.wav."""
    folder.mkdir(parents=True, exist_ok=True)
    for j, ytid in enumerate(ytids):
        (folder / f"{ytid}.wav").write_bytes(pcm_wav(tone(j, 44100), 44100, channels=2))
    return folder


def timeline(pair: int, artisan: str) -> dict:
    """An excerpt's JSON in the documented shape: speech over the first ``pair`` seconds (of 10 in a 60-s excerpt
    scaled down to the fixture's length)."""
    speech = float(pair % 3) * 0.25
    return {"duration": SECONDS, "sample_rate": 22050, "artisan": artisan,
            "reference_structure": {"file": f"ref_{pair}.json"},
            "segments": [{"event_type": "music_speech", "duration": SECONDS, "sources": [
                {"type": "music", "file": f"music_{pair}.wav", "start": 0.0, "duration": SECONDS},
                {"type": "speech", "file": f"speech_{pair}.wav", "start": 0.0, "duration": speech}]}]}


def ai_openbmat_zip(path: Path, *, pairs: int = 10, corrupt: str | None = None,
                    top: str = "AI-OpenBMAT/") -> tuple[Path, list[str]]:
    """``AI-OpenBMAT.zip``: ``AI-OpenBMAT/ai/gen_<id>_ai.wav`` and ``AI-OpenBMAT/human/gen_<id>.wav`` (22,050 Hz
    mono 16-bit), each with its JSON; junk entries. Returns the zip and the pair ids."""
    ids = [f"gen_{i:04d}" for i in range(1, pairs + 1)]
    members: dict[str, bytes | None] = {top: None, f"{top}ai/": None, f"{top}human/": None}
    for i, pair in enumerate(ids):
        members[f"{top}ai/{pair}_ai.wav"] = pcm_wav(bright(i, 22050), 22050)
        members[f"{top}ai/{pair}_ai.json"] = json.dumps(timeline(i, "ai")).encode()
        members[f"{top}human/{pair}.wav"] = pcm_wav(tone(i, 22050), 22050)
        members[f"{top}human/{pair}.json"] = json.dumps(timeline(i, "human")).encode()
    members[f"__MACOSX/{top}ai/._{ids[0]}_ai.wav"] = b"\x00\x05\x16\x07AppleDouble junk"
    members[f"{top}human/.DS_Store"] = b"junk"
    return _zip(path, members, corrupt), ids


class ZenodoServer(LoopbackServer):
    """Serves ``files`` (name -> bytes) at ``/records/<record>/files/<name>`` like Zenodo, honouring Range;
    with ``cut_first`` the first transfer of each file stops half way (a dropped connection)."""

    def __init__(self, record: str, files: dict[str, bytes], *, cut_first: bool = False):
        self.hits: Counter = Counter()
        self.ranges: list[str | None] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                prefix = f"/records/{record}/files/"
                path = self.path.split("?", 1)[0]
                body = files.get(path[len(prefix):]) if path.startswith(prefix) else None
                if body is None:
                    self.send_error(404)
                    return
                outer.hits[path] += 1
                rng = self.headers.get("Range")
                outer.ranges.append(rng)
                start = int(rng.split("=")[1].split("-")[0]) if rng else 0
                chunk = body[start:]
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Length", str(len(chunk)))
                self.end_headers()
                if cut_first and outer.hits[path] == 1:
                    self.wfile.write(chunk[: len(chunk) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(chunk)

        super().__init__(Handler)

    def file_url(self, record: str, name: str) -> str:
        return f"{self.url}/records/{record}/files/{name}?download=1"


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()
