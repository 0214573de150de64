"""The exception tree of flux2prompt, drawn once, here.

Every error the library raises on purpose derives from :class:`Flux2PromptError`, so one
``except Flux2PromptError`` catches them all; no dependency's exception reaches the user. Each
class says when it is raised and what to do. The classes above ``APIError`` live in this module;
the transport's branch (``APIError`` and below) lives in ``flux2prompt.transport``, whose status
errors are built by one table-driven function from the HTTP status and Cloudflare's code::

    Flux2PromptError
    ├── PromptError (ValueError)      bad input to the DSL, a template or the loader
    │   └── PromptValidationError     a document broke the schema; carries every issue with its path
    │       └── FileValidationError   the same, in a prompt read from a file: names the file
    ├── SourceError                   a prompt source could not be read: missing file, bad
    │                                 JSON/TOML, unknown ``file.py:NAME``, a bad job file or
    │                                 manifest; names the file and line
    ├── ConfigurationError            no account id / API token (client, batch runner): names the
    │                                 flags and environment variables
    ├── ParameterError (ValueError)   a generation parameter refused before anything was sent
    │   └── ImageError                an input image unreadable or too large, or Pillow missing
    │       └── ProvenanceError       (flux2prompt.transport) an image file truncated or malformed,
    │                                 so its provenance cannot be written or read
    └── APIError                      (flux2prompt.transport) the request was sent, no image came
        ├── APIConnectionError        no HTTP response, and the request never reached the model:
        │   │                         refused, DNS, a stale keep-alive connection (retried)
        │   └── APITimeoutError       a connect, write or pool timeout (retried)
        ├── PossiblyBilledError       sent whole, then a read timeout, a disconnect, a response
        │                             that broke off or the attempt's deadline: may have been
        │                             billed (not resubmitted unless retry_possibly_billed=True)
        ├── ResponseError             a 2xx whose body is not the documented envelope: malformed
        │   │                         JSON, no image, invalid base64, over max_response_bytes,
        │   │                         an image not JPEG, PNG or WebP (kept in ``data``; not
        │   │                         retried)
        │   └── GenerationStateError  a proxied model's ``state`` is not ``Completed``
        ├── ResultDownloadError       a proxied model's result URL refused, expired, too large or
        │                             not an image (the generation is never resubmitted for it)
        ├── TaskError                 a Black Forest Labs task ended, or was left, without an image
        │   ├── TaskModeratedError        refused by moderation; not charged
        │   │   ├── InputModeratedError       ``Request Moderated``: the prompt or an input image
        │   │   └── OutputModeratedError      ``Content Moderated``: the generated image
        │   ├── TaskNotFoundError         ``Task not found``
        │   ├── TaskFailedError           ``Error`` or ``Failed``
        │   └── TaskTimeoutError          not Ready by the polling deadline (unknown statuses
        │                                 named); it may still finish: poll again, never resubmit
        └── APIStatusError            an HTTP error status; one subclass per meaning:
            ├── BadRequestError           400 (5007 no such model, 5004, 3003)
            │   ├── InvalidInputError         5006 bad input (e.g. JSON sent instead of multipart)
            │   ├── InvalidRequestHeadersError 6003 a header refused; error_chain 6111: the
            │   │                             Authorization header is not ``Bearer <token>``
            │   └── ContentModeratedError     8007 the prompt was flagged as NSFW
            ├── AuthenticationError       401 bad or missing token
            ├── PermissionDeniedError     403 token lacks Workers AI permissions, agreement needed
            ├── InsufficientCreditsError  402 (Black Forest Labs) too few credits
            ├── NotFoundError             404 (3042 invalid model id)
            ├── RequestTimeoutError       408 (3007, 3046) (retried; may have run the model)
            ├── RequestTooLargeError      413 (3006)
            ├── UnprocessableRequestError 422 (Black Forest Labs) a field or value refused
            ├── RateLimitError            429
            │   ├── CapacityError             3040 out of capacity (retried, honours Retry-After)
            │   ├── QuotaExceededError        3036, 4006 daily free allowance used (never retried)
            │   └── TooManyActiveTasksError   (Black Forest Labs) 24 active tasks: waits for a slot
            └── InternalServerError       5xx (502, 503, 504 retried; 500 not, 7000 the gateway's;
                                          on Black Forest Labs: polls retried, a submit never)

Carried by the errors, not raised: ``ChainedError`` (one entry of an ``APIStatusError``'s
``error_chain``, the cause Cloudflare lists under its code) and ``BillingRisk`` (why a
``PossiblyBilledError`` may have been billed).

Warnings are not errors: :class:`flux2prompt.transport.UnknownModelWarning` (a model id the
catalogue does not know, sent with ``allow_unknown_model=True``),
:class:`flux2prompt.transport.RequestAdviceWarning` (``F2R`` advice about request parameters) and
lint findings (:class:`flux2prompt.LintWarning`, returned, not
raised).

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
    "ConfigurationError",
    "FileValidationError",
    "Flux2PromptError",
    "ImageError",
    "ParameterError",
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


#: How the last issue of a list cut short begins (see ``flux2prompt._schema.MAX_ISSUES``).
MORE_ISSUES = "and more problems"


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
        shown = f"{count} {noun}"
        if count > 1 and self.issues[-1].message.startswith(MORE_ISSUES):
            shown = f"more than {count - 1:,} problems"  # the last line says the rest were left
        super().__init__(f"prompt is invalid under profile {profile!r} ({shown}):\n{lines}")


class FileValidationError(PromptValidationError):
    """A :class:`PromptValidationError` in a prompt read from a file: ``source`` names the file,
    the issues' paths are inside it, and the message starts with the name.

    It lets a reader of two files, such as a diff, say which one is invalid.

    >>> exc = FileValidationError([ValidationIssue("$.prompt.scene", "expected a string")],
    ...                           "flux2", source="hero.prompt.toml")
    >>> str(exc).splitlines()[0]
    "hero.prompt.toml: prompt is invalid under profile 'flux2' (1 problem):"
    """

    def __init__(
        self,
        issues: tuple[ValidationIssue, ...] | list[ValidationIssue],
        profile: str,
        *,
        source: str,
    ) -> None:
        super().__init__(issues, profile)
        self.source = source
        self.args = (f"{source}: {self.args[0]}",)


class SourceError(Flux2PromptError):
    """Raised when a prompt source (a file, ``file.py:NAME``, JSON or TOML text) cannot be read.

    ``source`` names the file and ``line`` the line (1-based) where the problem is, when known.
    When the file has several problems (a job file that breaks its schema in two places), the
    message is about the first and ``problems`` holds every one, each with its own line.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        problems: tuple[SourceError, ...] = (),
    ):
        self.source = source
        self.line = line
        self.problems = problems
        where = source or ""
        if source and line is not None:
            where = f"{source}:{line}"
        super().__init__(f"{where}: {message}" if where else message)


class ConfigurationError(Flux2PromptError):
    """Raised when a client cannot be configured, e.g. no account id or API token was given.

    Example:
        >>> import os
        >>> from flux2prompt.transport import WorkersAI
        >>> env = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("CLOUDFLARE_")}
        >>> try:
        ...     WorkersAI()
        ... except ConfigurationError as exc:
        ...     print("CLOUDFLARE_ACCOUNT_ID" in str(exc))
        True
        >>> os.environ.update(env)
    """


class ParameterError(Flux2PromptError, ValueError):
    """Raised when a generation parameter is refused before anything is sent.

    The message names the parameter, the model, the allowed values and the value given.

    Example:
        >>> from flux2prompt.transport import build_request
        >>> try:
        ...     build_request("a red fox", model="klein-4b", steps=20)
        ... except ParameterError as exc:
        ...     print(exc.parameter)
        steps
    """

    def __init__(self, message: str, *, parameter: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter


class ImageError(ParameterError):
    """Raised when an input image cannot be used, or an image cannot be saved under a path.

    Example:
        >>> from flux2prompt.transport import build_request
        >>> try:
        ...     build_request("a red fox", images=[b"not an image"])
        ... except ImageError as exc:
        ...     print(exc.parameter)
        images[0]
    """
