#!/usr/bin/env python3
"""Regenerate the real-music excerpts shipped with mom-mini (mom_bench/data/mom_mini/).

This is how the shipped files were made; it is not needed to build mom-mini (the excerpts are in the
package). It needs network access to the Debian archive and FFmpeg (through torchcodec):

    python scripts/make_mom_mini_excerpts.py --workdir .scratch/mom-mini-src

Steps, all deterministic:
1. ``apt-get download`` each Debian package in TRACKS (the versions listed; other versions are refused
   unless ``--any-version``), then ``dpkg -x`` it into the work folder.
2. Decode each track through ``mom_bench.core.audio.load`` at 24 kHz mono (channel mean). Frets on Fire songs
   ship as stems: the backing track (song.ogg) and the lead guitar (guitar.ogg) are summed into one mix.
3. Cut EXCERPTS_PER_TRACK windows of EXCERPT_SECONDS: the track minus its first and last 5 s is divided
   into equal segments and each excerpt starts at the beginning of its segment, moved forward in 0.5 s
   steps past any window quieter than -35 dBFS RMS (so no excerpt is an intro's silence).
4. Scale an excerpt down only if its peak exceeds -1 dBFS (loudness is normalised later, at build time,
   identically for reals and fakes), and write it as mono Ogg Vorbis at 24 kHz, ~80 kb/s.
5. Write ATTRIBUTION.csv (one line per excerpt: file, package and version, path in the package, track,
   author, licence, genre, offset and length) and copy each package's copyright file to LICENSES/.

Authors and licences below were read from each package's debian/copyright, the per-album licence files
(Warzone 2100), the Vorbis comments (Wesnoth: ARTIST/LICENSE tags) and the song.ini files (Frets on Fire).
"""
from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mom_bench.core.audio import load  # noqa: E402

OUT = REPO / "mom_bench" / "data" / "mom_mini"
RATE = 24000
EXCERPT_SECONDS = 10.0
EXCERPTS_PER_TRACK = 6
EDGE_SECONDS = 5.0
QUIET_DBFS = -35.0
BIT_RATE = 80000

PACKAGES = {
    "wesnoth-1.16-music": "1:1.16.9-1",
    "singularity-music": "007-2",
    "hyperrogue-music": "12.0q-1",
    "warzone2100-music": "4.3.3-3",
    "fretsonfire-songs-sectoid": "1.dfsg-3.1",
    "fretsonfire-songs-muldjord": "2.dfsg-2.1",
}

_WES = "usr/share/games/wesnoth/1.16/data/core/music/"
_SING = "usr/share/games/singularity/music/"
_HR = "usr/share/hyperrogue/music/"
_WZ = "usr/share/games/warzone2100/music/albums/"
_FOF = "usr/share/games/fretsonfire/data/songs/"

# id, package, path(s) in the package (several = stems to sum), title, author, licence, genre
TRACKS = [
    ("wesnoth-knolls", "wesnoth-1.16-music", [_WES + "knolls.ogg"], "The Knolls of Doldesh",
     "Timothy Pinkham", "GPL-2.0-or-later", "orchestral"),
    ("wesnoth-traveling-minstrels", "wesnoth-1.16-music", [_WES + "traveling_minstrels.ogg"],
     "Traveling Minstrels", "Mattias Westlund", "GPL-2.0-or-later", "folk / orchestral"),
    ("wesnoth-siege-of-laurelmor", "wesnoth-1.16-music", [_WES + "siege_of_laurelmor.ogg"],
     "Siege of Laurelmor", "Doug Kaufman", "GPL-2.0-or-later", "orchestral"),
    ("wesnoth-the-deep-path", "wesnoth-1.16-music", [_WES + "the_deep_path.ogg"], "The Deep Path",
     "Gianmarco Leone", "GPL-2.0-or-later", "orchestral"),
    ("wesnoth-casualties-of-war", "wesnoth-1.16-music", [_WES + "casualties_of_war.ogg"], "Casualties of War",
     "Tyler Johnson", "GPL-2.0-or-later", "orchestral"),
    ("singularity-awakening", "singularity-music", [_SING + "Awakening.ogg"], "Awakening",
     "Max McCracken", "CC-BY-SA-3.0", "electronic"),
    ("singularity-by-product", "singularity-music", [_SING + "By-Product.ogg"], "By-Product",
     "Max McCracken", "CC-BY-SA-3.0", "electronic"),
    ("hyperrogue-graveyard", "hyperrogue-music", [_HR + "hr3-graveyard.ogg"], "Graveyard",
     "Shawn Parrotte", "CC-BY-SA-3.0", "ambient / electronic"),
    ("hyperrogue-hell", "hyperrogue-music", [_HR + "hr3-hell.ogg"], "Hell",
     "Shawn Parrotte", "CC-BY-SA-3.0", "ambient / electronic"),
    ("hyperrogue-lost-mountain", "hyperrogue-music", [_HR + "hr-domina-mountain.ogg"], "Lost Mountain",
     "Lincoln Domina", "CC-BY-SA-3.0", "ambient"),
    ("warzone-recovery-ops", "warzone2100-music", [_WZ + "legacy_soundtrack/track5.opus"], "Recovery Ops",
     "LupusMechanicus", "CC-BY-SA-3.0-or-later OR GPL-2.0-or-later", "electronic / soundtrack"),
    ("warzone-track-1", "warzone2100-music", [_WZ + "original_soundtrack/track1.opus"], "Track 1 (Warzone 2100 OST)",
     "Martin Severn", "GPL-2.0-or-later", "electronic / soundtrack"),
    ("fof-metal-madness", "fretsonfire-songs-sectoid",
     [_FOF + "sectoid/Metal madness/song.ogg", _FOF + "sectoid/Metal madness/guitar.ogg"], "Metal madness",
     "Carlos Viola Iborra (Sectoid)", "MIT", "rock / metal"),
    ("fof-war-of-freedom", "fretsonfire-songs-sectoid",
     [_FOF + "sectoid/War of freedom/song.ogg", _FOF + "sectoid/War of freedom/guitar.ogg"], "War of freedom",
     "Carlos Viola Iborra (Sectoid)", "MIT", "rock / metal"),
    ("fof-chaos-god", "fretsonfire-songs-muldjord",
     [_FOF + "muldjord/chaos_god/song.ogg", _FOF + "muldjord/chaos_god/guitar.ogg"], "Chaos God",
     "El Senator (Muldjord)", "CC-BY-SA-3.0", "metal"),
    ("fof-armygeddon", "fretsonfire-songs-muldjord",
     [_FOF + "muldjord/armygeddon/song.ogg", _FOF + "muldjord/armygeddon/guitar.ogg"], "Armygeddon",
     "El Senator (Muldjord)", "CC-BY-SA-3.0", "metal"),
]

FIELDS = ["file", "track_id", "package", "package_version", "source_path", "title", "author", "license", "genre",
          "start_s", "duration_s"]


def fetch_packages(workdir: Path, any_version: bool) -> None:
    debs = workdir / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    for name, version in PACKAGES.items():
        target = workdir / "x" / name
        if target.is_dir():
            continue
        subprocess.run(["apt-get", "download", f"{name}={version}" if not any_version else name], cwd=debs,
                       check=True)
        deb = sorted(debs.glob(f"{name}_*.deb"))[-1]
        target.mkdir(parents=True)
        subprocess.run(["dpkg", "-x", str(deb), str(target)], check=True)


def decode_track(root: Path, paths: list[str]) -> np.ndarray:
    stems = [load(root / p, RATE, max_seconds=None).samples.numpy() for p in paths]
    n = min(s.size for s in stems)
    return np.sum([s[:n] for s in stems], axis=0).astype(np.float32)


def pick_offsets(x: np.ndarray) -> list[float]:
    n = int(EXCERPT_SECONDS * RATE)
    lo, hi = EDGE_SECONDS, x.size / RATE - EDGE_SECONDS - EXCERPT_SECONDS
    if hi - lo < EXCERPT_SECONDS * (EXCERPTS_PER_TRACK - 1):
        raise SystemExit(f"track too short for {EXCERPTS_PER_TRACK} excerpts: {x.size / RATE:.1f} s")
    segment = (hi - lo) / EXCERPTS_PER_TRACK
    offsets = []
    for k in range(EXCERPTS_PER_TRACK):
        start, limit = lo + k * segment, lo + (k + 1) * segment
        while start < limit:
            w = x[int(start * RATE):int(start * RATE) + n]
            if 20 * np.log10(np.sqrt(np.mean(w ** 2)) + 1e-12) > QUIET_DBFS:
                break
            start += 0.5
        else:
            raise SystemExit(f"no loud enough window in segment {k}")
        offsets.append(round(start, 1))
    return offsets


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", type=Path, default=Path(".scratch/mom-mini-src"),
                    help="where .deb files are downloaded and unpacked (default: %(default)s)")
    ap.add_argument("--any-version", action="store_true", help="accept package versions other than the pinned ones")
    args = ap.parse_args()
    from torchcodec.encoders import AudioEncoder

    fetch_packages(args.workdir, args.any_version)
    if OUT.exists():
        for old in OUT.glob("*.ogg"):
            old.unlink()
    (OUT / "LICENSES").mkdir(parents=True, exist_ok=True)
    rows = []
    for track_id, package, paths, title, author, licence, genre in TRACKS:
        root = args.workdir / "x" / package
        x = decode_track(root, paths)
        for k, start in enumerate(pick_offsets(x)):
            i = int(round(start * RATE))
            w = x[i:i + int(EXCERPT_SECONDS * RATE)]
            peak = float(np.abs(w).max())
            if peak > 10 ** (-1 / 20):
                w = w * (10 ** (-1 / 20) / peak)
            name = f"{track_id}-{k}.ogg"
            AudioEncoder(torch.from_numpy(np.ascontiguousarray(w))[None, :], sample_rate=RATE).to_file(
                OUT / name, bit_rate=BIT_RATE)
            rows.append({"file": name, "track_id": track_id, "package": package,
                         "package_version": PACKAGES[package], "source_path": " + ".join(paths), "title": title,
                         "author": author, "license": licence, "genre": genre, "start_s": f"{start:.1f}",
                         "duration_s": f"{EXCERPT_SECONDS:.1f}"})
        print(f"{track_id}: {EXCERPTS_PER_TRACK} excerpts", flush=True)
    with open(OUT / "ATTRIBUTION.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    for package in PACKAGES:
        doc = args.workdir / "x" / package / "usr/share/doc" / package / "copyright"
        shutil.copyfile(doc, OUT / "LICENSES" / f"{package}.copyright")
    # The Warzone 2100 community albums carry their own licence file beside the tracks.
    shutil.copyfile(args.workdir / "x" / "warzone2100-music" / _WZ / "legacy_soundtrack" / "license.txt",
                    OUT / "LICENSES" / "warzone2100-music.legacy_soundtrack.license.txt")
    size = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {len(rows)} excerpts to {OUT} ({size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
