"""Datasets, prompt files and job files as a hostile user hands them over: bytes that are not
UTF-8, one-column files with empty values, rows written by any CSV or JSON Lines writer.

Every dataset row gives exactly one row, in order; every bad byte is named by its line and
column, by the Python API and by the installed command alike.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flux2prompt import SourceError, dataset, load_prompt_file
from flux2prompt._files._job_file import read_job_file

COMMAND = str(Path(sys.executable).with_name("flux2-prompt"))
TEMPLATE = 'name = "mug"\n[prompt]\nscene = "a ${color} mug"\n'


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [COMMAND, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def job(folder: Path, rows: str) -> Path:
    (folder / "mug.prompt.toml").write_text(TEMPLATE, encoding="utf-8")
    path = folder / "job.toml"
    path.write_text(
        f'template = "mug.prompt.toml"\noutput = "{{color}}.{{ext}}"\n[variables]\n'
        f'dataset = "{rows}"\n',
        encoding="utf-8",
    )
    return path


# -- bytes that are not UTF-8 --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "line", "column"),
    [
        ("rows.csv", b"color,sku\nteal,M-1\nte\xffal,M-2\n", 3, 3),
        ("rows.csv", b"\xef\xbb\xbfcolor\r\nteal\r\nsand\xe9\r\n", 3, 5),
        ("rows.jsonl", b'{"color": "teal"}\n{"color": "caf\xe9"}\n', 2, 15),
        # Far past the first block the decoder reads: the line is still the right one.
        ("rows.jsonl", b'{"color": "teal"}\n' * 5000 + b'{"color": "\xc3"}\n', 5001, 12),
    ],
)
def test_a_byte_that_is_not_utf8_is_named_by_its_line_and_column(
    tmp_path: Path, name: str, data: bytes, line: int, column: int
) -> None:
    # It was "not UTF-8 text (byte 13 of a block)": no line, and a byte count of nothing.
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(SourceError) as caught:
        list(dataset(path))
    bad = next(byte for byte in data.splitlines()[line - 1] if byte >= 0x80 and byte != 0xEF)
    assert caught.value.line == line
    assert str(caught.value) == (
        f"{path}:{line}: not UTF-8 text: byte 0x{bad:02x} at column {column}; save the file as "
        "UTF-8"
    )


def test_the_command_names_the_line_of_a_dataset_that_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "rows.csv").write_bytes(b"color\nteal\nte\xffal\n")
    job(tmp_path, "rows.csv")
    for command in (["validate"], ["lint"], ["batch", "--dry-run", "--out", "out"]):
        done = run(*command, "job.toml", cwd=tmp_path)
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        assert done.stderr.strip().splitlines()[-1] == (
            "error: rows.csv:3: not UTF-8 text: byte 0xff at column 3; save the file as UTF-8"
        ), command


@pytest.mark.parametrize(
    ("name", "data", "line", "column"),
    [
        ("p.prompt.toml", b'name = "p"\n[prompt]\nscene = "caf\xe9"\n', 3, 13),
        ("p.prompt.json", b'{\n  "name": "p",\n  "prompt": {"scene": "caf\xe9"}\n}', 3, 27),
        ("p.json", b'\xef\xbb\xbf{"scene": "\xff"}', 1, 12),
    ],
)
def test_a_prompt_file_that_is_not_utf8_names_the_line_and_column(
    tmp_path: Path, name: str, data: bytes, line: int, column: int
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    byte = next(b for b in data.splitlines()[line - 1] if b >= 0x80 and b not in b"\xef\xbb\xbf")
    expected = f"{name}:{line}: not UTF-8 text: byte 0x{byte:02x} at column {column}"
    done = run("validate", name, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: {expected}; save the file as UTF-8"), done.stderr
    if ".prompt." in name:
        with pytest.raises(SourceError) as caught:
            load_prompt_file(path)
        assert caught.value.line == line


def test_a_job_file_that_is_not_utf8_names_the_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "job.toml"
    path.write_bytes(b'template = "mug.prompt.toml"\noutput = "caf\xe9.{ext}"\n')
    with pytest.raises(SourceError) as caught:
        read_job_file(path)
    assert str(caught.value) == (
        f"{path}:2: not UTF-8 text: byte 0xe9 at column 14; save the file as UTF-8"
    )


# -- every row once, in order --------------------------------------------------------------------


def test_a_quoted_empty_value_in_a_one_column_file_is_a_row(tmp_path: Path) -> None:
    # It was taken for a blank line and dropped: the item vanished from the batch.
    path = tmp_path / "captions.csv"
    path.write_text('caption\nfirst\n""\n\n   \nlast\n', encoding="utf-8")
    rows = [(row.origin.rsplit(":", 1)[1], row.variables) for row in dataset(path).rows()]
    assert rows == [("2", {"caption": "first"}), ("3", {"caption": ""}), ("6", {"caption": "last"})]


_value = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


@given(
    st.integers(1, 3).flatmap(
        lambda width: st.lists(st.lists(_value, min_size=width, max_size=width), max_size=8)
    ),
    st.sampled_from(["\n", "\r\n"]),
    st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
)
def test_every_csv_record_is_one_row_in_order(
    records: list[list[str]], terminator: str, quoting: int
) -> None:
    width = len(records[0]) if records else 1
    # csv.writer leaves a lone "\r" unquoted under QUOTE_MINIMAL with a "\n" terminator, which
    # no reader can read back: that is the writer's output, not a CSV file.
    if quoting == csv.QUOTE_MINIMAL:
        records = [[value.replace("\r", "") for value in record] for record in records]
    header = [f"c{n}" for n in range(width)]
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator=terminator, quoting=quoting)
    writer.writerow(header)
    writer.writerows(records)
    # A record of spaces alone on its line is a blank line (documented); quoted, it is a row
    # (the writer quotes a lone empty value: "").
    blank = width == 1 and quoting == csv.QUOTE_MINIMAL
    kept = [r for r in records if not (blank and r[0] and not r[0].strip())]
    with _file("rows.csv", text.getvalue().encode("utf-8")) as path:
        rows = list(dataset(path).rows())
    assert [row.variables for row in rows] == [dict(zip(header, r, strict=True)) for r in kept]
    lines = [int(row.origin.rsplit(":", 1)[1]) for row in rows]
    assert lines == sorted(set(lines))  # one origin per row, in file order


@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["color", "sku", "n", "$"]),
            st.one_of(_value, st.integers(-(10**20), 10**20), st.booleans(), st.none()),
            min_size=1,
        ),
        max_size=8,
    ),
    st.sampled_from(["\n", "\r\n"]),
    st.booleans(),
)
def test_every_json_line_is_one_row_in_order(
    rows: list[dict[str, object]], terminator: str, ascii_only: bool
) -> None:
    data = "".join(json.dumps(row, ensure_ascii=ascii_only) + terminator for row in rows)
    with _file("rows.jsonl", data.encode("utf-8", "surrogatepass")) as path:
        read = list(dataset(path).rows())
    assert [row.variables for row in read] == rows
    assert [row.origin.rsplit(":", 1)[1] for row in read] == [str(n + 1) for n in range(len(rows))]


class _file:
    """A file with ``data`` in a fresh folder, removed afterwards (Hypothesis runs many)."""

    def __init__(self, name: str, data: bytes) -> None:
        import tempfile

        self._folder = tempfile.TemporaryDirectory()
        self.path = Path(self._folder.name) / name
        self.path.write_bytes(data)

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc: object) -> None:
        self._folder.cleanup()


# -- a row's value in a reference image's path ---------------------------------------------------


@pytest.mark.parametrize(
    ("sku", "reason"),
    [
        ("a\\u0000b", "the path holds a NUL character, which no file name can"),
        ("x" * 5000, "cannot read: File name too long"),
    ],
)
def test_a_path_no_file_can_have_is_the_row_s_error_not_a_traceback(
    tmp_path: Path, sku: str, reason: str
) -> None:
    # A NUL was "ValueError: embedded null byte" (a traceback from batch --dry-run, and "template
    # 'mug' raised ValueError" from validate); a name too long was "template 'mug' raised OSError".
    (tmp_path / "rows.jsonl").write_text(f'{{"color": "teal", "sku": "{sku}"}}\n', "utf-8")
    path = job(tmp_path, "rows.jsonl")
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "[variables]", 'images = ["refs/{sku}.png"]\n[variables]'
        ),
        encoding="utf-8",
    )
    done = run("validate", "job.toml", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith("job.toml [rows.jsonl:1]: reference image refs/")
    assert f"(images[0] = 'refs/{{sku}}.png'): {reason}; add the file or correct the row" in first
    assert "raised" not in first
    assert len(first) < 400  # the 5,000 characters are not echoed
    done = run("batch", "job.toml", "--dry-run", "--out", "out", cwd=tmp_path)
    assert done.returncode == 1  # as for a reference file that is missing: the row is wrong
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("error: rows.jsonl:1: reference image refs/")
    assert reason in done.stderr


@pytest.mark.parametrize("rows", ["color\n", "color\n\n  \n"])
@pytest.mark.parametrize("command", ["validate", "lint"])
def test_a_job_whose_dataset_has_no_rows_says_it_checked_none(
    tmp_path: Path, rows: str, command: str
) -> None:
    # It printed nothing at all and exited 0: nothing said that nothing was checked.
    (tmp_path / "rows.csv").write_text(rows, encoding="utf-8")
    job(tmp_path, "rows.csv")
    done = run(command, "job.toml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "job.toml: ok (0 variants)\n"


def test_a_derived_seed_of_a_lone_surrogate_is_no_traceback(tmp_path: Path) -> None:
    (tmp_path / "rows.jsonl").write_text('{"color": "teal", "note": "\\udc00"}\n', "utf-8")
    path = job(tmp_path, "rows.jsonl")
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "[variables]", "seeds = { derive = 7 }\n[variables]"
        ),
        encoding="utf-8",
    )
    reason = (
        "rows.jsonl:1: variables are not JSON data: 'note' holds a lone surrogate (half of a "
        "character, such as a cut-off emoji); write the whole character"
    )
    done = run("batch", "job.toml", "--dry-run", "--out", "out", cwd=tmp_path)
    assert "Traceback" not in done.stderr
    assert (done.returncode, done.stderr) == (1, f"error: {reason}\n")
    done = run("validate", "job.toml", cwd=tmp_path)
    assert "Traceback" not in done.stderr
    assert done.returncode == 1
    assert f"job.toml: {reason}" in done.stdout


def test_a_ragged_row_of_a_wide_file_lists_a_few_columns_not_all(tmp_path: Path) -> None:
    # The message listed all 100,001 column names: a line of 800 kB.
    path = tmp_path / "wide.csv"
    names = ["color", *(f"c{n}" for n in range(100_000))]
    path.write_text(",".join(names) + "\nteal\n", encoding="utf-8")
    with pytest.raises(SourceError) as caught:
        list(dataset(path))
    assert str(caught.value) == (
        f"{path}:2: 1 values for 100001 columns (color, c0, c1, c2, c3, c4, c5, c6, c7, c8, ... "
        "and 99,991 more)"
    )


def test_a_header_of_a_hundred_thousand_columns_is_read_at_once(tmp_path: Path) -> None:
    # Each name was counted in the whole header: 10**10 steps, minutes before the first row.
    path = tmp_path / "wide.csv"
    names = [f"c{n}" for n in range(100_000)]
    path.write_text(",".join(names) + "\n" + ",".join("x" * len(names)) + "\n", encoding="utf-8")
    (row,) = dataset(path)
    assert len(row) == 100_000
    path.write_text(",".join([*names, "c7"]) + "\n", encoding="utf-8")
    with pytest.raises(SourceError, match=r"wide\.csv:1: column 'c7' appears twice$"):
        list(dataset(path))
