"""Import a user's Python file and reach a name in it, with errors that name the file and line.

Both ``file.py:NAME`` sources (the command line's SOURCE, a batch job's template) go through
here, so they report problems the same way: a missing file, a syntax error, an exception (or a
``sys.exit``) while importing or calling, an unknown ``NAME`` with a did-you-mean. Each becomes a
:class:`~flux2prompt.SourceError` carrying the file and, when there is one, the line. An error
the DSL raised inside the file stays a :class:`~flux2prompt.PromptError`, pointed at its line.

A file is imported once per version: the cache is keyed by its resolved path, mtime and size,
so ``validate a.py:x a.py:y`` runs ``a.py`` once, and an edited file is read again.

Example:
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "shots.py").write_text("hero = 'a lighthouse'\\n")
    >>> module = import_python_file(folder / "shots.py")
    >>> lookup(module, "hero", folder / "shots.py")
    'a lighthouse'
    >>> import_python_file(folder / "shots.py") is module
    True
"""

from __future__ import annotations

import contextlib
import difflib
import importlib.util
import itertools
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import NoReturn

from flux2prompt._errors import Flux2PromptError, PromptError, PromptValidationError, SourceError
from flux2prompt._files._parse import cannot_read, not_found
from flux2prompt._user_code import describe_exception, user_code

__all__ = ["attribute", "import_python_file", "lookup", "public_names", "reraise"]

_module_ids = itertools.count()
# Imported files by (resolved path, mtime, size).
_modules: dict[tuple[str, int, int], ModuleType] = {}


def import_python_file(path: Path, *, what: str = "file") -> ModuleType:
    """Import the Python file at ``path`` (once per version of it) and return the module.

    The file's folder is on ``sys.path`` while it runs, as with ``python file.py``, so it can
    import its neighbours. ``what`` names the file in the error for a missing one ("no such
    template file").

    Example:
        >>> import_python_file(Path("nowhere/shots.py"), what="template file")
        Traceback (most recent call last):
        ...
        flux2prompt.SourceError: nowhere/shots.py: no such template file
    """
    label = str(path)
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise SourceError(not_found(path, what), source=label) from None
    except OSError as exc:
        raise SourceError(cannot_read(exc), source=label) from None
    if not path.is_file():
        raise SourceError(f"is not a {what}", source=label)
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if key in _modules:
        return _modules[key]

    module_name = f"flux2prompt_source_{next(_module_ids)}_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise SourceError("cannot be imported as a Python module", source=label)
    module = importlib.util.module_from_spec(spec)
    # Registered before running, as `import` does, so dataclasses and pickling in it work.
    sys.modules[module_name] = module
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    try:
        with user_code(descriptors=True):  # what it prints goes to stderr, never into results
            spec.loader.exec_module(module)
    except BaseException as exc:
        del sys.modules[module_name]
        reraise(exc, path, "importing it")
    finally:
        with contextlib.suppress(ValueError):  # the module may have removed it itself
            sys.path.remove(folder)
    _modules[key] = module
    return module


def reraise(exc: BaseException, path: Path, doing: str) -> NoReturn:
    """Re-raise an exception from the user's code in ``path`` as one that names the file and line.

    ``doing`` says what was running ("importing it", "calling make()"). ``KeyboardInterrupt``
    passes through; a library error stays what it is (a DSL error gains the line of the call);
    anything else, ``SystemExit`` included, becomes a :class:`~flux2prompt.SourceError`.

    Example:
        >>> try:
        ...     {}["scene"]
        ... except KeyError as exc:
        ...     reraise(exc, Path("shots.py"), "calling make()")
        Traceback (most recent call last):
        ...
        flux2prompt.SourceError: shots.py: calling make() raised KeyError: 'scene'
    """
    if isinstance(exc, KeyboardInterrupt | GeneratorExit):
        raise exc
    if isinstance(exc, SyntaxError) and exc.filename is None and "null bytes" in str(exc.msg):
        # Python names no file or line for it: the file's own null byte, or an imported one's.
        data = path.read_bytes() if path.is_file() else b""
        if b"\0" in data:
            raise SourceError(
                "syntax error: the file holds a null byte, which Python source cannot; is it a "
                "binary file, or saved as UTF-16? Save it as UTF-8 text",
                source=str(path),
                line=data.count(b"\n", 0, data.index(b"\0")) + 1,
            ) from None
    if isinstance(exc, SyntaxError) and exc.filename and _same_file(exc.filename, path):
        if "codec can't decode" in exc.msg:  # "(unicode error) 'utf-8' codec can't decode..."
            raise SourceError(
                "not UTF-8 text; save the file as UTF-8 (or declare its encoding on its first "
                "line, such as # -*- coding: latin-1 -*-)",
                source=str(path),
                line=exc.lineno,
            ) from None
        raise SourceError(f"syntax error: {exc.msg}", source=str(path), line=exc.lineno) from None
    line = _line_in(exc, path)
    if isinstance(exc, PromptError) and not isinstance(exc, PromptValidationError):
        # A DSL call in the file rejected its input: point at that call. Stays a PromptError,
        # since the prompt, not the source, is at fault.
        if line is None:
            raise exc
        raise PromptError(f"line {line}: {exc}") from exc
    if isinstance(exc, Flux2PromptError):
        raise exc
    if isinstance(exc, SyntaxError):  # in a module the file imports
        detail = f"SyntaxError in {exc.filename}, line {exc.lineno}: {exc.msg}"
    elif isinstance(exc, SystemExit):
        detail = f"SystemExit({_code(exc.code)})"
    else:
        detail = describe_exception(exc)
    raise SourceError(f"{doing} raised {detail}", source=str(path), line=line) from exc


def _code(code: object) -> str:
    """``sys.exit``'s argument as an error shows it: its repr, cut short (the user's object)."""
    try:
        text = repr(code)
    except Exception:  # a __repr__ of the user's that raises
        text = f"<a {type(code).__name__}>"
    return text if len(text) <= 200 else f"{text[:200]}... ({len(text):,} characters)"


def _same_file(filename: str, path: Path) -> bool:
    try:
        return Path(filename).resolve() == path.resolve()
    except OSError:
        return False


def _line_in(exc: BaseException, path: Path) -> int | None:
    """The line of ``path`` nearest the raise in the traceback of ``exc``, if it is there."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename and _same_file(frame.filename, path):
            line = frame.lineno
    return line


def public_names(module: ModuleType) -> list[str]:
    """The module's ``__all__``, or else its names that do not start with ``_``.

    Example:
        >>> import types
        >>> module = types.ModuleType("m")
        >>> module.hero, module._draft = 1, 2
        >>> public_names(module)
        ['hero']
    """
    # From the module's namespace: a module-level __getattr__ (the user's code) is not asked.
    names = vars(module).get("__all__")
    if not isinstance(names, list | tuple):
        names = [n for n in vars(module) if not n.startswith("_")]
    return [n for n in names if isinstance(n, str)]


_MISSING = object()


def attribute(module: ModuleType, name: str, path: Path, default: object = _MISSING) -> object:
    """``getattr(module, name, default)``, where an exception other than ``AttributeError`` from
    a module-level ``__getattr__`` (the user's code: ``return _LAZY[name]`` raises ``KeyError``)
    is a :class:`~flux2prompt.SourceError` naming the file, not a traceback.

    Example:
        >>> import types
        >>> module = types.ModuleType("m")
        >>> module.__getattr__ = lambda name: {}[name]
        >>> attribute(module, "hero", Path("shots.py"))
        Traceback (most recent call last):
        ...
        flux2prompt.SourceError: shots.py: looking up 'hero' raised KeyError: 'hero'
    """
    try:
        with user_code():
            return getattr(module, name)
    except AttributeError:
        return default
    except Exception as exc:
        reraise(exc, path, f"looking up {name!r}")


def lookup(
    module: ModuleType, name: str, path: Path, *, otherwise: Callable[[], str] | None = None
) -> object:
    """Return ``module.name``, or raise :class:`~flux2prompt.SourceError` naming ``path``.

    The error suggests the closest public name; when none is close, ``otherwise()`` gives the
    hint (say, the names that would do), if it is given.

    Example:
        >>> import types
        >>> module = types.ModuleType("m")
        >>> module.hero = "a lighthouse"
        >>> lookup(module, "hreo", Path("shots.py"))
        Traceback (most recent call last):
        ...
        flux2prompt.SourceError: shots.py: no name 'hreo' in this file; did you mean 'hero'?
    """
    if name in vars(module) or hasattr(type(module), name):
        return getattr(module, name)
    value = attribute(module, name, path)
    if value is not _MISSING:
        return value
    close = difflib.get_close_matches(name, public_names(module), n=1)
    if close:
        hint = f"; did you mean {close[0]!r}?"
    else:
        hint = otherwise() if otherwise is not None else ""
    raise SourceError(f"no name {name!r} in this file{hint}", source=str(path))
