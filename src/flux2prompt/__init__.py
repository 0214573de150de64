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
    '{"scene":"a minimalist product shot on seamless paper","subj'
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
from flux2prompt._files import PromptFile, load_prompt_file, placeholders, substitute
from flux2prompt._lint import LINT_CODES, LintWarning, lint
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
from flux2prompt._templates import (
    Seeds,
    Template,
    Variant,
    dataset,
    derive_seed,
    expand,
    matrix,
    sample,
    template,
    zipped,
)
from flux2prompt._versioning import (
    DiffEntry,
    Lock,
    LockCheck,
    PromptDiff,
    build_lock,
    check_lock,
    diff,
    read_lock,
    write_lock,
)
from flux2prompt.transport import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AsyncWorkersAI,
    AuthenticationError,
    CapacityError,
    ConfigurationError,
    ContentModeratedError,
    GatewayOptions,
    ImageError,
    ImageResult,
    InvalidInputError,
    ParameterError,
    QuotaExceededError,
    RateLimitError,
    ResponseError,
    WorkersAI,
    estimate_cost,
)

__version__ = "0.1.0"

__all__ = [
    "LINT_CODES",
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncWorkersAI",
    "AuthenticationError",
    "Camera",
    "CameraAngle",
    "CapacityError",
    "Composition",
    "ConfigurationError",
    "ContentModeratedError",
    "DiffEntry",
    "Flux2PromptError",
    "Focus",
    "GatewayOptions",
    "ImageError",
    "ImageResult",
    "InvalidInputError",
    "Lens",
    "LintWarning",
    "Lock",
    "LockCheck",
    "ParameterError",
    "Position",
    "Profile",
    "Prompt",
    "PromptBuilder",
    "PromptDiff",
    "PromptError",
    "PromptFile",
    "PromptValidationError",
    "QuotaExceededError",
    "RateLimitError",
    "ResponseError",
    "Seeds",
    "ShotDistance",
    "SourceError",
    "Subject",
    "Template",
    "TextElement",
    "ValidationIssue",
    "Variant",
    "WorkersAI",
    "build_lock",
    "camera",
    "check_lock",
    "color_phrase",
    "contrast_ratio",
    "dataset",
    "derive_seed",
    "diff",
    "estimate_cost",
    "expand",
    "harmony",
    "lint",
    "load",
    "load_prompt_file",
    "matrix",
    "normalize_hex",
    "palette",
    "placeholders",
    "read_lock",
    "sample",
    "scene",
    "schema",
    "subject",
    "substitute",
    "template",
    "text",
    "write_lock",
    "zipped",
]
