"""A local Cloudflare Workers AI emulator for the FLUX.2 models, speaking real HTTP.

It answers the same routes, envelopes and error codes as Workers AI (and the AI Gateway route,
flux-1-schnell's JSON body, and the proxied ``/ai/run`` envelope, whose image it serves from an
expiring URL on its own address), draws a deterministic placeholder image from the prompt,
records every request, and injects faults (latency, rate limits, quota, 5xx, HTML 502, dropped
connections, broken bodies) from a seeded random generator, so a test run is reproducible.

Example:
    >>> import httpx
    >>> from flux2prompt.emulator import serve
    >>> with serve(seed=0) as emu:
    ...     url = f"{emu.base_url}/accounts/acc/ai/run/@cf/black-forest-labs/flux-2-klein-4b"
    ...     r = httpx.post(url, headers={"Authorization": "Bearer t"},
    ...                    files={"prompt": (None, "a lighthouse"), "width": (None, "512")})
    >>> r.status_code, r.headers["cf-ray"].endswith("-EMU")
    (200, True)
"""

from __future__ import annotations

from importlib.util import find_spec as _find_spec

from flux2prompt._exports import publish as _publish

# The placeholder images and the input checks need Pillow; say which extra brings it.
if _find_spec("PIL") is None:  # pragma: no cover - exercised in a subprocess test
    raise ImportError("flux2prompt.emulator needs Pillow: pip install 'flux2-prompt[emulator]'")

from flux2prompt.emulator._config import EmulatorConfig, config_from_options
from flux2prompt.emulator._server import (
    Emulator,
    RecordedFile,
    RecordedRequest,
    serve,
    serve_forever,
)
from flux2prompt.emulator._spawn import spawn

__all__ = [
    "Emulator",
    "EmulatorConfig",
    "RecordedFile",
    "RecordedRequest",
    "config_from_options",
    "serve",
    "serve_forever",
    "spawn",
]

_publish(__name__, globals(), __all__)
