"""The asynchronous client for Black Forest Labs' API (asyncio or trio, through httpx and anyio).

Example:
    >>> import asyncio
    >>> from flux2prompt.transport import AsyncBFL
    >>> async def main() -> str:
    ...     async with AsyncBFL(api_key="k", model="flux-3-image") as client:
    ...         return client.model.id
    >>> asyncio.run(main())
    'flux-3-image'
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

import anyio
import httpx

from flux2prompt.transport._base import DEFAULT_TIMEOUT
from flux2prompt.transport._bfl_base import BFLBaseClient, BFLTask
from flux2prompt.transport._bfl_catalogue import BFLModelSpec
from flux2prompt.transport._bfl_request import BFLPromptLike, BFLRequest
from flux2prompt.transport._download import ResultLink, adownload_result
from flux2prompt.transport._errors import APIError, ResultDownloadError
from flux2prompt.transport._images import ImageSource
from flux2prompt.transport._result import ImageResult
from flux2prompt.transport._retry import SendProgress

__all__ = ["AsyncBFL"]


class AsyncBFL(BFLBaseClient[httpx.AsyncClient]):
    """The asynchronous twin of :class:`BFL`: same options, ``await client.generate()``.

    Many generations may run at once (``asyncio.gather``): past the account's active-task limit
    (24), submits wait for a slot on their own (429, ``Retry-After`` with jitter).

    Example:
        >>> import asyncio
        >>> async def main() -> None:
        ...     async with AsyncBFL() as client:
        ...         await asyncio.gather(*(client.generate("a paper crane", seed=s)
        ...                                for s in range(30)))
        >>> asyncio.run(main())  # doctest: +SKIP
    """

    def _make_http_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=DEFAULT_TIMEOUT,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )

    async def generate(
        self,
        prompt: BFLPromptLike,
        *,
        model: str | BFLModelSpec | None = None,
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
        prompt_format: str = "auto",
    ) -> ImageResult:
        """Generate one image; see :meth:`BFL.generate`.

        Example:
            >>> async def main():
            ...     async with AsyncBFL() as client:
            ...         return await client.generate("a lighthouse at dusk", seed=1)
            >>> asyncio.run(main()).format  # doctest: +SKIP
            'jpeg'
        """
        request = self.build_request(
            prompt,
            model=model,
            width=width,
            height=height,
            seed=seed,
            steps=steps,
            guidance=guidance,
            safety_tolerance=safety_tolerance,
            output_format=output_format,
            prompt_upsampling=prompt_upsampling,
            aspect_ratio=aspect_ratio,
            resolution=resolution,
            grounding=grounding,
            images=images,
            webhook_url=webhook_url,
            webhook_secret=webhook_secret,
            extra=extra,
            prompt_format=prompt_format,
        )
        return await self.send(request)

    async def send(self, request: BFLRequest) -> ImageResult:
        """Submit a built request and return its image; see :meth:`BFL.send`.

        Example:
            >>> async def main():
            ...     async with AsyncBFL() as client:
            ...         return await client.send(client.build_request("a fox"))
            >>> asyncio.run(main()).media_type  # doctest: +SKIP
            'image/jpeg'
        """
        return await self.result(await self.submit(request))

    async def submit(self, request: BFLRequest) -> BFLTask:
        """Submit a request and return its :class:`BFLTask`; see :meth:`BFL.submit`.

        Example:
            >>> async def main():
            ...     async with AsyncBFL() as client:
            ...         return await client.submit(client.build_request("a fox"))
            >>> asyncio.run(main()).id  # doctest: +SKIP
            '...'
        """
        attempt = 0
        stale_retried = False
        slot_deadline = time.monotonic() + self.slot_timeout
        while True:
            http_request = self._submit_request(request)
            progress = SendProgress()
            try:
                url = str(http_request.url)
                try:
                    response, body = await self._asend_bounded(
                        self._client, http_request, progress.observe
                    )
                except httpx.TransportError as exc:
                    raise self._transport_error(exc, url, progress) from exc
                except TimeoutError as exc:
                    # Cut off by the deadline after it was sent whole: may have been billed.
                    raise self._deadline_error(url, progress) from exc
                return self._parse_submit(request, response, body)
            except APIError as error:
                if getattr(error, "stale_connection", False) and not stale_retried:
                    stale_retried = True
                    continue
                delay = self._submit_delay(error, attempt, slot_deadline)
                if delay is None:
                    raise
            await self._sleep(delay)
            attempt += 1

    async def poll(self, task: BFLTask) -> tuple[str, dict[str, Any]]:
        """Ask once for a task's status; see :meth:`BFL.poll`.

        Example:
            >>> async def main(task):
            ...     async with AsyncBFL() as client:
            ...         return await client.poll(task)
            >>> asyncio.run(main(task))[0]  # doctest: +SKIP
            'Pending'
        """
        return await self._poll(task, None)

    async def _poll(self, task: BFLTask, deadline: float | None) -> tuple[str, dict[str, Any]]:
        # poll(), and result()'s polls, whose waits between retries end at its deadline.
        failures = 0
        while True:
            try:
                http_request = self._poll_request(task)
                progress = SendProgress()
                try:
                    response, body = await self._asend_bounded(
                        self._client, http_request, progress.observe
                    )
                except httpx.TransportError as exc:
                    raise self._transport_error(
                        exc, task.polling_url, progress, idempotent=True
                    ) from exc
                except TimeoutError as exc:
                    raise self._deadline_error(task.polling_url, progress, idempotent=True) from exc
                return self._parse_poll(task, response, body)
            except APIError as error:
                delay = self._poll_delay(error, failures, deadline)
                if delay is None:
                    raise
            failures += 1
            await self._sleep(delay)

    async def result(self, task: BFLTask) -> ImageResult:
        """Poll a task until it is Ready and return its image; see :meth:`BFL.result`.

        Example:
            >>> async def main(record):
            ...     async with AsyncBFL() as client:
            ...         return await client.result(BFLTask.from_dict(record))
            >>> asyncio.run(main(record)).save("resumed.jpg")  # doctest: +SKIP
            PosixPath('resumed.jpg')
        """
        started = time.perf_counter()
        deadline = time.monotonic() + self.poll_timeout
        seen: list[str] = []
        while True:
            status, payload = await self._poll(task, deadline)
            self._saw(seen, status)
            link = self._interpret(task, status, payload, started)
            if link is not None:
                return await self._download(task, link, payload)
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._timed_out(task, status, seen, self.poll_timeout - left)
            await self._sleep(min(self.poll_interval, left))

    async def _download(
        self, task: BFLTask, link: ResultLink, payload: dict[str, Any]
    ) -> ImageResult:
        try:
            data = await adownload_result(self._client, link, self._download_limits())
        except ResultDownloadError as error:
            raise self._expired(task, error) from None
        return self._finish(task, link, payload, data)

    async def _sleep(self, seconds: float) -> None:
        # A method, so tests can replace it; anyio keeps the client usable under trio too.
        await anyio.sleep(seconds)

    async def aclose(self) -> None:
        """Close the connection pool, unless the ``httpx.AsyncClient`` was passed in.

        Example:
            >>> asyncio.run(AsyncBFL(api_key="k").aclose())
        """
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> AsyncBFL:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
