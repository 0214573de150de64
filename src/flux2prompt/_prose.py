"""Prose rendering: a prompt written as sentences, for FLUX.2 [klein].

FLUX.2 [klein] has no prompt upsampling and reads flowing prose best; BFL's advice for it is to
"write like a novelist", front-loading the subject. Like every FLUX.2 model it weighs earlier
words more. So the prose follows this order, each part folded into sentences (never a list of
``Label:`` fragments):

1. **subject**: each subject one sentence, its pose, action, position and colours folded in
   ("A coffee mug, stationary on the counter, in the foreground, in color #1C1C1E."); with no
   subjects, the scene leads;
2. text to render, early, its exact words in quotation marks, with its language, font, size,
   placement and colour bound to it ("in color #RRGGBB");
3. **setting**: the scene (when subjects led) and the background ("The scene is ..., against
   ...");
4. **details**: style, colour palette, composition and camera;
5. **lighting** ("Lit by ...");
6. **atmosphere**: mood and effects;
7. custom extras, last, as ``Key: value`` (their meaning is the user's).

It is template-based and deterministic (no model): equal prompts give equal prose. Every string
of the prompt reaches the prose whole, except that a field folded into the middle of a sentence
loses the capital of its first word when that word is an ordinary one ("Stationary on surface"
-> "stationary on surface"); a word that looks like a name keeps it: all capitals (``ISO``),
inner capitals (``iPhone``), or followed by another capitalised word (``New York``). A single
name at the start of a field ("Tokyo street at night") cannot be told from an ordinary word and
is lowercased: write it after a word ("the Tokyo skyline at night") to keep it. Quoted text and
hex codes are never touched. Cloudflare's composition enum is said in words, its misspelt
``"leading leads"`` as "leading lines" (the JSON keeps the enum value).

Example:
    >>> from flux2prompt import scene, subject
    >>> p = scene("a misty pine forest").subject(subject("a red fox", pose="trotting")).compile()
    >>> render_prose(p)
    'A red fox, trotting. The scene is a misty pine forest.'
"""

from __future__ import annotations

import json
import re
from typing import Any

from flux2prompt._errors import PromptError
from flux2prompt._model import Camera, Prompt, Subject, TextElement
from flux2prompt._text import language_name

__all__ = ["render_prose"]

_POSITIONS = frozenset(("foreground", "midground", "background"))
_PREPOSITIONS = frozenset(
    (
        "at",
        "on",
        "in",
        "inside",
        "along",
        "across",
        "above",
        "below",
        "under",
        "over",
        "near",
        "beside",
        "behind",
        "against",
        "within",
        "between",
        "among",
        "around",
        "to",
        "from",
        "with",
        "by",
    )
)
# Words that open a position "in the frame": "center foreground" -> "in the center foreground".
_FRAME_WORDS = frozenset(
    (
        "left",
        "right",
        "center",
        "centre",
        "central",
        "centered",
        "centred",
        "top",
        "bottom",
        "upper",
        "lower",
        "middle",
        "foreground",
        "midground",
        "background",
        "corner",
        "far",
    )
)
_ARTICLES = frozenset(("a", "an", "the", "this", "that", "its", "their", "his", "her", "one"))
_SENTENCE_END = ".!?。！？…"

# Cloudflare's composition enum in words (the JSON keeps the enum; prose reads as prose).
_COMPOSITIONS = {
    "rule of thirds": "composed by the rule of thirds",
    "circular arrangement": "composed in a circular arrangement",
    "framed by foreground": "framed by the foreground",
    "minimalist negative space": "composed with minimalist negative space",
    "s-curve": "composed along an S-curve",
    "vanishing point center": "composed around a centered vanishing point",
    "dynamic off-center": "composed dynamically off-center",
    "leading leads": "composed with leading lines",  # Cloudflare's enum spells it "leads"
    "leading lines": "composed with leading lines",
    "golden spiral": "composed along a golden spiral",
    "diagonal energy": "composed with diagonal energy",
    "strong verticals": "composed with strong verticals",
    "triangular arrangement": "composed in a triangular arrangement",
}
_ANGLES = {
    "eye level": "at eye level",
    "slightly low": "from a slightly low angle",
    "bird's-eye": "from a bird's-eye view",
    "worm's-eye": "from a worm's-eye view",
    "over-the-shoulder": "over the shoulder",
    "isometric": "in isometric view",
}
_FOCUS = {
    "deep focus": "in deep focus",
    "macro focus": "in macro focus",
    "selective focus": "with selective focus",
    "sharp on subject": "sharp on the subject",
    "soft background": "with a soft background",
}
_LIGHT_VERBS = frozenset(("lit", "backlit", "illuminated", "bathed", "washed", "flooded"))
_TITLE_WORD = re.compile(r"[A-Z][a-z]+(?:[-'][A-Za-z]+)*")


def _clean(value: str | None) -> str:
    """Text ready to sit inside a sentence: trimmed, no trailing separators or period (however
    they are spaced: ". ," is nothing)."""
    text = (value or "").strip().rstrip(",;:.").rstrip()
    while text[-1:] in (",", ";", ":", "."):
        text = text[:-1].rstrip()
    return text


def _looks_like_name(word: str, following: str | None) -> bool:
    if _TITLE_WORD.fullmatch(word) is None:
        return True  # all capitals, inner capitals, digits, quotes: leave it as written
    return following is not None and following[:1].isupper()


def _fold(value: str | None) -> str:
    """A field to fold into the middle of a sentence: cleaned, its first word lowercased when
    it is an ordinary capitalised word (see the module docstring)."""
    text = _clean(value)
    if not text or not text[0].isupper():
        return text
    words = text.split(maxsplit=2)
    head = words[0].rstrip(",;:.!?")
    if _looks_like_name(head, words[1] if len(words) > 1 else None) and len(head) > 1:
        return text
    return text[0].lower() + text[1:]


def _sentence(value: str) -> str:
    """Capitalise the first letter (unless the first word has its own capitals, like
    'iPhone') and end with a period unless the text already ends a sentence."""
    value = value.strip()
    if not value:
        return ""
    first = value.split(maxsplit=1)[0]
    if first[0].islower() and not any(char.isupper() for char in first[1:]):
        value = value[0].upper() + value[1:]
    if value[-1] in ",;:":
        value = value[:-1].rstrip()
        if not value:  # a separator alone (", ," trims to ","): no words to end
            return ""
    if value[-1] not in _SENTENCE_END:
        value += "."
    return value


def _join_and(items: list[str]) -> str:
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _article(phrase: str) -> str:
    """``a`` or ``an`` before ``phrase`` (by its first letter or number, as it is spoken)."""
    first = phrase.lower()
    digits = re.match(r"\d+", first)
    if digits:
        number = digits.group()
        return "an" if number.startswith("8") or number in ("11", "18") else "a"
    return "an" if first[:1] in "aeio" else "a"


def _color_name(value: str) -> str:
    """A colour as BFL likes it: hex codes after the keyword 'color'."""
    return f"color {value}" if value.startswith("#") else _fold(value)


def _first_word(text: str) -> str:
    return text.split(maxsplit=1)[0].lower() if text else ""


def _position(position: str) -> str:
    lowered = position.lower()
    if lowered in _POSITIONS:
        return f"in the {lowered}"
    first = _first_word(position)
    if first in _PREPOSITIONS or first in _ARTICLES:
        return position if first in _PREPOSITIONS else f"at {position}"
    if first in _FRAME_WORDS:
        return f"in the {position}"
    return position


def _subject(item: Subject) -> str:
    kind, description = _fold(item.type), _clean(item.description)
    head = description or _clean(item.type)
    pieces = [head]
    if kind and description and kind.lower() not in description.lower():
        # The kind as an apposition ("..., a pour-over kettle"); a plural takes no article.
        plural = kind.endswith("s") and not kind.endswith("ss")
        pieces.append(
            kind if plural or _first_word(kind) in _ARTICLES else f"{_article(kind)} {kind}"
        )
    pieces += [_fold(item.pose), _fold(item.action)]
    position = _fold(item.position)
    if position:
        pieces.append(_position(position))
    colors = [*(item.color_palette or ()), *(item.colors or ())]
    if colors:
        pieces.append("in " + _join_and([_color_name(c) for c in colors]))
    withs: list[str] = []
    match = _fold(item.color_match)
    if match:
        withs.append(f"{_article(match)} {match} color match")
    detail = _fold(item.detail_preservation)
    if detail:
        withs.append(f"{detail} detail preservation")
    if withs:
        pieces.append("with " + _join_and(withs))
    return ", ".join(piece for piece in pieces if piece)


def _text(element: TextElement) -> str:
    # Straight quotes delimit the exact words; if the words hold one, curly quotes keep them whole.
    quoted = f"“{element.content}”" if '"' in element.content else f'"{element.content}"'
    head = f"The text {quoted}"
    language = language_name(element.language) if element.language else ""
    if language:
        head += f" in {language}"
    pieces = [head]
    font = _fold(element.font)
    if font:
        pieces.append(f"set in {font}")
    size = _fold(element.size)
    if size:
        pieces.append(f"at {size}" if "size" in size.lower() else f"at {size} size")
    placement = _fold(element.placement)
    if placement:
        first = _first_word(placement)
        if first in _PREPOSITIONS:
            pieces.append(f"placed {placement}")
        elif first in _ARTICLES:
            pieces.append(f"placed at {placement}")
        elif first in _FRAME_WORDS:
            pieces.append(f"placed at the {placement}")
        else:
            pieces.append(placement)
    if element.color:
        pieces.append(f"in color {element.color}")
    return ", ".join(pieces)


def _number(value: float) -> str:
    return f"{value:g}"


def _camera(cam: Camera) -> str:
    pieces: list[str] = []
    angle = _fold(cam.angle)
    if angle:
        known = _ANGLES.get(angle.lower())
        if known is not None:
            pieces.append(known)
        elif _first_word(angle) in _PREPOSITIONS:
            pieces.append(angle)
        elif "angle" in angle.lower() or "view" in angle.lower():
            pieces.append(f"from {_article(angle)} {angle}")
        else:
            pieces.append(f"from {_article(angle)} {angle} angle")
    distance = _fold(cam.distance)
    if distance:
        shot = (
            distance
            if distance.lower().endswith(("shot", "close-up", "closeup"))
            else (f"{distance} shot")
        )
        pieces.append(f"as {_article(shot)} {shot}")
    focus = _fold(cam.focus)
    if focus:
        pieces.append(_FOCUS.get(focus.lower(), focus))
    lenses: list[str] = []
    lens = _fold(cam.lens)
    if lens:
        lenses.append(lens if "lens" in lens.lower() else f"{lens} lens")
    if cam.lens_mm is not None:
        lenses.append(f"{_number(cam.lens_mm)}mm lens")
    settings: list[str] = []
    if _clean(cam.f_number):
        settings.append(_clean(cam.f_number))
    if cam.iso is not None:
        settings.append(f"ISO {_number(cam.iso)}")
    if lenses:
        glass = _join_and([f"{_article(item)} {item}" for item in lenses])
        pieces.append(f"with {glass}" + (f" at {_join_and(settings)}" if settings else ""))
    elif settings:
        pieces.append(f"at {_join_and(settings)}")
    depth = _fold(cam.depth_of_field)
    if depth:
        pieces.append(
            f"with {depth}" if "depth" in depth.lower() else f"with {depth} depth of field"
        )
    if not pieces:
        return ""
    return "Shot " + ", ".join(pieces)


def _extra_value(value: Any, *, nested: bool = False) -> str:
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, list):
        parts = [_extra_value(item, nested=True) for item in value]
        separator = "; " if any(isinstance(item, dict | list) for item in value) else ", "
        return separator.join(part for part in parts if part)
    if isinstance(value, dict):
        body = ", ".join(f"{key}: {_extra_value(item, nested=True)}" for key, item in value.items())
        return f"({body})" if nested and body else body
    return json.dumps(value)


def _extra(key: str, value: Any) -> str:
    body = _extra_value(value)
    if not body:
        return ""
    label = key.replace("_", " ").strip() or key
    return f"{label[0].upper()}{label[1:]}: {body}"


def _setting(scene: str, background: str) -> str:
    parts: list[str] = []
    if scene:
        first = _first_word(scene)
        parts.append(f"Set {scene}" if first in _PREPOSITIONS else f"The scene is {scene}")
    if background:
        joined = (
            background if _first_word(background) in _PREPOSITIONS else (f"against {background}")
        )
        if parts:
            parts.append(joined)
        else:
            return (
                f"Set {background}"
                if _first_word(background) in _PREPOSITIONS
                else f"The background is {background}"
            )
    return ", ".join(parts)


def _lighting(value: str | None) -> str:
    light = _fold(value)
    if not light:
        return ""
    if _first_word(light) in _LIGHT_VERBS:
        return light
    return f"Lit by {light}"


def _composition(value: str | None) -> str:
    composition = _fold(value)
    if not composition:
        return ""
    known = _COMPOSITIONS.get(composition.lower())
    if known is not None:
        return known
    return f"composed with {composition}"


def render_prose(prompt: Prompt) -> str:
    """The prompt as sentences, most important first (see the module docstring).

    >>> from flux2prompt import scene
    >>> p = scene("a quiet harbour at dawn").lighting("soft golden light").compile()
    >>> render_prose(p)
    'A quiet harbour at dawn. Lit by soft golden light.'
    >>> render_prose(scene("a poster").text("SALE", language="en", color="#fff").compile())
    'A poster. The text "SALE" in English, in color #FFFFFF.'
    """
    subjects = [_subject(item) for item in prompt.subjects or ()]
    subjects = [item for item in subjects if item]
    scene = _fold(prompt.scene)
    background = _fold(prompt.background)
    sentences: list[str] = []
    if subjects:
        sentences.extend(subjects)
    elif scene:
        sentences.append(_clean(prompt.scene))
        scene = ""
    sentences.extend(_text(element) for element in prompt.text or ())
    sentences.append(_setting(scene, background))
    # Details: the style, its palette and composition in one sentence; the camera in the next.
    details: list[str] = []
    style = _fold(prompt.style)
    if style:
        details.append(f"The style is {style}")
    if prompt.color_palette:
        entries = _join_and([_color_name(entry) for entry in prompt.color_palette])
        details.append(
            f"in a color palette of {entries}" if details else f"The color palette is {entries}"
        )
    composition = _composition(prompt.composition)
    if composition:
        details.append(composition if details else f"The image is {composition}")
    sentences.append(", ".join(details))
    if prompt.camera is not None:
        sentences.append(_camera(prompt.camera))
    sentences.append(_lighting(prompt.lighting))
    mood = _fold(prompt.mood)
    if mood:
        sentences.append(f"The mood is {mood}")
    effects = [folded for folded in map(_fold, prompt.effects or ()) if folded]
    if effects:  # blank effects ("  ") would leave "Finished with."
        sentences.append("Finished with " + _join_and(effects))
    for key, value in prompt.extras.items():
        sentences.append(_extra(key, value))
    prose = " ".join(filter(None, (_sentence(sentence) for sentence in sentences if sentence)))
    if not prose:
        # Every field blank or punctuation ("   ", "..."): an empty prompt would be sent.
        raise PromptError(
            "to_prose(): the prompt has no words to write as prose (its text is blank or only "
            "punctuation); give it a scene or a subject in words"
        )
    return prose
