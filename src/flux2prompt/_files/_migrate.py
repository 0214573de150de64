"""Schema versions of prompt files, and the migrations between them.

A prompt file says which version of the format it is written in with ``schema_version`` (1 when
absent). Loading an older file migrates it in memory, one step at a time, to
:data:`~flux2prompt._schema.SCHEMA_VERSION`; a file from a newer flux2prompt is refused with a
request to upgrade, because guessing at a format this library has never seen would silently
change the prompt.

Version 0 is the legacy shape, from before the prompt keys followed FLUX.2's spelling:

=========================================  ========================================
version 0                                  version 1
=========================================  ========================================
``prompt.palette``                         ``prompt.color_palette``
``prompt.subjects[i].palette``             ``prompt.subjects[i].color_palette``
``prompt.camera.lens_mm``                  ``prompt.camera["lens-mm"]``
``prompt.camera.f_number``                 ``prompt.camera["f-number"]``
``prompt.camera.iso``                      ``prompt.camera.ISO``
=========================================  ========================================

Example:
    >>> migrate_prompt_file(
    ...     {"schema_version": 0, "name": "fox", "prompt": {"scene": "fox", "palette": ["#fff"]}}
    ... )
    {'schema_version': 1, 'name': 'fox', 'prompt': {'scene': 'fox', 'color_palette': ['#fff']}}
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from flux2prompt._errors import SourceError
from flux2prompt._schema import SCHEMA_VERSION, json_path

__all__ = ["MIGRATIONS", "check_schema_version", "migrate_prompt_file"]

_UPGRADE = "upgrade flux2prompt (pip install --upgrade flux2-prompt)"

_V0_CAMERA_KEYS = {"lens_mm": "lens-mm", "f_number": "f-number", "iso": "ISO"}


def _rename(node: dict[str, Any], old: str, new: str, where: list[str | int], source: str) -> None:
    """Rename ``old`` to ``new`` in ``node`` in place, keeping the key's position."""
    if old not in node:
        return
    if new in node:
        raise SourceError(
            f"{json_path(where)}: both {old!r} (schema version 0) and {new!r} are set; "
            f"keep only {new!r}",
            source=source,
        )
    items = [(new if key == old else key, value) for key, value in node.items()]
    node.clear()
    node.update(items)


def _v0_to_v1(document: dict[str, Any], source: str) -> dict[str, Any]:
    prompt = document.get("prompt")
    if not isinstance(prompt, dict):
        return document  # the prompt-file schema reports it
    _rename(prompt, "palette", "color_palette", ["prompt"], source)
    subjects = prompt.get("subjects")
    if isinstance(subjects, list):
        for index, item in enumerate(subjects):
            if isinstance(item, dict):
                _rename(item, "palette", "color_palette", ["prompt", "subjects", index], source)
    camera = prompt.get("camera")
    if isinstance(camera, dict):
        for old, new in _V0_CAMERA_KEYS.items():
            _rename(camera, old, new, ["prompt", "camera"], source)
    return document


#: ``MIGRATIONS[n]`` turns a version ``n`` document into a version ``n + 1`` document in place.
MIGRATIONS: Mapping[int, Callable[[dict[str, Any], str], dict[str, Any]]] = {0: _v0_to_v1}


def check_schema_version(document: Mapping[str, Any], source: str = "<prompt file>") -> int:
    """The ``schema_version`` of a prompt-file document (1 when absent), checked.

    >>> check_schema_version({"schema_version": 99})
    Traceback (most recent call last):
    ...
    flux2prompt.SourceError: <prompt file>: $.schema_version: this file is written in \
schema version 99, but this flux2prompt knows versions up to 1; upgrade flux2prompt \
(pip install --upgrade flux2-prompt)
    """
    version = document.get("schema_version", 1)
    if isinstance(version, bool) or not isinstance(version, int):
        raise SourceError(f"$.schema_version: expected an integer, got {version!r}", source=source)
    if version > SCHEMA_VERSION:
        raise SourceError(
            f"$.schema_version: this file is written in schema version {version}, but this "
            f"flux2prompt knows versions up to {SCHEMA_VERSION}; {_UPGRADE}",
            source=source,
        )
    if version < min(MIGRATIONS, default=SCHEMA_VERSION):
        raise SourceError(
            f"$.schema_version: {version} is not a schema version; the oldest is "
            f"{min(MIGRATIONS)} and the current one {SCHEMA_VERSION}",
            source=source,
        )
    return version


def migrate_prompt_file(
    document: Mapping[str, Any], source: str = "<prompt file>"
) -> dict[str, Any]:
    """A copy of a prompt-file document, migrated to the current schema version.

    The input is not changed. A document already at the current version comes back as an equal
    copy; ``schema_version`` is set in the result only when a migration ran.
    Raises :class:`~flux2prompt.SourceError` for a version that is newer than this library or
    unknown, and when a migration meets both an old and a new spelling of one key.
    """
    version = check_schema_version(document, source)
    migrated = copy.deepcopy(dict(document))
    if version == SCHEMA_VERSION:
        return migrated
    while version < SCHEMA_VERSION:
        migrated = MIGRATIONS[version](migrated, source)
        version += 1
    migrated["schema_version"] = SCHEMA_VERSION
    return migrated
