"""The one audio path, against real files written here in every common format."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import scipy.io.wavfile
import torch
from torchcodec.encoders import AudioEncoder

from mom_bench.core import audio
from mom_bench.core.audio import AudioError

FORMATS = {  # extension -> native rate the encoder accepts
    "wav": 44100, "flac": 44100, "mp3": 44100, "ogg": 44100, "opus": 48000, "m4a": 44100,
}


def tone(freq: float, seconds: float, rate: int, amp: float = 0.5) -> torch.Tensor:
    t = torch.arange(int(seconds * rate), dtype=torch.float64) / rate
    return (amp * torch.sin(2 * math.pi * freq * t)).to(torch.float32)


def write(path: Path, samples: torch.Tensor, rate: int) -> Path:
    AudioEncoder(samples if samples.ndim == 2 else samples[None], sample_rate=rate).to_file(str(path))
    return path


def peak_hz(x: torch.Tensor, rate: int) -> float:
    spec = np.abs(np.fft.rfft(x.numpy() * np.hanning(x.numel())))
    return float(np.argmax(spec) * rate / x.numel())


@pytest.mark.parametrize("ext", sorted(FORMATS))
def test_every_format_decodes_to_mono_float32_at_the_requested_rate(tmp_path, ext):
    rate = FORMATS[ext]
    stereo = torch.stack([tone(1000, 3, rate), tone(1000, 3, rate, amp=0.2)])
    path = write(tmp_path / f"tone.{ext}", stereo, rate)
    out = audio.load(path, 24000)
    assert out.samples.dtype == torch.float32 and out.samples.ndim == 1
    assert out.sample_rate == 24000
    assert abs(out.samples.numel() / 24000 - 3.0) < 0.1
    assert out.info.channels == 2 and out.info.sample_rate == rate
    # A 1 kHz tone stays at 1 kHz within one FFT bin after decoding + resampling.
    segment = out.samples[2400:2400 + 48000]
    assert abs(peak_hz(segment, 24000) - 1000) <= 24000 / segment.numel()


def test_bytes_decode_like_the_file(tmp_path):
    path = write(tmp_path / "a.flac", tone(440, 1, 44100), 44100)
    from_file = audio.load(path, 16000).samples
    from_bytes = audio.load(path.read_bytes(), 16000).samples
    assert torch.equal(from_file, from_bytes)


def test_mono_mixdown_is_the_channel_mean(tmp_path):
    rate = 24000
    left, right = tone(300, 1, rate, 0.6), tone(700, 1, rate, 0.2)
    path = tmp_path / "st.wav"
    scipy.io.wavfile.write(path, rate, torch.stack([left, right], 1).numpy())  # float32 wav: exact
    out = audio.load(path, rate).samples
    torch.testing.assert_close(out, (left + right) / 2, atol=1e-6, rtol=0)


def test_six_channels_mix_down_by_plain_mean(tmp_path):
    rate = 48000
    chans = torch.stack([tone(200 * (i + 1), 0.5, rate, 0.1 * (i + 1)) for i in range(6)], 1)
    path = tmp_path / "six.wav"
    scipy.io.wavfile.write(path, rate, chans.numpy())
    out = audio.load(path, rate)
    assert out.info.channels == 6
    torch.testing.assert_close(out.samples, chans.mean(1), atol=1e-6, rtol=0)


def test_eight_khz_is_upsampled_and_can_be_refused(tmp_path):
    path = write(tmp_path / "low.wav", tone(1000, 2, 8000), 8000)
    out = audio.load(path, 24000)
    assert out.samples.numel() == 48000 and out.info.sample_rate == 8000
    assert abs(peak_hz(out.samples, 24000) - 1000) <= 24000 / 48000
    with pytest.raises(AudioError, match=r"low\.wav: native sample rate 8000 Hz is below the minimum 16000"):
        audio.load(path, 24000, min_sample_rate=16000)


def test_probe_reads_the_header_without_decoding(tmp_path):
    path = write(tmp_path / "p.mp3", torch.stack([tone(440, 2, 44100)] * 2), 44100)
    info = audio.probe(path)
    assert (info.codec, info.sample_rate, info.channels) == ("mp3", 44100, 2)
    assert abs(info.duration_s - 2.0) < 0.1 and info.bit_rate > 0


# ---- crop / pad policies -------------------------------------------------------------------------


def ramp(n: int) -> torch.Tensor:
    return torch.arange(n, dtype=torch.float32) + 1  # +1 so zero padding is distinguishable


def test_first_keeps_the_start_and_pads_at_the_end():
    policy = audio.first(2)
    long = policy.apply(ramp(50), 10)
    assert torch.equal(long, ramp(20))
    short = policy.apply(ramp(7), 10)
    assert short.numel() == 20 and torch.equal(short[:7], ramp(7)) and not short[7:].any()


def test_sonics_eval_starts_three_quarters_into_the_slack():
    policy = audio.sonics_eval(2)
    out = policy.apply(ramp(100), 10)  # L=100, n=20 -> offset (100-20)*3/4 = 60
    assert out.numel() == 20 and out[0].item() == 61 and out[-1].item() == 80
    short = policy.apply(ramp(5), 10)
    assert torch.equal(short[:5], ramp(5)) and not short[5:].any() and short.numel() == 20


def test_random_windows_are_in_range_and_seeded():
    policy = audio.random(1)
    starts = {policy.apply(ramp(100), 10, rng=np.random.default_rng(s))[0].item() for s in range(50)}
    assert len(starts) > 5 and min(starts) >= 1 and max(starts) <= 91
    a = policy.apply(ramp(100), 10, rng=np.random.default_rng(3))
    b = policy.apply(ramp(100), 10, rng=np.random.default_rng(3))
    assert torch.equal(a, b) and a.numel() == 10
    with pytest.raises(ValueError, match="rng"):
        policy.apply(ramp(100), 10)


def test_full_is_unchanged_and_specs_parse():
    assert torch.equal(audio.full().apply(ramp(33), 10), ramp(33))
    assert audio.parse_clip("first:90") == audio.first(90)
    assert audio.parse_clip("sonics_eval:120") == audio.sonics_eval(120)
    assert str(audio.parse_clip("full")) == "full"
    with pytest.raises(ValueError, match="bad clip policy 'middle:3'"):
        audio.parse_clip("middle:3")


def test_load_with_first_decodes_only_the_prefix_exactly(tmp_path):
    rate = 16000
    path = tmp_path / "ramp.wav"
    signal = (torch.arange(5 * rate) % 1000 / 1000).to(torch.float32)
    scipy.io.wavfile.write(path, rate, signal.numpy())
    out = audio.load(path, rate, clip=audio.first(2)).samples
    assert out.numel() == 2 * rate and torch.equal(out, signal[: 2 * rate])
    padded = audio.load(path, rate, clip=audio.first(8)).samples
    assert padded.numel() == 8 * rate and torch.equal(padded[: 5 * rate], signal) and not padded[5 * rate:].any()
    sonics = audio.load(path, rate, clip=audio.sonics_eval(2)).samples
    offset = int((5 * rate - 2 * rate) * 3 / 4)
    assert torch.equal(sonics, signal[offset: offset + 2 * rate])


# ---- bad input: the typed error names the file and the reason ------------------------------------


def _truncate(path: Path) -> Path:
    data = path.read_bytes()
    out = path.with_name("truncated_" + path.name)
    out.write_bytes(data[: len(data) // 2])
    return out


BAD_CASES = {
    "empty.mp3": ("empty file", lambda p: p.write_bytes(b"")),
    "text.mp3": ("not readable as audio", lambda p: p.write_text("definitely not audio\n" * 20)),
    "nan.wav": ("non-finite samples", lambda p: scipy.io.wavfile.write(
        p, 16000, np.where(np.arange(16000) == 99, np.nan, 0.1).astype(np.float32))),
    "zero.wav": ("no audio samples", lambda p: scipy.io.wavfile.write(p, 16000, np.zeros(0, np.int16))),
}


@pytest.mark.parametrize("fname", sorted(BAD_CASES))
def test_bad_files_raise_audio_error_naming_the_file(tmp_path, fname):
    reason, make = BAD_CASES[fname]
    path = tmp_path / fname
    make(path)
    with pytest.raises(AudioError) as err:
        audio.load(path, 24000)
    assert str(path) in str(err.value) and reason in err.value.reason


@pytest.mark.parametrize("ext", ["wav", "flac", "mp3"])
def test_truncated_files_are_refused_not_shortened(tmp_path, ext):
    good = write(tmp_path / f"song.{ext}", (torch.rand(2, 44100 * 6) - 0.5) * 0.4, 44100)
    bad = _truncate(good)
    with pytest.raises(AudioError) as err:
        audio.load(bad, 24000)
    assert bad.name in str(err.value)
    assert any(w in err.value.reason for w in ("truncated", "decoding failed"))


def test_over_limit_duration_is_refused(tmp_path):
    path = write(tmp_path / "long.flac", tone(440, 5, 16000), 16000)
    with pytest.raises(AudioError, match=r"long\.flac: duration 5\.0 s is over the limit of 4 s"):
        audio.load(path, 16000, max_seconds=4)
    assert audio.load(path, 16000, max_seconds=6).samples.numel() == 5 * 16000


def test_missing_file_and_bytes_are_named():
    with pytest.raises(AudioError, match="nope.wav: file not found"):
        audio.load("nope.wav", 16000)
    with pytest.raises(AudioError, match="clip-7: not readable as audio"):
        audio.load(b"garbage" * 100, 16000, name="clip-7")


# ---- in-memory resampling ------------------------------------------------------------------------


@pytest.mark.parametrize("rates", [(24000, 16000), (44100, 24000), (8000, 24000)])
def test_resample_preserves_band_limited_tones(rates):
    a, b = rates
    freqs = [110.0, 1000.0, 0.3 * min(a, b)]
    t_in = torch.arange(2 * a, dtype=torch.float64) / a
    x = sum(torch.sin(2 * math.pi * f * t_in + f) for f in freqs)
    y = audio.resample(x, a, b)
    assert y.numel() == 2 * b
    t_out = torch.arange(y.numel(), dtype=torch.float64) / b
    ref = sum(torch.sin(2 * math.pi * f * t_out + f) for f in freqs)
    assert (y - ref)[b // 10: -b // 10].abs().max() < 0.02


@pytest.mark.parametrize("spec", ["first:nan", "first:inf", "first:-inf", "first:1e-300", "first:0.001",
                                  "first:1e9", "first:36000", "sonics_eval:nan", "random:1e9"])
def test_clip_lengths_are_bounded_naming_the_value_and_the_range(spec):
    """A length that is not finite, or under 10 ms, or over the longest song accepted is refused where it enters
    (not as a damaged dataset after decoding, an OverflowError, or terabytes of zero padding)."""
    with pytest.raises(ValueError, match=rf"bad clip policy '{spec}': .*must be from 0\.01 to 1800 s"):
        audio.parse_clip(spec)


def test_the_clip_length_bounds_are_inclusive():
    assert audio.parse_clip("first:1800").n_samples(16000) == 1800 * 16000
    assert audio.parse_clip("random:0.01").n_samples(16000) == 160


@pytest.mark.parametrize("rate", [None, 0, 1, 999, 384_001, 10**9, 16000.0, True])
def test_sample_rates_outside_the_range_are_named(rate):
    assert audio.sample_rate_problem(rate) == f"sample_rate must be an int from 1000 to 384000 Hz, got {rate!r}"
