"""Two ``lock`` runs at once on one folder: their writes of the lockfile and of its per-item
table never interleave, so the pair on disk always comes from one run and reads back.

The race is forced, not hoped for: the first run stops between its two writes until the second
has had every chance to write both of its own (a second run that is kept waiting cannot).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from flux2prompt import build_lock, read_lock, write_lock
from flux2prompt._versioning import _lock

SHOP = """\
from flux2prompt import scene, template


@template
def bottle(color: str):
    return scene(f"a {color} water bottle")
"""


def _job(colors: list[str]) -> str:
    listed = ", ".join(f'"{color}"' for color in colors)
    return (
        'template = "shop.py:bottle"\noutput = "{color}.{ext}"\nseeds = 7\n'
        f"[variables.matrix]\ncolor = [{listed}]\n"
    )


def test_two_writers_leave_one_runs_pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "shop.py").write_text(SHOP, encoding="utf-8")
    job = tmp_path / "job.toml"
    job.write_text(_job(["teal", "coral"]), encoding="utf-8")
    first = build_lock([job], base=tmp_path)
    job.write_text(_job(["teal", "coral", "olive"]), encoding="utf-8")
    second = build_lock([job], base=tmp_path)
    path = tmp_path / "flux2prompt.lock"

    table_written = threading.Event()
    second_done = threading.Event()
    real_write = _lock.atomic_write
    first_thread: list[threading.Thread] = []

    def paused_write(target: Path, data: bytes, *args: Any, **kwargs: Any) -> None:
        real_write(target, data, *args, **kwargs)
        if threading.current_thread() is first_thread[0] and target.name.endswith(".items"):
            table_written.set()
            second_done.wait(timeout=3)  # the second run's chance to slip in between

    monkeypatch.setattr(_lock, "atomic_write", paused_write)

    def second_run() -> None:
        table_written.wait(timeout=30)
        write_lock(second, path)
        second_done.set()

    first_thread.append(threading.Thread(target=write_lock, args=(first, path)))
    other = threading.Thread(target=second_run)
    first_thread[0].start()
    other.start()
    first_thread[0].join(timeout=60)
    other.join(timeout=60)

    recorded = read_lock(path)  # the table matches the lockfile beside it
    assert recorded.jobs["job.toml"].items == 3  # the run that wrote last
    assert recorded.jobs == second.jobs


def test_a_check_while_lock_writes_reads_one_runs_pair(tmp_path: Path) -> None:
    """A reader that comes between the writer's two files (the new table is there, the old
    lockfile still beside it) waits for the second write, rather than failing on a pair that
    does not match."""
    (tmp_path / "shop.py").write_text(SHOP, encoding="utf-8")
    job = tmp_path / "job.toml"
    job.write_text(_job(["teal", "coral"]), encoding="utf-8")
    path = tmp_path / "flux2prompt.lock"
    write_lock(build_lock([job], base=tmp_path), path)
    job.write_text(_job(["teal", "coral", "olive"]), encoding="utf-8")
    new = build_lock([job], base=tmp_path)

    read: list[object] = []

    def reader() -> None:
        try:
            read.append(read_lock(path))
        except Exception as exc:  # what it read, whatever it was
            read.append(exc)

    thread = threading.Thread(target=reader)
    with _lock._one_writer(tmp_path):  # a writer, halfway: the new table, the old lockfile
        _lock.atomic_write(_lock.items_path(path), new.items_text().encode("utf-8"))
        thread.start()
        thread.join(timeout=1)
        assert read == []  # waiting for the writer, not reading half of its pair
        _lock.atomic_write(path, new.to_json().encode("utf-8"))
    thread.join(timeout=60)
    (recorded,) = read
    assert isinstance(recorded, _lock.Lock), recorded
    assert recorded.jobs == new.jobs
