"""The ``machine_vocals`` family of mom-mini: a machine-sung vocal mixed over a human instrumental.

It stands for AI covers and singing-voice conversion or synthesis (RVC or so-vits-svc covers: a real
backing track under a synthetic lead voice), the held-out "AI cover" case of the Melody or Machine
benchmark. The vocals are pre-rendered stems shipped in ``mom_bench/data/mom_mini/vocals``: Festival's
singing mode with the kal diphone voice sang seeded melodies (``scripts/render_mom_mini_vocals.py``;
``VOCALS.csv`` lists them, ``README.md`` there says how and under which licence).

A fake is the instrumental clip plus a window of one stem, taken where the stem is singing, at a seeded
vocal-to-instrumental level. Everything after decoding is float64 numpy with randomness from one
``np.random.default_rng(seed)``, so a seed gives the same fake on every CPU.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mom_bench.core.audio import AudioError, load
from mom_bench.dataset.mini.excerpts import listed_files
from mom_bench.dataset.mini.families import Family

DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "mom_mini" / "vocals"
_FIELDS = ("stem_id", "file", "seed", "key", "tempo_bpm", "n_notes", "duration_s", "engine", "license")

#: Vocal-to-instrumental level range (dB, RMS over the clip): from a voice tucked slightly under the band
#: to one clearly on top, as lead vocals are mixed.
LEVEL_DB = (-2.0, 4.0)
#: A window is "singing" when at least this share of its frames is voiced ...
ACTIVE_SHARE = 0.7
#: ... and a frame is voiced when its RMS is within this many dB of the stem's loudest frame.
ACTIVE_DB = -25.0
FRAME_S = 0.02
#: Instrumentals quieter than this RMS are treated as silence: the vocal then gets this RMS itself
#: instead of a level relative to nothing.
SILENT_RMS = 1e-6


@dataclass(frozen=True)
class Stem:
    stem_id: str
    file: str
    seed: int
    key: str
    tempo_bpm: float
    n_notes: int
    duration_s: float
    engine: str
    license: str
    path: Path


def stems(data_dir: str | Path | None = None) -> list[Stem]:
    """Every vocal stem listed in ``VOCALS.csv`` of ``data_dir`` (default: the shipped folder).

    Raises ``ValueError`` naming the line for anything that is not a plain ``<stem_id>.ogg`` file of that
    folder, so a doctored table cannot point outside it.
    """
    folder = Path(data_dir) if data_dir else DATA_DIR
    table = folder / "VOCALS.csv"
    out: list[Stem] = []
    seen: set[str] = set()
    for line, row, path in listed_files(folder, "VOCALS.csv", _FIELDS, "vocal stem"):
        name, stem_id = path.name, row["stem_id"] or ""
        if not stem_id or name != f"{stem_id}.ogg":
            raise ValueError(f"{table}:{line}: file {name!r} is not named after stem {stem_id!r}")
        if stem_id in seen:
            raise ValueError(f"{table}:{line}: stem {stem_id!r} is listed twice")
        if not path.is_file():
            raise ValueError(f"{table}:{line}: {path} is missing")
        try:
            seed, n_notes = int(row["seed"]), int(row["n_notes"])
            tempo, duration = float(row["tempo_bpm"]), float(row["duration_s"])
        except (TypeError, ValueError):
            raise ValueError(f"{table}:{line}: seed/n_notes must be integers and tempo_bpm/duration_s "
                             "numbers") from None
        seen.add(stem_id)
        out.append(Stem(stem_id, name, seed, row["key"], tempo, n_notes, duration, row["engine"], row["license"],
                        path))
    if not out:
        raise ValueError(f"{table}: lists no stems")
    return out


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if x.size else 0.0


class MachineVocals(Family):
    """Options: ``data_dir`` (the stems' folder; default the shipped one)."""

    name = "machine_vocals"

    def __init__(self, sample_rate: int, **options):
        super().__init__(sample_rate, **options)
        self._stems = {s.stem_id: s for s in stems(options.get("data_dir"))}
        self._audio: dict[str, np.ndarray] = {}

    @property
    def stem_ids(self) -> list[str]:
        return sorted(self._stems)

    def _load(self, stem_id: str) -> np.ndarray:
        if stem_id not in self._audio:
            stem = self._stems[stem_id]
            try:
                y = load(stem.path, self.sample_rate).samples.numpy().astype(np.float64)
            except AudioError as err:
                raise AudioError(stem.file, err.reason) from None
            self._audio[stem_id] = y
        return self._audio[stem_id]

    def _offsets(self, y: np.ndarray, n: int) -> np.ndarray:
        """Start samples (on the frame grid) of the n-sample windows of ``y`` that are mostly singing;
        when none is, the best window."""
        frame = max(1, int(round(FRAME_S * self.sample_rate)))
        frames = y.size // frame
        energy = np.sqrt(np.mean(np.square(y[:frames * frame].reshape(frames, frame)), axis=1))
        voiced = energy >= energy.max() * 10 ** (ACTIVE_DB / 20) if frames else energy.astype(bool)
        per_window = max(1, n // frame)
        last = frames - per_window
        if last < 0:
            return np.zeros(1, dtype=np.int64)
        share = np.convolve(voiced.astype(np.float64), np.ones(per_window), mode="valid")[:last + 1] / per_window
        good = np.flatnonzero(share >= ACTIVE_SHARE)
        if good.size == 0:
            good = np.array([int(np.argmax(share))])
        return good * frame

    def generate(self, x: np.ndarray, seed: int, *, stems: list[str] | None = None) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        allowed = self.stem_ids if stems is None else sorted(set(stems))
        unknown = [s for s in allowed if s not in self._stems]
        if unknown:
            raise ValueError(f"machine_vocals: unknown vocal stem(s) {', '.join(unknown)}")
        if not allowed:
            raise ValueError("machine_vocals: no vocal stem allowed for this row")
        rng = np.random.default_rng(seed)
        stem_id = allowed[int(rng.integers(len(allowed)))]
        y = self._load(stem_id)
        n = x.size
        if y.size < n:
            # Longer clips than a stem: repeat the stem rather than leave the end unsung.
            y = np.resize(y, n)
        candidates = self._offsets(y, n)
        start = int(candidates[int(rng.integers(candidates.size))])
        vocal = y[start:start + n]
        level_db = float(rng.uniform(*LEVEL_DB))
        reference = _rms(x)
        target = reference * 10 ** (level_db / 20) if reference > SILENT_RMS else 0.1
        vocal = vocal * (target / max(_rms(vocal), 1e-12))
        return x + vocal
