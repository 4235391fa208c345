"""The files of a run directory, treated as untrusted input: names, one-line errors, safe reads and writes.

A run file is never opened through a symbolic link (``O_NOFOLLOW``, ``lstat``); a symlink or anything
but a regular file under one of the run's names is refused with an error naming it. OS errors on run
files (a full disk, a read-only directory) are one-line :class:`CheckpointError`s that say the previous
checkpoint is kept. ``checkpoint.py`` builds the manifest, saves and loads on top of these.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from nmt_cli import durable, faults
from nmt_cli.errors import CheckpointError

MANIFEST = "checkpoints.json"
# The files of a run besides its step files; each must be a regular file when present.
RUN_FILES = ("config.json", MANIFEST, "metrics.jsonl", "best.pt", "last.pt", ".lock")
STEP_FILE = re.compile(r"step-[0-9]{8,}\.pt")
# What a killed write leaves: durable.atomic_write's ``.NAME.XXXXXXXX.tmp``, _link's ``.NAME.link``.
TEMPORARY = re.compile(r"\..+\.(tmp|link)")
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
_NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)
NO_FOLLOW = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # NONBLOCK: a FIFO never hangs the open


def step_name(step: int) -> str:
    """The name of the step file of update ``step``."""
    return f"step-{step:08d}.pt"


def run_error(err: OSError, path: Path, doing: str) -> CheckpointError:
    """An OSError on a run file as a one-line error (a full disk or a read-only run keeps the last
    checkpoint: nothing is replaced before its new content is complete)."""
    if err.errno in _DISK_FULL:
        return CheckpointError(
            f"{path.parent}: disk full while {doing} {path.name}; the previous checkpoint is kept"
        )
    if err.errno in _NOT_WRITABLE:
        return CheckpointError(
            f"{path.parent}: the run directory is not writable ({err.strerror} while {doing} {path.name})"
        )
    if err.errno == errno.ELOOP:
        return _symlink(path)
    return CheckpointError(f"{path}: {err.strerror or err} (while {doing} it)")


def _symlink(path: Path) -> CheckpointError:
    return CheckpointError(
        f"{path}: a symbolic link in a run directory; nmt never follows one out of the run (remove it)"
    )


def not_regular(path: Path) -> CheckpointError:
    return CheckpointError(f"{path}: not a regular file; a run directory holds only the files nmt writes")


def check_regular(path: Path) -> None:
    """Refuse a run file that is a symbolic link or not a regular file (a missing one is fine)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISLNK(mode):
        raise _symlink(path)
    if not stat.S_ISREG(mode):
        raise not_regular(path)


def read_run_file(path: Path) -> bytes:
    """A run file's bytes, never read through a symlink; FileNotFoundError when it is missing."""
    try:
        fd = os.open(path, os.O_RDONLY | NO_FOLLOW)
    except FileNotFoundError:
        raise
    except OSError as err:
        raise run_error(err, path, "reading") from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise not_regular(path)
        return fh.read()


def write_run_file(path: Path, data: bytes) -> None:
    """Replace a run file atomically with ``data`` (never writing through a symlink there)."""
    atomic_write(path, lambda fh: fh.write(data))


def append_run_file(path: Path, data: bytes) -> None:
    """Append ``data`` to a run file in one ``write`` (O_APPEND, never through a symlink).

    A short write (the disk filled up inside the record) is a disk-full error; it may leave a torn
    last line, which readers of the file skip.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | NO_FOLLOW, 0o666)
    except OSError as err:
        raise run_error(err, path, "appending to") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise not_regular(path)
        if os.write(fd, data) != len(data):
            raise faults.disk_full(str(path))
    except OSError as err:
        raise run_error(err, path, "appending to") from None
    finally:
        os.close(fd)


def atomic_write(path: Path, write: Callable[[IO[bytes]], object], in_run: bool = True) -> None:
    """durable.atomic_write, with OS errors (a full disk...) as one-line checkpoint errors.

    ``in_run``: ``path`` is a run file, so a symlink or special file there is refused (durable writes
    through those, as a user's output may be ``/dev/stdout``).
    """
    if in_run:
        check_regular(path)
    try:
        durable.atomic_write(path, write)
    except OSError as err:
        raise run_error(err, path, "writing") from None


def metrics_lines(data: bytes) -> list[tuple[bytes, dict[str, Any] | None]]:
    """The lines of a ``metrics.jsonl`` (each ending in a newline) with their records; None for a line
    that is not a JSON object (torn by a power loss, or damaged)."""
    pieces = data.split(b"\n")
    last = pieces.pop()  # b"" after a final newline, else a line the writer did not finish
    if last:
        pieces.append(last)
    lines = []
    for piece in pieces:
        try:
            record = json.loads(piece)
        except (ValueError, RecursionError):  # (UnicodeDecodeError is a ValueError)
            record = None
        lines.append((piece + b"\n", record if isinstance(record, dict) else None))
    return lines
