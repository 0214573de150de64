"""TOML numbers JSON has no form for, as every command that reads a prompt file reports them:
``nan`` is named as such (not "out of range; write a smaller number"), ``inf`` as too large."""

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
