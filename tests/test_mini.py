"""mom-mini: shipped excerpts, split allocation, generator families, the finishing step, and (slow) a
whole build from scratch through the builder."""
import csv
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from mom_bench.dataset import protocols
from mom_bench.dataset.mini import dsp
from mom_bench.dataset.mini.excerpts import DATA_DIR, excerpts, load_excerpt
from mom_bench.dataset.mini.generators import make_family
from mom_bench.dataset.sources.mom_mini import MomMiniSource, allocate_tracks

RATE = 24000

# The composition documented in data_cards/mom-mini.md: split -> generator -> rows.
EXPECTED_COUNTS = {
    "train": {"real": 216, "rvq_codec": 54, "mel_vocoder": 54, "griffin_lim": 54, "sines_noise": 54},
    "validation": {"real": 144, "rvq_codec": 36, "mel_vocoder": 36, "griffin_lim": 36, "sines_noise": 36},
    "test_id": {"real": 171, "rvq_codec": 43, "mel_vocoder": 43, "griffin_lim": 43, "sines_noise": 42},
    "test_ood": {"real": 180, "latent_vae": 90, "machine_vocals": 90},
}
OOD = {"latent_vae", "machine_vocals"}
N_ROWS = 2 * sum(c["real"] for c in EXPECTED_COUNTS.values())


@pytest.fixture(scope="module")
def clip():
    """Two seconds of a shipped excerpt: real music for the family tests (float64, as the source hands them)."""
    x = load_excerpt(excerpts()[0], RATE)
    return x[RATE:3 * RATE].astype(np.float64)


# --------------------------------------------------------------------------------------------------
# shipped data


def test_shipped_excerpts_are_enough_varied_small_and_attributed():
    items = excerpts()
    tracks = {e.track_id: e for e in items}
    assert len(tracks) >= 48
    assert len({e.author for e in tracks.values()}) >= 30
    assert len({e.genre for e in tracks.values()}) >= 6
    assert {e.pool for e in items} == {"debian_music", "cc_recordings"}
    assert any(e.vocals for e in items)  # real sung vocals among the reals
    for e in items:
        assert e.package and e.package_version and e.title and e.author and e.license and e.source_path
        assert e.duration_s % 3 == 0 and 3 <= e.duration_s <= 12 and e.start_s >= 0
    listed = {e.file for e in items}
    on_disk = {p.name for p in DATA_DIR.glob("*.ogg")}
    assert listed == on_disk  # nothing shipped without attribution, nothing attributed but missing
    licences = {p.name for p in (DATA_DIR / "LICENSES").iterdir()}
    for package in {e.package for e in items if e.pool == "debian_music"}:
        assert f"{package}.copyright" in licences


def test_package_data_stays_within_40_mb():
    data = DATA_DIR.parent
    assert sum(p.stat().st_size for p in data.rglob("*") if p.is_file()) <= 40e6


def test_excerpt_decodes_as_twelve_seconds_of_mono_audio():
    e = next(e for e in excerpts() if e.duration_s == 12)
    x = load_excerpt(e, RATE)
    assert x.dtype == np.float32 and x.ndim == 1
    assert x.size == 12 * RATE
    assert np.isfinite(x).all() and np.sqrt(np.mean(x ** 2)) > 1e-3


def test_attribution_that_points_outside_its_folder_is_refused(tmp_path):
    (tmp_path / "a-0.ogg").write_bytes(b"x")
    fields = ["file", "track_id", "pool", "package", "package_version", "source_path", "title", "author", "license",
              "genre", "vocals", "start_s", "duration_s"]
    for bad in ("../a-0.ogg", "/etc/a-0.ogg", "sub/a-0.ogg"):
        with open(tmp_path / "ATTRIBUTION.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(fields)
            w.writerow([bad, "a", "debian_music", "p", "1", "x", "t", "au", "MIT", "rock", "no", "0", "12"])
        with pytest.raises(ValueError, match="plain .ogg file name"):
            excerpts(tmp_path)


# --------------------------------------------------------------------------------------------------
# splits and plan


def test_tracks_are_dealt_by_the_weights_deterministically():
    tracks = [f"t{i}" for i in range(16)]
    weights = {"train": 0.5, "validation": 0.125, "test_id": 0.1875, "test_ood": 0.1875}
    a = allocate_tracks(tracks, "salt", weights)
    assert Counter(a.values()) == {"train": 8, "validation": 2, "test_id": 3, "test_ood": 3}
    led = allocate_tracks(tracks, "salt", weights, first=frozenset({"t7", "t9"}))
    assert led["t7"] == led["t9"] == "test_ood"  # tracks asked for first go to the test splits
    assert a == allocate_tracks(list(reversed(tracks)), "salt", weights)  # not by listing order
    assert a != allocate_tracks(tracks, "other salt", weights)
    small = allocate_tracks(["a", "b", "c", "d", "e"], "s", weights)
    assert set(small.values()) == set(weights)  # every split gets at least one track
    with pytest.raises(ValueError, match="at least 4 tracks"):
        allocate_tracks(["a", "b"], "s", weights)


def test_plan_pairs_each_clip_with_one_fake_in_its_tracks_split():
    protocol = protocols.load("mom-mini")
    plans = MomMiniSource(protocol, dict(protocol.source)).plan()
    counts = {s: dict(Counter(p.generator or "real" for p in plans if p.split == s)) for s in EXPECTED_COUNTS}
    assert counts == EXPECTED_COUNTS
    split_of_track = {}
    for p in plans:
        assert split_of_track.setdefault(p.excerpt.track_id, p.split) == p.split
        if p.generator in OOD:
            assert p.split == "test_ood"
    reals = Counter(p.clip.id for p in plans if p.generator is None)
    fakes = Counter(p.clip.id for p in plans if p.generator is not None)
    assert reals == fakes and set(reals.values()) == {1}


# --------------------------------------------------------------------------------------------------
# generator families


FAMILY_OPTIONS = {
    "griffin_lim": {"iterations": 8},
    "sines_noise": {"peaks": 20},
    "rvq_codec": {},
    "latent_vae": {},
    "mel_vocoder": {},
}
#: Families with seeded randomness: another seed, another output.
SEEDED = {"griffin_lim", "sines_noise", "latent_vae"}
DECODERS = ("rvq_codec", "latent_vae", "mel_vocoder")


@pytest.mark.parametrize("name", sorted(FAMILY_OPTIONS))
def test_family_is_deterministic_right_length_finite_and_changes_the_audio(name, clip):
    fam = make_family(name, RATE, **FAMILY_OPTIONS[name])
    assert not fam.needs_training  # nothing is trained at build time
    y1, y2 = fam.generate(clip, seed=3), fam.generate(clip, seed=3)
    assert y1.shape == clip.shape
    assert np.isfinite(y1).all()
    np.testing.assert_array_equal(y1, y2)
    assert np.sqrt(np.mean(y1 ** 2)) > 1e-4  # not silence
    assert np.max(np.abs(y1 - clip)) > 1e-2  # not the input
    if name in SEEDED:
        assert not np.array_equal(y1, fam.generate(clip, seed=4))


@pytest.mark.parametrize("name", DECODERS)
def test_decoder_generates_in_float64_on_one_thread_and_resembles_its_input(name, clip):
    import torch

    fam = make_family(name, RATE)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        y = fam.generate(clip, seed=0)
    finally:
        torch.set_num_threads(threads)
    assert y.dtype == np.float64
    assert all(p.dtype == torch.float64 for p in fam.net.state_dict().values())
    # a re-synthesis, not noise: its spectrogram follows the input's
    spec = [np.log(np.abs(np.fft.rfft(z[: z.size // 512 * 512].reshape(-1, 512) * np.hanning(512))) + 1e-6)
            for z in (clip / np.std(clip), y / np.std(y))]
    assert np.corrcoef(spec[0].ravel(), spec[1].ravel())[0, 1] > 0.6
    assert 0.1 < np.std(y) / np.std(clip) < 10


@pytest.mark.parametrize("name", DECODERS)
def test_shipped_decoder_weights_load_into_their_network(name):
    import json

    from mom_bench.dataset.mini import decoders

    net = decoders.load(name)
    params = sum(t.numel() for t in net.state_dict().values())
    path = decoders.weights_path(name)
    assert path.stat().st_size < 1_000_000 and params * 4 <= path.stat().st_size  # float32, under 1 MB
    record = json.loads(path.with_suffix(".json").read_text())
    assert record["family"] == name and record["config"] == decoders.CONFIGS[name] and record["parameters"] == params
    assert not net.training and not any(p.requires_grad for p in net.parameters())


@pytest.mark.parametrize("damage", ["missing", "truncated", "flipped", "other"])
def test_missing_or_damaged_decoder_weights_name_the_file_and_the_script(damage, clip, tmp_path, monkeypatch):
    from mom_bench.dataset.mini import decoders

    shipped = decoders.weights_path("rvq_codec").read_bytes()
    another = decoders.weights_path("latent_vae").read_bytes()
    monkeypatch.setattr(decoders, "WEIGHTS_DIR", tmp_path)
    path = tmp_path / "rvq_codec.safetensors"
    if damage == "truncated":
        path.write_bytes(shipped[: len(shipped) // 2])
    elif damage == "flipped":  # one byte of tensor data, near the end of the file
        data = bytearray(shipped)
        data[-100] ^= 0xFF
        path.write_bytes(bytes(data))
    elif damage == "other":
        path.write_bytes(another)
    fam = make_family("rvq_codec", RATE)
    with pytest.raises(decoders.WeightsError) as err:
        fam.generate(clip, seed=0)
    message = str(err.value)
    assert str(path) in message and "scripts/train_mom_mini_decoders.py --family rvq_codec" in message
    assert "\n" not in message


def test_unknown_family_is_named():
    with pytest.raises(ValueError, match="unknown mom-mini generator family 'wavenet'"):
        make_family("wavenet", RATE)


def test_mel_filterbank_is_htk_triangles():
    fb = dsp.mel_filterbank(64, 1024, RATE).numpy()
    assert fb.shape == (513, 64)
    assert fb.max() <= 1.0 + 1e-6 and fb.min() >= 0
    peaks = fb.argmax(axis=0)
    assert np.all(np.diff(peaks) >= 0)  # centres rise with the mel index
    assert abs(dsp.hz_to_mel(1000.0) - 1000.0) < 0.1  # HTK: 1 kHz is 1000 mel


# --------------------------------------------------------------------------------------------------
# the common finishing step


def test_finish_gives_every_clip_the_same_format(clip):
    n = 3 * RATE
    loud_fake = np.clip(clip * 40, -3, 3)  # clipped, too loud, too short
    for x, ref in ((clip, None), (loud_fake, clip)):
        y = dsp.finish(x, RATE, n, ref=ref)
        assert y.dtype == np.float32 and y.size == n
        rms_db = 20 * math.log10(np.sqrt(np.mean(y.astype(np.float64) ** 2)))
        assert rms_db == pytest.approx(dsp.TARGET_RMS_DBFS, abs=0.5)
        assert np.abs(y).max() <= 10 ** (dsp.PEAK_CEILING_DBFS / 20) + 2 / 32768  # + rounding and dither
        spec = np.abs(np.fft.rfft(y)) ** 2
        f = np.fft.rfftfreq(n, 1 / RATE)
        assert spec[f > dsp.BAND_LIMIT_HZ + 600].sum() < 1e-4 * spec.sum()
        assert np.array_equal(np.round(y * 32768), y * 32768)  # on the 16-bit grid the build stores
        assert np.array_equal(dsp.finish(x, RATE, n, ref=ref), y)  # same seed, same bytes
        other = dsp.finish(x, RATE, n, ref=ref, seed=1)
        assert not np.array_equal(other, y) and np.abs(other - y).max() <= 3 / 32768  # only the dither moved


# --------------------------------------------------------------------------------------------------
# a whole build, from scratch and offline (slow: one build, shared by the checks below)


@pytest.fixture(scope="module")
def built(mini_build):
    from mom_bench.dataset.build_report import BuildResult

    return BuildResult.from_report(mini_build), mini_build


def _splits_csv(out: Path):
    with open(out / "splits.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_build_counts_match_the_data_card(built):
    result, out = built
    assert result.n_written == N_ROWS and result.n_missing == 0 and result.n_unusable == 0
    counts = {s: {g: n for g, n in gens.items() if n} for s, gens in result.counts.items()}
    assert counts == EXPECTED_COUNTS
    card = (Path(__file__).resolve().parents[1] / "data_cards" / "mom-mini.md").read_text()
    for split, gens in EXPECTED_COUNTS.items():
        for gen, n in gens.items():
            assert f"| {split} | {gen} | {n} |" in card


@pytest.mark.slow
def test_build_keeps_tracks_with_their_fakes_and_ood_in_test_ood(built):
    import pandas as pd

    _, out = built
    df = pd.concat([pd.read_parquet(p, columns=["id", "split", "generator", "group_id", "is_ood", "label"])
                    for p in sorted((out / "data").glob("*.parquet"))])
    assert len(df) == N_ROWS
    assert df.groupby("group_id")["split"].nunique().max() == 1
    assert set(df[df.generator.isin(OOD)].split) == {"test_ood"}
    assert df[df.is_ood].generator.isin(OOD).all() and df[df.generator.isin(OOD)].is_ood.all()
    for _split, part in df.groupby("split"):
        assert (part.label == 1).sum() == (part.label == 0).sum()  # half real, half fake


@pytest.mark.slow
def test_build_shortcut_check_stays_near_chance(built):
    result, out = built
    import json

    report = json.loads((out / "build_report.json").read_text())
    shortcut = result.shortcut or report.get("shortcut_check") or report.get("shortcut")
    assert shortcut is not None and shortcut["f1"] is not None
    assert shortcut["balanced_accuracy"] <= 0.65 and shortcut["warn"] is False
    # on every global statistic stats-lr sees, not only the format-level ones
    from mom_bench.core.signal_stats import FEATURES

    assert shortcut["features"] == list(FEATURES)


@pytest.mark.slow
def test_build_ids_and_splits_are_stable(built):
    _, out = built
    protocol = protocols.load("mom-mini")
    listed = {r.id: r.split for r in MomMiniSource(protocol, dict(protocol.source)).rows()}
    assert {r["id"]: r["split"] for r in _splits_csv(out)} == listed


@pytest.mark.slow
def test_built_test_ood_loads_with_datasets(built):
    import subprocess
    import sys

    _, out = built
    code = ("import datasets, sys; ds = datasets.load_dataset(sys.argv[1], split='test_ood'); "
            "a = ds[0]['audio']; print(len(ds), a['sampling_rate'], len(a['array']))")
    done = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    n, rate, length = map(int, done.stdout.split()[-3:])
    assert (n, rate, length) == (2 * EXPECTED_COUNTS["test_ood"]["real"], RATE, 3 * RATE)


@pytest.mark.slow
def test_build_audio_is_the_protocols_on_every_machine(built):
    """The committed fingerprint: a CPU that builds other audio fails here (and the build says so)."""
    result, _ = built
    expected = protocols.load("mom-mini").raw["audio_fingerprint"]
    assert result.audio_fingerprint == expected
    assert result.expected_audio_fingerprint == expected
    assert "the protocol's, as on every machine" in result.summary()


@pytest.mark.slow
def test_build_counts_reals_per_pool_and_track(built):
    result, _ = built
    assert all(result.reals_by_source[split].keys() == {"cc_recordings", "debian_music"} for split in result.counts)
    for split in ("test_id", "test_ood"):
        assert sum(result.reals_by_source[split].values()) >= 150 and result.real_groups[split] >= 8
        assert all(n >= 40 for g, n in result.counts[split].items() if g != "real")
    assert sum(result.reals_by_source["validation"].values()) >= 100


def test_data_card_tables_are_current():
    """The card's generated tables (composition, splits, generators, stems, tracks) match the source's plan."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, str(root / "scripts" / "write_mom_mini_card_tables.py"), "--check"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
