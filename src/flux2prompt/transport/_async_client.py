"""The asynchronous Workers AI client (asyncio or trio, through httpx and anyio).

Example:
    >>> import asyncio
    >>> from flux2prompt.transport import AsyncWorkersAI
    >>> async def main() -> int:
    ...     async with AsyncWorkersAI(account_id="acc", api_token="tok") as client:
    ...         return client.max_retries
    >>> asyncio.run(main())
    2
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from types import TracebackType

import anyio
import httpx

from flux2prompt.transport._base import DEFAULT_TIMEOUT, BaseClient
from flux2prompt.transport._catalogue import ModelSpec, Route
from flux2prompt.transport._download import ResultLink, adownload_result
from flux2prompt.transport._errors import APIError
from flux2prompt.transport._gateway import GatewayOptions
from flux2prompt.transport._images import ImageSource
from flux2prompt.transport._request import PromptLike, WorkersAIRequest
from flux2prompt.transport._result import ImageResult

__all__ = ["AsyncWorkersAI"]


class AsyncWorkersAI(BaseClient[httpx.AsyncClient]):
    """The asynchronous twin of :class:`WorkersAI`: same options, ``await client.generate()``.

    Concurrency is the caller's: run many ``generate`` calls under a semaphore; they share one
    connection pool.

    Example:
        >>> import asyncio
        >>> async def main() -> None:
        ...     async with AsyncWorkersAI() as client:
        ...         limit = asyncio.Semaphore(8)
        ...         async def one(seed: int):
        ...             async with limit:
        ...                 return await client.generate("a paper crane", seed=seed)
        ...         results = await asyncio.gather(*(one(seed) for seed in range(32)))
        >>> asyncio.run(main())  # doctest: +SKIP
    """

    def _make_http_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=DEFAULT_TIMEOUT, follow_redirects=False)

    async def generate(
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
    ) -> ImageResult:
        """Generate one image; see :meth:`WorkersAI.generate`.

        Example:
            >>> async def main():
            ...     async with AsyncWorkersAI() as client:
            ...         return await client.generate("a lighthouse at dusk", seed=1)
            >>> asyncio.run(main()).format  # doctest: +SKIP
            'jpeg'
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
        )
        return await self.send(request)

    async def send(self, request: WorkersAIRequest) -> ImageResult:
        """Send a built request, with retries; see :meth:`WorkersAI.send`.

        Example:
            >>> async def main():
            ...     async with AsyncWorkersAI() as client:
            ...         return await client.send(client.build_request("a fox"))
            >>> asyncio.run(main()).media_type  # doctest: +SKIP
            'image/jpeg'
        """
        outcome = await self._send_with_retries(request)
        if isinstance(outcome, ResultLink):
            # Outside the retry loop: a failed download never resubmits the generation.
            data = await adownload_result(self._client, outcome, self._download_limits())
            return self._downloaded(outcome, data)
        return outcome

    async def _send_with_retries(self, request: WorkersAIRequest) -> ImageResult | ResultLink:
        started = time.perf_counter()
        attempt = 0
        while True:
            http_request = self._to_httpx(request)
            self._log_request(http_request, attempt)
            try:
                try:
                    response = await self._client.send(http_request)
                except httpx.TransportError as exc:
                    raise self._connection_error(exc, str(http_request.url)) from exc
                return self._parse_response(request, response, started, attempt + 1)
            except APIError as error:
                delay = self._retry_delay(attempt, error)
                if delay is None:
                    error.attempts = attempt + 1
                    raise
            await self._sleep(delay)
            attempt += 1

    async def _sleep(self, seconds: float) -> None:
        # A method, so tests can replace it; anyio keeps the client usable under trio too.
        await anyio.sleep(seconds)

    async def aclose(self) -> None:
        """Close the connection pool, unless the ``httpx.AsyncClient`` was passed in.

        Example:
            >>> asyncio.run(AsyncWorkersAI(account_id="acc", api_token="tok").aclose())
        """
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> AsyncWorkersAI:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
