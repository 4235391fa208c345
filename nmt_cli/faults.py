"""Fault injection, so tests can kill, interrupt or starve a real run at an exact place.

One environment variable arms faults (several: separated by commas); unset in normal use, and reading
it is all a check costs::

    NMT_FAULT=NAME@STEP       fault NAME at training step STEP       (kill-after-save@30)
    NMT_FAULT=NAME@every      fault NAME at every step               (enospc-save@every)
    NMT_FAULT=NAME            at point NAME, send this process SIGKILL (prepare-staged)
    NMT_FAULT=NAME:SIGNAL     at point NAME, send it SIGSIGNAL instead (prepare-tokenizer:INT)

Step faults are asked for with :func:`armed` or :func:`once` by code that knows its step, and the caller
decides what the fault does (:func:`kill_self`, raise :func:`disk_full`, a NaN loss...). The step faults
of training are ``kill-mid-save`` and ``enospc-save`` (half the step file written), ``kill-before-manifest``
(the step file written, the manifest not yet), ``kill-after-save`` (the checkpoint complete),
``enospc-metrics`` (appending to ``metrics.jsonl``), ``nan-loss`` and ``dev-stalls`` (the regular
validation at that step counts as no improvement, whatever dev scored). Point faults
act by themselves: :func:`point` sends the signal. The points of ``nmt prepare`` are ``prepare-staged``,
``prepare-tokenizer``, ``prepare-encoded`` (after each pass) and ``prepare-rename`` (before the finished
directory is moved into place).
"""

from __future__ import annotations

import errno
import os
import signal

ENV = "NMT_FAULT"


def _specs() -> list[str]:
    return os.environ.get(ENV, "").split(",")


def armed(name: str, step: int) -> bool:
    """True when fault ``name`` is armed for ``step`` (``NAME@STEP``) or for every step (``NAME@every``)."""
    specs = _specs()
    return f"{name}@{step}" in specs or f"{name}@every" in specs


_fired: set[str] = set()


def once(name: str, step: int) -> bool:
    """Like :func:`armed`, but a ``NAME@STEP`` fault fires only the first time it is reached."""
    if not armed(name, step):
        return False
    if f"{name}@every" in _specs():
        return True
    key = f"{name}@{step}"
    if key in _fired:
        return False
    _fired.add(key)
    return True


def point(name: str) -> None:
    """Send this process the armed signal when the fault is point ``name`` (``NAME`` or ``NAME:SIGNAL``)."""
    for spec in _specs():
        wanted, _, sig = spec.partition(":")
        if wanted == name:
            os.kill(os.getpid(), signal.Signals[f"SIG{sig or 'KILL'}"])


def kill_self() -> None:
    """End this process at once with SIGKILL, as a crash or the OOM killer would."""
    os.kill(os.getpid(), signal.SIGKILL)


def disk_full(path: str) -> OSError:
    """The error a write to ``path`` raises when the disk is full (ENOSPC), to be raised by the caller."""
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
