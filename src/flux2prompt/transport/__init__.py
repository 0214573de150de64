"""The transport: send FLUX.2 prompts to Cloudflare Workers AI and get images back.

It knows requests and responses, not how prompts are built: a compiled ``Prompt``, a builder,
a dict or a plain string goes in; an :class:`ImageResult` comes out, or an :class:`APIError`
that says what happened and what to do.

Example:
    >>> from flux2prompt.transport import build_request, estimate_cost
    >>> request = build_request("a red fox in fresh snow", model="klein-4b", seed=7)
    >>> request.fields["seed"], round(estimate_cost("klein-4b", 1024, 768), 6)
    ('7', 0.001148)
"""

from __future__ import annotations

from flux2prompt.transport._async_client import AsyncWorkersAI
from flux2prompt.transport._base import NOT_GIVEN, NotGiven, redact_headers
from flux2prompt.transport._catalogue import (
    MODELS,
    ModelSpec,
    Pricing,
    PricingScheme,
    UnknownModelWarning,
    estimate_cost,
    resolve_model,
)
from flux2prompt.transport._client import WorkersAI
from flux2prompt.transport._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CapacityError,
    ConfigurationError,
    ContentModeratedError,
    ImageError,
    InternalServerError,
    InvalidInputError,
    NotFoundError,
    ParameterError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitError,
    RequestTimeoutError,
    RequestTooLargeError,
    ResponseError,
    make_status_error,
)
from flux2prompt.transport._gateway import Backoff, GatewayOptions
from flux2prompt.transport._images import InputImage, detect_format, image_size
from flux2prompt.transport._request import WorkersAIRequest, build_request, coerce_prompt
from flux2prompt.transport._result import ImageResult
from flux2prompt.transport._retry import is_retryable, parse_retry_after, retry_delay

__all__ = [
    "MODELS",
    "NOT_GIVEN",
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncWorkersAI",
    "AuthenticationError",
    "Backoff",
    "BadRequestError",
    "CapacityError",
    "ConfigurationError",
    "ContentModeratedError",
    "GatewayOptions",
    "ImageError",
    "ImageResult",
    "InputImage",
    "InternalServerError",
    "InvalidInputError",
    "ModelSpec",
    "NotFoundError",
    "NotGiven",
    "ParameterError",
    "PermissionDeniedError",
    "Pricing",
    "PricingScheme",
    "QuotaExceededError",
    "RateLimitError",
    "RequestTimeoutError",
    "RequestTooLargeError",
    "ResponseError",
    "UnknownModelWarning",
    "WorkersAI",
    "WorkersAIRequest",
    "build_request",
    "coerce_prompt",
    "detect_format",
    "estimate_cost",
    "image_size",
    "is_retryable",
    "make_status_error",
    "parse_retry_after",
    "redact_headers",
    "resolve_model",
    "retry_delay",
]

# Public classes say they live here, so tracebacks and reprs show flux2prompt.transport.X
# rather than a private module (the habit of httpx).
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) and _obj.__module__.startswith("flux2prompt.transport._"):
        _obj.__module__ = __name__
del _name, _obj
