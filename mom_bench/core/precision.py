"""Numeric precision of inference and feature extraction: ``fp32`` (the default, the papers' configuration),
``bf16`` and ``fp16`` (CUDA only) through ``torch.autocast``, and ``auto``.

Autocast runs matrix multiplies and convolutions in the reduced type and leaves precision-sensitive work
(normalisation, softmax, reductions) in fp32; outputs (features, logits) are stored as fp32. The chosen
precision is part of the feature cache key and of ``results.json``, so features and scores made in bf16 are
never mixed with fp32 ones. How much each changes the numbers, and what it gains on which CPU, is in
docs/scaling.md.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from mom_bench.core.errors import PrecisionError

PRECISIONS = ("fp32", "bf16", "fp16", "auto")


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 matrices in hardware (AMX-BF16 or AVX512-BF16): where bf16 autocast
    can pay on the CPU. Without it, oneDNN emulates bf16 and autocast is usually slower than fp32."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags.split() for flag in ("amx_bf16", "avx512_bf16"))


def resolve(precision: str | None, device: Any) -> str:
    """``precision`` checked for ``device`` (a torch device or its name), with ``auto`` made concrete: bf16 on
    a CUDA device that supports it or a CPU with native bf16, else fp32."""
    import torch

    name = (precision or "fp32").lower()
    if name not in PRECISIONS:
        raise PrecisionError(f"unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    kind = torch.device(device).type if device is not None else "cpu"
    if name == "auto":
        if kind == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "bf16" if kind == "cpu" and cpu_has_native_bf16() else "fp32"
    if name == "fp16" and kind != "cuda":
        raise PrecisionError("--precision fp16 needs a CUDA device (CPU autocast supports bf16 only); use bf16 "
                             "or fp32")
    return name


def autocast(precision: str, device: Any) -> contextlib.AbstractContextManager[Any]:
    """The autocast context for a resolved ``precision`` on ``device`` (a no-op for fp32)."""
    import torch

    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    return torch.autocast(torch.device(device).type, dtype=dtype)

