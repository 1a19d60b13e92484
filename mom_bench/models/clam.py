"""CLAM (Melody or Machine) and its relatives: frozen encoders, pooled hidden states, a small head.

One class serves ``clam``, ``clam-wca``, ``mert-only``, ``wav2vec2-only`` and their mini/tiny configurations;
the registry rows differ only in data. The detector takes 24 kHz waveforms; the 16 kHz wav2vec2 stream is
resampled from the same decode, so one decode serves both encoders.

Config keys (beyond the base contract): ``streams`` (``["mert", "w2v"]`` or one of them), ``encoders``
(stream -> encoder spec, see :mod:`mom_bench.models.encoders`), ``head`` (``clam`` or ``wca``), ``head_dim``
(512 in the paper), ``attention_heads`` (4). The encoders are always frozen, as in the paper.
"""
from __future__ import annotations

import copy
from typing import Any, cast

import torch
from torch import nn

from mom_bench.core.audio import resample
from mom_bench.models.base import FrozenEncoderDetector
from mom_bench.models.encoders import Encoder

# The state-dict names of the head in the paper's released code (arXiv 2512.00621), by stream position.
_OFFICIAL = [("conv1", "crossAttention1", "fc1"), ("conv2", "crossAttention2", "fc2")]

# Longest waveform (samples) given to an encoder at once. A base encoder's first convolution holds
# 512 channels x T/5 frames, about 0.9 GB for 90 s at 24 kHz, so batches are fed in slices.
_MAX_SAMPLES_PER_SLICE = 2 * 90 * 24000


class ClamHead(nn.Module):
    """The official CLAM head, made per-item.

    Per stream: Conv1d(L -> 3, k 3, pad 1) across the hidden axis, ReLU, channel 0 -> [H]; multi-head
    self-attention (Q = K = V); Linear(H -> head_dim). Fusion: concat -> Linear(n * head_dim -> 1).

    The official code runs its attention with ``batch_first=False`` on ``[B, 1, H]``, which makes the songs of
    a batch attend to each other. Here each item is a sequence of length one (``batch_first=True``), so a
    song's score never depends on its batch-mates; parameters and names are unchanged, so official state dicts
    load strictly.
    """

    def __init__(self, n_layers: list[int], hidden: list[int], head_dim: int = 512, attention_heads: int = 4,
                 input_norm: bool = False):
        super().__init__()
        self.n_streams = len(n_layers)
        # Optional, off in the paper configuration: standardise each feature with statistics of the training
        # features (running averages, fixed at evaluation, so items stay independent). Transformer hidden
        # states come layer-normalised; the activations of small CNN/LSTM encoders do not, and their features
        # differ in scale by orders of magnitude between layers.
        self.input_norm = nn.ModuleList(nn.BatchNorm1d(layers * width, affine=False, momentum=None)
                                        for layers, width in zip(n_layers, hidden)) if input_norm else None
        for i, (layers, width) in enumerate(zip(n_layers, hidden)):
            conv, attn, fc = _OFFICIAL[i]
            self.add_module(conv, nn.Conv1d(layers, 3, kernel_size=3, padding=1))
            self.add_module(attn, nn.MultiheadAttention(width, attention_heads, batch_first=True))
            self.add_module(fc, nn.Linear(width, head_dim))
        self.fc3 = nn.Linear(head_dim * self.n_streams, 1)

    def branch(self, i: int, x: torch.Tensor) -> torch.Tensor:
        conv, attn, fc = (getattr(self, n) for n in _OFFICIAL[i])
        if self.input_norm is not None:
            x = self.input_norm[i](x.flatten(1)).view_as(x)
        x = torch.relu(conv(x))[:, :1, :]  # [B, 1, H]: one token per item
        x = attn(x, x, x, need_weights=False)[0]
        return fc(x[:, 0, :])

    def forward(self, xs: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        embs = [self.branch(i, x) for i, x in enumerate(xs)]
        return {"logits": self.fc3(torch.cat(embs, dim=-1)).squeeze(-1), "embeddings": embs}


class WcaHead(nn.Module):
    """Weighted cross-aggregation, as the paper describes it (the official code has no cross-stream step).

    Each stream's L layer vectors become tokens (LayerNorm + Linear to ``dim`` + a learned layer position),
    re-weighted by a learned softmax over layers (the "weighted" part). Each stream's tokens then attend to the
    other stream's tokens (cross-attention, residual + LayerNorm): the inter-dependency of the two encoders.
    The result is pooled with the same layer weights into one embedding per stream; the concatenation gives
    the logit. Attention runs within one item's own tokens, so items never see each other.
    """

    def __init__(self, n_layers: list[int], hidden: list[int], head_dim: int = 256, attention_heads: int = 4):
        super().__init__()
        if len(n_layers) != 2:
            raise ValueError("the wca head needs exactly two streams")
        self.norm_in = nn.ModuleList(nn.LayerNorm(w) for w in hidden)
        self.proj = nn.ModuleList(nn.Linear(w, head_dim) for w in hidden)
        self.layer_pos = nn.ParameterList(nn.Parameter(torch.zeros(n, head_dim)) for n in n_layers)
        self.layer_logits = nn.ParameterList(nn.Parameter(torch.zeros(n)) for n in n_layers)
        self.cross = nn.ModuleList(nn.MultiheadAttention(head_dim, attention_heads, batch_first=True) for _ in range(2))
        self.norm_out = nn.ModuleList(nn.LayerNorm(head_dim) for _ in range(2))
        self.classifier = nn.Sequential(nn.Linear(2 * head_dim, head_dim), nn.ReLU(), nn.Linear(head_dim, 1))

    def layer_weights(self) -> list[torch.Tensor]:
        return [torch.softmax(w, dim=0) for w in self.layer_logits]

    def forward(self, xs: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        weights = self.layer_weights()
        # Scaled by L so that uniform weights leave the tokens unchanged at initialisation.
        tokens = [(self.proj[i](self.norm_in[i](x)) + self.layer_pos[i]) * (w * w.numel())[:, None]
                  for i, (x, w) in enumerate(zip(xs, weights))]
        mixed = []
        for i in range(2):
            other = tokens[1 - i]
            attended = self.cross[i](tokens[i], other, other, need_weights=False)[0]
            mixed.append(self.norm_out[i](tokens[i] + attended))
        embs = [torch.einsum("bld,l->bd", m, w) for m, w in zip(mixed, weights)]
        return {"logits": self.classifier(torch.cat(embs, dim=-1)).squeeze(-1), "embeddings": embs}


_HEADS = {"clam": ClamHead, "wca": WcaHead}


class ClamDetector(FrozenEncoderDetector):
    """Frozen encoders -> per-layer time-averaged features -> head. See the module docstring for config keys."""

    def __init__(self, config: dict):
        super().__init__(config)
        cfg = self.config
        streams = list(cfg["streams"])
        if not streams or len(set(streams)) != len(streams) or not set(streams) <= set(cfg["encoders"]):
            raise ValueError(f"{self.name}: streams {streams} must be distinct and each have an encoder spec")
        if cfg["head"] not in _HEADS:
            raise ValueError(f"{self.name}: unknown head {cfg['head']!r}; known: {', '.join(_HEADS)}")
        self.streams = streams
        pretrained = not cfg.get("architecture_only", False)
        self.encoders = nn.ModuleDict({s: Encoder(cfg["encoders"][s], s, pretrained=pretrained) for s in streams})
        self.encoders.requires_grad_(False)
        default_dim = 512 if cfg["head"] == "clam" else 256
        self.head = _HEADS[cfg["head"]](
            [self._encoder(s).n_layers for s in streams], [self._encoder(s).hidden_size for s in streams],
            head_dim=int(cfg.get("head_dim", default_dim)), attention_heads=int(cfg.get("attention_heads", 4)),
            **({"input_norm": True} if cfg.get("input_norm") else {}))

    def _encoder(self, stream: str) -> Encoder:
        """The frozen encoder of ``stream`` (``self.encoders[stream]``, typed)."""
        return cast(Encoder, self.encoders[stream])  # ModuleDict items are typed as plain Modules

    @classmethod
    def architecture_only(cls, config: dict) -> dict:
        """Same architecture, random encoders: counts parameters without downloading anything."""
        return {**copy.deepcopy(config), "architecture_only": True}

    # ---------------------------------------------------------------------------------------------
    def train(self, mode: bool = True):
        super().train(mode)
        self.encoders.eval()  # frozen encoders stay in eval mode (no dropout) while the head trains
        return self

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "encoders": {s: self._encoder(s).identity() for s in self.streams}}

    def feature_key(self) -> dict[str, str]:
        """Per stream, everything that determines its features (encoder weights, rate, normalisation, clip)."""
        return {s: f"{self._encoder(s).identity()}|clip={self.clip}|in_sr={self.sample_rate}" for s in self.streams}

    def extract(self, wave: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-item features, ``{stream: [B, L+1, H]}``, from waveforms ``[B, T]`` at :attr:`sample_rate`."""
        if wave.dim() != 2:
            raise ValueError(f"expected a waveform batch [B, T], got shape {tuple(wave.shape)}")
        wave = wave.to(torch.float32)
        by_rate = {self.sample_rate: wave}
        feats = {}
        for s in self.streams:
            enc = self._encoder(s)
            if enc.sample_rate not in by_rate:
                by_rate[enc.sample_rate] = resample(wave, self.sample_rate, enc.sample_rate)
            x = by_rate[enc.sample_rate]
            step = max(1, _MAX_SAMPLES_PER_SLICE // max(1, x.shape[-1]))
            with torch.no_grad():
                feats[s] = torch.cat([enc(x[i:i + step]) for i in range(0, x.shape[0], step)], dim=0)
        return feats

    def head_outputs(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``logits [B]`` plus, for two streams, ``emb_mert`` / ``emb_w2v`` ``[B, head_dim]``: the branch
        embeddings of the triplet loss (anchor: the MERT branch of a real song; positive: its wav2vec2 branch;
        negatives: the wav2vec2 branches of the other real songs)."""
        out = self.head([features[s].to(torch.float32) for s in self.streams])
        result = {"logits": out["logits"]}
        if len(self.streams) == 2:
            result.update({f"emb_{s}": e for s, e in zip(self.streams, out["embeddings"])})
        return result

    # ---------------------------------------------------------------------------------------------
    def weights_to_save(self) -> dict[str, torch.Tensor]:
        # Pretrained encoders are named (id + revision) in the config and not copied into every saved head.
        state = self.state_dict()
        skip = tuple(f"encoders.{s}." for s in self.streams if self.encoders[s].pretrained)
        return {k: v for k, v in state.items() if not k.startswith(skip)} if skip else state

    def load_official_head(self, state_or_path) -> None:
        """Load a head saved by the official CLAM code (keys conv1, conv2, crossAttention1, crossAttention2,
        fc1, fc2, fc3), strictly. A ``.pth`` path is read with ``torch.load(weights_only=True)``: no pickle code
        runs."""
        if not isinstance(state_or_path, dict):
            state_or_path = torch.load(state_or_path, map_location="cpu", weights_only=True)
        if not isinstance(self.head, ClamHead):
            raise ValueError(f"{self.name}: official CLAM weights only fit the 'clam' head")
        self.head.load_state_dict(state_or_path, strict=True)
