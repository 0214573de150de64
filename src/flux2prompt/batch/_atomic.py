"""Atomic file writes, and the cleaning of what an interrupted one leaves behind.

A file is written to ``.NAME.XXXXXX.tmp`` in its own folder, flushed to disk, then renamed over
``NAME``, the same way :meth:`flux2prompt.transport.ImageResult.save` writes images; a reader
sees the old file or the new one, never half of one. A crash between the two leaves only the
temporary file, which :func:`remove_temporary_files` deletes at the start of the next run.

Example:
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> atomic_write(folder / "index.html", b"<!doctype html>").read_bytes()
    b'<!doctype html>'
    >>> _ = (folder / ".index.html.k2j3.tmp").write_bytes(b"half")
    >>> remove_temporary_files(folder)
    1
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path

__all__ = ["atomic_write", "remove_temporary_files"]

# ".NAME.RANDOM.tmp": the names mkstemp gives here and in ImageResult.save.
_TEMPORARY = re.compile(r"^\..+\.tmp$")


def atomic_write(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and durably; parent folders are created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if os.name == "posix":  # make the rename itself durable
        with contextlib.suppress(OSError):
            folder = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
    return path


def remove_temporary_files(folder: Path) -> int:
    """Delete the temporary files of interrupted writes under ``folder``; return how many."""
    removed = 0
    if not folder.is_dir():
        return 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            if _TEMPORARY.match(name):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(root, name))
                    removed += 1
    return removed
