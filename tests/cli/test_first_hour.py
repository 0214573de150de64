"""What a new user meets first: help that fits a terminal, usage errors that point at the right
help, Ctrl+C, colours, and the mistakes of a first hour (an empty file, an empty ``--out``).

Every case runs the installed ``flux2-prompt`` in a subprocess, over real files.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from flux2prompt.transport import read_provenance

COMMAND = str(Path(sys.executable).with_name("flux2-prompt"))
ROOT = Path(__file__).resolve().parents[2]

PROMPTS = """\
from flux2prompt import scene

hero = scene("a lighthouse at dusk").style("oil painting")
"""


def run(
    cwd: Path, *args: str, env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [COMMAND, *args],
        cwd=cwd,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "prompts.py").write_text(PROMPTS, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    "command", ["", "compile", "validate", "lint", "fingerprint", "schema", "generate"]
)
def test_help_fits_an_80_column_terminal(command: str, folder: Path) -> None:
    # rich cuts a word that does not fit its column with an ellipsis: an option's name, or
    # the variable that holds the account id, would be unreadable.
    done = run(folder, *command.split(), "--help", env={"COLUMNS": "80"})
    assert done.returncode == 0
    assert "\u2026" not in done.stdout, done.stdout
    assert max(len(line) for line in done.stdout.splitlines()) <= 80
    if command == "generate":
        assert "--no-prompt-upsampling" in done.stdout
        assert "$CLOUDFLARE_ACCOUNT_ID)" in done.stdout


def test_prompt_upsampling_can_be_turned_off_or_on_but_not_both(folder: Path) -> None:
    out = folder / "flex.jpg"
    args = ["generate", "prompts.py:hero", "--out", str(out), "--emulator", "--model", "flex"]
    args += ["--width", "64", "--height", "64"]
    for flag, sent in (("--no-prompt-upsampling", False), ("--prompt-upsampling", True)):
        done = run(folder, *args, flag)
        assert done.returncode == 0, done.stderr
        assert read_provenance(out.read_bytes()).parameters["prompt_upsampling"] is sent
    both = run(folder, *args, "--prompt-upsampling", "--no-prompt-upsampling")
    assert both.returncode == 2
    assert both.stderr == (
        "error: --prompt-upsampling and --no-prompt-upsampling cannot be combined: give one\n"
    )


@pytest.mark.parametrize(
    ("args", "help_of"),
    [
        (["fingerprint", "prompts.py:hero", "-p"], "flux2-prompt fingerprint"),
        (["compile", "prompts.py:hero", "--target"], "flux2-prompt compile"),
        (["manifest", "merge", "--out"], "flux2-prompt manifest merge"),
    ],
)
def test_an_option_without_its_value_points_at_the_commands_help(
    args: list[str], help_of: str, folder: Path
) -> None:
    done = run(folder, *args)
    assert done.returncode == 2
    assert done.stderr.endswith(f"requires an argument. (see '{help_of} --help')\n"), done.stderr
    assert done.stderr.count("\n") == 1


INTERRUPT_WHILE_LOADING = """\
import importlib.abc
import os
import signal
import sys


class Interrupt(importlib.abc.MetaPathFinder):
    # Ctrl+C while the command's module loads: a real SIGINT, at a moment chosen exactly.
    def find_spec(self, name, path=None, target=None):
        if name == "flux2prompt.cli._prompt":
            os.kill(os.getpid(), signal.SIGINT)
        return None


sys.meta_path.insert(0, Interrupt())
"""


def test_ctrl_c_while_the_command_loads_exits_130_without_a_traceback(folder: Path) -> None:
    hook = folder / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(INTERRUPT_WHILE_LOADING, encoding="utf-8")
    done = run(folder, "validate", "prompts.py:hero", env={"PYTHONPATH": str(hook)})
    assert (done.returncode, done.stdout, done.stderr) == (130, "", "")


def _on_a_terminal(cwd: Path, *args: str) -> bytes:
    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            [COMMAND, *args],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=follower,
            stderr=follower,
            env={k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM")}
            | {"TERM": "xterm-256color"},
        )
        process.wait(timeout=120)
    finally:
        os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return b"".join(chunks)


def test_on_a_terminal_only_the_word_error_is_red(folder: Path) -> None:
    shown = _on_a_terminal(folder, "compile", "missing.json").decode()
    assert "missing.json: no such file" in shown
    # The colour is switched off right after "error:": the message keeps the terminal's own.
    assert re.search(r"\x1b\[[0-9;]*31merror:\x1b\[0m missing\.json: no such file\r?\n", shown), (
        repr(shown)
    )


def test_flux3_from_standard_input_is_named_stdin(folder: Path) -> None:
    done = run(folder, "compile", "--target", "flux3", "-", stdin='{"scene": "x"}')
    assert done.returncode == 2
    assert done.stderr.startswith("error: <stdin>: the flux3 target needs path/to/file.py:NAME")


@pytest.mark.parametrize(
    ("out", "message"),
    [
        ("", "--out is empty or the current folder; name an image file, such as --out hero.jpg"),
        ("sub", "--out sub: is a folder; give a file name such as sub/image.jpg"),
    ],
)
def test_an_out_that_names_no_file_is_refused_before_sending(
    out: str, message: str, folder: Path
) -> None:
    (folder / "sub").mkdir()
    done = run(folder, "generate", "prompts.py:hero", "--out", out, "--emulator")
    assert (done.returncode, done.stdout, done.stderr) == (2, "", f"error: {message}\n")


def test_an_empty_json_file_says_it_is_empty(folder: Path) -> None:
    (folder / "empty.json").write_text("\n", encoding="utf-8")
    for command in ("validate", "compile", "lint"):
        done = run(folder, command, "empty.json")
        assert done.returncode == 2
        assert done.stderr == (
            'error: empty.json: is empty; write a JSON prompt document in it, such as {"scene": '
            '"..."}\n'
        )


def test_generate_json_has_the_fields_docs_cli_md_shows(folder: Path) -> None:
    page = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    section = page.split("### `generate --json`", 1)[1]
    block = section.split("```json\n", 1)[1].split("```", 1)[0]
    documented = json.loads(block.replace('"sha256:..."', '"x"'))
    done = run(folder, "generate", "prompts.py:hero", "--out", "hero.jpg", "--emulator", "--json")
    assert done.returncode == 0, done.stderr
    assert list(json.loads(done.stdout)) == list(documented)


def test_python_dash_m_flux2prompt_is_the_same_command(folder: Path) -> None:
    for args in (["--version"], ["compile", "prompts.py:hero"], ["valdate", "x"]):
        module = subprocess.run(
            [sys.executable, "-m", "flux2prompt", *args],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        script = run(folder, *args)
        assert (module.returncode, module.stdout, module.stderr) == (
            script.returncode,
            script.stdout,
            script.stderr,
        )
    assert module.returncode == 2
    assert "Did you mean 'validate'?" in module.stderr


@pytest.mark.parametrize("profile", ["flux2", "cloudflare"])
def test_the_printed_schema_works_alone_in_another_validator(profile: str, folder: Path) -> None:
    # docs/cli.md: `flux2-prompt schema --profile cloudflare > cloudflare-flux2.schema.json`,
    # "useful for editors and other validators": the file must need nothing else.
    import jsonschema

    done = run(folder, "schema", "--profile", profile)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    jsonschema.Draft202012Validator.check_schema(printed)
    validator = jsonschema.Draft202012Validator(printed)  # no registry: the file alone
    subject = {"type": "fox", "description": "a red fox", "pose": "trotting"}
    good = {"scene": "a birch forest", "subjects": [{**subject, "position": "foreground"}]}
    assert list(validator.iter_errors(good)) == []
    unknown_key = {**good, "lightning": "soft"}  # a rule of the flux2 schema
    assert [e.validator for e in validator.iter_errors(unknown_key)] == ["additionalProperties"]
    free_position = {**good, "subjects": [{**subject, "position": "left"}]}
    assert validator.is_valid(free_position) is (profile == "flux2")


@pytest.mark.parametrize("command", ["compile", "fingerprint"])
def test_a_closed_or_full_standard_output_is_one_line(command: str, folder: Path) -> None:
    closed = subprocess.run(
        ["sh", "-c", f'exec "$0" {command} prompts.py:hero >&-', COMMAND],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (closed.returncode, closed.stderr) == (
        1,
        "error: standard output is closed, so the result cannot be written\n",
    )
    if not Path("/dev/full").exists():
        return
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [COMMAND, command, "prompts.py:hero"],
            cwd=folder,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    assert (done.returncode, done.stderr) == (
        1,
        "error: cannot write the result to standard output: No space left on device\n",
    )


def test_a_python_source_that_is_not_utf8_says_so(folder: Path) -> None:
    (folder / "latin.py").write_bytes(b'from flux2prompt import scene\nx = scene("caf\xe9")\n')
    done = run(folder, "compile", "latin.py:x")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "error: latin.py:2: not UTF-8 text; save the file as UTF-8 (or declare its encoding on "
        "its first line, such as # -*- coding: latin-1 -*-)\n"
    )


@pytest.mark.parametrize(
    "command", ["compile", "validate", "lint", "fingerprint", "schema", "generate"]
)
def test_the_examples_in_each_help_run(command: str, tmp_path: Path) -> None:
    # From a folder that holds the repository's docs/ and examples/, as from its root; a
    # generate example that would reach a real service gets the emulator instead.
    for name in ("docs", "examples"):
        (tmp_path / name).symlink_to(ROOT / name)
    page = run(tmp_path, command, "--help", env={"COLUMNS": "200"}).stdout
    examples = [line.strip()[2:] for line in page.splitlines() if line.strip().startswith("$ ")]
    assert examples, page
    for example in examples:
        assert example.startswith(f"flux2-prompt {command}"), example
        if command == "generate" and "--emulator" not in example:
            example += " --emulator"
        done = subprocess.run(
            example.replace("flux2-prompt", f'"{COMMAND}"', 1),
            shell=True,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, (example, done.stderr)
        assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["compile", "-t", "FLUX3"], "--target 'FLUX3': use flux2 or flux3; did you mean 'flux3'?"),
        (
            ["generate", "-o", "a.jpg", "--provider", "bfll"],
            "--provider 'bfll': use workers-ai or bfl; did you mean 'bfl'?",
        ),
        (
            ["generate", "-o", "a.jpg", "--prompt-format", "jsn"],
            "--prompt-format 'jsn': use auto, json or prose; did you mean 'json'?",
        ),
        (
            ["generate", "-o", "a.jpg", "--prompt-format", "xyz"],
            "--prompt-format 'xyz': use auto, json or prose",
        ),
    ],
)
def test_a_misspelt_choice_gets_a_suggestion(args: list[str], message: str, folder: Path) -> None:
    done = run(folder, *args, "prompts.py:hero")
    assert (done.returncode, done.stdout, done.stderr) == (2, "", f"error: {message}\n")


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_transport_advice_is_in_the_command_lines_words(folder: Path) -> None:
    # The library's advice names keyword arguments (api_token=, base_url=, max_retries); a
    # command takes options, and never a key or a token.
    from flux2prompt.emulator import serve

    generate = ["generate", "prompts.py:hero", "--out", "hero.jpg"]
    cloudflare = {"CLOUDFLARE_ACCOUNT_ID": "acc", "CLOUDFLARE_API_TOKEN": "wrong"}
    with serve(token="right") as emulator:
        refused = run(folder, *generate, "--base-url", emulator.base_url, env=cloudflare)
    unreachable = f"http://127.0.0.1:{_closed_port()}/client/v4"
    results = [
        refused,
        run(folder, *generate, "--base-url", "not-a-url", env=cloudflare),
        run(folder, *generate, "--base-url", unreachable, env=cloudflare),
        run(folder, *generate, "--provider", "bfl", env={"BFL_API_KEY": ""}),
    ]
    assert [done.returncode for done in results] == [1, 2, 1, 2]
    for done in results:
        assert done.stderr.count("\n") == 1, done.stderr
        for library_word in ("api_token=", "api_key=", "base_url", "max_retries", "region="):
            assert library_word not in done.stderr, done.stderr
    assert "Check CLOUDFLARE_API_TOKEN: it must be a valid API token" in refused.stderr
    assert "error: --base-url must be an http:// or https:// URL" in results[1].stderr
    assert results[2].stderr.endswith(
        "Check the network and the base URL (--base-url or CLOUDFLARE_BASE_URL), then run the "
        "command again.\n"
    )
    assert results[3].stderr == (
        "error: Black Forest Labs needs an API key: set BFL_API_KEY (keys are made at "
        "dashboard.bfl.ai). Or try it without an account: --emulator\n"
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--width", "100"], "--width must be 256-1920 for flux-2-dev, got 100"),
        (["--seed", "-1"], "--seed must be 0-18446744073709551615 for flux-2-dev, got -1"),
        (
            ["--model", "klein-4b", "--steps", "8"],
            "flux-2-klein-4b does not take steps (fixed at 4): drop --steps",
        ),
    ],
)
def test_a_refused_parameter_is_named_as_its_option(
    options: list[str], message: str, folder: Path
) -> None:
    done = run(folder, "generate", "prompts.py:hero", "-o", "x.jpg", "--emulator", *options)
    assert (done.returncode, done.stderr) == (2, f"error: {message}\n")
    (folder / "wide.prompt.toml").write_text(
        'name = "wide"\n[prompt]\nscene = "a"\n[parameters]\nwidth = 100\n', encoding="utf-8"
    )
    from_file = run(folder, "generate", "wide.prompt.toml", "-o", "x.jpg", "--emulator")
    assert from_file.stderr == (
        "error: wide.prompt.toml: [parameters] width: width must be 256-1920 for flux-2-dev, "
        "got 100\n"
    )


@pytest.mark.parametrize("command", ["validate", "compile"])
def test_typing_a_prompt_on_the_terminal_says_how_to_end_it(command: str, folder: Path) -> None:
    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            [COMMAND, command, "-"],
            cwd=folder,
            stdin=follower,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        os.write(leader, b'{"scene": "a lighthouse"}\n\x04')  # Ctrl+D ends the input
        out, err = process.communicate(timeout=120)
    finally:
        os.close(follower)
        os.close(leader)
    assert process.returncode == 0, err
    assert err.decode() == (
        "reading a JSON prompt from standard input: paste it, then press Ctrl+D on a line of "
        "its own (Ctrl+Z, Enter on Windows)\n"
    )
    assert out.decode() in ("<stdin>: ok\n", '{"scene":"a lighthouse"}\n')
    piped = run(folder, command, "-", stdin='{"scene": "a lighthouse"}')
    assert piped.stderr == ""  # not said when the prompt comes from a pipe


def test_a_layout_the_host_ran_stays_inside_the_reports_column(tmp_path: Path) -> None:
    out = tmp_path / "cafe.png"
    done = run(
        ROOT,
        *["generate", "--target", "flux3", "examples/cafe_layout.py:prompt", "--out", str(out)],
        *["--emulator", "--provider", "bfl"],
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    ran = next(i for i, line in enumerate(lines) if line.startswith("  ran       "))
    assert lines[ran].startswith("  ran       Early morning in a small café")
    table = lines[ran + 1 :]
    assert table[0] == ""  # the blank line between the caption and its table
    assert table[1] == " " * 12 + "["
    assert all(line.startswith(" " * 12) for line in table[1:])
    assert table[-1] == " " * 12 + "]"
