"""The old side of a diff: the project as it was at a git revision, read in its own interpreter.

Reading a prompt file at ``REV`` is ``git show``. Reading a Python module or a job file at
``REV`` means running that revision's code, so it is done apart from this process:

1. the revision is resolved to a commit with ``git rev-parse --verify --end-of-options``
   (a ``REV`` that starts with ``-`` is refused before git sees it, and only the resolved
   commit id is passed on, so a ``REV`` is never read as an option);
2. its file tree is materialised with ``git archive`` into a temporary folder (what the
   revision's ``export-ignore`` and ``export-subst`` attributes took out or changed is put back
   as committed);
3. a separate interpreter, ``python -P -m flux2prompt._versioning._worker``, puts that tree
   (and its ``src/``, for a src layout) first on ``sys.path`` and imports the old modules from
   there, so neither the working tree nor an editable install of it leaks into the old side.

One interpreter serves the whole old side (``diff --rev BASE``, or every changed entry of
``lock --check``). flux2prompt and third-party packages are the ones installed now.

Example:
    >>> check_revision("--output=/tmp/x")
    Traceback (most recent call last):
    ...
    flux2prompt.SourceError: --output=/tmp/x: a revision cannot start with '-'; give a commit, \
branch or tag such as HEAD~1
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flux2prompt._errors import SourceError
from flux2prompt._files._project import Project

__all__ = [
    "check_git_version",
    "check_revision",
    "inventory_at",
    "inventory_at_lock_revision",
    "is_shallow",
    "materialise",
    "merge_base",
    "repository_root",
    "resolve_revision",
    "run_worker",
]


def check_revision(revision: str) -> str:
    """``revision`` if git could not read it as an option, else a
    :class:`~flux2prompt.SourceError`."""
    if not revision or revision.startswith("-") or "\x00" in revision:
        raise SourceError(
            "a revision cannot start with '-'; give a commit, branch or tag such as HEAD~1",
            source=revision or "''",
        )
    return revision


def _git(args: list[str], cwd: str | Path | None, label: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, check=False, timeout=120
        )
    except FileNotFoundError:
        raise SourceError(
            "git is not installed (or not on PATH); it is needed to read a revision",
            source=label,
        ) from None
    except (OSError, subprocess.SubprocessError) as exc:
        raise SourceError(f"cannot run git: {exc}", source=label) from None


def _git_error(done: subprocess.CompletedProcess[bytes]) -> str:
    message = done.stderr.decode("utf-8", "replace").strip().splitlines()
    return message[-1].removeprefix("fatal: ") if message else f"exit {done.returncode}"


def repository_root(cwd: str | Path | None = None) -> Path:
    """The root of the git repository ``cwd`` is in."""
    done = _git(["rev-parse", "--show-toplevel"], cwd, str(cwd or "."))
    if done.returncode != 0:
        raise SourceError(
            f"not in a git repository ({_git_error(done)}); run this inside one",
            source=str(cwd or "."),
        )
    return Path(done.stdout.decode().strip())


#: The oldest git that reads ``--end-of-options`` (2.24), which keeps a revision from being
#: read as an option.
GIT_VERSION = (2, 24)


def check_git_version(cwd: str | Path | None, label: str) -> None:
    """Refuse a git older than :data:`GIT_VERSION`, which takes ``--end-of-options`` for a
    revision that does not exist: say so, not "no such revision"."""
    import re

    done = _git(["--version"], cwd, label)
    found = re.search(rb"(\d+)\.(\d+)", done.stdout)
    if done.returncode != 0 or found is None:
        return
    version = (int(found[1]), int(found[2]))
    if version < GIT_VERSION:
        raise SourceError(
            f"git {version[0]}.{version[1]} is too old to read a revision safely; flux2prompt "
            f"needs git {GIT_VERSION[0]}.{GIT_VERSION[1]} or later (for --end-of-options): "
            "upgrade git",
            source=label,
        )


def resolve_revision(revision: str, cwd: str | Path | None = None) -> str:
    """The commit id ``revision`` names. A revision that does not exist (say, in a shallow
    clone without it) is a :class:`~flux2prompt.SourceError` saying how to fetch it."""
    check_revision(revision)
    done = _git(
        ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{revision}^{{commit}}"],
        cwd,
        revision,
    )
    if done.returncode != 0:
        check_git_version(cwd, revision)
        inside = _git(["rev-parse", "--show-toplevel"], cwd, revision)
        if inside.returncode != 0:
            raise SourceError(
                f"not in a git repository ({_git_error(inside)}); run this inside one",
                source=revision,
            )
        head = _git(["rev-parse", "--verify", "--quiet", "HEAD"], cwd, revision)
        if head.returncode != 0:
            raise SourceError("the repository has no commit yet; commit first", source=revision)
        shallow = _git(["rev-parse", "--is-shallow-repository"], cwd, revision)
        hint = (
            "; this is a shallow clone: fetch more history (git fetch --unshallow, or "
            "actions/checkout with fetch-depth: 0)"
            if shallow.stdout.strip() == b"true"
            else "; give a commit, branch or tag that exists (git log --oneline)"
        )
        raise SourceError(f"no such revision in this repository{hint}", source=revision)
    return done.stdout.decode().strip()


def is_shallow(cwd: str | Path | None = None) -> bool:
    """Whether the repository ``cwd`` is in is a shallow clone (history cut off)."""
    done = _git(["rev-parse", "--is-shallow-repository"], cwd, str(cwd or "."))
    return done.returncode == 0 and done.stdout.strip() == b"true"


def merge_base(a: str, b: str, cwd: str | Path | None = None) -> str | None:
    """The best common ancestor of two resolved commits, or ``None`` when they have none (or
    the history between them is missing, as in a shallow clone)."""
    done = _git(["merge-base", "--end-of-options", a, b], cwd, f"{a} {b}")
    commit = done.stdout.decode().strip()
    return commit if done.returncode == 0 and commit else None


@contextmanager
def materialise(commit: str, cwd: str | Path | None = None) -> Iterator[Path]:
    """The file tree of ``commit`` (a resolved id), extracted into a temporary folder that is
    removed afterwards. Submodules checked out in the working tree are extracted too, each at
    the commit ``commit`` records for it (``git archive`` leaves them empty), so their prompts
    are not taken for new ones."""
    with tempfile.TemporaryDirectory(prefix="flux2prompt-rev-") as folder:
        _extract(commit, Path(cwd) if cwd is not None else Path(), Path(folder), commit)
        yield Path(folder)


def _inside_tree(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
    """The ``data`` filter of :mod:`tarfile`, except that a member it refuses is left out
    rather than stopping the copy: a committed symbolic link to an absolute path or out of the
    repository (``/etc/hostname``, ``../shared``) points at nothing of the revision."""
    try:
        return tarfile.data_filter(member, path)
    except tarfile.FilterError:
        return None


def _extract(commit: str, repository: Path, folder: Path, label: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    _stream_archive(commit, repository, folder, label)
    _restore_exported(commit, repository, folder, label)
    if not (folder / ".gitmodules").is_file():
        return
    listed = _git(["ls-tree", "-r", "-z", "--full-tree", commit], repository, label)
    for row in listed.stdout.split(b"\0") if listed.returncode == 0 else ():
        meta, _, name = row.partition(b"\t")
        fields = meta.split()
        if len(fields) != 3 or fields[1] != b"commit":
            continue
        path = os.fsdecode(name)
        if not (repository / path / ".git").exists():
            continue  # not checked out here: its files stay absent, as in the archive
        with contextlib.suppress(SourceError):  # its commit was never fetched here
            _extract(fields[2].decode("ascii"), repository / path, folder / path, label)


def _no_room(exc: OSError, label: str) -> SourceError:
    return SourceError(
        "cannot copy the revision's files into a temporary folder under "
        f"{tempfile.gettempdir()}: {exc.strerror or exc}; free some space there, or set "
        "TMPDIR to a folder with room",
        source=label,
    )


def _restore_exported(commit: str, repository: Path, folder: Path, label: str) -> None:
    """Put back what the revision's ``export-ignore`` and ``export-subst`` attributes took out
    of, or changed in, the archive: they shape release tarballs, but the old side is the
    revision as committed (a dataset marked ``export-ignore`` is still the job's dataset)."""
    listed = _git(["ls-tree", "-r", "-z", "--full-tree", commit], repository, label)
    if listed.returncode != 0:
        return
    blobs: dict[str, str] = {}
    attributes = False
    for row in listed.stdout.split(b"\0"):
        meta, _, name = row.partition(b"\t")
        fields = meta.split()
        if len(fields) != 3 or fields[1] != b"blob" or fields[0] == b"120000":
            continue  # a submodule (extracted apart), a tree, or a link (left as archived)
        path = os.fsdecode(name)
        blobs[path] = fields[2].decode("ascii")
        attributes = attributes or path.rsplit("/", 1)[-1] == ".gitattributes"
    if not attributes:
        info = _git(["rev-parse", "--git-path", "info/attributes"], repository, label)
        found = os.fsdecode(info.stdout.strip())
        if info.returncode != 0 or not (repository / found).is_file():
            return  # no attributes at all: the archive is the tree as committed
    root = folder.resolve()
    todo = [path for path in blobs if not os.path.lexists(folder / path)]
    substituted = _git(
        ["grep", "-z", "-l", "-I", "-F", "-e", "$Format:", commit, "--"], repository, label
    )
    if substituted.returncode == 0:
        prefix = f"{commit}:"
        for row in substituted.stdout.split(b"\0"):
            path = os.fsdecode(row).removeprefix(prefix)
            if path in blobs and path not in todo:
                todo.append(path)
    if todo:
        _write_blobs([(blobs[path], folder / path) for path in todo], repository, root, label)


def _write_blobs(blobs: list[tuple[str, Path]], repository: Path, root: Path, label: str) -> None:
    """Write each blob (an object id) to its path under ``root``, as git stores it."""
    try:
        process = subprocess.Popen(
            ["git", "cat-file", "--batch"],
            cwd=repository,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
    except OSError as exc:
        raise SourceError(f"cannot run git: {exc}", source=label) from None
    assert process.stdin is not None  # stdin=PIPE
    assert process.stdout is not None  # stdout=PIPE
    try:
        for blob, target in blobs:
            process.stdin.write(blob.encode("ascii") + b"\n")
            process.stdin.flush()
            header = process.stdout.readline().split()
            if len(header) != 3 or header[1] != b"blob":
                raise SourceError(f"git cat-file cannot read {blob}", source=label)
            size = int(header[2])
            inside = target.parent.resolve()
            if inside != root and root not in inside.parents:
                process.stdout.read(size + 1)  # under a link out of the tree: left out
                continue
            inside.mkdir(parents=True, exist_ok=True)
            with open(inside / target.name, "wb") as out:
                while size:
                    chunk = process.stdout.read(min(size, 1 << 20))
                    if not chunk:
                        raise SourceError(f"git cat-file stopped inside {blob}", source=label)
                    out.write(chunk)
                    size -= len(chunk)
            process.stdout.read(1)  # the newline after the content
    except OSError as exc:
        raise _no_room(exc, label) from None
    finally:
        process.stdin.close()
        process.kill()
        process.wait()
        process.stdout.close()


def _stream_archive(commit: str, repository: Path, folder: Path, label: str) -> None:
    """Extract ``git archive`` of ``commit`` into ``folder`` as git writes it: the tar stream
    is read member by member from the pipe, so a repository with large committed files costs
    disk in the temporary folder, not memory."""
    with tempfile.TemporaryFile() as errors:
        try:
            process = subprocess.Popen(
                ["git", "archive", "--format=tar", commit],
                cwd=repository,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=errors,
            )
        except FileNotFoundError:
            raise SourceError(
                "git is not installed (or not on PATH); it is needed to read a revision",
                source=label,
            ) from None
        except OSError as exc:
            raise SourceError(f"cannot run git: {exc}", source=label) from None
        assert process.stdout is not None  # stdout=PIPE
        unreadable: tarfile.TarError | None = None
        try:
            with tarfile.open(fileobj=process.stdout, mode="r|") as archive:
                archive.extractall(folder, filter=_inside_tree)
        except tarfile.TarError as exc:
            unreadable = exc  # git's own failure, read below, says more when there is one
        except OSError as exc:
            process.kill()
            raise _no_room(exc, label) from None
        finally:
            process.stdout.close()
            returncode = process.wait()
        if returncode != 0:
            errors.seek(0)
            message = errors.read().decode("utf-8", "replace").strip().splitlines()
            detail = message[-1].removeprefix("fatal: ") if message else f"exit {returncode}"
            raise SourceError(f"git archive failed: {detail}", source=label)
        if unreadable is not None:
            raise SourceError(
                f"git archive wrote an archive that does not read ({unreadable})", source=label
            )


#: How long the interpreter reading the old side may take, in seconds.
WORKER_TIMEOUT = 600


def run_worker(tree: Path, request: Mapping[str, Any], *, label: str) -> Any:
    """Run the worker interpreter over ``tree`` with ``request``; its answer as JSON data.

    An error in the old side (a module that fails to import there) is a
    :class:`~flux2prompt.SourceError` naming ``label`` (the revision)."""
    env = {**os.environ, "PYTHONSAFEPATH": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    payload = json.dumps({"tree": str(tree), **request}).encode("utf-8")
    try:
        done = subprocess.run(
            [sys.executable, "-P", "-m", "flux2prompt._versioning._worker"],
            input=payload,
            cwd=tree,
            env=env,
            capture_output=True,
            check=False,
            timeout=WORKER_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        raise SourceError(
            f"reading the old side took longer than {WORKER_TIMEOUT} s and was stopped (a "
            "module at the revision that never finishes importing?)",
            source=label,
        ) from None
    except (OSError, subprocess.SubprocessError) as exc:
        raise SourceError(
            f"cannot start Python to read the old side: {exc}", source=label
        ) from None
    try:
        answer = json.loads(done.stdout.decode("utf-8"))
    except (ValueError, RecursionError):
        detail = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise SourceError(
            f"reading the old side failed: {detail[-1] if detail else f'exit {done.returncode}'}",
            source=label,
        ) from None
    if "error" in answer:
        raise SourceError(f"at {label}: {answer['error']}")
    return answer["result"]


def inventory_at(
    revision: str,
    paths: Iterable[str | Path] | None = None,
    *,
    base: str | Path = ".",
    cwd: str | Path = ".",
    project_root: str | Path | None = None,
    job_images: bool = False,
    tolerant: bool = False,
) -> Any:
    """The inventory (as :class:`~flux2prompt._versioning._inventory.Inventory`) of the project
    as it was at ``revision``: the same ``paths`` (or the project at ``project_root``, by default
    ``cwd``: its configuration as it was then, else discovery from that folder), read in
    the tree of that commit by one separate interpreter. Returns ``(commit, inventory)``; with
    ``job_images``, ``(commit, inventory, images)``, ``images`` the bytes of each job's
    reference images at that commit, by job key (what its requests send). With ``tolerant``,
    a file that did not read there is left out (its error line in the inventory's
    ``unreadable``), as ``diff --rev`` and ``review`` want: the past cannot be fixed."""
    import base64

    from flux2prompt._versioning._inventory import Inventory

    commit = resolve_revision(revision, cwd)
    root = repository_root(cwd)
    for path in paths if paths is not None else ():
        if not Path(path).absolute().resolve().is_relative_to(root.resolve()):
            raise SourceError(
                f"is outside the repository ({root}), so it has no revision {revision}; give "
                "paths inside it",
                source=str(path),
            )
    relative_cwd = os.path.relpath(Path(cwd).absolute(), root)
    request = {
        "op": "inventory",
        "cwd": relative_cwd,
        "root": os.path.relpath(Path(project_root or cwd).absolute(), root),
        "base": os.path.relpath(Path(base).absolute(), root),
        "paths": None
        if paths is None
        else [os.path.relpath(Path(p).absolute(), root) for p in paths],
        "job_images": job_images,
        "tolerant": tolerant,
    }
    with materialise(commit, root) as tree:
        data = run_worker(tree, request, label=revision)
    inventory = Inventory.from_dict(data)
    if not job_images:
        return commit, inventory
    images = {
        key: [base64.b64decode(item) for item in encoded]
        for key, encoded in data.get("job_images", {}).items()
    }
    return commit, inventory, images


def _lf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n")


def inventory_at_lock_revision(
    lock_path: Path,
    paths: Iterable[str | Path] | None,
    *,
    project: Project | None = None,
    problems: list[str] | None = None,
) -> tuple[str, Any] | None:
    """The commit that last wrote the lockfile, and the inventory as it was there; ``None``
    when there is none to use (no git, the lockfile not committed, or changed since), or when
    that commit's side cannot be read: then why is appended to ``problems`` (a dataset that was
    never committed, a module that fails there), since committing the lockfile would not help."""
    folder = lock_path.parent
    try:
        root = repository_root(folder)
    except SourceError:
        return None
    name = os.path.relpath(lock_path.absolute(), root)
    done = _git(["log", "-1", "--format=%H", "--", name], root, str(lock_path))
    commit = done.stdout.decode().strip()
    if done.returncode != 0 or not commit:
        return None
    shown = _git(["show", f"{commit}:{Path(name).as_posix()}"], root, str(lock_path))
    # The same text whatever the line ends: core.autocrlf (Git for Windows' default) checks the
    # committed lockfile out with CRLF.
    if shown.returncode != 0 or _lf(shown.stdout) != _lf(lock_path.read_bytes()):
        return None  # the lockfile was rewritten since it was committed
    project_root = project.root if project is not None else folder
    here = Path.cwd()
    if not here.resolve().is_relative_to(root.resolve()):
        here = folder  # a lockfile of another repository than the current folder's
    try:
        found: tuple[str, Any] = inventory_at(
            commit, paths, base=folder, cwd=here, project_root=project_root
        )
    except SourceError as exc:
        if problems is not None:
            problems.append(
                f"the old values cannot be rebuilt from the lockfile's commit ({exc}); the "
                "changed fields are named instead"
            )
        return None  # the fields are still named by hash
    return found
