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
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from flux2prompt._errors import Flux2PromptError, PromptError, SourceError
from flux2prompt._files._source import (
    STDIN,
    resolve_flux3,
    resolve_source,
    source_label,
    split_source,
)
from flux2prompt._schema import Profile, schema
from flux2prompt.cli._app import app
from flux2prompt.cli._output import (
    EXIT_INVALID,
    EXIT_OK,
    EXIT_USAGE,
    echo_data,
    exit_code_for,
    fail,
    handle_errors,
    reading_from_a_terminal,
)
from flux2prompt.cli._report import (
    FormatOption,
    JsonOption,
    Report,
    output_format,
    problem_of,
    problems_of,
)
from flux2prompt.cli._source import (
    ProfileOption,
    ProjectProfileOption,
    TargetOption,
    check_target,
    project_profile,
)

# Each command imports in its body what only it uses: `compile` never loads the variants of a
# job file or a template, and only `lint` loads the linter (and the layout rules it runs).
if TYPE_CHECKING:
    from flux2prompt._model import Prompt

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


def _examples(*lines: str) -> str:
    """A command's epilog: its examples, one per line, each runnable from the repository's
    root (tests/cli/test_first_hour.py runs them)."""
    return "Examples:\n" + "\n".join(f"$ {line}" for line in lines)


COMPILE_EXAMPLES = _examples(
    "flux2-prompt compile docs/examples/hero.json --pretty",
    "flux2-prompt compile --prose examples/comic_panel.py:prompt",
    "flux2-prompt compile --target flux3 examples/cafe_layout.py:prompt",
)
VALIDATE_EXAMPLES = _examples(
    "flux2-prompt validate --profile cloudflare examples/product_shot.py:prompt",
    "flux2-prompt validate --json docs/examples/*.json",
    "flux2-prompt validate examples/batch/job.toml",
)
LINT_EXAMPLES = _examples(
    "flux2-prompt lint examples/landing_hero.py:prompt",
    "flux2-prompt lint --strict --ignore F2P203 examples/landing_hero.py:prompt",
)
FINGERPRINT_EXAMPLES = _examples("flux2-prompt fingerprint examples/product_shot.py:prompt")
SCHEMA_EXAMPLES = _examples("flux2-prompt schema --profile cloudflare")


@app.command("compile", epilog=COMPILE_EXAMPLES)
def compile_command(
    source: SourceArgument,
    profile: ProfileOption = "flux2",
    pretty: Annotated[bool, typer.Option("--pretty", help="Indent the JSON for humans.")] = False,
    prose: Annotated[
        bool, typer.Option("--prose", help="Print the prose form instead (for FLUX.2 klein).")
    ] = False,
    target: TargetOption = "flux2",
) -> None:
    """Print the compiled prompt: compact wire JSON in raw UTF-8 (pipe it into jq).

    With --target flux3, the FLUX 3 prompt of a file.py:NAME builder with a layout: its caption
    and its element table of boxes, as sent.
    """
    problem = check_target(target)
    if problem is not None:
        fail(problem)
    if pretty and prose:
        fail("--pretty and --prose cannot be combined: prose is plain text")
    if target == "flux3" and (pretty or prose):
        fail("--target flux3 prints the caption and element table as sent: drop --pretty/--prose")
    reading_from_a_terminal([source])
    with handle_errors(source_label(source)):
        if target == "flux3":
            output = resolve_flux3(source).text
        else:
            prompt = resolve_source(source, profile=profile)
            output = prompt.to_prose() if prose else prompt.to_json(pretty=pretty)
    echo_data(output)


def _variables(values: Sequence[str], report: Report) -> dict[str, str]:
    """``--var key=value`` options as a dict; a malformed one stops with exit 2."""
    out: dict[str, str] = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key.strip():
            report.refuse(f"--var {value!r}: expected KEY=VALUE, such as --var color=teal")
        out[key.strip()] = text
    return out


def _each_prompt(
    sources: Iterable[str],
    profile: Profile,
    report: Report,
    variables: dict[str, str] | None = None,
    *,
    check_jobs: bool = False,
) -> Iterable[tuple[str, str, Prompt | None, int, bool]]:
    """Resolve each source into its variants; report those that fail to ``report`` and yield
    ``(label, source, prompt, exit code, variant)`` for each valid one (``variant``: one of a
    job's rows, which is summed up after the job's last row rather than said ok one by one).

    A template takes ``variables`` (``--var``); a job file gives every row, each named by its
    variables or dataset line. An invalid prompt is a result of the check (stdout in text,
    ``LABEL: $.path: message``); an unreadable source a usage error (``error: ...`` on stderr).
    Standard input (``-``) is named ``<stdin>``, and can be read only once. The exit code of a
    failed variant is yielded with ``prompt`` None, for the caller's worst code. With
    ``check_jobs``, a job file is also checked as a run checks it before sending anything (its
    settings against the model, its output pattern against the variables).
    """
    from flux2prompt._files._parse import is_job_file
    from flux2prompt._files._variants import is_expandable, source_variants

    listed = list(sources)
    if listed.count(STDIN) > 1:
        report.refuse("SOURCE - (standard input) can be given only once")
    if variables and not any(is_expandable(given) for given in listed):
        report.refuse("--var is for templates and job files; no SOURCE here is one")
    reading_from_a_terminal(listed)
    for given in listed:
        source = source_label(given)
        # One variant at a time: a job of a million rows is checked in the memory of one.
        variants = source_variants(given, profile=profile, variables=variables)
        total = bad = 0
        rows = False  # whether the variants are a job's rows (or one template's prompt)
        unreadable = False
        while True:
            try:
                variant = next(variants, None)
            except Flux2PromptError as exc:  # unreadable: at once, or a dataset mid-way
                _report_error(report, source, source, exc, variant=False)
                yield source, source, None, exit_code_for(exc), False
                unreadable = True
                break
            if variant is None:
                break
            total += 1
            rows = rows or variant.variant
            label = source_label(variant.label) if not variant.variant else variant.label
            error = variant.error
            if error is None:
                yield label, source, variant.prompt, EXIT_OK, variant.variant
            else:
                bad += 1
                _report_error(report, label, source, error, variant=variant.variant)
                yield label, source, None, exit_code_for(error), variant.variant
        if unreadable:  # at once or mid-way: no summary of it
            continue
        refused: Flux2PromptError | None = None
        if check_jobs and given != STDIN and is_job_file(split_source(given)[0]):
            # What a run would refuse before sending anything, beyond the rows' own problems:
            # a setting the model refuses, an output pattern the variables do not fit.
            from flux2prompt.batch._check import check_job_file

            try:
                refused = check_job_file(given)
            except Flux2PromptError as exc:
                refused = exc
            if isinstance(refused, PromptError) and bad:
                refused = None  # a row's error, most likely reported with its row already
            if refused is not None:
                _report_error(report, source, source, refused, variant=False)
                yield source, source, None, exit_code_for(refused), False
        if (total != 1 or rows) and (refused is None or bad):
            report.summary(source, total, bad)


def _report_error(
    report: Report, label: str, source: str, exc: Flux2PromptError, *, variant: bool
) -> None:
    status: Literal["invalid", "unreadable"] = (
        "invalid" if isinstance(exc, PromptError) else "unreadable"
    )
    report.checked(label, source, problems_of(exc, label), status=status, variant=variant)


def _profile_and_report(
    command: Literal["validate", "lint"], given: Profile | None, output: str, as_json: bool
) -> tuple[Profile, Report]:
    """The profile (given, else the project's) and the report to fill. A broken configuration
    stops the command with exit 2, reported in the chosen format: in JSON the one document, the
    configuration ``unreadable``; in GitHub's an annotation on it."""
    shape = output_format(output, as_json)
    try:
        profile = project_profile(given)
    except Flux2PromptError as exc:
        report = Report(command, shape, profile=None)
        where = exc.source if isinstance(exc, SourceError) and exc.source else "configuration"
        report.checked(where, where, problems_of(exc, where), status="unreadable")
        report.finish(EXIT_USAGE)
        raise typer.Exit(EXIT_USAGE) from None
    return profile, Report(command, shape, profile=profile)


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


@app.command(epilog=VALIDATE_EXAMPLES)
def validate(
    sources: SourcesArgument,
    given_profile: ProjectProfileOption = None,
    var: VarOption = None,
    output: FormatOption = "text",
    as_json: JsonOption = False,
) -> None:
    """Check that every SOURCE is a valid prompt under the profile.

    A job file is checked row by row, and a template with --var KEY=VALUE. Prints
    'SOURCE: ok', or 'SOURCE: $.json.path: message' for each problem (a job's variant named by
    its dataset line or variables). Exit 0: all valid; 1: any invalid; 2: any unreadable.
    """
    profile, report = _profile_and_report("validate", given_profile, output, as_json)
    worst = EXIT_OK
    for label, source, prompt, code, is_row in _each_prompt(
        sources, profile, report, _variables(var or (), report), check_jobs=True
    ):
        if prompt is not None:
            report.checked(label, source, [], variant=is_row)
        worst = max(worst, code)
    report.finish(worst)
    raise typer.Exit(worst)


def _ignored_codes(values: Sequence[str], known: Iterable[str], report: Report) -> tuple[str, ...]:
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
                report.refuse(f"--ignore: unknown lint code {name!r}; {hint}")
            codes.append(by_upper[name.upper()])
    return tuple(dict.fromkeys(codes))


@app.command("lint", epilog=LINT_EXAMPLES)
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
    given_profile: ProjectProfileOption = None,
    var: VarOption = None,
    output: FormatOption = "text",
    as_json: JsonOption = False,
) -> None:
    """Give BFL's prompting advice on every SOURCE: warnings, never errors.

    Prints 'SOURCE: CODE $.path: message (fix: ...)' for each warning, or 'SOURCE: ok'.
    Exit 0; 1 for warnings under --strict, or an invalid prompt; 2 for unreadable input.
    """
    from flux2prompt._lint import LINT_CODES, lint

    profile, report = _profile_and_report("lint", given_profile, output, as_json)
    codes = _ignored_codes(ignore or (), LINT_CODES, report)
    worst = EXIT_OK
    warned = False
    for label, source, prompt, code, is_row in _each_prompt(
        sources, profile, report, _variables(var or (), report)
    ):
        worst = max(worst, code)
        if prompt is None:
            continue
        warnings = lint(prompt, ignore=codes)
        report.checked(label, source, [problem_of(w) for w in warnings], variant=is_row)
        # Notes (severity "info") are shown but do not fail --strict.
        warned = warned or any(w.severity == "warning" for w in warnings)
    if strict and warned:
        worst = max(worst, EXIT_INVALID)
    report.finish(worst)
    raise typer.Exit(worst)


@app.command(epilog=FINGERPRINT_EXAMPLES)
def fingerprint(source: SourceArgument, profile: ProfileOption = "flux2") -> None:
    """Print the fingerprint of SOURCE: sha256 of its compiled UTF-8 bytes, as 'sha256:...'."""
    reading_from_a_terminal([source])
    with handle_errors(source_label(source)):
        value = resolve_source(source, profile=profile).fingerprint
    echo_data(value)


@app.command("schema", epilog=SCHEMA_EXAMPLES)
def schema_command(profile: ProfileOption = "flux2") -> None:
    """Print the JSON Schema (Draft 2020-12) of a profile."""
    echo_data(json.dumps(schema(profile), indent=2, ensure_ascii=False))
