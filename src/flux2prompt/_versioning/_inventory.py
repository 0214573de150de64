"""A project's prompt inventory: every prompt that would be sent, wherever it is written.

Three kinds of file hold prompts (see :mod:`flux2prompt._files._project` for how they are
found):

- a **prompt file** contributes its prompt under its ``name`` (a template prompt file, with
  ``${...}`` placeholders, is listed by the fingerprint of its document as written);
- a **Python module** contributes every module-level :class:`~flux2prompt.Prompt` and
  :class:`~flux2prompt.PromptBuilder`, as ``path.py:NAME``; a ``@template`` that no job expands
  is listed in :attr:`Inventory.unlocked` ("not locked: no variables");
- a **job file** (TOML with a top-level ``template`` key) contributes its whole expansion: one
  :class:`InventoryEntry` per item, in batch order, with its request fingerprint (prompt,
  model, parameters, seed, input images' hashes).

Importing a module runs its code, as ``validate file.py:NAME`` does; its errors are one line
naming the file (a syntax error with its line, an exception with its type and message).

Example:
    >>> import pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / "hero.py").write_text(
    ...     "from flux2prompt import scene\\nhero = scene('a lighthouse')\\n")
    >>> inventory = build_inventory([root / "hero.py"], base=root)
    >>> [(e.key, e.kind) for e in inventory.entries]
    [('hero.py:hero', 'prompt')]
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from flux2prompt._atomic import read_at_most
from flux2prompt._digest import canonical_json, sha256_fingerprint
from flux2prompt._errors import Flux2PromptError, PromptError, SourceError
from flux2prompt._files import PromptFile, read_job_file, read_prompt
from flux2prompt._files._project import Discovered, Project, discover_paths, find_project
from flux2prompt._files._pysource import attribute, import_python_file, public_names
from flux2prompt._files._references import MAX_REFERENCE_BYTES
from flux2prompt._schema import Profile

if TYPE_CHECKING:
    from flux2prompt._model import Prompt

__all__ = ["Inventory", "InventoryEntry", "build_inventory", "job_digest", "job_images"]

EntryKind = Literal["prompt", "template", "item"]


def _relative(path: Path, base: Path) -> str:
    relative = os.path.relpath(path.absolute(), base.absolute())
    return PurePosixPath(*Path(relative).parts).as_posix()


@dataclass(frozen=True, slots=True)
class InventoryEntry:
    """One prompt of the inventory: a prompt file's, a module's ``NAME``, or a job's item.

    ``key`` names it in the lockfile (a prompt file's ``name``; ``path.py:NAME``; for an item,
    its job's path); ``source`` is what ``diff`` and ``validate`` take; ``path`` the file,
    relative to the lockfile's folder. ``document`` is the compiled prompt as JSON data (a
    template prompt file's document as written) and ``metadata`` the model and parameters that
    go with it. An item has its ``index`` in the batch, ``origin`` (``products.csv:14``),
    ``variables`` and ``seed``.

    >>> entry = InventoryEntry("hero.py:hero", "prompt", "hero.py:hero", "hero.py", "sha256:1",
    ...                        "sha256:2")
    >>> entry.label
    'hero.py:hero'
    """

    key: str
    kind: EntryKind
    source: str
    path: str
    prompt_fingerprint: str
    request_fingerprint: str | None
    profile: Profile = "flux2"
    document: Mapping[str, Any] | None = None
    metadata: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    index: int | None = None
    origin: str | None = None
    variables: Mapping[str, Any] | None = None
    seed: int | None = None

    @property
    def label(self) -> str:
        """How messages name it: the key, and for an item its origin and seed."""
        if self.kind != "item":
            return self.key
        parts = [self.origin or f"item {self.index}"]
        if self.variables:
            shown = ", ".join(f"{k}={v}" for k, v in self.variables.items())
            parts.append(shown if len(shown) <= 80 else shown[:77] + "...")
        if self.seed is not None:
            parts.append(f"seed {self.seed}")
        return f"{self.key} [{'; '.join(parts)}]"

    def to_dict(self) -> dict[str, Any]:
        """The entry as JSON data (what ``diff --rev`` passes between interpreters)."""
        out: dict[str, Any] = {
            "key": self.key,
            "kind": self.kind,
            "source": self.source,
            "path": self.path,
            "prompt_fingerprint": self.prompt_fingerprint,
            "request_fingerprint": self.request_fingerprint,
            "profile": self.profile,
            "document": self.document,
            "metadata": dict(self.metadata),
        }
        if self.kind == "item":
            out.update(
                index=self.index,
                origin=self.origin,
                variables=dict(self.variables or {}),
                seed=self.seed,
            )
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InventoryEntry:
        """The entry :meth:`to_dict` gave."""
        return cls(
            key=data["key"],
            kind=data["kind"],
            source=data["source"],
            path=data["path"],
            prompt_fingerprint=data["prompt_fingerprint"],
            request_fingerprint=data["request_fingerprint"],
            profile=data.get("profile", "flux2"),
            document=data.get("document"),
            metadata=data.get("metadata") or {},
            index=data.get("index"),
            origin=data.get("origin"),
            variables=data.get("variables"),
            seed=data.get("seed"),
        )


@dataclass(frozen=True, slots=True)
class JobSummary:
    """What the lockfile records of a job besides its items: its name, template, model and
    parameters, item count and :func:`job_digest`."""

    key: str
    path: str
    name: str
    template: str
    model: str
    parameters: Mapping[str, int | float]
    profile: Profile
    items: int
    digest: str


def job_images(path: str | Path) -> list[bytes]:
    """The reference images a job file sends with every request (its ``images``, relative to
    the file), read without resolving its template (nothing of the user's code runs).

    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "job.toml").write_text('template = "t.py:x"\\noutput = "{i}"\\n')
    >>> job_images(folder / "job.toml")
    []
    """
    from flux2prompt._files import parse_toml, read_bytes

    path = Path(path)
    document = parse_toml(read_bytes(path), str(path))
    out = []
    for image in document.get("images", ()) if isinstance(document, dict) else ():
        try:
            out.append(
                read_at_most(path.parent / str(image), MAX_REFERENCE_BYTES, "a reference image")
            )
        except OSError as exc:
            raise SourceError(
                f"cannot read the reference image: {exc.strerror}", source=str(path.parent / image)
            ) from None
    return out


def job_digest(request_fingerprints: Iterable[str]) -> str:
    """The digest of a job: sha256 over its ordered request fingerprints.

    >>> job_digest(["sha256:a", "sha256:b"]) != job_digest(["sha256:b", "sha256:a"])
    True
    """
    return sha256_fingerprint(canonical_json(list(request_fingerprints)))


@dataclass(frozen=True, slots=True)
class Inventory:
    """Every prompt of a project: ``entries`` (prompts, templates, job items, in a stable
    order), ``jobs`` (a summary of each), ``unlocked`` (``(source, reason)`` of what is listed
    but not locked) and ``scanned`` (what was looked at, in words).

    >>> Inventory().count
    0
    """

    entries: tuple[InventoryEntry, ...] = ()
    jobs: Mapping[str, JobSummary] = field(default_factory=dict)
    unlocked: tuple[tuple[str, str], ...] = ()
    scanned: tuple[str, ...] = ()
    #: With ``build_inventory(..., tolerant=True)``: the error line of each file left out.
    unreadable: tuple[str, ...] = ()

    @property
    def count(self) -> int:
        """How many prompts (items included) are locked."""
        return len(self.entries)

    def to_dict(self) -> dict[str, Any]:
        """The inventory as JSON data."""
        return {
            "entries": [entry.to_dict() for entry in self.entries],
            "unlocked": [list(pair) for pair in self.unlocked],
            "scanned": list(self.scanned),
            "unreadable": list(self.unreadable),
            "jobs": {
                key: {
                    "path": job.path,
                    "name": job.name,
                    "template": job.template,
                    "model": job.model,
                    "parameters": dict(job.parameters),
                    "profile": job.profile,
                    "items": job.items,
                    "digest": job.digest,
                }
                for key, job in self.jobs.items()
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Inventory:
        """The inventory :meth:`to_dict` gave."""
        return cls(
            tuple(InventoryEntry.from_dict(e) for e in data["entries"]),
            {key: JobSummary(key=key, **job) for key, job in data["jobs"].items()},
            tuple((a, b) for a, b in data["unlocked"]),
            tuple(data["scanned"]),
            tuple(data.get("unreadable", ())),
        )


def _metadata(model: str | None, parameters: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if model is not None:
        out["model"] = model
    if parameters:
        out["parameters"] = dict(sorted(parameters.items()))
    return out


def _request(
    prompt: Prompt,
    model: str | None,
    parameters: Mapping[str, Any],
    source: str,
    metadata: dict[str, Any] | None = None,
) -> str:
    """The request fingerprint; the form the prompt is sent in joins ``metadata`` when it is
    not JSON (a lock names a change of form as such)."""
    from flux2prompt.transport import ParameterError, build_request

    options: dict[str, Any] = dict(parameters)
    if model is not None:
        options["model"] = model
    try:
        request = build_request(prompt, **options)
    except ParameterError as exc:
        raise SourceError(f"model or parameters: {exc}", source=source) from None
    if metadata is not None:
        _note_form(metadata, request.prompt_format)
    return request.fingerprint


def _note_form(metadata: dict[str, Any], form: str) -> None:
    # Recorded only when it is not JSON, so a lock written before forms reads the same.
    if form not in ("json", "text"):
        metadata["prompt_format"] = form


def _prompt_file_entries(path: Path, base: Path, profile: Profile) -> Iterator[InventoryEntry]:
    loaded = read_prompt(path, profile=profile)
    relative = _relative(path, base)
    if not isinstance(loaded, PromptFile):
        # A plain prompt document named on the command line: listed by its path.
        yield InventoryEntry(
            relative,
            "prompt",
            relative,
            relative,
            loaded.fingerprint,
            _request(loaded, None, {}, str(path)),
            profile,
            document=loaded.to_dict(),
        )
        return
    metadata = _metadata(loaded.model, loaded.parameters)
    if loaded.is_template:
        document = dict(loaded.document)
        fingerprint = sha256_fingerprint(canonical_json(document))
        yield InventoryEntry(
            loaded.name,
            "template",
            relative,
            relative,
            fingerprint,
            None,
            profile,
            document=document,
            metadata=metadata,
        )
        return
    prompt = loaded.prompt
    metadata = dict(metadata)
    request = _request(prompt, loaded.model, loaded.parameters, str(path), metadata)
    yield InventoryEntry(
        loaded.name,
        "prompt",
        relative,
        relative,
        prompt.fingerprint,
        request,
        profile,
        document=prompt.to_dict(),
        metadata=metadata,
    )


def _module_entries(
    path: Path, base: Path, profile: Profile, expanded: set[tuple[str, str]]
) -> tuple[list[InventoryEntry], list[tuple[str, str]]]:
    from flux2prompt._builder import PromptBuilder
    from flux2prompt._document import prompt_from_value
    from flux2prompt._files._pysource import reraise
    from flux2prompt._model import Prompt
    from flux2prompt._templates import Template

    module = import_python_file(path, what="Python module")
    relative = _relative(path, base)
    entries: list[InventoryEntry] = []
    unlocked: list[tuple[str, str]] = []
    for name in public_names(module):
        value = attribute(module, name, path, None)
        source = f"{relative}:{name}"
        if isinstance(value, Template):
            if (os.path.normpath(path.absolute()), name) not in expanded:
                unlocked.append((source, "not locked: no variables (no job expands it)"))
            continue
        if not isinstance(value, PromptBuilder | Prompt):
            continue
        try:
            prompt = prompt_from_value(value, profile=profile)
        except PromptError as exc:
            raise SourceError(f"{name}: {exc}", source=str(path)) from None
        except Exception as exc:  # a builder's compile() ran the user's code
            reraise(exc, path, f"compiling {name}")
        entries.append(
            InventoryEntry(
                source,
                "prompt",
                source,
                relative,
                prompt.fingerprint,
                _request(prompt, None, {}, source),
                profile,
                document=prompt.to_dict(),
            )
        )
    return entries, unlocked


def _relative_origin(origin: str, base: Path, seen: dict[str, str]) -> str:
    """A dataset row's origin (``/abs/products.csv:14``, or relative to the current folder) with
    its path relative to ``base``, so a lockfile reads the same from every folder and machine."""
    file, sep, line = origin.rpartition(":")
    if not sep or not line.isdigit() or not os.path.isfile(file):
        return origin
    if file not in seen:
        seen[file] = _relative(Path(file), base)
    return f"{seen[file]}:{line}"


def _check_variables(variables: Mapping[str, Any], origin: str, index: int, job: Path) -> None:
    """Refuse an item whose variables have no JSON form (a dataset cell holding NaN), which
    the lock cannot fingerprint, naming the dataset's file and line (else the job and item)."""
    from flux2prompt._templates import canonical_variables

    try:
        canonical_variables(variables)
    except PromptError as exc:
        file, sep, line = origin.rpartition(":")
        if sep and line.isdigit():
            raise SourceError(f"{exc} ({job}, item {index})", source=file, line=int(line)) from None
        raise SourceError(f"{origin}: {exc}", source=str(job)) from None


def _template_target(spec: str, job_path: Path) -> tuple[str, str] | None:
    file_part, sep, name = spec.rpartition(":")
    if sep and file_part.endswith(".py"):
        return os.path.normpath((job_path.parent / file_part).absolute()), name
    return None


def _job_entries(
    path: Path, base: Path, profile: Profile
) -> tuple[list[InventoryEntry], JobSummary, Path | None]:
    from flux2prompt._document import prompt_from_value
    from flux2prompt._versioning._requests import variant_requests
    from flux2prompt.transport import DEFAULT_MODEL, ParameterError
    from flux2prompt.transport import resolve_model as _resolve

    job = read_job_file(path)
    relative = _relative(path, base)
    # Read per item when a path names the item's variables: each request has its own image.
    images = job.references.request_images()
    build: Any = variant_requests
    options: dict[str, Any] = {"prompt_format": job.prompt_format}
    if job.document.get("provider") == "bfl":  # Black Forest Labs' API: its own requests
        from flux2prompt._versioning._requests import bfl_variant_requests
        from flux2prompt.transport import resolve_bfl_model

        model = resolve_bfl_model(job.model or "flux-2-pro").id
        build = bfl_variant_requests
    else:
        model = _resolve(job.model or DEFAULT_MODEL).id
    entries: list[InventoryEntry] = []
    origins: dict[str, str] = {}
    try:
        for variant, request in build(
            job.template, job.source, seeds=job.seeds, model=model,
            parameters=job.parameters, images=images, **options,
        ):  # fmt: skip
            prompt = (
                variant.prompt
                if profile == "flux2"
                else prompt_from_value(variant.prompt, profile=profile)
            )
            metadata = {"model": model, "parameters": dict(sorted(request.params.items()))}
            _note_form(metadata, request.prompt_format)
            _check_variables(dict(variant.variables), variant.origin, variant.index, path)
            entries.append(
                InventoryEntry(
                    relative,
                    "item",
                    relative,
                    relative,
                    prompt.fingerprint,
                    request.fingerprint,
                    profile,
                    document=prompt.to_dict(),
                    metadata=metadata,
                    index=variant.index,
                    origin=_relative_origin(variant.origin, base, origins),
                    variables=dict(variant.variables),
                    seed=variant.seed,
                )
            )
    except ParameterError as exc:
        raise SourceError(f"model or parameters: {exc}", source=str(path)) from None
    except SourceError:
        raise
    except PromptError as exc:
        raise SourceError(str(exc), source=str(path)) from None
    summary = JobSummary(
        relative,
        relative,
        job.name,
        job.template_spec,
        model,
        dict(job.parameters),
        profile,
        len(entries),
        job_digest(e.request_fingerprint or "" for e in entries),
    )
    target = _template_target(job.template_spec, path)
    return entries, summary, Path(target[0]) if target else None


def build_inventory(
    paths: Iterable[str | Path] | None = None,
    *,
    base: str | Path | None = None,
    project: Project | None = None,
    profile: Profile | None = None,
    tolerant: bool = False,
) -> Inventory:
    """Find and load every prompt of a project, or of ``paths``.

    With ``paths`` (files or folders; a folder is scanned for prompt files, job files and
    Python modules), those; else the ``project``'s (by default the one the current folder is
    in, :func:`~flux2prompt._files._project.find_project`). Paths in the entries are relative
    to ``base`` (the lockfile's folder; the project's root by default). ``profile`` overrides
    the project's. Two prompts with one key are a :class:`~flux2prompt.SourceError` naming both.
    With ``tolerant`` (the old side of a diff, which no one can fix any more), a file that cannot
    be read is left out and its error line kept in :attr:`Inventory.unreadable`.

    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "fox.prompt.toml").write_text('name = "fox"\\n[prompt]\\nscene = "fox"\\n')
    >>> [(e.key, e.source) for e in build_inventory([folder], base=folder).entries]
    [('fox', 'fox.prompt.toml')]
    """
    project = project if project is not None else find_project()
    chosen: Profile = profile or project.profile
    found: Discovered = discover_paths(paths) if paths is not None else project.discover()
    folder = Path(base) if base is not None else project.root
    entries: list[InventoryEntry] = []
    owners: dict[str, str] = {}
    jobs: dict[str, JobSummary] = {}
    expanded: set[tuple[str, str]] = set()
    modules = list(found.modules)
    unreadable: list[str] = []

    def left_out(exc: Flux2PromptError) -> None:
        if not tolerant:
            raise exc
        unreadable.append(" ".join(str(exc).split("\n")))

    for job_path in found.jobs:
        try:
            items, summary, template_module = _job_entries(job_path, folder, chosen)
        except Flux2PromptError as exc:
            left_out(exc)
            continue
        jobs[summary.key] = summary
        entries.extend(items)
        target = _template_target(summary.template, job_path)
        if target is not None:
            expanded.add(target)
        if template_module is not None and template_module.is_file():
            known = {os.path.normpath(m.absolute()) for m in modules}
            if os.path.normpath(template_module.absolute()) not in known:
                modules.append(template_module)
    for path in found.prompt_files:
        try:
            file_entries = list(_prompt_file_entries(path, folder, chosen))
        except Flux2PromptError as exc:
            left_out(exc)
            continue
        taken = next((entry.key for entry in file_entries if entry.key in owners), None)
        if taken is not None:
            left_out(
                SourceError(
                    f"duplicate prompt name {taken!r}: also in {owners[taken]}; "
                    "give each prompt file its own name",
                    source=str(path),
                )
            )
            continue
        for entry in file_entries:
            owners[entry.key] = str(path)
            entries.append(entry)
    unlocked: list[tuple[str, str]] = []
    for path in sorted(modules, key=lambda p: os.path.normpath(p.absolute())):
        try:
            module_entries, module_unlocked = _module_entries(path, folder, chosen, expanded)
        except Flux2PromptError as exc:
            left_out(exc)
            continue
        entries.extend(module_entries)
        unlocked.extend(module_unlocked)
    scanned = list(found.scanned)
    extra = [m for m in modules if m not in found.modules]
    if extra:
        scanned.append(
            "Python modules the jobs name: " + ", ".join(_relative(m, folder) for m in extra)
        )
    return Inventory(tuple(entries), jobs, tuple(unlocked), tuple(scanned), tuple(unreadable))
