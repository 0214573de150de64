"""An image's provenance against the lockfile: which prompt made it, and is it still current.

The record inside an image (:class:`~flux2prompt.transport.Provenance`) holds the request and
prompt fingerprints; the lockfile holds those of every prompt and job item of the project. An
image is *current* when the lockfile has an entry sending exactly its request. Otherwise the
record's prompt fingerprint, job name or SOURCE finds the entry it came from, which has
*changed* since; failing that the image is *not locked*.

Example:
    >>> from flux2prompt._versioning._lock import Lock, LockEntry
    >>> from flux2prompt.transport import Provenance
    >>> lock = Lock({"hero": LockEntry("hero.prompt.toml", "sha256:p2", "sha256:r2")})
    >>> image = Provenance("{}", "sha256:p1", "sha256:r1", "@cf/m", source="hero.prompt.toml")
    >>> match = match_lock(image, lock)
    >>> match.status, match.name
    ('changed', 'hero')
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

from flux2prompt._versioning._lock import Lock
from flux2prompt.transport import Provenance

__all__ = ["LockMatch", "match_lock"]

_SHA256 = re.compile(r"sha256:[0-9a-f]{64}")

Status = Literal["current", "changed", "not_locked"]


@dataclass(frozen=True, slots=True)
class LockMatch:
    """How an image's record stands against a lockfile.

    ``status`` is ``"current"`` (an entry sends exactly this request), ``"changed"`` (the entry
    that made it sends another request now) or ``"not_locked"``. ``name`` is the entry: a
    prompt's key (``hero``, ``prompts/hero.py:hero``) or ``JOB item N``; ``origin`` an item's
    dataset line and seed; ``copies`` how many more entries send the same request;
    ``detail`` one line saying what was found; ``locked_prompt_fingerprint`` and
    ``locked_request_fingerprint`` what the lockfile holds for ``name`` now.

    Example:
        >>> LockMatch("not_locked", None, "no entry").ok
        False
    """

    status: Status
    name: str | None
    detail: str
    origin: str | None = None
    copies: int = 0
    locked_prompt_fingerprint: str | None = None
    locked_request_fingerprint: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the image is what the lockfile's prompt makes today."""
        return self.status == "current"

    def to_dict(self) -> dict[str, object]:
        """The match as JSON data (``inspect --json``).

        Example:
            >>> LockMatch("current", "hero", "sends this request").to_dict()["status"]
            'current'
        """
        return {
            "status": self.status,
            "name": self.name,
            "origin": self.origin,
            "copies": self.copies,
            "detail": self.detail,
            "locked_prompt_fingerprint": self.locked_prompt_fingerprint,
            "locked_request_fingerprint": self.locked_request_fingerprint,
        }


def _same_source(recorded: str, key: str, source: str | None, path: str) -> bool:
    """Whether the SOURCE an image records names the lock entry ``key`` (at ``path``)."""
    if recorded in (key, source, path):
        return True
    file = recorded
    if ".py:" in recorded:
        file, _, name = recorded.rpartition(":")
        if not key.endswith(f":{name}"):
            return False
    # generate records SOURCE as typed, from wherever it ran; the lock names paths from its own
    # folder. The trailing parts of the two paths decide (prompts/hero.json, ../x/hero.json).
    mine = [part for part in PurePosixPath(file.replace("\\", "/")).parts if part not in ("/", ".")]
    theirs = PurePosixPath(path).parts
    n = min(len(mine), len(theirs))
    return n > 0 and tuple(mine[-n:]) == tuple(theirs[-n:])


def _self_contradicts(record: Provenance) -> bool:
    """Whether the record's prompt is JSON text that its prompt fingerprint is not of: a JSON
    prompt is fingerprinted over its exact text (prose is not: its fingerprint is its JSON
    prompt's, which the record does not hold)."""
    from flux2prompt._digest import sha256_fingerprint
    from flux2prompt.transport._request import is_json_object

    return bool(
        _SHA256.fullmatch(record.prompt_fingerprint)
        and sha256_fingerprint(record.prompt) != record.prompt_fingerprint
        and is_json_object(record.prompt)
    )


def _disagreement(
    record: Provenance, locked_prompt: str | None, fields: Mapping[str, str] | None
) -> str | None:
    """What in ``record`` contradicts the lock entry whose request fingerprint it carries (its
    prompt fingerprint; a JSON prompt that is not the text it fingerprints; a job item's model
    or parameters, whose hashes the per-item table holds), or ``None`` when nothing does.

    A request fingerprint covers the prompt fingerprint, the model and every parameter, so a
    genuine record never disagrees: one that does was edited, or copied onto another image.
    """
    from flux2prompt._versioning._lock import field_hash

    if locked_prompt is not None and record.prompt_fingerprint != locked_prompt:
        return (
            f"its prompt fingerprint {record.prompt_fingerprint[:23]} is not the one the "
            f"lockfile holds for it ({locked_prompt[:23]})"
        )
    if _self_contradicts(record):
        return "its prompt is not the text of its prompt fingerprint"
    if not fields or "model" not in fields:
        return None  # a prompt's table row holds the parameters as written, not as sent
    if field_hash(record.model) != fields["model"]:
        return f"its model {record.model} is not the one the lockfile holds for it"
    locked = {key.removeprefix("parameters."): value for key, value in fields.items()}
    names = {key.removeprefix("parameters.") for key in fields if key.startswith("parameters.")}
    for name in sorted(names | set(record.parameters)):
        if name not in names or field_hash(record.parameters.get(name)) != locked[name]:
            return f"its parameter {name!r} is not the one the lockfile holds for it"
    return None


def match_lock(record: Provenance, lock: Lock) -> LockMatch:
    """Find the entry of ``lock`` that made the image ``record`` describes (see the module).

    Example:
        >>> from flux2prompt._versioning._lock import Lock, LockEntry
        >>> from flux2prompt.transport import Provenance
        >>> lock = Lock({"hero": LockEntry("hero.prompt.toml", "sha256:p", "sha256:r")})
        >>> match_lock(Provenance("{}", "sha256:p", "sha256:r", "@cf/m"), lock).status
        'current'
    """
    request, prompt = record.request_fingerprint, record.prompt_fingerprint
    if _self_contradicts(record):
        return LockMatch(
            "not_locked",
            None,
            "the record's prompt is not the text of its prompt fingerprint: the record was "
            "edited or forged, so its fingerprints are not trusted",
        )
    # 1. An entry that sends exactly this request: the image is current, once what the record
    # holds agrees with what the lockfile holds of that entry.
    hashes: dict[str, Mapping[str, str]] = {}
    hits: list[tuple[str, str | None, str, str | None]] = [
        (key, None, entry.prompt_fingerprint, entry.request_fingerprint)
        for key, entry in lock.prompts.items()
        if entry.request_fingerprint == request
    ]
    for job_key, rows in lock.items.items():
        job = lock.jobs.get(job_key)
        label = job.name if job is not None else job_key
        for row in rows:
            if row.request_fingerprint == request:
                name = f"{label} item {row.index}"
                hits.append((name, row.label, row.prompt_fingerprint, row.request_fingerprint))
                hashes.setdefault(name, row.fields)
    if hits:
        name, origin, locked_prompt, locked_request = hits[0]
        fields = hashes.get(name)
        disagreement = _disagreement(record, locked_prompt, fields)
        if disagreement is not None:
            return LockMatch(
                "not_locked",
                None,
                f"the record claims the request of {name}, but {disagreement}: the record was "
                "edited or forged, so its fingerprints are not trusted",
            )
        more = f" (and {len(hits) - 1} more with the same request)" if len(hits) > 1 else ""
        return LockMatch(
            "current",
            name,
            f"{name} sends this request{more}",
            origin,
            len(hits) - 1,
            locked_prompt,
            locked_request,
        )
    # 2. The same prompt under other settings: the model, a parameter or the seed changed.
    for key, entry in lock.prompts.items():
        if entry.prompt_fingerprint == prompt and not entry.template:
            return LockMatch(
                "changed",
                key,
                f"{key} has this prompt but sends another request now (the model, a parameter "
                "or the seed changed)",
                locked_prompt_fingerprint=entry.prompt_fingerprint,
                locked_request_fingerprint=entry.request_fingerprint,
            )
    # 3. The job or SOURCE it came from, whose prompt changed since.
    if record.job is not None:
        for job_key, job in lock.jobs.items():
            if job.name != record.job:
                continue
            same_prompt = [
                row for row in lock.items.get(job_key, ()) if row.prompt_fingerprint == prompt
            ]
            if same_prompt:
                row = same_prompt[0]
                return LockMatch(
                    "changed",
                    f"{job.name} item {row.index}",
                    f"job {job.name} item {row.index} has this prompt but sends another request "
                    "now (the model, a parameter or the seed changed)",
                    row.label,
                    locked_prompt_fingerprint=row.prompt_fingerprint,
                    locked_request_fingerprint=row.request_fingerprint,
                )
            return LockMatch(
                "changed",
                job.name,
                f"job {job.name} ({job_key}) is locked, but none of its {job.items} items sends "
                "this request or prompt: the template, a dataset row or a setting changed since",
            )
    if record.source is not None:
        for key, entry in lock.prompts.items():
            if _same_source(record.source, key, entry.source, entry.path):
                return LockMatch(
                    "changed",
                    key,
                    f"{key} has changed since: the lockfile has prompt {entry.prompt_fingerprint}",
                    locked_prompt_fingerprint=entry.prompt_fingerprint,
                    locked_request_fingerprint=entry.request_fingerprint,
                )
    return LockMatch(
        "not_locked",
        None,
        "no prompt or job item of the lockfile sends this request or this prompt",
    )
