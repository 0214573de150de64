"""The lockfile: every prompt file's fingerprints, so CI can refuse an unreviewed change.

:func:`build_lock` fingerprints every prompt file under some paths, :func:`write_lock` stores
that as ``flux2prompt.lock`` and :func:`check_lock` says what changed since. Request
fingerprints are the transport's, so this layer sits above the transport.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal

from flux2prompt._atomic import atomic_write
from flux2prompt._digest import canonical_json, sha256_fingerprint
from flux2prompt._document import parse_json
from flux2prompt._errors import SourceError
from flux2prompt._files import PromptFile, load_prompt_file, read_bytes
from flux2prompt._schema import SCHEMA_VERSION, json_path

if TYPE_CHECKING:
    from flux2prompt._model import Prompt


#: The default name of the lockfile.
LOCK_FILE = "flux2prompt.lock"
#: The version of the lockfile's own format.
LOCK_VERSION = 1
#: The names of the files that :func:`find_prompt_files` picks up inside a directory.
PROMPT_FILE_PATTERNS: tuple[str, ...] = ("*.prompt.toml", "*.prompt.json")

_SKIPPED_DIRECTORIES = frozenset({"node_modules", "__pycache__", "__prompt_snapshots__"})


def find_prompt_files(paths: Iterable[str | Path] = (".",)) -> list[Path]:
    """The prompt files named by ``paths``, sorted and without repeats.

    A file is taken whatever its name; a directory is searched recursively for
    ``*.prompt.toml`` and ``*.prompt.json``, skipping hidden directories (``.git``, ``.venv``),
    ``node_modules``, ``__pycache__`` and ``__prompt_snapshots__``. A path that does not exist is
    a :class:`~flux2prompt.SourceError`.
    """
    found: dict[str, Path] = {}
    for given in paths:
        path = Path(given)
        if path.is_file():
            found.setdefault(os.path.normpath(path.absolute()), path)
            continue
        if not path.is_dir():
            raise SourceError("no such file or directory", source=str(path))
        for folder, directories, files in os.walk(path):
            directories[:] = sorted(
                d for d in directories if not d.startswith(".") and d not in _SKIPPED_DIRECTORIES
            )
            for name in sorted(files):
                if name.endswith((".prompt.toml", ".prompt.json")):
                    file = Path(folder) / name
                    found.setdefault(os.path.normpath(file.absolute()), file)
    return [found[key] for key in sorted(found)]


def _sha256_json(value: Any) -> str:
    return sha256_fingerprint(canonical_json(value))


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
    """What the lockfile records for one prompt file.

    ``path`` is relative to the lockfile's folder, with ``/`` separators. For a template,
    ``prompt_fingerprint`` is the fingerprint of its document as written and
    ``request_fingerprint`` is ``None``.
    """

    path: str
    prompt_fingerprint: str
    request_fingerprint: str | None
    template: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The entry as it appears in ``flux2prompt.lock``."""
        out: dict[str, Any] = {
            "path": self.path,
            "prompt_fingerprint": self.prompt_fingerprint,
            "request_fingerprint": self.request_fingerprint,
        }
        if self.template:
            out["template"] = True
        return out


@dataclass(frozen=True, slots=True)
class Lock:
    """The contents of ``flux2prompt.lock``: prompt name → :class:`LockEntry`.

    ``to_json()`` is stable (keys sorted, indent 2, a final newline), so the file diffs cleanly.

    >>> print(Lock({}).to_json(), end="")
    {
      "lock_version": 1,
      "prompts": {},
      "schema_version": 1
    }
    """

    prompts: Mapping[str, LockEntry]
    schema_version: int = SCHEMA_VERSION
    lock_version: int = LOCK_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The lock as JSON data."""
        return {
            "lock_version": self.lock_version,
            "prompts": {name: entry.to_dict() for name, entry in sorted(self.prompts.items())},
            "schema_version": self.schema_version,
        }

    def to_json(self) -> str:
        """The text of the lockfile."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def _lock_entry(prompt_file: PromptFile, base: Path) -> LockEntry:
    assert prompt_file.path is not None
    relative = os.path.relpath(prompt_file.path.absolute(), base.absolute())
    path = PurePosixPath(*Path(relative).parts).as_posix()
    if prompt_file.is_template:
        return LockEntry(path, _sha256_json(prompt_file.document), None, template=True)
    from flux2prompt.transport import ParameterError

    prompt = prompt_file.prompt
    try:
        request = request_fingerprint(
            prompt, model=prompt_file.model, parameters=prompt_file.parameters
        )
    except ParameterError as exc:
        raise SourceError(f"model or parameters: {exc}", source=prompt_file.source) from None
    return LockEntry(path, prompt.fingerprint, request)


def build_lock(paths: Iterable[str | Path] = (".",), *, base: str | Path = ".") -> Lock:
    """Load every prompt file under ``paths`` (see :func:`find_prompt_files`) and fingerprint it.

    Paths in the lock are relative to ``base``, the folder of the lockfile. Two files with one
    ``name`` are a :class:`~flux2prompt.SourceError` naming both.
    """
    entries: dict[str, LockEntry] = {}
    owners: dict[str, Path] = {}
    for file in find_prompt_files(paths):
        prompt_file = load_prompt_file(file)
        if prompt_file.name in owners:
            raise SourceError(
                f"duplicate prompt name {prompt_file.name!r}: also in {owners[prompt_file.name]}; "
                "give each prompt file its own name",
                source=str(file),
            )
        owners[prompt_file.name] = file
        entries[prompt_file.name] = _lock_entry(prompt_file, Path(base))
    return Lock(dict(sorted(entries.items())))


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


def read_lock(path: str | Path = LOCK_FILE) -> Lock:
    """Read a lockfile. Raises :class:`~flux2prompt.SourceError` when it is missing or malformed."""
    path = Path(path)
    source = str(path)
    data = parse_json(read_bytes(path), source=source)

    def bad(where: str, what: str) -> SourceError:
        return SourceError(
            f"{where}: {what}; this is not a flux2prompt lockfile (rewrite it with "
            "`flux2-prompt lock`)",
            source=source,
        )

    if not isinstance(data, dict):
        raise bad("$", "expected an object")
    lock_version = data.get("lock_version")
    if isinstance(lock_version, bool) or not isinstance(lock_version, int):
        raise bad("$.lock_version", "expected an integer")
    if lock_version > LOCK_VERSION:
        raise SourceError(
            f"written by a newer flux2prompt (lock version {lock_version}, this one knows "
            f"{LOCK_VERSION}); upgrade flux2prompt (pip install --upgrade flux2-prompt)",
            source=source,
        )
    schema_version = data.get("schema_version")
    if isinstance(schema_version, bool) or not isinstance(schema_version, int):
        raise bad("$.schema_version", "expected an integer")
    prompts = data.get("prompts")
    if not isinstance(prompts, dict):
        raise bad("$.prompts", "expected an object")
    entries: dict[str, LockEntry] = {}
    for name, item in prompts.items():
        where = json_path(["prompts", name])
        if not isinstance(item, dict):
            raise bad(where, "expected an object")
        file, prompt_fp, request_fp = (
            item.get("path"),
            item.get("prompt_fingerprint"),
            item.get("request_fingerprint"),
        )
        if not isinstance(file, str) or not isinstance(prompt_fp, str):
            raise bad(where, "expected 'path' and 'prompt_fingerprint' strings")
        if request_fp is not None and not isinstance(request_fp, str):
            raise bad(where, "expected 'request_fingerprint' to be a string or null")
        entries[name] = LockEntry(
            file, prompt_fp, request_fp, template=item.get("template") is True
        )
    return Lock(entries, schema_version=schema_version, lock_version=lock_version)


def write_lock(lock: Lock, path: str | Path = LOCK_FILE) -> bool:
    """Write ``lock`` to ``path`` atomically; ``False`` (nothing written) when it is unchanged."""
    path = Path(path)
    text = lock.to_json()
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except (OSError, UnicodeDecodeError):
        pass
    try:
        atomic_write(path, text.encode("utf-8"))
    except OSError as exc:
        raise SourceError(f"cannot write: {exc.strerror}", source=str(path)) from None
    return True


LockChangeKind = Literal["added", "removed", "changed", "moved"]


def _short(fingerprint: str | None) -> str:
    if fingerprint is None:
        return "none"
    return fingerprint[: len("sha256:") + 16]


@dataclass(frozen=True, slots=True)
class LockChange:
    """One prompt whose entry in the lockfile is out of date.

    ``added``: a prompt file the lock does not list; ``removed``: listed, no longer found;
    ``changed``: its prompt or request fingerprint differs; ``moved``: same fingerprints, new path.
    """

    kind: LockChangeKind
    name: str
    old: LockEntry | None
    new: LockEntry | None

    def __str__(self) -> str:
        if self.kind == "added":
            assert self.new is not None
            return f"+ {self.name}: new prompt file {self.new.path}"
        if self.kind == "removed":
            assert self.old is not None
            return f"- {self.name}: no longer found (was {self.old.path})"
        assert self.old is not None
        assert self.new is not None
        if self.kind == "moved":
            return f"~ {self.name}: moved from {self.old.path} to {self.new.path}"
        parts = []
        if self.old.prompt_fingerprint != self.new.prompt_fingerprint:
            old, new = self.old.prompt_fingerprint, self.new.prompt_fingerprint
            parts.append(f"prompt {_short(old)} → {_short(new)}")
        if self.old.request_fingerprint != self.new.request_fingerprint:
            old_r, new_r = self.old.request_fingerprint, self.new.request_fingerprint
            parts.append(f"request {_short(old_r)} → {_short(new_r)}")
        if self.old.template != self.new.template:
            parts.append("now a template" if self.new.template else "no longer a template")
        return f"~ {self.name} ({self.new.path}): {', '.join(parts)}"


@dataclass(frozen=True, slots=True)
class LockCheck:
    """The result of :func:`check_lock`: true (``ok``) when the lockfile is up to date."""

    changes: tuple[LockChange, ...]
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the lockfile matches the prompt files."""
        return not self.changes and not self.notes

    def __bool__(self) -> bool:
        return self.ok

    def render(self) -> str:
        """One line per change, as ``+ name``, ``- name``, ``~ name: prompt old → new``."""
        return "\n".join([*self.notes, *(str(change) for change in self.changes)])


def compare_locks(recorded: Lock, current: Lock) -> LockCheck:
    """What changed from the ``recorded`` lock to the ``current`` one."""
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
            changes.append(LockChange("changed", name, old, new))
        elif old.path != new.path:
            changes.append(LockChange("moved", name, old, new))
    notes = []
    if recorded.schema_version != current.schema_version:
        notes.append(
            f"schema version {recorded.schema_version} → {current.schema_version}: the lock was "
            "written by another version of flux2prompt"
        )
    if recorded.lock_version != current.lock_version:
        notes.append(f"lock version {recorded.lock_version} → {current.lock_version}")
    return LockCheck(tuple(changes), tuple(notes))


def check_lock(
    paths: Iterable[str | Path] = (".",), lock_file: str | Path = LOCK_FILE
) -> LockCheck:
    """Compare the lockfile with the prompt files under ``paths`` as they are now.

    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "fox.prompt.toml").write_text('name = "fox"\\n[prompt]\\nscene = "fox"\\n')
    >>> _ = write_lock(build_lock([folder], base=folder), folder / LOCK_FILE)
    >>> check_lock([folder], folder / LOCK_FILE).ok
    True
    """
    lock_path = Path(lock_file)
    recorded = read_lock(lock_path)
    current = build_lock(paths, base=lock_path.parent)
    return compare_locks(recorded, current)
