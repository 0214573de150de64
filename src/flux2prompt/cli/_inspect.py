"""CLI command: ``flux2-prompt inspect IMAGE...``, the provenance inside images, against the lock.

``generate`` and ``batch`` write a record into every image (XMP; see
:mod:`flux2prompt.transport._provenance`). ``inspect`` reads it back and says whether the image
is what the project's lockfile makes today. Exit codes: 0 every image is current (or there is
no lockfile to compare with), 1 an image has no provenance, or its prompt changed or is not
locked, 2 an image that cannot be read (missing, truncated, malformed) or a bad lockfile.

Example:
    $ flux2-prompt inspect out/A.jpg
    out/A.jpg
      prompt    sha256:5c1f...
      request   sha256:90ab...
      model     @cf/black-forest-labs/flux-2-klein-4b
      seed      5
      job       tiles
      lock      current: tiles item 0 (rows.jsonl:1; seed 5) in flux2prompt.lock
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from flux2prompt._errors import Flux2PromptError
from flux2prompt.cli._app import app
from flux2prompt.cli._output import (
    EXIT_INVALID,
    EXIT_USAGE,
    echo_data,
    error_lines,
    handle_errors,
    json_report,
    one_line,
    print_error,
    say,
)

__all__ = ["inspect"]

_SHOWN_PROMPT = 120


def _lock_path(explicit: Path | None) -> Path | None:
    """The lockfile to compare with: ``--lock``, the configuration's, else the nearest one."""
    from flux2prompt._files._project import find_project
    from flux2prompt._versioning import find_lock_file

    if explicit is not None:
        return explicit
    project = find_project()
    if project.config_file is not None and Path(project.lock_path).is_file():
        return Path(os.path.relpath(project.lock_path))
    found = find_lock_file()
    return Path(os.path.relpath(found)) if found is not None else None


# The largest image a client accepts as a result (64 MiB): no image of ours is larger, and a
# file that never ends (/dev/zero, a pipe) is refused, not read.
_MAX_IMAGE_BYTES = 64 * 1024 * 1024


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SHOWN_PROMPT else text[: _SHOWN_PROMPT - 1] + "…"


def _inspect_one(image: Path, lock: Any, lock_file: Path | None) -> tuple[dict[str, Any], int]:
    """The report of one image, as JSON data, and its exit code."""
    from flux2prompt._atomic import read_at_most
    from flux2prompt._versioning._provenance import match_lock
    from flux2prompt.transport import read_provenance

    report: dict[str, Any] = {"image": str(image), "status": None, "provenance": None}
    try:
        data = read_at_most(image, _MAX_IMAGE_BYTES, "an image")
    except OSError as exc:
        report.update(status="error", error=f"cannot read: {exc.strerror or exc}")
        return report, EXIT_USAGE
    try:
        record = read_provenance(data)
    except Flux2PromptError as exc:
        report.update(status="error", error=" ".join(error_lines(exc)))
        return report, EXIT_USAGE
    if record is None:
        report["status"] = "no_provenance"
        return report, EXIT_INVALID
    report["provenance"] = record.to_dict()
    # Whether the file is byte for byte the one written (None: an image from before seals).
    report["seal"] = (
        None if record.image_sha256 is None else ("intact" if record.verifies(data) else "broken")
    )
    if lock is None:
        report["status"] = "no_lock"
        return report, 0
    match = match_lock(record, lock)
    report["status"] = match.status
    report["lock"] = {"file": str(lock_file), **match.to_dict()}
    return report, 0 if match.ok else EXIT_INVALID


def _render(report: dict[str, Any]) -> None:
    image, status = report["image"], report["status"]
    if status == "error":
        print_error(f"{image}: {report['error']}")
        return
    # The record is read from the image, which may come from anyone: each field stays on its line.
    image = one_line(image)
    if status == "no_provenance":
        say(f"{image}: no provenance (stripped, or not written by flux2prompt)")
        return
    record = report["provenance"]
    say(image)
    lines = [
        ("prompt", record["prompt_fingerprint"]),
        ("request", record["request_fingerprint"]),
        ("model", record["model"]),
        ("seed", "not set (the service chose one)" if record["seed"] is None else record["seed"]),
        ("params", json.dumps(record["parameters"], sort_keys=True, ensure_ascii=False)),
    ]
    if record["job"] is not None:
        lines.append(("job", record["job"]))
    if record["source"] is not None:
        lines.append(("source", record["source"]))
    lines.append(("text", _one_line(record["prompt"])))
    if report["seal"] == "intact":
        lines.append(("seal", "intact: the file is byte for byte the one written"))
    elif report["seal"] == "broken":
        lines.append(("seal", "broken: the file was changed after it was written"))
    if status == "no_lock":
        lines.append(("lock", "no lockfile to compare with (run `flux2-prompt lock`)"))
    else:
        match = report["lock"]
        origin = f" ({match['origin']})" if match["origin"] else ""
        where = f" in {match['file']}"
        if status == "current":
            lines.append(("lock", f"current: {match['name']}{origin}{where}"))
        elif status == "changed":
            lines.append(("lock", f"changed since: {match['detail']}{where}"))
        else:
            lines.append(("lock", f"not locked: {match['detail']}{where}"))
    for label, value in lines:
        say(one_line(f"  {label:<9} {value}"))


def _lock_failed(images: list[Path], message: str) -> None:
    """``inspect --json`` when the lockfile cannot be read: each image's report with its record
    and status ``error``, the lockfile's error line as its ``error``."""
    reports = []
    for image in images:
        report, _ = _inspect_one(image, None, None)
        if report["status"] != "error":
            report.update(status="error", error=f"cannot compare with the lockfile: {message}")
        reports.append(report)
    echo_data(json_report(reports))


@app.command("inspect")
def inspect(
    images: Annotated[
        list[Path],
        typer.Argument(metavar="IMAGE...", help="PNG, JPEG or WebP images.", show_default=False),
    ],
    lock: Annotated[
        Path | None,
        typer.Option(
            "--lock",
            help="The lockfile to compare with. Default: the configuration's, else the nearest "
            "flux2prompt.lock in this folder or a parent, up to the repository's root.",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the reports as JSON.")] = False,
) -> None:
    """Read the provenance that generate and batch write into every image, and say whether each
    image matches the current lockfile: which prompt made it, and whether it changed since.

    Exit 0 when every image is current (or there is no lockfile), 1 when one has no provenance
    or its prompt changed or is not locked, 2 when an image or the lockfile cannot be read.
    """
    from flux2prompt._versioning import read_lock

    try:
        lock_file = _lock_path(lock)
        locked = read_lock(lock_file) if lock_file is not None else None
    except Flux2PromptError as exc:
        if as_json:
            # Still one document: each image's record, and why it cannot be compared.
            _lock_failed(images, " ".join(error_lines(exc)))
        with handle_errors():
            raise
    reports: list[dict[str, Any]] = []
    code = 0
    for image in images:
        report, status = _inspect_one(image, locked, lock_file)
        reports.append(report)
        code = max(code, status)
        if not as_json:
            _render(report)
    if as_json:
        echo_data(json_report(reports))
    if code:
        raise typer.Exit(code)
