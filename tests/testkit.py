"""Helpers shared by tests in several folders (on ``sys.path`` through pytest's ``pythonpath``).

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

__all__ = ["git"]

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
