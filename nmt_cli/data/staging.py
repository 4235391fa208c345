"""The output directory appears whole or not at all.

``nmt prepare`` writes everything into a hidden sibling of DATA (``.DATA.prepare-*``), fsyncs it and
renames it into place at the end, so a crash, Ctrl-C or SIGKILL never leaves a half-written DATA. The
staging directory holds a lock file for as long as its run lives; a staging directory whose lock is free
belongs to a killed run, and the next run removes it.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from nmt_cli import faults, locks
from nmt_cli.durable import fsync_path, umask
from nmt_cli.errors import DataError, NmtError, UsageError

LOCK = ".lock"
STALE_UNLOCKED_S = 600  # a staging dir without a lock file is stale after this long


@contextmanager
def staging_dir(out: Path) -> Iterator[Path]:
    """A hidden sibling of ``out`` that becomes ``out`` on success and vanishes on failure."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"{out} already exists; choose another --out or remove it")
    made = _make_parents(out.parent)
    tmp: Path | None = None
    try:
        with ExitStack() as held:
            _remove_stale(out)
            tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.prepare-", dir=out.parent))
            held.enter_context(locks.exclusive(tmp / LOCK, busy=f"{tmp}: locked by another process"))
            tmp.chmod(0o777 & ~umask())
            yield tmp
            _move_into_place(tmp, out)
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        _remove_empty(made)
        raise


def _move_into_place(tmp: Path, out: Path) -> None:
    """Make the finished staging directory durable, then rename it to ``out`` (an absent or empty dir)."""
    _fsync_tree(tmp)
    faults.point("prepare-rename")
    try:
        os.replace(tmp, out)  # replaces an empty directory, fails on anything else
    except OSError as err:
        raise DataError(f"{out}: cannot move the finished data into place ({err.strerror})") from None
    (out / LOCK).unlink()
    fsync_path(out.parent)


def _make_parents(parent: Path) -> list[Path]:
    """Create ``parent`` and its missing ancestors; return those created, deepest first."""
    made, p = [], parent
    while not p.exists():
        made.append(p)
        p = p.parent
    parent.mkdir(parents=True, exist_ok=True)
    return made


def _remove_empty(made: list[Path]) -> None:
    """Remove the directories a failed run created, deepest first, stopping at one that is not empty."""
    for directory in made:
        try:
            directory.rmdir()
        except OSError:
            break


def _remove_stale(out: Path) -> None:
    """Remove staging directories of killed runs: their lock file is no longer held."""
    for stale in out.parent.glob(f".{glob.escape(out.name)}.prepare-*"):
        try:
            if not (stale / LOCK).exists():
                if time.time() - stale.stat().st_mtime < STALE_UNLOCKED_S:
                    continue  # just created, or just renamed
            elif locks.is_held(stale / LOCK):
                continue  # a running prepare holds it
        except (OSError, NmtError):
            continue
        shutil.rmtree(stale, ignore_errors=True)


def _fsync_tree(directory: Path) -> None:
    for path in directory.iterdir():
        if path.is_file():
            fsync_path(path)
    fsync_path(directory)
