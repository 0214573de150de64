"""``lock --check --json`` (and ``--format github``) when the check cannot run: a lockfile edited
by hand, merged with conflict markers, from a newer flux2prompt, a per-item table cut short, a
prompt file that cannot be read. CI still reads one document (or one annotation), exit 2.

Each case runs the installed ``flux2-prompt`` in a subprocess over real files.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

COMMAND = str(Path(sys.executable).with_name("flux2-prompt"))


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [COMMAND, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "fox.prompt.toml").write_text(
        'name = "fox"\n[prompt]\nscene = "a quiet fox"\n', encoding="utf-8"
    )
    (tmp_path / "owl.prompt.toml").write_text(
        'name = "owl"\n[prompt]\nscene = "an owl"\n', encoding="utf-8"
    )
    assert run(tmp_path, "lock").returncode == 0
    return tmp_path


def _conflict(root: Path) -> None:
    lock = root / "flux2prompt.lock"
    text = lock.read_text(encoding="utf-8")
    lock.write_text(
        text.replace('    "fox": {', '<<<<<<< HEAD\n    "fox": {\n=======\n>>>>>>> theirs', 1),
        encoding="utf-8",
    )


def _newer(root: Path) -> None:
    lock = root / "flux2prompt.lock"
    text = lock.read_text(encoding="utf-8")
    lock.write_text(text.replace('"lock_version": 2', '"lock_version": 3'), encoding="utf-8")


def _cut_table(root: Path) -> None:
    table = root / "flux2prompt.lock.items"
    table.write_bytes(table.read_bytes()[:-20])  # a copy cut short


def _table_a_device(root: Path) -> None:
    table = root / "flux2prompt.lock.items"
    table.unlink()
    table.symlink_to("/dev/zero")  # endless: refused before a byte is read


def _table_a_folder(root: Path) -> None:
    table = root / "flux2prompt.lock.items"
    table.unlink()
    table.mkdir()


def _lock_a_folder(root: Path) -> None:
    lock = root / "flux2prompt.lock"
    lock.unlink()
    lock.mkdir()


def _broken_prompt(root: Path) -> None:
    (root / "owl.prompt.toml").write_text('name = "owl"\n[prompt\n', encoding="utf-8")


BREAKS: dict[str, tuple[Callable[[Path], None], str]] = {
    "conflict markers": (_conflict, "flux2prompt.lock:"),
    "newer version": (_newer, "written by a newer flux2prompt"),
    "table cut short": (_cut_table, "flux2prompt.lock.items: line 2: not a row"),
    "unreadable prompt": (_broken_prompt, "owl.prompt.toml:2: invalid TOML"),
    "table a device": (
        _table_a_device,
        "flux2prompt.lock.items: is not a regular file, so not the lockfile's per-item table; "
        "replace it: run `flux2-prompt lock`",
    ),
    "table a folder": (
        _table_a_folder,
        "flux2prompt.lock.items: is a directory, not the lockfile's per-item table; move it away "
        "and run `flux2-prompt lock`",
    ),
    "lockfile a folder": (
        _lock_a_folder,
        "flux2prompt.lock: is a directory, not a lockfile; move it away and run "
        "`flux2-prompt lock`",
    ),
}


@pytest.mark.parametrize("name", list(BREAKS))
def test_json_is_one_document_with_the_error(project: Path, name: str) -> None:
    breaks, said = BREAKS[name]
    breaks(project)
    done = run(project, "lock", "--check", "--json")
    assert done.returncode == 2
    document = json.loads(done.stdout)
    assert document["version"] == 1
    assert document["ok"] is False
    assert document["file"] == "flux2prompt.lock"
    assert said in document["error"]
    assert said in done.stderr  # and the error line, as in text


@pytest.mark.parametrize("name", list(BREAKS))
def test_github_is_an_annotation(project: Path, name: str) -> None:
    breaks, said = BREAKS[name]
    breaks(project)
    done = run(project, "lock", "--check", "--format", "github")
    assert done.returncode == 2
    (annotation,) = done.stdout.splitlines()
    assert annotation.startswith("::error title=flux2-prompt lock --check::")
    assert said in annotation


def test_text_is_unchanged(project: Path) -> None:
    _newer(project)
    done = run(project, "lock", "--check")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("error: flux2prompt.lock: written by a newer flux2prompt")
