"""References: images attached to a prompt by name, and cited in its text by that name.

A prompt that edits or combines images has to say which image it means ("the logo from image
1"), and hosts count images differently: Cloudflare's ``@cf/`` models from 0 (``image 0``,
matching ``input_image_0``), Black Forest Labs' API and FLUX 3 from 1. So a prompt cites a
reference by name, with the marker :func:`ref` writes (``[ref:logo]``), and the request builder
resolves each marker to the index its host expects, once the host is known. The marker is plain
ASCII without quotes, angle brackets or ``$``, so it survives the JSON form, the prose form and
a FLUX 3 caption unchanged; the prompt's fingerprint covers the marker, never a resolved index,
so one prompt keeps one fingerprint across hosts.

The images themselves are the builder's (:meth:`~flux2prompt.PromptBuilder.reference`): this
module is pure and reads no file. A compiled :class:`~flux2prompt.Prompt` carries its builder's
references beside its fields (not in its JSON); :func:`references_of` reads them.

Example:
    >>> ref("logo")
    '[ref:logo]'
    >>> cited(f"the mug from {ref('mug')} wearing the logo from {ref('logo')}")
    ('mug', 'logo')
    >>> resolve_citations("the logo from [ref:logo]", ("photo", "logo"), base=1)
    'the logo from image 2'
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

from flux2prompt._errors import PromptError
from flux2prompt._model import attach_references, references_of
from flux2prompt._text import quoted

__all__ = [
    "Reference",
    "ReferenceSource",
    "attach_references",
    "check_reference_name",
    "cited",
    "ref",
    "references_of",
    "resolve_citations",
]

#: What a reference can be: image bytes, a path to an image file, or an ``https://`` URL (for the
#: hosts that fetch images themselves).
ReferenceSource: TypeAlias = "bytes | str | os.PathLike[str]"

_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")
#: The citation marker: ``[ref:NAME]``.
_MARKER = re.compile(r"\[ref:([^\[\]\s]*)\]")


def check_reference_name(name: object, where: str) -> str:
    """``name`` if it can name a reference (lowercase letters, digits, ``_``, ``-``; a letter
    first; at most 40), else a :class:`PromptError` saying so.

    >>> check_reference_name("Logo", "ref()")
    Traceback (most recent call last):
    ...
    flux2prompt.PromptError: ref(): a reference name is lowercase letters, digits, '_' or '-', starting with a letter (such as 'logo' or 'style-2'), got 'Logo'
    """  # noqa: E501
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        raise PromptError(
            f"{where}: a reference name is lowercase letters, digits, '_' or '-', starting with "
            f"a letter (such as 'logo' or 'style-2'), got {quoted(name)}"
        )
    return name


def ref(name: str) -> str:
    """The marker that cites the reference ``name`` in a prompt's text: ``[ref:NAME]``.

    Each host reads it as its own index (``image 0`` on ``@cf/`` models, ``image 1`` on BFL).

    >>> from flux2prompt import scene
    >>> p = (scene(f"the mug from {ref('mug')} on a marble counter")
    ...      .reference("mug", b"...", role="the product").compile())
    >>> p.scene
    'the mug from [ref:mug] on a marble counter'
    """
    return f"[ref:{check_reference_name(name, 'ref()')}]"


@dataclass(frozen=True, slots=True)
class Reference:
    """An image attached to a prompt: its ``name`` (what the text cites), its ``source``
    (bytes, a path, or an ``https://`` URL; read when the request is built) and its ``role``
    (what it is for, such as "the brand's logo": for people and lint messages, never sent).

    >>> Reference("logo", b"png bytes", role="the brand's logo").marker
    '[ref:logo]'
    """

    name: str
    source: ReferenceSource
    role: str | None = None

    @property
    def marker(self) -> str:
        """The citation of this reference: ``[ref:NAME]``."""
        return f"[ref:{self.name}]"

    def __repr__(self) -> str:
        if isinstance(self.source, bytes | bytearray):
            shown = f"<{len(self.source)} bytes>"
        else:
            shown = repr(os.fspath(self.source))
        role = f", role={self.role!r}" if self.role else ""
        return f"Reference({self.name!r}, {shown}{role})"


def cited(text: str) -> tuple[str, ...]:
    """The reference names ``text`` cites, in order of first citation, each once.

    >>> cited("[ref:a] and [ref:b], then [ref:a] again")
    ('a', 'b')
    """
    return tuple(dict.fromkeys(_MARKER.findall(text)))


def resolve_citations(text: str, names: Sequence[str], *, base: int) -> str:
    """``text`` with each ``[ref:NAME]`` replaced by ``image N``: ``N`` is the position of
    ``NAME`` in ``names`` (the order the images are sent in) plus ``base`` (0 or 1, the host's
    first index). A name not in ``names`` is a :class:`PromptError`.

    >>> resolve_citations("[ref:b] beside [ref:a]", ("a", "b"), base=0)
    'image 1 beside image 0'
    """
    index = {name: position + base for position, name in enumerate(names)}

    def resolved(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in index:
            known = ", ".join(repr(n) for n in names) or "none"
            raise PromptError(
                f"the prompt cites {match.group(0)}, and no reference is named {name!r} "
                f"(references: {known}); attach it with .reference({name!r}, path_or_bytes)"
            )
        return f"image {index[name]}"

    return _MARKER.sub(resolved, text)


# attach_references and references_of live in _model.py, the one module that writes a Prompt's
# private state; they are named here too, where references are.
