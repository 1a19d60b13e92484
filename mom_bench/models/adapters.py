"""A detector the user brings: any ``torch.nn.Module`` (or plain callable ``waves -> logits``) that declares
``sample_rate`` and ``clip``, seen through the same interface as a registry detector."""
from __future__ import annotations

from typing import Any

import torch

from mom_bench.core.audio import ClipPolicy, parse_clip, sample_rate_problem
from mom_bench.core.errors import NotADetector
from mom_bench.models.base import Detector


class UserDetector(Detector):
    """Wraps a user's module or callable. ``forward`` calls it; parameters, ``.to()`` and ``.eval()`` reach a
    wrapped module. The config records the class, so results say what was evaluated."""

    def __init__(self, inner: Any):
        missing = [a for a in ("sample_rate", "clip") if getattr(inner, a, None) is None]
        if missing or not callable(inner):
            what = f"has no {' or '.join(missing)}" if missing else "is not callable"
            raise NotADetector(f"{type(inner).__name__} {what}: a detector is a torch.nn.Module or callable mapping "
                               "waveforms [B, T] to logits [B], with attributes sample_rate (Hz) and clip "
                               "(e.g. 'first:10' or 'full')")
        try:
            clip = inner.clip if isinstance(inner.clip, ClipPolicy) else parse_clip(str(inner.clip))
            rate = int(inner.sample_rate)
        except (TypeError, ValueError, OverflowError) as err:
            raise NotADetector(f"{type(inner).__name__}: bad sample_rate or clip ({err})") from None
        # Bounded here, where the value enters: decoding at 10**9 Hz would fail far later, looking like bad data.
        if (problem := sample_rate_problem(rate)) is not None:
            raise NotADetector(f"{type(inner).__name__}: {problem}")
        name = str(getattr(inner, "name", None) or type(inner).__name__)
        cls = type(inner)
        super().__init__({"model": name, "sample_rate": rate, "clip": str(clip),
                          "class": f"{cls.__module__}:{cls.__qualname__}"})
        if isinstance(inner, torch.nn.Module):
            self.inner = inner
        else:
            self._callable = inner

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        fn = self.inner if "inner" in self._modules else self._callable
        return torch.as_tensor(fn(wave))


def as_detector(model: Any) -> Detector:
    """``model`` itself when it is a mom-bench :class:`Detector`, else a :class:`UserDetector` around it."""
    return model if isinstance(model, Detector) else UserDetector(model)
