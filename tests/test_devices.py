"""--device: search runs wherever its source batch lives; precision and batch sizes follow the device.

This machine may have no GPU: the device-agnostic code is checked here by auditing that search, the
ensemble and forced scoring create every tensor on the source batch's device (a stray CPU tensor
is what breaks decoding on a GPU), and the GPU test runs where CUDA is visible.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import run_nmt
from torch.overrides import TorchFunctionMode

from nmt_cli import devices
from nmt_cli.batching import source_batch
from nmt_cli.ensemble import Ensemble
from nmt_cli.errors import UsageError
from nmt_cli.forced import ForcedScorer
from nmt_cli.search import beam_search, greedy
from nmt_cli.settings import DecodeSettings
from nmt_cli.translate import load_model

FACTORIES = {torch.arange, torch.full, torch.zeros, torch.ones, torch.empty, torch.tensor, torch.as_tensor}
SEARCH_FILES = ("search.py", "ensemble.py", "forced.py", "decoder.py", "model.py")


class FactoryAudit(TorchFunctionMode):
    """Records the tensor factories called from the decoding modules without a ``device``."""

    def __init__(self) -> None:
        super().__init__()
        self.strays: list[str] = []

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func in FACTORIES and "device" not in kwargs:
            import traceback

            caller = traceback.extract_stack(limit=2)[0]
            if caller.filename.endswith(SEARCH_FILES):
                self.strays.append(f"{Path(caller.filename).name}:{caller.lineno} {func.__name__}")
        return func(*args, **kwargs)


def test_search_and_scoring_make_every_tensor_on_the_source_device(run_dir: Path) -> None:
    model, tok = load_model(run_dir, DecodeSettings())
    ids = tok.encode_src(["the cat sees the dog", "a bird", "the old man walks to the house"])
    src, lengths = source_batch(ids)
    caps = torch.full((len(ids),), 12)
    audit = FactoryAudit()
    with audit:
        greedy(model, src, lengths, caps)
        beam_search(model, src, lengths, caps, beam=3, nbest=2)
        ensemble = Ensemble([model, model])
        ensemble.shared = False  # the full-vocabulary route too
        beam_search(ensemble, src, lengths, caps, beam=2)
        ForcedScorer(model, tok, DecodeSettings())._batch(ids, [[5, 6], [7], [8, 9, 10]])
    assert audit.strays == []


def test_auto_is_the_cpu_without_a_gpu_and_cuda_is_refused_there() -> None:
    if torch.cuda.is_available():
        assert devices.resolve("auto").type == "cuda"
        return
    assert devices.resolve("auto") == torch.device("cpu")
    with pytest.raises(UsageError, match="--device cuda"):
        devices.resolve("cuda")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU: --device cuda works here")
def test_translate_device_cuda_without_a_gpu_is_a_usage_error(run_dir: Path) -> None:
    proc = run_nmt("translate", "-m", str(run_dir), "--device", "cuda", stdin="the cat\n")
    assert proc.returncode == 2 and proc.stdout == b""
    assert "--device cuda" in proc.stderr.decode() and len(proc.stderr.decode().strip().splitlines()) == 1


def test_precision_each_device_can_run() -> None:
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    with pytest.raises(UsageError, match="int8 runs on a CPU only"):
        devices.check_precision(gpu, "int8")
    with pytest.raises(UsageError, match="fp16 is for GPUs"):
        devices.check_precision(cpu, "fp16")
    for quantize in ("none", "int8", "bf16"):
        devices.check_precision(cpu, quantize)
    with devices.autocast(cpu, "bf16"):
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
    with devices.autocast(cpu, "none"):
        assert not torch.is_autocast_enabled("cpu")


def test_fp16_on_the_cpu_is_a_usage_error(run_dir: Path) -> None:
    proc = run_nmt("translate", "-m", str(run_dir), "--device", "cpu", "--quantize", "fp16", stdin="a\n")
    assert proc.returncode == 2 and b"fp16 is for GPUs" in proc.stderr


def test_batch_sizes_follow_the_device() -> None:
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    beam5 = DecodeSettings(beam=5)
    assert devices.sentences_per_batch(beam5, cpu) == devices.CPU_ROWS // 5
    assert devices.sentences_per_batch(beam5, gpu) == devices.GPU_ROWS // 5
    assert devices.sentences_per_batch(DecodeSettings(batch_size=7), gpu) == 7


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_translation_equals_the_cpu_line_for_line(run_dir: Path, corpus_dir: Path) -> None:
    lines = (corpus_dir / "test.en").read_text(encoding="utf-8")
    for beam in ("1", "4"):
        cpu = run_nmt("translate", "-m", str(run_dir), "--beam", beam, "--device", "cpu", stdin=lines)
        gpu = run_nmt("translate", "-m", str(run_dir), "--beam", beam, "--device", "cuda", stdin=lines)
        assert gpu.returncode == 0, gpu.stderr.decode()
        assert b"decoding on cuda" in gpu.stderr
        same = sum(a == b for a, b in zip(cpu.stdout.splitlines(), gpu.stdout.splitlines()))
        assert gpu.stdout.count(b"\n") == lines.count("\n")
        assert same >= 0.95 * lines.count("\n")  # fp32 on both; cuBLAS sums in another order
