"""What a prompt document holds that JSON has no form for, or that is not an object, as every
command that reads it reports it: a TOML ``nan`` is named as such (not "out of range; write a
smaller number"), ``inf`` as too large; a document that is not an object says what it is in
JSON's words (``null``, ``a string``), not Python's (``NoneType``, ``str``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

COMMAND = str(Path(sys.executable).with_name("flux2-prompt"))


@pytest.mark.parametrize("command", ["validate", "compile", "fingerprint"])
@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("nan", "$.prompt.camera.ISO: nan (not a number) has no JSON form; write a number"),
        ("-nan", "$.prompt.camera.ISO: nan (not a number) has no JSON form; write a number"),
        ("inf", "$.prompt.camera.ISO: the number is out of the range of a JSON number"),
    ],
)
def test_a_toml_number_without_a_json_form(
    tmp_path: Path, command: str, value: str, said: str
) -> None:
    (tmp_path / "p.prompt.toml").write_text(
        f'name = "p"\n[prompt]\nscene = "x"\n[prompt.camera]\nISO = {value}\n', encoding="utf-8"
    )
    done = subprocess.run(
        [COMMAND, command, "p.prompt.toml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith(f"error: p.prompt.toml: {said}")
    assert done.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("text", "kind"),
    [("null", "null"), ('"a fox"', "a string"), ("true", "true"), ("42", "a number"),
     ("[1]", "an array")],
)  # fmt: skip
def test_a_document_that_is_not_an_object_says_what_it_is_in_json_words(
    tmp_path: Path, text: str, kind: str
) -> None:
    (tmp_path / "p.json").write_text(text, encoding="utf-8")
    done = subprocess.run(
        [COMMAND, "validate", "p.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout == f"p.json: $: a prompt must be a JSON object, got {kind}\n"
