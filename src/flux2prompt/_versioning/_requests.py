"""From a template and its variables to the requests that would be sent: the one place.

The batch runner's plan (:func:`flux2prompt.batch.plan_items`) and the prompt inventory (the
lockfile, ``diff --rev``) both build every variant's request here, so the request fingerprint
a lockfile records is, by construction, the one a batch run records in its manifest.

Example:
    >>> from flux2prompt import scene
    >>> from flux2prompt._templates import matrix, template
    >>> tpl = template(lambda color: scene(f"a {color} mug"))
    >>> [(v.variables["color"], r.seed) for v, r in variant_requests(
    ...     tpl, matrix(color=["teal", "rust"]), seeds=7, model="klein-4b")]
    [('teal', 7), ('rust', 7)]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from flux2prompt._templates import Seeds, Template, VariableSource, Variant, expand

if TYPE_CHECKING:
    from flux2prompt.transport import BFLRequest, WorkersAIRequest
    from flux2prompt.transport._request import PlannedRequest

__all__ = ["STAGE_SIZE", "bfl_variant_requests", "planned_requests", "staged", "variant_requests"]

_T = TypeVar("_T")
_R = TypeVar("_R")


def variant_requests(
    template: Template,
    source: VariableSource | Iterable[Mapping[str, Any]],
    *,
    seeds: Seeds | int | Sequence[int] | Mapping[str, int] | None = None,
    model: str | None = None,
    parameters: Mapping[str, int | float] | None = None,
    images: Sequence[bytes | str] | Callable[[Variant], Sequence[bytes | str]] = (),
    prompt_format: str = "auto",
) -> Iterator[tuple[Variant, WorkersAIRequest]]:
    """Stream ``(variant, request)`` for every variant of ``template`` over ``source``.

    ``model`` ``None`` is the transport's default; ``parameters`` are width, height, steps and
    guidance; each variant's seed comes from ``seeds``; ``images`` are sent with every request, or
    are a function of the variant that gives its own (per-item reference images).
    ``prompt_format`` is the form each prompt is sent in (its form enters the request fingerprint
    unless it is JSON).
    Bad parameters raise the transport's ``ParameterError``.
    """
    for variant, planned in planned_requests(
        template, source, seeds=seeds, model=model, parameters=parameters, images=images,
        prompt_format=prompt_format,
    ):  # fmt: skip
        yield variant, planned.request


def planned_requests(
    template: Template,
    source: VariableSource | Iterable[Mapping[str, Any]],
    *,
    seeds: Seeds | int | Sequence[int] | Mapping[str, int] | None = None,
    model: str | None = None,
    parameters: Mapping[str, int | float] | None = None,
    images: Sequence[bytes | str] | Callable[[Variant], Sequence[bytes | str]] = (),
    prompt_format: str = "auto",
) -> Iterator[tuple[Variant, PlannedRequest]]:
    """:func:`variant_requests`, each request checked and fingerprinted but put together only
    when read (``planned.request``): what a batch's plan, which reads only the fingerprints
    and prices, streams."""
    from flux2prompt.transport import DEFAULT_MODEL
    from flux2prompt.transport._request import RequestTemplate

    options: dict[str, Any] = dict(parameters or {})
    chosen = model or DEFAULT_MODEL
    # One template for the batch (model, parameters, shared images checked once), made at the
    # first variant: a batch without variants raises nothing, as it always did.
    requests: RequestTemplate | None = None

    def plan(variant: Variant) -> tuple[Variant, PlannedRequest]:
        nonlocal requests
        if requests is None:
            shared = () if callable(images) else images
            requests = RequestTemplate(
                model=chosen, images=shared, prompt_format=prompt_format, **options
            )
        if callable(images):
            return variant, requests.plan(variant.prompt, seed=variant.seed, images=images(variant))
        return variant, requests.plan(variant.prompt, seed=variant.seed)

    # A few variants are expanded, then their requests checked, and so on: each stage's code
    # runs many times in a row, staying in the processor's caches (docs/performance.md, Batch
    # planning), and the errors come in the order they always did.
    yield from staged(expand(template, source, seeds=seeds), plan, STAGE_SIZE)


#: How many variants a plan expands before checking their requests (see :func:`staged`).
STAGE_SIZE = 32


def staged(items: Iterable[_T], step: Callable[[_T], _R], size: int = STAGE_SIZE) -> Iterator[_R]:
    """``map(step, items)``, ``size`` items at a time: up to ``size`` items are taken, then
    each is stepped, then the results are given. The first error (taking an item or stepping
    one) is raised once the results before it have been given, so a consumer sees the results
    and the error ``map`` would give, in the same order.

    Example:
        >>> list(staged(range(5), lambda n: n * n, size=2))
        [0, 1, 4, 9, 16]
        >>> def rows():
        ...     yield from (1, 2)
        ...     raise ValueError("row 3 is bad")
        >>> seen = []
        >>> try:
        ...     for result in staged(rows(), lambda n: 10 // n):
        ...         seen.append(result)
        ... except ValueError as exc:
        ...     print(seen, exc)
        [10, 5] row 3 is bad
    """
    source = iter(items)
    while True:
        taken: list[_T] = []
        failure: Exception | None = None
        try:
            for item in source:
                taken.append(item)
                if len(taken) == size:
                    break
        except Exception as exc:  # raised after the items before it
            failure = exc
        results: list[_R] = []
        for item in taken:
            try:
                results.append(step(item))
            except Exception as exc:  # an earlier item's error comes first
                failure = exc
                break
        yield from results
        if failure is not None:
            raise failure
        if len(taken) < size:
            return


def bfl_variant_requests(
    template: Template,
    source: VariableSource | Iterable[Mapping[str, Any]],
    *,
    seeds: Seeds | int | Sequence[int] | Mapping[str, int] | None = None,
    model: str | None = None,
    parameters: Mapping[str, int | float] | None = None,
    images: Sequence[bytes | str] | Callable[[Variant], Sequence[bytes | str]] = (),
    prompt_format: str = "auto",
) -> Iterator[tuple[Variant, BFLRequest]]:
    """The same as :func:`variant_requests` on Black Forest Labs' API (a job with
    ``provider = "bfl"``; ``model`` ``None`` is ``flux-2-pro``). FLUX 3 takes no seed, so its
    variants are sent without one.

    Example:
        >>> from flux2prompt import scene
        >>> from flux2prompt._templates import matrix, template
        >>> tpl = template(lambda color: scene(f"a {color} mug"))
        >>> [r.model.id for _, r in bfl_variant_requests(tpl, matrix(color=["teal"]),
        ...                                               model="flux-3-image")]
        ['flux-3-image']
    """
    from flux2prompt._builder import PromptBuilder
    from flux2prompt.transport import build_bfl_request, resolve_bfl_model

    spec = resolve_bfl_model(model or "flux-2-pro")
    options: dict[str, Any] = dict(parameters or {})

    def build(variant: Variant) -> tuple[Variant, BFLRequest]:
        seed = variant.seed if "seed" in spec.fields else None
        prompt: Any = variant.prompt
        if spec.family == "flux3":
            # The builder itself, so that a layout goes as its flux3 target (caption + boxes).
            raw = template.render_result(variant.variables, ignore_extra=True)
            if isinstance(raw, PromptBuilder) and raw.layout().elements:
                prompt = raw
        sent = images(variant) if callable(images) else images
        return variant, build_bfl_request(
            prompt, model=spec, seed=seed, images=sent, prompt_format=prompt_format, **options
        )

    # A stage at a time, as planned_requests.
    yield from staged(expand(template, source, seeds=seeds), build, STAGE_SIZE)
