"""Datasets: the rows of a CSV or JSON Lines file as variables for templates, read lazily.

The only template variable source that reads from disk, so it lives in the files layer; the
other sources (:func:`flux2prompt.matrix`, :func:`flux2prompt.zipped`, :func:`flux2prompt.sample`)
are pure and live with the templates.

Example:
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "mugs.csv"
    >>> _ = path.write_text("color\\nteal\\n", encoding="utf-8")
    >>> list(dataset(path))
    [{'color': 'teal'}]
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, NoReturn, TypeAlias

from flux2prompt._document import (
    MAX_DEPTH,
    MAX_DOCUMENT_BYTES,
    MAX_STRING_CHARS,
    check_bounds,
)
from flux2prompt._errors import PromptError, SourceError
from flux2prompt._files._parse import cannot_read, not_found
from flux2prompt._templates import Row, VariableSource

__all__ = ["Dataset", "DatasetFormat", "dataset"]

DatasetFormat: TypeAlias = Literal["csv", "jsonl"]
_FORMATS: dict[str, DatasetFormat] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


class Dataset(VariableSource):
    """A CSV file (with a header row) or a JSON Lines file (one object per line): one row per
    asset. CSV values are text; JSON Lines values keep their JSON types. Blank lines are
    skipped. Every problem names the file and the line. Rows are read one at a time, each
    bounded: a value of at most 128 Ki characters, a JSON Lines line of at most 16 MiB, nested
    at most 64 levels.

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "mugs.csv"
        >>> _ = path.write_text("color,sku\\nteal,M-1\\nrust,M-2\\n", encoding="utf-8")
        >>> [row.origin.rsplit("/", 1)[-1] for row in dataset(path).rows()]
        ['mugs.csv:2', 'mugs.csv:3']
        >>> list(dataset(path))[1]
        {'color': 'rust', 'sku': 'M-2'}
    """

    def __init__(self, path: str | Path, *, format: DatasetFormat | None = None) -> None:
        self.path = Path(path)
        if format is None:
            guessed = _FORMATS.get(self.path.suffix.lower())
            if guessed is None:
                raise SourceError(
                    f"unknown dataset type {self.path.suffix or '(none)'!r}; use .csv, .jsonl "
                    "or .ndjson, or pass format='csv' / 'jsonl'",
                    source=str(self.path),
                )
            format = guessed
        if format not in ("csv", "jsonl"):
            raise PromptError(f"dataset(format=...): use 'csv' or 'jsonl', got {format!r}")
        self.format: DatasetFormat = format

    def __repr__(self) -> str:
        return f"dataset({str(self.path)!r})"

    def _open(self) -> Any:
        try:
            # A byte that is not UTF-8 reads as a lone surrogate (never decoded from UTF-8), so
            # the line that holds it is known: _bounded_lines names it, and its column.
            return self.path.open(encoding="utf-8-sig", errors="surrogateescape", newline="")
        except FileNotFoundError:
            raise SourceError(not_found(self.path, "dataset file"), source=str(self.path)) from None
        except IsADirectoryError:
            raise SourceError("is a directory, not a dataset file", source=str(self.path)) from None
        except OSError as exc:
            raise SourceError(cannot_read(exc), source=str(self.path)) from None

    def rows(self) -> Iterator[Row]:
        with self._open() as handle:
            if self.format == "csv":
                yield from self._csv_rows(handle)
            else:
                yield from self._jsonl_rows(handle)

    def _csv_rows(self, handle: Any) -> Iterator[Row]:
        label = str(self.path)
        # Line by line, each bounded: a file without newlines (/dev/zero) never fills memory.
        # Strict: a quote never closed (a truncated file) would swallow every later row into
        # one value, and a character after a closing quote would vanish into it.
        lines = _bounded_lines(handle, label)
        last: list[str] = [""]  # the line read last: a row of one value on one line is there

        def remember() -> Iterator[str]:
            for text in lines:
                last[0] = text
                yield text

        reader = csv.reader(remember(), strict=True)
        start = 1  # the line the row being read starts on
        try:
            header = next(reader, None)
            if header is None:
                raise SourceError("the CSV file is empty; it needs a header row", source=label)
            header = [name.strip() for name in header]
            counts = Counter(header)  # once: header.count() per name was quadratic in columns
            for position, name in enumerate(header, 1):
                if not name:
                    raise SourceError(f"column {position} has no name", source=label, line=1)
                if counts[name] > 1:
                    raise SourceError(f"column {_cut(name)!r} appears twice", source=label, line=1)
            start = reader.line_num + 1
            for values in reader:
                line = reader.line_num
                start = line + 1
                # A blank line (or one of spaces) is skipped; a quoted empty value ("") is a
                # row of a one-column file, not a blank line.
                if not values or (len(values) == 1 and not last[0].strip()):
                    continue
                if len(values) != len(header):
                    raise SourceError(
                        f"{len(values)} values for {len(header)} columns ({_names(header)})",
                        source=label,
                        line=line,
                    )
                yield Row(dict(zip(header, values, strict=True)), f"{label}:{line}")
        except csv.Error as exc:
            reason = f"invalid CSV: {exc}"
            line = reader.line_num
            if "field limit" in str(exc):
                reason = (
                    f"a value is longer than the {MAX_STRING_CHARS:,} characters a dataset value "
                    "may have; shorten it"
                )
            elif "unexpected end of data" in str(exc):
                reason = (
                    "invalid CSV: a quoted value is never closed (the file ends inside it); "
                    'add the closing " (write "" for a quote inside a value)'
                )
                line = start
            elif "expected after" in str(exc):
                reason = (
                    f"invalid CSV: {exc} (text after a closing quote); quote the whole value, "
                    'writing "" for a quote inside it'
                )
            raise SourceError(reason, source=label, line=line) from None

    def _jsonl_rows(self, handle: Any) -> Iterator[Row]:
        label = str(self.path)
        for line, text in enumerate(_bounded_lines(handle, label), 1):
            # A byte order mark opens each file joined into this one (cat a.jsonl b.jsonl).
            text = text.removeprefix("\ufeff")
            if not text.strip():
                continue
            try:
                value = json.loads(text, object_pairs_hook=_no_duplicate_keys)
            except RecursionError:
                raise SourceError(
                    f"nested more than {MAX_DEPTH} levels deep, the limit for a document; "
                    "flatten it",
                    source=label,
                    line=line,
                ) from None
            except json.JSONDecodeError as exc:
                raise SourceError(
                    f"invalid JSON at column {exc.colno}: {exc.msg}", source=label, line=line
                ) from None
            except ValueError as exc:
                reason = str(exc)
                if "integer string conversion" in reason:  # Python's limit of 4,300 digits
                    reason = "a number has too many digits; write it as a string"
                raise SourceError(reason, source=label, line=line) from None
            # Structure only: a value a record cannot hold (NaN, a lone surrogate) is the
            # batch's to refuse, as a failed item with this line.
            check_bounds(value, label, numbers=False, line=line)
            if not isinstance(value, dict):
                kind = type(value).__name__
                raise SourceError(
                    f"each line must be a JSON object of variables, got {kind}",
                    source=label,
                    line=line,
                )
            yield Row(value, f"{label}:{line}")


def _cut(name: str) -> str:
    """A column's name as an error shows it: a name may be 128 Ki characters long."""
    return name if len(name) <= 100 else f"{name[:100]}..."


def _names(header: list[str]) -> str:
    """The columns as an error lists them: the first ten (a header may have thousands)."""
    if len(header) <= 10:
        return ", ".join(_cut(name) for name in header)
    return f"{', '.join(_cut(name) for name in header[:10])}, ... and {len(header) - 10:,} more"


def _bounded_lines(handle: Any, label: str) -> Iterator[str]:
    """The lines of ``handle``, none read past :data:`MAX_DOCUMENT_BYTES` characters."""
    number = 0
    while True:
        text = handle.readline(MAX_DOCUMENT_BYTES + 1)
        if not text:
            return
        number += 1
        if _UNDECODED.search(text) is not None:
            _not_utf8(text, label, number)
        if len(text) > MAX_DOCUMENT_BYTES:
            raise SourceError(
                f"the line is longer than the {MAX_DOCUMENT_BYTES:,} characters a dataset line "
                "may have; split the row",
                source=label,
                line=number,
            )
        yield text


# What errors="surrogateescape" makes of a byte that is not UTF-8: U+DC80..U+DCFF.
_UNDECODED = re.compile("[\udc80-\udcff]")


def _not_utf8(text: str, label: str, line: int) -> NoReturn:
    found = _UNDECODED.search(text)
    assert found is not None
    byte = ord(found.group()) - 0xDC00
    raise SourceError(
        f"not UTF-8 text: byte 0x{byte:02x} at column {found.start() + 1}; save the file as UTF-8",
        source=label,
        line=line,
    )


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def dataset(path: str | Path, *, format: DatasetFormat | None = None) -> Dataset:
    """Rows of a CSV (header row) or JSON Lines file, read lazily; the type comes from the
    suffix (``.csv``, ``.jsonl``, ``.ndjson``) unless ``format`` says.

    Example:
        >>> dataset("products.csv").format
        'csv'
    """
    return Dataset(path, format=format)
