"""The emulator's Black Forest Labs mode: BFL's task API on the same port, below ``/bfl``.

``POST /bfl/v1/{endpoint}`` checks the body against the emulator's own table of BFL's endpoints
(it imports nothing from the transport, so a client whose catalogue drifts is caught by a 422)
and answers ``{"id", "polling_url", "cost"}``; ``GET /bfl/v1/get_result?id=...`` walks the task
from ``Pending`` to ``Ready`` (or to the status a fault or a test chose) over ``bfl_task_ms``;
a Ready task's image is served from an expiring URL below ``/results/`` (10 minutes for
FLUX.2, one hour for FLUX 3, from the moment it is Ready). At most ``bfl_max_active`` tasks
(24) run at once; one more submit answers 429 with ``Retry-After``. With ``bfl_credits`` set, a
submit that costs more than the credits left answers 402.

Example:
    >>> job = validate_bfl("flux-2-pro", {"prompt": "a fox", "width": 512, "height": 512})
    >>> job.width, job.height, job.validity
    (512, 512, 600.0)
    >>> validate_bfl("flux-3-image", {"prompt": "a fox", "seed": 1})
    Traceback (most recent call last):
    ...
    flux2prompt.emulator._bfl.BFLRefusal: 422: Extra inputs are not permitted: seed (fields from other BFL endpoints, such as seed, width, and input_image, don't work here)
"""  # noqa: E501

from __future__ import annotations

import base64
import binascii
import io
import json
import math
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, cast

from PIL import Image, UnidentifiedImageError

from flux2prompt._layout import TABLE_SEPARATOR, read_layout_prompt
from flux2prompt.emulator._config import ImageFormat
from flux2prompt.emulator._protocol import unencodable_field
from flux2prompt.emulator._proxied import upsample

__all__ = [
    "BFL_PREFIX",
    "ENDPOINTS",
    "POLL_PATH",
    "TERMINAL_STATUSES",
    "BFLJob",
    "BFLRefusal",
    "BFLTaskInfo",
    "TaskBoard",
    "cost_of",
    "expand_flux3",
    "refusal_body",
    "validate_bfl",
]

#: Where the BFL mode lives on the emulator's port.
BFL_PREFIX: Final = "/bfl"
#: The polling path (BFL's own: ``/v1/get_result?id=...``), below the prefix.
POLL_PATH: Final = f"{BFL_PREFIX}/v1/get_result"
#: The statuses that end a task. Anything else a test asks for is polled forever.
TERMINAL_STATUSES: Final = frozenset(
    {"Ready", "Request Moderated", "Content Moderated", "Error", "Failed", "Task not found"}
)
#: What the emulator appends when FLUX 3 "expands" a prompt (FLUX 3 always does).
EXPANDED_SUFFIX: Final = " Expanded by the emulator: soft natural light, fine surface detail."

_FLUX2_VALIDITY = 600.0
_MAX_TASKS = 4096
_FLUX3_VALIDITY = 3600.0
_MAX_PIXELS = 4 * 1024 * 1024
_FLUX2_FORMATS = ("jpeg", "png")
_FLUX3_RATIOS = (
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
# The side of a square image at each resolution (its area is the side squared).
_FLUX3_RESOLUTIONS = {"768sq": 768, "1k": 1024, "1.5k": 1536, "2k": 2048, "4k": 4096}
#: FLUX 3 references (the hosts' published schemas): 1 to 10, each at least 256x256 and at most
#: 16 MP, base64 at most 20 MB.
_FLUX3_MIN_SIDE = 256
_FLUX3_MAX_PIXELS = 16 * 1024 * 1024
_MAX_BASE64 = 20 * 1000 * 1000
_FLUX3_NOTE = (
    "fields from other BFL endpoints, such as seed, width, and input_image, don't work here"
)


@dataclass(frozen=True, slots=True)
class _Endpoint:
    family: str
    references: int
    flex: bool = False
    price: float | None = None  # credits per megapixel, for the submit's "cost"
    edit_price: float | None = None  # the same with reference images, where BFL lists one


_FLUX2_FIELDS = frozenset(
    {
        "prompt",
        "width",
        "height",
        "seed",
        "safety_tolerance",
        "output_format",
        "prompt_upsampling",
        "webhook_url",
        "webhook_secret",
    }
)
_FLUX3_FIELDS = frozenset(
    {
        "prompt",
        "images",
        "aspect_ratio",
        "resolution",
        "grounding",
        "safety_tolerance",
        "output_format",
        "version",
        "webhook_url",
        "webhook_secret",
    }
)

#: BFL's endpoints as the emulator knows them (the reference's table; prices in credits).
ENDPOINTS: Mapping[str, _Endpoint] = {
    "flux-2-pro": _Endpoint("flux2", 8, price=3.0, edit_price=4.5),
    "flux-2-pro-preview": _Endpoint("flux2", 8),
    "flux-2-max": _Endpoint("flux2", 8, price=7.0),
    "flux-2-flex": _Endpoint("flux2", 8, flex=True, price=5.0),
    "flux-2-klein-4b": _Endpoint("flux2", 4, price=1.4),
    "flux-2-klein-9b": _Endpoint("flux2", 4, price=1.5),
    "flux-3-image": _Endpoint("flux3", 10),
    "flux-3-image-klein": _Endpoint("flux3", 10),
}


class BFLRefusal(Exception):
    """A refusal in BFL's shape: the HTTP status and ``{"detail": ...}``, with extra headers.

    Example:
        >>> json.loads(refusal_body(BFLRefusal(403, "Not authenticated")))
        {'detail': 'Not authenticated'}
    """

    def __init__(
        self, status: int, detail: str | list[dict[str, Any]], headers: Mapping[str, str] = {}
    ) -> None:
        shown = detail if isinstance(detail, str) else "; ".join(d["msg"] for d in detail)
        super().__init__(f"{status}: {shown}")
        self.status = status
        self.detail = detail
        self.headers = dict(headers)


def refusal_body(refusal: BFLRefusal) -> bytes:
    """The JSON body of a refusal."""
    return json.dumps({"detail": refusal.detail}, separators=(",", ":")).encode()


def _invalid(name: str, message: str) -> BFLRefusal:
    return BFLRefusal(422, [{"loc": ["body", name], "msg": message, "type": "value_error"}])


def _int(name: str, value: object, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise _invalid(name, f"must be an integer from {low} to {high}, got {value!r}")
    return value


def _reference(
    name: str, value: object, *, min_side: int | None = None, max_pixels: int | None = None
) -> None:
    if not isinstance(value, str) or not value:
        raise _invalid(name, "must be a URL or base64 image data")
    if value.startswith(("https://", "http://")):
        return  # the emulator does not fetch other people's URLs
    if value.startswith("data:"):
        head, separator, data = value.partition(",")
        if not separator or not head.endswith(";base64"):
            raise _invalid(name, "a data URI must be base64 (data:image/png;base64,...)")
    else:
        data = value
    if len(data) > _MAX_BASE64:
        raise _invalid(name, f"base64 image data must be at most {_MAX_BASE64:,} characters")
    try:
        raw = base64.b64decode(data, validate=True)
        with Image.open(io.BytesIO(raw)) as image:
            width, height = image.size
            if min_side is not None and min(width, height) < min_side:
                raise _invalid(
                    name, f"is {width}x{height}; references must be at least {min_side}x{min_side}"
                )
            if max_pixels is not None and width * height > max_pixels:
                raise _invalid(
                    name, f"is {width}x{height}; references must be at most {max_pixels:,} pixels"
                )
            image.load()
    except BFLRefusal:
        raise
    except Image.DecompressionBombError:
        raise _invalid(name, "is too large to decode (a decompression bomb?)") from None
    except (binascii.Error, ValueError, UnidentifiedImageError, OSError, SyntaxError):
        raise _invalid(name, "is not a URL or a decodable base64 image") from None


@dataclass(frozen=True, slots=True)
class BFLJob:
    """A checked submit: what to render, the prompt "run", and where to post the result."""

    endpoint: str
    prompt: str
    effective_prompt: str
    width: int
    height: int
    seed: int | None
    output_format: ImageFormat | None
    references: int
    validity: float
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)


def expand_flux3(prompt: str) -> str:
    """FLUX 3's own expansion, as the emulator plays it: a sentence added to the caption, the
    element table (boxes included) kept as it was.

    Example:
        >>> table = '[\\n{"id":"mug_1","bbox":[0,0,500,500],"desc":"a mug"}\\n]'
        >>> expanded = expand_flux3("A <mug_1>.\\n\\n" + table)
        >>> expanded.split("\\n\\n")[0][:14], expanded.endswith(table)
        ('A <mug_1>. Exp', True)
    """
    if read_layout_prompt(prompt) is not None:
        caption, separator, table = prompt.rpartition(TABLE_SEPARATOR)
        return caption + EXPANDED_SUFFIX + separator + table
    return prompt + EXPANDED_SUFFIX


def _flux3_size(ratio: str, resolution: str) -> tuple[int, int]:
    side = _FLUX3_RESOLUTIONS[resolution]
    if resolution == "768sq" or ratio in ("auto", "1:1"):
        return side, side
    a, b = (int(n) for n in ratio.split(":"))
    width = math.sqrt(side * side * a / b)
    height = side * side / width
    return max(16, round(width / 16) * 16), max(16, round(height / 16) * 16)


def validate_bfl(endpoint: str, document: object) -> BFLJob:
    """Check a submit body against the endpoint's table; raise the refusal BFL would send.

    An unknown endpoint is 404; an unknown field or a bad value is 422, naming the field.

    Example:
        >>> validate_bfl("flux-2-flex", {"prompt": "a fox", "steps": 60})
        Traceback (most recent call last):
        ...
        flux2prompt.emulator._bfl.BFLRefusal: 422: must be an integer from 1 to 50, got 60
    """
    spec = ENDPOINTS.get(endpoint)
    if spec is None:
        raise BFLRefusal(404, "Not Found")
    if not isinstance(document, dict):
        raise _invalid("body", "the body must be a JSON object")
    flux3 = spec.family == "flux3"
    allowed = set(_FLUX3_FIELDS if flux3 else _FLUX2_FIELDS)
    if spec.flex:
        allowed |= {"steps", "guidance"}
    if not flux3:
        allowed |= {"input_image"} | {f"input_image_{n}" for n in range(2, spec.references + 1)}
    extra = sorted(set(document) - allowed)
    if extra:
        note = f" ({_FLUX3_NOTE})" if flux3 else ""
        raise BFLRefusal(
            422,
            [
                {
                    "loc": ["body", name],
                    "msg": f"Extra inputs are not permitted: {name}{note}",
                    "type": "extra_forbidden",
                }
                for name in extra
            ],
        )
    prompt = document.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise _invalid("prompt", "a non-empty prompt is required")
    broken = unencodable_field(document)
    if broken is not None:
        raise _invalid(broken, "is not valid Unicode text (a lone surrogate)")
    max_safety = 4 if flux3 else 5
    if "safety_tolerance" in document:
        _int("safety_tolerance", document["safety_tolerance"], 0, max_safety)
    fmt = document.get("output_format")
    if fmt is not None and (not isinstance(fmt, str) or fmt not in _FLUX2_FORMATS):
        raise _invalid("output_format", f"must be one of {', '.join(_FLUX2_FORMATS)}")
    output_format = cast("ImageFormat | None", fmt)
    hook = document.get("webhook_url")
    if hook is not None and not (
        isinstance(hook, str) and hook.startswith(("http://", "https://"))
    ):
        raise _invalid("webhook_url", "must be an http(s) URL")
    secret = document.get("webhook_secret")
    if secret is not None and not isinstance(secret, str):
        raise _invalid("webhook_secret", "must be a string")
    if flux3:
        ratio = document.get("aspect_ratio", "auto")
        if not isinstance(ratio, str) or ratio not in _FLUX3_RATIOS:
            raise _invalid("aspect_ratio", f"must be one of {', '.join(_FLUX3_RATIOS)}")
        resolution = document.get("resolution", "1k")
        # A string first: a list or an object is no key of the table (and not hashable).
        if not isinstance(resolution, str) or resolution not in _FLUX3_RESOLUTIONS:
            raise _invalid("resolution", f"must be one of {', '.join(_FLUX3_RESOLUTIONS)}")
        if "grounding" in document and not isinstance(document["grounding"], bool):
            raise _invalid("grounding", "must be a boolean")
        images = document.get("images")
        if images is None:  # absent (or null): no references
            images = []
        elif not isinstance(images, list) or not 1 <= len(images) <= spec.references:
            raise _invalid("images", f"must be a list of 1 to {spec.references} images")
        for index, value in enumerate(images):
            _reference(
                f"images.{index}",
                value,
                min_side=_FLUX3_MIN_SIDE,
                max_pixels=_FLUX3_MAX_PIXELS,
            )
        version = document.get("version", "latest")
        if not isinstance(version, str) or not version.strip():
            raise _invalid("version", f"must be a version name such as 'latest', got {version!r}")
        width, height = _flux3_size(str(ratio), str(resolution))
        return BFLJob(
            endpoint=endpoint,
            prompt=prompt,
            effective_prompt=expand_flux3(prompt),
            width=width,
            height=height,
            seed=None,
            output_format=output_format,
            references=len(images),
            validity=_FLUX3_VALIDITY,
            webhook_url=hook,
            webhook_secret=secret,
        )
    width = document.get("width", 1024)
    height = document.get("height", 768)
    for name, value in (("width", width), ("height", height)):
        _int(name, value, 64, _MAX_PIXELS // 64)
        if value % 16:
            raise _invalid(name, f"must be a multiple of 16, got {value}")
    if width * height > _MAX_PIXELS:
        raise _invalid("width", f"width x height must be at most {_MAX_PIXELS} pixels")
    seed = _int("seed", document["seed"], 0, 2**53 - 1) if "seed" in document else None
    if spec.flex:
        if "steps" in document:
            _int("steps", document["steps"], 1, 50)
        if "guidance" in document:
            guidance = document["guidance"]
            if (
                isinstance(guidance, bool)
                or not isinstance(guidance, int | float)
                or not 1.5 <= guidance <= 10
            ):
                raise _invalid("guidance", "must be a number from 1.5 to 10")
    upsampling = document.get("prompt_upsampling", False)
    if not isinstance(upsampling, bool):
        raise _invalid("prompt_upsampling", "must be a boolean")
    references = 0
    for name in sorted(k for k in document if k.startswith("input_image")):
        _reference(name, document[name])
        references += 1
    return BFLJob(
        endpoint=endpoint,
        prompt=prompt,
        effective_prompt=upsample(prompt) if upsampling else prompt,
        width=width,
        height=height,
        seed=seed,
        output_format=output_format,
        references=references,
        validity=_FLUX2_VALIDITY,
        webhook_url=hook,
        webhook_secret=secret,
    )


def cost_of(job: BFLJob) -> float | None:
    """The credits a submit reports, from the endpoint's "from" rate per megapixel (its edit
    rate when the job has reference images: [pro] $0.045 rather than $0.03).

    Example:
        >>> import dataclasses
        >>> job = validate_bfl("flux-2-pro", {"prompt": "a fox", "width": 1024, "height": 1024})
        >>> cost_of(job), cost_of(dataclasses.replace(job, references=1))
        (3.0, 4.5)
    """
    spec = ENDPOINTS[job.endpoint]
    price = spec.edit_price if job.references and spec.edit_price is not None else spec.price
    if price is None:
        return None
    return round(price * job.width * job.height / (1024 * 1024), 4)


@dataclass(slots=True)
class _Task:
    id: str
    job: BFLJob
    seed: int
    submitted: float
    ends_at: float
    final_status: str
    poll_errors: int
    validity: float
    polls: int = 0
    result_key: str | None = None
    delivered: bool = False
    #: Its result URL holds a GIF instead of the image (``not_an_image_ratio``).
    not_an_image: bool = False


@dataclass(frozen=True, slots=True)
class BFLTaskInfo:
    """What a test may read of one emulated task."""

    id: str
    endpoint: str
    final_status: str
    polls: int
    prompt: str


class TaskBoard:
    """The emulated tasks: created by submits, walked by time, limited in number while active.

    Example:
        >>> board = TaskBoard(max_active=1)
        >>> job = validate_bfl("flux-2-pro", {"prompt": "a fox"})
        >>> task = board.submit(job, seed=1, duration=60.0, final_status="Ready")
        >>> board.status(task.id)[1], board.active()
        ('Pending', 1)
        >>> board.submit(job, seed=2, duration=60.0, final_status="Ready")
        Traceback (most recent call last):
        ...
        flux2prompt.emulator._bfl.BFLRefusal: 429: Too many active tasks: 1 of 1; wait for one to finish
    """  # noqa: E501

    def __init__(self, max_active: int = 24, credits: float | None = None) -> None:
        self.max_active = max_active
        self._credits = self._initial_credits = credits
        self._tasks: dict[str, _Task] = {}
        self._lock = threading.Lock()

    @property
    def credits(self) -> float | None:
        """The credits left (``None``: no limit)."""
        with self._lock:
            return self._credits

    def active(self, now: float | None = None) -> int:
        """How many tasks are still running."""
        now = time.monotonic() if now is None else now
        with self._lock:
            return sum(1 for t in self._tasks.values() if t.ends_at > now)

    def submit(
        self,
        job: BFLJob,
        *,
        seed: int,
        duration: float,
        final_status: str,
        poll_errors: int = 0,
        validity: float | None = None,
        cost: float | None = None,
        not_an_image: bool = False,
    ) -> _Task:
        """Start a task, or refuse: 402 when the credits left do not cover its ``cost`` (none
        left at all, for an endpoint without a price), 429 when ``max_active`` are running.
        A task that will end Ready is charged its cost; a moderated or failed one is not."""
        now = time.monotonic()
        with self._lock:
            left = self._credits
            if left is not None and (left <= 0 or (cost or 0.0) > left):
                needed = f"{cost:g} credits" if cost else "credits"
                raise BFLRefusal(
                    402, f"Insufficient credits: the request needs {needed}, {left:g} are left"
                )
            running = [t.ends_at for t in self._tasks.values() if t.ends_at > now]
            if len(running) >= self.max_active:
                wait = max(1, math.ceil(min(running) - now))
                raise BFLRefusal(
                    429,
                    f"Too many active tasks: {len(running)} of {self.max_active}; wait for one "
                    "to finish",
                    {"Retry-After": str(wait)},
                )
            task = _Task(
                id=secrets.token_hex(16),
                job=job,
                seed=seed,
                submitted=now,
                ends_at=now + duration,
                final_status=final_status,
                poll_errors=poll_errors,
                validity=job.validity if validity is None else validity,
                not_an_image=not_an_image,
            )
            self._tasks[task.id] = task
            if left is not None and cost and final_status == "Ready":
                self._credits = round(left - cost, 6)
            if len(self._tasks) > _MAX_TASKS:  # a long-running emulator forgets the oldest
                oldest = sorted(self._tasks.values(), key=lambda t: t.submitted)
                for old in oldest[: len(self._tasks) - _MAX_TASKS]:
                    del self._tasks[old.id]
            return task

    def status(self, task_id: str, now: float | None = None) -> tuple[_Task | None, str]:
        """The task and its status now; counts the poll."""
        now = time.monotonic() if now is None else now
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None:
                return None, "Task not found"
            task.polls += 1
            if now < task.ends_at:
                if task.job.endpoint.startswith("flux-3") and now > (
                    task.submitted + (task.ends_at - task.submitted) / 2
                ):
                    return task, "generating"  # FLUX 3's own step, not in BFL's list
                return task, "Pending"
            return task, task.final_status

    def take_poll_error(self, task_id: str) -> bool:
        """Whether this poll of the task answers an injected 503 (``x-emulator-poll-errors``)."""
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None or task.poll_errors <= 0:
                return False
            task.poll_errors -= 1
            task.polls += 1
            return True

    def claim_result(self, task: _Task, key: str) -> str:
        """Set the stored result's key once; a second caller gets the first key."""
        with self._lock:
            if task.result_key is None:
                task.result_key = key
            return task.result_key

    def ready_left(self, task: _Task, now: float | None = None) -> float:
        """Seconds the task's result URL has left (from when the task was Ready)."""
        now = time.monotonic() if now is None else now
        return max(0.0, task.ends_at + task.validity - now)

    def finish_all(self, *, result_ttl: float | None = None) -> int:
        """End every running task now (and set its result validity); return how many ran."""
        now = time.monotonic()
        ended = 0
        with self._lock:
            for task in self._tasks.values():
                if task.ends_at > now:
                    task.ends_at = now
                    ended += 1
                if result_ttl is not None and task.result_key is None:
                    task.validity = result_ttl
        return ended

    def infos(self) -> list[BFLTaskInfo]:
        """Every task, in submit order."""
        with self._lock:
            tasks = sorted(self._tasks.values(), key=lambda t: t.submitted)
            return [
                BFLTaskInfo(t.id, t.job.endpoint, t.final_status, t.polls, t.job.prompt)
                for t in tasks
            ]

    def clear(self) -> None:
        """Forget every task, and give back the credits they were charged."""
        with self._lock:
            self._tasks.clear()
            self._credits = self._initial_credits
