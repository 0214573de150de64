"""Two prompts with the same keys and values that are not sent as the same text: keys of an
extra in another order, ``1`` written ``1.0``. Their fingerprints differ, so ``lock --check``
fails; the diff (of two files, ``--rev`` and the check's own field diff) says why, rather than
showing a change with nothing under it or "no differences".

A real git repository in a temporary folder, the installed ``flux2-prompt`` in a subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from testkit import git

COMMAND = str(Path(sys.executable).with_name("flux2-prompt"))
SAME_VALUES = (
    "same keys and values, sent as other text: keys in another order or a number written "
    "otherwise (1 and 1.0), so the fingerprints differ"
)
MODULE = 'from flux2prompt import scene\nhero = scene("a lighthouse").extra("weights", {WEIGHTS})\n'


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [COMMAND, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


@pytest.mark.parametrize(
    "weights", ['{"b": 1, "a": 2}', '{"a": 2.0, "b": 1}'], ids=["key order", "number form"]
)
def test_a_change_of_text_only_says_so_everywhere(tmp_path: Path, weights: str) -> None:
    module = tmp_path / "hero.py"
    module.write_text(MODULE.replace("{WEIGHTS}", '{"a": 2, "b": 1}'), encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.flux2prompt]\nmodules = ["*.py"]\n', encoding="utf-8"
    )
    assert run(tmp_path, "lock").returncode == 0
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "one")
    old = tmp_path / "copies" / "old.py"  # outside the inventory
    old.parent.mkdir()
    old.write_text(module.read_text(encoding="utf-8"), encoding="utf-8")
    module.write_text(MODULE.replace("{WEIGHTS}", weights), encoding="utf-8")

    check = run(tmp_path, "lock", "--check")
    assert check.returncode == 1
    lines = check.stdout.splitlines()
    assert lines[0].startswith("~ hero.py:hero (hero.py): prompt sha256:")
    assert lines[1:] == [f"    {SAME_VALUES}"]
    document = json.loads(run(tmp_path, "lock", "--check", "--json").stdout)
    assert document["changes"][0]["fields"] == []

    rev = run(tmp_path, "diff", "--rev", "HEAD", "hero.py")
    assert rev.returncode == 0, rev.stderr
    assert rev.stdout.splitlines()[2:] == ["~ hero.py:hero: changed", f"    {SAME_VALUES}"]

    two = run(tmp_path, "diff", "--exit-code", "copies/old.py:hero", "hero.py:hero")
    assert two.returncode == 1
    assert two.stdout.splitlines()[2:] == [SAME_VALUES]
    same = run(tmp_path, "diff", "--exit-code", "copies/old.py:hero", "copies/old.py:hero")
    assert same.returncode == 0
    assert same.stdout.startswith("no differences")
