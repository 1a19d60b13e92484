"""A validator of the detector contract (the idea of the HEAR validator): ``mom-bench models --check``.

Every benchmark run relies on a few properties of a detector that no type can state: one floating logit per
item, finite for any input (silence included), the same output for the same input, an item's score that does
not depend on its batch-mates (the last batch of a split is smaller than the others), and, for registry
detectors, weights that survive a save and a reload. :func:`check_detector` feeds white noise, silence and a
tone at the detector's declared sample rate and reports one verdict per property; every check runs, even after
another failed, so a report lists all that is wrong at once.

Inputs are short: the declared clip length capped at :data:`MAX_SECONDS`, so a 120 s SpecTTTra row is checked
in seconds. A model that refuses the short input (one built for exactly its clip length) is checked at its
clip length instead; the report states the length used.
"""
from __future__ import annotations

import importlib
import itertools
import math
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import torch

from mom_bench.core.audio import ClipPolicy, parse_clip, sample_rate_problem
from mom_bench.core.errors import TargetError
from mom_bench.models import registry
from mom_bench.models.base import Detector
from mom_bench.models.checkpoints import CheckpointError

#: Longest input fed (seconds) unless the model refuses shorter ones.
MAX_SECONDS = 5.0
#: Tolerance of every comparison, times the logit scale max(1, |logit|): float32 kernels may sum in another
#: order for another batch size, a batch-mate's leak is orders of magnitude larger.
TOLERANCE = 1e-4
# Input lengths around the one used: an off-by-one in framing or padding shows up here.
_ODD_OFFSETS = (-3, 5)
_ODD_FRACTION = 0.77
_ITEMS = ("noise", "silence", "tone")
_DETAIL_CHARS = 240

# What a forward pass gave: the logits, or the exception it raised.
Outcome: TypeAlias = torch.Tensor | Exception
# What a check found: passed (True), failed (False) or does not apply (None), and why.
Verdict: TypeAlias = tuple[bool | None, str]


@dataclass(frozen=True)
class CheckResult:
    """One verdict. ``skipped`` checks did not apply (a plain callable has no save/load) and count as ok."""

    name: str
    ok: bool
    detail: str
    skipped: bool = False

    @property
    def verdict(self) -> str:
        return "SKIP" if self.skipped else "PASS" if self.ok else "FAIL"

    def line(self) -> str:
        return f"{self.verdict} {self.name}: {self.detail}"


@dataclass
class CheckReport:
    """The verdicts on one detector (``target`` names it as the user gave it)."""

    target: str
    results: list[CheckResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def skipped(self) -> bool:
        """True when nothing was checked (a registry row that cannot be built here)."""
        return bool(self.results) and all(r.skipped for r in self.results)

    @property
    def failed(self) -> list[CheckResult]:
        return [r for r in self.results if not r.ok]

    def lines(self) -> list[str]:
        return [r.line() for r in self.results]

    def summary(self) -> str:
        """The final verdict, one line."""
        if self.skipped:
            return f"SKIP {self.target}: {self.results[0].detail}"
        if self.ok:
            n_skip = sum(r.skipped for r in self.results)
            return (f"PASS {self.target}: {len(self.results) - n_skip} checks passed"
                    + (f", {n_skip} not applicable" if n_skip else ""))
        names = ", ".join(r.name for r in self.failed)
        return f"FAIL {self.target}: {len(self.failed)} of {len(self.results)} checks failed ({names})"

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "verdict": "SKIP" if self.skipped else "PASS" if self.ok else "FAIL",
                "checks": [{"name": r.name, "verdict": r.verdict, "detail": r.detail} for r in self.results]}

    def __str__(self) -> str:
        return "\n".join([*self.lines(), self.summary()])


class _CannotRun(Exception):
    """A check whose input is missing (forward raised, wrong shape); its message is the FAIL detail."""


# --------------------------------------------------------------------------------------------------
# Resolving what the user names


def resolve_target(spec: str, benchmark: str | None = None) -> Any:
    """The detector ``spec`` names: a saved detector folder (loaded with :func:`registry.load`), a Hub audio
    classifier ``hf:<id or folder>[@revision]``, ``module:Class`` or ``module:function`` (instantiated or called
    with no arguments), or a registry name (built with :func:`registry.create`, resolved on ``benchmark``)."""
    text = spec.strip()
    if not text:
        raise TargetError("nothing to check: give a registry name, module:Class or a saved detector folder")
    if Path(text).expanduser().exists():
        return registry.load(Path(text).expanduser())
    if text.startswith("hf:"):  # a transformers audio classifier, from the Hub or a folder
        return registry.load(text)
    if ":" in text:
        return _import_target(text)
    if "/" in text or "\\" in text or text.startswith((".", "~")):
        raise TargetError(f"{text}: no such folder (a saved detector folder holds config.json and "
                          "model.safetensors)")
    try:
        return registry.create(text, benchmark)
    except registry.UnknownModelError as err:
        raise TargetError(f"{err} Besides registry names, give module:Class, module:function or the folder of "
                          "a saved detector.") from None


def _import_target(text: str) -> Any:
    module_name, _, attr = text.partition(":")
    if not module_name or not attr:
        raise TargetError(f"{text}: give module:Class or module:function (e.g. my_package.detector:MyDetector)")
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        raise TargetError(f"{text}: cannot import {module_name!r} ({err}); is its folder on PYTHONPATH?") from None
    except Exception as err:
        raise TargetError(f"{text}: importing {module_name!r} raised {_describe_error(err)}") from err
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise TargetError(f"{text}: {module_name} has no attribute {attr!r}")
        obj = getattr(obj, part)
    detector = _instantiate(text, obj)
    gaps = _contract_gaps(detector)
    if gaps:
        raise TargetError(f"{text} gave a {type(detector).__name__}, not a detector: {gaps}")
    return detector


def _instantiate(text: str, obj: Any) -> Any:
    # An object that already is a detector (an instance, or a function with sample_rate/clip set) is used as
    # is; a class or a factory is called with no arguments.
    if not isinstance(obj, type) and not _contract_gaps(obj):
        return obj
    if not callable(obj):
        raise TargetError(f"{text}: a {type(obj).__name__}, neither a class, a function nor a detector")
    hint = (" Registry detectors need a config: check them by registry name." if isinstance(obj, type)
            and issubclass(obj, Detector) else "")
    try:
        return obj()
    except Exception as err:
        raise TargetError(f"{text}: calling it with no arguments raised {_describe_error(err)}.{hint}") from err


def _contract_gaps(obj: Any) -> str:
    """What ``obj`` lacks to be a detector, or "" if nothing."""
    gaps = [f"no {a}" for a in ("sample_rate", "clip") if not hasattr(obj, a)]
    if not callable(obj):
        gaps.append("not callable")
    return ", ".join(gaps)


# --------------------------------------------------------------------------------------------------
# The checks


def check_detector(model: Callable[[torch.Tensor], torch.Tensor], *, seed: int = 0, save_load: bool = True,
                   target: str | None = None) -> CheckReport:
    """Check ``model`` against the detector contract; see the module docstring. The model is run in eval
    mode and inference mode with fixed seeds; its training flag and the caller's random state are restored."""
    report = CheckReport(target or _name_of(model))
    module = model if isinstance(model, torch.nn.Module) else None
    was_training = module.training if module is not None else False
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            if module is not None:
                module.eval()
            ctx = _Context(model, seed, save_load)
            for name, check in _CHECKS:
                report.results.append(_run_check(name, check, ctx))
    finally:
        if module is not None:
            module.train(was_training)
    return report


def _name_of(model: Any) -> str:
    name = getattr(model, "name", None)
    return name if isinstance(name, str) else getattr(model, "__qualname__", None) or type(model).__name__


def _run_check(name: str, check: Callable[[_Context], Verdict], ctx: _Context) -> CheckResult:
    try:
        ok, detail = check(ctx)
    except _CannotRun as err:
        return CheckResult(name, False, f"cannot run: {err}")
    except Exception as err:  # a check's own failure is a verdict too, never a crash of the report
        return CheckResult(name, False, _describe_error(err))
    return CheckResult(name, ok is not False, detail, skipped=ok is None)


class _Context:
    """The model, its declared contract and the forward passes that several checks share."""

    def __init__(self, model: Callable[[torch.Tensor], torch.Tensor], seed: int, save_load: bool):
        self.model = model
        self.save_load = save_load
        self.rate, self.clip, self.contract_error = _declared(model)
        self.device = _device_of(model)
        self.seed = seed
        self.length: int | None = None
        self.refused_short = False
        self.batch: Outcome = _CannotRun(self.contract_error or "no input length chosen yet")
        self._signals: torch.Tensor | None = None

    def require_contract(self) -> tuple[int, ClipPolicy]:
        if self.rate is None or self.clip is None:
            raise _CannotRun(self.contract_error)
        return self.rate, self.clip

    def signals(self, length: int) -> torch.Tensor:
        """``[3, length]``: white noise, silence and a 440 Hz tone. Generated once at the longest length any
        check uses and sliced, since a seeded randn of another size need not start with the same values."""
        rate, clip = self.require_contract()
        if self._signals is None:
            longest = max(int(round(MAX_SECONDS * rate)), clip.n_samples(rate) or 0) + max(_ODD_OFFSETS)
            gen = torch.Generator().manual_seed(self.seed)
            noise = 0.1 * torch.randn(longest, generator=gen)
            t = torch.arange(longest, dtype=torch.float64) / rate
            tone = (0.3 * torch.sin(2 * math.pi * 440.0 * t)).to(torch.float32)
            self._signals = torch.stack([noise, torch.zeros(longest), tone])
        if length > self._signals.shape[-1]:
            raise _CannotRun(f"no test signal of {length} samples")  # pragma: no cover - lengths are bounded
        return self._signals[:, :length].contiguous()

    def forward(self, wave: torch.Tensor, model: Callable[[torch.Tensor], torch.Tensor] | None = None) -> Outcome:
        return _forward(self.model if model is None else model, wave.to(self.device))

    def require_batch(self) -> torch.Tensor:
        """The logits of the mixed batch (noise, silence, tone) at the chosen length."""
        if isinstance(self.batch, Exception):
            raise _CannotRun(_describe_outcome(self.batch))
        return self.batch


def _declared(model: Any) -> tuple[int | None, ClipPolicy | None, str]:
    if not callable(model):
        return None, None, (f"{type(model).__name__} object is not callable (a detector maps waves [B, T] to "
                            "logits [B])")
    rate = getattr(model, "sample_rate", None)
    if (problem := sample_rate_problem(rate)) is not None:
        return None, None, problem
    try:
        clip = parse_clip(model.clip)
    except AttributeError:
        return None, None, "no clip policy (model.clip, e.g. 'first:10')"
    except (ValueError, TypeError) as err:
        return None, None, f"bad clip: {err}"
    return rate, clip, ""


def _device_of(model: Any) -> torch.device:
    if isinstance(model, torch.nn.Module):
        tensor = next(itertools.chain(model.parameters(), model.buffers()), None)
        if tensor is not None:
            return tensor.device
    return torch.device("cpu")


def _forward(model: Callable[[torch.Tensor], torch.Tensor], wave: torch.Tensor) -> Outcome:
    try:
        with torch.inference_mode():
            out = model(wave)
    except Exception as err:
        return err
    if not isinstance(out, torch.Tensor):
        return TypeError(f"forward returned a {type(out).__name__}, not a torch.Tensor")
    return out.detach().cpu()


# ---- the checks, in report order: each returns a Verdict, or raises _CannotRun when its input is missing


def _check_contract(ctx: _Context) -> Verdict:
    if ctx.contract_error:
        return False, ctx.contract_error
    rate, clip = ctx.require_contract()
    kind = "nn.Module" if isinstance(ctx.model, torch.nn.Module) else "plain callable"
    return True, f"{rate} Hz, clip {clip}, {kind}"


def _check_length(ctx: _Context) -> Verdict:
    rate, clip = ctx.require_contract()
    n_clip = clip.n_samples(rate)
    cap = int(round(MAX_SECONDS * rate))
    short = cap if n_clip is None else min(n_clip, cap)
    refusals: list[str] = []
    for length in dict.fromkeys([short] + ([n_clip] if n_clip else [])):
        outcome = ctx.forward(ctx.signals(length))
        if not isinstance(outcome, Exception):
            ctx.length, ctx.batch, ctx.refused_short = length, outcome, bool(refusals)
            return True, _length_note(length, rate, clip, n_clip, cap, refusals)
        refusals.append(f"{_seconds(length, rate)} raised {_describe_error(outcome)}")
        ctx.batch = outcome
    return False, "forward raised at every length tried: " + "; ".join(refusals)


def _length_note(length: int, rate: int, clip: ClipPolicy, n_clip: int | None, cap: int,
                 refusals: list[str]) -> str:
    note = f"{length} samples ({_seconds(length, rate)} at {rate} Hz"
    if refusals:
        return note + f", the clip length; {refusals[0]})"
    if n_clip is not None and length == n_clip:
        return note + ", the clip length)"
    return note + f"; clip {clip}, capped to {MAX_SECONDS:g} s for speed)"


def _check_shape(ctx: _Context) -> Verdict:
    out = ctx.require_batch()
    b = len(_ITEMS)
    got = f"{list(out.shape)} {str(out.dtype).removeprefix('torch.')}"
    if tuple(out.shape) != (b,):
        return False, f"{got}, expected [{b}] (one logit per item of a batch of {b})"
    if not out.is_floating_point():
        return False, f"{got}: logits must be floating point"
    return True, got


def _check_finite(ctx: _Context) -> Verdict:
    out = ctx.require_batch()
    finite = torch.isfinite(out)
    if bool(finite.all()):
        return True, f"all {out.numel()} logits finite ({', '.join(_ITEMS)})"
    if tuple(out.shape) == (len(_ITEMS),):
        bad = [f"{v:g} for {item}" for item, v, f in zip(_ITEMS, out.tolist(), finite.tolist()) if not f]
        return False, ", ".join(bad)
    return False, f"{int((~finite).sum())} of {out.numel()} values are not finite"


def _check_determinism(ctx: _Context) -> Verdict:
    first = ctx.require_batch()
    second = ctx.forward(ctx.signals(_need_length(ctx)))
    if isinstance(second, Exception):
        return False, f"the second call {_describe_outcome(second)}"
    return _same_output(first, second, "same input twice")


def _same_output(before: torch.Tensor, after: torch.Tensor, what: str) -> Verdict:
    """Whether two outputs for the same input agree within the tolerance, said as ``what: ...``."""
    if after.shape != before.shape:
        return False, f"{what}: shape {list(after.shape)}, before {list(before.shape)}"
    diff, tol = _max_diff(before, after)
    verdict = "<=" if diff <= tol else ">"
    return diff <= tol, f"{what}: max |diff| {diff:.3g} {verdict} tol {tol:.3g}"


def _check_batch_independence(ctx: _Context) -> Verdict:
    batch = _per_item(ctx.require_batch(), len(_ITEMS), "the batch")
    signals = ctx.signals(_need_length(ctx))
    alone = []
    for i, item in enumerate(_ITEMS):
        out = ctx.forward(signals[i:i + 1])
        if isinstance(out, Exception):
            return False, f"{item} alone: {_describe_outcome(out)}"
        alone.append(_per_item(out, 1, f"{item} alone")[0])
    singles = torch.stack(alone)
    _, tol = _max_diff(batch, singles)
    diffs = [_max_diff(batch[i:i + 1], singles[i:i + 1])[0] for i in range(len(_ITEMS))]
    i = max(range(len(_ITEMS)), key=lambda k: diffs[k])
    if diffs[i] <= tol:
        return True, (f"each item alone scores as in a batch of {', '.join(_ITEMS)}: max |diff| {diffs[i]:.3g} "
                      f"<= tol {tol:.3g}")
    return False, (f"item {i} ({_ITEMS[i]}) alone {float(singles[i]):.4g} vs in a batch {float(batch[i]):.4g} "
                   f"(max |diff| {diffs[i]:.3g} > tol {tol:.3g}): a score must not depend on its batch-mates")


def batch_dependence(model: Callable[[torch.Tensor], torch.Tensor], waves: torch.Tensor) -> str | None:
    """What breaks the contract when ``model`` scores ``waves`` ``[B, T]`` (real songs, say) as one batch and
    each alone: a wrong output shape, or an item whose score depends on its batch-mates; None when neither.
    The check :func:`check_detector` makes on synthetic signals, on the caller's inputs."""
    n = len(waves)
    batch = _forward(model, waves)
    if isinstance(batch, Exception):
        return f"a batch of {n} {_describe_outcome(batch)}"
    if tuple(batch.shape) not in ((n,), (n, 1)):
        return f"a batch of {n} songs gave logits of shape {list(batch.shape)}; a detector returns one logit per " \
               f"song, shape [{n}]"
    alone = []
    for i in range(n):
        out = _forward(model, waves[i:i + 1])
        if isinstance(out, Exception) or out.numel() != 1:
            return f"song {i} alone " + (_describe_outcome(out) if isinstance(out, Exception)
                                         else f"gave shape {list(out.shape)}, not [1]")
        alone.append(out.reshape(()))
    together, singles = batch.reshape(-1), torch.stack(alone)
    diffs = [_max_diff(together[i:i + 1], singles[i:i + 1]) for i in range(n)]
    i = max(range(n), key=lambda k: diffs[k][0] - diffs[k][1])
    diff, tol = diffs[i]
    if diff <= tol:
        return None
    return (f"song {i} scores {float(singles[i]):.4g} alone but {float(together[i]):.4g} in a batch of {n} "
            f"(|diff| {diff:.3g} > tol {tol:.3g}): a score must not depend on its batch-mates")


def _check_odd_lengths(ctx: _Context) -> Verdict:
    rate, clip = ctx.require_contract()
    length = _need_length(ctx)
    fixed = clip.n_samples(rate) is not None
    if ctx.refused_short and fixed:
        return None, (f"not fed: the model refused shorter input, and clip {clip} pads or crops every input "
                      f"to {length} samples")
    lengths = [length + k for k in _ODD_OFFSETS] + [int(length * _ODD_FRACTION) + 1]
    signals = ctx.signals(max(lengths))[[0, 2]]  # noise and tone
    for n in lengths:
        out = ctx.forward(signals[:, :n])
        if isinstance(out, Exception):
            if fixed:  # the clip policy only ever feeds its own length: a refusal is allowed
                return None, (f"not required: {n} samples {_describe_outcome(out)}, but clip {clip} pads or crops "
                              f"every input to {clip.n_samples(rate)} samples")
            return False, f"{n} samples {_describe_outcome(out)} (clip {clip} feeds whole songs of any length)"
        if tuple(out.shape) != (2,) or not bool(torch.isfinite(out).all()):
            return False, f"{n} samples gave {_summarise(out)}, expected 2 finite logits"
    return True, f"{', '.join(map(str, lengths))} samples each give 2 finite logits"


def _check_save_load(ctx: _Context) -> Verdict:
    if not ctx.save_load:
        return None, "not requested"
    model = ctx.model
    if not hasattr(model, "save_pretrained"):
        return None, "no save_pretrained (nothing to round-trip)"
    before = ctx.require_batch()
    with tempfile.TemporaryDirectory(prefix="mom-bench-check-") as folder:
        model.save_pretrained(folder)
        reloaded, how = _reload(model, Path(folder))
    if isinstance(reloaded, torch.nn.Module):
        reloaded.to(ctx.device).eval()
    after = ctx.forward(ctx.signals(_need_length(ctx)), reloaded)
    if isinstance(after, Exception):
        return False, f"reloaded with {how}, the model {_describe_outcome(after)}"
    return _same_output(before, after, f"reloaded with {how}")


def _reload(model: Any, folder: Path) -> tuple[Any, str]:
    name = getattr(model, "config", {}).get("model") if isinstance(model, Detector) else None
    if name is not None and _registered(name):
        return registry.load(folder), "mom_bench.models.registry.load"
    if not hasattr(type(model), "from_pretrained"):
        raise _CannotRun("save_pretrained but no from_pretrained to reload with")
    return type(model).from_pretrained(str(folder)), f"{type(model).__name__}.from_pretrained"


def _registered(name: str) -> bool:
    try:
        registry.resolve(name)
    except registry.UnknownModelError:
        return False
    return True


_CHECKS: list[tuple[str, Callable[[_Context], Verdict]]] = [
    ("contract", _check_contract),
    ("input length", _check_length),
    ("output shape", _check_shape),
    ("finite values", _check_finite),
    ("determinism", _check_determinism),
    ("batch independence", _check_batch_independence),
    ("odd lengths", _check_odd_lengths),
    ("save/load", _check_save_load),
]


# ---- helpers


def _need_length(ctx: _Context) -> int:
    if ctx.length is None:
        raise _CannotRun(_describe_outcome(ctx.batch))
    return ctx.length


def _per_item(out: torch.Tensor, n: int, what: str) -> torch.Tensor:
    if tuple(out.shape) != (n,):
        raise _CannotRun(f"{what} gave shape {list(out.shape)}, not [{n}]")
    return out.to(torch.float64)


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """Largest absolute difference and the tolerance at this logit scale. Equal non-finite values (the same
    inf, NaN and NaN) count as equal, so that a non-finite output fails the finite check only."""
    a, b = a.to(torch.float64).flatten(), b.to(torch.float64).flatten()
    if not a.numel():
        return 0.0, TOLERANCE
    finite = torch.isfinite(a) & torch.isfinite(b)
    same = (a == b) | (torch.isnan(a) & torch.isnan(b))
    diff = torch.where(finite, (a - b).abs(), torch.where(same, 0.0, math.inf))
    values = torch.cat([a[finite], b[finite]])
    scale = max(1.0, float(values.abs().max())) if values.numel() else 1.0
    return float(diff.max()), TOLERANCE * scale


def _summarise(out: torch.Tensor) -> str:
    values = ", ".join(f"{v:.4g}" for v in out.flatten()[:4].tolist()) + (", ..." if out.numel() > 4 else "")
    return f"shape {list(out.shape)} [{values}]"


def _seconds(n: int, rate: int) -> str:
    return f"{n / rate:g} s"


def _describe_error(err: BaseException) -> str:
    text = " ".join(str(err).split())
    if len(text) > _DETAIL_CHARS:
        text = text[:_DETAIL_CHARS - 3] + "..."
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _describe_outcome(outcome: Outcome | Exception) -> str:
    if isinstance(outcome, _CannotRun):
        return str(outcome)
    return f"raised {_describe_error(outcome)}" if isinstance(outcome, Exception) else "ran"


# --------------------------------------------------------------------------------------------------
# Every registry row


def check_registry(*, seed: int = 0, save_load: bool = True) -> Iterator[CheckReport]:
    """One report per registry row (plugins included), in registry order. A row that cannot be built here
    because a pretrained checkpoint is absent (offline) is a SKIP, any other build failure a FAIL."""
    for spec in registry.list_models():
        try:
            model = registry.create(spec.name)
        except CheckpointError as err:
            yield CheckReport(spec.name, [CheckResult("build", True, _describe_error(err), skipped=True)])
            continue
        except Exception as err:
            yield CheckReport(spec.name, [CheckResult("build", False, f"create({spec.name!r}) raised "
                                                                      f"{_describe_error(err)}")])
            continue
        yield check_detector(model, seed=seed, save_load=save_load, target=spec.name)
