"""Templates and ``file.py:NAME`` sources handed to the installed command the wrong way: a
template where a prompt is wanted, variables misspelt on the command line, placeholders whose
names are not ASCII. Each is one line that says what to do instead.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

COMMAND = str(Path(sys.executable).with_name("flux2-prompt"))

MODULE = """\
from flux2prompt import scene
from flux2prompt.batch import template

@template
def mug(color, finish="matte"):
    return scene(f"a {finish} {color} mug")
"""


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [COMMAND, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "shots.py").write_text(MODULE, encoding="utf-8")
    (tmp_path / "mug.prompt.toml").write_text(
        'name = "mug"\n[prompt]\nscene = "a ${color} mug"\n', encoding="utf-8"
    )
    return tmp_path


@pytest.mark.parametrize("command", ["compile", "fingerprint"])
def test_a_python_template_where_a_prompt_is_wanted_says_how_to_use_it(
    folder: Path, command: str
) -> None:
    # It said "'mug' is a Template; a SOURCE names a prompt builder, ...": true, and no help.
    done = run(command, "shots.py:mug", cwd=folder)
    assert done.returncode == 2
    assert done.stderr == (
        "error: shots.py:mug: 'mug' is a template of variables (color, finish), not a prompt; "
        "expand it with a job file, or check it with validate shots.py:mug --var color=...\n"
    )


@pytest.mark.parametrize("source", ["shots.py:mug", "mug.prompt.toml"])
def test_a_misspelt_var_is_named_beside_the_variable_it_misses(folder: Path, source: str) -> None:
    done = run("validate", source, "--var", "colour=teal", cwd=folder)
    assert done.returncode == 2
    assert done.stderr.rstrip().endswith(
        "give its variables (--var color=...), or validate a job that expands it; 'colour' "
        "was given (a misspelling of 'color'?)"
    ), done.stderr


def test_a_dataset_column_spelt_like_the_variable_is_named(folder: Path) -> None:
    (folder / "rows.csv").write_text("Color,sku\nteal,M-1\n", encoding="utf-8")
    (folder / "job.toml").write_text(
        'template = "mug.prompt.toml"\noutput = "{sku}.{ext}"\n[variables]\ndataset = "rows.csv"\n',
        encoding="utf-8",
    )
    done = run("validate", "job.toml", cwd=folder)
    assert done.returncode == 1
    assert done.stdout.splitlines()[0] == (
        "job.toml [rows.csv:2]: mug.prompt.toml: missing variable 'color' at $.prompt.scene "
        "(the template needs: color); 'Color' was given (a misspelling of 'color'?)"
    )


def test_a_placeholder_whose_name_is_not_ascii_is_refused_not_read_in_part(folder: Path) -> None:
    # "$città" was the template variable "citt": `--var citt=...` was asked for.
    (folder / "city.prompt.toml").write_text(
        'name = "city"\n[prompt]\nscene = "a poster of $città"\n', encoding="utf-8"
    )
    done = run("validate", "city.prompt.toml", cwd=folder)
    assert done.returncode == 1
    assert done.stdout == (
        "city.prompt.toml: invalid placeholder at $.prompt.scene (character 13 of 'a poster of "
        "$città'): 'città' is not a variable name: a name is ASCII letters, digits and _ (such "
        "as ${citta}); write $$ for a literal $\n"
    )
    assert "citt=" not in done.stderr


UNPRINTABLE = """\
class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("and neither is this")
"""


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            UNPRINTABLE + "raise Unprintable()\n",
            "error: bad.py:4: importing it raised Unprintable (its message could not be read: "
            "RuntimeError)",
        ),
        (
            "raise ValueError('x' * 100_000)\n",
            "error: bad.py:1: importing it raised ValueError: " + "x" * 500 + "... (100,000 "
            "characters)",
        ),
        (
            "import sys\nsys.exit('y' * 5000)\n",
            "error: bad.py:2: importing it raised SystemExit('" + "y" * 199 + "... (5,002 "
            "characters))",
        ),
    ],
)
def test_an_exception_the_module_raises_is_one_short_line(
    tmp_path: Path, body: str, expected: str
) -> None:
    # An exception whose __str__ raised was a traceback; a long message was echoed whole.
    (tmp_path / "bad.py").write_text(body, encoding="utf-8")
    done = run("compile", "bad.py:hero", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == expected + "\n"


def test_a_template_raising_an_unprintable_exception_is_its_row_s_error(tmp_path: Path) -> None:
    (tmp_path / "t.py").write_text(
        UNPRINTABLE + "from flux2prompt.batch import template\n\n@template\n"
        "def mug(color):\n    raise Unprintable()\n",
        encoding="utf-8",
    )
    (tmp_path / "job.toml").write_text(
        'template = "t.py:mug"\noutput = "{color}.{ext}"\n[variables.matrix]\ncolor = ["teal"]\n',
        encoding="utf-8",
    )
    reason = "template 'mug' raised Unprintable (its message could not be read: RuntimeError)"
    done = run("validate", "job.toml", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout.splitlines()[0] == f"job.toml [matrix item 0: color=teal]: {reason}"
    done = run("batch", "job.toml", "--dry-run", "--out", "out", cwd=tmp_path)
    assert "Traceback" not in done.stderr
    assert done.stderr == f"error: matrix item 0: {reason}\n"
