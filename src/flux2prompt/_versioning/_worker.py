"""The interpreter that reads the old side of a diff (see :mod:`._revision`).

Started as ``python -P -m flux2prompt._versioning._worker`` in a materialised tree, it reads
one JSON request on standard input and writes one JSON answer on standard output:
``{"result": ...}`` or ``{"error": "one line"}``. Requests:

- ``{"op": "inventory", "tree", "cwd", "base", "paths", "job_images", "tolerant"}``: the
  inventory of the tree; with ``job_images``, also each job's reference images (base64, by job
  key); with ``tolerant``, files that do not read left out (``unreadable``);
- ``{"op": "sources", "tree", "specs": [...]}``: each SOURCE's entries (a diff's sides).

Example:
    >>> _prepend_tree("/tmp/tree")[0]
    '/tmp/tree'
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any


def _prepend_tree(tree: str) -> list[str]:
    """Put the tree (and its ``src/``) first on ``sys.path``: the old modules win over the
    working tree and over an editable install of it."""
    for folder in (os.path.join(tree, "src"), tree):
        if os.path.isdir(folder) or folder == tree:
            sys.path.insert(0, folder)
    return sys.path


def _job_images(base: Path, jobs: Any) -> dict[str, list[str]]:
    """The reference images each job sends, base64, by job key (its path under ``base``)."""
    import base64

    from flux2prompt._versioning._inventory import job_images

    out: dict[str, list[str]] = {}
    for key, job in jobs.items():
        images = job_images(base / job.path)
        if images:
            out[key] = [base64.b64encode(image).decode("ascii") for image in images]
    return out


def _outside(entries: list[dict[str, Any]], base: Path, tree: Path) -> dict[str, str]:
    """The jobs whose dataset lies outside the tree (``../shared/rows.csv``), by key, with that
    dataset's path: copied into a temporary folder, the tree has nothing there, and whatever is
    beside that folder is no version of the dataset."""
    root = os.path.realpath(tree)
    found: dict[str, str] = {}
    for entry in entries:
        origin = entry.get("origin") if entry.get("kind") == "item" else None
        file, sep, line = (origin or "").rpartition(":")
        if entry["key"] in found or not sep or not line.isdigit():
            continue
        resolved = os.path.realpath(base / file)
        if resolved != root and not resolved.startswith(root + os.sep):
            found[entry["key"]] = file
    return found


def _outside_message(key: str, file: str) -> str:
    return (
        f"{key}: its dataset {file} is outside the repository, so it has no version at a revision"
    )


def _answer(request: dict[str, Any]) -> Any:
    tree = Path(request["tree"])
    _prepend_tree(str(tree))
    if request["op"] == "inventory":
        from flux2prompt._files._project import CONFIG_FILES, Project, read_project_config
        from flux2prompt._versioning._inventory import build_inventory

        os.chdir(tree / request["cwd"])
        # The project's root as the caller found it, with its configuration as it was then;
        # never a folder above the tree (the temporary folder's parents are not the project).
        root = tree / request.get("root", request["cwd"])
        project = None
        for name in CONFIG_FILES:
            if project is None and (root / name).is_file():
                project = read_project_config(root / name)
        paths = request["paths"]
        if paths is not None:
            # A path that did not exist then (a new file) has nothing on the old side.
            paths = [tree / p for p in paths if (tree / p).exists()]
        inventory = build_inventory(
            paths,
            base=tree / request["base"],
            project=project or Project(root),
            # The old side cannot be fixed any more: a file that does not read is left out.
            tolerant=bool(request.get("tolerant")),
        )
        answer = inventory.to_dict()
        # Paths in the lines said from the tree's root, not from the temporary folder it is in.
        inside = f"{tree}{os.sep}"
        answer["unreadable"] = [line.replace(inside, "") for line in inventory.unreadable]
        outside = _outside(answer["entries"], tree / request["base"], tree)
        if outside and not request.get("tolerant"):
            from flux2prompt._errors import SourceError

            raise SourceError(_outside_message(*next(iter(outside.items()))))
        if outside:
            answer["entries"] = [
                e for e in answer["entries"] if e["kind"] != "item" or e["key"] not in outside
            ]
            for key in outside:
                answer["jobs"].pop(key, None)
            answer["unreadable"] += [_outside_message(*pair) for pair in outside.items()]
        if request.get("job_images"):
            answer["job_images"] = _job_images(tree / request["base"], inventory.jobs)
        return answer
    if request["op"] == "sources":
        from flux2prompt._versioning._sources import load_side

        os.chdir(tree / request.get("cwd", "."))
        sides = [[e.to_dict() for e in load_side(spec)] for spec in request["specs"]]
        for side in sides:
            # Origins are said from the current folder here.
            outside = _outside(side, Path.cwd(), tree)
            if outside:
                from flux2prompt._errors import SourceError

                raise SourceError(_outside_message(*next(iter(outside.items()))))
        return sides
    raise ValueError(f"unknown request {request['op']!r}")


def main() -> None:
    """Read the request, write the answer (errors as one line, never a traceback)."""
    request = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    from flux2prompt._errors import Flux2PromptError

    # Paths in a message are said from the tree's root, not from the temporary folder it is in.
    inside = f"{request['tree']}{os.sep}"
    try:
        result = {"result": _answer(request)}
    except Flux2PromptError as exc:
        result = {"error": str(exc).replace(inside, "")}
    except Exception as exc:  # the old side's code raised something of its own
        result = {"error": f"{type(exc).__name__}: {exc}".replace(inside, "")}
    sys.stdout.write(json.dumps(result, ensure_ascii=False, default=str))


if __name__ == "__main__":
    main()
