"""Defaults of the transport, in one place.

Every number here comes from ``docs/transport.md`` (and, behind it, Cloudflare's published
Workers AI documentation); change them here and nowhere else.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ACCOUNT_ID_ENV",
    "API_TOKEN_ENV",
    "BASE_URL_ENV",
    "DEFAULT_BASE_URL",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_DOWNLOAD_TIMEOUT",
    "DEFAULT_GATEWAY_BASE_URL",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_MODEL",
    "DEFAULT_READ_TIMEOUT",
    "GATEWAY_BASE_URL_ENV",
    "INITIAL_RETRY_DELAY",
    "MAX_INPUT_IMAGES",
    "MAX_INPUT_IMAGE_SIDE",
    "MAX_RESPONSE_BYTES",
    "MAX_RESULT_BYTES",
    "MAX_RESULT_REDIRECTS",
    "MAX_RETRY_AFTER",
    "MAX_RETRY_DELAY",
    "QUOTA_CODES",
    "RETRYABLE_STATUSES",
    "STALE_CONNECTION_WINDOW",
    "USER_AGENT",
]

ACCOUNT_ID_ENV: Final = "CLOUDFLARE_ACCOUNT_ID"
API_TOKEN_ENV: Final = "CLOUDFLARE_API_TOKEN"
BASE_URL_ENV: Final = "CLOUDFLARE_BASE_URL"
GATEWAY_BASE_URL_ENV: Final = "CLOUDFLARE_GATEWAY_BASE_URL"

DEFAULT_BASE_URL: Final = "https://api.cloudflare.com/client/v4"
DEFAULT_GATEWAY_BASE_URL: Final = "https://gateway.ai.cloudflare.com/v1"
DEFAULT_MODEL: Final = "flux-2-dev"

# FLUX.2 [dev] at 4 megapixels can take well over a minute: a generous read timeout, a short
# connect timeout (a dead host should fail fast and be retried). In seconds; the clients build
# their httpx.Timeout from them (read, write and pool share the first).
DEFAULT_READ_TIMEOUT: Final = 180.0
DEFAULT_CONNECT_TIMEOUT: Final = 10.0
DEFAULT_MAX_RETRIES: Final = 2

# Backoff: 0.5 s doubling to 8 s, scaled by a jitter factor in [0.75, 1.0]; a server's
# Retry-After is honoured up to 60 s (the conventions of Cloudflare's own SDK).
INITIAL_RETRY_DELAY: Final = 0.5
MAX_RETRY_DELAY: Final = 8.0
MAX_RETRY_AFTER: Final = 60.0

# Retried whatever the body says. 429 is retried only for code 3040 (capacity), see _retry.py.
RETRYABLE_STATUSES: Final = frozenset({408, 502, 503, 504})
# The daily free allowance is used: nothing changes before 00:00 UTC, never retry.
QUOTA_CODES: Final = frozenset({3036, 4006})
# A reused keep-alive connection that closes within this many seconds of the request being
# sent was closed idle by the server (the close was on its way): resent once. One that closes
# later held the request that long, long enough for a model to run: it may have been billed.
STALE_CONNECTION_WINDOW: Final = 0.5

MAX_INPUT_IMAGES: Final = 4
MAX_INPUT_IMAGE_SIDE: Final = 512

USER_AGENT: Final = "flux2-prompt"

# A proxied model answers with a URL to the image. It is fetched at once (BFL's signed URLs
# expire after 10 minutes) with its own timeout, in seconds for the whole download (connect
# included): a result that trickles in is not allowed to hold the caller for the 180 s of a
# generation. At most 64 MiB once decoded (a 4 MP PNG is about 12 MiB), following at most 3
# redirects, each checked like the first URL.
DEFAULT_DOWNLOAD_TIMEOUT: Final = 60.0
MAX_RESULT_BYTES: Final = 64 * 1024 * 1024
MAX_RESULT_REDIRECTS: Final = 3

# Every answer's body, on every download path, is bounded the same way (after decoding): a
# 4 MP image base64-encoded in its JSON envelope is about 16 MiB. Clients take
# max_response_bytes= to change it; it bounds their result-URL downloads as well.
MAX_RESPONSE_BYTES: Final = MAX_RESULT_BYTES
