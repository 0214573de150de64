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

import asyncio
import time
import weakref
from collections.abc import Iterable
from types import TracebackType

import anyio
import httpx

from flux2prompt.transport._base import DEFAULT_TIMEOUT, BaseClient
from flux2prompt.transport._catalogue import ModelSpec, Route
from flux2prompt.transport._download import ResultLink, adownload_result
from flux2prompt.transport._errors import APIError, ConfigurationError
from flux2prompt.transport._gateway import GatewayOptions
from flux2prompt.transport._images import ImageSource
from flux2prompt.transport._pools import PooledTransport
from flux2prompt.transport._request import PromptLike, WorkersAIRequest
from flux2prompt.transport._result import ImageResult
from flux2prompt.transport._retry import SendProgress

__all__ = ["AsyncWorkersAI"]


class AsyncWorkersAI(BaseClient[httpx.AsyncClient]):
    """The asynchronous twin of :class:`WorkersAI`: same options, ``await client.generate()``.

    Concurrency is the caller's: run many ``generate`` calls under a semaphore. The client it
    makes for itself spreads them over small connection pools (:class:`PooledTransport`, 100
    connections in pools of 8, all kept alive), which holds its throughput at high concurrency
    where one large httpcore pool does not; to size it, pass
    ``http_client=httpx.AsyncClient(transport=PooledTransport(connections=N))``.

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

    #: The asyncio event loop the pool was last used in (see :meth:`_follow_event_loop`).
    _event_loop: weakref.ref[asyncio.AbstractEventLoop] | None = None

    def _make_http_client(self) -> httpx.AsyncClient:
        # Small pools rather than one large one: httpcore's bookkeeping per request grows with
        # the pool, and at high concurrency one pool of 64 costs ~20 ms of CPU per request.
        return httpx.AsyncClient(
            timeout=DEFAULT_TIMEOUT, follow_redirects=False, transport=PooledTransport()
        )

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
        prompt_format: str = "auto",
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
            prompt_format=prompt_format,
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
        self._check_sendable(request)
        self._follow_event_loop()
        self._check_open()
        outcome = await self._send_with_retries(request)
        if isinstance(outcome, ResultLink):
            # Outside the retry loop: a failed download never resubmits the generation.
            data = await adownload_result(self._client, outcome, self._download_limits())
            return self._downloaded(outcome, data)
        return outcome

    def _follow_event_loop(self) -> None:
        """Keep the connection pool usable from the event loop running now.

        An ``httpx.AsyncClient``'s kept-alive connections belong to the asyncio event loop that
        opened them; after ``asyncio.run()`` returns that loop is closed, and a client used in
        the next one (a notebook cell, a script calling ``asyncio.run`` twice) would fail with
        a bare "Event loop is closed" before sending anything. A pool of the client's own is
        replaced by a fresh one; a pool passed in (``http_client=``) is its owner's to remake,
        which the error says. Under trio there is no asyncio loop and nothing to follow.
        """
        if not self._pool_loop_ended():
            return
        if self._owns_client:
            # The old pool's connections cannot be closed from here: their loop is gone.
            self._client = self._make_http_client()
            return
        raise ConfigurationError(
            "the connection pool of this AsyncWorkersAI (the http_client given to it, or the "
            "one it shares with the client with_options() made it from) was used in an "
            "asyncio event loop that has ended (each asyncio.run() makes a new one), and its "
            "connections belong to it: make the httpx.AsyncClient and the client inside the "
            "event loop that uses them, or leave http_client unset so the client makes its "
            "own pool"
        )

    def _share_pool_state(self, original: AsyncWorkersAI) -> None:
        # The pool's connections belong to the loop the original last used them in.
        if original._client is self._client:
            self._event_loop = original._event_loop

    def _pool_loop_ended(self) -> bool:
        """Whether the pool was last used in an asyncio event loop that has ended since (and
        note the loop running now as the pool's)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # trio, or no loop: nothing to follow
            return False
        last = self._event_loop
        self._event_loop = weakref.ref(loop)
        if last is None:
            return False
        previous = last()
        return previous is not loop and (previous is None or previous.is_closed())

    async def _send_with_retries(self, request: WorkersAIRequest) -> ImageResult | ResultLink:
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
                    response, body = await self._asend_bounded(
                        self._client, http_request, progress.observe
                    )
                except httpx.TransportError as exc:
                    reached += self._reached_network(exc, progress)
                    url = str(http_request.url)
                    raise self._transport_error(
                        exc, url, progress, resubmitted, self._secrets(request)
                    ) from exc
                except TimeoutError as exc:
                    reached += progress.reached_network is not False
                    url = str(http_request.url)
                    raise self._deadline_error(
                        url, progress, resubmitted, self._secrets(request)
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
            if self._pool_loop_ended():
                # Its connections died with their event loop; a fresh pool, closed, is what
                # is left (so that the client reads as closed).
                self._client = self._make_http_client()
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
