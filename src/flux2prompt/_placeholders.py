"""``${name}`` placeholders in prompt documents: which there are, and filling them in.

The rules are :class:`string.Template`'s: ``${name}`` or ``$name`` is a variable, ``$$`` a
literal ``$``; keys are never templates. Prompt files with placeholders and
:meth:`flux2prompt.Template.from_document` both use these two functions, so a template means the
same thing wherever it is written. Pure functions over JSON data: no I/O.

Example:
    >>> substitute({"scene": "a ${color} mug"}, {"color": "red"})
    {'scene': 'a red mug'}
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Iterator, Mapping
from typing import Any

from flux2prompt._document import MAX_DOCUMENT_BYTES, MAX_STRING_CHARS
from flux2prompt._errors import PromptError
from flux2prompt._schema import float_overflows, json_path

__all__ = ["placeholders", "substitute", "substitute_under"]


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
        if isinstance(value, int) and value.bit_length() > 1000 and float_overflows(value):
            # Python will not even write out an integer of more than 4,300 digits.
            raise PromptError(
                f"variable {name!r} (used at {where}) is an integer too large for a JSON number "
                "(about 1.8e308 and more); give a smaller number, or text"
            )
        return str(value)
    raise PromptError(
        f"variable {name!r} (used at {where}) must be text or a number, "
        f"got {type(value).__name__} {value!r}"
    )


def _substitute_text(
    text: str,
    variables: Mapping[str, object],
    parts: list[str | int],
    document: Any,
    budget: list[int],
) -> str:
    where = json_path(parts)
    room = [MAX_STRING_CHARS - len(text)]  # what values may add before the string is too long

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
            value = _variable_text(name, variables[name], where)
            grown = len(value) - len(match.group())
            room[0] -= grown
            budget[0] -= grown
            # Refused as it grows: a value repeated in many placeholders cannot fill memory.
            if room[0] < 0:
                raise PromptError(
                    f"the text at {where} would be longer than the {MAX_STRING_CHARS:,} "
                    f"characters a prompt's strings may have once {name!r} is filled in; "
                    "shorten the value or use fewer placeholders"
                )
            if budget[0] < 0:
                raise PromptError(
                    f"the document would grow by more than {MAX_DOCUMENT_BYTES:,} characters "
                    f"once its placeholders are filled in (at {where}, {name!r}); shorten the "
                    "values or use fewer placeholders"
                )
            return value
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
    flux2prompt.PromptError: missing variable 'pose' at $.subjects[0].pose (the \
template needs: pose)
    """

    return substitute_under(document, variables, [])


def substitute_under(document: Any, variables: Mapping[str, object], base: list[str | int]) -> Any:
    """:func:`substitute`, reporting paths under ``base`` (``["prompt"]`` inside a file)."""

    budget = [MAX_DOCUMENT_BYTES]  # how much every value filled in may add, in all

    def walk(node: Any, parts: list[str | int]) -> Any:
        if isinstance(node, str):
            if "$" not in node:
                return node
            return _substitute_text(node, variables, parts, document, budget)
        if isinstance(node, Mapping):
            return {key: walk(value, [*parts, key]) for key, value in node.items()}
        if isinstance(node, list | tuple):
            return [walk(value, [*parts, index]) for index, value in enumerate(node)]
        return node

    return walk(document, list(base))
