"""Fault injection points, so tests can kill or starve a real run at an exact place.

``NMT_FAULT=NAME@STEP`` arms fault NAME at training step STEP (e.g. ``kill-after-save@30``).
Unset in normal use; reading one environment variable is all it costs.
"""

from __future__ import annotations

import errno
import os
import signal


def armed(name: str, step: int) -> bool:
    """True when fault ``name`` is armed for ``step`` (``NAME@STEP``) or for every step (``NAME@every``)."""
    return os.environ.get("NMT_FAULT", "") in (f"{name}@{step}", f"{name}@every")


def kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def disk_full(path: str) -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)


_fired: set[str] = set()


def once(name: str, step: int) -> bool:
    """Like :func:`armed`, but a ``NAME@STEP`` fault fires only the first time it is reached."""
    if not armed(name, step):
        return False
    if os.environ.get("NMT_FAULT") == f"{name}@every":
        return True
    key = f"{name}@{step}"
    if key in _fired:
        return False
    _fired.add(key)
    return True
