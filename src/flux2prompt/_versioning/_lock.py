"""The lockfile: the fingerprints of every prompt that would be sent, so CI can refuse an
unreviewed change.

:func:`build_lock` fingerprints a project's prompt inventory (prompt files, module-level
prompts, every item of every job file; see :mod:`flux2prompt._versioning._inventory`),
:func:`write_lock` stores it as ``flux2prompt.lock`` (and its per-item table beside it, as
``flux2prompt.lock.items``) and :func:`check_lock` says what changed since, with the field diff.

The format (``lock_version`` 2) is described in ``docs/versioning.md``. A version 1 lockfile
(prompt files only) is read and migrated: its prompts keep their fingerprints.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import stat
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from flux2prompt._atomic import atomic_write, read_at_most
from flux2prompt._document import parse_json
from flux2prompt._errors import SourceError
from flux2prompt._files._project import Project, discover_paths
from flux2prompt._json import refuse_constant
from flux2prompt._schema import SCHEMA_VERSION, json_path
from flux2prompt._templates import canonical_variables
from flux2prompt._text import printable, surrogate_problem
from flux2prompt._versioning._diff import SAME_VALUES, DiffEntry, one_line
from flux2prompt._versioning._inventory import Inventory, InventoryEntry, build_inventory

if TYPE_CHECKING:
    from flux2prompt._model import Prompt


#: The default name of the lockfile.
LOCK_FILE = "flux2prompt.lock"
#: The version of the lockfile's own format (1: prompt files only; 2: the whole inventory).
LOCK_VERSION = 2
#: The names of the files that :func:`find_prompt_files` picks up inside a directory.
PROMPT_FILE_PATTERNS: tuple[str, ...] = ("*.prompt.toml", "*.prompt.json")
#: How many changed items of one job ``render`` lists before it summarises the rest.
SHOWN_ITEMS = 20
#: The largest lockfile or per-item table read (1 GiB, some two million items): a larger or
#: endless file (a link to /dev/zero) is refused, not read.
MAX_LOCK_BYTES = 1024 * 1024 * 1024


def items_path(lock_path: str | Path) -> Path:
    """The per-item table beside a lockfile: its name with ``.items`` added.

    >>> items_path("flux2prompt.lock").name
    'flux2prompt.lock.items'
    """
    path = Path(lock_path)
    return path.with_name(path.name + ".items")


def find_prompt_files(paths: Iterable[str | Path] = (".",)) -> list[Path]:
    """The prompt files named by ``paths``, sorted and without repeats.

    A file is taken whatever its name (unless it is a Python module or a job file); a directory
    is searched recursively for ``*.prompt.toml`` and ``*.prompt.json``, skipping hidden
    directories (``.git``, ``.venv``), ``node_modules``, ``__pycache__`` and
    ``__prompt_snapshots__``. A path that does not exist is a :class:`~flux2prompt.SourceError`.
    """
    return list(discover_paths(paths).prompt_files)


# One encoder for every field hash: the same text as canonical_json, without building an
# encoder per value (a 10,000-item job hashes some 100,000 fields).
_ENCODE = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode
_FIELD_PATHS: dict[str, str] = {}


def _short_hash(value: Any) -> str:
    """The first 16 hex digits of sha256 over the canonical JSON of ``value``."""
    return hashlib.sha256(_ENCODE(value).encode("utf-8")).hexdigest()[:16]


def field_hash(value: Any) -> str | None:
    """The short hash :func:`field_hashes` records of ``value``; ``None`` for a value with no
    JSON form (which no field hash can be of).

    >>> field_hash("@cf/m") == field_hash("@cf/m") != field_hash("@cf/n")
    True
    """
    try:
        return _short_hash(value)
    except (TypeError, ValueError, RecursionError):
        return None


def _field_path(key: str) -> str:
    path = _FIELD_PATHS.get(key)
    if path is None:
        path = _FIELD_PATHS[key] = json_path([key])
    return path


def field_hashes(entry: InventoryEntry) -> dict[str, str]:
    """A short hash of each top-level field of the entry's prompt and of its model and each
    parameter: what lets :func:`check_lock` name the fields that changed when the old content
    cannot be rebuilt from git.

    >>> e = InventoryEntry("k", "prompt", "k", "k", "sha256:1", None, document={"scene": "fog"})
    >>> list(field_hashes(e))
    ['$.scene']
    """
    out = {_field_path(key): _short_hash(value) for key, value in (entry.document or {}).items()}
    metadata = entry.metadata
    if "model" in metadata:
        out["model"] = _short_hash(metadata["model"])
    for key, value in (metadata.get("parameters") or {}).items():
        out[f"parameters.{key}"] = _short_hash(value)
    if "prompt_format" in metadata:  # absent: sent as JSON, as every lock before forms says
        out["prompt_format"] = _short_hash(metadata["prompt_format"])
    return out


def form_of(hashes: Mapping[str, str]) -> str:
    """The form of prompt an item's field hashes record: ``json`` when they hold none (every
    lock written before forms), else the form whose hash they hold.

    >>> form_of({}), form_of({"prompt_format": _short_hash("prose")})
    ('json', 'prose')
    """
    recorded = hashes.get("prompt_format")
    if recorded is None:
        return "json"
    for form in ("json", "prose", "layout"):
        if _short_hash(form) == recorded:
            return form
    return "another form"


def request_fingerprint(
    prompt: Prompt, *, model: str | None = None, parameters: Mapping[str, int | float] | None = None
) -> str:
    """The request fingerprint of ``prompt`` sent to ``model`` with ``parameters``.

    It is the transport's: sha256 of canonical JSON of the model id, the prompt fingerprint and
    the sorted parameters (width and height filled in with the model's defaults), so it matches
    the fingerprint the batch runner records. Bad parameters raise the transport's
    ``ParameterError``.
    """
    from flux2prompt.transport import build_request

    options: dict[str, Any] = dict(parameters or {})
    if model is not None:
        options["model"] = model
    return build_request(prompt, **options).fingerprint


@dataclass(frozen=True, slots=True)
class LockEntry:
    """What the lockfile records for one prompt (a prompt file's, or a module's ``NAME``).

    ``path`` is relative to the lockfile's folder, with ``/`` separators; ``source`` is the
    SOURCE that names it (``prompts/hero.py:hero``) and ``profile`` the profile it was checked
    under (both ``None`` in a migrated version 1 lockfile). For a template prompt file,
    ``prompt_fingerprint`` is the fingerprint of its document as written and
    ``request_fingerprint`` is ``None``.
    """

    path: str
    prompt_fingerprint: str
    request_fingerprint: str | None
    template: bool = False
    source: str | None = field(default=None, compare=False)
    profile: str | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The entry as it appears in ``flux2prompt.lock``."""
        out: dict[str, Any] = {
            "path": self.path,
            "prompt_fingerprint": self.prompt_fingerprint,
            "request_fingerprint": self.request_fingerprint,
        }
        if self.source is not None:
            out["source"] = self.source
        if self.profile is not None:
            out["profile"] = self.profile
        if self.template:
            out["template"] = True
        return out


@dataclass(frozen=True, slots=True)
class JobLock:
    """What the lockfile records for a job file: its name, template, model, parameters and
    profile, how many items it expands to, and ``digest``, sha256 over the items' ordered
    request fingerprints. The items themselves are in the per-item table."""

    path: str
    name: str
    template: str
    model: str
    parameters: Mapping[str, int | float]
    profile: str
    items: int
    digest: str

    def to_dict(self) -> dict[str, Any]:
        """The job as it appears in ``flux2prompt.lock``."""
        return {
            "path": self.path,
            "name": self.name,
            "template": self.template,
            "model": self.model,
            "parameters": dict(self.parameters),
            "profile": self.profile,
            "items": self.items,
            "digest": self.digest,
        }


@dataclass(frozen=True, slots=True)
class ItemLock:
    """One job item in the per-item table: where it comes from (``index`` in the batch,
    ``origin`` such as ``products.csv:14``, a digest of its ``variables``, its ``seed``), its
    fingerprints, and a short hash of each field (:func:`field_hashes`)."""

    index: int
    origin: str
    variables: str
    seed: int | None
    request_fingerprint: str
    prompt_fingerprint: str
    fields: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def label(self) -> str:
        """The item as messages name it: its origin and seed."""
        seed = f"; seed {self.seed}" if self.seed is not None else ""
        return f"{self.origin}{seed}"


def _item_lock(entry: InventoryEntry) -> ItemLock:
    assert entry.index is not None
    return ItemLock(
        entry.index,
        entry.origin or f"item {entry.index}",
        _short_hash(canonical_variables(entry.variables or {})),
        entry.seed,
        entry.request_fingerprint or "",
        entry.prompt_fingerprint,
        field_hashes(entry),
    )


@dataclass(frozen=True, slots=True)
class Lock:
    """The contents of ``flux2prompt.lock`` and its per-item table.

    ``prompts``: prompt name (or ``path.py:NAME``) → :class:`LockEntry`; ``jobs``: job path →
    :class:`JobLock`; ``items``: job path → its :class:`ItemLock` rows; ``fields``: prompt name
    → :func:`field_hashes`. ``migrated_from`` is the version of an older lockfile this was read
    from. ``to_json()`` is stable (keys sorted, indent 2, a final newline), so the file diffs
    cleanly.

    >>> print(Lock({}).to_json(), end="")
    {
      "jobs": {},
      "lock_version": 2,
      "prompts": {},
      "schema_version": 1
    }
    """

    prompts: Mapping[str, LockEntry]
    jobs: Mapping[str, JobLock] = field(default_factory=dict)
    items: Mapping[str, tuple[ItemLock, ...]] = field(default_factory=dict, compare=False)
    fields: Mapping[str, Mapping[str, str]] = field(default_factory=dict, compare=False)
    schema_version: int = SCHEMA_VERSION
    lock_version: int = LOCK_VERSION
    migrated_from: int | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The lock as JSON data."""
        return {
            "jobs": {key: job.to_dict() for key, job in sorted(self.jobs.items())},
            "lock_version": self.lock_version,
            "prompts": {name: entry.to_dict() for name, entry in sorted(self.prompts.items())},
            "schema_version": self.schema_version,
        }

    def to_json(self) -> str:
        """The text of the lockfile."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=2, ensure_ascii=False) + "\n"

    def items_text(self) -> str:
        """The text of the per-item table: JSON Lines, one line per prompt and per job item,
        sorted, each holding fingerprints and field hashes (never the prompts themselves)."""
        lines: list[dict[str, Any]] = []
        for name in sorted(self.fields):
            lines.append({"prompt": name, "fields": dict(sorted(self.fields[name].items()))})
        for job in sorted(self.items):
            for item in self.items[job]:
                lines.append(
                    {
                        "job": job,
                        "index": item.index,
                        "origin": item.origin,
                        "variables": item.variables,
                        "seed": item.seed,
                        "request_fingerprint": item.request_fingerprint,
                        "prompt_fingerprint": item.prompt_fingerprint,
                        "fields": dict(sorted(item.fields.items())),
                    }
                )
        return "".join(
            json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n" for line in lines
        )


def lock_from_inventory(inventory: Inventory) -> Lock:
    """The :class:`Lock` of an inventory (see :func:`build_lock`).

    >>> from flux2prompt._versioning._inventory import Inventory, InventoryEntry
    >>> entry = InventoryEntry("fox", "prompt", "fox.prompt.toml", "fox.prompt.toml",
    ...                        "sha256:1", "sha256:2", document={"scene": "fox"})
    >>> lock = lock_from_inventory(Inventory((entry,)))
    >>> lock.prompts["fox"].request_fingerprint, list(lock.fields["fox"])
    ('sha256:2', ['$.scene'])
    """
    prompts: dict[str, LockEntry] = {}
    fields: dict[str, dict[str, str]] = {}
    items: dict[str, list[ItemLock]] = {}
    for entry in inventory.entries:
        if entry.kind == "item":
            items.setdefault(entry.key, []).append(_item_lock(entry))
            continue
        prompts[entry.key] = LockEntry(
            entry.path,
            entry.prompt_fingerprint,
            entry.request_fingerprint,
            template=entry.kind == "template",
            source=entry.source,
            profile=entry.profile,
        )
        fields[entry.key] = field_hashes(entry)
    jobs = {
        key: JobLock(
            job.path,
            job.name,
            job.template,
            job.model,
            dict(job.parameters),
            job.profile,
            job.items,
            job.digest,
        )
        for key, job in inventory.jobs.items()
    }
    return Lock(
        dict(sorted(prompts.items())),
        dict(sorted(jobs.items())),
        {key: tuple(rows) for key, rows in sorted(items.items())},
        fields,
    )


def build_lock(
    paths: Iterable[str | Path] | None = (".",),
    *,
    base: str | Path = ".",
    project: Project | None = None,
) -> Lock:
    """Fingerprint every prompt under ``paths`` (files or folders), or of the ``project`` when
    ``paths`` is ``None``: prompt files, module-level prompts and every job item.

    Paths in the lock are relative to ``base``, the folder of the lockfile. Two prompt files
    with one ``name`` are a :class:`~flux2prompt.SourceError` naming both.
    """
    return lock_from_inventory(build_inventory(paths, base=base, project=project))


def lock_search_path(start: str | Path = ".") -> tuple[Path, ...]:
    """The folders :func:`find_lock_file` looks in, nearest first: ``start`` and its parents, up
    to the repository's root (the first folder holding ``.git``) or the filesystem's root.

    >>> import pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / ".git").mkdir(); (root / "prompts" / "hero").mkdir(parents=True)
    >>> [p.relative_to(root).as_posix() for p in lock_search_path(root / "prompts" / "hero")]
    ['prompts/hero', 'prompts', '.']
    """
    folders: list[Path] = []
    for folder in (Path(start).absolute(), *Path(start).absolute().parents):
        folders.append(folder)
        # A file too: in a worktree or a submodule, .git is a file naming the real one.
        if (folder / ".git").exists():
            break
    return tuple(folders)


def find_lock_file(start: str | Path = ".") -> Path | None:
    """The nearest ``flux2prompt.lock`` in ``start`` or a parent folder, as git finds ``.git``:
    the search stops at the repository's root (a folder holding ``.git``) or the filesystem's
    root. ``None`` when there is none (see :func:`lock_search_path` for where it looked).

    >>> import pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / ".git").mkdir(); (root / "prompts").mkdir()
    >>> find_lock_file(root / "prompts") is None
    True
    >>> _ = (root / LOCK_FILE).write_text("{}")
    >>> find_lock_file(root / "prompts") == root / LOCK_FILE
    True
    """
    for folder in lock_search_path(start):
        candidate = folder / LOCK_FILE
        if candidate.is_file():
            return candidate
    return None


def _bad(source: str, where: str, what: str) -> SourceError:
    return SourceError(
        f"{where}: {what}; this is not a flux2prompt lockfile (rewrite it with "
        "`flux2-prompt lock`)",
        source=source,
    )


_MARKERS = ("<<<<<<<", "=======", ">>>>>>>", "|||||||")


def _conflict_line(text: str) -> int | None:
    """The first line of ``text`` that is a merge conflict marker (``<<<<<<< HEAD``), if any.

    >>> _conflict_line('{\\n<<<<<<< HEAD\\n  "a": 1\\n=======\\n')
    2
    """
    for number, line in enumerate(text.split("\n"), 1):
        if line.startswith(_MARKERS) and line[7:8] in ("", " "):
            return number
    return None


def _conflicted(source: str, line: int) -> SourceError:
    return SourceError(
        "merge conflict markers (<<<<<<<): a lockfile is not merged by hand; resolve the "
        "prompts' conflicts, then run `flux2-prompt lock` to rewrite it and its table, and commit "
        "both",
        source=source,
        line=line,
    )


def _text_of(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value


def _integer(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("expected an integer")
    return value


def _hashes(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise TypeError("expected an object")
    return {_text_of(key): _text_of(hashed) for key, hashed in value.items()}


def _read_items(path: Path, lock: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The prompts' field hashes and the jobs' item rows from the per-item table (empty when
    the lock has neither jobs nor the table)."""
    source = str(path)
    try:
        data = _read_lock_bytes(path, "the lockfile's per-item table")
    except FileNotFoundError:
        if lock.get("jobs"):
            raise SourceError(
                "no such file: the per-item table of the lockfile is missing; run "
                "`flux2-prompt lock` and commit both files",
                source=source,
            ) from None
        return {}, {}
    fields: dict[str, Any] = {}
    items: dict[str, list[ItemLock]] = {}
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")  # a BOM, as in the lockfile
    except UnicodeDecodeError as exc:
        text = data.decode("utf-8", "replace")
        conflict = _conflict_line(text)
        if conflict is not None:
            raise _conflicted(source, conflict) from None
        bad_line = data.count(b"\n", 0, exc.start) + 1
        raise SourceError(
            f"line {bad_line}: not UTF-8 text; this is not a "
            "flux2prompt per-item table (rewrite it with `flux2-prompt lock`)",
            source=source,
        ) from None
    conflict = _conflict_line(text)
    if conflict is not None:
        raise _conflicted(source, conflict)
    # JSON Lines end at "\n" only: a file name may hold U+2028 or U+0085, which splitlines()
    # would take for line ends in the middle of a row.
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line, parse_constant=refuse_constant)
            if not isinstance(row, dict):
                raise TypeError("a row is an object")
            if "prompt" in row:
                fields[_text_of(row["prompt"])] = _hashes(row["fields"])
                continue
            items.setdefault(_text_of(row["job"]), []).append(
                ItemLock(
                    _integer(row["index"]),
                    _text_of(row["origin"]),
                    _text_of(row["variables"]),
                    None if row["seed"] is None else _integer(row["seed"]),
                    _text_of(row["request_fingerprint"]),
                    _text_of(row["prompt_fingerprint"]),
                    _hashes(row.get("fields") or {}),
                )
            )
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            raise SourceError(
                f"line {number}: not a row of a flux2prompt per-item table; rewrite it with "
                "`flux2-prompt lock`",
                source=source,
            ) from None
    strays = [key for key in items if key not in lock.get("jobs", {})]
    if strays:
        rows = len(items[strays[0]])
        raise SourceError(
            f"the per-item table has {rows} row{'s' if rows != 1 else ''} of job "
            f"{strays[0]!r}, which the lockfile does not list; run `flux2-prompt lock` and "
            "commit both files",
            source=source,
        )
    return fields, {key: tuple(rows) for key, rows in items.items()}


def read_lock(path: str | Path = LOCK_FILE) -> Lock:
    """Read a lockfile and its per-item table. A version 1 lockfile is migrated
    (:attr:`Lock.migrated_from` says so); a newer version, or a malformed file, is a
    :class:`~flux2prompt.SourceError` saying what to do. A ``lock`` writing the pair at the
    same time is waited for, so the two files read are one run's."""
    path = Path(path)
    with _one_writer(path.parent, shared=True):
        return _read_lock(path)


def _read_lock_bytes(path: Path, what: str) -> bytes:
    """The bytes of a lockfile or its per-item table (``what``); a
    :class:`~flux2prompt.SourceError` saying how to fix one that cannot be read. A missing file
    raises :class:`FileNotFoundError`, for the caller to say what is missing."""
    try:
        found = path.stat()
        if not stat.S_ISREG(found.st_mode) and not stat.S_ISDIR(found.st_mode):
            # A device or a pipe (a link to /dev/zero, a FIFO) is refused before it is read.
            raise SourceError(
                f"is not a regular file, so not {what}; replace it: run `flux2-prompt lock`",
                source=str(path),
            )
        if found.st_size > MAX_LOCK_BYTES:
            raise OSError(errno.EFBIG, f"larger than the {MAX_LOCK_BYTES:,} bytes {what} may have")
        return read_at_most(path, MAX_LOCK_BYTES, what)
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise SourceError(
            f"is a directory, not {what}; move it away and run `flux2-prompt lock`",
            source=str(path),
        ) from None
    except OSError as exc:
        if exc.errno == errno.EFBIG:
            raise SourceError(
                f"is {exc.strerror}: flux2prompt did not write it; run `flux2-prompt lock`",
                source=str(path),
            ) from None
        raise SourceError(f"cannot read: {exc.strerror or exc}", source=str(path)) from None


def _read_lock(path: Path) -> Lock:
    source = str(path)
    try:
        raw = _read_lock_bytes(path, "a lockfile")
    except FileNotFoundError:
        raise SourceError("no such file", source=source) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _bad(source, f"byte {exc.start}", "not UTF-8 text") from None
    conflict = _conflict_line(text)
    if conflict is not None:
        raise _conflicted(source, conflict)
    try:
        data = parse_json(text, source=source)
    except SourceError as exc:
        if exc.source != source or exc.problems:
            raise
        where = f"{source}:{exc.line}: " if exc.line is not None else f"{source}: "
        raise SourceError(
            f"{str(exc).removeprefix(where)}; this is not a flux2prompt lockfile (rewrite it with "
            "`flux2-prompt lock`)",
            source=source,
            line=exc.line,
        ) from None
    if not isinstance(data, dict):
        raise _bad(source, "$", "expected an object")
    lock_version = data.get("lock_version")
    if isinstance(lock_version, bool) or not isinstance(lock_version, int):
        raise _bad(source, "$.lock_version", "expected an integer")
    if lock_version < 1:
        raise _bad(
            source,
            "$.lock_version",
            f"{lock_version} is no version of the format (1 to {LOCK_VERSION})",
        )
    if lock_version > LOCK_VERSION:
        raise SourceError(
            f"written by a newer flux2prompt (lock version {lock_version}, this one knows "
            f"{LOCK_VERSION}); upgrade flux2prompt (pip install --upgrade flux2-prompt)",
            source=source,
        )
    schema_version = data.get("schema_version")
    if isinstance(schema_version, bool) or not isinstance(schema_version, int):
        raise _bad(source, "$.schema_version", "expected an integer")
    prompts = data.get("prompts")
    if not isinstance(prompts, dict):
        raise _bad(source, "$.prompts", "expected an object")
    entries: dict[str, LockEntry] = {}
    for name, item in prompts.items():
        where = json_path(["prompts", name])
        if not isinstance(item, dict):
            raise _bad(source, where, "expected an object")
        file, prompt_fp, request_fp = (
            item.get("path"),
            item.get("prompt_fingerprint"),
            item.get("request_fingerprint"),
        )
        if not isinstance(file, str) or not isinstance(prompt_fp, str):
            raise _bad(source, where, "expected 'path' and 'prompt_fingerprint' strings")
        if request_fp is not None and not isinstance(request_fp, str):
            raise _bad(source, where, "expected 'request_fingerprint' to be a string or null")
        for optional in ("source", "profile"):
            if not isinstance(item.get(optional, ""), str | None):
                raise _bad(source, where, f"expected {optional!r} to be a string")
        if not isinstance(item.get("template", False), bool):
            raise _bad(source, where, "expected 'template' to be true or false")
        entries[name] = LockEntry(
            file,
            prompt_fp,
            request_fp,
            template=item.get("template") is True,
            source=item.get("source"),
            profile=item.get("profile"),
        )
    jobs_data = data.get("jobs", {}) if lock_version >= 2 else {}
    if not isinstance(jobs_data, dict):
        raise _bad(source, "$.jobs", "expected an object")
    jobs: dict[str, JobLock] = {}
    for key, job in jobs_data.items():
        try:
            parameters = job["parameters"]
            if not isinstance(parameters, dict) or not all(
                isinstance(value, int | float) and not isinstance(value, bool)
                for value in parameters.values()
            ):
                raise TypeError("parameters are an object of numbers")
            jobs[key] = JobLock(
                _text_of(job["path"]),
                _text_of(job["name"]),
                _text_of(job["template"]),
                _text_of(job["model"]),
                dict(parameters),
                _text_of(job["profile"]),
                _integer(job["items"]),
                _text_of(job["digest"]),
            )
        except (KeyError, TypeError, ValueError):
            raise _bad(
                source,
                json_path(["jobs", key]),
                "expected path, name, template, model, parameters, profile, items and digest",
            ) from None
    fields: dict[str, Any] = {}
    items: dict[str, Any] = {}
    if lock_version >= 2:
        fields, items = _read_items(items_path(path), data)
        for key, job in jobs.items():
            rows = items.get(key, ())
            digest = job_digest_of(rows) if len(rows) == job.items else job.digest
            if len(rows) != job.items or digest != job.digest:
                why = (
                    f"{len(rows)} rows, the lock says {job.items}"
                    if len(rows) != job.items
                    else f"its {len(rows)} rows have digest {_short(digest)}, the lock says "
                    f"{_short(job.digest)}"
                )
                raise SourceError(
                    f"the per-item table does not match the lockfile for job {key!r} ({why}); "
                    "run `flux2-prompt lock` and commit both files",
                    source=str(items_path(path)),
                )
    return Lock(
        entries,
        jobs,
        items,
        fields,
        schema_version=schema_version,
        lock_version=LOCK_VERSION,
        migrated_from=lock_version if lock_version < LOCK_VERSION else None,
    )


def job_digest_of(rows: Iterable[ItemLock]) -> str:
    """:func:`~flux2prompt._versioning._inventory.job_digest` of locked item rows."""
    from flux2prompt._versioning._inventory import job_digest

    return job_digest(row.request_fingerprint for row in rows)


def write_lock(lock: Lock, path: str | Path = LOCK_FILE) -> bool:
    """Write ``lock`` to ``path`` and its per-item table beside it, each atomically; ``False``
    (nothing written) when both are unchanged. The table is written first, so a failure leaves
    the old lockfile, which then says its table does not match, never a half-written one; two
    writers at once take turns, so the pair on disk is always one writer's."""
    path = Path(path)
    table = items_path(path)
    text = lock.to_json()
    rows = lock.items_text()
    for content in (text, rows):
        # A file name that is not UTF-8 (a surrogate escape) cannot be written in a lockfile.
        bad = next((line for line in content.splitlines() if surrogate_problem(line)), None)
        if bad is not None:
            raise SourceError(
                f"a file name is not UTF-8 ({printable(bad.strip())[:120]}); rename the file "
                "so that its name is valid UTF-8, then lock again",
                source=str(path),
            )
    changed = False
    with _one_writer(path.parent):
        for target, content in ((table, rows), (path, text)):
            try:
                if target.read_text(encoding="utf-8") == content:
                    continue
            except (OSError, UnicodeDecodeError):
                pass
            try:
                atomic_write(target, content.encode("utf-8"))
            except OSError as exc:
                raise SourceError(f"cannot write: {exc.strerror}", source=str(target)) from None
            changed = True
    return changed


@contextlib.contextmanager
def _one_writer(folder: Path, *, shared: bool = False) -> Iterator[None]:
    """Hold an exclusive ``flock`` on the lockfile's folder: two ``lock`` runs at once write
    their pairs one after the other, never the table of one beside the lockfile of the other.
    With ``shared``, a reader's lock: :func:`read_lock` reads the pair between two writes,
    never the new table beside the old lockfile. Where there is no ``flock`` (Windows), or the
    folder cannot be opened, access goes unguarded.
    """
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        yield  # writing there fails next, with its own message
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


LockChangeKind = Literal["added", "removed", "changed", "moved"]


def _short(fingerprint: str | None) -> str:
    if fingerprint is None:
        return "none"
    return fingerprint[: len("sha256:") + 16]


@dataclass(frozen=True, slots=True)
class LockChange:
    """One prompt, job or job item whose entry in the lockfile is out of date.

    ``added``: not in the lock; ``removed``: in the lock, no longer found; ``changed``: its
    prompt or request fingerprint differs; ``moved``: same fingerprints, new path. For a job
    item, ``job`` is the job's path and ``old``/``new`` are :class:`ItemLock` rows (``name``
    names the variant); a job added or removed as a whole has ``old``/``new`` a
    :class:`JobLock`. ``fields`` is the field diff: the :class:`DiffEntry` lines when the old
    side could be rebuilt from git, else ``(path, None)`` names of the fields that changed.
    """

    kind: LockChangeKind
    name: str
    old: LockEntry | ItemLock | JobLock | None
    new: LockEntry | ItemLock | JobLock | None
    job: str | None = None
    fields: tuple[DiffEntry, ...] = ()
    changed_fields: tuple[str, ...] = ()
    #: The old side was rebuilt and has the same keys and values: only how it is written
    #: differs (:data:`~flux2prompt._versioning._diff.SAME_VALUES`).
    same_values: bool = field(default=False, compare=False)

    def __str__(self) -> str:
        old, new = self.old, self.new
        if isinstance(old, JobLock) or isinstance(new, JobLock):
            if self.kind == "added":
                assert isinstance(new, JobLock)
                return f"+ {self.name}: new job file ({new.items} items)"
            assert isinstance(old, JobLock)
            return f"- {self.name}: job file no longer found (was {old.items} items)"
        if self.kind == "added":
            assert new is not None
            if isinstance(new, ItemLock):
                return f"+ {self.name}: new variant"
            return f"+ {self.name}: new prompt file {new.path}"
        if self.kind == "removed":
            assert old is not None
            if isinstance(old, ItemLock):
                return f"- {self.name}: variant no longer in the job"
            return f"- {self.name}: no longer found (was {old.path})"
        assert old is not None
        assert new is not None
        if self.kind == "moved":
            assert isinstance(old, LockEntry)
            assert isinstance(new, LockEntry)
            return f"~ {self.name}: moved from {old.path} to {new.path}"
        parts = []
        if old.prompt_fingerprint != new.prompt_fingerprint:
            parts.append(
                f"prompt {_short(old.prompt_fingerprint)} → {_short(new.prompt_fingerprint)}"
            )
        if old.request_fingerprint != new.request_fingerprint:
            old_r, new_r = old.request_fingerprint, new.request_fingerprint
            parts.append(f"request {_short(old_r)} → {_short(new_r)}")
            if isinstance(old, ItemLock) and isinstance(new, ItemLock):
                was, now = form_of(old.fields), form_of(new.fields)
                if was != now:
                    parts.append(
                        f"prompt form {was} → {now} (the model's form; pin the old one with "
                        f'prompt_format = "{was}" in the job file)'
                    )
        if isinstance(old, LockEntry) and isinstance(new, LockEntry):
            if old.template != new.template:
                parts.append("now a template" if new.template else "no longer a template")
            return f"~ {self.name} ({new.path}): {', '.join(parts)}"
        return f"~ {self.name}: {', '.join(parts)}"

    def lines(self) -> list[str]:
        """The one-line reason and, indented under it, the field diff."""
        out = [one_line(str(self))]
        out.extend(f"    {entry}" for entry in self.fields)
        if self.same_values:
            out.append(f"    {SAME_VALUES}")
        elif not self.fields and self.changed_fields:
            out.append(
                f"    fields changed: {', '.join(self.changed_fields)} (the old values are not "
                "in git: commit the lockfile to see them)"
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        """The change as JSON data."""

        def side(value: LockEntry | ItemLock | JobLock | None) -> Any:
            if value is None:
                return None
            if isinstance(value, ItemLock):
                return {
                    "index": value.index,
                    "origin": value.origin,
                    "seed": value.seed,
                    "prompt_fingerprint": value.prompt_fingerprint,
                    "request_fingerprint": value.request_fingerprint,
                }
            return value.to_dict()

        out: dict[str, Any] = {"kind": self.kind, "name": self.name}
        if self.job is not None:
            out["job"] = self.job
        out["old"] = side(self.old)
        out["new"] = side(self.new)
        out["reason"] = str(self)
        out["fields"] = [entry.to_dict() for entry in self.fields]
        out["changed_fields"] = list(self.changed_fields)
        return out


@dataclass(frozen=True, slots=True)
class LockCheck:
    """The result of :func:`check_lock`: true (``ok``) when the lockfile is up to date.

    ``notes`` are lines that make the lock out of date without being a prompt's change (a schema
    version); ``messages`` are said but do not fail (a migrated lockfile); ``revision`` is the
    commit the old side was rebuilt from, when it was.
    """

    changes: tuple[LockChange, ...]
    notes: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()
    revision: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the lockfile matches the prompts."""
        return not self.changes and not self.notes

    def __bool__(self) -> bool:
        return self.ok

    def render(self, *, limit: int | None = SHOWN_ITEMS) -> str:
        """One line per change, as ``+ name``, ``- name``, ``~ name: prompt old → new``, each
        followed by its field diff; past ``limit`` changed items of one job, a summary line."""
        lines = list(self.notes)
        shown: dict[str, int] = {}
        hidden: dict[str, int] = {}
        for change in self.changes:
            if change.job is not None and limit is not None:
                shown[change.job] = shown.get(change.job, 0) + 1
                if shown[change.job] > limit:
                    hidden[change.job] = hidden.get(change.job, 0) + 1
                    continue
            lines.extend(change.lines())
        for job, count in hidden.items():
            lines.append(f"  ... and {count} more changed variants of {job} (see --json)")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The check as JSON data: ``ok``, ``notes``, ``messages``, ``revision``, ``changes``."""
        return {
            "ok": self.ok,
            "notes": list(self.notes),
            "messages": list(self.messages),
            "revision": self.revision,
            "changes": [change.to_dict() for change in self.changes],
        }


def _pair_items(
    old: tuple[ItemLock, ...], new: tuple[ItemLock, ...]
) -> list[tuple[ItemLock | None, ItemLock | None]]:
    """Old and new rows of one job, paired: first the rows with the same variables and seed
    (a row inserted above them moves nothing), then the rest by origin and seed (a changed
    dataset cell, a changed seed rule), then by position; a row left over was added or removed.
    """
    pairs: list[tuple[ItemLock | None, ItemLock | None]] = []
    taken_old: set[int] = set()
    paired_new: dict[int, ItemLock] = {}
    for rule in (
        lambda r: (r.variables, r.seed),
        lambda r: (r.origin, r.seed),
        lambda r: (r.origin,),
        lambda r: (r.index,),
    ):
        waiting: dict[Any, list[int]] = {}
        for position, row in enumerate(old):
            if position not in taken_old:
                waiting.setdefault(rule(row), []).append(position)
        for position, row in enumerate(new):
            if position in paired_new:
                continue
            candidates = waiting.get(rule(row))
            if candidates:
                match = candidates.pop(0)
                taken_old.add(match)
                paired_new[position] = old[match]
    for position, row in enumerate(new):
        pairs.append((paired_new.get(position), row))
    pairs.extend((row, None) for position, row in enumerate(old) if position not in taken_old)
    return pairs


def _changed_fields(old: Mapping[str, str], new: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(key for key in dict.fromkeys([*new, *old]) if old.get(key) != new.get(key))


def compare_locks(recorded: Lock, current: Lock) -> LockCheck:
    """What changed from the ``recorded`` lock to the ``current`` one: prompts, jobs and job
    items, each change with the names of the fields whose hashes differ."""
    changes: list[LockChange] = []
    for name in sorted(set(recorded.prompts) | set(current.prompts)):
        old, new = recorded.prompts.get(name), current.prompts.get(name)
        if old is None:
            changes.append(LockChange("added", name, None, new))
        elif new is None:
            changes.append(LockChange("removed", name, old, None))
        elif (old.prompt_fingerprint, old.request_fingerprint, old.template) != (
            new.prompt_fingerprint,
            new.request_fingerprint,
            new.template,
        ):
            names = _changed_fields(recorded.fields.get(name, {}), current.fields.get(name, {}))
            changes.append(LockChange("changed", name, old, new, changed_fields=names))
        elif old.path != new.path:
            changes.append(LockChange("moved", name, old, new))
    for key in sorted(set(recorded.jobs) | set(current.jobs)):
        old_job, new_job = recorded.jobs.get(key), current.jobs.get(key)
        if old_job is None or new_job is None:
            kind: LockChangeKind = "added" if old_job is None else "removed"
            changes.append(LockChange(kind, key, old_job, new_job, job=key))
            continue
        if old_job.digest == new_job.digest:
            continue
        for old_row, new_row in _pair_items(
            recorded.items.get(key, ()), current.items.get(key, ())
        ):
            row = new_row or old_row
            assert row is not None
            label = f"{key} [{row.label}]"
            if old_row is None:
                changes.append(LockChange("added", label, None, new_row, job=key))
            elif new_row is None:
                changes.append(LockChange("removed", label, old_row, None, job=key))
            elif old_row.request_fingerprint != new_row.request_fingerprint:
                names = _changed_fields(old_row.fields, new_row.fields)
                if old_row.origin != new_row.origin:
                    label = f"{key} [{new_row.label}, was {old_row.label}]"
                changes.append(
                    LockChange("changed", label, old_row, new_row, job=key, changed_fields=names)
                )
    notes = []
    if recorded.schema_version != current.schema_version:
        notes.append(
            f"schema version {recorded.schema_version} → {current.schema_version}: the lock was "
            "written by another version of flux2prompt"
        )
    if recorded.lock_version != current.lock_version:
        notes.append(f"lock version {recorded.lock_version} → {current.lock_version}")
    messages = []
    if recorded.migrated_from is not None:
        messages.append(
            f"the lockfile is in format version {recorded.migrated_from}; it was read as version "
            f"{LOCK_VERSION} (prompts keep their fingerprints): run `flux2-prompt lock` to "
            "rewrite it"
        )
    return LockCheck(tuple(changes), tuple(notes), tuple(messages))


def with_field_diffs(result: LockCheck, old: Inventory, new: Inventory, revision: str) -> LockCheck:
    """``result`` with each changed prompt's and item's field diff, from the old inventory
    (rebuilt at ``revision``); entries the old inventory does not give as the lock recorded
    them keep their field names only."""
    from flux2prompt._versioning._diff import diff_entries

    def index(
        inventory: Inventory,
    ) -> tuple[dict[str, InventoryEntry], dict[tuple[str, int], InventoryEntry]]:
        prompts = {e.key: e for e in inventory.entries if e.kind != "item"}
        items = {(e.key, e.index or 0): e for e in inventory.entries if e.kind == "item"}
        return prompts, items

    old_prompts, old_items = index(old)
    new_prompts, new_items = index(new)
    changes = []
    for change in result.changes:
        before: InventoryEntry | None = None
        after: InventoryEntry | None = None
        if change.kind == "changed":
            if isinstance(change.old, ItemLock) and isinstance(change.new, ItemLock):
                assert change.job is not None
                before = old_items.get((change.job, change.old.index))
                after = new_items.get((change.job, change.new.index))
                if (
                    before is not None
                    and before.request_fingerprint != change.old.request_fingerprint
                ):
                    before = None  # the old tree does not give what the lock recorded
            else:
                before, after = old_prompts.get(change.name), new_prompts.get(change.name)
                if (
                    before is not None
                    and isinstance(change.old, LockEntry)
                    and before.prompt_fingerprint != change.old.prompt_fingerprint
                ):
                    before = None
        name = change.name
        if after is not None and after.kind == "item":
            name = after.label  # the variant with its variables, which the table does not keep
        if before is not None and after is not None:
            fields = diff_entries(before, after)
            changes.append(
                LockChange(
                    change.kind,
                    name,
                    change.old,
                    change.new,
                    change.job,
                    tuple(fields),
                    change.changed_fields,
                    same_values=not fields
                    and before.prompt_fingerprint != after.prompt_fingerprint,
                )
            )
        else:
            changes.append(change)
    return LockCheck(tuple(changes), result.notes, result.messages, revision)


def check_lock(
    paths: Iterable[str | Path] | None = (".",),
    lock_file: str | Path = LOCK_FILE,
    *,
    project: Project | None = None,
    rebuild: bool = True,
) -> LockCheck:
    """Compare the lockfile with the prompts under ``paths`` (or the ``project``'s, when
    ``paths`` is ``None``) as they are now.

    Each change carries its field diff: with ``rebuild`` and the lockfile committed, the old
    side is rebuilt from the commit that last wrote the lockfile (in a separate interpreter,
    see :mod:`flux2prompt._versioning._revision`); otherwise the fields whose hashes changed
    are named.

    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "fox.prompt.toml").write_text('name = "fox"\\n[prompt]\\nscene = "fox"\\n')
    >>> _ = write_lock(build_lock([folder], base=folder), folder / LOCK_FILE)
    >>> check_lock([folder], folder / LOCK_FILE).ok
    True
    """
    lock_path = Path(lock_file)
    recorded = read_lock(lock_path)
    inventory = build_inventory(paths, base=lock_path.parent, project=project)
    result = compare_locks(recorded, lock_from_inventory(inventory))
    if not rebuild or not any(change.kind == "changed" for change in result.changes):
        return result
    from flux2prompt._versioning._revision import inventory_at_lock_revision

    problems: list[str] = []
    found = inventory_at_lock_revision(lock_path, paths, project=project, problems=problems)
    if found is None:
        return replace(result, messages=(*result.messages, *problems))
    revision, old = found
    return with_field_diffs(result, old, inventory, revision)
