"""The manifest: an append-only JSON Lines log of every generation, one record per line.

Each record is written with one ``write``, flushed and ``fsync``-ed before the next, so after a
crash the file holds complete records and at most one torn last line. A line counts only once
its newline is on disk: reading ignores a last line without one, and the writer cuts it off
before appending. A broken line anywhere else is an error naming the file and the line.

A record (``status`` is ``"ok"`` or ``"failed"``)::

    {"job": "mugs", "index": 3, "status": "ok", "variables": {"color": "teal"}, "seed": 7,
     "model": "@cf/black-forest-labs/flux-2-klein-4b", "parameters": {"width": 512, ...},
     "prompt": {"scene": ...}, "prompt_fingerprint": "sha256:...",
     "request_fingerprint": "sha256:...", "file": "mug-teal.jpg", "sha256": "sha256:...",
     "bytes": 48213, "format": "jpeg", "width": 512, "height": 512, "error": null,
     "copied_from": null, "attempts": 1, "request_id": "...", "started_at": "2026-...Z",
     "finished_at": "...", "elapsed": 0.84}

An item whose image was copied instead of generated (its request repeats an earlier item's, or
the output pattern changed) says where from: ``"copied_from": {"request_fingerprint": ...,
"index": 3, "file": "mug-teal.jpg"}``, with ``"attempts": 0``.

Several items can share one request fingerprint (copies), so a record's key is the item's
identity, :func:`record_key`: its request fingerprint *and* its index in the batch. The
*effective* view of a manifest keeps one record per key: the last successful one if there is
any, else the last one. Two manifests are equivalent when
their effective views are equal once the :data:`TIMING_FIELDS` (which say when and how, not
what) are removed; :func:`merge_manifests` writes exactly that view, ordered by ``index``.

Example:
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "manifest.jsonl"
    >>> with ManifestWriter(path) as log:
    ...     log.append({"request_fingerprint": "sha256:aa", "index": 0, "status": "failed"})
    ...     log.append({"request_fingerprint": "sha256:aa", "index": 0, "status": "ok"})
    ...     log.append({"request_fingerprint": "sha256:aa", "index": 1, "status": "ok"})
    >>> [(r["index"], r["status"]) for r in effective_records(read_manifest(path)).values()]
    [(0, 'ok'), (1, 'ok')]
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from flux2prompt._atomic import atomic_write
from flux2prompt._errors import SourceError

__all__ = [
    "MANIFEST_NAME",
    "TIMING_FIELDS",
    "ManifestWriter",
    "MergeReport",
    "comparable_records",
    "effective_records",
    "iter_manifest",
    "manifests_equivalent",
    "merge_manifests",
    "read_manifest",
    "record_key",
    "record_order",
]

#: The manifest's file name inside an output folder.
MANIFEST_NAME = "manifest.jsonl"
#: Fields that differ between two runs of the same batch: left out when comparing manifests.
TIMING_FIELDS: frozenset[str] = frozenset(
    {"started_at", "finished_at", "elapsed", "attempts", "request_id"}
)


def _dumps(record: Mapping[str, object]) -> bytes:
    return (
        json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n"
    ).encode("utf-8")


class ManifestWriter:
    """Appends records to a manifest, each one flushed and fsynced before :meth:`append` returns.

    Safe to call from several threads. Opening it cuts off a torn last line left by a crash.

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "manifest.jsonl"
        >>> with ManifestWriter(path) as log:
        ...     log.append({"request_fingerprint": "sha256:ab", "status": "ok"})
        >>> path.read_text()
        '{"request_fingerprint":"sha256:ab","status":"ok"}\\n'
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._handle = open(self.path, "a+b")  # noqa: SIM115 - closed in close()
        self._repair_tail()

    def _repair_tail(self) -> None:
        handle = self._handle
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return
        # Walk back to the last newline: everything after it is a record cut short.
        position = size
        block = 4096
        while position > 0:
            start = max(0, position - block)
            handle.seek(start)
            chunk = handle.read(position - start)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                position = start + newline + 1
                break
            position = start
        handle.truncate(position)
        handle.flush()
        os.fsync(handle.fileno())

    def append(self, record: Mapping[str, object]) -> None:
        """Write one record as one line and make it durable."""
        line = _dumps(record)
        with self._lock:
            self._handle.write(line)
            self._handle.flush()
            os.fsync(self._handle.fileno())

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._handle.close()

    def __enter__(self) -> ManifestWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def iter_manifest(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Stream the complete records of a manifest, in order; a missing file has none.

    A last line without its newline (a crash mid-write) is ignored; any other line that is not
    a JSON object raises :class:`~flux2prompt.SourceError` with the file and the line.

    Example:
        >>> list(iter_manifest("no-such-manifest.jsonl"))
        []
    """
    path = Path(path)
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return
    except OSError as exc:
        raise SourceError(f"cannot read the manifest: {exc.strerror}", source=str(path)) from None
    with handle:
        for number, raw in enumerate(handle, 1):
            if not raw.endswith(b"\n"):
                return  # a torn last line: never committed
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except (ValueError, UnicodeDecodeError) as exc:
                raise SourceError(
                    f"broken manifest record ({exc}); only the last line can be torn by a crash, "
                    "so this file was edited or damaged: remove the line to go on",
                    source=str(path),
                    line=number,
                ) from None
            if not isinstance(record, dict) or not isinstance(
                record.get("request_fingerprint"), str
            ):
                raise SourceError(
                    "not a manifest record (a JSON object with a request_fingerprint)",
                    source=str(path),
                    line=number,
                )
            yield record


def read_manifest(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every complete record of a manifest, in order (see :func:`iter_manifest`).

    Example:
        >>> read_manifest("no-such-manifest.jsonl")
        []
    """
    return list(iter_manifest(path))


def record_key(record: Mapping[str, Any]) -> tuple[str, int | None]:
    """The identity of a record's item: its request fingerprint and its index in the batch.

    The fingerprint alone is not enough, since a copy shares its original's; the index alone is
    not either, since a changed dataset moves rows. A rerun with another output pattern keeps
    the key, so the record of the new name replaces the old one in the effective view.

    Example:
        >>> record_key({"request_fingerprint": "sha256:ab", "index": 4, "status": "ok"})
        ('sha256:ab', 4)
    """
    index = record.get("index")
    return (str(record["request_fingerprint"]), index if isinstance(index, int) else None)


def effective_records(
    records: Iterable[Mapping[str, Any]],
) -> dict[tuple[str, int | None], dict[str, Any]]:
    """One record per :func:`record_key`: the last ``ok`` one if any, else the last one.

    Example:
        >>> recs = [{"request_fingerprint": "a", "index": 0, "status": "ok", "elapsed": 1},
        ...         {"request_fingerprint": "a", "index": 0, "status": "failed"}]
        >>> effective_records(recs)[("a", 0)]["status"]
        'ok'
    """
    out: dict[tuple[str, int | None], dict[str, Any]] = {}
    for record in records:
        key = record_key(record)
        current = out.get(key)
        if current is None or record.get("status") == "ok" or current.get("status") != "ok":
            out[key] = dict(record)
    return out


def record_order(record: Mapping[str, Any]) -> tuple[int, str]:
    """Sort key for records: batch index, then request fingerprint."""
    index = record.get("index")
    return (index if isinstance(index, int) else -1, str(record["request_fingerprint"]))


def comparable_records(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The effective view without :data:`TIMING_FIELDS`, ordered by index then fingerprint.

    Example:
        >>> comparable_records([{"request_fingerprint": "a", "status": "ok", "elapsed": 2.5}])
        [{'request_fingerprint': 'a', 'status': 'ok'}]
    """
    view = effective_records(records).values()
    stripped = [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in view]
    return sorted(stripped, key=record_order)


def manifests_equivalent(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two manifests record the same generations (see :func:`comparable_records`).

    Example:
        >>> import pathlib, tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> for name, elapsed in (("a.jsonl", 1.5), ("b.jsonl", 9.0)):
        ...     with ManifestWriter(folder / name) as log:
        ...         log.append({"request_fingerprint": "sha256:1", "index": 0, "status": "ok",
        ...                     "elapsed": elapsed})
        >>> manifests_equivalent(folder / "a.jsonl", folder / "b.jsonl")
        True
    """
    return comparable_records(read_manifest(a)) == comparable_records(read_manifest(b))


@dataclass(frozen=True, slots=True)
class MergeReport:
    """What :func:`merge_manifests` did: records read, records written (one per item), how many
    of them succeeded, and items whose only records are failures.

    Example:
        >>> import pathlib, tempfile
        >>> report = merge_manifests([], pathlib.Path(tempfile.mkdtemp()) / "m.jsonl")
        >>> report.read, report.written, report.ok, report.failed, report.path.name
        (0, 0, 0, 0, 'm.jsonl')
    """

    path: Path
    read: int
    written: int
    ok: int
    failed: int


def merge_manifests(
    paths: Iterable[str | os.PathLike[str]], out: str | os.PathLike[str]
) -> MergeReport:
    """Merge manifests (of shards, or of several runs) into one, written atomically to ``out``.

    Records are de-duplicated by :func:`record_key`, keeping the successful one; the result
    is the effective view ordered by ``index``, so merging the manifests of all shards gives
    the same records as an unsharded run (timing fields aside).

    Example:
        >>> import pathlib, tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> for name, status in (("a.jsonl", "failed"), ("b.jsonl", "ok")):
        ...     with ManifestWriter(folder / name) as log:
        ...         log.append({"request_fingerprint": "sha256:1", "index": 0, "status": status})
        >>> merge_manifests([folder / "a.jsonl", folder / "b.jsonl"], folder / "m.jsonl").ok
        1
    """
    records: list[dict[str, Any]] = []
    for path in paths:
        if not Path(path).is_file():
            raise SourceError("no such manifest", source=str(path))
        records.extend(iter_manifest(path))
    merged = sorted(effective_records(records).values(), key=record_order)
    target = Path(out)
    atomic_write(target, b"".join(_dumps(record) for record in merged))
    ok = sum(1 for record in merged if record.get("status") == "ok")
    return MergeReport(
        path=target, read=len(records), written=len(merged), ok=ok, failed=len(merged) - ok
    )
