"""Batches on Black Forest Labs' API: the host adapter the runner sends through when a job says
``provider = "bfl"``.

The runner sends an item with ``await client.send(request)`` and paces itself by the places it
holds while a send runs; on BFL a send is one task from submit to download, so the runner's
concurrency (at most 24, BFL's limit of active tasks) is the number of active tasks. The adapter
adds what a task API needs for a batch to survive a crash without paying twice:

- **the task is recorded before it is polled**: each submit appends ``{"event": "submitted",
  "request_fingerprint", "task"}`` to ``bfl-tasks.jsonl`` in the output folder, flushed and
  fsynced, before the first poll. A run killed while its tasks are pending leaves their ids
  there; the next run polls those tasks for their items and submits none of them again.
- **a submit whose answer was lost is never resent**: a 5xx or 408 to a submit becomes a
  :class:`~flux2prompt.transport.PossiblyBilledError` (the task may exist), which the runner
  records as possibly billed and holds (``--resend-billed`` sends it again).
- **a task Ready after its URL expired** is a failure "paid, result expired", possibly billed:
  held, never resubmitted silently.
- A task that ended without an image and without a charge (moderated), or failed, is marked
  ``done`` in the file, so a later run submits its item anew; a task still running when the
  polling deadline passed stays pending, and the next run polls it again.

Example:
    >>> import tempfile, pathlib
    >>> from flux2prompt.transport import BFLTask
    >>> ledger = TaskLedger(pathlib.Path(tempfile.mkdtemp()) / "bfl-tasks.jsonl")
    >>> ledger.record("sha256:r", BFLTask("t-1", "https://api.bfl.ai/v1/get_result?id=t-1", "m"))
    >>> ledger.pending("sha256:r").id, TaskLedger(ledger.path).pending("sha256:r").id
    ('t-1', 't-1')
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final, Protocol

import httpx

from flux2prompt.batch._emulated import EmulatorEndpoint
from flux2prompt.transport import (
    DEFAULT_TIMEOUT,
    AsyncBFL,
    BFLRequest,
    BFLTask,
    ImageResult,
    InternalServerError,
    ParameterError,
    PossiblyBilledError,
    RequestTimeoutError,
    ResultDownloadError,
    TaskError,
    TaskTimeoutError,
    resolve_bfl_model,
)

__all__ = [
    "BFL_MAX_ACTIVE_TASKS",
    "LEDGER_NAME",
    "BFLBatchClient",
    "BatchClient",
    "TaskLedger",
    "bfl_client",
    "bfl_model_priced",
]

#: The file, in the output folder, where submitted tasks are recorded before they are polled.
LEDGER_NAME: Final = "bfl-tasks.jsonl"
#: Active tasks on a standard BFL account: the most a BFL batch runs at once.
BFL_MAX_ACTIVE_TASKS: Final = 24


class BatchClient(Protocol):
    """What the runner needs of a client: send a built request, and scrub its secret."""

    async def send(self, request: Any) -> ImageResult:
        """Generate one image for ``request``."""

    def redact(self, text: str) -> str:
        """``text`` without the client's secret."""


def bfl_model_priced(model: str) -> tuple[str, bool]:
    """The endpoint of ``model`` and whether BFL publishes a price for it (for the dry run).

    Example:
        >>> bfl_model_priced("flux-3-image"), bfl_model_priced("klein-4b")
        (('flux-3-image', False), ('flux-2-klein-4b', True))
    """
    spec = resolve_bfl_model(model)
    return spec.id, spec.price_per_megapixel is not None


class TaskLedger:
    """The submitted tasks of one output folder, by request fingerprint (see the module docs).

    A line that cannot be read (a write cut off by a crash) is skipped: at worst that one item
    is submitted again, which the runner's records then show.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._pending: dict[str, BFLTask] = {}
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            lines = []
        for line in lines:
            try:
                entry = json.loads(line)
                fingerprint = str(entry["request_fingerprint"])
                if entry["event"] == "submitted":
                    self._pending[fingerprint] = BFLTask.from_dict(entry["task"])
                elif entry["event"] == "done":
                    task = self._pending.get(fingerprint)
                    if task is not None and task.id == entry.get("task_id"):
                        del self._pending[fingerprint]
            except (ValueError, KeyError, TypeError, RecursionError, ParameterError):
                continue  # a line that cannot be read: see the class docs

    def pending(self, request_fingerprint: str) -> BFLTask | None:
        """The task submitted for this request and not known to have ended, if any."""
        with self._lock:
            return self._pending.get(request_fingerprint)

    def record(self, request_fingerprint: str, task: BFLTask) -> None:
        """Record a submitted task, durably, before it is polled."""
        self._append({"event": "submitted", "request_fingerprint": request_fingerprint,
                      "task": task.to_dict()})  # fmt: skip
        with self._lock:
            self._pending[request_fingerprint] = task

    def done(self, request_fingerprint: str, task: BFLTask) -> None:
        """Record that a task ended without an image to fetch (a later run submits anew)."""
        self._append({"event": "done", "request_fingerprint": request_fingerprint,
                      "task_id": task.id})  # fmt: skip
        with self._lock:
            if self._pending.get(request_fingerprint) == task:
                del self._pending[request_fingerprint]

    def _append(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, separators=(",", ":"), ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())


class BFLBatchClient:
    """An :class:`~flux2prompt.transport.AsyncBFL` seen as the runner's client, with the task
    ledger of the output folder (see the module docs).

    Example:
        >>> import asyncio, tempfile, pathlib
        >>> from flux2prompt.batch._emulated import emulated
        >>> async def main(base_url: str, folder: pathlib.Path) -> int:
        ...     async with AsyncBFL(api_key="k", base_url=base_url, poll_interval=0.05) as bfl:
        ...         client = BFLBatchClient(bfl, TaskLedger(folder / LEDGER_NAME))
        ...         result = await client.send(bfl.build_request("a fox", model="klein-4b"))
        ...     return result.width
        >>> with emulated() as endpoint:
        ...     asyncio.run(main(endpoint.bfl_base_url, pathlib.Path(tempfile.mkdtemp())))
        1024
    """

    def __init__(self, client: AsyncBFL, ledger: TaskLedger) -> None:
        self._client = client
        self.ledger = ledger

    def redact(self, text: str) -> str:
        """``text`` without the API key."""
        return self._client.redact(text)

    async def send(self, request: BFLRequest) -> ImageResult:
        """Poll the recorded task of ``request`` if there is one, else submit, record, poll."""
        if not isinstance(request, BFLRequest):
            raise ParameterError(
                "a Black Forest Labs batch sends BFL requests; this item was planned for "
                "Workers AI (check the job's provider)"
            )
        key = request.fingerprint
        task = self.ledger.pending(key)
        if task is None:
            try:
                task = await self._client.submit(request)
            except (InternalServerError, RequestTimeoutError) as exc:
                # A 5xx or a 408 to a submit: BFL may have created (and will charge) the task.
                raise PossiblyBilledError(
                    "disconnected",
                    url=exc.url,
                    detail=f"HTTP {exc.status_code} to a submit: the task may exist",
                    host="Black Forest Labs",
                    hint="The item is held (it may have been paid); rerun with --resend-billed "
                    "to submit it again.",
                ) from exc
            self.ledger.record(key, task)
        try:
            return await self._client.result(task)
        except TaskTimeoutError as exc:
            # Still running, and recorded: the next run polls this same task (never a new
            # submit), so the item need not be held as possibly billed.
            exc.may_have_been_billed = False
            raise
        except ResultDownloadError as exc:
            if exc.reason == "expired":
                exc.may_have_been_billed = True  # paid: held, never resubmitted silently
                self.ledger.done(key, task)
            else:
                # Paid, but the task stays recorded: the next run polls this same task and
                # fetches its result again (never a new submit), so the item is not held.
                exc.may_have_been_billed = False
            raise
        except TaskError:
            self.ledger.done(key, task)  # ended without an image: a later run submits anew
            raise


@contextlib.asynccontextmanager
async def bfl_client(
    out_dir: Path,
    *,
    model: str,
    concurrency: int,
    endpoint: EmulatorEndpoint | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
) -> AsyncIterator[BFLBatchClient]:
    """The runner's BFL client for one run into ``out_dir``: against the emulator's BFL mode
    when ``endpoint`` is given, else Black Forest Labs (``BFL_API_KEY``, ``BFL_BASE_URL``)."""
    limits = httpx.Limits(max_connections=concurrency + 4, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        timeout=DEFAULT_TIMEOUT, limits=limits, follow_redirects=False
    ) as http:
        options: dict[str, Any] = {"model": model, "http_client": http}
        if endpoint is not None:
            options.update(api_key=endpoint.api_token, base_url=endpoint.bfl_base_url)
            options["poll_interval"] = 0.05
        else:
            options.update(api_key=api_key, base_url=base_url)
        client = AsyncBFL(**options)
        yield BFLBatchClient(client, TaskLedger(out_dir / LEDGER_NAME))
