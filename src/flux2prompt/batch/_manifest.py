"""The manifest: an append-only JSON Lines log of every generation, one record per line.

Each record is written with one ``write``, flushed and ``fsync``-ed before the next, so after a
crash the file holds complete records and at most one torn last line. A last line without its
newline counts when it is a whole record (the crash came between the record and its newline,
or another tool wrote the file without a final newline): reading keeps it, and the writer puts
the newline after it before appending. A last line that is not a whole record (cut short) was
never committed: reading ignores it, and the writer cuts it off before appending. A broken line
anywhere else is an error naming the file and the line.

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

import contextlib
import json
import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from flux2prompt._atomic import atomic_write, remove_temporary_files_of
from flux2prompt._errors import SourceError
from flux2prompt._json import finite_float, refuse_constant
from flux2prompt.batch._lock import LOCK_NAME, FolderLock

__all__ = [
    "MANIFEST_NAME",
    "SUPERSEDED",
    "TIMING_FIELDS",
    "ManifestWriter",
    "MergeReport",
    "comparable_records",
    "effective_records",
    "gather_images",
    "iter_manifest",
    "manifests_equivalent",
    "merge_manifests",
    "read_manifest",
    "record_key",
    "record_order",
]

#: The manifest's file name inside an output folder.
MANIFEST_NAME = "manifest.jsonl"
#: The ``status`` of a record that takes an item out of the effective view (see
#: :func:`effective_records`): its file was replaced, or it is no longer in the job.
SUPERSEDED = "superseded"
#: Fields that differ between two runs of the same batch: left out when comparing manifests.
#: ``recovered`` marks an image recorded after a crash rather than when it was written: the
#: same image, recorded later.
TIMING_FIELDS: frozenset[str] = frozenset(
    {"started_at", "finished_at", "elapsed", "attempts", "request_id", "recovered"}
)


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
#: The longest manifest line read (a record holds one prompt: far below this).
MAX_RECORD_BYTES = 4 * 1024 * 1024
#: The deepest nesting of a manifest record read (a prompt nests a few levels).
MAX_RECORD_DEPTH = 64
_BOM = b"\xef\xbb\xbf"
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _dumps(record: Mapping[str, object]) -> bytes:
    return (
        json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n"
    ).encode("utf-8")


class ManifestWriter:
    """Appends records to a manifest, each one flushed and fsynced before :meth:`append` returns.

    Safe to call from several threads. Opening it cuts off a torn last line left by a crash, and
    ends a whole last record that lacks its newline with one, so the next record starts a line.

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
        # Unbuffered, and never through a symbolic link: a record is one write, and a link
        # would make the runner append to (and cut the last line of) a file elsewhere.
        flags = os.O_RDWR | os.O_CREAT | os.O_APPEND | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(self.path, flags, 0o666)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            if self.path.is_symlink():
                reason = "it is a symbolic link (refused: the manifest must be a file of its own)"
            raise SourceError(
                f"cannot open the manifest: {reason}", source=str(self.path)
            ) from None
        self._handle = os.fdopen(fd, "a+b", buffering=0)
        try:
            self._repair_tail()
        except OSError as exc:  # a full disk, a read-only file system
            self._handle.close()
            reason = exc.strerror or type(exc).__name__
            raise SourceError(
                f"cannot repair the manifest's last line: {reason}; free space (or fix the "
                "disk), then rerun",
                source=str(self.path),
            ) from None

    def _repair_tail(self) -> None:
        handle = self._handle
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return
        # Walk back to the last newline: everything after it is the last line, without its own.
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
        tail = b""
        if size - position <= MAX_RECORD_BYTES:
            handle.seek(position)
            tail = handle.read(size - position)
        if tail and _whole_record(tail):
            # A whole record whose newline never reached the disk: kept, and ended now.
            os.write(handle.fileno(), b"\n")  # O_APPEND: at the end
        else:
            handle.truncate(position)  # a record cut short: never committed
        os.fsync(handle.fileno())

    def append(self, record: Mapping[str, object]) -> None:
        """Write one record as one line and make it durable.

        A record that cannot be written whole (a full disk) is cut off again before the
        ``OSError`` is raised, so the manifest keeps only complete lines. A record longer than
        a manifest line may be (:data:`MAX_RECORD_BYTES`: a prompt of megabytes) is written
        without its longest texts (:func:`fitted`), so it stays readable and its image counts.
        """
        line = _dumps(record)
        if len(line) > MAX_RECORD_BYTES:
            line = _dumps(fitted(record))
        with self._lock:
            fd = self._handle.fileno()
            start = os.lseek(fd, 0, os.SEEK_END)
            try:
                view = memoryview(line)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            except OSError:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, start)
                raise

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


#: The record fields that can be left out of an oversized record, longest first: what was
#: sent and said (the request fingerprint, the prompt fingerprint and the image identify it).
_OMITTABLE = ("prompt", "effective_prompt", "error")
#: The longest error message an oversized record keeps.
_KEPT_MESSAGE = 2000


def fitted(record: Mapping[str, object]) -> dict[str, object]:
    """``record`` made to fit a manifest line: its longest fields among ``prompt``,
    ``effective_prompt`` and the error's message are left out (``null``; a cut message), and
    ``"omitted"`` names them with their size in bytes. Everything resuming reads (the
    fingerprints, the index, the file, the sha256) is kept.

    Example:
        >>> big = {"request_fingerprint": "sha256:1", "index": 0, "prompt": "x" * 5_000_000}
        >>> small = fitted(big)
        >>> small["prompt"], small["omitted"], len(_dumps(small)) <= MAX_RECORD_BYTES
        (None, {'prompt': 5000002}, True)
    """
    out = dict(record)
    omitted: dict[str, int] = {}
    sizes = {
        key: len(_dumps({"v": out[key]})) - 7 for key in _OMITTABLE if out.get(key) is not None
    }
    for key in sorted(sizes, key=sizes.__getitem__, reverse=True):
        if len(_dumps(out)) <= MAX_RECORD_BYTES:
            break
        value = out[key]
        if key == "error" and isinstance(value, Mapping) and isinstance(value.get("message"), str):
            message = str(value["message"])
            out[key] = {**value, "message": message[:_KEPT_MESSAGE] + "..."}
        else:
            out[key] = None
        omitted[key] = sizes[key]
    if omitted:
        out["omitted"] = omitted
    return out


def iter_manifest(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Stream the complete records of a manifest, in order; a missing file has none.

    A last line without its newline is kept when it is a whole record, and ignored when it is
    cut short (a crash mid-write); any other line that is not a JSON object raises
    :class:`~flux2prompt.SourceError` with the file and the line.

    Example:
        >>> list(iter_manifest("no-such-manifest.jsonl"))
        []
    """
    path = Path(path)
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return
    except IsADirectoryError:
        raise SourceError(
            "cannot read the manifest: it is a folder, not a file; move it out of the way, or "
            "choose another --out",
            source=str(path),
        ) from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SourceError(
            f"cannot read the manifest: {reason}; fix its permissions or the disk, or choose "
            "another --out",
            source=str(path),
        ) from None
    with handle:
        number = 0
        while True:
            number += 1
            try:
                raw = handle.readline(MAX_RECORD_BYTES + 1)
            except OSError as exc:
                raise _unreadable(path, number, exc) from None
            if not raw:
                return
            if number == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM) :]  # an editor that saved the file "as UTF-8 with BOM"
            if len(raw) > MAX_RECORD_BYTES:
                if not raw.endswith(b"\n") and _rest_is_one_line(handle, path, number):
                    # The last line, torn: no record is this long, so it was never one (the
                    # NUL-filled tail a crash leaves on some file systems), and the writer cuts
                    # it off as it cuts off any torn last line.
                    return
                raise _damaged(path, number, f"a line longer than {MAX_RECORD_BYTES:,} bytes")
            if not raw.endswith(b"\n"):
                # The last line: a whole record without its newline counts; a torn one (cut
                # short by a crash mid-write) was never committed.
                if _whole_record(raw):
                    yield _parse_line(path, number, raw)
                return
            if not raw.strip():
                continue
            yield _parse_line(path, number, raw)


def _rest_is_one_line(handle: IO[bytes], path: Path, number: int) -> bool:
    """Whether what is left of ``handle`` holds no newline: the line being read is the last."""
    while True:
        try:
            chunk = handle.read(1 << 20)
        except OSError as exc:
            raise _unreadable(path, number, exc) from None
        if not chunk:
            return True
        if b"\n" in chunk:
            return False


def _unreadable(path: Path, number: int, exc: OSError) -> SourceError:
    """The error of a manifest whose line ``number`` the disk would not give back."""
    reason = exc.strerror or type(exc).__name__
    return SourceError(f"cannot read the manifest: {reason}", source=str(path), line=number)


def _whole_record(raw: bytes) -> bool:
    """Whether ``raw``, a last line without its newline, is a whole JSON object rather than
    the start of one cut short. A record is written in one piece ending with ``}``: a prefix of
    it that parses as an object is the whole of it."""
    text = raw.strip().removeprefix(_BOM).strip()
    if not (text.startswith(b"{") and text.endswith(b"}")):
        return False
    if text.count(b"[") + text.count(b"{") > MAX_RECORD_DEPTH and _depth(text) > MAX_RECORD_DEPTH:
        return False  # never a record the runner wrote: not parsed (it would recurse)
    try:
        json.loads(text, parse_float=finite_float, parse_constant=refuse_constant)
    except (ValueError, RecursionError):
        return False
    return True


def _damaged(path: Path, number: int, what: str) -> SourceError:
    return SourceError(
        f"broken manifest record ({what}); only the last line can be torn by a crash, "
        "so this file was edited or damaged: remove the line to go on",
        source=str(path),
        line=number,
    )


def _depth(raw: bytes) -> int:
    """The deepest nesting of ``[`` and ``{`` in a JSON text (brackets in strings skipped)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def _parse_line(path: Path, number: int, raw: bytes) -> dict[str, Any]:
    # Cheap guards first: only a line with many brackets is scanned for its depth, and only
    # one with a \uD8xx-\uDFxx escape is checked for lone surrogates.
    if raw.count(b"[") + raw.count(b"{") > MAX_RECORD_DEPTH:
        depth = _depth(raw)
        if depth > MAX_RECORD_DEPTH:
            raise _damaged(path, number, f"nested {depth} deep, more than {MAX_RECORD_DEPTH}")
    # Decoded first: JSON's own guess at the encoding of bytes (UTF-16 or UTF-32 for a line
    # that starts with NUL bytes) would word the error in codecs the file never used. No JSON
    # text holds a raw NUL byte (a string escapes it).
    if b"\0" in raw:
        raise _damaged(
            path, number, "NUL bytes where a record should be: the disk lost what was written there"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        reason = f"bytes that are not UTF-8 text: 0x{raw[exc.start]:02x} at byte {exc.start + 1}"
        raise _damaged(path, number, reason) from None
    try:
        record = json.loads(text, parse_float=finite_float, parse_constant=refuse_constant)
    except (ValueError, RecursionError) as exc:
        reason = str(exc).splitlines()[0][:200]
        if "integer string conversion" in reason:  # Python's own limit, not the reader's words
            reason = "a number has too many digits"
        raise _damaged(path, number, reason) from None
    if b"\\u" in raw and _SURROGATE.search(raw):
        try:
            json.dumps(record, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise _damaged(path, number, "a lone surrogate (\\ud800-\\udfff) in a string") from None
    if not isinstance(record, dict) or not isinstance(record.get("request_fingerprint"), str):
        raise SourceError(
            "not a manifest record (a JSON object with a request_fingerprint)",
            source=str(path),
            line=number,
        )
    index = record.get("index")
    if index is not None and (not isinstance(index, int) or isinstance(index, bool)):
        raise _damaged(path, number, f"index {str(index)[:20]} is not an integer")
    return record


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
    """One record per :func:`record_key`: the last ``ok`` one if any, else the last one; an
    item whose latest record is a ``superseded`` one (its image was replaced, or it is no longer
    in the job) is left out, until a later record brings it back.

    Example:
        >>> recs = [{"request_fingerprint": "a", "index": 0, "status": "ok", "elapsed": 1},
        ...         {"request_fingerprint": "a", "index": 0, "status": "failed"},
        ...         {"request_fingerprint": "b", "index": 1, "status": "ok"},
        ...         {"request_fingerprint": "b", "index": 1, "status": SUPERSEDED}]
        >>> {key: r["status"] for key, r in effective_records(recs).items()}
        {('a', 0): 'ok'}
    """
    out: dict[tuple[str, int | None], dict[str, Any]] = {}
    for record in records:
        key = record_key(record)
        if record.get("status") == SUPERSEDED:
            out.pop(key, None)
            continue
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
        if Path(path).is_dir():
            raise SourceError(
                f"is a folder, not a manifest: give {Path(path) / MANIFEST_NAME}", source=str(path)
            )
        if not Path(path).is_file():
            raise SourceError("no such manifest", source=str(path))
        records.extend(iter_manifest(path))
    merged = sorted(effective_records(records).values(), key=record_order)
    target = Path(out)
    # A merge killed mid-write left its temporary file next to the target: removed now.
    # Into a batch's own folder: not while a run writes there (it appends to the manifest this
    # would replace, and its records would be lost).
    lock = FolderLock(target.parent) if (target.parent / LOCK_NAME).exists() else None
    holder = lock.try_acquire() if lock is not None else None
    if holder is not None:
        who = f"PID {holder}" if holder else "another process"
        raise SourceError(
            f"a flux2-prompt batch ({who}) is writing to this folder; merge once it has ended, "
            "or choose another --out",
            source=str(target.parent),
        )
    try:
        remove_temporary_files_of(target)
        atomic_write(target, b"".join(_dumps(record) for record in merged))
    except OSError as exc:  # a folder where the file goes, a file where a folder goes, a full disk
        raise _unwritable(target, "write the merged manifest", exc) from None
    finally:
        if lock is not None:
            lock.release()
    ok = sum(1 for record in merged if record.get("status") == "ok")
    return MergeReport(
        path=target, read=len(records), written=len(merged), ok=ok, failed=len(merged) - ok
    )


def _unwritable(path: Path, what: str, exc: OSError) -> SourceError:
    """A merge's write that failed, in one line naming the file it was for (not its temporary
    file)."""
    reason = exc.strerror or type(exc).__name__
    return SourceError(
        f"cannot {what}: {reason}; remove what is in the way or choose another --out",
        source=str(path),
    )


def gather_images(paths: Iterable[str | os.PathLike[str]], out: str | os.PathLike[str]) -> int:
    """Copy the image of every ``ok`` record of the merged manifest ``out`` next to it, from the
    folder of the manifest (among ``paths``) that records it, and the bytes a failed record kept
    (``unreadable/...``) when they are still there; return how many files were copied.

    Every image is checked first (present, with the recorded sha256, inside its folder, not
    through a symbolic link); if one is not, :class:`~flux2prompt.SourceError` names it and
    nothing is copied, so a gallery never shows a blank card. Images already in place are
    left as they are.

    Example:
        >>> import pathlib, tempfile
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> merged = merge_manifests([], folder / "all" / "manifest.jsonl")
        >>> gather_images([], merged.path)
        0
    """
    from flux2prompt._digest import sha256_fingerprint
    from flux2prompt.batch._naming import inside

    target_dir = Path(out).parent
    origin: dict[tuple[str, int | None], Path] = {}
    for path in paths:
        folder = Path(path).parent
        for key, record in effective_records(iter_manifest(path)).items():
            if record.get("status") == "ok" or isinstance(record.get("kept"), str):
                origin[key] = folder
    plan: list[tuple[Path, Path]] = []
    root = os.path.realpath(target_dir)
    for key, record in effective_records(iter_manifest(out)).items():
        kept = record.get("kept")
        if record.get("status") == "failed" and isinstance(kept, str):
            # An answer that was no image, kept by its batch: copied along when it is still
            # there (it may have been paid for), so the gallery's link to it works.
            source, target = inside(origin.get(key, target_dir), kept), inside(target_dir, kept)
            if source is not None and target is not None and _read_image(source) is not None:
                real = os.path.realpath(target.parent)
                inside_root = real == root or real.startswith(root + os.sep)
                if inside_root and os.path.realpath(source) != os.path.realpath(target):
                    plan.append((source, target))
            continue
        if record.get("status") != "ok":
            continue
        file = record.get("file")
        folder = origin.get(key, target_dir)
        source, target = inside(folder, file), inside(target_dir, file)
        if source is None or target is None:
            raise SourceError(f"record {key[1]}: file {file!r} is not a path inside its folder")
        data = _read_image(source)
        if data is None or sha256_fingerprint(data) != record.get("sha256"):
            raise SourceError(
                f"the image {file} is missing or changed (it must have the recorded sha256); "
                "rerun that batch or merge without --gallery",
                source=str(source),
            )
        real = os.path.realpath(target.parent)
        if real != root and not real.startswith(root + os.sep):
            raise SourceError(
                "a symbolic link on the way leads out of the merged folder (refused)",
                source=str(target),
            )
        if os.path.realpath(source) != os.path.realpath(target):
            plan.append((source, target))
    for source, target in plan:
        data = _read_image(source)
        if data is None:
            raise SourceError("the image went away while the gallery was made", source=str(source))
        try:
            atomic_write(target, data)
        except OSError as exc:  # a folder where the image goes, a file where its folder goes
            raise _unwritable(target, "copy the image here", exc) from None
    return len(plan)


def _read_image(path: Path) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
        with os.fdopen(fd, "rb") as handle:
            return handle.read()
    except OSError:
        return None
