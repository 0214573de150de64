"""CLI command: ``flux2-prompt emulator``, the local Workers AI emulator in the foreground.

It takes the same options as ``python -m flux2prompt.emulator`` and hands them to the same
:func:`flux2prompt.emulator.config_from_options`, so the two cannot drift apart.

Example:
    $ flux2-prompt emulator --port 8787 --rate-limit 720 --error-503 0.05
    flux2prompt emulator listening on http://127.0.0.1:8787/client/v4
"""

from __future__ import annotations

from typing import Annotated

import typer

from flux2prompt.cli._app import app
from flux2prompt.cli._output import EXIT_INVALID, EXIT_USAGE, fail, require_emulator

__all__ = ["emulator"]

# Spelled out rather than imported: importing flux2prompt.emulator needs Pillow (an optional
# extra), and every command module is imported whenever any command runs. A test keeps the two
# names equal.
_TOKEN_ENV_VAR = "FLUX2PROMPT_EMULATOR_TOKEN"


@app.command("emulator")
def emulator(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind; 0 picks a free one.")] = 0,
    token: Annotated[
        str | None,
        typer.Option(
            envvar=_TOKEN_ENV_VAR,
            show_envvar=True,
            help="Bearer token to require (default: accept any non-empty token).",
        ),
    ] = None,
    latency_ms: Annotated[float, typer.Option(help="Added latency per request.")] = 0.0,
    jitter_ms: Annotated[float, typer.Option(help="Extra random latency, 0..jitter.")] = 0.0,
    rate_limit: Annotated[
        int | None, typer.Option(help="Requests per minute (token bucket).")
    ] = None,
    rate_limit_burst: Annotated[
        int | None, typer.Option(help="Bucket capacity (default: limit // 60, at least 1).")
    ] = None,
    daily_quota: Annotated[
        int | None, typer.Option(help="Successful requests before 429 / code 3036.")
    ] = None,
    error_500: Annotated[float, typer.Option(help="Probability of a JSON 500.")] = 0.0,
    error_502: Annotated[float, typer.Option(help="Probability of a JSON 502.")] = 0.0,
    error_503: Annotated[float, typer.Option(help="Probability of a JSON 503.")] = 0.0,
    error_504: Annotated[
        float, typer.Option(help="Probability of an HTML 504 (edge timeout).")
    ] = 0.0,
    error_408: Annotated[float, typer.Option(help="Probability of a 408 / 3046.")] = 0.0,
    code_4006: Annotated[
        float, typer.Option(help="Probability of a 429 / 4006 (daily quota).")
    ] = 0.0,
    code_8007: Annotated[float, typer.Option(help="Probability of a 400 / 8007 (NSFW).")] = 0.0,
    code_5016: Annotated[
        float, typer.Option(help="Probability of a 403 / 5016 (agreement).")
    ] = 0.0,
    code_7000: Annotated[
        float, typer.Option(help="Probability of a 500 / 7000 on the gateway route.")
    ] = 0.0,
    drop: Annotated[float, typer.Option(help="Probability of closing without answering.")] = 0.0,
    html_502: Annotated[float, typer.Option(help="Probability of an HTML 502 page.")] = 0.0,
    malformed_json: Annotated[
        float, typer.Option(help="Probability of a truncated 200 body.")
    ] = 0.0,
    invalid_base64: Annotated[
        float, typer.Option(help="Probability of garbage base64 in a 200.")
    ] = 0.0,
    not_an_image: Annotated[
        float, typer.Option(help="Probability of a 200 holding a GIF, no image read here.")
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed for every random choice.")] = 0,
    image_format: Annotated[
        str, typer.Option("--format", help="Image format: jpeg, png or webp.")
    ] = "jpeg",
    lenient_klein_steps: Annotated[
        bool,
        typer.Option(
            "--lenient-klein-steps",
            help="Accept and ignore steps sent to a klein model (a guess; default: refuse).",
        ),
    ] = False,
    lenient_fields: Annotated[
        bool,
        typer.Option(
            "--lenient-fields", help="Ignore form fields no model takes (a guess; default: refuse)."
        ),
    ] = False,
    bfl_task_ms: Annotated[
        float, typer.Option(help="How long a Black Forest Labs task runs, in ms.")
    ] = 200.0,
    bfl_max_active: Annotated[
        int, typer.Option(help="Black Forest Labs tasks at once before 429.")
    ] = 24,
    bfl_request_moderated: Annotated[
        float, typer.Option(help="Probability of a BFL task ending in Request Moderated.")
    ] = 0.0,
    bfl_content_moderated: Annotated[
        float, typer.Option(help="Probability of a BFL task ending in Content Moderated.")
    ] = 0.0,
    bfl_error: Annotated[
        float, typer.Option(help="Probability of a BFL task ending in Error.")
    ] = 0.0,
    bfl_credits: Annotated[
        float | None,
        typer.Option(
            help="The BFL account's credits; a submit costing more answers 402 (default: no limit)."
        ),
    ] = None,
) -> None:
    """Serve a local Cloudflare Workers AI emulator until Ctrl+C (or SIGTERM).

    Point a client at the printed base URL instead of https://api.cloudflare.com/client/v4.
    Black Forest Labs' API is served on the same port below /bfl (instead of https://api.bfl.ai).
    """
    require_emulator("flux2-prompt emulator")
    try:
        from flux2prompt.emulator import config_from_options, serve_forever
        from flux2prompt.emulator._config import in_option_words
        from flux2prompt.emulator._server import listen_failure
    except ImportError as exc:  # Pillow, an optional extra, is missing
        fail(str(exc), EXIT_USAGE)
    try:
        config = config_from_options(
            host=host,
            port=port,
            token=token,
            latency_ms=latency_ms,
            jitter_ms=jitter_ms,
            rate_limit=rate_limit,
            rate_limit_burst=rate_limit_burst,
            daily_quota=daily_quota,
            error_500=error_500,
            error_502=error_502,
            error_503=error_503,
            error_504=error_504,
            error_408=error_408,
            code_4006=code_4006,
            code_8007=code_8007,
            code_5016=code_5016,
            code_7000=code_7000,
            drop=drop,
            html_502=html_502,
            malformed_json=malformed_json,
            invalid_base64=invalid_base64,
            not_an_image=not_an_image,
            seed=seed,
            image_format=image_format,
            lenient_klein_steps=lenient_klein_steps,
            lenient_fields=lenient_fields,
            bfl_task_ms=bfl_task_ms,
            bfl_max_active=bfl_max_active,
            bfl_request_moderated=bfl_request_moderated,
            bfl_content_moderated=bfl_content_moderated,
            bfl_error=bfl_error,
            bfl_credits=bfl_credits,
        )
    except ValueError as exc:
        fail(in_option_words(str(exc)), EXIT_USAGE)
    try:
        serve_forever(config)
    except OSError as exc:  # binding failed: the port is taken, the host does not resolve, ...
        fail(listen_failure(config, exc), EXIT_INVALID)
