"""The JSON routes of the emulator: flux-1-schnell's JSON body, and the proxied ``/ai/run``
envelope of Black Forest Labs' hosted models, whose image is served back from a URL that expires.

The emulator keeps its own table of these models (it imports nothing from the transport): a
client whose catalogue drifts from the reference is caught by the emulator refusing its request.
Where the reference is silent the emulator is strict, and says so (``docs/emulator.md``, "where
the emulator guesses"): unknown input properties are refused, ``steps`` sent to the proxied
klein-9b (which names it ``num_steps``) is refused, an expired result URL answers 403.

Example:
    >>> job = validate_proxied({"model": "black-forest-labs/flux-2-flex",
    ...                         "input": {"prompt": "a fox", "width": 64, "height": 64}})
    >>> job.width, job.height, job.prompt_upsampling, job.effective_prompt == "a fox"
    (64, 64, True, False)
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Final

from PIL import Image, UnidentifiedImageError

from flux2prompt.emulator._config import ImageFormat
from flux2prompt.emulator._protocol import ApiError, loads_strict, unencodable_field

__all__ = [
    "JSON_MODELS",
    "PROXIED_MODELS",
    "RESULT_PATH_PREFIX",
    "ProxiedJob",
    "ResultStore",
    "SchnellJob",
    "proxied_body",
    "upsample",
    "validate_proxied",
    "validate_schnell",
]

#: Models on the model-in-path route that take a JSON body (not multipart).
JSON_MODELS: frozenset[str] = frozenset({"@cf/black-forest-labs/flux-1-schnell"})


@dataclass(frozen=True, slots=True)
class _Proxied:
    max_input_images: int
    steps_field: str | None
    takes_guidance: bool
    upsampling_default: bool | None


#: The proxied models of the universal ``/ai/run`` route and what each takes (the reference
#: documents flex's fields; pro-preview and max take no steps or guidance, as on BFL's API).
PROXIED_MODELS: dict[str, _Proxied] = {
    "black-forest-labs/flux-2-flex": _Proxied(8, "steps", True, True),
    "black-forest-labs/flux-2-pro-preview": _Proxied(8, None, False, None),
    "black-forest-labs/flux-2-max": _Proxied(8, None, False, None),
    "black-forest-labs/flux-2-klein-9b": _Proxied(4, "num_steps", False, None),
}

#: Where result images are served, below the emulator's own address.
RESULT_PATH_PREFIX: Final = "/results/"
_MAX_PIXELS = 4 * 1024 * 1024
_MAX_SEED = 2**53 - 1
_FORMATS = ("jpeg", "png", "webp")
_SCHNELL_MAX_PROMPT = 2048
_SCHNELL_MAX_STEPS = 8
_SCHNELL_SIZE = 1024
_STORE_SIZE = 256
#: What the emulator appends when it "upsamples" a prompt: visibly not what was sent.
UPSAMPLED_SUFFIX: Final = " Rendered in rich detail, with dramatic, cinematic lighting."


def _bad(detail: str) -> ApiError:
    return ApiError(400, 5006, f"AiError: Bad input: Error: {detail}")


def _json_object(content_type: str, body: bytes) -> dict[str, Any]:
    if content_type.split(";", 1)[0].strip().lower() != "application/json":
        raise _bad("required properties at '/' are 'json' (send Content-Type: application/json)")
    try:
        document = loads_strict(body, huge_integers=True)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise _bad("the body is not valid JSON") from None
    if not isinstance(document, dict):
        raise _bad("the body must be a JSON object")
    _check_unicode(document, "")
    return document


def _check_unicode(document: dict[str, Any], prefix: str) -> None:
    # A lone surrogate ("\ud800" in the JSON) is no text a model can read: refused by name.
    name = unencodable_field(document)
    if name is not None:
        raise _bad(f"'{prefix}/{name}' is not valid Unicode text (a lone surrogate)")


def _int(name: str, value: object, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _bad(f"'/{name}' must be an integer, got {value!r}")
    if not low <= value <= high:
        raise _bad(f"'/{name}' must be between {low} and {high}, got {value}")
    return value


def _prompt(value: object, limit: int | None) -> str:
    if not isinstance(value, str):
        raise _bad("required properties at '/' are 'prompt'")
    if not value.strip():
        raise _bad("'/prompt' must not be empty")
    if limit is not None and len(value) > limit:
        raise _bad(f"'/prompt' must be at most {limit} characters, got {len(value)}")
    return value


@dataclass(frozen=True, slots=True)
class SchnellJob:
    """A checked flux-1-schnell request."""

    prompt: str
    steps: int


def validate_schnell(content_type: str, body: bytes) -> SchnellJob:
    """Check a flux-1-schnell JSON body: ``prompt`` (<= 2048 chars), ``steps`` (1-8), nothing else.

    Example:
        >>> validate_schnell("application/json", b'{"prompt": "a fox", "steps": 6}').steps
        6
    """
    document = _json_object(content_type, body)
    extra = sorted(set(document) - {"prompt", "steps"})
    if extra:
        raise _bad(f"unexpected property '{extra[0]}'")
    prompt = _prompt(document.get("prompt"), _SCHNELL_MAX_PROMPT)
    steps = _int("steps", document.get("steps", 4), 1, _SCHNELL_MAX_STEPS)
    return SchnellJob(prompt, steps)


@dataclass(frozen=True, slots=True)
class ProxiedJob:
    """A checked proxied request: what to render, and the prompt the host "ran"."""

    model: str
    prompt: str
    width: int
    height: int
    seed: int | None
    output_format: ImageFormat | None
    prompt_upsampling: bool
    effective_prompt: str
    input_count: int


def upsample(prompt: str) -> str:
    """The emulator's stand-in for prompt upsampling: the prompt with a sentence appended.

    A JSON prompt so "rewritten" is no longer JSON, which is the point: the structure is lost.

    Example:
        >>> upsample("a fox").startswith("a fox Rendered")
        True
    """
    return prompt + UPSAMPLED_SUFFIX


def _side(name: str, value: object) -> int:
    side = _int(name, value, 64, _MAX_PIXELS // 64)
    if side % 16:
        raise _bad(f"'/{name}' must be a multiple of 16, got {side}")
    return side


def _reference(index: int, value: object) -> None:
    where = f"/input_images/{index}"
    if not isinstance(value, str):
        raise _bad(f"'{where}' must be a URL or a data URI, got {type(value).__name__}")
    if value.startswith(("https://", "http://")):
        return  # the emulator does not fetch other people's URLs
    if not value.startswith("data:") or ";base64," not in value:
        raise _bad(f"'{where}' must be an http(s) URL or a base64 data URI")
    try:
        data = base64.b64decode(value.split(";base64,", 1)[1], validate=True)
    except (binascii.Error, ValueError):
        raise _bad(f"'{where}' is not valid base64") from None
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except Image.DecompressionBombError:
        raise _bad(f"'{where}' is too large to decode (a decompression bomb?)") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise _bad(f"'{where}' is not a decodable image") from None


def validate_proxied(document: object) -> ProxiedJob:
    """Check a proxied ``{"model", "input"}`` envelope; raise the refusal the host would send.

    An unknown model is 400/5007; anything else wrong is 400/5006 naming the property.

    Example:
        >>> validate_proxied({"model": "black-forest-labs/flux-2-max", "input": {}})
        Traceback (most recent call last):
        ...
        flux2prompt.emulator._protocol.ApiError: AiError: Bad input: Error: required properties at '/' are 'prompt'
    """  # noqa: E501
    if not isinstance(document, dict):
        raise _bad("the body must be a JSON object")
    extra = sorted(set(document) - {"model", "input"})
    if extra:
        raise _bad(f"unexpected property '{extra[0]}'")
    model = document.get("model")
    if not isinstance(model, str):
        raise _bad("required properties at '/' are 'model'")
    spec = PROXIED_MODELS.get(model)
    if spec is None:
        raise ApiError(400, 5007, f"AiError: No such model {model}")
    given = document.get("input")
    if not isinstance(given, dict):
        raise _bad("required properties at '/' are 'input' (an object)")
    _check_unicode(given, "/input")
    allowed = {"prompt", "width", "height", "seed", "safety_tolerance", "output_format"}
    allowed |= {"input_images"}
    if spec.steps_field is not None:
        allowed.add(spec.steps_field)
    if spec.takes_guidance:
        allowed.add("guidance")
    if spec.upsampling_default is not None:
        allowed.add("prompt_upsampling")
    extra = sorted(set(given) - allowed)
    if extra:
        raise _bad(f"unexpected property '/input/{extra[0]}' for {model}")
    prompt = _prompt(given.get("prompt"), None)
    width = _side("width", given.get("width", 1024))
    height = _side("height", given.get("height", 768))
    if width * height > _MAX_PIXELS:
        raise _bad(f"width x height must be at most {_MAX_PIXELS} pixels, got {width * height}")
    seed = _int("seed", given["seed"], 0, _MAX_SEED) if "seed" in given else None
    if spec.steps_field is not None and spec.steps_field in given:
        _int(spec.steps_field, given[spec.steps_field], 1, 50)
    if "guidance" in given:
        guidance = given["guidance"]
        if (
            isinstance(guidance, bool)
            or not isinstance(guidance, int | float)
            or not math.isfinite(guidance)
            or not 1.5 <= guidance <= 10
        ):
            raise _bad(f"'/guidance' must be a number between 1.5 and 10, got {guidance!r}")
    if "safety_tolerance" in given:
        _int("safety_tolerance", given["safety_tolerance"], 0, 5)
    output_format: ImageFormat | None = None
    if "output_format" in given:
        fmt = given["output_format"]
        if fmt not in _FORMATS:
            raise _bad(f"'/output_format' must be one of {', '.join(_FORMATS)}, got {fmt!r}")
        output_format = fmt
    upsampling = bool(spec.upsampling_default)
    if "prompt_upsampling" in given:
        if not isinstance(given["prompt_upsampling"], bool):
            raise _bad("'/prompt_upsampling' must be a boolean")
        upsampling = given["prompt_upsampling"]
    references = given.get("input_images", [])
    if not isinstance(references, list):
        raise _bad("'/input_images' must be a list")
    if len(references) > spec.max_input_images:
        raise _bad(
            f"at most {spec.max_input_images} input images for {model}, got {len(references)}"
        )
    for index, value in enumerate(references):
        _reference(index, value)
    return ProxiedJob(
        model=model,
        prompt=prompt,
        width=width,
        height=height,
        seed=seed,
        output_format=output_format,
        prompt_upsampling=upsampling,
        effective_prompt=upsample(prompt) if upsampling else prompt,
        input_count=len(references),
    )


def proxied_body(image_url: str, job: ProxiedJob, seed: int) -> bytes:
    """The success answer of a proxied model: ``state``, the image URL, and the prompt run.

    Example:
        >>> job = validate_proxied({"model": "black-forest-labs/flux-2-max",
        ...                         "input": {"prompt": "a fox"}})
        >>> json.loads(proxied_body("http://127.0.0.1:1/results/x.jpeg", job, 3))["state"]
        'Completed'
    """
    document = {
        "state": "Completed",
        "result": {"image": image_url, "prompt": job.effective_prompt, "seed": seed},
        "gatewayMetadata": {"keySource": "Unified"},
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True, slots=True)
class _Stored:
    data: bytes
    media_type: str
    expires: float


class ResultStore:
    """The images behind the result URLs, each until its expiry (the oldest dropped past 256).

    Example:
        >>> store = ResultStore()
        >>> key = store.put(b"\\xff\\xd8\\xff", "image/jpeg", ttl=60.0)
        >>> store.get(key)[1], store.get("nope")
        ('image/jpeg', None)
    """

    def __init__(self) -> None:
        self._items: OrderedDict[str, _Stored] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, data: bytes, media_type: str, *, ttl: float) -> str:
        """Keep ``data`` for ``ttl`` seconds; return the key of its URL (unguessable)."""
        key = secrets.token_urlsafe(18)
        with self._lock:
            self._items[key] = _Stored(data, media_type, time.monotonic() + ttl)
            while len(self._items) > _STORE_SIZE:
                self._items.popitem(last=False)
        return key

    def get(self, key: str) -> tuple[bytes, str] | bool | None:
        """``(data, media type)``; ``False`` when the URL has expired; ``None`` when unknown."""
        with self._lock:
            item = self._items.get(key)
        if item is None:
            return None
        if time.monotonic() >= item.expires:
            return False
        return item.data, item.media_type

    def clear(self) -> None:
        """Forget every stored image."""
        with self._lock:
            self._items.clear()
