"""Transform kinds as a table: each kind's parameters with their allowed values, the operation it runs,
and the checks of the sample rates it can run at.

Adding a kind means adding one :class:`Kind` to :data:`KINDS` (see docs/robustness.md); the suite loader,
the cache key and the documentation of allowed values all read this table.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from mom_bench.core.audio import DEFAULT_MAX_SECONDS
from mom_bench.core.registry import Registry
from mom_bench.dataset.transforms import ops
from mom_bench.dataset.transforms.ops import TransformError

#: Sample rates a transform accepts. Resampling between two rates costs in proportion to the factors of
#: their ratio, so a rate outside this list (say 44101 Hz) could make one resampling filter enormous.
SAMPLE_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000, 176400, 192000)

#: Longest input a transform takes, the same bound as :func:`mom_bench.core.audio.load`'s.
MAX_SECONDS = DEFAULT_MAX_SECONDS

Value = int | float | str


class ParamError(ValueError):
    """A parameter value outside its allowed values; the loader adds the file and the transform."""


@dataclass(frozen=True)
class Param:
    """One parameter of a kind: a number in ``[lo, hi]`` (``integer`` for whole numbers only), or one of
    ``choices``; ``default`` None means required."""

    lo: float | None = None
    hi: float | None = None
    integer: bool = False
    choices: tuple[Value, ...] = ()
    default: Value | None = None
    unit: str = ""

    def allowed(self) -> str:
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        what = "an integer" if self.integer else "a number"
        return f"{what} from {self.lo:g} to {self.hi:g}" + (f" {self.unit}" if self.unit else "")

    def parse(self, value: Any) -> Value:
        if self.choices:
            if value not in self.choices or isinstance(value, bool):
                raise ParamError(f"{value!r} is not allowed; use {self.allowed()}")
            return value
        assert self.lo is not None and self.hi is not None  # a numeric parameter always has its range
        wrong_type = isinstance(value, bool) or not isinstance(value, (int, float)) or (
            self.integer and not isinstance(value, int))
        if wrong_type or not math.isfinite(value) or not self.lo <= value <= self.hi:
            raise ParamError(f"{value!r} is out of range; use {self.allowed()}")
        return int(value) if self.integer else float(value)


def check_rate_known(sample_rate: Any) -> None:
    """Raise :class:`TransformError` unless ``sample_rate`` is one of :data:`SAMPLE_RATES`."""
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate not in SAMPLE_RATES:
        raise TransformError(f"sample rate {sample_rate!r} is not supported; use one of "
                             f"{', '.join(str(r) for r in SAMPLE_RATES)} Hz")


def _rates_any(params: dict, sample_rate: int) -> str | None:
    return None


def _rates_below_nyquist(params: dict, sample_rate: int) -> str | None:
    if params["cutoff_hz"] >= sample_rate / 2:
        return (f"a cutoff of {params['cutoff_hz']:g} Hz needs a sample rate above {2 * params['cutoff_hz']:g} Hz, "
                f"got {sample_rate} Hz")
    return None


def _rates_resample(params: dict, sample_rate: int) -> str | None:
    if params["rate"] >= sample_rate:
        return (f"a round trip through {params['rate']} Hz needs a higher input rate, got {sample_rate} Hz "
                "(it would remove nothing)")
    return None


#: Bit rates each codec's encoder can honour, in b/s (mono).
CODEC_BIT_RATES = {"mp3": (8000, 320000), "aac": (8000, 320000), "opus": (6000, 256000)}


def _codec_params(params: dict) -> None:
    lo, hi = CODEC_BIT_RATES[params["format"]]
    if not lo <= params["bit_rate"] <= hi:
        raise ParamError(f"params.bit_rate: {params['bit_rate']} is out of range for {params['format']}; "
                         f"use an integer from {lo} to {hi} b/s")


def _no_cross_check(params: dict) -> None:
    return None


@dataclass(frozen=True)
class Kind:
    """A kind of transform. ``version`` goes into every cache key: bump it whenever the operation's output
    changes, so cached scores of the old output are not reused."""

    name: str
    version: int
    params: dict[str, Param]
    run: Callable[..., torch.Tensor]  # run(samples, sample_rate, *, seed, label, **params)
    random: bool = False
    description: str = ""
    check_params: Callable[[dict], None] = _no_cross_check
    check_rate: Callable[[dict, int], str | None] = _rates_any


def _codec(x, sr, *, seed, label, format, bit_rate):
    return ops.codec_round_trip(x, sr, codec=format, bit_rate=bit_rate, label=label)


def _pitch(x, sr, *, seed, label, semitones):
    return ops.pitch_shift(x, sr, semitones=semitones)


def _stretch(x, sr, *, seed, label, rate):
    return ops.time_stretch(x, sr, rate=rate)


def _lowpass(x, sr, *, seed, label, cutoff_hz, order):
    return ops.butterworth(x, sr, btype="lowpass", cutoff_hz=cutoff_hz, order=order)


def _highpass(x, sr, *, seed, label, cutoff_hz, order):
    return ops.butterworth(x, sr, btype="highpass", cutoff_hz=cutoff_hz, order=order)


def _resample(x, sr, *, seed, label, rate):
    return ops.resample_round_trip(x, sr, rate=rate)


def _noise(x, sr, *, seed, label, snr_db, color):
    return ops.add_noise(x, sr, snr_db=snr_db, color=color, seed=seed)


def _gain(x, sr, *, seed, label, db):
    return ops.gain(x, sr, db=db)


_CUTOFF = Param(20, 96000, unit="Hz")
_ORDER = Param(1, 16, integer=True, default=8)

KINDS: Registry[Kind] = Registry("kind", {k.name: k for k in (
    Kind("codec", 1, {"format": Param(choices=tuple(ops.CONTAINERS)),
                      "bit_rate": Param(6000, 320000, integer=True, unit="b/s")},
         _codec, description="encode and decode back (MP3, AAC in MP4, Opus in Ogg)", check_params=_codec_params),
    Kind("pitch_shift", 1, {"semitones": Param(-24, 24, unit="semitones")}, _pitch,
         description="phase-vocoder pitch shift at the same duration"),
    Kind("time_stretch", 1, {"rate": Param(0.5, 2.0)}, _stretch,
         description="phase-vocoder tempo change at the same pitch; rate 0.9 plays slower and lasts 1/0.9 as long"),
    Kind("lowpass", 1, {"cutoff_hz": _CUTOFF, "order": _ORDER}, _lowpass,
         description="zero-phase Butterworth low-pass", check_rate=_rates_below_nyquist),
    Kind("highpass", 1, {"cutoff_hz": _CUTOFF, "order": _ORDER}, _highpass,
         description="zero-phase Butterworth high-pass", check_rate=_rates_below_nyquist),
    Kind("resample", 1, {"rate": Param(choices=SAMPLE_RATES)}, _resample,
         description="resample down to a rate and back", check_rate=_rates_resample),
    Kind("noise", 1, {"snr_db": Param(-20, 80, unit="dB"), "color": Param(choices=("white", "pink"),
                                                                          default="white")},
         _noise, random=True, description="add Gaussian noise at an SNR relative to the item's own power"),
    Kind("gain", 1, {"db": Param(-60, 24, unit="dB")}, _gain, description="change the level; never clipped"),
)}, error=ParamError)


def _format(value: Value) -> str:
    return repr(value) if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Transform:
    """A named, validated transform of a suite. ``params`` holds every parameter, defaults filled in."""

    name: str
    kind: str
    family: str
    param_items: tuple[tuple[str, Value], ...]
    description: str = ""

    @property
    def params(self) -> dict[str, Value]:
        return dict(self.param_items)

    @property
    def spec(self) -> Kind:
        return KINDS[self.kind]

    @property
    def key(self) -> str:
        """Kind, kind version and every parameter, sorted: equal keys give equal outputs for equal input and
        seed, whatever the transforms are named.

        >>> make("x", "codec", "codec", {"format": "mp3", "bit_rate": 64000}).key
        'codec@1(bit_rate=64000,format=mp3)'
        >>> make("y", "lowpass", "filter", {"cutoff_hz": 4000}).key
        'lowpass@1(cutoff_hz=4000.0,order=8)'
        """
        inside = ",".join(f"{k}={_format(v)}" for k, v in sorted(self.param_items))
        return f"{self.kind}@{self.spec.version}({inside})"

    @property
    def is_random(self) -> bool:
        """Whether the output depends on ``seed`` (a cache key must then include the item's seed)."""
        return self.spec.random

    @property
    def keeps_length(self) -> bool:
        """Whether the output has as many samples as the input (every kind but ``time_stretch``)."""
        return self.kind != "time_stretch"

    def check_sample_rate(self, sample_rate: int) -> None:
        """Raise :class:`TransformError` when this transform cannot run at ``sample_rate``."""
        try:
            check_rate_known(sample_rate)
        except TransformError as err:
            raise TransformError(f"transform {self.name!r}: {err}") from None
        problem = self.spec.check_rate(self.params, sample_rate)
        if problem:
            raise TransformError(f"transform {self.name!r}: {problem}")

    def apply(self, samples: torch.Tensor, sample_rate: int, *, seed: int) -> torch.Tensor:
        """The transformed copy of ``samples`` (1-D float32 mono at ``sample_rate``), 1-D float32 at the same
        rate; ``samples`` itself is not changed. ``seed`` (see :func:`mom_bench.dataset.transforms.item_seed`)
        drives the only randomness."""
        self._check_input(samples, sample_rate, seed)
        out = self.spec.run(samples.detach().contiguous(), sample_rate, seed=seed, label=f"transform {self.name!r}",
                            **self.params)
        if out.dtype != torch.float32 or out.dim() != 1 or not torch.isfinite(out).all():
            raise TransformError(f"transform {self.name!r}: produced non-finite or malformed samples")
        return out.contiguous()

    def _check_input(self, samples: Any, sample_rate: Any, seed: Any) -> None:
        where = f"transform {self.name!r}"
        if not isinstance(samples, torch.Tensor) or samples.dim() != 1 or samples.dtype != torch.float32:
            shape = (f"{samples.dtype} tensor of shape {tuple(samples.shape)}" if isinstance(samples, torch.Tensor)
                     else type(samples).__name__)
            raise TransformError(f"{where}: expects a 1-D float32 tensor (mono), got a {shape}")
        self.check_sample_rate(sample_rate)
        if samples.numel() == 0:
            raise TransformError(f"{where}: the input has no samples")
        if samples.numel() > MAX_SECONDS * sample_rate:
            raise TransformError(f"{where}: the input lasts {samples.numel() / sample_rate:.1f} s, over the limit "
                                 f"of {MAX_SECONDS:g} s")
        if not torch.isfinite(samples).all():
            raise TransformError(f"{where}: the input has non-finite samples (NaN or infinity)")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise TransformError(f"{where}: seed must be a non-negative integer, got {seed!r}")


def make(name: str, kind: str, family: str, params: dict, description: str = "") -> Transform:
    """Build a transform from plain values, checking the kind and every parameter.

    Raises :class:`ParamError` (unknown kind, unknown or missing parameter, a value outside its range); the
    suite loader turns it into a message with the file and the transform.

    >>> make("p", "pitch_shift", "pitch", {"semitones": 12}).params
    {'semitones': 12.0}
    >>> try:
    ...     make("p", "pitch_shift", "pitch", {"semitones": 30})
    ... except ParamError as err:
    ...     print(err)
    params.semitones: 30 is out of range; use a number from -24 to 24 semitones
    """
    if kind not in KINDS:
        raise ParamError(f"kind: {KINDS.unknown(kind)}")
    spec = KINDS[kind]
    if not isinstance(params, dict):
        raise ParamError(f"params: expected a mapping, got {type(params).__name__}")
    unknown = sorted(str(k) for k in params if k not in spec.params)
    if unknown:
        raise ParamError(f"params: unknown parameter(s) {', '.join(unknown)} for kind {kind!r}; allowed: "
                         + "; ".join(f"{k} ({p.allowed()})" for k, p in spec.params.items()))
    values: dict[str, Value] = {}
    for key, param in spec.params.items():
        if key not in params:
            if param.default is None:
                raise ParamError(f"params: missing {key} ({param.allowed()}) for kind {kind!r}")
            values[key] = param.default
            continue
        try:
            values[key] = param.parse(params[key])
        except ParamError as err:
            raise ParamError(f"params.{key}: {err}") from None
    spec.check_params(values)
    return Transform(name, kind, family, tuple(values.items()), description)
