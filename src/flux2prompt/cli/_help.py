"""Help text written for people: metavariables instead of typer's type names.

typer's rich help prints a type column taken from each parameter's annotation (``<bool>``,
``<list[str]>``, ``<int range> [x>=1]``) and spells a required argument ``{SOURCE}`` in the
usage line. :func:`humanise` rewrites the click command tree once, before it runs: a flag shows
no type, an option shows a metavariable (``PATH``, ``N``, ``TEXT``, ``flux2|cloudflare``), an
argument shows its upper-case name (``SOURCE...``, ``JOB``) in the table and in the usage line.
Ranges are said in the option's own help instead.
"""

from __future__ import annotations

import enum
import inspect
from pathlib import Path
from typing import Any, get_args, get_origin

__all__ = ["humanise"]

# typer's parameters are matched by shape (typer ships its own copy of click, whose classes are
# private): a parameter with a `type_descriptor`, a command with `params`, a group `commands`.
_BY_TYPE: dict[object, str] = {int: "N", float: "NUMBER", Path: "PATH", str: "TEXT"}


def _metavar(param: Any) -> str | None:
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return None
    descriptor = getattr(param, "type_descriptor", None)
    annotation = getattr(descriptor, "annotation", None)
    if get_origin(annotation) is list:
        (annotation,) = get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "|".join(str(member.value) for member in annotation)
    choices = getattr(descriptor, "choices", None) if getattr(descriptor, "is_choice", 0) else None
    if choices:
        return "|".join(str(c.value if isinstance(c, enum.Enum) else c) for c in choices)
    return _BY_TYPE.get(annotation, "TEXT")


def _humanise_param(param: Any) -> None:
    # Instance attributes shadow typer's methods: only this command tree is changed.
    if getattr(param, "param_type_name", "") == "argument":
        name = str(param.metavar or param.name or "ARG").upper()
        suffix = "..." if param.nargs != 1 else ""
        usage = (name if param.required else f"[{name}]") + suffix
        param.metavar = name
        param.display_type_rich = lambda ctx: None
        param._rich_display_name = lambda: name + suffix
        param._usage_display_name = lambda: usage
        return
    metavar = param.metavar if param.metavar is not None else _metavar(param)
    param.display_type_rich = lambda ctx: metavar
    param._get_number_range_help_str = lambda: None


def _unwrap(text: str) -> str:
    # rich help keeps single line breaks after the first paragraph: a docstring's wrapping
    # would break sentences in the middle. Paragraphs stay apart.
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(" ".join(p.split("\n")) for p in paragraphs)


def humanise(command: Any) -> Any:
    """Rewrite the help of ``command`` and of every command under it, in place; return it."""
    for param in getattr(command, "params", ()):
        _humanise_param(param)
    if getattr(command, "help", None):
        command.help = _unwrap(command.help)
    make_help_option = command.get_help_option

    def help_option(ctx: Any) -> Any:
        option = make_help_option(ctx)
        if option is not None:
            _humanise_param(option)
        return option

    command.get_help_option = help_option
    for sub in getattr(command, "commands", {}).values():
        humanise(sub)
    return command
