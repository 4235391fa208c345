"""Exclusive locks between processes, through ``filelock`` (flock on POSIX, msvcrt on Windows).

A lock is held on a file for as long as its process lives; a killed process releases it. A filesystem
that cannot lock (some network filesystems) is a one-line error that says so, not a traceback, and
on Windows the commands lock as on Linux instead of failing to import ``fcntl``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nmt_cli.errors import DataError, UsageError


@contextmanager
def exclusive(path: Path, busy: str) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created when missing), or raise ``UsageError(busy)`` at once
    when another process holds it."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise UsageError(busy) from None
    except NotImplementedError:  # flock refused: ENOSYS on some network filesystems
        raise DataError(f"{path}: this filesystem cannot lock files; use a local disk") from None
    except OSError as err:
        raise DataError(f"{path}: cannot lock ({err.strerror or err}); use a local disk") from None
    try:
        yield
    finally:
        lock.release()


def is_held(path: Path) -> bool:
    """Whether another process holds the lock on ``path`` now (False when the file is missing)."""
    if not path.exists():
        return False
    try:
        with exclusive(path, busy=""):
            return False
    except UsageError:
        return True
