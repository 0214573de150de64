"""Provenance inside every image: an XMP record written and read byte-wise, without Pillow.

The record (:class:`Provenance`) says what made an image: the compiled prompt as sent, its
fingerprint, the request fingerprint, the model, the parameters (seed included), the hashes of
the input images, and the job or SOURCE it came from. It never holds the API token, the
account id or a URL: only what the request fingerprint covers, plus the name of its source.

One XMP packet carries it in all three formats, where exiftool, Adobe tools and most image
managers look for XMP:

* PNG: an ``iTXt`` chunk with the keyword ``XML:com.adobe.xmp`` (uncompressed, correct CRC),
  placed just before the first ``IDAT``;
* JPEG: an ``APP1`` segment headed ``http://ns.adobe.com/xap/1.0/``, after the JFIF and Exif
  segments. A segment holds at most 64 KB, so a packet too large for one moves the prompt into
  *extended XMP* (``APP1`` segments headed ``http://ns.adobe.com/xmp/extension/``, tied to the
  main packet by ``xmpNote:HasExtendedXMP``, the MD5 of the extension), which exiftool reads
  and reassembles;
* WebP: a ``XMP `` RIFF chunk at the end, with the XMP flag of the ``VP8X`` header set; a simple
  (``VP8``/``VP8L``) file gains a ``VP8X`` header with its canvas size and alpha flag.

Only metadata is added or replaced: ``IDAT``, the JPEG scans and the ``VP8``/``VP8L``/``ALPH``
chunks are copied byte for byte, so the pixels are exactly the service's. An image that already
holds an XMP packet has it replaced (one image has one packet). The same record gives the same
bytes, so two copies of one request are byte-identical.

Example:
    >>> png = bytes.fromhex("89504e470d0a1a0a")
    >>> chunk = lambda kind, body: (len(body).to_bytes(4, "big") + kind + body
    ...     + zlib.crc32(kind + body).to_bytes(4, "big"))
    >>> png += chunk(b"IHDR", (1).to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0]))
    >>> png += chunk(b"IDAT", zlib.compress(b"\\x00\\x00")) + chunk(b"IEND", b"")
    >>> record = Provenance("a fox", "sha256:p", "sha256:r", "@cf/m", {"seed": 7})
    >>> read_provenance(write_provenance(png, record)) == record
    True
    >>> read_provenance(png) is None
    True
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import logging
import re
import struct
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from flux2prompt._json import finite_float, refuse_constant
from flux2prompt.transport._errors import ImageError
from flux2prompt.transport._images import detect_format, image_size

if TYPE_CHECKING:
    from flux2prompt.transport._bfl_request import BFLRequest
    from flux2prompt.transport._request import ParamValue, WorkersAIRequest
    from flux2prompt.transport._result import ImageResult

__all__ = [
    "PROVENANCE_NAMESPACE",
    "Provenance",
    "ProvenanceError",
    "read_provenance",
    "stamp_provenance",
    "strip_provenance",
    "write_provenance",
]

#: The XMP namespace of the record's properties (prefix ``f2p``; exiftool shows ``XMP-f2p``).
PROVENANCE_NAMESPACE: Final = "urn:flux2prompt:provenance:1.0/"
#: The record's format version, written as ``f2p:Version``.
PROVENANCE_VERSION: Final = 1

_RDF: Final = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_XMP: Final = "http://ns.adobe.com/xap/1.0/"
_XMP_NOTE: Final = "http://ns.adobe.com/xmp/note/"
_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
_PNG_KEYWORD: Final = b"XML:com.adobe.xmp"
_JPEG_XMP: Final = b"http://ns.adobe.com/xap/1.0/\x00"
_JPEG_EXTENSION: Final = b"http://ns.adobe.com/xmp/extension/\x00"
# A segment's length field counts itself (2 bytes) and holds at most 0xFFFF.
_JPEG_MAX_PACKET: Final = 0xFFFF - 2 - len(_JPEG_XMP)
# Extended XMP: header, 32-digit GUID, full length and offset (4 bytes each), then a portion.
# Adobe's own writer uses portions of 65400 bytes; that leaves room below the 64 KB limit.
_JPEG_PORTION: Final = 65400
_WEBP_XMP_FLAG: Final = 0x04
_WEBP_ALPHA_FLAG: Final = 0x10
# A compressed iTXt from another tool is inflated at most this far (a zip bomb stops here).
_MAX_PACKET: Final = 16 * 1024 * 1024
# XML 1.0 cannot carry these characters at all, not even as character references.
_logger = logging.getLogger("flux2prompt.transport")
_XML_ILLEGAL: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class ProvenanceError(ImageError):
    """Raised when an image file is truncated or malformed, so provenance cannot be written into
    it or read from it. The message says what is wrong and where (a chunk, a segment, a byte
    offset); an image that is merely without provenance is not an error.

    Example:
        >>> try:
        ...     read_provenance(b"\\x89PNG\\r\\n\\x1a\\n\\x00\\x00")
        ... except ProvenanceError as exc:
        ...     print(exc)
        truncated PNG: the file ends inside the chunk header at byte 8
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, parameter="image")


@dataclass(frozen=True, slots=True)
class Provenance:
    """What made an image: everything in its request fingerprint, and the source it came from.

    ``prompt`` is the prompt text as sent (compact wire JSON, or a plain text prompt),
    ``parameters`` the parameters sent (``seed`` among them), ``input_images`` the sha256 of each
    input image sent, ``job`` the batch job's name and ``source`` the SOURCE that ``generate``
    read (``prompts/hero.py:hero``), when known. Nothing here depends on the response or on the
    file's name, so every copy of one request carries the same record.

    ``image_sha256`` seals the file: :func:`stamp_provenance` writes there the sha256 of the
    image's bytes without its XMP packet, so that a file changed since (a bit flipped, garbage
    in a JPEG's scan, which no checksum covers) can be told from the one stamped; see
    :meth:`verifies`. It is ``None`` in a record built from a request and in images
    stamped before it existed, and two records that differ only there are equal.

    Example:
        >>> record = Provenance("a fox", "sha256:p", "sha256:r", "@cf/m", {"seed": 7})
        >>> record.seed, record.to_dict()["model"]
        (7, '@cf/m')
    """

    prompt: str
    prompt_fingerprint: str
    request_fingerprint: str
    model: str
    parameters: Mapping[str, ParamValue] = field(default_factory=dict)
    input_images: tuple[str, ...] = ()
    job: str | None = None
    source: str | None = None
    # The seal of the file, not part of what made it: left out of equality and of to_dict().
    image_sha256: str | None = field(default=None, compare=False)

    def verifies(self, data: bytes) -> bool:
        """Whether ``data``, the image this record was read from, is byte for byte the one
        :func:`stamp_provenance` sealed it into. ``True`` too for a record without a seal
        (stamped before seals, or written by :func:`write_provenance`), which cannot say.

        Example:
            >>> from flux2prompt.transport import ImageResult, build_request
            >>> jpeg = b"\\xff\\xd8\\xff\\xc0\\x00\\x0b\\x08\\x00\\x10\\x00\\x10"
            >>> jpeg += b"\\x01\\x01\\x11\\x00\\xff\\xda\\x00\\x02scan\\xff\\xd9"
            >>> image = ImageResult.from_bytes(jpeg)
            >>> stamped = stamp_provenance(image, build_request("a fox")).data
            >>> read_provenance(stamped).verifies(stamped)
            True
            >>> damaged = stamped.replace(b"scan", b"scam")
            >>> read_provenance(damaged).verifies(damaged)
            False
        """
        return self.image_sha256 is None or self.image_sha256 == _image_digest(data)

    @property
    def seed(self) -> int | None:
        """The seed sent, or ``None`` when the service chose one."""
        seed = self.parameters.get("seed")
        return seed if isinstance(seed, int) and not isinstance(seed, bool) else None

    @classmethod
    def from_request(
        cls,
        request: WorkersAIRequest | BFLRequest,
        *,
        job: str | None = None,
        source: str | None = None,
    ) -> Provenance:
        """The record of a built request (see :func:`~flux2prompt.transport.build_request`).

        Example:
            >>> from flux2prompt.transport import build_request
            >>> request = build_request("a fox", model="klein-4b", seed=3)
            >>> Provenance.from_request(request, job="foxes").parameters["seed"]
            3
        """
        return cls(
            prompt=request.prompt,
            prompt_fingerprint=request.prompt_fingerprint,
            request_fingerprint=request.fingerprint,
            model=request.model.id,
            parameters=dict(request.params),
            input_images=tuple(image.sha256 for image in request.images),
            job=job,
            source=source,
        )

    def to_dict(self) -> dict[str, object]:
        """The record as JSON data (what ``inspect --json`` prints under ``provenance``).

        Example:
            >>> sorted(Provenance("a", "sha256:p", "sha256:r", "m").to_dict())[:3]
            ['input_images', 'job', 'model']
        """
        return {
            "prompt": self.prompt,
            "prompt_fingerprint": self.prompt_fingerprint,
            "request_fingerprint": self.request_fingerprint,
            "model": self.model,
            "parameters": dict(self.parameters),
            "seed": self.seed,
            "input_images": list(self.input_images),
            "job": self.job,
            "source": self.source,
        }


# -- the XMP packet ------------------------------------------------------------------------------


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# Not xml.sax.saxutils.escape: that module imports urllib.request, and so ssl, into every command.
_ESCAPES: Final = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})


def _text(value: str) -> str:
    # A parser turns a carriage return into a line feed; as a character reference it survives.
    return value.translate(_ESCAPES)


def _property(name: str, value: str) -> tuple[str, str]:
    if _XML_ILLEGAL.search(value):
        # Control characters cannot be XML at all: such a value goes in base64, losslessly.
        return f"{name}Base64", base64.b64encode(value.encode("utf-8")).decode("ascii")
    return name, value


def _packet(properties: list[tuple[str, str]], *, extended_guid: str | None = None) -> bytes:
    """An XMP packet with one ``rdf:Description`` holding ``f2p:NAME`` elements in order."""
    lines = [
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>',
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">',
        f'<rdf:RDF xmlns:rdf="{_RDF}">',
        f'<rdf:Description rdf:about="" xmlns:xmp="{_XMP}" xmlns:xmpNote="{_XMP_NOTE}" '
        f'xmlns:f2p="{PROVENANCE_NAMESPACE}">',
    ]
    if extended_guid is not None:
        lines.append(f"<xmpNote:HasExtendedXMP>{extended_guid}</xmpNote:HasExtendedXMP>")
    for name, value in properties:
        if name == "CreatorTool":
            lines.append(f"<xmp:CreatorTool>{_text(value)}</xmp:CreatorTool>")
        else:
            lines.append(f"<f2p:{name}>{_text(value)}</f2p:{name}>")
    lines += ["</rdf:Description>", "</rdf:RDF>", "</x:xmpmeta>", '<?xpacket end="r"?>']
    return "\n".join(lines).encode("utf-8")


def _properties(record: Provenance) -> list[tuple[str, str]]:
    """Every property but the prompt, in the order exiftool lists them."""
    out = [
        ("CreatorTool", "flux2prompt"),
        ("Version", str(PROVENANCE_VERSION)),
        ("PromptFingerprint", record.prompt_fingerprint),
        ("RequestFingerprint", record.request_fingerprint),
        ("Model", record.model),
    ]
    if record.seed is not None:
        # As the parameters' JSON writes it: an int subclass's own str() ("Seed.A") is not it.
        out.append(("Seed", int.__repr__(record.seed)))
    out.append(("Parameters", _json(dict(record.parameters))))
    if record.input_images:
        out.append(("InputImages", _json(list(record.input_images))))
    if record.job is not None:
        out.append(("Job", _utf8(record.job)))
    if record.source is not None:
        out.append(("Source", _utf8(record.source)))
    if record.image_sha256 is not None:
        out.append(("ImageSha256", record.image_sha256))
    return [_property(name, value) for name, value in out]


def _utf8(name: str) -> str:
    # A file name that is not UTF-8 reaches Python with lone surrogates, which no packet can
    # hold: they are recorded as their escapes ("\\udcff"), the rest of the name as it is.
    return name.encode("utf-8", "backslashreplace").decode("utf-8")


def _xmp_packets(record: Provenance, limit: int | None) -> tuple[bytes, bytes | None]:
    """The main packet and, when it would exceed ``limit`` bytes, the extended one holding the
    prompt (its MD5 named in the main packet, as the XMP specification asks)."""
    head = _properties(record)
    prompt = [_property("Prompt", record.prompt)]
    whole = _packet(head[:2] + prompt + head[2:])
    if limit is None or len(whole) <= limit:
        return whole, None
    extension = _packet(prompt)
    guid = hashlib.md5(extension, usedforsecurity=False).hexdigest().upper()
    main = _packet(head, extended_guid=guid)
    if len(main) > limit:
        raise ProvenanceError(
            f"the provenance record is {len(main)} bytes without its prompt, more than a JPEG "
            f"segment holds ({limit}); shorten the parameters or the source name"
        )
    return main, extension


def _descriptions(packet: bytes, where: str) -> dict[str, str]:
    """The ``f2p``/``xmpNote`` properties of an XMP packet, as elements or attributes."""
    if b"<!DOCTYPE" in packet or b"<!ENTITY" in packet:
        # XMP never declares entities; a packet that does is hostile (entity expansion).
        raise ProvenanceError(f"{where}: the XMP packet declares entities; it is not XMP")
    # Imported here: every command imports the transport, few of them read XMP.
    from xml.etree import ElementTree

    try:
        root = ElementTree.fromstring(packet)
    except ElementTree.ParseError as exc:
        raise ProvenanceError(f"{where}: the XMP packet is not well-formed XML ({exc})") from None
    out: dict[str, str] = {}
    for description in root.iter(f"{{{_RDF}}}Description"):
        for name, value in description.attrib.items():
            out.setdefault(name, value)
        for child in description:
            if len(child) == 0:
                out.setdefault(child.tag, child.text or "")
    return out


def _json_of(text: str) -> Any:
    """A record's JSON value: no NaN, no infinity, however it is written (no request has them,
    and ``inspect --json`` must print JSON, so a record holding one is damaged)."""
    return json.loads(text, parse_constant=refuse_constant, parse_float=finite_float)


def _record(main: dict[str, str], where: str) -> Provenance | None:
    ns = f"{{{PROVENANCE_NAMESPACE}}}"
    if f"{ns}Version" not in main:
        return None  # another tool's XMP: no provenance of ours

    def get(name: str) -> str | None:
        encoded = main.get(f"{ns}{name}Base64")
        if encoded is not None:
            return base64.b64decode(encoded, validate=True).decode("utf-8")
        return main.get(ns + name)

    damaged = f"{where}: the provenance record is damaged (a value does not decode)"
    try:
        said = get("Version") or ""
    except (ValueError, UnicodeDecodeError):
        raise ProvenanceError(damaged) from None
    # The version first: a newer record may hold values this version cannot read. ASCII digits
    # only: int() would also take "-3", "+1", " 1" and "1_0".
    if not (said.isascii() and said.isdigit()) or len(said) > 9 or int(said) < 1:
        raise ProvenanceError(
            f"{where}: the provenance record is damaged (version {said[:20]!r} is not one "
            "flux2prompt writes)"
        )
    if int(said) > PROVENANCE_VERSION:
        raise ProvenanceError(
            f"{where}: provenance version {int(said)} was written by a newer flux2prompt "
            f"(this one reads {PROVENANCE_VERSION}); upgrade flux2prompt"
        )
    try:
        values = {name: get(name) for name in _RECORD_TEXT}
        parameters = _json_of(get("Parameters") or "{}")
        images = _json_of(get("InputImages") or "[]")
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ProvenanceError(damaged) from None
    prompt = values["Prompt"]
    if prompt is None:
        raise ProvenanceError(f"{where}: the provenance record has no prompt")
    if not isinstance(parameters, dict) or not isinstance(images, list):
        raise ProvenanceError(f"{where}: the provenance record's parameters are damaged")
    _check_seed(parameters, values["Seed"], where)
    return Provenance(
        prompt=prompt,
        prompt_fingerprint=values["PromptFingerprint"] or "",
        request_fingerprint=values["RequestFingerprint"] or "",
        model=values["Model"] or "",
        parameters=parameters,
        input_images=tuple(str(image) for image in images),
        job=values["Job"],
        source=values["Source"],
        image_sha256=values["ImageSha256"],
    )


# The record's text properties, each read (and decoded) once, in the one try above.
_RECORD_TEXT: Final = (
    "Prompt",
    "PromptFingerprint",
    "RequestFingerprint",
    "Model",
    "Seed",
    "Job",
    "Source",
    "ImageSha256",
)


def _check_seed(parameters: dict[str, object], shown: str | None, where: str) -> None:
    """Refuse a record whose ``f2p:Seed`` (what exiftool and people read) is not the seed of
    its parameters (what ``inspect`` and a rerun read): one of the two was edited."""
    seed = parameters.get("seed")
    is_seed = isinstance(seed, int) and not isinstance(seed, bool)
    sent = int.__repr__(seed) if is_seed else None
    if shown is None or shown == sent:
        return
    raise ProvenanceError(
        f"{where}: the provenance record is damaged (f2p:Seed {shown[:20]!r} is not the seed "
        f"of its parameters, {str(seed)[:20]})"
    )


# -- PNG -----------------------------------------------------------------------------------------


def _png_chunks(data: bytes) -> Iterator[tuple[int, bytes, int]]:
    """``(start, type, end)`` of every chunk up to ``IEND``; truncation and bad lengths raise."""
    pos = len(_PNG_SIGNATURE)
    while True:
        if pos + 8 > len(data):
            raise ProvenanceError(
                f"truncated PNG: the file ends inside the chunk header at byte {pos}"
            )
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if length > 0x7FFFFFFF or not kind.isalpha():
            raise ProvenanceError(f"malformed PNG: the chunk at byte {pos} has a bad header")
        end = pos + 12 + length
        if end > len(data):
            raise ProvenanceError(
                f"truncated PNG: the {kind.decode('ascii')} chunk at byte {pos} needs "
                f"{end - pos} bytes, the file has {len(data) - pos}"
            )
        yield pos, kind, end
        if kind == b"IEND":
            return
        pos = end


def _png_xmp(data: bytes, start: int, end: int) -> bytes | None:
    """The XMP packet of an ``iTXt`` chunk, or ``None`` when it holds other text."""
    body = data[start + 8 : end - 4]
    keyword, sep, rest = body.partition(b"\x00")
    if keyword != _PNG_KEYWORD:
        return None
    (crc,) = struct.unpack(">I", data[end - 4 : end])
    if not sep or len(rest) < 2 or zlib.crc32(data[start + 4 : end - 4]) != crc:
        raise ProvenanceError(f"corrupt PNG: the XMP iTXt chunk at byte {start} fails its CRC")
    compressed, method, rest = rest[0], rest[1], rest[2:]
    _language, _, rest = rest.partition(b"\x00")
    _translated, _, text = rest.partition(b"\x00")
    if not compressed:
        return text
    if method != 0:
        raise ProvenanceError(f"malformed PNG: unknown compression in the iTXt at byte {start}")
    try:
        inflater = zlib.decompressobj()
        packet = inflater.decompress(text, _MAX_PACKET)
    except zlib.error:
        raise ProvenanceError(f"corrupt PNG: the iTXt at byte {start} does not inflate") from None
    if inflater.unconsumed_tail:
        raise ProvenanceError(f"PNG: the XMP iTXt at byte {start} inflates beyond 16 MB")
    return packet


def _check_png(data: bytes) -> list[tuple[int, bytes, int]]:
    chunks = list(_png_chunks(data))
    if chunks[0][1] != b"IHDR":
        raise ProvenanceError("malformed PNG: the first chunk is not IHDR")
    if not any(kind == b"IDAT" for _, kind, _ in chunks):
        raise ProvenanceError("malformed PNG: no IDAT chunk (no image data)")
    return chunks


def _png_write(data: bytes, packet: bytes) -> bytes:
    chunks = _check_png(data)
    body = _PNG_KEYWORD + b"\x00\x00\x00\x00\x00" + packet
    itxt = struct.pack(">I", len(body)) + b"iTXt" + body
    itxt += struct.pack(">I", zlib.crc32(b"iTXt" + body))
    out = [data[: len(_PNG_SIGNATURE)]]
    placed = False
    for start, kind, end in chunks:
        if kind == b"iTXt" and _png_xmp(data, start, end) is not None:
            continue  # the old packet goes; the new one takes its place before IDAT
        if kind == b"IDAT" and not placed:
            out.append(itxt)
            placed = True
        out.append(data[start:end])
    out.append(data[chunks[-1][2] :])  # anything after IEND stays as it was
    return b"".join(out)


def _png_read(data: bytes) -> bytes | None:
    for start, kind, end in _check_png(data):
        if kind == b"iTXt":
            packet = _png_xmp(data, start, end)
            if packet is not None:
                return packet
    return None


def _png_strip(data: bytes) -> bytes:
    chunks = _check_png(data)
    kept = [
        data[start:end]
        for start, kind, end in chunks
        if not (kind == b"iTXt" and _png_xmp(data, start, end) is not None)
    ]
    return data[: len(_PNG_SIGNATURE)] + b"".join(kept) + data[chunks[-1][2] :]


# -- JPEG ----------------------------------------------------------------------------------------


def _jpeg_segments(data: bytes) -> tuple[list[tuple[int, int, int]], int]:
    """The ``(marker, start, end)`` of every segment before the first scan, and where the scan
    (``SOS``, kept byte for byte from there on) starts."""
    segments: list[tuple[int, int, int]] = []
    pos = 2
    while True:
        if pos + 4 > len(data):
            raise ProvenanceError(
                f"truncated JPEG: the file ends at byte {len(data)}, before the image data"
            )
        if data[pos] != 0xFF:
            raise ProvenanceError(f"malformed JPEG: no segment marker at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1  # a fill byte
            continue
        if marker == 0xDA:
            break
        if marker in (0x01, *range(0xD0, 0xD8)):
            segments.append((marker, pos, pos + 2))
            pos += 2
            continue
        if marker == 0xD9:
            raise ProvenanceError(f"malformed JPEG: end of image at byte {pos}, before any scan")
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        end = pos + 2 + length
        if length < 2 or end > len(data):
            raise ProvenanceError(
                f"truncated JPEG: the segment FF{marker:02X} at byte {pos} runs past the end "
                "of the file"
            )
        segments.append((marker, pos, end))
        pos = end
    if data.rfind(b"\xff\xd9", pos) == -1:
        raise ProvenanceError("truncated JPEG: the image data ends without an end-of-image mark")
    return segments, pos


def _is_xmp_segment(data: bytes, marker: int, start: int) -> bool:
    if marker != 0xE1:
        return False
    payload = data[start + 4 : start + 4 + len(_JPEG_EXTENSION)]
    return payload.startswith((_JPEG_XMP, _JPEG_EXTENSION))


def _app1(payload: bytes) -> bytes:
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def _jpeg_write(data: bytes, main: bytes, extension: bytes | None) -> bytes:
    segments, scan = _jpeg_segments(data)
    new = [_app1(_JPEG_XMP + main)]
    if extension is not None:
        guid = hashlib.md5(extension, usedforsecurity=False).hexdigest().upper().encode()
        for offset in range(0, len(extension), _JPEG_PORTION):
            portion = extension[offset : offset + _JPEG_PORTION]
            header = _JPEG_EXTENSION + guid + struct.pack(">II", len(extension), offset)
            new.append(_app1(header + portion))
    kept = [
        (marker, start, end)
        for marker, start, end in segments
        if not _is_xmp_segment(data, marker, start)
    ]
    # After JFIF (APP0) and Exif (APP1) at the head of the file, where readers expect XMP.
    at = 0
    while at < len(kept) and (
        kept[at][0] == 0xE0
        or (kept[at][0] == 0xE1 and data[kept[at][1] + 4 : kept[at][1] + 10] == b"Exif\x00\x00")
    ):
        at += 1
    out = [data[:2]]
    out += [data[start:end] for _, start, end in kept[:at]]
    out += new
    out += [data[start:end] for _, start, end in kept[at:]]
    out.append(data[scan:])
    return b"".join(out)


def _jpeg_read(data: bytes) -> tuple[dict[str, str], str] | None:
    segments, _ = _jpeg_segments(data)
    main: bytes | None = None
    portions: dict[bytes, list[tuple[int, int, bytes]]] = {}
    for marker, start, end in segments:
        if not _is_xmp_segment(data, marker, start):
            continue
        payload = data[start + 4 : end]
        if payload.startswith(_JPEG_XMP):
            main = main if main is not None else payload[len(_JPEG_XMP) :]
            continue
        header = payload[len(_JPEG_EXTENSION) :]
        if len(header) < 40:
            raise ProvenanceError(f"malformed JPEG: a short extended XMP segment at byte {start}")
        total, offset = struct.unpack(">II", header[32:40])
        portions.setdefault(header[:32], []).append((offset, total, header[40:]))
    if main is None:
        return None
    properties = _descriptions(main, "JPEG XMP")
    guid = properties.get(f"{{{_XMP_NOTE}}}HasExtendedXMP")
    if guid is not None:
        parts = sorted(portions.get(guid.encode("ascii", "replace"), []))
        extension = b"".join(part for _, _, part in parts)
        if (
            not parts
            or len(extension) != parts[0][1]
            or any(
                offset != sum(len(p) for _, _, p in parts[:i])
                for i, (offset, _, _) in enumerate(parts)
            )
        ):
            raise ProvenanceError(
                "truncated JPEG: the extended XMP that holds the prompt is incomplete"
            )
        if hashlib.md5(extension, usedforsecurity=False).hexdigest().upper() != guid:
            raise ProvenanceError("corrupt JPEG: the extended XMP does not match its digest")
        for name, value in _descriptions(extension, "JPEG extended XMP").items():
            properties.setdefault(name, value)
    return properties, "JPEG XMP"


def _jpeg_strip(data: bytes) -> bytes:
    segments, scan = _jpeg_segments(data)
    kept = [
        data[start:end]
        for marker, start, end in segments
        if not _is_xmp_segment(data, marker, start)
    ]
    return data[:2] + b"".join(kept) + data[scan:]


# -- WebP ----------------------------------------------------------------------------------------


def _webp_chunks(data: bytes) -> tuple[list[tuple[bytes, int, int]], int]:
    """``(fourcc, start, end)`` of every chunk (padding included), and the RIFF's end."""
    if len(data) < 12:
        raise ProvenanceError("truncated WebP: the file ends inside the RIFF header")
    (size,) = struct.unpack("<I", data[4:8])
    riff_end = 8 + size
    if riff_end > len(data):
        raise ProvenanceError(
            f"truncated WebP: the RIFF header says {riff_end} bytes, the file has {len(data)}"
        )
    chunks: list[tuple[bytes, int, int]] = []
    pos = 12
    while pos < riff_end:
        if pos + 8 > riff_end:
            raise ProvenanceError(f"truncated WebP: a chunk header at byte {pos} is cut short")
        fourcc = data[pos : pos + 4]
        (length,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        end = pos + 8 + length + (length & 1)
        if end > riff_end + (length & 1):
            raise ProvenanceError(
                f"truncated WebP: the {fourcc.decode('latin-1')!r} chunk at byte {pos} runs past "
                "the end of the file"
            )
        chunks.append((fourcc, pos, min(end, riff_end)))
        pos = end
    if not chunks or chunks[0][0] not in (b"VP8 ", b"VP8L", b"VP8X"):
        raise ProvenanceError("malformed WebP: the first chunk is not VP8, VP8L or VP8X")
    if chunks[0][0] == b"VP8X" and chunks[0][2] - chunks[0][1] < 18:
        raise ProvenanceError("malformed WebP: the VP8X header is shorter than 10 bytes")
    return chunks, riff_end


def _webp_chunk(fourcc: bytes, payload: bytes) -> bytes:
    return (
        fourcc + struct.pack("<I", len(payload)) + payload + (b"\x00" if len(payload) & 1 else b"")
    )


def _webp_write(data: bytes, packet: bytes) -> bytes:
    chunks, riff_end = _webp_chunks(data)
    first, start, end = chunks[0]
    kept = [data[s:e] for kind, s, e in chunks[1:] if kind != b"XMP "]
    if first == b"VP8X":
        header = bytearray(data[start:end])
        header[8] |= _WEBP_XMP_FLAG
        body = [bytes(header), *kept]
    else:
        size = image_size(data)
        if size is None:
            raise ProvenanceError("malformed WebP: the image header gives no size")
        flags = _WEBP_XMP_FLAG
        # A lossless image says whether it uses alpha (bit 28 after the signature byte).
        if first == b"VP8L" and end - start > 13 and data[start + 12] & 0x10:
            flags |= _WEBP_ALPHA_FLAG
        canvas = (size[0] - 1).to_bytes(3, "little") + (size[1] - 1).to_bytes(3, "little")
        body = [_webp_chunk(b"VP8X", bytes([flags, 0, 0, 0]) + canvas), data[start:end], *kept]
    body.append(_webp_chunk(b"XMP ", packet))
    riff = b"WEBP" + b"".join(body)
    return b"RIFF" + struct.pack("<I", len(riff)) + riff + data[riff_end:]


def _webp_read(data: bytes) -> bytes | None:
    chunks, _ = _webp_chunks(data)
    for kind, start, _ in chunks:
        if kind == b"XMP ":
            (length,) = struct.unpack("<I", data[start + 4 : start + 8])
            return data[start + 8 : start + 8 + length]
    return None


def _webp_strip(data: bytes) -> bytes:
    chunks, riff_end = _webp_chunks(data)
    body = []
    for kind, start, end in chunks:
        if kind == b"XMP ":
            continue
        piece = data[start:end]
        if kind == b"VP8X":
            header = bytearray(piece)
            header[8] &= ~_WEBP_XMP_FLAG & 0xFF
            piece = bytes(header)
        body.append(piece)
    riff = b"WEBP" + b"".join(body)
    return b"RIFF" + struct.pack("<I", len(riff)) + riff + data[riff_end:]


# -- the public functions ------------------------------------------------------------------------


def _format(data: bytes) -> str:
    fmt = detect_format(data)
    if fmt not in ("png", "jpeg", "webp"):
        what = (
            f"a {fmt.upper()} image"
            if fmt
            else f"not an image (starts with {data[:8]!r})"
            if data
            else "an empty file, not an image"
        )
        raise ProvenanceError(f"{what}: provenance is read and written in PNG, JPEG and WebP")
    return fmt


def write_provenance(data: bytes, record: Provenance) -> bytes:
    """Return ``data`` (a PNG, JPEG or WebP image) with ``record`` in its XMP packet.

    Only metadata changes: the pixel data is copied byte for byte, an XMP packet already there
    is replaced, and the same record always gives the same bytes. A truncated or malformed image
    raises :class:`ProvenanceError`.

    Example:
        >>> jpeg = b"\\xff\\xd8" + b"\\xff\\xda\\x00\\x02" + b"scan" + b"\\xff\\xd9"
        >>> stamped = write_provenance(jpeg, Provenance("a fox", "sha256:p", "sha256:r", "m"))
        >>> stamped.endswith(b"\\xff\\xda\\x00\\x02scan\\xff\\xd9"), read_provenance(stamped).prompt
        (True, 'a fox')
    """
    data = bytes(data)
    fmt = _format(data)
    if fmt == "jpeg":
        main, extension = _xmp_packets(record, _JPEG_MAX_PACKET)
        return _jpeg_write(data, main, extension)
    packet, _ = _xmp_packets(record, None)
    return _png_write(data, packet) if fmt == "png" else _webp_write(data, packet)


def read_provenance(data: bytes) -> Provenance | None:
    """The record in an image's XMP packet, or ``None`` when it has none (stripped, or made by
    another tool). A truncated or malformed image, or a damaged record, raises
    :class:`ProvenanceError` saying what is wrong.

    Example:
        >>> read_provenance(b"\\xff\\xd8\\xff\\xda\\x00\\x02scan\\xff\\xd9") is None
        True
    """
    data = bytes(data)
    fmt = _format(data)
    if fmt == "jpeg":
        found = _jpeg_read(data)
        return None if found is None else _record(*found)
    packet = _png_read(data) if fmt == "png" else _webp_read(data)
    if packet is None:
        return None
    where = "PNG iTXt XMP" if fmt == "png" else "WebP XMP chunk"
    return _record(_descriptions(packet, where), where)


def strip_provenance(data: bytes) -> bytes:
    """Return ``data`` without its XMP packet (ours or another tool's); the pixels stay as they
    are. A WebP keeps its ``VP8X`` header, with the XMP flag cleared.

    Example:
        >>> jpeg = b"\\xff\\xd8\\xff\\xda\\x00\\x02scan\\xff\\xd9"
        >>> record = Provenance("a fox", "sha256:p", "sha256:r", "m")
        >>> strip_provenance(write_provenance(jpeg, record)) == jpeg
        True
    """
    data = bytes(data)
    fmt = _format(data)
    if fmt == "jpeg":
        return _jpeg_strip(data)
    return _png_strip(data) if fmt == "png" else _webp_strip(data)


def stamp_provenance(
    result: ImageResult,
    request: WorkersAIRequest | BFLRequest,
    *,
    job: str | None = None,
    source: str | None = None,
) -> ImageResult:
    """``result`` with the provenance of ``request`` in its bytes (``job`` and ``source`` as
    :meth:`Provenance.from_request` takes them), as ``generate`` and the batch runner save every
    image. An image the service sent that cannot take the record (malformed metadata) is kept
    as it came, with a warning on the ``flux2prompt.transport`` logger: it is paid for, and its
    pixels are fine.

    Example:
        >>> from flux2prompt.transport import ImageResult, build_request
        >>> jpeg = b"\\xff\\xd8\\xff\\xc0\\x00\\x0b\\x08\\x00\\x10\\x00\\x10"
        >>> jpeg += b"\\x01\\x01\\x11\\x00\\xff\\xda\\x00\\x02scan\\xff\\xd9"
        >>> result = ImageResult.from_bytes(jpeg)
        >>> stamped = stamp_provenance(result, build_request("a fox", seed=2), job="foxes")
        >>> read_provenance(stamped.data).job
        'foxes'
    """
    record = Provenance.from_request(request, job=job, source=source)
    try:
        # The seal is of the bytes around the packet, which do not depend on what it holds.
        unsealed = write_provenance(result.data, record)
        sealed = dataclasses.replace(record, image_sha256=_image_digest(unsealed))
        return result.with_provenance(sealed)
    except ProvenanceError as exc:
        _logger.warning("image saved without provenance: %s", exc)
        return result


def _image_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(strip_provenance(data)).hexdigest()
