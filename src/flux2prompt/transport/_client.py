"""The synchronous Workers AI client.

Example:
    >>> from flux2prompt.transport import WorkersAI
    >>> with WorkersAI(account_id="acc", api_token="tok", max_retries=0) as client:
    ...     client.max_retries
    0
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from types import TracebackType

import httpx

from flux2prompt.transport._base import DEFAULT_TIMEOUT, BaseClient
from flux2prompt.transport._catalogue import ModelSpec, Route
from flux2prompt.transport._download import ResultLink, download_result
from flux2prompt.transport._errors import APIError
from flux2prompt.transport._gateway import GatewayOptions
from flux2prompt.transport._images import ImageSource
from flux2prompt.transport._request import PromptLike, WorkersAIRequest
from flux2prompt.transport._result import ImageResult
from flux2prompt.transport._retry import SendProgress

__all__ = ["WorkersAI"]


class WorkersAI(BaseClient[httpx.Client]):
    """A client for FLUX.2 on Cloudflare Workers AI (blocking; see :class:`AsyncWorkersAI`).

    ``account_id`` and ``api_token`` default to ``CLOUDFLARE_ACCOUNT_ID`` and
    ``CLOUDFLARE_API_TOKEN``, ``base_url`` to ``CLOUDFLARE_BASE_URL`` or
    ``https://api.cloudflare.com/client/v4``. ``gateway="name"`` routes through AI Gateway
    (``gateway_base_url`` / ``CLOUDFLARE_GATEWAY_BASE_URL`` override its address). ``timeout``
    is in seconds or an ``httpx.Timeout`` (default: connect 10 s, read 180 s); ``max_retries``
    counts retries after the first attempt. Pass ``http_client`` to use your own
    ``httpx.Client`` (it is then yours to close). The token never appears in ``repr``, errors
    or logs. ``deadline`` bounds one attempt as a whole, on top of httpx's per-read timeouts
    (default twice the connect and read timeouts), and ``max_response_bytes`` the body of an
    answer (default 64 MiB): see "Limits: hostile answers" in docs/transport.md.

    Example:
        >>> import flux2prompt
        >>> with WorkersAI() as client:  # doctest: +SKIP
        ...     result = client.generate(flux2prompt.scene("a red fox in fresh snow"), seed=7)
        ...     result.save("fox.jpg")
        PosixPath('fox.jpg')
    """

    def _make_http_client(self) -> httpx.Client:
        return httpx.Client(timeout=DEFAULT_TIMEOUT, follow_redirects=False)

    def generate(
        self,
        prompt: PromptLike,
        *,
        model: str | ModelSpec | None = None,
        width: int | None = None,
        height: int | None = None,
        steps: int | None = None,
        guidance: float | None = None,
        seed: int | None = None,
        images: Iterable[ImageSource] = (),
        gateway_options: GatewayOptions | None = None,
        prompt_upsampling: bool | None = None,
        safety_tolerance: int | None = None,
        output_format: str | None = None,
        allow_unknown_model: bool = False,
        route: Route | str | None = None,
        prompt_format: str = "auto",
    ) -> ImageResult:
        """Generate one image and return it as an :class:`ImageResult`.

        ``prompt`` is a compiled ``Prompt``, a builder, a dict or a plain string. Parameters
        are checked against the model's catalogue entry before anything is sent
        (:class:`ParameterError`); failures raise an :class:`APIError` subclass after the
        retries allowed by ``max_retries``. The other parameters are those of
        :func:`flux2prompt.transport.build_request` (``prompt_upsampling``,
        ``safety_tolerance`` and ``output_format`` for proxied models, ``allow_unknown_model``
        with ``route`` for a model the catalogue does not know). A proxied model's result URL
        is downloaded at once, without the API token (:class:`ResultDownloadError` if that
        fails; the generation is never resubmitted for it).

        Example:
            >>> with WorkersAI() as client:  # doctest: +SKIP
            ...     client.generate("a lighthouse at dusk", model="klein-4b", width=768).width
            768
        """
        request = self.build_request(
            prompt,
            model=model,
            width=width,
            height=height,
            steps=steps,
            guidance=guidance,
            seed=seed,
            images=images,
            gateway_options=gateway_options,
            prompt_upsampling=prompt_upsampling,
            safety_tolerance=safety_tolerance,
            output_format=output_format,
            allow_unknown_model=allow_unknown_model,
            route=route,
            prompt_format=prompt_format,
        )
        return self.send(request)

    def send(self, request: WorkersAIRequest) -> ImageResult:
        """Send a request built by :meth:`build_request` (or ``build_request()``), with retries.

        Example:
            >>> with WorkersAI() as client:  # doctest: +SKIP
            ...     request = client.build_request("a lighthouse at dusk", seed=3)
            ...     client.send(request).request_fingerprint == request.fingerprint
            True
        """
        self._check_sendable(request)
        self._check_open()
        outcome = self._send_with_retries(request)
        if isinstance(outcome, ResultLink):
            # Outside the retry loop: a failed download never resubmits the generation.
            data = download_result(self._client, outcome, self._download_limits())
            return self._downloaded(outcome, data)
        return outcome

    def _send_with_retries(self, request: WorkersAIRequest) -> ImageResult | ResultLink:
        started = time.perf_counter()
        attempt = 0  # retries made, against max_retries
        reached = 0  # requests that reached the network (what `attempts` reports)
        resubmitted = 0  # resends of a request that may have run the model (opt-in only)
        stale_retried = False
        while True:
            http_request = self._to_httpx(request)
            progress = SendProgress()
            self._log_request(http_request, attempt)
            try:
                try:
                    response, body = self._send_bounded(
                        self._client, http_request, progress.observe
                    )
                except httpx.TransportError as exc:
                    reached += self._reached_network(exc, progress)
                    url = str(http_request.url)
                    raise self._transport_error(
                        exc, url, progress, resubmitted, self._secrets(request)
                    ) from exc
                reached += 1
                return self._parse_response(request, response, started, reached, body)
            except APIError as error:
                if getattr(error, "stale_connection", False) and not stale_retried:
                    # The server had closed an idle keep-alive connection: the request never
                    # reached it. Once, at once, and apart from the retry budget.
                    stale_retried = True
                    continue
                delay = self._retry_delay(attempt, error)
                if delay is None:
                    self._finish_error(error, reached, resubmitted)
                    raise
                resubmitted += error.may_have_been_billed
            self._sleep(delay)
            attempt += 1

    def _sleep(self, seconds: float) -> None:
        # A method, so tests (and callers with their own clock) can replace it.
        time.sleep(seconds)

    def close(self) -> None:
        """Close the connection pool, unless the ``httpx.Client`` was passed in.

        Example:
            >>> WorkersAI(account_id="acc", api_token="tok").close()
        """
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> WorkersAI:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
