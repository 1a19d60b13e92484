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
import logging
from pathlib import Path
from typing import Any

from mom_bench.core.errors import PrecisionError

PRECISIONS = ("fp32", "bf16", "fp16", "auto")
#: CPU flags of hardware bf16 matrix multiplies (Linux /proc/cpuinfo names).
NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16")

log = logging.getLogger(__name__)
_warned: set[str] = set()


def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool:
    """Whether this CPU (or the one ``cpuinfo``, a /proc/cpuinfo text, describes) multiplies bf16 matrices in
    hardware (AMX-BF16 or AVX512-BF16): where bf16 autocast can pay on the CPU. Without it, oneDNN emulates
    bf16 and autocast is usually slower than fp32."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return False
    words = set(cpuinfo.split())
    return any(flag in words for flag in NATIVE_BF16_FLAGS)


def emulated_bf16_warning(cpuinfo: str | None = None) -> str | None:
    """The warning for bf16 asked for explicitly on a CPU without native bf16 (None when it has it): the
    emulation makes such runs many times slower than fp32, which nothing else would tell the user."""
    if cpu_has_native_bf16(cpuinfo):
        return None
    return ("bf16 was asked for, but this CPU has no native bf16 (neither " + " nor ".join(NATIVE_BF16_FLAGS)
            + " in /proc/cpuinfo): it is emulated and usually many times slower than fp32 (docs/scaling.md); "
            "use fp32 here, or --precision auto, which picks bf16 only where the hardware has it")


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
    if name == "bf16" and kind == "cpu" and "bf16" not in _warned:
        warning = emulated_bf16_warning()
        if warning is not None:
            _warned.add("bf16")  # once per process: resolve runs again for every split and device move
            log.warning(warning)
    if name == "fp16" and kind != "cuda":
        raise PrecisionError("--precision fp16 needs a CUDA device (CPU autocast supports bf16 only); use bf16 "
                             "or fp32")
    return name


def torch_dtype(precision: str) -> Any:
    """The autocast dtype of a resolved ``precision`` (None for fp32)."""
    import torch

    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def autocast(precision: str, device: Any) -> contextlib.AbstractContextManager[Any]:
    """The autocast context for a resolved ``precision`` on ``device`` (a no-op for fp32)."""
    import torch

    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    return torch.autocast(torch.device(device).type, dtype=dtype)

