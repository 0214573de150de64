"""A user's Python file runs inside the command: what it prints, or a lazy ``__getattr__`` of its
own that fails, never corrupts the command's results on stdout or becomes a traceback.

Every case runs the installed ``flux2-prompt`` in a subprocess over real files (and a real git
repository for the old side of a diff).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from testkit import git

COMMAND = str(Path(sys.executable).with_name("flux2-prompt"))

NOISY = """\
from flux2prompt import scene, template

print("noise while importing")


def night():
    print("noise while calling")
    return scene("a harbour at night")


@template
def bottle(color: str):
    print("noise while rendering", color)
    return scene(f"a {color} water bottle")


hero = scene("a lighthouse at dusk")


async def later():
    return hero
"""

JOB = """\
template = "noisy.py:bottle"
output = "{color}.{ext}"
seeds = 7
[variables]
dataset = "rows.csv"
"""


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [COMMAND, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


@pytest.fixture
def noisy(tmp_path: Path) -> Path:
    (tmp_path / "noisy.py").write_text(NOISY, encoding="utf-8")
    (tmp_path / "rows.csv").write_text("color\nteal\ncoral\n", encoding="utf-8")
    (tmp_path / "job.toml").write_text(JOB, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    "args",
    [
        ["compile", "noisy.py:hero"],
        ["compile", "noisy.py:night"],
        ["compile", "--pretty", "noisy.py:bottle"],
    ],
    ids=["import", "call", "template-needs-vars"],
)
def test_compile_prints_only_the_prompt(noisy: Path, args: list[str]) -> None:
    done = run(noisy, *args)
    if done.returncode == 0:
        json.loads(done.stdout)
    else:
        assert done.stdout == ""
    assert "noise while importing" in done.stderr


def test_fingerprint_prints_only_the_fingerprint(noisy: Path) -> None:
    done = run(noisy, "fingerprint", "noisy.py:night")
    assert done.returncode == 0
    assert done.stdout.startswith("sha256:")
    assert done.stdout.count("\n") == 1
    assert "noise while calling" in done.stderr


@pytest.mark.parametrize("command", ["validate", "lint"])
@pytest.mark.parametrize(
    "sources", [["noisy.py:hero", "noisy.py:night"], ["job.toml"], ["noisy.py:bottle"]]
)
def test_json_reports_stay_one_document(noisy: Path, command: str, sources: list[str]) -> None:
    extra = ["--var", "color=red"] if sources == ["noisy.py:bottle"] else []
    done = run(noisy, command, "--json", *sources, *extra)
    document = json.loads(done.stdout)
    assert document["exit_code"] == done.returncode == 0
    assert "noise while importing" in done.stderr


def test_lock_check_json_stays_one_document(noisy: Path) -> None:
    assert run(noisy, "lock").returncode == 0
    done = run(noisy, "lock", "--check", "--json")
    assert json.loads(done.stdout)["ok"] is True
    assert done.returncode == 0
    assert "noise while rendering teal" in done.stderr


def test_the_old_side_of_a_diff_may_print(noisy: Path) -> None:
    git(noisy, "init", "-q")
    git(noisy, "add", "-A")
    git(noisy, "commit", "-qm", "one")
    text = (noisy / "noisy.py").read_text(encoding="utf-8")
    (noisy / "noisy.py").write_text(text.replace("at dusk", "at dawn"), encoding="utf-8")
    done = run(noisy, "diff", "--json", "HEAD:noisy.py:hero", "noisy.py:hero")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["prompt"] == [
        {"op": "changed", "path": "$.scene", "old": "a lighthouse at dusk",
         "new": "a lighthouse at dawn"}
    ]  # fmt: skip
    done = run(noisy, "diff", "--json", "--rev", "HEAD", "job.toml")  # the job's items too
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert [change["name"] for change in document["changes"]] == ["noisy.py:hero"]
    assert document["unchanged"] == 2


def test_an_async_function_is_refused_in_one_line(noisy: Path) -> None:
    done = run(noisy, "compile", "noisy.py:later")
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        "error: noisy.py:later: later() returned a coroutine, not a prompt builder or Prompt"
    )
    assert "never awaited" not in done.stderr


LAZY = """\
from flux2prompt import scene

__all__ = ["hero", "ghost"]
_MADE = {"hero": lambda: scene("a lighthouse")}


def __getattr__(name):
    return _MADE[name]()  # a KeyError for any other name
"""


@pytest.mark.parametrize(
    "args",
    [
        ["compile", "lazy.py:hero"],
        ["compile", "lazy.py:nope"],
        ["validate", "lazy.py:nope"],
        ["lock", "lazy.py"],
    ],
)
def test_a_module_getattr_that_raises_is_one_line(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "lazy.py").write_text(LAZY, encoding="utf-8")
    done = run(tmp_path, *args)
    if args[1] == "lazy.py:hero":
        assert done.returncode == 0
        assert json.loads(done.stdout) == {"scene": "a lighthouse"}
        return
    assert done.returncode == 2
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("error: lazy.py")
    assert "KeyError" in line


RAW = """\
import os
import subprocess
import sys

from flux2prompt import scene

os.write(1, b"raw bytes on descriptor 1\\n")
subprocess.run([sys.executable, "-c", "print('a child process prints')"], check=True)


def night():
    os.write(1, b"raw bytes while calling\\n")
    return scene("a harbour at night")


hero = scene("a lighthouse at dusk")
"""


@pytest.mark.parametrize(
    ("args", "noise"),
    [
        (["compile", "raw.py:hero"], "a child process prints"),
        (["compile", "raw.py:night"], "raw bytes while calling"),
        (["fingerprint", "raw.py:hero"], "raw bytes on descriptor 1"),
        (["validate", "--json", "raw.py:hero", "raw.py:night"], "raw bytes while calling"),
    ],
    ids=["compile-import", "compile-call", "fingerprint", "validate-json"],
)
def test_output_past_sys_stdout_goes_to_stderr(tmp_path: Path, args: list[str], noise: str) -> None:
    """What a module writes to descriptor 1 itself, or a subprocess it starts prints, goes to
    stderr too: the command's stdout holds its results and nothing else."""
    (tmp_path / "raw.py").write_text(RAW, encoding="utf-8")
    done = run(tmp_path, *args)
    assert done.returncode == 0, done.stderr
    assert "raw bytes" not in done.stdout
    assert "a child process prints" not in done.stdout
    assert noise in done.stderr
    if args[0] == "fingerprint":
        assert done.stdout.startswith("sha256:")
        assert done.stdout.count("\n") == 1
    else:
        json.loads(done.stdout)


def test_output_past_sys_stdout_with_stdout_discarded(tmp_path: Path) -> None:
    """With stdout sent to /dev/null, what a module writes to descriptor 1 still goes to stderr,
    where the user sees it."""
    (tmp_path / "raw.py").write_text(RAW, encoding="utf-8")
    done = subprocess.run(
        [COMMAND, "validate", "raw.py:hero"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stderr
    assert "raw bytes on descriptor 1" in done.stderr
    assert "a child process prints" in done.stderr


def test_output_past_sys_stdout_with_stdout_closed(tmp_path: Path) -> None:
    """With descriptor 1 closed (``>&-``), a module writing to it fails as it would anywhere,
    and the command says so in one line naming the module's line, without a traceback."""
    (tmp_path / "raw.py").write_text(RAW, encoding="utf-8")
    done = subprocess.run(
        ["bash", "-c", 'exec "$@" >&-', "-", COMMAND, "validate", "raw.py:hero"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        "error: raw.py:7: importing it raised OSError: [Errno 9] Bad file descriptor"
    ]
