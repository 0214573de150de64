"""flux2prompt: FLUX.2 JSON image prompts as typed, validated, versioned Python.

Example:
    >>> from flux2prompt import scene, subject
    >>> prompt = (
    ...     scene("a minimalist product shot on seamless paper")
    ...     .subject(subject("matte black ceramic mug", type="product", position="foreground"))
    ...     .palette("#1A1A1A", "#F2EFE9", "#C8A27A")
    ...     .compile()
    ... )
    >>> prompt.to_json()[:60]
    '{"scene":"a minimalist product shot on seamless paper","subje'
"""

from flux2prompt._builder import PromptBuilder, camera, scene, subject, text
from flux2prompt._color import color_phrase, contrast_ratio, harmony, normalize_hex, palette
from flux2prompt._errors import (
    Flux2PromptError,
    PromptError,
    PromptValidationError,
    SourceError,
    ValidationIssue,
)
from flux2prompt._load import load
from flux2prompt._model import (
    Camera,
    CameraAngle,
    Composition,
    Focus,
    Lens,
    Position,
    Profile,
    Prompt,
    ShotDistance,
    Subject,
    TextElement,
)
from flux2prompt._schema import schema

__version__ = "0.1.0"

__all__ = [
    "Camera",
    "CameraAngle",
    "Composition",
    "Flux2PromptError",
    "Focus",
    "Lens",
    "Position",
    "Profile",
    "Prompt",
    "PromptBuilder",
    "PromptError",
    "PromptValidationError",
    "ShotDistance",
    "SourceError",
    "Subject",
    "TextElement",
    "ValidationIssue",
    "camera",
    "color_phrase",
    "contrast_ratio",
    "harmony",
    "load",
    "normalize_hex",
    "palette",
    "scene",
    "schema",
    "subject",
    "text",
]
