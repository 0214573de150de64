"""Public names say which public package documents them, not the private module they live in.

httpx's habit: tracebacks, reprs and ``help()`` show ``flux2prompt.SourceError`` and
``flux2prompt.transport.WorkersAI``, never ``flux2prompt._errors.SourceError``. Each public
package calls :func:`publish` once, at the end of its ``__init__``, after everything it exports
is defined: pydantic models are complete by then, so ``model_rebuild(force=True)`` still
resolves their annotations. A name exported by two packages keeps the first that published it;
``flux2prompt`` itself is imported before any of its subpackages, so the root wins.

This module imports nothing from the package, so every public package can use it.

Example:
    >>> import flux2prompt
    >>> flux2prompt.SourceError.__module__, flux2prompt.scene.__module__
    ('flux2prompt', 'flux2prompt')
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Mapping

__all__ = ["publish"]


def _is_private(module: str) -> bool:
    return any(part.startswith("_") for part in module.split("."))


def publish(package: str, namespace: Mapping[str, object], names: Iterable[str]) -> None:
    """Set ``__module__`` to ``package`` on each class and function in ``names`` that still
    names a private module (one with a ``_``-prefixed part).

    >>> def shout(): ...
    >>> shout.__module__ = "flux2prompt._demo"
    >>> publish("flux2prompt", {"shout": shout}, ["shout"])
    >>> shout.__module__
    'flux2prompt'
    """
    for name in names:
        value = namespace.get(name)
        if not isinstance(value, type | types.FunctionType):
            continue  # constants and type aliases keep what they are
        if _is_private(value.__module__):
            value.__module__ = package
