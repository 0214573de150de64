"""Building a Black Forest Labs request: pure, checked against the endpoint's table, fingerprinted.

:func:`build_bfl_request` turns a prompt and parameters into the JSON body of ``POST
/v1/{endpoint}``. Every field is checked against the endpoint's :class:`BFLModelSpec` first: a
field the endpoint does not take (BFL answers 422 to it) is refused here, naming the fields it
does take. A FLUX 3 endpoint takes the ``flux3`` compile target of a builder with a layout (the
caption and its element table as one string); a FLUX.2 endpoint takes the FLUX.2 JSON, where
the same layout has become position prose.

Example:
    >>> req = build_bfl_request("a red fox in fresh snow", model="klein-4b", width=512, seed=7)
    >>> req.url, dict(req.payload)
    ('https://api.bfl.ai/v1/flux-2-klein-4b', {'prompt': 'a red fox in fresh snow', 'width': 512, 'seed': 7})
    >>> try:
    ...     build_bfl_request("a fox", model="flux-3-image", seed=7)
    ... except ParameterError as exc:
    ...     print(str(exc)[:62])
    flux-3-image does not take 'seed' (Black Forest Labs answers 4
"""  # noqa: E501

from __future__ import annotations

import base64
import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, TypeAlias
from urllib.parse import urlsplit

from flux2prompt._digest import canonical_json, sha256_fingerprint
from flux2prompt.transport._advice import RequestAdvice, warn_advice
from flux2prompt.transport._bfl_catalogue import BFLModelSpec, estimate_bfl_cost, resolve_bfl_model
from flux2prompt.transport._errors import ParameterError
from flux2prompt.transport._images import ImageSource, prepare_image
from flux2prompt.transport._request import (
    PromptLike,
    is_json_object,
    prompt_data,
    prompt_references,
    render_prompt,
    resolve_prompt_citations,
)

if TYPE_CHECKING:
    from flux2prompt._layout import Flux3Prompt

__all__ = [
    "BFL_DEFAULT_MODEL",
    "BFL_REGIONS",
    "BFLPromptLike",
    "BFLReference",
    "BFLRequest",
    "build_bfl_request",
    "coerce_bfl_prompt",
]

#: The endpoint a client sends to when none is named.
BFL_DEFAULT_MODEL: Final = "flux-2-pro"
#: BFL's base URLs by region: global (with failover), EU, US.
BFL_REGIONS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "global": "https://api.bfl.ai",
        "eu": "https://api.eu.bfl.ai",
        "us": "https://api.us.bfl.ai",
    }
)

#: Everything :func:`coerce_prompt` takes, and a compiled ``Flux3Prompt``.
BFLPromptLike: TypeAlias = "PromptLike | Flux3Prompt"

# Fields that say where the answer goes, not what is generated: kept out of the fingerprint.
_DELIVERY: Final = frozenset({"webhook_url", "webhook_secret"})
# A FLUX 3 reference image: at least 256x256, at most 16 megapixels.
_FLUX3_MIN_REFERENCE_SIDE: Final = 256
_FLUX3_MAX_REFERENCE_PIXELS: Final = 16 * 1024 * 1024


def coerce_bfl_prompt(
    prompt: BFLPromptLike, spec: BFLModelSpec, prompt_format: str = "auto"
) -> tuple[str, str, str]:
    """Return ``(prompt text, prompt fingerprint, form sent)`` for ``spec``'s endpoint.

    ``prompt_format`` ``"auto"`` sends the endpoint's own form (:attr:`BFLModelSpec.prompt_form`):
    compact JSON on FLUX.2 [pro], [max] and [flex], prose on [klein], and on FLUX 3 a builder's
    caption with its element table (form ``"layout"``; a prompt without boxes goes as prose).
    ``"json"`` and ``"prose"`` ask for one form, as on Workers AI (the same renderer). A
    compiled ``Flux3Prompt`` is sent as it is on FLUX 3 and refused on FLUX.2, since its element
    table means nothing there: pass the builder instead. Citations of the prompt's references
    (``[ref:NAME]``) become "image 1", "image 2"...

    Example:
        >>> from flux2prompt import scene
        >>> b = scene().caption("A <mug_1> on a counter").element("mug_1", "a mug", "centre")
        >>> text, fingerprint, form = coerce_bfl_prompt(b, resolve_bfl_model("flux-3-image"))
        >>> text.splitlines()[0], form
        ('A <mug_1> on a counter.', 'layout')
        >>> coerce_bfl_prompt(b, resolve_bfl_model("pro"))[0].startswith('{"scene"')
        True
        >>> coerce_bfl_prompt(scene("a red fox"), resolve_bfl_model("klein-4b"))[::2]
        ('A red fox.', 'prose')
    """
    from flux2prompt._layout import Flux3Prompt

    if isinstance(prompt, Flux3Prompt) and spec.family != "flux3":
        raise ParameterError(
            f"{spec.id} is a FLUX.2 endpoint and this prompt is compiled for FLUX 3 (a caption "
            "and an element table): pass the builder instead, and its layout becomes "
            "position prose on FLUX.2",
            parameter="prompt",
        )
    text, fingerprint, form, _ = render_prompt(prompt, spec, prompt_format)
    return resolve_prompt_citations(text, prompt_references(prompt), spec), fingerprint, form


@dataclass(frozen=True, slots=True)
class BFLReference:
    """One reference image of a request, by identity: the sha256 of its bytes, or its URL.

    Example:
        >>> BFLReference("sha256:ab").sha256
        'sha256:ab'
    """

    sha256: str


@dataclass(frozen=True, slots=True)
class BFLRequest:
    """One Black Forest Labs request, built and checked but not sent.

    ``payload`` is the JSON body (repr hidden: it may hold a webhook secret and base64 images);
    ``params`` the generation parameters as sent, references aside; ``url`` the submit URL on
    the base URL it was built for (a client sends to its own base URL). ``fingerprint`` is
    sha256 over canonical JSON of the provider, the endpoint, the prompt fingerprint, the
    sorted parameters and each reference image (its sha256, or its URL); the webhook fields
    say where the answer goes, not what is generated, and stay out of it.

    Example:
        >>> req = build_bfl_request("a fox", model="flex", steps=28, guidance=3.5)
        >>> dict(req.params), req.seed
        ({'steps': 28, 'guidance': 3.5}, None)
        >>> req.fingerprint == build_bfl_request("a fox", model="flex", steps=28, guidance=3.5,
        ...                                      webhook_url="https://example.test/hook").fingerprint
        True
    """

    model: BFLModelSpec
    url: str
    params: Mapping[str, Any]
    prompt_text: str = field(repr=False)
    prompt_fingerprint: str
    fingerprint: str
    payload: Mapping[str, Any] = field(repr=False)
    reference_count: int = 0
    boxed: bool = False
    advice: tuple[RequestAdvice, ...] = ()
    references: tuple[BFLReference, ...] = ()
    #: The form the prompt was sent in: ``json``, ``prose``, ``layout`` (FLUX 3's caption and
    #: element table) or ``text`` (a plain text prompt, as written).
    prompt_format: str = "json"

    @property
    def prompt(self) -> str:
        """The text of the ``prompt`` field."""
        return self.prompt_text

    @property
    def document(self) -> Any:
        """The prompt as JSON data (what a manifest records) when it is a JSON prompt, else its
        text."""
        return prompt_data(self.prompt_text)

    @property
    def images(self) -> tuple[BFLReference, ...]:
        """The reference images, by identity (what provenance and dry runs show)."""
        return self.references

    @property
    def fields(self) -> Mapping[str, str]:
        """``prompt`` and the parameters as text, for display (the body is :attr:`payload`).

        Example:
            >>> dict(build_bfl_request("a fox", model="max", seed=2).fields)
            {'prompt': 'a fox', 'seed': '2'}
        """
        shown = {"prompt": self.prompt_text}
        for name, value in self.params.items():
            shown[name] = str(value).lower() if isinstance(value, bool) else str(value)
        return MappingProxyType(shown)

    @property
    def seed(self) -> int | None:
        """The seed sent, or ``None`` when the service picks one (always on FLUX 3)."""
        seed = self.params.get("seed")
        return int(seed) if seed is not None else None

    @property
    def content(self) -> bytes:
        """The JSON body, UTF-8, compact.

        Example:
            >>> build_bfl_request("a fox", model="max").content
            b'{"prompt":"a fox"}'
        """
        return json.dumps(dict(self.payload), ensure_ascii=False, separators=(",", ":")).encode()

    @property
    def result_validity(self) -> float:
        """Seconds the result URL stays valid once Ready (10 min FLUX.2, 1 h FLUX 3)."""
        return self.model.result_validity

    @property
    def estimated_cost(self) -> float:
        """The "from" price in USD (:func:`estimate_bfl_cost`); raises :class:`ParameterError`
        "no published price" where BFL publishes none.

        Example:
            >>> build_bfl_request("a fox", model="max", width=1024, height=1024).estimated_cost
            0.07
        """
        width, height = self.params.get("width"), self.params.get("height")
        return estimate_bfl_cost(
            self.model,
            int(width) if width is not None else None,
            int(height) if height is not None else None,
            input_images=self.reference_count,
        )

    def __repr__(self) -> str:
        return (
            f"BFLRequest(model={self.model.id!r}, params={dict(self.params)!r}, "
            f"references={self.reference_count}, prompt={len(self.prompt_text)} chars, "
            f"fingerprint={self.fingerprint!r})"
        )


def _refuse(spec: BFLModelSpec, name: str) -> ParameterError:
    return ParameterError(
        f"{spec.id} does not take {name!r} (Black Forest Labs answers 422 to it); it takes: "
        f"{', '.join(spec.allowed_fields)}",
        parameter=name,
    )


def _shown(value: object, limit: int = 60) -> str:
    """``repr(value)`` for a message, cut to ``limit`` characters; an integer too long for
    Python to print (4,300 digits) by its size.

    >>> _shown("x" * 100)[-6:], _shown(10**5000)
    ('xxx...', 'an integer of 5001 digits')
    """
    try:
        shown = repr(value)
    except ValueError:  # int past sys.get_int_max_str_digits()
        if not isinstance(value, int):
            raise
        return f"an integer of {_digits(value)} digits"
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def _digits(value: int) -> int:
    """How many decimal digits ``abs(value)`` has, without printing it."""
    magnitude = abs(value)
    count = max(1, int(magnitude.bit_length() * math.log10(2)))
    while 10**count <= magnitude:
        count += 1
    while count > 1 and 10 ** (count - 1) > magnitude:
        count -= 1
    return count


def _int(spec: BFLModelSpec, name: str, value: object, low: int, high: int | None) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ParameterError(f"{name} must be an integer, got {_shown(value)}", parameter=name)
    if value < low or (high is not None and value > high):
        bounds = f"{low}-{high}" if high is not None else f"at least {low}"
        raise ParameterError(
            f"{name} must be {bounds} for {spec.id}, got {_shown(value)}", parameter=name
        )
    return value


def _side(spec: BFLModelSpec, name: str, value: object) -> int:
    # No side longer than the area allows with the other at its minimum (65,536 on FLUX.2).
    side = _int(spec, name, value, spec.min_side, spec.max_pixels // spec.min_side)
    if side % spec.side_multiple:
        low = side - side % spec.side_multiple
        raise ParameterError(
            f"{name} must be a multiple of {spec.side_multiple} for {spec.id}, got {side} "
            f"(try {low} or {low + spec.side_multiple})",
            parameter=name,
        )
    return side


def _choice(spec: BFLModelSpec, name: str, value: object, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ParameterError(
            f"{name} must be one of {', '.join(choices)} for {spec.id}, got {_shown(value)}",
            parameter=name,
        )
    return value


def _references(spec: BFLModelSpec, sources: list[ImageSource]) -> tuple[list[str], list[str]]:
    """The references as sent (URLs as given, local images as base64) and their identities."""
    if len(sources) > spec.max_references:
        takes = (
            f"takes at most {spec.max_references} reference images"
            if spec.max_references
            else "takes no reference images"
        )
        raise ParameterError(f"{spec.id} {takes}, got {len(sources)}", parameter="images")
    sent: list[str] = []
    identities: list[str] = []
    for index, source in enumerate(sources):
        if isinstance(source, str) and source.startswith(("https://", "http://", "data:")):
            sent.append(source)
            identities.append(source)
            continue
        image = prepare_image(source, index, resize=False, max_side=1 << 30)
        if spec.family == "flux3":
            small = min(image.width, image.height) < _FLUX3_MIN_REFERENCE_SIDE
            if small or image.width * image.height > _FLUX3_MAX_REFERENCE_PIXELS:
                raise ParameterError(
                    f"images[{index}] is {image.width}x{image.height}; {spec.id} takes "
                    "reference images of at least 256x256 and at most 16 megapixels",
                    parameter=f"images[{index}]",
                )
        sent.append(base64.b64encode(image.data).decode("ascii"))
        identities.append(image.sha256)
    return sent, identities


def _is_web_url(value: object) -> bool:
    """Whether ``value`` is an absolute http(s) URL with a host, in printable ASCII-safe text.

    Example:
        >>> _is_web_url("https://hooks.example/bfl"), _is_web_url("https://x.example/\\n")
        (True, False)
    """
    if not isinstance(value, str) or not value.isprintable() or any(c.isspace() for c in value):
        return False
    try:
        value.encode("utf-8")
        # urllib, not httpx: building a request (lock, dry runs) never loads the HTTP stack.
        parsed = urlsplit(value)
        host = parsed.hostname
        parsed.port  # noqa: B018 - raises ValueError on a port that is not a number
    except (UnicodeEncodeError, ValueError):
        return False
    return parsed.scheme in ("http", "https") and bool(host)


def build_bfl_request(
    prompt: BFLPromptLike,
    *,
    model: str | BFLModelSpec = BFL_DEFAULT_MODEL,
    width: int | None = None,
    height: int | None = None,
    seed: int | None = None,
    steps: int | None = None,
    guidance: float | None = None,
    safety_tolerance: int | None = None,
    output_format: str | None = None,
    prompt_upsampling: bool | None = None,
    aspect_ratio: str | None = None,
    resolution: str | None = None,
    grounding: bool | None = None,
    images: Iterable[ImageSource] = (),
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    extra: Mapping[str, Any] | None = None,
    base_url: str = "https://api.bfl.ai",
    prompt_format: str = "auto",
) -> BFLRequest:
    """Build and check a Black Forest Labs request without sending it (it only reads images).

    Only the fields given are sent, so BFL's defaults apply to the rest. Each is checked
    against the endpoint's table: ``width``/``height`` (multiples of 16 from 64, at most 4
    megapixels), ``seed``, ``safety_tolerance`` (0-5; 0-4 on FLUX 3), ``output_format``
    (``jpeg``, ``png``), ``prompt_upsampling`` and ``steps`` (1-50) / ``guidance`` (1.5-10) on
    flex for FLUX.2; ``aspect_ratio``, ``resolution`` and ``grounding`` for FLUX 3. ``images``
    are reference images (paths, bytes, https URLs or data URIs), sent as ``input_image``,
    ``input_image_2``, ... on FLUX.2 and as the ``images`` list on FLUX 3, cited as "image 1",
    "image 2" ... in the prompt (a builder's ``.reference()`` images first, then ``images``).
    ``prompt_format`` is the form the prompt is sent in (see :func:`coerce_bfl_prompt`); it
    enters the request fingerprint unless it is JSON. ``extra`` passes further body fields,
    checked the same way.
    A field the endpoint does not take is a :class:`ParameterError` listing those it takes.

    Example:
        >>> req = build_bfl_request("a fox", model="flux-3-image", aspect_ratio="16:9",
        ...                         resolution="2k", grounding=False)
        >>> dict(req.payload)
        {'prompt': 'a fox', 'aspect_ratio': '16:9', 'resolution': '2k', 'grounding': False}
        >>> try:
        ...     build_bfl_request("a fox", model="pro", width=1000)
        ... except ParameterError as exc:
        ...     print(exc)
        width must be a multiple of 16 for flux-2-pro, got 1000 (try 992 or 1008)
    """
    spec = resolve_bfl_model(model)
    text, prompt_fingerprint, form = coerce_bfl_prompt(prompt, spec, prompt_format)
    boxed = form == "layout"
    given: dict[str, Any] = {
        "width": width,
        "height": height,
        "seed": seed,
        "steps": steps,
        "guidance": guidance,
        "safety_tolerance": safety_tolerance,
        "output_format": output_format,
        "prompt_upsampling": prompt_upsampling,
        "aspect_ratio": aspect_ratio,
        "resolution": resolution,
        "grounding": grounding,
        "webhook_url": webhook_url,
        "webhook_secret": webhook_secret,
    }
    for name, value in (extra or {}).items():
        if name in ("prompt", "images") or name.startswith("input_image"):
            raise ParameterError(
                f"extra[{name!r}]: pass the prompt as the first argument and reference images "
                "as images=",
                parameter=name,
            )
        if given.get(name) is not None:
            raise ParameterError(f"{name} is given twice (and in extra)", parameter=name)
        given[name] = value
    params: dict[str, Any] = {}
    for name, value in given.items():
        if value is None:
            continue
        if name not in spec.fields:
            raise _refuse(spec, name)
        params[name] = value

    for name in ("width", "height"):
        if name in params:
            params[name] = _side(spec, name, params[name])
    if "width" in params and "height" in params:
        pixels = params["width"] * params["height"]
        if pixels > spec.max_pixels:
            raise ParameterError(
                f"width x height must be at most {spec.max_pixels:,} pixels for {spec.id} "
                f"(4 megapixels), got {params['width']}x{params['height']} = {pixels:,}",
                parameter="width",
            )
    if "seed" in params:
        params["seed"] = _int(spec, "seed", params["seed"], 0, 2**53 - 1)
    if "steps" in params and spec.steps_range is not None:
        params["steps"] = _int(spec, "steps", params["steps"], *spec.steps_range)
    if "guidance" in params and spec.guidance_range is not None:
        value = params["guidance"]
        low, high = spec.guidance_range
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (isinstance(value, float) and not math.isfinite(value))  # an int may be huge
            or not low <= value <= high
        ):
            raise ParameterError(
                f"guidance must be a number {low:g}-{high:g} for {spec.id}, got {_shown(value)}",
                parameter="guidance",
            )
        params["guidance"] = float(value)
    if "safety_tolerance" in params:
        params["safety_tolerance"] = _int(
            spec, "safety_tolerance", params["safety_tolerance"], 0, spec.max_safety_tolerance
        )
    if "output_format" in params:
        fmt = params["output_format"]
        fmt = "jpeg" if isinstance(fmt, str) and fmt.lower() in ("jpg", "jpeg") else fmt
        params["output_format"] = _choice(spec, "output_format", fmt, spec.output_formats)
    if "aspect_ratio" in params:
        params["aspect_ratio"] = _choice(
            spec, "aspect_ratio", params["aspect_ratio"], spec.aspect_ratios
        )
    if "resolution" in params:
        params["resolution"] = _choice(spec, "resolution", params["resolution"], spec.resolutions)
    for flag in ("prompt_upsampling", "grounding"):
        if flag in params and not isinstance(params[flag], bool):
            raise ParameterError(
                f"{flag} must be True or False, got {_shown(params[flag])}", parameter=flag
            )
    if "version" in params and not isinstance(params["version"], str):
        raise ParameterError(
            f"version must be a string such as 'latest', got {_shown(params['version'])}",
            parameter="version",
        )
    if "webhook_url" in params:
        hook = params["webhook_url"]
        if not _is_web_url(hook):
            shown = repr(hook[:80]) if isinstance(hook, str) else repr(hook)
            raise ParameterError(
                f"webhook_url must be an absolute http(s) URL with a host and no spaces or "
                f"control characters, got {shown}",
                parameter="webhook_url",
            )
    if "webhook_secret" in params:
        if "webhook_url" not in params:
            raise ParameterError(
                "webhook_secret without webhook_url: give the URL the signed result is sent to",
                parameter="webhook_secret",
            )
        if not isinstance(params["webhook_secret"], str) or not params["webhook_secret"]:
            raise ParameterError(
                "webhook_secret must be a non-empty string", parameter="webhook_secret"
            )
        try:
            params["webhook_secret"].encode("utf-8")
        except UnicodeEncodeError as exc:
            # Never the secret itself in the message: only where the bad character is.
            raise ParameterError(
                f"webhook_secret is not valid Unicode text (lone surrogate at index {exc.start})",
                parameter="webhook_secret",
            ) from None

    advice: list[RequestAdvice] = []
    if params.get("prompt_upsampling") and (boxed or is_json_object(text)):
        advice.append(
            RequestAdvice(
                "F2R101",
                "prompt_upsampling",
                f"{spec.id} rewrites the prompt before generating, which undoes a structured "
                "prompt (its subjects, palette and text lose their places); leave "
                "prompt_upsampling unset to send it as written. The prompt actually run is kept "
                "in ImageResult.effective_prompt",
            )
        )

    # The builder's references go first, then the request's own images (cited from image 1).
    single = isinstance(images, str | bytes | bytearray | os.PathLike) or not isinstance(
        images, Iterable
    )
    own: list[ImageSource] = [images] if single else list(images)  # type: ignore[list-item]
    sent, identities = _references(spec, [item.source for item in prompt_references(prompt)] + own)
    payload: dict[str, Any] = {"prompt": text, **params}
    if sent:
        if spec.family == "flux3":
            payload["images"] = sent
        else:
            payload.update(zip(spec.reference_fields(len(sent)), sent, strict=True))
    fingerprinted = {k: v for k, v in sorted(params.items()) if k not in _DELIVERY}
    canonical = canonical_json(
        {
            "provider": "bfl",
            "model": spec.id,
            "prompt": prompt_fingerprint,
            "params": fingerprinted,
            "images": identities,
            # Newer than the fingerprint: a JSON request keeps the fingerprint it always had.
            **({"form": form} if form not in ("json", "text") else {}),
        }
    )
    for item in advice:
        warn_advice(item, stacklevel=2)
    return BFLRequest(
        model=spec,
        url=base_url.rstrip("/") + spec.path,
        params=MappingProxyType({k: v for k, v in params.items() if k not in _DELIVERY}),
        prompt_text=text,
        prompt_fingerprint=prompt_fingerprint,
        fingerprint=sha256_fingerprint(canonical),
        payload=MappingProxyType(payload),
        reference_count=len(sent),
        boxed=boxed,
        advice=tuple(advice),
        references=tuple(BFLReference(identity) for identity in identities),
        prompt_format=form,
    )
