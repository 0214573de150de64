"""Every variant a SOURCE stands for, each validated under a profile: what ``validate`` and
``lint`` check.

A prompt is one variant. A template (``file.py:NAME`` naming a ``@template``, or a prompt file
with ``${...}`` placeholders) is one variant rendered with the given ``variables``
(``--var key=value``). A job file is every row of its variables (seeds do not change a
prompt, so each row is checked once), its per-item reference images included (the file a row
names must be there). A row that fails does not stop the others: each variant
comes with its prompt or its error, and a label that names it (``jobs/a.toml
[products.csv:14]``, ``jobs/a.toml [matrix item 2: color=teal]``).

Example:
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "t.py").write_text(
    ...     "from flux2prompt import scene, template\\n"
    ...     "mug = template(lambda color: scene(f'a {color} mug'))\\n")
    >>> [(v.prompt.scene, v.error) for v in source_variants(f"{folder}/t.py:mug",
    ...                                                      variables={"color": "teal"})]
    [('a teal mug', None)]
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flux2prompt._errors import Flux2PromptError, PromptError, SourceError
from flux2prompt._files._parse import is_job_file
from flux2prompt._files._prompt_file import PromptFile, read_prompt
from flux2prompt._files._pysource import attribute, import_python_file
from flux2prompt._files._source import (
    EMPTY_SOURCE,
    STDIN,
    resolve_source,
    split_source,
    template_needs,
)
from flux2prompt._model import Prompt
from flux2prompt._placeholders import misspelling_hint
from flux2prompt._schema import Profile
from flux2prompt._user_code import describe_exception

if TYPE_CHECKING:
    from flux2prompt._templates import Template

__all__ = ["SourceVariant", "is_expandable", "source_variants"]


@dataclass(frozen=True, slots=True)
class SourceVariant:
    """One variant of a SOURCE: how messages name it, and its validated ``prompt`` or the
    ``error`` that kept it from being one.

    >>> SourceVariant("hero.json", None, PromptError("bad")).ok
    False
    """

    label: str
    prompt: Prompt | None
    error: Flux2PromptError | None = None
    variant: bool = False

    @property
    def ok(self) -> bool:
        """Whether the variant is a valid prompt."""
        return self.error is None


def _python_template(source: str) -> Template | None:
    path, name = split_source(source)
    if not name or path.suffix != ".py":
        return None
    from flux2prompt._templates import Template

    value = attribute(import_python_file(path), name, path, None)
    return value if isinstance(value, Template) else None


def is_expandable(source: str) -> bool:
    """Whether ``source`` is a template or a job file (so ``--var`` or rows apply to it).

    >>> is_expandable("-")
    False
    """
    if source == STDIN:
        return False
    path, name = split_source(source)
    if name is None:
        if is_job_file(path):
            return True
        if path.suffix.lower() == ".toml" or path.name.endswith(".prompt.json"):
            try:
                loaded = read_prompt(path, plain=False)
            except Flux2PromptError:
                return False
            return isinstance(loaded, PromptFile) and loaded.is_template
        return False
    try:
        return _python_template(source) is not None
    except Flux2PromptError:
        return False


def _row_label(source: str, origin: str, variables: Mapping[str, Any]) -> str:
    line = origin.rpartition(":")[2]
    if line.isdigit():  # a dataset line names the row already
        return f"{source} [{origin}]"
    shown = ", ".join(f"{k}={v}" for k, v in variables.items())
    return f"{source} [{origin}: {shown}]" if shown else f"{source} [{origin}]"


def _rendered(template: Template, variables: Mapping[str, Any], profile: Profile) -> Prompt:
    from flux2prompt._document import prompt_from_value

    return prompt_from_value(template.render_mapping(variables, ignore_extra=True), profile=profile)


def source_variants(
    source: str,
    *,
    profile: Profile = "flux2",
    variables: Mapping[str, Any] | None = None,
) -> Iterator[SourceVariant]:
    """Every variant of ``source`` with its prompt (validated under ``profile``) or its error.

    A source that cannot be read at all (a missing file, a job whose dataset is missing) raises
    :class:`~flux2prompt.SourceError` before any variant; a template without the variables it
    needs yields one variant whose error says which to give.
    """
    if not source.strip():  # an unset shell variable; as a path it would read as "."
        raise SourceError(EMPTY_SOURCE)
    path, name = split_source(source)
    if source != STDIN and name is None and is_job_file(path):
        from flux2prompt._files._job_file import read_job_file

        job = read_job_file(path)
        references = job.references
        for row in job.source.rows():
            label = _row_label(source, row.origin, row.variables)
            try:
                prompt = _rendered(job.template, row.variables, profile)
                # A row's own reference image (images = ["refs/{sku}.png"]) must be there too.
                references.check_files(row.variables)
                yield SourceVariant(label, prompt, None, True)
            except PromptError as exc:
                yield SourceVariant(label, None, exc, True)
            except Exception as exc:  # the template's own code raised
                detail = describe_exception(exc)
                error = PromptError(f"template {job.template.name!r} raised {detail}")
                yield SourceVariant(label, None, error, True)
        return
    template = _python_template(source) if source != STDIN else None
    if template is not None:
        values = dict(variables or {})
        missing = [v for v in template.required if v not in values]
        if missing:
            hint = " ".join(f"--var {v}=..." for v in missing)
            offered = [key for key in values if key not in template.variables]
            needs = SourceError(
                f"{name!r} is a template; give its variables ({hint}), or validate a job that "
                f"expands it{misspelling_hint(missing, offered)}",
                source=source,
            )
            yield SourceVariant(source, None, needs)
            return
        try:
            yield SourceVariant(source, _rendered(template, values, profile))
        except PromptError as exc:
            yield SourceVariant(source, None, exc)
        return
    try:
        if name is None and source != STDIN and path.suffix != ".py":
            loaded = read_prompt(path, profile=profile)
            if isinstance(loaded, PromptFile) and loaded.is_template:
                unfilled = loaded.placeholders.difference(variables or {})
                if unfilled:  # as for a file.py:NAME template: a usage error, in --var words
                    needs = template_needs(
                        loaded, source, where="validate", names=unfilled, given=variables or {}
                    )
                    yield SourceVariant(source, None, needs)
                    return
                prompt = loaded.render(variables)
            else:
                prompt = loaded.prompt if isinstance(loaded, PromptFile) else loaded
        else:
            prompt = resolve_source(source, profile=profile)
    except PromptError as exc:
        yield SourceVariant(source, None, exc)
        return
    yield SourceVariant(source, prompt)
