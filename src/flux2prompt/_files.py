"""Reading prompt documents from files.

A ``.json`` file holds a prompt document. Errors name the file and the line.

Example:
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "p.json"
    >>> _ = path.write_text('{"scene": "fog"}', encoding="utf-8")
    >>> read_prompt_document(path)
    {'scene': 'fog'}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flux2prompt._errors import SourceError

__all__ = ["read_prompt_document"]


def read_prompt_document(path: Path) -> Any:
    """Read and parse the prompt document stored at ``path``."""
    from flux2prompt._load import parse_json

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SourceError("no such file", source=str(path)) from None
    except IsADirectoryError:
        raise SourceError("is a directory, not a prompt file", source=str(path)) from None
    except OSError as exc:
        raise SourceError(f"cannot read: {exc.strerror}", source=str(path)) from None
    if path.suffix.lower() != ".json":
        raise SourceError(
            f"unsupported file type {path.suffix or '(none)'!r}; use a .json prompt file",
            source=str(path),
        )
    return parse_json(data, source=str(path))
