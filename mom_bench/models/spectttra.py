"""SpecTTTra (SONICS, ICLR 2025): a spectro-temporal tokenizer in front of a small pre-norm transformer.

The model takes the raw 16 kHz waveform and does everything else itself, so the same object scores a file,
trains, and loads the released SONICS weights:

1. waveform / its own standard deviation (SONICS does this in its data loader);
2. :class:`~mom_bench.models.melspec.MelFrontEnd`: normalised log-mel ``[B, 128, frames]``;
3. in train mode only, optional SpecAugment masks (:meth:`SpecTTTra.spec_augment`);
4. bilinear resize of the time axis to ``input_frames`` (157 -> 128 frames at 5 s, 3751 -> 3744 at 120 s);
5. two Conv1d tokenizers: *temporal* tokens convolve over time with the 128 mel bins as channels (kernel and
   stride ``t``), *spectral* tokens convolve over the mel axis with the frames as channels (kernel and stride
   ``f``); each goes GELU -> learned positions -> LayerNorm, and the two sequences are concatenated;
6. dropout, ``depth`` pre-norm transformer blocks (no final norm), mean over tokens, ``Linear(D -> 1)``.

Every step works on each example alone, so a song's logit does not depend on its batch-mates.

Released checkpoints (``awsaf49/sonics-spectttra-*``) load through :func:`load_sonics`, which renames their
state-dict keys with :data:`SONICS_KEY_RULES` (documented in ``docs/spectttra_keys.md``) and loads strictly;
:func:`load_released` (what a SONICS Hub id given to ``load_detector`` or ``--checkpoint`` goes through) keeps
each converted commit as a saved detector, so it is converted once.
"""
from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mom_bench.core.files import replace_dir_atomic, sha256_file, write_atomic
from mom_bench.models.base import SpectrogramDetector
from mom_bench.models.checkpoints import (
    SONICS_RECORD,
    CheckpointError,
    converted_sonics,
    is_commit,
    is_sonics_config,
    resolve_file,
    sonics_cache_dir,
    split_hub_ref,
)
from mom_bench.models.melspec import MelFrontEnd, n_frames

#: (f, t): mel bins per spectral token and frames per temporal token.
VARIANTS = {"alpha": (1, 3), "beta": (3, 5), "gamma": (5, 7)}

#: Width of the resized spectrogram for the clip lengths SONICS trained on; other lengths keep their frames.
SONICS_INPUT_FRAMES = {5: 128, 120: 3744}

#: The front end and architecture of the SONICS configurations. Registry rows override only what differs.
DEFAULTS: dict[str, Any] = {
    "sample_rate": 16000,
    "n_fft": 2048, "hop_length": 512, "n_mels": 128, "f_min": 20.0, "f_max": 8000.0, "top_db": 80.0,
    "embed_dim": 384, "depth": 12, "num_heads": 6, "mlp_ratio": 2.67,
    "pos_dropout": 0.1, "attn_dropout": 0.1, "proj_dropout": 0.0,
    # SONICS' SpecAugment: 2 time masks and 1 frequency mask, each up to 8 wide and at most half the axis
    # (``p`` 0.5 in the SONICS config is that cap, not a probability), masked to 0 (= the mean).
    "spec_augment": {"time_masks": 2, "time_width": 8, "freq_masks": 1, "freq_width": 8, "max_fraction": 0.5},
}

# Waveforms quieter than this are treated as silence rather than amplified without bound.
_MIN_STD = 1e-6


class ConvTokenizer(nn.Module):
    """Non-overlapping Conv1d patches -> GELU -> learned positions -> LayerNorm.

    The convolution has no bias: a LayerNorm follows, and the released weights have none.
    """

    def __init__(self, channels: int, length: int, patch: int, dim: int):
        super().__init__()
        self.n_tokens = (length - patch) // patch + 1
        if self.n_tokens < 1:
            raise ValueError(f"a patch of {patch} does not fit an axis of {length}")
        self.conv = nn.Conv1d(channels, dim, kernel_size=patch, stride=patch, bias=False)
        self.position = nn.Parameter(torch.randn(1, self.n_tokens, dim) * 0.02)
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, channels, length] -> [B, tokens, dim]
        return self.norm(F.gelu(self.conv(x)).transpose(1, 2) + self.position)


class SpectroTemporalTokenizer(nn.Module):
    def __init__(self, n_mels: int, frames: int, f: int, t: int, dim: int):
        super().__init__()
        self.temporal = ConvTokenizer(n_mels, frames, t, dim)
        self.spectral = ConvTokenizer(frames, n_mels, f, dim)
        self.n_tokens = self.temporal.n_tokens + self.spectral.n_tokens

    def forward(self, mel: torch.Tensor) -> torch.Tensor:  # [B, n_mels, frames] -> [B, tokens, dim]
        return torch.cat([self.temporal(mel), self.spectral(mel.transpose(1, 2))], dim=1)


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int, attn_dropout: float, proj_dropout: float):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"embed_dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.attn_dropout = attn_dropout
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_dropout if self.training else 0.0)
        return self.proj_drop(self.proj(out.transpose(1, 2).reshape(b, n, d)))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, dropout: float):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(F.gelu(self.fc1(x)))))


class Block(nn.Module):
    """Pre-norm transformer block."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, attn_dropout: float, proj_dropout: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads, attn_dropout, proj_dropout)
        self.norm2 = nn.LayerNorm(dim)
        # int() truncates: 384 * 2.67 -> 1025 hidden units, as in the released weights.
        self.mlp = Mlp(dim, int(dim * mlp_ratio), proj_dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class SpecTTTra(SpectrogramDetector):
    """SpecTTTra detector. Config keys (beyond ``model``/``sample_rate``/``clip``): ``variant`` (alpha, beta,
    gamma), ``clip_seconds``; optional ``input_frames`` and any key of :data:`DEFAULTS`. The resolved values
    are written back into :attr:`config`, so a saved model states its full architecture."""

    #: A released checkpoint loaded by :func:`load_released`: ``<Hub id>@<commit>`` (or its folder), what
    #: results and predict's output header record as the checkpoint.
    checkpoint: str | None = None

    def __init__(self, config: dict):
        super().__init__(config)
        cfg = self.config
        variant = cfg.get("variant")
        if variant not in VARIANTS:
            raise ValueError(f"SpecTTTra variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
        if "clip_seconds" not in cfg:
            raise ValueError("SpecTTTra config needs clip_seconds (the clip length it was built for)")
        for key, value in DEFAULTS.items():
            cfg.setdefault(key, copy.deepcopy(value))
        seconds = cfg["clip_seconds"]
        self.n_samples = int(round(seconds * self.sample_rate))
        self.n_frames = n_frames(self.n_samples, cfg["hop_length"])
        cfg.setdefault("input_frames", SONICS_INPUT_FRAMES.get(seconds, self.n_frames))
        self.input_frames = int(cfg["input_frames"])
        f, t = VARIANTS[variant]
        dim = int(cfg["embed_dim"])

        self.frontend = MelFrontEnd(sample_rate=self.sample_rate, n_fft=cfg["n_fft"], hop_length=cfg["hop_length"],
                                    n_mels=cfg["n_mels"], f_min=cfg["f_min"], f_max=cfg["f_max"],
                                    top_db=cfg["top_db"])
        self.tokenizer = SpectroTemporalTokenizer(cfg["n_mels"], self.input_frames, f, t, dim)
        self.pos_drop = nn.Dropout(cfg["pos_dropout"])
        self.blocks = nn.ModuleList(Block(dim, int(cfg["num_heads"]), float(cfg["mlp_ratio"]),
                                          float(cfg["attn_dropout"]), float(cfg["proj_dropout"]))
                                    for _ in range(int(cfg["depth"])))
        self.head = nn.Linear(dim, 1)

    @property
    def n_tokens(self) -> int:
        return self.tokenizer.n_tokens

    # ---------------------------------------------------------------------------------------------
    def features(self, wave: torch.Tensor) -> torch.Tensor:
        """Waveform ``[B, T]`` at 16 kHz -> normalised log-mel ``[B, n_mels, frames]`` (before any resize)."""
        if wave.dim() != 2:
            raise ValueError(f"{self.name} expects a waveform batch [batch, samples], got shape {tuple(wave.shape)}")
        if wave.shape[-1] != self.n_samples:
            raise ValueError(
                f"{self.name} expects {self.n_samples} samples ({self.config['clip_seconds']:g} s at "
                f"{self.sample_rate} Hz), got {wave.shape[-1]}; crop or pad with the model's clip policy "
                f"(model.clip = {self.clip})")
        wave = wave.float()
        wave = wave / wave.std(dim=-1, correction=0, keepdim=True).clamp_min(_MIN_STD)
        return self.frontend(wave)

    def classify(self, mel: torch.Tensor) -> torch.Tensor:
        """Normalised log-mel ``[B, n_mels, frames]`` -> logits ``[B]``. Trainers that mix spectrograms
        (MixUp) call :meth:`features`, mix, then this."""
        if mel.shape[-1] != self.input_frames:
            mel = F.interpolate(mel[:, None], size=(mel.shape[-2], self.input_frames), mode="bilinear",
                                align_corners=False)[:, 0]
        x = self.pos_drop(self.tokenizer(mel))
        for block in self.blocks:
            x = block(x)
        return self.head(x.mean(dim=1))[:, 0]

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        mel = self.features(wave)
        if self.training and self.config.get("spec_augment"):
            mel = self.spec_augment(mel)
        return self.classify(mel)

    def spec_augment(self, mel: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """SONICS' SpecAugment on a normalised log-mel ``[B, n_mels, frames]``: zeroed time and frequency
        bands, drawn independently for each example (the reference draws one set per batch).

        A band's width is uniform in ``[0, min(width, max_fraction * axis))`` and its start uniform over the
        positions where it fits. :meth:`forward` applies it in train mode when ``config["spec_augment"]`` is
        set (the SONICS configurations); set that key to ``False`` or ``None`` to train without it.
        """
        opts = {**DEFAULTS["spec_augment"], **(self.config.get("spec_augment") or {})}
        out = mel.clone()
        for axis, count, width in ((2, opts["time_masks"], opts["time_width"]),
                                   (1, opts["freq_masks"], opts["freq_width"])):
            size = mel.shape[axis]
            cap = min(width, int(size * opts["max_fraction"]))
            pos = torch.arange(size, device=mel.device)
            for _ in range(int(count)):
                r = torch.rand(2, mel.shape[0], generator=generator).to(mel.device)
                widths = r[0] * cap
                starts = r[1] * (size - widths)
                band = (pos[None, :] >= starts.long()[:, None]) & (pos[None, :] < (starts + widths).long()[:, None])
                shape = (mel.shape[0], 1, size) if axis == 2 else (mel.shape[0], size, 1)
                out = out.masked_fill(band.view(shape), 0.0)
        return out


# --------------------------------------------------------------------------------------------------
# Released SONICS checkpoints

#: SONICS state-dict prefix -> mom-bench prefix (first match wins). See docs/spectttra_keys.md.
SONICS_KEY_RULES: list[tuple[str, str]] = [
    ("ft_extractor.audio2melspec.spectrogram.window", "frontend.window"),
    ("ft_extractor.audio2melspec.mel_scale.fb", "frontend.filterbank"),
    ("encoder.st_tokenizer.temporal_tokenizer.conv1d.", "tokenizer.temporal.conv."),
    ("encoder.st_tokenizer.temporal_tokenizer.pos_encoder.pe", "tokenizer.temporal.position"),
    ("encoder.st_tokenizer.temporal_tokenizer.norm_pre.", "tokenizer.temporal.norm."),
    ("encoder.st_tokenizer.spectral_tokenizer.conv1d.", "tokenizer.spectral.conv."),
    ("encoder.st_tokenizer.spectral_tokenizer.pos_encoder.pe", "tokenizer.spectral.position"),
    ("encoder.st_tokenizer.spectral_tokenizer.norm_pre.", "tokenizer.spectral.norm."),
    ("encoder.transformer.blocks.", "blocks."),  # inside a block the names are the same
    ("classifier.", "head."),
]

#: The files of a released SONICS checkpoint.
SONICS_FILES = ("config.json", "pytorch_model.bin")

SONICS_REPOS = {f"spectttra-{v}-{s}s": f"awsaf49/sonics-spectttra-{v}-{s}s"
                for v in VARIANTS for s in (5, 120)}


def sonics_key(key: str) -> str:
    """The mom-bench name of a SONICS state-dict key; ``KeyError`` for a key the mapping does not know."""
    for old, new in SONICS_KEY_RULES:
        if key == old or (old.endswith(".") and key.startswith(old)):
            return new + key[len(old):]
    raise KeyError(key)


def convert_sonics_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename every key of a SONICS SpecTTTra state dict; unknown keys are an error, never dropped."""
    unknown = []
    out = {}
    for key, value in state.items():
        try:
            out[sonics_key(key)] = value
        except KeyError:
            unknown.append(key)
    if unknown:
        raise CheckpointError(f"not a SONICS SpecTTTra state dict: no mapping for {unknown[:5]}"
                              f"{' ...' if len(unknown) > 5 else ''} (see docs/spectttra_keys.md)")
    return out


def config_from_sonics(sonics: dict[str, Any]) -> dict[str, Any]:
    """mom-bench config (registry name and all) for a SONICS ``config.json``; refuses settings this
    implementation does not reproduce rather than loading weights into a different model."""
    if not is_sonics_config(sonics):
        mom = isinstance(sonics, dict) and isinstance(sonics.get("model"), str)
        raise CheckpointError("not a SONICS SpecTTTra config.json (its \"model\" is not an object"
                              + ("; it is a saved mom-bench detector: load it without sonics:)" if mom else ")"))
    try:
        model, audio, mel = sonics["model"], sonics["audio"], sonics["melspec"]
        f_t = (int(model["f_clip"]), int(model["t_clip"]))
        seconds = audio["max_time"]
        n_mels, frames = (int(v) for v in model["input_shape"])
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"not a SONICS SpecTTTra config.json (missing or bad {err})") from None
    variant = next((v for v, ft in VARIANTS.items() if ft == f_t), None)
    problems = []
    if model.get("name") != "SpecTTTra":
        problems.append(f"model {model.get('name')!r}")
    if variant is None:
        problems.append(f"(f_clip, t_clip) = {f_t}")
    if not (model.get("pe_learnable") and model.get("pre_norm")):
        problems.append("sinusoidal positions or no tokenizer LayerNorm")
    if sonics.get("num_classes", 1) != 1:
        problems.append(f"num_classes {sonics.get('num_classes')}")
    if mel.get("norm") != "mean_std" or int(mel.get("win_length") or mel["n_fft"]) != int(mel["n_fft"]):
        problems.append("a front end other than mean_std with win_length == n_fft")
    if problems:
        raise CheckpointError("SONICS checkpoint not supported: " + "; ".join(problems))
    seconds = int(seconds) if float(seconds).is_integer() else float(seconds)
    return {
        "model": f"spectttra-{variant}-{seconds}s", "variant": variant, "clip_seconds": seconds,
        "sample_rate": int(audio["sample_rate"]), "clip": f"sonics_eval:{seconds}", "train_clip": f"random:{seconds}",
        "input_frames": frames, "n_mels": n_mels, "n_fft": int(mel["n_fft"]), "hop_length": int(mel["hop_length"]),
        "f_min": float(mel["f_min"]), "f_max": float(mel["f_max"]), "top_db": float(mel["top_db"]),
        "embed_dim": int(model["embed_dim"]), "depth": int(model["num_layers"]), "num_heads": int(model["num_heads"]),
        "mlp_ratio": float(model.get("mlp_ratio", 4.0)), "pos_dropout": float(model.get("pos_drop_rate", 0.0)),
        "attn_dropout": float(model.get("attn_drop_rate", 0.0)),
        "proj_dropout": float(model.get("proj_drop_rate", 0.0)),
    }


def _read_json(path: str | Path, name: str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{name}: {Path(path).name} is not JSON ({err})") from None


def _read_sonics(config: dict[str, Any], weights_file: str | Path, name: str) -> SpecTTTra:
    """``config``: made by :func:`config_from_sonics` (before the weights are fetched, so a config this model
    cannot reproduce is refused first)."""
    try:
        state = torch.load(weights_file, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(f"{name}: pytorch_model.bin is not a plain tensor state dict ({err})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{name}: pytorch_model.bin holds a {type(state).__name__}, not a state dict")
    model = SpecTTTra(config)
    load_sonics_state_dict(model, state, name=name)
    return model.eval()


def _snapshot_commit(path: str | Path, name: str) -> str:
    """The commit a file fetched by huggingface_hub was read at: its cache snapshot folder is named by it."""
    commit = Path(path).parent.name
    if not is_commit(commit):
        raise CheckpointError(f"{name}: cannot tell which commit {Path(path).name} was read at (got {path})")
    return commit


def load_sonics(source: str | Path, *, revision: str | None = None, **hub_kwargs) -> SpecTTTra:
    """A released SONICS checkpoint as a :class:`SpecTTTra`, in eval mode, converted in memory (no cache:
    :func:`load_released` keeps conversions).

    ``source``: a folder holding SONICS' ``config.json`` and ``pytorch_model.bin``, a Hub id such as
    ``awsaf49/sonics-spectttra-alpha-120s``, or a registry name such as ``spectttra-alpha-120s``. The
    ``.bin`` is read with ``torch.load(weights_only=True)`` (no arbitrary unpickling) and loaded strictly.
    ``config["weights_source"]`` is the folder, or ``<Hub id>@<commit>`` with a branch resolved to its commit.
    """
    source = SONICS_REPOS.get(str(source), str(source))
    kwargs = {"revision": revision, **hub_kwargs} if revision else hub_kwargs
    config_file = resolve_file(source, "config.json", needs=SONICS_FILES, **kwargs)
    config = config_from_sonics(_read_json(config_file, source))
    if Path(source).is_dir():
        weights_file, where = resolve_file(source, "pytorch_model.bin"), source
    else:
        commit = _snapshot_commit(config_file, source)
        weights_file = resolve_file(source, "pytorch_model.bin", needs=SONICS_FILES, **{**kwargs, "revision": commit})
        where = f"{source}@{commit}"
    model = _read_sonics(config, weights_file, source)
    model.config["weights_source"] = where
    return model


class UnpinnedRevision(UserWarning):
    """A released checkpoint was named by a branch (or no revision): the commit it resolved to is said and
    recorded, but the next run may get another one."""


def load_released(ref: str | Path, *, config_file: str | Path | None = None, revision: str | None = None,
                  **hub_kwargs) -> SpecTTTra:
    """A released SONICS checkpoint ready to score: ``<Hub id>[@revision]`` or a folder with SONICS' files.

    A Hub checkpoint is converted on first use with the strict key mapping of :func:`load_sonics` and kept as a
    saved mom-bench detector under ``<cache>/sonics/<owner>--<name>/<commit>``
    (:func:`~mom_bench.models.checkpoints.sonics_cache_dir`); a later use at a pinned commit loads that copy
    without any network. A branch (or no revision, ``main``) is resolved to its commit, which is recorded
    (``config["weights_source"]``, :attr:`checkpoint`) and said in an :class:`UnpinnedRevision` warning.
    ``config_file``: SONICS' config.json when the caller already fetched it. A folder is converted in memory.
    A registry name of :data:`SONICS_REPOS` (``spectttra-alpha-120s``) stands for its released repo.
    """
    ref = str(ref)
    if Path(ref).expanduser().is_dir():
        model = load_sonics(Path(ref).expanduser())
        model.checkpoint = str(Path(ref).expanduser())
        return model
    repo_id, pinned = split_hub_ref(ref)
    repo_id = SONICS_REPOS.get(repo_id, repo_id)  # sonics:spectttra-alpha-120s names its released repo
    if pinned and revision not in (None, pinned):
        raise CheckpointError(f"{ref}: give the revision once, after @ or as revision=")
    revision = pinned or revision
    cached = converted_sonics(f"{repo_id}@{revision}") if is_commit(revision) else None
    if cached is None:
        if config_file is None:
            config_file = resolve_file(repo_id, "config.json", needs=SONICS_FILES,
                                       **({**hub_kwargs, "revision": revision} if revision else hub_kwargs))
        commit = _snapshot_commit(config_file, repo_id)
        cached = converted_sonics(f"{repo_id}@{commit}") or _convert(repo_id, commit, Path(config_file), hub_kwargs)
    model = SpecTTTra.from_pretrained(str(cached))
    record = _read_json(cached / SONICS_RECORD, str(cached))
    model.checkpoint = f"{record['repo']}@{record['commit']}"
    if revision != record["commit"]:
        warnings.warn(UnpinnedRevision(
            f"{repo_id}: {'revision ' + repr(revision) if revision else 'no revision'} resolved to commit "
            f"{record['commit']}, which is recorded; pin it ({model.checkpoint}) to score with the same weights "
            "next time"), stacklevel=2)
    return model


def _convert(repo_id: str, commit: str, config_file: Path, hub_kwargs: dict[str, Any]) -> Path:
    where = f"{repo_id}@{commit}"
    config = config_from_sonics(_read_json(config_file, where))
    weights_file = resolve_file(repo_id, "pytorch_model.bin", needs=SONICS_FILES,
                                **{**hub_kwargs, "revision": commit})
    model = _read_sonics(config, weights_file, where)
    model.config["weights_source"] = where
    record = {"repo": repo_id, "commit": commit,
              "files": {"config.json": sha256_file(config_file), "pytorch_model.bin": sha256_file(weights_file)},
              "key_mapping": "docs/spectttra_keys.md (mom_bench.models.spectttra.SONICS_KEY_RULES)"}

    def write(tmp: Path) -> None:
        model.save_pretrained(tmp)
        write_atomic(tmp / SONICS_RECORD, json.dumps(record, indent=2))

    return replace_dir_atomic(sonics_cache_dir(repo_id, commit), write, marker=SONICS_RECORD,
                              kind="converted SONICS checkpoint")


def load_sonics_state_dict(model: SpecTTTra, state: dict[str, torch.Tensor], *, name: str = "checkpoint") -> None:
    """Strict load of a SONICS-named state dict; a mismatch names the keys or shapes that differ."""
    state = convert_sonics_state_dict(state)
    ours = model.state_dict()
    shapes = [f"{k}: {tuple(v.shape)} vs {tuple(ours[k].shape)}" for k, v in state.items()
              if k in ours and v.shape != ours[k].shape]
    if shapes:
        raise CheckpointError(f"{name}: shapes differ from {model.name}: {shapes[:3]}")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"{name}: does not match {model.name}: {err}") from None


def to_sonics_state_dict(model: SpecTTTra) -> dict[str, torch.Tensor]:
    """The inverse renaming (mom-bench -> SONICS key names), e.g. to compare with the reference code."""
    out = {}
    for key, value in model.state_dict().items():
        for old, new in SONICS_KEY_RULES:
            if key == new or (new.endswith(".") and key.startswith(new)):
                out[old + key[len(new):]] = value
                break
        else:  # pragma: no cover - every parameter has a rule
            raise KeyError(key)
    return out


def import_sonics(source: str | Path, out: str | Path | None = None, *, revision: str | None = None,
                  **hub_kwargs) -> tuple[SpecTTTra, Path]:
    """Convert a released SONICS checkpoint (see :func:`load_sonics`) into a saved mom-bench detector
    (safetensors + config.json) at ``out``; default ``<runs>/sonics-released/<model name>``."""
    from mom_bench.core import settings

    model = load_sonics(source, revision=revision, **hub_kwargs)
    out = Path(out) if out else settings.runs_dir() / "sonics-released" / model.name
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    return model, out
