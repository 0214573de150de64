"""A lockfile edited by hand: a ``lock_version`` that no format ever had is refused in one line,
rather than read as version 1 with a note about a migration that does not exist."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from flux2prompt import SourceError, build_lock, read_lock, write_lock

COMMAND = str(Path(sys.executable).with_name("flux2-prompt"))


@pytest.fixture
def lockfile(tmp_path: Path) -> Path:
    (tmp_path / "fox.prompt.toml").write_text(
        'name = "fox"\n[prompt]\nscene = "a quiet fox"\n', encoding="utf-8"
    )
    path = tmp_path / "flux2prompt.lock"
    write_lock(build_lock([tmp_path], base=tmp_path), path)
    return path


def _set_version(path: Path, version: object) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    data["lock_version"] = version
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


@pytest.mark.parametrize("version", [0, -1])
def test_a_version_below_one_is_refused(lockfile: Path, version: int) -> None:
    _set_version(lockfile, version)
    with pytest.raises(SourceError) as caught:
        read_lock(lockfile)
    assert str(caught.value) == (
        f"{lockfile}: $.lock_version: {version} is no version of the format (1 to 2); this is "
        "not a flux2prompt lockfile (rewrite it with `flux2-prompt lock`)"
    )
    done = subprocess.run(
        [COMMAND, "lock", "--check"],
        cwd=lockfile.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"error: flux2prompt.lock: $.lock_version: {version} is no version of the format (1 to "
        "2); this is not a flux2prompt lockfile (rewrite it with `flux2-prompt lock`)"
    ]


@pytest.mark.parametrize("version", [1, 2])
def test_the_versions_there_are_still_read(lockfile: Path, version: int) -> None:
    _set_version(lockfile, version)
    lock = read_lock(lockfile)
    assert list(lock.prompts) == ["fox"]
    assert lock.migrated_from == (1 if version == 1 else None)


JOB = """\
template = "shop.py:bottle"
output = "{color}.{ext}"
seeds = 7
[variables.matrix]
color = ["teal", "coral"]
"""

SHOP = """\
from flux2prompt import scene, template


@template
def bottle(color: str):
    return scene(f"a {color} water bottle")
"""


def test_a_table_row_edited_by_hand_is_named_as_such(tmp_path: Path) -> None:
    (tmp_path / "shop.py").write_text(SHOP, encoding="utf-8")
    (tmp_path / "job.toml").write_text(JOB, encoding="utf-8")
    path = tmp_path / "flux2prompt.lock"
    write_lock(build_lock([tmp_path / "job.toml"], base=tmp_path), path)
    table = tmp_path / "flux2prompt.lock.items"
    rows = table.read_text(encoding="utf-8").splitlines()
    row = json.loads(rows[1])
    row["request_fingerprint"] = "sha256:" + "0" * 64
    table.write_text("\n".join([rows[0], json.dumps(row), *rows[2:]]) + "\n", encoding="utf-8")
    with pytest.raises(SourceError) as caught:
        read_lock(path)
    message = str(caught.value)
    assert message.startswith(
        f"{table}: the per-item table does not match the lockfile for job 'job.toml' (its 2 "
        "rows have digest sha256:"
    )
    assert message.endswith("); run `flux2-prompt lock` and commit both files")
    recorded = json.loads(path.read_text(encoding="utf-8"))["jobs"]["job.toml"]["digest"]
    assert f"the lock says {recorded[:23]})" in message


def _check(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [COMMAND, "lock", "--check"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


CONFLICT_FIX = (
    "merge conflict markers (<<<<<<<): a lockfile is not merged by hand; resolve the prompts' "
    "conflicts, then run `flux2-prompt lock` to rewrite it and its table, and commit both"
)


@pytest.mark.parametrize("table", [False, True], ids=["lockfile", "table"])
def test_conflict_markers_say_to_relock_not_invalid_json(lockfile: Path, table: bool) -> None:
    path = lockfile.with_name(lockfile.name + ".items") if table else lockfile
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    path.write_text(
        "".join(lines[:1]) + "<<<<<<< HEAD\n" + "".join(lines[1:]) + "=======\n>>>>>>> theirs\n",
        encoding="utf-8",
    )
    with pytest.raises(SourceError) as caught:
        read_lock(lockfile)
    assert str(caught.value) == f"{path}:2: {CONFLICT_FIX}"
    done = _check(lockfile.parent)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"error: {path.name}:2: {CONFLICT_FIX}"]
    # Running lock, as the line says, rewrites both files.
    relock = subprocess.run(
        [COMMAND, "lock"], cwd=lockfile.parent, capture_output=True, text=True, timeout=120
    )
    assert relock.returncode == 0, relock.stderr
    assert _check(lockfile.parent).returncode == 0


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (lambda text: text[:40], ":4: invalid JSON at column 3: Unterminated string"),
        (
            lambda text: text.replace('"prompts": {', '"prompts": {"fox": {}, ', 1),
            ":5: duplicate key 'fox': a later value would silently replace it",
        ),
    ],
    ids=["truncated", "duplicate key"],
)
def test_a_damaged_lockfile_says_how_to_rewrite_it(
    lockfile: Path, damage: Callable[[str], str], said: str
) -> None:
    lockfile.write_text(damage(lockfile.read_text(encoding="utf-8")), encoding="utf-8")
    done = _check(lockfile.parent)
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"error: flux2prompt.lock{said}")
    assert line.endswith(
        "; this is not a flux2prompt lockfile (rewrite it with `flux2-prompt lock`)"
    )


def test_a_table_saved_with_a_byte_order_mark_is_read_as_the_lockfile_is(
    lockfile: Path,
) -> None:
    for path in (lockfile, lockfile.with_name(lockfile.name + ".items")):
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    assert read_lock(lockfile).fields["fox"]
    done = _check(lockfile.parent)
    assert done.returncode == 0, done.stderr
