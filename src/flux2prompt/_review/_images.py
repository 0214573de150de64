"""The review's images: drawn once per request, kept in a content-addressed cache.

The cache is a folder of images named by their request fingerprint
(``CACHE/emulator/ab/ab12....jpg``; ``live/`` for Workers AI's), so a request drawn once is
never drawn again, whichever review, branch or job asks for it. It holds nothing else and is
safe to delete at any time (the next review draws what it needs again). Each image carries its
provenance (:func:`flux2prompt.transport.stamp_provenance`), as ``generate`` and ``batch``
write it.

Example:
    >>> import pathlib, tempfile
    >>> cache = ImageCache(pathlib.Path(tempfile.mkdtemp()), "emulator")
    >>> cache.get("sha256:" + "ab" * 32) is None
    True
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flux2prompt._atomic import atomic_write
from flux2prompt._review._plan import Side

if TYPE_CHECKING:
    from flux2prompt.transport import WorkersAI, WorkersAIRequest

__all__ = ["CACHE_FOLDER", "ImageCache", "Rendered", "render_sides"]

#: The cache's folder, relative to the project's root, unless ``--cache`` says otherwise.
CACHE_FOLDER = ".flux2prompt-cache/review"
_EXTENSIONS = (".jpg", ".png", ".webp")
_HEX = re.compile(r"^[0-9a-f]{64}$")


def _hex(fingerprint: str) -> str:
    digest = fingerprint.removeprefix("sha256:")
    if not _HEX.match(digest):
        raise ValueError(f"not a request fingerprint: {fingerprint!r}")
    return digest


@dataclass(frozen=True, slots=True)
class ImageCache:
    """Images by request fingerprint under ``folder/kind`` (``emulator`` or ``live``: the
    emulator's placeholders never stand in for real images)."""

    folder: Path
    kind: str

    def _base(self, fingerprint: str) -> Path:
        digest = _hex(fingerprint)
        return self.folder / self.kind / digest[:2] / digest

    def get(self, fingerprint: str, request: WorkersAIRequest | None = None) -> Path | None:
        """The cached image of ``fingerprint``, or ``None``: also when the file there is not
        whole (cut short by a killed run or a partly restored CI cache) or carries another
        request's record, so that it is drawn again rather than shown broken. With
        ``request``, the record must hold that request (its prompt, model, parameters and
        input images), not only its fingerprint: a record is not taken at its word."""
        base = self._base(fingerprint)
        for extension in _EXTENSIONS:
            path = base.with_suffix(extension)
            if path.is_file() and _intact(path, fingerprint, request):
                return path
        return None

    def put(self, fingerprint: str, data: bytes, extension: str) -> Path:
        """Keep ``data`` (an image, ``.jpg``/``.png``/``.webp``) for ``fingerprint``."""
        return atomic_write(self._base(fingerprint).with_suffix(extension), data)


# No image of a review is larger than a client accepts as a result.
_MAX_IMAGE_BYTES = 64 * 1024 * 1024


def _intact(path: Path, fingerprint: str, request: WorkersAIRequest | None = None) -> bool:
    """Whether the cached file is a whole image (a JPEG's end marker, a PNG's ``IEND``, a WebP
    of its RIFF size) whose provenance is the request ``fingerprint``'s, as the cache wrote it
    (with ``request``, that request's own record, whatever job or source it was drawn for).
    """
    from flux2prompt._atomic import read_at_most
    from flux2prompt._errors import Flux2PromptError
    from flux2prompt.transport import Provenance, read_provenance

    try:
        data = read_at_most(path, _MAX_IMAGE_BYTES, "an image")
        record = read_provenance(data)
    except (OSError, Flux2PromptError):
        return False
    if record is None or record.request_fingerprint != fingerprint:
        return False
    if request is not None:
        expected = Provenance.from_request(request, job=record.job, source=record.source)
        if record != expected:
            return False
    # Bytes after the end (some encoders leave them) are no damage; a file cut short has no end.
    if data.startswith(b"\xff\xd8"):
        scan = data.find(b"\xff\xda")  # the entropy-coded data holds no FF D9 but the end
        return scan > 0 and data.rfind(b"\xff\xd9") > scan
    if data.startswith(b"\x89PNG"):
        return data.rfind(b"IEND\xaeB`\x82") > 8
    return len(data) >= 8 and int.from_bytes(data[4:8], "little") + 8 <= len(data)


@dataclass(slots=True)
class Rendered:
    """What drawing the sides did: each request fingerprint's cached image, how many were
    ``generated`` and ``reused``, and the ``failures`` (fingerprint, one line)."""

    images: dict[str, Path] = field(default_factory=dict)
    generated: int = 0
    reused: int = 0
    failures: dict[str, str] = field(default_factory=dict)


def pending(sides: Iterable[Side], cache: ImageCache) -> list[Side]:
    """The sides whose image is not cached yet, one per request fingerprint."""
    seen: set[str] = set()
    out: list[Side] = []
    for side in sides:
        fingerprint = side.fingerprint
        if fingerprint is None or fingerprint in seen:
            continue
        seen.add(fingerprint)
        if cache.get(fingerprint, side.request) is None:
            out.append(side)
    return out


@contextlib.contextmanager
def emulator_client() -> Iterator[WorkersAI]:
    """A client of an in-process emulator on loopback (the batch runner's recipe)."""
    from flux2prompt.batch import emulated
    from flux2prompt.transport import WorkersAI

    with emulated(seed=0) as endpoint, WorkersAI(**endpoint.client_options()) as client:
        yield client


def _draw(client: WorkersAI, side: Side) -> tuple[bytes, str]:
    from flux2prompt.transport import stamp_provenance

    assert side.request is not None
    options: dict[str, Any] = dict(side.options)
    request = client.build_request(options.pop("prompt"), **options)
    if request.fingerprint != side.request.fingerprint:  # pragma: no cover - a transport bug
        raise RuntimeError("the request built to send differs from the one planned")
    result = client.send(request)
    result = stamp_provenance(result, request, job=side.job, source=side.entry.source)
    return result.data, result.extension


def render_sides(sides: Iterable[Side], cache: ImageCache, client: WorkersAI | None) -> Rendered:
    """Draw every side not in ``cache`` with ``client`` (an emulator's when ``None``), and
    give each side's cached image. A failed request is a failure line, not an exception: the
    other images are still drawn."""
    from flux2prompt._errors import Flux2PromptError

    listed = list(sides)
    todo = pending(listed, cache)
    done = Rendered()
    if todo:
        with contextlib.ExitStack() as stack:
            if client is None:
                client = stack.enter_context(emulator_client())
            for side in todo:
                assert side.fingerprint is not None
                try:
                    data, extension = _draw(client, side)
                except Flux2PromptError as exc:
                    done.failures[side.fingerprint] = str(exc).splitlines()[0]
                    continue
                cache.put(side.fingerprint, data, extension)
                done.generated += 1
    for side in listed:
        fingerprint = side.fingerprint
        if fingerprint is None or fingerprint in done.images:
            continue
        path = cache.get(fingerprint, side.request)
        if path is not None:
            done.images[fingerprint] = path
    done.reused = len(done.images) - done.generated
    return done
