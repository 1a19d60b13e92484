#!/usr/bin/env python3
"""Regenerate the real-music excerpts shipped with mom-mini (mom_bench/data/mom_mini/).

This is how the shipped files were made; it is not needed to build mom-mini (the excerpts are in the
package). It needs ``apt-get`` (Debian 12 archive), ``dpkg``, ``git`` or network access to GitHub, and the
``ffmpeg`` program with libvorbis:

    python scripts/make_mom_mini_excerpts.py --workdir .scratch/mom-mini-src \\
        [--github librosa/data=/path/to/librosa-data-checkout-or-git-dir] \\
        [--github deezer/spleeter=/path/to/spleeter-checkout-or-git-dir]

Two pools of real music (the ``pool`` column):

* ``debian_music``: rendered game music from Debian 12 packages in ``main`` (DEBIAN, pinned versions).
* ``cc_recordings``: freely licensed recordings kept in public GitHub repositories (GITHUB, pinned commits):
  librosa/data (the example recordings of librosa, with one licence note per file) and deezer/spleeter
  (its demo excerpt, credited in its README).

Steps, all deterministic:

1. ``apt-get download`` each Debian package (the pinned version; ``--any-version`` takes the archive's),
   then ``dpkg -x`` it into ``<workdir>/x/<package>`` (skipped where that folder exists). A source path
   ``archive.pk3!member`` names a file inside a zip archive shipped by the package (UFO:AI, Nexuiz).
   GitHub files are read from a local checkout or bare git directory given with ``--github`` (``git show
   <commit>:<path>`` for a git directory), else downloaded from the commit-pinned raw URL.
2. Decode each track through ``mom_bench.core.audio.load`` at 24 kHz mono (channel mean). Frets on Fire
   songs ship as stems: the backing track (song.ogg) and the lead guitar (guitar.ogg) are summed.
3. Find the audible span (first to last 0.5 s frame above QUIET_DBFS RMS), drop EDGE_SECONDS at both ends
   (fades), and place up to three non-overlapping windows of EXCERPT_SECONDS at about 15 %, 45 % and 75 %
   of the track. A track too short for three takes fewer; one shorter than EXCERPT_SECONDS gets a single
   excerpt whose length is the longest multiple of 3 s that fits (clips are cut at 3 s later). A window
   quieter than QUIET_DBFS RMS is moved in 0.5 s steps until it is not.
4. Scale an excerpt down only if its peak exceeds -1 dBFS (loudness is matched later, at build time), and
   encode it with ffmpeg/libvorbis as mono 24 kHz Ogg Vorbis at VORBIS_QUALITY, with bit-exact muxing (no
   random stream serial, no version tags). The Ogg granule positions keep the exact sample count.
5. Write ATTRIBUTION.csv (one line per excerpt) and copy each source's copyright or licence notes to
   LICENSES/ together with a LICENSES/README that says which file covers what.

Authors and licences below were read from each package's debian/copyright, per-file licence lists
(naev's SOUND_LICENSE.yaml, Warzone 2100's album licence), the Vorbis comments (ARTIST/TITLE/GENRE/LICENSE
tags), the song.ini files (Frets on Fire), SuperTuxKart's ``*.music`` files, librosa/data's per-recording
``.txt`` notes and spleeter's README. ``vocals`` is ``yes`` only where the source says the recording has
sung vocals (librosa's documentation for Let's Go Fishin'; spleeter's README, whose demo is a
vocals/accompaniment split).
"""
from __future__ import annotations

import argparse
import csv
import re
import shutil
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mom_bench.core.audio import load  # noqa: E402

OUT = REPO / "mom_bench" / "data" / "mom_mini"
RATE = 24000
EXCERPT_SECONDS = 12.0
CLIP_SECONDS = 3.0
EXCERPTS_PER_TRACK = 3
PLACES = (0.15, 0.45, 0.75)
EDGE_SECONDS = 2.0
QUIET_DBFS = -40.0
VORBIS_QUALITY = 4.0
STEP_SECONDS = 0.5

DEBIAN = {
    "wesnoth-1.16-music": "1:1.16.9-1",
    "singularity-music": "007-2",
    "hyperrogue-music": "12.0q-1",
    "warzone2100-music": "4.3.3-3",
    "fretsonfire-songs-sectoid": "1.dfsg-3.1",
    "fretsonfire-songs-muldjord": "2.dfsg-2.1",
    "supertuxkart-data": "1.4+dfsg-2",
    "naev-data": "0.8.2-1",
    "ufoai-music": "2.5-2",
    "widelands-data": "2:1.1-3",
    "lincity-ng-data": "2.9~git20150314-5",
    "nexuiz-music": "2.5.2-12",
    "freedroidrpg-data": "1.0-1",
    "colobot-common-sounds": "0.2.0-2",
    "supertux-data": "0.6.3-2",
    "megaglest-data": "3.13.0-3",
    "extremetuxracer-data": "0.8.2-1",
}

# repo -> pinned commit
GITHUB = {
    "librosa/data": "450cdd8a002c98e7bdbfebb309fc1ed024001f77",
    "deezer/spleeter": "64daa5a9172aa33ba155f051184528c4e969ad8e",
}

# Extra licence files beside debian/copyright: (source, path in the source, name in LICENSES/, what it covers)
EXTRA_LICENCES = [
    ("warzone2100-music", "usr/share/games/warzone2100/music/albums/legacy_soundtrack/license.txt",
     "warzone2100-music.legacy_soundtrack.license.txt", "licence of Warzone 2100's legacy_soundtrack album"),
    ("naev-data", "usr/share/naev/dat/snd/SOUND_LICENSE.yaml", "naev-data.SOUND_LICENSE.yaml",
     "naev's per-file list of sound and music authors and licences"),
    ("librosa/data", "LICENSE", "librosa-data.LICENSE",
     "librosa/data repository licence (CC0 for everything but the recordings, whose notes follow)"),
    ("librosa/data", "audio/Karissa_Hobbs_-_Lets_Go_Fishin.txt", "librosa-data.lets-go-fishin.txt",
     "licence note of Let's Go Fishin'"),
    ("librosa/data", "audio/Kevin_MacLeod_-_Vibe_Ace.txt", "librosa-data.vibe-ace.txt",
     "licence note of Vibe Ace"),
    ("librosa/data", "audio/Kevin_MacLeod_-_P_I_Tchaikovsky_Dance_of_the_Sugar_Plum_Fairy.txt",
     "librosa-data.sugar-plum-fairy.txt",
     "licence note of Dance of the Sugar Plum Fairy"),
    ("librosa/data", "audio/Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra).txt",
     "librosa-data.hungarian-dance-5.txt",
     "licence note of Hungarian Dance No. 5"),
    ("deezer/spleeter", "LICENSE", "deezer-spleeter.LICENSE", "spleeter's code licence (MIT; not the recording's)"),
]
# spleeter credits its demo recording in a README section; that section is copied on its own.
SPLEETER_NOTE = "deezer-spleeter.audio_example.txt"

_WES = "usr/share/games/wesnoth/1.16/data/core/music/"
_SING = "usr/share/games/singularity/music/"
_HR = "usr/share/hyperrogue/music/"
_WZ = "usr/share/games/warzone2100/music/albums/"
_FOF = "usr/share/games/fretsonfire/data/songs/"
_STK = "usr/share/games/supertuxkart/data/music/"
_NAEV = "usr/share/naev/dat/snd/music/"
_UFO = "usr/share/games/ufoai/base/0music.pk3!music/"
_WL = "usr/share/games/widelands/data/music/"
_LC = "usr/share/games/lincity-ng/music/default/"
_NEX = "usr/share/games/nexuiz/data/music.pk3!sound/cdtracks/"
_FD = "usr/share/freedroidrpg/data/sound/music/"
_COL = "usr/share/games/colobot/music/"
_ST = "usr/share/games/supertux2/music/"
_MG = "usr/share/games/megaglest/techs/megapack/factions/"
_ETR = "usr/share/games/etr/music/"
_LIB = "audio/"

GPL2P, GPL3P, BYSA3, BY3 = "GPL-2.0-or-later", "GPL-3.0-or-later", "CC-BY-SA-3.0", "CC-BY-3.0"
D, C = "debian_music", "cc_recordings"

# id, pool, source (Debian package or GitHub repo), path(s) in the source (several = stems to sum),
# title, author, licence, genre, vocals
TRACKS = [
    ("wesnoth-knolls", D, "wesnoth-1.16-music", [_WES + "knolls.ogg"], "The Knolls of Doldesh",
     "Timothy Pinkham", GPL2P, "orchestral", "no"),
    ("wesnoth-traveling-minstrels", D, "wesnoth-1.16-music", [_WES + "traveling_minstrels.ogg"],
     "Traveling Minstrels", "Mattias Westlund", GPL2P, "folk", "no"),
    ("wesnoth-siege-of-laurelmor", D, "wesnoth-1.16-music", [_WES + "siege_of_laurelmor.ogg"],
     "Siege of Laurelmor", "Doug Kaufman", GPL2P, "orchestral", "no"),
    ("wesnoth-the-deep-path", D, "wesnoth-1.16-music", [_WES + "the_deep_path.ogg"], "The Deep Path",
     "Gianmarco Leone", GPL2P, "orchestral", "no"),
    ("wesnoth-casualties-of-war", D, "wesnoth-1.16-music", [_WES + "casualties_of_war.ogg"], "Casualties of War",
     "Tyler Johnson", GPL2P, "orchestral", "no"),
    ("wesnoth-battle", D, "wesnoth-1.16-music", [_WES + "battle.ogg"], "Battle Music",
     "Aleksi Aubry-Carlson", GPL2P, "orchestral", "no"),
    ("wesnoth-knalgan-theme", D, "wesnoth-1.16-music", [_WES + "knalgan_theme.ogg"], "Knalgan Theme",
     "Ryan Reilly", GPL2P, "orchestral", "no"),
    ("wesnoth-northerners", D, "wesnoth-1.16-music", [_WES + "northerners.ogg"], "Northerners",
     "Stephen Rozanc", GPL2P, "orchestral", "no"),
    ("wesnoth-loyalists", D, "wesnoth-1.16-music", [_WES + "loyalists.ogg"], "Loyalists",
     "Joseph G. Toscano", GPL2P, "orchestral", "no"),
    ("wesnoth-nunc-dimittis", D, "wesnoth-1.16-music", [_WES + "nunc_dimittis.ogg"], "Nunc Dimittis",
     "Jeremy Nicoll", GPL2P, "classical", "no"),
    ("singularity-awakening", D, "singularity-music", [_SING + "Awakening.ogg"], "Awakening",
     "Max McCracken", BYSA3, "electronic", "no"),
    ("hyperrogue-graveyard", D, "hyperrogue-music", [_HR + "hr3-graveyard.ogg"], "Graveyard",
     "Shawn Parrotte", BYSA3, "ambient", "no"),
    ("hyperrogue-lost-mountain", D, "hyperrogue-music", [_HR + "hr-domina-mountain.ogg"], "Lost Mountain",
     "Lincoln Domina", BYSA3, "ambient", "no"),
    ("warzone-recovery-ops", D, "warzone2100-music", [_WZ + "legacy_soundtrack/track5.opus"], "Recovery Ops",
     "LupusMechanicus", "CC-BY-SA-3.0-or-later OR GPL-2.0-or-later", "electronic", "no"),
    ("warzone-track-1", D, "warzone2100-music", [_WZ + "original_soundtrack/track1.opus"],
     "Track 1 (Warzone 2100 OST)", "Martin Severn", GPL2P, "electronic", "no"),
    ("fof-metal-madness", D, "fretsonfire-songs-sectoid",
     [_FOF + "sectoid/Metal madness/song.ogg", _FOF + "sectoid/Metal madness/guitar.ogg"], "Metal madness",
     "Carlos Viola Iborra (Sectoid)", "MIT", "rock", "no"),
    ("fof-chaos-god", D, "fretsonfire-songs-muldjord",
     [_FOF + "muldjord/chaos_god/song.ogg", _FOF + "muldjord/chaos_god/guitar.ogg"], "Chaos God",
     "El Senator (Muldjord)", BYSA3, "metal", "no"),
    ("stk-lava", D, "supertuxkart-data", [_STK + "Lava.ogg"], "Lava", "Kalsan", BYSA3, "electronic", "no"),
    ("stk-egypt", D, "supertuxkart-data", [_STK + "egypt.ogg"], "Egypt", "0zone0ne", BYSA3, "world", "no"),
    ("stk-zen-garden", D, "supertuxkart-data", [_STK + "garden.ogg"], "Zen Garden", "DJHelium", BYSA3,
     "ambient", "no"),
    ("stk-hacienda", D, "supertuxkart-data", [_STK + "hacienda.ogg"], "Hacienda", "Claude Werner (bollen)", BYSA3,
     "latin", "no"),
    ("stk-sky-vibe", D, "supertuxkart-data", [_STK + "SkyVibe-HighFrequency.ogg"], "Sky Vibe - High Frequency",
     "Speedsound", BYSA3, "psytrance", "no"),
    ("stk-west", D, "supertuxkart-data", [_STK + "West.ogg"], "West", "Chris Leutwyler (Krobonil)", BYSA3,
     "western", "no"),
    ("stk-kart-grand-prix", D, "supertuxkart-data", [_STK + "kart_grand_prix.ogg"], "Kart Grand Prix", "Weirwood",
     BYSA3, "rock", "no"),
    ("stk-alien-signal", D, "supertuxkart-data", [_STK + "alien_signal.ogg"], "Alien Signal", "Heuchi1",
     "CC-BY-SA-4.0", "electronic", "no"),
    ("stk-penguin-party", D, "supertuxkart-data", [_STK + "Penguin_Party.ogg"], "Penguin Party", "Magne Djupvik",
     GPL3P, "pop", "no"),
    ("naev-eureka", D, "naev-data", [_NAEV + "eureka.ogg"], "Eureka", "Askyel", BYSA3, "electronic", "no"),
    ("naev-zalek-2", D, "naev-data", [_NAEV + "zalek2.ogg"], "Za'lek 2", "Nikola Whallon",
     "GPL-3.0-only OR CC-BY-3.0", "ambient", "no"),
    ("naev-blackmoor-tides", D, "naev-data", [_NAEV + "blackmoor_tides.ogg"], "Blackmoor Tides", "Matthew Pablo",
     BY3, "orchestral", "no"),
    ("naev-heart-of-machine", D, "naev-data", [_NAEV + "heartofmachine.ogg"], "Heart of Machine",
     "Alexandr Zhelanov", BY3, "industrial", "no"),
    ("naev-dark-city", D, "naev-data", [_NAEV + "dark_city.ogg"], "Dark City", "Muncheybobo", BY3, "synthwave",
     "no"),
    ("naev-void-sensor", D, "naev-data", [_NAEV + "void_sensor.ogg"], "Void Sensor", "Zeropage", BY3, "ambient",
     "no"),
    ("naev-pirates-orchestra", D, "naev-data", [_NAEV + "pirates_orchestra.ogg"], "Pirates Orchestra",
     "Dizzy Crow", "CC0-1.0", "orchestral", "no"),
    ("naev-motherload", D, "naev-data", [_NAEV + "motherload.ogg"], "Motherload", "iamoneabe", "CC-BY-SA-4.0",
     "electronic", "no"),
    ("ufoai-main-theme", D, "ufoai-music", [_UFO + "van_theme.ogg"], "UFO: AI Main Theme",
     "Manuel \"Vanethian\" Marino", BY3, "orchestral", "no"),
    ("ufoai-geoscape", D, "ufoai-music", [_UFO + "karlmacklin_geoscape.ogg"], "Geoscape theme #1", "Karl Macklin",
     BY3, "electronic", "no"),
    ("ufoai-battlescape-02", D, "ufoai-music", [_UFO + "Crystan-Battlescape02.ogg"], "Battlescape 02",
     "Christian \"Crystan\" Hoffmann", BYSA3, "electronic", "no"),
    ("ufoai-dawn", D, "ufoai-music", [_UFO + "dawn.ogg"], "Dämmerung", "Sebastian Ahlen", "GPL-2.0-only",
     "ambient", "no"),
    ("widelands-hypatias-theme", D, "widelands-data", [_WL + "ingame_24.ogg"], "Hypatia's theme",
     "Stuart Marshall", BYSA3, "orchestral", "no"),
    ("widelands-02", D, "widelands-data", [_WL + "ingame_16.ogg"], "Widelands_02", "MiddleFinger", GPL2P,
     "metal", "no"),
    ("widelands-flat-lands", D, "widelands-data", [_WL + "ingame_28.ogg"], "The beauty of the flat lands",
     "Klaus Halfmann (Hasi50)", GPL2P, "folk", "no"),
    ("widelands-scotland-to-rome", D, "widelands-data", [_WL + "ingame_22.ogg"], "From Scotland to Rome",
     "Joshua O'Leary", GPL2P, "celtic", "no"),
    ("widelands-1", D, "widelands-data", [_WL + "ingame_05.ogg"], "Widelands 1", "Barry van Oudtshoorn", GPL2P,
     "orchestral", "no"),
    ("lincity-city-blues", D, "lincity-ng-data", [_LC + "02 - Robert van Herk - City Blues.ogg"], "City Blues",
     "Robert van Herk", GPL2P, "blues", "no"),
    ("lincity-lincity", D, "lincity-ng-data", [_LC + "01 - pronobozo - lincity.ogg"], "lincity", "pronobozo",
     GPL2P, "electronic", "no"),
    ("nexuiz-brainsukker", D, "nexuiz-music", [_NEX + "brainsukker.ogg"], "Brainsukker",
     "Gerd \"elysis\" Raudenbusch", GPL2P, "industrial", "no"),
    ("nexuiz-digital-pursuit", D, "nexuiz-music", [_NEX + "digital-pursuit.ogg"], "Digital Pursuit", "Parapraxis",
     GPL2P, "electronic", "no"),
    ("freedroid-temple", D, "freedroidrpg-data", [_FD + "temple.ogg"], "temple", "Arvid Picciani", GPL2P,
     "drum and bass", "no"),
    ("colobot-jazz-buzzing", D, "colobot-common-sounds", [_COL + "music013.ogg"], "Jazz Buzzing EasterEgg",
     "Daniel Roux", GPL3P, "jazz", "no"),
    ("colobot-proton", D, "colobot-common-sounds", [_COL + "Proton.ogg"], "Proton Ame", "Emxx52", GPL3P,
     "electronic", "no"),
    ("supertux-chipdisko", D, "supertux-data", [_ST + "antarctic/chipdisko.ogg"], "Mortimer's Chipdisko",
     "Mortimer Twang", GPL2P, "chiptune", "no"),
    ("supertux-forest-stroll", D, "supertux-data", [_ST + "forest/shallow-green.ogg"], "Forest Stroll",
     "Jason Lavallee", GPL2P, "soundtrack", "no"),
    ("supertux-theme", D, "supertux-data", [_ST + "misc/theme.ogg"], "SuperTux Theme", "Wansti (Marek Moeckel)",
     GPL2P, "chiptune", "no"),
    ("megaglest-romans", D, "megaglest-data", [_MG + "romans/music/romans.ogg"], "romans", "Eliminator", BYSA3,
     "classical", "no"),
    ("etr-credits-ballad", D, "extremetuxracer-data", [_ETR + "credits1-cp.ogg"], "Credits Ballad",
     "Kristian Picon", GPL2P, "ballad", "no"),
    ("librosa-lets-go-fishin", C, "librosa/data", [_LIB + "Karissa_Hobbs_-_Lets_Go_Fishin.hq.ogg"],
     "Let's Go Fishin'", "Karissa Hobbs", BY3, "folk pop", "yes"),
    ("librosa-vibe-ace", C, "librosa/data", [_LIB + "Kevin_MacLeod_-_Vibe_Ace.hq.ogg"], "Vibe Ace",
     "Kevin MacLeod", BY3, "jazz", "no"),
    ("librosa-sugar-plum-fairy", C, "librosa/data",
     [_LIB + "Kevin_MacLeod_-_P_I_Tchaikovsky_Dance_of_the_Sugar_Plum_Fairy.hq.ogg"],
     "P. I. Tchaikovsky: Dance of the Sugar Plum Fairy", "Kevin MacLeod", BY3, "classical", "no"),
    ("librosa-hungarian-dance-5", C, "librosa/data",
     [_LIB + "Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra).hq.ogg"],
     "Hungarian Dance No. 5 (Johannes Brahms)", "US Army Strings", "LicenseRef-Public-Domain-Mark-1.0",
     "classical", "no"),
    ("spleeter-slow-motion-dream", C, "deezer/spleeter", ["audio_example.mp3"], "Slow Motion Dream (excerpt)",
     "Steven M Bryant ft. CSoul, Alex Beroza & Robert Siekawitch", BY3, "pop", "yes"),
]

FIELDS = ["file", "track_id", "pool", "package", "package_version", "source_path", "title", "author", "license",
          "genre", "vocals", "start_s", "duration_s"]


def fetch_debian(workdir: Path, any_version: bool) -> None:
    debs = workdir / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    for name, version in DEBIAN.items():
        target = workdir / "x" / name
        if target.is_dir():
            continue
        subprocess.run(["apt-get", "download", name if any_version else f"{name}={version}"], cwd=debs, check=True)
        deb = sorted(debs.glob(f"{name}_*.deb"))[-1]
        target.mkdir(parents=True)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(target)], check=True)


def github_file(workdir: Path, repo: str, path: str, local: dict[str, Path]) -> Path:
    """The file ``path`` of ``repo`` at its pinned commit, cached under ``<workdir>/github``."""
    commit = GITHUB[repo]
    out = workdir / "github" / repo.replace("/", "+") / commit / path
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    src = local.get(repo)
    if src is not None and (src / path).is_file():
        # A checkout: trust the caller that it is at the pinned commit.
        shutil.copyfile(src / path, out)
    elif src is not None:
        data = subprocess.run(["git", f"--git-dir={src}", "show", f"{commit}:{path}"], check=True,
                              capture_output=True).stdout
        out.write_bytes(data)
    else:
        url = f"https://raw.githubusercontent.com/{repo}/{commit}/{path}"
        with urllib.request.urlopen(url, timeout=60) as r:
            out.write_bytes(r.read())
    return out


def source_file(workdir: Path, source: str, path: str, local: dict[str, Path]) -> Path:
    if source in GITHUB:
        return github_file(workdir, source, path, local)
    root = workdir / "x" / source
    if "!" not in path:
        return root / path
    archive, member = path.split("!", 1)
    out = workdir / "unzipped" / source / member
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(root / archive) as z, z.open(member) as f:
            out.write_bytes(f.read())
    return out


def decode_track(files: list[Path]) -> np.ndarray:
    stems = [load(f, RATE, max_seconds=None).samples.numpy().astype(np.float64) for f in files]
    n = min(s.size for s in stems)
    return np.sum([s[:n] for s in stems], axis=0)


def _dbfs(w: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(w ** 2)) + 1e-12))


def pick_windows(x: np.ndarray) -> tuple[float, list[float]]:
    """(excerpt length, start times in seconds) for one decoded track."""
    hop = int(STEP_SECONDS * RATE)
    frames = x[: x.size // hop * hop].reshape(-1, hop)
    loud = np.flatnonzero([_dbfs(f) > QUIET_DBFS for f in frames])
    if loud.size == 0:
        raise SystemExit("track is silent")
    lo = loud[0] * STEP_SECONDS + EDGE_SECONDS
    hi = (loud[-1] + 1) * STEP_SECONDS - EDGE_SECONDS
    if hi - lo < EXCERPT_SECONDS:
        # A short recording (spleeter's 10.9 s demo): one excerpt, a whole number of clips, edges kept.
        lo, hi = loud[0] * STEP_SECONDS, (loud[-1] + 1) * STEP_SECONDS
    span = hi - lo
    length = EXCERPT_SECONDS if span >= EXCERPT_SECONDS else CLIP_SECONDS * np.floor(span / CLIP_SECONDS)
    if length < CLIP_SECONDS:
        raise SystemExit(f"track too short: {span:.1f} s audible")
    count = int(min(EXCERPTS_PER_TRACK, np.floor(span / length)))
    places = PLACES if count == 3 else np.linspace(PLACES[0], PLACES[-1], count) if count > 1 else (0.5,)
    slack = span - count * length
    # k windows before this one plus a share of the slack: never overlapping, never past the end, and
    # for a long track close to the PLACES fractions of its length.
    starts = [lo + k * length + slack * p for k, p in enumerate(places)]
    n = int(length * RATE)
    out = []
    for k, s in enumerate(starts):
        low = out[-1] + length if out else lo
        high = (starts[k + 1] if k + 1 < len(starts) else hi) - length
        candidates = sorted(np.arange(low, high + 1e-9, STEP_SECONDS), key=lambda t: abs(t - s))
        for t in candidates:
            i = int(round(t * RATE))
            if _dbfs(x[i:i + n]) > QUIET_DBFS:
                out.append(round(float(t), 2))
                break
        else:
            raise SystemExit(f"no loud enough window for excerpt {k}")
    return length, out


def encode(w: np.ndarray, path: Path) -> None:
    """Mono 24 kHz Ogg Vorbis, reproducible bytes for the same samples and the same ffmpeg/libvorbis."""
    pcm = np.ascontiguousarray(w, dtype="<f4").tobytes()
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "f32le", "-ar", str(RATE), "-ac", "1", "-i", "pipe:0",
         "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact",
         "-c:a", "libvorbis", "-q:a", f"{VORBIS_QUALITY:g}", str(path)],
        input=pcm, check=True)


def write_licences(workdir: Path, local: dict[str, Path]) -> None:
    lic = OUT / "LICENSES"
    if lic.exists():
        shutil.rmtree(lic)
    lic.mkdir(parents=True)
    used = {t[2] for t in TRACKS}
    lines = ["Licence and copyright files of the sources of the mom-mini real excerpts (see ../ATTRIBUTION.csv).",
             "", "Debian packages (pool debian_music), from /usr/share/doc/<package>/copyright:"]
    for package, version in DEBIAN.items():
        if package in used:
            shutil.copyfile(workdir / "x" / package / "usr/share/doc" / package / "copyright",
                            lic / f"{package}.copyright")
            lines.append(f"  {package}.copyright: {package} {version}")
    lines += ["", "Per-file licence lists and GitHub licence notes (pool cc_recordings: "
              + ", ".join(f"{r} @ {c}" for r, c in GITHUB.items()) + "):"]
    for source, path, name, what in EXTRA_LICENCES:
        shutil.copyfile(source_file(workdir, source, path, local), lic / name)
        lines.append(f"  {name}: {what} ({source}: {path})")
    readme = source_file(workdir, "deezer/spleeter", "README.md", local).read_text(encoding="utf-8")
    note = re.search(r"^## Note\n(.*?)(?=^## |\Z)", readme, re.S | re.M)
    if note is None:
        raise SystemExit("spleeter README has no '## Note' section")
    (lic / SPLEETER_NOTE).write_text("From deezer/spleeter README.md (commit " + GITHUB["deezer/spleeter"]
                                     + "):\n\n" + note.group(1).strip() + "\n", encoding="utf-8")
    lines.append(f"  {SPLEETER_NOTE}: credit and licence of audio_example.mp3 (spleeter's README, 'Note')")
    (lic / "README").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", type=Path, default=Path(".scratch/mom-mini-src"),
                    help="where sources are downloaded and unpacked (default: %(default)s)")
    ap.add_argument("--any-version", action="store_true", help="accept Debian versions other than the pinned ones")
    ap.add_argument("--github", action="append", default=[], metavar="OWNER/NAME=PATH",
                    help="read a GitHub source from a local checkout or git directory instead of downloading")
    args = ap.parse_args()
    local = {}
    for item in args.github:
        repo, _, path = item.partition("=")
        if repo not in GITHUB or not path:
            raise SystemExit(f"--github {item!r}: expected one of {', '.join(GITHUB)}=PATH")
        local[repo] = Path(path)

    fetch_debian(args.workdir, args.any_version)
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.ogg"):
        old.unlink()
    rows = []
    for track_id, pool, source, paths, title, author, licence, genre, vocals in TRACKS:
        x = decode_track([source_file(args.workdir, source, p, local) for p in paths])
        length, starts = pick_windows(x)
        n = int(length * RATE)
        for k, start in enumerate(starts):
            i = int(round(start * RATE))
            w = x[i:i + n]
            peak = float(np.abs(w).max())
            if peak > 10 ** (-1 / 20):
                w = w * (10 ** (-1 / 20) / peak)
            name = f"{track_id}-{k}.ogg"
            encode(w, OUT / name)
            rows.append({"file": name, "track_id": track_id, "pool": pool, "package": source,
                         "package_version": DEBIAN.get(source) or GITHUB[source], "source_path": " + ".join(paths),
                         "title": title, "author": author, "license": licence, "genre": genre, "vocals": vocals,
                         "start_s": f"{i / RATE:.2f}", "duration_s": f"{length:.1f}"})
        print(f"{track_id}: {len(starts)} x {length:g} s at {starts} of {x.size / RATE:.1f} s", flush=True)
    with open(OUT / "ATTRIBUTION.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    write_licences(args.workdir, local)
    size = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {len(rows)} excerpts of {len(TRACKS)} tracks to {OUT} ({size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
