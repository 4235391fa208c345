"""The random number generators of a training process: seeding ranks, saving and restoring their states.

A checkpoint's RNG dict holds this process's states ("torch", "python", "cuda"; rank 0's where
several processes trained the run), the number of processes (``world_size``) and, with several,
every rank's states by rank (``ranks``). A checkpoint without them was written by one process.
"""

from __future__ import annotations

import random
from typing import Any

import torch

import nmt_cli.training.distributed as distributed
from nmt_cli import display
from nmt_cli.training.distributed import Dist

WORLD_SIZE = "world_size"
RANKS = "ranks"


def seed_rank(seed: int, rank: int) -> None:
    """Rank r > 0 draws dropout masks (and other training randomness) from ``seed + r``.

    Called after the weights are initialised; rank 0 keeps the RNG state a single process has."""
    if rank:
        torch.manual_seed(seed + rank)
        random.seed(seed + rank)


def _own_states() -> dict[str, Any]:
    """This process's RNG states."""
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def states(job: Dist) -> dict[str, Any]:
    """The RNG dict of a checkpoint: rank 0's states (as one process saves them), the world size and,
    with several ranks, every rank's states. Collective: every rank calls it."""
    mine = _own_states()
    if job.world == 1:
        return {**mine, WORLD_SIZE: 1}
    every = distributed.gather(mine, job)
    return {**every[0], WORLD_SIZE: job.world, RANKS: every}


def set_states(state: dict[str, Any], rank: int = 0) -> None:
    """Restore rank ``rank``'s RNG states (rank 0's top-level ones in checkpoints of one process)."""
    mine = state[RANKS][rank] if RANKS in state else state
    torch.set_rng_state(mine["torch"])
    random.setstate(mine["python"])
    if "cuda" in mine and torch.cuda.is_available():
        _set_cuda_states(mine["cuda"], warn=rank == 0)


def _set_cuda_states(saved: list[torch.Tensor], warn: bool) -> None:
    """Restore the CUDA RNG states of the devices present (a checkpoint may come from a bigger machine)."""
    present = torch.cuda.device_count()
    if len(saved) > present and warn:
        display.warn(
            f"the checkpoint holds the CUDA RNG states of {len(saved)} devices and this machine has "
            f"{present}; the states of the other {len(saved) - present} are not restored"
        )
    for index, state in enumerate(saved[:present]):
        torch.cuda.set_rng_state(state, index)
