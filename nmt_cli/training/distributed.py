"""Several processes, one model (``torchrun``, PyTorch DDP): rank, world size, agreement across ranks.

With ``WORLD_SIZE`` unset or 1 every function here is a no-op, and torch.distributed is not imported.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


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
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return Dist(dist.get_rank(), world)


def local_device(device: torch.device, job: Dist) -> torch.device:
    """On GPUs each rank uses the GPU torchrun gave it (LOCAL_RANK)."""
    if device.type == "cuda" and job.world > 1:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def wrap(module: nn.Module, device: torch.device, job: Dist) -> nn.Module:
    """``module`` as DDP (gradients averaged across ranks) when there is more than one rank."""
    if job.world == 1:
        return module
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids)


def any_rank(flag: bool, device: torch.device, job: Dist) -> bool:
    """True when ``flag`` holds on any rank (clocks differ; all ranks must stop together)."""
    if job.world == 1:
        return flag
    import torch.distributed as dist

    t = torch.tensor([int(flag)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def from_main(record: dict[str, Any], job: Dist) -> dict[str, Any]:
    """Rank 0's ``record`` on every rank (validation results: every rank takes the same decisions)."""
    if job.world == 1:
        return record
    import torch.distributed as dist

    box = [record]
    dist.broadcast_object_list(box, src=0)
    return box[0]
