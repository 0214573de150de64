"""The prompt commands: compile, validate, lint, fingerprint, schema.

Each error case checks the contract of the command line: one line per problem, the right exit
code (0 ok, 1 invalid, 2 usage or unreadable input) and never a traceback.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from flux2prompt import PromptValidationError, SourceError, load, schema
from flux2prompt.cli import app
from flux2prompt.cli._output import error_lines, exit_code_for, fail, handle_errors

runner = CliRunner()

CLOUDFLARE_SHAPED: dict[str, Any] = {
    "scene": "a desert at dawn",
    "subjects": [
        {
            "type": "desert nomad",
            "description": "weathered indigo robes",
            "pose": "walking beside a camel",
            "position": "midground",
        }
    ],
    "style": "photorealistic",
    "color_palette": ["#C2B280", "#1B3A5C", "#E07A5F"],
    "composition": "rule of thirds",
    "camera": {"angle": "low angle", "distance": "wide shot", "lens": "35mm", "f-number": "f/8"},
}

GOOD = {"mood": "calm", "scene": "東京の夜", "text": [{"content": "مرحبا", "language": "ar"}]}

BUILDERS = """\
from flux2prompt import scene

hero = scene("a lighthouse at dusk, no people").mood("calm")
clean = scene("a lighthouse at dusk on an empty shore")
"""


def invoke(*args: str) -> Result:
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    def put(name: str, text: str) -> str:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return str(path)

    return {
        "good": put("good.json", json.dumps(GOOD, ensure_ascii=False)),
        "cloudflare": put("cloudflare.json", json.dumps(CLOUDFLARE_SHAPED)),
        "bad": put("bad.json", '{"scene": 3, "lightning": "soft"}'),
        "broken": put("broken.json", '{"scene":\n'),
        "missing": str(tmp_path / "missing.json"),
        "py": put("builders.py", BUILDERS),
    }


# -- compile ----------------------------------------------------------------------------------
def test_compile_prints_raw_utf8_wire_json(files: dict[str, str]) -> None:
    result = invoke("compile", files["good"])
    assert result.exit_code == 0
    wire = '{"scene":"東京の夜","mood":"calm","text":[{"content":"مرحبا","language":"ar"}]}'
    assert result.stdout_bytes == wire.encode("utf-8") + b"\n"
    assert result.stderr == ""


def test_compile_pretty_and_builder_source(files: dict[str, str]) -> None:
    result = invoke("compile", "--pretty", f"{files['py']}:hero")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"scene": "a lighthouse at dusk, no people", "mood": "calm"}
    assert result.stdout.startswith('{\n  "scene"')


def test_compile_prose(files: dict[str, str]) -> None:
    result = invoke("compile", "--prose", f"{files['py']}:hero")
    assert result.exit_code == 0
    expected = load({"scene": "a lighthouse at dusk, no people", "mood": "calm"}).to_prose()
    assert result.stdout == expected + "\n"


def test_compile_pretty_and_prose_conflict(files: dict[str, str]) -> None:
    result = invoke("compile", "--pretty", "--prose", files["good"])
    assert result.exit_code == 2
    assert result.stderr == "error: --pretty and --prose cannot be combined: prose is plain text\n"


def test_compile_invalid_under_profile(files: dict[str, str]) -> None:
    result = invoke("compile", "--profile", "cloudflare", files["good"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {files['good']}: $: missing required key 'subjects'")
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("name", "reason"),
    [("missing", "no such file"), ("broken", "2: invalid JSON at column 1")],
)
def test_compile_unreadable(files: dict[str, str], name: str, reason: str) -> None:
    result = invoke("compile", files[name])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {files[name]}:")
    assert reason in result.stderr
    assert result.stderr.count("\n") == 1


# -- validate ---------------------------------------------------------------------------------
def test_validate_all_valid(files: dict[str, str]) -> None:
    result = invoke("validate", files["good"], f"{files['py']}:hero")
    assert result.exit_code == 0
    assert result.stdout == f"{files['good']}: ok\n{files['py']}:hero: ok\n"


def test_validate_reports_each_problem_with_its_path(files: dict[str, str]) -> None:
    result = invoke("validate", files["good"], files["bad"])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == f"{files['good']}: ok"
    problems = sorted(lines[1:])
    assert (
        problems[0]
        == f"{files['bad']}: $.lightning: unknown key 'lightning'; did you mean 'lighting'?"
    )
    assert problems[1] == f"{files['bad']}: $.scene: expected a string, got integer 3"
    assert len(lines) == 3


def test_validate_unreadable_wins_over_invalid(files: dict[str, str]) -> None:
    result = invoke("validate", files["bad"], files["missing"], files["good"])
    assert result.exit_code == 2
    assert result.stderr == f"error: {files['missing']}: no such file\n"
    assert result.stdout.endswith(f"{files['good']}: ok\n")


def test_cloudflare_shaped_document_validates_under_both_profiles(files: dict[str, str]) -> None:
    for profile in ("flux2", "cloudflare"):
        assert invoke("validate", "-p", profile, files["cloudflare"]).exit_code == 0


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"color_palette": ["#C2B280", "#1B3A5C", "#E07A5F", "#FFFFFF"]}, "$.color_palette"),
        (
            {"subjects": [{**CLOUDFLARE_SHAPED["subjects"][0], "position": "left"}]},
            "$.subjects[0].position",
        ),
        ({"camera": {"lens": "100mm"}}, "$.camera.lens"),
    ],
)
def test_cloudflare_profile_rejects_what_flux2_accepts(
    tmp_path: Path, change: dict[str, object], path: str
) -> None:
    source = tmp_path / "p.json"
    source.write_text(json.dumps({**CLOUDFLARE_SHAPED, **change}), encoding="utf-8")
    assert invoke("validate", str(source)).exit_code == 0
    result = invoke("validate", "--profile", "cloudflare", str(source))
    assert result.exit_code == 1
    assert result.stdout.startswith(f"{source}: {path}: ")
    assert len(result.stdout.splitlines()) == 1


def test_validate_python_source_errors(files: dict[str, str]) -> None:
    result = invoke("validate", f"{files['py']}:hreo")
    assert result.exit_code == 2
    assert (
        result.stderr
        == f"error: {files['py']}: no name 'hreo' in this file; did you mean 'hero'?\n"
    )


def test_usage_errors_exit_2(files: dict[str, str]) -> None:
    assert invoke("validate").exit_code == 2
    assert invoke("validate", "--profile", "dall-e", files["good"]).exit_code == 2


# -- lint -------------------------------------------------------------------------------------
def test_lint_lines(files: dict[str, str]) -> None:
    result = invoke("lint", f"{files['py']}:hero", f"{files['py']}:clean")
    assert result.exit_code == 0
    first, second = result.stdout.splitlines()
    assert first.startswith(f"{files['py']}:hero: F2P101 $.scene: negative phrasing 'no people'")
    assert "(fix: " in first
    assert second == f"{files['py']}:clean: ok"


def test_lint_strict_and_ignore(files: dict[str, str]) -> None:
    assert invoke("lint", "--strict", f"{files['py']}:hero").exit_code == 1
    result = invoke(
        "lint", "--strict", "--ignore", "f2p101,F2P102", "--ignore", "F2P402", f"{files['py']}:hero"
    )
    assert result.exit_code == 0
    assert result.stdout == f"{files['py']}:hero: ok\n"


def test_lint_unknown_code(files: dict[str, str]) -> None:
    result = invoke("lint", "--ignore", "F2P1O1", files["good"])
    assert result.exit_code == 2
    assert result.stderr == "error: --ignore: unknown lint code 'F2P1O1'; did you mean 'F2P101'?\n"
    assert result.stdout == ""


def test_lint_invalid_and_unreadable(files: dict[str, str]) -> None:
    assert invoke("lint", files["bad"]).exit_code == 1
    assert invoke("lint", files["bad"], files["missing"]).exit_code == 2


# -- fingerprint and schema ---------------------------------------------------------------------
def test_fingerprint_is_sha256_of_the_compiled_bytes(files: dict[str, str]) -> None:
    result = invoke("fingerprint", files["good"])
    wire = invoke("compile", files["good"]).stdout_bytes.rstrip(b"\n")
    assert result.exit_code == 0
    assert result.stdout == f"sha256:{hashlib.sha256(wire).hexdigest()}\n"


def test_fingerprint_errors(files: dict[str, str]) -> None:
    assert invoke("fingerprint", files["bad"]).exit_code == 1
    assert invoke("fingerprint", files["missing"]).exit_code == 2


@pytest.mark.parametrize("profile", ["flux2", "cloudflare"])
def test_schema(profile: str) -> None:
    result = invoke("schema", "--profile", profile)
    assert result.exit_code == 0
    assert json.loads(result.stdout) == schema(profile)  # type: ignore[arg-type]


# -- the shared output helpers ----------------------------------------------------------------
def test_error_lines_and_exit_codes() -> None:
    invalid = PromptValidationError([], "flux2")
    unreadable = SourceError("no such file", source="a.json")
    assert exit_code_for(invalid) == 1
    assert exit_code_for(unreadable) == 2
    assert error_lines(unreadable, "a.json") == ["a.json: no such file"]
    assert error_lines(SourceError("bad\nthing"), "b.json") == ["b.json: bad thing"]


def test_handle_errors_and_fail(capsys: pytest.CaptureFixture[str]) -> None:
    @handle_errors("x.json")
    def command() -> None:
        load({"scene": 1})

    with pytest.raises(typer.Exit) as caught:
        command()
    assert caught.value.exit_code == 1
    assert capsys.readouterr().err == "error: x.json: $.scene: expected a string, got integer 1\n"

    with pytest.raises(typer.Exit) as caught:
        fail("no [bold]markup[/bold] :smile:")
    assert caught.value.exit_code == 2
    assert capsys.readouterr().err == "error: no [bold]markup[/bold] :smile:\n"


# -- SOURCE - : standard input -----------------------------------------------------------------
GOOD_TEXT = json.dumps(GOOD, ensure_ascii=False)


def invoke_with_input(data: str | bytes, *args: str) -> Result:
    result = runner.invoke(app, list(args), input=data)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result


def test_compile_reads_stdin() -> None:
    result = invoke_with_input("\ufeff" + GOOD_TEXT, "compile", "-")
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes == load(GOOD).to_json().encode("utf-8") + b"\n"


def test_fingerprint_reads_stdin() -> None:
    result = invoke_with_input(GOOD_TEXT.encode("utf-8"), "fingerprint", "-")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == load(GOOD).fingerprint + "\n"


def test_validate_and_lint_name_stdin(files: dict[str, str]) -> None:
    result = invoke_with_input(GOOD_TEXT, "validate", files["good"], "-")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [f"{files['good']}: ok", "<stdin>: ok"]
    linted = invoke_with_input('{"scene": "a lighthouse at dusk on an empty shore"}', "lint", "-")
    assert linted.exit_code == 0, linted.stderr
    assert linted.stdout == "<stdin>: ok\n"


def test_invalid_prompt_on_stdin() -> None:
    result = invoke_with_input('{"scene": 3}', "validate", "-")
    assert result.exit_code == 1
    assert result.stdout == "<stdin>: $.scene: expected a string, got integer 3\n"
    compiled = invoke_with_input('{"scene": 3}', "compile", "-")
    assert compiled.exit_code == 1
    assert compiled.stderr == "error: <stdin>: $.scene: expected a string, got integer 3\n"


@pytest.mark.parametrize("command", ["compile", "validate", "lint", "fingerprint"])
def test_unreadable_stdin_names_the_line(command: str) -> None:
    result = invoke_with_input('{\n  "scene": "x",\n  "mood": }\n', command, "-")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == "error: <stdin>:3: invalid JSON at column 11: Expecting value\n"


def test_empty_stdin() -> None:
    result = invoke_with_input("", "validate", "-")
    assert result.exit_code == 2
    assert result.stderr == (
        "error: <stdin>: standard input is empty; pipe a JSON prompt document into it\n"
    )


@pytest.mark.parametrize("args", [["validate", "-", "-"], ["lint", "-", "x.json", "-"]])
def test_stdin_given_twice_is_a_usage_error(args: list[str]) -> None:
    result = invoke_with_input(GOOD_TEXT, *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == "error: SOURCE - (standard input) can be given only once\n"


# -- the installed command, in a real process -------------------------------------------------
ENTRY_POINT = Path(sys.executable).with_name("flux2-prompt")


@pytest.mark.skipif(not ENTRY_POINT.exists(), reason="flux2-prompt is not installed in this venv")
def test_installed_entry_point(files: dict[str, str]) -> None:
    env = {**os.environ, "LANG": "C", "LC_ALL": "C", "PYTHONIOENCODING": "ascii"}

    def run(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [str(ENTRY_POINT), *args], capture_output=True, env=env, timeout=60, check=False
        )

    compiled = run("compile", files["good"])
    assert compiled.returncode == 0, compiled.stderr
    assert "東京の夜".encode() in compiled.stdout  # raw UTF-8 even under an ASCII locale
    assert json.loads(compiled.stdout) == load(Path(files["good"])).to_dict()

    validated = run("validate", files["good"], files["bad"])
    assert validated.returncode == 1
    assert validated.stdout.decode().splitlines()[0] == f"{files['good']}: ok"

    broken = run("fingerprint", files["broken"])
    assert broken.returncode == 2
    assert broken.stderr.count(b"\n") == 1
    assert b"Traceback" not in broken.stderr


@pytest.mark.skipif(not ENTRY_POINT.exists(), reason="flux2-prompt is not installed in this venv")
def test_installed_entry_point_reads_stdin_through_a_pipe() -> None:
    env = {**os.environ, "LANG": "C", "LC_ALL": "C", "PYTHONIOENCODING": "ascii"}

    def run(data: str, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [str(ENTRY_POINT), *args],
            input=data.encode("utf-8"),
            capture_output=True,
            env=env,
            timeout=60,
            check=False,
        )

    valid = run(GOOD_TEXT, "validate", "-")
    assert (valid.returncode, valid.stdout, valid.stderr) == (0, b"<stdin>: ok\n", b"")

    # The prompt's Japanese comes back in the message as raw UTF-8, under an ASCII locale.
    invalid = run('{"scene": "東京の夜", "mood": ["静か"]}', "validate", "-")
    assert invalid.returncode == 1, invalid.stderr
    assert invalid.stdout.decode("utf-8") == (
        '<stdin>: $.mood: expected a string, got array ["静か"]\n'
    )
    assert invalid.stderr == b""

    missing = run("", "validate", "存在しない.json")
    assert missing.returncode == 2
    assert missing.stderr.decode("utf-8") == "error: 存在しない.json: no such file\n"

    twice = run(GOOD_TEXT, "validate", "-", "-")
    assert twice.returncode == 2
    assert twice.stderr == b"error: SOURCE - (standard input) can be given only once\n"


def test_every_prompt_command_is_documented() -> None:
    from flux2prompt.cli import _prompt

    docs = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text(encoding="utf-8")
    names = [
        info.name or info.callback.__name__
        for info in app.registered_commands
        if info.callback is not None and info.callback.__module__ == _prompt.__name__
    ]
    assert sorted(names) == ["compile", "fingerprint", "lint", "schema", "validate"]
    for name in names:
        assert f"## `{name}`" in docs
