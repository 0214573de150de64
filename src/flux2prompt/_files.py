"""Prompt files: a prompt and its metadata in TOML or JSON, templates, and schema versions.

Two shapes of file are read:

- a **prompt file** (``*.prompt.toml`` or ``*.prompt.json``; the schema is
  ``schemas/prompt-file.schema.json``): ``name``, optional ``description``, ``version``,
  ``model``, ``parameters``, ``tags`` and ``schema_version``, and the prompt document under
  ``prompt``. Its strings may hold ``${name}`` placeholders (:mod:`string.Template` rules, ``$$``
  for a literal ``$``), which make it a template;
- a **plain prompt document** (``.json`` only): the prompt itself, ``{"scene": ...}``, read as it
  always was, with no metadata and no placeholders.

:func:`load_prompt_file` returns a :class:`PromptFile`; :func:`read_prompt_document` (which
``flux2prompt.load(Path(...))`` calls) returns just the prompt document of either shape. Errors
name the file, and the line for a syntax error or the JSON path for a wrong value.

Example:
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "fox.prompt.toml"
    >>> _ = path.write_text('name = "fox"\\n[prompt]\\nscene = "a red fox in snow"\\n')
    >>> load_prompt_file(path).prompt.to_json()
    '{"scene":"a red fox in snow"}'
    >>> read_prompt_document(path)
    {'scene': 'a red fox in snow'}
"""

from __future__ import annotations

import copy
import datetime
import json
import math
import re
import string
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from flux2prompt._errors import PromptError, PromptValidationError, SourceError, ValidationIssue
from flux2prompt._schema import (
    issues_from_errors,
    json_path,
    packaged_schema,
    packaged_validator,
)

if TYPE_CHECKING:
    import jsonschema

    from flux2prompt._model import Profile, Prompt

__all__ = [
    "PROMPT_FILE_SUFFIXES",
    "PromptFile",
    "load_prompt_file",
    "parse_prompt_file",
    "placeholders",
    "prompt_file_schema",
    "read_prompt_document",
    "substitute",
]

#: The suffixes of files that :func:`read_prompt_document` reads.
PROMPT_FILE_SUFFIXES: tuple[str, ...] = (".json", ".toml")
_FILE_SCHEMA = "prompt-file.schema.json"

# Keys that only a prompt file has: a JSON document with one of them but no "prompt" key is a
# prompt file with its prompt forgotten, not a plain prompt document with unknown keys.
_METADATA_KEYS = ("name", "version", "model", "parameters", "tags", "schema_version")
_PARAMETER_KEYS = ("width", "height", "steps", "guidance", "seed")
_TOML_POSITION = re.compile(r"\s*\((?:at line (\d+), column (\d+)|at end of document)\)$")


# --------------------------------------------------------------------------------------------
# Templates


def _walk_strings(node: Any, parts: list[str | int]) -> Iterator[tuple[list[str | int], str]]:
    if isinstance(node, str):
        yield parts, node
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield from _walk_strings(value, [*parts, key])
    elif isinstance(node, list | tuple):
        for index, value in enumerate(node):
            yield from _walk_strings(value, [*parts, index])


def placeholders(document: Any) -> set[str]:
    """The names of the ``${name}`` (or ``$name``) placeholders in a document's string values.

    Keys are never templates; ``$$`` is a literal ``$``, not a placeholder.

    >>> sorted(placeholders({"scene": "a ${color} mug", "effects": ["$$5 tag", "${glow}"]}))
    ['color', 'glow']
    """
    found: set[str] = set()
    for _, text in _walk_strings(document, []):
        if "$" in text:
            found.update(string.Template(text).get_identifiers())
    return found


def _variable_text(name: str, value: object, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise PromptError(f"variable {name!r} (used at {where}) is {value!r}; give a number")
        return str(value)
    raise PromptError(
        f"variable {name!r} (used at {where}) must be text or a number, "
        f"got {type(value).__name__} {value!r}"
    )


def _substitute_text(
    text: str, variables: Mapping[str, object], parts: list[str | int], document: Any
) -> str:
    where = json_path(parts)

    def replace(match: re.Match[str]) -> str:
        if match.group("escaped") is not None:
            return "$"
        name = match.group("named") or match.group("braced")
        if name is not None:
            if name not in variables:
                needed = ", ".join(sorted(placeholders(document)))
                raise PromptError(
                    f"missing variable {name!r} at {where} (the template needs: {needed})"
                )
            return _variable_text(name, variables[name], where)
        column = match.start("invalid") + 1
        raise PromptError(
            f"invalid placeholder at {where} (character {column} of {text!r}): write ${{name}} "
            "for a variable and $$ for a literal $"
        )

    return string.Template.pattern.sub(replace, text)


def substitute(document: Any, variables: Mapping[str, object]) -> Any:
    """A copy of ``document`` with every placeholder in its string values replaced.

    Values may be text or numbers. A placeholder without a value raises
    :class:`~flux2prompt.PromptError` naming the variable and the JSON path where it is used;
    variables the document does not use are ignored (a dataset row may hold more columns).

    >>> substitute({"scene": "a ${color} mug, $$5", "effects": ["${glow}"]},
    ...            {"color": "red", "glow": "soft bloom"})
    {'scene': 'a red mug, $5', 'effects': ['soft bloom']}
    >>> substitute({"subjects": [{"pose": "${pose}"}]}, {})
    Traceback (most recent call last):
    ...
    flux2prompt._errors.PromptError: missing variable 'pose' at $.subjects[0].pose (the \
template needs: pose)
    """

    return _substitute(document, variables, [])


def _substitute(document: Any, variables: Mapping[str, object], base: list[str | int]) -> Any:
    """:func:`substitute`, reporting paths under ``base`` (``["prompt"]`` inside a file)."""

    def walk(node: Any, parts: list[str | int]) -> Any:
        if isinstance(node, str):
            return _substitute_text(node, variables, parts, document) if "$" in node else node
        if isinstance(node, Mapping):
            return {key: walk(value, [*parts, key]) for key, value in node.items()}
        if isinstance(node, list | tuple):
            return [walk(value, [*parts, index]) for index, value in enumerate(node)]
        return node

    return walk(document, list(base))


# --------------------------------------------------------------------------------------------
# The prompt file


@dataclass(frozen=True, slots=True)
class PromptFile:
    """A prompt file, loaded: its metadata and its prompt.

    ``parameters`` holds only the parameters the file sets, ready for
    ``build_request(file.prompt, model=file.model, **file.parameters)``. ``schema_version`` is the
    version the file is written in (it was migrated to the current one when loaded).
    ``document`` is the prompt document as written (after migration, before substitution): for a
    template, the input of :func:`substitute`.

    ``prompt`` is the validated :class:`~flux2prompt.Prompt`. A template (a file with
    placeholders) has one only when loaded with ``variables``; otherwise reading ``prompt`` raises
    :class:`~flux2prompt.PromptError` saying which variables it needs: use :meth:`render`.

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "mug.prompt.json"
    >>> _ = path.write_text('{"name": "mug", "parameters": {"seed": 7}, '
    ...                     '"prompt": {"scene": "a ${color} mug"}}')
    >>> mug = load_prompt_file(path)
    >>> mug.name, dict(mug.parameters), sorted(mug.placeholders)
    ('mug', {'seed': 7}, ['color'])
    >>> mug.render({"color": "red"}).to_json()
    '{"scene":"a red mug"}'
    """

    name: str
    description: str | None
    version: str | None
    model: str | None
    parameters: Mapping[str, int | float]
    tags: tuple[str, ...]
    path: Path | None
    schema_version: int
    placeholders: frozenset[str]
    source: str = field(repr=False)
    _document: dict[str, Any] = field(repr=False, compare=False)
    _prompt: Prompt | None = field(repr=False)
    _profile: Profile = field(default="flux2", repr=False, compare=False)
    _extra_keys: tuple[str, ...] = field(default=(), repr=False, compare=False)

    @property
    def is_template(self) -> bool:
        """Whether the prompt has ``${name}`` placeholders to fill before it can be used."""
        return bool(self.placeholders)

    @property
    def document(self) -> dict[str, Any]:
        """A copy of the prompt document as written (migrated, not substituted)."""
        return copy.deepcopy(self._document)

    @property
    def prompt(self) -> Prompt:
        """The validated prompt; for a template, the one rendered from the load's ``variables``."""
        if self._prompt is None:
            names = ", ".join(f"${{{name}}}" for name in sorted(self.placeholders))
            raise PromptError(
                f"{self.source}: this prompt file is a template with placeholders {names}; "
                "give their values: load_prompt_file(path, variables={...}) or "
                "prompt_file.render({...})"
            )
        return self._prompt

    def render(self, variables: Mapping[str, object] | None = None) -> Prompt:
        """Substitute ``variables`` into the prompt document and validate the result.

        Errors name the file; validation errors give paths inside the file (``$.prompt...``).
        """
        return _render(
            self._document, variables or {}, self.source, self._profile, self._extra_keys
        )

    def metadata(self) -> dict[str, Any]:
        """The metadata as plain JSON data, only the keys the file sets (for manifests and diffs).

        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.prompt.toml"
        >>> _ = path.write_text('name = "a"\\ntags = ["x"]\\n[prompt]\\nscene = "s"\\n')
        >>> load_prompt_file(path).metadata()
        {'name': 'a', 'tags': ['x']}
        """
        out: dict[str, Any] = {"name": self.name}
        for key in ("description", "version", "model"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.parameters:
            out["parameters"] = dict(self.parameters)
        if self.tags:
            out["tags"] = list(self.tags)
        return out


# --------------------------------------------------------------------------------------------
# Reading


def read_bytes(path: Path) -> bytes:
    """The bytes of the file at ``path``; a :class:`~flux2prompt.SourceError` naming it when it is
    missing, a folder or unreadable. (Internal: shared by prompt files, diffs and lockfiles.)
    """
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise SourceError("no such file", source=str(path)) from None
    except IsADirectoryError:
        raise SourceError("is a directory, not a prompt file", source=str(path)) from None
    except OSError as exc:
        raise SourceError(f"cannot read: {exc.strerror}", source=str(path)) from None


def _decode(data: bytes | str, source: str) -> str:
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceError(
            f"not UTF-8 text (byte {exc.start}); save the file as UTF-8", source=source
        ) from None


def _check_toml_values(node: Any, parts: list[str | int], source: str) -> None:
    # TOML has values JSON has not; a prompt is JSON, so refuse them where they are written.
    if isinstance(node, datetime.date | datetime.time):
        raise SourceError(
            f"{json_path(parts)}: TOML dates and times have no JSON form; quote it as a string",
            source=source,
        )
    if isinstance(node, float) and not math.isfinite(node):
        raise SourceError(f"{json_path(parts)}: {node} is not a JSON number", source=source)
    if isinstance(node, dict):
        for key, value in node.items():
            _check_toml_values(value, [*parts, key], source)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _check_toml_values(value, [*parts, index], source)


def parse_toml(data: bytes | str, source: str) -> dict[str, Any]:
    """Parse TOML text (or UTF-8 bytes) that must be JSON data, ``source`` naming it in errors.

    A syntax error is a :class:`~flux2prompt.SourceError` with the line; a value JSON has not (a
    date, ``nan``) one with its JSON path. (Internal: prompt files and job files read TOML so.)

    >>> parse_toml('name = "x"\\n[prompt]\\nscene = "s"\\n', "x.toml")
    {'name': 'x', 'prompt': {'scene': 's'}}
    """
    text = _decode(data, source)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        line: int | None = None
        column = ""
        position = _TOML_POSITION.search(message)
        if position is not None:
            message = message[: position.start()]
            if position.group(1) is not None:
                line = int(position.group(1))
                column = f" at column {position.group(2)}"
            else:
                line = text.count("\n") + (0 if text.endswith("\n") else 1)
                column = " at the end of the file"
        raise SourceError(f"invalid TOML{column}: {message}", source=source, line=line) from None
    _check_toml_values(document, [], source)
    return document


def _parse(data: bytes | str, source: str, suffix: str) -> Any:
    suffix = suffix.lower()
    if suffix == ".toml":
        return parse_toml(data, source)
    if suffix == ".json":
        from flux2prompt._load import parse_json

        return parse_json(data, source=source)
    raise SourceError(
        f"unsupported file type {suffix or '(none)'!r}; use a .json or .toml prompt file",
        source=source,
    )


def parse_document(data: bytes | str, *, suffix: str, source: str) -> tuple[Any, bool]:
    """Parse a ``.json`` or ``.toml`` file's contents: the document, and whether it is a prompt
    file (``True``; build it with :func:`prompt_file_from_document`) or a plain prompt document.

    Syntax errors, and a document that is half one and half the other, are a
    :class:`~flux2prompt.SourceError` naming ``source``. (Internal: for readers of either shape.)

    >>> parse_document('{"scene": "fog"}', suffix=".json", source="p.json")
    ({'scene': 'fog'}, False)
    """
    document = _parse(data, source, suffix)
    return document, _is_prompt_file(document, suffix, source)


def _is_prompt_file(document: Any, suffix: str, source: str) -> bool:
    """Whether a parsed document is a prompt file (True) or a plain prompt document (False)."""
    if suffix.lower() == ".toml":
        if "prompt" not in document:
            from flux2prompt._model import KNOWN_KEYS

            stray = [key for key in document if key in KNOWN_KEYS]
            hint = (
                f"; move {', '.join(repr(k) for k in stray)} under a [prompt] table"
                if stray
                else "; write the prompt under a [prompt] table"
            )
            raise SourceError(f"$: a TOML prompt file needs a 'prompt' table{hint}", source=source)
        return True
    if not isinstance(document, Mapping):
        return False
    if "prompt" in document:
        return True
    metadata = [key for key in _METADATA_KEYS if key in document]
    if metadata:
        raise SourceError(
            f"$: has prompt-file metadata ({', '.join(repr(k) for k in metadata)}) but no "
            "'prompt' key; put the prompt document under \"prompt\"",
            source=source,
        )
    return False


def prompt_file_schema() -> dict[str, Any]:
    """A copy of the JSON Schema (Draft 2020-12) of prompt files.

    >>> prompt_file_schema()["title"]
    'flux2prompt prompt file'
    """
    return copy.deepcopy(packaged_schema(_FILE_SCHEMA))


def _metadata_special(error: jsonschema.ValidationError) -> str | None:
    """The prompt-file schema's own rules, in words (the rest are :func:`issues_from_errors`')."""
    if error.validator == "pattern" and list(error.absolute_path) == ["name"]:
        return (
            f"{json.dumps(error.instance, ensure_ascii=False)} is not a slug: use lower-case "
            "letters, digits, '-', '_' and '.', starting and ending with a letter or digit "
            "(e.g. 'mug-hero')"
        )
    return None


def _metadata_issues(document: Any) -> list[ValidationIssue]:
    errors = packaged_validator(_FILE_SCHEMA).iter_errors(document)
    return issues_from_errors(errors, document, special=_metadata_special)


class FileValidationError(PromptValidationError):
    """A :class:`~flux2prompt.PromptValidationError` in a prompt read from a file: ``source``
    names the file, the issues' paths are inside it, and the message starts with the name.

    (Internal: it lets a reader of two files, such as a diff, say which one is invalid.)
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


def in_file(
    exc: PromptValidationError, source: str, *, base: str = "$.prompt"
) -> FileValidationError:
    """The same validation error naming the file ``source``, with paths under ``base`` (the
    prompt's place in the file: ``$.prompt`` in a prompt file, ``$`` in a plain document).

    >>> from flux2prompt import load
    >>> try:
    ...     load({"scene": 1})
    ... except PromptValidationError as exc:
    ...     print(in_file(exc, "hero.prompt.toml").issues[0])
    $.prompt.scene: expected a string, got integer 1
    """
    issues = [
        ValidationIssue(base + issue.path[1:], issue.message, issue.schema_path)
        for issue in exc.issues
    ]
    return FileValidationError(issues, exc.profile, source=source)


def _render(
    document: dict[str, Any],
    variables: Mapping[str, object],
    source: str,
    profile: Profile,
    extra_keys: Iterable[str],
) -> Prompt:
    from flux2prompt._load import prompt_from_document

    try:
        rendered = _substitute(document, variables, ["prompt"])
    except PromptError as exc:
        raise PromptError(f"{source}: {exc}") from None
    try:
        return prompt_from_document(rendered, profile=profile, extra_keys=extra_keys)
    except PromptValidationError as exc:
        raise in_file(exc, source) from None


def _prepare(document: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Migrate a prompt-file document and check its metadata; the result is current and valid."""
    from flux2prompt._migrate import migrate_prompt_file

    migrated = migrate_prompt_file(document, source)
    issues = _metadata_issues(migrated)
    if issues:
        raise SourceError("; ".join(str(issue) for issue in issues), source=source)
    return migrated


def prompt_file_from_document(
    document: Mapping[str, Any],
    *,
    source: str,
    path: Path | None = None,
    variables: Mapping[str, object] | None = None,
    profile: Profile = "flux2",
    extra_keys: Iterable[str] = (),
) -> PromptFile:
    """The :class:`PromptFile` of a parsed prompt-file document (see :func:`parse_document`):
    migrated, its metadata checked, its prompt validated. (Internal: :func:`parse_prompt_file`
    without parsing again.)
    """
    written_version = document.get("schema_version", 1)
    current = _prepare(document, source)
    prompt_document: dict[str, Any] = current["prompt"]
    names = frozenset(placeholders(prompt_document))
    extra = tuple(extra_keys)
    prompt = None
    if not names or variables is not None:
        # Always substituted, even without placeholders, so that "$$" means "$" in every file.
        prompt = _render(prompt_document, variables or {}, source, profile, extra)
    raw_parameters = current.get("parameters", {})
    parameters = {key: raw_parameters[key] for key in _PARAMETER_KEYS if key in raw_parameters}
    return PromptFile(
        name=current["name"],
        description=current.get("description"),
        version=current.get("version"),
        model=current.get("model"),
        parameters=MappingProxyType(parameters),
        tags=tuple(current.get("tags", ())),
        path=path,
        schema_version=written_version,
        placeholders=names,
        source=source,
        _document=prompt_document,
        _prompt=prompt,
        _profile=profile,
        _extra_keys=extra,
    )


def parse_prompt_file(
    data: bytes | str,
    *,
    suffix: str,
    source: str = "<prompt file>",
    path: Path | None = None,
    variables: Mapping[str, object] | None = None,
    profile: Profile = "flux2",
    extra_keys: Iterable[str] = (),
) -> PromptFile:
    """Read a prompt file from its contents; ``suffix`` (``".toml"`` or ``".json"``) says how.

    ``source`` names the contents in errors (a path, or ``REV:path`` for a file read from git).

    >>> parse_prompt_file('{"name": "x", "prompt": {"scene": "a kite"}}', suffix=".json").name
    'x'
    """
    document, is_file = parse_document(data, suffix=suffix, source=source)
    if not is_file:
        raise SourceError(
            "is a plain prompt document, not a prompt file: load it with flux2prompt.load(), or "
            'wrap it as {"name": "...", "prompt": {...}} to give it a name and metadata',
            source=source,
        )
    return prompt_file_from_document(
        document,
        source=source,
        path=path,
        variables=variables,
        profile=profile,
        extra_keys=extra_keys,
    )


def load_prompt_file(
    path: str | Path,
    variables: Mapping[str, object] | None = None,
    *,
    profile: Profile = "flux2",
    extra_keys: Iterable[str] = (),
) -> PromptFile:
    """Load a prompt file (``.toml`` or ``.json``): metadata and a validated prompt.

    An older ``schema_version`` is migrated; a template is validated after substituting
    ``variables`` (without them, its :attr:`PromptFile.prompt` says which are needed). Raises
    :class:`~flux2prompt.SourceError` for an unreadable file or bad metadata (naming the file and
    the line or key path) and :class:`~flux2prompt.PromptValidationError` for an invalid prompt.

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "poster.prompt.toml"
    >>> _ = path.write_text('name = "poster"\\n[prompt]\\nscene = "a ${city}"\\n')
    >>> load_prompt_file(path, {"city": "Lisbon"}).prompt.to_json()
    '{"scene":"a Lisbon"}'
    """
    path = Path(path)
    return parse_prompt_file(
        read_bytes(path),
        suffix=path.suffix,
        source=str(path),
        path=path,
        variables=variables,
        profile=profile,
        extra_keys=extra_keys,
    )


def read_prompt_document(path: Path) -> Any:
    """Read the prompt document stored at ``path``: a prompt file's ``prompt``, or a plain one.

    A prompt file is migrated and its metadata checked; ``$$`` becomes ``$``. A template cannot
    be read without its variables: that is a :class:`~flux2prompt.PromptError` naming them.

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "p.json"
    >>> _ = path.write_text('{"scene": "fog"}', encoding="utf-8")
    >>> read_prompt_document(path)
    {'scene': 'fog'}
    """
    source = str(path)
    document, is_file = parse_document(read_bytes(path), suffix=path.suffix, source=source)
    if not is_file:
        return document
    current = _prepare(document, source)
    prompt_document = current["prompt"]
    names = placeholders(prompt_document)
    if names:
        listed = ", ".join(f"${{{name}}}" for name in sorted(names))
        raise PromptError(
            f"{source}: this prompt file is a template with placeholders {listed}; give their "
            "values: flux2prompt.load_prompt_file(path, variables={...}).prompt"
        )
    try:
        return _substitute(prompt_document, {}, ["prompt"])
    except PromptError as exc:
        raise PromptError(f"{source}: {exc}") from None
