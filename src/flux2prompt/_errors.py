"""The exception tree of flux2prompt.

Every error the library raises on purpose derives from :class:`Flux2PromptError`, so one
``except Flux2PromptError`` catches them all; no dependency's exception reaches the user.

    Flux2PromptError
    ├── PromptError                   bad input to the DSL or the loader (also a ValueError)
    │   └── PromptValidationError     a document broke the schema; carries every issue with its path
    ├── SourceError                   a prompt source could not be read: missing file, bad
    │                                 JSON/TOML, unknown ``file.py:NAME``; names file and line
    ├── ConfigurationError            (transport) no account id / API token; names the variables
    ├── ParameterError                (transport) a parameter refused before sending (ValueError)
    │   └── ImageError                an input image unreadable or too large, or Pillow missing
    └── APIError                      (transport) the Workers AI request failed
        ├── APIConnectionError        no HTTP response (retried)
        │   └── APITimeoutError
        ├── ResponseError             a 2xx that is not the documented envelope
        └── APIStatusError            one small subclass per HTTP status / Workers AI code:
                                      the full tree is in ``flux2prompt.transport``'s errors

Example:
    >>> from flux2prompt import Flux2PromptError, load
    >>> try:
    ...     load({"scene": 3})
    ... except Flux2PromptError as exc:
    ...     print(exc.issues[0].path)
    $.scene
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Flux2PromptError",
    "PromptError",
    "PromptValidationError",
    "SourceError",
    "ValidationIssue",
]


class Flux2PromptError(Exception):
    """Root of every exception that flux2prompt raises on purpose."""


@dataclass(frozen=True, slots=True)
class ValidationIssue:
    """One problem found in a prompt document.

    ``path`` is a JSON path such as ``$.subjects[0].position``; ``schema_path`` is where in the
    schema the rule lives (empty for rules only the model checks, such as registered language
    tags).

    >>> issue = ValidationIssue("$.camera.ISO", "expected a number, got string 'high'")
    >>> print(issue)
    $.camera.ISO: expected a number, got string 'high'
    """

    path: str
    message: str
    schema_path: str = ""

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class PromptError(Flux2PromptError, ValueError):
    """Raised when a value given to the DSL or the loader cannot be used.

    The message names the value, where it was given, and how to fix it.
    """


class PromptValidationError(PromptError):
    """Raised when a prompt document does not satisfy the schema of a profile.

    ``issues`` holds every problem found, the most relevant first; ``str(exc)`` shows one line per
    issue as ``$.json.path: message``.
    """

    def __init__(self, issues: tuple[ValidationIssue, ...] | list[ValidationIssue], profile: str):
        self.issues: tuple[ValidationIssue, ...] = tuple(issues)
        self.profile = profile
        lines = "\n".join(str(issue) for issue in self.issues)
        count = len(self.issues)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"prompt is invalid under profile {profile!r} ({count} {noun}):\n{lines}")


class SourceError(Flux2PromptError):
    """Raised when a prompt source (a file, ``file.py:NAME``, JSON or TOML text) cannot be read.

    ``source`` names the file and ``line`` the line (1-based) where the problem is, when known.
    """

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None):
        self.source = source
        self.line = line
        where = source or ""
        if source and line is not None:
            where = f"{source}:{line}"
        super().__init__(f"{where}: {message}" if where else message)
