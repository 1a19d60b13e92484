"""The mel front end against a reference written here from the definitions, in numpy float64.

The reference shares no code with mom_bench.models.melspec: its own framing, window, FFT and filterbank.
"""
import numpy as np
import pytest
import torch

from mom_bench.models.melspec import MelFrontEnd, htk_mel_filterbank, n_frames

SR, N_FFT, HOP, N_MELS, F_MIN, F_MAX, TOP_DB = 16000, 2048, 512, 128, 20.0, 8000.0, 80.0


def ref_filterbank(n_freqs, sr, n_mels, f_min, f_max):
    def mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)
    def hz(m):
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    pts = hz(np.linspace(mel(f_min), mel(f_max), n_mels + 2))
    freqs = np.linspace(0, sr // 2, n_freqs)
    fb = np.zeros((n_freqs, n_mels))
    for m in range(n_mels):
        left, mid, right = pts[m], pts[m + 1], pts[m + 2]
        for k, f in enumerate(freqs):
            if left < f <= mid:
                fb[k, m] = (f - left) / (mid - left)
            elif mid < f < right:
                fb[k, m] = (right - f) / (right - mid)
    return fb


def ref_logmel(wave, top_db=TOP_DB):
    """wave: 1-D float64 -> normalised log-mel [n_mels, frames]."""
    pad = N_FFT // 2
    x = np.pad(wave, pad, mode="reflect")
    frames = 1 + (len(x) - N_FFT) // HOP
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)  # periodic Hann
    stack = np.stack([x[i * HOP:i * HOP + N_FFT] * window for i in range(frames)])
    power = np.abs(np.fft.rfft(stack, axis=1)) ** 2  # [frames, freqs]
    mel = (power @ ref_filterbank(N_FFT // 2 + 1, SR, N_MELS, F_MIN, F_MAX)).T
    db = 10 * np.log10(np.maximum(mel, 1e-10))
    db = np.maximum(db, db.max() - top_db)
    return mel, (db - db.mean()) / (db.std(ddof=1) + 1e-6)


def signal(seconds=5.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    chirp = np.sin(2 * np.pi * (100 * t + 300 * t ** 2))
    tones = 0.3 * np.sin(2 * np.pi * 440 * t) * (t < seconds / 2)  # a tone that stops: a quiet half
    return chirp * np.exp(-t) + tones + 0.01 * rng.standard_normal(t.size)


def test_filterbank_matches_reference():
    ours = htk_mel_filterbank(N_FFT // 2 + 1, SR, N_MELS, F_MIN, F_MAX).numpy()
    ref = ref_filterbank(N_FFT // 2 + 1, SR, N_MELS, F_MIN, F_MAX)
    assert ours.shape == (1025, 128)
    assert np.abs(ours - ref).max() < 1e-6
    assert (ours.max(axis=0) > 0).all(), "every mel band must cover at least one FFT bin"


def test_frame_counts_of_sonics_clips():
    front = MelFrontEnd()
    assert n_frames(5 * SR, HOP) == 157 and n_frames(120 * SR, HOP) == 3751
    assert front(torch.zeros(1, 5 * SR) + 0.1).shape == (1, 128, 157)


def test_float64_pipeline_equals_reference():
    wave = signal()
    _, ref = ref_logmel(wave)
    ours = MelFrontEnd(dtype=torch.float64)(torch.from_numpy(wave)[None])[0].numpy()
    assert ours.shape == ref.shape == (128, 157)
    assert np.abs(ours - ref).max() < 1e-5


def test_float32_pipeline_equals_reference():
    # float32 (the model's precision): power relative to the loudest bin, and the final features after
    # the top_db floor, which hides the bins where float32 rounding dominates.
    wave = signal(seed=1)
    ref_mel, ref = ref_logmel(wave)
    front = MelFrontEnd()
    x = torch.from_numpy(wave).float()[None]
    mel = front.power_mel(x)[0].double().numpy()
    assert np.abs(mel - ref_mel).max() / ref_mel.max() < 1e-5
    ours = front(x)[0].double().numpy()
    assert np.abs(ours - ref).max() < 2e-4  # measured ~4e-5


def test_top_db_and_normalisation_are_per_example():
    front = MelFrontEnd()
    loud = torch.from_numpy(signal(seed=2)).float()
    quiet = 1e-3 * torch.from_numpy(signal(seed=3)).float()
    alone = front(quiet[None])
    together = front(torch.stack([loud, quiet]))
    assert torch.allclose(alone[0], together[1], atol=1e-5)
    assert abs(float(together[1].mean())) < 1e-5 and abs(float(together[1].std()) - 1) < 1e-4


def test_silence_is_finite_and_short_input_is_refused():
    front = MelFrontEnd()
    assert torch.isfinite(front(torch.zeros(2, SR))).all()
    with pytest.raises(ValueError, match="too short"):
        front(torch.zeros(1, 100))
    with pytest.raises(ValueError, match=r"\[batch, samples\]"):
        front(torch.zeros(100_000))


def test_autocast_does_not_reach_the_front_end():
    front = MelFrontEnd()
    x = torch.from_numpy(signal(seed=4)).float()[None] * 100
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = front(x)
    assert out.dtype == torch.float32
    assert torch.allclose(out, front(x), atol=1e-6)
