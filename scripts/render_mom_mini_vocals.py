#!/usr/bin/env python3
"""Render the machine-sung vocal stems shipped with mom-mini (mom_bench/data/mom_mini/vocals/).

This is how the shipped stems were made; it is not needed to build mom-mini (the stems are in the
package). It needs Festival with the kal diphone voice (Debian: ``apt-get install festival
festvox-kallpc16k``; ``text2wave`` on the PATH) and FFmpeg (the ``ffmpeg`` command, and torchcodec for decoding):

    python scripts/render_mom_mini_vocals.py

Steps, all deterministic for the seeds below:
1. For each stem, a melody from its own seed: a key (tonic cycling round the circle of fifths, major or
   minor), a tempo of 70-140 bpm, and phrases of 3-7 notes that walk the scale in small steps, each
   phrase ending on a long note on a chord tone and followed by a rest. The singing lasts 8-10 s.
2. Lyrics: one syllable per note, from a list of common one-syllable English words and scat syllables
   (no lyric of any song).
3. A Festival singing-mode score (the SINGING markup of Festival's ``singing-mode.scm``). Pitches are
   written as FREQ in Hz and lengths as SECONDS, both computed here: Festival's NOTE names put A5 at
   440 Hz (one octave above the usual naming, hence "kal sings an octave low" when scores are written
   with standard names), and its BEATS are scaled by BPM/50 rather than BPM/60. Writing Hz and seconds
   side-steps both quirks.
4. ``text2wave -mode singing`` renders 16 kHz speech-synthesis audio; it is read back through
   ``mom_bench.core.audio.load`` at 24 kHz (FFmpeg resampling), brought to a -3 dBFS peak, and written as
   mono Ogg Vorbis at ~48 kb/s by the FFmpeg command line (libvorbis, bit-exact mode).
5. VOCALS.csv lists every stem (seed, key, tempo, notes, length, engine, licence); the Festival and kal
   voice copyright files are copied beside it.
"""
from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mom_bench.core.audio import load  # noqa: E402

OUT = REPO / "mom_bench" / "data" / "mom_mini" / "vocals"
RATE = 24000
BIT_RATE = 48000
N_STEMS = 24
BASE_SEED = 2100
PEAK_DBFS = -3.0
ENGINE = "festival 2.5 kal_diphone singing mode"
LICENSE = "stem: ours (generated); engine and voice: Festival/CSTR + kal diphone (MIT-like, see LICENSE-*.txt)"
FIELDS = ("stem_id", "file", "seed", "key", "tempo_bpm", "n_notes", "duration_s", "engine", "license")
COPYRIGHTS = {"LICENSE-festival.txt": Path("/usr/share/doc/festival/copyright"),
              "LICENSE-festvox-kallpc16k.txt": Path("/usr/share/doc/festvox-kallpc16k/copyright")}

PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MODES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
# kal is a male voice; keep the melody inside a baritone range (MIDI 45-67, 110-392 Hz) so the diphone
# pitch modification stays within what the voice can carry.
LOWEST, HIGHEST = 45, 67
# One-syllable words (checked to be one syllable in Festival's CMU lexicon) and scat syllables.
WORDS = ("la", "na", "da", "doo", "oh", "ah", "hey", "day", "night", "light", "sun", "moon", "star", "sky", "sea",
         "home", "road", "rain", "wind", "song", "heart", "dream", "gold", "blue", "snow", "shine", "fly", "run",
         "stay", "go", "free", "high", "low", "far", "near", "time", "love", "and", "the", "we", "you", "me",
         "all", "now", "still", "bright", "deep", "slow", "true", "on")
SCAT = ("la", "na", "da", "doo", "oh", "ah")


def midi_hz(m: int) -> float:
    return 440.0 * 2.0 ** ((m - 69) / 12)


def compose(index: int) -> dict:
    """The score of stem ``index``: notes as (midi, seconds, word) and rests as (None, seconds, None)."""
    seed = BASE_SEED + index
    rng = np.random.default_rng(seed)
    tonic_pc = (7 * index) % 12  # round the circle of fifths: every key twice over 24 stems
    mode = ("major", "minor")[int(rng.integers(2))]
    tempo = int(rng.integers(70, 141))
    beat = 60.0 / tempo
    target = float(rng.uniform(8.2, 9.8))
    # Tonic in the lower half of the range, so the walk has room to rise a ninth.
    tonic = next(m for m in range(LOWEST, LOWEST + 12) if m % 12 == tonic_pc)
    scale = [tonic + 12 * o + s for o in (-1, 0, 1, 2) for s in MODES[mode]]
    scale = [m for m in scale if LOWEST <= m <= HIGHEST]
    home = scale.index(tonic)
    chord = {tonic, tonic + MODES[mode][2], tonic + 7, tonic + 12, tonic + 12 + MODES[mode][2]}
    scat = rng.random() < 0.35  # some stems are pure "la la", the others sing words
    events: list[tuple[int | None, float, str | None]] = []
    pos = home + int(rng.integers(0, 5))
    t = 0.0
    while t < target - 0.6:
        for _ in range(int(rng.integers(3, 8))):
            step = int(rng.choice([-2, -1, -1, 0, 1, 1, 2, 3, -3], p=[.1, .2, .1, .1, .2, .1, .1, .05, .05]))
            pos = int(np.clip(pos + step, 0, len(scale) - 1))
            beats = float(rng.choice([0.5, 1.0, 1.0, 1.0, 1.5, 2.0]))
            word = str(rng.choice(SCAT if scat else WORDS))
            events.append((scale[pos], beats * beat, word))
            t += beats * beat
            if t >= target - 0.6:
                break
        # End the phrase on a held chord tone near where the walk is, then breathe.
        near = min((m for m in scale if m in chord), key=lambda m: (abs(m - scale[pos]), m))
        pos = scale.index(near)
        held = float(rng.choice([1.5, 2.0, 3.0])) * beat
        events.append((near, held, str(rng.choice(SCAT if scat else WORDS))))
        t += held
        if t < target - 1.0:
            rest = float(rng.choice([0.5, 1.0, 1.5])) * beat
            events.append((None, rest, None))
            t += rest
    # Trim the last held note so the stem ends at the target length (never below half a beat).
    midi, dur, word = events[-1]
    events[-1] = (midi, max(0.5 * beat, dur - (t - target)), word)
    key = f"{PITCH_CLASSES[tonic_pc]} {mode}"
    return {"seed": seed, "key": key, "tempo": tempo, "events": events}


def score_xml(events: list[tuple[int | None, float, str | None]]) -> str:
    lines = ['<?xml version="1.0"?>',
             '<!DOCTYPE SINGING PUBLIC "-//SINGING//DTD SINGING mark up//EN" "Singing.v0_1.dtd" []>',
             '<SINGING BPM="60">']
    for midi, seconds, word in events:
        if midi is None:
            lines.append(f'<REST SECONDS="{seconds:.3f}"></REST>')
        else:
            lines.append(f'<PITCH FREQ="{midi_hz(midi):.2f}"><DURATION SECONDS="{seconds:.3f}">{escape(word)}'
                         '</DURATION></PITCH>')
    lines.append("</SINGING>")
    return "\n".join(lines) + "\n"


def render(xml: str, work: Path, name: str) -> np.ndarray:
    """Festival's rendering of a singing score, as float64 mono at RATE."""
    src, wav = work / f"{name}.xml", work / f"{name}.wav"
    src.write_text(xml, encoding="utf-8")
    subprocess.run(["text2wave", "-mode", "singing", str(src), "-o", str(wav)], check=True, cwd=work,
                   stdout=subprocess.DEVNULL)
    return load(wav, RATE).samples.numpy().astype(np.float64)


def encode(y: np.ndarray, path: Path) -> None:
    """Mono Ogg Vorbis at RATE and ~BIT_RATE. FFmpeg's bit-exact mode fixes the Ogg stream serial number
    (otherwise random) and leaves out the encoder tag, so a rerun writes the same bytes."""
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "f32le", "-ar", str(RATE), "-ac", "1", "-i", "-",
                    "-c:a", "libvorbis", "-b:a", str(BIT_RATE), "-map_metadata", "-1", "-fflags", "+bitexact",
                    "-flags:a", "+bitexact", str(path)], input=y.astype("<f4").tobytes(), check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stems", type=int, default=N_STEMS, help="how many stems (default: %(default)s)")
    args = ap.parse_args()
    for tool, package in (("text2wave", "festival festvox-kallpc16k"), ("ffmpeg", "ffmpeg")):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found: install it (apt-get install {package})")

    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.ogg"):
        old.unlink()
    rows = []
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mom-vocals-") as tmp:
        for i in range(args.stems):
            song = compose(i)
            stem_id = f"kal-{i:02d}"
            y = render(score_xml(song["events"]), Path(tmp), stem_id)
            y *= 10 ** (PEAK_DBFS / 20) / max(float(np.abs(y).max()), 1e-9)
            name = f"{stem_id}.ogg"
            encode(y, OUT / name)
            n_notes = sum(1 for midi, _, _ in song["events"] if midi is not None)
            rows.append({"stem_id": stem_id, "file": name, "seed": song["seed"], "key": song["key"],
                         "tempo_bpm": song["tempo"], "n_notes": n_notes, "duration_s": f"{y.size / RATE:.2f}",
                         "engine": ENGINE, "license": LICENSE})
            print(f"{stem_id}: {song['key']}, {song['tempo']} bpm, {n_notes} notes, {y.size / RATE:.2f} s", flush=True)
    elapsed = time.perf_counter() - began
    with open(OUT / "VOCALS.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    for target, source in COPYRIGHTS.items():
        shutil.copyfile(source, OUT / target)
    size = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {len(rows)} stems to {OUT} in {elapsed:.1f} s ({size / 1e6:.2f} MB with licences)")


if __name__ == "__main__":
    main()
