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

import typing as _typing

# First: under `python -m flux2prompt`, a Ctrl+C while this package loads exits 130 quietly.
import _flux2prompt_command
from flux2prompt._builder import PromptBuilder, camera, scene, subject, text
from flux2prompt._color import color_phrase, contrast_ratio, harmony, normalize_hex, palette
from flux2prompt._errors import (
    ConfigurationError,
    Flux2PromptError,
    ImageError,
    ParameterError,
    PromptError,
    PromptValidationError,
    SourceError,
    ValidationIssue,
)
from flux2prompt._exports import lazy_exports as _lazy_exports
from flux2prompt._exports import publish as _publish
from flux2prompt._files import LoadedSource, PromptFile, load, load_prompt_file, load_source
from flux2prompt._model import (
    Camera,
    CameraAngle,
    Composition,
    Focus,
    Lens,
    Position,
    Prompt,
    ShotDistance,
    Subject,
    TextElement,
)
from flux2prompt._placeholders import placeholders, substitute
from flux2prompt._schema import Profile, schema

if _typing.TYPE_CHECKING:
    # Seen by type checkers and IDEs; at run time these names are loaded on first use by
    # __getattr__ below, so `import flux2prompt` to build prompts does not import httpx and anyio,
    # nor the versioning machinery (git, lockfiles) that only `lock` and `diff` use, nor the
    # layout and the linter, which `compile` and `validate` never run, nor templates and
    # datasets, which a command that reads one prompt never expands.
    from flux2prompt._files._dataset import dataset
    from flux2prompt._layout import Box, Flux3Prompt, Layout, LayoutElement
    from flux2prompt._lint import LINT_CODES, LintWarning, lint
    from flux2prompt._references import Reference, ref
    from flux2prompt._templates import (
        Seeds,
        Template,
        Variant,
        derive_seed,
        draw,
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
        diff_sources,
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
        ContentModeratedError,
        GatewayOptions,
        ImageResult,
        InvalidInputError,
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
    "Box",
    "Camera",
    "CameraAngle",
    "CapacityError",
    "Composition",
    "ConfigurationError",
    "ContentModeratedError",
    "DiffEntry",
    "Flux2PromptError",
    "Flux3Prompt",
    "Focus",
    "GatewayOptions",
    "ImageError",
    "ImageResult",
    "InvalidInputError",
    "Layout",
    "LayoutElement",
    "Lens",
    "LintWarning",
    "LoadedSource",
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
    "Reference",
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
    "diff_sources",
    "draw",
    "estimate_cost",
    "expand",
    "harmony",
    "lint",
    "load",
    "load_prompt_file",
    "load_source",
    "matrix",
    "normalize_hex",
    "palette",
    "placeholders",
    "read_lock",
    "ref",
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

_publish(__name__, globals(), __all__)

# The transport's and versioning's names, loaded on first access (PEP 562): composing prompts is
# the common case, and the HTTP stack behind the transport is most of the package's import time.
# The layout's, the linter's, the templates' and datasets' names too: a command line run that
# only compiles or validates does not pay for them. (lazy_exports claims them for the root, so a
# subpackage that re-exports one, as flux2prompt.batch does, still publishes it as the root's.)
_VERSIONING_NAMES = (
    "DiffEntry",
    "Lock",
    "LockCheck",
    "PromptDiff",
    "build_lock",
    "check_lock",
    "diff",
    "diff_sources",
    "read_lock",
    "write_lock",
)
__getattr__, __dir__ = _lazy_exports(
    __name__,
    globals(),
    dict.fromkeys(_VERSIONING_NAMES, "flux2prompt._versioning")
    | dict.fromkeys(("Box", "Flux3Prompt", "Layout", "LayoutElement"), "flux2prompt._layout")
    | dict.fromkeys(("LINT_CODES", "LintWarning", "lint"), "flux2prompt._lint")
    | {"dataset": "flux2prompt._files._dataset"}
    | dict.fromkeys(("Reference", "ref"), "flux2prompt._references")
    | dict.fromkeys(
        (
            "Seeds",
            "Template",
            "Variant",
            "derive_seed",
            "draw",
            "expand",
            "matrix",
            "sample",
            "template",
            "zipped",
        ),
        "flux2prompt._templates",
    )
    | dict.fromkeys(
        (
            "APIConnectionError",
            "APIError",
            "APIStatusError",
            "APITimeoutError",
            "AsyncWorkersAI",
            "AuthenticationError",
            "CapacityError",
            "ContentModeratedError",
            "GatewayOptions",
            "ImageResult",
            "InvalidInputError",
            "QuotaExceededError",
            "RateLimitError",
            "ResponseError",
            "WorkersAI",
            "estimate_cost",
        ),
        "flux2prompt.transport",
    ),
)
_flux2prompt_command.hand_back()  # the package is loaded: a Ctrl+C is Python's again
