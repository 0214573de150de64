"""Lint: advice drawn from Black Forest Labs' FLUX.2 prompting guides. Warnings, never errors.

A prompt that validates can still be a weak prompt: negative phrasing (FLUX.2 has no negative
prompts), quality buzzwords, hex codes floating free of any object, too many palette colours,
long in-image text, unreadable text colours, text whose script does not match its language,
invisible characters, very long prompts, odd camera settings. :func:`lint` reports each as a
:class:`LintWarning` with a stable code, the JSON path of the field, a message and a fix.

Codes are grouped by what they look at: ``F2P1xx`` wording and hygiene of free text,
``F2P2xx`` colour, ``F2P3xx`` text rendered in the image, ``F2P4xx`` camera, ``F2P5xx`` layout,
``F2P6xx`` references (images the text cites by name)
boxes (a builder with ``.element(...)``, or a :class:`~flux2prompt.Flux3Prompt`). A code never
changes meaning; :data:`LINT_CODES` lists them all, and ``docs/lint.md`` explains each one.

    >>> LINT_CODES["F2P402"]
    'camera ISO outside 100-6400'

Example:
    >>> from flux2prompt import scene
    >>> warnings = lint(scene("a market square, no people, 8k").compile())
    >>> [(w.code, w.path) for w in warnings]
    [('F2P101', '$.scene'), ('F2P102', '$.scene')]
    >>> print(warnings[0].fix)
    say what is there instead of what is not: 'no people' -> 'empty street', 'deserted square'
"""

from __future__ import annotations

import bisect
import difflib
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias, runtime_checkable

from flux2prompt._color import contrast_ratio, normalize_hex
from flux2prompt._errors import PromptError
from flux2prompt._layout import Flux3Prompt, Layout, citations, flux2_paths, layout_findings
from flux2prompt._model import KNOWN_KEYS, Prompt
from flux2prompt._references import cited, references_of
from flux2prompt._schema import json_path
from flux2prompt._text import dominant_script, expected_script, quoted

if TYPE_CHECKING:
    from flux2prompt._builder import PromptBuilder


@runtime_checkable
class _Compilable(Protocol):
    """What :func:`lint` compiles first: a :class:`~flux2prompt.PromptBuilder`."""

    def compile(self) -> Prompt: ...


@runtime_checkable
class _Placed(Protocol):
    """A builder with a layout (FLUX 3 boxes), which lint checks before it is compiled."""

    def layout(self) -> Layout: ...


__all__ = ["LINT_CODES", "LintWarning", "Severity", "lint"]

Severity: TypeAlias = Literal["warning", "info"]
_Parts: TypeAlias = tuple[str | int, ...]

# code -> (one-line summary, severity). Codes are stable: never reuse or renumber one.
_RULES: dict[str, tuple[str, Severity]] = {
    "F2P101": ("negative phrasing ('no ...', 'without ...', 'don't ...')", "warning"),
    "F2P102": ("vague quality words ('masterpiece', '8k', 'best quality', ...)", "warning"),
    "F2P103": ("zero-width characters in text", "warning"),
    "F2P104": ("very long prompt (more than 300 words)", "warning"),
    "F2P201": ("hex code in free text not bound to an object with 'color' or 'hex'", "warning"),
    "F2P202": ("more than 5 colours in a palette", "warning"),
    "F2P203": ("text colour contrast below 3:1 against the background colour", "warning"),
    "F2P301": ("text to render is longer than 4 words", "warning"),
    "F2P302": ("text is written in a script its language does not use", "warning"),
    "F2P303": ("text to render has no language", "info"),
    "F2P401": ("camera f-number not of the form 'f/N'", "warning"),
    "F2P402": ("camera ISO outside 100-6400", "warning"),
    "F2P501": ("layout boxes overlap with no depth order stated", "warning"),
    "F2P502": ("layout element smaller than 20 grid units a side", "warning"),
    "F2P503": ("palette on FLUX 3: its colours were moved into descriptions", "warning"),
    "F2P504": ("layout written as position prose for FLUX.2", "info"),
    "F2P505": ("FLUX 3 caption cites an element more than once", "warning"),
    "F2P601": ("reference attached but never cited in the text", "warning"),
    "F2P602": ("the text cites a reference that is not attached", "warning"),
}

# Every lint code with its one-line summary, in code order (read-only).
LINT_CODES: Mapping[str, str] = MappingProxyType(
    {code: summary for code, (summary, _) in _RULES.items()}
)


@dataclass(frozen=True, slots=True)
class LintWarning:
    """One piece of advice about a prompt: a stable ``code``, the JSON ``path`` of the field it is
    about, a ``message`` saying what and why, and a ``fix`` saying what to write instead.

    ``severity`` is ``"warning"`` for advice that usually improves the image and ``"info"`` for
    a note (such as a text element without a language).

    >>> w = LintWarning("F2P402", "$.camera.ISO", "ISO 50 is outside 100-6400", "use 100")
    >>> print(w)
    $.camera.ISO: F2P402 ISO 50 is outside 100-6400
    """

    code: str
    path: str
    message: str
    fix: str
    severity: Severity = "warning"

    def __str__(self) -> str:
        return f"{self.path}: {self.code} {self.message}"


# -- what each string in the document is ----------------------------------------------------------
# "prose": free text the model reads as description; every wording rule applies.
# "render": the exact words to draw in the image; only hygiene applies (a sign may say "No entry").
# "code": a value with its own syntax (hex, palette entry, language tag, f-number).
_Kind: TypeAlias = Literal["prose", "render", "code"]


def _kind(parts: _Parts) -> _Kind:
    top = parts[0]
    if top not in KNOWN_KEYS:
        return "prose"  # a custom extra: treated as free text
    if top == "color_palette":
        return "code"
    if top == "text" and len(parts) > 2:
        if parts[2] == "content":
            return "render"
        if parts[2] in ("language", "color"):
            return "code"
    if top == "subjects" and len(parts) > 2 and parts[2] in ("color_palette", "colors"):
        return "code"
    if parts == ("camera", "f-number"):
        return "code"
    return "prose"


def _walk(node: Any, parts: _Parts = ()) -> Iterator[tuple[_Parts, Any]]:
    """Every node of a JSON document with its path, in document order (parents first)."""
    yield parts, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, (*parts, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, (*parts, index))


#: The most phrases or codes one message lists; the rest are counted.
_LISTED = 5


def _listed(items: Iterable[str], shown: Callable[[str], str] = str) -> str:
    """``items`` once each, the first :data:`_LISTED` of them, and how many more there are.

    >>> _listed(["#AABBCC", "#AABBCC", "#112233"])
    '#AABBCC, #112233'
    >>> _listed([f"#{i:06X}" for i in range(7)])
    '#000000, #000001, #000002, #000003, #000004, and 2 more'
    """
    unique = list(dict.fromkeys(items))
    listed = ", ".join(shown(item) for item in unique[:_LISTED])
    return listed + (f", and {len(unique) - _LISTED} more" if len(unique) > _LISTED else "")


def _quoted(items: Iterable[str]) -> str:
    return _listed(items, lambda item: repr(item) if "'" not in item else f'"{item}"')


def _quotations(value: str) -> Callable[[int], bool]:
    """Whether a position of ``value`` is inside a quotation (text to render), in log time: a
    string may hold thousands of quotations and of matches."""
    spans = [found.span() for found in _QUOTED.finditer(value)]  # in order, never overlapping
    starts = [start for start, _ in spans]

    def inside(position: int) -> bool:
        i = bisect.bisect_left(starts, position) - 1
        return i >= 0 and position < spans[i][1]

    return inside


# -- F2P101 negative phrasing ---------------------------------------------------------------------
# A negator, then up to three words that say what is excluded ("no people", "without any text",
# "don't show his face"), cut before the first preposition or conjunction ("no people | in the
# square").
_NEGATIVE = re.compile(
    r"\b(?:no|without|avoid|never|don['’]?t|do\s+not|doesn['’]?t|does\s+not)"
    r"((?:\s+[^\W\d_][\w'’-]*){1,3})",
    re.IGNORECASE,
)
# "yes or no", "with or without": a choice, not a negation (any spacing before the negator).
_A_CHOICE = re.compile(r"\b(?:yes|with)\s+or\s+$", re.IGNORECASE)
# Closing quotation marks (and apostrophes used as such) that end a phrase, not a word.
_CLOSING_QUOTES = "'’‘\"”“»›」』"
_PHRASE_STOP = frozenset(
    [
        "in",
        "on",
        "at",
        "of",
        "and",
        "or",
        "but",
        "with",
        "to",
        "for",
        "from",
        "into",
        "onto",
        "over",
        "under",
        "near",
        "behind",
        "by",
        "as",
        "so",
    ]
)
# Positive forms for the things people most often try to exclude (BFL: "no people" -> "empty
# street", "no text" -> "clean surfaces").
_POSITIVE_FORMS: dict[str, str] = {
    **dict.fromkeys(
        ("people", "person", "persons", "humans", "human", "crowd", "crowds", "pedestrians"),
        "'empty street', 'deserted square'",
    ),
    **dict.fromkeys(
        (
            "text",
            "words",
            "letters",
            "lettering",
            "writing",
            "typography",
            "logo",
            "logos",
            "watermark",
            "watermarks",
            "labels",
            "signage",
        ),
        "'clean, unmarked surfaces'",
    ),
    **dict.fromkeys(("cloud", "clouds"), "'a clear sky'"),
    **dict.fromkeys(("blur", "blurry", "blurriness", "motion"), "'tack-sharp, in focus'"),
    **dict.fromkeys(("noise", "grain", "artifacts", "artefacts"), "'a clean, smooth image'"),
    **dict.fromkeys(("shadow", "shadows"), "'even, diffused light'"),
    **dict.fromkeys(("cars", "car", "vehicles", "traffic"), "'an empty road'"),
    **dict.fromkeys(("clutter", "mess"), "'a minimal, tidy setting'"),
    **dict.fromkeys(("color", "colour", "colors", "colours"), "'black and white, monochrome'"),
    "background": "'a plain seamless background'",
}


# Words in quotation marks are text to render (a sign reading "No Parking"), not a negation.
_QUOTED = re.compile(r'"[^"\n]*"|“[^”\n]*”|„[^“”\n]*[“”]|«[^»\n]*»|「[^」\n]*」')


def _negative_phrasing(value: str) -> tuple[str, str] | None:
    phrases: list[str] = []
    hints: list[str] = []
    quoted = _quotations(value)
    for match in _NEGATIVE.finditer(value):
        if quoted(match.start()):
            continue
        if _A_CHOICE.search(value, max(0, match.start() - 24), match.start()):
            continue
        negator = " ".join(value[match.start() : match.start(1)].split())
        words: list[str] = []
        for word in match.group(1).split():
            if word.lower() in _PHRASE_STOP:
                break
            bare = word.rstrip(_CLOSING_QUOTES)
            if bare:
                words.append(bare)
            if bare != word:  # 'No Parking': the quotation ends the phrase
                break
        if not words:
            continue
        phrase = " ".join((negator, *words))
        phrases.append(phrase)
        positive = next(
            (_POSITIVE_FORMS[w.lower()] for w in words if w.lower() in _POSITIVE_FORMS), None
        )
        if positive:
            hints.append(f"{phrase!r} -> {positive}")
    if not phrases:
        return None
    fix = "say what is there instead of what is not"
    hints = list(dict.fromkeys(hints))[:_LISTED]
    fix += f": {'; '.join(hints)}" if hints else " ('no people' -> 'empty street')"
    message = (
        f"negative phrasing {_quoted(phrases)}: FLUX.2 has no negative prompts, "
        "so naming a thing tends to draw it"
    )
    return message, fix


# -- F2P102 vague quality words -------------------------------------------------------------------
_VAGUE = re.compile(
    r"\b(?:masterpiece|best[\s-]quality|highest[\s-]quality|top[\s-]quality|"
    r"(?:ultra|highly|hyper|extremely|super)[\s-]detailed|(?:4|8|16)k(?:\s+uhd)?|uhd|"
    r"trending\s+on\s+artstation|award[\s-]winning|absurdres)\b",
    re.IGNORECASE,
)


def _vague_words(value: str) -> tuple[str, str] | None:
    quoted = _quotations(value)  # a poster reading "4K"
    words = list(
        dict.fromkeys(
            " ".join(m.group(0).split()) for m in _VAGUE.finditer(value) if not quoted(m.start())
        )
    )
    if not words:
        return None
    return (
        f"vague quality words {_quoted(words)}: they describe nothing FLUX.2 can draw",
        "remove them and describe concrete qualities instead: materials, lighting, lens "
        "(e.g. 'shot on 85mm at f/2.8, soft window light, fine fabric texture')",
    )


# -- F2P103 zero-width characters -----------------------------------------------------------------
# ZWJ and ZWNJ are part of correct spelling in some scripts (Persian, Hindi, ...) and ZWJ joins
# emoji sequences; in those places they are meant, so only stray ones are reported.
_JOINING_SCRIPTS = frozenset(
    (
        "ARABIC",
        "SYRIAC",
        "NKO",
        "MONGOLIAN",
        "DEVANAGARI",
        "BENGALI",
        "GURMUKHI",
        "GUJARATI",
        "ORIYA",
        "TAMIL",
        "TELUGU",
        "KANNADA",
        "MALAYALAM",
        "SINHALA",
        "KHMER",
        "MYANMAR",
    )
)


def _is_pictographic(char: str) -> bool:
    code = ord(char)
    return (
        code >= 0x1F000
        or 0x2600 <= code <= 0x27BF
        or 0x2B00 <= code <= 0x2BFF
        or code
        in (
            0xFE0F,
            0x20E3,
        )
    )


# Invisible too: the invisible math operators, and Unicode's tag characters, which spell out
# ASCII no one sees ("ASCII smuggling" to a text encoder) unless they make an emoji flag's tag
# sequence (a black flag, then tags, then CANCEL TAG).
_INVISIBLE_CHARS = re.compile(
    "[\u200b\u200c\u200d\u2060\ufeff\u2061-\u2064\U000e0001\U000e0020-\U000e007f]"
)
_BLACK_FLAG = "\U0001f3f4"


def _in_flag_sequence(value: str, index: int) -> bool:
    start = index
    while start > 0 and "\U000e0020" <= value[start - 1] <= "\U000e007f":
        start -= 1
    return start > 0 and value[start - 1] == _BLACK_FLAG


def _intended_joiner(value: str, index: int) -> bool:
    char = value[index]
    if "\U000e0020" <= char <= "\U000e007f":
        return _in_flag_sequence(value, index)
    if char not in "\u200c\u200d" or index == 0 or index == len(value) - 1:
        return False
    before, after = value[index - 1], value[index + 1]
    if char == "\u200d" and _is_pictographic(before) and _is_pictographic(after):
        return True
    script = unicodedata.name(before, "").split(" ", 1)[0]
    return script in _JOINING_SCRIPTS and not after.isspace()


def _zero_width(value: str, what: str = "contains") -> tuple[str, str] | None:
    found = [
        m.start()
        for m in _INVISIBLE_CHARS.finditer(value)
        if not _intended_joiner(value, m.start())
    ]
    if not found:
        return None
    first = found[0]
    code = ord(value[first])
    more = f" and {len(found) - 1} more" if len(found) > 1 else ""
    message = (
        f"{what} U+{code:04X} {unicodedata.name(value[first])} at index {first}{more}; "
        "invisible characters change what the model reads without showing it"
    )
    return message, "remove the invisible characters (e.g. value.replace('\\u200b', ''))"


# -- F2P201 unbound hex codes ---------------------------------------------------------------------
_HEX_IN_TEXT = re.compile(r"(?<![\w#])#(?:[0-9A-Fa-f]{6}|[0-9A-Fa-f]{3})(?!\w)")
_BOUND_BEFORE = re.compile(
    r"(?:\bcolou?r(?:s|ed)?|\bhex)(?:\s+(?:code|value))?\s*[:=]?\s*$", re.IGNORECASE
)


def _unbound_hex(value: str) -> tuple[str, str] | None:
    # A field that is nothing but a hex code is bound by its key ("background": "#F2EFE9").
    if _HEX_IN_TEXT.fullmatch(value.strip()):
        return None
    loose = [
        normalize_hex(m.group(0))
        for m in _HEX_IN_TEXT.finditer(value)
        # "#123" is far more often a number ("issue #123") than a colour.
        if not (len(m.group(0)) == 4 and m.group(0)[1:].isdigit())
        and not _BOUND_BEFORE.search(value[max(0, m.start() - 24) : m.start()])
    ]
    if not loose:
        return None
    codes = list(dict.fromkeys(loose))
    noun = "hex code" if len(codes) == 1 else "hex codes"
    return (
        f"{noun} {_listed(codes)} not bound to an object: FLUX.2 follows a hex code reliably "
        "when 'color' or 'hex' comes before it and it names what it colours",
        f"bind it to its object, e.g. 'the vase in color {codes[0]}'; for gradients name both "
        "ends ('starting with color #02EB3C and finishing with color #EDFA3C')",
    )


# -- F2P203 contrast helpers ----------------------------------------------------------------------
def _background_hex(background: str | None) -> str | None:
    """The first hex code in the ``background`` field: the colour text is read against."""
    if not background:
        return None
    match = _HEX_IN_TEXT.search(background)
    return normalize_hex(match.group(0)) if match else None


def _mix(color: str, target: str, share: float) -> str:
    a = [int(color[i : i + 2], 16) for i in (1, 3, 5)]
    b = [int(target[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * share):02X}" for x, y in zip(a, b, strict=True))


def _readable_variant(color: str, background: str) -> str:
    """The colour closest to ``color`` (mixed towards black or white) with contrast >= 3:1."""
    best: tuple[float, str] | None = None
    for target in ("#000000", "#FFFFFF"):
        for step in range(1, 21):
            candidate = _mix(color, target, step / 20)
            if contrast_ratio(candidate, background) >= 3.0:
                if best is None or step / 20 < best[0]:
                    best = (step / 20, candidate)
                break
    return best[1] if best else "#000000"


# -- F2P30x scripts ------------------------------------------------------------------------------
_SCRIPT_NAMES = {
    "Latn": "Latin",
    "Hani": "Han (Chinese characters)",
    "Jpan": "Japanese (kana and kanji)",
    "Hang": "Hangul",
    "Kore": "Korean (Hangul and Hanja)",
    "Arab": "Arabic",
    "Hebr": "Hebrew",
    "Deva": "Devanagari",
    "Thai": "Thai",
    "Cyrl": "Cyrillic",
    "Grek": "Greek",
    "Beng": "Bengali",
    "Taml": "Tamil",
    "Geor": "Georgian",
    "Armn": "Armenian",
}
_SCRIPT_LANGUAGE_HINT = {
    "Latn": "en",
    "Hani": "zh",
    "Jpan": "ja",
    "Hang": "ko",
    "Arab": "ar",
    "Hebr": "he",
    "Deva": "hi",
    "Thai": "th",
    "Cyrl": "ru",
    "Grek": "el",
    "Beng": "bn",
    "Taml": "ta",
    "Geor": "ka",
    "Armn": "hy",
}
# Scripts that an expected script also accepts: Japanese is often written in kanji alone.
_ACCEPTS = {
    "Jpan": frozenset({"Jpan", "Hani"}),
    "Hira": frozenset({"Jpan"}),
    "Kana": frozenset({"Jpan"}),
    "Hrkt": frozenset({"Jpan"}),
    # Korean: expected_script() says Hangul (Kore folds into Hang), and Hanja are Korean too.
    "Hang": frozenset({"Hang", "Hani"}),
    "Kore": frozenset({"Hang", "Hani"}),
}
# Scripts written without spaces between words: length is counted in characters instead.
_UNSPACED = frozenset({"Hani", "Jpan", "Thai"})
_MAX_WORDS = 4
_MAX_UNSPACED_CHARS = 10


def _script_name(code: str) -> str:
    return _SCRIPT_NAMES.get(code, code)


# -- the rules -----------------------------------------------------------------------------------
_Found: TypeAlias = tuple[str, _Parts, str, str]  # code, path parts, message, fix

_STRING_RULES = (
    ("F2P101", _negative_phrasing),
    ("F2P102", _vague_words),
    ("F2P201", _unbound_hex),
)
_LONG_PROMPT_WORDS = 300
_MAX_PALETTE = 5
_F_NUMBER = re.compile(r"^f/\d+(?:\.\d+)?$")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _check_strings(document: dict[str, Any], extra_keys: frozenset[str]) -> Iterator[_Found]:
    words = 0
    for parts, node in _walk(document):
        if isinstance(node, dict) and (not parts or parts[0] in extra_keys):
            # Custom keys are the user's own text too; known keys are fixed ASCII names.
            for key in node if parts else extra_keys & node.keys():
                zero = _zero_width(key, what="key contains")
                if zero:
                    yield ("F2P103", (*parts, key), *zero)
        if not isinstance(node, str) or not parts:
            continue
        words += len(node.split())
        zero = _zero_width(node)
        if zero:
            yield ("F2P103", parts, *zero)
        if _kind(parts) != "prose":
            continue
        for code, rule in _STRING_RULES:
            found = rule(node)
            if found:
                yield (code, parts, *found)
    if words > _LONG_PROMPT_WORDS:
        yield (
            "F2P104",
            (),
            f"the prompt has {words} words, beyond BFL's long band (80-300); "
            "words further back weigh less",
            "start short: keep the main subject, action, style and context, and cut secondary "
            "details",
        )


def _check_palettes(prompt: Prompt) -> Iterator[_Found]:
    palettes: list[tuple[_Parts, tuple[str, ...] | None]] = [
        (("color_palette",), prompt.color_palette)
    ]
    for i, item in enumerate(prompt.subjects or ()):
        palettes.append((("subjects", i, "color_palette"), item.color_palette))
        palettes.append((("subjects", i, "colors"), item.colors))
    for parts, colors in palettes:
        if colors and len(colors) > _MAX_PALETTE:
            yield (
                "F2P202",
                parts,
                f"{len(colors)} colours in the palette; FLUX.2 follows 3-5 main colours best",
                "keep the 3-5 colours that matter most and bind any others to their objects "
                "(e.g. 'the scarf in color #C0392B')",
            )


def _check_text(prompt: Prompt) -> Iterator[_Found]:
    background = _background_hex(prompt.background)
    for i, element in enumerate(prompt.text or ()):
        content = element.content
        script = dominant_script(content)
        words = len(content.split())
        letters = sum(1 for char in content if char.isalpha())
        if words > _MAX_WORDS:
            yield (
                "F2P301",
                ("text", i, "content"),
                f"{words} words of text to render; 1-4 words render most reliably",
                "shorten it, or split it into several text elements of 1-4 words each",
            )
        elif script in _UNSPACED and letters > _MAX_UNSPACED_CHARS:
            # A space does not separate words in these scripts: two chunks of ten are as long
            # to render as one of twenty, so the letters count, however they are spaced.
            yield (
                "F2P301",
                ("text", i, "content"),
                f"{letters} characters of {_script_name(script)} text to render; short "
                "strings (a few words) render most reliably",
                "shorten it, or split it into several shorter text elements",
            )
        if element.color and background:
            ratio = contrast_ratio(element.color, background)
            if ratio < 3.0:
                better = _readable_variant(element.color, background)
                yield (
                    "F2P203",
                    ("text", i, "color"),
                    f"text colour {element.color} on background {background} has contrast "
                    f"{ratio:.2f}:1, below 3:1; the text will be hard to read",
                    f"use a colour with at least 3:1 against {background}, e.g. {better} "
                    f"({contrast_ratio(better, background):.1f}:1)",
                )
        if element.language is None:
            hint = _SCRIPT_LANGUAGE_HINT.get(script or "", "en")
            yield (
                "F2P303",
                ("text", i, "language"),
                "text to render has no language; the model guesses, and the script cannot be "
                "checked",
                f"add a BCP 47 tag, e.g. language={hint!r}",
            )
            continue
        expected = expected_script(element.language)
        if script is None or expected is None:
            continue
        if script not in _ACCEPTS.get(expected, frozenset({expected})):
            other = _SCRIPT_LANGUAGE_HINT.get(script)
            tag = f" (for example {other!r})" if other else ""
            yield (
                "F2P302",
                ("text", i, "content"),
                f"content is written in {_script_name(script)} script but language "
                f"{element.language!r} is written in {_script_name(expected)}",
                f"write the words in {_script_name(expected)}, or set the language to one "
                f"written in {_script_name(script)}{tag}",
            )


def _check_camera(prompt: Prompt) -> Iterator[_Found]:
    cam = prompt.camera
    if cam is None:
        return
    if cam.f_number is not None and not _F_NUMBER.match(cam.f_number):
        number = _NUMBER.search(cam.f_number)
        example = f"f/{number.group(0)}" if number else "f/2.8"
        yield (
            "F2P401",
            ("camera", "f-number"),
            f"f-number {cam.f_number!r} is not of the form 'f/N'",
            f"write it as {example!r}",
        )
    if cam.iso is not None and not 100 <= cam.iso <= 6400:
        yield (
            "F2P402",
            ("camera", "ISO"),
            f"ISO {cam.iso:g} is outside the usual 100-6400",
            "use 100-200 for bright light, 400-800 indoors, 1600-6400 for night scenes",
        )


def _resolve_ignore(ignore: Iterable[str] | str) -> frozenset[str]:
    if isinstance(ignore, str):
        items: Iterable[object] = ignore.split(",")
    elif isinstance(ignore, Iterable):
        items = ignore
    else:
        raise PromptError(
            f"lint(ignore=...): expected codes (a list, or one comma-separated string), got "
            f"{type(ignore).__name__} {quoted(ignore)}"
        )
    codes = set()
    for item in items:
        if not isinstance(item, str):
            raise PromptError(f"lint(ignore=...): codes are strings, got {quoted(item)}")
        code = item.strip().upper()
        if not code:
            continue
        if code not in _RULES:
            close = difflib.get_close_matches(code, list(_RULES), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else f"known codes: {', '.join(_RULES)}"
            raise PromptError(f"lint(ignore=...): unknown code {quoted(item)}; {hint}")
        codes.add(code)
    return frozenset(codes)


def lint(
    prompt: Prompt | PromptBuilder | Flux3Prompt, *, ignore: Iterable[str] | str = ()
) -> list[LintWarning]:
    """Advice on ``prompt`` from BFL's FLUX.2 guidance, in document order. Never raises on a
    valid prompt; a builder is compiled first (for FLUX.2: a layout becomes position prose, and
    its boxes are checked too). A :class:`~flux2prompt.Flux3Prompt` gets the layout rules.

    ``ignore`` silences codes (a list, or one comma-separated string as the CLI takes it); an
    unknown code raises :class:`~flux2prompt.PromptError` with a did-you-mean.

    >>> from flux2prompt import scene
    >>> p = scene("an empty street at dawn").camera(iso=12800).compile()
    >>> [(w.code, w.path) for w in lint(p)]
    [('F2P402', '$.camera.ISO')]
    >>> lint(p, ignore=["F2P402"])
    []
    """
    skip = _resolve_ignore(ignore)
    if isinstance(prompt, Flux3Prompt):
        return _lint_flux3(prompt, skip)
    layout: Layout | None = None
    if not isinstance(prompt, Prompt) and isinstance(prompt, _Placed):
        layout = prompt.layout()
    if not isinstance(prompt, Prompt) and isinstance(prompt, _Compilable):
        prompt = prompt.compile()  # a builder (known by its shape: the core has no cycle)
    if not isinstance(prompt, Prompt):
        raise PromptError(f"lint(): expected a Prompt or a builder, got {type(prompt).__name__}")
    document = prompt.to_dict()
    extra_keys = frozenset(key for key in document if key not in KNOWN_KEYS)
    found: list[_Found] = [
        *_check_strings(document, extra_keys),
        *_check_palettes(prompt),
        *_check_text(prompt),
        *_check_camera(prompt),
        *_check_references(prompt, document),
    ]
    if layout is not None and layout.elements:
        found.extend(_check_layout(layout, prompt))
    # Document order: by the first node on the path that exists, then deeper paths, then code.
    order = {parts: n for n, (parts, _) in enumerate(_walk(document))}
    codes = list(_RULES)

    def position(item: _Found) -> tuple[int, int, int]:
        parts = item[1]
        while parts not in order:
            parts = parts[:-1]
        return order[parts], len(item[1]), codes.index(item[0])

    return [
        LintWarning(code, json_path(parts), message, fix, _RULES[code][1])
        for code, parts, message, fix in sorted(found, key=position)
        if code not in skip
    ]


def _check_references(prompt: Prompt, document: Any) -> Iterator[_Found]:
    """F2P601 a reference never cited; F2P602 a citation of a name no reference has."""
    attached = references_of(prompt)
    names = {item.name for item in attached}
    seen: set[str] = set()
    for parts, value in _walk(document):
        if not isinstance(value, str) or "[ref:" not in value:
            continue
        for name in cited(value):
            seen.add(name)
            if name not in names:
                known = ", ".join(repr(n) for n in sorted(names)) or "none"
                yield (
                    "F2P602",
                    parts,
                    f"[ref:{name}] cites a reference named {name!r}, and none is attached "
                    f"(attached: {known}); the request cannot say which image it means",
                    f"attach it with .reference({name!r}, path_or_bytes), or fix the name",
                )
    for item in attached:
        if item.name not in seen:
            role = f" ({item.role})" if item.role else ""
            yield (
                "F2P601",
                (),
                f"reference {item.name!r}{role} is attached but the text never cites it: the "
                "model gets the image without being told what to take from it",
                f"cite it where it is used, with ref({item.name!r}): "
                f'"the logo from {{ref({item.name!r})}}"',
            )


def _check_layout(layout: Layout, prompt: Prompt) -> Iterator[_Found]:
    paths = flux2_paths(layout, len(prompt.subjects or ()), len(prompt.text or ()))
    yield from layout_findings(layout, where=paths)
    first = paths[layout.ids[0]]
    yield (
        "F2P504",
        first[:1],
        f"the layout's {len(layout.elements)} boxed elements are written as subjects (text "
        "elements as text) with position prose: FLUX.2 reads no boxes, so placement is "
        "approximate",
        "for exact placement compile the same builder for FLUX 3 with .compile_flux3()",
    )


def _lint_flux3(prompt: Flux3Prompt, skip: frozenset[str]) -> list[LintWarning]:
    layout = prompt.layout
    paths = {element.id: ("elements", i) for i, element in enumerate(layout.elements)}
    found: list[_Found] = list(layout_findings(layout, where=paths))
    cited = citations(prompt.caption)
    repeated = sorted({item for item in cited if cited.count(item) > 1}, key=cited.index)
    if repeated:
        shown = ", ".join(f"<{item}> {cited.count(item)} times" for item in repeated)
        found.append(
            (
                "F2P505",
                ("caption",),
                f"the caption cites {shown}; FLUX 3 reads each citation as the place where that "
                "element appears, once",
                f"cite <{repeated[0]}> once where it appears and refer back to it in words "
                "('it', 'the mug'); a second, separate element needs its own id and box",
            )
        )
    if prompt.moved_colors:
        moved = ", ".join(
            f"{color} -> {owner if owner else 'the caption'}"
            for color, owner in prompt.moved_colors
        )
        found.append(
            (
                "F2P503",
                ("caption",),
                f"FLUX 3 uses no colour palette; its colours were moved into the descriptions "
                f"they bind to ({moved})",
                "bind each colour to its element with .element(..., colors=[...]); a colour "
                "no element binds goes into the caption",
            )
        )
    order: dict[_Parts, int] = {("caption",): 0}
    order.update({parts: 1 + n for n, parts in enumerate(paths.values())})
    codes = list(_RULES)
    found.sort(key=lambda item: (order.get(item[1], 0), codes.index(item[0])))
    return [
        LintWarning(code, json_path(parts), message, fix, _RULES[code][1])
        for code, parts, message, fix in found
        if code not in skip
    ]
