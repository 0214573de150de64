"""``review --seed`` outside what a model takes: a negative seed is a usage error before
anything runs; a seed past a model's range cannot build that model's request, which is an image
that could not be drawn (one line, exit 1), never a review that says nothing and exits 0.

A real git repository in a temporary folder, the installed ``flux2-prompt`` in a subprocess,
the local emulator drawing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from testkit import git

pytest.importorskip("PIL")

COMMAND = str(Path(sys.executable).with_name("flux2-prompt"))
FOX = 'name = "fox"\nmodel = "flex"\n[prompt]\nscene = "a quiet fox"\n'


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [COMMAND, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


@pytest.fixture
def changed(tmp_path: Path) -> Path:
    (tmp_path / "fox.prompt.toml").write_text(FOX, encoding="utf-8")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "one")
    (tmp_path / "fox.prompt.toml").write_text(FOX.replace("quiet", "wild"), encoding="utf-8")
    return tmp_path


def test_a_negative_seed_is_a_usage_error(changed: Path) -> None:
    done = run(changed, "review", "HEAD", "--seed", "-5", "--out", "out")
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].startswith("error: Invalid value for '--seed'")
    assert not (changed / "out").exists()


def test_a_seed_past_the_models_range_is_a_failed_image(changed: Path) -> None:
    done = run(changed, "review", "HEAD", "--seed", str(2**60), "--out", "out")
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: an image could not be drawn: fox: seed must be 0-9007199254740991 for "
        f"flux-2-flex, got {2**60}"
    ]
    assert (changed / "out" / "review.md").is_file()  # still written, the failure shown


def test_a_seed_in_range_draws_both_sides(changed: Path) -> None:
    done = run(changed, "review", "HEAD", "--seed", str(2**40), "--out", "out")
    assert done.returncode == 0, done.stderr
    assert "images: 2 drawn by the local emulator" in done.stdout
