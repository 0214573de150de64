"""Helpers shared by tests in several files (on ``sys.path`` through pytest's ``pythonpath``):
git repositories in temporary folders, and requests to the emulator's Workers AI routes.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = git(Path(folder), "init", "-q")
    ...     git(Path(folder), "rev-parse", "--is-inside-work-tree").strip()
    'true'
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

    from flux2prompt.emulator import Emulator

__all__ = [
    "ACCOUNT",
    "AUTH",
    "DEV",
    "KLEIN_4B",
    "KLEIN_9B",
    "error_of",
    "form",
    "git",
    "run_url",
]

# Commits made by tests: a fixed author, and none of the user's or the system's git settings
# (hooks, signing, autocrlf, default branch) can change what a test sees.
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_SYSTEM": os.devnull,
}


def git(cwd: Path, *args: str) -> str:
    """Run ``git ARGS`` in ``cwd`` with the test identity; its output as text. A failure
    raises :class:`subprocess.CalledProcessError`."""
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **_GIT_ENV},
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


# -- the emulator's Workers AI routes -----------------------------------------------------------

ACCOUNT = "0123456789abcdef0123456789abcdef"
AUTH = {"Authorization": "Bearer test-token"}
DEV = "@cf/black-forest-labs/flux-2-dev"
KLEIN_4B = "@cf/black-forest-labs/flux-2-klein-4b"
KLEIN_9B = "@cf/black-forest-labs/flux-2-klein-9b"


def run_url(emulator: Emulator, model: str = DEV) -> str:
    """The ``/ai/run/MODEL`` address of ``emulator`` for the test account."""
    return f"{emulator.base_url}/accounts/{ACCOUNT}/ai/run/{model}"


def form(**fields: str) -> dict[str, tuple[None, str]]:
    """Text fields as httpx ``files=`` entries, so the body is multipart even without files."""
    return {name: (None, value) for name, value in fields.items()}


def error_of(response: httpx.Response) -> tuple[int, int, str]:
    """``(status, code, message)`` of an error envelope, after checking the envelope's shape."""
    document = response.json()
    assert document["success"] is False
    assert document["result"] is None
    assert document["messages"] == []
    assert len(document["errors"]) == 1
    return response.status_code, document["errors"][0]["code"], document["errors"][0]["message"]
