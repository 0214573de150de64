"""The result of a generation: the image bytes and everything needed to trace them.

Example:
    >>> from flux2prompt.transport import ImageResult
    >>> png = bytes.fromhex("89504e470d0a1a0a0000000d49484452") + (640).to_bytes(4, "big")
    >>> png += (480).to_bytes(4, "big") + bytes(5)
    >>> result = ImageResult.from_bytes(png, model="@cf/black-forest-labs/flux-2-dev")
    >>> result.format, result.media_type, (result.width, result.height)
    ('png', 'image/png', (640, 480))
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from flux2prompt._atomic import atomic_write
from flux2prompt.transport._errors import ImageError, ResponseError
from flux2prompt.transport._images import MAX_DECODE_PIXELS, MEDIA_TYPES, detect_format, image_size
from flux2prompt.transport._provenance import Provenance, write_provenance

__all__ = ["ImageResult"]

_EXTENSIONS: Final = {"jpeg": (".jpg", ".jpeg"), "png": (".png",), "webp": (".webp",)}
_KEPT_HINT: Final = (
    "The request may have been billed: look at what it answered before sending it again."
)


@dataclass(frozen=True, slots=True)
class ImageResult:
    """A generated image: bytes, format, size, and the fingerprints that trace it.

    ``format`` is ``"jpeg"``, ``"png"`` or ``"webp"`` (from the magic bytes; Workers AI does not
    say), ``width``/``height`` come from the image header, ``seed`` is the seed sent (``None``
    when the service chose one), ``request_id`` is the ``cf-ray`` header and ``elapsed`` the
    seconds from the first attempt to the decoded image, retries (and the download of a
    proxied model's result URL) included. ``effective_prompt`` is the prompt the host reports
    having run (a proxied model with ``prompt_upsampling`` rewrites it), ``None`` when the host
    does not say: then the prompt sent is the one run.

    Example:
        >>> from flux2prompt.transport import WorkersAI
        >>> with WorkersAI() as client:  # doctest: +SKIP
        ...     result = client.generate("a red fox in the snow", seed=7)
        ...     result.save("fox.jpg")
        PosixPath('fox.jpg')
    """

    data: bytes = field(repr=False)
    format: str
    media_type: str
    width: int
    height: int
    seed: int | None = None
    model: str = ""
    prompt_fingerprint: str = ""
    request_fingerprint: str = ""
    request_id: str | None = None
    elapsed: float = 0.0
    attempts: int = 1
    effective_prompt: str | None = None

    @classmethod
    def from_bytes(
        cls,
        data: bytes,
        *,
        seed: int | None = None,
        model: str = "",
        prompt_fingerprint: str = "",
        request_fingerprint: str = "",
        request_id: str | None = None,
        elapsed: float = 0.0,
        attempts: int = 1,
        effective_prompt: str | None = None,
    ) -> ImageResult:
        """Build a result from decoded image bytes, reading the format and size from them.

        Raises :class:`ResponseError` when the bytes are not a JPEG, PNG or WebP image; the
        error keeps them (``data``): they may have been paid for.

        Example:
            >>> ImageResult.from_bytes(b"not an image")
            Traceback (most recent call last):
            ...
            flux2prompt.transport.ResponseError: the image is not JPEG, PNG or WebP ...
        """
        fmt = detect_format(data)
        size = image_size(data) if fmt in _EXTENSIONS else None
        if fmt not in _EXTENSIONS or size is None:
            size_said = f"{len(data):,} bytes"
            if fmt in _EXTENSIONS:
                message = (
                    f"the image is not JPEG, PNG or WebP as it should be: a {fmt.upper()} "
                    f"without a readable size (its header is cut or damaged; {size_said})"
                )
            elif fmt:
                message = f"the image is {fmt.upper()}, not JPEG, PNG or WebP ({size_said})"
            else:
                message = (
                    f"the image is not JPEG, PNG or WebP (it starts with {data[:8]!r}...; "
                    f"{size_said})"
                )
            raise ResponseError(
                message,
                request_id=request_id,
                data=data,
                hint=_KEPT_HINT,
            )
        assert fmt is not None
        if size[0] * size[1] > MAX_DECODE_PIXELS:
            # No FLUX image is this large: whatever decodes it (a gallery, a notebook) would
            # allocate gigabytes for a few kilobytes of answer.
            raise ResponseError(
                f"the image claims {size[0]}x{size[1]} pixels, more than the "
                f"{MAX_DECODE_PIXELS:,} flux2prompt decodes (a decompression bomb, not a "
                "generated image)",
                request_id=request_id,
                data=data,
                hint=_KEPT_HINT,
            )
        return cls(
            data=data,
            format=fmt,
            media_type=MEDIA_TYPES[fmt],
            width=size[0],
            height=size[1],
            seed=seed,
            model=model,
            prompt_fingerprint=prompt_fingerprint,
            request_fingerprint=request_fingerprint,
            request_id=request_id,
            elapsed=elapsed,
            attempts=attempts,
            effective_prompt=effective_prompt,
        )

    @property
    def extension(self) -> str:
        """The usual file extension for the format: ``.jpg``, ``.png`` or ``.webp``."""
        return _EXTENSIONS[self.format][0]

    @property
    def extensions(self) -> tuple[str, ...]:
        """Every extension :meth:`save` accepts for the format (``.jpg`` and ``.jpeg``, ...)."""
        return _EXTENSIONS[self.format]

    def with_provenance(self, record: Provenance) -> ImageResult:
        """This result with ``record`` written into its bytes as XMP (see
        :func:`~flux2prompt.transport.write_provenance`); the pixels are unchanged, and
        :meth:`save` then writes exactly these bytes. A malformed image raises
        :class:`~flux2prompt.transport.ProvenanceError`.

        Example:
            >>> from flux2prompt.transport import Provenance, read_provenance
            >>> jpeg = b"\\xff\\xd8\\xff\\xc0\\x00\\x0b\\x08\\x00\\x10\\x00\\x10"
            >>> jpeg += b"\\x01\\x01\\x11\\x00\\xff\\xda\\x00\\x02scan\\xff\\xd9"
            >>> record = Provenance("a fox", "sha256:p", "sha256:r", "m", {"seed": 1})
            >>> stamped = ImageResult.from_bytes(jpeg).with_provenance(record)
            >>> read_provenance(stamped.data).seed, (stamped.width, stamped.height)
            (1, (16, 16))
        """
        return dataclasses.replace(self, data=write_provenance(self.data, record))

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the image to ``path`` atomically and return the path.

        The bytes go to a temporary file in the same directory, are flushed to disk, and the
        file is renamed over ``path``: a reader never sees a half-written image. Parent
        directories are created. The extension must match the format (``.jpg``/``.jpeg``,
        ``.png``, ``.webp``), else :class:`ImageError` says which one to use. A file that
        cannot be written (no permission, a full disk) raises :class:`OSError`, as ``open()``
        does, and leaves ``path`` untouched.

        Example:
            >>> import tempfile, pathlib
            >>> png = bytes.fromhex("89504e470d0a1a0a0000000d49484452") + bytes(13)
            >>> png = png[:16] + (8).to_bytes(4, "big") + (8).to_bytes(4, "big") + bytes(5)
            >>> out = pathlib.Path(tempfile.mkdtemp()) / "image.png"
            >>> ImageResult.from_bytes(png).save(out).stat().st_size == len(png)
            True
        """
        target = Path(path)
        allowed = _EXTENSIONS[self.format]
        if target.suffix.lower() not in allowed:
            raise ImageError(
                f"cannot save a {self.format.upper()} image as {target.name!r}: use the extension "
                f"{' or '.join(allowed)} (e.g. {target.with_suffix(allowed[0]).name!r})",
                parameter="path",
            )
        return atomic_write(target, self.data)

    def _repr_png_(self) -> bytes | None:
        # Notebooks display the image inline.
        return self.data if self.format == "png" else None

    def _repr_jpeg_(self) -> bytes | None:
        return self.data if self.format == "jpeg" else None
