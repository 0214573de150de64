"""Images in and out: format from magic bytes, pixel size from header bytes, input preparation.

Reading a format and a size needs no Pillow: the header bytes of JPEG (SOF marker), PNG (IHDR),
WebP (VP8, VP8L, VP8X) and GIF are parsed directly, so the hot path of every request stays
cheap. Pillow (the ``images`` extra) is imported only to downscale an image larger than
512x512, to encode a Pillow image, or to convert a format Workers AI may not read.

Example:
    >>> png = bytes.fromhex("89504e470d0a1a0a0000000d49484452") + (640).to_bytes(4, "big")
    >>> png += (480).to_bytes(4, "big") + b"\\x08\\x02\\x00\\x00\\x00"
    >>> detect_format(png), image_size(png)
    ('png', (640, 480))
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from flux2prompt._atomic import read_at_most
from flux2prompt.transport._constants import MAX_RESULT_BYTES
from flux2prompt.transport._errors import ImageError

if TYPE_CHECKING:
    from PIL import Image as PILImage

__all__ = [
    "MAX_DECODE_PIXELS",
    "MEDIA_TYPES",
    "ImageSource",
    "InputImage",
    "check_image_dimensions",
    "detect_format",
    "image_size",
    "prepare_image",
]

#: A path, the encoded bytes of an image, or a Pillow image.
ImageSource: TypeAlias = "str | os.PathLike[str] | bytes | bytearray | memoryview | PILImage.Image"

MEDIA_TYPES: Final = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "gif": "image/gif",
}
_EXTENSIONS: Final = {"jpeg": "jpg", "png": "png", "webp": "webp", "gif": "gif"}
_PILLOW_HINT: Final = "install Pillow with: pip install 'flux2-prompt[images]'"
# JPEG start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) do not.
_SOF_MARKERS: Final = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Formats Workers AI is known to read; anything else is converted to PNG first.
_SENT_AS_IS: Final = frozenset({"jpeg", "png", "webp"})

#: The most pixels an image may claim before anything decodes it (64 megapixels, 8192x8192;
#: a FLUX.2 image is at most 4). A header that claims more is a decompression bomb: a few
#: kilobytes that would decode into gigabytes.
MAX_DECODE_PIXELS: Final = 64 * 1024 * 1024


def detect_format(data: bytes | bytearray | memoryview) -> str | None:
    """Return ``"jpeg"``, ``"png"``, ``"webp"`` or ``"gif"`` from the magic bytes, else ``None``.

    Example:
        >>> detect_format(b"\\xff\\xd8\\xff\\xe0" + bytes(16)), detect_format(b"hello")
        ('jpeg', None)
    """
    head = bytes(data[:12])
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    return None


def image_size(data: bytes | bytearray | memoryview) -> tuple[int, int] | None:
    """Return ``(width, height)`` read from the header bytes, or ``None`` if they are unreadable.

    Example:
        >>> image_size(b"GIF89a" + (300).to_bytes(2, "little") + (200).to_bytes(2, "little"))
        (300, 200)
    """
    buf = bytes(data[:65536]) if len(data) > 65536 else bytes(data)
    try:
        fmt = detect_format(buf)
        if fmt == "png":
            # The IHDR chunk must come first: 8 signature + 4 length + 4 type, then w, h.
            if buf[12:16] != b"IHDR":
                return None
            width, height = struct.unpack(">II", buf[16:24])
        elif fmt == "jpeg":
            return _jpeg_size(data)
        elif fmt == "webp":
            return _webp_size(buf)
        elif fmt == "gif":
            width, height = struct.unpack("<HH", buf[6:10])
        else:
            return None
    except struct.error:
        return None
    return (width, height) if width > 0 and height > 0 else None


def _jpeg_size(data: bytes | bytearray | memoryview) -> tuple[int, int] | None:
    view = memoryview(data)
    pos, end = 2, len(view)
    while pos + 4 <= end:
        if view[pos] != 0xFF:
            return None
        marker = view[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # standalone markers, no length
            pos += 2
            continue
        (length,) = struct.unpack(">H", view[pos + 2 : pos + 4])
        if marker in _SOF_MARKERS:
            if pos + 9 > end:
                return None
            height, width = struct.unpack(">HH", view[pos + 5 : pos + 9])
            return (width, height) if width > 0 and height > 0 else None
        if marker == 0xDA:  # start of scan before any frame header
            return None
        pos += 2 + length
    return None


def _webp_size(buf: bytes) -> tuple[int, int] | None:
    chunk = buf[12:16]
    if chunk == b"VP8 ":
        # Lossy: frame tag (3 bytes), start code 9D 01 2A, then 14-bit width and height.
        if buf[23:26] != b"\x9d\x01\x2a":
            return None
        width, height = struct.unpack("<HH", buf[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":
        # Lossless: signature 0x2F, then 14 bits width-1 and 14 bits height-1.
        if buf[20] != 0x2F:
            return None
        bits = int.from_bytes(buf[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        # Extended: 24-bit canvas width-1 and height-1 after 4 bytes of flags.
        width = int.from_bytes(buf[24:27], "little") + 1
        height = int.from_bytes(buf[27:30], "little") + 1
        return width, height
    return None


def check_image_dimensions(
    data: bytes | bytearray | memoryview,
    *,
    where: str,
    max_pixels: int = MAX_DECODE_PIXELS,
    size: tuple[int, int] | None = None,
    parameter: str | None = None,
) -> tuple[int, int] | None:
    """Refuse an image whose header claims more than ``max_pixels``, before anything decodes it.

    Returns the ``(width, height)`` the header states (or ``size``, when the caller read it
    already, for instance from a lazily opened Pillow image), ``None`` when the header is not one
    this module reads; raises :class:`ImageError` naming ``where`` and the limit otherwise. Call
    it before ``Image.open(...).load()`` (or any thumbnail) of bytes from outside.

    Example:
        >>> png = bytes.fromhex("89504e470d0a1a0a0000000d49484452") + (60000).to_bytes(4, "big")
        >>> png += (60000).to_bytes(4, "big") + b"\\x08\\x02\\x00\\x00\\x00"
        >>> try:
        ...     check_image_dimensions(png, where="shot.png")
        ... except ImageError as exc:
        ...     print(str(exc)[:60])
        shot.png: the image claims 60000x60000 pixels (3,600,000,000
    """
    found = size if size is not None else image_size(data)
    if found is None:
        return None
    width, height = found
    if width * height > max_pixels:
        raise ImageError(
            f"{where}: the image claims {width}x{height} pixels ({width * height:,}), more "
            f"than the {max_pixels:,} flux2prompt decodes (a decompression bomb, or not a "
            "real image); use a smaller image",
            parameter=parameter or where,
        )
    return found


@dataclass(frozen=True, slots=True)
class InputImage:
    """An input image ready to send as ``input_image_{index}``: bytes, format, size and hash.

    ``resized_from`` holds the original size when the image was downscaled to fit 512x512.

    Example:
        >>> from flux2prompt.transport._images import prepare_image
        >>> png = bytes.fromhex("89504e470d0a1a0a0000000d49484452") + (64).to_bytes(4, "big")
        >>> png += (32).to_bytes(4, "big") + bytes(5)
        >>> prepare_image(png, 2).field
        'input_image_2'
    """

    index: int
    data: bytes
    format: str
    width: int
    height: int
    sha256: str
    resized_from: tuple[int, int] | None = None

    @property
    def field(self) -> str:
        """The multipart field name, ``input_image_0`` to ``input_image_3``."""
        return f"input_image_{self.index}"

    @property
    def filename(self) -> str:
        """The filename sent in the part's ``Content-Disposition``."""
        return f"{self.field}.{_EXTENSIONS[self.format]}"

    @property
    def media_type(self) -> str:
        """The part's ``Content-Type``."""
        return MEDIA_TYPES[self.format]

    def __repr__(self) -> str:
        return (
            f"InputImage(index={self.index}, format={self.format!r}, "
            f"size={self.width}x{self.height}, bytes={len(self.data)}, "
            f"sha256={self.sha256[:12]}...)"
        )


def _pillow(purpose: str, where: str) -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise ImageError(
            f"{where}: {purpose} needs Pillow; {_PILLOW_HINT}", parameter=where
        ) from None
    return Image


def _is_pillow_image(value: object) -> bool:
    # If PIL.Image was never imported, the value cannot be one of its images.
    module = sys.modules.get("PIL.Image")
    return module is not None and isinstance(value, module.Image)


# The modes Pillow writes as PNG; any other (CMYK, F, I, LAB, YCbCr, ...) is converted first.
_PNG_MODES: Final = frozenset({"1", "L", "LA", "I;16", "P", "RGB", "RGBA"})
_ALPHA_MODES: Final = frozenset({"PA", "RGBa", "La"})


def _encode(image: PILImage.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    if fmt == "jpeg":
        if image.mode not in ("RGB", "L", "CMYK"):
            image = image.convert("RGB")
        image.save(out, format="JPEG", quality=95)
    elif fmt == "webp":
        image.save(out, format="WEBP", quality=95)
    else:
        if image.mode not in _PNG_MODES:
            image = image.convert("RGBA" if image.mode in _ALPHA_MODES else "RGB")
        image.save(out, format="PNG")
    return out.getvalue()


def _fit(width: int, height: int, max_side: int) -> tuple[int, int]:
    scale = min(max_side / width, max_side / height)
    return max(1, int(width * scale)), max(1, int(height * scale))


def prepare_image(
    source: ImageSource,
    index: int,
    *,
    resize: bool = True,
    max_side: int = 512,
) -> InputImage:
    """Turn a path, bytes or a Pillow image into an :class:`InputImage` for field ``index``.

    JPEG, PNG and WebP bytes are sent as they are when they fit ``max_side`` x ``max_side``.
    A larger image is downscaled keeping its aspect ratio (Pillow, LANCZOS) when ``resize`` is
    true, and refused with an :class:`ImageError` otherwise. Other formats that Pillow reads
    (GIF, BMP, TIFF, ...) and Pillow images are encoded as PNG.

    Example:
        >>> png = bytes.fromhex("89504e470d0a1a0a0000000d49484452") + (64).to_bytes(4, "big")
        >>> png += (32).to_bytes(4, "big") + bytes(5)
        >>> image = prepare_image(png, 0)
        >>> image.field, image.filename, image.media_type, (image.width, image.height)
        ('input_image_0', 'input_image_0.png', 'image/png', (64, 32))
    """
    where = f"images[{index}]"
    pil_image: PILImage.Image | None = None
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        label = f"{where} ({len(data)} bytes)"
    elif isinstance(source, str | os.PathLike):
        path = Path(source)
        label = f"{where} ({path})"
        try:
            data = read_at_most(
                path, MAX_RESULT_BYTES, "a reference image"
            )  # /dev/zero is refused, not read
        except OSError as exc:
            reason = exc.strerror or exc.__class__.__name__
            raise ImageError(f"{label}: cannot read the file: {reason}", parameter=where) from None
    elif _is_pillow_image(source):
        pil_image = source
        data = b""
        label = f"{where} (Pillow image)"
    else:
        raise ImageError(
            f"{where}: expected a path, bytes or a Pillow image, got {type(source).__name__}",
            parameter=where,
        )

    if pil_image is None:
        fmt = detect_format(data)
        check_image_dimensions(data, where=label, parameter=where)
        size = image_size(data) if fmt in _SENT_AS_IS else None
        if fmt is not None and size is not None:
            width, height = size
            if width <= max_side and height <= max_side:
                return InputImage(index, data, fmt, width, height, hashlib.sha256(data).hexdigest())
            if not resize:
                raise ImageError(
                    f"{label} is {width}x{height}; Workers AI takes input images of at most "
                    f"{max_side}x{max_side}. Resize it, or pass resize_images=True to downscale "
                    "it automatically.",
                    parameter=where,
                )
        purpose = "downscaling this image" if size is not None else "converting this image"
        Image = _pillow(purpose, label)
        try:
            pil_image = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError:
            raise ImageError(
                f"{label}: the image claims more pixels than flux2prompt decodes (a "
                "decompression bomb, or not a real image); use a smaller image",
                parameter=where,
            ) from None
        except Exception:
            raise ImageError(
                f"{label} is not an image (JPEG, PNG, WebP, GIF, or a format Pillow reads)",
                parameter=where,
            ) from None
        # Formats whose header this module does not read (TIFF, BMP, ...): Pillow has read the
        # size lazily; refuse a bomb before decoding a pixel.
        check_image_dimensions(data, where=label, size=pil_image.size, parameter=where)
        try:
            pil_image.load()
        except Exception:
            raise ImageError(
                f"{label} is not an image (JPEG, PNG, WebP, GIF, or a format Pillow reads)",
                parameter=where,
            ) from None
        out_fmt = fmt if fmt in _SENT_AS_IS else "png"
    else:
        Image = _pillow("encoding a Pillow image", label)
        out_fmt = "png"

    original: tuple[int, int] = pil_image.size
    if original[0] < 1 or original[1] < 1:
        raise ImageError(
            f"{label} is {original[0]}x{original[1]}: an image needs at least one pixel each way",
            parameter=where,
        )
    # A Pillow image passed in is checked here, before anything decodes its pixels.
    check_image_dimensions(b"", where=label, size=original, parameter=where)
    if (original[0] > max_side or original[1] > max_side) and not resize:
        raise ImageError(
            f"{label} is {original[0]}x{original[1]}; Workers AI takes input images of at "
            f"most {max_side}x{max_side}. Resize it, or pass resize_images=True.",
            parameter=where,
        )
    try:
        if original[0] > max_side or original[1] > max_side:
            new_size = _fit(original[0], original[1], max_side)
            pil_image = pil_image.resize(new_size, Image.Resampling.LANCZOS)
        encoded = _encode(pil_image, out_fmt)
    except (OSError, ValueError) as exc:
        # A lazily opened image whose file is cut short, a mode no conversion reaches.
        raise ImageError(
            f"{label} could not be encoded as {out_fmt.upper()} ({exc}); pass the image as "
            "JPEG, PNG or WebP bytes, or convert it to RGB or RGBA first",
            parameter=where,
        ) from None
    width, height = pil_image.size
    resized_from = original if (width, height) != original else None
    sha = hashlib.sha256(encoded).hexdigest()
    return InputImage(index, encoded, out_fmt, width, height, sha, resized_from)
