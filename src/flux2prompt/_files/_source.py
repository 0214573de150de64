"""Resolve a SOURCE string to a validated :class:`~flux2prompt.Prompt`.

A SOURCE is one of:

- a prompt file: a ``.json`` prompt document, or a prompt file with metadata
  (``hero.prompt.toml``, ``hero.prompt.json``), read with ``flux2prompt.load(Path(...))``;
- ``path/to/file.py:NAME``, where ``NAME`` in that file is a :class:`~flux2prompt.PromptBuilder`,
  a :class:`~flux2prompt.Prompt`, or a function of no arguments returning one of them;
- ``-``: a JSON prompt document read from standard input (UTF-8, a BOM is tolerated); its
  errors name ``<stdin>``.

Every problem in reaching the prompt raises :class:`~flux2prompt.SourceError` naming the file
(and the line, when there is one): a missing file, a syntax error, an exception while importing,
an unknown ``NAME`` (with a did-you-mean), a ``NAME`` of the wrong type. Problems in the prompt
itself raise :class:`~flux2prompt.PromptError` or :class:`~flux2prompt.PromptValidationError`.
The Python files are imported by :mod:`flux2prompt._files._pysource`. The command line reads every
SOURCE argument through :func:`resolve_source`, or through :func:`load_source` when a prompt
file's model and parameters matter (``generate``).

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

import inspect
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import IO, TYPE_CHECKING, TypeGuard

from flux2prompt._builder import PromptBuilder
from flux2prompt._document import (
    MAX_DOCUMENT_BYTES,
    check_size,
    parse_json,
    prompt_from_document,
)
from flux2prompt._errors import SourceError
from flux2prompt._files._load import load
from flux2prompt._files._parse import PROMPT_FILE_SUFFIXES, not_utf8
from flux2prompt._files._prompt_file import PromptFile, read_prompt
from flux2prompt._files._pysource import (
    attribute,
    import_python_file,
    lookup,
    public_names,
    reraise,
)
from flux2prompt._model import Prompt
from flux2prompt._placeholders import misspelling_hint
from flux2prompt._schema import Profile
from flux2prompt._user_code import user_code

if TYPE_CHECKING:  # the layout loads only for --target flux3
    from flux2prompt._layout import Flux3Prompt
    from flux2prompt._templates import Template

__all__ = [
    "EMPTY_SOURCE",
    "STDIN",
    "STDIN_LABEL",
    "LoadedSource",
    "load_source",
    "resolve_flux3",
    "resolve_source",
    "source_label",
    "split_source",
    "template_needs",
]

#: The SOURCE that means standard input, and the name its messages give it.
STDIN = "-"
STDIN_LABEL = "<stdin>"


def source_label(source: str) -> str:
    """The name messages give ``source``: ``<stdin>`` for ``-``, else the SOURCE itself.

    >>> source_label("-"), source_label("hero.json")
    ('<stdin>', 'hero.json')
    """
    return STDIN_LABEL if source == STDIN else source


#: What a SOURCE that is empty or blank (an unset shell variable) is told.
EMPTY_SOURCE = "empty SOURCE; give a prompt file, path/to/file.py:NAME or -"


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


def resolve_source(
    source: str, *, profile: Profile = "flux2", stdin: IO[str] | IO[bytes] | None = None
) -> Prompt:
    """Return the prompt that ``source`` names, validated under ``profile``.

    For ``source == "-"`` the prompt document is read from ``stdin`` (by default
    :data:`sys.stdin`, looked up at the call so that a swapped stream is seen). A text stream's
    underlying bytes are read when it has them, so the locale's encoding never matters.

    >>> import io
    >>> resolve_source("-", stdin=io.BytesIO('\\ufeff{"scene": "東京"}'.encode())).scene
    '東京'

    Raises :class:`~flux2prompt.SourceError` when the source cannot be read, and
    :class:`~flux2prompt.PromptError` (or its subclass ``PromptValidationError``) when it can but
    the prompt is not valid.
    """
    if not source.strip():
        raise SourceError(EMPTY_SOURCE)
    if source == STDIN:
        return prompt_from_document(_read_stdin(stdin), profile=profile)
    path, name = split_source(source)
    if name is None and path.suffix != ".py":
        loaded = read_prompt(path, profile=profile)
        return _filled(loaded, source).prompt if isinstance(loaded, PromptFile) else loaded
    module = import_python_file(path)
    if not name:
        found = _prompt_names(module)
        hint = f"; for example {path}:{found[0]}" if found else ""
        raise SourceError(
            f"a Python source needs a name: {path}:NAME, where NAME is a prompt builder, a Prompt "
            f"or a function of no arguments returning one{hint}",
            source=str(path),
        )
    return load(_value_of(module, name, path), profile=profile)


def resolve_flux3(source: str) -> Flux3Prompt:
    """The FLUX 3 prompt (caption and element table) of the builder ``source`` names.

    Only ``path/to/file.py:NAME`` can hold a layout (a builder with ``.caption()`` and
    ``.element()``); any other SOURCE, or a NAME that is a compiled ``Prompt``, is a
    :class:`~flux2prompt.SourceError` saying so. The builder's own checks (citations both ways,
    boxes) raise :class:`~flux2prompt.PromptError`.

    >>> resolve_flux3("hero.json")
    Traceback (most recent call last):
    ...
    flux2prompt.SourceError: hero.json: the flux3 target needs path/to/file.py:NAME, a builder with a layout (.caption() and .element()); a prompt file or standard input holds no boxes
    """  # noqa: E501
    path, name = split_source(source)
    if source == STDIN or name is None or path.suffix != ".py":
        raise SourceError(
            "the flux3 target needs path/to/file.py:NAME, a builder with a layout (.caption() "
            "and .element()); a prompt file or standard input holds no boxes",
            source=source_label(source),
        )
    value = _value_of(import_python_file(path), name, path) if name else None
    if not isinstance(value, PromptBuilder):
        raise SourceError(
            f"{name} is a compiled Prompt, which keeps no boxes; name the builder instead "
            "(drop .compile())",
            source=f"{path}:{name}",
        )
    return value.compile_flux3()


@dataclass(frozen=True, slots=True)
class LoadedSource:
    """The prompt a SOURCE names, with the model and parameters a prompt file sets.

    ``model`` is ``None`` and ``parameters`` empty unless the SOURCE is a prompt file that sets
    them; they are defaults, for ``build_request(loaded.prompt, model=..., **parameters)``.

    >>> from flux2prompt import scene
    >>> LoadedSource(scene("fog").compile()).model is None
    True
    """

    prompt: Prompt
    model: str | None = None
    parameters: Mapping[str, int | float] = field(default_factory=lambda: MappingProxyType({}))


def load_source(
    source: str, *, profile: Profile = "flux2", stdin: IO[str] | IO[bytes] | None = None
) -> LoadedSource:
    """Like :func:`resolve_source`, and keep what a prompt file says besides its prompt.

    For a prompt file (``hero.prompt.toml``) the result carries the file's ``model`` and
    ``parameters`` (width, height, steps, guidance, seed) as well as its prompt; for every other
    SOURCE (a plain ``.json`` document, ``file.py:NAME``, ``-`` for standard input) they are
    ``None`` and empty. Errors are :func:`resolve_source`'s.

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "hero.prompt.toml"
    >>> _ = path.write_text('name = "hero"\\nmodel = "klein-4b"\\n[parameters]\\nseed = 7\\n'
    ...                     '[prompt]\\nscene = "a harbour at dawn"\\n', encoding="utf-8")
    >>> loaded = load_source(str(path))
    >>> loaded.prompt.scene, loaded.model, dict(loaded.parameters)
    ('a harbour at dawn', 'klein-4b', {'seed': 7})
    """
    path, name = split_source(source)
    if source != STDIN and name is None and path.suffix.lower() in PROMPT_FILE_SUFFIXES:
        loaded = read_prompt(path, profile=profile)
        if isinstance(loaded, PromptFile):
            _filled(loaded, source)
            return LoadedSource(loaded.prompt, loaded.model, loaded.parameters)
        return LoadedSource(loaded)
    return LoadedSource(resolve_source(source, profile=profile, stdin=stdin))


def template_needs(
    loaded: PromptFile,
    source: str,
    *,
    where: str,
    names: Iterable[str] = (),
    given: Iterable[str] = (),
) -> SourceError:
    """The error for a prompt-file template given as a SOURCE without its variables, in the
    command line's words (``--var``, for ``names``: by default every placeholder), as for a
    ``file.py:NAME`` template. (Internal.)

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "mug.prompt.toml"
    >>> _ = path.write_text('name = "mug"\\n[prompt]\\nscene = "a ${color} mug"\\n')
    >>> print(str(template_needs(read_prompt(path), "mug.prompt.toml", where="validate")))
    mug.prompt.toml: is a template with placeholders ${color}; give its variables (--var color=...), or validate a job that expands it
    """  # noqa: E501
    shown = ", ".join(f"${{{name}}}" for name in sorted(loaded.placeholders))
    needed = sorted(names or loaded.placeholders)
    hint = " ".join(f"--var {name}=..." for name in needed)
    if where == "validate":
        fix = f"give its variables ({hint}), or validate a job that expands it"
    else:
        fix = f"expand it with a job file, or check it with validate {hint}"
    offered = [key for key in given if key not in loaded.placeholders]
    return SourceError(
        f"is a template with placeholders {shown}; {fix}{misspelling_hint(needed, offered)}",
        source=source,
    )


def _filled(loaded: PromptFile, source: str) -> PromptFile:
    if loaded.is_template:
        raise template_needs(loaded, source, where="prompt")
    return loaded


def _read_stdin(stream: IO[str] | IO[bytes] | None) -> object:
    """Parse the JSON prompt document on ``stream`` (standard input by default)."""
    if stream is None:
        stream = sys.stdin
    if stream is None:  # pythonw, or a process started with its standard input closed
        raise SourceError("there is no standard input to read", source=STDIN_LABEL)
    # The bytes under a text stream: the locale's encoding (ASCII under LC_ALL=C) must not matter.
    binary = getattr(stream, "buffer", None)
    try:
        # Read no further than a document may be: `cat /dev/zero | ...` ends at once.
        data = (binary if binary is not None else stream).read(MAX_DOCUMENT_BYTES + 1)
        check_size(len(data), STDIN_LABEL)
    except (OSError, ValueError) as exc:  # ValueError: a closed stream
        raise SourceError(f"cannot read standard input: {exc}", source=STDIN_LABEL) from None
    if isinstance(data, bytes):
        found = not_utf8(data)
        if found is not None:
            at, line, column, what = found
            raise SourceError(
                f"not UTF-8 text (byte {at}): {what} at line {line}, column {column}; pipe UTF-8 "
                "text into it (convert it with iconv -f ENCODING -t UTF-8)",
                source=STDIN_LABEL,
            )
        data = data.decode("utf-8-sig")
    text = data.removeprefix("\ufeff")
    if not text.strip():
        raise SourceError(
            "standard input is empty; pipe a JSON prompt document into it", source=STDIN_LABEL
        )
    return parse_json(text, source=STDIN_LABEL)


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


def _prompt_names(module: ModuleType) -> list[str]:
    """Names in ``module`` that could be a SOURCE's NAME: builders, prompts and functions of no
    arguments defined in the module itself."""
    found = []
    path = Path(module.__file__ or module.__name__)
    for name in public_names(module):
        value = attribute(module, name, path, None)
        if _is_prompt_like(value) or (
            _callable_without_arguments(value)
            and getattr(value, "__module__", None) == module.__name__
        ):
            found.append(name)
    return found


def _no_name_hint(module: ModuleType) -> str:
    candidates = _prompt_names(module)
    if candidates:
        return f"; prompts here: {', '.join(candidates)}"
    return "; it defines no prompt builder, Prompt or function of no arguments"


def _value_of(module: ModuleType, name: str, path: Path) -> PromptBuilder | Prompt:
    label = f"{path}:{name}"
    value = lookup(module, name, path, otherwise=lambda: _no_name_hint(module))
    if _is_prompt_like(value):
        return value
    if callable(value) and (inspect.isfunction(value) or inspect.ismethod(value)):
        if not _callable_without_arguments(value):
            raise SourceError(
                f"{name!r} takes arguments; a SOURCE names a function of no arguments",
                source=label,
            )
        try:
            with user_code(descriptors=True):
                result = value()
        except BaseException as exc:
            reraise(exc, path, f"calling {name}()")
        if _is_prompt_like(result):
            return result
        if inspect.iscoroutine(result):
            result.close()  # never awaited, and never warned about on stderr
        raise SourceError(
            f"{name}() returned {_kind(result)}, not a prompt builder or Prompt", source=label
        )
    if _is_template(value):
        hint = " ".join(f"--var {variable}=..." for variable in value.required)
        check = f"validate {path}:{name} {hint}".rstrip()
        raise SourceError(
            f"{name!r} is a template of variables ({', '.join(value.variables) or 'none'}), not "
            f"a prompt; expand it with a job file, or check it with {check}",
            source=label,
        )
    raise SourceError(
        f"{name!r} is {_kind(value)}; a SOURCE names a prompt builder, a Prompt or a function of "
        "no arguments returning one",
        source=label,
    )


def _is_template(value: object) -> TypeGuard[Template]:
    # Only a module that made a template has loaded the templates: compile does not load them.
    templates = sys.modules.get("flux2prompt._templates")
    return templates is not None and isinstance(value, templates.Template)


def _kind(value: object) -> str:
    if value is None:
        return "None"
    if inspect.isclass(value):
        return f"the class {value.__name__}"
    if inspect.ismodule(value):
        return "a module"
    kind = type(value).__name__
    return f"{'an' if kind[0].lower() in 'aeiou' else 'a'} {kind}"
