"""Output and error reporting shared by every ``flux2-prompt`` command.

Three rules keep the command line scriptable:

- Machine output (JSON, fingerprints) goes to stdout through :func:`echo_data` as raw UTF-8,
  with nothing else mixed in, so ``flux2-prompt compile x.json | jq`` always works.
- Human messages go through :func:`say` (one plain line, the common case: ``validate`` and
  ``lint`` print one per file) or :data:`stdout` / :data:`stderr`, two rich consoles that never
  wrap lines and never interpret markup, emoji codes or highlighting in the text they are given
  (user text such as ``[0]`` or ``:smile:`` prints as itself). Style on purpose with
  ``style=...`` or a :class:`rich.text.Text`. The consoles are made on first use: rich is a
  large import, and a command that prints plain lines never loads it.
- Nothing printed reaches the terminal raw: :func:`say`, :func:`print_error` and the consoles'
  ``print`` pass every text through :func:`flux2prompt._text.printable`, so an escape sequence
  or a bidi override in a server's message (or a file name that is not UTF-8) shows as a
  backslash escape, never as a cleared screen, a fake line or a crash.
- Errors are one line each, ``error: ...`` on stderr, and never a traceback. Exit codes:
  ``0`` success, ``1`` an invalid prompt, a failed request (or any other library error), ``2``
  a wrong invocation: unreadable input (:class:`~flux2prompt.SourceError`), a parameter refused
  before sending (:class:`~flux2prompt.transport.ParameterError`) or missing credentials
  (:class:`~flux2prompt.transport.ConfigurationError`).

Example, in a command module::

    from flux2prompt.cli._app import app
    from flux2prompt.cli._output import echo_data, handle_errors

    @app.command()
    @handle_errors()
    def fingerprint(source: str) -> None:
        echo_data(resolve_source(source, profile="flux2").fingerprint)

Inside :func:`handle_errors`, a :class:`~flux2prompt.Flux2PromptError` becomes its lines on
stderr and ``typer.Exit`` with :func:`exit_code_for`; anything else is a bug and propagates.
With ``show_warnings=True`` the warnings raised inside are printed as ``warning: ...`` lines
(before the error, if there is one).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import sys
import warnings
from collections.abc import Iterable, Iterator
from typing import IO, TYPE_CHECKING, Any, NoReturn, cast

import typer

from flux2prompt._errors import (
    ConfigurationError,
    Flux2PromptError,
    ParameterError,
    PromptValidationError,
    SourceError,
)
from flux2prompt._text import lazy_pattern, printable

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "EXIT_INVALID",
    "EXIT_OK",
    "EXIT_USAGE",
    "echo_data",
    "error_lines",
    "exit_code_for",
    "fail",
    "handle_errors",
    "json_report",
    "one_line",
    "print_error",
    "print_warnings",
    "reading_from_a_terminal",
    "refused_choice",
    "require_emulator",
    "say",
    "stderr",
    "stdout",
]

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2

# The errors that mean the command was called wrongly: the fix is in the invocation.
_USAGE_ERRORS = (SourceError, ParameterError, ConfigurationError)


class _UTF8Stream:
    """The current ``sys.stdout`` or ``sys.stderr``, written to as raw UTF-8 bytes.

    Looked up at each write, so test runners that swap the streams see the output. Writing the
    bytes underneath means a prompt's text (or a file name) in a message never fails under an
    ASCII locale (``LC_ALL=C``, ``PYTHONIOENCODING=ascii``), just as :func:`echo_data` never does.
    """

    encoding = "utf-8"

    def __init__(self, name: str) -> None:
        self._name = name

    def _stream(self) -> IO[str]:
        stream: IO[str] | None = getattr(sys, self._name)
        return stream if stream is not None else _NOWHERE  # pythonw: no console at all

    def write(self, text: str) -> int:
        stream = self._stream()
        binary = getattr(stream, "buffer", None)
        if binary is None:  # a text-only stream (doctest, some IDEs): it decides the encoding
            return stream.write(text)
        stream.flush()  # keep the order of anything written to the text layer before
        # backslashreplace: a lone surrogate (a file name that was not UTF-8) never crashes.
        binary.write(text.encode("utf-8", "backslashreplace"))
        binary.flush()
        return len(text)

    def flush(self) -> None:
        self._stream().flush()

    def isatty(self) -> bool:
        return self._stream().isatty()

    def fileno(self) -> int:
        return self._stream().fileno()


_NOWHERE = io.StringIO()


class _LazyConsole:
    """A rich console for ``sys.<name>``, made on first use (importing rich costs ~30 ms)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._console: Console | None = None

    def __getattr__(self, attribute: str) -> object:
        return getattr(self._real(), attribute)

    def print(self, *objects: object, **options: Any) -> None:
        """Rich's ``print``, with every text escaped by :func:`printable` first (rich's own
        styles are added afterwards, so they still work)."""
        self._real().print(*(_printable_object(o) for o in objects), **options)

    # Dunder methods are looked up on the type, not through __getattr__: forward the ones rich
    # uses (a progress display enters its console as a context manager).
    def __enter__(self) -> Console:
        return self._real().__enter__()

    def __exit__(self, *exc_info: object) -> None:
        self._real().__exit__(*exc_info)

    def _real(self) -> Console:
        console = self._console
        if console is None:
            from rich.console import Console

            # soft_wrap: a long line stays one line in a pipe.
            console = Console(
                file=_UTF8Stream(self._name),  # type: ignore[arg-type]
                soft_wrap=True,
                markup=False,
                emoji=False,
                highlight=False,
            )
            self._console = console
        return console


def _printable_object(value: object) -> object:
    if isinstance(value, str):
        return printable(value)
    plain = getattr(value, "plain", None)
    if isinstance(plain, str) and printable(plain) != plain:
        from rich.text import Text

        if isinstance(value, Text):  # rare: spans would no longer line up, keep the base style
            return Text(printable(plain), style=value.style)
    return value


stdout = cast("Console", _LazyConsole("stdout"))
stderr = cast("Console", _LazyConsole("stderr"))


def say(line: str, *, err: bool = False) -> None:
    """Print one plain line to stdout (stderr with ``err=True``) as raw UTF-8, without rich.

    >>> say("prompts/hero.json: ok")
    prompts/hero.json: ok
    """
    stream = _UTF8Stream("stderr" if err else "stdout")
    try:
        stream.write(printable(line) + "\n")
    except BrokenPipeError:
        # The reader went away (`... | head -1`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(EXIT_INVALID) from None


# Characters a terminal acts on or that reorder what it shows (C1 controls such as CSI, bidi
# controls, line and paragraph separators, lone surrogates); json.dumps escapes only C0 controls.
_TERMINAL_UNSAFE = lazy_pattern(
    "[\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]"
)


def one_line(text: str) -> str:
    r"""``text`` as one line of the text format: a newline or carriage return in it (a file
    name may hold one) is written ``\n``, ``\r``, so nothing from outside can start a line of
    its own (on a CI runner, a line that starts ``::`` is a workflow command).

    >>> print(one_line("hero\n::error::forged.json: ok"))
    hero\n::error::forged.json: ok
    """
    return text.replace("\r", "\\r").replace("\n", "\\n")


def json_report(document: Any, **options: Any) -> str:
    """A command's ``--json`` document: indented JSON, raw UTF-8, with every character that a
    terminal would act on written as a ``\\uXXXX`` escape, so text from a server, a manifest or
    a file name cannot move the cursor or reorder the screen. The value reads back the same.

    >>> print(json_report({"prompt": "caf\u00e9 \u009b2J \u202eevil"}))
    {
      "prompt": "café \\u009b2J \\u202eevil"
    }
    """
    text = json.dumps(document, ensure_ascii=False, indent=2, **options)
    if text.isascii() and "\x7f" not in text:
        return text  # json.dumps escapes C0 controls; DEL and the rest are what it leaves
    # Outside strings JSON is plain ASCII, so each match is inside a string literal.
    return _TERMINAL_UNSAFE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def echo_data(text: str) -> None:
    """Write ``text`` and a newline to stdout as raw UTF-8 bytes, whatever the locale.

    >>> echo_data('{"scene":"東京"}')
    {"scene":"東京"}
    """
    if sys.stdout is None:  # started with standard output closed (`>&-`): the result is lost
        fail("standard output is closed, so the result cannot be written", EXIT_INVALID)
    sys.stdout.flush()
    binary = getattr(sys.stdout, "buffer", None)
    if binary is None:  # a text-only stream (doctest, some IDEs): it decides the encoding
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
        return
    try:
        binary.write(text.encode("utf-8", "backslashreplace") + b"\n")
        binary.flush()
    except BrokenPipeError:
        # The reader went away (`... | head -1`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(EXIT_INVALID) from None
    except OSError as exc:  # a full disk (`> /dev/full`), a closed descriptor
        fail(f"cannot write the result to standard output: {exc.strerror or exc}", EXIT_INVALID)


def print_error(message: str) -> None:
    """Print ``error: message`` to stderr on one line (``error:`` in bold red on a terminal)."""
    message = printable(message.replace("\n", " "))
    if not _UTF8Stream("stderr").isatty():
        say(f"error: {message}", err=True)  # what rich would print, without loading it
        return
    from rich.text import Text

    # Only the word is styled: the message stays in the terminal's own colour.
    stderr.print(Text.assemble(("error:", "bold red"), " " + message))


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print ``error: message`` to stderr and stop the command with exit ``code`` (2, a usage
    error, unless told otherwise)."""
    print_error(message)
    raise typer.Exit(code)


def reading_from_a_terminal(sources: Iterable[str]) -> None:
    """When a SOURCE is ``-`` and standard input is a terminal, say on stderr how to end what is
    typed: a command waiting in silence for input looks stuck."""
    if "-" not in list(sources) or sys.stdin is None:
        return
    try:
        typed = sys.stdin.isatty()
    except (OSError, ValueError):  # a closed stream
        return
    if typed:
        say(
            "reading a JSON prompt from standard input: paste it, then press Ctrl+D on a line "
            "of its own (Ctrl+Z, Enter on Windows)",
            err=True,
        )


def refused_choice(option: str, value: str, choices: tuple[str, ...]) -> str:
    """The line for ``value`` given to ``option``, which takes one of ``choices``: the choices,
    and the closest one when there is one.

    >>> refused_choice("--provider", "bfll", ("workers-ai", "bfl"))
    "--provider 'bfll': use workers-ai or bfl; did you mean 'bfl'?"
    """
    import difflib

    listed = ", ".join(choices[:-1]) + f" or {choices[-1]}" if len(choices) > 1 else choices[0]
    message = f"{option} {value!r}: use {listed}"
    close = difflib.get_close_matches(value.lower(), choices, n=1, cutoff=0.6)
    return message + (f"; did you mean {close[0]!r}?" if close else "")


def require_emulator(what: str = "--emulator") -> None:
    """Stop with one line and exit 2 when the emulator's extra (Pillow) is not installed.

    Checked before anything runs: a ``pip install flux2-prompt`` without extras then
    ``generate --emulator`` gets the install command, never a traceback.
    """
    try:
        import PIL.Image  # noqa: F401  (the emulator imports it next anyway)
    except ImportError:
        fail(f"{what} needs Pillow, which is not installed: pip install 'flux2-prompt[emulator]'")


def exit_code_for(exc: Flux2PromptError) -> int:
    """``2`` when the invocation is wrong (unreadable input, a refused parameter, no
    credentials), ``1`` for anything else (an invalid prompt, a failed request).

    >>> from flux2prompt import SourceError
    >>> exit_code_for(SourceError("no such file", source="a.json"))
    2
    """
    return EXIT_USAGE if isinstance(exc, _USAGE_ERRORS) else EXIT_INVALID


def error_lines(exc: Flux2PromptError, source: str | None = None) -> list[str]:
    """One line per problem in ``exc``, each prefixed with ``source: `` when it is given.

    A :class:`~flux2prompt.PromptValidationError` gives one ``$.json.path: message`` line per
    issue; other errors give their message on one line, not prefixed again when it already
    names its file. A request that was retried says how many attempts were made.

    >>> from flux2prompt import load, Flux2PromptError
    >>> try:
    ...     load({"scene": 1, "mood": 2})
    ... except Flux2PromptError as exc:
    ...     print(error_lines(exc, "p.json"))
    ['p.json: $.scene: expected a string, got integer 1', 'p.json: $.mood: expected a string, got integer 2']
    """  # noqa: E501
    prefix = f"{source}: " if source else ""
    if isinstance(exc, PromptValidationError):
        return [f"{prefix}{issue}" for issue in exc.issues]
    if isinstance(exc, SourceError) and exc.problems:
        # Every problem of the file, each with its line, not "(and 1 more problem)".
        return [line for problem in exc.problems for line in error_lines(problem, source)]
    message = _in_command_line_words(exc, str(exc).replace("\n", " "))
    attempts = getattr(exc, "attempts", 1)  # an APIError of the transport, after retries
    if isinstance(attempts, int) and attempts > 1:
        message += f" (gave up after {attempts} attempts)"
    if (isinstance(exc, SourceError) and exc.source) or message.startswith(prefix):
        prefix = ""  # the message names its file already
    return [prefix + message]


# The credentials message of the library names its keyword arguments (account_id=); the
# command line has --account-id and --emulator instead.
_MISSING_CREDENTIALS = "Workers AI needs "
_IMAGE_PARAMETER = re.compile(r"^images\[\d+\] \((?P<path>[^)]*)\)")


def _in_command_line_words(exc: Flux2PromptError, message: str) -> str:
    """``message`` with the library's words (``account_id=``, ``images[0]``) replaced by the
    command line's (``--account-id``, ``--image PATH``)."""
    if isinstance(exc, ConfigurationError) and message.startswith(_MISSING_CREDENTIALS):
        wanted = message[len(_MISSING_CREDENTIALS) :].split(". ")[0]
        steps = []
        if "account id" in wanted:
            steps.append("pass --account-id ID or set CLOUDFLARE_ACCOUNT_ID")
        if "API token" in wanted:
            steps.append(
                "set CLOUDFLARE_API_TOKEN (a token with Workers AI Read and Edit; never an "
                "option, since other users can read a command line)"
            )
        return (
            f"no Cloudflare credentials: {'; '.join(steps)}. Or try it without an account: "
            "--emulator"
        )
    if isinstance(exc, ParameterError):
        return _IMAGE_PARAMETER.sub(lambda m: f"--image {m['path']}", message)
    for library, command_line in _LIBRARY_WORDS:
        message = message.replace(library, command_line)
    return message


# The library's advice in its own words (keyword arguments, max_retries), and the command
# line's: a command takes no api_key= and no token at all (a command line is visible to others).
_LIBRARY_WORDS = (
    ("base_url must be an http", "--base-url must be an http"),
    ("; check base_url= or ", "; check --base-url or "),
    ("the base URL (CLOUDFLARE_BASE_URL)", "the base URL (--base-url or CLOUDFLARE_BASE_URL)"),
    (
        "the base URL (BFL_BASE_URL, region=)",
        "the base URL (--base-url or BFL_BASE_URL, the region)",
    ),
    (
        "; the clients retry a connection failure up to max_retries, and it can be tried again.",
        ", then run the command again.",
    ),
    ("CLOUDFLARE_API_TOKEN (or api_token=)", "CLOUDFLARE_API_TOKEN"),
    ("BFL_API_KEY (or api_key=)", "BFL_API_KEY"),
    (
        "set BFL_API_KEY or pass api_key= (keys are made at dashboard.bfl.ai)",
        "set BFL_API_KEY (keys are made at dashboard.bfl.ai). Or try it without an account: "
        "--emulator",
    ),
    ("(no gateway=)", "(no --gateway)"),
    ("Try again shortly, or raise max_retries.", "Try again shortly."),
    ("these answers are retried (max_retries).", "these answers are retried."),
    ("the clients retry a 408 up to max_retries;", "it was retried;"),
)


def print_warnings(caught: Iterable[warnings.WarningMessage]) -> None:
    """Print each warning as ``warning: message`` on stderr."""
    for warning in caught:
        say(f"warning: {warning.message}", err=True)


@contextlib.contextmanager
def handle_errors(source: str | None = None, *, show_warnings: bool = False) -> Iterator[None]:
    """Turn a :class:`~flux2prompt.Flux2PromptError` into ``error:`` lines and an exit code.

    Works as a context manager (``with handle_errors(source): ...``) and as a decorator
    (``@handle_errors()`` under ``@app.command()``). The lines come from :func:`error_lines`
    (prefixed with ``source``), the exit code from :func:`exit_code_for`. With
    ``show_warnings``, warnings raised inside are caught and printed when the block ends, before
    the error lines if it fails.
    """
    with contextlib.ExitStack() as stack:
        caught: list[warnings.WarningMessage] = []
        if show_warnings:
            caught = stack.enter_context(warnings.catch_warnings(record=True))
            warnings.simplefilter("always")
        try:
            yield
        except Flux2PromptError as exc:
            print_warnings(caught)
            for line in error_lines(exc, source):
                print_error(line)
            raise typer.Exit(exit_code_for(exc)) from None
        except BaseException:
            print_warnings(caught)  # e.g. after a command's own error line and typer.Exit
            raise
        print_warnings(caught)
