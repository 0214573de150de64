"""The emulator as a process: ``spawn()``, ``python -m flux2prompt.emulator`` and the CLI."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
import pytest
import typer

from flux2prompt.emulator import EmulatorConfig, spawn
from flux2prompt.emulator.__main__ import build_parser

DEV = "@cf/black-forest-labs/flux-2-dev"
BANNER = "flux2prompt emulator listening on http://127.0.0.1:"


def run_url(base_url: str) -> str:
    return f"{base_url}/accounts/acc/ai/run/{DEV}"


def test_spawn_serves_and_terminates() -> None:
    fields = {"prompt": (None, "x"), "width": (None, "256"), "height": (None, "256")}
    with spawn(EmulatorConfig(token="s3cret"), error_ratios={503: 0.0}) as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        assert base_url.endswith("/client/v4")
        good = httpx.post(
            run_url(base_url), files=fields, headers={"Authorization": "Bearer s3cret"}
        )
        bad = httpx.post(run_url(base_url), files=fields, headers={"Authorization": "Bearer nope"})
        assert good.status_code == 200
        assert bad.status_code == 401
        port = urlsplit(base_url).port
    assert port is not None
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 1):
        pass


def test_spawn_reports_a_child_that_cannot_start() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        expected = r"exited with status 1 before listening"
        with pytest.raises(RuntimeError, match=expected), spawn(port=port):
            pass  # pragma: no cover


def start(command: list[str]) -> tuple[subprocess.Popen[str], str]:
    env = {key: value for key, value in os.environ.items() if key != "FLUX2PROMPT_EMULATOR_TOKEN"}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_module_prints_one_line_and_exits_cleanly(signum: signal.Signals) -> None:
    command = [sys.executable, "-m", "flux2prompt.emulator", "--port", "0", "--format", "png"]
    process, line = start(command)
    try:
        assert line.startswith(BANNER)
        assert line.endswith("/client/v4")
        assert httpx.get(line.split()[-1]).status_code == 400  # no route: 400 / 7000
    finally:
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr
    assert stdout == ""
    assert stderr == ""


def test_module_rejects_bad_options() -> None:
    command = [sys.executable, "-m", "flux2prompt.emulator", "--error-503", "2"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2
    assert "error_ratios[503] must be between 0.0 and 1.0" in result.stderr


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ["--error-503", "2"],
            "error_ratios[503] must be between 0.0 and 1.0, got 2.0 (option --error-503)",
        ),
        (["--port", "70000"], "port must be <= 65535, got 70000 (option --port)"),
        (["--bfl-credits", "-1"], "bfl_credits must be >= 0.0, got -1.0 (option --bfl-credits)"),
        (["--bfl-content-moderated", "2"], "(option --bfl-content-moderated)"),
        (["--code-4006", "0.7", "--error-500", "0.7"], "(the --error-* and --code-* options)"),
    ],
)
def test_both_command_lines_name_the_option_a_bad_value_came_from(
    args: list[str], said: str
) -> None:
    from typer.testing import CliRunner

    from flux2prompt.cli._emulator import emulator

    module = [sys.executable, "-m", "flux2prompt.emulator", *args]
    result = subprocess.run(module, capture_output=True, text=True, timeout=30, check=False)
    assert (result.returncode, result.stdout) == (2, "")
    assert said in result.stderr
    command = CliRunner().invoke(_single(emulator), args)
    assert command.exit_code == 2
    assert said in command.output
    assert "Traceback" not in result.stderr + command.output


def _single(function: Callable[..., None]) -> typer.Typer:
    # The shared app collapses to its only command while it has one, so the CLI tests wrap the
    # command in an app of their own; test_cli_is_registered_on_the_app covers registration.
    app = typer.Typer(add_completion=False)
    app.command()(function)
    return app


def test_cli_has_the_same_options_as_the_module() -> None:
    from flux2prompt.cli._emulator import emulator

    command = typer.main.get_command(_single(emulator))
    cli_options = {opt for param in command.params for opt in param.opts if opt != "--help"}
    module_options = {
        opt
        for action in build_parser()._actions
        for opt in action.option_strings
        if opt not in ("-h", "--help")
    }
    assert cli_options == module_options


def test_cli_is_registered_on_the_app() -> None:
    from flux2prompt.cli._app import app

    names = [info.name for info in app.registered_commands]
    assert "emulator" in names


def test_cli_serves_until_sigterm() -> None:
    script = (
        "import typer; from flux2prompt.cli._emulator import emulator; "
        "app = typer.Typer(add_completion=False); app.command()(emulator); app()"
    )
    process, line = start([sys.executable, "-c", script, "--port", "0", "--seed", "3"])
    try:
        assert line.startswith(BANNER)
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr


def test_cli_rejects_bad_options() -> None:
    from typer.testing import CliRunner

    from flux2prompt.cli._emulator import emulator

    result = CliRunner().invoke(_single(emulator), ["--drop", "1.5"])
    assert result.exit_code == 2
    assert "error: drop_ratio must be between 0.0 and 1.0" in result.output


def test_cli_token_variable_matches_the_module() -> None:
    from flux2prompt.cli import _emulator
    from flux2prompt.emulator._config import TOKEN_ENV_VAR

    assert TOKEN_ENV_VAR == _emulator._TOKEN_ENV_VAR


def test_without_pillow_the_cli_imports_and_the_emulator_explains() -> None:
    script = (
        "import sys; sys.modules['PIL'] = None\n"
        "import flux2prompt.cli._emulator\n"
        "try:\n    import flux2prompt.emulator\n"
        "except ImportError as exc:\n    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=True
    )
    assert (
        "flux2prompt.emulator needs Pillow: pip install 'flux2-prompt[emulator]'" in result.stdout
    )


def test_a_port_in_use_is_one_line_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    from typer.testing import CliRunner

    from flux2prompt.cli._emulator import emulator
    from flux2prompt.emulator.__main__ import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = CliRunner().invoke(_single(emulator), ["--port", port])
        assert result.exit_code == 1
        assert result.output.startswith(f"error: cannot listen on 127.0.0.1:{port}: ")
        assert "pick another --port" in result.output
        assert "Traceback" not in result.output
        with pytest.raises(SystemExit) as info:
            main(["--port", port])
        assert info.value.code == 1
        assert f"error: cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
