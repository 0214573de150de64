"""Prompt commands: ``compile``, ``validate``, ``lint``, ``fingerprint`` and ``schema``.

Each is a thin face over the public API: :func:`~flux2prompt._files.resolve_source` (which
uses :func:`flux2prompt.load`), ``Prompt.to_json`` / ``to_prose`` / ``fingerprint``, the linter
and :func:`flux2prompt.schema`. Exit codes: 0 success, 1 an invalid prompt (or lint warnings
under ``--strict``), 2 usage errors and unreadable input.

Example (shell)::

    $ flux2-prompt validate --profile cloudflare examples/product_shot.py:prompt hero.json
    examples/product_shot.py:prompt: ok
    hero.json: $.subjects[0].position: string "left" is not allowed under profile 'cloudflare'; ...
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence
from typing import Annotated

import typer

from flux2prompt._errors import Flux2PromptError, PromptError
from flux2prompt._files._source import STDIN, resolve_source, source_label
from flux2prompt._files._variants import is_expandable, source_variants
from flux2prompt._lint import LINT_CODES, lint
from flux2prompt._model import Prompt
from flux2prompt._schema import Profile, schema
from flux2prompt.cli._app import app
from flux2prompt.cli._output import (
    EXIT_INVALID,
    EXIT_OK,
    echo_data,
    error_lines,
    exit_code_for,
    fail,
    handle_errors,
    print_error,
    say,
)
from flux2prompt.cli._source import ProfileOption

__all__ = ["compile_command", "fingerprint", "lint_command", "schema_command", "validate"]

_SOURCE_HELP = (
    "A .json/.toml prompt file, path/to/file.py:NAME (a builder, Prompt or function), "
    "or - for a JSON prompt on standard input."
)

SourceArgument = Annotated[
    str, typer.Argument(metavar="SOURCE", help=_SOURCE_HELP, show_default=False)
]
SourcesArgument = Annotated[
    list[str], typer.Argument(metavar="SOURCE", help=_SOURCE_HELP, show_default=False)
]


@app.command("compile")
def compile_command(
    source: SourceArgument,
    profile: ProfileOption = "flux2",
    pretty: Annotated[bool, typer.Option("--pretty", help="Indent the JSON for humans.")] = False,
    prose: Annotated[
        bool, typer.Option("--prose", help="Print ordered prose instead (for FLUX.2 klein).")
    ] = False,
) -> None:
    """Print the compiled prompt: compact wire JSON in raw UTF-8 (pipe it into jq)."""
    if pretty and prose:
        fail("--pretty and --prose cannot be combined: prose is plain text")
    with handle_errors(source_label(source)):
        prompt = resolve_source(source, profile=profile)
        output = prompt.to_prose() if prose else prompt.to_json(pretty=pretty)
    echo_data(output)


def _variables(values: Sequence[str]) -> dict[str, str]:
    """``--var key=value`` options as a dict; a malformed one stops with exit 2."""
    out: dict[str, str] = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key.strip():
            fail(f"--var {value!r}: expected KEY=VALUE, such as --var color=teal")
        out[key.strip()] = text
    return out


def _each_prompt(
    sources: Iterable[str], profile: Profile, variables: dict[str, str] | None = None
) -> Iterable[tuple[str, Prompt | None, int, bool]]:
    """Resolve each source into its variants, reporting those that fail; yield
    ``(label, prompt, exit code, variant)`` per variant (``variant``: one of a job's rows, which
    is summed up after the job's last row rather than said ok one by one).

    A template takes ``variables`` (``--var``); a job file gives every row, each named by its
    variables or dataset line. Invalid prompts are reported on stdout as
    ``LABEL: $.path: message`` (they are the result of the check); unreadable sources on stderr
    as ``error: ...``. Standard input (``-``) is named ``<stdin>``, and can be read only once.
    """
    listed = list(sources)
    if listed.count(STDIN) > 1:
        fail("SOURCE - (standard input) can be given only once")
    if variables and not any(is_expandable(given) for given in listed):
        fail("--var is for templates and job files; no SOURCE here is one")
    for given in listed:
        source = source_label(given)
        try:
            variants = list(source_variants(given, profile=profile, variables=variables))
        except PromptError as exc:
            for line in error_lines(exc, source):
                say(line)
            yield source, None, EXIT_INVALID, False
            continue
        except Flux2PromptError as exc:
            for line in error_lines(exc, source):
                print_error(line)
            yield source, None, exit_code_for(exc), False
            continue
        for variant in variants:
            label = source_label(variant.label) if not variant.variant else variant.label
            error = variant.error
            if error is None:
                yield label, variant.prompt, EXIT_OK, variant.variant
            elif isinstance(error, PromptError):
                for line in error_lines(error, label):
                    say(line)
                yield label, None, EXIT_INVALID, variant.variant
            else:
                for line in error_lines(error, label):
                    print_error(line)
                yield label, None, exit_code_for(error), variant.variant
        if len(variants) > 1 or (variants and variants[0].variant):
            bad = sum(1 for v in variants if not v.ok)
            noun = f"{len(variants)} variant{'s' if len(variants) != 1 else ''}"
            say(f"{source}: ok ({noun})" if not bad else f"{source}: {bad} of {noun} invalid")


VarOption = Annotated[
    list[str] | None,
    typer.Option(
        "--var",
        metavar="KEY=VALUE",
        help="A template's variable (repeat for each); for file.py:NAME templates and prompt "
        "files with ${...} placeholders.",
        show_default=False,
    ),
]


@app.command()
def validate(
    sources: SourcesArgument, profile: ProfileOption = "flux2", var: VarOption = None
) -> None:
    """Check that every SOURCE is a valid prompt under the profile.

    A job file is checked row by row, and a template with --var KEY=VALUE. Prints
    'SOURCE: ok', or 'SOURCE: $.json.path: message' for each problem (a job's variant named by
    its dataset line or variables). Exit 0: all valid; 1: any invalid; 2: any unreadable.
    """
    worst = EXIT_OK
    for source, prompt, code, is_row in _each_prompt(sources, profile, _variables(var or ())):
        if prompt is not None and not is_row:
            say(f"{source}: ok")
        worst = max(worst, code)
    raise typer.Exit(worst)


def _ignored_codes(values: Sequence[str], known: Iterable[str]) -> tuple[str, ...]:
    """Split ``--ignore A,B --ignore C`` into known codes; an unknown one stops with exit 2."""
    known = list(known)
    by_upper = {code.upper(): code for code in known}
    codes: list[str] = []
    for value in values:
        for raw in value.split(","):
            name = raw.strip()
            if not name:
                continue
            if name.upper() not in by_upper:
                close = difflib.get_close_matches(name.upper(), list(by_upper), n=1)
                hint = f"did you mean {by_upper[close[0]]!r}?" if close else "known codes: "
                if not close:
                    hint += ", ".join(known)
                fail(f"--ignore: unknown lint code {name!r}; {hint}")
            codes.append(by_upper[name.upper()])
    return tuple(dict.fromkeys(codes))


@app.command("lint")
def lint_command(
    sources: SourcesArgument,
    ignore: Annotated[
        list[str] | None,
        typer.Option(
            "--ignore",
            metavar="CODE,...",
            help="Lint codes to silence, comma-separated; the option can repeat.",
            show_default=False,
        ),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 when there is any warning.")
    ] = False,
    profile: ProfileOption = "flux2",
    var: VarOption = None,
) -> None:
    """Give BFL's prompting advice on every SOURCE: warnings, never errors.

    Prints 'SOURCE: CODE $.path: message (fix: ...)' for each warning, or 'SOURCE: ok'.
    Exit 0; 1 for warnings under --strict, or an invalid prompt; 2 for unreadable input.
    """
    codes = _ignored_codes(ignore or (), LINT_CODES)
    worst = EXIT_OK
    warned = False
    for source, prompt, code, is_row in _each_prompt(sources, profile, _variables(var or ())):
        worst = max(worst, code)
        if prompt is None:
            continue
        warnings = lint(prompt, ignore=codes)
        for warning in warnings:
            fix = f" (fix: {warning.fix})" if warning.fix else ""
            say(f"{source}: {warning.code} {warning.path}: {warning.message}{fix}")
        if not warnings and not is_row:
            say(f"{source}: ok")
        # Notes (severity "info") are shown but do not fail --strict.
        warned = warned or any(getattr(w, "severity", "warning") == "warning" for w in warnings)
    if strict and warned:
        worst = max(worst, EXIT_INVALID)
    raise typer.Exit(worst)


@app.command()
def fingerprint(source: SourceArgument, profile: ProfileOption = "flux2") -> None:
    """Print the fingerprint of SOURCE: sha256 of its compiled UTF-8 bytes, as 'sha256:...'."""
    with handle_errors(source_label(source)):
        value = resolve_source(source, profile=profile).fingerprint
    echo_data(value)


@app.command("schema")
def schema_command(profile: ProfileOption = "flux2") -> None:
    """Print the JSON Schema (Draft 2020-12) of a profile."""
    echo_data(json.dumps(schema(profile), indent=2, ensure_ascii=False))
