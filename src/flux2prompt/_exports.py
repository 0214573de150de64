"""The faces of the public packages: where names say they live, and names loaded on first use.

Public names say which public package documents them, not the private module they live in.

httpx's habit: tracebacks, reprs and ``help()`` show ``flux2prompt.SourceError`` and
``flux2prompt.transport.WorkersAI``, never ``flux2prompt._errors.SourceError``. Each public
package calls :func:`publish` once, at the end of its ``__init__``, after everything it exports
is defined: pydantic models are complete by then, so ``model_rebuild(force=True)`` still
resolves their annotations. A name exported by two packages keeps the first that published it;
``flux2prompt`` itself is imported before any of its subpackages, so the root wins, and a name
the root exports lazily is claimed for it: a subpackage that re-exports it (``flux2prompt.batch``
re-exports ``template``) publishes it under the root's name even before the root loads it.

Names whose module would import something heavy (the HTTP clients import httpx and anyio) are
exported lazily by :func:`lazy_exports` (PEP 562): ``import flux2prompt`` and the commands that
only compile prompts never pay for the HTTP stack.

This module imports nothing from the package, so every public package can use it.

Example:
    >>> import flux2prompt
    >>> flux2prompt.SourceError.__module__, flux2prompt.scene.__module__
    ('flux2prompt', 'flux2prompt')
"""

from __future__ import annotations

import importlib
import types
from collections.abc import Callable, Iterable, Mapping, MutableMapping

__all__ = ["lazy_exports", "publish"]

# Names exported lazily by a package, by (defining module, name): the package that claimed them.
_CLAIMS: dict[tuple[str, str], str] = {}


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
            value.__module__ = _CLAIMS.get((value.__module__, name), package)


def lazy_exports(
    package: str, namespace: MutableMapping[str, object], homes: Mapping[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The module ``__getattr__`` and ``__dir__`` of a package that exports ``homes`` lazily.

    ``homes`` maps each lazy name to the module that defines it. On first access the module is
    imported, the name is stored in ``namespace`` (a plain attribute from then on) and
    published (by a public package; a private one, such as ``flux2prompt._files``, only loads
    it); ``dir()`` lists the lazy names before they are loaded.

    >>> import types
    >>> face = types.ModuleType("face")
    >>> face.__all__ = ["sqrt"]
    >>> getattr_, dir_ = lazy_exports("face", vars(face), {"sqrt": "math"})
    >>> getattr_("sqrt")(9.0), "sqrt" in vars(face), dir_()[-1]
    (3.0, True, 'sqrt')
    """
    if not _is_private(package):
        for name, home in homes.items():
            _CLAIMS.setdefault((home, name), package)

    def __getattr__(name: str) -> object:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        namespace[name] = value
        if not _is_private(package):  # a private package loads lazily, and publishes nothing
            publish(package, namespace, [name])
        return value

    def __dir__() -> list[str]:
        exported = namespace.get("__all__", ())
        assert isinstance(exported, list | tuple)
        return sorted(set(namespace) | set(homes) | set(exported))

    return __getattr__, __dir__
