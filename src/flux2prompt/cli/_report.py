"""What ``validate`` and ``lint`` found, printed as lines, one JSON document, or GitHub
annotations (``--format text|json|github``).

The commands report each checked prompt (a job's row is one too) with its problems to a
:class:`Report`; the text format prints as it goes (one :func:`~flux2prompt.cli._output.say`
line each, so 500 files cost no rich console), the other two print once at the end. The shapes
are documented in docs/cli.md ("Machine-readable output") and tested in tests/cli/test_formats.py.

Example::

    report = Report("validate", "json", profile="flux2")
    report.checked("hero.json", "hero.json", [])
    report.finish(0)   # {"version": 1, "command": "validate", ...}
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, NoReturn

import typer

from flux2prompt._errors import Flux2PromptError, PromptValidationError, SourceError
from flux2prompt._files._source import STDIN, split_source
from flux2prompt.cli._output import (
    EXIT_USAGE,
    echo_data,
    error_lines,
    fail,
    json_report,
    one_line,
    print_error,
    say,
)

if TYPE_CHECKING:
    from flux2prompt._lint import LintWarning

__all__ = [
    "FORMATS",
    "JSON_VERSION",
    "Format",
    "FormatOption",
    "JsonOption",
    "Problem",
    "Report",
    "escape_data",
    "escape_property",
    "output_format",
]

Format = Literal["text", "json", "github"]
FORMATS: tuple[Format, ...] = ("text", "json", "github")

#: The ``version`` of every JSON document the command line prints. Fields may be added within a
#: version; one is renamed or removed only with a new version.
JSON_VERSION = 1

_ANNOTATION = {"error": "error", "warning": "warning", "info": "notice"}


FormatOption = Annotated[
    str,
    typer.Option(
        "--format",
        metavar="text|json|github",
        help="text: a line per result; json: one JSON document (docs/cli.md); github: GitHub "
        "Actions annotations (::error file=...,line=...::).",
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="The same as --format json.", show_default=False)
]


def output_format(value: str, as_json: bool) -> Format:
    """The format that ``--format value`` and ``--json`` ask for; a wrong one stops, exit 2."""
    if value not in FORMATS:
        close = difflib.get_close_matches(value, FORMATS, n=1)
        hint = f"did you mean {close[0]!r}?" if close else "use text, json or github"
        fail(f"--format: unknown format {value!r}; {hint}")
    if as_json and value not in ("text", "json"):
        fail(f"--json and --format {value} exclude each other")
    return "json" if as_json else value


@dataclass(frozen=True)
class Problem:
    """One thing found about a prompt: an error (invalid or unreadable), or lint advice."""

    severity: Literal["error", "warning", "info"]
    message: str
    path: str | None = None
    code: str | None = None
    fix: str | None = None
    line: int | None = None
    #: The line the text format prints for it, when it is not built from the fields.
    shown: str | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "code": self.code,
            "path": self.path,
            "message": self.message,
            "fix": self.fix,
            "line": self.line,
        }


def problems_of(exc: Flux2PromptError, name: str) -> list[Problem]:
    """The problems an error stands for: one per validation issue, else its message."""
    if isinstance(exc, PromptValidationError):
        return [Problem("error", issue.message, path=issue.path) for issue in exc.issues]
    if isinstance(exc, SourceError) and exc.problems:
        return [p for problem in exc.problems for p in problems_of(problem, name)]
    line = exc.line if isinstance(exc, SourceError) else None
    return [Problem("error", error_lines(exc)[0], line=line, shown=error_lines(exc, name)[0])]


def problem_of(warning: LintWarning) -> Problem:
    return Problem(
        warning.severity,
        warning.message,
        path=warning.path,
        code=warning.code,
        fix=warning.fix or None,
    )


def file_of(source: str) -> str | None:
    """The file a SOURCE is in (``None`` for standard input)."""
    if source in (STDIN, "<stdin>"):
        return None
    return str(split_source(source)[0])


_PATH_PART = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\['([^']*)'\]")


def line_of(file: str, path: str) -> int | None:
    r"""The line of a .toml or .json prompt (file) that defines the JSON ``path``, best effort:
    neither parser keeps positions. A prompt file's prompt is under its ``[prompt]`` table.

    >>> import pathlib, tempfile
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "p.json"
    >>> _ = f.write_text('{\n  "scene": "x",\n  "camera": {\n    "ISO": "high"\n  }\n}\n')
    >>> line_of(str(f), "$.camera.ISO")
    4
    """
    parts = [a or b for a, b in _PATH_PART.findall(path)]
    if not parts:
        return None
    try:
        text = Path(file).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None
    from flux2prompt._files._prompt_file import document_line

    suffix = Path(file).suffix
    if parts[0] != "prompt":
        # A lint path is the prompt's own ($.mood): in a prompt file, it is under "prompt".
        inside = document_line(text, suffix, "$.prompt" + path[1:])
        if inside is not None:
            return inside
    return document_line(text, suffix, path)


def escape_data(text: str) -> str:
    # GitHub's workflow-command escaping: a message is one line.
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


@dataclass
class Report:
    """The results of one ``validate`` or ``lint`` run, in one output format."""

    command: Literal["validate", "lint"]
    format: Format
    profile: str | None  # None: the project's configuration could not be read
    # Kept for the JSON document only; the other formats print as they go, and count.
    results: list[dict[str, Any]] = field(default_factory=list)
    _annotations: list[str] = field(default_factory=list)
    _counts: dict[str, int] = field(
        default_factory=lambda: {"ok": 0, "invalid": 0, "unreadable": 0, "advice": 0}
    )

    def checked(
        self,
        name: str,
        source: str,
        problems: list[Problem],
        *,
        status: Literal["ok", "invalid", "unreadable"] = "ok",
        variant: bool = False,
    ) -> None:
        """Record one checked prompt. In text, print its lines now: advice and invalid prompts
        on stdout (they are the result), unreadable input on stderr as ``error: ...``."""
        file = file_of(source)
        if file is not None and not variant:
            problems = [
                replace(p, line=line_of(file, p.path)) if p.line is None and p.path else p
                for p in problems
            ]
        self._counts[status] += 1
        self._counts["advice"] += sum(1 for p in problems if p.severity != "error")
        if self.format == "json":
            self.results.append(
                {
                    "name": name,
                    "source": source,
                    "file": file,
                    "variant": variant,
                    "status": status,
                    "problems": [p.to_dict() for p in problems],
                }
            )
        if self.format == "github":
            for problem in problems:
                self._annotations.append(self._annotation(name, file, problem))
            return
        if self.format != "text":
            return
        if status == "unreadable":
            for problem in problems:
                print_error(problem.shown or f"{name}: {problem.message}")
            return
        name = one_line(name)
        for problem in problems:
            if problem.shown is not None:
                say(one_line(problem.shown))
            elif problem.code is not None:
                fix = f" (fix: {problem.fix})" if problem.fix else ""
                say(one_line(f"{name}: {problem.code} {problem.path}: {problem.message}{fix}"))
            elif problem.path is not None:
                say(one_line(f"{name}: {problem.path}: {problem.message}"))
            else:
                say(one_line(f"{name}: {problem.message}"))
        if not problems and not variant:
            say(f"{name}: ok")

    def summary(self, source: str, total: int, bad: int) -> None:
        """After a job's (or template's) last variant: one line for the whole source."""
        if self.format != "text":
            return
        noun = f"{total} variant{'s' if total != 1 else ''}"
        source = one_line(source)
        say(f"{source}: ok ({noun})" if not bad else f"{source}: {bad} of {noun} invalid")

    def _annotation(self, name: str, file: str | None, problem: Problem) -> str:
        properties = []
        if file is not None:
            properties.append(f"file={escape_property(file)}")
            if problem.line is not None:
                properties.append(f"line={problem.line}")
        title = f"flux2-prompt {self.command}" + (f" {problem.code}" if problem.code else "")
        properties.append(f"title={escape_property(title)}")
        where = f"{problem.path}: " if problem.path else ""
        fix = f" (fix: {problem.fix})" if problem.fix else ""
        text = f"{where}{problem.message}{fix}"
        if not problem.message.startswith(name):  # an unreadable file's message names it
            text = f"{name}: {text}"
        return f"::{_ANNOTATION[problem.severity]} {','.join(properties)}::{escape_data(text)}"

    def refuse(self, message: str) -> NoReturn:
        """Stop on a usage error the command found itself (a malformed ``--var``, an unknown
        ``--ignore`` code): the ``error:`` line on stderr, exit 2, and in JSON still the one
        document, with ``error`` saying it (in GitHub's format, an annotation)."""
        self.finish(EXIT_USAGE, error=message)
        fail(message)

    def finish(self, exit_code: int, *, error: str | None = None) -> None:
        """Print what the format prints at the end: the JSON document, or the annotations and
        one summary line. ``error``: why the command stopped before checking everything."""
        if error is not None and self.format == "github":
            say(f"::error title=flux2-prompt {self.command}::{escape_data(error)}")
        counts = {status: self._counts[status] for status in ("ok", "invalid", "unreadable")}
        advice = self._counts["advice"]
        checked = sum(counts.values())
        if self.format == "json":
            document = {
                "version": JSON_VERSION,
                "command": self.command,
                "profile": self.profile,
                "exit_code": exit_code,
                "summary": {"checked": checked, **counts, "advice": advice},
                "results": self.results,
            }
            if error is not None:
                document["error"] = error
            echo_data(json_report(document))
        elif self.format == "github":
            for line in self._annotations:
                say(line)
            say(
                f"flux2-prompt {self.command}: {checked} checked, {counts['invalid']} "
                f"invalid, {counts['unreadable']} unreadable, {advice} advice"
            )
