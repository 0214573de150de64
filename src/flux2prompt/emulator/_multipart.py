"""Reading a FLUX.2 multipart request and checking it the way Workers AI does.

The parser is the standard library's ``email`` package on purpose: the tests build bodies with
httpx and parse them with python-multipart, so a bug in one multipart implementation cannot hide
behind the same bug in the other.

Example:
    >>> ct = 'multipart/form-data; boundary=XyZ'
    >>> body = (b'--XyZ\\r\\nContent-Disposition: form-data; name="prompt"\\r\\n\\r\\n'
    ...         b'a red fox\\r\\n--XyZ--\\r\\n')
    >>> job = validate_form("@cf/black-forest-labs/flux-2-dev", parse_form(ct, body))
    >>> (job.prompt, job.width, job.height)
    ('a red fox', 1024, 768)
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import Compat32
from email.utils import collapse_rfc2231_value

from PIL import Image, UnidentifiedImageError

from flux2prompt.emulator._protocol import KLEIN_MODELS, ApiError

__all__ = [
    "DIMENSION_RANGE",
    "IMAGE_FIELDS",
    "MAX_INPUT_IMAGE_SIDE",
    "MULTIPART_REQUIRED",
    "FormPart",
    "ImageJob",
    "is_multipart",
    "parse_form",
    "validate_form",
]

MULTIPART_REQUIRED = "AiError: Bad input: Error: required properties at '/' are 'multipart'"
DIMENSION_RANGE = (256, 1920)
MAX_INPUT_IMAGE_SIDE = 512
IMAGE_FIELDS = tuple(f"input_image_{index}" for index in range(4))
_TEXT_FIELDS = ("prompt", "width", "height", "steps", "guidance", "seed")
# ASCII digits only: Python's int() and float() also read other scripts' digits and "1_000",
# which no JSON Schema number check on the platform would.
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_IDENTITY_ENCODINGS = frozenset({"", "7bit", "8bit", "binary"})
# Spelled out so that their refusal says "finite" rather than "a number".
_NON_FINITE = frozenset({"nan", "inf", "infinity"})


@dataclass(frozen=True, slots=True)
class FormPart:
    """One part of a multipart body: a text field when ``filename`` is None, else a file."""

    name: str
    filename: str | None
    content_type: str
    data: bytes
    charset: str

    @property
    def is_file(self) -> bool:
        """Whether the part was sent as a file (it carries a ``filename``)."""
        return self.filename is not None

    def text(self, errors: str = "strict") -> str:
        """Decode the part as text in its declared charset (UTF-8 when none is given)."""
        return self.data.decode(self.charset, errors)


@dataclass(frozen=True, slots=True)
class ImageJob:
    """A checked generation request: what the renderer needs, nothing else."""

    model: str
    prompt: str
    width: int
    height: int
    seed: int | None
    steps: int | None
    guidance: float | None
    input_sizes: tuple[tuple[int, int], ...]
    #: The reference images' bytes, in field order, for the placeholder to draw.
    inputs: tuple[bytes, ...] = ()


def _bad_input(detail: str) -> ApiError:
    return ApiError(400, 5006, f"AiError: Bad input: Error: {detail}")


def is_multipart(content_type: str) -> bool:
    """Whether a ``Content-Type`` header announces ``multipart/form-data``.

    Example:
        >>> is_multipart("multipart/form-data; boundary=x"), is_multipart("application/json")
        (True, False)
    """
    return content_type.split(";", 1)[0].strip().lower() == "multipart/form-data"


class _FormDataPolicy(Compat32):
    """The ``compat32`` policy, reading header values as UTF-8 the way HTML5 forms send them.

    ``email.policy.HTTP`` gets the UTF-8 right too, but parses every header into structured
    objects: eight times slower, which made it the largest cost of a small request.
    """

    def header_fetch_parse(self, name: str, value: str) -> str:
        # BytesParser smuggles non-ASCII bytes through as surrogates; turn them back into UTF-8.
        try:
            return value.encode("ascii", "surrogateescape").decode("utf-8", "replace")
        except UnicodeEncodeError:
            return value


_POLICY = _FormDataPolicy()


def parse_form(content_type: str, body: bytes) -> list[FormPart]:
    """Split a ``multipart/form-data`` body into its parts, bytes exact.

    Raises :class:`ApiError` (400, code 5006) when the body is not well-formed multipart.
    """
    if not is_multipart(content_type):
        raise ApiError(400, 5006, MULTIPART_REQUIRED)
    # The email parser wants a whole message, so the request's own header becomes its head.
    head = b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n"
    message = BytesParser(policy=_POLICY).parsebytes(head + body)
    payload = message.get_payload()
    if not message.is_multipart() or not isinstance(payload, list) or not payload:
        raise _bad_input("multipart body has no boundary or no parts")
    if message.defects:
        names = ", ".join(type(defect).__name__ for defect in message.defects)
        raise _bad_input(f"malformed multipart body ({names})")
    parts: list[FormPart] = []
    for index, part in enumerate(payload):
        if part.defects:
            names = ", ".join(type(defect).__name__ for defect in part.defects)
            raise _bad_input(f"malformed multipart part #{index} ({names})")
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, tuple):  # RFC 2231 form: (charset, language, value)
            name = collapse_rfc2231_value(name)
        if not name:
            raise _bad_input(f"multipart part #{index} has no Content-Disposition name")
        if part.is_multipart() or part.get_content_maintype() == "message":
            # The email parser would read it as a nested message and hand back no bytes.
            raise _bad_input(
                f"'/{_shorten(str(name))}' is a {part.get_content_type()} part; send a plain "
                "field or file"
            )
        encoding = str(part.get("content-transfer-encoding", "")).strip().lower()
        if encoding not in _IDENTITY_ENCODINGS:
            # RFC 7578 (4.7) retires Content-Transfer-Encoding in forms; the bytes are the value.
            raise _bad_input(
                f"'/{_shorten(str(name))}' has Content-Transfer-Encoding {_shorten(encoding)!r}, "
                "which multipart/form-data "
                "does not use (RFC 7578); send the bytes as they are"
            )
        data = part.get_payload(decode=True)
        parts.append(
            FormPart(
                name=str(name),
                filename=part.get_filename(),
                content_type=part.get_content_type() if "content-type" in part else "",
                data=data if isinstance(data, bytes) else b"",
                charset=part.get_content_charset() or "utf-8",
            )
        )
    return parts


def _integer(name: str, raw: str) -> int:
    if not _INTEGER.fullmatch(raw.strip()):
        raise _bad_input(f"'/{name}' must be an integer, got {_shorten(raw)!r}")
    try:
        return int(raw)
    except ValueError:  # more digits than Python converts (sys.int_info.str_digits_check_threshold)
        raise _bad_input(f"'/{name}' is out of range, got {_shorten(raw)!r}") from None


def _shorten(raw: str, limit: int = 40) -> str:
    # A form field can be megabytes long; an error message quotes only its start.
    return raw if len(raw) <= limit else raw[:limit] + "..."


def _number(name: str, raw: str) -> float:
    if not _DECIMAL.fullmatch(raw.strip()) and raw.strip().lower().lstrip("+-") not in _NON_FINITE:
        raise _bad_input(f"'/{name}' must be a number, got {_shorten(raw)!r}")
    try:
        value = float(raw)
    except ValueError:
        raise _bad_input(f"'/{name}' must be a number, got {_shorten(raw)!r}") from None
    if not math.isfinite(value):
        raise _bad_input(f"'/{name}' must be a finite number, got {raw!r}")
    return value


def _dimension(name: str, raw: str | None, default: int) -> int:
    if raw is None:
        return default
    value = _integer(name, raw)
    low, high = DIMENSION_RANGE
    if not low <= value <= high:
        raise _bad_input(f"'/{name}' must be between {low} and {high}, got {value}")
    return value


def _image_size(name: str, data: bytes) -> tuple[int, int]:
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            # The header alone is enough for the size; refuse before decoding a huge image.
            if width > MAX_INPUT_IMAGE_SIDE or height > MAX_INPUT_IMAGE_SIDE:
                side = MAX_INPUT_IMAGE_SIDE
                raise _bad_input(
                    f"'/{name}' is {width}x{height}; input images must be at most {side}x{side}"
                )
            image.load()
    except ApiError:
        raise
    except Image.DecompressionBombError:
        side = MAX_INPUT_IMAGE_SIDE
        raise _bad_input(
            f"'/{name}' claims more pixels than can be decoded; input images must be at most "
            f"{side}x{side}"
        ) from None
    except UnidentifiedImageError:
        # Pillow's own message names a BytesIO object's address: true, but no help to a caller.
        raise _bad_input(f"'/{name}' is not a decodable image (unrecognised format)") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise _bad_input(f"'/{name}' is not a decodable image ({exc})") from None
    return width, height


def validate_form(
    model: str,
    parts: list[FormPart],
    *,
    strict_klein_steps: bool = True,
    strict_fields: bool = True,
) -> ImageJob:
    """Check the parts of a request to ``model`` and return what to render.

    Raises :class:`ApiError` (400, code 5006) naming the first problem found. Two checks are
    the emulator's guesses (Cloudflare does not document them) and can be turned off:
    ``strict_klein_steps=False`` accepts and ignores ``steps`` sent to a klein model,
    ``strict_fields=False`` ignores text and file fields no model takes.
    """
    image_like = [part for part in parts if part.is_file and part.name.startswith("input_image")]
    if len(image_like) > len(IMAGE_FIELDS):
        raise _bad_input(f"at most {len(IMAGE_FIELDS)} input images, got {len(image_like)}")
    seen: set[str] = set()
    text: dict[str, str] = {}
    images: list[FormPart] = []
    for part in parts:
        if part.name in seen:
            raise _bad_input(f"'/{_shorten(part.name)}' was sent more than once")
        seen.add(part.name)
        if part.name in IMAGE_FIELDS:
            if not part.is_file:
                raise _bad_input(f"'/{part.name}' must be a file part (binary image), not text")
            images.append(part)
        elif part.is_file:
            if part.name.startswith("input_image"):
                raise _bad_input(
                    f"unexpected image field '{_shorten(part.name)}'; reference images go in "
                    "input_image_0 .. input_image_3 (at most 4)"
                )
            if strict_fields:
                raise _bad_input(f"unexpected file field '{_shorten(part.name)}'")
        elif part.name in _TEXT_FIELDS:
            try:
                text[part.name] = part.text()
            except (UnicodeDecodeError, LookupError):
                raise _bad_input(
                    f"'/{part.name}' is not valid {_shorten(part.charset)} text"
                ) from None
        elif strict_fields:
            raise _bad_input(f"unexpected property '{_shorten(part.name)}'")

    prompt = text.get("prompt")
    if prompt is None:
        raise _bad_input("required properties at '/' are 'prompt'")
    if not prompt.strip():
        raise _bad_input("'/prompt' must not be empty")
    width = _dimension("width", text.get("width"), 1024)
    height = _dimension("height", text.get("height"), 768)
    steps: int | None = None
    if "steps" in text and model in KLEIN_MODELS:
        if strict_klein_steps:
            raise _bad_input(f"steps is fixed at 4 for {model}; remove it")
        del text["steps"]  # lenient: ignored, as the fixed 4 steps are what runs
    if "steps" in text:
        steps = _integer("steps", text["steps"])
        if steps < 1:
            raise _bad_input(f"'/steps' must be >= 1, got {steps}")
    guidance = _number("guidance", text["guidance"]) if "guidance" in text else None
    seed: int | None = None
    if "seed" in text:
        seed = _integer("seed", text["seed"])
        if seed < 0:
            raise _bad_input(f"'/seed' must be >= 0, got {seed}")
    sizes = tuple(_image_size(part.name, part.data) for part in images)
    return ImageJob(
        model=model,
        prompt=prompt,
        width=width,
        height=height,
        seed=seed,
        steps=steps,
        guidance=guidance,
        input_sizes=sizes,
        inputs=tuple(part.data for part in sorted(images, key=lambda part: part.name)),
    )
