"""Errors a user can cause. Each carries the exit code the CLI returns for it.

Exit codes (documented in README):
    0  success
    1  bad input data or a runtime failure (message names the file and line)
    2  usage error (bad option or argument)
    3  a quality gate failed (``evaluate --fail-under``)
  130  interrupted (Ctrl-C); the lines already finished were written
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_DATA = 1
EXIT_USAGE = 2
EXIT_GATE = 3
EXIT_INTERRUPTED = 130


class NmtError(Exception):
    """Base class: a one-line message for the user and an exit code."""

    exit_code = EXIT_DATA


class DataError(NmtError):
    """Input data is malformed: mismatched files, bad encoding, unreadable file."""


class UsageError(NmtError):
    """Options that cannot work together or point at nothing."""

    exit_code = EXIT_USAGE


class CheckpointError(NmtError):
    """A checkpoint is missing, truncated, tampered with or incompatible."""


class GateError(NmtError):
    """A score fell below a ``--fail-under`` bar."""

    exit_code = EXIT_GATE
