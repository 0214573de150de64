"""Resolve a command-line SOURCE to a validated :class:`~flux2prompt.Prompt`.

A SOURCE is one of:

- a prompt file: a ``.json`` prompt document, or a prompt file with metadata
  (``hero.prompt.toml``, ``hero.prompt.json``), read with ``flux2prompt.load(Path(...))``;
- ``path/to/file.py:NAME``, where ``NAME`` in that file is a :class:`~flux2prompt.PromptBuilder`,
  a :class:`~flux2prompt.Prompt`, or a function of no arguments returning one of them.

Every problem in reaching the prompt raises :class:`~flux2prompt.SourceError` naming the file
(and the line, when there is one): a missing file, a syntax error, an exception while importing,
an unknown ``NAME`` (with a did-you-mean), a ``NAME`` of the wrong type. Problems in the prompt
itself raise :class:`~flux2prompt.PromptError` or :class:`~flux2prompt.PromptValidationError`.

Example:
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "shots.py").write_text(
    ...     "from flux2prompt import scene\\nhero = scene('a lighthouse at dusk')\\n"
    ... )
    >>> resolve_source(f"{folder}/shots.py:hero").to_json()
    '{"scene":"a lighthouse at dusk"}'
"""

from __future__ import annotations

import contextlib
import difflib
import importlib.util
import inspect
import itertools
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Annotated, NoReturn, TypeGuard

import typer

from flux2prompt._builder import PromptBuilder
from flux2prompt._errors import Flux2PromptError, PromptError, PromptValidationError, SourceError
from flux2prompt._load import load
from flux2prompt._model import Profile, Prompt

__all__ = ["ProfileOption", "resolve_source", "split_source"]

#: The ``--profile`` option of every command that reads a SOURCE.
ProfileOption = Annotated[
    Profile,
    typer.Option(
        "--profile",
        "-p",
        help="Schema profile: flux2 (permissive) or cloudflare (Cloudflare's published schema).",
    ),
]

_module_ids = itertools.count()
# Imported files by (resolved path, mtime, size): `validate a.py:x a.py:y` runs a.py once.
_modules: dict[tuple[str, int, int], ModuleType] = {}


def split_source(source: str) -> tuple[Path, str | None]:
    """Split a SOURCE into its file and, for ``file.py:NAME``, the name.

    >>> split_source("examples/poster.py:poster")
    (PosixPath('examples/poster.py'), 'poster')
    >>> split_source("prompts/hero.json")
    (PosixPath('prompts/hero.json'), None)
    """
    path, sep, name = source.rpartition(":")
    if sep and path.endswith(".py"):
        return Path(path), name
    return Path(source), None


def resolve_source(source: str, *, profile: Profile = "flux2") -> Prompt:
    """Return the prompt that ``source`` names, validated under ``profile``.

    Raises :class:`~flux2prompt.SourceError` when the source cannot be read, and
    :class:`~flux2prompt.PromptError` (or its subclass ``PromptValidationError``) when it can but
    the prompt is not valid.
    """
    if not source.strip():
        raise SourceError("empty SOURCE; give a prompt file or path/to/file.py:NAME")
    path, name = split_source(source)
    if name is None and path.suffix != ".py":
        return load(path, profile=profile)
    module = _import_file(path)
    if not name:
        found = _prompt_names(module)
        hint = f"; for example {path}:{found[0]}" if found else ""
        raise SourceError(
            f"a Python source needs a name: {path}:NAME, where NAME is a prompt builder, a Prompt "
            f"or a function of no arguments returning one{hint}",
            source=str(path),
        )
    return load(_value_of(module, name, path), profile=profile)


def _import_file(path: Path) -> ModuleType:
    label = str(path)
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise SourceError("no such file", source=label) from None
    except OSError as exc:
        raise SourceError(f"cannot read: {exc.strerror}", source=label) from None
    if not path.is_file():
        raise SourceError("is not a file", source=label)
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if key in _modules:
        return _modules[key]

    module_name = f"flux2prompt_source_{next(_module_ids)}_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise SourceError("cannot be imported as a Python module", source=label)
    module = importlib.util.module_from_spec(spec)
    # Registered before running, as `import` does, so dataclasses and pickling in it work; the
    # file's folder goes on sys.path, as with `python file.py`, so it can import its neighbours.
    sys.modules[module_name] = module
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        del sys.modules[module_name]
        _reraise(exc, path, "importing it")
    finally:
        with contextlib.suppress(ValueError):  # the module may have removed it itself
            sys.path.remove(folder)
    _modules[key] = module
    return module


def _reraise(exc: BaseException, path: Path, doing: str) -> NoReturn:
    """Re-raise an exception from the user's code as one that names the file and the line."""
    if isinstance(exc, KeyboardInterrupt | GeneratorExit):
        raise exc
    if isinstance(exc, SyntaxError) and exc.filename and _same_file(exc.filename, path):
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
        detail = f"SystemExit({exc.code!r})"
    else:
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    raise SourceError(f"{doing} raised {detail}", source=str(path), line=line) from exc


def _same_file(filename: str, path: Path) -> bool:
    try:
        return Path(filename).resolve() == path.resolve()
    except OSError:
        return False


def _line_in(exc: BaseException, path: Path) -> int | None:
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename and _same_file(frame.filename, path):
            line = frame.lineno
    return line


def _is_prompt_like(value: object) -> TypeGuard[PromptBuilder | Prompt]:
    return isinstance(value, PromptBuilder | Prompt)


def _callable_without_arguments(value: object) -> bool:
    if not (inspect.isfunction(value) or inspect.ismethod(value)):
        return False
    try:
        inspect.signature(value).bind()
    except TypeError:
        return False
    return True


def _public_names(module: ModuleType) -> list[str]:
    names = getattr(module, "__all__", None)
    if not isinstance(names, list | tuple):
        names = [n for n in vars(module) if not n.startswith("_")]
    return [n for n in names if isinstance(n, str)]


def _prompt_names(module: ModuleType) -> list[str]:
    """Names in ``module`` that could be a SOURCE's NAME: builders, prompts and functions of no
    arguments defined in the module itself."""
    found = []
    for name in _public_names(module):
        value = getattr(module, name, None)
        if _is_prompt_like(value) or (
            _callable_without_arguments(value)
            and getattr(value, "__module__", None) == module.__name__
        ):
            found.append(name)
    return found


def _value_of(module: ModuleType, name: str, path: Path) -> PromptBuilder | Prompt:
    label = f"{path}:{name}"
    if not hasattr(module, name):
        candidates = _prompt_names(module)
        close = difflib.get_close_matches(name, _public_names(module), n=1)
        if close:
            hint = f"; did you mean {close[0]!r}?"
        elif candidates:
            hint = f"; prompts here: {', '.join(candidates)}"
        else:
            hint = "; it defines no prompt builder, Prompt or function of no arguments"
        raise SourceError(f"no name {name!r} in this file{hint}", source=str(path))
    value = getattr(module, name)
    if _is_prompt_like(value):
        return value
    if callable(value) and (inspect.isfunction(value) or inspect.ismethod(value)):
        if not _callable_without_arguments(value):
            raise SourceError(
                f"{name!r} takes arguments; a SOURCE names a function of no arguments",
                source=label,
            )
        try:
            result = value()
        except BaseException as exc:
            _reraise(exc, path, f"calling {name}()")
        if _is_prompt_like(result):
            return result
        raise SourceError(
            f"{name}() returned {_kind(result)}, not a prompt builder or Prompt", source=label
        )
    raise SourceError(
        f"{name!r} is {_kind(value)}; a SOURCE names a prompt builder, a Prompt or a function of "
        "no arguments returning one",
        source=label,
    )


def _kind(value: object) -> str:
    if value is None:
        return "None"
    if inspect.isclass(value):
        return f"the class {value.__name__}"
    if inspect.ismodule(value):
        return "a module"
    kind = type(value).__name__
    return f"{'an' if kind[0].lower() in 'aeiou' else 'a'} {kind}"
