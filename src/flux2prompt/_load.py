"""Load prompts from JSON text, bytes, dicts, files, builders and prompts.

Loading checks the document against the profile's schema (every issue, with its JSON path), then
builds the frozen model, which normalises hex codes and Unicode. Documents in the shapes of BFL's
and Cloudflare's examples (``f-number``, ``ISO``, ``lens-mm`` and all) load without loss, and a
document already in wire order compiles back to the same bytes.

Example:
    >>> p = load('{"scene": "a red fox in snow", "camera": {"f-number": "f/4", "ISO": 200}}')
    >>> p.camera.f_number, p.camera.iso
    ('f/4', 200)
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError as PydanticValidationError

from flux2prompt._compile import dumps_compact
from flux2prompt._errors import PromptError, PromptValidationError, SourceError, ValidationIssue
from flux2prompt._model import KNOWN_KEYS, Profile, Prompt
from flux2prompt._schema import check_document, json_path

if TYPE_CHECKING:
    from flux2prompt._builder import PromptBuilder

__all__ = ["issues_from_pydantic", "load", "parse_json", "prompt_from_document"]

PromptSource = Prompt | Mapping[str, Any] | str | bytes | os.PathLike[str]


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}: a later value would silently replace it")
        out[key] = value
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON; write a number")


def parse_json(text: str | bytes, *, source: str | None = None) -> Any:
    """Parse JSON text strictly: duplicate keys and NaN/Infinity are errors with a line number.

    >>> parse_json('{"a": 1, "a": 2}')
    Traceback (most recent call last):
    ...
    flux2prompt._errors.SourceError: duplicate key 'a': a later value would silently replace it
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SourceError(
                f"not UTF-8 text (byte {exc.start}); save the file as UTF-8", source=source
            ) from None
    try:
        return json.loads(
            text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant
        )
    except json.JSONDecodeError as exc:
        raise SourceError(
            f"invalid JSON at column {exc.colno}: {exc.msg}",
            source=source or "<json>",
            line=exc.lineno,
        ) from None
    except ValueError as exc:
        raise SourceError(str(exc), source=source) from None


def issues_from_pydantic(
    error: PydanticValidationError, document: Any, base: Iterable[str | int] = ()
) -> list[ValidationIssue]:
    """Turn pydantic's errors into issues whose paths are JSON paths into ``document``."""
    issues = []
    for item in error.errors(include_url=False):
        parts: list[str | int] = list(base)
        node = document
        for part in item["loc"]:
            # pydantic adds union-member and validator names to locations; keep real keys only.
            if isinstance(node, Mapping) and part in node:
                node = node[part]
                parts.append(part)
            elif isinstance(node, list | tuple) and isinstance(part, int) and 0 <= part < len(node):
                node = node[part]
                parts.append(part)
        message = str(item["msg"]).removeprefix("Value error, ")
        issues.append(ValidationIssue(path=json_path(parts), message=message))
    return issues


def prompt_from_document(
    document: Any, *, profile: Profile = "flux2", extra_keys: Iterable[str] = ()
) -> Prompt:
    """Validate a parsed JSON document and build its :class:`Prompt`.

    Keys named in ``extra_keys`` are kept as custom extras instead of being rejected.
    """
    if not isinstance(document, Mapping):
        kind = type(document).__name__
        raise PromptValidationError(
            [ValidationIssue("$", f"a prompt must be a JSON object, got {kind}")], profile
        )
    wanted = tuple(extra_keys)
    for key in wanted:
        if key in KNOWN_KEYS:
            raise PromptError(f"extra_keys: {key!r} is a known key, not a custom one")
    core = {k: v for k, v in document.items() if k not in wanted}
    check_document(core, profile)
    try:
        prompt = Prompt.model_validate(core)
    except PydanticValidationError as exc:
        raise PromptValidationError(issues_from_pydantic(exc, core), profile) from None
    extras = tuple((k, dumps_compact(v)) for k, v in document.items() if k in wanted)
    if extras:
        object.__setattr__(prompt, "__pydantic_private__", {"_extras": extras})
    return prompt


def load(
    source: PromptSource | PromptBuilder,
    *,
    profile: Profile = "flux2",
    extra_keys: Iterable[str] = (),
) -> Prompt:
    """Load a prompt from a dict, JSON text or bytes, a file path, a builder or a prompt.

    The result is validated under ``profile`` (``"flux2"``, the default, or ``"cloudflare"``);
    problems raise :class:`~flux2prompt.PromptValidationError` listing each with its JSON path.
    A ``str`` is JSON text; pass a :class:`pathlib.Path` to read a file.

    >>> load({"scene": "studio", "color_palette": ["#abc"]}).color_palette
    ('#AABBCC',)
    """
    from flux2prompt._builder import PromptBuilder

    if isinstance(source, Prompt):
        if profile != "flux2":
            check_document(source.to_dict(), profile)
        return source
    if isinstance(source, PromptBuilder):
        return source.compile(profile=profile)
    if isinstance(source, os.PathLike):
        from flux2prompt._files import read_prompt_document

        document = read_prompt_document(Path(source))
    elif isinstance(source, str | bytes):
        if isinstance(source, str) and not source.lstrip().startswith(("{", "[")):
            hint = (
                "; to read a file, pass pathlib.Path(...)"
                if source.endswith((".json", ".toml"))
                else '; a prompt string here must be a JSON object such as \'{"scene": "..."}\''
            )
            raise SourceError(f"not JSON text: {source[:40]!r}{hint}")
        document = parse_json(source)
    elif isinstance(source, Mapping):
        document = source
    else:
        raise PromptError(
            f"cannot load a prompt from {type(source).__name__}; pass a dict, JSON text, bytes, "
            "a pathlib.Path, a builder or a Prompt"
        )
    return prompt_from_document(document, profile=profile, extra_keys=extra_keys)
