"""Unicode hygiene and language tags for text that travels in a prompt.

Everything a user writes is NFC-normalised (a decomposed ``e`` + U+0301 becomes ``é``) and checked
for characters that would corrupt or disguise the prompt: C0/C1 control characters (newline is
allowed), the bidi override and isolate controls U+202A-U+202E and U+2066-U+2069, and lone
surrogates (text that was not valid Unicode to begin with). Zero-width characters are allowed but
reported by the linter.

Example:
    >>> clean_text("Cafe\\u0301", where="scene")
    'Café'
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any, cast

from flux2prompt._errors import PromptError

__all__ = [
    "FORBIDDEN_CHARS",
    "ZERO_WIDTH_CHARS",
    "check_language_tag",
    "clean_text",
    "dominant_script",
    "expected_script",
    "forbidden_char_problem",
    "language_name",
    "lazy_pattern",
    "printable",
    "quoted",
    "surrogate_problem",
]


class _LazyPattern:
    """A regular expression compiled the first time one of its methods is used: a character
    class over the surrogate block costs more to compile than a command's whole run of checks
    on ASCII text, which never needs it. The method is then kept, so later calls cost nothing
    more than the compiled pattern's own."""

    def __init__(self, source: str) -> None:
        self._source = source

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # not a pattern's (copy and pickle look for these first)
            raise AttributeError(name)
        value = getattr(re.compile(self._source), name)
        setattr(self, name, value)
        return value

    def __reduce__(self) -> tuple[Any, ...]:
        return (_LazyPattern, (self._source,))

    def __repr__(self) -> str:
        return f"lazy_pattern({self._source!r})"


def lazy_pattern(source: str) -> re.Pattern[str]:
    """``re.compile(source)``, compiled on first use (see :class:`_LazyPattern`).

    >>> digits = lazy_pattern("[0-9]+")
    >>> digits.fullmatch("2026") is not None, digits.pattern
    (True, '[0-9]+')
    """
    return cast("re.Pattern[str]", _LazyPattern(source))


# Kept in step with the `text` pattern of schemas/flux2-prompt.schema.json. Lone surrogates are
# the one addition the schema cannot state (a JSON Schema instance is already valid Unicode): they
# come from JSON escapes such as "\\ud800" and cannot be encoded as UTF-8 on the wire.
FORBIDDEN_CHARS = lazy_pattern(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_SURROGATES = lazy_pattern("[\ud800-\udfff]")
ZERO_WIDTH_CHARS = lazy_pattern("[\u200b\u200c\u200d\u2060\ufeff]")

_BIDI = {
    0x202A: "LEFT-TO-RIGHT EMBEDDING",
    0x202B: "RIGHT-TO-LEFT EMBEDDING",
    0x202C: "POP DIRECTIONAL FORMATTING",
    0x202D: "LEFT-TO-RIGHT OVERRIDE",
    0x202E: "RIGHT-TO-LEFT OVERRIDE",
    0x2066: "LEFT-TO-RIGHT ISOLATE",
    0x2067: "RIGHT-TO-LEFT ISOLATE",
    0x2068: "FIRST STRONG ISOLATE",
    0x2069: "POP DIRECTIONAL ISOLATE",
}


# What a terminal would act on or show disguised, in text from outside (a server's message, a
# file name, a file's metadata): C0 and C1 controls but tab and newline (ESC starts the
# sequences that clear a screen or fake a line), the bidi controls and marks, the line and
# paragraph separators, and lone surrogates (a file name that was not UTF-8).
_UNPRINTABLE = lazy_pattern(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]"
)


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, as os.fsdecode keeps it
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    r"""``text`` safe to print on a terminal: every control character (but tab and newline), bidi
    control and lone surrogate written as a backslash escape, so that nothing from outside can
    move the cursor, clear the screen, fake a line or reorder what is shown. A byte of a file
    name that was not UTF-8 shows as ``\xff``. The command line passes everything it prints
    through it.

    >>> printable("fine: caf\u00e9, \u6771\u4eac") == "fine: café, 東京"
    True
    >>> print(printable("\x1b[2Jok \u202eevil bad\udcff.json"))
    \x1b[2Jok \u202eevil bad\xff.json
    """
    if text.isascii() and text.isprintable():
        return text  # nothing to escape: printable ASCII holds no control
    return _UNPRINTABLE.sub(_escaped, text)


#: The longest a value is quoted in a message: the line stays a line, whatever was given.
QUOTED_CHARS = 200


def quoted(value: object) -> str:
    """``repr(value)`` as an error message quotes what a caller gave: an integer too long for
    ``repr()`` (past 4,300 digits it raises ValueError) by its size, anything else cut at
    :data:`QUOTED_CHARS` characters.

    >>> quoted("#12345G"), quoted(10**5000)
    ("'#12345G'", 'an integer of about 5001 digits')
    >>> quoted("x" * 1000)[-7:], len(quoted("x" * 1000))
    ("xxx...'", 200)
    """
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 640:
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    try:
        text = repr(value)
    except ValueError:  # a container holding such an integer
        return f"a {type(value).__name__} holding an integer too long to show"
    if len(text) <= QUOTED_CHARS:
        return text
    end = text[-1] if text[-1:] in ("'", '"', ")", "]", "}") else ""
    return text[: QUOTED_CHARS - 3 - len(end)] + "..." + end


def forbidden_char_problem(value: str) -> str | None:
    """Describe the first forbidden character in ``value``, or return ``None`` if there is none.

    >>> forbidden_char_problem("ok")
    >>> forbidden_char_problem("a\\u202eb")
    'contains U+202E RIGHT-TO-LEFT OVERRIDE at index 1; bidi controls can disguise text, remove it'
    """
    match = FORBIDDEN_CHARS.search(value)
    return None if match is None else _char_problem(ord(match.group()), match.start())


def surrogate_problem(value: str) -> str | None:
    """Describe the first lone surrogate in ``value`` (it cannot be encoded as UTF-8), if any.

    >>> surrogate_problem("ok\\ud800")
    'contains lone surrogate U+D800 at index 2; not valid Unicode, check how the text was decoded'
    """
    match = _SURROGATES.search(value)
    return None if match is None else _char_problem(ord(match.group()), match.start())


def _char_problem(code: int, index: int) -> str:
    if 0xD800 <= code <= 0xDFFF:
        return (
            f"contains lone surrogate U+{code:04X} at index {index}; "
            "not valid Unicode, check how the text was decoded"
        )
    if code in _BIDI:
        return (
            f"contains U+{code:04X} {_BIDI[code]} at index {index}; "
            "bidi controls can disguise text, remove it"
        )
    return (
        f"contains control character U+{code:04X} at index {index}; "
        "only newline is allowed, remove it or use a space"
    )


def clean_text(value: str, *, where: str) -> str:
    """Return ``value`` NFC-normalised, or raise :class:`PromptError` naming ``where``.

    The result is always a plain ``str`` (a ``StrEnum`` member becomes its value).

    >>> clean_text("ok", where="scene")
    'ok'
    >>> clean_text("Rau\\u0301l", where="subject(description)")
    'Raúl'
    """
    if type(value) is str and value and value.isascii() and value.isprintable():
        return value  # the common case: nothing to reject, and ASCII is always NFC
    if not isinstance(value, str):
        raise PromptError(f"{where}: expected text, got {type(value).__name__} {quoted(value)}")
    if not value:
        raise PromptError(f"{where}: must not be empty; leave the part out instead")
    problem = forbidden_char_problem(value)
    if problem is not None:
        raise PromptError(f"{where}: {problem}")
    if type(value) is not str:
        value = str.__str__(value)
    return unicodedata.normalize("NFC", value)


# The schema's `language` pattern; langcodes then checks that the subtags are registered.
_TAG_SYNTAX = re.compile(r"[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*")


@lru_cache(maxsize=512)
def check_language_tag(tag: str) -> str | None:
    """Return why ``tag`` is not a valid BCP 47 language tag, or ``None`` if it is.

    >>> check_language_tag("zh-Hant")
    >>> check_language_tag("english")
    "'english' is not a valid BCP 47 language tag; did you mean 'en'?"
    >>> check_language_tag("pt_BR")
    "'pt_BR' is not a valid BCP 47 language tag; did you mean 'pt-BR'?"
    """
    import langcodes

    if _TAG_SYNTAX.fullmatch(tag) and _registered(tag):
        return None
    guess: str | None = None
    dashed = tag.replace("_", "-")
    if dashed != tag and _TAG_SYNTAX.fullmatch(dashed) and _registered(dashed):
        guess = dashed
    elif 3 < len(tag) <= 64:  # (a long text: langcodes' search takes seconds, and no name is)
        # A language *name* ("english", "Japanese"): langcodes knows names in many languages.
        try:
            guess = langcodes.find(tag).to_tag()
        except (LookupError, ValueError):
            guess = None
    hint = f"did you mean {guess!r}?" if guess else "use a code such as 'en', 'ja', 'zh-Hant'"
    return f"{quoted(tag)} is not a valid BCP 47 language tag; {hint}"


def _registered(tag: str) -> bool:
    import langcodes

    try:
        return bool(langcodes.tag_is_valid(tag))
    except (LookupError, ValueError):
        return False


# Script names as ISO 15924 codes, keyed by the first word of unicodedata's character names.
_SCRIPT_BY_NAME_PREFIX = {
    "LATIN": "Latn",
    "CJK": "Hani",
    "HIRAGANA": "Jpan",
    "KATAKANA": "Jpan",
    "HANGUL": "Hang",
    "ARABIC": "Arab",
    "HEBREW": "Hebr",
    "DEVANAGARI": "Deva",
    "THAI": "Thai",
    "CYRILLIC": "Cyrl",
    "GREEK": "Grek",
    "BENGALI": "Beng",
    "TAMIL": "Taml",
    "GEORGIAN": "Geor",
    "ARMENIAN": "Armn",
}


def _char_script(char: str) -> str | None:
    words = unicodedata.name(char, "").split(" ", 2)
    if words[0] in ("HALFWIDTH", "FULLWIDTH") and len(words) > 1:
        words = words[1:]
    if words[0] == "KATAKANA-HIRAGANA":  # the prolonged sound mark
        return "Jpan"
    return _SCRIPT_BY_NAME_PREFIX.get(words[0])


def dominant_script(content: str) -> str | None:
    """The ISO 15924 code of the script most letters of ``content`` are written in.

    Kana anywhere makes Japanese (``Jpan``) win over Han, since Japanese mixes both.

    >>> dominant_script("東京へようこそ")
    'Jpan'
    >>> dominant_script("مرحبا")
    'Arab'
    >>> dominant_script("123 !")
    """
    counts: dict[str, int] = {}
    for char in content:
        if not char.isalpha():
            continue
        script = _char_script(char)
        if script is not None:
            counts[script] = counts.get(script, 0) + 1
    if not counts:
        return None
    if "Jpan" in counts and "Hani" in counts:
        counts["Jpan"] += counts.pop("Hani")
    return max(counts.items(), key=lambda item: item[1])[0]


_EXPECTED_OVERRIDES = {"ja": "Jpan", "ko": "Hang", "zh": "Hani"}
# Script codes that dominant_script() reports under another name: it cannot tell simplified from
# traditional Han, and it counts kana as Japanese and Hangul (with or without Hanja) as Korean.
_SCRIPT_ALIASES = {
    "Hans": "Hani",
    "Hant": "Hani",
    "Kore": "Hang",
    "Hira": "Jpan",
    "Kana": "Jpan",
    "Hrkt": "Jpan",
}


@lru_cache(maxsize=512)
def expected_script(tag: str) -> str | None:
    """The script a language tag implies (``ja`` -> ``Jpan``, ``zh-Hant`` -> ``Hani``).

    Traditional and simplified Chinese both map to ``Hani``: characters alone cannot tell them
    apart reliably.

    >>> expected_script("hi")
    'Deva'
    >>> expected_script("sr-Latn")
    'Latn'
    >>> expected_script("zh-TW"), expected_script("ko"), expected_script("ja-JP")
    ('Hani', 'Hang', 'Jpan')
    """
    import langcodes

    try:
        language = langcodes.Language.get(tag)
        if language.script:
            script = str(language.script)
        elif str(language.language or "") in _EXPECTED_OVERRIDES:
            return _EXPECTED_OVERRIDES[str(language.language)]
        else:
            script = str(language.maximize().script or "")
    except (LookupError, ValueError):
        return None
    return _SCRIPT_ALIASES.get(script, script) or None


# Codes that name no language: undetermined, uncoded, no linguistic content.
_NO_LANGUAGE = frozenset(("und", "mis", "zxx"))


@lru_cache(maxsize=256)
def language_name(tag: str) -> str:
    """The language's English name, or "" for a code that names none (``und``, ``zxx``, a
    private-use ``qaa``-``qtz``): prose and a FLUX 3 caption would otherwise say "in Unknown
    language". A tag langcodes cannot read is returned as it is.

    >>> language_name("pt-BR"), language_name("und"), language_name("qaa")
    ('Portuguese (Brazil)', '', '')
    """
    import langcodes

    try:
        language = langcodes.Language.get(tag)
    except (LookupError, ValueError):
        return tag
    code = str(language.language or "und").lower()  # langcodes reads "und" as no language
    if code in _NO_LANGUAGE or (len(code) == 3 and "qaa" <= code <= "qtz"):
        return ""
    return str(language.display_name())
