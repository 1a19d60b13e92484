"""Any Hugging Face audio classifier as a detector: ``hf:<Hub id or local folder>[@revision]``.

A ``transformers`` ``AutoModelForAudioClassification`` checkpoint and its ``AutoFeatureExtractor`` (never with
``trust_remote_code``) become a :class:`~mom_bench.models.base.Detector`:

- ``sample_rate`` is the extractor's ``sampling_rate``: evaluate and predict decode every song at that rate through
  the one audio path (:mod:`mom_bench.core.audio`), so nothing here resamples;
- ``clip`` is the ``clip`` option, else the longest input the extractor declares (Whisper's 30 s window, AST's
  ``max_length`` frames, ``max_length_s``...), else ``first:30``;
- the logit is the log-odds of the *fake label*: ``sigmoid(logit) = P(fake label)`` under the model's softmax
  (``logit_fake - logit_real`` for two labels, ``logit_fake - logsumexp(other logits)`` for more; the fake label's
  own logit for a multi-label model, whose labels are independent sigmoids).

The fake label is the ``fake_label`` option (``--fake-label NAME``: a label name, or its id). Without it, a model
whose ``id2label`` has exactly two labels, one saying real (real, human, bona fide, genuine) and the other fake
(fake, AI, spoof, generated, synthetic), gets the fake one chosen automatically, said in
:attr:`HubClassifier.choice_note`; any other label set is an error that lists the labels.

A Hub revision (branch, tag or commit; default ``main``) is resolved to its commit once and everything is read at
that commit, which results record (``checkpoint`` = ``hf:<id>@<commit>``, ``config["revision"]``). A local folder
is identified by a hash of its files. The extractor runs on each item alone, so no padding is shared between
batch-mates, and the model runs in eval mode.
"""
from __future__ import annotations

import json
import pickle
import re
from pathlib import Path
from typing import Any

import torch

from mom_bench.core.audio import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, parse_clip, sample_rate_problem
from mom_bench.core.errors import HubClassifierError
from mom_bench.core.files import sha256_file, write_atomic
from mom_bench.models.base import Detector
from mom_bench.models.checkpoints import CheckpointError, missing_from_cache, offline_hint
from mom_bench.models.encoders import folder_digest, tensor_digest

PREFIX = "hf:"
DEFAULT_CLIP = "first:30"
#: Written beside a saved model: the options it was wrapped with (a folder load uses them as defaults).
OPTIONS_FILE = "mom_bench_hf.json"
WEIGHTS_FILE = "model.safetensors"
#: What a checkpoint needs from its repo; offline errors list those the local cache lacks.
HUB_FILES = ("config.json", "preprocessor_config.json", WEIGHTS_FILE)
_OTHER_WEIGHTS = ("model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")

# Label words, matched case-insensitively inside a label's words (``deepfake``, ``AI-generated``, ``bona_fide``).
_REAL_WORDS = ("real", "human", "bonafide", "genuine")
_FAKE_WORDS = ("fake", "spoof", "generated", "synthetic")
_FAKE_SHORT = ("ai",)  # whole words only: "ai" is inside too many others (rain, chair)


def is_hub_ref(name: Any) -> bool:
    """Whether ``name`` names a Hub classifier (``hf:...``)."""
    return isinstance(name, str) and name.startswith(PREFIX)


# --------------------------------------------------------------------------------------------------
# Which label is fake


def _words(label: str) -> list[str]:
    # "AIGenerated" -> ai, generated; "bona_fide" -> bona, fide; "LABEL_0" -> label, 0
    return [w.lower() for w in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", label)]


def label_kind(label: str) -> str | None:
    """``"real"`` or ``"fake"`` when ``label`` says one of them (and not both), else None.

    >>> [label_kind(x) for x in ("Real", "bona_fide", "AI-generated", "deepfake", "spoof", "LABEL_1", "rain")]
    ['real', 'real', 'fake', 'fake', 'fake', None, None]
    """
    words = _words(label)
    real = any(r in w for w in words for r in _REAL_WORDS) or "bonafide" in "".join(words)
    fake = any(f in w for w in words for f in _FAKE_WORDS) or any(w in _FAKE_SHORT for w in words)
    if real == fake:
        return None
    return "real" if real else "fake"


def _listing(labels: dict[int, str]) -> str:
    return "{" + ", ".join(f"{i}: {n!r}" for i, n in sorted(labels.items())) + "}"


def choose_fake_label(id2label: dict[Any, Any], fake_label: str | None = None,
                      where: str = "model") -> tuple[int, str, str]:
    """(id, name, a note saying how it was chosen) of the label whose probability is P(fake); see the module
    docstring for the rules."""
    labels = {int(k): str(v) for k, v in id2label.items()}
    if len(labels) < 2:
        raise HubClassifierError(f"{where} has {len(labels)} output label(s) {_listing(labels)}: mom-bench needs a "
                                 "classifier with a fake label and at least one other")
    if fake_label is not None:
        want = str(fake_label).strip()
        hits = [i for i, n in labels.items() if n == want]
        if not hits:
            folded = [i for i, n in labels.items() if n.lower() == want.lower()]
            hits = folded if len(folded) == 1 else []
        if not hits and want.isdigit() and int(want) in labels:
            hits = [int(want)]
        if not hits:
            raise HubClassifierError(f"{where} has no label {want!r}; its labels are {_listing(labels)}: pass "
                                     "--fake-label with one of these names (or ids)")
        i = hits[0]
        return i, labels[i], f"{where}: fake label {labels[i]!r} (id {i}) of {_listing(labels)}, as given"
    kinds = {i: label_kind(n) for i, n in labels.items()}
    fakes = [i for i, k in kinds.items() if k == "fake"]
    reals = [i for i, k in kinds.items() if k == "real"]
    if len(labels) == 2 and len(fakes) == 1 and len(reals) == 1:
        i = fakes[0]
        return i, labels[i], (f"{where}: fake label {labels[i]!r} (id {i}) of {_listing(labels)}, chosen "
                              "automatically; pass --fake-label NAME to choose another")
    raise HubClassifierError(f"{where}: cannot tell which label means fake among {_listing(labels)}: pass "
                             "--fake-label NAME (fake_label= in Python) naming the label whose probability is P(fake)")


def fake_log_odds(logits: torch.Tensor, fake: int, independent: bool = False) -> torch.Tensor:
    """``[B]`` log-odds of label ``fake`` from logits ``[B, L]``: ``z_fake - logsumexp(z_others)`` (exactly
    ``z_fake - z_real`` for two labels), so that its sigmoid is the softmax probability of ``fake``;
    ``independent`` (multi-label models) takes ``z_fake`` itself."""
    if independent:
        return logits[:, fake]
    others = torch.cat([logits[:, :fake], logits[:, fake + 1:]], dim=1)
    return logits[:, fake] - torch.logsumexp(others, dim=1)


def default_clip(extractor: Any) -> str:
    """The longest input ``extractor`` declares, as a ``first:<seconds>`` clip policy, else ``first:30``."""
    rate = float(extractor.sampling_rate)

    def positive(name: str) -> float | None:
        value = getattr(extractor, name, None)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else None

    seconds = positive("max_length_s") or positive("chunk_length_s")
    if seconds is None and (samples := positive("n_samples") or positive("nb_max_samples")):
        seconds = samples / rate
    if seconds is None:
        seconds = positive("chunk_length")  # Whisper: seconds
    if seconds is None and type(extractor).__name__ == "ASTFeatureExtractor" and positive("max_length"):
        # Kaldi fbank frames: a 25 ms window every 10 ms
        seconds = (float(extractor.max_length) - 1) * 0.010 + 0.025
    return f"first:{seconds:g}" if seconds else DEFAULT_CLIP


def _check_label_ids(cfg: Any, where: str) -> None:
    # id2label comes from a file the checkpoint's author wrote; the head's outputs are 0..num_labels-1, and a label
    # id outside them would index past the logits.
    n = int(getattr(cfg, "num_labels", 0) or 0)
    try:
        ids = sorted(int(k) for k in cfg.id2label)
    except (TypeError, ValueError):
        ids = None
    if ids != list(range(n)):
        labels = getattr(cfg, "id2label", {})
        shown = ("{" + ", ".join(f"{k!r}: {v!r}" for k, v in labels.items()) + "}" if isinstance(labels, dict)
                 else repr(labels))
        raise HubClassifierError(f"{where}: its id2label {shown} must name exactly the head's {n} label ids "
                                 f"0..{n - 1}")


# --------------------------------------------------------------------------------------------------
# The detector


class HubClassifier(Detector):
    """A transformers audio classifier and its feature extractor, scoring P(fake label). Build one with
    :func:`load` (``hf:`` names); the constructor takes already loaded objects."""

    def __init__(self, model: Any, extractor: Any, *, hub_id: str, revision: str | None = None,
                 fake_label: str | None = None, clip: str | None = None, identity: str | None = None,
                 weights_sha256: str | None = None):
        rate = getattr(extractor, "sampling_rate", None)
        if not isinstance(rate, int) or rate <= 0:
            raise HubClassifierError(f"hf:{hub_id}: its feature extractor ({type(extractor).__name__}) declares no "
                                     "sampling_rate; not an audio model")
        if sample_rate_problem(rate) is not None:
            raise HubClassifierError(f"hf:{hub_id}: its feature extractor ({type(extractor).__name__}) declares "
                                     f"sampling_rate {rate!r}; mom-bench needs one from {MIN_SAMPLE_RATE} to "
                                     f"{MAX_SAMPLE_RATE} Hz")
        cfg = model.config
        _check_label_ids(cfg, f"hf:{hub_id}")
        fake_id, fake_name, note = choose_fake_label(cfg.id2label, fake_label, f"hf:{hub_id}")
        if clip is None:
            clip = default_clip(extractor)
        try:
            clip = str(parse_clip(clip))
        except ValueError as err:
            raise HubClassifierError(f"--clip: {err}") from None
        super().__init__({
            "model": f"{PREFIX}{hub_id}", "hub_id": hub_id, "revision": revision, "fake_label": fake_name,
            "fake_label_id": fake_id,
            "labels": {str(i): str(n) for i, n in sorted((int(k), v) for k, v in cfg.id2label.items())},
            "clip": clip, "sample_rate": rate, "architecture": type(model).__name__,
            "feature_extractor": type(extractor).__name__,
            "identity": identity or f"in-memory:{tensor_digest(model)}"})
        self.model = model
        self.extractor = extractor
        self.fake_id = fake_id
        #: Multi-label models score each label by its own sigmoid.
        self.independent = getattr(cfg, "problem_type", None) == "multi_label_classification"
        #: How the fake label was chosen (printed by the CLI).
        self.choice_note = note
        #: What results record as the checkpoint: ``hf:<id>@<commit>`` or ``hf:<folder>``.
        self.checkpoint = f"{PREFIX}{hub_id}" + (f"@{revision}" if revision else "")
        #: sha256 of the single weights file, when there is one (None for sharded or .bin checkpoints).
        self.weights_sha256 = weights_sha256
        self.eval()

    def identity(self) -> str:
        """What determines the scores: ``<hub id>@<commit>``, or ``local:<hash of the folder's files>``."""
        return str(self.config["identity"])

    def notes(self) -> list[str]:
        return [self.choice_note] if self.choice_note else []

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "weights_sha256": self.weights_sha256}

    @property
    def run_name(self) -> str:
        """A folder name for default results folders (no ``:`` or ``/``)."""
        hub_id = str(self.config["hub_id"])
        if self.config["revision"] is None and Path(hub_id).is_absolute():
            return f"hf-local-{Path(hub_id).name}-{self.identity().rsplit(':', 1)[-1][:8]}"
        return "hf-" + hub_id.replace("/", "--")

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        if wave.dim() == 1:
            wave = wave[None]
        param = next(self.model.parameters(), None)
        device = param.device if param is not None else wave.device
        if wave.shape[0] == 0:
            return torch.zeros(0, device=device)
        # One item at a time through the extractor: its normalisation and padding never see a batch-mate.
        items = [self.extractor(w.detach().float().cpu().numpy(), sampling_rate=self.sample_rate,
                                return_tensors="pt") for w in wave]
        inputs = {k: torch.cat([torch.as_tensor(item[k]) for item in items]).to(device) for k in items[0].keys()}
        logits = self.model(**inputs).logits.float()
        return fake_log_odds(logits, self.fake_id, self.independent)

    # Saving writes a transformers folder (model, extractor) plus the options; ``hf:<folder>`` loads it back.
    def _save_pretrained(self, save_directory: Path) -> None:
        folder = Path(save_directory)
        self.model.save_pretrained(folder)
        self.extractor.save_pretrained(folder)
        options = {"fake_label": self.config["fake_label"], "clip": self.config["clip"],
                   "saved_from": self.config["identity"]}
        write_atomic(folder / OPTIONS_FILE, json.dumps(options, indent=2))

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """Load a folder written by :meth:`save_pretrained` (or any Hub id / transformers folder; ``revision=``,
        ``fake_label=`` and ``clip=`` as for :func:`load`)."""
        revision = kwargs.pop("revision", None)
        ref = PREFIX + str(pretrained_model_name_or_path) + (f"@{revision}" if revision else "")
        return load(ref, fake_label=kwargs.pop("fake_label", None), clip=kwargs.pop("clip", None))


# --------------------------------------------------------------------------------------------------
# Loading


def parse_ref(ref: str) -> tuple[str, str | None, bool]:
    """(Hub id or absolute folder, revision or None, whether it is a local folder) of ``hf:...``."""
    body = ref[len(PREFIX):].strip() if is_hub_ref(ref) else str(ref).strip()
    if not body:
        raise HubClassifierError(f"{ref!r}: give hf:<Hub id owner/name or local folder>[@revision]")
    folder = Path(body).expanduser()
    if folder.is_dir():
        return str(folder.resolve()), None, True
    source, revision = body, None
    if "@" in body:
        source, _, revision = body.rpartition("@")
        if not source or not revision:
            raise HubClassifierError(f"{ref!r}: give hf:<Hub id>@<revision> (a commit id, branch or tag)")
        if Path(source).expanduser().is_dir():
            raise HubClassifierError(f"{ref!r}: a local folder has no revision; drop @{revision}")
    if source.startswith((".", "/", "~")) or "\\" in source or source.count("/") > 1:
        raise CheckpointError(f"{ref}: no such folder (nor a Hub id owner/name)")
    return source, revision, False


def resolve_commit(hub_id: str, revision: str | None) -> tuple[str, Path]:
    """(the commit ``revision`` of ``hub_id`` points at now, the cache snapshot folder of that commit), found by
    fetching config.json; errors say what to do (offline, no such repo or revision)."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HFValidationError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    from mom_bench.core import settings

    at = f" at revision {revision}" if revision else ""
    try:
        path = Path(hf_hub_download(hub_id, "config.json", revision=revision))
    except HFValidationError as err:
        raise CheckpointError(f"hf:{hub_id}: neither a local folder nor a Hub id owner/name ({err})") from err
    except LocalEntryNotFoundError as err:  # offline or unreachable; it subclasses EntryNotFoundError
        hint = offline_hint(hub_id, revision, HUB_FILES, whole_repo=True) if settings.offline() else \
            "Check the id and the network."
        raise CheckpointError(f"hf:{hub_id}: cannot get config.json{at} ({type(err).__name__}). {hint}") from err
    except RevisionNotFoundError as err:
        raise CheckpointError(f"hf:{hub_id}: the Hub repo has no revision {revision!r} (a commit id, branch or tag "
                              "of that repo)") from err
    except RepositoryNotFoundError as err:
        raise CheckpointError(f"hf:{hub_id}: no such Hub repo (or it is private: log in with `hf auth login`)") from err
    except EntryNotFoundError as err:
        raise CheckpointError(f"hf:{hub_id}{at} has no config.json: not a transformers checkpoint") from err
    except Exception as err:
        raise CheckpointError(f"hf:{hub_id}: cannot get config.json{at} ({type(err).__name__}: {err}); check the "
                              "id and the network") from err
    return path.parent.name, path.parent


def _check_cached(hub_id: str, commit: str, where: str) -> None:
    """Offline, the files the checkpoint needs beside its config.json must be in the local cache: an error that
    names those missing and the command that fetches them, rather than transformers' own."""
    from mom_bench.core import settings

    if not settings.offline():
        return
    missing = missing_from_cache(hub_id, HUB_FILES[1:], commit)
    if WEIGHTS_FILE in missing and len(missing_from_cache(hub_id, _OTHER_WEIGHTS, commit)) < len(_OTHER_WEIGHTS):
        missing.remove(WEIGHTS_FILE)  # sharded or pickle weights are there instead
    if missing:
        raise CheckpointError(f"{where}: cannot load the model. "
                              + offline_hint(hub_id, commit, missing, whole_repo=True))


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0]}" if text else type(err).__name__


def load_pretrained(source: str, commit: str | None, where: str) -> tuple[Any, Any]:
    """(model in eval mode, feature extractor) of a transformers checkpoint, float32, no remote code. A checkpoint
    whose classification head is not in its weights (a base model) is refused: its head would be random."""
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

    kw: dict[str, Any] = {"revision": commit} if commit else {}
    try:
        model, info = AutoModelForAudioClassification.from_pretrained(
            source, trust_remote_code=False, dtype=torch.float32, output_loading_info=True, **kw)
    except ValueError as err:
        raise CheckpointError(f"{where}: not an audio classification checkpoint that transformers loads without "
                              f"remote code ({_first_line(err)})") from err
    except OSError as err:
        raise CheckpointError(f"{where}: cannot load the model ({_first_line(err)})") from err
    except pickle.UnpicklingError:
        # torch's weights-only loader refused a pickled object; its own message advises weights_only=False,
        # which would run the file's code. Never pass that advice on.
        raise CheckpointError(f"{where}: its pickle weights (.bin) hold more than tensors and are not loaded: "
                              "mom-bench requires safetensors weights (model.safetensors)") from None
    missing = sorted(k for k in info.get("missing_keys", []) if "masked_spec_embed" not in k)
    if missing:
        raise CheckpointError(f"{where}: its weights lack {len(missing)} tensors of "
                              f"{type(model).__name__} (e.g. {missing[:3]}): not a fine-tuned audio classifier (its "
                              "classification head would be random)")
    try:
        extractor = AutoFeatureExtractor.from_pretrained(source, trust_remote_code=False, **kw)
    except (OSError, ValueError) as err:
        raise CheckpointError(f"{where}: no usable feature extractor (preprocessor_config.json) "
                              f"({_first_line(err)})") from err
    model.eval()
    return model, extractor


def load(ref: str, *, fake_label: str | None = None, clip: str | None = None) -> HubClassifier:
    """The detector named by ``hf:<Hub id or local folder>[@revision]`` (see the module docstring). A folder
    written by :meth:`HubClassifier.save_pretrained` brings its options as defaults."""
    source, revision, is_folder = parse_ref(ref)
    if is_folder:
        commit, snapshot = None, Path(source)
        options_file = snapshot / OPTIONS_FILE
        if options_file.is_file():
            try:
                saved = json.loads(options_file.read_text())
            except (ValueError, UnicodeDecodeError) as err:
                raise CheckpointError(f"{options_file}: not a JSON object ({err})") from None
            if not isinstance(saved, dict):
                raise CheckpointError(f"{options_file}: must be a JSON object (fake_label, clip), got a "
                                      f"{type(saved).__name__}")
            fake_label = saved.get("fake_label") if fake_label is None else fake_label
            clip = saved.get("clip") if clip is None else clip
        where = f"{PREFIX}{source}"
    else:
        commit, snapshot = resolve_commit(source, revision)
        where = f"{PREFIX}{source}@{commit}"
        _check_cached(source, commit, where)
    model, extractor = load_pretrained(source, commit, where)
    weights = snapshot / WEIGHTS_FILE
    identity = f"{source}@{commit}" if commit else f"local:{folder_digest(source)}"
    return HubClassifier(model, extractor, hub_id=source, revision=commit, fake_label=fake_label, clip=clip,
                         identity=identity, weights_sha256=sha256_file(weights) if weights.is_file() else None)
