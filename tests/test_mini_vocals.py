"""The machine_vocals family of mom-mini and its shipped vocal stems."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from mom_bench.core.audio import load
from mom_bench.dataset.mini import vocals
from mom_bench.dataset.mini.excerpts import excerpts, load_excerpt
from mom_bench.dataset.mini.generators import FAMILIES, make_family

RATE = 24000
CLIP = 3 * RATE


@pytest.fixture(scope="module")
def family():
    return make_family("machine_vocals", RATE)


@pytest.fixture(scope="module")
def instrumental():
    return load_excerpt(excerpts()[0], RATE)[RATE:RATE + CLIP].astype(np.float64)


def _band_energy(x: np.ndarray, lo: float = 300.0, hi: float = 3000.0) -> float:
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(x.size, 1 / RATE)
    return float(spec[(f >= lo) & (f <= hi)].sum())


def _match(residual: np.ndarray, stem: np.ndarray) -> float:
    """Best normalised correlation of ``residual`` with any same-length window of ``stem``."""
    n = residual.size
    size = 1 << int(np.ceil(np.log2(stem.size + n)))
    corr = np.fft.irfft(np.fft.rfft(stem, size) * np.conj(np.fft.rfft(residual, size)), size)[:stem.size - n + 1]
    energy = np.concatenate([[0.0], np.cumsum(stem ** 2)])
    norms = np.sqrt(energy[n:] - energy[:-n]) * np.linalg.norm(residual) + 1e-12
    return float(np.max(corr / norms))


def test_registered():
    assert FAMILIES["machine_vocals"] is vocals.MachineVocals


def test_stems_listed_match_the_files():
    listed = vocals.stems()
    assert len(listed) == 24
    assert sorted(s.file for s in listed) == sorted(p.name for p in vocals.DATA_DIR.glob("*.ogg"))
    assert len({s.stem_id for s in listed}) == len(listed)
    assert len({(s.key, s.tempo_bpm, s.n_notes) for s in listed}) > 12  # distinct melodies
    for s in listed:
        assert 8.0 <= s.duration_s <= 10.5
        assert 70 <= s.tempo_bpm <= 140
        assert s.path.parent == vocals.DATA_DIR
    for s in listed[:3]:
        y = load(s.path, RATE).samples.numpy()
        assert abs(y.size / RATE - s.duration_s) < 0.05
        assert 0.05 < np.sqrt(np.mean(y.astype(np.float64) ** 2)) < 0.5
    size = sum(p.stat().st_size for p in vocals.DATA_DIR.rglob("*") if p.is_file())
    assert size <= 2_000_000
    for name in ("README.md", "LICENSE-festival.txt", "LICENSE-festvox-kallpc16k.txt"):
        assert (vocals.DATA_DIR / name).is_file()


def test_deterministic_length_finite(family, instrumental):
    a = family.generate(instrumental, 7)
    b = family.generate(instrumental.copy(), 7)
    assert a.dtype == np.float64 and a.shape == instrumental.shape
    assert np.isfinite(a).all()
    assert np.array_equal(a, b)
    assert not np.allclose(a, family.generate(instrumental, 8))
    # A fresh instance (no cache) gives the same audio.
    assert np.array_equal(a, make_family("machine_vocals", RATE).generate(instrumental, 7))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_vocals_present_at_the_drawn_level(family, instrumental, seed):
    y = family.generate(instrumental, seed)
    assert _band_energy(y) > 1.3 * _band_energy(instrumental)
    residual = y - instrumental
    ratio_db = 20 * np.log10(np.sqrt(np.mean(residual ** 2)) / np.sqrt(np.mean(instrumental ** 2)))
    assert vocals.LEVEL_DB[0] - 1e-9 <= ratio_db <= vocals.LEVEL_DB[1] + 1e-9
    # The window taken is mostly singing, not a rest.
    frame = int(vocals.FRAME_S * RATE)
    energy = np.sqrt(np.mean(residual[:residual.size // frame * frame].reshape(-1, frame) ** 2, axis=1))
    assert np.mean(energy > energy.max() * 10 ** (vocals.ACTIVE_DB / 20)) >= 0.5


def test_respects_the_stem_restriction(family, instrumental):
    allowed = ["kal-03", "kal-17"]
    audio = {s: family._load(s) for s in ("kal-03", "kal-17", "kal-05")}
    for seed in range(4):
        residual = family.generate(instrumental, seed, stems=allowed) - instrumental
        scores = {s: _match(residual, a) for s, a in audio.items()}
        assert max(scores["kal-03"], scores["kal-17"]) > 0.99
        assert scores["kal-05"] < 0.9
    with pytest.raises(ValueError, match="unknown vocal stem"):
        family.generate(instrumental, 0, stems=["kal-99"])
    with pytest.raises(ValueError, match="no vocal stem"):
        family.generate(instrumental, 0, stems=[])


def test_silent_instrumental_still_gets_a_vocal(family):
    y = family.generate(np.zeros(CLIP), 5)
    assert np.isfinite(y).all() and np.sqrt(np.mean(y ** 2)) > 0.01


def test_clip_longer_than_a_stem(family):
    x = np.random.default_rng(0).normal(0, 0.05, 12 * RATE)
    y = family.generate(x, 3)
    assert y.shape == x.shape and np.isfinite(y).all()


def _copy(tmp_path, n=2):
    folder = tmp_path / "vocals"
    folder.mkdir()
    lines = (vocals.DATA_DIR / "VOCALS.csv").read_text(encoding="utf-8").splitlines()[:n + 1]
    for s in vocals.stems()[:n]:
        shutil.copyfile(s.path, folder / s.file)
    return folder, lines


@pytest.mark.parametrize("bad", ["../kal-00.ogg", "/etc/passwd", "sub/kal-00.ogg", ".kal-00.ogg", "kal-00.wav"])
def test_doctored_table_pointing_outside_is_refused(tmp_path, bad):
    folder, lines = _copy(tmp_path)
    lines[2] = lines[2].replace("kal-01.ogg", bad, 1)
    (folder / "VOCALS.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"VOCALS\.csv:3: file"):
        vocals.stems(folder)
    with pytest.raises(ValueError, match=r"VOCALS\.csv:3:"):
        vocals.MachineVocals(RATE, data_dir=folder)


def test_other_table_errors_name_the_line(tmp_path):
    folder, lines = _copy(tmp_path)
    table = folder / "VOCALS.csv"
    table.write_text("\n".join(lines[:2] + [lines[1]]) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"VOCALS\.csv:3: stem 'kal-00' is listed twice"):
        vocals.stems(folder)
    (folder / "kal-01.ogg").unlink()
    table.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"VOCALS\.csv:3: .*missing"):
        vocals.stems(folder)
    table.write_text("\n".join(lines[:2]).replace(",2100,", ",x,") + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"VOCALS\.csv:2: seed"):
        vocals.stems(folder)
    table.write_text(lines[0] + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="lists no stems"):
        vocals.stems(folder)


def test_a_copied_folder_works(tmp_path, instrumental):
    folder, lines = _copy(tmp_path)
    (folder / "VOCALS.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    fam = vocals.MachineVocals(RATE, data_dir=folder)
    assert fam.stem_ids == ["kal-00", "kal-01"]
    assert np.isfinite(fam.generate(instrumental, 0)).all()
