"""Files that survive crashes: atomic replacement, fsync, content hashes."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

# What a filesystem that cannot fsync a directory answers (9p, some FUSE filesystems).
_NO_DIR_FSYNC = frozenset({errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP})


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fsync_path(path: Path) -> None:
    """fsync a file or a directory (a directory's fsync makes renames inside it durable).

    A directory on a filesystem that refuses to fsync directories (EINVAL, ENOTSUP) is skipped: the
    filesystem offers nothing stronger. A file's fsync error always propagates.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as err:
        if err.errno not in _NO_DIR_FSYNC or not stat.S_ISDIR(os.fstat(fd).st_mode):
            raise
    finally:
        os.close(fd)


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def replaceable(path: Path) -> bool:
    """True when ``path`` is missing or a regular file (not a symlink): what a rename may replace.

    Anything else (a FIFO, a device such as ``/dev/null``, a symlink such as ``/dev/stdout``) is written
    through in place; replacing it would destroy it (as root, even ``/dev/null``).
    """
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return True
    return stat.S_ISREG(mode)


class Replacement:
    """New content for ``path``: written to a temporary sibling, then renamed onto ``path`` by :meth:`commit`.

    The temporary file has a unique name (concurrent writers of one path never share it), and
    :meth:`abort` removes it, so a failure leaves the old file as it was and nothing beside it. A path
    that is not :func:`replaceable` is opened and written in place instead (no temporary file, and
    :meth:`abort` cannot take back what was written). A directory is refused (IsADirectoryError).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp: str | None = None
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        if not replaceable(path):
            self.file: IO[bytes] = open(path, "wb")  # closed by commit or abort
            return
        fd, self.tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            os.fchmod(fd, 0o666 & ~umask())
            self.file = os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            os.unlink(self.tmp)
            raise

    def commit(self) -> None:
        """Flush, fsync and rename into place (in place: flush and close); the caller aborts on error."""
        self.file.flush()
        if self.tmp is None:
            self.file.close()
            return
        os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.tmp, self.path)
        self.tmp = None
        fsync_path(self.path.parent)

    def abort(self) -> None:
        """Close and remove the temporary file; never raises (it runs while another error propagates)."""
        try:
            self.file.close()
        except OSError:
            pass  # e.g. the flush of a full disk's last block: the file goes anyway
        if self.tmp is not None:
            try:
                os.unlink(self.tmp)
            except FileNotFoundError:
                pass
            self.tmp = None


def atomic_write(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Write ``path`` via a temporary sibling, fsync and rename; on any failure the old file stays.

    Errors (a full disk included) propagate after the temporary file is removed. A target that is not
    :func:`replaceable` (a FIFO, a device, a symlink) is written in place (see :class:`Replacement`).
    """
    out = Replacement(path)
    try:
        write(out.file)
        out.commit()
    except BaseException:
        out.abort()
        raise
