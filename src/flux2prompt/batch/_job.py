"""Batch jobs: what to generate and how, read from a TOML job file or built in Python.

A job file (schema ``schemas/batch-job.schema.json``; relative paths are relative to the file)::

    name = "aurora-bottle"
    template = "template.py:bottle"        # or a prompt file: "bottle.prompt.toml"
    model = "klein-4b"
    output = "{color}-{language}.{ext}"
    seeds = { derive = 2024 }              # or 7, or [1, 2, 3]
    concurrency = 8
    rate_limit = 720                       # requests per minute

    [parameters]
    width = 768
    height = 768

    [variables.matrix]                     # or zip, dataset, sample
    color = ["teal", "coral"]
    language = ["en", "ja"]

TOML syntax errors and schema violations name the file and the line.

Example:
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "mug.prompt.toml").write_text(
    ...     'name = "mug"\\n[prompt]\\nscene = "a ${color} mug"\\n', encoding="utf-8")
    >>> _ = (folder / "job.toml").write_text(
    ...     'template = "mug.prompt.toml"\\noutput = "{color}.{ext}"\\n'
    ...     '[variables.matrix]\\ncolor = ["teal", "rust"]\\n', encoding="utf-8")
    >>> job = load_job(folder / "job.toml")
    >>> job.name, job.template.variables, job.source.count()
    ('job', ('color',), 2)
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from flux2prompt._builder import PromptBuilder
from flux2prompt._errors import PromptError, SourceError
from flux2prompt._files import Dataset
from flux2prompt._files._pysource import import_python_file, lookup
from flux2prompt._model import Prompt
from flux2prompt._schema import issues_from_errors, packaged_schema, packaged_validator
from flux2prompt._templates import (
    Matrix,
    Sample,
    Seeds,
    Template,
    VariableSource,
    Zipped,
)
from flux2prompt.batch._naming import OutputPattern
from flux2prompt.transport import DEFAULT_MODEL

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_RATE_LIMIT",
    "DEFAULT_RETRIES",
    "BatchJob",
    "job_schema",
    "load_job",
    "parse_job",
]

DEFAULT_CONCURRENCY = 8
#: Workers AI's text-to-image limit, requests per minute.
DEFAULT_RATE_LIMIT = 720
DEFAULT_RETRIES = 5
_PARAMETERS = ("width", "height", "steps", "guidance")
_SCHEMA = "batch-job.schema.json"


@dataclass(frozen=True)
class BatchJob:
    """A batch: a template, a source of variables, and how to generate and name each image.

    Build one in Python, or read a job file with :func:`load_job`. ``parameters`` takes
    ``width``, ``height``, ``steps`` and ``guidance``; ``images`` are reference images sent with
    every item; ``rate_limit`` is in requests per minute.

    Example:
        >>> from flux2prompt import scene
        >>> from flux2prompt._templates import matrix, template
        >>> @template
        ... def mug(color: str):
        ...     return scene(f"a {color} ceramic mug")
        >>> job = BatchJob(name="mugs", template=mug, source=matrix(color=["teal", "rust"]),
        ...                output="mug-{color}.{ext}", model="klein-4b", seeds=7)
        >>> job.seeds, job.rate_limit
        (Seeds(kind='fixed', values=(7,)), 720)
    """

    name: str
    template: Template
    source: VariableSource
    output: str | OutputPattern
    model: str = DEFAULT_MODEL
    parameters: Mapping[str, int | float] = field(default_factory=dict)
    seeds: Seeds | int | Sequence[int] | Mapping[str, int] | None = None
    images: tuple[bytes | str | os.PathLike[str], ...] = ()
    concurrency: int = DEFAULT_CONCURRENCY
    rate_limit: int = DEFAULT_RATE_LIMIT
    retries: int = DEFAULT_RETRIES
    path: Path | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if not isinstance(self.output, OutputPattern):
            set_(self, "output", OutputPattern(self.output))
        set_(self, "seeds", Seeds.coerce(self.seeds))
        unknown = [key for key in self.parameters if key not in _PARAMETERS]
        if unknown:
            raise PromptError(
                f"job {self.name!r}: unknown parameter {unknown[0]!r}; use "
                f"{', '.join(_PARAMETERS)} (seeds are set with seeds=)"
            )
        set_(self, "parameters", MappingProxyType(dict(self.parameters)))
        set_(self, "images", tuple(self.images))
        for label, value, low in (
            ("concurrency", self.concurrency, 1),
            ("rate_limit", self.rate_limit, 1),
            ("retries", self.retries, 0),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise PromptError(f"job {self.name!r}: {label} must be an integer >= {low}")
        known = self.source.names
        if known is not None:
            self.pattern.check_fields(known)
            missing = [v for v in self.template.required if v not in known]
            if missing:
                raise PromptError(
                    f"job {self.name!r}: template {self.template.name!r} needs "
                    f"{', '.join(repr(v) for v in missing)}, which the variables do not give "
                    f"(they give {', '.join(known)})"
                )

    @property
    def pattern(self) -> OutputPattern:
        """The checked output naming pattern."""
        assert isinstance(self.output, OutputPattern)
        return self.output

    @property
    def seed_policy(self) -> Seeds:
        """The seeds, as a :class:`~flux2prompt.batch.Seeds`."""
        assert isinstance(self.seeds, Seeds)
        return self.seeds


# -- the schema ----------------------------------------------------------------------------------


def job_schema() -> dict[str, Any]:
    """A copy of the JSON Schema (Draft 2020-12) of batch job files.

    Example:
        >>> job_schema()["title"]
        'flux2prompt batch job'
    """
    return copy.deepcopy(packaged_schema(_SCHEMA))


def _job_special(error: Any) -> str | None:
    """The job schema's own rules, in words (the rest are :func:`issues_from_errors`')."""
    path = list(error.absolute_path)
    keyword = error.validator
    if path == ["variables"] and keyword in ("minProperties", "maxProperties"):
        return "give exactly one source of variables: matrix, zip, dataset or sample"
    if keyword == "oneOf" and path == ["seeds"]:
        return "seeds must be an integer, a list of integers, or { derive = BASE }"
    if keyword == "oneOf" and path[-1:] == ["sample"]:
        return "a sample draws from either 'axes' or 'dataset' (one of them)"
    return None


_PATH_IN_MESSAGE = re.compile(r": (\$\S*): ")
_PATH_PART = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\['([^']*)'\]")
_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\.\"' ]+?)\s*=")


def _toml_key(raw: str) -> list[str]:
    return [part.strip().strip("\"'") for part in raw.split(".")]


def _line_of(text: str, path: Sequence[str | int]) -> int | None:
    """The line that defines the longest prefix of ``path`` (best effort; no TOML positions)."""
    wanted = [str(p) for p in path if isinstance(p, str)]
    best: tuple[int, int] | None = None
    table: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        header = _HEADER.match(line)
        if header is not None:
            table = _toml_key(header.group(1))
            keys = table
        else:
            key = _KEY.match(line)
            if key is None:
                continue
            keys = [*table, *_toml_key(key.group(1))]
        depth = 0
        for mine, theirs in zip(keys, wanted, strict=False):
            if mine != theirs:
                break
            depth += 1
        if depth and depth == min(len(keys), len(wanted)) and (best is None or depth > best[0]):
            best = (depth, number)
    return best[1] if best else None


def _check_schema(document: Any, text: str, source: str) -> None:
    errors = packaged_validator(_SCHEMA).iter_errors(document)
    issues = issues_from_errors(errors, document, special=_job_special)
    if not issues:
        return
    first = issues[0]
    more = f" (and {len(issues) - 1} more problem{'s' if len(issues) > 2 else ''})"
    suffix = more if len(issues) > 1 else ""
    parts = [a or b for a, b in _PATH_PART.findall(first.path)]
    raise SourceError(f"{first}{suffix}", source=source, line=_line_of(text, parts))


# -- templates from files ------------------------------------------------------------------------


def _python_template(path: Path, name: str) -> Template:
    module = import_python_file(path, what="template file")
    label = f"{path}:{name}"
    value = lookup(module, name, path)
    if isinstance(value, Template):
        return value
    if isinstance(value, PromptBuilder | Prompt):
        return Template(name, (), lambda _values: value)
    if callable(value):
        return Template.from_function(value, name)
    raise SourceError(
        f"{name!r} is a {type(value).__name__}; name a @template function, a function of named "
        "variables, or a prompt builder",
        source=label,
    )


def _template_from(
    spec: str, base: Path, source: str
) -> tuple[Template, str | None, dict[str, Any]]:
    """The template, and the model and parameters (seed included) a prompt file brings."""
    file_part, sep, name = spec.rpartition(":")
    if sep and file_part.endswith(".py"):
        if not name.isidentifier():
            raise SourceError(f"template {spec!r}: NAME in file.py:NAME must be a Python name")
        return _python_template(base / file_part, name), None, {}
    path = base / spec
    if path.suffix == ".py":
        raise SourceError(
            f"template {spec!r}: name the template in the file, as {spec}:NAME", source=source
        )
    from flux2prompt._files import load_prompt_file

    prompt_file = load_prompt_file(path)
    # The file's seed is a parameter there and a seed policy here (used when the job has none).
    parameters = dict(prompt_file.parameters)
    return Template.from_prompt_file(prompt_file), prompt_file.model, parameters


# -- variables -----------------------------------------------------------------------------------


def _dataset(value: str | Mapping[str, Any], base: Path) -> Dataset:
    if isinstance(value, str):
        return Dataset(base / value)
    return Dataset(base / value["path"], format=value.get("format"))


def _source_from(variables: Mapping[str, Any], base: Path) -> VariableSource:
    kind, value = next(iter(variables.items()))
    if kind == "matrix":
        return Matrix(value)
    if kind == "zip":
        return Zipped(value)
    if kind == "dataset":
        return _dataset(value, base)
    population = Matrix(value["axes"]) if "axes" in value else _dataset(value["dataset"], base)
    return Sample(population, value["n"], value["seed"])


# -- reading -------------------------------------------------------------------------------------


def parse_job(text: str, *, source: str = "<job>", base: Path | None = None) -> BatchJob:
    """Read a job from TOML text; relative paths are resolved against ``base``.

    Example:
        >>> job = parse_job('template = "t.py:x"\\noutput = "{i}"\\n[variables.zip]\\ni = [1]\\n')
        Traceback (most recent call last):
        ...
        flux2prompt.SourceError: t.py: no such template file
    """
    from flux2prompt._files import parse_toml

    folder = base if base is not None else Path()
    try:
        document = parse_toml(text, source)
    except SourceError as exc:
        # A value TOML has and JSON has not (a date) is reported by its JSON path: find its line.
        found = _PATH_IN_MESSAGE.search(str(exc))
        if exc.line is not None or found is None:
            raise
        parts = [a or b for a, b in _PATH_PART.findall(found.group(1))]
        message = str(exc).removeprefix(f"{source}: ")
        raise SourceError(message, source=source, line=_line_of(text, parts)) from None
    _check_schema(document, text, source)
    template, file_model, file_parameters = _template_from(document["template"], folder, source)
    name = document.get("name") or (Path(source).stem if source != "<job>" else template.name)
    try:
        variables = _source_from(document["variables"], folder)
    except SourceError:
        raise
    except PromptError as exc:
        raise SourceError(str(exc), source=source) from None
    output = _output_pattern(document["output"], variables, text, source)
    try:
        return BatchJob(
            name=name,
            template=template,
            source=variables,
            output=output,
            model=document.get("model") or file_model or DEFAULT_MODEL,
            parameters={
                **{k: v for k, v in file_parameters.items() if k in _PARAMETERS},
                **document.get("parameters", {}),
            },
            seeds=document.get("seeds", file_parameters.get("seed")),
            images=tuple(str(folder / image) for image in document.get("images", ())),
            concurrency=document.get("concurrency", DEFAULT_CONCURRENCY),
            rate_limit=document.get("rate_limit", DEFAULT_RATE_LIMIT),
            retries=document.get("retries", DEFAULT_RETRIES),
            path=Path(source) if source != "<job>" else None,
        )
    except SourceError:
        raise
    except PromptError as exc:
        raise SourceError(str(exc), source=source) from None


def _output_pattern(
    pattern: str, variables: VariableSource, text: str, source: str
) -> OutputPattern:
    """The checked output pattern; its errors, now or while planning, name the job file and
    the line of ``output``."""
    line = _line_of(text, ["output"])
    try:
        checked = OutputPattern(pattern)
        if variables.names is not None:
            checked.check_fields(variables.names)
    except PromptError as exc:
        raise SourceError(str(exc), source=source, line=line) from None
    if source == "<job>":
        return checked
    return OutputPattern(pattern, origin=f"{source}:{line}" if line else source)


def load_job(path: str | os.PathLike[str]) -> BatchJob:
    """Read a job file (TOML); errors name the file and the line.

    Example:
        >>> load_job("missing.toml")
        Traceback (most recent call last):
        ...
        flux2prompt.SourceError: missing.toml: no such job file
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise SourceError("no such job file", source=str(path)) from None
    except UnicodeDecodeError as exc:
        raise SourceError(f"not UTF-8 text (byte {exc.start})", source=str(path)) from None
    except OSError as exc:
        raise SourceError(f"cannot read: {exc.strerror}", source=str(path)) from None
    return parse_job(text, source=str(path), base=path.parent)
