"""Writing files whole or not at all: bundles, the character library, base models, checkpoints.

Public API::

    atomic_write(path, write: Callable[[Path], None]) -> Path
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

# Readable by everyone, writable by the owner: characters are meant to be shared, and
# ``tempfile.mkstemp`` would otherwise leave its private 0600.
FILE_MODE = 0o644


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, flush it to disk and rename it into
    place, so that ``path`` holds either its old content or the complete new one, never a part
    (an error or an interrupt removes the temporary file). The file gets mode 0644."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        fd = os.open(tmp, os.O_RDWR)
        try:
            os.fsync(fd)  # the rename must not reach the disk before the data
        finally:
            os.close(fd)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


__all__ = ["FILE_MODE", "atomic_write"]
