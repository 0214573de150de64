"""Atomic writes: one implementation for images, manifests and galleries."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from flux2prompt._atomic import atomic_write, remove_temporary_files


def test_writes_creates_folders_and_returns_the_path(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "file.bin"
    assert atomic_write(target, b"one") == target
    assert atomic_write(target, b"two").read_bytes() == b"two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["file.bin"]


def test_the_file_gets_an_ordinary_mode(tmp_path: Path) -> None:
    target = atomic_write(tmp_path / "file.bin", b"x")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = atomic_write(tmp_path / "file.bin", b"old")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]


def test_remove_temporary_files_cleans_every_folder(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for name in (".a.png.x1.tmp", "sub/.b.html.x2.tmp", "keep.tmp", ".keep"):
        (tmp_path / name).write_bytes(b"")
    assert remove_temporary_files(tmp_path) == 2
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()) == [
        ".keep",
        "keep.tmp",
    ]
    assert remove_temporary_files(tmp_path / "missing") == 0
