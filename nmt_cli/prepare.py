"""``nmt prepare``: clean a parallel corpus, train SentencePiece, write a data directory atomically.

Layout of DATA::

    manifest.json  report.json  spm.model | spm.src.model spm.tgt.model
    train.{src,tgt}.ids  train.offsets.npy      (see encoded.py)
    dev.src dev.tgt  test.src test.tgt          (raw text, for scoring)  + their encoded ids

Everything is written into a hidden sibling directory and renamed into place at the end, so a crash
or a kill never leaves a half-written DATA.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nmt_cli import __version__
from nmt_cli.corpus import (
    Pair,
    PrepareOptions,
    SourceSpec,
    SplitReport,
    TextFilter,
    carve,
    clean,
    piece_rule,
    read_file_pair,
    source_hash,
    train_pairs,
)
from nmt_cli.encoded import SplitWriter
from nmt_cli.errors import UsageError
from nmt_cli.tokenizer import SpmSettings, Tokenizer, train_spm

CHUNK = 4096


@contextmanager
def staging_dir(out: Path) -> Iterator[Path]:
    """A hidden sibling of ``out`` that becomes ``out`` on success and vanishes on failure."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"{out} already exists; choose another --out or remove it")
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(out)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.prepare-{os.getpid()}-", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)
    try:
        yield tmp
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _remove_stale(out: Path) -> None:
    """Remove staging folders left by killed runs (their process is gone)."""
    for stale in out.parent.glob(f".{out.name}.prepare-*"):
        pid = stale.name.split("-")[1] if "-" in stale.name else ""
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class TextSplit:
    """Cleaned pairs written to two aligned text files plus their original line numbers."""

    def __init__(self, directory: Path, name: str) -> None:
        self.src_path, self.tgt_path = directory / f"{name}.src", directory / f"{name}.tgt"
        self.lines_path = directory / f".{name}.lines"
        self.count = 0

    def write(self, pairs: Iterator[Pair]) -> None:
        with (
            open(self.src_path, "w", encoding="utf-8") as fs,
            open(self.tgt_path, "w", encoding="utf-8") as ft,
            open(self.lines_path, "w") as fl,
        ):
            for pair in pairs:
                fs.write(pair.src + "\n")
                ft.write(pair.tgt + "\n")
                fl.write(f"{pair.lineno}\n")
                self.count += 1

    def pairs(self) -> Iterator[Pair]:
        with (
            open(self.src_path, encoding="utf-8", newline="\n") as fs,
            open(self.tgt_path, encoding="utf-8", newline="\n") as ft,
            open(self.lines_path) as fl,
        ):
            for s, t, n in zip(fs, ft, fl):
                yield Pair(int(n), s[:-1], t[:-1])

    def side(self, which: str) -> Iterator[str]:
        with open(self.src_path if which == "src" else self.tgt_path, encoding="utf-8", newline="\n") as fh:
            for line in fh:
                yield line[:-1]


def _stage_train(spec: SourceSpec, opts: PrepareOptions, tmp: Path, report: SplitReport) -> TextSplit:
    split = TextSplit(tmp, "all")
    split.write(clean(train_pairs(spec, report), TextFilter(opts), report))
    return split


def _stage_given(paths: tuple[Path, Path], tmp: Path, name: str, report: SplitReport) -> TextSplit:
    """Dev/test files are kept as they are (only decoded): they define what is scored."""
    split = TextSplit(tmp, name)
    pairs = list(read_file_pair(paths[0], paths[1], report))
    report.total = report.kept = len(pairs)
    split.write(iter(pairs))
    return split


def _carve_splits(
    all_split: TextSplit, tmp: Path, opts: PrepareOptions, names: list[str], sizes: list[int]
) -> dict[str, TextSplit]:
    """Split cleaned train pairs by seeded source hash into train + held-out splits."""
    chosen = carve(lambda: (source_hash(p.src, opts.seed) for p in all_split.pairs()), sizes)
    outs = {name: TextSplit(tmp, name) for name in ["train", *names]}
    handles = {name: _Appender(split) for name, split in outs.items()}
    for pair in all_split.pairs():
        h = source_hash(pair.src, opts.seed)
        target = next((n for n, s in zip(names, chosen) if h in s), "train")
        handles[target].add(pair)
    for handle in handles.values():
        handle.close()
    return outs


class _Appender:
    def __init__(self, split: TextSplit) -> None:
        self.split = split
        self.fs = open(split.src_path, "w", encoding="utf-8")
        self.ft = open(split.tgt_path, "w", encoding="utf-8")
        self.fl = open(split.lines_path, "w")

    def add(self, pair: Pair) -> None:
        self.fs.write(pair.src + "\n")
        self.ft.write(pair.tgt + "\n")
        self.fl.write(f"{pair.lineno}\n")
        self.split.count += 1

    def close(self) -> None:
        for fh in (self.fs, self.ft, self.fl):
            fh.close()


def _train_tokenizer(train: TextSplit, opts: PrepareOptions, tmp: Path) -> Tokenizer:
    settings = SpmSettings(
        vocab_size=opts.vocab_size,
        model_type=opts.model_type,
        character_coverage=opts.character_coverage,
        byte_fallback=opts.byte_fallback,
        input_sentence_size=opts.input_sentence_size,
        seed=opts.seed,
    )
    if opts.joint_vocab:
        proto = train_spm(_chain(train.side("src"), train.side("tgt")), settings, "training corpus")
        (tmp / "spm.model").write_bytes(proto)
        return Tokenizer(proto, proto)
    src = train_spm(train.side("src"), settings, "source side")
    tgt = train_spm(train.side("tgt"), settings, "target side")
    (tmp / "spm.src.model").write_bytes(src)
    (tmp / "spm.tgt.model").write_bytes(tgt)
    return Tokenizer(src, tgt)


def _chain(*its: Iterator[str]) -> Iterator[str]:
    for it in its:
        yield from it


def _encode(
    split: TextSplit, tok: Tokenizer, tmp: Path, name: str, opts: PrepareOptions | None, report: SplitReport
) -> dict[str, int]:
    """Encode a split; with ``opts``, apply the piece rules (train only)."""
    writer = SplitWriter(tmp, name)
    batch: list[Pair] = []
    keep_src, keep_tgt = open(tmp / f".{name}.src.kept", "w"), open(tmp / f".{name}.tgt.kept", "w")

    def flush() -> None:
        src_ids = tok.encode_src([p.src for p in batch])
        tgt_ids = tok.encode_tgt([p.tgt for p in batch])
        for pair, s, t in zip(batch, src_ids, tgt_ids):
            rule = piece_rule(len(s), len(t), opts) if opts is not None else None
            if rule is not None:
                report.drop(rule, pair.lineno)
                continue
            writer.add(s, t)
            keep_src.write(pair.src + "\n")
            keep_tgt.write(pair.tgt + "\n")
        batch.clear()

    for pair in split.pairs():
        batch.append(pair)
        if len(batch) >= CHUNK:
            flush()
    flush()
    writer.close()
    keep_src.close()
    keep_tgt.close()
    os.replace(tmp / f".{name}.src.kept", split.src_path)
    os.replace(tmp / f".{name}.tgt.kept", split.tgt_path)
    split.lines_path.unlink()
    report.kept = len(writer)
    n_src, n_tgt = writer.tokens
    return {"pairs": len(writer), "src_pieces": n_src, "tgt_pieces": n_tgt}


def _inputs(spec: SourceSpec) -> list[dict[str, Any]]:
    files: list[Path] = []
    for pair in (spec.train, spec.dev, spec.test):
        if pair:
            files.extend(pair)
    if spec.tsv:
        files.append(spec.tsv)
    if spec.hf and Path(spec.hf).is_file():
        files.append(Path(spec.hf))
    out = [{"path": str(p.resolve()), "sha256": sha256_file(p), "bytes": p.stat().st_size} for p in files]
    if spec.hf and not Path(spec.hf).is_file():
        out.append({"dataset": spec.hf, "config": spec.hf_config, "split": spec.hf_split})
    return out


def _versions() -> dict[str, str]:
    import numpy
    import sentencepiece

    return {
        "nmt": __version__,
        "python": platform.python_version(),
        "sentencepiece": sentencepiece.__version__,
        "numpy": numpy.__version__,
    }


def prepare_data(spec: SourceSpec, opts: PrepareOptions, out: Path, json_out: bool = False) -> dict[str, Any]:
    """Run the whole preparation; returns the report (also written to DATA/report.json)."""
    from nmt_cli.display import show_filter_report

    reports = {"train": SplitReport()}
    with staging_dir(out) as tmp:
        staged = _stage_train(spec, opts, tmp, reports["train"])
        splits: dict[str, TextSplit] = {}
        carved_names = [n for n, size in (("dev", opts.dev_size), ("test", opts.test_size)) if size > 0]
        for name, given in (("dev", spec.dev), ("test", spec.test)):
            if given and name in carved_names:
                raise UsageError(f"give either --{name} files or --{name}-size, not both")
            if given:
                reports[name] = SplitReport()
                splits[name] = _stage_given(given, tmp, name, reports[name])
        sizes = [opts.dev_size if n == "dev" else opts.test_size for n in carved_names]
        carved = _carve_splits(staged, tmp, opts, carved_names, sizes)
        for path in (staged.src_path, staged.tgt_path, staged.lines_path):
            path.unlink()
        splits.update(carved)
        reports["train"].carved_out = {n: carved[n].count for n in carved_names}
        tok = _train_tokenizer(splits["train"], opts, tmp)
        counts: dict[str, dict[str, int]] = {}
        for name, split in splits.items():
            if name in carved_names:
                reports[name] = SplitReport(total=split.count)
            counts[name] = _encode(split, tok, tmp, name, opts if name == "train" else None, reports[name])
        (tmp / "train.src").unlink()
        (tmp / "train.tgt").unlink()
        report = {name: r.to_json() for name, r in reports.items()}
        manifest = {
            "format": 1,
            "inputs": _inputs(spec),
            "source": spec.describe(),
            "settings": opts.__dict__,
            "counts": counts,
            "vocab": {"joint": tok.joint, "src": tok.src_vocab_size, "tgt": tok.tgt_vocab_size},
            "versions": _versions(),
        }
        manifest["files"] = {p.name: sha256_file(p) for p in sorted(tmp.iterdir()) if p.is_file()}
        _write_json(tmp / "report.json", report)
        _write_json(tmp / "manifest.json", manifest)
    show_filter_report(report, out)
    if json_out:
        print(json.dumps(report, sort_keys=True, ensure_ascii=False))
    return report


def _write_json(path: Path, obj: Any) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2, sort_keys=True, ensure_ascii=False, default=str)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
