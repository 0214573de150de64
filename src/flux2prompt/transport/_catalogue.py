"""The models flux2prompt knows: how each is called, its fields, limits, defaults and prices.

This module is data in one place: the request builder validates against it, the clients send by
its :class:`Route`, and :func:`estimate_cost` prices against it. There are three routes:

===========  ==========================================  ============================
route        request                                     answer
===========  ==========================================  ============================
multipart    ``POST /ai/run/{model}``, multipart/form     ``result.image`` in base64
json         ``POST /ai/run/{model}``, a JSON body        ``result.image`` in base64
proxied      ``POST /ai/run``, ``{"model", "input"}``     ``state`` and an image URL
===========  ==========================================  ============================

A model id that is not listed is refused with a did-you-mean; ``allow_unknown_model=True`` with
a stated ``route`` sends it anyway, with that route's generic limits.

Example:
    >>> spec = resolve_model("klein-4b")
    >>> spec.id, spec.route.value, spec.fixed_steps, spec.max_input_images
    ('@cf/black-forest-labs/flux-2-klein-4b', 'multipart', 4, 4)
    >>> resolve_model("flex").route.value, resolve_model("flex").min_side
    ('proxied', 64)
"""

from __future__ import annotations

import difflib
import math
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from flux2prompt.transport._constants import MAX_INPUT_IMAGE_SIDE, MAX_INPUT_IMAGES
from flux2prompt.transport._errors import ParameterError

__all__ = [
    "MEGAPIXEL",
    "MODELS",
    "PROMPT_FORMATS",
    "PROMPT_FORMS",
    "UNIFIED_BILLING_NOTE",
    "ModelSpec",
    "Pricing",
    "PricingScheme",
    "Provider",
    "Route",
    "UnknownModelWarning",
    "check_model_id",
    "estimate_cost",
    "resolve_model",
]

#: One billed megapixel, as Cloudflare's pricing page defines it for klein-9b: 1024x1024 pixels.
MEGAPIXEL: Final = 1024 * 1024

#: The forms a structured prompt can be sent in: compact JSON (FLUX.2 [dev], [pro], [flex],
#: [max]), prose sentences (FLUX.2 [klein], which reads flowing prose best and has no prompt
#: upsampling), or a caption with its element table of boxes (FLUX 3 Image).
PROMPT_FORMS: Final = ("json", "prose", "layout")
#: What a request's ``prompt_format`` may ask: ``auto`` (the model's own form) or a form.
PROMPT_FORMATS: Final = ("auto", "json", "prose")

#: What a cost estimate of a proxied model says instead of a number.
UNIFIED_BILLING_NOTE: Final = "billed in credits through Unified Billing, see the dashboard"


class UnknownModelWarning(UserWarning):
    """Warned when a model id that the catalogue does not know is sent anyway.

    That takes ``allow_unknown_model=True`` and a stated route; the route's generic limits apply.

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     spec = resolve_model("@cf/black-forest-labs/flux-3-dev",
        ...                          allow_unknown_model=True, route="multipart")
        >>> caught[0].category is UnknownModelWarning, spec.known
        (True, False)
    """


class Route(StrEnum):
    """How a model is called (see the table at the top of this module).

    Example:
        >>> Route("proxied") is Route.PROXIED, resolve_model("schnell").route
        (True, <Route.JSON: 'json'>)
    """

    MULTIPART = "multipart"  # model in the path, multipart/form-data (FLUX.2 on @cf/)
    JSON = "json"  # model in the path, a JSON body (flux-1-schnell)
    PROXIED = "proxied"  # /ai/run with {"model", "input"}; the answer is an image URL


class Provider(StrEnum):
    """Who hosts a model: Cloudflare Workers AI (this module's :data:`MODELS`) or Black Forest
    Labs' own API (:data:`flux2prompt.transport.BFL_MODELS`). A job file names it as
    ``provider = "bfl"``.

    Example:
        >>> Provider("bfl"), Provider.WORKERS_AI.value
        (<Provider.BFL: 'bfl'>, 'workers-ai')
    """

    WORKERS_AI = "workers-ai"
    BFL = "bfl"


class PricingScheme(StrEnum):
    """How a model is billed (see :class:`Pricing`).

    Example:
        >>> resolve_model("klein-9b").pricing.scheme
        <PricingScheme.MEGAPIXEL: 'megapixel'>
    """

    TILE_STEP = "tile_step"  # per 512x512 tile per step (flux-2-dev)
    TILE = "tile"  # per 512x512 tile (flux-2-klein-4b)
    MEGAPIXEL = "megapixel"  # first output megapixel, further megapixels, input megapixels


@dataclass(frozen=True, slots=True)
class Pricing:
    """One model's published prices in USD; ``scheme`` says which rates apply.

    Example:
        >>> resolve_model("dev").pricing.output_rate
        0.00041
    """

    scheme: PricingScheme
    input_rate: float  # per input tile (per step for TILE_STEP), or per input megapixel
    output_rate: float  # per output tile (per step for TILE_STEP), or per further megapixel
    first_output_megapixel: float = 0.0  # MEGAPIXEL only


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """What one Workers AI model accepts, and how it is called.

    ``route`` says how it is called; ``fields`` are the parameters it takes besides ``prompt``
    and the input images (the names of :func:`build_request`); ``wire_names`` maps the ones the
    host spells differently (``steps`` is ``num_steps`` on the proxied klein-9b).
    ``fixed_steps`` is set when ``steps`` is fixed by the model and must not be sent;
    ``default_steps`` is the step count assumed for cost estimates when none is given.
    ``side_multiple`` and ``max_pixels`` are 1 and ``None`` where no such rule is documented;
    ``max_input_side`` is ``None`` where input images are not downscaled.
    ``prompt_upsampling_default`` is the host's default for ``prompt_upsampling`` (``None``: the
    model does not take the field). ``prompt_form`` is the form of prompt the model reads best
    (one of :data:`PROMPT_FORMS`), what ``prompt_format="auto"`` sends. ``pricing`` is ``None``
    where no price is published; ``billing_note`` then says how the model is billed.

    Example:
        >>> spec = resolve_model("flux-2-dev")
        >>> sorted(spec.fields), spec.default_width, spec.default_height
        (['guidance', 'height', 'seed', 'steps', 'width'], 1024, 768)
        >>> resolve_model("black-forest-labs/flux-2-klein-9b").wire_names["steps"]
        'num_steps'
        >>> resolve_model("dev").prompt_form, resolve_model("klein-4b").prompt_form
        ('json', 'prose')
    """

    id: str
    short_names: tuple[str, ...]
    fields: frozenset[str]
    fixed_steps: int | None
    default_steps: int
    min_side: int
    max_side: int | None
    default_width: int
    default_height: int
    max_input_images: int
    max_input_side: int | None
    pricing: Pricing | None
    known: bool = True
    route: Route = Route.MULTIPART
    wire_names: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    side_multiple: int = 1
    max_pixels: int | None = None
    max_steps: int | None = None
    max_prompt_chars: int | None = None
    guidance_range: tuple[float, float] | None = None
    max_seed: int = 2**64 - 1
    prompt_upsampling_default: bool | None = None
    output_formats: tuple[str, ...] = ()
    max_safety_tolerance: int | None = None
    billing_note: str = ""
    retry_note: str = ""
    prompt_form: str = "json"

    @property
    def name(self) -> str:
        """The first short name, or the full id for an unknown model (for messages)."""
        return self.short_names[0] if self.short_names else self.id

    @property
    def reference_index_base(self) -> int:
        """The number a prompt gives the first input image: 0 on Workers AI ``@cf/`` models
        ("image 0", as ``input_image_0``), 1 on Black Forest Labs' own models and FLUX 3.

        Example:
            >>> resolve_model("klein-4b").reference_index_base, resolve_model("flex").reference_index_base
            (0, 1)
        """  # noqa: E501
        return 0 if self.id.startswith("@cf/") else 1

    def wire_name(self, parameter: str) -> str:
        """The name the host gives ``parameter`` (``steps`` -> ``num_steps`` on proxied klein).

        Example:
            >>> resolve_model("flex").wire_name("steps")
            'steps'
        """
        return self.wire_names.get(parameter, parameter)


def _flux2(
    id: str,
    short_names: tuple[str, ...],
    fields: frozenset[str],
    *,
    fixed_steps: int | None,
    default_steps: int,
    pricing: Pricing | None,
    known: bool = True,
    prompt_form: str = "json",
) -> ModelSpec:
    # Every FLUX.2 model on the multipart route shares these limits: sides 256-1920 (1024x768
    # by default), up to 4 input images of at most 512x512.
    return ModelSpec(
        id=id,
        short_names=short_names,
        fields=fields,
        fixed_steps=fixed_steps,
        default_steps=default_steps,
        min_side=256,
        max_side=1920,
        default_width=1024,
        default_height=768,
        max_input_images=MAX_INPUT_IMAGES,
        max_input_side=MAX_INPUT_IMAGE_SIDE,
        pricing=pricing,
        known=known,
        retry_note=_MULTIPART_RETRY,
        prompt_form=prompt_form,
    )


_MULTIPART_RETRY = (
    "429/3040, 408, 502, 503, 504 and connection failures before a response are retried; "
    "a 504 or 408 may already have been billed"
)
_PROXIED_RETRY = (
    _MULTIPART_RETRY + "; the result URL is downloaded once, never by resubmitting the "
    "generation (a failed download raises ResultDownloadError)"
)
_PROXIED_FIELDS = frozenset({"width", "height", "seed", "safety_tolerance", "output_format"})
_OUTPUT_FORMATS = ("jpeg", "png", "webp")


def _proxied(
    id: str,
    short_names: tuple[str, ...],
    fields: frozenset[str],
    *,
    max_input_images: int,
    max_steps: int | None = None,
    default_steps: int = 0,
    guidance_range: tuple[float, float] | None = None,
    prompt_upsampling_default: bool | None = None,
    wire_names: Mapping[str, str] | None = None,
    known: bool = True,
    prompt_form: str = "json",
) -> ModelSpec:
    # Black Forest Labs' hosted models behind /ai/run: sides from 64 (flex's page), BFL's own
    # rule of multiples of 16 and at most 4 megapixels (4 x 1024 x 1024, the megapixel of
    # Cloudflare's pricing page), BFL's seed cap of 2^53-1, safety_tolerance 0-5.
    return ModelSpec(
        id=id,
        short_names=short_names,
        fields=_PROXIED_FIELDS | fields,
        fixed_steps=None,
        default_steps=default_steps,
        min_side=64,
        max_side=None,
        default_width=1024,
        default_height=768,
        max_input_images=max_input_images,
        max_input_side=None,
        pricing=None,
        known=known,
        route=Route.PROXIED,
        wire_names=MappingProxyType(dict(wire_names or {})),
        side_multiple=16,
        max_pixels=4 * MEGAPIXEL,
        max_steps=max_steps,
        guidance_range=guidance_range,
        max_seed=2**53 - 1,
        prompt_upsampling_default=prompt_upsampling_default,
        output_formats=_OUTPUT_FORMATS,
        max_safety_tolerance=5,
        billing_note=UNIFIED_BILLING_NOTE,
        retry_note=_PROXIED_RETRY,
        prompt_form=prompt_form,
    )


def _schnell(id: str, short_names: tuple[str, ...], *, known: bool = True) -> ModelSpec:
    # flux-1-schnell takes only prompt (at most 2048 characters) and steps (default 4, at most
    # 8), and refuses any other property: no size, no seed, no input images.
    return ModelSpec(
        id=id,
        short_names=short_names,
        fields=frozenset({"steps"}),
        fixed_steps=None,
        default_steps=4,
        min_side=0,
        max_side=None,
        default_width=1024,
        default_height=1024,
        max_input_images=0,
        max_input_side=None,
        pricing=None,
        known=known,
        route=Route.JSON,
        max_steps=8,
        max_prompt_chars=2048,
        billing_note="no price in flux2prompt's reference; see Cloudflare's pricing page",
        retry_note=_MULTIPART_RETRY,
    )


#: The catalogue. Prices: Cloudflare's Workers AI pricing page (per 512x512 tile, or per
#: megapixel of 1024x1024 for klein-9b). Proxied models are billed through Unified Billing.
MODELS: tuple[ModelSpec, ...] = (
    _flux2(
        "@cf/black-forest-labs/flux-2-dev",
        ("flux-2-dev", "dev"),
        frozenset({"width", "height", "steps", "guidance", "seed"}),
        fixed_steps=None,
        # Cloudflare documents no default or range for steps; its examples use 25.
        default_steps=25,
        pricing=Pricing(PricingScheme.TILE_STEP, input_rate=0.00021, output_rate=0.00041),
    ),
    _flux2(
        "@cf/black-forest-labs/flux-2-klein-4b",
        ("flux-2-klein-4b", "klein-4b"),
        frozenset({"width", "height", "guidance", "seed"}),
        fixed_steps=4,
        default_steps=4,
        pricing=Pricing(PricingScheme.TILE, input_rate=0.000059, output_rate=0.000287),
        prompt_form="prose",
    ),
    _flux2(
        "@cf/black-forest-labs/flux-2-klein-9b",
        ("flux-2-klein-9b", "klein-9b"),
        frozenset({"width", "height", "guidance", "seed"}),
        fixed_steps=4,
        default_steps=4,
        pricing=Pricing(
            PricingScheme.MEGAPIXEL,
            input_rate=0.002,
            output_rate=0.002,
            first_output_megapixel=0.015,
        ),
        prompt_form="prose",
    ),
    _schnell("@cf/black-forest-labs/flux-1-schnell", ("flux-1-schnell", "schnell")),
    _proxied(
        "black-forest-labs/flux-2-flex",
        ("flux-2-flex", "flex"),
        frozenset({"steps", "guidance", "prompt_upsampling"}),
        max_input_images=8,
        max_steps=50,
        default_steps=50,
        guidance_range=(1.5, 10.0),
        prompt_upsampling_default=True,
    ),
    _proxied(
        "black-forest-labs/flux-2-pro-preview",
        ("flux-2-pro-preview", "pro-preview"),
        frozenset(),
        max_input_images=8,
    ),
    _proxied(
        "black-forest-labs/flux-2-max",
        ("flux-2-max", "max"),
        frozenset(),
        max_input_images=8,
    ),
    _proxied(
        "black-forest-labs/flux-2-klein-9b",
        ("flux-2-klein-9b-proxied", "klein-9b-proxied"),
        frozenset({"steps"}),
        max_input_images=4,
        max_steps=50,
        default_steps=4,
        wire_names={"steps": "num_steps"},
        prompt_form="prose",
    ),
)

_BY_NAME: Mapping[str, ModelSpec] = MappingProxyType(
    {name: spec for spec in MODELS for name in (spec.id, *spec.short_names)}
)
_GENERIC_FIELDS = frozenset({"width", "height", "steps", "guidance", "seed"})


def _known_names() -> str:
    return ", ".join(f"{spec.id} ({'/'.join(spec.short_names)})" for spec in MODELS)


def _generic(model: str, route: Route) -> ModelSpec:
    if route is Route.MULTIPART:
        return _flux2(
            model,
            (),
            _GENERIC_FIELDS,
            fixed_steps=None,
            default_steps=25,
            pricing=None,
            known=False,
        )
    if route is Route.JSON:
        return _schnell(model, (), known=False)
    return _proxied(
        model,
        (),
        frozenset({"steps", "guidance"}),
        max_input_images=8,
        known=False,
    )


def did_you_mean(name: str, names: Iterable[str]) -> str:
    """The start of an unknown model's message: up to three close ``names``, or nothing.

    >>> did_you_mean("klien-4b", ["klein-4b", "klein-9b", "flux-2-dev"])
    "did you mean 'klein-4b' or 'klein-9b'? "
    """
    close = difflib.get_close_matches(name, list(names), n=3, cutoff=0.6)
    return f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""


def resolve_model(
    model: str | ModelSpec,
    *,
    allow_unknown_model: bool = False,
    route: Route | str | None = None,
) -> ModelSpec:
    """Return the :class:`ModelSpec` for a full id or a short name.

    An id the catalogue does not know is a :class:`ParameterError` with the closest known names
    and the list of all of them. ``allow_unknown_model=True`` with a ``route``
    (``"multipart"``, ``"json"`` or ``"proxied"``) sends it anyway with that route's generic
    limits and an :class:`UnknownModelWarning`: the door for models newer than this library.

    Example:
        >>> resolve_model("dev").id
        '@cf/black-forest-labs/flux-2-dev'
        >>> try:
        ...     resolve_model("klien-4b")
        ... except ParameterError as exc:
        ...     print(str(exc)[:51])
        unknown model 'klien-4b': did you mean 'klein-4b' o
    """
    if isinstance(model, ModelSpec):
        return _same_route(model, route)
    if not isinstance(model, str):
        raise ParameterError(
            f"model must be a model id or a short name, got {type(model).__name__}",
            parameter="model",
        )
    spec = _BY_NAME.get(model) or _BY_NAME.get(model.strip().lower())
    if spec is not None:
        return _same_route(spec, route)
    check_model_id(model)  # an id that would change the URL is refused as that, first
    if not allow_unknown_model:
        guess = did_you_mean(model.strip().lower(), _BY_NAME)
        raise ParameterError(
            f"unknown model {model!r}: {guess}Known models: {_known_names()}. For a model "
            "newer than flux2prompt, pass allow_unknown_model=True and route='multipart', "
            "'json' or 'proxied' (how the model is called)",
            parameter="model",
        )
    if route is None:
        raise ParameterError(
            f"model {model!r} is not in the catalogue: with allow_unknown_model=True, also say "
            "how it is called: route='multipart' (@cf/ FLUX.2), 'json' (a JSON body on "
            "/ai/run/{model}) or 'proxied' (the {model, input} envelope on /ai/run)",
            parameter="route",
        )
    chosen = Route(_checked_route(route))
    warnings.warn(
        f"model {model!r} is not in flux2prompt's catalogue; sending it on the {chosen.value} "
        "route with that route's generic limits (no cost estimate)",
        UnknownModelWarning,
        stacklevel=3,
    )
    return _generic(model, chosen)


def _same_route(spec: ModelSpec, route: Route | str | None) -> ModelSpec:
    """``spec``, unless ``route`` says it is called another way: the catalogue (or the spec
    given) says how a model it knows is called, and a route that says otherwise would not be
    what is sent."""
    if route is not None and _checked_route(route) != spec.route.value:
        raise ParameterError(
            f"{spec.name} is called on the {spec.route.value} route, not "
            f"{_checked_route(route)}: leave route unset (it says how a model the catalogue "
            "does not know is called)",
            parameter="route",
        )
    return spec


def _checked_route(route: object) -> str:
    """``route`` as a :class:`Route` value, refused unless it is one."""
    try:
        return Route(route).value  # type: ignore[arg-type]
    except ValueError:
        raise ParameterError(
            f"route must be 'multipart', 'json' or 'proxied', got {route!r}", parameter="route"
        ) from None


def _tiles(width: int, height: int) -> int:
    return math.ceil(width / 512) * math.ceil(height / 512)


def _megapixels(width: int, height: int) -> float:
    # Fractional, in units of 1024x1024 (the pricing page's megapixel): 1024x1024 is exactly 1.
    return width * height / MEGAPIXEL


def estimate_cost(
    model: str | ModelSpec,
    width: int | None = None,
    height: int | None = None,
    steps: int | None = None,
    input_images: Iterable[tuple[int, int]] = (),
) -> float:
    """Estimate the price in USD of one generation, from Cloudflare's published rates.

    ``model`` names the catalogue entry, so the three models called klein-9b are never
    confused: ``"klein-9b"`` is the multipart ``@cf/`` one. Tiles are ``ceil(w/512) *
    ceil(h/512)``. flux-2-dev: $0.00021 per input tile per step plus $0.00041 per output tile
    per step (``steps`` defaults to 25); klein-4b: $0.000059 per input tile plus $0.000287 per
    output tile; klein-9b: $0.015 for the first output megapixel (1024x1024, charged whole
    even for a smaller image), then $0.002 per further output megapixel and per input
    megapixel, both counted fractionally in units of 1,048,576 pixels (input images summed).
    The daily free allowance is not subtracted. A model without a published price raises
    :class:`ParameterError` saying how it is billed: proxied models are
    "billed in credits through Unified Billing, see the dashboard".

    Example:
        >>> round(estimate_cost("flux-2-dev", 1024, 768, steps=25), 5)
        0.041
        >>> round(estimate_cost("klein-4b", 1024, 1024, input_images=[(512, 512)]), 6)
        0.001207
        >>> estimate_cost("klein-9b", width=1024, height=1024)
        0.015
    """
    spec = resolve_model(model)
    if spec.pricing is None:
        note = spec.billing_note or "no published price"
        raise ParameterError(f"no cost estimate for {spec.id!r}: {note}", parameter="model")
    width = spec.default_width if width is None else _count("width", width, _MAX_SIDE)
    height = spec.default_height if height is None else _count("height", height, _MAX_SIDE)
    if steps is not None:
        _count("steps", steps, None)
    if spec.fixed_steps is not None:
        steps = spec.fixed_steps
    elif steps is None:
        steps = spec.default_steps
    sizes = _sizes(input_images)
    price = spec.pricing
    if price.scheme is PricingScheme.TILE_STEP:
        input_tiles = sum(_tiles(w, h) for w, h in sizes)
        return steps * (input_tiles * price.input_rate + _tiles(width, height) * price.output_rate)
    if price.scheme is PricingScheme.TILE:
        input_tiles = sum(_tiles(w, h) for w, h in sizes)
        return input_tiles * price.input_rate + _tiles(width, height) * price.output_rate
    further = max(0.0, _megapixels(width, height) - 1)
    input_mp = sum(_megapixels(w, h) for w, h in sizes)
    cost = price.first_output_megapixel
    # Added only when present, so the common case is the published figure, bit for bit.
    if further:
        cost += further * price.output_rate
    if input_mp:
        cost += input_mp * price.input_rate
    return cost


#: The largest side an estimate prices: the most pixels a PNG header can hold on one side.
_MAX_SIDE: Final = 2**31 - 1


def _count(name: str, value: object, high: int | None) -> int:
    """``value`` of ``estimate_cost`` when it is an integer from 1 (to ``high``), else a
    ParameterError naming it: a negative size or a string would price nonsense, or fail in
    the arithmetic."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < 1
        or (high is not None and value > high)
    ):
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "..."
        upto = f" to {high:,}" if high is not None else ""
        raise ParameterError(
            f"{name} must be an integer from 1{upto} for a cost estimate, got {shown}",
            parameter=name,
        )
    return value


def _sizes(input_images: object) -> list[tuple[int, int]]:
    """The ``(width, height)`` pairs of ``estimate_cost``'s ``input_images``, checked."""
    if isinstance(input_images, str | bytes) or not isinstance(input_images, Iterable):
        raise ParameterError(
            "input_images must be (width, height) pairs of integers from 1, got "
            f"{type(input_images).__name__}",
            parameter="input_images",
        )
    sizes: list[tuple[int, int]] = []
    for index, size in enumerate(input_images):
        try:
            width, height = size
            sizes.append((_count("width", width, _MAX_SIDE), _count("height", height, _MAX_SIDE)))
        except (TypeError, ValueError):
            shown = repr(size) if len(repr(size)) <= 40 else repr(size)[:40] + "..."
            raise ParameterError(
                f"input_images[{index}] must be a (width, height) pair of integers from 1 to "
                f"{_MAX_SIDE:,}, got {shown}",
                parameter="input_images",
            ) from None
    return sizes


def check_model_id(model_id: str) -> str:
    """Return ``model_id`` if it can go into the URL path as it is, else raise ParameterError.

    A model id is sent literally (``@cf/black-forest-labs/flux-2-dev``): a ``#`` would cut the
    rest off as a fragment, a ``?`` start a query string, ``..`` climb out of ``/ai/run/``, and
    spaces, control characters or ``%`` change or smuggle what the server reads.

    Example:
        >>> check_model_id("@cf/black-forest-labs/flux-2-dev")
        '@cf/black-forest-labs/flux-2-dev'
        >>> check_model_id("@cf/black-forest-labs/flux-2-dev#x")
        Traceback (most recent call last):
        ...
        flux2prompt.ParameterError: model id '@cf/black-forest-labs/flux-2-dev#x' contains '#', which would change the URL it is sent to; model ids look like '@cf/black-forest-labs/flux-2-dev'
    """  # noqa: E501
    if model_id in _CHECKED_MODEL_IDS:
        return model_id  # a batch builds thousands of requests for one model
    problem = None
    for char in model_id:
        if char in "#?%\\" or char.isspace() or not char.isprintable():
            problem = repr(char)
            break
    segments = model_id.split("/")
    if problem is None:
        if not model_id:
            problem = "nothing"
        elif any(segment in (".", "..") for segment in segments):
            problem = "a '.' or '..' path segment"
        elif any(not segment for segment in segments):
            problem = "an empty path segment ('//' or a leading or trailing '/')"
    if problem is not None:
        raise ParameterError(
            f"model id {model_id!r} contains {problem}, which would change the URL it is sent "
            "to; model ids look like '@cf/black-forest-labs/flux-2-dev'",
            parameter="model",
        )
    if len(_CHECKED_MODEL_IDS) < 256:
        _CHECKED_MODEL_IDS.add(model_id)
    return model_id


_CHECKED_MODEL_IDS: set[str] = set()
