"""The detector contract, its optional training capabilities, and save/load.

A detector takes mono float32 waveforms ``[B, T]`` at :attr:`Detector.sample_rate` and returns one logit per
item (``P(fake) = sigmoid(logit)``). Each item must be scored independently of the rest of the batch, so a
song's score never depends on which songs it was batched with (``mom-bench models --check`` tests this).

Three bases, one per way the trainer can feed a detector (its *training family*, see
:mod:`mom_bench.core.recipes`):

- :class:`Detector` (``waveform``): ``forward(wave) -> logits``; trained end to end on waveforms.
- :class:`FrozenEncoderDetector` (``frozen-encoder``): ``extract(wave) -> features`` by frozen encoders,
  ``head_outputs(features)`` by a trainable head, ``feature_key()`` naming what determines the features so
  they can be cached. The trainer extracts features once and trains only the head.
- :class:`SpectrogramDetector` (``spectrogram``): ``features(wave) -> spectrogram``, optional
  ``spec_augment``, ``classify(spectrogram) -> logits``, so MixUp and SpecAugment act on the spectrogram.

Everything needed to rebuild a detector lives in :attr:`Detector.config`, a JSON-able dict whose ``"model"``
key is the registry name of the resolved configuration (e.g. ``clam-mini``, never just ``clam``): a saved model
says which configuration it is. Weights are stored as safetensors; nothing is ever unpickled.
"""
from __future__ import annotations

import json
from abc import ABCMeta, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from huggingface_hub import PyTorchModelHubMixin

from mom_bench.core.audio import ClipPolicy, parse_clip
from mom_bench.core.errors import DetectorConfigError
from mom_bench.core.files import write_atomic
from mom_bench.models.checkpoints import CONFIG_NAME, WEIGHTS_NAME, CheckpointError, hub_kwargs, resolve_file

# Bumped when the meaning of saved weights or config keys changes in a way old files cannot follow.
FORMAT_VERSION = 1


def detector_config(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` as a detector holds it (clip policies in their canonical spelling), checked: the keys every
    detector needs are there and it is JSON-able. Two configs that build the same detector compare equal."""
    config = dict(config)
    missing = [k for k in ("model", "sample_rate", "clip") if k not in config]
    if missing:
        raise DetectorConfigError(f"detector config lacks {', '.join(missing)} (got keys {sorted(config)})")
    try:
        config["clip"] = str(parse_clip(config["clip"]))
        if config.get("train_clip") is not None:
            config["train_clip"] = str(parse_clip(config["train_clip"]))
        json.dumps(config)  # fail now, not at save time, if a subclass put something unserialisable in
    except (TypeError, ValueError) as err:
        raise DetectorConfigError(f"detector config of {config.get('model')!r}: {err}") from None
    return config


class Detector(torch.nn.Module, PyTorchModelHubMixin, metaclass=ABCMeta,
               library_name="mom-bench", tags=["audio-classification", "ai-music-detection"]):
    """Base class of every mom-bench detector (training family ``waveform``).

    Subclasses call ``super().__init__(config)`` first, then build their layers from ``self.config`` and
    implement :meth:`forward`. Required config keys: ``model`` (registry name), ``sample_rate`` (Hz) and
    ``clip`` (evaluation clip policy, e.g. ``"first:90"``); optional ``train_clip`` (crop used in training,
    default: ``clip``). The registry's :func:`~mom_bench.models.registry.create` fills these in.
    """

    #: How the trainer feeds this detector (a key of :data:`mom_bench.core.recipes.FAMILY_RECIPES`).
    training_family: ClassVar[str] = "waveform"
    #: The feature streams whose branch embeddings the head returns (``emb_<stream>``); the trainer's
    #: alignment losses need two. Detectors without branches have none.
    streams: Sequence[str] = ()

    def __init__(self, config: dict[str, Any]):
        super().__init__()
        config = detector_config(config)
        self.config: dict[str, Any] = config
        self.sample_rate: int = int(config["sample_rate"])
        self.clip: ClipPolicy = parse_clip(config["clip"])
        self.train_clip: ClipPolicy = parse_clip(config.get("train_clip") or config["clip"])
        # The hub mixin writes and pushes this dict as config.json; sharing the object keeps them in step.
        self._hub_mixin_config = self.config

    # ---------------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """Registry name of the resolved configuration (e.g. ``clam-mini``)."""
        return str(self.config["model"])

    @abstractmethod
    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """Logits ``[B]`` of waveforms ``[B, T]`` at :attr:`sample_rate`."""

    @torch.inference_mode()
    def predict_proba(self, wave: torch.Tensor) -> torch.Tensor:
        """P(fake) per item, in eval mode."""
        was_training = self.training
        self.eval()
        try:
            return torch.sigmoid(self(wave))
        finally:
            self.train(was_training)

    @property
    def run_name(self) -> str:
        """The folder name of this detector's default run and results (its registry name by default)."""
        return self.name

    def notes(self) -> list[str]:
        """Lines worth telling the user when this detector is evaluated (e.g. which label a Hub classifier
        took as fake); none by default."""
        return []

    def provenance(self) -> dict[str, Any]:
        """Where the weights come from beyond the saved checkpoint, for ``results.json``: ``encoders``
        (per feature stream, the identity of the frozen encoder weights: Hub id and commit, or a content
        hash) and ``weights_sha256`` (the weights file of a checkpoint that mom-bench did not save itself,
        None when there is none)."""
        return {"encoders": {}, "weights_sha256": None}

    def n_parameters(self, trainable_only: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def describe(self) -> str:
        return f"{self.name} ({self.n_parameters() / 1e6:.2f} M parameters, {self.sample_rate} Hz, clip {self.clip})"

    # ---------------------------------------------------------------------------------------------
    # Saving: only the weights the config cannot rebuild.

    def weights_to_save(self) -> dict[str, torch.Tensor]:
        """State dict written by :meth:`save_pretrained`. Detectors whose encoders come from pinned pretrained
        checkpoints leave those out (the config names them), so a trained head is small to share."""
        return self.state_dict()

    def load_weights(self, state: dict[str, torch.Tensor]) -> None:
        """Strict load of a state dict made by :meth:`weights_to_save`: any missing or unexpected key is an
        error (never a silent partial load)."""
        expected = set(self.weights_to_save())
        got = set(state)
        if expected != got:
            missing, unexpected = sorted(expected - got), sorted(got - expected)
            more = lambda keys: " ..." if len(keys) > 5 else ""  # noqa: E731
            raise CheckpointError(f"weights do not match the {self.name} configuration: missing {missing[:5]}"
                                  f"{more(missing)}, unexpected {unexpected[:5]}{more(unexpected)}")
        result = self.load_state_dict(state, strict=False)
        # Only keys left out on purpose (pretrained encoders) may be missing from the load.
        bad = [k for k in result.missing_keys if k in expected] + list(result.unexpected_keys)
        if bad:  # pragma: no cover - guarded by the key check above
            raise CheckpointError(f"weights do not match the {self.name} configuration: {bad[:5]}")

    def _save_pretrained(self, save_directory: Path) -> None:
        from safetensors.torch import save_file

        save_directory = Path(save_directory)
        tensors = {k: v.detach().contiguous().cpu() for k, v in self.weights_to_save().items()}
        config = {**self.config, "mom_bench_format": FORMAT_VERSION}
        # Atomic writes: an interrupted save never leaves a half file that loads.
        write_atomic(save_directory / WEIGHTS_NAME, lambda p: save_file(tensors, str(p), metadata={"format": "pt"}))
        write_atomic(save_directory / CONFIG_NAME, json.dumps(config, indent=2, sort_keys=True))

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """Load a saved detector from a folder or a Hugging Face Hub id (``owner/name``; pass ``revision=`` to
        pin one) into this class. To load a detector of any registered class, use
        :func:`mom_bench.load_detector` (or :func:`mom_bench.models.registry.load`), which picks the class from
        the config's ``"model"``."""
        if getattr(cls, "__abstractmethods__", None):
            raise TypeError(f"{cls.__name__} is abstract: load with mom_bench.load_detector(path), which picks "
                            "the class named in the saved config")
        # Fetch config.json first so a missing or offline checkpoint fails with a message that says what to do.
        resolve_file(str(pretrained_model_name_or_path), CONFIG_NAME, **hub_kwargs(kwargs))
        return super().from_pretrained(pretrained_model_name_or_path, **kwargs)

    @classmethod
    def _from_pretrained(cls, *, model_id: str, revision, cache_dir, force_download, local_files_only, token,
                         config: dict | None = None, map_location: str = "cpu", strict: bool = True, **overrides):
        from safetensors.torch import load_file

        if config is None:
            raise CheckpointError(f"{model_id}: no {CONFIG_NAME} found; not a saved mom-bench detector")
        config = {k: v for k, v in config.items() if k != "mom_bench_format"}
        config.update(overrides)
        weights = resolve_file(model_id, WEIGHTS_NAME, revision=revision, cache_dir=cache_dir,
                               force_download=force_download, local_files_only=local_files_only, token=token)
        model = cls(config)
        model.load_weights(load_file(weights, device=str(map_location)))
        model.eval()
        return model


class FrozenEncoderDetector(Detector):
    """A detector made of frozen encoders and a trainable head (training family ``frozen-encoder``).

    The trainer calls :meth:`extract` once per song (through the feature cache, keyed on
    :meth:`feature_key`) and trains the head with :meth:`head_outputs`; evaluation scores cached features with
    :meth:`head_forward`. ``forward(wave)`` must equal ``head_forward(extract(wave))``."""

    training_family: ClassVar[str] = "frozen-encoder"

    @abstractmethod
    def feature_key(self) -> dict[str, str]:
        """Per feature stream, everything that determines its features (encoder weights, rate, clip...)."""

    @abstractmethod
    def extract(self, wave: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-item features ``{stream: [B, ...]}`` of waveforms ``[B, T]``."""

    @abstractmethod
    def head_outputs(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``{"logits": [B], ...}``; two-stream heads also return the branch embeddings ``emb_<stream>`` that
        the alignment losses use."""

    def head_forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.head_outputs(features)["logits"]

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return self.head_forward(self.extract(wave))


class SpectrogramDetector(Detector):
    """A detector that computes its own spectrogram and classifies it (training family ``spectrogram``), so the
    trainer can apply MixUp and SpecAugment between the two steps. ``forward(wave)`` must equal
    ``classify(features(wave))``."""

    training_family: ClassVar[str] = "spectrogram"

    @abstractmethod
    def features(self, wave: torch.Tensor) -> torch.Tensor:
        """The spectrogram ``[B, ...]`` of waveforms ``[B, T]``."""

    @abstractmethod
    def classify(self, spectrogram: torch.Tensor) -> torch.Tensor:
        """Logits ``[B]`` of spectrograms made by :meth:`features`."""

    def spec_augment(self, spectrogram: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Training-time masking of the spectrogram; the default leaves it unchanged."""
        return spectrogram

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return self.classify(self.features(wave))
