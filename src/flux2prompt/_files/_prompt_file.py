"""Prompt files: a prompt and its metadata in TOML or JSON, templates, and schema versions.

Two shapes of file are read:

- a **prompt file** (``*.prompt.toml`` or ``*.prompt.json``; the schema is
  ``schemas/prompt-file.schema.json``): ``name``, optional ``description``, ``version``,
  ``model``, ``parameters``, ``tags`` and ``schema_version``, and the prompt document under
  ``prompt``. Its strings may hold ``${name}`` placeholders (:mod:`string.Template` rules, ``$$``
  for a literal ``$``), which make it a template;
- a **plain prompt document** (``.json`` only): the prompt itself, ``{"scene": ...}``, read as it
  always was, with no metadata and no placeholders.

:func:`parse_prompt` is the one loading sequence (contents -> parse -> a :class:`PromptFile` or
a plain :class:`~flux2prompt.Prompt`): ``flux2prompt.load(Path(...))``, :func:`load_prompt_file`,
SOURCE resolution and diffs all call it. Errors name the file, and the line for a syntax error
or the JSON path for a wrong value.

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
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from flux2prompt._document import extra_key_names, prompt_from_document
from flux2prompt._errors import (
    FileValidationError,
    PromptError,
    PromptValidationError,
    SourceError,
    ValidationIssue,
)
from flux2prompt._files._migrate import migrate_prompt_file
from flux2prompt._files._parse import parse_document, read_bytes
from flux2prompt._model import Prompt
from flux2prompt._placeholders import placeholders, substitute_under
from flux2prompt._schema import (
    Profile,
    issues_from_errors,
    packaged_schema,
    packaged_validator,
)
from flux2prompt._text import forbidden_char_problem

if TYPE_CHECKING:
    import jsonschema

__all__ = [
    "PromptFile",
    "document_line",
    "in_file",
    "load_prompt_file",
    "parse_prompt",
    "parse_prompt_file",
    "prompt_file_from_document",
    "prompt_file_schema",
    "read_prompt",
    "read_prompt_document",
]

_FILE_SCHEMA = "prompt-file.schema.json"
_PARAMETER_KEYS = ("width", "height", "steps", "guidance", "seed")


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
    issues = issues_from_errors(errors, document, special=_metadata_special)
    return issues or _metadata_text_issues(document)


def _metadata_text_issues(document: Any) -> list[ValidationIssue]:
    """Metadata is shown by ``diff``, ``lock`` and ``inspect``: like prompt text, it may hold no
    control characters (newline aside), bidi controls or lone surrogates."""
    if not isinstance(document, Mapping):
        return []
    found: list[ValidationIssue] = []
    for key in ("name", "description", "version", "model"):
        value = document.get(key)
        problem = forbidden_char_problem(value) if isinstance(value, str) else None
        if problem:
            found.append(ValidationIssue(f"$.{key}", problem))
    tags = document.get("tags")
    for index, tag in enumerate(tags if isinstance(tags, list) else []):
        problem = forbidden_char_problem(tag) if isinstance(tag, str) else None
        if problem:
            found.append(ValidationIssue(f"$.tags[{index}]", problem))
    return found


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
    try:
        rendered = substitute_under(document, variables, ["prompt"])
    except PromptError as exc:
        raise PromptError(f"{source}: {exc}") from None
    try:
        return prompt_from_document(rendered, profile=profile, extra_keys=extra_keys)
    except PromptValidationError as exc:
        raise in_file(exc, source) from None


def _prepare(
    document: Mapping[str, Any], source: str, text: bytes | str | None = None, suffix: str = ""
) -> dict[str, Any]:
    """Migrate a prompt-file document and check its metadata; the result is current and valid.

    With the file's ``text``, each of the error's ``problems`` names its line too (as a job
    file's do)."""
    migrated = migrate_prompt_file(document, source)
    issues = _metadata_issues(migrated)
    if not issues:
        return migrated
    problems = tuple(
        SourceError(str(issue), source=source, line=_line(text, suffix, issue.path))
        for issue in issues
    )
    # The message stays "file: $.path: ..." (every problem); each problem has its line too,
    # for the command line's reports and annotations.
    message = "; ".join(str(issue) for issue in issues)
    raise SourceError(message, source=source, problems=problems)


# A JSON path's parts, as json_path() writes them: .name, ['any key'] and [index].
_PATH_PART = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\['((?:[^'\\]|\\.)*)'\]|\[(\d+)\]")
_TOML_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_TOML_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\.\"' ]+?)\s*=")


def _path_parts(path: str) -> list[str | int]:
    parts: list[str | int] = []
    for name, quoted, index in _PATH_PART.findall(path):
        if index:
            parts.append(int(index))
        else:
            parts.append(name or quoted.replace("\\'", "'").replace("\\\\", "\\"))
    return parts


def document_line(text: str, suffix: str, path: str) -> int | None:
    """The line of a prompt file's (or a plain document's) ``text`` that defines the JSON
    ``path`` (or, failing that, its longest part that is there), best effort: neither parser
    keeps positions. List indices count, so ``$.subjects[1].pose`` is the second subject's.
    (Internal: errors and the command line's reports.)

    >>> document_line('name = "a"\\n[prompt]\\nscene = "s"\\nmood = 5\\n', ".toml", "$.prompt.mood")
    4
    >>> document_line('{\\n "subjects": [{"pose": "a"},\\n   {"pose": 5}]\\n}', ".json",
    ...               "$.subjects[1].pose")
    3
    """
    parts = _path_parts(path)
    if not parts:
        return None
    if suffix.lower() == ".toml":
        return _toml_line(text, parts)
    if suffix.lower() == ".json":
        return _json_line(text, parts)
    return None


def _toml_keys(raw: str) -> list[str | int]:
    return [part.strip().strip("\"'") for part in raw.split(".")]


def _toml_line(text: str, wanted: list[str | int]) -> int | None:
    best: tuple[int, int] | None = None
    table: list[str | int] = []
    arrays: dict[tuple[str | int, ...], int] = {}  # [[a.b]] paths: the index of the last one
    for number, line in enumerate(text.splitlines(), 1):
        header = _TOML_HEADER.match(line)
        if header is not None:
            keys = _toml_keys(header.group(2))
            # A table under an array of tables belongs to its last element: insert the index.
            for end in range(len(keys) - 1, 0, -1):
                index = arrays.get(tuple(keys[:end]))
                if index is not None:
                    keys = [*keys[:end], index, *keys[end:]]
                    break
            if header.group(1) == "[[":
                index = arrays.get(tuple(keys), -1) + 1
                arrays[tuple(keys)] = index
                keys = [*keys, index]
            table = current = keys
        else:
            key = _TOML_KEY.match(line)
            if key is None:
                continue
            current = [*table, *_toml_keys(key.group(1))]
        depth = 0
        for mine, theirs in zip(current, wanted, strict=False):
            if mine != theirs:
                break
            depth += 1
        if depth and depth == min(len(current), len(wanted)) and (best is None or depth > best[0]):
            best = (depth, number)
    return best[1] if best else None


_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")


def _skip(text: str, at: int) -> int:
    """The index of the first character at or after ``at`` that is not JSON whitespace."""
    space = _SPACE.match(text, at)
    return space.end() if space is not None else at


def _json_line(text: str, wanted: list[str | int]) -> int | None:
    """Walk the JSON text along ``wanted``, skipping the values in between whole."""
    at = _skip(text, 0)
    found: int | None = None
    try:
        for part in wanted:
            opening = text[at : at + 1]
            if opening == "{" and isinstance(part, str):
                at = _skip(text, at + 1)
                while text[at] == '"':
                    key_at = at
                    key, at = _DECODER.raw_decode(text, at)
                    at = _skip(text, at) + 1  # past ":"
                    at = _skip(text, at)
                    if key == part:
                        found = key_at
                        break
                    _, at = _DECODER.raw_decode(text, at)
                    at = _skip(text, at)
                    if text[at] == ",":
                        at = _skip(text, at + 1)
                else:
                    break  # no such key
            elif opening == "[" and isinstance(part, int):
                at = _skip(text, at + 1)
                for _ in range(part):
                    _, at = _DECODER.raw_decode(text, at)
                    at = _skip(text, at)
                    if text[at] != ",":
                        raise IndexError(part)
                    at = _skip(text, at + 1)
                found = at
            else:
                break
    except (ValueError, IndexError):
        pass  # not the text's shape after all: the part found so far
    return text.count("\n", 0, found) + 1 if found is not None else None


def _line(text: bytes | str | None, suffix: str, path: str) -> int | None:
    if isinstance(text, bytes):
        text = text.decode("utf-8-sig")  # it parsed, so it decodes
    return document_line(text, suffix, path) if text is not None else None


def prompt_file_from_document(
    document: Mapping[str, Any],
    *,
    source: str,
    path: Path | None = None,
    variables: Mapping[str, object] | None = None,
    profile: Profile = "flux2",
    extra_keys: Iterable[str] = (),
    text: bytes | str | None = None,
    suffix: str = "",
) -> PromptFile:
    """The :class:`PromptFile` of a parsed prompt-file document (see :func:`parse_document`):
    migrated, its metadata checked, its prompt validated. (Internal: :func:`parse_prompt_file`
    without parsing again; given the file's ``text`` and ``suffix``, metadata problems name
    their lines.)
    """
    written_version = document.get("schema_version", 1)
    current = _prepare(document, source, text, suffix)
    prompt_document: dict[str, Any] = current["prompt"]
    names = frozenset(placeholders(prompt_document))
    extra = extra_key_names(extra_keys)
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


def parse_prompt(
    data: bytes | str,
    *,
    suffix: str,
    source: str,
    path: Path | None = None,
    variables: Mapping[str, object] | None = None,
    profile: Profile = "flux2",
    extra_keys: Iterable[str] = (),
    plain: bool = True,
) -> PromptFile | Prompt:
    """The one loading sequence: contents -> parse -> a :class:`PromptFile` or a :class:`Prompt`.

    ``data`` are a file's contents (from disk or from git), ``suffix`` (``".toml"`` or
    ``".json"``) says how to parse them and ``source`` names them in errors. A prompt file is
    migrated, its metadata checked and its prompt validated (with ``variables`` for a
    template); a plain prompt document is validated as it is, or refused when ``plain`` is false.

    >>> parse_prompt('{"scene": "a kite"}', suffix=".json", source="k.json").scene
    'a kite'
    >>> parse_prompt('{"name": "k", "prompt": {"scene": "a kite"}}', suffix=".json",
    ...              source="k.json").name
    'k'
    """
    wanted = extra_key_names(extra_keys)
    document, is_file = parse_document(data, suffix=suffix, source=source, extra_keys=wanted)
    if is_file:
        return prompt_file_from_document(
            document,
            source=source,
            path=path,
            variables=variables,
            profile=profile,
            extra_keys=wanted,
            text=data,
            suffix=suffix,
        )
    if not plain:
        raise SourceError(
            "is a plain prompt document, not a prompt file: load it with flux2prompt.load(), or "
            'wrap it as {"name": "...", "prompt": {...}} to give it a name and metadata',
            source=source,
        )
    try:
        return prompt_from_document(document, profile=profile, extra_keys=wanted)
    except PromptValidationError as exc:
        raise in_file(exc, source, base="$") from None  # the paths are the file's own


def read_prompt(
    path: Path,
    *,
    variables: Mapping[str, object] | None = None,
    profile: Profile = "flux2",
    extra_keys: Iterable[str] = (),
    plain: bool = True,
) -> PromptFile | Prompt:
    """:func:`parse_prompt` of the file at ``path``; errors name the path."""
    return parse_prompt(
        read_bytes(path),
        suffix=path.suffix,
        source=str(path),
        path=path,
        variables=variables,
        profile=profile,
        extra_keys=extra_keys,
        plain=plain,
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
    loaded = parse_prompt(
        data,
        suffix=suffix,
        source=source,
        path=path,
        variables=variables,
        profile=profile,
        extra_keys=extra_keys,
        plain=False,
    )
    assert isinstance(loaded, PromptFile)  # plain=False refused a plain document
    return loaded


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
    loaded = read_prompt(
        Path(path), variables=variables, profile=profile, extra_keys=extra_keys, plain=False
    )
    assert isinstance(loaded, PromptFile)  # plain=False refused a plain document
    return loaded


def read_prompt_document(path: Path) -> dict[str, Any]:
    """The validated prompt document stored at ``path``: a prompt file's prompt, or a plain one.

    A prompt file is migrated and its metadata checked; ``$$`` becomes ``$``. A template cannot
    be read without its variables: that is a :class:`~flux2prompt.PromptError` naming them.

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "p.json"
    >>> _ = path.write_text('{"scene": "fog"}', encoding="utf-8")
    >>> read_prompt_document(path)
    {'scene': 'fog'}
    """
    loaded = read_prompt(path)
    return (loaded.prompt if isinstance(loaded, PromptFile) else loaded).to_dict()
