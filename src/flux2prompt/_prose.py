"""Prose rendering: a prompt flattened to ordered natural language for FLUX.2 [klein].

FLUX.2 [klein] has no prompt upsampling and reads flowing prose best; like every FLUX.2 model it
weighs earlier words more. So the prose follows BFL's priority order:

1. the main subject and its action (each subject; with no subjects, the scene leads);
2. text to render, early, with its exact words in quotation marks, its language, font, size,
   placement and colour bound to it ("in color #RRGGBB");
3. critical style, then the essential context (the scene, when subjects led);
4. secondary details: colour palette, lighting, mood, background, composition, camera, effects;
5. custom extras as ``key: value``.

Every sentence starts with a capital letter and ends with a period; the output depends only on
the prompt, so equal prompts give equal prose.

Example:
    >>> from flux2prompt import scene, subject
    >>> p = scene("a misty pine forest").subject(subject("a red fox", pose="trotting")).compile()
    >>> render_prose(p)
    'A red fox, trotting. Scene: a misty pine forest.'
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from flux2prompt._model import Camera, Prompt, Subject, TextElement

__all__ = ["render_prose"]

_POSITIONS = frozenset(("foreground", "midground", "background"))
_PREPOSITIONS = frozenset(
    ("at", "on", "in", "along", "across", "above", "below", "under", "over", "near", "beside")
)


def _clean(value: str | None) -> str:
    """Text ready to sit inside a sentence: trimmed, no trailing separators or period."""
    return (value or "").strip().rstrip(",;:.").rstrip()


def _sentence(value: str) -> str:
    """Capitalise the first word (unless it has its own capitals, like 'iPhone') and end with a
    period unless the text already ends a sentence."""
    value = value.strip()
    if not value:
        return ""
    first = value.split(maxsplit=1)[0]
    if first[0].islower() and not any(char.isupper() for char in first[1:]):
        value = value[0].upper() + value[1:]
    if value[-1] in ",;:":
        value = value[:-1].rstrip()
    if value[-1] not in ".!?。！？…":
        value += "."
    return value


def _labelled(label: str, value: str | None) -> str:
    body = _clean(value)
    return f"{label}: {body}" if body else ""


def _join_and(items: list[str]) -> str:
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _color_name(value: str) -> str:
    """A palette entry as BFL likes it: hex codes after the keyword 'color'."""
    return f"color {value}" if value.startswith("#") else value


def _subject(item: Subject) -> str:
    kind, description = _clean(item.type), _clean(item.description)
    if kind and description and kind.lower() not in description.lower():
        head = f"{kind}: {description}"
    else:
        head = description or kind
    pieces = [head, _clean(item.pose), _clean(item.action)]
    position = _clean(item.position)
    if position.lower() in _POSITIONS:
        pieces.append(f"in the {position.lower()}")
    elif position:
        pieces.append(f"positioned {position}")
    colors = [*(item.color_palette or ()), *(item.colors or ())]
    if colors:
        pieces.append("in " + _join_and([_color_name(c) for c in colors]))
    if _clean(item.color_match):
        pieces.append(f"{_clean(item.color_match)} color match")
    if _clean(item.detail_preservation):
        pieces.append(f"{_clean(item.detail_preservation)} detail preservation")
    return ", ".join(piece for piece in pieces if piece)


@lru_cache(maxsize=256)
def _language_name(tag: str) -> str:
    import langcodes

    try:
        return str(langcodes.Language.get(tag).display_name())
    except (LookupError, ValueError):
        return tag


def _text(element: TextElement) -> str:
    # Straight quotes delimit the exact words; if the words hold one, curly quotes keep them whole.
    quoted = f"“{element.content}”" if '"' in element.content else f'"{element.content}"'
    head = f"The text {quoted}"
    if element.language:
        head += f" in {_language_name(element.language)}"
    pieces = [head]
    if _clean(element.font):
        pieces.append(f"set in {_clean(element.font)}")
    size = _clean(element.size)
    if size:
        pieces.append(size if "size" in size.lower() else f"{size} size")
    placement = _clean(element.placement)
    if placement:
        first = placement.split(maxsplit=1)[0].lower()
        pieces.append(f"placed {placement}" if first in _PREPOSITIONS else f"placed at {placement}")
    if element.color:
        pieces.append(f"in color {element.color}")
    return ", ".join(pieces)


def _number(value: float) -> str:
    return f"{value:g}"


def _camera(cam: Camera) -> str:
    pieces = [_clean(cam.angle), _clean(cam.distance), _clean(cam.focus)]
    lens = _clean(cam.lens)
    if lens:
        pieces.append(lens if "lens" in lens.lower() else f"{lens} lens")
    if cam.lens_mm is not None:
        pieces.append(f"{_number(cam.lens_mm)}mm lens")
    pieces.append(_clean(cam.f_number))
    if cam.iso is not None:
        pieces.append(f"ISO {_number(cam.iso)}")
    depth = _clean(cam.depth_of_field)
    if depth:
        pieces.append(depth if "depth" in depth.lower() else f"{depth} depth of field")
    return _labelled("Camera", ", ".join(piece for piece in pieces if piece))


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


def render_prose(prompt: Prompt) -> str:
    """The prompt as ordered natural language, most important first (see the module docstring).

    >>> from flux2prompt import scene
    >>> p = scene("a quiet harbour at dawn").lighting("soft golden light").compile()
    >>> render_prose(p)
    'A quiet harbour at dawn. Lighting: soft golden light.'
    >>> render_prose(scene("a poster").text("SALE", language="en", color="#fff").compile())
    'A poster. The text "SALE" in English, in color #FFFFFF.'
    """
    subjects = [_subject(item) for item in prompt.subjects or ()]
    subjects = [item for item in subjects if item]
    scene = _clean(prompt.scene)
    sentences: list[str] = []
    if subjects:
        sentences.extend(subjects)
    elif scene:
        sentences.append(scene)
    sentences.extend(_text(element) for element in prompt.text or ())
    sentences.append(_labelled("Style", prompt.style))
    if subjects:
        sentences.append(_labelled("Scene", scene))
    if prompt.color_palette:
        entries = ", ".join(_clean(entry) for entry in prompt.color_palette)
        sentences.append(_labelled("Color palette", entries))
    sentences.append(_labelled("Lighting", prompt.lighting))
    sentences.append(_labelled("Mood", prompt.mood))
    sentences.append(_labelled("Background", prompt.background))
    sentences.append(_labelled("Composition", prompt.composition))
    if prompt.camera is not None:
        sentences.append(_camera(prompt.camera))
    if prompt.effects:
        sentences.append(_labelled("Effects", ", ".join(_clean(e) for e in prompt.effects)))
    for key, value in prompt.extras.items():
        sentences.append(_labelled(key, _extra_value(value)))
    return " ".join(_sentence(sentence) for sentence in sentences if sentence)
