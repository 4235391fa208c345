"""Write ``model.pyz``: a zip application holding the runner, the model's two exported programs, its
SentencePiece models and ``meta.json`` (settings, output vocabulary, decoding defaults, versions).

``python model.pyz < in > out`` translates with greedy search, as ``nmt translate --beam 1`` does,
on any machine with Python, torch (the exporting version or a later one) and sentencepiece.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import platform
import stat
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

import torch

import nmt_cli
from nmt_cli import devices
from nmt_cli.durable import atomic_write, umask
from nmt_cli.errors import UsageError
from nmt_cli.export import graphs, runner
from nmt_cli.model import Seq2Seq
from nmt_cli.record import ModelRecord, load_model_record
from nmt_cli.settings import DecodeSettings

FORMATS = (".pyz",)
SHEBANG = b"#!/usr/bin/env python3\n"


def meta_json(rec: ModelRecord, model: Seq2Seq, source: str, which: str) -> dict[str, Any]:
    """What the runner reads besides the programs, and what a user asks about an artifact."""
    layout = graphs.Layout.of(model)
    decode = DecodeSettings()
    return {
        "format": 1,
        "exported_from": source,
        "checkpoint": which,
        "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": dataclasses.asdict(rec.model_settings),
        "memory": layout.memory_names(),
        "state": layout.state_names(),
        "row_dims": {name: graphs.ROW_DIMS[name] for name in layout.memory_names() + layout.state_names()},
        "out_ids": model.generator.out_ids.tolist(),
        "decode": {
            "search": "greedy",
            "batch_size": devices.sentences_per_batch(decode, torch.device("cpu")),
            "max_src_len": decode.max_src_len,
            "max_len_ratio": decode.max_len_ratio,
            "max_len": decode.max_len,
        },
        "versions": {
            "nmt": nmt_cli.__version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "trained_with": rec.versions,
        },
    }


def _program_bytes(program: torch.export.ExportedProgram) -> bytes:
    buf = io.BytesIO()
    torch.export.save(program, buf)
    return buf.getvalue()


def export_run(model_path: str, output: str, which: str = "best") -> dict[str, Any]:
    """Export the run (or checkpoint file) ``model_path`` to ``output`` (.pyz); returns a summary."""
    out = Path(output)
    if out.suffix not in FORMATS:
        raise UsageError(f"-o {output}: the artifact is a Python zip application: name it *.pyz")
    rec = load_model_record(model_path, which)
    model = Seq2Seq(rec.model_settings)
    model.load_state_dict(rec.weights)
    model.eval()
    encode, step = graphs.export_programs(model)
    meta = meta_json(rec, model, str(model_path), which)
    members = {
        "__main__.py": Path(runner.__file__).read_bytes(),
        "meta.json": json.dumps(meta, indent=1, sort_keys=True).encode(),
        "encode.pt2": _program_bytes(encode),
        "step.pt2": _program_bytes(step),
        "src.model": rec.spm_src,
        "tgt.model": rec.spm_tgt,
    }

    def write(f: IO[bytes]) -> None:
        f.write(SHEBANG)
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, data in members.items():
                zf.writestr(name, data)

    atomic_write(out, write)
    mode = out.stat().st_mode
    os.chmod(out, mode | (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH) & ~umask())
    return {"output": str(out), "bytes": out.stat().st_size, "from": str(model_path), "checkpoint": which}
