"""``validate`` and ``lint`` use the project's default profile (``[tool.flux2prompt] profile``)
when ``--profile`` is not given."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CARDS = """\
from flux2prompt import scene, template


@template
def card(color: str, place: str):
    card = scene(f"a {color} greeting card")
    return card.subject(type="card", description="a card", pose="standing", position=place)
"""

JOB = """\
template = "cards.py:card"
output = "{color}.{ext}"

[variables]
dataset = "rows.csv"
"""


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = str(Path(sys.executable).with_name("flux2-prompt"))
    done = subprocess.run(
        [command, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    assert "Traceback" not in done.stderr
    return done


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / ".git").mkdir()  # the project's root: the search for configuration stops here
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "cards"\nversion = "0"\n\n[tool.flux2prompt]\nprofile = "cloudflare"\n',
        encoding="utf-8",
    )
    (tmp_path / "cards.py").write_text(CARDS, encoding="utf-8")
    rows = "color,place\nteal,foreground\ncoral,left\n"
    (tmp_path / "rows.csv").write_text(rows, encoding="utf-8")
    (tmp_path / "job.toml").write_text(JOB, encoding="utf-8")
    (tmp_path / "sub").mkdir()
    return tmp_path


def test_validate_uses_the_configured_profile(project: Path) -> None:
    done = cli(project, "validate", "job.toml")
    assert done.returncode == 1
    assert "job.toml [rows.csv:3]: $.subjects[0].position" in done.stdout
    assert "under profile 'cloudflare'" in done.stdout
    # From a subfolder too: the configuration is the project's.
    assert cli(project / "sub", "validate", "../job.toml").returncode == 1
    # --profile wins.
    done = cli(project, "validate", "--profile", "flux2", "job.toml")
    assert (done.returncode, done.stdout.strip()) == (0, "job.toml: ok (2 variants)")


def test_lint_uses_the_configured_profile(project: Path) -> None:
    done = cli(project, "lint", "--json", "job.toml")
    assert json.loads(done.stdout)["profile"] == "cloudflare"
    done = cli(project, "lint", "--json", "-p", "flux2", "job.toml")
    assert json.loads(done.stdout)["profile"] == "flux2"


def test_without_configuration_the_profile_is_flux2(project: Path) -> None:
    (project / "pyproject.toml").write_text('[project]\nname = "cards"\n', encoding="utf-8")
    done = cli(project, "validate", "job.toml")
    assert (done.returncode, done.stdout.strip()) == (0, "job.toml: ok (2 variants)")


def test_a_broken_configuration_is_one_line_and_exit_2(project: Path) -> None:
    (project / "pyproject.toml").write_text(
        '[tool.flux2prompt]\nprofile = "cloudfare"\n', encoding="utf-8"
    )
    done = cli(project, "validate", "job.toml")
    assert done.returncode == 2
    assert "profile: expected 'flux2' or 'cloudflare', got 'cloudfare'" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_misspelt_profile_in_the_configuration_gets_a_did_you_mean(project: Path) -> None:
    (project / "pyproject.toml").write_text(
        '[tool.flux2prompt]\nprofile = "cloudfare"\n', encoding="utf-8"
    )
    done = cli(project, "validate", "job.toml")
    assert done.stderr.strip().endswith("got 'cloudfare'; did you mean 'cloudflare'?")
