"""``validate`` and ``lint`` over templates and job files: every variant checked, each named
(issue 8, acceptance 3)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

TEMPLATE = """\
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
    return subprocess.run([command, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture
def job(tmp_path: Path) -> Path:
    (tmp_path / "cards.py").write_text(TEMPLATE, encoding="utf-8")
    rows = "color,place\nteal,foreground\ncoral,left\nsand,background\n"
    (tmp_path / "rows.csv").write_text(rows, encoding="utf-8")
    (tmp_path / "job.toml").write_text(JOB, encoding="utf-8")
    return tmp_path


def test_validate_checks_every_variant_and_names_the_bad_one(job: Path) -> None:
    done = cli(job, "validate", "--profile", "cloudflare", "job.toml")
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        'job.toml [rows.csv:3]: $.subjects[0].position: string "left" is not allowed under '
        "profile 'cloudflare'; use one of 'foreground', 'midground', 'background'",
        "job.toml: 1 of 3 variants invalid",
    ]
    done = cli(job, "validate", "job.toml")  # "left" is fine under the permissive profile
    assert (done.returncode, done.stdout.strip()) == (0, "job.toml: ok (3 variants)")


def test_a_matrix_variant_is_named_by_its_variables(job: Path) -> None:
    (job / "job.toml").write_text(
        JOB.replace('dataset = "rows.csv"', "")
        + '[variables.matrix]\ncolor = ["teal"]\nplace = ["foreground", "left"]\n',
        encoding="utf-8",
    )
    done = cli(job, "validate", "-p", "cloudflare", "job.toml")
    assert done.returncode == 1
    assert done.stdout.startswith("job.toml [matrix item 1: color=teal, place=left]: ")


def test_templates_take_their_variables_on_the_command_line(job: Path) -> None:
    done = cli(job, "validate", "cards.py:card")
    assert done.returncode == 2
    assert "give its variables (--var color=... --var place=...)" in done.stderr
    done = cli(job, "validate", "cards.py:card", "--var", "color=red", "--var", "place=left")
    assert (done.returncode, done.stdout.strip()) == (0, "cards.py:card: ok")
    (job / "p.prompt.toml").write_text(
        'name = "p"\n[prompt]\nscene = "a ${color} kite"\n', encoding="utf-8"
    )
    done = cli(job, "lint", "p.prompt.toml", "--var", "color=red")
    assert done.returncode == 0, done.stderr
    assert "p.prompt.toml" in done.stdout
    done = cli(job, "validate", "p.prompt.toml", "--var", "oops")
    assert done.returncode == 2
    assert "expected KEY=VALUE" in done.stderr


def test_lint_names_each_variant(job: Path) -> None:
    done = cli(job, "lint", "job.toml")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == "job.toml: ok (3 variants)"
    assert all(line.startswith("job.toml") for line in lines)


def test_a_job_whose_dataset_is_missing_is_one_line(job: Path) -> None:
    (job / "rows.csv").unlink()
    done = cli(job, "validate", "job.toml")
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert "rows.csv" in done.stderr


def test_a_prompt_file_template_without_its_variables_is_the_usage_error_a_module_one_is(
    job: Path,
) -> None:
    # Same mistake, same exit code and the same words, whichever way the template is written.
    (job / "card.prompt.toml").write_text(
        'name = "card"\n[prompt]\nscene = "a ${color} card, ${place}"\n', encoding="utf-8"
    )
    module = cli(job, "validate", "cards.py:card", "--var", "color=teal")
    assert module.returncode == 2
    assert "give its variables (--var place=...)" in module.stderr
    for command in ("validate", "lint"):
        done = cli(job, command, "card.prompt.toml", "--var", "color=teal")
        assert (done.returncode, done.stdout) == (2, "")
        assert done.stderr.strip() == (
            "error: card.prompt.toml: is a template with placeholders ${color}, ${place}; give "
            "its variables (--var place=...), or validate a job that expands it"
        )
    done = cli(job, "validate", "card.prompt.toml", "--var", "color=teal", "--var", "place=x")
    assert (done.returncode, done.stdout.strip()) == (0, "card.prompt.toml: ok")
    for command in ("compile", "fingerprint"):
        done = cli(job, command, "card.prompt.toml")
        assert (done.returncode, done.stdout) == (2, "")
        assert done.stderr.strip() == (
            "error: card.prompt.toml: is a template with placeholders ${color}, ${place}; expand "
            "it with a job file, or check it with validate --var color=... --var place=..."
        )
        assert "load_prompt_file" not in done.stderr  # no Python advice on the command line
