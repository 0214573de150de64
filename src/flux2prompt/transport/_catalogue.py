"""The models flux2prompt knows: ids, short names, accepted fields, limits, defaults and prices.

This module is data in one place: the request builder validates against it and
:func:`estimate_cost` prices against it. A model id that is not listed is still accepted (new
models appear on Workers AI before a release of this library) with generic limits and an
:class:`UnknownModelWarning`.

Example:
    >>> spec = resolve_model("klein-4b")
    >>> spec.id, spec.fixed_steps, spec.max_input_images
    ('@cf/black-forest-labs/flux-2-klein-4b', 4, 4)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from flux2prompt.transport._constants import MAX_INPUT_IMAGE_SIDE, MAX_INPUT_IMAGES
from flux2prompt.transport._errors import ParameterError

__all__ = [
    "MODELS",
    "ModelSpec",
    "Pricing",
    "PricingScheme",
    "UnknownModelWarning",
    "estimate_cost",
    "resolve_model",
]


class UnknownModelWarning(UserWarning):
    """Warned when a model id is not in the catalogue; generic limits are used for it.

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     spec = resolve_model("@cf/black-forest-labs/flux-3-dev")
        >>> caught[0].category is UnknownModelWarning, spec.known
        (True, False)
    """


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
    """What one Workers AI model accepts.

    ``fields`` are the multipart fields it takes besides ``prompt`` and the input images;
    ``fixed_steps`` is set when ``steps`` is fixed by the model and must not be sent;
    ``default_steps`` is the step count assumed for cost estimates when none is given.

    Example:
        >>> spec = resolve_model("flux-2-dev")
        >>> sorted(spec.fields), spec.default_width, spec.default_height
        (['guidance', 'height', 'seed', 'steps', 'width'], 1024, 768)
    """

    id: str
    short_names: tuple[str, ...]
    fields: frozenset[str]
    fixed_steps: int | None
    default_steps: int
    min_side: int
    max_side: int
    default_width: int
    default_height: int
    max_input_images: int
    max_input_side: int
    pricing: Pricing | None
    known: bool = True

    @property
    def name(self) -> str:
        """The first short name, or the full id for an unknown model (for messages)."""
        return self.short_names[0] if self.short_names else self.id


def _flux2(
    id: str,
    short_names: tuple[str, ...],
    fields: frozenset[str],
    *,
    fixed_steps: int | None,
    default_steps: int,
    pricing: Pricing | None,
    known: bool = True,
) -> ModelSpec:
    # Every FLUX.2 model on Workers AI shares these limits: sides 256-1920 (1024x768 by
    # default), up to 4 input images of at most 512x512.
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
    )


#: The catalogue. Prices: Cloudflare's Workers AI pricing page (per 512x512 tile).
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
    ),
)

_BY_NAME: Mapping[str, ModelSpec] = MappingProxyType(
    {name: spec for spec in MODELS for name in (spec.id, *spec.short_names)}
)
_GENERIC_FIELDS = frozenset({"width", "height", "steps", "guidance", "seed"})


def resolve_model(model: str | ModelSpec) -> ModelSpec:
    """Return the :class:`ModelSpec` for a full id or a short name.

    A full id (``@cf/...``, or any id with a ``/``) that is not in the catalogue gets generic
    limits and an :class:`UnknownModelWarning`; any other unknown name is a
    :class:`ParameterError` listing the known names (it is almost certainly a typo).

    Example:
        >>> resolve_model("dev").id
        '@cf/black-forest-labs/flux-2-dev'
    """
    if isinstance(model, ModelSpec):
        return model
    spec = _BY_NAME.get(model) or _BY_NAME.get(model.strip().lower())
    if spec is not None:
        return spec
    if "/" not in model:
        names = ", ".join(name for spec in MODELS for name in spec.short_names)
        raise ParameterError(
            f"unknown model {model!r}: use a short name ({names}) or a full Workers AI model "
            "id such as '@cf/black-forest-labs/flux-2-dev'",
            parameter="model",
        )
    warnings.warn(
        f"model {model!r} is not in flux2prompt's catalogue; sending it with generic limits "
        "(width/height 256-1920, up to 4 input images of at most 512x512, no cost estimate)",
        UnknownModelWarning,
        stacklevel=3,
    )
    return _flux2(
        model, (), _GENERIC_FIELDS, fixed_steps=None, default_steps=25, pricing=None, known=False
    )


def _tiles(width: int, height: int) -> int:
    return math.ceil(width / 512) * math.ceil(height / 512)


def _megapixels(width: int, height: int) -> int:
    # Billed megapixels are counted up to the next whole one (1 MP = 1,000,000 pixels): the
    # estimate errs high, never low.
    return max(1, math.ceil(width * height / 1_000_000))


def estimate_cost(
    model: str | ModelSpec,
    width: int | None = None,
    height: int | None = None,
    steps: int | None = None,
    input_images: Iterable[tuple[int, int]] = (),
) -> float:
    """Estimate the price in USD of one generation, from Cloudflare's published rates.

    Tiles are ``ceil(w/512) * ceil(h/512)``. flux-2-dev: $0.00021 per input tile per step plus
    $0.00041 per output tile per step (``steps`` defaults to 25); klein-4b: $0.000059 per input
    tile plus $0.000287 per output tile; klein-9b: $0.015 for the first output megapixel,
    $0.002 per further megapixel and per input megapixel (megapixels rounded up). The daily free
    allowance is not subtracted. An unknown model raises :class:`ParameterError`.

    Example:
        >>> round(estimate_cost("flux-2-dev", 1024, 768, steps=25), 5)
        0.041
        >>> round(estimate_cost("klein-4b", 1024, 1024, input_images=[(512, 512)]), 6)
        0.001207
    """
    spec = resolve_model(model)
    if spec.pricing is None:
        raise ParameterError(f"no published price for model {spec.id!r}", parameter="model")
    width = spec.default_width if width is None else width
    height = spec.default_height if height is None else height
    if spec.fixed_steps is not None:
        steps = spec.fixed_steps
    elif steps is None:
        steps = spec.default_steps
    sizes = list(input_images)
    price = spec.pricing
    if price.scheme is PricingScheme.TILE_STEP:
        input_tiles = sum(_tiles(w, h) for w, h in sizes)
        return steps * (input_tiles * price.input_rate + _tiles(width, height) * price.output_rate)
    if price.scheme is PricingScheme.TILE:
        input_tiles = sum(_tiles(w, h) for w, h in sizes)
        return input_tiles * price.input_rate + _tiles(width, height) * price.output_rate
    further = _megapixels(width, height) - 1
    input_mp = sum(_megapixels(w, h) for w, h in sizes)
    return price.first_output_megapixel + further * price.output_rate + input_mp * price.input_rate
