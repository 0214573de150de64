"""Schemas and validation: cached compiled validators, profiles, errors with JSON paths.

Validation runs on a compiled validator (jsonschema-rs) on the hot path; only when a document is
invalid does python-jsonschema walk it again to report every issue with its JSON path, the most
relevant first (``best_match`` order), in words a user can act on.

Example:
    >>> issues = find_issues({"scene": "x", "lightning": "soft"}, "flux2")
    >>> print(issues[0])
    $.lightning: unknown key 'lightning'; did you mean 'lighting'?
"""

from __future__ import annotations

import copy
import difflib
import json
import re
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
import jsonschema_rs
from jsonschema.exceptions import ValidationError, relevance
from referencing import Registry, Resource

from flux2prompt._errors import PromptError, PromptValidationError, ValidationIssue
from flux2prompt._model import Profile
from flux2prompt._text import forbidden_char_problem

__all__ = [
    "PROFILES",
    "SCHEMA_VERSION",
    "check_document",
    "find_issues",
    "json_path",
    "schema",
]

PROFILES: tuple[Profile, ...] = ("flux2", "cloudflare")
SCHEMA_FILES: dict[str, str] = {
    "flux2": "flux2-prompt.schema.json",
    "cloudflare": "cloudflare-flux2.schema.json",
}
SCHEMA_VERSION = 1


@cache
def _raw_schema(profile: str) -> dict[str, Any]:
    if profile not in SCHEMA_FILES:
        raise PromptError(
            f"unknown profile {profile!r}; choose one of {', '.join(repr(p) for p in PROFILES)}"
        )
    text = (
        resources.files("flux2prompt")
        .joinpath("schemas", SCHEMA_FILES[profile])
        .read_text(encoding="utf-8")
    )
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def schema(profile: Profile = "flux2") -> dict[str, Any]:
    """A copy of the JSON Schema (Draft 2020-12) of a profile.

    >>> schema("cloudflare")["title"]
    'FLUX.2 JSON prompt (profile cloudflare)'
    """
    return copy.deepcopy(_raw_schema(profile))


def _resources() -> list[tuple[str, dict[str, Any]]]:
    return [(_raw_schema(p)["$id"], _raw_schema(p)) for p in PROFILES]


@cache
def _fast_validator(profile: str) -> Any:
    registry = jsonschema_rs.Registry(_resources())
    return jsonschema_rs.validator_for(_raw_schema(profile), registry=registry)


@cache
def _reporting_validator(profile: str) -> jsonschema.Draft202012Validator:
    registry: Registry[Any] = Registry().with_resources(
        (uri, Resource.from_contents(contents)) for uri, contents in _resources()
    )
    return jsonschema.Draft202012Validator(_raw_schema(profile), registry=registry)


def check_document(document: Any, profile: Profile = "flux2") -> None:
    """Raise :class:`PromptValidationError` unless ``document`` satisfies the profile's schema.

    >>> check_document({"scene": "a lighthouse"})
    >>> check_document({"scene": 1})
    Traceback (most recent call last):
    ...
    flux2prompt._errors.PromptValidationError: prompt is invalid under profile 'flux2' (1 problem):
    $.scene: expected a string, got integer 1
    """
    if not _fast_validator(profile).is_valid(document):
        raise PromptValidationError(find_issues(document, profile), profile)


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def json_path(parts: Iterable[str | int]) -> str:
    """A JSONPath for a location: ``$.subjects[0].position``, ``$.camera['f-number']``.

    >>> json_path(["camera", "f-number"])
    "$.camera['f-number']"
    """
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.match(part):
            out += f".{part}"
        else:
            escaped = part.replace("\\", "\\\\").replace("'", "\\'")
            out += f"['{escaped}']"
    return out


_JSON_TYPES = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    type(None): "null",
}


def _describe(value: Any) -> str:
    kind = _JSON_TYPES.get(type(value), type(value).__name__)
    shown = json.dumps(value, ensure_ascii=False, default=repr)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{kind} {shown}"


def _message(error: ValidationError, profile: str) -> str:
    keyword = error.validator
    value = error.instance
    rule: Any = error.validator_value
    if keyword == "type":
        expected = rule if isinstance(rule, str) else " or ".join(rule)
        article = "an" if expected[0] in "aeiou" else "a"
        return f"expected {article} {expected}, got {_describe(value)}"
    if keyword == "pattern" and isinstance(value, str):
        if "A-Fa-f" in str(rule):
            return (
                f"{value!r} is not a hex colour; write #RGB or #RRGGBB with digits 0-9 and A-F"
                + (" (alpha is not supported)" if re.fullmatch(r"#[0-9A-Fa-f]{4,8}", value) else "")
            )
        problem = forbidden_char_problem(value)
        if problem is not None:
            return problem
        if "A-Za-z0-9" in str(rule):
            return (
                f"{value!r} is not a BCP 47 language tag; use a code such as 'en', 'ja', 'zh-Hant'"
            )
    if keyword == "enum":
        choices = ", ".join(repr(c) for c in rule)
        return f"{_describe(value)} is not allowed under profile {profile!r}; use one of {choices}"
    if keyword in ("minItems", "maxItems") and isinstance(value, list):
        limit = "at least" if keyword == "minItems" else "at most"
        exact = ""
        sibling = error.schema if isinstance(error.schema, Mapping) else {}
        if sibling.get("minItems") == sibling.get("maxItems"):
            limit, exact = "exactly", ""
        return (
            f"has {len(value)} item{'s' if len(value) != 1 else ''}; profile {profile!r} needs "
            f"{limit} {rule}{exact}"
        )
    if keyword == "required":
        missing = [key for key in rule if isinstance(value, dict) and key not in value]
        names = ", ".join(repr(k) for k in missing)
        return (
            f"missing required key{'s' if len(missing) > 1 else ''} {names} (profile {profile!r})"
        )
    if keyword == "minProperties":
        return "the prompt is empty; add at least a scene"
    if keyword == "minLength":
        return "must not be empty"
    if keyword == "exclusiveMinimum":
        return f"must be greater than {rule}, got {_describe(value)}"
    return str(error.message)


def _unknown_key_issues(error: ValidationError, base: list[str | int]) -> list[ValidationIssue]:
    schema_node: Any = error.schema
    allowed = list(schema_node.get("properties", {})) if isinstance(schema_node, Mapping) else []
    issues = []
    for key in error.instance:
        if key in allowed:
            continue
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(allowed)}"
        if not base:
            hint += " (to keep a custom key, add it with .extra() or load(..., extra_keys=...))"
        issues.append(
            ValidationIssue(
                path=json_path([*base, key]),
                message=f"unknown key {key!r}{hint}",
                schema_path="/".join(str(p) for p in error.absolute_schema_path),
            )
        )
    return issues


def find_issues(document: Any, profile: Profile = "flux2") -> list[ValidationIssue]:
    """Every schema problem in ``document``, the most relevant first. Empty when it is valid.

    >>> for issue in find_issues({"scene": "x", "color_palette": ["red"]}, "cloudflare"):
    ...     print(issue)
    $: missing required key 'subjects' (profile 'cloudflare')
    $.color_palette: has 1 item; profile 'cloudflare' needs exactly 3
    """
    validator = _reporting_validator(profile)
    errors = sorted(validator.iter_errors(document), key=relevance)
    issues: list[ValidationIssue] = []
    for error in errors:
        base = list(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            issues.extend(_unknown_key_issues(error, base))
            continue
        issues.append(
            ValidationIssue(
                path=json_path(base),
                message=_message(error, profile),
                schema_path="/".join(str(p) for p in error.absolute_schema_path),
            )
        )
    # The same place can fail twice (for example under both profiles' rules); keep the first.
    seen: set[tuple[str, str]] = set()
    unique = []
    for issue in issues:
        if (issue.path, issue.message) not in seen:
            seen.add((issue.path, issue.message))
            unique.append(issue)
    return unique
