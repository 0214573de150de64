"""The ``flux2-prompt`` entry point: usage errors and system errors are one line, never a
traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

import flux2prompt.cli._prompt as prompt_commands
from flux2prompt.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 1), out, err


def test_no_arguments_show_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run([], capsys)
    assert code == 0
    assert "compile" in out
    assert "batch" in out


def test_a_usage_error_is_one_line_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["compile", "x.json", "--profile", "nope"], capsys)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("error: ")
    assert "--profile" in err
    assert "flux2-prompt compile --help" in err


def test_an_unknown_option_names_itself(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["validate", "--bogus"], capsys)
    assert code == 2
    assert err == "error: No such option: --bogus (see 'flux2-prompt validate --help')\n"


def test_a_refusal_from_the_system_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(*args: object, **kwargs: object) -> object:
        raise OSError(28, "No space left on device", "/data/out.json")

    monkeypatch.setattr(prompt_commands, "resolve_source", full_disk)
    code, _, err = run(["compile", "anything.json"], capsys)
    assert code == 1
    assert err == "error: No space left on device: /data/out.json\n"


def test_a_batch_output_folder_that_cannot_exist_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    job = EXAMPLES / "batch" / "job.toml"
    code, _, err = run(["batch", str(job), "--out", str(blocker / "out"), "--emulator"], capsys)
    assert code == 2
    assert "cannot create the output folder" in err
    assert "Traceback" not in err
