"""The typer application every command module registers on."""

from __future__ import annotations

import typer

# typer's rich help has a type column, so flags show `<bool>` (even --help). rich_markup_mode=None
# would hide it, but plain help cuts each command's summary short with "...", which is worse.
app = typer.Typer(
    name="flux2-prompt",
    help="Compose, validate, version and generate FLUX.2 JSON prompts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
