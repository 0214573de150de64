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

import difflib
import math
import re
import string
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from flux2prompt._document import MAX_DOCUMENT_BYTES, MAX_STRING_CHARS
from flux2prompt._errors import PromptError
from flux2prompt._schema import float_overflows, json_path

__all__ = ["misspelling_hint", "placeholders", "substitute", "substitute_under"]


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
            for match in _PATTERN.finditer(text):
                name = match.group("named") or match.group("braced")
                # "$città" is no placeholder "$citt" followed by "à": substitute() refuses it.
                if name is not None and not _runs_on(text, match):
                    found.add(name)
    return found


# string.Template's own pattern: every rule here is its rule.
_PATTERN = string.Template.pattern


def _runs_on(text: str, match: re.Match[str]) -> bool:
    """Whether a ``$name`` is cut short: the name goes on in letters that are not ASCII
    (``$città``), which ``string.Template`` would read as ``$citt`` followed by ``à``."""
    if match.group("named") is None or match.end() >= len(text):
        return False
    following = text[match.end()]
    return not following.isascii() and f"a{following}".isidentifier()


def _invalid_reason(text: str, at: int) -> str:
    """Why the ``$`` at ``text[at]`` starts no placeholder, and how to write what was meant."""
    rest = text[at + 1 :]
    if rest.startswith("{"):
        end = rest.find("}")
        if end < 0:
            return "'${' is never closed; write ${name} for a variable and $$ for a literal $"
        inside = rest[1:end]
        if inside.strip() != inside and inside.strip().isidentifier():
            return f"write ${{{inside.strip()}}}, without spaces inside the braces"
        if inside.isidentifier():  # an identifier, not an ASCII one
            return _not_ascii(inside)
        return (
            f"{inside!r} is not a variable name: a name is ASCII letters, digits and _, not "
            "starting with a digit; write $$ for a literal $"
        )
    word = re.match(r"\w+", rest)
    if word is not None and word.group().isidentifier():
        return _not_ascii(word.group())
    return "write ${name} for a variable and $$ for a literal $"


def _not_ascii(name: str) -> str:
    return (
        f"{name!r} is not a variable name: a name is ASCII letters, digits and _ (such as "
        f"${{{_ascii_hint(name)}}}); write $$ for a literal $"
    )


def _ascii_hint(name: str) -> str:
    import unicodedata

    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    folded = re.sub(r"\W", "_", folded)
    return folded if folded.isidentifier() else "name"


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
        if name is not None and _runs_on(text, match):
            name = None  # "$città": refused below, not read as "$citt"
        if name is not None:
            if name not in variables:
                needed = ", ".join(sorted(placeholders(document)))
                raise PromptError(
                    f"missing variable {name!r} at {where} (the template needs: {needed})"
                    + misspelling_hint([name], variables)
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
        column = match.start() + 1
        raise PromptError(
            f"invalid placeholder at {where} (character {column} of {_shown(text)}): "
            + _invalid_reason(text, match.start())
        )

    return _PATTERN.sub(replace, text)


def misspelling_hint(missing: Iterable[str], given: Iterable[object]) -> str:
    """``; 'colour' was given (a misspelling of 'color'?)`` when a variable ``given`` is spelt like
    one that is ``missing`` (the same in another case, or close), else ``""``. (Internal: every
    message about a missing variable says it.)

    >>> misspelling_hint(["color"], ["colour", "sku"])
    "; 'colour' was given (a misspelling of 'color'?)"
    """
    offered = [key for key in given if isinstance(key, str)]
    for name in missing:
        close = [key for key in offered if key.casefold() == name.casefold()]
        close = close or difflib.get_close_matches(name, offered, n=1)
        if close:
            return f"; {close[0]!r} was given (a misspelling of {name!r}?)"
    return ""


def _shown(text: str) -> str:
    """The text of an error, cut to its first 200 characters (a string may hold 128 Ki)."""
    return repr(text) if len(text) <= 200 else f"{text[:200]!r}... ({len(text):,} characters)"


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
