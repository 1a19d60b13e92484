"""Three small neural decoders that stand for the decoder families of real music generators.

Each re-synthesises a waveform through a bottleneck of the kind its real counterpart decodes from:

- :class:`RVQCodec` (``rvq_codec``): strided-conv waveform encoder, residual vector quantiser (4 codebooks of
  256 entries), decoder of transposed convolutions and dilated residual units; hop 320 at 24 kHz. Stands for
  the neural codecs that token-based generators decode through: EnCodec (Défossez et al., "High Fidelity
  Neural Audio Compression", 2022) in MusicGen, SoundStream (Zeghidour et al., 2021), DAC (Kumar et al., 2023),
  X-codec in YuE.
- :class:`LatentVAE` (``latent_vae``): continuous-latent VAE (mean and log-variance, small KL) with Snake
  activations (Ziyin et al., "Neural Networks Fail to Learn Periodic Functions and How to Fix It", 2020) and a
  transposed-conv decoder; hop 512. Stands for the Oobleck VAE of Stable Audio Open (Evans et al., 2024) and
  the VAE that DiffRhythm's latent diffusion decodes through. At generation the latent is *sampled*
  (``z = mean + sigma * eps`` with a seeded ``eps``), as a latent-diffusion generator hands its decoder a
  latent that is not an encoder's mean.
- :class:`MelVocoder` (``mel_vocoder``): 80-band log-mel spectrogram (n_fft 1024, hop 256) -> a small
  HiFi-GAN generator (Kong et al., "HiFi-GAN", 2020: conv_pre, transposed-conv upsampling x8 x8 x4,
  multi-receptive-field residual blocks with dilations 1/3/5, leaky ReLU, tanh). Stands for the HiFi-GAN
  vocoders of AudioLDM 2, MusicLDM and Mustango.

The networks are written here from the papers (no code copied). Their weights were trained once by
``scripts/train_mom_mini_decoders.py`` on the training-split real excerpts and ship as float32 safetensors
in ``mom_bench/data/weights/mom_mini/``; nothing is trained at build time. Generation runs the module in
float64 (``resynthesise``), so that with one intra-op thread the audio is the same on every run.
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from mom_bench.dataset.mini import dsp

WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "data" / "weights" / "mom_mini"
TRAIN_SCRIPT = "scripts/train_mom_mini_decoders.py"
#: The rate the decoders are trained for (mom-mini's).
RATE = 24000
#: Every network sees (and was trained on) audio at this RMS: the families scale in and back out, so the
#: decoders work the same for a quiet and a loud excerpt.
LEVEL = 0.1

CONFIGS: dict[str, dict[str, Any]] = {
    "rvq_codec": {"strides": [2, 4, 5, 8], "channels": [8, 16, 32, 40, 64], "latent": 32,
                  "n_codebooks": 4, "codebook_size": 256},
    "latent_vae": {"strides": [2, 4, 8, 8], "channels": [8, 16, 32, 40, 64], "latent": 16},
    "mel_vocoder": {"n_mels": 80, "n_fft": 1024, "hop": 256, "f_min": 0.0, "f_max": 12000.0,
                    "channels": 64, "up_strides": [8, 8, 4], "resblock_kernels": [3, 5],
                    "dilations": [1, 3, 5]},
}


class WeightsError(RuntimeError):
    """A shipped decoder weights file is missing, damaged or does not fit its network."""


# --------------------------------------------------------------------------------------------------
# building blocks


class Conv(nn.Conv1d):
    """``nn.Conv1d`` with a faster float64 inference path.

    PyTorch's CPU float64 convolution goes through a generic im2col kernel that, for the few channels and
    long signals here, spends most of its time copying. Summing one matrix product per kernel tap over
    shifted views of the padded input does the same arithmetic without the copy (about 3x faster on one
    thread). Training (float32, with gradients) uses the ordinary path."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (x.dtype != torch.float64 or torch.is_grad_enabled() or x.dim() != 3 or x.shape[0] != 1
                or self.stride[0] != 1 or self.groups != 1 or self.padding_mode != "zeros"
                or isinstance(self.padding, str)):
            return super().forward(x)
        d, k = self.dilation[0], self.kernel_size[0]
        p = int(self.padding[0])
        xp = F.pad(x[0], (p, p))
        n = xp.shape[-1] - d * (k - 1)
        out = (self.bias[:, None] if self.bias is not None else x.new_zeros(1, 1)).expand(-1, n).clone()
        for j in range(k):
            out.addmm_(self.weight[:, :, j], xp[:, j * d:j * d + n])
        return out[None]


class Snake(nn.Module):
    """``x + sin(alpha * x)^2 / alpha`` with one learnt ``alpha`` per channel (Ziyin et al., 2020)."""

    def __init__(self, channels: int):
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.sin(self.alpha * x).pow(2) / (self.alpha + 1e-9)


def _act(kind: str, channels: int) -> nn.Module:
    return Snake(channels) if kind == "snake" else nn.ELU()


class ResUnit(nn.Module):
    """Dilated kernel-7 convolution and a 1x1 convolution around a skip connection (SoundStream's unit)."""

    def __init__(self, channels: int, dilation: int, act: str):
        super().__init__()
        self.block = nn.Sequential(_act(act, channels), Conv(channels, channels, 7, dilation=dilation,
                                                                  padding=3 * dilation),
                                   _act(act, channels), Conv(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


def _down(c_in: int, c_out: int, stride: int) -> nn.Conv1d:
    """Strided convolution that divides a length that is a multiple of ``stride`` exactly by it."""
    return Conv(c_in, c_out, 2 * stride, stride=stride, padding=(stride + 1) // 2)


def _up(c_in: int, c_out: int, stride: int) -> nn.ConvTranspose1d:
    """Transposed convolution (kernel ``2 * stride``) that multiplies the length exactly by ``stride``."""
    return nn.ConvTranspose1d(c_in, c_out, 2 * stride, stride=stride, padding=(stride + 1) // 2,
                              output_padding=stride % 2)


def _encoder(strides: list[int], channels: list[int], out: int, act: str) -> nn.Sequential:
    layers: list[nn.Module] = [Conv(1, channels[0], 7, padding=3)]
    for s, c_in, c_out in zip(strides, channels[:-1], channels[1:]):
        # residual units only where the rate is already low: the full-rate end must stay cheap
        if c_in >= 32:
            layers.append(ResUnit(c_in, 1, act))
        layers += [_act(act, c_in), _down(c_in, c_out, s)]
    layers += [_act(act, channels[-1]), Conv(channels[-1], out, 3, padding=1)]
    return nn.Sequential(*layers)


def _decoder(strides: list[int], channels: list[int], latent: int, act: str) -> nn.Sequential:
    layers: list[nn.Module] = [Conv(latent, channels[-1], 7, padding=3)]
    for s, c_in, c_out in zip(reversed(strides), reversed(channels[1:]), reversed(channels[:-1])):
        layers += [_act(act, c_in), _up(c_in, c_out, s)]
        if c_out >= 16:
            layers += [ResUnit(c_out, 1, act), ResUnit(c_out, 3, act)]
    layers += [_act(act, channels[0]), Conv(channels[0], 1, 7, padding=3)]
    return nn.Sequential(*layers)


def _pad_to(x: torch.Tensor, hop: int) -> torch.Tensor:
    return F.pad(x, (0, (-x.shape[-1]) % hop))


# --------------------------------------------------------------------------------------------------
# the three networks


class Decoder(nn.Module):
    """What every mom-mini decoder offers generation: one mono float64 signal in, one of the same length out."""

    hop: int

    def resynthesise(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError


class ResidualVQ(nn.Module):
    """Residual vector quantiser: each codebook quantises what the previous ones left (SoundStream).

    The codebooks are buffers: training moves them by exponential moving averages of the vectors assigned
    to each entry (van den Oord et al., VQ-VAE, appendix), not by gradients."""

    codebooks: torch.Tensor

    def __init__(self, dim: int, n_codebooks: int, size: int):
        super().__init__()
        self.register_buffer("codebooks", torch.randn(n_codebooks, size, dim) * 0.1)

    def nearest(self, r: torch.Tensor, i: int) -> torch.Tensor:
        """Index of the nearest entry of codebook ``i`` for each row of ``r`` (N, D)."""
        book = self.codebooks[i]
        dist = (r * r).sum(1, keepdim=True) - 2 * r @ book.T + (book * book).sum(1)[None, :]
        return dist.argmin(1)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """``z`` (B, D, T) -> quantised (B, D, T), per codebook the residuals it saw (N, D) and its codes (N,)."""
        b, d, t = z.shape
        r = z.permute(0, 2, 1).reshape(-1, d)
        q = torch.zeros_like(r)
        residuals, codes = [], []
        for i in range(self.codebooks.shape[0]):
            idx = self.nearest(r, i)
            chosen = self.codebooks[i][idx]
            residuals.append(r)
            codes.append(idx)
            q = q + chosen
            r = r - chosen
        return q.reshape(b, t, d).permute(0, 2, 1), residuals, codes


class RVQCodec(Decoder):
    def __init__(self, strides, channels, latent, n_codebooks, codebook_size):
        super().__init__()
        self.hop = math.prod(strides)
        self.encoder = _encoder(strides, channels, latent, "elu")
        self.quantizer = ResidualVQ(latent, n_codebooks, codebook_size)
        self.decoder = _decoder(strides, channels, latent, "elu")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """(B, T) -> (B, T) with the straight-through estimator, and what the losses need."""
        n = x.shape[-1]
        z = self.encoder(_pad_to(x, self.hop)[:, None, :])
        q, residuals, codes = self.quantizer(z.detach())
        commit = F.mse_loss(z, q.detach())
        y = self.decoder(z + (q - z).detach())[:, 0, :n]
        return y, {"commit": commit, "residuals": residuals, "codes": codes}

    def resynthesise(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        n = x.shape[-1]
        z = self.encoder(_pad_to(x, self.hop)[None, None, :])
        q, _, _ = self.quantizer(z)
        return self.decoder(q)[0, 0, :n]


class LatentVAE(Decoder):
    def __init__(self, strides, channels, latent):
        super().__init__()
        self.hop = math.prod(strides)
        self.latent = latent
        self.encoder = _encoder(strides, channels, 2 * latent, "snake")
        self.decoder = _decoder(strides, channels, latent, "snake")

    def _stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(_pad_to(x, self.hop)[:, None, :])
        mean, logvar = h[:, :self.latent], h[:, self.latent:].clamp(-12.0, 4.0)
        return mean, logvar

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict]:
        n = x.shape[-1]
        mean, logvar = self._stats(x)
        eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype)
        z = mean + torch.exp(0.5 * logvar) * eps
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum(1).mean()
        return self.decoder(z)[:, 0, :n], {"kl": kl}

    def resynthesise(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.forward(x[None, :], generator)[0][0]


class _MRFBlock(nn.Module):
    """HiFi-GAN's ResBlock1: per dilation, a dilated and an undilated convolution after leaky ReLUs."""

    def __init__(self, channels: int, kernel: int, dilations: list[int]):
        super().__init__()
        self.dilated = nn.ModuleList(Conv(channels, channels, kernel, dilation=d, padding=d * (kernel - 1) // 2)
                                     for d in dilations)
        self.plain = nn.ModuleList(Conv(channels, channels, kernel, padding=(kernel - 1) // 2)
                                   for _ in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c1, c2 in zip(self.dilated, self.plain):
            x = x + c2(F.leaky_relu(c1(F.leaky_relu(x, 0.1)), 0.1))
        return x


class MelVocoder(Decoder):
    mel_basis: torch.Tensor

    def __init__(self, n_mels, n_fft, hop, f_min, f_max, channels, up_strides, resblock_kernels, dilations):
        super().__init__()
        if math.prod(up_strides) != hop:
            raise ValueError(f"mel_vocoder: upsampling {up_strides} does not make the hop {hop}")
        self.n_fft, self.hop = n_fft, hop
        fb = dsp.mel_filterbank(n_mels, n_fft, RATE, f_min, f_max)  # (freqs, mels)
        self.register_buffer("mel_basis", fb.T.contiguous(), persistent=False)
        self.conv_pre = Conv(n_mels, channels, 7, padding=3)
        self.ups = nn.ModuleList()
        self.mrfs = nn.ModuleList()
        c = channels
        for s in up_strides:
            self.ups.append(_up(c, c // 2, s))
            c //= 2
            self.mrfs.append(nn.ModuleList(_MRFBlock(c, k, dilations) for k in resblock_kernels))
        self.conv_post = Conv(c, 1, 7, padding=3)

    def log_mel(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T) -> (B, n_mels, T // hop + 1) natural-log mel magnitudes, in ``x``'s dtype."""
        window = torch.hann_window(self.n_fft, periodic=True, dtype=x.dtype)
        mag = torch.stft(x, self.n_fft, self.hop, window=window, center=True, return_complex=True).abs()
        return torch.log(self.mel_basis.to(x.dtype) @ mag + 1e-5)

    def vocode(self, mel: torch.Tensor) -> torch.Tensor:
        h = self.conv_pre(mel)
        for up, blocks in zip(self.ups, self.mrfs):
            h = up(F.leaky_relu(h, 0.1))
            h = sum(b(h) for b in blocks) / len(blocks)
        return torch.tanh(self.conv_post(F.leaky_relu(h)))[:, 0]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
        return self.vocode(self.log_mel(x))[:, :x.shape[-1]], {}

    def resynthesise(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.forward(x[None, :])[0][0]


NETWORKS: dict[str, type[Decoder]] = {"rvq_codec": RVQCodec, "latent_vae": LatentVAE, "mel_vocoder": MelVocoder}


def build(name: str, config: dict | None = None) -> Decoder:
    """A fresh (untrained, float32) network of family ``name``."""
    if name not in NETWORKS:
        raise ValueError(f"unknown mom-mini decoder {name!r}; known: {', '.join(NETWORKS)}")
    return NETWORKS[name](**(CONFIGS[name] if config is None else config))


# --------------------------------------------------------------------------------------------------
# weights files


def weights_path(name: str) -> Path:
    return WEIGHTS_DIR / f"{name}.safetensors"


def weights_sha256(names: list[str] | None = None) -> str:
    """sha256 over the shipped weights files of ``names`` (default all): every fake of these families depends
    on them, so a build stamp that includes this digest notices retrained weights."""
    h = hashlib.sha256()
    for name in sorted(names or NETWORKS):
        path = weights_path(name)
        h.update(name.encode() + b"\0" + (hashlib.sha256(path.read_bytes()).digest() if path.is_file() else b"-"))
    return h.hexdigest()


def tensors_sha256(state: dict[str, torch.Tensor]) -> str:
    """A digest of the tensors themselves (names, dtypes, shapes, bytes), stored in the file's metadata so
    that a flipped byte inside the data is caught, not only a truncated file."""
    h = hashlib.sha256()
    for key in sorted(state):
        t = state[key].detach().contiguous().cpu()
        h.update(f"{key}:{t.dtype}:{tuple(t.shape)}\0".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def save(net: nn.Module, name: str, path: Path, extra: dict | None = None) -> None:
    """Write ``net``'s weights (float32) and its config to ``path`` as safetensors, atomically."""
    from safetensors.torch import save_file

    from mom_bench.core.files import write_atomic

    state = {k: v.detach().to(torch.float32).contiguous().clone() for k, v in net.state_dict().items()}
    # One metadata entry holding sorted JSON: safetensors writes several entries in a per-process hash order,
    # which would make the same weights give different file bytes from run to run.
    meta = {"family": name, "config": CONFIGS[name], "tensors_sha256": tensors_sha256(state), **(extra or {})}
    write_atomic(path, lambda tmp: save_file(state, str(tmp), metadata={"mom_bench": json.dumps(meta, sort_keys=True)}))


def _error(name: str, path: Path, reason: str) -> WeightsError:
    return WeightsError(f"{path}: mom-mini {name} decoder weights {reason}; reinstall mom-bench, or train them "
                        f"again with `python {TRAIN_SCRIPT} --family {name}`")


def load(name: str, path: str | Path | None = None) -> Decoder:
    """The trained network of family ``name``, in float64 and eval mode, frozen; raises :class:`WeightsError`
    naming the file and the training script when it is missing, damaged or does not fit the network."""
    from safetensors import SafetensorError, safe_open

    file = weights_path(name) if path is None else Path(path)
    if not file.is_file():
        raise _error(name, file, "not found")
    try:
        with safe_open(str(file), framework="pt") as f:
            header = (f.metadata() or {}).get("mom_bench", "")
            state = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise _error(name, file, f"unreadable ({type(err).__name__}: {err})") from err
    try:
        meta = json.loads(header)
    except ValueError:
        meta = None
    if not isinstance(meta, dict):
        raise _error(name, file, "damaged (no readable mom_bench metadata)")
    if meta.get("family") != name:
        raise _error(name, file, f"are for another network ({meta.get('family')!r})")
    if meta.get("tensors_sha256") != tensors_sha256(state):
        raise _error(name, file, "damaged (their tensors do not match the digest stored with them)")
    config = meta.get("config")
    if config != CONFIGS[name]:
        raise _error(name, file, f"are for another architecture ({config} rather than {CONFIGS[name]})")
    net = build(name)
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as err:  # names or shapes that do not fit
        raise _error(name, file, f"do not fit the network ({str(err).splitlines()[-1].strip()})") from err
    net.eval().double().requires_grad_(False)
    return net


def resynthesise(net: Decoder, x: np.ndarray, seed: int) -> np.ndarray:
    """Run ``x`` (mono, 24 kHz) through ``net`` in float64 at the training level; same length, float64 numpy."""
    wave = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))
    rms = max(float(wave.pow(2).mean().sqrt()), 1e-4)
    gen = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        y = net.resynthesise(wave * (LEVEL / rms), gen)
    return (y * (rms / LEVEL)).numpy()
