"""Reference images of a batch: the same for every item, or chosen per item by its variables.

An entry of a job's ``images`` is bytes, a path, or a text path that may name the item's
variables in braces (``"refs/{sku}.png"``, or ``"{reference}"`` for a dataset column that holds
the path); ``{{`` and ``}}`` are literal braces. An ``https://`` or ``data:`` text is a URL
(proxied models take those), passed on as it is once its fields are filled in. Nothing is read
until an item needs it: a missing per-item file is an error that names the path, the entry
and the item's origin (``products.csv:14``), raised while planning, before any request.

Example:
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "M-1.png").write_bytes(b"png bytes")
    >>> refs = ReferenceImages([f"{folder}/{{sku}}.png"])
    >>> refs.per_item, refs.fields
    (True, ('sku',))
    >>> refs.read({"sku": "M-1"}, origin="products.csv:2")
    [b'png bytes']
    >>> try:
    ...     refs.read({"sku": "V-7"}, origin="products.csv:3")
    ... except PromptError as exc:
    ...     print(str(exc).replace(str(folder), "refs"))
    products.csv:3: reference image refs/V-7.png (images[0] = 'refs/{sku}.png'): no such file; add the file or correct the row
"""  # noqa: E501

from __future__ import annotations

import os
import string
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from flux2prompt._atomic import read_at_most
from flux2prompt._errors import PromptError, SourceError

if TYPE_CHECKING:
    from flux2prompt._templates import Variant

__all__ = ["ReferenceImages", "escape_braces"]

#: One entry of ``images``: bytes, a literal path, or a text path that may hold ``{fields}``.
ImageEntry: TypeAlias = "bytes | str | os.PathLike[str]"

_URL_PREFIXES = ("https://", "http://", "data:")
_CACHE_SIZE = 32
#: The largest reference image file read (a model takes images of 512x512 or so: far below).
MAX_REFERENCE_BYTES = 64 * 1024 * 1024


def escape_braces(text: str) -> str:
    """``text`` with its braces doubled, so a pattern takes it literally.

    >>> escape_braces("/tmp/{x}")
    '/tmp/{{x}}'
    """
    return text.replace("{", "{{").replace("}", "}}")


def _is_file(path: str) -> bool:
    """Whether ``path`` is a file; a path no file can have (a NUL in it, a name too long) is
    not one, and reading it says why."""
    try:
        return Path(path).is_file()
    except (OSError, ValueError):
        return False


def _shown(path: str) -> str:
    """A path as a message shows it: a row's value may make it thousands of characters long,
    and a NUL in it would end the line a terminal shows."""
    path = path.replace("\x00", "\\x00")
    return path if len(path) <= 200 else f"{path[:200]}... ({len(path):,} characters)"


def _fields(pattern: str, where: str) -> tuple[str, ...]:
    try:
        parsed = list(string.Formatter().parse(pattern))
    except ValueError as exc:
        raise PromptError(
            f"{where} {pattern!r}: {exc}; write {{{{ and }}}} for literal braces"
        ) from None
    names: list[str] = []
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise PromptError(
                f"{where} {pattern!r}: {{{name}{'!' + conversion if conversion else ''}"
                f"{':' + spec if spec else ''}}} is not a variable name; write {{name}} "
                "(no format spec), or {{ and }} for literal braces"
            )
        if name not in names:
            names.append(name)
    return tuple(names)


class ReferenceImages:
    """The reference images of a batch, resolved for one item at a time.

    ``images`` entries are bytes, paths (taken literally) or text patterns over the item's
    variables (see the module docs). ``per_item`` says whether any entry names a variable.

    Example:
        >>> refs = ReferenceImages([b"raw", "https://example.com/{sku}.png"])
        >>> refs.labels({"sku": "M-1"})
        (None, 'https://example.com/M-1.png')
    """

    def __init__(self, images: Iterable[ImageEntry] = ()) -> None:
        self.entries: tuple[bytes | Path | str, ...] = ()
        entries: list[bytes | Path | str] = []
        fields: list[str] = []
        for number, image in enumerate(images):
            if isinstance(image, bytes | bytearray):
                entries.append(bytes(image))
            elif isinstance(image, str):
                for name in _fields(image, f"images[{number}]"):
                    if name not in fields:
                        fields.append(name)
                entries.append(image)
            elif isinstance(image, os.PathLike):
                entries.append(Path(image))
            else:
                raise PromptError(
                    f"images[{number}]: expected bytes, a path or a text path, got "
                    f"{type(image).__name__}"
                )
        self.entries = tuple(entries)
        self.fields: tuple[str, ...] = tuple(fields)
        self._cache: OrderedDict[str, bytes] = OrderedDict()

    @property
    def per_item(self) -> bool:
        """Whether an entry names a variable, so items may get different images."""
        return bool(self.fields)

    def __len__(self) -> int:
        return len(self.entries)

    def check_fields(self, known: Collection[str], *, source: str | None = None) -> None:
        """Refuse a field that no variable gives (``known`` are the variable names).

        >>> ReferenceImages(["refs/{skuu}.png"]).check_fields(["sku"])
        Traceback (most recent call last):
        ...
        flux2prompt.PromptError: images 'refs/{skuu}.png': unknown field {skuu}; the variables are sku
        """  # noqa: E501
        for entry in self.entries:
            if not isinstance(entry, str):
                continue
            for name in _fields(entry, "images"):
                if name not in known:
                    message = (
                        f"images {entry!r}: unknown field {{{name}}}; the variables are "
                        f"{', '.join(known) or '(none)'}"
                    )
                    if source is not None:
                        raise SourceError(message, source=source)
                    raise PromptError(message)

    def labels(self, variables: Mapping[str, Any]) -> tuple[str | None, ...]:
        """What each entry stands for with these variables: a path or URL (``None`` for bytes)."""
        out: list[str | None] = []
        for number, entry in enumerate(self.entries):
            if isinstance(entry, bytes):
                out.append(None)
            elif isinstance(entry, Path):
                out.append(str(entry))
            else:
                out.append(self._render(entry, number, variables))
        return tuple(out)

    def _render(self, pattern: str, number: int, variables: Mapping[str, Any]) -> str:
        values: dict[str, str] = {}
        for name in _fields(pattern, f"images[{number}]"):
            if name not in variables:
                raise PromptError(
                    f"images[{number}] {pattern!r}: the item has no variable {name!r}"
                )
            value = variables[name]
            values[name] = value if isinstance(value, str) else str(value)
        return pattern.format_map(values)

    def read(self, variables: Mapping[str, Any], *, origin: str = "") -> list[bytes | str]:
        """The images to send with the item whose variables are ``variables``: bytes, or URLs.

        A file that cannot be read is a :class:`~flux2prompt.PromptError` naming the path, the
        entry and ``origin``.
        """
        out: list[bytes | str] = []
        labels = self.labels(variables)
        for number, (entry, label) in enumerate(zip(self.entries, labels, strict=True)):
            if isinstance(entry, bytes):
                out.append(entry)
                continue
            assert label is not None
            if isinstance(entry, str) and label.startswith(_URL_PREFIXES):
                out.append(label)
                continue
            out.append(self._read_file(label, number, entry, origin))
        return out

    def _read_file(self, path: str, number: int, entry: str | Path, origin: str) -> bytes:
        cached = self._cache.get(path)
        if cached is not None:
            self._cache.move_to_end(path)
            return cached
        try:
            # Bounded: a path that never ends (/dev/zero, a pipe) is refused, not read.
            data = read_at_most(path, MAX_REFERENCE_BYTES, "a reference image")
        except (OSError, ValueError) as exc:  # ValueError: a NUL in the path (a row's value)
            reason = (
                "no such file"
                if isinstance(exc, FileNotFoundError)
                else "is a folder"
                if isinstance(exc, IsADirectoryError)
                else "the path holds a NUL character, which no file name can"
                if isinstance(exc, ValueError)
                else f"cannot read: {exc.strerror or type(exc).__name__}"
            )
            if not (isinstance(entry, str) and _fields(entry, "images")):
                # The same file for every item: the job is wrong, not an item.
                raise SourceError(
                    f"cannot read the reference image: {reason}", source=_shown(path)
                ) from None
            where = f"{origin}: " if origin else ""
            raise PromptError(
                f"{where}reference image {_shown(path)} (images[{number}] = {entry!r}): "
                f"{reason}; add the file or correct the row"
            ) from None
        self._cache[path] = data
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return data

    def check_files(self, variables: Mapping[str, Any], *, origin: str = "") -> None:
        """Raise the error :meth:`read` would for a reference file that is not there, without
        reading any (what ``validate`` checks for each row).

        >>> ReferenceImages(["refs/{sku}.png"]).check_files({"sku": "none"}, origin="rows.csv:2")
        Traceback (most recent call last):
        ...
        flux2prompt.PromptError: rows.csv:2: reference image refs/none.png (images[0] = 'refs/{sku}.png'): no such file; add the file or correct the row
        """  # noqa: E501
        labels = self.labels(variables)
        for number, (entry, label) in enumerate(zip(self.entries, labels, strict=True)):
            if isinstance(entry, bytes) or label is None or label.startswith(_URL_PREFIXES):
                continue
            if not _is_file(label):
                self._read_file(label, number, entry, origin)

    def request_images(self) -> Sequence[bytes | str] | Callable[[Variant], Sequence[bytes | str]]:
        """What :func:`~flux2prompt._versioning._requests.variant_requests` takes: the images
        read once (the same for every item), or a function of the variant reading its own.

        >>> ReferenceImages([b"raw"]).request_images()
        [b'raw']
        """
        if not self.per_item:
            return self.read({})

        def for_variant(variant: Variant) -> Sequence[bytes | str]:
            return self.read(variant.variables, origin=variant.origin)

        return for_variant
