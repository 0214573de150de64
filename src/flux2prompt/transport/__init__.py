"""The transport: send FLUX.2 prompts to Cloudflare Workers AI and get images back.

It knows requests and responses, not how prompts are built: a compiled ``Prompt``, a builder,
a dict or a plain string goes in; an :class:`ImageResult` comes out, or an :class:`APIError`
that says what happened and what to do.

The helpers behind the clients (``coerce_prompt``, ``make_status_error``, ``is_retryable``,
``retry_delay``, ``redact_headers``, ...) stay in their private modules: importable for tests
and tools, but not part of the public surface. The retry policy's public face is
:func:`retry_wait`, for callers that run their own loop with ``max_retries=0``, with
:func:`long_retry_after` for the one case it refuses for the wait alone.

Example:
    >>> from flux2prompt.transport import build_request, estimate_cost
    >>> request = build_request("a red fox in fresh snow", model="klein-4b", seed=7)
    >>> request.fields["seed"], round(estimate_cost("klein-4b", 1024, 768), 6)
    ('7', 0.001148)
"""

from __future__ import annotations

import typing as _typing

from flux2prompt._exports import lazy_exports as _lazy_exports
from flux2prompt._exports import publish as _publish
from flux2prompt.transport._advice import RequestAdvice, RequestAdviceWarning
from flux2prompt.transport._bfl_catalogue import (
    BFL_MODELS,
    BFLModelSpec,
    estimate_bfl_cost,
    resolve_bfl_model,
)
from flux2prompt.transport._bfl_request import BFLRequest, build_bfl_request
from flux2prompt.transport._catalogue import (
    MODELS,
    ModelSpec,
    Pricing,
    PricingScheme,
    Provider,
    Route,
    UnknownModelWarning,
    estimate_cost,
    resolve_model,
)
from flux2prompt.transport._constants import DEFAULT_MODEL
from flux2prompt.transport._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CapacityError,
    ChainedError,
    ConfigurationError,
    ContentModeratedError,
    GenerationStateError,
    ImageError,
    InputModeratedError,
    InsufficientCreditsError,
    InternalServerError,
    InvalidInputError,
    InvalidRequestHeadersError,
    NotFoundError,
    OutputModeratedError,
    ParameterError,
    PermissionDeniedError,
    PossiblyBilledError,
    QuotaExceededError,
    RateLimitError,
    RequestTimeoutError,
    RequestTooLargeError,
    ResponseError,
    ResultDownloadError,
    TaskError,
    TaskFailedError,
    TaskModeratedError,
    TaskNotFoundError,
    TaskTimeoutError,
    TooManyActiveTasksError,
    UnprocessableRequestError,
)
from flux2prompt.transport._gateway import Backoff, GatewayOptions
from flux2prompt.transport._images import InputImage
from flux2prompt.transport._provenance import (
    PROVENANCE_NAMESPACE,
    Provenance,
    ProvenanceError,
    read_provenance,
    stamp_provenance,
    strip_provenance,
    write_provenance,
)
from flux2prompt.transport._request import WorkersAIRequest, build_request
from flux2prompt.transport._result import ImageResult
from flux2prompt.transport._retry import long_retry_after, retry_wait
from flux2prompt.transport._webhooks import WEBHOOK_SIGNATURE_HEADER, sign_webhook, verify_webhook

if _typing.TYPE_CHECKING:
    # Seen by type checkers and IDEs; at run time the clients load on first use (below), so
    # building and fingerprinting a request never imports the HTTP stack (httpx, anyio).
    from flux2prompt.transport._async_client import AsyncWorkersAI
    from flux2prompt.transport._base import DEFAULT_TIMEOUT
    from flux2prompt.transport._bfl import BFL
    from flux2prompt.transport._bfl_async import AsyncBFL
    from flux2prompt.transport._bfl_base import BFLTask
    from flux2prompt.transport._client import WorkersAI
    from flux2prompt.transport._pools import PooledTransport

__all__ = [
    "BFL",
    "BFL_MODELS",
    "DEFAULT_MODEL",
    "DEFAULT_TIMEOUT",
    "MODELS",
    "PROVENANCE_NAMESPACE",
    "WEBHOOK_SIGNATURE_HEADER",
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncBFL",
    "AsyncWorkersAI",
    "AuthenticationError",
    "BFLModelSpec",
    "BFLRequest",
    "BFLTask",
    "Backoff",
    "BadRequestError",
    "CapacityError",
    "ChainedError",
    "ConfigurationError",
    "ContentModeratedError",
    "GatewayOptions",
    "GenerationStateError",
    "ImageError",
    "ImageResult",
    "InputImage",
    "InputModeratedError",
    "InsufficientCreditsError",
    "InternalServerError",
    "InvalidInputError",
    "InvalidRequestHeadersError",
    "ModelSpec",
    "NotFoundError",
    "OutputModeratedError",
    "ParameterError",
    "PermissionDeniedError",
    "PooledTransport",
    "PossiblyBilledError",
    "Pricing",
    "PricingScheme",
    "Provenance",
    "ProvenanceError",
    "Provider",
    "QuotaExceededError",
    "RateLimitError",
    "RequestAdvice",
    "RequestAdviceWarning",
    "RequestTimeoutError",
    "RequestTooLargeError",
    "ResponseError",
    "ResultDownloadError",
    "Route",
    "TaskError",
    "TaskFailedError",
    "TaskModeratedError",
    "TaskNotFoundError",
    "TaskTimeoutError",
    "TooManyActiveTasksError",
    "UnknownModelWarning",
    "UnprocessableRequestError",
    "WorkersAI",
    "WorkersAIRequest",
    "build_bfl_request",
    "build_request",
    "estimate_bfl_cost",
    "estimate_cost",
    "long_retry_after",
    "read_provenance",
    "resolve_bfl_model",
    "resolve_model",
    "retry_wait",
    "sign_webhook",
    "stamp_provenance",
    "strip_provenance",
    "verify_webhook",
    "write_provenance",
]

# Public names say they live here, so tracebacks and reprs show flux2prompt.transport.X rather
# than a private module (the habit of httpx); names the root exports keep flux2prompt.X.
_publish(__name__, globals(), __all__)
__getattr__, __dir__ = _lazy_exports(
    __name__,
    globals(),
    {
        "AsyncBFL": "flux2prompt.transport._bfl_async",
        "AsyncWorkersAI": "flux2prompt.transport._async_client",
        "BFL": "flux2prompt.transport._bfl",
        "BFLTask": "flux2prompt.transport._bfl_base",
        "DEFAULT_TIMEOUT": "flux2prompt.transport._base",
        "WorkersAI": "flux2prompt.transport._client",
        "PooledTransport": "flux2prompt.transport._pools",
    },
)
