"""Several processes, one model (``torchrun``, PyTorch DDP): rank, world size, agreement across ranks.

With ``WORLD_SIZE`` unset or 1 every function here is a no-op, and no process group is made.

Every decision that changes what a rank does next is taken collectively, so that no rank is left
waiting in a collective the others never reach: the resume record is read by rank 0 and sent to the
others (:func:`broadcast`), stopping (:func:`any_rank`) and skipping a non-finite update
(:func:`all_finite`) are agreed by all-reduce, and :func:`scope` tears the process group down when
training ends, also on errors.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from torch import nn

from nmt_cli.errors import NmtError

T = TypeVar("T")

# True while a process group made by ``init`` (not by a program that embeds nmt) exists.
_made_here = False


@dataclass(frozen=True)
class Dist:
    """This process's place in the job."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        """Rank 0 writes the run directory, logs and validates."""
        return self.rank == 0


def init() -> Dist:
    """(rank, world size), initialising torch.distributed when launched by torchrun."""
    global _made_here
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        _made_here = True
    return Dist(dist.get_rank(), world)


def shutdown() -> None:
    """Destroy the process group :func:`init` made, if any (a group made by the caller is left alone)."""
    global _made_here
    dist = sys.modules.get("torch.distributed")
    if _made_here and dist is not None and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    _made_here = False


@contextmanager
def scope() -> Iterator[None]:
    """A block at whose end, normally or by an error, the process group of :func:`init` is destroyed.

    ``train_model`` runs the session inside it: ``with distributed.scope(): ...``.
    """
    try:
        yield
    finally:
        shutdown()


def local_device(device: torch.device, job: Dist) -> torch.device:
    """On GPUs each rank uses the GPU torchrun gave it (LOCAL_RANK), also for collectives of objects."""
    if device.type == "cuda" and job.world > 1:
        index = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(index)
        return torch.device("cuda", index)
    return device


def wrap(module: nn.Module, device: torch.device, job: Dist) -> nn.Module:
    """``module`` as DDP (gradients averaged across ranks) when there is more than one rank."""
    if job.world == 1:
        return module
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids)


def any_rank(flag: bool, device: torch.device, job: Dist) -> bool:
    """True when ``flag`` holds on any rank (clocks differ; all ranks must stop together)."""
    return _reduce(flag, "MAX", device, job)


def all_finite(flag: bool, device: torch.device, job: Dist) -> bool:
    """True when ``flag`` holds on every rank: a non-finite update is skipped by all ranks or by none."""
    return _reduce(flag, "MIN", device, job)


def _reduce(flag: bool, op: str, device: torch.device, job: Dist) -> bool:
    """``flag`` all-reduced with MAX (any rank) or MIN (every rank)."""
    if job.world == 1:
        return flag
    import torch.distributed as dist

    t = torch.tensor([int(flag)], device=device)
    dist.all_reduce(t, op=getattr(dist.ReduceOp, op))
    return bool(t.item())


def broadcast(obj: T, job: Dist, device: torch.device | None = None) -> T:
    """Rank 0's ``obj`` on every rank (pickled: plain values, records, CPU tensors of a checkpoint)."""
    if job.world == 1:
        return obj
    import torch.distributed as dist

    box: list[Any] = [obj]
    dist.broadcast_object_list(
        box, src=0, device=device if device is not None and device.type == "cuda" else None
    )
    return box[0]  # type: ignore[no-any-return]


def read_on_rank_0(read: Callable[[], T], job: Dist, device: torch.device, failure: str) -> T:
    """``read()`` on rank 0 (the only one that may see the run directory), its result sent to every
    rank. A failure is raised on every rank, so that no rank waits for the others: an ``NmtError`` as
    it is, anything else on rank 0 as it is and on the others as ``NmtError(failure (error))``."""
    loaded: T | NmtError | None = None
    error: Exception | None = None
    if job.main:
        try:
            loaded = read()
        except NmtError as err:
            loaded, error = err, err
        except Exception as err:  # not to be left unsaid to the other ranks
            loaded, error = NmtError(f"{failure} ({err})"), err
    loaded = broadcast(loaded, job, device)
    if error is not None:
        raise error
    if isinstance(loaded, NmtError):
        raise loaded
    return loaded  # type: ignore[return-value]


def gather(obj: T, job: Dist) -> list[T]:
    """Every rank's ``obj``, in rank order, on every rank."""
    if job.world == 1:
        return [obj]
    import torch.distributed as dist

    out: list[Any] = [None] * job.world
    dist.all_gather_object(out, obj)
    return out
