"""``lock --check`` when the lockfile is committed but its commit's side cannot be read (a job's
dataset that was never committed): the check says so, naming the file from the project's root,
rather than only asking to commit a lockfile that already is committed.

A real git repository in a temporary folder; ``check_lock`` and the installed command.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flux2prompt import build_lock, check_lock, write_lock
from testkit import git

COMMAND = str(Path(sys.executable).with_name("flux2-prompt"))
SHOP = """\
from flux2prompt import scene, template


@template
def bottle(color: str):
    return scene(f"a {color} water bottle")
"""
JOB = """\
template = "shop.py:bottle"
output = "{color}.{ext}"
seeds = 7
[variables]
dataset = "rows.csv"
"""


def test_an_old_side_that_cannot_be_read_is_said(tmp_path: Path) -> None:
    (tmp_path / "shop.py").write_text(SHOP, encoding="utf-8")
    (tmp_path / "job.toml").write_text(JOB, encoding="utf-8")
    (tmp_path / "rows.csv").write_text("color\nteal\ncoral\n", encoding="utf-8")
    (tmp_path / ".gitignore").write_text("rows.csv\n", encoding="utf-8")  # never committed
    lock = tmp_path / "flux2prompt.lock"
    write_lock(build_lock([tmp_path / "job.toml"], base=tmp_path), lock)
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "one")
    (tmp_path / "rows.csv").write_text("color\nteal\nolive\n", encoding="utf-8")

    result = check_lock([tmp_path / "job.toml"], lock)
    assert [change.changed_fields for change in result.changes] == [("$.scene",)]
    (message,) = result.messages
    assert message.startswith("the old values cannot be rebuilt from the lockfile's commit (at ")
    assert message.endswith(
        ": rows.csv: no such dataset file); the changed fields are named instead"
    )

    done = subprocess.run(
        [COMMAND, "lock", "--check", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    document = json.loads(done.stdout)
    assert document["messages"] == [message]  # from the project's root, never a temporary path
    assert document["revision"] is None


def test_check_lock_rebuilds_the_old_side_from_any_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "shop"
    project.mkdir()
    (project / "fox.prompt.toml").write_text(
        'name = "fox"\n[prompt]\nscene = "a quiet fox"\n', encoding="utf-8"
    )
    lock = project / "flux2prompt.lock"
    write_lock(build_lock([project], base=project), lock)
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "one")
    (project / "fox.prompt.toml").write_text(
        'name = "fox"\n[prompt]\nscene = "a wild fox"\n', encoding="utf-8"
    )
    elsewhere = tmp_path / "elsewhere"  # not in the repository
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = check_lock([project], lock)
    (change,) = result.changes
    assert [str(entry) for entry in change.fields] == ['~ $.scene: "a quiet fox" → "a wild fox"']
    assert result.revision is not None
    assert result.messages == ()


def test_a_lockfile_checked_out_with_crlf_still_gives_the_old_values(tmp_path: Path) -> None:
    """With core.autocrlf (Git for Windows' default) the committed lockfile is on disk with
    CRLF line ends: it is still the committed one, so the old side is rebuilt from git."""
    (tmp_path / "fox.prompt.toml").write_text(
        'name = "fox"\n[prompt]\nscene = "a quiet fox"\nmood = "calm"\n', encoding="utf-8"
    )
    git(tmp_path, "init", "-q")
    git(tmp_path, "config", "core.autocrlf", "true")
    lock = tmp_path / "flux2prompt.lock"
    write_lock(build_lock([tmp_path], base=tmp_path), lock)
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "one")
    for path in (lock, lock.with_name(lock.name + ".items"), tmp_path / "fox.prompt.toml"):
        path.unlink()
    git(tmp_path, "checkout", "-q", "--", ".")  # as a clone on Windows has them
    assert b"\r\n" in lock.read_bytes()
    prompt = tmp_path / "fox.prompt.toml"
    prompt.write_bytes(prompt.read_bytes().replace(b"calm", b"tense"))

    result = check_lock([tmp_path], lock)
    assert result.revision is not None
    [change] = result.changes
    assert [str(entry) for entry in change.fields] == ['~ $.mood: "calm" → "tense"']
