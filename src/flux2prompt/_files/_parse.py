"""Reading prompt sources' bytes and parsing them: TOML and strict JSON, with file and line.

:func:`parse_document` tells a prompt file (metadata and a ``prompt``) from a plain prompt
document; every error is a :class:`~flux2prompt.SourceError` naming the file and, for a syntax
error, the line.

Example:
    >>> parse_toml('name = "x"\\n[prompt]\\nscene = "s"\\n', "x.toml")
    {'name': 'x', 'prompt': {'scene': 's'}}
"""

from __future__ import annotations

import datetime
import errno
import math
import os
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from flux2prompt._document import (
    MAX_DEPTH,
    MAX_DOCUMENT_BYTES,
    check_bounds,
    check_size,
    parse_json,
)
from flux2prompt._errors import SourceError
from flux2prompt._model import KNOWN_KEYS
from flux2prompt._schema import json_path

__all__ = [
    "PROMPT_FILE_SUFFIXES",
    "cannot_read",
    "decode_utf8",
    "is_job_document",
    "is_job_file",
    "not_found",
    "not_utf8",
    "parse_document",
    "parse_toml",
    "read_bytes",
]

#: The suffixes of files that hold prompts.
PROMPT_FILE_SUFFIXES: tuple[str, ...] = (".json", ".toml")

# Keys that only a prompt file has: a JSON document with one of them but no "prompt" key is a
# prompt file with its prompt forgotten, not a plain prompt document with unknown keys.
_METADATA_KEYS = ("name", "version", "model", "parameters", "tags", "schema_version")
_TOML_POSITION = re.compile(r"\s*\((?:at line (\d+), column (\d+)|at end of document)\)$")


def read_bytes(path: Path, *, limit: int = MAX_DOCUMENT_BYTES) -> bytes:
    """The bytes of the file at ``path``; a :class:`~flux2prompt.SourceError` naming it when it is
    missing, a folder, unreadable or larger than ``limit`` (read no further than that, so a huge
    file or an endless one such as ``/dev/zero`` costs nothing). (Internal: shared by prompt
    files, job files, diffs and lockfiles.)
    """
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
        if len(data) > limit:
            raise SourceError(
                f"is larger than the {limit:,} bytes a document may have; split it",
                source=str(path),
            )
        return data
    except FileNotFoundError:
        raise SourceError(not_found(path), source=str(path)) from None
    except IsADirectoryError:
        raise SourceError("is a directory, not a prompt file", source=str(path)) from None
    except OSError as exc:
        raise SourceError(cannot_read(exc), source=str(path)) from None


def not_found(path: Path, what: str = "file") -> str:
    """Why ``path`` cannot be found, in words: ``no such file``, or a link to nowhere named as
    one (``ls`` shows the link, so "no such file" would puzzle). (Internal.)

    >>> not_found(Path("nowhere.prompt.toml")), not_found(Path("prompts/*.json"))
    ('no such file', 'no such file, and no file matches it as a pattern')
    """
    if not path.is_symlink():
        if any(sign in str(path) for sign in "*?["):
            # The shell passes a glob that matches nothing on as it is: `validate p/*.json`.
            return f"no such {what}, and no file matches it as a pattern"
        return f"no such {what}"
    try:
        target = os.readlink(path)
    except OSError:
        return f"is a symbolic link to a missing {what}; fix or remove the link"
    return f"is a symbolic link to {target!r}, which does not exist; fix or remove the link"


def cannot_read(exc: OSError) -> str:
    """Why a file could not be read, in words. (Internal.)

    >>> cannot_read(PermissionError(13, "Permission denied"))
    'cannot read: Permission denied'
    """
    if exc.errno == errno.ELOOP:
        return "is a symbolic link that loops (it leads back to itself); fix or remove the link"
    return f"cannot read: {exc.strerror or type(exc).__name__}"


def is_job_document(document: object) -> bool:
    """Whether a parsed TOML document is a job file: it has a top-level ``template`` key.

    >>> is_job_document({"template": "t.py:x", "output": "{i}"}), is_job_document({"prompt": {}})
    (True, False)
    """
    return isinstance(document, Mapping) and "template" in document


def is_job_file(path: Path) -> bool:
    """Whether ``path`` is a job file: a ``.toml`` file (not a ``*.prompt.toml``) whose top level
    has a ``template`` key. Its shape only: a job whose values its reader refuses (a ``nan``, a
    number too large) is still a job, and reading it names the line; a file that is missing or
    does not parse as TOML is not one (it is someone else's file).
    """
    if path.suffix != ".toml" or path.name.endswith(".prompt.toml"):
        return False
    if not path.is_file():  # a named pipe would be read until a writer comes: never
        return False
    import tomllib

    try:
        return is_job_document(tomllib.loads(read_bytes(path).decode("utf-8-sig")))
    except (SourceError, ValueError, RecursionError):  # ValueError: TOML's, and a huge integer's
        return False


def not_utf8(data: bytes) -> tuple[int, int, int, str] | None:
    """Where ``data`` stops being UTF-8 text, or ``None`` when it is UTF-8 (a byte order mark
    allowed): ``(offset, line, column, what)``, ``what`` naming the byte and, for text that
    starts with UTF-16's byte order mark, that encoding. (Internal: the messages of files and
    of standard input.)

    >>> not_utf8('{"scene": "caf\u00e9"}'.encode("latin-1"))
    (14, 1, 15, 'byte 0xe9')
    >>> not_utf8('{}'.encode("utf-16"))
    (0, 1, 1, "byte 0xff (the text is UTF-16: it starts with UTF-16's byte order mark)")
    """
    try:  # utf-8-sig counts from after a byte order mark; plain UTF-8 from the first byte
        data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    else:
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        at = exc.start
    else:  # pragma: no cover - what utf-8-sig refuses, utf-8 refuses
        at = 0
    start = data.rfind(b"\n", 0, at) + 1
    column = len(data[start:at].decode("utf-8-sig", "replace")) + 1
    what = f"byte 0x{data[at]:02x}"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        what += " (the text is UTF-16: it starts with UTF-16's byte order mark)"
    return at, data.count(b"\n", 0, at) + 1, column, what


def decode_utf8(data: bytes | str, source: str) -> str:
    """The text of a file's bytes (a byte order mark dropped); a byte that is not UTF-8 is a
    :class:`~flux2prompt.SourceError` naming ``source``, the line and the column. (Internal:
    prompt files and job files.)

    >>> decode_utf8(b'name = "caf\\xe9"\\n', "p.toml")
    Traceback (most recent call last):
    ...
    flux2prompt.SourceError: p.toml:1: not UTF-8 text: byte 0xe9 at column 12; save the file as UTF-8
    """  # noqa: E501
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        found = not_utf8(data)  # where, and what the byte is
    assert found is not None  # what utf-8-sig refuses, not_utf8 finds
    _, line, column, what = found
    raise SourceError(
        f"not UTF-8 text: {what} at column {column}; save the file as UTF-8",
        source=source,
        line=line,
    )


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
    import tomllib  # here: reading a .json file, the common case, does not need it

    check_size(len(data), source)
    text = decode_utf8(data, source)
    try:
        document = tomllib.loads(text)
    except RecursionError:
        # The parser recurses once per nested array or inline table.
        raise SourceError(
            f"nested more than {MAX_DEPTH} levels deep, the limit for a document; flatten it",
            source=source,
        ) from None
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
    except ValueError:
        # An integer past Python's 4,300 digits for converting text (sys.get_int_max_str_digits).
        found = re.search(r"\d{4301}", text)
        raise SourceError(
            "a number has too many digits (more than 4,300); write a smaller number, or quote it "
            "as a string",
            source=source,
            line=None if found is None else text.count("\n", 0, found.start()) + 1,
        ) from None
    # Dotted keys nest without brackets (a.b.c...): the depth is checked on the result too.
    check_bounds(document, source)
    _check_toml_values(document, [], source)
    return document


def _parse(data: bytes | str, source: str, suffix: str) -> Any:
    suffix = suffix.lower()
    if suffix == ".toml":
        return parse_toml(data, source)
    if suffix == ".json":
        # Not "invalid JSON at column 1: Expecting value"; an editor saves an empty file as its
        # byte order mark alone.
        if isinstance(data, bytes):
            bare: bytes | str = data.removeprefix(b"\xef\xbb\xbf")
        else:
            bare = data.removeprefix("\ufeff")
        if not bare.strip():
            raise SourceError(
                'is empty; write a JSON prompt document in it, such as {"scene": "..."}',
                source=source,
            )
        check_size(len(data), source)  # in bytes, before they are decoded
        return parse_json(decode_utf8(data, source), source=source)
    raise SourceError(
        f"unsupported file type {suffix or '(none)'!r}; use a .json or .toml prompt file",
        source=source,
    )


def parse_document(
    data: bytes | str, *, suffix: str, source: str, extra_keys: Collection[str] = ()
) -> tuple[Any, bool]:
    """Parse a ``.json`` or ``.toml`` file's contents: the document, and whether it is a prompt
    file (``True``; build it with :func:`prompt_file_from_document`) or a plain prompt document.

    Syntax errors, and a document that is half one and half the other, are a
    :class:`~flux2prompt.SourceError` naming ``source``. A key named in ``extra_keys`` is the
    prompt's own custom key (``.extra("name", ...)`` compiled and saved), not a prompt file's
    ``prompt`` or metadata. (Internal: for readers of either shape.)

    >>> parse_document('{"scene": "fog"}', suffix=".json", source="p.json")
    ({'scene': 'fog'}, False)
    >>> parse_document('{"scene": "fog", "name": "Fog"}', suffix=".json", source="p.json",
    ...                extra_keys=["name"])
    ({'scene': 'fog', 'name': 'Fog'}, False)
    """
    document = _parse(data, source, suffix)
    return document, _is_prompt_file(document, suffix, source, extra_keys)


def _is_prompt_file(
    document: Any, suffix: str, source: str, extra_keys: Collection[str] = ()
) -> bool:
    """Whether a parsed document is a prompt file (True) or a plain prompt document (False)."""
    if suffix.lower() == ".toml":
        if "prompt" not in document:
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
    if "prompt" in document and "prompt" not in extra_keys:
        return True
    metadata = [key for key in _METADATA_KEYS if key in document and key not in extra_keys]
    if metadata:
        raise SourceError(
            f"$: has prompt-file metadata ({', '.join(repr(k) for k in metadata)}) but no "
            "'prompt' key; put the prompt document under \"prompt\"",
            source=source,
        )
    return False
