"""Building a Workers AI request: pure, inert, and fingerprinted before anything is sent.

:func:`build_request` coerces the prompt, checks every parameter against the catalogue,
prepares the input images and computes the request fingerprint; it never touches the network,
so the batch runner can dry-run and de-duplicate with it.

Example:
    >>> req = build_request("a red fox in the snow", model="klein-4b", width=512, seed=7)
    >>> dict(req.fields)
    {'prompt': 'a red fox in the snow', 'width': '512', 'height': '768', 'seed': '7'}
    >>> req.url
    'https://api.cloudflare.com/client/v4/accounts/{account_id}/ai/run/@cf/black-forest-labs/flux-2-klein-4b'
"""

from __future__ import annotations

import base64
import json
import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from hashlib import sha256
from json.encoder import encode_basestring
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

from flux2prompt._digest import FINGERPRINT_PREFIX, canonical_json, sha256_fingerprint
from flux2prompt.transport._advice import RequestAdvice, warn_advice
from flux2prompt.transport._catalogue import (
    PROMPT_FORMATS,
    ModelSpec,
    Route,
    check_model_id,
    estimate_cost,
    resolve_model,
)
from flux2prompt.transport._constants import (
    DEFAULT_BASE_URL,
    DEFAULT_GATEWAY_BASE_URL,
    DEFAULT_MODEL,
)
from flux2prompt.transport._errors import (
    MAX_DIGITS,
    ParameterError,
    count_digits,
    shown_number,
)
from flux2prompt.transport._gateway import GatewayOptions
from flux2prompt.transport._images import ImageSource, InputImage, prepare_image

if TYPE_CHECKING:
    from flux2prompt._builder import PromptBuilder
    from flux2prompt._layout import Flux3Prompt
    from flux2prompt._model import Prompt
    from flux2prompt._references import Reference

__all__ = [
    "ACCOUNT_PLACEHOLDER",
    "MultipartParts",
    "ParamValue",
    "PromptLike",
    "WorkersAIRequest",
    "build_request",
    "check_path_segment",
    "coerce_prompt",
    "endpoint_url",
    "is_json_object",
    "prompt_data",
    "render_prompt",
]

#: A compiled ``Prompt``, a ``PromptBuilder``, a dict (or JSON bytes, or a path to a prompt file)
#: that ``flux2prompt.load`` accepts, a ``str`` (a plain text prompt), or a ``Flux3Prompt`` (a
#: FLUX 3 caption with its element table, sent as written).
PromptLike: TypeAlias = (
    "Prompt | PromptBuilder | Flux3Prompt | Mapping[str, Any] | str | bytes | os.PathLike[str]"
)

#: What ``httpx`` takes as ``files=``: ``(name, (filename, content[, content type]))``.
MultipartParts: TypeAlias = list[tuple[str, tuple[str | None, bytes] | tuple[str, bytes, str]]]

#: A parameter as sent: a number, a flag (``prompt_upsampling``) or a name (``output_format``).
ParamValue: TypeAlias = int | float | bool | str

#: Stands for the account id in the URL of a request built without one (a dry run).
ACCOUNT_PLACEHOLDER = "{account_id}"


def coerce_prompt(prompt: PromptLike) -> tuple[str, str]:
    """Return ``(wire text, prompt fingerprint)`` for anything :meth:`WorkersAI.generate` takes.

    A compiled ``Prompt`` gives its compact wire JSON and fingerprint; a builder is compiled
    first; a dict, JSON bytes or a path go through :func:`flux2prompt.load`; a ``str`` is a plain
    text prompt, sent as it is, fingerprinted as ``"sha256:" + sha256(utf-8 bytes)``.

    Example:
        >>> text, fingerprint = coerce_prompt("a lighthouse at dusk")
        >>> text, fingerprint[:15]
        ('a lighthouse at dusk', 'sha256:55accb7d')
    """
    if isinstance(prompt, str):
        if not prompt.strip():
            raise ParameterError("prompt is empty", parameter="prompt")
        try:
            encoded = prompt.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ParameterError(
                f"prompt is not valid Unicode text (lone surrogate at index {exc.start})",
                parameter="prompt",
            ) from None
        return prompt, sha256_fingerprint(encoded)
    structured = _as_prompt(prompt)
    return structured.to_json(), structured.fingerprint


@cache
def _flux3_class() -> type[Flux3Prompt]:
    from flux2prompt._layout import Flux3Prompt

    return Flux3Prompt


@cache
def _builder_class() -> type[PromptBuilder]:
    from flux2prompt._builder import PromptBuilder

    return PromptBuilder


@cache
def _references_of() -> Callable[[Prompt], tuple[Reference, ...]]:
    from flux2prompt._model import references_of

    return references_of


@cache
def _prompt_class() -> type[Prompt]:
    from flux2prompt._model import Prompt

    return Prompt


def _as_prompt(prompt: PromptLike) -> Prompt:
    """Anything but a ``str`` that :func:`coerce_prompt` takes, as a compiled ``Prompt``."""
    # Imported at call time, from the modules that define them (never the package root, which
    # re-exports the transport): only this function needs the core, to turn a prompt into wire
    # text, so the transport's modules carry no import-time dependency on the builder or loader.
    if isinstance(prompt, _prompt_class()):
        return prompt
    from flux2prompt._builder import PromptBuilder
    from flux2prompt._files import load
    from flux2prompt._model import Prompt

    if isinstance(prompt, PromptBuilder):
        return prompt.compile()
    if isinstance(prompt, Mapping):
        return load(dict(prompt))
    if isinstance(prompt, bytes | bytearray):
        return load(bytes(prompt))
    if isinstance(prompt, os.PathLike):
        return load(prompt)
    if not isinstance(prompt, Prompt):
        raise ParameterError(
            "prompt must be a Prompt, a PromptBuilder, a dict, or a str, got "
            f"{type(prompt).__name__}",
            parameter="prompt",
        )
    return prompt


def _asked_format(prompt_format: object) -> str:
    if prompt_format not in PROMPT_FORMATS:
        raise ParameterError(
            f"prompt_format must be one of {', '.join(PROMPT_FORMATS)}, got {prompt_format!r}",
            parameter="prompt_format",
        )
    return str(prompt_format)


class FormSpec(Protocol):
    """What rendering a prompt needs of a model, on any host: the form it reads best and the
    number its prompts give the first reference image."""

    @property
    def prompt_form(self) -> str: ...

    @property
    def reference_index_base(self) -> int: ...


def render_prompt(
    prompt: PromptLike, spec: FormSpec, prompt_format: str = "auto"
) -> tuple[str, str, str, str | None]:
    """``(text sent, prompt fingerprint, form sent, JSON wire text)`` of ``prompt`` for ``spec``.

    ``prompt_format`` ``"auto"`` sends a structured prompt in the model's own form
    (:attr:`ModelSpec.prompt_form`): compact JSON for FLUX.2 [dev], [pro], [flex] and [max],
    prose for FLUX.2 [klein], a caption with its element table for FLUX 3 (a builder with a
    layout; a prompt without boxes goes as prose). ``"json"`` and ``"prose"`` ask for one form.
    The prompt fingerprint is the JSON prompt's in every form, so one prompt keeps one
    fingerprint across hosts; the form is what the request fingerprint adds. A ``str`` is sent
    as written (form ``"text"``), except that ``"prose"`` renders a str holding a JSON prompt
    as prose; a :class:`~flux2prompt.Flux3Prompt` is sent as its text (form ``"layout"``).

    Example:
        >>> from flux2prompt import scene
        >>> from flux2prompt.transport._catalogue import resolve_model
        >>> p = scene("a red fox in the snow").lighting("low winter sun").compile()
        >>> text, _, form, _ = render_prompt(p, resolve_model("klein-4b"))
        >>> form, text
        ('prose', 'A red fox in the snow. Lit by low winter sun.')
        >>> render_prompt(p, resolve_model("klein-4b"), "json")[:1]
        ('{"scene":"a red fox in the snow","lighting":"low winter sun"}',)
    """
    asked = _asked_format(prompt_format)
    form = spec.prompt_form if asked == "auto" else asked
    from flux2prompt._builder import PromptBuilder
    from flux2prompt._layout import Flux3Prompt

    if isinstance(prompt, Flux3Prompt):
        if asked != "auto":
            raise ParameterError(
                f"prompt_format={asked!r}: a FLUX 3 layout prompt is a caption and its boxes; "
                "pass the builder instead (its .compile() gives the JSON and prose forms)",
                parameter="prompt_format",
            )
        return prompt.text, prompt.fingerprint, "layout", None
    if isinstance(prompt, PromptBuilder) and form == "layout" and prompt.layout().elements:
        flux3 = prompt.compile_flux3()
        return flux3.text, flux3.fingerprint, "layout", None
    if isinstance(prompt, str):
        text, fingerprint = coerce_prompt(prompt)
        if asked == "json" and not _is_structured(prompt, text):
            raise ParameterError(
                "prompt_format='json': this prompt is plain text, not a JSON prompt; leave "
                "prompt_format unset to send it as written",
                parameter="prompt_format",
            )
        if asked != "prose" or not _is_structured(prompt, text):
            return text, fingerprint, "text", None
        from flux2prompt._errors import PromptError
        from flux2prompt._files import load

        try:
            loaded = load(text)
        except PromptError as exc:
            raise ParameterError(
                f"prompt_format='prose': the JSON text is not a prompt ({exc})",
                parameter="prompt_format",
            ) from None
        return loaded.to_prose(), fingerprint, "prose", loaded.to_json()
    rendered, fingerprint, form, wire = _render_prompt(prompt, spec, prompt_format)
    return rendered if isinstance(rendered, str) else rendered.to_prose(), fingerprint, form, wire


def _render_prompt(
    prompt: PromptLike, spec: FormSpec, prompt_format: str
) -> tuple[str | Prompt, str, str, str | None]:
    """:func:`render_prompt`, but a prose form is given as the compiled ``Prompt`` to render
    (a dry run never reads the prose)."""
    if isinstance(prompt, _prompt_class()):  # a compiled prompt, a template's: settled first
        asked = _asked_format(prompt_format)
        wire = prompt.to_json()
        if (spec.prompt_form if asked == "auto" else asked) == "json":
            return wire, prompt.fingerprint, "json", wire
        return prompt, prompt.fingerprint, "prose", wire
    if isinstance(prompt, (str, _flux3_class())):
        return render_prompt(prompt, spec, prompt_format)
    asked = _asked_format(prompt_format)
    form = spec.prompt_form if asked == "auto" else asked
    if form == "layout" and isinstance(prompt, _builder_class()) and prompt.layout().elements:
        return render_prompt(prompt, spec, prompt_format)
    structured = _as_prompt(prompt)
    wire = structured.to_json()
    if form == "json":
        return wire, structured.fingerprint, "json", wire
    return structured, structured.fingerprint, "prose", wire


def prompt_references(prompt: PromptLike) -> tuple[Reference, ...]:
    """The references a builder or a compiled prompt carries (none for anything else)."""
    if isinstance(prompt, _prompt_class()):
        return _references_of()(prompt)
    if isinstance(prompt, _builder_class()):
        return prompt.references()
    return ()


def resolve_prompt_citations(text: str, attached: tuple[Reference, ...], spec: FormSpec) -> str:
    """``text`` with each ``[ref:NAME]`` citation as the index ``spec``'s host gives it."""
    if "[ref:" not in text:
        return text
    from flux2prompt._errors import PromptError
    from flux2prompt._references import resolve_citations

    try:
        return resolve_citations(
            text, [item.name for item in attached], base=spec.reference_index_base
        )
    except PromptError as exc:
        raise ParameterError(str(exc), parameter="prompt") from None


def _check_int(name: str, value: object, spec: ModelSpec, low: int, high: int | None) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ParameterError(
            f"{name} must be an integer, got {shown_number(value)}", parameter=name
        )
    if value < low or (high is not None and value > high):
        bounds = f"{low}-{high}" if high is not None else f"at least {low}"
        raise ParameterError(
            f"{name} must be {bounds} for {spec.name}, got {shown_number(value)}",
            parameter=name,
        )
    if high is None and value.bit_length() > 14000 and count_digits(value) > MAX_DIGITS:
        raise ParameterError(
            f"{name} is {shown_number(value)}, too long to send (at most {MAX_DIGITS:,} "
            f"digits) for {spec.name}",
            parameter=name,
        )
    return value


def endpoint_url(
    model: str | ModelSpec,
    *,
    account_id: str = ACCOUNT_PLACEHOLDER,
    base_url: str = DEFAULT_BASE_URL,
    gateway: str | None = None,
    gateway_base_url: str = DEFAULT_GATEWAY_BASE_URL,
) -> str:
    """The URL a request for ``model`` is sent to: Workers AI directly, or through AI Gateway.

    The one place the endpoint templates are written; :func:`build_request` and the clients
    both ask it. The account id and gateway are used as given (check them with
    :func:`check_path_segment` first). A proxied model is always sent to the universal
    ``/ai/run`` endpoint: its gateway travels in the ``cf-aig-gateway-id`` header instead.

    Example:
        >>> endpoint_url("klein-4b", account_id="acc")
        'https://api.cloudflare.com/client/v4/accounts/acc/ai/run/@cf/black-forest-labs/flux-2-klein-4b'
        >>> endpoint_url("dev", account_id="acc", gateway="images")
        'https://gateway.ai.cloudflare.com/v1/acc/images/workers-ai/@cf/black-forest-labs/flux-2-dev'
        >>> endpoint_url("flex", account_id="acc", gateway="images")
        'https://api.cloudflare.com/client/v4/accounts/acc/ai/run'
    """
    spec = model if isinstance(model, ModelSpec) else resolve_model(model)
    if spec.route is Route.PROXIED:
        return f"{base_url.rstrip('/')}/accounts/{account_id}/ai/run"
    check_model_id(spec.id)
    if gateway is not None:
        return f"{gateway_base_url.rstrip('/')}/{account_id}/{gateway}/workers-ai/{spec.id}"
    return f"{base_url.rstrip('/')}/accounts/{account_id}/ai/run/{spec.id}"


def check_path_segment(name: str, value: str) -> str:
    """Return ``value`` if it can be one URL path segment (an account id, a gateway name).

    >>> check_path_segment("gateway", "images")
    'images'
    """
    if not isinstance(value, str):
        raise ParameterError(
            f"{name} must be a string (one URL path segment), got {type(value).__name__}",
            parameter=name,
        )
    # A slash, a backslash or a space would silently address another endpoint, and so would a
    # dot segment: the URL's path is normalised, so '..' drops the segment before it.
    if (
        not value
        or value in (".", "..")
        or any(c in value for c in "/\\?#% ")
        or not value.isprintable()
    ):
        raise ParameterError(
            f"{name} must be a single URL path segment (no '/', '\\', '?', '#', '%', spaces, "
            f"and not '.' or '..'), got {value!r}",
            parameter=name,
        )
    return value


@dataclass(frozen=True, slots=True)
class WorkersAIRequest:
    """One Workers AI request, built and checked but not sent.

    ``fields`` are the text fields in wire order (``prompt`` first, then the parameters): the
    multipart form itself on the multipart route, the same values as text on the JSON routes
    (for display); ``payload`` is the JSON body on the JSON and proxied routes (``None`` on the
    multipart route); ``images`` the input images read from paths or bytes (``input_image_N``
    parts, or data URIs in ``input_images``); ``references`` the proxied ``input_images`` in
    order, URLs as given and local images as data URIs; ``headers`` the ``cf-aig-*`` headers
    (never the ``Authorization`` header: the client adds that when it sends); ``advice`` the
    :class:`RequestAdvice` found while building.

    ``fingerprint`` is the request fingerprint: sha256 over canonical JSON of the model id, the
    prompt fingerprint, the sorted parameters and each input image in order (its sha256, or
    its URL). A parameter newer than the fingerprint (``prompt_upsampling``) enters it only when
    it differs from what the request would be without it, so an unchanged request keeps the
    fingerprint it always had; so does the form: ``prompt_format`` is the form the prompt was
    sent in (``"json"``, ``"prose"``, ``"layout"``, or ``"text"`` for a str sent as written), and
    enters the fingerprint only when it is not ``"json"`` or ``"text"``. ``prompt_json`` is the
    prompt's JSON wire text whatever form was sent (``None`` for a str or a layout prompt).

    Example:
        >>> req = build_request("a fox", seed=1)
        >>> req.fingerprint == build_request("a fox", seed=1).fingerprint
        True
        >>> req.fingerprint == build_request("a fox", seed=2).fingerprint
        False
    """

    model: ModelSpec
    url: str
    fields: Mapping[str, str]
    params: Mapping[str, ParamValue]
    images: tuple[InputImage, ...]
    headers: Mapping[str, str] = field(repr=False)
    prompt_fingerprint: str
    fingerprint: str
    payload: Mapping[str, Any] | None = field(default=None, repr=False)
    references: tuple[str, ...] = field(default=(), repr=False)
    advice: tuple[RequestAdvice, ...] = ()
    prompt_format: str = "json"
    prompt_json: str | None = field(default=None, repr=False)

    @property
    def prompt(self) -> str:
        """The text of the ``prompt`` field (compact wire JSON, or a plain text prompt)."""
        return self.fields["prompt"]

    @property
    def document(self) -> Any:
        """The prompt as JSON data (what a manifest records), whatever form was sent; a plain
        text prompt is its own str."""
        return prompt_data(self.prompt_json if self.prompt_json is not None else self.prompt)

    @property
    def route(self) -> Route:
        """How this request is sent (the model's :class:`Route`)."""
        return self.model.route

    @property
    def files(self) -> MultipartParts:
        """Every part, for ``httpx``'s ``files=``: text fields first, then the images.

        Text fields are parts without a filename (``(None, bytes)``), which is what a form's
        text field is on the wire. They go in ``files=`` rather than ``data=`` because httpx
        sends ``data=`` alone URL-encoded, and FLUX.2 refuses anything but multipart (5006).
        """
        parts: MultipartParts = [
            (name, (None, value.encode("utf-8"))) for name, value in self.fields.items()
        ]
        parts.extend(
            (image.field, (image.filename, image.data, image.media_type)) for image in self.images
        )
        return parts

    @property
    def content(self) -> bytes | None:
        """The JSON body of a JSON or proxied request (UTF-8, compact), else ``None``.

        Example:
            >>> build_request("a fox", model="schnell", steps=6).content
            b'{"prompt":"a fox","steps":6}'
        """
        if self.payload is None:
            return None
        return json.dumps(dict(self.payload), ensure_ascii=False, separators=(",", ":")).encode()

    @property
    def seed(self) -> int | None:
        """The seed sent, or ``None`` when the service picks one."""
        seed = self.params.get("seed")
        return int(seed) if seed is not None else None

    @property
    def estimated_cost(self) -> float:
        """The price in USD of this generation, by :func:`estimate_cost` (model, size, steps
        and the input images as sent). A model without a published price raises
        :class:`ParameterError` saying how it is billed.

        Example:
            >>> round(build_request("a fox", model="klein-4b", width=1024, height=1024)
            ...       .estimated_cost, 6)
            0.001148
        """
        return _price(self.model, self.params, self.images)

    def __repr__(self) -> str:
        return (
            f"WorkersAIRequest(model={self.model.id!r}, params={dict(self.params)!r}, "
            f"images={len(self.images) + self._url_references}, "
            f"prompt={len(self.prompt)} chars, fingerprint={self.fingerprint!r})"
        )

    @property
    def _url_references(self) -> int:
        return sum(1 for ref in self.references if not ref.startswith("data:"))


def _price(
    spec: ModelSpec, params: Mapping[str, ParamValue], images: tuple[InputImage, ...]
) -> float:
    """What a request of ``spec`` with ``params`` (its size and steps) and ``images`` costs."""
    steps = params.get("steps")
    width = params.get("width")
    height = params.get("height")
    return estimate_cost(
        spec,
        int(width) if width is not None else None,
        int(height) if height is not None else None,
        int(steps) if steps is not None else None,
        [(image.width, image.height) for image in images],
    )


def _is_structured(prompt: PromptLike, text: str) -> bool:
    # Anything but a str is compiled to a JSON prompt; a str is structured when it is a JSON
    # object (a prompt serialised by hand).
    return not isinstance(prompt, str) or is_json_object(text)


def is_json_object(text: str) -> bool:
    """Whether a prompt's ``text`` is a JSON object (a prompt serialised by hand); one nested
    past any parser's depth is text.

    >>> is_json_object('{"scene": "dunes"}'), is_json_object("dunes"), is_json_object("[1]")
    (True, False, False)
    """
    if not text.lstrip().startswith("{"):
        return False
    try:
        return isinstance(json.loads(text), dict)
    except (ValueError, RecursionError):
        return False


def prompt_data(text: str) -> Any:
    """A prompt's ``text`` as JSON data when it is JSON, else the text itself: what a manifest
    records of it.

    >>> prompt_data('{"scene": "dunes"}'), prompt_data("dunes")
    ({'scene': 'dunes'}, 'dunes')
    """
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return text


def _is_url_reference(source: object) -> bool:
    return isinstance(source, str) and source.startswith(("https://", "http://", "data:"))


def _check_side(name: str, value: object, spec: ModelSpec) -> int:
    checked = _check_int(name, value, spec, spec.min_side, spec.max_side)
    if checked % spec.side_multiple:
        low = checked - checked % spec.side_multiple
        raise ParameterError(
            f"{name} must be a multiple of {spec.side_multiple} for {spec.name}, got {checked} "
            f"(try {low} or {low + spec.side_multiple})",
            parameter=name,
        )
    return checked


def build_request(
    prompt: PromptLike,
    *,
    model: str | ModelSpec = DEFAULT_MODEL,
    width: int | None = None,
    height: int | None = None,
    steps: int | None = None,
    guidance: float | None = None,
    seed: int | None = None,
    images: Iterable[ImageSource] = (),
    account_id: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
    gateway: str | None = None,
    gateway_base_url: str = DEFAULT_GATEWAY_BASE_URL,
    gateway_options: GatewayOptions | None = None,
    resize_images: bool = True,
    prompt_upsampling: bool | None = None,
    safety_tolerance: int | None = None,
    output_format: str | None = None,
    allow_unknown_model: bool = False,
    route: Route | str | None = None,
    prompt_format: str = "auto",
) -> WorkersAIRequest:
    """Build and check a request without sending it: a pure function (it only reads images).

    Every parameter is checked against the model's catalogue entry (its route, fields and
    limits). On models that take a size, width and height default to the model's defaults
    (1024x768) and are always sent, so the fingerprint says what will be generated;
    ``steps``, ``guidance`` and ``seed`` are sent only when given. Without ``account_id`` the
    URL holds the placeholder ``{account_id}``.

    Proxied models (``flex``, ``pro-preview``, ``max``, ``klein-9b-proxied``) also take
    ``safety_tolerance`` (0-5), ``output_format`` (``"jpeg"``, ``"png"``, ``"webp"``) and
    ``images`` given as https URLs or data URIs as well as paths and bytes; ``gateway`` becomes
    their ``cf-aig-gateway-id`` header. ``prompt_upsampling`` is sent where the model takes it:
    flex defaults it to true, so a structured JSON prompt is sent with
    ``prompt_upsampling: false`` unless you ask otherwise, and asking for it on a JSON prompt
    draws advice ``F2R101`` (a :class:`RequestAdviceWarning`). ``allow_unknown_model=True``
    with a ``route`` sends a model id the catalogue does not know.

    It is :meth:`RequestTemplate.build` of a template holding everything but the prompt and
    the seed (a batch builds one template and every item's request from it).

    Example:
        >>> req = build_request({"scene": "a tea house"}, model="dev", steps=28, guidance=3.5)
        >>> dict(req.params)
        {'width': 1024, 'height': 768, 'steps': 28, 'guidance': 3.5}
        >>> req.fingerprint.startswith("sha256:")
        True
        >>> flex = build_request({"scene": "a tea house"}, model="flex", width=64, height=64)
        >>> flex.url.endswith("/ai/run"), flex.payload["input"]["prompt_upsampling"]
        (True, False)
    """
    template = RequestTemplate(
        model=model, width=width, height=height, steps=steps, guidance=guidance, images=images,
        account_id=account_id, base_url=base_url, gateway=gateway,
        gateway_base_url=gateway_base_url, gateway_options=gateway_options,
        resize_images=resize_images, prompt_upsampling=prompt_upsampling,
        safety_tolerance=safety_tolerance, output_format=output_format,
        allow_unknown_model=allow_unknown_model, route=route, prompt_format=prompt_format,
    )  # fmt: skip
    return template.build(prompt, seed=seed, stacklevel=3)


#: ``images`` of :meth:`RequestTemplate.build` left out: the template's own.
_TEMPLATE_IMAGES: Any = object()


def _texts(params: Mapping[str, ParamValue]) -> dict[str, str]:
    """Parameters as the text fields send them (flags as ``true``/``false``)."""
    return {
        name: str(sent).lower() if isinstance(sent, bool) else str(sent)
        for name, sent in params.items()
    }


class _Post:
    """What a template's requests share for one kind of prompt (its form, structured or
    not): the sizes, steps and guidance (before the seed) and the parameters after it, as
    values and as text; what the fingerprint leaves out; the advice; the fingerprint's
    canonical JSON around the seed and prompt fingerprint, per set of input images."""

    __slots__ = (
        "_parts",
        "_prices",
        "advice",
        "form",
        "params",
        "sizes",
        "sizes_text",
        "text",
        "unfingerprinted",
    )

    def __init__(
        self,
        form: str,
        sizes: dict[str, ParamValue],
        params: dict[str, ParamValue],
        unfingerprinted: frozenset[str],
        advice: tuple[RequestAdvice, ...],
    ) -> None:
        self.form = form
        self.sizes, self.sizes_text = sizes, _texts(sizes)
        self.params, self.text = params, _texts(params)
        self.unfingerprinted = unfingerprinted
        self.advice = advice
        self._parts: dict[tuple[tuple[str, ...], bool], tuple[str, str]] = {}
        self._prices: dict[tuple[tuple[int, int], ...], float] = {}

    def price(self, spec: ModelSpec, images: tuple[InputImage, ...]) -> float:
        """What a request of this kind with ``images`` costs (:func:`_price` of its size and
        steps), kept per set of image sizes."""
        key = tuple([(image.width, image.height) for image in images]) if images else ()
        price = self._prices.get(key)
        if price is None:
            if len(self._prices) >= 64:  # per-item images: a few kept, not all
                self._prices.clear()
            price = self._prices[key] = _price(spec, self.sizes, images)
        return price

    def fingerprint(
        self, identities: tuple[str, ...], seed: int | None, prompt_fingerprint: str, model_id: str
    ) -> str:
        """The request fingerprint: ``sha256:`` and the SHA-256 of the canonical JSON of the
        request's identity (model id, prompt fingerprint, sorted parameters, images, and the
        form unless JSON or text), as ``canonical_json`` writes it, from a prefix and a suffix
        kept around the seed."""
        key = (identities, seed is not None)
        parts = self._parts.get(key)
        if parts is None:
            identity: dict[str, Any] = {
                "model": model_id,
                "prompt": "",
                "params": {
                    k: v
                    for k, v in sorted({**self.sizes, **self.params}.items())
                    if k not in self.unfingerprinted
                },
                "images": list(identities),
            }
            if self.form not in ("json", "text"):
                # Newer than the fingerprint: a JSON request keeps the fingerprint it always had.
                identity["form"] = self.form
            if len(self._parts) >= 64:  # per-item images: a few kept, not all
                self._parts.clear()
            parts = self._parts[key] = _split_identity(identity, with_seed=seed is not None)
        head, tail = parts
        seed_text = "" if seed is None else int.__repr__(seed)
        # A prompt fingerprint ("sha256:" and hex digits) is its own JSON string, quoted.
        plain = prompt_fingerprint.startswith("sha256:") and prompt_fingerprint[7:].isalnum()
        quoted = f'"{prompt_fingerprint}"' if plain else encode_basestring(prompt_fingerprint)
        text = f"{head}{seed_text}{tail}{quoted}}}"
        return FINGERPRINT_PREFIX + sha256(text.encode("utf-8")).hexdigest()


class _PromptFields(Mapping[str, str]):
    """A request's text fields whose ``prompt`` (prose) is rendered on first use: a dry run
    never needs it. Equal, in every way a mapping is read, to the fields written out."""

    __slots__ = ("_prompt", "_render", "_rest")

    def __init__(self, render: Any, rest: Mapping[str, str]) -> None:
        self._render = render
        self._prompt: str | None = None
        self._rest = rest

    def _text(self) -> str:
        if self._prompt is None:
            self._prompt = self._render()
        return self._prompt

    def __getitem__(self, key: str) -> str:
        if key == "prompt":
            return self._text()
        return self._rest[key]

    def __iter__(self) -> Iterator[str]:
        yield "prompt"
        yield from self._rest

    def __len__(self) -> int:
        return len(self._rest) + 1

    def __contains__(self, key: object) -> bool:
        return key == "prompt" or key in self._rest

    def __reversed__(self) -> Iterator[str]:
        yield from reversed(tuple(self._rest))
        yield "prompt"

    # What a read-only view of a dict (the fields of an eager request) also offers.
    def copy(self) -> dict[str, str]:
        """The fields as a new dict."""
        return dict(self)

    def __or__(self, other: Mapping[str, str]) -> dict[str, str]:
        return {**self, **other}

    def __ror__(self, other: Mapping[str, str]) -> dict[str, str]:
        return {**other, **self}

    def __repr__(self) -> str:
        return repr(dict(self))


class PlannedRequest:
    """A request :meth:`RequestTemplate.plan` checked and fingerprinted: what a batch's plan
    reads (the fingerprint, the seed, the price) without the request itself, which is put
    together the first time :attr:`request` is read (the same one :meth:`RequestTemplate.build`
    gives).

    Example:
        >>> planned = RequestTemplate(model="klein-4b", width=512, height=512).plan("a fox", seed=1)
        >>> planned.fingerprint == planned.request.fingerprint, planned.request.seed
        (True, 1)
        >>> planned.request is planned.request
        True
    """

    __slots__ = (
        "_images",
        "_later",
        "_post",
        "_prompt_json",
        "_request",
        "_template",
        "_text",
        "fingerprint",
        "prompt_fingerprint",
        "seed",
    )  # fmt: skip

    def __init__(
        self,
        template: RequestTemplate,
        post: _Post,
        images: tuple[tuple[InputImage, ...], tuple[str, ...], tuple[str, ...]],
        seed: int | None,
        text: str,
        later: Prompt | None,
        prompt_fingerprint: str,
        prompt_json: str | None,
        fingerprint: str,
    ) -> None:
        self._template, self._post, self._images = template, post, images
        self.seed: int | None = seed
        self._text, self._later = text, later
        self.prompt_fingerprint: str = prompt_fingerprint
        self._prompt_json = prompt_json
        #: The request fingerprint (:attr:`WorkersAIRequest.fingerprint`).
        self.fingerprint: str = fingerprint
        self._request: WorkersAIRequest | None = None

    @property
    def request(self) -> WorkersAIRequest:
        """The request itself, put together on first use and kept."""
        request = self._request
        if request is None:
            request = self._request = self._template._assemble(self)
        return request

    @property
    def model(self) -> ModelSpec:
        """The model the request is for."""
        return self._template.spec

    @property
    def estimated_cost(self) -> float:
        """:attr:`WorkersAIRequest.estimated_cost`, without putting the request together."""
        return self._post.price(self._template.spec, self._images[0])

    def __repr__(self) -> str:
        return f"PlannedRequest(fingerprint={self.fingerprint!r})"


class RequestTemplate:
    """Everything of a Workers AI request but its prompt and seed, checked once.

    :func:`build_request` is ``RequestTemplate(**options).build(prompt, seed=seed)``, and a
    batch (:func:`~flux2prompt._versioning._requests.variant_requests`) builds every item's
    request from one template: the model is resolved once, the parameters, the reference images,
    the URL and the headers are checked and prepared the first time a request needs them (in
    the order :func:`build_request` documents, so the first error is the same one) and kept,
    and the request fingerprint's canonical JSON is written from a prefix kept per kind of
    prompt. The requests are the ones :func:`build_request` gives, field for field. A batch's
    plan (:func:`~flux2prompt._versioning._requests.planned_requests`) calls :meth:`plan`,
    which checks and fingerprints a request and leaves putting it together to the first read.

    Example:
        >>> template = RequestTemplate(model="klein-4b", width=512, height=512)
        >>> a, b = template.build("a fox", seed=1), template.build("a fox", seed=2)
        >>> a.fingerprint == build_request("a fox", model="klein-4b", width=512, height=512,
        ...                                 seed=1).fingerprint, a.fingerprint == b.fingerprint
        (True, False)
    """

    __slots__ = (
        "_account_id",
        "_base_url",
        "_gateway",
        "_gateway_base_url",
        "_gateway_options",
        "_guidance",
        "_height",
        "_images",
        "_output_format",
        "_own",
        "_post",
        "_prompt_format",
        "_prompt_upsampling",
        "_resize_images",
        "_safety_tolerance",
        "_sizes",
        "_steps",
        "_where",
        "_width",
        "spec",
    )  # fmt: skip

    def __init__(
        self,
        *,
        model: str | ModelSpec = DEFAULT_MODEL,
        width: int | None = None,
        height: int | None = None,
        steps: int | None = None,
        guidance: float | None = None,
        images: Iterable[ImageSource] = (),
        account_id: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        gateway: str | None = None,
        gateway_base_url: str = DEFAULT_GATEWAY_BASE_URL,
        gateway_options: GatewayOptions | None = None,
        resize_images: bool = True,
        prompt_upsampling: bool | None = None,
        safety_tolerance: int | None = None,
        output_format: str | None = None,
        allow_unknown_model: bool = False,
        route: Route | str | None = None,
        prompt_format: str = "auto",
    ) -> None:
        self.spec = resolve_model(model, allow_unknown_model=allow_unknown_model, route=route)
        self._width, self._height, self._steps, self._guidance = width, height, steps, guidance
        self._own = _own_images(images)
        self._account_id, self._base_url = account_id, base_url
        self._gateway, self._gateway_base_url = gateway, gateway_base_url
        self._gateway_options = gateway_options
        if not isinstance(resize_images, bool):
            raise ParameterError(
                f"resize_images must be True or False, got {resize_images!r}",
                parameter="resize_images",
            )
        self._resize_images = resize_images
        self._prompt_upsampling = prompt_upsampling
        self._safety_tolerance, self._output_format = safety_tolerance, output_format
        self._prompt_format = prompt_format
        # Kept once they have been checked (a failed check is made again, and raises again).
        self._sizes: dict[str, ParamValue] | None = None
        self._post: dict[tuple[str, bool], _Post] = {}
        self._images: tuple[tuple[InputImage, ...], tuple[str, ...], tuple[str, ...]] | None = None
        self._where: tuple[str, Mapping[str, str]] | None = None

    def build(
        self,
        prompt: PromptLike,
        *,
        seed: int | None = None,
        images: Iterable[ImageSource] = _TEMPLATE_IMAGES,
        stacklevel: int = 2,
    ) -> WorkersAIRequest:
        """The request for ``prompt`` with ``seed`` and the template's images (or ``images``,
        for one item's own); ``stacklevel`` of the advice warnings counts from the caller.

        It is :meth:`plan`'s request: checked and fingerprinted there, put together here."""
        return self.plan(prompt, seed=seed, images=images, stacklevel=stacklevel + 1).request

    def plan(
        self,
        prompt: PromptLike,
        *,
        seed: int | None = None,
        images: Iterable[ImageSource] = _TEMPLATE_IMAGES,
        stacklevel: int = 2,
    ) -> PlannedRequest:
        """:meth:`build`'s request, checked and fingerprinted but put together only when it is
        first read (:attr:`PlannedRequest.request`): every check runs, in the same order, and
        the same advice is given, now; a batch's plan reads only the fingerprint and price."""
        spec = self.spec
        rendered, prompt_fingerprint, form, prompt_json = _render_prompt(
            prompt, spec, self._prompt_format
        )
        # The builder's references go first, then the request's own images; the prompt's
        # citations ([ref:NAME]) become the index this host gives each one.
        attached = prompt_references(prompt)
        # A prose prompt is rendered when it is first read (see _PromptFields), when nothing
        # about it needs checking now: no length limit and no citation in the prompt.
        later: Prompt | None = None
        if isinstance(rendered, str):
            text = resolve_prompt_citations(rendered, attached, spec)
        elif (
            spec.route is Route.MULTIPART
            and spec.max_prompt_chars is None
            and prompt_json is not None
            and "[ref:" not in prompt_json
        ):
            later, text = rendered, ""
        else:
            text = resolve_prompt_citations(rendered.to_prose(), attached, spec)
        if spec.max_prompt_chars is not None and len(text) > spec.max_prompt_chars:
            raise ParameterError(
                f"{spec.name} takes a prompt of at most {spec.max_prompt_chars} characters, got "
                f"{len(text)}: shorten it, or use a FLUX.2 model",
                parameter="prompt",
            )

        # Only models that take prompt_upsampling care what kind of prompt this is.
        structured = spec.prompt_upsampling_default is not None and (
            form in ("json", "layout") or (form == "text" and _is_structured(prompt, text))
        )
        post = self._post.get((form, structured))
        if post is None and self._sizes is None:
            self._check_sizes()  # before the seed, as build_request documents its checks
        if seed is not None:
            if "seed" not in spec.fields:
                raise ParameterError(
                    f"{spec.name} does not take a seed: leave seed unset", parameter="seed"
                )
            seed = _check_int("seed", seed, spec, 0, spec.max_seed)
        if post is None:
            post = self._check_post(form, structured)

        if attached or images is not _TEMPLATE_IMAGES:
            own = self._own if images is _TEMPLATE_IMAGES else _own_images(images)
            prepared = _prepare_images(spec, attached, own, self._resize_images)
        elif self._images is not None:
            prepared = self._images
        else:
            prepared = self._images = _prepare_images(spec, (), self._own, self._resize_images)
        if self._where is None:
            self._check_where()

        fingerprint = post.fingerprint(prepared[2], seed, prompt_fingerprint, spec.id)
        for item in post.advice:
            warn_advice(item, stacklevel=stacklevel)
        return PlannedRequest(
            self, post, prepared, seed, text, later, prompt_fingerprint, prompt_json, fingerprint
        )

    def _assemble(self, planned: PlannedRequest) -> WorkersAIRequest:
        """The request :meth:`plan` checked (nothing here can fail)."""
        spec, post, seed, text = self.spec, planned._post, planned.seed, planned._text
        if seed is None:
            params = {**post.sizes, **post.params}
            rest = {**post.sizes_text, **post.text}
        else:
            params = {**post.sizes, "seed": seed, **post.params}
            rest = {**post.sizes_text, "seed": str(seed), **post.text}
        prepared, references, _ = planned._images
        url, headers = self._where or self._check_where()
        fields: Mapping[str, str]
        if planned._later is not None:
            fields = _PromptFields(planned._later.to_prose, rest)
        else:
            fields = MappingProxyType({"prompt": text, **rest})
        payload: dict[str, Any] | None = None
        if spec.route is Route.JSON:
            payload = {"prompt": text, **{spec.wire_name(k): v for k, v in params.items()}}
        elif spec.route is Route.PROXIED:
            given: dict[str, Any] = {"prompt": text}
            given.update((spec.wire_name(k), v) for k, v in params.items())
            if references:
                given["input_images"] = list(references)
            payload = {"model": spec.id, "input": given}
        return WorkersAIRequest(
            model=spec,
            url=url,
            fields=fields,
            params=MappingProxyType(params),
            images=prepared,
            headers=headers,
            prompt_fingerprint=planned.prompt_fingerprint,
            fingerprint=planned.fingerprint,
            payload=MappingProxyType(payload) if payload is not None else None,
            references=references if spec.route is Route.PROXIED else (),
            advice=post.advice,
            prompt_format=post.form,
            prompt_json=planned._prompt_json,
        )

    def _check_sizes(self) -> dict[str, ParamValue]:
        spec = self.spec
        params: dict[str, ParamValue] = {}
        for name, value, default in (
            ("width", self._width, spec.default_width),
            ("height", self._height, spec.default_height),
        ):
            if name in spec.fields:
                params[name] = _check_side(name, default if value is None else value, spec)
            elif value is not None:
                raise ParameterError(
                    f"{spec.name} does not take {name} (it makes {spec.default_width}x"
                    f"{spec.default_height} images): leave {name} unset",
                    parameter=name,
                )
        if spec.max_pixels is not None:
            pixels = int(params["width"]) * int(params["height"])
            if pixels > spec.max_pixels:
                raise ParameterError(
                    f"width x height must be at most {spec.max_pixels:,} pixels for {spec.name} "
                    f"(4 megapixels), got {params['width']}x{params['height']} = {pixels:,}",
                    parameter="width",
                )
        steps, guidance = self._steps, self._guidance
        if steps is not None:
            if spec.fixed_steps is not None or "steps" not in spec.fields:
                fixed = f" (fixed at {spec.fixed_steps})" if spec.fixed_steps is not None else ""
                raise ParameterError(
                    f"{spec.name} does not take steps{fixed}: leave steps unset",
                    parameter="steps",
                )
            params["steps"] = _check_int("steps", steps, spec, 1, spec.max_steps)
        if guidance is not None:
            if "guidance" not in spec.fields:
                raise ParameterError(
                    f"{spec.name} does not take guidance: leave guidance unset",
                    parameter="guidance",
                )
            if isinstance(guidance, bool) or not isinstance(guidance, int | float):
                raise ParameterError(
                    f"guidance must be a number, got {shown_number(guidance)}",
                    parameter="guidance",
                )
            low, high = spec.guidance_range or (0.0, math.inf)
            try:
                finite = math.isfinite(guidance)  # an int past a float's range overflows
            except OverflowError:
                finite = False
            if not finite or not low <= guidance <= high:
                bounds = f"{low:g}-{high:g}" if spec.guidance_range else ">= 0"
                raise ParameterError(
                    f"guidance must be a finite number {bounds} for {spec.name}, got "
                    f"{shown_number(guidance)}",
                    parameter="guidance",
                )
            # A float always: 3 and 3.0 are the same request and must share a fingerprint.
            params["guidance"] = float(guidance)
        self._sizes = params
        return params

    def _check_post(self, form: str, structured: bool) -> _Post:
        spec = self.spec
        prompt_upsampling = self._prompt_upsampling
        params: dict[str, ParamValue] = {}
        # Fields newer than the fingerprint: each enters it only when not at its default.
        unfingerprinted: frozenset[str] = frozenset()
        advice: list[RequestAdvice] = []
        takes_upsampling = spec.prompt_upsampling_default is not None
        if prompt_upsampling is not None:
            if not isinstance(prompt_upsampling, bool):
                raise ParameterError(
                    f"prompt_upsampling must be True or False, got {prompt_upsampling!r}",
                    parameter="prompt_upsampling",
                )
            if spec.prompt_upsampling_default is None:
                raise ParameterError(
                    f"{spec.name} does not take prompt_upsampling: leave it unset",
                    parameter="prompt_upsampling",
                )
            params["prompt_upsampling"] = prompt_upsampling
            if prompt_upsampling and form == "layout":
                advice.append(
                    RequestAdvice(
                        "F2R102",
                        "prompt_upsampling",
                        f"{spec.name} rewrites the prompt before generating, which moves or "
                        "drops the boxes of a FLUX 3 layout prompt (the element table is text "
                        "to it); leave prompt_upsampling unset to send the layout as written",
                    )
                )
            elif prompt_upsampling and structured:
                advice.append(
                    RequestAdvice(
                        "F2R101",
                        "prompt_upsampling",
                        f"{spec.name} rewrites the prompt before generating, which undoes a "
                        "structured JSON prompt (its subjects, palette and text lose their "
                        "places); leave prompt_upsampling unset to send it as written. The "
                        "prompt actually run is kept in ImageResult.effective_prompt",
                    )
                )
        elif spec.prompt_upsampling_default and structured:
            params["prompt_upsampling"] = False
        if takes_upsampling:
            ours = False if structured else spec.prompt_upsampling_default
            if params.get("prompt_upsampling", ours) == ours:
                unfingerprinted = frozenset({"prompt_upsampling"})
        safety_tolerance, output_format = self._safety_tolerance, self._output_format
        if safety_tolerance is not None:
            if spec.max_safety_tolerance is None:
                raise ParameterError(
                    f"{spec.name} does not take safety_tolerance: leave it unset",
                    parameter="safety_tolerance",
                )
            params["safety_tolerance"] = _check_int(
                "safety_tolerance", safety_tolerance, spec, 0, spec.max_safety_tolerance
            )
        if output_format is not None:
            if not spec.output_formats:
                raise ParameterError(
                    f"{spec.name} does not take output_format: leave it unset",
                    parameter="output_format",
                )
            fmt = output_format.strip().lower() if isinstance(output_format, str) else output_format
            fmt = "jpeg" if fmt == "jpg" else fmt
            if fmt not in spec.output_formats:
                raise ParameterError(
                    f"output_format must be one of {', '.join(spec.output_formats)}, got "
                    f"{output_format!r}",
                    parameter="output_format",
                )
            params["output_format"] = str(fmt)
        post = _Post(
            form, self._sizes or self._check_sizes(), params, unfingerprinted, tuple(advice)
        )
        self._post[(form, structured)] = post
        return post

    def _check_where(self) -> tuple[str, Mapping[str, str]]:
        spec = self.spec
        account_id, gateway, gateway_options = (
            self._account_id,
            self._gateway,
            self._gateway_options,
        )
        if gateway_options is not None and not isinstance(gateway_options, GatewayOptions):
            raise ParameterError(
                f"gateway_options must be a GatewayOptions, got {type(gateway_options).__name__}:"
                " pass GatewayOptions(cache_ttl=..., ...)",
                parameter="gateway_options",
            )
        account = (
            ACCOUNT_PLACEHOLDER
            if account_id is None
            else check_path_segment("account_id", account_id)
        )
        headers: dict[str, str] = {}
        if spec.route is Route.PROXIED:
            # Proxied calls always pass through AI Gateway (the account's default one when none
            # is named), so gateway options apply with or without a gateway id.
            if gateway is not None:
                headers["cf-aig-gateway-id"] = check_path_segment("gateway", gateway)
            if gateway_options is not None:
                headers.update(gateway_options.headers())
        elif gateway is not None:
            gateway = check_path_segment("gateway", gateway)
            headers = gateway_options.headers() if gateway_options is not None else {}
        elif gateway_options is not None:
            raise ParameterError(
                "gateway_options need a gateway: pass gateway='your-gateway-id' as well",
                parameter="gateway_options",
            )
        url = endpoint_url(
            spec,
            account_id=account,
            base_url=self._base_url,
            gateway=gateway,
            gateway_base_url=self._gateway_base_url,
        )
        self._where = (url, MappingProxyType(headers))
        return self._where


def _own_images(images: Iterable[ImageSource]) -> list[ImageSource]:
    single = isinstance(images, str | bytes | bytearray | os.PathLike) or not isinstance(
        images, Iterable
    )
    return [images] if single else list(images)  # type: ignore[list-item]


def _prepare_images(
    spec: ModelSpec,
    attached: tuple[Reference, ...],
    own: list[ImageSource],
    resize_images: bool,
) -> tuple[tuple[InputImage, ...], tuple[str, ...], tuple[str, ...]]:
    """``(images read, references sent, identities fingerprinted)`` of the prompt's
    references followed by the request's own images."""
    sources: list[ImageSource] = [item.source for item in attached] + own
    if len(sources) > spec.max_input_images:
        takes = (
            f"takes at most {spec.max_input_images} input images"
            if spec.max_input_images
            else "takes no input images"
        )
        counted = (
            f" ({len(attached)} references of the prompt and {len(own)} images)" if attached else ""
        )
        raise ParameterError(
            f"{spec.name} {takes}, got {len(sources)}{counted}",
            parameter="images",
        )
    prepared: list[InputImage] = []
    references: list[str] = []
    identities: list[str] = []
    for index, source in enumerate(sources):
        if _is_url_reference(source):
            assert isinstance(source, str)
            if spec.route is not Route.PROXIED:
                raise ParameterError(
                    f"images[{index}] is a URL, and {spec.name} takes input images as files: "
                    "pass a path or bytes (URLs are for proxied models such as flex)",
                    parameter=f"images[{index}]",
                )
            references.append(source)
            identities.append(source)
            continue
        max_side = spec.max_input_side if spec.max_input_side is not None else 1 << 30
        image = prepare_image(source, index, resize=resize_images, max_side=max_side)
        prepared.append(image)
        identities.append(image.sha256)
        encoded = base64.b64encode(image.data).decode("ascii")
        references.append(f"data:{image.media_type};base64,{encoded}")
    return tuple(prepared), tuple(references), tuple(identities)


def _split_identity(identity: dict[str, Any], *, with_seed: bool) -> tuple[str, str]:
    """``canonical_json(identity)`` cut where the seed's number (when there is one) and the
    prompt fingerprint's JSON string go: ``head + seed + tail + prompt + "}"`` is the text."""
    marker = "\x00"
    params = dict(identity["params"])
    if with_seed:
        params["seed"] = 0
    text = canonical_json({**identity, "params": params, "prompt": marker})
    # The prompt is the last key, its marker the text's only escaped NUL.
    cut = text.rindex('"\\u0000"}')
    before, tail = text[:cut], text[cut:].removesuffix('"\\u0000"}')
    if not with_seed:
        return before, tail
    seed_at = before.rindex('"seed":0') + len('"seed":')
    return before[:seed_at], before[seed_at + 1 :]
