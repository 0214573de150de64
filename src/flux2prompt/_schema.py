"""Schemas and validation: cached compiled validators, profiles, errors with JSON paths.

Validation runs on a compiled validator (jsonschema-rs) on the hot path; only when a document is
invalid does python-jsonschema walk it again to report every issue with its JSON path, the most
relevant first (shallowest first, as ``best_match`` ranks them, then in document order), in words
a user can act on.

Example:
    >>> issues = find_issues({"scene": "x", "lightning": "soft"}, "flux2")
    >>> print(issues[0])
    $.lightning: unknown key 'lightning'; did you mean 'lighting'?
"""

from __future__ import annotations

import copy
import difflib
import itertools
import json
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import jsonschema_rs

from flux2prompt._errors import MORE_ISSUES, PromptError, PromptValidationError, ValidationIssue
from flux2prompt._text import (
    check_language_tag,
    forbidden_char_problem,
    quoted,
    surrogate_problem,
)

if TYPE_CHECKING:
    import jsonschema
    from jsonschema.exceptions import ValidationError

# python-jsonschema (with referencing) is imported only when a document is invalid or a file's
# metadata is checked: a valid prompt never needs it, and importing it costs ~70 ms.

__all__ = [
    "PROFILES",
    "SCHEMA_VERSION",
    "TOO_LARGE_NUMBER",
    "Profile",
    "check_document",
    "describe_value",
    "fast_validator",
    "find_issues",
    "float_overflows",
    "issue_for",
    "issues_from_errors",
    "json_data",
    "json_path",
    "packaged_schema",
    "packaged_validator",
    "schema",
    "unknown_key_issues",
]

#: A schema profile: ``"flux2"`` (what FLUX.2 reads) or ``"cloudflare"`` (Workers AI's stricter
#: published rules: enum positions, at most ten subjects, ...).
Profile: TypeAlias = Literal["flux2", "cloudflare"]

#: Every profile, the default first.
PROFILES: tuple[Profile, ...] = ("flux2", "cloudflare")
SCHEMA_FILES: dict[str, str] = {
    "flux2": "flux2-prompt.schema.json",
    "cloudflare": "cloudflare-flux2.schema.json",
}
SCHEMA_VERSION = 1

# Deeper than any prompt needs; keeps a hostile document from exhausting the Python stack.
MAX_DEPTH = 64


# The packaged schemas sit beside this module (importlib.resources is slower to import than the
# read it saves, and every command reads a schema).
_SCHEMAS = Path(__file__).with_name("schemas")


@cache
def packaged_schema(name: str) -> dict[str, Any]:
    """The packaged JSON Schema ``schemas/NAME``, read once; copy it before handing it out.

    >>> packaged_schema("batch-job.schema.json")["title"]
    'flux2prompt batch job'
    """
    path = _SCHEMAS / name
    if path.is_file():
        text = path.read_text(encoding="utf-8")
    else:  # an install that is not a folder (a zip): let importlib find the file
        from importlib import resources

        text = resources.files("flux2prompt").joinpath("schemas", name).read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def packaged_validator(name: str) -> jsonschema.Draft202012Validator:
    """A (python-jsonschema) validator of the self-contained packaged schema ``schemas/NAME``.

    >>> packaged_validator("prompt-file.schema.json").is_valid({"name": "hero", "prompt": {}})
    True
    """
    import jsonschema

    return jsonschema.Draft202012Validator(packaged_schema(name))


def _raw_schema(profile: str) -> dict[str, Any]:
    if not isinstance(profile, str) or profile not in SCHEMA_FILES:  # a list is unhashable
        raise PromptError(
            f"unknown profile {quoted(profile)}; choose one of "
            f"{', '.join(repr(p) for p in PROFILES)}"
        )
    return packaged_schema(SCHEMA_FILES[profile])


def schema(profile: Profile = "flux2") -> dict[str, Any]:
    """A copy of the JSON Schema (Draft 2020-12) of a profile, self-contained: a profile's
    schema that it refers to (``cloudflare`` builds on ``flux2`` with ``allOf``) is embedded
    under ``$defs`` with its ``$id``, so any 2020-12 validator or editor can use it alone.

    >>> schema("cloudflare")["title"]
    'FLUX.2 JSON prompt (profile cloudflare)'
    >>> schema("cloudflare")["$defs"]["flux2"]["$id"]
    'urn:flux2prompt:schema:flux2-prompt:1'
    """
    document = copy.deepcopy(_raw_schema(profile))
    referred = set(_references(document))
    embedded = {
        other: copy.deepcopy(_raw_schema(other))
        for other in PROFILES
        if other != profile and _raw_schema(other)["$id"] in referred
    }
    if embedded:
        document.setdefault("$defs", {}).update(embedded)
    return document


def _references(node: Any) -> Iterator[str]:
    """Every ``$ref`` in a schema, without its fragment."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value.split("#", 1)[0]
            else:
                yield from _references(value)
    elif isinstance(node, list):
        for value in node:
            yield from _references(value)


def _resources() -> list[tuple[str, dict[str, Any]]]:
    return [(_raw_schema(p)["$id"], _raw_schema(p)) for p in PROFILES]


@cache
def fast_validator(profile: str) -> Any:
    """The compiled (jsonschema-rs) validator of a profile, built once.

    >>> fast_validator("flux2").is_valid({"scene": "a lighthouse"})
    True
    """
    registry = jsonschema_rs.Registry(_resources())
    return jsonschema_rs.validator_for(_raw_schema(profile), registry=registry)


_fast_validator = fast_validator  # the name the tests import


@cache
def _python_regex(pattern: str) -> re.Pattern[str]:
    # JSON Schema patterns follow ECMA-262, where "$" matches only at the very end of the text
    # (jsonschema-rs agrees). Python's "$" also matches before a final newline, so "#ABC\n" would
    # pass as hex. Our patterns use "$" only as their final anchor, so that one is made "\Z".
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


def _ecma_pattern(
    validator: Any, pattern: str, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    from jsonschema.exceptions import ValidationError

    if validator.is_type(instance, "string") and not _python_regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


@cache
def _reporting_validator(profile: str) -> Any:
    import jsonschema
    from jsonschema.validators import extend
    from referencing import Registry, Resource

    reporting: Any = extend(  # type: ignore[no-untyped-call]  # untyped in the stubs
        jsonschema.Draft202012Validator, {"pattern": _ecma_pattern}
    )
    registry: Registry[Any] = Registry().with_resources(
        (uri, Resource.from_contents(contents)) for uri, contents in _resources()
    )
    return reporting(_raw_schema(profile), registry=registry)


#: What to say of an integer that :func:`float_overflows`.
#: The most schema problems one document reports (then one line saying there are more).
MAX_ISSUES = 1000

TOO_LARGE_NUMBER = (
    "the number is too large for a JSON number (a 64-bit float, below about 1.8e308); write a "
    "smaller number"
)


def float_overflows(value: int) -> bool:
    """Whether ``value`` is an integer no 64-bit float holds (about 1.8e308 and more): JSON
    carries it, but whatever reads numbers as floats (load, prose, lint) cannot.

    >>> float_overflows(10**308), float_overflows(10**309)
    (False, True)
    """
    try:
        float(value)
    except OverflowError:
        return True
    return False


def check_document(document: Any, profile: Profile = "flux2") -> None:
    """Raise :class:`PromptValidationError` unless ``document`` satisfies the profile's schema.

    >>> check_document({"scene": "a lighthouse"})
    >>> check_document({"scene": 1})
    Traceback (most recent call last):
    ...
    flux2prompt.PromptValidationError: prompt is invalid under profile 'flux2' (1 problem):
    $.scene: expected a string, got integer 1
    """
    try:
        valid = _fast_validator(profile).is_valid(document)
    except (ValueError, TypeError, OverflowError, RecursionError):
        # Not plain JSON data: a str subclass (numpy.str_), a set, a lone surrogate, an int key.
        # Convert what converts and validate that; json_data names what does not.
        _raw_schema(profile)  # or no profile at all (a list, say): the PromptError that says so
        data, not_json = json_data(document)
        if not_json:
            raise PromptValidationError(not_json, profile) from None
        try:
            valid = _fast_validator(profile).is_valid(data)
        except (ValueError, TypeError, OverflowError, RecursionError):
            valid = False
    if not valid:
        issues = find_issues(document, profile)
        if not issues:
            # The compiled validator refuses some values its types do not name exactly (an int
            # or float subclass) without raising; as plain JSON data, the document may be fine.
            data, not_json = json_data(document)
            if not not_json and _fast_validator(profile).is_valid(data):
                return
            issues = [ValidationIssue("$", "the document is not plain JSON data")]
        raise PromptValidationError(issues, profile)


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _printable(text: str) -> str:
    """``text`` with invisible characters (controls, bidi, surrogates) spelled as ``\\uXXXX``."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)


def json_path(parts: Iterable[str | int]) -> str:
    """A JSONPath for a location: ``$.subjects[0].position``, ``$.camera['f-number']``.

    >>> json_path(["camera", "f-number"])
    "$.camera['f-number']"
    >>> json_path(["subjects", 0, "position"])
    '$.subjects[0].position'
    """
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.fullmatch(part):
            out += f".{part}"
        else:
            escaped = part.replace("\\", "\\\\").replace("'", "\\'")
            out += f"['{_printable(escaped)}']"
    return out


def json_data(
    value: Any, base: Iterable[str | int] = (), *, clean: bool = False
) -> tuple[Any, list[ValidationIssue]]:
    """Check that ``value`` is plain JSON data and return it with tuples as lists.

    JSON data is dicts with string keys, lists (tuples are accepted), strings, finite numbers,
    booleans and ``None``, nested at most ``MAX_DEPTH`` deep. With ``clean=True`` every string
    and key is also held to the text hygiene rules and NFC-normalised, as custom extras are.
    Problems come back as issues with their JSON paths, so callers choose how to raise.

    >>> json_data({"seed": (1, 2.5), "ok": True})
    ({'seed': [1, 2.5], 'ok': True}, [])
    >>> _, issues = json_data({"a": [float("nan"), {1}]})
    >>> [str(issue) for issue in issues]
    ['$.a[0]: NaN is not a JSON number', '$.a[1]: a set is not JSON data; use a list']
    """
    issues: list[ValidationIssue] = []
    data = _json_data(value, list(base), issues, clean)
    return data, issues


def _json_data(
    value: Any, path: list[str | int], issues: list[ValidationIssue], clean: bool
) -> Any:
    # bool before int (a bool is an int); exact types first since they are by far the most common.
    kind = type(value)
    if value is None or kind is bool:
        return value
    if kind is int:
        if value.bit_length() > 1000 and float_overflows(value):
            # JSON text carries it, but load() refuses it: one rule, so what compiles loads.
            issues.append(ValidationIssue(json_path(path), TOO_LARGE_NUMBER))
            return None
        return value
    if kind is str or isinstance(value, str):
        return _json_text(value, path, issues, clean)
    if isinstance(value, float):
        if math.isfinite(value):
            return float(value)
        word = "NaN" if math.isnan(value) else "Infinity"
        issues.append(ValidationIssue(json_path(path), f"{word} is not a JSON number"))
        return None
    if isinstance(value, int):
        return _json_data(int(value), path, issues, clean)  # an int subclass (an IntEnum)
    if len(path) >= MAX_DEPTH:
        issues.append(ValidationIssue(json_path(path), f"nested deeper than {MAX_DEPTH} levels"))
        return None
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                issues.append(
                    ValidationIssue(
                        json_path(path),
                        f"key {quoted(key)} is not text; JSON object keys are strings",
                    )
                )
                continue
            key = _json_text(key, [*path, key], issues, clean)
            if clean and key in out:  # "cafe" + U+0301 beside "café": one key, once normalised
                issues.append(
                    ValidationIssue(
                        json_path([*path, key]),
                        "two keys here are the same key once normalised to NFC; keep one of them",
                    )
                )
                continue
            out[key] = _json_data(item, [*path, key], issues, clean)
        return out
    if isinstance(value, list | tuple):
        return [_json_data(item, [*path, i], issues, clean) for i, item in enumerate(value)]
    noun = type(value).__name__
    hint = "; use a list" if isinstance(value, set | frozenset) else ""
    issues.append(ValidationIssue(json_path(path), f"a {noun} is not JSON data{hint}"))
    return None


def _json_text(
    value: str, path: list[str | int], issues: list[ValidationIssue], clean: bool
) -> str:
    # Unless cleaning, only what cannot travel as UTF-8 at all is reported here; the schema's text
    # pattern reports control characters with the rule they break.
    problem = forbidden_char_problem(value) if clean else surrogate_problem(value)
    if problem is not None:
        issues.append(ValidationIssue(json_path(path), problem))
        return value
    value = str.__str__(value)
    return unicodedata.normalize("NFC", value) if clean else value


_JSON_TYPES = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    type(None): "null",
}


def describe_value(value: Any) -> str:
    """A value as messages show it: its JSON type and its JSON text, cut at 60 characters.

    >>> describe_value(1), describe_value("wide"), describe_value([1, 2]), describe_value(None)
    ('integer 1', 'string "wide"', 'array [1, 2]', 'null')
    """
    if value is None:
        return "null"  # its type and its text are the one word
    kind = _JSON_TYPES.get(type(value), type(value).__name__)
    return f"{kind} {_shown(value)}"


def _shown(value: Any) -> str:
    shown = _printable(json.dumps(value, ensure_ascii=False, default=repr))
    return shown[:57] + "..." if len(shown) > 60 else shown


_ALPHA = re.compile(r"#(?:[0-9A-Fa-f]{4}|[0-9A-Fa-f]{8})")


def _under(profile: str | None) -> str:
    return f" under profile {profile!r}" if profile is not None else ""


def _message(error: ValidationError, profile: str | None) -> str:
    keyword = error.validator
    value: Any = error.instance
    rule: Any = error.validator_value
    if keyword == "type":
        expected = rule if isinstance(rule, str) else " or ".join(rule)
        article = "an" if expected[0] in "aeiou" else "a"
        return f"expected {article} {expected}, got {describe_value(value)}"
    if keyword == "pattern" and isinstance(value, str):
        if "A-Fa-f" in str(rule):
            alpha = " (alpha is not supported)" if _ALPHA.fullmatch(value) else ""
            return (
                f"{quoted(value)} is not a hex colour; write #RGB or #RRGGBB with digits 0-9 "
                "and A-F" + alpha
            )
        problem = forbidden_char_problem(value)
        if problem is not None:
            return problem
        if "-[A-Za-z0-9]" in str(rule):
            # The builder's suggestion ('en_US' -> 'en-US', 'english' -> 'en') for loads too.
            why = check_language_tag(value)
            hint = "use a code such as 'en', 'ja', 'zh-Hant'"
            if why is not None and "; did you mean " in why:
                hint = why.split("; ", 1)[1]
            return f"{quoted(value)} is not a BCP 47 language tag; {hint}"
    if keyword == "enum":
        choices = ", ".join(repr(c) for c in rule)
        return f"{describe_value(value)} is not allowed{_under(profile)}; use one of {choices}"
    if keyword == "minItems" and value == [] and rule == 1 and profile is not None:
        return "is empty; leave the key out instead"
    if keyword in ("minItems", "maxItems") and isinstance(value, list):
        limit = "at least" if keyword == "minItems" else "at most"
        sibling = error.schema if isinstance(error.schema, Mapping) else {}
        if sibling.get("minItems") == sibling.get("maxItems"):
            limit = "exactly"
        who = f"profile {profile!r} needs" if profile is not None else "needs"
        return f"has {len(value)} item{'s' if len(value) != 1 else ''}; {who} {limit} {rule}"
    if keyword == "required":
        missing = [key for key in rule if isinstance(value, dict) and key not in value]
        names = ", ".join(repr(k) for k in missing)
        where = f" (profile {profile!r})" if profile is not None else ""
        return f"missing required key{'s' if len(missing) > 1 else ''} {names}{where}"
    if keyword == "minProperties":
        if not error.absolute_path and profile is not None:
            return "the prompt is empty; add at least a scene"
        return "is empty; give it at least one key, or leave it out"
    if keyword == "minLength":
        return "must not be empty" + ("; leave the key out instead" if profile is not None else "")
    if keyword == "minimum":
        return f"must be at least {rule}, got {_shown(value)}"
    if keyword == "maximum":
        return f"must be at most {rule}, got {_shown(value)}"
    if keyword == "exclusiveMinimum":
        return f"must be greater than {rule}, got {describe_value(value)}"
    if keyword == "uniqueItems":
        return "has duplicate items"
    return str(error.message)


def _schema_path(error: ValidationError) -> str:
    return "/".join(str(p) for p in error.absolute_schema_path)


def issue_for(
    error: ValidationError,
    *,
    profile: str | None = None,
    special: Callable[[ValidationError], str | None] | None = None,
) -> ValidationIssue:
    """One python-jsonschema error in words a user can act on, with its JSON path.

    ``profile`` is given for a prompt document, whose messages then name the profile and
    prompt-specific fixes; ``special`` may word a document's own rules (it returns ``None`` to
    leave an error to the common wording). Unknown keys are :func:`unknown_key_issues`'s.

    >>> from flux2prompt._schema import packaged_validator
    >>> error = next(packaged_validator("prompt-file.schema.json").iter_errors({"name": "x"}))
    >>> print(issue_for(error))
    $: missing required key 'prompt'
    """
    message = special(error) if special is not None else None
    return ValidationIssue(
        path=json_path(error.absolute_path),
        message=message if message is not None else _message(error, profile),
        schema_path=_schema_path(error),
    )


def unknown_key_issues(
    error: ValidationError, *, profile: str | None = None
) -> list[ValidationIssue]:
    """The issues of an ``additionalProperties`` error: one per unknown key, with a did-you-mean
    (or, when nothing is close, the known keys).

    With ``profile`` (a prompt document), an unknown top-level key also says how to keep a
    custom key.
    """
    schema_node: Any = error.schema
    allowed = [
        key
        for key in (schema_node.get("properties", {}) if isinstance(schema_node, Mapping) else ())
        if key != "$schema"
    ]
    base = list(error.absolute_path)
    instance = error.instance if isinstance(error.instance, Mapping) else {}
    issues = []
    for key in instance:
        if key in allowed:
            continue
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        if close:
            hint = f"; did you mean {close[0]!r}?"
        else:
            hint = f"; known keys: {', '.join(allowed)}"
            if not base and profile is not None:
                hint += " (to keep a custom key, use .extra() or load(..., extra_keys=...))"
        if "${" in key:  # a template's placeholder written where only values are filled in
            hint += "; ${name} placeholders are filled in values only, never in keys"
        issues.append(
            ValidationIssue(
                path=json_path([*base, key]),
                message=f"unknown key {quoted(key)}{hint}",
                schema_path=_schema_path(error),
            )
        )
    return issues


def _document_order(document: Any, path: Iterable[str | int]) -> tuple[int, ...]:
    """Where ``path`` is in ``document``, as positions, so issues can be listed in reading order."""
    order = []
    node = document
    for part in path:
        if isinstance(node, dict) and isinstance(part, str):
            order.append(list(node).index(part) if part in node else len(node))
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int):
            order.append(part)
            node = node[part] if 0 <= part < len(node) else None
        else:
            order.append(0)
    return tuple(order)


def issues_from_errors(
    errors: Iterable[ValidationError],
    document: Any,
    *,
    profile: str | None = None,
    special: Callable[[ValidationError], str | None] | None = None,
) -> list[ValidationIssue]:
    """The python-jsonschema ``errors`` found in ``document`` as issues, the most relevant first.

    The one translator of schema errors, used for prompts, prompt files and job files alike:
    shallowest first (as ``best_match`` ranks them), then in reading order; unknown keys by
    :func:`unknown_key_issues`, everything else by :func:`issue_for` (see there for
    ``profile`` and ``special``); the same message at the same place only once.

    >>> validator = packaged_validator("prompt-file.schema.json")
    >>> document = {"name": "x", "tgas": [], "prompt": {}}
    >>> for issue in issues_from_errors(validator.iter_errors(document), document):
    ...     print(issue)
    $.tgas: unknown key 'tgas'; did you mean 'tags'?
    """

    def rank(error: ValidationError) -> tuple[Any, ...]:
        # best_match's ranking (shallow first, weak keywords last), then reading order.
        return (
            len(error.absolute_path),
            _document_order(document, error.absolute_path),
            error.validator in ("anyOf", "oneOf"),
        )

    # Each error costs python-jsonschema a fraction of a millisecond: a document with a million
    # wrong items would take minutes and print megabytes. The first MAX_ISSUES are enough to act
    # on, and the last line says there are more.
    found = list(itertools.islice(errors, MAX_ISSUES + 1))
    more = len(found) > MAX_ISSUES
    issues: list[ValidationIssue] = []
    for error in sorted(found[:MAX_ISSUES], key=rank):
        if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
            issues.extend(unknown_key_issues(error, profile=profile))
        else:
            issues.append(issue_for(error, profile=profile, special=special))
    # The same place can fail twice (for example under both profiles' rules); keep the first.
    seen: set[tuple[str, str]] = set()
    unique = []
    for issue in issues:
        if (issue.path, issue.message) not in seen:
            seen.add((issue.path, issue.message))
            unique.append(issue)
    if more:
        unique.append(
            ValidationIssue(
                "$",
                f"{MORE_ISSUES}: only the first {MAX_ISSUES:,} are listed; fix these and "
                "check again",
            )
        )
    return unique


def find_issues(document: Any, profile: Profile = "flux2") -> list[ValidationIssue]:
    """Every schema problem in ``document``, the most relevant first. Empty when it is valid.

    >>> for issue in find_issues({"scene": "x", "color_palette": ["red"]}, "cloudflare"):
    ...     print(issue)
    $: missing required key 'subjects' (profile 'cloudflare')
    $.color_palette: has 1 item; profile 'cloudflare' needs exactly 3
    """
    data, not_json = json_data(document)
    if not_json:
        return not_json
    issues = issues_from_errors(
        _reporting_validator(profile).iter_errors(data), data, profile=profile
    )
    if not issues:
        # The two engines should agree; should the compiled one still object, use its words.
        issues = [
            ValidationIssue(
                path=json_path(error.instance_path),
                message=str(error.message),
                schema_path="/".join(str(p) for p in error.schema_path),
            )
            for error in _fast_validator(profile).iter_errors(data)
        ]
    return issues
