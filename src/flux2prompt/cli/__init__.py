"""The command line: a thin face over the public API.

Each module registers its commands on the one typer app; nothing here holds logic that a Python
user could not reach through ``flux2prompt``. :func:`main` turns usage errors (an unknown option,
a bad ``--profile`` value) into one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import copy
import difflib
import importlib
import os
import re
import sys
from collections.abc import Sequence
from typing import Any, Literal

import typer
from typer.models import CommandInfo

from flux2prompt.cli import _app
from flux2prompt.cli._help import humanise

__all__ = ["app", "main"]

# The module that registers each command, in the order of `flux2-prompt --help`. A run imports
# only the module of the command it names: `validate` never loads the batch runner's imports.
_COMMAND_MODULES = {
    "batch": "_batch",
    "manifest": "_batch",
    "emulator": "_emulator",
    "generate": "_generate",
    "compile": "_prompt",
    "validate": "_prompt",
    "lint": "_prompt",
    "fingerprint": "_prompt",
    "schema": "_prompt",
    "diff": "_versioning",
    "lock": "_versioning",
    "review": "_review",
    "inspect": "_inspect",
}


def _register(*modules: str) -> typer.Typer:
    for module in modules:
        importlib.import_module(f"{__name__}.{module}")
    return _app.app


def __getattr__(name: str) -> object:
    # `flux2prompt.cli.app` is the whole app, every command registered (for tests and tools).
    if name == "app":
        return _register(*dict.fromkeys(_COMMAND_MODULES.values()))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main(argv: Sequence[str] | None = None) -> None:
    """Run the ``flux2-prompt`` command and exit with its status.

    Exit codes: 0 success, 1 an invalid prompt or a failed request, 2 usage errors and unreadable
    input, 130 interrupted.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    completing = _COMPLETE_VAR in os.environ  # the shell asks for completions: whole app
    if (
        args[:1] in (["--show-completion"], ["--install-completion"])
        and len(args) > 1
        and not args[1].startswith("-")
    ):
        # A shell named after the option (`--show-completion fish`, from bash): typer would
        # ignore the word and detect the shell it runs in; with detection off, the option takes
        # the shell's name (one of bash, zsh, fish, powershell, pwsh; another is refused).
        os.environ.setdefault("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")
    if not args and not completing:
        # No command is a usage error like any other: the help, then exit 2.
        _write_help(_help(humanise(typer.main.get_command(_app_for([])))))
        raise SystemExit(2)
    try:
        command = humanise(typer.main.get_command(_app_for(args)))
        status = command.main(args=args, prog_name="flux2-prompt", standalone_mode=False)
    except typer.Abort:
        sys.stderr.write("error: interrupted\n")
        raise SystemExit(130) from None
    except KeyboardInterrupt:
        # Ctrl+C before the command runs (while its module loads) or after it returns: exit
        # 130 quietly, as typer does for one inside the command.
        raise SystemExit(130) from None
    except OSError as exc:
        # The last guard: a file the system refused (a full disk, a vanished folder) is one line.
        where = f": {exc.filename}" if exc.filename else ""
        sys.stderr.write(f"error: {exc.strerror or exc}{where}\n")
        raise SystemExit(1) from None
    except Exception as exc:
        # Typer's usage errors (click's UsageError family) carry format_message and exit_code;
        # they are matched by shape so no private module of typer is imported.
        if not (hasattr(exc, "format_message") and hasattr(exc, "exit_code")):
            raise
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
            # `flux2-prompt manifest` alone: typer has printed its help; exit 2 as any usage
            # error.
            raise SystemExit(2) from None
        where = f" (see '{_command_path(ctx, args)} --help')"
        message = _did_you_mean(exc.format_message())
        _machine_usage_error(args, message, exc.exit_code)
        sys.stderr.write(f"error: {message}{where}\n")
        raise SystemExit(exc.exit_code) from None
    raise SystemExit(status if isinstance(status, int) else 0)


def _command_path(ctx: Any, args: Sequence[str]) -> str:
    """The command whose help explains a usage error: the error's own, else the one ``args``
    name (an option's missing value is reported without a context)."""
    if ctx is not None:
        return str(ctx.command_path)
    if not args or args[0] not in _COMMAND_MODULES:
        return "flux2-prompt"
    words = [args[0]]
    groups = {
        group.name or (group.typer_instance.info.name if group.typer_instance else None)
        for group in _app.app.registered_groups
    }
    if args[0] in groups and len(args) > 1 and not args[1].startswith("-"):
        words.append(args[1])  # `manifest merge --out`: the subcommand's help
    return " ".join(["flux2-prompt", *words])


def _option_value(args: Sequence[str], *names: str) -> str | None:
    """The last value given to the option ``names`` in ``args`` (``--name V`` or
    ``--name=V``), read from the words themselves: a usage error stops the command before its
    options are parsed."""
    found = None
    words = list(args[: args.index("--")] if "--" in args else args)
    for i, word in enumerate(words):
        for name in names:
            if word.startswith(f"{name}="):
                found = word.removeprefix(f"{name}=")
            elif word == name and i + 1 < len(words):
                found = words[i + 1]
    return found


def _machine_usage_error(args: Sequence[str], message: str, code: int) -> None:
    """A usage error of ``validate``, ``lint``, ``lock --check`` or ``diff --json`` in a machine
    format still prints that format's one document (or annotation), as docs/cli.md promises."""
    shape = _option_value(args, "--format")
    words = args[: args.index("--")] if "--" in args else args
    if "--json" in words:
        shape = "json"
    if shape not in ("json", "github") or not args:
        return
    machine: Literal["json", "github"] = "json" if shape == "json" else "github"
    if args[0] in ("validate", "lint"):
        from flux2prompt.cli._report import Report

        command: Literal["validate", "lint"] = "lint" if args[0] == "lint" else "validate"
        Report(command, machine, profile=None).finish(code, error=message)
    elif args[0] == "lock" and "--check" in words:
        from flux2prompt.cli._versioning import check_failed

        check_failed(machine, _option_value(args, "--file", "-f"), message)
    elif args[0] == "diff" and machine == "json":
        from flux2prompt.cli._versioning import diff_failed

        diff_failed(None, None, message)


# The variable click's shell completion sets (`_<PROG_NAME>_COMPLETE`).
_COMPLETE_VAR = "_FLUX2_PROMPT_COMPLETE"


def _help(command: Any) -> str:
    with command.make_context("flux2-prompt", ["--help"], resilient_parsing=True) as ctx:
        return str(command.get_help(ctx))


_NOT_ONE_OF = re.compile(r"'(?P<value>[^']*)' is not one of (?P<choices>'[^']*'(?:, '[^']*')*)\.?")


def _did_you_mean(message: str) -> str:
    """A refused choice (``--profile cloudfare``) with the closest allowed one suggested."""
    message = message.replace("Value error, ", "")  # the converter's wording, not ours
    found = _NOT_ONE_OF.search(message)
    if found is None:
        return message
    choices = re.findall(r"'([^']*)'", found["choices"])
    # Compared without case: 'CLOUDFLARE' is meant as 'cloudflare'.
    by_case = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(found["value"].lower(), list(by_case), n=1, cutoff=0.6)
    if close:
        message = message.rstrip(".") + f"; did you mean {by_case[close[0]]!r}?"
    return message


def _write_help(text: str) -> None:
    # typer's rich help prints itself (to stdout) and returns ""; plain help is returned.
    if text.strip():
        sys.stdout.write(text + "\n")


def _placeholder() -> None:
    """Never run: it keeps a narrowed app a group, so ``flux2-prompt NAME ...`` still parses."""


def _app_for(args: Sequence[str]) -> typer.Typer:
    """The app with only the command that ``args`` names, or the whole app.

    typer builds a click command, with every option's annotations evaluated, for each command
    of the app on every run; a run uses one. A run that names a command gets an app holding
    just that command (and a hidden placeholder that keeps it a group), so usage lines, help and
    errors read exactly as with the whole app. Anything else (``--help``, a typo that wants a
    did-you-mean) gets the whole app.
    """
    name = args[0] if args else ""
    module = _COMMAND_MODULES.get(name)
    if module is None:
        return _register(*dict.fromkeys(_COMMAND_MODULES.values()))
    app = _register(module)
    narrowed = copy.copy(app)
    for info in app.registered_commands:
        callback = info.callback
        if name == (info.name or (callback.__name__.replace("_", "-") if callback else "")):
            narrowed.registered_commands = [
                info,
                CommandInfo(name="\0placeholder", callback=_placeholder, hidden=True),
            ]
            narrowed.registered_groups = []
            return narrowed
    for group in app.registered_groups:
        sub = group.typer_instance
        if sub is not None and name in (group.name, sub.info.name):
            narrowed.registered_commands = []
            narrowed.registered_groups = [group]
            return narrowed
    raise AssertionError(f"{name!r} is in _COMMAND_MODULES but {module} did not register it")
