"""The synchronous client for Black Forest Labs' own API (FLUX.2 [pro]/[max]/[flex]/[klein],
FLUX 3 Image): submit, poll the returned ``polling_url``, download ``result.sample`` at once.

Example:
    >>> from flux2prompt.transport import BFL
    >>> with BFL(api_key="k", model="klein-4b", max_retries=0) as client:
    ...     client.model.id, client.max_retries
    ('flux-2-klein-4b', 0)
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

import httpx

from flux2prompt.transport._base import DEFAULT_TIMEOUT
from flux2prompt.transport._bfl_base import BFLBaseClient, BFLTask
from flux2prompt.transport._bfl_catalogue import BFLModelSpec
from flux2prompt.transport._bfl_request import BFLPromptLike, BFLRequest
from flux2prompt.transport._download import ResultLink, download_result
from flux2prompt.transport._errors import APIError, ResultDownloadError
from flux2prompt.transport._images import ImageSource
from flux2prompt.transport._result import ImageResult
from flux2prompt.transport._retry import SendProgress

__all__ = ["BFL"]


class BFL(BFLBaseClient[httpx.Client]):
    """A client for Black Forest Labs' API (blocking; see :class:`AsyncBFL`).

    ``api_key`` defaults to ``BFL_API_KEY``; ``region`` is ``"global"`` (``api.bfl.ai``, with
    failover), ``"eu"`` or ``"us"``, and ``base_url`` (or ``BFL_BASE_URL``) overrides it.
    ``model`` is the endpoint (``"flux-2-pro"`` by default; short names such as ``"flex"``,
    ``"klein-4b"``, ``"flux-3-image"``). ``max_retries`` bounds retries of connection failures
    and of polls; a 429 (too many active tasks) is waited out for up to ``slot_timeout``
    seconds; a paid submit is never resent after a 5xx or a cut answer. ``poll_interval`` and
    ``poll_timeout`` pace the polling. The key never appears in ``repr``, errors or logs, and
    is never sent to the host that delivers the image. ``deadline`` bounds one attempt (a
    submit or a poll) as a whole, on top of httpx's per-read timeouts (default twice the
    connect and read timeouts), and ``max_response_bytes`` the body of an answer (default
    64 MiB, the image too): see "Limits: hostile answers" in docs/transport.md.

    Example:
        >>> import flux2prompt
        >>> with BFL() as client:  # doctest: +SKIP
        ...     result = client.generate(flux2prompt.scene("a red fox in fresh snow"), seed=7)
        ...     result.save("fox.jpg")
        PosixPath('fox.jpg')
    """

    def _make_http_client(self) -> httpx.Client:
        return httpx.Client(timeout=DEFAULT_TIMEOUT, follow_redirects=False)

    def generate(
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
        """Generate one image: submit, poll until Ready, download; return an :class:`ImageResult`.

        Fields are checked against the endpoint's table before anything is sent (a field it
        would answer 422 to is a :class:`ParameterError` naming those it takes). A task that
        ends otherwise raises its :class:`TaskError` (``Request Moderated`` and ``Content
        Moderated`` are :class:`InputModeratedError` and :class:`OutputModeratedError`, not
        charged). ``result.effective_prompt`` is the prompt BFL reports having run.

        Example:
            >>> with BFL() as client:  # doctest: +SKIP
            ...     client.generate("a lighthouse at dusk", model="klein-4b", width=768).width
            768
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
        return self.send(request)

    def send(self, request: BFLRequest) -> ImageResult:
        """Submit a built request and return its image (:meth:`submit`, then :meth:`result`).

        Example:
            >>> with BFL() as client:  # doctest: +SKIP
            ...     request = client.build_request("a lighthouse", seed=3)
            ...     client.send(request).request_fingerprint == request.fingerprint
            True
        """
        return self.result(self.submit(request))

    def submit(self, request: BFLRequest) -> BFLTask:
        """Submit a request and return its :class:`BFLTask` without waiting for the image.

        Record the task before polling it (``task.to_dict()``): a process that dies then
        resumes with :meth:`result` and pays nothing twice.

        Example:
            >>> with BFL() as client:  # doctest: +SKIP
            ...     task = client.submit(client.build_request("a lighthouse"))
            ...     task.polling_url.startswith("https://")
            True
        """
        attempt = 0
        stale_retried = False
        slot_deadline = time.monotonic() + self.slot_timeout
        while True:
            http_request = self._submit_request(request)
            progress = SendProgress()
            try:
                try:
                    response, body = self._send_bounded(
                        self._client, http_request, progress.observe
                    )
                except httpx.TransportError as exc:
                    # Placed by the retry policy: one cut off (by the deadline too) after it
                    # was sent whole may have created the task.
                    raise self._transport_error(exc, str(http_request.url), progress) from exc
                return self._parse_submit(request, response, body)
            except APIError as error:
                if getattr(error, "stale_connection", False) and not stale_retried:
                    stale_retried = True
                    continue
                delay = self._submit_delay(error, attempt, slot_deadline)
                if delay is None:
                    raise
            self._sleep(delay)
            attempt += 1

    def poll(self, task: BFLTask) -> tuple[str, dict[str, Any]]:
        """Ask once for a task's status: ``(status, the whole answer)`` (poll failures retried).

        Example:
            >>> with BFL() as client:  # doctest: +SKIP
            ...     client.poll(task)[0]
            'Pending'
        """
        return self._poll(task, None)

    def _poll(self, task: BFLTask, deadline: float | None) -> tuple[str, dict[str, Any]]:
        # poll(), and result()'s polls, whose waits between retries end at its deadline.
        failures = 0
        while True:
            try:
                http_request = self._poll_request(task)
                progress = SendProgress()
                try:
                    response, body = self._send_bounded(
                        self._client, http_request, progress.observe
                    )
                except httpx.TransportError as exc:
                    raise self._transport_error(
                        exc, task.polling_url, progress, idempotent=True
                    ) from exc
                return self._parse_poll(task, response, body)
            except APIError as error:
                delay = self._poll_delay(error, failures, deadline)
                if delay is None:
                    raise
            failures += 1
            self._sleep(delay)

    def result(self, task: BFLTask) -> ImageResult:
        """Poll a task until it is Ready (or ends otherwise) and return its image.

        Statuses other than those the API documents are polled on until ``poll_timeout``;
        :class:`TaskTimeoutError` then names them. The image is downloaded at once, without the
        key; an expired URL is a :class:`ResultDownloadError` with ``reason="expired"`` (paid,
        result expired). Nothing is ever resubmitted.

        Example:
            >>> with BFL() as client:  # doctest: +SKIP
            ...     client.result(BFLTask.from_dict(record)).save("resumed.jpg")
            PosixPath('resumed.jpg')
        """
        started = time.perf_counter()
        deadline = time.monotonic() + self.poll_timeout
        seen: list[str] = []
        while True:
            status, payload = self._poll(task, deadline)
            self._saw(seen, status)
            link = self._interpret(task, status, payload, started)
            if link is not None:
                return self._download(task, link, payload)
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._timed_out(task, status, seen, self.poll_timeout - left)
            self._sleep(min(self.poll_interval, left))

    def _download(self, task: BFLTask, link: ResultLink, payload: dict[str, Any]) -> ImageResult:
        try:
            data = download_result(self._client, link, self._download_limits())
        except ResultDownloadError as error:
            raise self._expired(task, error) from None
        return self._finish(task, link, payload, data)

    def _sleep(self, seconds: float) -> None:
        # A method, so tests (and callers with their own clock) can replace it.
        time.sleep(seconds)

    def close(self) -> None:
        """Close the connection pool, unless the ``httpx.Client`` was passed in.

        Example:
            >>> BFL(api_key="k").close()
        """
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> BFL:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
