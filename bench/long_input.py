#!/usr/bin/env python3
"""One endless line: `nmt translate` fed N bytes without a newline, generated on the fly into a pipe.

Measures the whole command: wall time, input MB/s and the peak RSS of the `nmt` process (its own
``ru_maxrss``, from ``wait4``), and checks the line contract: exactly one
output line. Prints one JSON line, with the CPU's model and the flags that matter for scanning bytes.

usage: bench/long_input.py [--model RUN] [--bytes 1G] [--fill a|zero] [--work bench/out/long_input]
                           [-- extra nmt translate options]

Without --model a tiny demo model is trained into WORK first (seconds; the model's size does not matter
here: a line that long is cut to what --max-src-len can use while it is read).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NMT = [sys.executable, "-m", "nmt_cli"]
FLAGS = ("sse4_2", "avx", "avx2", "avx512f", "avx512bw", "avx512_bf16", "amx_bf16", "amx_tile")
BLOCK = 1 << 20


def parse_size(text: str) -> int:
    """``1G``, ``50M``, ``64K`` or a plain number of bytes (binary units)."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper()
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def cpu(wanted: tuple[str, ...] = FLAGS) -> tuple[str, list[str]]:
    """The CPU's model name and which of ``wanted`` flags it has (Linux /proc/cpuinfo; else what
    platform knows). bench/int8_speed.py uses it too."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model in ("", platform.machine(), platform.processor()):
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break
    except OSError:
        pass
    return model, [f for f in wanted if f in flags]


def tiny_model(work: Path) -> Path:
    """A demo model trained for a few steps (what tests use), made once per WORK."""
    run = work / "run"
    if (run / "best.pt").exists():
        return run
    sys.path.insert(0, str(ROOT))
    from nmt_cli.data.demo.grammar import write_demo_corpus
    from nmt_cli.data.prepare import prepare_data
    from nmt_cli.settings import ModelSettings, PrepareSettings, SourceSettings, TrainSettings
    from nmt_cli.training import train_model

    corpus = work / "corpus"
    write_demo_corpus(corpus, seed=5, n_train=1200, n_dev=40, n_test=40)
    spec = SourceSettings(
        train=(corpus / "train.en", corpus / "train.es"),
        dev=(corpus / "dev.en", corpus / "dev.es"),
        test=(corpus / "test.en", corpus / "test.es"),
    )
    prepare_data(spec, PrepareSettings(vocab_size=400), work / "data")
    model = ModelSettings(emb=32, enc_hidden=32, dec_hidden=48, attn_dim=24, dropout=0.1)
    train = TrainSettings(batch_tokens=600, valid_every=20, threads=1, seed=3, max_steps=20)
    train_model(work / "data", run, model, train, quiet=True)
    return run


def measure(model: Path, size: int, fill: bytes, extra: list[str]) -> dict[str, object]:
    """Feed ``size`` bytes of ``fill`` (no newline) to `nmt translate -m MODEL`; figures of that run."""
    block = fill * BLOCK
    path = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.Popen(
            [*NMT, "translate", "-m", str(model), *extra],
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=err,
            env={**os.environ, "NO_COLOR": "1", "PYTHONPATH": os.pathsep.join([str(ROOT), *path])},
        )
        assert proc.stdin is not None
        left = size
        try:
            while left > 0:
                proc.stdin.write(block[: min(left, BLOCK)])
                left -= min(left, BLOCK)
        except BrokenPipeError:  # nmt stopped reading (it failed): its rc and stderr say why
            pass
        finally:
            try:
                proc.stdin.close()
            except BrokenPipeError:
                pass
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage, whatever ran before
        wall = time.monotonic() - start
        rc = proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        output, errors = out.read(), err.read().decode("utf-8", "replace")
    peak_kib = usage.ru_maxrss  # KiB on Linux
    model_name, flags = cpu()
    return {
        "cpu": model_name,
        "cpu_flags": flags,
        "cores": os.cpu_count(),
        "bytes": size,
        "fill": "zero" if fill == b"\0" else fill.decode(),
        "wall_s": round(wall, 2),
        "mb_per_s": round(size / 1e6 / wall, 1),
        "peak_rss_mib": round(peak_kib / 1024, 1),
        "rc": rc,
        "output_lines": output.count(b"\n") + (1 if output and not output.endswith(b"\n") else 0),
        "output_bytes": len(output),
        "stderr": errors[-2000:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, help="run directory or checkpoint (default: a tiny demo model)")
    parser.add_argument("--bytes", default="1G", help="input size: 1G, 50M, ... (default 1G)")
    parser.add_argument("--fill", choices=["a", "zero"], default="a", help="the byte repeated (default a)")
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "out" / "long_input")
    parser.add_argument("extra", nargs="*", help="options for nmt translate (after --)")
    args = parser.parse_args()
    model = args.model or tiny_model(args.work)
    fill = b"\0" if args.fill == "zero" else b"a"
    print(json.dumps(measure(model, parse_size(args.bytes), fill, args.extra)), flush=True)


if __name__ == "__main__":
    main()
