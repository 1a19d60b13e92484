"""Where and how a command runs, resolved once at its entry point: the torch device, this process's part of the
job (a launcher's rank or a scheduler's shard), the numeric precision, the decode workers and the batch size.

``train``, ``evaluate``, ``extract`` and ``predict`` build one :class:`Runtime` from their keyword arguments and
hand it down, so the device is chosen, the launcher's process group joined and the precision checked in one
place (and a bad device name or precision is refused before any work is done).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Union

from mom_bench.core import distributed
from mom_bench.core import precision as P
from mom_bench.core.distributed import Part
from mom_bench.core.errors import DeviceError as DeviceError  # raised here

if TYPE_CHECKING:  # torch is imported where a device is picked, not on import
    import torch

#: a device as callers name it: a torch.device, a name such as "cuda:1", or None for the default
DeviceLike = Union["torch.device", str, None]


def pick_device(device: DeviceLike = None) -> torch.device:
    """``device`` as a ``torch.device``; default: CUDA when available, else the CPU. A name torch does not
    know, or CUDA where there is none, is refused here, before any work is done."""
    import torch

    if not device:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise DeviceError(f"device {device!r} is not a torch device name (e.g. cpu, cuda, cuda:1)") from None
    if chosen.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {device!r}: CUDA is not available on this machine; use --device cpu")
        if chosen.index is not None and chosen.index >= torch.cuda.device_count():
            raise DeviceError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                              f"numbered from 0")
    return chosen


@dataclass(frozen=True)
class Runtime:
    """How this process runs a command. ``device`` is a ``torch.device``; ``requested`` is the device the
    caller named (None: the default), which decides whether an object handed in is moved; ``precision`` is
    concrete (``auto`` already made fp32/bf16/fp16 for ``device``); ``started`` is True when this runtime
    joined the launcher's process group itself (and so must leave it)."""

    device: torch.device
    part: Part = Part()
    precision: str = "fp32"
    num_workers: int = 0
    batch_size: int = 8
    requested: DeviceLike = None
    started: bool = False
    #: the precision as asked for, kept so :meth:`on` can resolve ``auto`` again for another device
    precision_request: str | None = "fp32"

    @classmethod
    def resolve(cls, device: DeviceLike = None, *, precision: str | None = "fp32", num_workers: int = 0,
                batch_size: int = 8, num_shards: int | None = None, shard_index: int | None = None,
                join: bool = True) -> Runtime:
        """The runtime of this process. Under a distributed launcher the device is the rank's own GPU
        (:func:`mom_bench.core.distributed.local_device`) and, with ``join``, the process group is joined here."""
        part = distributed.part(num_shards, shard_index)
        requested = distributed.local_device(device)
        chosen = pick_device(requested)  # a bad name is refused before the process group is joined
        started = False
        if join and part.distributed:
            import torch.distributed as dist

            started = not dist.is_initialized()
            distributed.init(requested)
        return cls(device=chosen, part=part, precision=P.resolve(precision, chosen), num_workers=num_workers,
                   batch_size=batch_size, requested=requested, started=started, precision_request=precision)

    def on(self, device: torch.device) -> Runtime:
        """This runtime for a model that lives on ``device`` (an object handed in and left where it was):
        the precision is checked, and ``auto`` resolved, for that device."""
        return replace(self, device=device, precision=P.resolve(self.precision_request, device))

    def leave(self, wait: bool = True) -> None:
        """Leave the process group if this runtime joined it (``wait``: together with the other ranks)."""
        if self.started:
            distributed.shutdown(wait=wait)
