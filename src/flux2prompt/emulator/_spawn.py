"""Running the emulator in a separate process, for tests that need a real process boundary.

Example:
    >>> import httpx
    >>> with spawn(seed=1) as base_url:
    ...     httpx.get(base_url).status_code
    400
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from flux2prompt.emulator._config import TOKEN_ENV_VAR, EmulatorConfig, config_to_argv
from flux2prompt.emulator._server import _resolve

__all__ = ["spawn"]

_BANNER = re.compile(rb"flux2prompt emulator listening on (?P<url>http://\S+)")


@contextlib.contextmanager
def spawn(
    config: EmulatorConfig | None = None, *, timeout: float = 20.0, **overrides: Any
) -> Iterator[str]:
    """Start ``python -m flux2prompt.emulator`` and yield its base URL once it is listening.

    Keyword arguments override fields of ``config``. The token travels in the environment, not
    on the command line. The process gets SIGTERM when the block ends (SIGKILL if it lingers).
    Raises ``RuntimeError`` with the child's stderr if it does not start within ``timeout``.
    """
    resolved = _resolve(config, overrides)
    env = dict(os.environ)
    env.pop(TOKEN_ENV_VAR, None)
    if resolved.token is not None:
        env[TOKEN_ENV_VAR] = resolved.token
    # The child must import this very copy of the package, installed or not.
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "flux2prompt.emulator", *config_to_argv(resolved)]
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, env=env
        )
        try:
            assert process.stdout is not None
            yield _await_banner(process, process.stdout, stderr, timeout)
        finally:
            _terminate(process)


def _await_banner(
    process: subprocess.Popen[bytes], stdout: IO[bytes], stderr: IO[bytes], timeout: float
) -> str:
    deadline = time.monotonic() + timeout
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(stdout, selectors.EVENT_READ)
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(_failure("did not start in time", stderr))
            if not selector.select(remaining):
                continue
            chunk = os.read(stdout.fileno(), 4096)
            if not chunk:
                process.wait(timeout=5)
                reason = f"exited with status {process.returncode} before listening"
                raise RuntimeError(_failure(reason, stderr))
            buffer += chunk
    match = _BANNER.search(buffer)
    if match is None:
        raise RuntimeError(_failure(f"printed an unexpected line {buffer!r}", stderr))
    return match.group("url").decode("ascii")


def _failure(reason: str, stderr: IO[bytes]) -> str:
    stderr.seek(0)
    tail = stderr.read()[-4000:].decode("utf-8", "replace").strip()
    return f"the emulator process {reason}" + (f":\n{tail}" if tail else "")


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()
