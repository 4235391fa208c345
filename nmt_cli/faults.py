"""Fault injection points, so tests can kill or starve a real run at an exact place.

``NMT_FAULT=NAME@STEP`` arms fault NAME at training step STEP (e.g. ``kill-after-save@30``).
Unset in normal use; reading one environment variable is all it costs.
"""

from __future__ import annotations

import errno
import os
import signal


def armed(name: str, step: int) -> bool:
    return os.environ.get("NMT_FAULT", "") == f"{name}@{step}"


def kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def disk_full(path: str) -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
