"""``validate`` and ``lint`` in a project whose ``[tool.flux2prompt]`` is broken: the JSON
format still prints its one document (the configuration unreadable, exit 2), and GitHub's an
annotation on the configuration's line; text keeps its one ``error:`` line.

The installed ``flux2-prompt`` runs in a subprocess, in a real project folder.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

COMMAND = str(Path(sys.executable).with_name("flux2-prompt"))
MESSAGE = (
    "pyproject.toml: [tool.flux2prompt]: unknown key 'profil'; the keys are prompts, modules, "
    "jobs, profile, lockfile"
)


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [COMMAND, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "shop"\n\n[tool.flux2prompt]\nprofil = "cloudflare"\n',
        encoding="utf-8",
    )
    (tmp_path / "hero.json").write_text('{"scene": "a lighthouse"}', encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("command", ["validate", "lint"])
def test_json_is_one_document(project: Path, command: str) -> None:
    done = run(project, command, "--json", "hero.json")
    assert done.returncode == 2
    document = json.loads(done.stdout)
    assert document["command"] == command
    assert document["exit_code"] == 2
    assert document["profile"] is None
    assert document["summary"] == {
        "checked": 1, "ok": 0, "invalid": 0, "unreadable": 1, "advice": 0
    }  # fmt: skip
    (result,) = document["results"]
    assert result["file"] == "pyproject.toml"
    assert result["status"] == "unreadable"
    assert [problem["message"] for problem in result["problems"]] == [MESSAGE]


@pytest.mark.parametrize("command", ["validate", "lint"])
def test_github_annotates_the_configuration(project: Path, command: str) -> None:
    done = run(project, command, "--format", "github", "hero.json")
    assert done.returncode == 2
    annotation = done.stdout.splitlines()[0]
    assert annotation.startswith(f"::error file=pyproject.toml,title=flux2-prompt {command}::")
    assert annotation.endswith(f"::{MESSAGE}")


@pytest.mark.parametrize("command", ["validate", "lint"])
def test_text_is_one_error_line(project: Path, command: str) -> None:
    done = run(project, command, "hero.json")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [f"error: {MESSAGE}"]


def test_a_profile_given_needs_no_configuration(project: Path) -> None:
    done = run(project, "validate", "--json", "--profile", "flux2", "hero.json")
    assert done.returncode == 0
    assert json.loads(done.stdout)["profile"] == "flux2"
