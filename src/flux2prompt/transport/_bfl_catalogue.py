"""Black Forest Labs' own endpoints, as data: fields, limits, reference images, validity, prices.

One :class:`BFLModelSpec` per endpoint of ``https://api.bfl.ai/v1/{endpoint}``. The request
builder refuses, before anything is sent, a field the endpoint would answer 422 to, naming the
fields it takes; the clients download a result within its validity (10 minutes on FLUX.2, one
hour on FLUX 3); :func:`estimate_bfl_cost` prices from BFL's published "from" rates per output
megapixel (1 credit = $0.01), and says "no published price" where there is none.

==================  ===========  ==========  =======================================
endpoint            references   validity    price per megapixel ("from")
==================  ===========  ==========  =======================================
flux-2-pro          8            10 min      $0.03 ($0.045 with input images)
flux-2-pro-preview  8            10 min      none published
flux-2-max          8            10 min      $0.07
flux-2-flex         8            10 min      $0.05 (adds steps 1-50, guidance 1.5-10)
flux-2-klein-4b     4            10 min      $0.014
flux-2-klein-9b     4            10 min      $0.015
flux-3-image        10 (images)  1 h         none published
flux-3-image-klein  10 (images)  1 h         none published
==================  ===========  ==========  =======================================

Example:
    >>> spec = resolve_bfl_model("flex")
    >>> spec.id, spec.path, spec.max_references, "guidance" in spec.fields
    ('flux-2-flex', '/v1/flux-2-flex', 8, True)
    >>> resolve_bfl_model("flux-3-image").reference_fields(2)
    ('images',)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

from flux2prompt.transport._catalogue import MEGAPIXEL, Provider, did_you_mean
from flux2prompt.transport._errors import ParameterError

__all__ = [
    "BFL_MODELS",
    "FLUX2_RESULT_VALIDITY",
    "FLUX3_ASPECT_RATIOS",
    "FLUX3_RESOLUTIONS",
    "FLUX3_RESULT_VALIDITY",
    "NO_PUBLISHED_PRICE",
    "BFLModelSpec",
    "estimate_bfl_cost",
    "resolve_bfl_model",
]

#: How long a FLUX.2 result URL (``result.sample``) is valid, in seconds.
FLUX2_RESULT_VALIDITY: Final = 600.0
#: How long a FLUX 3 Image result URL is valid, in seconds.
FLUX3_RESULT_VALIDITY: Final = 3600.0
#: What a cost estimate says for an endpoint without a published price.
NO_PUBLISHED_PRICE: Final = "no published price"

FLUX3_ASPECT_RATIOS: Final = (
    "auto",
    "21:9",
    "2:1",
    "16:9",
    "3:2",
    "7:5",
    "4:3",
    "5:4",
    "1:1",
    "4:5",
    "3:4",
    "5:7",
    "2:3",
    "9:16",
    "1:2",
    "9:21",
)
FLUX3_RESOLUTIONS: Final = ("768sq", "1k", "1.5k", "2k", "4k")

Family = Literal["flux2", "flux3"]

_WEBHOOK = frozenset({"webhook_url", "webhook_secret"})
_FLUX2 = (
    frozenset({"width", "height", "seed", "safety_tolerance", "output_format", "prompt_upsampling"})
    | _WEBHOOK
)
_FLUX3 = (
    frozenset(
        {"aspect_ratio", "resolution", "grounding", "safety_tolerance", "output_format", "version"}
    )
    | _WEBHOOK
)


@dataclass(frozen=True, slots=True)
class BFLModelSpec:
    """What one Black Forest Labs endpoint takes besides ``prompt``, and how it is billed.

    ``fields`` are the body's field names (reference images aside: ``input_image``,
    ``input_image_2`` ... on FLUX.2, one ``images`` list on FLUX 3, at most
    ``max_references``). Sizes are multiples of ``side_multiple`` from ``min_side``, at most
    ``max_pixels``; ``steps_range`` and ``guidance_range`` are set on flex only.
    ``result_validity`` is how long ``result.sample`` can be fetched, in seconds.
    ``price_per_megapixel`` is BFL's "from" rate in USD (``None``: no published price; then
    ``billing_note`` says so). ``note`` is what BFL says of the endpoint.

    Example:
        >>> spec = resolve_bfl_model("klein-9b")
        >>> spec.family, spec.max_references, spec.price_per_megapixel, spec.provider.value
        ('flux2', 4, 0.015, 'bfl')
        >>> spec.reference_fields(3)
        ('input_image', 'input_image_2', 'input_image_3')
    """

    id: str
    short_names: tuple[str, ...]
    family: Family
    fields: frozenset[str]
    max_references: int
    result_validity: float
    price_per_megapixel: float | None
    edit_price_per_megapixel: float | None = None
    min_side: int = 64
    side_multiple: int = 16
    max_pixels: int = 4 * MEGAPIXEL
    steps_range: tuple[int, int] | None = None
    guidance_range: tuple[float, float] | None = None
    max_safety_tolerance: int = 5
    output_formats: tuple[str, ...] = ("jpeg", "png")
    aspect_ratios: tuple[str, ...] = ()
    resolutions: tuple[str, ...] = ()
    billing_note: str = ""
    note: str = ""
    #: The form of prompt the model reads best, what ``prompt_format="auto"`` sends: ``json``
    #: on FLUX.2 [pro], [max] and [flex], ``prose`` on [klein], ``layout`` (a caption with its
    #: element table) on FLUX 3.
    prompt_form: str = "json"

    @property
    def provider(self) -> Provider:
        """Always :attr:`Provider.BFL`."""
        return Provider.BFL

    @property
    def name(self) -> str:
        """The endpoint's name, for messages."""
        return self.id

    @property
    def reference_index_base(self) -> int:
        """The number a prompt gives the first reference image: 1 ("image 1") on every Black
        Forest Labs endpoint."""
        return 1

    @property
    def path(self) -> str:
        """The submit path below the base URL: ``/v1/{endpoint}``."""
        return f"/v1/{self.id}"

    @property
    def allowed_fields(self) -> tuple[str, ...]:
        """Every field of the body, sorted, ``prompt`` and the reference fields included: the
        list a refusal names.

        Example:
            >>> resolve_bfl_model("flux-3-image").allowed_fields[:3]
            ('aspect_ratio', 'grounding', 'images')
        """
        return tuple(sorted({"prompt", *self.fields, *self.reference_fields(self.max_references)}))

    def reference_fields(self, count: int) -> tuple[str, ...]:
        """The field names that carry ``count`` reference images on this endpoint.

        Example:
            >>> resolve_bfl_model("max").reference_fields(2)
            ('input_image', 'input_image_2')
        """
        if count <= 0:
            return ()
        if self.family == "flux3":
            return ("images",)
        return tuple("input_image" if n == 1 else f"input_image_{n}" for n in range(1, count + 1))


def _flux2(
    id: str,
    short_names: tuple[str, ...],
    *,
    references: int,
    price: float | None,
    extra: frozenset[str] = frozenset(),
    note: str = "",
    **limits: object,
) -> BFLModelSpec:
    return BFLModelSpec(
        id=id,
        short_names=short_names,
        family="flux2",
        fields=_FLUX2 | extra,
        max_references=references,
        result_validity=FLUX2_RESULT_VALIDITY,
        price_per_megapixel=price,
        billing_note="" if price is not None else NO_PUBLISHED_PRICE,
        note=note,
        **limits,  # type: ignore[arg-type]
    )


def _flux3(id: str, short_names: tuple[str, ...], note: str) -> BFLModelSpec:
    return BFLModelSpec(
        id=id,
        short_names=short_names,
        family="flux3",
        fields=_FLUX3,
        max_references=10,
        prompt_form="layout",
        result_validity=FLUX3_RESULT_VALIDITY,
        price_per_megapixel=None,
        max_safety_tolerance=4,
        aspect_ratios=FLUX3_ASPECT_RATIOS,
        resolutions=FLUX3_RESOLUTIONS,
        billing_note=NO_PUBLISHED_PRICE,
        note=note,
    )


#: Black Forest Labs' endpoints. Prices: BFL's pricing ("from", per output megapixel).
BFL_MODELS: tuple[BFLModelSpec, ...] = (
    _flux2(
        "flux-2-pro",
        ("pro",),
        references=8,
        price=0.03,
        edit_price_per_megapixel=0.045,
    ),
    _flux2(
        "flux-2-pro-preview",
        ("pro-preview",),
        references=8,
        price=None,
        note="newest improvements first; BFL: for stable production use, prefer FLUX.2 [pro]",
    ),
    _flux2("flux-2-max", ("max",), references=8, price=0.07),
    _flux2(
        "flux-2-flex",
        ("flex",),
        references=8,
        price=0.05,
        extra=frozenset({"steps", "guidance"}),
        steps_range=(1, 50),
        guidance_range=(1.5, 10.0),
    ),
    # [klein] takes 4 references (BFL's SDK catalogue says 5 for 9B: unconfirmed, so 4).
    # [klein] reads flowing prose best (BFL's [klein] guide), as on Workers AI.
    _flux2("flux-2-klein-4b", ("klein-4b",), references=4, price=0.014, prompt_form="prose"),
    _flux2("flux-2-klein-9b", ("klein-9b",), references=4, price=0.015, prompt_form="prose"),
    _flux3(
        "flux-3-image",
        ("flux-3", "flux3"),
        "early access; expands the prompt itself and returns it in result.prompt",
    ),
    _flux3(
        "flux-3-image-klein",
        ("flux-3-klein", "flux3-klein"),
        "distilled open-weights variant; its endpoint and fields are assumed to be FLUX 3 "
        "Image's (unconfirmed)",
    ),
)

_BY_NAME: Mapping[str, BFLModelSpec] = MappingProxyType(
    {name: spec for spec in BFL_MODELS for name in (spec.id, *spec.short_names)}
)
# The same model named as Workers AI names it, so one job's model reaches either host.
_HOST_PREFIXES = ("@cf/black-forest-labs/", "black-forest-labs/", "bfl/", "bfl:")


def resolve_bfl_model(model: str | BFLModelSpec) -> BFLModelSpec:
    """Return the :class:`BFLModelSpec` for an endpoint name or a short name.

    Workers AI's spellings of the same model are accepted (``black-forest-labs/flux-2-flex``,
    ``@cf/black-forest-labs/flux-2-klein-4b``); anything else is a :class:`ParameterError` with
    the closest names and the list of all of them.

    Example:
        >>> resolve_bfl_model("black-forest-labs/flux-2-max").id
        'flux-2-max'
        >>> try:
        ...     resolve_bfl_model("flux-3-imag")
        ... except ParameterError as exc:
        ...     print(str(exc)[:62])
        unknown Black Forest Labs model 'flux-3-imag': did you mean 'f
    """
    if isinstance(model, BFLModelSpec):
        return model
    if not isinstance(model, str):
        raise ParameterError(
            f"model must be an endpoint name such as 'flux-2-pro', got {type(model).__name__}",
            parameter="model",
        )
    name = model.strip().lower()
    for prefix in _HOST_PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    spec = _BY_NAME.get(name)
    if spec is not None:
        return spec
    guess = did_you_mean(name, _BY_NAME)
    known = ", ".join(f"{s.id} ({'/'.join(s.short_names)})" for s in BFL_MODELS)
    raise ParameterError(
        f"unknown Black Forest Labs model {model!r}: {guess}Known endpoints: {known}",
        parameter="model",
    )


def estimate_bfl_cost(
    model: str | BFLModelSpec,
    width: int | None = None,
    height: int | None = None,
    *,
    input_images: int = 0,
) -> float:
    """Estimate the price in USD of one generation from BFL's "from" rate per output megapixel.

    Megapixels are counted fractionally in units of 1024x1024 (a size left unset counts as
    one megapixel); [pro] with input images is priced at its edit rate. These are "from"
    prices: the invoice may be higher. An endpoint without a published price (FLUX 3 Image,
    FLUX 3 Image Klein, [pro] preview) raises :class:`ParameterError` saying
    "no published price" rather than guessing one.

    Example:
        >>> estimate_bfl_cost("pro", 1024, 1024), estimate_bfl_cost("pro", input_images=1)
        (0.03, 0.045)
        >>> round(estimate_bfl_cost("klein-4b", 2048, 1024), 3)
        0.028
        >>> try:
        ...     estimate_bfl_cost("flux-3-image")
        ... except ParameterError as exc:
        ...     print(exc)
        no cost estimate for 'flux-3-image': no published price
    """
    spec = resolve_bfl_model(model)
    rate = spec.price_per_megapixel
    if input_images and spec.edit_price_per_megapixel is not None:
        rate = spec.edit_price_per_megapixel
    if rate is None:
        raise ParameterError(
            f"no cost estimate for {spec.id!r}: {spec.billing_note or NO_PUBLISHED_PRICE}",
            parameter="model",
        )
    megapixels = 1.0 if width is None or height is None else width * height / MEGAPIXEL
    cost = rate * megapixels
    return round(cost, 10) if megapixels != 1.0 else rate
