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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from flux2prompt._errors import PromptError, SourceError
from flux2prompt._files._job_file import JOB_PARAMETERS, job_line, parse_job_file, read_job_text
from flux2prompt._files._references import ReferenceImages
from flux2prompt._schema import packaged_schema
from flux2prompt._templates import Seeds, Template, VariableSource
from flux2prompt.batch._naming import OutputPattern
from flux2prompt.transport import DEFAULT_MODEL
from flux2prompt.transport._catalogue import PROMPT_FORMATS

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
#: The most requests in flight a batch takes (the job schema's maximum): every one holds a
#: connection of the run's pool, which is sized for them.
MAX_CONCURRENCY = 256
#: Workers AI's text-to-image limit, requests per minute.
DEFAULT_RATE_LIMIT = 720
DEFAULT_RETRIES = 5
_PARAMETERS = JOB_PARAMETERS
_SCHEMA = "batch-job.schema.json"


@dataclass(frozen=True)
class BatchJob:
    """A batch: a template, a source of variables, and how to generate and name each image.

    Build one in Python, or read a job file with :func:`load_job`. ``parameters`` takes
    ``width``, ``height``, ``steps`` and ``guidance``; ``images`` are reference images sent with
    every item: bytes, paths, or text paths that may name the item's variables
    (``"refs/{sku}.png"``: each item gets its own; ``{{`` is a literal brace); ``rate_limit`` is
    in requests per minute (per account: shards share it); ``prompt_format`` is the form each
    prompt is sent in: ``"auto"`` (the model's own, prose on FLUX.2 [klein]; a batch folder that
    already has a manifest keeps the form it recorded), ``"json"`` or ``"prose"``.

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
    #: Who hosts ``model``: ``"workers-ai"`` (Cloudflare) or ``"bfl"`` (Black Forest Labs).
    provider: str = "workers-ai"
    prompt_format: str = "auto"
    _references: ReferenceImages = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        _check_name(self.name)
        if self.provider not in ("workers-ai", "bfl"):
            raise PromptError(
                f"job {self.name!r}: provider must be 'workers-ai' or 'bfl', got {self.provider!r}"
            )
        if self.provider == "bfl" and self.concurrency > 24:
            raise PromptError(
                f"job {self.name!r}: concurrency {self.concurrency} is above Black Forest Labs' "
                "24 active tasks (each item in flight is one task): use at most 24"
            )
        if not isinstance(self.output, OutputPattern):
            set_(self, "output", OutputPattern(self.output))
        self.pattern.check_extension()
        set_(self, "seeds", Seeds.coerce(self.seeds))
        unknown = [key for key in self.parameters if key not in _PARAMETERS]
        if unknown:
            raise PromptError(
                f"job {self.name!r}: unknown parameter {unknown[0]!r}; use "
                f"{', '.join(_PARAMETERS)} (seeds are set with seeds=)"
            )
        set_(self, "parameters", MappingProxyType(dict(self.parameters)))
        set_(self, "images", tuple(self.images))
        try:
            references = ReferenceImages(self.images)
        except PromptError as exc:
            raise PromptError(f"job {self.name!r}: {exc}") from None
        set_(self, "_references", references)
        if self.prompt_format not in PROMPT_FORMATS:
            raise PromptError(
                f"job {self.name!r}: prompt_format must be one of {', '.join(PROMPT_FORMATS)}, "
                f"got {self.prompt_format!r}"
            )
        for label, value, low in (
            ("concurrency", self.concurrency, 1),
            ("rate_limit", self.rate_limit, 1),
            ("retries", self.retries, 0),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise PromptError(f"job {self.name!r}: {label} must be an integer >= {low}")
        if self.concurrency > MAX_CONCURRENCY:
            raise PromptError(
                f"job {self.name!r}: concurrency must be at most {MAX_CONCURRENCY}, got "
                f"{self.concurrency}"
            )
        known = self.source.names
        if known is not None:
            self.pattern.check_fields(known)
            references.check_fields(known)
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
    def references(self) -> ReferenceImages:
        """The reference images, resolved per item (a ``ReferenceImages``)."""
        return self._references

    @property
    def seed_policy(self) -> Seeds:
        """The seeds, as a :class:`~flux2prompt.batch.Seeds`."""
        assert isinstance(self.seeds, Seeds)
        return self.seeds


#: The longest job name: it is in every manifest record, the gallery's title and each image's
#: provenance record.
MAX_NAME_LENGTH = 200


def _check_name(name: object) -> None:
    """Refuse a job name no manifest record can hold (it is in every one): not text, a lone
    surrogate, a control character, more than :data:`MAX_NAME_LENGTH` characters."""
    if not isinstance(name, str):
        raise PromptError(f"job name: must be text, got {type(name).__name__}")
    shown = repr(name[:40]) + ("..." if len(name) > 40 else "")
    if len(name) > MAX_NAME_LENGTH:
        raise PromptError(
            f"job name {shown}: {len(name):,} characters, more than the {MAX_NAME_LENGTH} a "
            "name may have (it is in every manifest record); shorten it"
        )
    if not name.isascii():
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            raise PromptError(
                f"job name {shown}: a lone surrogate (half of a character, such as a cut-off "
                "emoji) cannot be written to a manifest; write the whole character"
            ) from None
    if any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in name):
        raise PromptError(
            f"job name {shown}: control characters (a newline, a tab) are not allowed; "
            "write it on one line"
        )


# -- the schema ----------------------------------------------------------------------------------


def job_schema() -> dict[str, Any]:
    """A copy of the JSON Schema (Draft 2020-12) of batch job files.

    Example:
        >>> job_schema()["title"]
        'flux2prompt batch job'
    """
    return copy.deepcopy(packaged_schema(_SCHEMA))


def parse_job(text: str, *, source: str = "<job>", base: Path | None = None) -> BatchJob:
    """Read a job from TOML text; relative paths are resolved against ``base``.

    The file is read by :func:`flux2prompt._files.parse_job_file` (the reader the prompt
    inventory uses too); this adds what only the runner needs: the checked output pattern and
    the transport's default model.

    Example:
        >>> job = parse_job('template = "t.py:x"\\noutput = "{i}"\\n[variables.zip]\\ni = [1]\\n')
        Traceback (most recent call last):
        ...
        flux2prompt.SourceError: t.py: no such template file
    """
    read = parse_job_file(text, source=source, base=base)
    output = _output_pattern(read.output, read.source, text, source)
    document = read.document
    try:
        return BatchJob(
            name=read.name,
            template=read.template,
            source=read.source,
            output=output,
            model=read.model or DEFAULT_MODEL,
            parameters=read.parameters,
            seeds=read.seeds,
            images=tuple(str(image) for image in read.images),
            concurrency=document.get("concurrency", DEFAULT_CONCURRENCY),
            rate_limit=document.get("rate_limit", DEFAULT_RATE_LIMIT),
            retries=document.get("retries", DEFAULT_RETRIES),
            path=Path(source) if source != "<job>" else None,
            provider=document.get("provider", "workers-ai"),
            prompt_format=read.prompt_format,
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
    line = job_line(text, ["output"])
    try:
        checked = OutputPattern(pattern)
        checked.check_extension()
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
    return parse_job(read_job_text(path), source=str(path), base=path.parent)
