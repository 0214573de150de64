"""One writer per output folder: an exclusive ``flock`` on ``DIR/batch.lock``.

A run that writes (``flux2-prompt batch`` without ``--dry-run``, :meth:`BatchRunner.run`) takes
the lock before it touches anything in the folder: before the clean-up of temporary files that an
interrupted run left, before reading the manifest. A second run on the same folder stops at once
with one line naming the process that holds it (``flock`` cannot say who holds a lock, so the
holder writes its PID into the file), or waits for it with ``wait=True`` (``--wait``).

``flock`` locks an open file, not a process: two runners in two threads of one process exclude
each other too, and the kernel releases the lock when the process dies, however it dies, so a
``kill -9`` never leaves a stale lock. The file itself stays (it holds the last holder's PID);
it is never what decides. Locks are not reliable on network filesystems (NFS, SMB): give each
machine its own folder (``--shard i/n --out out-i``) and merge the manifests afterwards.

Dry runs and the read-only commands (``manifest merge``, ``inspect``) take no lock, but for a
merge whose target is in a batch's folder: it holds that folder's lock while it writes.

Example:
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> with FolderLock(folder) as lock:
    ...     other = FolderLock(folder)
    ...     other.try_acquire() == os.getpid()    # held: the holder's PID
    True
    >>> FolderLock(folder).try_acquire() is None  # released
    True
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from flux2prompt._errors import SourceError

__all__ = ["LOCK_NAME", "FolderLock"]

#: The lock file's name inside an output folder.
LOCK_NAME = "batch.lock"
_POLL = 0.2  # seconds between two tries while waiting for the lock


def _busy(folder: Path, holder: int | None) -> SourceError:
    who = f"PID {holder}" if holder else "another process"
    return SourceError(
        f"another flux2-prompt batch ({who}) is writing to this folder; wait for it to end, "
        "rerun with --wait, or choose another --out",
        source=str(folder),
    )


class FolderLock:
    """The exclusive lock of one output folder (see the module docs).

    :meth:`try_acquire` returns ``None`` once the lock is held, else the PID of the process
    holding it (``0`` when it has not written it yet). :meth:`acquire` raises
    :class:`~flux2prompt.SourceError` naming that PID instead, or waits for it.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def _open(self) -> int:
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            return os.open(self.path, flags, 0o644)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                # Nothing in the way to remove: the folder itself cannot be written to.
                fix = "make the folder writable, or choose another --out"
            elif self.path.is_symlink():
                reason, fix = "it is a symbolic link (refused)", "remove it or choose another --out"
            else:
                fix = "remove it or choose another --out"
            raise SourceError(
                f"cannot open the folder's lock file {LOCK_NAME}: {reason}; {fix}",
                source=str(self.folder),
            ) from None

    def try_acquire(self) -> int | None:
        """Take the lock if it is free: ``None`` when taken, else the holder's PID (or 0)."""
        if self._fd is not None:
            return None
        if sys.platform == "win32":  # pragma: no cover - no flock there; one writer is on you
            self._fd = self._open()
            return None
        import fcntl

        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self._holder(fd)
            os.close(fd)
            return holder
        except OSError:
            os.close(fd)
            raise
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        except OSError as exc:
            # Not even a PID fits (a full disk, a read-only file system): neither would the
            # images, so nothing is sent.
            os.close(fd)
            reason = exc.strerror or type(exc).__name__
            raise SourceError(
                f"cannot write to the output folder ({LOCK_NAME}): {reason}; free space (or fix "
                "the disk), then rerun",
                source=str(self.folder),
            ) from None
        self._fd = fd
        return None

    @staticmethod
    def _holder(fd: int) -> int:
        # The holder writes its PID right after taking the lock: give it a moment to.
        for _ in range(10):
            text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            if text.isdigit():
                return int(text)
            time.sleep(0.02)
        return 0

    def acquire(self) -> None:
        """Take the lock, or raise :class:`~flux2prompt.SourceError` naming who holds it."""
        holder = self.try_acquire()
        if holder is not None:
            raise _busy(self.folder, holder)

    async def acquire_async(
        self, *, wait: bool = False, stopped: Callable[[], str | None] | None = None
    ) -> None:
        """Take the lock; with ``wait``, poll until it is free (cancellable), else raise.

        ``stopped`` is asked before each try while waiting: once it returns a reason (the run
        was told to stop), the wait ends with :class:`~flux2prompt.SourceError` saying it.
        """
        while True:
            holder = self.try_acquire()
            if holder is None:
                return
            if not wait:
                raise _busy(self.folder, holder)
            reason = stopped() if stopped is not None else None
            if reason is not None:
                who = f"PID {holder}" if holder else "another process"
                raise SourceError(
                    f"{reason} (while waiting for another flux2-prompt batch, {who}, to end)",
                    source=str(self.folder),
                )
            await asyncio.sleep(_POLL)

    def release(self) -> None:
        """Give the lock back (closing the file releases it)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> FolderLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
