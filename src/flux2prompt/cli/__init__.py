"""The command line: a thin face over the public API.

Each module registers its commands on the one typer app; nothing here holds logic that a Python
user could not reach through ``flux2prompt``.
"""

from __future__ import annotations

from flux2prompt.cli import _batch, _emulator, _generate, _prompt, _versioning
from flux2prompt.cli._app import app

__all__ = ["app", "main"]

_COMMAND_MODULES = (_prompt, _generate, _emulator, _batch, _versioning)


def main() -> None:
    """Run the ``flux2-prompt`` command."""
    app()
