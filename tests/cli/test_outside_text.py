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


# Characters a --json document writes as \u escapes (docs/cli.md, "Machine-readable output").
ESCAPED = "\x7f\x85\x9b\u061c\u200e\u200f\u2028\u2029\u202a\u202e\u2066\u2069"


@given(
    st.recursive(
        st.text(),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
        max_leaves=8,
    )
)
def test_json_reports_escape_keys_too(value: object) -> None:
    from flux2prompt.cli._output import json_report

    text = json_report({"k\u2028\u009b": value})
    assert json.loads(text) == {"k\u2028\u009b": value}
    assert not any(char in text for char in ESCAPED)
    assert not any(0xD800 <= ord(char) <= 0xDFFF for char in text)


HOSTILE = "h\u009b2J\u202eevil\u2028\u200f"


def _no_raw_escapes(done: subprocess.CompletedProcess[bytes]) -> object:
    assert b"Traceback" not in done.stdout + done.stderr
    text = done.stdout.decode("utf-8")
    assert [hex(ord(c)) for c in text if c in ESCAPED] == []
    return json.loads(text)


def test_every_json_document_escapes_a_hostile_file_name_and_reads_back_equal(
    tmp_path: Path,
) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.flux2prompt]\n", encoding="utf-8")
    # Prompt text may hold line separators and marks (they are not controls): escaped too.
    first = tmp_path / f"{HOSTILE}.prompt.json"
    first.write_text(
        json.dumps({"name": "n1", "prompt": {"scene": "a fox\u2028\u200f in snow"}}),
        encoding="utf-8",
    )
    second = tmp_path / f"b{HOSTILE}.json"
    second.write_text(json.dumps({"scene": "a hare\u2029 in snow", "mood": 1}), encoding="utf-8")

    validated = _no_raw_escapes(run("validate", "--json", first.name, second.name, cwd=tmp_path))
    assert isinstance(validated, dict)
    assert [r["file"] for r in validated["results"]] == [first.name, second.name]
    linted = _no_raw_escapes(run("lint", "--json", first.name, cwd=tmp_path))
    assert isinstance(linted, dict)
    assert linted["results"][0]["file"] == first.name

    second.write_text(json.dumps({"scene": "a hare\u2029 in snow"}), encoding="utf-8")
    diffed = _no_raw_escapes(run("diff", "--json", first.name, second.name, cwd=tmp_path))
    assert isinstance(diffed, dict)
    assert (diffed["a"], diffed["b"]) == (first.name, second.name)
    assert {"op": "changed", "path": "$.scene", "old": "a fox\u2028\u200f in snow",
            "new": "a hare\u2029 in snow"} in diffed["prompt"]  # fmt: skip

    assert run("lock", cwd=tmp_path).returncode == 0
    first.write_text(
        json.dumps({"name": "n1", "prompt": {"scene": "changed\u2028"}}), encoding="utf-8"
    )
    checked = _no_raw_escapes(run("lock", "--check", "--json", cwd=tmp_path))
    assert isinstance(checked, dict)
    assert checked["ok"] is False
    assert first.name in json.dumps(checked, ensure_ascii=False)

    image = f"out{HOSTILE}.png"
    made = _no_raw_escapes(
        run("generate", second.name, "--out", image, "--emulator", "--json", cwd=tmp_path)
    )
    assert isinstance(made, dict)
    assert made["path"] == image
    inspected = _no_raw_escapes(run("inspect", "--json", image, cwd=tmp_path))
    assert isinstance(inspected, list)
    assert inspected[0]["image"] == image
    assert inspected[0]["provenance"]["source"] == second.name


def test_generate_records_a_source_whose_name_is_not_utf8(tmp_path: Path) -> None:
    name = b"bad\xff.json"
    (tmp_path / os.fsdecode(name)).write_text('{"scene": "a fox"}', encoding="utf-8")
    done = run("generate", name, "--out", "fox.png", "--emulator", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert b"Traceback" not in done.stderr
    inspected = run("inspect", "--json", "fox.png", cwd=tmp_path)
    record = json.loads(inspected.stdout)[0]["provenance"]
    assert record["source"] == "bad\\udcff.json"  # the byte that is not UTF-8, as an escape
