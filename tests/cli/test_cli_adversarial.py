"""The installed ``flux2-prompt`` against hostile input: Ctrl+C at any moment, bytes that are not
UTF-8 on standard input, files that hold nothing but a byte-order mark.

Every case runs the installed command in a subprocess, as a user's shell does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

COMMAND = str(Path(sys.executable).with_name("flux2-prompt"))


def run(
    cwd: Path, *args: str, env: dict[str, str] | None = None, stdin: bytes = b""
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [COMMAND, *args],
        cwd=cwd,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
        input=stdin,
        capture_output=True,
        timeout=120,
        check=False,
    )
    return subprocess.CompletedProcess(
        done.args,
        done.returncode,
        done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
    )


# A real SIGINT at the moment a module is looked for: `flux2prompt._builder` is loaded by the
# package's own __init__, `typer` by the command line's; both before `main` runs.
# (Inside pydantic_core's compiled import, a KeyboardInterrupt became a panic, exit 1.)
INTERRUPT_WHILE_IMPORTING = """\
import importlib.abc
import os
import signal
import sys

WHEN = os.environ["INTERRUPT_AT"]


class Interrupt(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == WHEN:
            os.kill(os.getpid(), signal.SIGINT)
        return None


sys.meta_path.insert(0, Interrupt())
"""


@pytest.mark.parametrize(
    "module", ["flux2prompt._builder", "pydantic_core", "datetime", "typer", "flux2prompt.cli._app"]
)
def test_ctrl_c_while_the_package_loads_exits_130_without_a_traceback(
    module: str, tmp_path: Path
) -> None:
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(INTERRUPT_WHILE_IMPORTING, encoding="utf-8")
    (tmp_path / "fox.json").write_text('{"scene": "a fox"}', encoding="utf-8")
    done = run(
        tmp_path, "validate", "fox.json", env={"PYTHONPATH": str(hook), "INTERRUPT_AT": module}
    )
    assert (done.returncode, done.stdout, done.stderr) == (130, "", "")


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (b'{"scene": "caf\xe9"}', "(byte 14): byte 0xe9 at line 1, column 15"),
        (b'{\n  "scene":\n  "\xff"\n}', "(byte 16): byte 0xff at line 3, column 4"),
        # UTF-16 with its byte order mark, as some Windows editors save.
        (
            '{"scene": "x"}'.encode("utf-16"),
            "(byte 0): byte 0xff (the text is UTF-16: it starts with UTF-16's byte order mark) "
            "at line 1, column 1",
        ),
    ],
)
def test_standard_input_that_is_not_utf8_names_the_line_the_byte_and_the_fix(
    data: bytes, where: str, tmp_path: Path
) -> None:
    # It was "not UTF-8 text (byte 11)" alone: no line, no column, nothing to do about it.
    done = run(tmp_path, "validate", "-", stdin=data)
    assert done.returncode == 2
    assert done.stderr == (
        f"error: <stdin>: not UTF-8 text {where}; pipe UTF-8 text into it (convert it with "
        "iconv -f ENCODING -t UTF-8)\n"
    )


def test_a_utf16_file_says_it_is_utf16(tmp_path: Path) -> None:
    (tmp_path / "hero.json").write_bytes('{"scene": "x"}'.encode("utf-16"))
    done = run(tmp_path, "validate", "hero.json")
    assert done.returncode == 2
    assert done.stderr == (
        "error: hero.json:1: not UTF-8 text: byte 0xff (the text is UTF-16: it starts with "
        "UTF-16's byte order mark) at column 1; save the file as UTF-8\n"
    )


def test_a_json_file_holding_only_a_byte_order_mark_is_empty(tmp_path: Path) -> None:
    # Notepad saves an empty file as its BOM: it is empty, as standard input says.
    (tmp_path / "hero.json").write_bytes(b"\xef\xbb\xbf\r\n")
    done = run(tmp_path, "validate", "hero.json")
    assert done.returncode == 2
    assert done.stderr == (
        'error: hero.json: is empty; write a JSON prompt document in it, such as {"scene": "..."}\n'
    )


def test_a_prompt_module_that_lowers_the_recursion_limit_cannot_break_the_command(
    tmp_path: Path,
) -> None:
    # It was a traceback from the schema's validator, which needs more than 30 frames.
    (tmp_path / "prompts.py").write_text(
        "import sys\nsys.setrecursionlimit(30)\nfrom flux2prompt import scene\n"
        'hero = scene("a lighthouse at dusk")\n',
        encoding="utf-8",
    )
    done = run(tmp_path, "compile", "prompts.py:hero")
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        '{"scene":"a lighthouse at dusk"}\n',
        "",
    )


@pytest.mark.parametrize("command", ["validate", "lint"])
def test_an_empty_source_is_named_as_empty_not_as_the_current_folder(
    command: str, tmp_path: Path
) -> None:
    # `flux2-prompt validate "$PROMPT"` with PROMPT unset: it was "error: .: is a directory".
    done = run(tmp_path, command, "")
    assert done.returncode == 2
    assert done.stderr == "error: empty SOURCE; give a prompt file, path/to/file.py:NAME or -\n"


@pytest.mark.parametrize(
    ("args", "side", "what"),
    [
        (("", "hero.json"), "A", "SOURCE"),
        (("hero.json", "  "), "B", "SOURCE"),
        (("--json", "", "hero.json"), "A", "SOURCE"),
    ],
)
def test_diff_names_an_empty_side_as_empty_not_as_the_current_folder(
    args: tuple[str, ...], side: str, what: str, tmp_path: Path
) -> None:
    # `flux2-prompt diff "$OLD" hero.json` with OLD unset: it was "error: .: is a directory".
    (tmp_path / "hero.json").write_text('{"scene": "a fox"}', encoding="utf-8")
    done = run(tmp_path, "diff", *args)
    assert done.returncode == 2
    message = f"{side}: empty SOURCE; give a prompt file, path/to/file.py:NAME or a job file"
    assert done.stderr == f"error: {message}\n"
    if "--json" in args:
        assert json.loads(done.stdout) == {"a": "", "b": "hero.json", "error": message}
    else:
        assert done.stdout == ""


def test_diff_rev_refuses_an_empty_path_instead_of_diffing_the_whole_folder(
    tmp_path: Path,
) -> None:
    # Path("") is the current folder: `diff --rev main "$DIR"` with DIR unset compared everything.
    done = run(tmp_path, "diff", "--rev", "HEAD", "prompts", "")
    assert done.returncode == 2
    assert done.stderr == (
        "error: path 2: empty path; give paths of the working tree (files or folders)\n"
    )


def test_a_choice_in_the_wrong_case_is_suggested_in_the_right_one(tmp_path: Path) -> None:
    # 'CLOUDFLARE' is as close to 'cloudflare' as a value gets; it had no suggestion.
    done = run(tmp_path, "schema", "--profile", "CLOUDFLARE")
    assert done.returncode == 2
    assert done.stderr.startswith(
        "error: Invalid value for '--profile' / '-p': 'CLOUDFLARE' is not one of 'flux2', "
        "'cloudflare'; did you mean 'cloudflare'?"
    ), done.stderr


@pytest.mark.parametrize("command", ["validate", "lint"])
def test_a_file_name_with_a_newline_cannot_fake_a_line_of_the_result(
    command: str, tmp_path: Path
) -> None:
    # On a CI runner every line of stdout is read for workflow commands: a file name with a
    # newline printed "::error::..." on a line of its own.
    name = "hero\n::error::forged.json"
    (tmp_path / name).write_text('{"scene": "a fox"}', encoding="utf-8")
    (tmp_path / "bad\n::warning::x.json").write_text("[]", encoding="utf-8")
    done = run(tmp_path, command, name, "bad\n::warning::x.json")
    assert done.stdout.splitlines() == [
        "hero\\n::error::forged.json: ok",
        "bad\\n::warning::x.json: $: a prompt must be a JSON object, got an array",
    ]


def test_inspect_keeps_an_images_record_on_its_own_lines(tmp_path: Path) -> None:
    # The record comes from the image, and an image comes from anyone: its fields printed
    # newlines raw, so a crafted image could start a line with a workflow command.
    from flux2prompt.transport import Provenance, write_provenance

    jpeg = b"\xff\xd8\xff\xda\x00\x02scan\xff\xd9"
    record = Provenance(
        "a fox",
        "sha256:p\n::error::forged",
        "sha256:r\r\n::error::forged",
        "m\n::error::forged",
        {"seed": 7},
        job="job\n::error::forged",
        source="src\n::error::forged",
    )
    name = "shot\n::error::forged.jpg"
    (tmp_path / name).write_bytes(write_provenance(jpeg, record))
    done = run(tmp_path, "inspect", name)
    lines = done.stdout.splitlines()
    assert lines[0] == "shot\\n::error::forged.jpg"
    assert all(line.startswith("  ") for line in lines[1:]), lines
    assert "  job       job\\n::error::forged" in lines
    assert "  request   sha256:r\\r\\n::error::forged" in lines


def test_generate_reports_a_file_name_with_a_newline_on_one_line(tmp_path: Path) -> None:
    (tmp_path / "fox.json").write_text('{"scene": "a fox"}', encoding="utf-8")
    name = "fox\n::error::forged.jpg"
    done = run(tmp_path, "generate", "fox.json", "--out", name, "--emulator")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "wrote fox\\n::error::forged.jpg"
    assert (tmp_path / name).is_file()


def test_a_shell_named_after_the_completion_option_is_the_one_used(tmp_path: Path) -> None:
    # `--show-completion fish` printed the script of the shell it ran in (bash), silently, and
    # `--install-completion fish` installed bash's. HOME is the test's own: it installs.
    shown = run(tmp_path, "--show-completion", "fish", env={"HOME": str(tmp_path)})
    assert shown.returncode == 0
    assert "complete_fish" in shown.stdout
    installed = run(tmp_path, "--install-completion", "fish", env={"HOME": str(tmp_path)})
    assert installed.returncode == 0, installed.stderr
    assert (tmp_path / ".config/fish/completions/flux2-prompt.fish").is_file()
    assert not (tmp_path / ".bashrc").exists()


def test_a_shell_completion_does_not_know_is_refused(tmp_path: Path) -> None:
    done = run(tmp_path, "--show-completion", "tcsh", env={"HOME": str(tmp_path)})
    assert done.returncode == 2
    assert done.stdout == ""
    assert "'tcsh' is not one of 'bash', 'zsh', 'fish', 'powershell', 'pwsh'" in done.stderr


@pytest.mark.parametrize("name", ["big.prompt.toml", "big.toml"])
def test_a_toml_integer_of_thousands_of_digits_is_one_line_with_its_line(
    name: str, tmp_path: Path
) -> None:
    # Python refuses to convert an integer of more than 4,300 digits: it was a traceback.
    (tmp_path / name).write_text(
        'name = "big"\n[prompt]\nscene = "x"\n[prompt.camera]\nISO = ' + "9" * 5_000 + "\n",
        encoding="utf-8",
    )
    done = run(tmp_path, "validate", name)
    assert done.returncode == 2
    assert done.stderr == (
        f"error: {name}:5: a number has too many digits (more than 4,300); write a smaller "
        "number, or quote it as a string\n"
    )


def test_a_json_integer_of_thousands_of_digits_names_its_line(tmp_path: Path) -> None:
    (tmp_path / "big.json").write_text(
        '{\n  "scene": "x",\n  "camera": {"ISO": ' + "9" * 5_000 + "}\n}", encoding="utf-8"
    )
    done = run(tmp_path, "validate", "big.json")
    assert done.returncode == 2
    assert done.stderr == (
        "error: big.json:3: invalid JSON: a number has too many digits (more than 4,300); write "
        "a smaller number, or quote it as a string\n"
    )


def test_a_python_source_with_a_null_byte_says_so(tmp_path: Path) -> None:
    # It was "importing it raised SyntaxError in None, line None: source code string cannot
    # contain null bytes".
    (tmp_path / "prompts.py").write_bytes(b'from flux2prompt import scene\nhero = scene("x")\0\n')
    done = run(tmp_path, "compile", "prompts.py:hero")
    assert done.returncode == 2
    assert done.stderr == (
        "error: prompts.py:2: syntax error: the file holds a null byte, which Python source "
        "cannot; is it a binary file, or saved as UTF-16? Save it as UTF-8 text\n"
    )


def test_every_commands_help_fits_80_columns_without_cutting_a_word(tmp_path: Path) -> None:
    """At 80 columns rich ellipsizes a word longer than its column (an environment variable
    name, a list of choices as a metavar): each help must read whole there."""
    import typer.main

    from flux2prompt.cli import _COMMAND_MODULES, app

    group = typer.main.get_command(app)
    commands: list[tuple[str, ...]] = []
    for name in _COMMAND_MODULES:
        command = group.commands[name]  # type: ignore[attr-defined]
        commands.append((name,))
        commands += [(name, sub) for sub in getattr(command, "commands", {})]
    assert any(len(command) == 2 for command in commands)  # manifest's own commands too
    for command in commands:
        done = run(tmp_path, *command, "--help", env={"COLUMNS": "80"})
        assert done.returncode == 0, done.stderr
        cut = [line for line in done.stdout.splitlines() if "…" in line]
        assert cut == [], f"flux2-prompt {' '.join(command)} --help: {cut}"


@pytest.mark.parametrize(
    ("options", "module"),
    [
        (["-m", "flux2prompt"], "flux2prompt._builder"),
        (["-m", "flux2prompt"], "pydantic_core"),
        (["-m", "flux2prompt"], "typer"),
        (["-m", "flux2prompt"], "flux2prompt.cli._app"),
        (["-Bm", "flux2prompt"], "flux2prompt._builder"),
        (["-Bmflux2prompt"], "flux2prompt._builder"),
        (["-X", "importtime", "-m", "flux2prompt"], "flux2prompt._builder"),
        (["-bW", "error", "-m", "flux2prompt"], "flux2prompt._builder"),
    ],
)
def test_ctrl_c_while_python_m_flux2prompt_loads_exits_130_without_a_traceback(
    options: list[str], module: str, tmp_path: Path
) -> None:
    """``python -m flux2prompt`` loads the package before its ``__main__`` runs, however the
    command line writes its ``-m``."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(INTERRUPT_WHILE_IMPORTING, encoding="utf-8")
    (tmp_path / "fox.json").write_text('{"scene": "a fox"}', encoding="utf-8")
    done = subprocess.run(
        [sys.executable, *options, "validate", "fox.json"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(hook), "INTERRUPT_AT": module},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (done.returncode, done.stdout) == (130, "")
    assert "Traceback" not in done.stderr
    if "-X" not in options:  # importtime writes its table to stderr
        assert done.stderr == ""


def test_importing_flux2prompt_leaves_ctrl_c_to_python(tmp_path: Path) -> None:
    """Outside ``python -m flux2prompt`` the package changes no signal handler, and under it
    the handler is Python's again once the package has loaded."""
    code = (
        "import signal, flux2prompt\n"
        "print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert done.stdout == "True\n"
    (tmp_path / "fox.json").write_text('{"scene": "a fox"}', encoding="utf-8")
    ran = subprocess.run(
        [sys.executable, "-m", "flux2prompt", "validate", "fox.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (ran.returncode, ran.stdout) == (0, "fox.json: ok\n")


def test_importing_flux2prompt_needs_no_command_line_and_no_main_thread(tmp_path: Path) -> None:
    code = (
        "import sys, threading\n"
        "del sys.argv\n"
        "import flux2prompt\n"
        "sys.argv = ['-m']\n"
        "sys.orig_argv = [sys.executable, '-m', 'flux2prompt']\n"
        "import _flux2prompt_command as c\n"
        "errors = []\n"
        "def quiet():\n"
        "    try:\n"
        "        errors.append(c._quiet())\n"
        "    except Exception as exc:\n"
        "        errors.append(exc)\n"
        "t = threading.Thread(target=quiet); t.start(); t.join()\n"
        "print(errors)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "[False]\n", "")


PLUGINS_SEEN = """\
import os

from flux2prompt import scene

prompt = scene("plugins " + repr(os.environ.get("PYDANTIC_DISABLE_PLUGINS")))
"""


@pytest.mark.parametrize(("given", "seen"), [(None, "'__all__'"), ("", "''"), ("1", "'1'")])
def test_the_command_runs_no_pydantic_plugin_unless_the_user_says(
    tmp_path: Path, given: str | None, seen: str
) -> None:
    """Looking for pydantic's plugins reads every installed distribution's entry points at
    each start; the command runs none, unless PYDANTIC_DISABLE_PLUGINS is set already."""
    (tmp_path / "seen.py").write_text(PLUGINS_SEEN, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    if given is not None:
        env["PYDANTIC_DISABLE_PLUGINS"] = given
    done = subprocess.run(
        [COMMAND, "compile", "seen.py:prompt"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["scene"] == f"plugins {seen}"


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["py", "-m", "flux2prompt"], "flux2prompt"),
        (["py", "-uX", "utf8", "-m", "flux2prompt"], "flux2prompt"),
        (["py", "-vBX", "dev", "-mprobe"], "probe"),
        (["py", "-Xdev", "-Wd", "-I", "-m", "flux2prompt"], "flux2prompt"),
        (["py", "--check-hash-based-pycs", "always", "-m", "flux2prompt"], "flux2prompt"),
        (["py", "--", "-m", "flux2prompt"], None),  # a script named -m
        (["py", "-c", "pass", "-m", "flux2prompt"], None),
        (["py", "script.py", "-m", "flux2prompt"], None),
        (["py", "-"], None),
        (["py", "-m"], None),
    ],
)
def test_the_module_an_interpreter_runs_is_read_from_its_command_line(
    argv: list[str], named: str | None
) -> None:
    from _flux2prompt_command import _module_named

    assert _module_named(argv) == named
