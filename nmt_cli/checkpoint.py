"""Checkpoints that survive crashes: atomic save, verified load (``weights_only``), resume state.

A run directory holds ``step-NNNNNNNN.pt`` files, ``best.pt`` and ``last.pt`` (hard links to one of
them) and ``checkpoints.json``, a manifest with every file's sha256. A save writes a temporary file
in the same directory, fsyncs it, renames it into place, updates the manifest the same way and only
then prunes old files, so the previous good checkpoint survives a kill or a full disk at any point.
The manifest is the commit point: a step file it does not list was never part of the run.

A run directory is untrusted input (copied, shared, tampered with). The manifest must have the shape
this module writes and may name only the files it writes (``step-NNNNNNNN.pt`` with its own step): any
other manifest is refused with a one-line :class:`CheckpointError` before anything is acted on (a name
is never unlinked, opened or trusted because a manifest says so). The run's files are never opened
through a symbolic link (``O_NOFOLLOW``, ``lstat``): a symlink, or anything but a regular file, under
one of the run's names is refused with an error that names it.

Taking the run's lock (:func:`run_lock`) checks the run's files and tidies what a killed training left:
temporaries (``.*.tmp``, ``.*.link``); step files after the manifest's ``last`` that it does not list
(written, then killed before the manifest was updated: removed, not adopted, because the save they
belong to never completed (``best.pt`` may be half done); training resumes from the manifest's ``last``
and writes that step again, the same bytes); files the manifest marks pruned (killed while pruning);
and a ``last.pt`` that is not yet the manifest's ``last`` (killed before the link). Several step files
without any manifest are refused rather than removed: that manifest was lost, not left unwritten.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import torch

from nmt_cli import durable, faults, locks
from nmt_cli.errors import CheckpointError, UsageError
from nmt_cli.runfiles import (
    MANIFEST,
    RUN_FILES,
    STEP_FILE,
    TEMPORARY,
    check_regular,
    read_run_file,
    step_name,
)
from nmt_cli.runfiles import atomic_write as _atomic_write

FORMAT = 1
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _link(src: Path, dst: Path) -> None:
    """Point ``dst`` at ``src``'s content atomically (hard link, or a copy where links fail)."""
    tmp = dst.with_name(f".{dst.name}.link")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        _atomic_write(tmp, lambda fh: fh.write(src.read_bytes()))
    check_regular(dst)
    os.replace(tmp, dst)


def read_manifest(run: Path) -> dict[str, Any]:
    """The run's manifest, checked (shape and names; see the module docstring); empty when missing."""
    path = run / MANIFEST
    try:
        data = read_run_file(path)
    except FileNotFoundError:
        return {"files": {}, "best": None, "last": None}
    try:
        manifest = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise CheckpointError(f"{path}: damaged manifest (not UTF-8)") from None
    except (ValueError, RecursionError):
        raise CheckpointError(f"{path}: damaged manifest (not valid JSON)") from None
    problem = _manifest_problem(manifest)
    if problem:
        raise CheckpointError(f"{path}: damaged or foreign manifest ({problem}); refusing to use it")
    return manifest  # type: ignore[no-any-return]


def _manifest_problem(manifest: Any) -> str | None:
    """What makes ``manifest`` other than one :func:`save` writes, or None."""
    if not isinstance(manifest, dict):
        return "not a JSON object"
    files = manifest.get("files")
    if not isinstance(files, dict):
        return "no 'files' object"
    for name, entry in files.items():
        problem = _entry_problem(entry)
        if problem:
            return f"{_short(name)}: {problem}"
        if name != step_name(entry["step"]):
            return f"{_short(name)} is not a name nmt writes (step-NNNNNNNN.pt of its step)"
    for key in ("best", "last"):
        if manifest.get(key) is not None and manifest[key] not in files:
            return f"{key!r} names no listed checkpoint"
    if "best_file" in manifest:
        problem = _entry_problem(manifest["best_file"])
        if problem:
            return f"'best_file': {problem}"
    return None


def _short(name: str) -> str:
    """A name from a manifest for a message: quoted, escaped, its end kept when it is long."""
    return repr(name if len(name) <= 80 else "..." + name[-77:])


def _entry_problem(entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return "not an object"
    if not (isinstance(entry.get("sha256"), str) and _SHA256.fullmatch(entry["sha256"])):
        return "no sha256"
    for key in ("step", "bytes"):
        if type(entry.get(key)) is not int or entry[key] < 0:
            return f"no {key}"
    if not isinstance(entry.get("pruned", False), bool):
        return "'pruned' is not true or false"
    return None


def _write_manifest(run: Path, manifest: dict[str, Any]) -> None:
    data = json.dumps(manifest, indent=2, sort_keys=True).encode()
    _atomic_write(run / MANIFEST, lambda fh: fh.write(data))


def save(
    run: Path,
    payload: dict[str, Any],
    slim: dict[str, Any],
    step: int,
    is_best: bool,
    keep_last: int,
    also_keep: Collection[str] = (),
) -> Path:
    """Save ``payload`` as step ``step``; update last (and best, written as ``slim``: what translation
    needs, so a cold start reads and verifies a third of the bytes); prune beyond ``keep_last``, but
    for the step files named in ``also_keep``."""
    name = step_name(step)
    path = run / name
    _atomic_write(path, lambda fh: _write_payload(fh, payload, step))
    if faults.armed("kill-before-manifest", step):
        faults.kill_self()
    manifest = read_manifest(run)
    manifest["files"][name] = _entry(path, step)
    manifest["last"] = name
    if is_best or manifest.get("best") is None:
        manifest["best"] = name
        _write_best(run, manifest, slim, step)
    _write_manifest(run, manifest)
    _link(path, run / "last.pt")
    _prune(run, manifest, keep_last, also_keep)
    return path


def replace_best(run: Path, slim: dict[str, Any], step: int) -> None:
    """Write ``slim`` as ``best.pt`` (atomically, its sha256 in the manifest's ``best_file``); the
    manifest's ``best`` step file stays listed, kept and the fallback should best.pt be damaged."""
    manifest = read_manifest(run)
    _write_best(run, manifest, slim, step)
    _write_manifest(run, manifest)


def _write_best(run: Path, manifest: dict[str, Any], slim: dict[str, Any], step: int) -> None:
    """best.pt written atomically and entered in ``manifest`` (which the caller then writes)."""
    _atomic_write(run / "best.pt", lambda fh: torch.save(slim, fh))
    manifest["best_file"] = _entry(run / "best.pt", step)


def write_file(path: Path, payload: dict[str, Any]) -> None:
    """A standalone checkpoint file (e.g. averaged weights), written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(path, lambda fh: torch.save(payload, fh), in_run=False)


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


def _prune(run: Path, manifest: dict[str, Any], keep_last: int, also_keep: Collection[str] = ()) -> None:
    """Remove step files beyond the last ``keep_last`` but for ``also_keep`` (best.pt/last.pt are links
    and survive)."""
    names = sorted(manifest["files"], key=lambda n: manifest["files"][n]["step"])
    keep = set(names[-max(1, keep_last) :]) | {manifest["best"], manifest["last"], *also_keep}
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
        manifest = read_manifest(path.parent)
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
        try:
            check_regular(candidate)
        except CheckpointError as err:
            errors.append(str(err))
            continue
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
    """An exclusive lock on the run directory: two trainings never write into it at once.

    Taking it checks the run's files and tidies what a killed training left (see the module docstring).
    """
    try:
        run.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CheckpointError(f"{run}: cannot create the run directory ({err.strerror or err})") from None
    if not os.access(run, os.W_OK | os.X_OK):  # found now, not at the first save after an hour of training
        raise CheckpointError(f"{run}: the run directory is not writable (read-only or not yours)")
    lock = run / ".lock"
    check_regular(lock)  # never a lock through a symlink: the lock library opens it for writing
    with locks.exclusive(lock, busy=f"{run} is in use by another training (lock held on {lock})"):
        _tidy(run)
        yield


def _tidy(run: Path) -> None:
    """Check the run's files and remove what a killed training left; we hold the lock."""
    for name in RUN_FILES:
        check_regular(run / name)
    manifest = read_manifest(run)
    files = manifest["files"]
    last = files[manifest["last"]]["step"] if manifest.get("last") else -1
    entries = [e for e in os.scandir(run) if not e.is_dir(follow_symlinks=False)]
    steps = [e for e in entries if STEP_FILE.fullmatch(e.name)]
    if len(steps) > 1 and not os.path.lexists(run / MANIFEST):
        # A kill leaves at most the first step file before the first manifest: this one was lost.
        raise CheckpointError(
            f"{run}: step files but no {MANIFEST} (removed?); restore it, or move the step files "
            "away, or use a new --out"
        )
    for entry in entries:
        if TEMPORARY.fullmatch(entry.name):
            os.unlink(entry.path)
    for entry in steps:
        listed = files.get(entry.name)
        if listed is not None and listed.get("pruned"):
            os.unlink(entry.path)  # killed while pruning (or rewritten, then killed before the manifest)
        elif listed is None and int(entry.name[5:-3]) > last:
            os.unlink(entry.path)  # written, then killed before the manifest: never part of the run
        # (an unlisted one at or before the last step was not written by this run: left alone)
    for name in files:
        check_regular(run / name)
    _relink_last(run, manifest)


def _relink_last(run: Path, manifest: dict[str, Any]) -> None:
    """Make ``last.pt`` the manifest's last step file again after a kill between manifest and link."""
    name = manifest.get("last")
    if not name or not (run / name).is_file():
        return
    src, dst = run / name, run / "last.pt"
    sha = manifest["files"][name]["sha256"]
    if dst.is_file() and (os.path.samefile(src, dst) or durable.sha256_file(dst) == sha):
        return
    if durable.sha256_file(src) == sha:  # never point last.pt at a damaged file
        _link(src, dst)


def last_kept(run: Path, last: int) -> tuple[list[str], list[dict[str, Any]]]:
    """The names and verified contents of the last ``last`` kept step files of ``run``, oldest first."""
    if last < 1:
        raise UsageError(f"--last must be at least 1, not {last}")
    manifest = read_manifest(run)
    files = manifest["files"]
    names = [n for n in sorted(files, key=lambda n: files[n]["step"]) if not files[n].get("pruned")][-last:]
    if not names:
        raise CheckpointError(f"{run}: no checkpoints to average")
    for name in names:
        check_regular(run / name)
    return names, [load_file(run / n, files[n]["sha256"]) for n in names]
