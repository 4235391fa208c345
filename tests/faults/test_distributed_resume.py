"""Several processes (torchrun/DDP): resume through rank 0, per-rank RNG, collective decisions, teardown.

Most checks run in one process with a fake job (``FakeGroup``: what rank 0 broadcasts is what the
other ranks receive), so that rank 1 can be shown an empty run directory as on a machine whose disk
holds no checkpoint. One check spawns two real gloo ranks; a torchrun end-to-end run of a resume on
node-local run directories is in tests/test_distributed.py (slow).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from conftest import TINY_MODEL, TINY_TRAIN, train_tiny

import nmt_cli.training.distributed as distributed
import nmt_cli.training.resume as resume_mod
import nmt_cli.training.rng as rng_mod
import nmt_cli.training.session as session_mod
from nmt_cli import display, record
from nmt_cli.data.encoded import DataDir
from nmt_cli.errors import CheckpointError, NmtError, UsageError
from nmt_cli.settings import ModelSettings, TrainSettings
from nmt_cli.training.distributed import Dist
from nmt_cli.training.session import Session, open_session

CPU = torch.device("cpu")


class FakeGroup:
    """torch.distributed for ranks run one after another in this process: rank 0 first."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    def broadcast(self, obj: Any, job: Dist, device: torch.device | None = None) -> Any:
        if job.main:
            self.sent.append(obj)
            return obj
        return self.sent.pop(0)

    def as_rank(self, monkeypatch: pytest.MonkeyPatch, rank: int, world: int) -> None:
        monkeypatch.setattr(distributed, "init", lambda: Dist(rank, world))
        monkeypatch.setattr(distributed, "wrap", lambda module, device, job: module)
        # raising=False: before this fix there was no broadcast, and every rank read its own disk
        monkeypatch.setattr(distributed, "broadcast", self.broadcast, raising=False)


def settings(**train: Any) -> tuple[ModelSettings, TrainSettings]:
    model = ModelSettings(**TINY_MODEL)  # type: ignore[arg-type]
    return model, TrainSettings(**{**TINY_TRAIN, "max_steps": 10, **train})  # type: ignore[arg-type]


def open_as(
    monkeypatch: pytest.MonkeyPatch, group: FakeGroup, rank: int, world: int, data: Path, run: Path, **kw: Any
) -> Session:
    group.as_rank(monkeypatch, rank, world)
    force = bool(kw.pop("force", False))
    model_cfg, cfg = settings(**kw)
    return open_session(DataDir(data), run, model_cfg, cfg, force=force)


@pytest.fixture(scope="module")
def one_process_run(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """A run trained by one process for 10 updates (one checkpoint, at step 10)."""
    return train_tiny(data_dir, tmp_path_factory.mktemp("ddp") / "one", steps=10)


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory: pytest.TempPathFactory, one_process_run: Path) -> Path:
    """The same checkpoint as two processes write it: world size 2 and each rank's RNG states."""
    resumed = record.load_resume_record(one_process_run)
    assert resumed is not None
    rank1 = {"torch": torch.Generator().manual_seed(99).get_state(), "python": random.Random(99).getstate()}
    rank0 = {k: v for k, v in resumed.rng.items() if k in ("torch", "python", "cuda")}
    rng = {**rank0, "world_size": 2, "ranks": [rank0, rank1]}
    run = tmp_path_factory.mktemp("ddp") / "two"
    run.mkdir()
    record.save(run, record.ResumeRecord(**{**resumed.__dict__, "rng": rng}), 10, True, 3)
    return run


def same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ------------------------------------------------------------------------ 1: rank 0 loads, ranks agree


def test_rank_1_resumes_from_rank_0s_checkpoint_without_seeing_the_run(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path, two_process_run: Path, tmp_path: Path
) -> None:
    group = FakeGroup()
    node1 = tmp_path / "node1" / "run"  # rank 1's disk: no run directory at all
    main = open_as(monkeypatch, group, 0, 2, data_dir, two_process_run)
    other = open_as(monkeypatch, group, 1, 2, data_dir, node1)
    saved = record.load_resume_record(two_process_run)
    assert saved is not None
    assert main.state.step == other.state.step == 10
    assert other.state == saved.run_state
    assert same_tensors(other.model.state_dict(), main.model.state_dict())
    assert same_tensors(other.model.state_dict(), saved.model.weights)
    opt_main, opt_other = main.optimizer.state_dict(), other.optimizer.state_dict()
    assert opt_main["param_groups"] == opt_other["param_groups"]
    for i, moments in opt_main["state"].items():
        assert same_tensors(moments, opt_other["state"][i])
    assert other.schedule.state_dict() == main.schedule.state_dict()
    # each rank continues its own random stream
    assert torch.equal(torch.get_rng_state(), saved.rng["ranks"][1]["torch"])
    assert not node1.parent.exists()


def test_a_failure_to_read_the_checkpoint_is_raised_on_every_rank(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path, two_process_run: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(two_process_run, broken)
    (broken / "checkpoints.json").write_text("{")
    group = FakeGroup()
    with pytest.raises(CheckpointError, match="damaged manifest") as on_main:
        open_as(monkeypatch, group, 0, 2, data_dir, broken)
    with pytest.raises(CheckpointError) as on_other:
        open_as(monkeypatch, group, 1, 2, data_dir, tmp_path / "empty")
    assert str(on_other.value) == str(on_main.value)


def test_a_checkpoint_of_another_world_size_is_refused(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path, one_process_run: Path, two_process_run: Path
) -> None:
    group = FakeGroup()
    with pytest.raises(UsageError, match="trained with 1 process and this job has 2 processes"):
        open_as(monkeypatch, group, 0, 2, data_dir, one_process_run)
    with pytest.raises(UsageError, match="trained with 1 process and this job has 2 processes"):
        open_as(monkeypatch, group, 1, 2, data_dir, one_process_run)  # the same decision on rank 1
    with pytest.raises(UsageError, match="trained with 2 processes and this job has 1 process") as err:
        open_as(monkeypatch, group, 0, 1, data_dir, two_process_run, force=True)  # not even with --force
    assert "\n" not in str(err.value)


def test_a_checkpoint_without_world_size_was_written_by_the_processes_of_config_json(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path, one_process_run: Path, tmp_path: Path
) -> None:
    old = tmp_path / "old"
    shutil.copytree(one_process_run, old)
    resumed = record.load_resume_record(old)
    assert resumed is not None and resumed.rng["world_size"] == 1
    rng = {k: v for k, v in resumed.rng.items() if k != "world_size"}  # as older versions saved it
    record.save(old, record.ResumeRecord(**{**resumed.__dict__, "rng": rng}), 11, False, 3)
    group = FakeGroup()
    assert open_as(monkeypatch, group, 0, 1, data_dir, old).state.step == 10  # config.json: 1 process
    config = json.loads((one_process_run / "config.json").read_text())
    (old / "config.json").write_text(json.dumps({**config, "world_size": 2}))
    group = FakeGroup()
    main = open_as(monkeypatch, group, 0, 2, data_dir, old)
    other = open_as(monkeypatch, group, 1, 2, data_dir, tmp_path / "empty")
    assert main.state.step == other.state.step == 10
    assert not torch.equal(torch.get_rng_state(), resumed.rng["torch"])  # rank 1 reseeded, not rank 0's


# ------------------------------------------------------------------------------- 2: dropout per rank


def test_ranks_start_from_the_same_weights_and_draw_different_dropout(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path, tmp_path: Path
) -> None:
    group, draws, weights = FakeGroup(), {}, {}
    for rank, world in ((0, 1), (0, 2), (1, 2)):
        s = open_as(monkeypatch, group, rank, world, data_dir, tmp_path / f"r{rank}w{world}")
        weights[rank, world] = s.model.state_dict()
        s.model.train()
        draws[rank, world] = torch.nn.functional.dropout(torch.ones(64), 0.5)
    assert same_tensors(weights[0, 1], weights[0, 2]) and same_tensors(weights[0, 2], weights[1, 2])
    assert torch.equal(draws[0, 1], draws[0, 2])  # rank 0 draws what one process draws
    assert not torch.equal(draws[0, 2], draws[1, 2])


def test_every_ranks_rng_states_are_saved_and_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(5)
    other: dict[str, Any] = {
        "torch": torch.Generator().manual_seed(6).get_state(),
        "python": random.Random(6).getstate(),
    }
    monkeypatch.setattr(distributed, "gather", lambda obj, job: [obj, other], raising=False)
    rng = rng_mod.states(Dist(0, 2))
    assert rng["world_size"] == 2 and len(rng["ranks"]) == 2
    assert torch.equal(rng["torch"], rng["ranks"][0]["torch"])  # rank 0's, where one process saves it
    rng_mod.set_states(rng, rank=1)
    assert torch.equal(torch.get_rng_state(), other["torch"])
    rng_mod.set_states(rng, rank=0)
    assert torch.equal(torch.get_rng_state(), rng["torch"])
    assert rng_mod.states(Dist())["world_size"] == 1


# ------------------------------------------------------------------------- 3: fewer batches than ranks


def test_fewer_batches_than_ranks_is_refused_before_anything_is_built(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path, tmp_path: Path
) -> None:
    built: list[int] = []
    monkeypatch.setattr(session_mod, "Seq2Seq", lambda cfg: built.append(1))
    with pytest.raises(UsageError, match="1 batch per epoch, fewer than the 2 processes") as err:
        open_as(monkeypatch, FakeGroup(), 1, 2, data_dir, tmp_path / "run", batch_tokens=200_000)
    assert "\n" not in str(err.value) and not built


# ------------------------------------------------------------------------ 6: CUDA RNG of other machines


def test_cuda_rng_states_of_a_machine_with_more_gpus_restore_those_present(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    restored: list[int] = []
    warnings: list[str] = []

    def set_rng_state(state: torch.Tensor, device: int | str = "cuda") -> None:
        index = device if isinstance(device, int) else 0
        if index >= 2:
            raise RuntimeError(f"CUDA error: invalid device ordinal {index}")  # as torch does
        restored.append(index)

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_rng_state", set_rng_state)
    monkeypatch.setattr(torch.cuda.random, "set_rng_state", set_rng_state)
    monkeypatch.setattr(display, "warn", warnings.append)
    states = [torch.zeros(16, dtype=torch.uint8) + i for i in range(8)]
    rng = {"torch": torch.get_rng_state(), "python": random.getstate(), "cuda": states}
    rng_mod.set_states(rng)
    assert restored == [0, 1]
    assert len(warnings) == 1 and "8 devices" in warnings[0] and "has 2" in warnings[0]
    warnings.clear()
    rng_mod.set_states({**rng, "cuda": states[:1]})  # fewer: restored, nothing to say
    assert restored == [0, 1, 0] and not warnings


# --------------------------------------------------------------------------- 7: output vocabulary


@pytest.mark.parametrize("force", [False, True])
def test_the_output_vocabulary_cannot_change_on_resume(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path, one_process_run: Path, tmp_path: Path, force: bool
) -> None:
    run = tmp_path / "run"
    shutil.copytree(one_process_run, run)
    model_cfg, cfg = settings()
    model_cfg = ModelSettings(**{**model_cfg.__dict__, "restrict_output": False})
    with pytest.raises(UsageError, match="--output-vocab seen .* cannot change on resume, even with --force"):
        open_session(DataDir(data_dir), run, model_cfg, cfg, force=force)


# ---------------------------------------------------------------- 1, 4, 5 with two real gloo processes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rank_main(rank: int, port: int, runs: list[str], out: str) -> None:
    """One of two gloo ranks: resume through rank 0, agree on finiteness, tear down on an error."""
    os.environ.update(
        RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    torch.set_num_threads(1)
    found: dict[str, Any] = {}
    try:
        with distributed.scope():
            job = distributed.init()
            found["job"] = (job.rank, job.world)
            resumed = resume_mod.load(Path(runs[rank]), job, CPU)  # rank 1: an empty directory
            assert resumed is not None
            found["step"], found["weights"] = resumed.run_state.step, resumed.model.weights
            found["finite"] = [
                distributed.all_finite(True, CPU, job),
                distributed.all_finite(rank == 0, CPU, job),  # NaN on rank 1 only
                distributed.all_finite(rank == 1, CPU, job),
            ]
            try:
                resume_mod.load(Path(runs[2 + rank]), job, CPU)  # rank 0: a damaged run
            except NmtError as err:
                found["error"] = f"{type(err).__name__}: {err}"
            raise RuntimeError("a failure inside the session")
    except RuntimeError:
        found["initialized_after_error"] = dist.is_initialized()
    torch.save(found, Path(out) / f"rank{rank}.pt")


def test_two_gloo_ranks_resume_from_rank_0_agree_on_skips_and_tear_down(
    two_process_run: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(two_process_run, broken)
    (broken / "checkpoints.json").write_text("{")
    runs = [two_process_run, tmp_path / "node1", broken, tmp_path / "node1"]
    ctx = mp.spawn(
        _rank_main, args=(_free_port(), [str(r) for r in runs], str(tmp_path)), nprocs=2, join=False
    )
    for _ in ctx.processes:  # each join returns when a rank ends (or after the timeout)
        if ctx.join(timeout=300):
            break
    else:
        for p in ctx.processes:
            p.kill()
        pytest.fail("the two ranks did not finish (a collective left one waiting)")
    main, other = (torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1))
    assert (main["job"], other["job"]) == ((0, 2), (1, 2))
    assert main["step"] == other["step"] == 10
    assert same_tensors(main["weights"], other["weights"])
    assert main["finite"] == other["finite"] == [True, False, False]
    assert main["error"] == other["error"] and main["error"].startswith("CheckpointError: ")
    assert main["initialized_after_error"] is False and other["initialized_after_error"] is False
    assert not (tmp_path / "node1").exists()


def test_the_scope_is_a_no_op_in_one_process() -> None:
    with distributed.scope():
        assert distributed.init() == Dist()
    assert not dist.is_initialized()
    with pytest.raises(ValueError), distributed.scope():
        raise ValueError("errors pass through")
