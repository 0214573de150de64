"""Orphans: images an interrupted run wrote and paid for, but did not record.

The runner writes an image, then appends its record. A run killed between the two (``kill -9``,
a power cut), or whose record did not fit on a full disk, leaves the image on disk without a
record; so does one killed inside the write itself, after the bytes were written to the
temporary file (``.NAME.XXXXXXXX.tmp``) and before it was renamed. A later run *recovers* such
an image instead of buying it again, when all of these hold:

- the item has no ``ok`` record, and the file is not the image of a record that names it (that
  one is the record's: copying and superseding deal with it, as they always have);
- the file is the item's planned output (its name, with the extension of its format), or a
  temporary file of that name in the same folder (not inside another batch's folder);
- it is a regular file (never a symbolic link) of at most :data:`MAX_ORPHAN_BYTES`, a JPEG, PNG
  or WebP image that is whole (:func:`image_problem`: every PNG chunk's CRC and the complete
  zlib stream of its pixels; every JPEG segment and scan up to the end-of-image marker that ends
  the file, a Huffman-coded sequential scan decoded to exactly its blocks; the WebP RIFF's
  length and chunks);
- its embedded provenance (:func:`~flux2prompt.transport.read_provenance`) is exactly the one
  the runner writes for this item: the request fingerprint, the prompt as sent, the model, the
  parameters (seed and size among them), the input images' hashes, and the job's name; and its
  seal, the sha256 of the image's other bytes, still matches them
  (:meth:`~flux2prompt.transport.Provenance.verifies`), which catches any change a JPEG's
  decoding cannot (images stamped before seals existed have none, and get the checks above).

Anything else (another prompt's image, a user's own file, an image without provenance, a
truncated or damaged one) is left to what a run always did with it: the item is sent, and a
different file under its name is set aside under ``superseded/`` before the new image is written;
a temporary file is deleted. What the record needs and the file does not say (the request id,
the prompt a proxied model reported) is left out: ``request_id`` is null and
``effective_prompt`` absent.

Example:
    >>> import struct, zlib
    >>> def chunk(kind, body):
    ...     return struct.pack(">I", len(body)) + kind + body + struct.pack(
    ...         ">I", zlib.crc32(kind + body))
    >>> header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    >>> png = b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", header)
    >>> png += chunk(b"IDAT", zlib.compress(b"\\x00\\x80")) + chunk(b"IEND", b"")
    >>> image_problem(png) is None
    True
    >>> image_problem(png[:-6])
    'the PNG ends inside a chunk at byte 55'
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import struct
import zlib
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from flux2prompt._digest import sha256_fingerprint
from flux2prompt.batch._lock import LOCK_NAME
from flux2prompt.batch._manifest import MANIFEST_NAME
from flux2prompt.batch._naming import _EXT, with_extension
from flux2prompt.batch._plan import PlannedItem
from flux2prompt.batch._records import ImageRecord
from flux2prompt.transport import (
    APIError,
    ImageResult,
    Provenance,
    ProvenanceError,
    read_provenance,
)

__all__ = ["MAX_ORPHAN_BYTES", "Orphan", "Orphans", "image_problem"]

#: The largest file read as a possible orphan (a generated image is far smaller).
MAX_ORPHAN_BYTES: Final = 64 * 1024 * 1024
#: The extensions the runner gives images (one per format, as ``ImageResult.extension``).
_EXTENSIONS: Final = ("jpg", "png", "webp")
_NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)
_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
# Channels per PNG colour type (greyscale, RGB, palette, greyscale + alpha, RGBA).
_PNG_CHANNELS: Final = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
# Adam7's passes: first column and row, then the steps between columns and rows.
_ADAM7: Final = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4),
                 (1, 0, 2, 2), (0, 1, 1, 2))  # fmt: skip
# JPEG markers of a frame header (SOF0-SOF15 but DHT, JPG and DAC).
_JPEG_SOF: Final = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


@dataclass(frozen=True, slots=True)
class Orphan:
    """An unrecorded image a run can record for ``item``: ``image`` says what the record holds
    (its ``file`` is the item's planned file), ``found`` where the bytes are now (that file, or
    a temporary file beside it, to be renamed into place)."""

    item: PlannedItem
    image: ImageRecord
    found: str

    @property
    def temporary(self) -> bool:
        """Whether the image is still in a temporary file."""
        return self.found != self.image.file


class Orphans:
    """Looks for orphans in an output folder, listing each folder at most once.

    ``locate`` turns a relative name into a path, refusing (``OSError``) one that leads out of
    the folder through a symbolic link; ``recorded`` gives, per file that records name, the
    sha256 of the images they recorded there.
    """

    def __init__(
        self,
        out_dir: Path,
        job: str,
        *,
        locate: Callable[[str], Path],
        recorded: Mapping[str, Set[str]],
    ) -> None:
        self._out_dir = out_dir
        self._job = job
        self._locate = locate
        self._recorded = recorded
        # Folder (relative, "" for the output folder) -> its names and its temporary files
        # by the name they were to get.
        self._listings: dict[str, tuple[frozenset[str], dict[str, list[str]]]] = {}
        # Whether the folder holds anything but a manifest and a lock (a first run's does not).
        self._empty: bool | None = None

    def _listing(self, folder: str) -> tuple[frozenset[str], dict[str, list[str]]]:
        found = self._listings.get(folder)
        if found is not None:
            return found
        names: frozenset[str] = frozenset()
        temporary: dict[str, list[str]] = {}
        with contextlib.suppress(OSError):
            names = frozenset(os.listdir(self._out_dir / folder if folder else self._out_dir))
        # Another batch's folder inside this one (its own lock file): its temporary files may
        # be in flight, and are its own run's to clean.
        if not (folder and LOCK_NAME in names):
            for name in names:
                if name.startswith(".") and name.endswith(".tmp"):
                    target, dot, _ = name[1:-4].rpartition(".")
                    if dot and target:
                        temporary.setdefault(target, []).append(name)
        for versions in temporary.values():
            versions.sort()
        found = self._listings[folder] = (names, temporary)
        return found

    def _candidates(self, name: str) -> list[tuple[str, str]]:
        """``(planned file, where its bytes may be)`` for an item whose rendered name is
        ``name``: the file under each extension, then the temporary files of that name."""
        out: list[tuple[str, str]] = []
        seen: set[str] = set()
        for ext in _EXTENSIONS:
            relative = with_extension(name, ext)
            if relative in seen:
                continue  # a pattern without {ext}: one name for every format
            seen.add(relative)
            folder, _, base = relative.rpartition("/")
            names, temporary = self._listing(folder)
            prefix = f"{folder}/" if folder else ""
            if base in names:
                out.append((relative, relative))
            out.extend((relative, prefix + tmp) for tmp in temporary.get(base, ()))
        return out

    def maybe(self, name: str) -> bool:
        """Whether a file that could be an orphan of the item named ``name`` exists (no file is
        read: what a survey asks of every unrecorded item)."""
        if self._empty is None:
            self._empty = self._listing("")[0] <= {MANIFEST_NAME, LOCK_NAME}
        if self._empty:
            return False
        folder, _, base = name.rpartition("/")
        if _EXT in folder:
            return bool(self._candidates(name))
        # The common case, every unrecorded item of a large batch: one listing, set lookups.
        names, temporary = self._listing(folder)
        return bool(names) and any(
            with_extension(base, ext) in names or with_extension(base, ext) in temporary
            for ext in _EXTENSIONS
        )

    def find(self, item: PlannedItem) -> Orphan | None:
        """The orphan of ``item``, if the folder has one: its planned file first, else the first
        of its temporary files that qualifies (see the module docs)."""
        candidates = self._candidates(item.name)
        if not candidates:
            return None
        recorded = self._recorded
        expected: Provenance | None = None
        for relative, found in candidates:
            data = self._read(found)
            if data is None:
                continue
            digest = sha256_fingerprint(data)
            if digest in recorded.get(found, ()):
                continue  # a recorded image, where its record says: not an orphan
            try:
                result = ImageResult.from_bytes(data)
            except APIError:
                continue  # not an image a run writes
            if item.file_name(result.extension.lstrip(".")) != relative:
                continue  # a JPEG named .png: not what the runner wrote
            if image_problem(data) is not None:
                continue
            try:
                embedded = read_provenance(data)
            except ProvenanceError:
                continue
            if expected is None:
                expected = Provenance.from_request(item.request, job=self._job)
            if embedded != expected or not embedded.verifies(data):
                continue  # another request's image, or this one changed since it was sealed
            image = ImageRecord(
                index=item.index,
                request_fingerprint=item.key,
                file=relative,
                sha256=digest,
                bytes=len(data),
                format=result.format,
                width=result.width,
                height=result.height,
            )
            return Orphan(item, image, found)
        return None

    def _read(self, relative: str) -> bytes | None:
        """The bytes of a regular file of the folder (never through a symbolic link), or
        ``None`` (missing, a folder, a link, too large, unreadable)."""
        try:
            path = self._locate(relative)
            fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
        except OSError:
            return None
        try:
            with os.fdopen(fd, "rb") as handle:
                info = os.fstat(handle.fileno())
                if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_ORPHAN_BYTES:
                    return None
                data = handle.read(MAX_ORPHAN_BYTES + 1)
        except OSError:
            return None
        return data if 0 < len(data) <= MAX_ORPHAN_BYTES else None


# -- whole images --------------------------------------------------------------------------------


def image_problem(data: bytes) -> str | None:
    """Why ``data`` is not a whole JPEG, PNG or WebP image (truncated, a chunk damaged), or
    ``None`` when it is. Only what the format can tell is checked: a PNG's CRCs and zlib checksum
    cover every byte; a JPEG has no checksum, so its baseline scans are decoded (without the
    pixels) to exactly the blocks its frame has, and a bit changed in a coefficient's value
    still goes unnoticed, as does anything inside a progressive JPEG's scans.

    Example:
        >>> image_problem(b"\\xff\\xd8\\xff\\xda\\x00\\x02scan")
        'the JPEG ends before its end-of-image marker'
    """
    if data.startswith(_PNG_SIGNATURE):
        return _png_problem(data)
    if data.startswith(b"\xff\xd8"):
        return _jpeg_problem(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp_problem(data)
    return "not a JPEG, PNG or WebP image"


def _png_raw_size(width: int, height: int, depth: int, colour: int, interlace: int) -> int:
    """The bytes a PNG's pixel stream inflates to (a filter byte before every row)."""
    bits = _PNG_CHANNELS[colour] * depth

    def rows(columns: int, count: int) -> int:
        return 0 if columns == 0 or count == 0 else count * (1 + (columns * bits + 7) // 8)

    if interlace == 0:
        return rows(width, height)
    return sum(
        rows((width - x + dx - 1) // dx, (height - y + dy - 1) // dy) for x, y, dx, dy in _ADAM7
    )


def _png_problem(data: bytes) -> str | None:
    pos = len(_PNG_SIGNATURE)
    header: tuple[int, int, int, int, int] | None = None
    inflater = zlib.decompressobj()
    expected = inflated = 0
    while True:
        if pos + 12 > len(data):
            return f"the PNG ends inside a chunk at byte {pos}"
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(data):
            return f"the PNG ends inside a chunk at byte {pos}"
        body = data[pos + 8 : end - 4]
        if zlib.crc32(kind + body) != struct.unpack(">I", data[end - 4 : end])[0]:
            return f"the PNG chunk at byte {pos} does not match its CRC"
        if header is None:
            if kind != b"IHDR" or length != 13:
                return "the PNG does not start with its header chunk"
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if colour not in _PNG_CHANNELS or interlace not in (0, 1):
                return "the PNG header is malformed"
            header = (width, height, depth, colour, interlace)
            expected = _png_raw_size(*header)
        elif kind == b"IDAT":
            try:
                inflated += len(inflater.decompress(body, expected - inflated + 1))
            except zlib.error:
                return f"the PNG pixel data at byte {pos} does not inflate"
            if inflated > expected or inflater.unconsumed_tail:
                return "the PNG pixel data is longer than its header says"
        elif kind == b"IEND":
            if end != len(data):
                return f"the PNG has {len(data) - end} bytes after its end"
            if not inflater.eof or inflater.unused_data or inflated != expected:
                return "the PNG pixel data is incomplete"
            return None
        pos = end


def _jpeg_problem(data: bytes) -> str | None:
    pos, size = 2, len(data)
    frame = scan = False
    coding = _JpegCoding()
    while pos + 1 < size:
        if data[pos] != 0xFF:
            return f"the JPEG has no marker at byte {pos}"
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1  # a fill byte
            continue
        if marker == 0xD9:
            if not (frame and scan):
                return "the JPEG ends before any image data"
            if pos + 2 != size:
                return f"the JPEG has {size - pos - 2} bytes after its end"
            return None
        if marker in (0x01, *range(0xD0, 0xD8)):
            pos += 2
            continue
        if marker in (0x00, 0xD8) or pos + 4 > size:
            return f"the JPEG is malformed at byte {pos}"
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        end = pos + 2 + length
        if length < 2 or end > size:
            return f"the JPEG ends inside the segment at byte {pos}"
        frame = frame or marker in _JPEG_SOF
        problem = coding.segment(marker, data[pos + 4 : end])
        if problem is not None:
            return f"the JPEG {problem} (segment at byte {pos})"
        if marker != 0xDA:
            pos = end
            continue
        scan = True
        # The entropy-coded data: up to the next marker (not a stuffed 0x00, not a restart).
        header, pos = data[pos + 4 : end], end
        while True:
            pos = data.find(b"\xff", pos)
            if pos < 0 or pos + 1 >= size:
                return "the JPEG ends before its end-of-image marker"
            following = data[pos + 1]
            if following == 0x00 or 0xD0 <= following <= 0xD7:
                pos += 2
            elif following == 0xFF:
                pos += 1
            else:
                break
        problem = coding.scan(header, data[end:pos])
        if problem is not None:
            return f"the JPEG's image data {problem} (scan at byte {end})"
    return "the JPEG ends before its end-of-image marker"


class _Huffman:
    """A JPEG Huffman table as a lookup of every 16-bit window: ``length << 8 | symbol``, or 0
    where no code starts."""

    __slots__ = ("lookup",)

    def __init__(self, counts: bytes, symbols: bytes) -> None:
        lookup = [0] * 65536
        code = index = 0
        for length in range(1, 17):
            for _ in range(counts[length - 1]):
                if code >= 1 << length:
                    raise ValueError("its Huffman table has more codes than bits")
                start = code << (16 - length)
                stop = (code + 1) << (16 - length)
                lookup[start:stop] = [(length << 8) | symbols[index]] * (stop - start)
                index += 1
                code += 1
            code <<= 1
        self.lookup = lookup


class _JpegCoding:
    """What a baseline (or extended sequential) Huffman JPEG needs to walk its scans: the
    tables, the frame's components, the restart interval. A scan is decoded symbol by symbol,
    without the pixels: every code must be in its table, every block end within its 64
    coefficients, and the data must hold exactly the blocks the frame has, each restart
    interval ending in its padding bits. Other codings (progressive, arithmetic) are checked
    for their structure only."""

    def __init__(self) -> None:
        self.tables: dict[tuple[int, int], _Huffman] = {}
        self.components: dict[int, tuple[int, int]] = {}
        self.size = (0, 0)
        self.precision = 8
        self.restart = 0
        self.huffman = False

    def segment(self, marker: int, body: bytes) -> str | None:
        """Take in a segment before a scan; why it is malformed, if it is."""
        try:
            if marker == 0xC4:
                at = 0
                while at < len(body):
                    kind, counts = body[at], body[at + 1 : at + 17]
                    total = sum(counts)
                    symbols = body[at + 17 : at + 17 + total]
                    if len(counts) < 16 or len(symbols) < total or kind >> 4 > 1:
                        return "has a malformed Huffman table"
                    self.tables[(kind >> 4, kind & 0x0F)] = _Huffman(counts, symbols)
                    at += 17 + total
            elif marker == 0xDD:
                (self.restart,) = struct.unpack(">H", body[:2])
            elif marker in _JPEG_SOF:
                self.huffman = marker in (0xC0, 0xC1)
                self.precision = body[0]
                height, width = struct.unpack(">HH", body[1:5])
                self.size = (width, height)
                count = body[5]
                self.components = {
                    body[6 + 3 * i]: (body[7 + 3 * i] >> 4, body[7 + 3 * i] & 0x0F)
                    for i in range(count)
                }
                if len(body) < 6 + 3 * count or not all(
                    1 <= h <= 4 and 1 <= v <= 4 for h, v in self.components.values()
                ):
                    return "has a malformed frame header"
        except (IndexError, struct.error, ValueError) as exc:
            return str(exc) if isinstance(exc, ValueError) else "has a malformed segment"
        return None

    def scan(self, header: bytes, coded: bytes) -> str | None:
        """Why the entropy-coded data ``coded`` of the scan whose header is ``header`` does not
        hold its blocks, or ``None`` (also for a coding this walk does not decode)."""
        width, height = self.size
        if not self.huffman or width == 0 or height == 0 or not self.components:
            return None  # progressive, arithmetic, or a height given by DNL: structure only
        try:
            count = header[0]
            parts = [(header[1 + 2 * i], header[2 + 2 * i]) for i in range(count)]
            if header[1 + 2 * count : 4 + 2 * count] != b"\x00\x3f\x00":
                return "has a malformed scan header"
            hmax = max(h for h, _ in self.components.values())
            vmax = max(v for _, v in self.components.values())
            blocks: list[tuple[list[int], list[int]]] = []
            for component, tables in parts:
                h, v = self.components[component]
                pair = (self.tables[(0, tables >> 4)].lookup, self.tables[(1, tables & 15)].lookup)
                if count == 1:
                    across = _ceil(_ceil(width * h, hmax), 8)
                    units = across * _ceil(_ceil(height * v, vmax), 8)
                    blocks = [pair]
                else:
                    blocks += [pair] * (h * v)
            if count > 1:
                units = _ceil(width, 8 * hmax) * _ceil(height, 8 * vmax)
        except (IndexError, KeyError):
            return "names a component or table the image does not have"
        # Restart markers cut the data into intervals of `restart` units, numbered 0-7 in turn.
        pieces = _RESTART.split(coded)
        markers = _RESTART.findall(coded)
        interval = self.restart or units
        if len(pieces) != _ceil(units, interval):
            return "has another number of restart intervals than its size needs"
        if any(marker[1] != 0xD0 + n % 8 for n, marker in enumerate(markers)):
            return "has restart markers out of order"
        limit = 11 if self.precision == 8 else 15
        for n, piece in enumerate(pieces):
            todo = min(interval, units - n * interval)
            problem = _walk(piece.replace(b"\xff\x00", b"\xff"), todo, blocks, limit)
            if problem is not None:
                return problem
        return None


_RESTART: Final = re.compile(rb"\xff[\xd0-\xd7]")


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def _walk(
    data: bytes, units: int, blocks: list[tuple[list[int], list[int]]], limit: int
) -> str | None:
    """Decode ``units`` MCUs of ``blocks`` (a DC and an AC lookup per block) from ``data``, one
    restart interval; why they are not exactly there, or ``None``."""
    acc = nbits = pos = 0
    size = len(data)
    for _ in range(units):
        for dc, ac in blocks:
            table, k = dc, 0
            while k < 64:
                while nbits < 16 and pos < size:
                    acc = ((acc << 8) | data[pos]) & 0xFFFFFFFF
                    pos += 1
                    nbits += 8
                window = (acc >> (nbits - 16)) if nbits >= 16 else (acc << (16 - nbits))
                entry = table[window & 0xFFFF]
                length = entry >> 8
                if entry == 0 or length > nbits:
                    return "holds a code its tables do not have, or ends early"
                nbits -= length
                symbol = entry & 0xFF
                if k == 0:
                    extra = symbol
                    if extra > limit:
                        return "holds a DC difference out of range"
                    table, k = ac, 1
                else:
                    run, extra = symbol >> 4, symbol & 0x0F
                    if extra == 0:
                        if run != 15:
                            break  # end of block
                        k += 16
                        if k > 64:
                            return "holds a coefficient beyond its block"
                        continue
                    k += run + 1
                    if k > 64 or extra > limit - 1:
                        return "holds a coefficient beyond its block"
                while nbits < extra and pos < size:
                    acc = ((acc << 8) | data[pos]) & 0xFFFFFFFF
                    pos += 1
                    nbits += 8
                if extra > nbits:
                    return "ends early"
                nbits -= extra
    # What is left is the padding of the last byte: fewer than 8 bits, all ones.
    if pos < size or nbits >= 8 or acc & ((1 << nbits) - 1) != (1 << nbits) - 1:
        return "holds more than its blocks"
    return None


def _webp_problem(data: bytes) -> str | None:
    (riff,) = struct.unpack("<I", data[4:8])
    if 8 + riff != len(data):
        return f"the WebP says {8 + riff} bytes and has {len(data)}"
    pos, kinds = 12, []
    while pos < len(data):
        if pos + 8 > len(data):
            return f"the WebP ends inside a chunk header at byte {pos}"
        kind = data[pos : pos + 4]
        (length,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        end = pos + 8 + length + (length & 1)
        if end > len(data):
            return f"the WebP ends inside its {kind.decode('latin-1')!r} chunk"
        if kind == b"VP8 " and (length < 10 or data[pos + 11 : pos + 14] != b"\x9d\x01\x2a"):
            return "the WebP's VP8 frame is malformed"
        if kind == b"VP8 ":
            first = int.from_bytes(data[pos + 8 : pos + 11], "little") >> 5
            if 10 + first > length:
                return "the WebP's VP8 frame is cut short"
        if kind == b"VP8L" and (length < 5 or data[pos + 8] != 0x2F):
            return "the WebP's VP8L image is malformed"
        kinds.append(kind)
        pos = end
    if not kinds or not ({b"VP8 ", b"VP8L", b"ANMF"} & set(kinds)):
        return "the WebP holds no image data"
    return None
