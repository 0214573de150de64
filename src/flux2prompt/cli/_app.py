"""The typer application every command module registers on, its global options, and the options
several commands share."""

from __future__ import annotations

from pathlib import Path
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


#: ``--account-id`` of the commands that send to Workers AI (``generate``, ``batch``).
AccountIdOption = Annotated[
    str | None, typer.Option(help="Cloudflare account id (default: $CLOUDFLARE_ACCOUNT_ID).")
]
#: ``--base-url`` of the commands that send to Workers AI (``generate``, ``batch``).
BaseUrlOption = Annotated[
    str | None,
    typer.Option(help="API base URL (default: $CLOUDFLARE_BASE_URL, else Cloudflare's)."),
]
#: ``--emulator`` of the commands that can generate locally (``generate``, ``batch``).
EmulatorOption = Annotated[
    bool, typer.Option("--emulator", help="Use a local emulator: no account, no cost.")
]


def output_folder(value: str | Path) -> Path:
    """The folder an option names for a command's output (``batch --out``, ``review --out``).
    An empty one, as an unset shell variable gives, is refused: it would read as the current
    folder. So is a file.

    >>> output_folder("out/bottles")
    PosixPath('out/bottles')
    """
    text = str(value)  # a default arrives as the Path it is
    if not text.strip():
        raise typer.BadParameter("the folder is empty; name one (. for the current folder)")
    folder = Path(text)
    if folder.is_file():
        raise typer.BadParameter(f"{text!r} is a file; name a folder")
    return folder


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
