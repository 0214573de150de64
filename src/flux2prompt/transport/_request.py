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

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeAlias

from flux2prompt._digest import canonical_json, sha256_fingerprint
from flux2prompt.transport._catalogue import ModelSpec, estimate_cost, resolve_model
from flux2prompt.transport._constants import (
    DEFAULT_BASE_URL,
    DEFAULT_GATEWAY_BASE_URL,
    DEFAULT_MODEL,
)
from flux2prompt.transport._errors import ParameterError
from flux2prompt.transport._gateway import GatewayOptions
from flux2prompt.transport._images import ImageSource, InputImage, prepare_image

if TYPE_CHECKING:
    from flux2prompt._builder import PromptBuilder
    from flux2prompt._model import Prompt

__all__ = [
    "ACCOUNT_PLACEHOLDER",
    "MultipartParts",
    "PromptLike",
    "WorkersAIRequest",
    "build_request",
    "check_model_id",
    "check_path_segment",
    "coerce_prompt",
    "endpoint_url",
]

#: A compiled ``Prompt``, a ``PromptBuilder``, a dict (or JSON bytes, or a path to a prompt file)
#: that ``flux2prompt.load`` accepts, or a ``str``: a plain text prompt.
PromptLike: TypeAlias = (
    "Prompt | PromptBuilder | Mapping[str, Any] | str | bytes | os.PathLike[str]"
)

#: What ``httpx`` takes as ``files=``: ``(name, (filename, content[, content type]))``.
MultipartParts: TypeAlias = list[tuple[str, tuple[str | None, bytes] | tuple[str, bytes, str]]]

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
    # Imported at call time, from the modules that define them (never the package root, which
    # re-exports the transport): only this function needs the core, to turn a prompt into wire
    # text, so the transport's modules carry no import-time dependency on the builder or loader.
    from flux2prompt._builder import PromptBuilder
    from flux2prompt._files import load
    from flux2prompt._model import Prompt

    if isinstance(prompt, PromptBuilder):
        prompt = prompt.compile()
    elif isinstance(prompt, Mapping):
        prompt = load(dict(prompt))
    elif isinstance(prompt, bytes | bytearray):
        prompt = load(bytes(prompt))
    elif isinstance(prompt, os.PathLike):
        prompt = load(prompt)
    elif not isinstance(prompt, Prompt):
        raise ParameterError(
            "prompt must be a Prompt, a PromptBuilder, a dict, or a str, got "
            f"{type(prompt).__name__}",
            parameter="prompt",
        )
    return prompt.to_json(), prompt.fingerprint


def _check_int(name: str, value: object, spec: ModelSpec, low: int, high: int | None) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ParameterError(f"{name} must be an integer, got {value!r}", parameter=name)
    if value < low or (high is not None and value > high):
        bounds = f"{low}-{high}" if high is not None else f"at least {low}"
        raise ParameterError(
            f"{name} must be {bounds} for {spec.name}, got {value}", parameter=name
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
    :func:`check_path_segment` first).

    Example:
        >>> endpoint_url("klein-4b", account_id="acc")
        'https://api.cloudflare.com/client/v4/accounts/acc/ai/run/@cf/black-forest-labs/flux-2-klein-4b'
        >>> endpoint_url("dev", account_id="acc", gateway="images")
        'https://gateway.ai.cloudflare.com/v1/acc/images/workers-ai/@cf/black-forest-labs/flux-2-dev'
    """
    model_id = model.id if isinstance(model, ModelSpec) else resolve_model(model).id
    check_model_id(model_id)
    if gateway is not None:
        return f"{gateway_base_url.rstrip('/')}/{account_id}/{gateway}/workers-ai/{model_id}"
    return f"{base_url.rstrip('/')}/accounts/{account_id}/ai/run/{model_id}"


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
    return model_id


def check_path_segment(name: str, value: str) -> str:
    """Return ``value`` if it can be one URL path segment (an account id, a gateway name)."""
    # A slash or a space would silently address another endpoint.
    if not value or any(c in value for c in "/?#% ") or not value.isprintable():
        raise ParameterError(
            f"{name} must be a single URL path segment (no '/', '?', '#', '%' or spaces), "
            f"got {value!r}",
            parameter=name,
        )
    return value


@dataclass(frozen=True, slots=True)
class WorkersAIRequest:
    """One Workers AI request, built and checked but not sent.

    ``fields`` are the multipart text fields in wire order (``prompt`` first, then the
    parameters); ``images`` the ``input_image_N`` parts; ``headers`` the ``cf-aig-*`` headers
    (never the ``Authorization`` header: the client adds that when it sends);
    ``fingerprint`` is the request fingerprint: sha256 over canonical JSON of the model id, the
    prompt fingerprint, the sorted parameters and the sha256 of each input image in order.

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
    params: Mapping[str, int | float]
    images: tuple[InputImage, ...]
    headers: Mapping[str, str] = field(repr=False)
    prompt_fingerprint: str
    fingerprint: str

    @property
    def prompt(self) -> str:
        """The text of the ``prompt`` field (compact wire JSON, or a plain text prompt)."""
        return self.fields["prompt"]

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
    def seed(self) -> int | None:
        """The seed sent, or ``None`` when the service picks one."""
        seed = self.params.get("seed")
        return int(seed) if seed is not None else None

    @property
    def estimated_cost(self) -> float:
        """The price in USD of this generation, by :func:`estimate_cost` (model, size, steps
        and the input images as sent). A model without a published price raises
        :class:`ParameterError`.

        Example:
            >>> round(build_request("a fox", model="klein-4b", width=1024, height=1024)
            ...       .estimated_cost, 6)
            0.001148
        """
        steps = self.params.get("steps")
        return estimate_cost(
            self.model,
            int(self.params["width"]),
            int(self.params["height"]),
            int(steps) if steps is not None else None,
            [(image.width, image.height) for image in self.images],
        )

    def __repr__(self) -> str:
        return (
            f"WorkersAIRequest(model={self.model.id!r}, params={dict(self.params)!r}, "
            f"images={len(self.images)}, prompt={len(self.prompt)} chars, "
            f"fingerprint={self.fingerprint!r})"
        )


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
) -> WorkersAIRequest:
    """Build and check a request without sending it: a pure function (it only reads images).

    Width and height default to the model's defaults (1024x768) and are always sent, so the
    fingerprint says what will be generated; ``steps``, ``guidance`` and ``seed`` are sent only
    when given. Without ``account_id`` the URL holds the placeholder ``{account_id}``.

    Example:
        >>> req = build_request({"scene": "a tea house"}, model="dev", steps=28, guidance=3.5)
        >>> dict(req.params)
        {'width': 1024, 'height': 768, 'steps': 28, 'guidance': 3.5}
        >>> req.fingerprint.startswith("sha256:")
        True
    """
    spec = resolve_model(model)
    text, prompt_fingerprint = coerce_prompt(prompt)

    params: dict[str, int | float] = {
        "width": _check_int(
            "width",
            spec.default_width if width is None else width,
            spec,
            spec.min_side,
            spec.max_side,
        ),
        "height": _check_int(
            "height",
            spec.default_height if height is None else height,
            spec,
            spec.min_side,
            spec.max_side,
        ),
    }
    if steps is not None:
        if spec.fixed_steps is not None or "steps" not in spec.fields:
            fixed = f" (fixed at {spec.fixed_steps})" if spec.fixed_steps is not None else ""
            raise ParameterError(
                f"{spec.name} does not take steps{fixed}: leave steps unset", parameter="steps"
            )
        params["steps"] = _check_int("steps", steps, spec, 1, None)
    if guidance is not None:
        if isinstance(guidance, bool) or not isinstance(guidance, int | float):
            raise ParameterError(
                f"guidance must be a number, got {guidance!r}", parameter="guidance"
            )
        if not math.isfinite(guidance) or guidance < 0:
            raise ParameterError(
                f"guidance must be a finite number >= 0, got {guidance!r}", parameter="guidance"
            )
        # A float always: 3 and 3.0 are the same request and must share a fingerprint.
        params["guidance"] = float(guidance)
    if seed is not None:
        params["seed"] = _check_int("seed", seed, spec, 0, 2**64 - 1)

    single = isinstance(images, str | bytes | bytearray | os.PathLike) or not isinstance(
        images, Iterable
    )
    sources: list[ImageSource] = [images] if single else list(images)  # type: ignore[list-item]
    if len(sources) > spec.max_input_images:
        raise ParameterError(
            f"{spec.name} takes at most {spec.max_input_images} input images, got {len(sources)}",
            parameter="images",
        )
    prepared = tuple(
        prepare_image(source, index, resize=resize_images, max_side=spec.max_input_side)
        for index, source in enumerate(sources)
    )

    account = (
        ACCOUNT_PLACEHOLDER if account_id is None else check_path_segment("account_id", account_id)
    )
    if gateway is not None:
        gateway = check_path_segment("gateway", gateway)
        headers = gateway_options.headers() if gateway_options is not None else {}
    else:
        if gateway_options is not None:
            raise ParameterError(
                "gateway_options need a gateway: pass gateway='your-gateway-id' as well",
                parameter="gateway_options",
            )
        headers = {}
    url = endpoint_url(
        spec,
        account_id=account,
        base_url=base_url,
        gateway=gateway,
        gateway_base_url=gateway_base_url,
    )

    fields = {"prompt": text}
    for name, value in params.items():
        fields[name] = str(value)
    canonical = canonical_json(
        {
            "model": spec.id,
            "prompt": prompt_fingerprint,
            "params": dict(sorted(params.items())),
            "images": [image.sha256 for image in prepared],
        }
    )
    return WorkersAIRequest(
        model=spec,
        url=url,
        fields=MappingProxyType(fields),
        params=MappingProxyType(params),
        images=prepared,
        headers=MappingProxyType(headers),
        prompt_fingerprint=prompt_fingerprint,
        fingerprint=sha256_fingerprint(canonical),
    )
