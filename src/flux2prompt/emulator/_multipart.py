"""Reading a FLUX.2 multipart request and checking it the way Workers AI does.

The parser is the emulator's own, a single scan for delimiters (linear in the size of the body,
whatever it holds: the ``email`` package it replaced took seconds over a body of line breaks).
It shares no code with httpx, which builds the bodies in the tests, nor with python-multipart,
which the tests parse them with, so a bug in one multipart implementation cannot hide behind
the same bug in another.

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
from urllib.parse import unquote_to_bytes

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
        """Decode the part as text in its declared charset (UTF-8 when none is given).

        A charset Python does not know raises :class:`LookupError` when ``errors`` is
        ``"strict"``; otherwise the bytes are read as UTF-8 (what the recorded fields show).
        """
        try:
            return self.data.decode(self.charset, errors)
        except LookupError:
            if errors == "strict":
                raise
            return self.data.decode("utf-8", errors)


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


def parse_form(content_type: str, body: bytes) -> list[FormPart]:
    """Split a ``multipart/form-data`` body into its parts, bytes exact.

    A delimiter is ``--boundary`` at the start of the body or after a line break (CRLF, or a
    bare LF as lenient readers take it), followed by optional spaces or tabs and a line break,
    or by ``--`` for the closing one; the boundary's text anywhere else is data. The body is
    scanned once, so the time is linear in its size whatever it holds. Raises
    :class:`ApiError` (400, code 5006) when the body is not well-formed multipart.
    """
    if not is_multipart(content_type):
        raise ApiError(400, 5006, MULTIPART_REQUIRED)
    boundary = _params(content_type.partition(";")[2]).get("boundary", "")
    # The header was read as latin-1, so this gives back the bytes the client sent.
    marker = b"--" + boundary.encode("latin-1", "replace")
    first = _delimiter(body, marker, 0) if boundary else None
    if first is None or first[2]:
        raise _bad_input("multipart body has no boundary or no parts")
    contents: list[bytes] = []
    _, start, closing = first
    while not closing:
        # From the line break that ended the last delimiter, so that a part with nothing in
        # it (a delimiter right after the last) is found too.
        found = _delimiter(body, marker, start - 1)
        if found is None:
            raise _bad_input(
                f"malformed multipart body (no closing boundary '--{_shorten(boundary)}--' "
                "on a line of its own)"
            )
        end, after, closing = found
        contents.append(body[start : max(start, end)])
        start = after
    return [_part(index, content) for index, content in enumerate(contents)]


def _delimiter(body: bytes, marker: bytes, start: int) -> tuple[int, int, bool] | None:
    """The first delimiter at or after ``start``: where the data before it ends (the line
    break before it excluded), where what follows it begins, and whether it is the closing
    one; ``None`` when there is none."""
    # One regular expression, searched in C: the boundary's text inside the data (not after
    # a line break, or followed by anything but padding and a line break) is passed over.
    pattern = re.compile(rb"(?:\A|\n)" + re.escape(marker) + rb"(?:(--)|[ \t]*\r?\n)")
    found = pattern.search(body, start)
    if found is None:
        return None
    end = found.start()
    if end and body[end - 1] == 0x0D:  # the CR of a CRLF
        end -= 1
    return end, found.end(), found.group(1) is not None


#: A header line of a part: a name of printable ASCII without a colon, a colon, a value.
_HEADER = re.compile(r"([!-9;-~]+):(.*)", re.DOTALL)


def _part(index: int, content: bytes) -> FormPart:
    """One part, from the bytes between two delimiters: its headers, a blank line, its data."""
    if content.startswith(b"\r\n"):
        head, data = b"", content[2:]
    elif content.startswith(b"\n"):
        head, data = b"", content[1:]
    else:
        ends = [found for found in (content.find(b"\n\r\n"), content.find(b"\n\n")) if found >= 0]
        if not ends:
            raise _bad_input(f"malformed multipart part #{index} (no blank line after its headers)")
        split = min(ends)
        head = content[: split + 1]
        data = content[split + (3 if content[split + 1 : split + 2] == b"\r" else 2) :]
    headers: dict[str, str] = {}
    last = ""
    # Header values as UTF-8, the way HTML5 forms send names and filenames.
    for line in re.split(r"\r?\n", head.decode("utf-8", "replace"))[:-1]:
        if line[:1] in (" ", "\t") and last:  # a folded line continues the header before
            headers[last] += " " + line.strip()
            continue
        match = _HEADER.fullmatch(line)
        if match is None:
            raise _bad_input(
                f"malformed multipart part #{index} (a header line without a name and a "
                f"colon: {_shorten(line)!r})"
            )
        last = match.group(1).lower()
        headers.setdefault(last, match.group(2).strip())
    disposition = _params(headers.get("content-disposition", "").partition(";")[2])
    name = disposition.get("name")
    if not name:
        raise _bad_input(f"multipart part #{index} has no Content-Disposition name")
    raw_type = headers.get("content-type")
    content_type = _media_type(raw_type) if raw_type is not None else ""
    type_params = _params(raw_type.partition(";")[2]) if raw_type is not None else {}
    if content_type.split("/")[0] in ("multipart", "message"):
        # A nested body is no field value: refused by name rather than read as something else.
        raise _bad_input(
            f"'/{_shorten(name)}' is a {_shorten(content_type)} part; send a plain field or file"
        )
    encoding = headers.get("content-transfer-encoding", "").strip().lower()
    if encoding not in _IDENTITY_ENCODINGS:
        # RFC 7578 (4.7) retires Content-Transfer-Encoding in forms; the bytes are the value.
        raise _bad_input(
            f"'/{_shorten(name)}' has Content-Transfer-Encoding {_shorten(encoding)!r}, "
            "which multipart/form-data does not use (RFC 7578); send the bytes as they are"
        )
    filename = disposition.get("filename", type_params.get("name"))
    charset = type_params.get("charset", "").lower()
    return FormPart(
        name=name,
        filename=None if filename is None else filename.strip(),
        content_type=content_type,
        data=data,
        charset=charset if charset and charset.isascii() else "utf-8",
    )


def _media_type(value: str) -> str:
    """``type/subtype`` of a Content-Type value, lower case (``text/plain`` when it is not
    one, as mail readers take it)."""
    media = value.partition(";")[0].strip().lower()
    return media if media.count("/") == 1 else "text/plain"


def _params(text: str) -> dict[str, str]:
    """The ``key=value`` parameters of a header value (after its first ``;``): keys in lower
    case, quoted values unquoted, RFC 2231 values (``name*=UTF-8''...``) decoded; for a key
    given twice the extended (``*``) form wins, else the first."""
    params: dict[str, str] = {}
    extended: dict[str, str] = {}
    for item in _split_params(text):
        key, equals, value = item.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not equals or not key:
            continue
        if key.endswith("*"):
            charset, _, rest = value.partition("'")
            _, _, encoded = rest.partition("'")
            try:
                decoded = unquote_to_bytes(encoded).decode(charset or "utf-8", "replace")
            except LookupError:
                decoded = unquote_to_bytes(encoded).decode("utf-8", "replace")
            extended.setdefault(key[:-1], decoded)
            continue
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = re.sub(r"\\(.)", r"\1", value[1:-1], flags=re.DOTALL)
        params.setdefault(key, value)
    params.update(extended)
    return params


def _split_params(text: str) -> list[str]:
    """``text`` split at each ``;`` that is not inside a quoted string."""
    if '"' not in text:
        return text.split(";")
    items: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            items.append("".join(current))
            current = []
            continue
        current.append(char)
    items.append("".join(current))
    return items


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
