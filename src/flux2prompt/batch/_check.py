"""Checking a job file as a run would, without sending anything: what ``validate`` reports.

A run refuses a job before any request when the model refuses one of its settings (steps on a
FLUX.2 [klein] model, a size or a guidance outside the model's range, a seed it does not take)
or when the output pattern does not fit the variables. :func:`job_setting_error` says so in
the words of the job file: its path, the line that sets the key, and the key as a JSON path
(``job.toml:9: $.parameters.steps: ...``), as a schema error does. :func:`check_job_file` plans
the whole batch, as a dry run does, and gives the first such error.

Example:
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "mug.prompt.toml").write_text(
    ...     'name = "mug"\\n[prompt]\\nscene = "a ${color} mug"\\n', encoding="utf-8")
    >>> _ = (folder / "job.toml").write_text(
    ...     'template = "mug.prompt.toml"\\nmodel = "klein-4b"\\noutput = "{color}.{ext}"\\n'
    ...     '[parameters]\\nsteps = 8\\n[variables.matrix]\\ncolor = ["teal"]\\n',
    ...     encoding="utf-8")
    >>> print(str(check_job_file(folder / "job.toml")).replace(str(folder), "jobs"))
    jobs/job.toml:5: $.parameters.steps: flux-2-klein-4b does not take steps (fixed at 4): leave steps unset
"""  # noqa: E501

from __future__ import annotations

import os
import re
import tomllib
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flux2prompt._errors import ParameterError, PromptError, SourceError
from flux2prompt._files._job_file import job_line

if TYPE_CHECKING:
    from flux2prompt.batch._job import BatchJob

__all__ = ["check_job_file", "job_setting_error"]


def job_setting_error(job: str | os.PathLike[str], exc: ParameterError) -> SourceError | None:
    """``exc`` (a setting the model refuses) as an error naming the line of the job file
    ``job`` that sets it, or ``None`` when the job file does not set it (it came from a prompt
    file, or an option).

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "job.toml"
        >>> _ = path.write_text("[parameters]\\nwidth = 4000\\n", encoding="utf-8")
        >>> error = job_setting_error(path, ParameterError("too wide", parameter="width"))
        >>> error.line, str(error).endswith("job.toml:2: $.parameters.width: too wide")
        (2, True)
    """
    name = exc.parameter
    if not name:
        return None
    image = _IMAGE.match(name)
    key: list[str | int] = (
        ["images", int(image[1])]
        if image
        else ["seeds"]
        if name == "seed"
        else [name]
        if name in ("model", "provider")
        else ["parameters", name]
    )
    path = Path(job)
    try:
        text = path.read_text(encoding="utf-8")
        table: object = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        return None
    for part in key:
        if isinstance(part, int):
            table = table[part] if isinstance(table, list) and part < len(table) else None
        else:
            table = table.get(part) if isinstance(table, dict) else None
    line = job_line(text, key[:1] if image else key) if table is not None else None
    if line is None:
        return None
    if image:
        # "images[0] (12 bytes) is not an image": the entry as the job file writes it.
        said = _LABEL.sub("", str(exc), count=1).lstrip(": ")
        return SourceError(f"$.{name} ({table!r}): {said}", source=str(path), line=line)
    said = str(exc)
    if name == "model":  # a job file names its model by the catalogue's names, with no flags
        said = said.split(_NEWER_MODEL, 1)[0]
    return SourceError(f"$.{'.'.join(map(str, key))}: {said}", source=str(path), line=line)


# Where an unknown model's message turns to the library's keyword arguments.
_NEWER_MODEL = ". For a model newer than flux2prompt"


_IMAGE = re.compile(r"^images\[(\d+)\]$")
_LABEL = re.compile(r"^images\[\d+\]( \([^)]*\))?")


def check_job_file(job: str | os.PathLike[str]) -> SourceError | PromptError | None:
    """The first error a run of the job file ``job`` would stop on before sending anything: a
    setting the model refuses, an output pattern that does not fit the variables, a job-level
    value the runner refuses (a :class:`~flux2prompt.SourceError`), or a row whose request
    cannot be made (a :class:`~flux2prompt.PromptError` naming it: a reference image its
    template attaches that is missing). ``None`` when a run would start.

    Reading the job file is not repeated here: a file that cannot be read raises its
    :class:`~flux2prompt.SourceError`.
    """
    from flux2prompt.batch._job import load_job
    from flux2prompt.batch._plan import plan_rows

    loaded = load_job(job)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # advice is lint's; only refusals count here
            _check_settings(loaded)
            for _ in plan_rows(loaded):
                pass
    except ParameterError as exc:
        return job_setting_error(job, exc) or SourceError(str(exc), source=str(job))
    except (SourceError, PromptError) as exc:
        return exc
    return None


def _check_settings(job: BatchJob) -> None:
    """Plan one request of a neutral prompt with the job's model, parameters and each of its
    fixed seeds: the settings are checked even when no row renders (each row's own error is
    reported with it)."""
    from flux2prompt.transport import build_bfl_request, resolve_bfl_model
    from flux2prompt.transport._request import RequestTemplate

    policy = job.seed_policy
    # A derived seed is some 31-bit number: 0 stands for it (a model without seeds refuses it).
    seeds: tuple[int | None, ...] = (
        policy.values if policy.kind in ("fixed", "each") else (0,) if policy.kind == "derived"
        else (None,)
    )  # fmt: skip
    options: dict[str, Any] = dict(job.parameters)
    if job.provider == "bfl":
        spec = resolve_bfl_model(job.model)
        for seed in seeds:
            build_bfl_request(
                "a check", model=spec, seed=seed if "seed" in spec.fields else None, **options
            )
        return
    requests = RequestTemplate(model=job.model, prompt_format=job.prompt_format, **options)
    for seed in seeds:
        requests.plan("a check", seed=seed)
