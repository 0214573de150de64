"""The one error-reporting mechanism of the command line: lines, exit codes, warnings."""

from __future__ import annotations

import warnings

import pytest
import typer

from flux2prompt import PromptError, SourceError
from flux2prompt.cli._output import error_lines, exit_code_for, handle_errors, print_error
from flux2prompt.transport import APIConnectionError, ConfigurationError, ImageError, ParameterError


def test_usage_errors_exit_2_and_the_rest_1() -> None:
    assert exit_code_for(SourceError("no such file", source="a.json")) == 2
    assert exit_code_for(ParameterError("width must be 256-1920")) == 2
    assert exit_code_for(ImageError("cannot read the file")) == 2
    assert exit_code_for(ConfigurationError("CLOUDFLARE_ACCOUNT_ID is not set")) == 2
    assert exit_code_for(PromptError("bad")) == 1
    assert exit_code_for(APIConnectionError("connection refused")) == 1


def test_a_retried_request_says_how_often() -> None:
    exc = APIConnectionError("connection refused", hint="")
    assert error_lines(exc) == ["connection refused"]
    exc.attempts = 3
    assert error_lines(exc) == ["connection refused (gave up after 3 attempts)"]


def test_warnings_come_before_the_error(capsys: pytest.CaptureFixture[str]) -> None:
    def command() -> None:
        with handle_errors(show_warnings=True):
            warnings.warn("model 'x' is not in the catalogue", stacklevel=1)
            raise ParameterError("width must be 256-1920")

    with pytest.raises(typer.Exit) as caught:
        command()
    assert caught.value.exit_code == 2
    assert capsys.readouterr().err == (
        "warning: model 'x' is not in the catalogue\nerror: width must be 256-1920\n"
    )


def test_warnings_are_shown_on_success_and_after_a_commands_own_exit(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with handle_errors(show_warnings=True):
        warnings.warn("first", stacklevel=1)
    assert capsys.readouterr().err == "warning: first\n"

    def interrupted() -> None:
        with handle_errors(show_warnings=True):
            warnings.warn("second", stacklevel=1)
            print_error("interrupted")
            raise typer.Exit(130)

    with pytest.raises(typer.Exit):
        interrupted()
    assert capsys.readouterr().err == "error: interrupted\nwarning: second\n"


def test_without_show_warnings_warnings_are_not_caught() -> None:
    with pytest.warns(UserWarning, match="left alone"), handle_errors():
        warnings.warn("left alone", stacklevel=1)
