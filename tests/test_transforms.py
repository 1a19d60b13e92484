"""Robustness transforms as data (issue 12, first part): every transform does what its name says on
synthetic signals made here, is deterministic per item, and the suite loader refuses bad files with the
file, the transform and the allowed values in its message.

Items of the brief: 1 transforms as data and the strict loader, 2 the standard suite, 3 these tests.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from mom_bench.dataset.transforms import (
    SAMPLE_RATES,
    SuiteError,
    TransformError,
    item_seed,
    load_suite,
    ops,
    parse_suite,
    suite_names,
)
from mom_bench.dataset.transforms.kinds import make

REPO = Path(__file__).resolve().parents[1]
SR = 24000


def tone(freq: float, seconds: float = 1.0, sr: int = SR, amp: float = 0.5) -> torch.Tensor:
    t = torch.arange(int(seconds * sr), dtype=torch.float64) / sr
    return (amp * torch.sin(2 * np.pi * freq * t)).to(torch.float32)


def white(seconds: float = 1.0, sr: int = SR, seed: int = 0, amp: float = 0.1) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).standard_normal(int(seconds * sr)) * amp).float()


def peak_hz(y: torch.Tensor, sr: int = SR) -> float:
    spectrum = np.abs(np.fft.rfft(y.numpy() * np.hanning(y.numel())))
    return float(np.argmax(spectrum) * sr / y.numel())


def band_db(after: torch.Tensor, before: torch.Tensor, lo: float, hi: float, sr: int = SR) -> float:
    """Energy of ``after`` in [lo, hi) Hz relative to that of ``before``, in dB."""
    def energy(z: torch.Tensor) -> float:
        spectrum = np.abs(np.fft.rfft(z.numpy().astype(np.float64))) ** 2
        f = np.fft.rfftfreq(z.numel(), 1 / sr)
        return float(spectrum[(f >= lo) & (f < hi)].sum())
    return 10 * np.log10(energy(after) / energy(before))


def snr_db(clean: torch.Tensor, noisy: torch.Tensor) -> float:
    c = clean.numpy().astype(np.float64)
    n = noisy.numpy().astype(np.float64) - c
    return float(10 * np.log10(np.mean(c * c) / np.mean(n * n)))


@pytest.fixture(scope="module")
def standard():
    return load_suite("standard")


# --------------------------------------------------------------------------------------------------
# What each transform does (item 3)


@pytest.mark.parametrize("semitones", [12, -12, 2, -1])
def test_pitch_shift_moves_a_sine_to_the_expected_frequency(semitones):
    """issue 12 item 3: a 440 Hz sine shifted by +12 st peaks at 880 Hz (+-1 %), at the same length."""
    x = tone(440)
    y = make("p", "pitch_shift", "pitch", {"semitones": semitones}).apply(x, SR, seed=0)
    assert y.numel() == x.numel()
    assert peak_hz(y) == pytest.approx(440 * 2 ** (semitones / 12), rel=0.01)


@pytest.mark.parametrize("rate", [0.9, 1.1])
def test_time_stretch_changes_duration_by_one_over_rate_and_keeps_pitch(rate):
    """issue 12 item 3: 'time stretch 0.9' is a rate: it lasts 1/0.9 as long (+-1 %) at the same pitch,
    and the content moves with it (a burst ending at 0.8 s ends near 0.8/rate s)."""
    x = tone(440)
    burst = x.clone()
    burst[: int(0.2 * SR)] = 0
    burst[int(0.8 * SR):] = 0
    t = make("s", "time_stretch", "tempo", {"rate": rate})
    y = t.apply(burst, SR, seed=0)
    assert y.numel() / x.numel() == pytest.approx(1 / rate, rel=0.01)
    assert peak_hz(y) == pytest.approx(440, rel=0.01)
    loud = np.where(y.abs().numpy() > 0.25)[0] / SR
    assert loud[0] == pytest.approx(0.2 / rate, abs=0.05)
    assert loud[-1] == pytest.approx(0.8 / rate, abs=0.05)
    assert not t.keeps_length


@pytest.mark.parametrize("name,snr", [("noise_snr20", 20), ("noise_snr30", 30), ("noise_snr40", 40),
                                      ("pink_snr10", 10)])
def test_noise_is_added_at_the_stated_snr(standard, name, snr):
    """issue 12 item 3: noise at SNR 20 dB measures 20 +- 0.2 dB relative to the item's own power."""
    x = tone(440) + white(amp=0.01)
    t = standard.transform(name)
    y = t.apply(x, SR, seed=standard.item_seed(t, "song-1"))
    assert snr_db(x, y) == pytest.approx(snr, abs=0.2)


def test_pink_noise_has_equal_power_per_octave(standard):
    """issue 12 item 2: the broadcast proxy is pink (1/f), not white: each octave holds about the same power."""
    x = tone(440)
    t = standard.transform("pink_snr10")
    noise = (t.apply(x, SR, seed=1) - x).numpy().astype(np.float64)
    spectrum = np.abs(np.fft.rfft(noise)) ** 2
    f = np.fft.rfftfreq(noise.size, 1 / SR)
    octaves = [10 * np.log10(spectrum[(f >= lo) & (f < 2 * lo)].sum()) for lo in (100, 200, 400, 800, 1600, 3200)]
    assert max(octaves) - min(octaves) < 1.5


def test_a_silent_item_stays_silent_under_noise(standard):
    """issue 12 item 2: SNR is relative to the item's own power, and silence has none."""
    x = torch.zeros(SR)
    assert torch.equal(standard.transform("noise_snr20").apply(x, SR, seed=3), x)


@pytest.mark.parametrize("sr", [44100, 48000])
def test_mp3_32k_removes_the_energy_above_its_lowpass(sr):
    """issue 12 item 3: MP3 at 32 kb/s removes (nearly) all energy of white noise above 15 kHz."""
    w = white(sr=sr)
    y = make("m", "codec", "codec", {"format": "mp3", "bit_rate": 32000}).apply(w, sr, seed=0)
    assert y.numel() == w.numel()
    assert band_db(w, w, 15000, sr / 2, sr) == 0
    assert band_db(y, w, 15000, sr / 2, sr) < -40


@pytest.mark.parametrize("name,stop,passband", [("lowpass_4k", (5000, 12000), (0, 3000)),
                                                ("lowpass_8k", (9000, 12000), (0, 7000)),
                                                ("highpass_500", (0, 350), (800, 12000))])
def test_filters_remove_the_stop_band_and_keep_the_pass_band(standard, name, stop, passband):
    """issue 12 item 3: low-pass 4 kHz removes the energy above it (and keeps what is well below)."""
    w = white()
    y = standard.transform(name).apply(w, SR, seed=0)
    assert band_db(y, w, *stop) < -40
    assert abs(band_db(y, w, *passband)) < 0.5


def test_filters_are_zero_phase(standard):
    """issue 12 item 2: sosfiltfilt runs forward and backward, so a pass-band tone is not delayed."""
    x = tone(1000)
    y = standard.transform("lowpass_4k").apply(x, SR, seed=0)
    middle = slice(SR // 4, 3 * SR // 4)  # away from the edge padding
    assert torch.allclose(y[middle], x[middle], atol=1e-3)


def test_resample_round_trip_removes_what_the_lower_rate_cannot_hold(standard):
    """issue 12 item 2: a round trip through 16 kHz keeps the band below 7 kHz and cuts the band above 9 kHz."""
    w = white()
    y = standard.transform("resample_16k").apply(w, SR, seed=0)
    assert y.numel() == w.numel()
    assert abs(band_db(y, w, 0, 7000)) < 0.5
    assert band_db(y, w, 9000, 12000) < -20


@pytest.mark.parametrize("name,db", [("gain_-6db", -6), ("gain_+6db", 6)])
def test_gain_is_exact_and_never_clipped(standard, name, db):
    """issue 12 item 3: gain is an exact multiplication by 10^(db/20); +6 dB of a 0.9 peak exceeds 1.0."""
    x = tone(440, amp=0.9)
    y = standard.transform(name).apply(x, SR, seed=0)
    assert torch.equal(y, x * torch.tensor(10 ** (db / 20), dtype=torch.float32))
    if db > 0:
        assert y.abs().max() > 1.0


@pytest.mark.parametrize("name", ["mp3_32k", "mp3_128k", "aac_64k", "aac_128k", "opus_32k", "opus_64k"])
@pytest.mark.parametrize("sr", [24000, 44100])
def test_codec_round_trips_keep_the_start_in_place(standard, name, sr):
    """issue 12 item 2: codec delay is dropped by the container's priming field (LAME header, MP4 edit list,
    Ogg pre-skip), so the output lines up with the input: the cross-correlation peaks at lag 0."""
    from scipy.signal import butter, correlate, sosfilt

    n = sr
    x = sosfilt(butter(4, 3000, fs=sr, output="sos"), np.random.default_rng(5).standard_normal(n) * 0.2)
    x[: sr // 4] = 0  # a silent lead-in: a late decoder would shift the onset
    x = torch.from_numpy(x).float()
    y = standard.transform(name).apply(x, sr, seed=0)
    assert y.numel() == n
    c = correlate(y.numpy().astype(np.float64), x.numpy().astype(np.float64), mode="full")
    assert int(np.argmax(c)) - (n - 1) == 0


def test_every_standard_transform_runs_on_one_second(standard):
    """issue 12 item 3: the standard suite loads and every transform returns finite float32 of the
    expected length on a 1 s signal (stretch: round(n / rate)), leaving the input untouched."""
    x = tone(440) + white(amp=0.05)
    before = x.clone()
    for t in standard.transforms:
        y = t.apply(x, SR, seed=standard.item_seed(t, "item"))
        expected = x.numel() if t.keeps_length else round(x.numel() / t.params["rate"])
        assert y.dtype == torch.float32 and y.dim() == 1, t.name
        assert y.numel() == expected, t.name
        assert torch.isfinite(y).all(), t.name
        assert not torch.equal(y, x), f"{t.name} changed nothing"
    assert torch.equal(x, before)


def test_the_standard_suite_has_the_required_transforms(standard):
    """issue 12 item 2: the codecs, pitch, tempo, filters, resampling, noise, gain, pink mix and clip sweep."""
    keys = {t.name: (t.kind, t.params) for t in standard.transforms}
    expected = {
        **{f"mp3_{k}k": ("codec", {"format": "mp3", "bit_rate": k * 1000}) for k in (32, 64, 128)},
        **{f"aac_{k}k": ("codec", {"format": "aac", "bit_rate": k * 1000}) for k in (64, 128)},
        **{f"opus_{k}k": ("codec", {"format": "opus", "bit_rate": k * 1000}) for k in (32, 64)},
        **{f"pitch_{s:+d}st": ("pitch_shift", {"semitones": float(s)}) for s in (-2, -1, 1, 2)},
        "stretch_0.9": ("time_stretch", {"rate": 0.9}), "stretch_1.1": ("time_stretch", {"rate": 1.1}),
        "lowpass_4k": ("lowpass", {"cutoff_hz": 4000.0, "order": 8}),
        "lowpass_8k": ("lowpass", {"cutoff_hz": 8000.0, "order": 8}),
        "highpass_500": ("highpass", {"cutoff_hz": 500.0, "order": 8}),
        "resample_16k": ("resample", {"rate": 16000}), "resample_22k": ("resample", {"rate": 22050}),
        **{f"noise_snr{s}": ("noise", {"snr_db": float(s), "color": "white"}) for s in (40, 30, 20)},
        "gain_-6db": ("gain", {"db": -6.0}), "gain_+6db": ("gain", {"db": 6.0}),
        "pink_snr10": ("noise", {"snr_db": 10.0, "color": "pink"}),
    }
    assert keys == expected
    assert [str(c) for c in standard.clips] == ["first:30", "first:90", "first:180"]
    assert "standard" in suite_names()
    assert len({t.key for t in standard.transforms}) == len(standard.transforms)


# --------------------------------------------------------------------------------------------------
# Determinism and seeds (items 1 and 3)


def test_same_seed_is_bit_identical_and_another_item_differs(standard):
    """issue 12 item 3: the same seed gives bit-identical output twice; another item id gives other noise."""
    x = tone(440)
    t = standard.transform("noise_snr20")
    a = t.apply(x, SR, seed=standard.item_seed(t, "song-1"))
    b = t.apply(x, SR, seed=standard.item_seed(t, "song-1"))
    c = t.apply(x, SR, seed=standard.item_seed(t, "song-2"))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert standard.item_seed("noise_snr20", "song-1") != standard.item_seed("noise_snr30", "song-1")


def test_item_seed_is_the_documented_sha256():
    """issue 12 item 1: the seed is the first 63 bits of sha256(suite seed, transform, item), never hash()."""
    digest = hashlib.sha256(b"7\x00noise_snr20\x00song-1").digest()
    assert item_seed(7, "noise_snr20", "song-1") == int.from_bytes(digest[:8], "big") & (2**63 - 1)


_OUTPUTS = """
import hashlib, json, torch
from mom_bench.dataset.transforms import load_suite
suite = load_suite("standard")
x = torch.sin(torch.arange(24000, dtype=torch.float32) * 0.1) * 0.5
out = {}
for name in ("noise_snr20", "pink_snr10", "pitch_+1st", "mp3_64k"):
    t = suite.transform(name)
    y = t.apply(x, 24000, seed=suite.item_seed(t, "song-1"))
    out[name] = [suite.item_seed(t, "song-1"), hashlib.sha256(y.numpy().tobytes()).hexdigest()]
"""


@pytest.mark.slow
def test_outputs_are_identical_across_processes_with_different_hash_seeds():
    """issue 12 item 1: seeds come from hashlib, so a process with another PYTHONHASHSEED gets the same seeds
    and bit-identical outputs as this one."""
    here: dict = {}
    exec(_OUTPUTS, here)
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(REPO)}
    child = subprocess.run([sys.executable, "-c", _OUTPUTS + "print(json.dumps(out))"], env=env,
                           capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(child.stdout.strip().splitlines()[-1]) == here["out"]


def test_key_names_kind_version_and_every_parameter():
    """issue 12 item 1: Transform.key is stable: parameter order, int-vs-float spelling and the transform's
    name do not change it; defaults are spelt out; a different value does."""
    a = make("a", "lowpass", "filter", {"order": 8, "cutoff_hz": 4000})
    b = make("b", "lowpass", "other", {"cutoff_hz": 4000.0})
    c = make("c", "lowpass", "filter", {"cutoff_hz": 4001})
    assert a.key == b.key == "lowpass@1(cutoff_hz=4000.0,order=8)"
    assert c.key != a.key
    assert make("n", "noise", "noise", {"snr_db": 20}).is_random
    assert not a.is_random


# --------------------------------------------------------------------------------------------------
# Inputs refused at apply time (item 1)


def test_apply_refuses_malformed_input(standard):
    """issue 12 item 1: apply takes 1-D float32 mono at a supported rate, finite, within the length bound,
    and a non-negative integer seed; anything else is refused naming the transform."""
    t = standard.transform("gain_+6db")
    x = tone(440)
    cases = [
        (lambda: t.apply(x[None], SR, seed=0), "1-D float32"),
        (lambda: t.apply(x.double(), SR, seed=0), "1-D float32"),
        (lambda: t.apply(x.numpy(), SR, seed=0), "ndarray"),
        (lambda: t.apply(x[:0], SR, seed=0), "no samples"),
        (lambda: t.apply(torch.full((10,), float("nan")), SR, seed=0), "non-finite"),
        (lambda: t.apply(x, 44101, seed=0), "44101"),
        (lambda: t.apply(x, True, seed=0), "True"),
        (lambda: t.apply(x, SR, seed=-1), "seed"),
        (lambda: t.apply(torch.zeros(8000 * 30 * 60 + 1), 8000, seed=0), "over the limit"),
    ]
    for call, words in cases:
        with pytest.raises(TransformError, match="gain_\\+6db") as err:
            call()
        assert words in str(err.value)


def test_rates_a_transform_cannot_run_at_are_refused_before_running(standard):
    """issue 12 item 1: a low-pass at 8 kHz on 16 kHz audio, or a round trip through 16 kHz, removes nothing;
    the suite names every such transform so a run can refuse before it writes anything."""
    with pytest.raises(TransformError, match="lowpass_8k.*needs a sample rate above 16000 Hz"):
        standard.transform("lowpass_8k").apply(tone(440, sr=16000), 16000, seed=0)
    with pytest.raises(TransformError) as err:
        standard.check_sample_rate(16000)
    assert "lowpass_8k" in str(err.value) and "resample_16k" in str(err.value)
    assert "lowpass_4k" not in str(err.value)
    standard.check_sample_rate(24000)
    standard.check_sample_rate(44100)
    assert set(SAMPLE_RATES) >= {16000, 22050, 24000, 44100, 48000}


def test_codecs_fall_back_to_48k_for_rates_their_encoder_does_not_take():
    """issue 12 item 2: Opus always codes at 48 kHz; MP3 at 96 kHz is coded at 48 kHz; the result comes back
    at the input rate and length."""
    assert ops.codec_rate("opus", 24000) == 48000
    assert ops.codec_rate("mp3", 96000) == 48000 and ops.codec_rate("mp3", 24000) == 24000
    y = make("m", "codec", "codec", {"format": "mp3", "bit_rate": 128000}).apply(tone(440, 0.5, 96000), 96000, seed=0)
    assert y.numel() == 48000
    assert peak_hz(y, 96000) == pytest.approx(440, rel=0.01)


# --------------------------------------------------------------------------------------------------
# The strict loader (item 1)


def _standard_raw() -> dict:
    return yaml.safe_load((REPO / "mom_bench" / "dataset" / "transforms" / "suites" / "standard.yaml").read_text())


def _write(tmp_path: Path, raw: dict) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def _edit(change):
    raw = _standard_raw()
    change(raw)
    return raw


BAD = {
    "unknown top key": (lambda r: r.update(transfroms=[]), ["'transfroms'", "did you mean 'transforms'", "allowed:"]),
    "missing seed": (lambda r: r.pop("seed"), ["missing key(s) seed"]),
    "seed not an integer": (lambda r: r.update(seed=1.5), ["seed", "integer from 0 to"]),
    "seed a boolean": (lambda r: r.update(seed=True), ["seed", "integer from 0 to"]),
    "version a number": (lambda r: r.update(version=1.0), ["version", "quote versions"]),
    "no transforms": (lambda r: r.update(transforms=[]), ["transforms", "list of 1 to 256"]),
    "unknown kind": (lambda r: r["transforms"][0].update(kind="codecs"),
                     ["transforms[0] (mp3_32k).kind", "'codecs'", "did you mean 'codec'", "known: codec,"]),
    "unknown param": (lambda r: r["transforms"][0]["params"].update(bitrate=1),
                      ["(mp3_32k).params", "bitrate", "allowed: format (one of 'mp3', 'aac', 'opus')",
                       "bit_rate (an integer from 6000 to 320000 b/s)"]),
    "missing param": (lambda r: r["transforms"][7]["params"].pop("semitones"),
                      ["(pitch_-2st).params", "missing semitones", "from -24 to 24 semitones"]),
    "out of range": (lambda r: r["transforms"][7]["params"].update(semitones=25),
                     ["(pitch_-2st).params.semitones", "25", "from -24 to 24"]),
    "nan": (lambda r: r["transforms"][11]["params"].update(rate=float("nan")),
            ["(stretch_0.9).params.rate", "nan", "from 0.5 to 2"]),
    "bool for a number": (lambda r: r["transforms"][21]["params"].update(db=True),
                          ["(gain_-6db).params.db", "True", "from -60 to 24 dB"]),
    "float for an integer": (lambda r: r["transforms"][0]["params"].update(bit_rate=32000.5),
                             ["(mp3_32k).params.bit_rate", "an integer"]),
    "bit rate out of the codec's range": (lambda r: r["transforms"][5]["params"].update(bit_rate=300000),
                                          ["(opus_32k).params.bit_rate", "for opus", "6000 to 256000"]),
    "unknown format": (lambda r: r["transforms"][0]["params"].update(format="ogg"),
                       ["(mp3_32k).params.format", "'ogg'", "one of 'mp3', 'aac', 'opus'"]),
    "unknown noise colour": (lambda r: r["transforms"][23]["params"].update(color="brown"),
                             ["(pink_snr10).params.color", "'white', 'pink'"]),
    "resample rate not a standard rate": (lambda r: r["transforms"][16]["params"].update(rate=16001),
                                          ["(resample_16k).params.rate", "16001", "16000"]),
    "duplicated name": (lambda r: r["transforms"][1].update(name="mp3_32k"), ["transforms[1].name", "used twice"]),
    "odd name": (lambda r: r["transforms"][0].update(name="mp3 32k/x"), ["transforms[0].name", "plain name"]),
    "missing family": (lambda r: r["transforms"][0].pop("family"), ["transforms[0]", "missing key(s) family"]),
    "unknown transform key": (lambda r: r["transforms"][0].update(parms={}), ["'parms'", "did you mean 'params'"]),
    "params not a mapping": (lambda r: r["transforms"][0].update(params=[1]),
                             ["(mp3_32k).params", "expected a mapping"]),
    "bad clip": (lambda r: r.update(clips=["first"]), ["clips[0]", "first", "positive length"]),
    "random clip": (lambda r: r.update(clips=["random:5"]), ["clips[0]", "random window"]),
    "duplicated clip": (lambda r: r.update(clips=["first:30", "first:30.0"]), ["clips[1]", "listed twice"]),
    "clip not a string": (lambda r: r.update(clips=[30]), ["clips[0]", "clip policy string"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_the_loader_refuses_bad_files_naming_file_transform_and_allowed_values(tmp_path, case):
    """issue 12 item 1: unknown keys, kinds and params, missing or out-of-range values, wrong types,
    duplicates and bad clip policies are refused; the message names the file, the transform and what is
    allowed."""
    change, words = BAD[case]
    path = _write(tmp_path, _edit(change))
    with pytest.raises(SuiteError) as err:
        load_suite(path)
    message = str(err.value)
    assert message.startswith(str(path)), message
    for w in words:
        assert w in message, f"{w!r} not in {message!r}"


def test_the_loader_refuses_unreadable_files(tmp_path):
    """issue 12 item 1: a missing file, an unknown suite name, non-UTF-8 bytes, broken YAML, YAML aliases
    and an oversized file are refused before anything is parsed."""
    with pytest.raises(SuiteError, match="suite file not found"):
        load_suite(tmp_path / "nope.yaml")
    with pytest.raises(SuiteError, match="unknown robustness suite 'standart' \\(did you mean 'standard'\\?\\)"):
        load_suite("standart")
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"name: \xff\xfe\n")
    with pytest.raises(SuiteError, match="not UTF-8"):
        load_suite(bad)
    bad.write_text("name: [unclosed\n")
    with pytest.raises(SuiteError, match="not valid YAML"):
        load_suite(bad)
    bad.write_text("a: &x [1, 2]\nb: *x\n")
    with pytest.raises(SuiteError, match="aliases"):
        load_suite(bad)
    bad.write_text("#" * (1 << 20) + "\n")
    with pytest.raises(SuiteError, match="over the limit"):
        load_suite(bad)
    with pytest.raises(SuiteError, match="expected a mapping"):
        parse_suite(["a"], "x.yaml")


def test_a_deeply_nested_suite_is_refused_before_it_is_built(tmp_path):
    """issue 26 item 7: ``[[[[...`` as deep as the size limit allows used to burn minutes in the parser and
    end in a RecursionError; it is refused at the first level past the allowed depth, so a 1 MiB file is
    answered at once."""
    from mom_bench.core.loader import MAX_YAML_DEPTH
    from mom_bench.dataset.transforms.suite import MAX_FILE_BYTES

    deep = tmp_path / "deep.yaml"
    deep.write_text("name: deep\ntransforms: " + "[" * (MAX_FILE_BYTES - 24))
    assert deep.stat().st_size <= MAX_FILE_BYTES
    with pytest.raises(SuiteError) as err:
        load_suite(deep)
    assert str(err.value) == (f"{deep}: nesting reaches level {MAX_YAML_DEPTH + 1} at line 2, column "
                              f"{12 + MAX_YAML_DEPTH}; a suite may nest at most {MAX_YAML_DEPTH} levels")


def test_a_written_suite_loads_with_defaults_filled_in(tmp_path):
    """issue 12 item 1: a user's suite file loads by path; optional parameters take their defaults and clips
    are optional."""
    path = _write(tmp_path, {"name": "mine", "version": "0.1", "description": "two", "seed": 1,
                             "transforms": [{"name": "lp", "kind": "lowpass", "family": "filter",
                                             "params": {"cutoff_hz": 3000}},
                                            {"name": "n", "kind": "noise", "family": "noise",
                                             "params": {"snr_db": 15}}]})
    suite = load_suite(path)
    assert suite.clips == ()
    assert suite.transform("lp").params == {"cutoff_hz": 3000.0, "order": 8}
    assert suite.transform("n").params == {"snr_db": 15.0, "color": "white"}
    assert suite.families == ["filter", "noise"]
    with pytest.raises(SuiteError, match="no transform 'l' .*known: lp, n"):
        suite.transform("l")


def test_an_unsupported_rate_is_refused_once_for_the_whole_suite(standard):
    """issue 12 item 1: a rate outside SAMPLE_RATES is refused with the list of allowed rates."""
    with pytest.raises(TransformError, match="suite 'standard': sample rate 44101 is not supported; use one of 8000"):
        standard.check_sample_rate(44101)


def test_the_shipped_suites_validate_against_the_suite_schema():
    from mom_bench.core import json_schema
    from mom_bench.dataset.transforms import SCHEMA, path_of

    assert json_schema.unsupported_keywords(SCHEMA) == []
    for name in suite_names():
        raw = yaml.safe_load(path_of(name).read_text(encoding="utf-8"))
        assert json_schema.validate(raw, SCHEMA) == [], name
