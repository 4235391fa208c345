"""Checkpoints that survive crashes: atomic save, verified load (``weights_only``), resume state.

A run directory holds ``step-NNNNNNNN.pt`` files, ``best.pt`` and ``last.pt`` (hard links to one of
them) and ``checkpoints.json``, a manifest with every file's sha256. A save writes a temporary file
in the same directory, fsyncs it, renames it into place, updates the manifest the same way and only
then prunes old files, so the previous good checkpoint survives a kill or a full disk at any point.
"""

from __future__ import annotations

import errno
import fcntl
import io
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import torch

from nmt_cli import durable, faults
from nmt_cli.errors import CheckpointError, UsageError

MANIFEST = "checkpoints.json"
FORMAT = 1


def _atomic_write(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """durable.atomic_write, with a full disk reported as a checkpoint error."""
    try:
        durable.atomic_write(path, write)
    except OSError as err:
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise CheckpointError(
                f"{path.parent}: disk full while writing {path.name}; the previous checkpoint is kept"
            ) from None
        raise


def _link(src: Path, dst: Path) -> None:
    """Point ``dst`` at ``src``'s content atomically (hard link, or a copy where links fail)."""
    tmp = dst.with_name(f".{dst.name}.link")
    if tmp.exists():
        tmp.unlink()
    try:
        os.link(src, tmp)
    except OSError:
        _atomic_write(tmp, lambda fh: fh.write(src.read_bytes()))
    os.replace(tmp, dst)


def read_manifest(run: Path) -> dict[str, Any]:
    path = run / MANIFEST
    if not path.exists():
        return {"files": {}, "best": None, "last": None}
    try:
        return json.loads(path.read_text())  # type: ignore[no-any-return]
    except json.JSONDecodeError:
        raise CheckpointError(f"{path}: damaged manifest (not valid JSON)") from None


def _write_manifest(run: Path, manifest: dict[str, Any]) -> None:
    data = json.dumps(manifest, indent=2, sort_keys=True).encode()
    _atomic_write(run / MANIFEST, lambda fh: fh.write(data))


def save(
    run: Path, payload: dict[str, Any], slim: dict[str, Any], step: int, is_best: bool, keep_last: int
) -> Path:
    """Save ``payload`` as step ``step``; update last (and best, written as ``slim``: what translation
    needs, so a cold start reads and verifies a third of the bytes); prune beyond ``keep_last``."""
    name = f"step-{step:08d}.pt"
    path = run / name
    _atomic_write(path, lambda fh: _write_payload(fh, payload, step))
    manifest = read_manifest(run)
    manifest["files"][name] = _entry(path, step)
    manifest["last"] = name
    if is_best or manifest.get("best") is None:
        manifest["best"] = name
        _atomic_write(run / "best.pt", lambda fh: torch.save(slim, fh))
        manifest["best_file"] = _entry(run / "best.pt", step)
    _write_manifest(run, manifest)
    _link(path, run / "last.pt")
    _prune(run, manifest, keep_last)
    return path


def write_file(path: Path, payload: dict[str, Any]) -> None:
    """A standalone checkpoint file (e.g. averaged weights), written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(path, lambda fh: torch.save(payload, fh))


def _entry(path: Path, step: int) -> dict[str, Any]:
    return {"sha256": durable.sha256_file(path), "step": step, "bytes": path.stat().st_size}


def _write_payload(fh: IO[bytes], payload: dict[str, Any], step: int) -> None:
    if faults.armed("kill-mid-save", step) or faults.armed("enospc-save", step):
        buf = io.BytesIO()
        torch.save(payload, buf)
        fh.write(buf.getvalue()[: buf.tell() // 2])
        fh.flush()
        if faults.armed("kill-mid-save", step):
            faults.kill_self()
        raise faults.disk_full(fh.name if isinstance(fh.name, str) else "checkpoint")
    torch.save(payload, fh)


def _prune(run: Path, manifest: dict[str, Any], keep_last: int) -> None:
    """Remove step files beyond the last ``keep_last`` (best.pt/last.pt are links and survive)."""
    names = sorted(manifest["files"], key=lambda n: manifest["files"][n]["step"])
    keep = set(names[-max(1, keep_last) :]) | {manifest["best"], manifest["last"]}
    doomed = [n for n in names if n not in keep]
    if not doomed:
        return
    for n in doomed:
        manifest["files"][n]["pruned"] = True
    _write_manifest(run, manifest)
    for n in doomed:
        (run / n).unlink(missing_ok=True)


def _verify(path: Path, expected: str | None) -> None:
    if expected is not None and durable.sha256_file(path) != expected:
        raise CheckpointError(f"{path}: checksum mismatch (damaged or modified since it was written)")


def load_file(path: Path, expected_sha256: str | None = None) -> dict[str, Any]:
    """Load one checkpoint with ``weights_only=True``; never falls back to unsafe loading."""
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    _verify(path, expected_sha256)
    try:
        # mmap: tensors nobody touches (the optimizer state, when translating) are never read
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:  # truncated zip, foreign pickle, code-running pickle...
        raise CheckpointError(f"{path}: not a loadable checkpoint ({_reason(err)})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT or "model" not in payload:
        raise CheckpointError(f"{path}: not an nmt checkpoint")
    return payload


def _reason(err: Exception) -> str:
    """The informative line of torch.load's error (it explains unsafe globals at length)."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    unsafe = [ln for ln in lines if "Unsupported global" in ln or "Unsupported operand" in ln]
    if unsafe:
        return (
            "refused unsafe content: " + unsafe[0].split(" was not an allowed global")[0].split("error: ")[-1]
        )
    return (lines[0] if lines else type(err).__name__)[:200]


def _candidates(run: Path, which: str) -> Iterator[tuple[Path, str | None]]:
    """The checkpoint asked for first, then older good ones, newest first."""
    manifest = read_manifest(run)
    files = manifest["files"]
    first = manifest.get(which)
    if which == "best" and manifest.get("best_file"):
        yield run / "best.pt", manifest["best_file"]["sha256"]
    elif first and first in files:
        yield run / f"{which}.pt", files[first]["sha256"]
    if first and first in files:
        yield run / first, files[first]["sha256"]
    for name in sorted(files, key=lambda n: files[n]["step"], reverse=True):
        if name != first and not files[name].get("pruned"):
            yield run / name, files[name]["sha256"]


def load(
    model_path: Path | str, which: str = "best", warn: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Load from a run directory (``best``/``last``, falling back to older good files) or a file."""
    path = Path(model_path)
    if path.is_file():
        manifest = read_manifest(path.parent) if (path.parent / MANIFEST).exists() else {"files": {}}
        if path.name == "best.pt":
            entry = manifest.get("best_file")
        else:
            alias = manifest.get("last") if path.name == "last.pt" else None
            entry = manifest["files"].get(alias or path.name)
        return load_file(path, entry["sha256"] if entry else None)
    if not path.is_dir():
        raise CheckpointError(f"{path}: no such run directory or checkpoint file")
    if which not in ("best", "last"):
        raise UsageError(f"--checkpoint must be best or last, not {which!r}")
    errors = []
    for candidate, sha in _candidates(path, which):
        if not candidate.exists():
            continue
        try:
            payload = load_file(candidate, sha)
        except CheckpointError as err:
            errors.append(str(err))
            continue
        if errors and warn is not None:
            warn(f"{errors[0]}; using {candidate.name} instead")
        return payload
    raise CheckpointError(errors[0] if errors else f"{path}: no checkpoint in this run directory yet")


@contextmanager
def run_lock(run: Path) -> Iterator[None]:
    """An exclusive lock on the run directory: two trainings never write into it at once."""
    run.mkdir(parents=True, exist_ok=True)
    fh = open(run / ".lock", "w")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise UsageError(f"{run} is in use by another training (lock held on {run / '.lock'})") from None
    for stale in run.glob(".*.tmp"):  # left by a run killed mid-write; we hold the lock now
        stale.unlink(missing_ok=True)
    try:
        yield
    finally:
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


def last_kept(run: Path, last: int) -> tuple[list[str], list[dict[str, Any]]]:
    """The names and verified contents of the last ``last`` kept step files of ``run``, oldest first."""
    manifest = read_manifest(run)
    files = manifest["files"]
    names = [n for n in sorted(files, key=lambda n: files[n]["step"]) if not files[n].get("pruned")][-last:]
    if not names:
        raise CheckpointError(f"{run}: no checkpoints to average")
    return names, [load_file(run / n, files[n]["sha256"]) for n in names]
