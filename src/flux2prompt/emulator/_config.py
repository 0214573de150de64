"""The emulator's configuration: one frozen dataclass, and the two ways to build it from options.

``config_from_options`` is the single place where command-line options become an
:class:`EmulatorConfig`; both ``python -m flux2prompt.emulator`` and ``flux2-prompt emulator``
call it, and :func:`config_to_argv` is its inverse (used by ``spawn()`` to start a subprocess).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Literal, cast, get_args

__all__ = [
    "BFL_STATUSES",
    "ERROR_CODES",
    "ERROR_STATUSES",
    "OVERRIDABLE_FIELDS",
    "TOKEN_ENV_VAR",
    "EmulatorConfig",
    "ImageFormat",
    "config_from_options",
    "config_to_argv",
    "in_option_words",
    "parse_format",
    "parse_override_header",
]

ImageFormat = Literal["jpeg", "png", "webp"]
_FORMATS: tuple[str, ...] = get_args(ImageFormat)

#: The statuses that ``error_ratios`` may inject.
ERROR_STATUSES: tuple[int, ...] = (500, 502, 503, 504, 408)

#: The Cloudflare codes that ``code_ratios`` may inject, with the status each comes with:
#: 4006 the daily free allocation used (429), 8007 a prompt flagged as NSFW (400), 5016 the
#: model's agreement not accepted (403), 7000 the gateway's failure (500, gateway route only).
ERROR_CODES: Mapping[int, int] = MappingProxyType({4006: 429, 8007: 400, 5016: 403, 7000: 500})

#: The fields that the ``x-emulator-config`` header may override for one request. State that spans
#: requests (rate limit, quota, seed, token, address) cannot change per request.
OVERRIDABLE_FIELDS: frozenset[str] = frozenset(
    {
        "latency_ms",
        "jitter_ms",
        "error_ratios",
        "code_ratios",
        "drop_ratio",
        "html_502_ratio",
        "malformed_json_ratio",
        "invalid_base64_ratio",
        "not_an_image_ratio",
        "image_format",
        "strict_klein_steps",
        "strict_fields",
        "bfl_task_ms",
        "bfl_status_ratios",
    }
)

#: The final statuses that ``bfl_status_ratios`` may inject into a BFL task.
BFL_STATUSES: tuple[str, ...] = ("Request Moderated", "Content Moderated", "Error")

#: The environment variable the command line reads the token from, so that ``spawn()`` does not
#: have to put a secret on a command line that every user of the machine can read with ``ps``.
TOKEN_ENV_VAR = "FLUX2PROMPT_EMULATOR_TOKEN"

_RATIO_FIELDS = (
    "drop_ratio",
    "html_502_ratio",
    "malformed_json_ratio",
    "invalid_base64_ratio",
    "not_an_image_ratio",
)


@dataclass(frozen=True)
class EmulatorConfig:
    """How the local Workers AI emulator behaves; every field has a default.

    Faults are drawn from ``random.Random(seed)``, so a run is reproducible given the order of
    requests. ``token=None`` accepts any non-empty bearer token. ``error_ratios`` injects
    statuses (500, 502, 503, 504, 408), ``code_ratios`` Cloudflare codes (4006, 8007, 5016,
    7000); one draw decides among all of them, so together they sum to at most 1.
    ``invalid_base64_ratio`` (garbage instead of base64) and ``not_an_image_ratio`` (valid
    base64 of a GIF, an image flux2prompt does not read) share one draw too.

    ``strict_klein_steps`` and ``strict_fields`` are the emulator's guesses where Cloudflare's
    documentation is silent (see docs/emulator.md, "Where the emulator guesses"): by default
    ``steps`` sent to a klein model and form fields no model takes are refused (400 / 5006);
    ``False`` accepts and ignores them.

    Example:
        >>> cfg = EmulatorConfig(latency_ms=50, error_ratios={503: 0.1}, seed=7)
        >>> cfg.error_ratios[503]
        0.1
        >>> cfg.effective_burst is None
        True
        >>> EmulatorConfig(rate_limit_per_minute=720).effective_burst
        12
    """

    host: str = "127.0.0.1"
    port: int = 0
    # repr=False: a config printed in a log or a failing assertion must not leak the secret.
    token: str | None = field(default=None, repr=False)
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    rate_limit_per_minute: int | None = None
    rate_limit_burst: int | None = None
    daily_quota: int | None = None
    # hash=False: a mapping is not hashable, and the config should stay usable as a dict key.
    error_ratios: Mapping[int, float] = field(default_factory=dict, hash=False)
    code_ratios: Mapping[int, float] = field(default_factory=dict, hash=False)
    drop_ratio: float = 0.0
    html_502_ratio: float = 0.0
    malformed_json_ratio: float = 0.0
    invalid_base64_ratio: float = 0.0
    not_an_image_ratio: float = 0.0
    seed: int = 0
    image_format: ImageFormat = "jpeg"
    strict_klein_steps: bool = True
    strict_fields: bool = True
    # The BFL mode (below /bfl): how long a task runs, how many may run at once, and the
    # chance that a task ends moderated or failed instead of Ready.
    bfl_task_ms: float = 200.0
    bfl_max_active: int = 24
    bfl_status_ratios: Mapping[str, float] = field(default_factory=dict, hash=False)
    # The account's credit balance in the BFL mode: ``None`` never runs out. A submit that costs
    # more than is left answers 402; each task that ends Ready is charged its cost.
    bfl_credits: float | None = None

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("host must not be empty")
        _check_int("port", self.port, low=0, high=65535)
        if self.token is not None and not self.token.strip():
            raise ValueError("token must be None (accept any bearer token) or a non-empty string")
        # At most a day: a wait the server's clock can keep (1e300 ms would overflow it).
        for name in ("latency_ms", "jitter_ms"):
            value = getattr(self, name)
            _check_float(name, value, low=0.0)
            if value > MAX_LATENCY_MS:
                limit = f"{MAX_LATENCY_MS:,.0f}"
                raise ValueError(f"{name} must be at most {limit} (a day), got {value}")
        if self.rate_limit_per_minute is not None:
            _check_int("rate_limit_per_minute", self.rate_limit_per_minute, low=1)
        if self.rate_limit_burst is not None:
            _check_int("rate_limit_burst", self.rate_limit_burst, low=1)
        if self.daily_quota is not None:
            _check_int("daily_quota", self.daily_quota, low=0)
        for name in _RATIO_FIELDS:
            _check_float(name, getattr(self, name), low=0.0, high=1.0)
        _check_int("seed", self.seed)
        if self.image_format not in _FORMATS:
            choices = ", ".join(_FORMATS)
            raise ValueError(f"image_format must be one of {choices}, got {self.image_format!r}")
        for name in ("strict_klein_steps", "strict_fields"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        # Stored read-only with int keys, so JSON-born {"503": 1.0} and {503: 1.0} compare equal.
        statuses = _normalise_ratios(
            "error_ratios", self.error_ratios, ERROR_STATUSES, "HTTP status"
        )
        codes = _normalise_ratios(
            "code_ratios", self.code_ratios, tuple(ERROR_CODES), "Cloudflare code"
        )
        # One draw decides among all of them, so their probabilities must fit in [0, 1] together.
        total = sum(statuses.values()) + sum(codes.values())
        if total > 1.0 + 1e-9:
            names = "error_ratios" if not codes else "error_ratios and code_ratios"
            raise ValueError(f"{names} must sum to at most 1.0, got {total:g}")
        # One draw decides a success's body too: garbage base64, no image, or the image.
        bodies = self.invalid_base64_ratio + self.not_an_image_ratio
        if bodies > 1.0 + 1e-9:
            raise ValueError(
                f"invalid_base64_ratio and not_an_image_ratio must sum to at most 1.0, got "
                f"{bodies:g}"
            )
        object.__setattr__(self, "error_ratios", statuses)
        object.__setattr__(self, "code_ratios", codes)
        _check_float("bfl_task_ms", self.bfl_task_ms, low=0.0)
        _check_int("bfl_max_active", self.bfl_max_active, low=1)
        if self.bfl_credits is not None:
            _check_float("bfl_credits", self.bfl_credits, low=0.0)
        if not isinstance(self.bfl_status_ratios, Mapping):
            raise ValueError(
                "bfl_status_ratios must be a mapping of status to probability, got "
                f"{self.bfl_status_ratios!r}"
            )
        bfl: dict[str, float] = {}
        for status, ratio in self.bfl_status_ratios.items():
            if status not in BFL_STATUSES:
                raise ValueError(
                    f"bfl_status_ratios may only inject {', '.join(BFL_STATUSES)}, got {status!r}"
                )
            _check_float(f"bfl_status_ratios[{status!r}]", ratio, low=0.0, high=1.0)
            bfl[status] = float(ratio)
        if sum(bfl.values()) > 1.0 + 1e-9:
            raise ValueError(
                f"bfl_status_ratios must sum to at most 1.0, got {sum(bfl.values()):g}"
            )
        object.__setattr__(self, "bfl_status_ratios", MappingProxyType(bfl))

    @property
    def effective_burst(self) -> int | None:
        """The token-bucket capacity: ``rate_limit_burst``, else ``max(1, limit // 60)``."""
        if self.rate_limit_per_minute is None:
            return None
        if self.rate_limit_burst is not None:
            return self.rate_limit_burst
        return max(1, self.rate_limit_per_minute // 60)


def _check_int(
    name: str, value: object, *, low: int | None = None, high: int | None = None
) -> None:
    # bool is an int subclass; True as a port or a quota is always a mistake.
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")


#: The longest ``latency_ms`` (and ``jitter_ms``) the emulator waits: a day.
MAX_LATENCY_MS: Final = 86_400_000.0


def _check_float(name: str, value: object, *, low: float, high: float | None = None) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {bound}, got {value}")


def _normalise_ratios(
    name: str, ratios: object, allowed: tuple[int, ...], what: str
) -> Mapping[int, float]:
    if not isinstance(ratios, Mapping):
        raise ValueError(f"{name} must be a mapping of {what} to probability, got {ratios!r}")
    result: dict[int, float] = {}
    for key, value in ratios.items():
        try:
            number = int(key)
        except (TypeError, ValueError):
            plural = "HTTP statuses" if what == "HTTP status" else f"{what}s"
            raise ValueError(f"{name} keys must be {plural}, got {key!r}") from None
        if number not in allowed:
            choices = ", ".join(map(str, allowed))
            raise ValueError(f"{name} may only inject {choices}, got {number}")
        _check_float(f"{name}[{number}]", value, low=0.0, high=1.0)
        result[number] = float(value)
    return MappingProxyType(result)


# Each field of EmulatorConfig that a command-line option sets, and that option.
_FIELD_OPTIONS: Mapping[str, str] = MappingProxyType(
    {
        "host": "--host",
        "port": "--port",
        "token": "--token",
        "latency_ms": "--latency-ms",
        "jitter_ms": "--jitter-ms",
        "rate_limit_per_minute": "--rate-limit",
        "rate_limit_burst": "--rate-limit-burst",
        "daily_quota": "--daily-quota",
        "drop_ratio": "--drop",
        "html_502_ratio": "--html-502",
        "malformed_json_ratio": "--malformed-json",
        "invalid_base64_ratio": "--invalid-base64",
        "not_an_image_ratio": "--not-an-image",
        "seed": "--seed",
        "image_format": "--format",
        "bfl_task_ms": "--bfl-task-ms",
        "bfl_max_active": "--bfl-max-active",
        "bfl_credits": "--bfl-credits",
    }
)
_SUMS: Mapping[str, str] = MappingProxyType(
    {
        "error_ratios and code_ratios": "the --error-* and --code-* options",
        "error_ratios": "the --error-* options",
        "code_ratios": "the --code-* options",
        "invalid_base64_ratio and not_an_image_ratio": "--invalid-base64 and --not-an-image",
        "bfl_status_ratios": (
            "the --bfl-request-moderated, --bfl-content-moderated and --bfl-error options"
        ),
    }
)
_FIELD_AT_START = re.compile(r"(\w+)(?:\[([^\]]+)\])?")


def in_option_words(problem: str) -> str:
    """``problem`` (a ``ValueError`` of :class:`EmulatorConfig`, worded by its fields) with the
    command-line option that sets the field, for the two command lines.

    Example:
        >>> in_option_words("error_ratios[503] must be between 0.0 and 1.0, got 2.0")
        'error_ratios[503] must be between 0.0 and 1.0, got 2.0 (option --error-503)'
        >>> in_option_words("bfl_status_ratios['Request Moderated'] must be >= 0.0, got -1")
        "bfl_status_ratios['Request Moderated'] must be >= 0.0, got -1 (option --bfl-request-moderated)"
    """  # noqa: E501
    for fields, options in _SUMS.items():
        if problem.startswith(f"{fields} must sum"):
            return f"{problem} ({options})"
    match = _FIELD_AT_START.match(problem)
    if match is None:
        return problem
    field_name, key = match.groups()
    option = _FIELD_OPTIONS.get(field_name)
    if key is not None and field_name in ("error_ratios", "code_ratios"):
        option = f"--{field_name.split('_')[0]}-{key}"
    elif key is not None and field_name == "bfl_status_ratios":
        option = "--bfl-" + key.strip("'\"").split()[0].lower()
        option += "-moderated" if "Moderated" in key else ""
    return f"{problem} (option {option})" if option else problem


def parse_format(value: str) -> ImageFormat:
    """Return the canonical image format for ``value`` (``jpg`` is accepted for ``jpeg``).

    Example:
        >>> parse_format("JPG")
        'jpeg'
    """
    name = value.strip().lower()
    if name == "jpg":
        name = "jpeg"
    if name not in _FORMATS:
        raise ValueError(f"image format must be one of {', '.join(_FORMATS)}, got {value!r}")
    return cast(ImageFormat, name)


def parse_override_header(config: EmulatorConfig, raw: str) -> EmulatorConfig:
    """Apply an ``x-emulator-config`` header (a JSON object) to ``config`` for one request.

    Raises ``ValueError`` with a message fit for the client when the header is unusable.

    Example:
        >>> cfg = parse_override_header(EmulatorConfig(), '{"error_ratios": {"503": 1.0}}')
        >>> dict(cfg.error_ratios)
        {503: 1.0}
    """
    try:
        overrides = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"x-emulator-config is not valid JSON: {exc}") from None
    except RecursionError:
        raise ValueError("x-emulator-config is nested too deeply; send a flat object") from None
    if not isinstance(overrides, dict):
        raise ValueError("x-emulator-config must be a JSON object")
    unknown = sorted(set(overrides) - OVERRIDABLE_FIELDS)
    if unknown:
        allowed = ", ".join(sorted(OVERRIDABLE_FIELDS))
        raise ValueError(
            f"x-emulator-config cannot set {', '.join(unknown)}; per-request fields are: {allowed}"
        )
    if "image_format" in overrides:
        if not isinstance(overrides["image_format"], str):
            raise ValueError("x-emulator-config: image_format must be a string")
        overrides["image_format"] = parse_format(overrides["image_format"])
    try:
        return dataclasses.replace(config, **overrides)
    except ValueError as exc:
        raise ValueError(f"x-emulator-config: {exc}") from None


def config_from_options(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    latency_ms: float = 0.0,
    jitter_ms: float = 0.0,
    rate_limit: int | None = None,
    rate_limit_burst: int | None = None,
    daily_quota: int | None = None,
    error_500: float = 0.0,
    error_502: float = 0.0,
    error_503: float = 0.0,
    error_504: float = 0.0,
    error_408: float = 0.0,
    code_4006: float = 0.0,
    code_8007: float = 0.0,
    code_5016: float = 0.0,
    code_7000: float = 0.0,
    drop: float = 0.0,
    html_502: float = 0.0,
    malformed_json: float = 0.0,
    invalid_base64: float = 0.0,
    not_an_image: float = 0.0,
    seed: int = 0,
    image_format: str = "jpeg",
    lenient_klein_steps: bool = False,
    lenient_fields: bool = False,
    bfl_task_ms: float = 200.0,
    bfl_max_active: int = 24,
    bfl_request_moderated: float = 0.0,
    bfl_content_moderated: float = 0.0,
    bfl_error: float = 0.0,
    bfl_credits: float | None = None,
) -> EmulatorConfig:
    """Build an :class:`EmulatorConfig` from the command-line options (same names, flattened).

    An empty ``token`` means "accept any bearer token"; a ``token`` of ``None`` falls back to the
    ``FLUX2PROMPT_EMULATOR_TOKEN`` environment variable. Zero error ratios are left out.

    Example:
        >>> cfg = config_from_options(latency_ms=20, error_503=0.5, image_format="png")
        >>> (cfg.latency_ms, dict(cfg.error_ratios), cfg.image_format)
        (20, {503: 0.5}, 'png')
    """
    if token is None:
        token = os.environ.get(TOKEN_ENV_VAR)
    ratios = {500: error_500, 502: error_502, 503: error_503, 504: error_504, 408: error_408}
    bfl = dict(
        zip(BFL_STATUSES, (bfl_request_moderated, bfl_content_moderated, bfl_error), strict=True)
    )
    codes = {4006: code_4006, 8007: code_8007, 5016: code_5016, 7000: code_7000}
    return EmulatorConfig(
        host=host,
        port=port,
        token=token or None,
        latency_ms=latency_ms,
        jitter_ms=jitter_ms,
        rate_limit_per_minute=rate_limit,
        rate_limit_burst=rate_limit_burst,
        daily_quota=daily_quota,
        error_ratios={status: ratio for status, ratio in ratios.items() if ratio},
        code_ratios={code: ratio for code, ratio in codes.items() if ratio},
        drop_ratio=drop,
        html_502_ratio=html_502,
        malformed_json_ratio=malformed_json,
        invalid_base64_ratio=invalid_base64,
        not_an_image_ratio=not_an_image,
        seed=seed,
        image_format=parse_format(image_format),
        strict_klein_steps=not lenient_klein_steps,
        strict_fields=not lenient_fields,
        bfl_task_ms=bfl_task_ms,
        bfl_max_active=bfl_max_active,
        bfl_status_ratios={status: ratio for status, ratio in bfl.items() if ratio},
        bfl_credits=bfl_credits,
    )


def config_to_argv(config: EmulatorConfig) -> list[str]:
    """Return command-line options that rebuild ``config`` (except the token, see below).

    The token is deliberately left out: pass it through ``FLUX2PROMPT_EMULATOR_TOKEN`` instead,
    because a command line is visible to every process on the machine.

    Example:
        >>> argv = config_to_argv(EmulatorConfig(latency_ms=5, error_ratios={500: 0.25}))
        >>> argv[4:8]
        ['--latency-ms', '5', '--error-500', '0.25']
    """
    argv = ["--host", config.host, "--port", str(config.port)]
    optional: list[tuple[str, Any, Any]] = [
        ("--latency-ms", config.latency_ms, 0),
        ("--jitter-ms", config.jitter_ms, 0),
        ("--rate-limit", config.rate_limit_per_minute, None),
        ("--rate-limit-burst", config.rate_limit_burst, None),
        ("--daily-quota", config.daily_quota, None),
        ("--error-500", config.error_ratios.get(500, 0.0), 0),
        ("--error-502", config.error_ratios.get(502, 0.0), 0),
        ("--error-503", config.error_ratios.get(503, 0.0), 0),
        ("--error-504", config.error_ratios.get(504, 0.0), 0),
        ("--error-408", config.error_ratios.get(408, 0.0), 0),
        ("--code-4006", config.code_ratios.get(4006, 0.0), 0),
        ("--code-8007", config.code_ratios.get(8007, 0.0), 0),
        ("--code-5016", config.code_ratios.get(5016, 0.0), 0),
        ("--code-7000", config.code_ratios.get(7000, 0.0), 0),
        ("--drop", config.drop_ratio, 0),
        ("--html-502", config.html_502_ratio, 0),
        ("--malformed-json", config.malformed_json_ratio, 0),
        ("--invalid-base64", config.invalid_base64_ratio, 0),
        ("--not-an-image", config.not_an_image_ratio, 0),
        ("--bfl-task-ms", config.bfl_task_ms, 200.0),
        ("--bfl-max-active", config.bfl_max_active, 24),
        ("--bfl-request-moderated", config.bfl_status_ratios.get("Request Moderated", 0.0), 0),
        ("--bfl-content-moderated", config.bfl_status_ratios.get("Content Moderated", 0.0), 0),
        ("--bfl-error", config.bfl_status_ratios.get("Error", 0.0), 0),
        ("--bfl-credits", config.bfl_credits, None),
    ]
    for option, value, default in optional:
        if value != default:
            # repr() of a float round-trips exactly; %g would lose digits of a ratio like 1/3.
            argv += [option, repr(value) if isinstance(value, float) else str(value)]
    argv += ["--seed", str(config.seed), "--format", config.image_format]
    if not config.strict_klein_steps:
        argv.append("--lenient-klein-steps")
    if not config.strict_fields:
        argv.append("--lenient-fields")
    return argv
