"""``python -m flux2prompt.emulator``: serve the Workers AI emulator until SIGTERM or SIGINT.

Example:
    $ python -m flux2prompt.emulator --port 8787 --latency-ms 150 --error-503 0.1
    flux2prompt emulator listening on http://127.0.0.1:8787/client/v4
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from flux2prompt.emulator._config import TOKEN_ENV_VAR, config_from_options, in_option_words
from flux2prompt.emulator._server import listen_failure, serve_forever

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser; its options mirror ``flux2-prompt emulator`` one for one."""
    parser = argparse.ArgumentParser(
        prog="python -m flux2prompt.emulator",
        description="Serve a local Cloudflare Workers AI emulator for the FLUX.2 models.",
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    add("--port", type=int, default=0, help="port to bind; 0 picks a free one (default)")
    add(
        "--token",
        default=None,
        help=f"bearer token to require (default: ${TOKEN_ENV_VAR}, else accept any token)",
    )
    add("--latency-ms", type=float, default=0.0, help="added latency per request")
    add("--jitter-ms", type=float, default=0.0, help="extra random latency, 0..jitter")
    add("--rate-limit", type=int, default=None, help="requests per minute (token bucket)")
    add("--rate-limit-burst", type=int, default=None, help="bucket capacity (default limit/60)")
    add("--daily-quota", type=int, default=None, help="successful requests before 429/3036")
    add("--error-500", type=float, default=0.0, help="probability of a JSON 500")
    add("--error-502", type=float, default=0.0, help="probability of a JSON 502")
    add("--error-503", type=float, default=0.0, help="probability of a JSON 503")
    add("--error-504", type=float, default=0.0, help="probability of an HTML 504 (edge timeout)")
    add("--error-408", type=float, default=0.0, help="probability of a 408 / 3046")
    add("--code-4006", type=float, default=0.0, help="probability of a 429 / 4006 (daily quota)")
    add("--code-8007", type=float, default=0.0, help="probability of a 400 / 8007 (NSFW)")
    add("--code-5016", type=float, default=0.0, help="probability of a 403 / 5016 (agreement)")
    add("--code-7000", type=float, default=0.0, help="probability of a 500 / 7000 on the gateway")
    add("--drop", type=float, default=0.0, help="probability of closing without an answer")
    add("--html-502", type=float, default=0.0, help="probability of an HTML 502 page")
    add("--malformed-json", type=float, default=0.0, help="probability of a truncated 200 body")
    add("--invalid-base64", type=float, default=0.0, help="probability of garbage base64 in a 200")
    add("--not-an-image", type=float, default=0.0, help="probability of a GIF in a 200")
    add("--seed", type=int, default=0, help="seed for every random choice (default 0)")
    add("--format", default="jpeg", choices=["jpeg", "jpg", "png", "webp"], help="image format")
    add(
        "--lenient-klein-steps",
        action="store_true",
        help="accept and ignore steps sent to a klein model (a guess; default: refuse, 5006)",
    )
    add(
        "--lenient-fields",
        action="store_true",
        help="ignore form fields no model takes (a guess; default: refuse, 5006)",
    )
    add("--bfl-task-ms", type=float, default=200.0, help="how long a BFL task runs (default 200)")
    add("--bfl-max-active", type=int, default=24, help="BFL tasks at once before 429 (default 24)")
    add(
        "--bfl-request-moderated",
        type=float,
        default=0.0,
        help="probability of a BFL task ending in Request Moderated",
    )
    add(
        "--bfl-content-moderated",
        type=float,
        default=0.0,
        help="probability of a BFL task ending in Content Moderated",
    )
    add("--bfl-error", type=float, default=0.0, help="probability of a BFL task ending in Error")
    add(
        "--bfl-credits",
        type=float,
        default=None,
        help="the BFL account's credits; a submit costing more answers 402 (default: no limit)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Parse ``argv`` and serve until SIGTERM or SIGINT."""
    parser = build_parser()
    args = parser.parse_args(argv)
    options = vars(args)
    image_format = options.pop("format")
    try:
        config = config_from_options(**options, image_format=image_format)
    except ValueError as exc:
        parser.error(in_option_words(str(exc)))
    try:
        serve_forever(config)
    except OSError as exc:  # binding failed: the port is taken, the host does not resolve, ...
        parser.exit(1, f"{parser.prog}: error: {listen_failure(config, exc)}\n")


if __name__ == "__main__":
    main()
