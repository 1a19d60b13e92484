"""Two small waveform auto-encoders for mom-mini, trained at build time on the training reals only.

They stand in for the neural decoders that end real music generators: what a detector should learn
to see is the decoder's fingerprint, and the two decoders here upsample in different ways:

- :class:`TConvAE`: hop 64, decoder of stride-4 transposed convolutions (kernel 8), the kind that
  leaves periodic spectral peaks.
- :class:`UpsampleAE`: hop 128, decoder of nearest-neighbour repetition followed by plain convolutions.

Training is short (a few hundred steps on random half-second crops, multi-resolution spectral loss plus
a waveform term), deterministic for a seed, and cached under ``settings.cache_dir()/mom-mini`` keyed by
a hash of everything that determines the weights (architecture, options, seed, training audio), stored
as safetensors and written atomically. A cache file that cannot be read back (truncated, damaged, of
another architecture) counts as absent: a warning names it and the weights are trained and written again.
"""
from __future__ import annotations

import hashlib
import json
import threading
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mom_bench.core.files import write_atomic
from mom_bench.core.settings import cache_dir
from mom_bench.dataset.mini.families import Family

_CACHE_VERSION = 1
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


class _Net(nn.Module):
    def __init__(self, encoder: nn.Module, decoder: nn.Module, hop: int):
        super().__init__()
        self.encoder, self.decoder, self.hop = encoder, decoder, hop

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T) -> (B, T)
        n = x.shape[-1]
        pad = (-n) % self.hop
        z = self.encoder(nn.functional.pad(x, (0, pad))[:, None, :])
        return self.decoder(z)[:, 0, :n]


def _encoder(strides: list[int], channels: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    c_in = 1
    for i, (s, c) in enumerate(zip(strides, channels)):
        layers.append(nn.Conv1d(c_in, c, 2 * s, stride=s, padding=s // 2))
        if i < len(strides) - 1:
            layers.append(nn.GELU())
        c_in = c
    return nn.Sequential(*layers)


def tconv_net(latent: int = 8, width: int = 32) -> _Net:
    enc = _encoder([4, 4, 4], [width // 2, width, latent])
    dec = nn.Sequential(
        nn.ConvTranspose1d(latent, width, 8, stride=4, padding=2), nn.GELU(),
        nn.ConvTranspose1d(width, width // 2, 8, stride=4, padding=2), nn.GELU(),
        nn.ConvTranspose1d(width // 2, 1, 8, stride=4, padding=2),
    )
    return _Net(enc, dec, 64)


def upsample_net(latent: int = 16, width: int = 32) -> _Net:
    enc = _encoder([4, 4, 8], [width // 2, width, latent])
    dec = nn.Sequential(
        nn.Upsample(scale_factor=8, mode="nearest"), nn.Conv1d(latent, width, 5, padding=2), nn.GELU(),
        nn.Upsample(scale_factor=4, mode="nearest"), nn.Conv1d(width, width // 2, 5, padding=2), nn.GELU(),
        nn.Upsample(scale_factor=4, mode="nearest"), nn.Conv1d(width // 2, 1, 9, padding=4),
    )
    return _Net(enc, dec, 128)


def _spectral_loss(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    loss = (y - x).abs().mean()
    for n_fft in (256, 1024):
        w = torch.hann_window(n_fft)
        sy = torch.stft(y, n_fft, n_fft // 4, window=w, return_complex=True).abs()
        sx = torch.stft(x, n_fft, n_fft // 4, window=w, return_complex=True).abs()
        loss = loss + (torch.log(sy + 1e-5) - torch.log(sx + 1e-5)).abs().mean()
        loss = loss + (sy - sx).norm() / sx.norm().clamp_min(1e-8)
    return loss


def train_net(net: _Net, clips: list[np.ndarray], *, steps: int, seed: int, batch: int = 8,
              crop: int = 6000, lr: float = 2e-3, progress=None) -> _Net:
    """Fit ``net`` to random crops of ``clips`` (mono float arrays). Deterministic for ``seed``."""
    if not clips:
        raise ValueError("no training clips for the auto-encoder")
    data = [torch.from_numpy(np.asarray(c, dtype=np.float32)) for c in clips]
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    net.train()
    for step in range(steps):
        idx = torch.randint(len(data), (batch,), generator=gen)
        crops = []
        for i in idx.tolist():
            c = data[i]
            start = int(torch.randint(max(1, c.numel() - crop), (1,), generator=gen))
            piece = c[start:start + crop]
            crops.append(nn.functional.pad(piece, (0, crop - piece.numel())))
        x = torch.stack(crops)
        x = x / x.pow(2).mean(dim=1, keepdim=True).sqrt().clamp_min(1e-4) * 0.1  # level-free training
        loss = _spectral_loss(net(x), x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if progress is not None:
            progress(step + 1, steps, loss.item())
    net.eval()
    return net


def _load_cached(net: _Net, path: Path) -> bool:
    """Load the weights cached at ``path`` into ``net``; False when there are none that can be used."""
    from safetensors.torch import load_file

    if not path.is_file():
        return False
    try:
        net.load_state_dict(load_file(str(path)), strict=True)
    except Exception as err:  # safetensors, torch and the OS each raise their own kind
        warnings.warn(f"{path}: unreadable auto-encoder cache ({type(err).__name__}: {err}); training it again "
                      "and replacing the file", RuntimeWarning, stacklevel=3)
        return False
    return True


class _AutoEncoderFamily(Family):
    needs_training = True
    builder = staticmethod(tconv_net)

    def __init__(self, sample_rate: int, **options):
        super().__init__(sample_rate, **options)
        self.net: _Net | None = None

    def _arch(self) -> dict:
        return {k: self.options[k] for k in ("latent", "width") if k in self.options}

    def cache_key(self, clips: list[np.ndarray], seed: int) -> str:
        h = hashlib.sha256()
        h.update(json.dumps({"family": self.name, "version": _CACHE_VERSION, "arch": self._arch(),
                             "steps": self.steps, "seed": seed, "rate": self.sample_rate}, sort_keys=True).encode())
        for c in clips:
            h.update(hashlib.sha256(np.ascontiguousarray(c, dtype=np.float32).tobytes()).digest())
        return h.hexdigest()

    @property
    def steps(self) -> int:
        return int(self.options.get("steps", 150))

    def _fresh(self, seed: int) -> _Net:
        torch.manual_seed(seed)
        return self.builder(**self._arch())

    def cache_path(self, train_clips: list[np.ndarray], seed: int = 0) -> Path:
        """Where :meth:`prepare` keeps the weights trained on ``train_clips`` with ``seed``."""
        return cache_dir() / "mom-mini" / f"{self.name}-{self.cache_key(train_clips, seed)[:20]}.safetensors"

    def prepare(self, train_clips: list[np.ndarray] | None = None, *, seed: int = 0, progress=None,
                cache: bool = True) -> None:
        from safetensors.torch import save_file

        if not train_clips:
            raise ValueError(f"{self.name}: needs the training reals to train on")
        path = self.cache_path(train_clips, seed)
        with _locks_guard:
            lock = _locks.setdefault(str(path), threading.Lock())
        with lock:
            net = self._fresh(seed)
            if not (cache and _load_cached(net, path)):
                net = self._fresh(seed)  # a failed load may have overwritten some weights
                train_net(net, train_clips, steps=self.steps, seed=seed, progress=progress)
                if cache:
                    state = {k: v.contiguous() for k, v in net.state_dict().items()}
                    write_atomic(path, lambda tmp: save_file(state, str(tmp)))
            net.eval()
            self.net = net

    def generate(self, x: np.ndarray, seed: int) -> np.ndarray:
        if self.net is None:
            raise RuntimeError(f"{self.name}: call prepare() with the training reals first")
        wave = torch.from_numpy(np.asarray(x, dtype=np.float32))
        rms = float(wave.pow(2).mean().sqrt().clamp_min(1e-4))
        with torch.no_grad():
            y = self.net((wave / rms * 0.1)[None, :])[0]
        return (y * rms / 0.1).numpy()


class TConvAE(_AutoEncoderFamily):
    name = "tconv_ae"
    builder = staticmethod(tconv_net)


class UpsampleAE(_AutoEncoderFamily):
    name = "upsample_ae"
    builder = staticmethod(upsample_net)
