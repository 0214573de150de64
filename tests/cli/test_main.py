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


def test_no_arguments_show_the_help_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run([], capsys)
    assert code == 2
    assert "compile" in out
    assert "batch" in out


def test_a_group_alone_shows_its_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["manifest"], capsys)
    assert code == 2
    assert "merge" in out
    assert out.count("Usage:") == 1


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    from flux2prompt import __version__

    code, out, err = run([flag], capsys)
    assert (code, out, err) == (0, f"flux2-prompt {__version__}\n", "")


@pytest.mark.parametrize("args", [["-h"], ["validate", "-h"], ["manifest", "merge", "-h"]])
def test_dash_h_is_help(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(args, capsys)
    assert code == 0
    assert "Usage: flux2-prompt" in out
    assert "-h" in out


def _all_help(capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    from flux2prompt.cli import _COMMAND_MODULES

    pages = {}
    for name in [*_COMMAND_MODULES, "manifest merge"]:
        code, out, _ = run([*name.split(), "--help"], capsys)
        assert code == 0, name
        pages[name] = out
    code, pages[""], _ = run(["--help"], capsys)
    return pages


def test_help_is_written_for_people(capsys: pytest.CaptureFixture[str]) -> None:
    for name, page in _all_help(capsys).items():
        for leak in ("<bool>", "<list", "<int", "<str>", "<path>", "<float", "[x>=", " .\n"):
            assert leak not in page, (name, leak)
        assert " . " not in page.replace("...", ""), name
        assert "{" not in page.split("\n\n")[1], name  # the usage line: SOURCE, not {SOURCE}
    assert "Usage: flux2-prompt validate [OPTIONS] SOURCE..." in _all_help(capsys)["validate"]
    assert "Usage: flux2-prompt batch [OPTIONS] JOB" in _all_help(capsys)["batch"]


def test_help_does_not_break_sentences(capsys: pytest.CaptureFixture[str]) -> None:
    page = _all_help(capsys)["validate"]
    # The docstring wraps after "named by"; the help rewraps the paragraph as a whole.
    assert "named by \n" not in page.replace("  ", " ")
    assert "named by" in page


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts(
    shell: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # typer detects the shell from the process tree; its own switch lets a test choose one.
    monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")
    code, out, _ = run(["--show-completion", shell], capsys)
    assert code == 0
    assert "_FLUX2_PROMPT_COMPLETE" in out
    assert f"complete_{shell}" in out


def test_completion_completes_command_names(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("_FLUX2_PROMPT_COMPLETE", "complete_bash")
    monkeypatch.setenv("COMP_WORDS", "flux2-prompt val")
    monkeypatch.setenv("COMP_CWORD", "1")
    code, out, _ = run([], capsys)
    assert (code, out.split()) == (0, ["validate"])


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
