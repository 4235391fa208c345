"""What ``nmt prepare`` writes about its work: DATA/report.json and DATA/manifest.json.

The report says what the cleaning rules did to each split (see :mod:`nmt_cli.data.report`). The manifest
makes a data directory reproducible and checkable: the inputs with their sha256, the source and prepare
settings, the pair and piece counts, the vocabulary, the versions of the software, and the sha256 of
every file written. Training fingerprints a data directory by its manifest.
"""

from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from nmt_cli import __version__
from nmt_cli.data.encoded import SplitWriter
from nmt_cli.data.hf import hf_local_files
from nmt_cli.data.report import SplitReport
from nmt_cli.durable import sha256_file
from nmt_cli.settings import PrepareSettings, SourceSettings
from nmt_cli.tokenizer import Tokenizer


def write_records(
    spec: SourceSettings,
    opts: PrepareSettings,
    tmp: Path,
    reports: dict[str, SplitReport],
    writers: dict[str, SplitWriter],
    tok: Tokenizer,
    tokenizer_origin: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write report.json and manifest.json (inputs with sha256, settings, counts, versions, file hashes)
    into ``tmp``; return the report."""
    texts = opts.rule_texts()
    report: dict[str, Any] = {n: reports[n].to_json(texts) for n in ("train", "dev", "test") if n in reports}
    _write_json(tmp / "report.json", report)
    manifest = {
        "format": 1,
        "inputs": _inputs(spec),
        "source": spec.describe(),
        "settings": opts.__dict__,
        "counts": {
            name: {"pairs": len(w), "src_pieces": w.tokens[0], "tgt_pieces": w.tokens[1]}
            for name, w in writers.items()
        },
        "vocab": {"joint": tok.joint, "src": tok.src_vocab_size, "tgt": tok.tgt_vocab_size},
        "tokenizer": tokenizer_origin or {"trained": True},
        "versions": _versions(spec),
        "files": {
            p.name: sha256_file(p)
            for p in sorted(tmp.iterdir())
            if p.is_file() and not p.name.startswith(".")
        },
    }
    _write_json(tmp / "manifest.json", manifest)
    return report


def _file_entry(path: Path, role: str) -> dict[str, Any]:
    return {
        "role": role,
        "path": str(path.resolve()),
        "sha256": sha256_file(path),
        "bytes": path.stat().st_size,
    }


def _inputs(spec: SourceSettings) -> list[dict[str, Any]]:
    """Every input: each file with its sha256 and size; a dataset with its splits (and its local files)."""
    rows: list[dict[str, Any]] = []
    for role, files in (("train", spec.train), ("dev", spec.dev), ("test", spec.test)):
        rows += [_file_entry(p, role) for p in files or ()]
    if spec.tsv:
        rows.append(_file_entry(spec.tsv, "train"))
    if spec.hf:
        splits = {"train": spec.hf_split, "dev": spec.hf_dev_split, "test": spec.hf_test_split}
        rows.append(
            {
                "role": "dataset",
                "dataset": spec.hf,
                "config": spec.hf_config,
                "splits": {k: v for k, v in splits.items() if v},
                "streaming": spec.streaming,
            }
        )
        rows += [_file_entry(p, "dataset file") for p in hf_local_files(spec.hf)]
    return rows


def _versions(spec: SourceSettings) -> dict[str, str]:
    packages = ["sentencepiece", "numpy"] + (["datasets", "pyarrow"] if spec.hf else [])
    return {
        "nmt": __version__,
        "python": platform.python_version(),
        **{name: metadata.version(name) for name in packages},
    }


def _write_json(path: Path, obj: Any) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2, sort_keys=True, ensure_ascii=False, default=str)
        fh.write("\n")
