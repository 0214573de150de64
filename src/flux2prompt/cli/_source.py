"""The command-line options shared by every command that reads a SOURCE.

Reading a SOURCE is library work, done by :func:`flux2prompt._files.resolve_source` (and, for
``file.py:NAME``, :mod:`flux2prompt._files._pysource`); this module only declares the arguments.
"""

from __future__ import annotations

from typing import Annotated

import typer

from flux2prompt._schema import Profile

__all__ = ["ProfileOption"]

#: The ``--profile`` option of every command that reads a SOURCE.
ProfileOption = Annotated[
    Profile,
    typer.Option(
        "--profile",
        "-p",
        help="Schema profile: flux2 (permissive) or cloudflare (Cloudflare's published schema).",
    ),
]
