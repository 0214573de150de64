"""Text from outside (a server's message, a file name, a file's metadata) never reaches the
terminal raw, and a file name that is not UTF-8 never crashes a command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flux2prompt._text import printable

COMMAND = str(Path(sys.executable).with_name("flux2-prompt"))
# What a terminal acts on: ESC (CSI, OSC), C1 CSI, bell, backspace, CR, bidi controls.
ACTIVE = "\x1b\x9b\x07\x08\r\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f"


def run(*args: str | bytes, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([COMMAND, *args], cwd=cwd, capture_output=True, timeout=120, check=False)


@given(st.text())
def test_printable_leaves_nothing_a_terminal_acts_on(text: str) -> None:
    shown = printable(text)
    assert not any(char in shown for char in ACTIVE)
    assert not any(0xD800 <= ord(char) <= 0xDFFF for char in shown)
    shown.encode("utf-8")  # always encodable
    # Ordinary text, tabs and newlines are left as they are.
    plain = "".join(c for c in text if c.isprintable() or c in "\t\n")
    if printable(plain) != plain:
        assert any(c in plain for c in "\u2028\u2029\u061c")


def test_printable_shows_what_was_there() -> None:
    assert printable("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert printable("\u202eevil") == "\\u202eevil"
    assert printable("bad\udcff.json") == "bad\\xff.json"
    assert printable("tab\tnew\nline, 東京, مرحبا") == "tab\tnew\nline, 東京, مرحبا"


@pytest.mark.parametrize("command", ["validate", "lint", "compile"])
def test_a_file_name_that_is_not_utf8_is_printed_escaped(tmp_path: Path, command: str) -> None:
    name = b"bad\xff.json"
    (tmp_path / os.fsdecode(name)).write_text('{"scene": "a fox"}', encoding="utf-8")
    done = run(command, name, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert b"Traceback" not in done.stderr
    if command != "compile":
        assert b"bad\\xff.json" in done.stdout


def test_a_missing_file_whose_name_is_not_utf8_is_one_error_line(tmp_path: Path) -> None:
    done = run("validate", b"gone\xfe.json", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [b"error: gone\\xfe.json: no such file"]


def test_lock_refuses_a_file_name_that_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / os.fsdecode(b"bad\xff.json")).write_text('{"scene": "a fox"}', encoding="utf-8")
    done = run("lock", b"bad\xff.json", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert b"is not UTF-8" in lines[0]
    assert b"rename" in lines[0]
    assert b"Traceback" not in done.stderr
    assert not (tmp_path / "flux2prompt.lock").exists()


def test_a_prompt_files_metadata_shows_no_control_characters(tmp_path: Path) -> None:
    (tmp_path / "hero.prompt.json").write_text(
        '{"name": "hero", "description": "fine\\u001b[2J", "prompt": {"scene": "a fox"}}',
        encoding="utf-8",
    )
    done = run("validate", "hero.prompt.json", cwd=tmp_path)
    assert done.returncode in (1, 2), done.stdout
    assert b"\x1b" not in done.stdout + done.stderr
    assert b"description" in done.stderr


@given(st.recursive(st.text(), lambda inner: st.lists(inner, max_size=3), max_leaves=6))
def test_json_reports_read_back_the_same_and_show_nothing_a_terminal_acts_on(value: object) -> None:
    from flux2prompt.cli._output import json_report

    text = json_report({"value": value})
    assert json.loads(text) == {"value": value}
    assert not any(char in text for char in ACTIVE)
    assert not any(0xD800 <= ord(char) <= 0xDFFF for char in text)


def test_inspect_json_escapes_a_hostile_file_name(tmp_path: Path) -> None:
    from PIL import Image

    name = "a\u202eevil\u009b2J.png"
    Image.new("RGB", (8, 8)).save(tmp_path / name)
    done = run("inspect", "--json", name, cwd=tmp_path)
    assert done.returncode == 1, done.stderr  # an image without provenance
    assert "\u202e".encode() not in done.stdout
    assert "\u009b".encode() not in done.stdout
    assert json.loads(done.stdout)[0]["image"] == name
