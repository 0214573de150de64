"""A project's prompts on disk: its configuration, and which files hold prompts.

The configuration lives in ``pyproject.toml`` under ``[tool.flux2prompt]``, or (for a project
without one) in ``flux2prompt.toml`` under the same table or at its top level::

    [tool.flux2prompt]
    prompts = ["prompts/**/*.prompt.toml"]   # globs of prompt files
    modules = ["prompts/*.py"]               # globs of Python modules holding prompts
    jobs = ["jobs/*.toml"]                   # globs of job files to lock
    profile = "cloudflare"                   # the default profile (flux2 by default)
    lockfile = "flux2prompt.lock"            # relative to the configuration's folder

Every key is optional. Without a key (or without any configuration) discovery fills it in:
prompt files are every ``*.prompt.toml`` / ``*.prompt.json``, job files every ``.toml`` file
with a top-level ``template`` key, and the modules are those the configuration names (a job's
Python template is added when the job is expanded). Hidden folders, ``node_modules``,
``__pycache__`` and ``__prompt_snapshots__`` are skipped. A folder named on the command line
is scanned for all three kinds, every ``.py`` file included.

Example:
    >>> import pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / "pyproject.toml").write_text('[tool.flux2prompt]\\nmodules = ["p/*.py"]\\n')
    >>> (root / "p").mkdir(); _ = (root / "p" / "hero.py").write_text("")
    >>> project = find_project(root)
    >>> project.root == root, [p.name for p in project.discover().modules]
    (True, ['hero.py'])
"""

from __future__ import annotations

import difflib
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from flux2prompt._errors import SourceError
from flux2prompt._files._parse import is_job_file, not_found, parse_toml, read_bytes
from flux2prompt._schema import Profile

__all__ = [
    "CONFIG_FILES",
    "DEFAULT_LOCK_FILE",
    "Discovered",
    "Project",
    "discover_paths",
    "find_project",
    "read_project_config",
]

#: Where the configuration is looked for, in this order, in each folder.
CONFIG_FILES = ("pyproject.toml", "flux2prompt.toml")
#: The lockfile's name unless the configuration says otherwise.
DEFAULT_LOCK_FILE = "flux2prompt.lock"
_SKIPPED = frozenset({"node_modules", "__pycache__", "__prompt_snapshots__"})
_KEYS = ("prompts", "modules", "jobs", "profile", "lockfile")
_PROFILES = ("flux2", "cloudflare")


@dataclass(frozen=True, slots=True)
class Discovered:
    """The files that hold prompts, each list sorted: prompt files, modules and job files.

    ``scanned`` says, in words, what was looked at (shown by ``lock`` and ``diff --rev``).

    >>> Discovered().scanned
    ()
    """

    prompt_files: tuple[Path, ...] = ()
    modules: tuple[Path, ...] = ()
    jobs: tuple[Path, ...] = ()
    scanned: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Project:
    """A project: its root (the configuration's folder), the configuration file and its keys.

    ``prompts``, ``modules`` and ``jobs`` are globs relative to ``root``, ``None`` when the
    configuration does not set them (discovery decides).

    >>> Project(Path("/p")).lock_path
    PosixPath('/p/flux2prompt.lock')
    """

    root: Path
    config_file: Path | None = None
    prompts: tuple[str, ...] | None = None
    modules: tuple[str, ...] | None = None
    jobs: tuple[str, ...] | None = None
    profile: Profile = "flux2"
    lockfile: str = DEFAULT_LOCK_FILE
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def lock_path(self) -> Path:
        """The lockfile this project's configuration names."""
        return self.root / self.lockfile

    def discover(self) -> Discovered:
        """The prompt files, modules and job files of the project (see the module's doc)."""
        root = self.root
        said = []
        config = str(self.config_file) if self.config_file else None
        if self.prompts is None:
            prompt_files = _walk(root, _is_prompt_file_name)
            said.append(f"prompt files (*.prompt.toml, *.prompt.json) under {_shown(root)}")
        else:
            prompt_files, empty = _globbed(root, self.prompts, config)
            said.append(f"prompt files matching {', '.join(self.prompts)}{_none(empty)}")
        modules, empty = _globbed(root, self.modules or (), config)
        if self.modules:
            said.append(f"Python modules matching {', '.join(self.modules)}{_none(empty)}")
        if self.jobs is None:
            jobs = [p for p in _walk(root, _is_toml_name) if is_job_file(p)]
            said.append(f"job files (.toml with a top-level 'template') under {_shown(root)}")
        else:
            jobs, empty = _globbed(root, self.jobs, config)
            said.append(f"job files matching {', '.join(self.jobs)}{_none(empty)}")
        source = f" ({_shown(self.config_file)})" if self.config_file else " (no configuration)"
        head, sep, note = said[0].partition("; no file matches")
        said[0] = head + source + sep + note
        return Discovered(tuple(prompt_files), tuple(modules), tuple(jobs), tuple(said))


def _shown(path: Path) -> str:
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive
        return str(path)
    return relative if not relative.startswith("..") else str(path)


def _is_prompt_file_name(name: str) -> bool:
    return name.endswith((".prompt.toml", ".prompt.json"))


def _is_toml_name(name: str) -> bool:
    return name.endswith(".toml") and not name.endswith(".prompt.toml") and name not in CONFIG_FILES


def _none(empty: list[str]) -> str:
    """What a scanned line adds for globs that matched no file (a typo, most likely)."""
    return f"; no file matches {', '.join(empty)}" if empty else ""


def _readable(path: Path) -> bool:
    """Whether discovery reads ``path``: a file, or a link (a link to nowhere is read, and says
    so). A named pipe, a socket or a device is not a file of prompts, and reading one would
    wait for a writer forever."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return path.is_symlink()


def _walk(root: Path, wanted: Any) -> list[Path]:
    found: list[Path] = []
    for folder, directories, files in os.walk(root):
        directories[:] = sorted(
            d for d in directories if not d.startswith(".") and d not in _SKIPPED
        )
        found.extend(
            Path(folder) / name
            for name in sorted(files)
            if wanted(name) and _readable(Path(folder) / name)
        )
    return sorted(found)


def _globbed(
    root: Path, patterns: Iterable[str], source: str | None = None
) -> tuple[list[Path], list[str]]:
    """The files the globs match under ``root``, and the globs that matched none."""
    found: dict[str, Path] = {}
    empty: list[str] = []
    for pattern in patterns:
        try:
            matched = sorted(root.glob(pattern))
        except (ValueError, NotImplementedError, IndexError) as exc:  # pathlib's own refusals
            raise SourceError(
                f"[tool.flux2prompt]: the glob {pattern!r} cannot be used ({exc}); write one "
                "relative to the project's root, such as prompts/**/*.prompt.toml",
                source=source,
            ) from None
        count = len(found)
        for path in matched:
            if path.is_file() and not any(
                part.startswith(".") or part in _SKIPPED
                for part in path.relative_to(root).parts[:-1]
            ):
                found.setdefault(os.path.normpath(path.absolute()), path)
        if len(found) == count and not any(path.is_file() for path in matched):
            empty.append(pattern)
    return [found[key] for key in sorted(found)], empty


def discover_paths(paths: Iterable[str | Path]) -> Discovered:
    """The prompt files, modules and job files named on the command line.

    A ``.py`` file is a module, a ``.toml`` file with a top-level ``template`` a job file, any
    other file a prompt file; a folder is scanned for all three (every ``.py`` file in it is
    imported). A path that does not exist is a :class:`~flux2prompt.SourceError`.

    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.prompt.toml").write_text('name = "a"\\n[prompt]\\nscene = "a"\\n')
    >>> _ = (folder / "shots.py").write_text("")
    >>> found = discover_paths([folder])
    >>> [p.name for p in found.prompt_files], [p.name for p in found.modules]
    (['a.prompt.toml'], ['shots.py'])
    """
    prompt_files: dict[str, Path] = {}
    modules: dict[str, Path] = {}
    jobs: dict[str, Path] = {}
    said = []

    def add(path: Path, explicit: bool) -> None:
        key = os.path.normpath(path.absolute())
        if path.suffix == ".py":
            modules.setdefault(key, path)
        elif _is_toml_name(path.name) and is_job_file(path):
            jobs.setdefault(key, path)
        elif explicit or _is_prompt_file_name(path.name):
            prompt_files.setdefault(key, path)

    for given in paths:
        path = Path(given)
        if path.is_file():
            add(path, True)
            said.append(str(path))
            continue
        if not path.is_dir():
            if path.is_symlink() and not path.exists():
                raise SourceError(not_found(path), source=str(path))
            if path.exists():  # a named pipe, a socket, a device
                raise SourceError(
                    "is not a file or a folder; name prompt files, job files, Python modules or "
                    "folders of them",
                    source=str(path),
                )
            raise SourceError("no such file or directory", source=str(path))
        said.append(f"{path} (prompt files, job files and Python modules)")
        for file in _walk(path, lambda n: n.endswith((".py", ".toml", ".prompt.json"))):
            if file.name not in CONFIG_FILES:
                add(file, False)
    return Discovered(
        tuple(prompt_files[k] for k in sorted(prompt_files)),
        tuple(modules[k] for k in sorted(modules)),
        tuple(jobs[k] for k in sorted(jobs)),
        tuple(said),
    )


def _strings(value: object, key: str, source: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SourceError(
            f"[tool.flux2prompt] {key}: expected a list of glob strings, got {value!r}",
            source=source,
        )
    globs = tuple(cast("list[str]", value))
    for pattern in globs:
        problem = _glob_problem(pattern)
        if problem:
            raise SourceError(f"[tool.flux2prompt] {key}: {pattern!r} {problem}", source=source)
    return globs


def _glob_problem(pattern: str) -> str | None:
    """What is wrong with a configuration's glob, in words, or ``None``."""
    example = "such as prompts/**/*.prompt.toml"
    if not pattern.strip() or pattern.strip() == ".":
        return f"matches no file: write a glob of files, {example}"
    parts = Path(pattern).parts
    if Path(pattern).is_absolute():
        return (
            "is an absolute path; globs are relative to the project's root (this file's "
            f"folder), {example}"
        )
    if ".." in parts:
        return (
            "leaves the project's root (this file's folder); move the files under it, or the "
            "configuration above them"
        )
    if any("**" in part and part != "**" for part in parts):
        return f"uses ** inside a name; ** stands for whole folders only, {example}"
    if "\x00" in pattern:
        return "holds a NUL character, which no file name can"
    return None


def read_project_config(path: str | Path) -> Project | None:
    """The project a configuration file describes; ``None`` for a ``pyproject.toml`` without a
    ``[tool.flux2prompt]`` table. Unknown keys and wrong types are a
    :class:`~flux2prompt.SourceError` naming the file.

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "flux2prompt.toml"
    >>> _ = path.write_text('profile = "cloudflare"\\njobs = ["jobs/*.toml"]\\n')
    >>> project = read_project_config(path)
    >>> project.profile, project.jobs, project.modules
    ('cloudflare', ('jobs/*.toml',), None)
    """
    path = Path(path)
    source = str(path)
    document = parse_toml(read_bytes(path), source)
    table = document.get("tool", {}).get("flux2prompt") if isinstance(document, dict) else None
    if table is None:
        if path.name == "pyproject.toml":
            return None
        table = {k: v for k, v in document.items() if k != "tool"}
    if not isinstance(table, dict):
        raise SourceError("[tool.flux2prompt] must be a table", source=source)
    unknown = [key for key in table if key not in _KEYS]
    if unknown:
        raise SourceError(
            f"[tool.flux2prompt]: unknown key {unknown[0]!r}; the keys are {', '.join(_KEYS)}",
            source=source,
        )
    profile = table.get("profile", "flux2")
    if profile not in _PROFILES:
        close = (
            difflib.get_close_matches(profile, _PROFILES, n=1) if isinstance(profile, str) else []
        )
        hint = f"; did you mean {close[0]!r}?" if close else ""  # as --profile cloudfare says
        raise SourceError(
            f"[tool.flux2prompt] profile: expected 'flux2' or 'cloudflare', got {profile!r}{hint}",
            source=source,
        )
    lockfile = table.get("lockfile", DEFAULT_LOCK_FILE)
    if not isinstance(lockfile, str) or not lockfile:
        raise SourceError("[tool.flux2prompt] lockfile: expected a file name", source=source)
    globs = {
        key: _strings(table[key], key, source) if key in table else None
        for key in ("prompts", "modules", "jobs")
    }
    return Project(
        root=path.parent,
        config_file=path,
        prompts=globs["prompts"],
        modules=globs["modules"],
        jobs=globs["jobs"],
        profile=profile,
        lockfile=lockfile,
    )


def find_project(start: str | Path = ".") -> Project:
    """The project ``start`` is in: the nearest folder (up to the repository's root, a folder
    holding ``.git``) with a configuration; else the repository's root (or ``start`` outside a
    repository) with no configuration.

    >>> import pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / ".git").mkdir(); (root / "a").mkdir()
    >>> find_project(root / "a").root == root, find_project(root / "a").config_file
    (True, None)
    """
    start = Path(start)
    folders = []
    for folder in (start, *start.absolute().parents):
        folders.append(folder)
        for name in CONFIG_FILES:
            candidate = folder / name
            if candidate.is_file():
                project = read_project_config(candidate)
                if project is not None:
                    return project
        if (folder / ".git").exists():
            return Project(folder)
    return Project(start)
