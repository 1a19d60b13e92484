"""Which part of a job this process does: torch.distributed ranks (``torchrun``, ``accelerate launch``) or a
scheduler's array index (``--num-shards K --shard-index I``), and the deterministic split of a row list
between them.

mom-bench has no process manager of its own: a launcher starts the processes and sets ``WORLD_SIZE``,
``RANK`` and ``LOCAL_RANK`` (torchrun, accelerate and SLURM's ``srun`` through them all do), and
:func:`init` joins them into one process group (gloo on the CPU, NCCL on CUDA). Without a launcher, a run
is one process and every collective here is a no-op, so the same code serves both.

Rows are split into **contiguous blocks of whole batches** in the stored order of the split (the order the
build wrote, fixed by its fingerprint, identical on every rank): part ``i`` of ``k`` holds batches
``[i * nb / k, (i + 1) * nb / k)`` of the split's ``nb`` batches. Because the blocks start on the batch grid
of a single-process run, every song is encoded with the same batch-mates as in one process, so merged features
are bit-identical to a one-process run (at equal intra-op thread counts; torchrun sets one thread per process).
No row is repeated to even out the parts, so gathered predictions never hold duplicates.
"""
from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from mom_bench.core.errors import RankStopped, ShardError

_T = TypeVar("_T")


@dataclass(frozen=True)
class Part:
    """Part ``index`` of ``count`` of a job; ``distributed`` when the parts are ranks of one process group."""

    index: int = 0
    count: int = 1
    distributed: bool = False

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ShardError(f"--num-shards must be at least 1 (got {self.count})")
        if not 0 <= self.index < self.count:
            raise ShardError(f"--shard-index must be in 0..{self.count - 1} for --num-shards {self.count} "
                             f"(got {self.index})")

    @property
    def whole(self) -> bool:
        return self.count == 1

    @property
    def main(self) -> bool:
        """The process that merges, scores and writes results (rank 0, or the only one)."""
        return self.index == 0 or not self.distributed

    @property
    def rank(self) -> int:
        """This process's rank in the launcher's process group (0 for a shard or a single process)."""
        return self.index if self.distributed else 0

    @property
    def world(self) -> int:
        """Processes in the launcher's process group (1 for a shard or a single process)."""
        return self.count if self.distributed else 1

    def on_main(self, fn: Callable[[], _T], error: type[Exception] = RankStopped) -> _T:
        """``fn()`` run by rank 0 alone (the one that writes files), its result shared with every rank. The
        others wait here while rank 0 works, and stop with rank 0's error (raised as ``error``) instead of
        waiting for it at a later collective until the group's timeout."""
        if self.world == 1:
            return fn()
        import torch.distributed as dist

        box: list[Any] = [None]
        failure: BaseException | None = None
        if self.main:
            try:
                box = [("ok", fn())]
            except Exception as err:  # shared first, then raised here as itself
                failure, box = err, [("error", f"{type(err).__name__}: {err}")]
        dist.broadcast_object_list(box, src=0)
        if failure is not None:
            raise failure
        status, value = box[0]
        if status == "error":
            raise error(f"rank 0 stopped the run: {value}")
        return cast(_T, value)  # rank 0's fn() result, unpickled: the broadcast list holds any object

    def batch_range(self, n_rows: int, batch_size: int) -> tuple[int, int]:
        """Rows ``[start, stop)`` of this part, in stored order: a contiguous block of whole batches."""
        return block(n_rows, batch_size, self.index, self.count)

    def label(self) -> str:
        if self.whole:
            return "one process"
        kind = "rank" if self.distributed else "shard"
        return f"{kind} {self.index} of {self.count}"


def block(n_rows: int, batch_size: int, index: int, count: int) -> tuple[int, int]:
    """Rows ``[start, stop)`` of part ``index`` of ``count`` of ``n_rows`` rows cut into batches of
    ``batch_size`` (the last batch may be short; a part may be empty when there are fewer batches than parts)."""
    if batch_size < 1:
        raise ShardError(f"batch size must be at least 1 (got {batch_size})")
    n_batches = -(-n_rows // batch_size)
    first = index * n_batches // count
    last = (index + 1) * n_batches // count
    return min(first * batch_size, n_rows), min(last * batch_size, n_rows)


def rank_slice(size: int, rank: int, world: int) -> tuple[int, int]:
    """Rows ``[lo, hi)`` of a global batch of ``size`` rows that rank ``rank`` of ``world`` trains on: contiguous
    and as even as possible (the first ``size % world`` ranks hold one row more; a rank may hold none)."""
    base, extra = divmod(size, world)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (1 if rank < extra else 0)


def launched() -> bool:
    """Whether a launcher started this process as one of several ranks."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1) > 1


#: The variables a launcher sets that make a process one rank of several.
_LAUNCH_VARIABLES = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE")


@contextlib.contextmanager
def alone() -> Iterator[None]:
    """Run the block as the only process: for rank 0 carrying a job on by itself once the other ranks have done
    their part and left the group (a head on cached features trains in seconds on one process; waiting ranks
    would only risk the group's timeout). Inside, :func:`part` is the whole job and nothing joins a group."""
    saved = {k: os.environ.get(k) for k in _LAUNCH_VARIABLES}
    os.environ.update(WORLD_SIZE="1", RANK="0", LOCAL_RANK="0", LOCAL_WORLD_SIZE="1")
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def part(num_shards: int | None = None, shard_index: int | None = None) -> Part:
    """This process's part: the launcher's rank when launched with several processes, else the
    ``--num-shards/--shard-index`` pair (both or neither), else the whole job."""
    if (num_shards is None) != (shard_index is None):
        raise ShardError("--num-shards and --shard-index go together (e.g. --num-shards 8 --shard-index 3)")
    if launched():
        if num_shards is not None and num_shards > 1:
            raise ShardError("this process was started by a distributed launcher (WORLD_SIZE="
                             f"{os.environ['WORLD_SIZE']}): the ranks are the shards; drop --num-shards/--shard-index")
        return Part(int(os.environ.get("RANK", "0")), int(os.environ["WORLD_SIZE"]), distributed=True)
    if num_shards is None or shard_index is None:
        return Part()
    return Part(int(shard_index), int(num_shards))


def local_device(device: Any = None) -> Any:
    """The device for this rank: ``cuda:<LOCAL_RANK>`` under a launcher on a CUDA machine (one GPU per
    process), else ``device`` unchanged (None lets :func:`mom_bench.loop.runs.pick_device` choose)."""
    import torch

    if launched() and device in (None, "cuda") and torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return device


def init(device: Any = None) -> bool:
    """Join the launcher's process group (once); True when this process is one of several ranks.

    The backend follows the device: NCCL for CUDA, gloo otherwise."""
    if not launched():
        return False
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        on_cuda = str(device or "").startswith("cuda") and torch.cuda.is_available()
        if on_cuda:
            torch.cuda.set_device(torch.device(str(device)))
        dist.init_process_group("nccl" if on_cuda else "gloo")
    return True


def barrier() -> None:
    """Wait for every rank (no-op in one process)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def all_ok(ok: bool) -> bool:
    """Whether every rank reports ``ok`` (so one rank's failure stops them all cleanly, not at a timeout)."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return ok
    on = "cuda" if dist.get_backend() == "nccl" else "cpu"
    flag = torch.tensor([0 if ok else 1], dtype=torch.int64, device=on)
    dist.all_reduce(flag)
    return int(flag) == 0


def shutdown(wait: bool = True) -> None:
    """Leave the process group, if this process joined one (torch is not imported otherwise). ``wait``: after a
    barrier, so all ranks leave together; False after an error (the others may never reach it, and the
    launcher stops them)."""
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        # every rank leaves together: a rank tearing its connections down while a peer is still in its last
        # collective aborts the peer's gloo threads ("terminate called without an active exception")
        if wait:
            dist.barrier()
        dist.destroy_process_group()


def gather_in_order(values: Any) -> Any:
    """Every rank's ``values`` (a CPU tensor of its block) concatenated in rank order, on every rank: the
    whole split's scores, each row once."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return values
    parts: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(parts, values)
    return torch.cat(parts)


def mean_over_ranks(value: Any) -> float:
    """The mean over the ranks of a one-element tensor (every rank gets it); the value itself in one process."""
    import torch.distributed as dist

    total = value.detach().float().reshape(1).clone()
    if not (dist.is_available() and dist.is_initialized()):
        return float(total)
    if total.device.type != "cpu" and dist.get_backend() != "nccl":
        total = total.cpu()
    dist.all_reduce(total)
    return float(total) / dist.get_world_size()


def gather_on_main(values: Any) -> Any:
    """Every rank's ``values`` (a CPU tensor of its block) concatenated in rank order on rank 0; None on the
    other ranks (``values`` itself in one process)."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return values
    parts: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(parts, values)
    return torch.cat(parts) if dist.get_rank() == 0 else None
