"""Atomic file writes, the cleaning of what an interrupted one leaves behind, and bounded reads.

A file is written to ``.NAME.XXXXXX.tmp`` in its own folder, flushed to disk, then renamed over
``NAME``; a reader sees the old file or the new one, never half of one. A crash between the two
leaves only the temporary file, which :func:`remove_temporary_files` deletes (the batch runner
calls it at the start of each run). :meth:`flux2prompt.transport.ImageResult.save` and the batch
manifest and gallery all write through :func:`atomic_write`. A file from outside (an image, a
table) is read through :func:`read_at_most`, so a huge or endless one (``/dev/zero``, a pipe)
costs no more than its limit.

This module imports nothing from the rest of the package, so every layer can use it.

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
import errno
import os
import re
import tempfile
from pathlib import Path
from typing import Final

__all__ = [
    "atomic_write",
    "finish_write",
    "read_at_most",
    "remove_temporary_files",
    "remove_temporary_files_of",
]

# ".NAME.RANDOM.tmp": the names mkstemp gives in atomic_write.
_TEMPORARY = re.compile(r"^\..+\.tmp$")


def _umask() -> int:
    # os.umask can only be read by setting it; done once, at import, before any thread runs.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# mkstemp creates 0600; what is written here is an ordinary file, so it gets the usual mode.
_FILE_MODE: Final = 0o666 & ~_umask()


def atomic_write(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and durably, and return ``path``.

    Parent folders are created; the file gets the mode an ordinary new file would (``0o666``
    less the umask). On any error the temporary file is removed and ``path`` is untouched.

    Example:
        >>> import pathlib, tempfile
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "out" / "note.txt"
        >>> atomic_write(target, b"hello").read_bytes()
        b'hello'
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def finish_write(tmp: Path, path: Path) -> Path:
    """Finish the write an interrupted :func:`atomic_write` left as ``tmp`` (a temporary file
    in ``path``'s folder whose bytes the caller has checked): flush it to disk, give it an
    ordinary file's mode and rename it over ``path``; return ``path``.

    Example:
        >>> import pathlib, tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> tmp = folder / ".note.txt.k2j3x9ab.tmp"
        >>> _ = tmp.write_bytes(b"whole")
        >>> finish_write(tmp, folder / "note.txt").read_bytes(), tmp.exists()
        (b'whole', False)
    """
    fd = os.open(tmp, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        os.fsync(fd)
        os.fchmod(fd, _FILE_MODE)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)
    return path


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not possible (nor needed) on every platform.
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove_temporary_files(folder: Path) -> int:
    """Delete the temporary files of interrupted writes under ``folder``; return how many.

    Example:
        >>> import pathlib, tempfile
        >>> remove_temporary_files(pathlib.Path(tempfile.mkdtemp()))
        0
    """
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


def remove_temporary_files_of(path: Path) -> int:
    """Delete the temporary files that interrupted writes of ``path`` left; return how many.

    Example:
        >>> import pathlib, tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / ".m.jsonl.k2j3.tmp").write_bytes(b"half")
        >>> remove_temporary_files_of(folder / "m.jsonl"), list(folder.iterdir())
        (1, [])
    """
    removed = 0
    try:
        names = os.listdir(path.parent)
    except OSError:
        return 0
    prefix = f".{path.name}."
    for name in names:
        if name.startswith(prefix) and name.endswith(".tmp") and _TEMPORARY.match(name):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path.parent / name)
                removed += 1
    return removed


def read_at_most(path: str | os.PathLike[str], limit: int, what: str = "the file") -> bytes:
    """The bytes of the file at ``path``, read no further than ``limit`` bytes: a larger (or an
    endless) one raises :class:`OSError` (``EFBIG``) whose ``strerror`` says the limit (``what``
    names the kind of file), as a file the system refuses does, so callers report both alike.

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "x.png"
    >>> _ = path.write_bytes(b"12345")
    >>> read_at_most(path, 5)
    b'12345'
    >>> try:
    ...     read_at_most(path, 4, "an image")
    ... except OSError as exc:
    ...     print(exc.strerror)
    larger than the 4 bytes an image may have
    """
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"larger than the {limit:,} bytes {what} may have", str(path))
    return data
