"""The GE2E speaker encoder of Resemblyzer 0.1.4 as a frozen voice-side feature extractor, in our own code.

Resemblyzer (PyPI ``resemblyzer==0.1.4``, Apache-2.0, by Resemble AI) ships a speaker encoder trained with
the generalised end-to-end (GE2E) loss: a 3-layer LSTM over 40-band mel frames at 16 kHz, then
``Linear(256 -> 256)`` + ReLU and L2 normalisation. This module re-implements that network and its
front end in torch, without resemblyzer, librosa or webrtcvad; only the published weights are reused,
converted to ``mom_bench/data/weights/ge2e.safetensors`` (see ``SOURCES.md`` there and
``scripts/convert_ge2e_weights.py``). Every number below names the file of the 0.1.4 wheel it comes from:

========================  =======================  ===========================================================
sampling rate 16 000 Hz   ``hparams.py`` l. 9      ``sampling_rate``
window 25 ms = 400        ``hparams.py`` l. 3      ``mel_window_length``; ``audio.py`` l. 50
                                                   ``n_fft=int(sampling_rate * mel_window_length / 1000)``
hop 10 ms = 160           ``hparams.py`` l. 4      ``mel_window_step``; ``audio.py`` l. 51 ``hop_length=...``
40 mel bands              ``hparams.py`` l. 5      ``mel_n_channels``; ``audio.py`` l. 52 ``n_mels=...``
partial of 160 frames     ``hparams.py`` l. 11     ``partials_n_frames`` (1.6 s)
rate 1.3, coverage 0.75   ``voice_encoder.py``     ``embed_utterance(..., rate=1.3, min_coverage=0.75)``
                          l. 119                   (-> a step of ``round(16000 / 1.3 / 160)`` = 77 frames)
-30 dBFS, increase only   ``hparams.py`` l. 26,    ``audio_norm_target_dBFS``;
                          ``audio.py`` l. 36       ``normalize_volume(wav, ..., increase_only=True)``
LSTM 3 x 256, linear 256  ``hparams.py`` l. 30-32  ``model_hidden_size``, ``model_embedding_size``,
                                                   ``model_num_layers``; ``voice_encoder.py`` l. 22-24
========================  =======================  ===========================================================

**Mel front end** (``audio.py`` l. 42-54, ``wav_to_mel_spectrogram``): resemblyzer calls
``librosa.feature.melspectrogram(y=wav, sr=16000, n_fft=400, hop_length=160, n_mels=40)`` and returns
``frames.astype(np.float32).T``, i.e. ``[frames, 40]``, *not* in decibels. With librosa's defaults that is:
a periodic Hann window of 400 samples (``window="hann"``, ``win_length=n_fft``), centred frames
(``center=True``) with zero padding (``pad_mode="constant"``, librosa's default since 0.9.0, and
resemblyzer requires ``librosa>=0.9.1``), the power spectrum (``power=2``), and a mel filterbank
(``librosa.filters.mel`` defaults: ``fmin=0``, ``fmax=sr/2``, ``htk=False`` i.e. the Slaney mel scale,
linear below 1 kHz and logarithmic above, and ``norm="slaney"``, each triangle scaled to unit area:
``2 / (f_upper - f_lower)``). :func:`slaney_mel_filterbank` builds that filterbank from its definition.

**Framing** (``voice_encoder.py`` l. 94-113 ``compute_partial_slices`` and l. 146-160 ``embed_utterance``):
an utterance of ``n`` samples is cut into partials of 160 mel frames starting every 77 frames; there are
``ceil((n + 1) / 160)`` frames, partial starts run over ``range(0, max(1, frames - 160 + 77 + 1), 77)``, the
last partial is dropped when it covers less than 75 % of its 25 600 samples (unless it is the only one),
and the waveform is zero-padded to the last partial's end before the mel spectrogram is taken. The
network sees each partial on its own (it was trained on 1.6 s crops); the partial embeddings are
averaged and L2-normalised again.

**Preprocessing** (``audio.py`` l. 13-39 ``preprocess_wav``): resemblyzer (1) resamples to 16 kHz, which the
caller of :meth:`GE2ENet.hidden_states` does (``mom_bench.core.audio``); (2) raises quiet audio to an RMS of
-30 dBFS and never lowers loud audio (``normalize_volume``, l. 100-108), which we reproduce because the
network's input is a linear power spectrogram, so its level matters; (3) removes long silences with
webrtcvad's speech detector (``trim_long_silences``, l. 57-97), which we deliberately do *not* reproduce:
on music it would cut away non-speech passages, the very audio a music detector has to look at; it
needs a C extension that is no dependency of ours; and our features are averages over the whole clip,
where silent stretches only shift a mean. Exact digital silence stays silent (resemblyzer's gain would
be infinite and give NaN there).

**Layers.** :meth:`GE2ENet.hidden_states` returns ``[B, 4, 256]``: rows 0-2 are the outputs ``h_t`` of LSTM
layers 1-3, averaged over the 160 frames of every partial and then over the partials; row 3 is the
utterance embedding exactly as resemblyzer's ``embed_utterance`` computes it (per partial
``ReLU(linear(last state of layer 3))``, L2-normalised; then averaged over partials and L2-normalised), minus
the VAD trimming. Zero vectors are
normalised to zero instead of NaN.

**Weights.** The published ``nn.LSTM(40, 256, 3)`` is held here as three single-layer LSTMs, so that every
layer's output sequence is visible; the file keeps the published key names and :data:`KEY_RENAMES` maps
them: ``lstm.{w}_l{k}`` -> ``lstm.{k}.{w}_l0`` for ``w`` in ``weight_ih``, ``weight_hh``, ``bias_ih``,
``bias_hh`` and ``k`` in 0, 1, 2; ``linear.weight`` and ``linear.bias`` keep their names. A stacked LSTM
without dropout computes exactly this layer after layer.
"""
from __future__ import annotations

import hashlib
import math
from pathlib import Path

import torch
from torch import nn

from mom_bench.core.files import sha256_file
from mom_bench.models.checkpoints import CheckpointError

SAMPLE_RATE = 16000       # hparams.py l. 9
WINDOW_MS = 25            # hparams.py l. 3
STEP_MS = 10              # hparams.py l. 4
N_MELS = 40               # hparams.py l. 5
N_FFT = SAMPLE_RATE * WINDOW_MS // 1000   # 400, audio.py l. 50
HOP = SAMPLE_RATE * STEP_MS // 1000       # 160, audio.py l. 51
PARTIAL_FRAMES = 160      # hparams.py l. 11
PARTIAL_RATE = 1.3        # voice_encoder.py l. 119, embed_utterance default
MIN_COVERAGE = 0.75       # voice_encoder.py l. 119, embed_utterance default
TARGET_DBFS = -30.0       # hparams.py l. 26, applied with increase_only=True (audio.py l. 36)
HIDDEN = 256              # hparams.py l. 30
EMBEDDING = 256           # hparams.py l. 31
LSTM_LAYERS = 3           # hparams.py l. 32

WEIGHTS_PATH = Path(__file__).resolve().parents[1] / "data" / "weights" / "ge2e.safetensors"
#: sha256 of the shipped weight file (also in mom_bench/data/weights/SOURCES.md).
WEIGHTS_SHA256 = "05228e4778d8cc563e097bcc8e637de689d21a61e74f4580f29d8fc03884eb69"

_LSTM_PARAMS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
#: Published state-dict key (resemblyzer ``VoiceEncoder``) -> key of :class:`GE2ENet`.
KEY_RENAMES: dict[str, str] = {
    **{f"lstm.{w}_l{k}": f"lstm.{k}.{w}_l0" for k in range(LSTM_LAYERS) for w in _LSTM_PARAMS},
    "linear.weight": "linear.weight",
    "linear.bias": "linear.bias",
}

_EPS = 1e-12  # L2 normalisation of an all-zero vector gives zeros, not NaN
_CHUNK = 128  # partials per LSTM call: bounds memory for long inputs (90 s = 116 partials)


def _hz_to_slaney_mel(hz: torch.Tensor) -> torch.Tensor:
    """Slaney's mel scale (the Auditory Toolbox, librosa's ``htk=False``): 3 mels per 200 Hz up to 1 kHz,
    then logarithmic with 27 mels per factor 6.4 (so continuous at 1 kHz = mel 15)."""
    f_sp, min_log_hz = 200.0 / 3.0, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, math.log(6.4) / 27.0
    linear = hz / f_sp
    log = min_log_mel + torch.log(torch.clamp(hz, min=min_log_hz) / min_log_hz) / logstep
    return torch.where(hz >= min_log_hz, log, linear)


def _slaney_mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`_hz_to_slaney_mel`."""
    f_sp, min_log_hz = 200.0 / 3.0, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, math.log(6.4) / 27.0
    linear = mel * f_sp
    log = min_log_hz * torch.exp(logstep * (torch.clamp(mel, min=min_log_mel) - min_log_mel))
    return torch.where(mel >= min_log_mel, log, linear)


def slaney_mel_filterbank(sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS,
                          f_min: float = 0.0, f_max: float | None = None) -> torch.Tensor:
    """Triangular filters on the Slaney mel scale with Slaney ("unit area") normalisation, shape
    ``[n_mels, n_fft // 2 + 1]``, float64: the filterbank ``librosa.filters.mel`` documents for
    ``htk=False, norm="slaney"``.

    ``n_mels + 2`` edges are spaced evenly in mel from ``f_min`` to ``f_max`` (Nyquist by default); filter
    ``m`` rises from edge ``m`` to 1 at edge ``m + 1`` and falls to 0 at edge ``m + 2``, linearly in Hz, and
    is then scaled by ``2 / (edge[m + 2] - edge[m])``.

    >>> fb = slaney_mel_filterbank()
    >>> tuple(fb.shape), bool((fb >= 0).all())
    ((40, 201), True)
    """
    f_max = sample_rate / 2.0 if f_max is None else float(f_max)
    bins = torch.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1, dtype=torch.float64)
    mels = torch.linspace(float(_hz_to_slaney_mel(torch.tensor(f_min, dtype=torch.float64))),
                          float(_hz_to_slaney_mel(torch.tensor(f_max, dtype=torch.float64))),
                          n_mels + 2, dtype=torch.float64)
    edges = _slaney_mel_to_hz(mels)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None, :] - lower) / (centre - lower)
    falling = (upper - bins[None, :]) / (upper - centre)
    weights = torch.clamp(torch.minimum(rising, falling), min=0.0)
    return weights * (2.0 / (upper - lower))


def partial_starts(n_samples: int) -> tuple[list[int], int]:
    """First mel frame of every partial utterance of an ``n_samples`` waveform, and the length the waveform
    is zero-padded to (it is never cut), as resemblyzer's ``compute_partial_slices`` and
    ``embed_utterance`` do with ``rate=1.3, min_coverage=0.75`` (``voice_encoder.py`` l. 94-113, 146-149).

    >>> partial_starts(3 * 16000)
    ([0, 77, 154], 50240)
    >>> partial_starts(0)
    ([0], 25600)
    """
    n_frames = math.ceil((n_samples + 1) / HOP)
    step = round(SAMPLE_RATE / PARTIAL_RATE / HOP)  # 77
    starts = list(range(0, max(1, n_frames - PARTIAL_FRAMES + step + 1), step))
    span = PARTIAL_FRAMES * HOP
    if len(starts) > 1 and (n_samples - starts[-1] * HOP) / span < MIN_COVERAGE:
        starts.pop()
    return starts, max(n_samples, (starts[-1] + PARTIAL_FRAMES) * HOP)


def _l2_normalise(x: torch.Tensor) -> torch.Tensor:
    return x / torch.clamp(torch.linalg.vector_norm(x, dim=-1, keepdim=True), min=_EPS)


class GE2ENet(nn.Module):
    """Resemblyzer's GE2E speaker encoder (see the module docstring): 16 kHz waveform -> ``[B, 4, 256]``.

    Build it with :func:`load_ge2e` for the pretrained weights; ``GE2ENet()`` alone has random ones.
    ``normalize_volume=False`` skips the -30 dBFS increase-only gain.
    """

    sample_rate = SAMPLE_RATE
    n_layers = LSTM_LAYERS + 1
    hidden_size = HIDDEN
    window: torch.Tensor
    mel_basis: torch.Tensor

    def __init__(self, *, normalize_volume: bool = True):
        super().__init__()
        self.normalize_volume = normalize_volume
        self.lstm = nn.ModuleList(nn.LSTM(N_MELS if k == 0 else HIDDEN, HIDDEN, 1, batch_first=True)
                                  for k in range(LSTM_LAYERS))
        self.linear = nn.Linear(HIDDEN, EMBEDDING)
        # Not part of the state dict: derived from the hyperparameters, not learnt.
        # Computed on the CPU even inside a `torch.device("meta")` block (the registry counts parameters there).
        with torch.device("cpu"):
            window = torch.hann_window(N_FFT, periodic=True, dtype=torch.float32)
            mel_basis = slaney_mel_filterbank().to(torch.float32)
        self.register_buffer("window", window, persistent=False)
        self.register_buffer("mel_basis", mel_basis, persistent=False)
        self._digest: str | None = None

    def identity(self) -> str:
        """What determines these features, for cache keys."""
        if self._digest is None:
            h = hashlib.sha256()
            for name, t in sorted(self.state_dict().items()):
                h.update(name.encode())
                h.update(t.detach().cpu().contiguous().numpy().tobytes())
            self._digest = h.hexdigest()[:16]
        return f"ge2e|resemblyzer-0.1.4|{self._digest}|sr={SAMPLE_RATE}|vol={int(self.normalize_volume)}"

    def volume_normalised(self, wave: torch.Tensor) -> torch.Tensor:
        """One waveform ``[T]`` raised to an RMS of -30 dBFS if it is quieter (``audio.py`` l. 100-108,
        ``increase_only=True``); louder and silent waveforms are returned unchanged."""
        if not self.normalize_volume or wave.numel() == 0:
            return wave
        rms = torch.sqrt(torch.mean(wave.double() ** 2))
        if rms <= 0:
            return wave
        gain = 10.0 ** (TARGET_DBFS / 20.0) / rms
        return wave * gain.to(wave.dtype) if gain > 1 else wave

    def mel(self, wave: torch.Tensor) -> torch.Tensor:
        """Power mel spectrogram ``[frames, 40]`` of one waveform ``[T]``, as resemblyzer's
        ``wav_to_mel_spectrogram`` (no padding to partials, no volume change here)."""
        spec = torch.stft(wave.float(), n_fft=N_FFT, hop_length=HOP, win_length=N_FFT,
                          window=self.window, center=True, pad_mode="constant", return_complex=True)
        power = spec.real ** 2 + spec.imag ** 2  # [201, frames]
        return (self.mel_basis @ power).T.contiguous()

    def partials(self, wave: torch.Tensor) -> torch.Tensor:
        """The mel partials ``[P, 160, 40]`` of one waveform ``[T]`` at 16 kHz (volume normalised, padded)."""
        wave = self.volume_normalised(wave)
        starts, length = partial_starts(int(wave.shape[-1]))
        if length > wave.shape[-1]:
            wave = torch.nn.functional.pad(wave, (0, length - int(wave.shape[-1])))
        mel = self.mel(wave)
        return torch.stack([mel[s:s + PARTIAL_FRAMES] for s in starts])

    def network(self, mels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mel partials ``[P, frames, 40]`` -> (every LSTM layer's output averaged over frames ``[P, 3, 256]``,
        L2-normalised partial embeddings ``[P, 256]``, resemblyzer's ``VoiceEncoder.forward``)."""
        x, means = mels, []
        for layer in self.lstm:
            x, _ = layer(x)
            means.append(x.mean(dim=1))
        embeds = torch.relu(self.linear(x[:, -1]))  # the last state of layer 3 = the published hidden[-1]
        return torch.stack(means, dim=1), _l2_normalise(embeds)

    @torch.no_grad()
    def hidden_states(self, wave: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Waveforms ``[B, T]`` at 16 kHz -> ``[B, 4, 256]``: LSTM layers 1-3 averaged over time, then the
        utterance embedding. ``lengths`` (samples per item) marks right padding to ignore; every item is
        framed on its own and only fixed-length partials share an LSTM call, so items never mix."""
        if wave.dim() != 2:
            raise ValueError(f"expected waveforms [B, T], got shape {tuple(wave.shape)}")
        sizes = [int(n) for n in lengths] if lengths is not None else [int(wave.shape[1])] * wave.shape[0]
        per_item = [self.partials(wave[i, :n]) for i, n in enumerate(sizes)]
        counts = [p.shape[0] for p in per_item]
        flat = torch.cat(per_item) if per_item else wave.new_zeros(0, PARTIAL_FRAMES, N_MELS)
        outs = [self.network(flat[i:i + _CHUNK]) for i in range(0, flat.shape[0], _CHUNK)]
        layer_means = torch.cat([o[0] for o in outs]) if outs else flat.new_zeros(0, LSTM_LAYERS, HIDDEN)
        embeds = torch.cat([o[1] for o in outs]) if outs else flat.new_zeros(0, EMBEDDING)
        rows, at = [], 0
        for n in counts:
            utterance = _l2_normalise(embeds[at:at + n].mean(dim=0))
            rows.append(torch.cat([layer_means[at:at + n].mean(dim=0), utterance[None]], dim=0))
            at += n
        return torch.stack(rows) if rows else wave.new_zeros(0, self.n_layers, self.hidden_size)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return self.hidden_states(wave)


def _reinstall(path: Path, what: str) -> CheckpointError:
    return CheckpointError(f"GE2E speaker-encoder weights {what}: {path} (they ship with mom-bench; reinstall it, "
                           "e.g. `pip install --force-reinstall --no-deps mom-bench`, or restore that file)")


def load_ge2e(path: str | Path | None = None, *, normalize_volume: bool = True) -> GE2ENet:
    """The pretrained GE2E encoder, strictly loaded, in eval mode, frozen. ``path`` defaults to the shipped
    ``mom_bench/data/weights/ge2e.safetensors``, whose sha256 is checked; a missing, corrupted or
    mismatching file raises :class:`~mom_bench.models.checkpoints.CheckpointError` (one line)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    shipped = path is None
    file = WEIGHTS_PATH if path is None else Path(path)
    if not file.is_file():
        raise _reinstall(file, "not found")
    if shipped:
        digest = sha256_file(file)
        if digest != WEIGHTS_SHA256:
            raise _reinstall(file, f"corrupted (sha256 {digest[:12]}..., expected {WEIGHTS_SHA256[:12]}...)")
    try:
        published = load_file(str(file))
    except (SafetensorError, OSError, ValueError) as err:
        raise _reinstall(file, f"unreadable ({type(err).__name__})") from err
    if set(published) != set(KEY_RENAMES):
        odd = sorted(set(published) ^ set(KEY_RENAMES))
        raise _reinstall(file, f"do not match the GE2E network (keys {', '.join(odd[:4])})")
    model = GE2ENet(normalize_volume=normalize_volume)
    try:
        model.load_state_dict({KEY_RENAMES[k]: v for k, v in published.items()}, strict=True)
    except RuntimeError as err:  # a shape mismatch
        raise _reinstall(file, f"do not match the GE2E network ({str(err).splitlines()[-1].strip()})") from err
    model.eval()
    model.requires_grad_(False)
    return model
