"""The typer application every command module registers on, and its global options."""

from __future__ import annotations

from typing import Annotated

import typer

# typer's rich help has a type column (`<bool>`, `<list[str]>`); flux2prompt.cli.humanise
# replaces it with metavariables written for people before any help is printed.
app = typer.Typer(
    name="flux2-prompt",
    help="Compose, validate, version and generate FLUX.2 JSON prompts.",
    no_args_is_help=True,
    # --install-completion / --show-completion [bash|zsh|fish|powershell]
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        # Read here, not at import: `validate` never pays for it.
        from flux2prompt import __version__

        typer.echo(f"flux2-prompt {__version__}")
        raise typer.Exit(0)


@app.callback()
def _global_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            help="Print the version and exit.",
            is_eager=True,
            callback=_print_version,
        ),
    ] = False,
) -> None:
    """Compose, validate, version and generate FLUX.2 JSON prompts."""
