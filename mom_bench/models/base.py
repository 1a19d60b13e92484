"""The contract every detector follows, and its save/load.

A detector takes mono float32 waveforms ``[B, T]`` at :attr:`Detector.sample_rate` and returns one logit per
item (``P(fake) = sigmoid(logit)``). Each item must be scored independently of the rest of the batch, so a
song's score never depends on which songs it was batched with.

Everything needed to rebuild a detector lives in :attr:`Detector.config`, a JSON-able dict whose ``"model"``
key is the registry name of the resolved configuration (e.g. ``clam-mini``, never just ``clam``): a saved model
says which configuration it is. Weights are stored as safetensors; nothing is ever unpickled.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import PyTorchModelHubMixin

from mom_bench.audio import ClipPolicy, parse_clip

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
# Bumped when the meaning of saved weights or config keys changes in a way old files cannot follow.
FORMAT_VERSION = 1


class CheckpointError(OSError):
    """A checkpoint (a saved detector or a pretrained encoder) is missing or unusable. The message says
    which one and how to supply it."""


class Detector(torch.nn.Module, PyTorchModelHubMixin,
               library_name="mom-bench", tags=["audio-classification", "ai-music-detection"],
               repo_url="https://github.com/mom-bench/mom-bench"):
    """Base class of every mom-bench detector.

    Subclasses call ``super().__init__(config)`` first, then build their layers from ``self.config`` and
    implement :meth:`forward`. Required config keys: ``model`` (registry name), ``sample_rate`` (Hz) and
    ``clip`` (evaluation clip policy, e.g. ``"first:90"``); optional ``train_clip`` (crop used in training,
    default: ``clip``). The registry's :func:`~mom_bench.models.registry.build` fills these in.
    """

    #: Frozen-encoder detectors (CLAM family) set this and implement extract/head_forward/head_outputs.
    frozen_encoders: bool = False

    def __init__(self, config: dict):
        super().__init__()
        config = dict(config)
        missing = [k for k in ("model", "sample_rate", "clip") if k not in config]
        if missing:
            raise ValueError(f"detector config lacks {', '.join(missing)} (got keys {sorted(config)})")
        config["clip"] = str(parse_clip(config["clip"]))
        if config.get("train_clip") is not None:
            config["train_clip"] = str(parse_clip(config["train_clip"]))
        json.dumps(config)  # fail now, not at save time, if a subclass put something unserialisable in
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
        return self.config["model"]

    def forward(self, wave: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    @torch.inference_mode()
    def predict_proba(self, wave: torch.Tensor) -> torch.Tensor:
        """P(fake) per item, in eval mode."""
        was_training = self.training
        self.eval()
        try:
            return torch.sigmoid(self(wave))
        finally:
            self.train(was_training)

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
        # Write to temporary names and rename, so an interrupted save never leaves a half file that loads.
        for name, write in ((WEIGHTS_NAME, lambda p: save_file(tensors, p, metadata={"format": "pt"})),
                            (CONFIG_NAME, lambda p: Path(p).write_text(json.dumps(config, indent=2, sort_keys=True)))):
            fd, tmp = tempfile.mkstemp(dir=save_directory, prefix=f".{name}.")
            os.close(fd)
            try:
                write(tmp)
                os.replace(tmp, save_directory / name)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """Load a saved detector from a folder or a Hugging Face Hub id (``owner/name``; pass ``revision=`` to
        pin one). Called on :class:`Detector` itself, the class is chosen from the config's ``"model"``."""
        if cls is Detector:
            from mom_bench.models.registry import load

            return load(pretrained_model_name_or_path, **kwargs)
        hub_kwargs = {k: kwargs[k] for k in ("revision", "cache_dir", "force_download", "local_files_only", "token")
                      if k in kwargs}
        # Fetch config.json first so a missing or offline checkpoint fails with a message that says what to do.
        resolve_file(str(pretrained_model_name_or_path), CONFIG_NAME, **hub_kwargs)
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


def resolve_file(model_id: str, filename: str, **hub_kwargs) -> str:
    """Path of ``filename`` in a local folder or a Hub repo, with an error that says what to do when it is
    not there (offline, missing file, wrong id)."""
    if os.path.isdir(model_id):
        path = Path(model_id) / filename
        if not path.is_file():
            raise CheckpointError(f"{model_id}: {filename} not found (a saved detector folder holds "
                                  f"{CONFIG_NAME} and {WEIGHTS_NAME})")
        return str(path)
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (EntryNotFoundError, LocalEntryNotFoundError, RepositoryNotFoundError,
                                        RevisionNotFoundError)

    revision = hub_kwargs.get("revision")
    at = f" at revision {revision}" if revision else ""
    try:
        return hf_hub_download(repo_id=model_id, filename=filename, **hub_kwargs)
    except LocalEntryNotFoundError as err:  # offline or unreachable; it subclasses EntryNotFoundError
        raise _unreachable(model_id, filename, revision, err) from err
    except RevisionNotFoundError as err:
        raise CheckpointError(f"{model_id}: the Hub repo has no revision {revision!r} (a commit id, branch or "
                              "tag of that repo)") from err
    except RepositoryNotFoundError as err:
        raise CheckpointError(f"{model_id}: no such Hub repo (or it is private: log in with `hf auth login`); "
                              f"wanted {filename}{at}") from err
    except EntryNotFoundError as err:
        raise CheckpointError(f"{model_id}{at} has no {filename}: not a saved mom-bench detector") from err
    except Exception as err:
        raise _unreachable(model_id, filename, revision, err) from err


def _unreachable(model_id: str, filename: str, revision: str | None, err: Exception) -> CheckpointError:
    from mom_bench.settings import offline

    at = f" at revision {revision}" if revision else ""
    hint = (" HF_HUB_OFFLINE is set and the file is not in the local Hugging Face cache: download it on a machine "
            f"with network (`hf download {model_id}" + (f" --revision {revision}" if revision else "")
            + "`) or pass a local folder instead." if offline() else " Check the id and the network.")
    return CheckpointError(f"{model_id}: cannot get {filename}{at} ({type(err).__name__}).{hint}")
