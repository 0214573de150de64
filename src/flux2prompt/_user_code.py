"""While a user's code runs, what it prints goes to stderr.

A prompt module imported for ``file.py:NAME``, the function a SOURCE names, a template function
rendering a variant: each is the user's code, run inside a command whose results are on stdout
(JSON, a fingerprint, the compiled prompt). :func:`user_code` sends what that code prints to
stderr, so a debug ``print`` never corrupts the results. With ``descriptors=True`` (importing a
module, calling a SOURCE's function: once per source) file descriptor 1 itself points at
stderr too, so what bypasses ``sys.stdout`` (``os.write(1, ...)``, a subprocess the module
runs, a C extension's output) cannot corrupt them either. A recursion limit the code lowered
is put back when it ends.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["describe_exception", "user_code"]


_user_code_guard = threading.Lock()
_user_code_depth = 0
_user_code_stdout: Any = None
_descriptor_depth = 0
_saved_descriptor: int | None = None
_saved_recursion_limit = 0


def _flush(stream: Any) -> None:
    with contextlib.suppress(Exception):  # a closed or broken stream has nothing to flush
        stream.flush()


def _point_stdout_at_stderr() -> int | None:
    """Make descriptor 1 a copy of descriptor 2; the saved descriptor 1, or ``None`` when
    either is closed (nothing to protect, or nowhere to send it)."""
    try:
        saved = os.dup(1)
    except OSError:
        return None
    try:
        os.dup2(2, 1)
    except OSError:
        os.close(saved)
        return None
    return saved


def _restore_stdout(saved: int) -> None:
    try:
        os.dup2(saved, 1)
    finally:
        os.close(saved)


@contextlib.contextmanager
def user_code(*, descriptors: bool = False) -> Iterator[None]:
    """While a user's code runs (importing a prompt file's module, calling its function,
    rendering a template), what it prints goes to stderr, so a command's results on stdout (JSON,
    a fingerprint) stay exactly what the command printed. Nested and threaded uses share one
    redirection, restored when the last one ends.

    ``descriptors=True`` also points file descriptor 1 at stderr for as long, for output that
    does not go through ``sys.stdout``: a subprocess the code starts, ``os.write(1, ...)``.

    Example:
        >>> with user_code():
        ...     print("a debug line")  # on stderr, not in the doctest's stdout
    """
    global _user_code_depth, _user_code_stdout, _descriptor_depth, _saved_descriptor
    global _saved_recursion_limit
    with _user_code_guard:
        if _user_code_depth == 0:
            _user_code_stdout = sys.stdout
            sys.stdout = sys.stderr
            _saved_recursion_limit = sys.getrecursionlimit()
        _user_code_depth += 1
        if descriptors:
            if _descriptor_depth == 0:
                # What the command printed so far is written where it was meant to go first.
                _flush(_user_code_stdout)
                _saved_descriptor = _point_stdout_at_stderr()
            _descriptor_depth += 1
    try:
        yield
    finally:
        with _user_code_guard:
            if descriptors:
                _descriptor_depth -= 1
                if _descriptor_depth == 0 and _saved_descriptor is not None:
                    _flush(sys.stderr)
                    saved, _saved_descriptor = _saved_descriptor, None
                    _restore_stdout(saved)
            _user_code_depth -= 1
            if _user_code_depth == 0:
                sys.stdout = _user_code_stdout
                _user_code_stdout = None
                # A module that lowered the recursion limit (sys.setrecursionlimit(30)) must not
                # leave the command unable to validate what it made; a raised limit is kept.
                if sys.getrecursionlimit() < _saved_recursion_limit:
                    sys.setrecursionlimit(_saved_recursion_limit)


#: The most of a user's exception message an error line shows.
MAX_MESSAGE_CHARS = 500


def describe_exception(exc: BaseException) -> str:
    """``KeyError: 'sku'``: an exception the user's code raised, as one line of an error. Its
    message is cut to :data:`MAX_MESSAGE_CHARS` characters, and one whose ``__str__`` itself
    raises is described without it.

    Example:
        >>> describe_exception(KeyError("sku")), describe_exception(RuntimeError())
        ("KeyError: 'sku'", 'RuntimeError')
    """
    kind = type(exc).__name__
    try:
        text = str(exc)
    except Exception as inner:  # the user's __str__: it may raise anything
        return f"{kind} (its message could not be read: {type(inner).__name__})"
    if len(text) > MAX_MESSAGE_CHARS:
        text = f"{text[:MAX_MESSAGE_CHARS]}... ({len(text):,} characters)"
    return f"{kind}: {text}" if text else kind
