"""Line breaks where a line of a diff or a check does not expect one: a file name holding a
newline or U+2028, a prompt's long text holding a newline. Each change stays one line, the
word diff cannot fake another change, and a lockfile naming such a file reads back.

The commands run as the installed ``flux2-prompt``, in a subprocess, over real files.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flux2prompt import load
from flux2prompt._versioning import build_lock, check_lock, diff, read_lock, write_lock

COMMAND = str(Path(sys.executable).with_name("flux2-prompt"))

FOX = 'name = "fox"\n[prompt]\nscene = "a quiet fox"\nmood = "calm"\n'


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [COMMAND, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1", "COLUMNS": "300", "LANG": "C.UTF-8"},
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def test_a_file_name_with_a_line_separator_locks_and_checks(tmp_path: Path) -> None:
    """U+2028 in a module's name is in the per-item table as it is; reading the table splits
    rows at newlines only, so the lockfile it wrote is read back."""
    module = tmp_path / "he\u2028ro.py"
    module.write_text("from flux2prompt import scene\nhero = scene('a lighthouse')\n", "utf-8")
    lock = tmp_path / "flux2prompt.lock"
    write_lock(build_lock([module], base=tmp_path), lock)
    assert list(read_lock(lock).fields) == ["he\u2028ro.py:hero"]
    assert check_lock([module], lock).ok
    done = run(tmp_path, "lock", "--check", module.name)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "flux2prompt.lock is up to date (1 prompt)\n"


def test_a_folder_name_with_a_newline_keeps_each_change_on_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "my prompts\n~ fake: changed"
    folder.mkdir()
    (folder / "fox.prompt.toml").write_text(FOX, encoding="utf-8")
    assert run(tmp_path, "lock").returncode == 0
    (folder / "fox.prompt.toml").write_text(FOX.replace("calm", "tense"), encoding="utf-8")
    done = run(tmp_path, "lock", "--check")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert len(lines) == 2, lines  # the change, and its fields (named: no git here)
    assert lines[0].startswith("~ fox (my prompts\\n~ fake: changed/fox.prompt.toml): prompt ")
    assert lines[1].startswith("    fields changed: $.mood")

    other = tmp_path / "other.prompt.toml"
    other.write_text(FOX, encoding="utf-8")
    done = run(
        tmp_path, "diff", str(other.name), str((folder / "fox.prompt.toml").relative_to(tmp_path))
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "--- other.prompt.toml",
        "+++ my prompts\\n~ fake: changed/fox.prompt.toml",
        '~ $.mood: "calm" → "tense"',
    ]


def test_a_long_text_with_a_newline_cannot_fake_a_change_in_the_word_diff(tmp_path: Path) -> None:
    text = 'a long scene of a quiet harbour at dawn with boats and gulls\n~ $.mood: "x" → "y"'
    old = {"scene": text, "mood": "calm"}
    new = {"scene": text.replace("quiet", "busy"), "mood": "calm"}
    lines = diff(load(old), load(new)).render().split("\n")
    assert len(lines) == 2, lines
    assert lines[1] == (
        "    a long scene of a [-quiet-]{+busy+} harbour at dawn with boats and gulls\\n"
        '~ $.mood: "x" → "y"'
    )
    (tmp_path / "a.json").write_text(json.dumps(old), encoding="utf-8")
    (tmp_path / "b.json").write_text(json.dumps(new), encoding="utf-8")
    done = run(tmp_path, "diff", "a.json", "b.json")
    assert done.returncode == 0, done.stderr
    assert [line for line in done.stdout.splitlines() if line.startswith("~ $.mood")] == []


@pytest.mark.parametrize("separator", ["\u2028", "\u2029"])
def test_a_line_separator_in_a_value_does_not_split_the_diff_line(
    tmp_path: Path, separator: str
) -> None:
    old = {"scene": f"fog{separator}over the sea", "mood": "calm"}
    new = {"scene": f"fog{separator}over the lake", "mood": "tense"}
    for name, document in (("a.json", old), ("b.json", new)):
        (tmp_path / name).write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    done = run(tmp_path, "diff", "a.json", "b.json")
    assert done.returncode == 0, done.stderr
    escaped = f"\\u{ord(separator):04x}"
    assert done.stdout.split("\n") == [
        "--- a.json",
        "+++ b.json",
        f'~ $.scene: "fog{escaped}over the sea" → "fog{escaped}over the lake"',
        '~ $.mood: "calm" → "tense"',
        "",
    ]
