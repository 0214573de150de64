"""``flux2prompt.load``: a prompt from anything that holds one, files included.

In-memory values go to :func:`flux2prompt._document.prompt_from_value`; a path is read by the
one loading sequence of this package (:func:`flux2prompt._files._prompt_file.read_prompt`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from flux2prompt._document import PromptValue, prompt_from_value
from flux2prompt._files._prompt_file import PromptFile, read_prompt
from flux2prompt._model import Prompt
from flux2prompt._schema import Profile

__all__ = ["PromptSource", "load"]

#: What :func:`load` takes.
PromptSource = PromptValue | os.PathLike[str]


def load(
    source: PromptSource,
    *,
    profile: Profile = "flux2",
    extra_keys: Iterable[str] = (),
) -> Prompt:
    """Load a prompt from a dict, JSON text or bytes, a file path, a builder or a prompt.

    The result is validated under ``profile`` (``"flux2"``, the default, or ``"cloudflare"``);
    problems raise :class:`~flux2prompt.PromptValidationError` listing each with its JSON path.
    A ``str`` is JSON text; pass a :class:`pathlib.Path` to read a file (a prompt file or a plain
    ``.json`` prompt document).

    >>> load({"scene": "studio", "color_palette": ["#abc"]}).color_palette
    ('#AABBCC',)
    """
    if isinstance(source, os.PathLike):
        loaded = read_prompt(Path(source), profile=profile, extra_keys=extra_keys)
        return loaded.prompt if isinstance(loaded, PromptFile) else loaded
    return prompt_from_value(source, profile=profile, extra_keys=extra_keys)
