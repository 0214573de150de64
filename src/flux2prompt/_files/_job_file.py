"""Job files read from disk: the template, the variables and the request settings of a batch.

A job file is a TOML file with a top-level ``template`` key (that is the rule by which the
prompt inventory recognises one, whatever the file is called; a prompt file has a ``[prompt]``
table instead). :func:`read_job_file` checks it against ``schemas/batch-job.schema.json`` and
resolves what it names (the template, a prompt file or ``file.py:NAME``, and the dataset) into a
:class:`JobFile`. The batch runner builds its ``BatchJob`` from one; the prompt inventory expands
one into requests without the runner. Relative paths are relative to the file; errors name the
file and, when it can be found, the line.

Example:
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "mug.prompt.toml").write_text(
    ...     'name = "mug"\\n[prompt]\\nscene = "a ${color} mug"\\n', encoding="utf-8")
    >>> _ = (folder / "job.toml").write_text(
    ...     'template = "mug.prompt.toml"\\noutput = "{color}.{ext}"\\nseeds = 3\\n'
    ...     '[variables.matrix]\\ncolor = ["teal", "rust"]\\n', encoding="utf-8")
    >>> job = read_job_file(folder / "job.toml")
    >>> job.name, job.template.variables, job.source.count(), job.seeds
    ('job', ('color',), 2, 3)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from flux2prompt._builder import PromptBuilder
from flux2prompt._document import MAX_DOCUMENT_BYTES, check_size
from flux2prompt._errors import PromptError, SourceError
from flux2prompt._files._dataset import Dataset
from flux2prompt._files._parse import (
    cannot_read,
    decode_utf8,
    is_job_document,
    not_found,
    parse_toml,
)
from flux2prompt._files._pysource import import_python_file, lookup
from flux2prompt._files._references import ReferenceImages, escape_braces
from flux2prompt._model import Prompt
from flux2prompt._schema import issues_from_errors, packaged_validator
from flux2prompt._templates import Drawn, Matrix, Sample, Template, VariableSource, Zipped

__all__ = [
    "JOB_PARAMETERS",
    "JobFile",
    "is_job_document",
    "job_line",
    "parse_job_file",
    "read_job_file",
]

#: The request parameters a job sets under ``[parameters]`` (seeds are set with ``seeds``).
JOB_PARAMETERS = ("width", "height", "steps", "guidance")
_SCHEMA = "batch-job.schema.json"


@dataclass(frozen=True)
class JobFile:
    """A job file, read and resolved: what to expand, and the request settings.

    ``model`` is ``None`` when neither the job nor its prompt-file template names one (the
    transport's default applies); ``parameters`` merge the template file's with the job's (the
    job wins); ``seeds`` is the job's ``seeds``, else the template file's ``seed``; ``images``
    are the reference images as patterns resolved against the job's folder (``"refs/{sku}.png"``
    names an item's variable; :attr:`references` reads them per item); ``document`` is the
    parsed file and ``text`` its text;
    ``prompt_format`` the form prompts are sent in (``auto``, ``json`` or ``prose``).

    Example:
        >>> from flux2prompt import scene
        >>> from flux2prompt._templates import matrix, template
        >>> job = JobFile(Path("job.toml"), "job", template(lambda c: scene(c)),
        ...               "t.py:x", matrix(c=["a"]), "{c}.{ext}")
        >>> job.model is None, job.seeds
        (True, None)
    """

    path: Path
    name: str
    template: Template
    template_spec: str
    source: VariableSource
    output: str
    model: str | None = None
    parameters: Mapping[str, int | float] = field(default_factory=lambda: MappingProxyType({}))
    seeds: int | Sequence[int] | Mapping[str, int] | None = None
    images: tuple[str, ...] = ()
    document: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    text: str = ""
    prompt_format: str = "auto"

    @property
    def references(self) -> ReferenceImages:
        """The reference images, read per item (:class:`ReferenceImages`)."""
        return ReferenceImages(self.images)


def _job_special(error: Any) -> str | None:
    """The job schema's own rules, in words (the rest are :func:`issues_from_errors`')."""
    path = list(error.absolute_path)
    keyword = error.validator
    if path == ["variables"] and keyword in ("minProperties", "maxProperties", "anyOf"):
        return (
            "give exactly one source of variables: matrix, zip, dataset or sample (and, "
            "beside it, random axes in [variables.random] if you like)"
        )
    if keyword == "oneOf" and path == ["seeds"]:
        return "seeds must be an integer, a list of integers, or { derive = BASE }"
    if keyword == "oneOf" and path[-1:] == ["sample"]:
        return "a sample draws from either 'axes' or 'dataset' (one of them)"
    if keyword == "oneOf" and path[-1:] == ["dataset"]:
        return (
            'a dataset is a file name (dataset = "rows.csv") or a table with its path and '
            'format (dataset = { path = "rows.txt", format = "csv" }); the formats are csv '
            "and jsonl"
        )
    return None


_PATH_IN_MESSAGE = re.compile(r": (\$\S*): ")
_PATH_PART = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\['([^']*)'\]")
_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\.\"' ]+?)\s*=")


def _toml_key(raw: str) -> list[str]:
    return [part.strip().strip("\"'") for part in raw.split(".")]


def job_line(text: str, path: Sequence[str | int]) -> int | None:
    """The line of a job file's ``text`` that defines the longest prefix of ``path`` (best
    effort: TOML parsers keep no positions).

    >>> job_line('template = "t.py:x"\\n[variables.matrix]\\ncolor = ["a"]\\n',
    ...          ["variables", "matrix", "color"])
    3
    """
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
    problems = tuple(
        SourceError(
            str(issue),
            source=source,
            line=job_line(text, [a or b for a, b in _PATH_PART.findall(issue.path)]),
        )
        for issue in issues
    )
    first = problems[0]
    more = f" (and {len(issues) - 1} more problem{'s' if len(issues) > 2 else ''})"
    suffix = more if len(issues) > 1 else ""
    raise SourceError(f"{issues[0]}{suffix}", source=source, line=first.line, problems=problems)


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
            raise SourceError(
                f"template {spec!r}: NAME in file.py:NAME must be a Python name", source=source
            )
        return _python_template(base / file_part, name), None, {}
    path = base / spec
    if path.suffix == ".py":
        raise SourceError(
            f"template {spec!r}: name the template in the file, as {spec}:NAME", source=source
        )
    from flux2prompt._files._prompt_file import load_prompt_file

    prompt_file = load_prompt_file(path)
    # The file's seed is a parameter there and a seed policy here (used when the job has none).
    return Template.from_prompt_file(prompt_file), prompt_file.model, dict(prompt_file.parameters)


def _dataset(value: str | Mapping[str, Any], base: Path) -> Dataset:
    if isinstance(value, str):
        try:
            return Dataset(base / value)
        except SourceError as exc:  # a type the suffix does not tell: say it in TOML's words
            raise SourceError(
                f"dataset {value!r}: the suffix does not say whether it is CSV or JSON Lines; "
                "name a .csv, .jsonl or .ndjson file, or give the format: "
                f'dataset = {{ path = {_toml_string(value)}, format = "csv" }} (or "jsonl")'
            ) from exc
    return Dataset(base / value["path"], format=value.get("format"))


def _toml_string(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)  # a TOML basic string is written as JSON's


def _source_from(variables: Mapping[str, Any], base: Path) -> VariableSource:
    kind, value = next((k, v) for k, v in variables.items() if k != "random")
    source: VariableSource
    if kind == "matrix":
        source = Matrix(value)
    elif kind == "zip":
        source = Zipped(value)
    elif kind == "dataset":
        source = _dataset(value, base)
    else:
        population = Matrix(value["axes"]) if "axes" in value else _dataset(value["dataset"], base)
        source = Sample(population, value["n"], value["seed"])
    drawn = variables.get("random")
    if drawn is None:
        return source
    # [variables.random]: axes drawn per item; an integer `seed` is the seed (default 0).
    axes = {name: choices for name, choices in drawn.items() if name != "seed"}
    return Drawn(source, drawn.get("seed", 0), axes)


def parse_job_file(text: str, *, source: str = "<job>", base: Path | None = None) -> JobFile:
    """Read a job from TOML ``text``; relative paths are resolved against ``base``.

    Example:
        >>> parse_job_file('template = "t.py:x"\\noutput = "{i}"\\n[variables.zip]\\ni = [1]\\n')
        Traceback (most recent call last):
        ...
        flux2prompt.SourceError: t.py: no such template file
    """
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
        raise SourceError(message, source=source, line=job_line(text, parts)) from None
    _check_schema(document, text, source)
    spec = document["template"]
    try:
        template, file_model, file_parameters = _template_from(spec, folder, source)
    except SourceError as exc:
        if exc.source != source or exc.line is not None:
            raise  # the template file's own error names that file
        message = str(exc).removeprefix(f"{source}: ")
        raise SourceError(message, source=source, line=job_line(text, ["template"])) from None
    name = document.get("name") or (Path(source).stem if source != "<job>" else template.name)
    try:
        variables = _source_from(document["variables"], folder)
    except SourceError as exc:
        if exc.source is not None:
            raise
        # A problem of the job's own words (a dataset without a type): at its line.
        line = job_line(text, ["variables", *document["variables"]][:2])
        raise SourceError(str(exc), source=source, line=line) from None
    except PromptError as exc:
        raise SourceError(str(exc), source=source) from None
    parameters = {
        **{k: v for k, v in file_parameters.items() if k in JOB_PARAMETERS},
        **document.get("parameters", {}),
    }
    return JobFile(
        path=Path(source),
        name=name,
        template=template,
        template_spec=spec,
        source=variables,
        output=document["output"],
        model=document.get("model") or file_model,
        parameters=MappingProxyType(parameters),
        seeds=document.get("seeds", file_parameters.get("seed")),
        images=_images(document.get("images", ()), folder, variables, text, source),
        document=MappingProxyType(document),
        text=text,
        prompt_format=document.get("prompt_format", "auto"),
    )


def _images(
    images: Sequence[str], folder: Path, variables: VariableSource, text: str, source: str
) -> tuple[str, ...]:
    """The ``images`` entries joined to the job's folder (a pattern's fields stay fields), their
    fields checked against the variables when those are known (errors at the ``images`` line)."""
    prefix = "" if folder == Path() else escape_braces(str(folder)) + "/"
    joined = tuple(image if _is_absolute(image) else prefix + image for image in images)
    try:
        references = ReferenceImages(images)
        if variables.names is not None:
            references.check_fields(variables.names)
    except PromptError as exc:
        raise SourceError(str(exc), source=source, line=job_line(text, ["images"])) from None
    return joined


def _is_absolute(image: str) -> bool:
    """Whether an ``images`` entry is a URL or an absolute path (not joined to the folder)."""
    return image.startswith(("https://", "http://", "data:")) or Path(image).is_absolute()


def read_job_file(path: str | Path) -> JobFile:
    """Read the job file at ``path`` (TOML); errors name the file and the line.

    Example:
        >>> read_job_file("missing.toml")
        Traceback (most recent call last):
        ...
        flux2prompt.SourceError: missing.toml: no such job file
    """
    path = Path(path)
    return parse_job_file(read_job_text(path), source=str(path), base=path.parent)


def read_job_text(path: Path) -> str:
    """The text of the job file at ``path``: a :class:`~flux2prompt.SourceError` naming it when
    it is missing, unreadable or not UTF-8 (read by the inventory and the batch runner alike)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_DOCUMENT_BYTES + 1)
        check_size(len(data), str(path))  # read no further: a huge file costs nothing
    except FileNotFoundError:
        raise SourceError(not_found(path, "job file"), source=str(path)) from None
    except OSError as exc:
        raise SourceError(cannot_read(exc), source=str(path)) from None
    return decode_utf8(data, str(path))
