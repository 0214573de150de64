"""Datasets as a hostile user writes them: truncated CSV, stray quotes, joined JSON Lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from flux2prompt import SourceError
from flux2prompt._files import dataset


def _rows(path: Path, data: bytes) -> list[tuple[str, dict[str, object]]]:
    path.write_bytes(data)
    return [(row.origin.rsplit("/", 1)[-1], row.variables) for row in dataset(path).rows()]


def test_a_quote_never_closed_is_an_error_at_the_row_it_opens(tmp_path: Path) -> None:
    # A truncated file: without the check, every later row became part of one value.
    path = tmp_path / "mugs.csv"
    with pytest.raises(SourceError) as caught:
        _rows(path, b'color,sku\nteal,M-1\n"rust,M-2\nsand,M-3\n')
    assert caught.value.line == 3
    assert str(caught.value) == (
        f"{path}:3: invalid CSV: a quoted value is never closed (the file ends inside it); add "
        'the closing " (write "" for a quote inside a value)'
    )


def test_text_after_a_closing_quote_is_an_error_not_lost(tmp_path: Path) -> None:
    path = tmp_path / "mugs.csv"
    with pytest.raises(SourceError, match=r"mugs\.csv:3: invalid CSV: .*text after a closing"):
        _rows(path, b'color,sku\nteal,M-1\n"rust" red,M-2\n')


def test_quotes_written_as_csv_writes_them_still_read(tmp_path: Path) -> None:
    rows = _rows(tmp_path / "q.csv", b'name,note\n"say ""hi""",x"y\n"two\nlines",z\n')
    assert rows == [
        ("q.csv:2", {"name": 'say "hi"', "note": 'x"y'}),
        ("q.csv:4", {"name": "two\nlines", "note": "z"}),
    ]


def test_json_lines_files_joined_with_their_byte_order_marks_read(tmp_path: Path) -> None:
    data = b'\xef\xbb\xbf{"color": "teal"}\n\xef\xbb\xbf{"color": "rust"}\n'
    rows = _rows(tmp_path / "joined.jsonl", data)
    assert rows == [("joined.jsonl:1", {"color": "teal"}), ("joined.jsonl:2", {"color": "rust"})]
