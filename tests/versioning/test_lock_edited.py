"""A lockfile edited by hand: a ``lock_version`` that no format ever had is refused in one line,
rather than read as version 1 with a note about a migration that does not exist."""

from __future__ import annotations

import json
import subprocess
import sys
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
