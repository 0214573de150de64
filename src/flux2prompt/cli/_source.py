"""The command-line options shared by every command that reads a SOURCE.

Reading a SOURCE is library work, done by :func:`flux2prompt._files.resolve_source` (and, for
``file.py:NAME``, :mod:`flux2prompt._files._pysource`); this module only declares the arguments.
"""

from __future__ import annotations

from typing import Annotated

import typer

from flux2prompt._schema import Profile

__all__ = [
    "ProfileOption",
    "ProjectProfileOption",
    "TargetOption",
    "check_target",
    "project_profile",
]

#: The compile targets: FLUX.2's JSON prompt, or FLUX 3's caption with its element table.
TARGETS = ("flux2", "flux3")

#: The ``--profile`` option of every command that reads a SOURCE.
ProfileOption = Annotated[
    Profile,
    typer.Option(
        "--profile",
        "-p",
        help="Schema profile: flux2 (permissive) or cloudflare (Cloudflare's published schema).",
    ),
]

#: The ``--profile`` option of ``validate`` and ``lint``: the project's default when not given.
ProjectProfileOption = Annotated[
    Profile | None,
    typer.Option(
        "--profile",
        "-p",
        help="Schema profile: flux2 (permissive) or cloudflare (Cloudflare's published schema). "
        "Default: the profile set under tool.flux2prompt in pyproject.toml, else flux2.",
        show_default=False,
    ),
]

#: The ``--target`` option of ``compile`` and ``generate``.
TargetOption = Annotated[
    str,
    typer.Option(
        "--target",
        "-t",
        metavar="flux2|flux3",
        help="What to compile for: flux2 (the JSON prompt) or flux3 (FLUX 3's caption and "
        "boxes, from a file.py:NAME builder with a layout).",
    ),
]


def project_profile(given: Profile | None) -> Profile:
    """``given``, else the profile of the project the current folder is in (its
    ``[tool.flux2prompt]`` configuration), else ``flux2``. A broken configuration is a
    :class:`~flux2prompt.SourceError` naming its file."""
    if given is not None:
        return given
    from flux2prompt._files._project import find_project

    return find_project().profile


def check_target(target: str) -> str | None:
    """The problem with ``--target`` ``target``, or ``None`` when it is one of :data:`TARGETS`."""
    if target in TARGETS:
        return None
    from flux2prompt.cli._output import refused_choice

    return refused_choice("--target", target, TARGETS)
