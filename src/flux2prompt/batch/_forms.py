"""The form a batch sends its prompts in, and why: asked, recorded, or the model's own.

A job's ``prompt_format`` is ``auto`` unless the job file or ``--prompt-format`` says ``json``
or ``prose``. ``auto`` is the model's own form (prose on FLUX.2 [klein], JSON elsewhere), with
one exception that keeps an upgrade from paying twice: a batch folder whose manifest already
holds records keeps the form its last record was sent in (a record written before forms
existed was sent as JSON). A ``superseded`` record says nothing of a form (it records no
request): a run killed after superseding, before any answer, leaves the form as it was.
The form is part of each request fingerprint, so resuming in another form would send every
finished item again.

Example:
    >>> import pathlib, tempfile
    >>> from flux2prompt import scene
    >>> from flux2prompt.batch import BatchJob, template, zipped
    >>> job = BatchJob(name="x", template=template(lambda city: scene(city)),
    ...                source=zipped(city=["Oslo"]), output="{city}.{ext}", model="klein-4b")
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> job_form(job, folder / "manifest.jsonl")[1]
    'prose (auto for klein-4b)'
    >>> _ = (folder / "manifest.jsonl").write_text('{"request_fingerprint": "sha256:1"}\\n')
    >>> kept, note = job_form(job, folder / "manifest.jsonl")
    >>> kept.prompt_format, note
    ('json', 'json (recorded in the manifest; --prompt-format prose changes it)')
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from flux2prompt._errors import Flux2PromptError
from flux2prompt.batch._job import BatchJob
from flux2prompt.batch._manifest import SUPERSEDED, iter_manifest
from flux2prompt.transport import (
    BFLModelSpec,
    ModelSpec,
    resolve_bfl_model,
    resolve_model,
)
from flux2prompt.transport._bfl_request import BFL_DEFAULT_MODEL

__all__ = ["job_form", "recorded_form"]


def recorded_form(manifest: Path) -> str | None:
    """The form the last record of a request in ``manifest`` was sent in (``json`` for a
    record without one), or ``None`` when there is no manifest or no such record.
    ``superseded`` records are passed over: they set an image aside and send nothing."""
    if not manifest.exists():
        return None
    form: str | None = None
    for record in iter_manifest(manifest):
        if record.get("status") == SUPERSEDED:
            continue
        value = record.get("prompt_format", "json")
        form = value if isinstance(value, str) else "json"
    return form


def job_form(job: BatchJob, manifest: Path) -> tuple[BatchJob, str]:
    """``job`` with the form it will send in, and a note saying which and why (for a dry run).

    An unreadable manifest or an unknown model leaves the job as it is (the run reports those).
    """
    try:
        spec: ModelSpec | BFLModelSpec = (
            resolve_bfl_model(job.model or BFL_DEFAULT_MODEL)
            if job.provider == "bfl"
            else resolve_model(job.model)
        )
    except Flux2PromptError:
        return job, job.prompt_format
    if job.prompt_format != "auto":
        return job, f"{job.prompt_format} (asked)"
    try:
        recorded = recorded_form(manifest)
    except Flux2PromptError:
        recorded = None
    if recorded in ("json", "prose"):
        other = "prose" if recorded == "json" else "json"
        return (
            dataclasses.replace(job, prompt_format=recorded),
            f"{recorded} (recorded in the manifest; --prompt-format {other} changes it)",
        )
    short = spec.short_names[-1] if spec.short_names else spec.id
    return job, f"{spec.prompt_form} (auto for {short})"
