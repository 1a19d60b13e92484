"""Frozen self-supervised audio encoders (MERT as a stock HuBERT, wav2vec2) and their pooled features.

An encoder spec is a small dict, kept in the detector's config so a saved model can be rebuilt:

``kind``         ``hubert`` (MERT-v1-95M is a HuBERT with its MERT-only switches off), ``wav2vec2``, or one of
                 the small pretrained networks of mom-bench's own code whose weights ship with the package (or
                 are fetched by ``mom-bench weights fetch``): ``crepe`` (the CREPE pitch CNN, trained on music and
                 singing; :mod:`mom_bench.models.crepe`) and ``ge2e`` (the GE2E speaker LSTM;
                 :mod:`mom_bench.models.ge2e`). For these, ``arch`` is the CREPE capacity (``tiny``/``full``),
                 ``weights`` the weight file's name (``crepe-tiny``, ``crepe-full``, ``ge2e``) or None for the same
                 network randomly initialised, and ``hop`` CREPE's frame hop in samples
``arch``         ``mert-v1-95m`` / ``wav2vec2-base`` (base size, 94.4 M), ``mini``, ``tiny``, or a dict of
                 config fields; used to build a random encoder or, with ``weights``, only as a fallback
``weights``      a Hub id or a local folder of a transformers checkpoint, or None for a random encoder
``revision``     Hub revision of ``weights`` (commit id preferred; a branch or tag is resolved to its current commit,
                 which is what loads and what cache keys name)
``seed``         initialisation seed of a random encoder
``sample_rate``  the rate the encoder expects (Hz)
``normalize``    per-item zero-mean/unit-variance of the waveform (what the checkpoints' processors do)

Pretrained weights are never fetched with ``trust_remote_code``. A local folder can stand in for a Hub id
through ``MOM_BENCH_WEIGHTS_<STREAM>`` (e.g. ``MOM_BENCH_WEIGHTS_MERT=/models/MERT-v1-95M``).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import torch

from mom_bench.models.checkpoints import CheckpointError
from mom_bench.models.crepe import CrepeNet, load_crepe
from mom_bench.models.ge2e import GE2ENet, load_ge2e

log = logging.getLogger(__name__)

# Architectures by name. Base sizes follow the public checkpoints; `mini` and `tiny` are ours.
_CONV_BASE = {"conv_dim": [512] * 7, "conv_stride": [5, 2, 2, 2, 2, 2, 2], "conv_kernel": [10, 3, 3, 3, 3, 2, 2]}
ARCHS: dict[str, dict[str, Any]] = {
    "mert-v1-95m": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
                    "intermediate_size": 3072, **_CONV_BASE},
    "wav2vec2-base": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
                      "intermediate_size": 3072, **_CONV_BASE},
    # hop 320 samples, as the base models (75 frames/s at 24 kHz, 50 at 16 kHz), 3 layers of 64. The
    # convolutions are narrow and the first stride long because they dominate the cost on a CPU.
    "mini": {"hidden_size": 64, "num_hidden_layers": 3, "num_attention_heads": 4, "intermediate_size": 128,
             "conv_dim": [32, 32, 32, 32], "conv_stride": [10, 4, 4, 2], "conv_kernel": [10, 8, 8, 4],
             "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 4},
    # A few thousand parameters: only for tests.
    "tiny": {"hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 32,
             "conv_dim": [8, 8], "conv_stride": [10, 8], "conv_kernel": [10, 8],
             "num_conv_pos_embeddings": 8, "num_conv_pos_embedding_groups": 2},
}

# MERT-only features a stock HubertModel does not implement: a checkpoint using any of them cannot be loaded
# faithfully, so it is refused instead of silently computing something else.
_MERT_SWITCHES = {"feature_extractor_cqt": False, "deepnorm": False, "attention_relax": -1.0}

# Inference-time behaviour that must not depend on the config a checkpoint ships with.
_FIXED = {"layerdrop": 0.0, "mask_time_prob": 0.0, "mask_feature_prob": 0.0, "apply_spec_augment": False}


def _classes(kind: str):
    from transformers import HubertConfig, HubertModel, Wav2Vec2Config, Wav2Vec2Model

    if kind == "hubert":
        return HubertConfig, HubertModel
    if kind == "wav2vec2":
        return Wav2Vec2Config, Wav2Vec2Model
    raise ValueError(f"unknown encoder kind {kind!r} (use 'hubert' or 'wav2vec2')")


def _arch_fields(spec: dict) -> dict:
    arch = spec.get("arch", "tiny")
    if isinstance(arch, dict):
        return dict(arch)
    if arch not in ARCHS:
        raise ValueError(f"unknown encoder arch {arch!r}; known: {', '.join(ARCHS)} (or a dict of config fields)")
    return dict(ARCHS[arch])


def weights_source(spec: dict, stream: str) -> str | None:
    """Where pretrained weights come from: the environment's local folder for this stream, else the spec."""
    local = os.environ.get(f"MOM_BENCH_WEIGHTS_{stream.upper()}")
    return local or spec.get("weights")


def _missing_checkpoint(stream: str, spec: dict, err: Exception) -> CheckpointError:
    wid, rev = spec.get("weights"), spec.get("revision") or "main"
    env = f"MOM_BENCH_WEIGHTS_{stream.upper()}"
    return CheckpointError(
        f"pretrained encoder checkpoint for stream '{stream}' is not available: {wid} (revision {rev}) "
        f"[{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}]. Supply it either by "
        f"downloading it where there is network: `hf download {wid} --revision {rev}` (then it is found offline "
        f"in the Hugging Face cache), or by pointing {env}=/path/to/folder at a local copy (config.json + "
        f"weights). For an offline run without it, use the mom-mini configuration (e.g. `--model clam` on "
        f"mom-mini resolves to clam-mini).")


def _read_checkpoint_json(source: str, name: str, revision: str | None) -> dict | None:
    if os.path.isdir(source):
        path = Path(source) / name
        return json.loads(path.read_text()) if path.is_file() else None
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    try:
        return json.loads(Path(hf_hub_download(source, name, revision=revision)).read_text())
    except EntryNotFoundError:
        return None


def _hub_commit(source: str, revision: str | None) -> str:
    """The commit a Hub revision (branch, tag or commit) points at now. Everything of one encoder is then read
    at that commit, and cache keys name it: a key on "main" would keep serving features of an old "main"."""
    from huggingface_hub import hf_hub_download

    # The cache lays files out as snapshots/<commit>/<file>, also offline.
    return Path(hf_hub_download(source, "config.json", revision=revision)).parent.name


def check_mert_switches(config: dict, source: str) -> None:
    """Refuse MERT checkpoints that rely on features outside a stock HuBERT (CQT front end, DeepNorm,
    attention relaxation)."""
    bad = []
    for key, off in _MERT_SWITCHES.items():
        value = config.get(key, off)
        if key == "attention_relax":
            if value is not None and float(value) > 0:
                bad.append(f"{key}={value}")
        elif value:
            bad.append(f"{key}={value}")
    if bad:
        raise CheckpointError(f"{source}: uses MERT-only features ({', '.join(bad)}) that a stock HubertModel does "
                              "not implement; refusing to load it (remote code is never run)")


def build_encoder(spec: dict, stream: str, *, pretrained: bool = True) -> tuple[torch.nn.Module, dict]:
    """The transformers model for ``spec`` and facts about it (``id`` for cache keys, ``normalize``).

    ``pretrained=False`` builds the same architecture with random weights (used to count parameters)."""
    config_cls, model_cls = _classes(spec["kind"])
    source = weights_source(spec, stream) if pretrained else None
    fixed = {**_FIXED, "attn_implementation": "sdpa"}
    if not source:
        config = config_cls(**{**_arch_fields(spec), **_FIXED})
        config._attn_implementation = "sdpa"
        seed = int(spec.get("seed", 0))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = model_cls(config)
        return model, {"id": None, "normalize": bool(spec.get("normalize", True))}

    from huggingface_hub.errors import EntryNotFoundError

    revision = None
    try:
        if not os.path.isdir(source):
            revision = _hub_commit(source, spec.get("revision"))
        raw = _read_checkpoint_json(source, "config.json", revision)
        if raw is None:
            raise FileNotFoundError(f"{source} has no config.json")
        if spec["kind"] == "hubert":
            check_mert_switches(raw, source)
        pre = _read_checkpoint_json(source, "preprocessor_config.json", revision) or {}
        model, info = model_cls.from_pretrained(source, revision=revision, output_loading_info=True,
                                                trust_remote_code=False, **fixed)
    except CheckpointError:
        raise
    except (OSError, ValueError, EntryNotFoundError) as err:  # the Hub's errors; EntryNotFoundError is none of them
        raise _missing_checkpoint(stream, spec, err) from err
    missing = [k for k in info.get("missing_keys", []) if "masked_spec_embed" not in k]
    if missing:
        raise CheckpointError(f"{source}: checkpoint lacks {len(missing)} encoder weights (e.g. {missing[:3]}); "
                              f"it is not a {spec['kind']} checkpoint of this architecture")
    normalize = bool(spec.get("normalize", pre.get("do_normalize", True)))
    ident = f"{spec.get('weights')}@{revision}" if revision else f"local:{folder_digest(source)}"
    return model, {"id": ident, "normalize": normalize}


def build_own_encoder(spec: dict, stream: str, *, pretrained: bool = True) -> tuple[torch.nn.Module, dict]:
    """The ``crepe`` or ``ge2e`` network of ``spec`` (see the module docstring) and facts about it, as
    :func:`build_encoder`. Each normalises its input its own way (CREPE per frame, GE2E the volume), so the
    waveform is not normalised here."""
    kind, weights, seed = spec["kind"], spec.get("weights"), int(spec.get("seed", 0))
    net: torch.nn.Module
    if kind == "crepe":
        capacity, hop = str(spec.get("arch", "tiny")), int(spec.get("hop", 160))
        if weights not in (None, f"crepe-{capacity}"):
            raise CheckpointError(f"stream '{stream}': CREPE {capacity} takes the weights 'crepe-{capacity}', not "
                                  f"{weights!r}")
        if weights and pretrained:
            net = load_crepe(capacity, hop_length=hop)
            return net, {"id": net.identity(), "normalize": False}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = CrepeNet(capacity, hop_length=hop)
    else:
        if weights not in (None, "ge2e"):
            raise CheckpointError(f"stream '{stream}': GE2E takes the weights 'ge2e', not {weights!r}")
        if weights and pretrained:
            net = load_ge2e()
            return net, {"id": net.identity(), "normalize": False}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = GE2ENet()
    net.eval()
    net.requires_grad_(False)
    return net, {"id": None, "normalize": False}


_OWN_KINDS = ("crepe", "ge2e")


def folder_digest(folder: str) -> str:
    """Content hash of a local checkpoint's weight files, so a changed local copy changes cache keys."""
    h = hashlib.sha256()
    for path in sorted(Path(folder).iterdir()):
        if path.suffix in {".safetensors", ".bin", ".json"} and path.is_file():
            h.update(path.name.encode())
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 22), b""):
                    h.update(block)
    return h.hexdigest()[:16]


def tensor_digest(module: torch.nn.Module) -> str:
    """Content hash of a module's weights (identifies a random encoder in cache keys)."""
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


class Encoder(torch.nn.Module):
    """One frozen stream: waveform at ``sample_rate`` -> all hidden states averaged over time, ``[B, L+1, H]``."""

    def __init__(self, spec: dict, stream: str, *, pretrained: bool = True):
        super().__init__()
        if spec.get("kind") not in ("hubert", "wav2vec2", *_OWN_KINDS):
            raise ValueError(f"unknown encoder kind {spec.get('kind')!r} (use hubert, wav2vec2, crepe or ge2e)")
        self.spec = dict(spec)
        self.stream = stream
        self.sample_rate = int(spec["sample_rate"])
        self.own = spec["kind"] in _OWN_KINDS
        build = build_own_encoder if self.own else build_encoder
        self.model, info = build(spec, stream, pretrained=pretrained)
        self.normalize = info["normalize"]
        self._id = info["id"]
        self.pretrained = info["id"] is not None
        if self.own:
            own: Any = self.model  # a CrepeNet or GE2ENet
            self.n_layers, self.hidden_size = int(own.n_layers), int(own.hidden_size)
        else:
            cfg: Any = self.model.config  # a transformers PretrainedConfig
            self.n_layers = cfg.num_hidden_layers + 1
            self.hidden_size = cfg.hidden_size

    def identity(self) -> str:
        """What determines this encoder's features, for cache keys."""
        if self._id is None:
            self._id = f"random:{tensor_digest(self.model)}"
        return f"{self.spec['kind']}|{self._id}|sr={self.sample_rate}|norm={int(self.normalize)}"

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        if self.own:  # per-layer time averages, [B, L, H]
            own: Any = self.model
            return own.hidden_states(wave)
        if self.normalize:
            # Per item, like the checkpoints' feature extractors; the epsilon is theirs (1e-7 on the variance).
            mean = wave.mean(dim=-1, keepdim=True)
            var = wave.var(dim=-1, keepdim=True, unbiased=False)
            wave = (wave - mean) / torch.sqrt(var + 1e-7)
        out = self.model(wave, output_hidden_states=True)
        # Averaging each layer as it comes avoids stacking [B, L+1, frames, H] in memory.
        # the time mean in fp32 even under autocast: a bf16 mean of ~10^3 frames would round every feature
        return torch.stack([h.float().mean(dim=1) for h in out.hidden_states], dim=1)
