"""Output file names: a pattern over an item's variables, sanitised, and free of collisions.

A pattern such as ``"{product}/{color}-{language}.{ext}"`` names each file. Literal text may
hold ``/`` to make folders; values never can. Every value is cleaned before it is placed:
letters, marks and digits of any script are kept with ``- _ . + = @ ,``; anything else (path
separators, spaces, ``#``, control characters) becomes ``-``; leading and trailing dots and
dashes are stripped, so no value can be ``..`` or a hidden file; a value is cut to 60
characters. A name that is already taken (compared case-insensitively, as macOS and Windows
do) gets ``-`` and the first 10 hex digits of the request fingerprint before its extension.

Fields: the item's variables, plus ``index`` (0-based position in the batch), ``seed``,
``fingerprint`` (the first 12 hex digits of the request fingerprint), ``job`` (the job's name)
and ``ext`` (``jpg``, ``png`` or ``webp``, known once the image arrives). A pattern without
``{ext}`` gets ``.{ext}`` appended.

Example:
    >>> pattern = OutputPattern("{product}-{color}.{ext}")
    >>> name = pattern.render({"product": "mug", "color": "#1A1A1A / matte"}, seed=1,
    ...                       index=0, fingerprint="sha256:" + "ab" * 32)
    >>> with_extension(name, "jpg")
    'mug-1A1A1A-matte.jpg'
"""

from __future__ import annotations

import difflib
import hashlib
import re
import string
import unicodedata
from collections.abc import Callable, Collection, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from flux2prompt._errors import PromptError

__all__ = [
    "BUILTIN_FIELDS",
    "MAX_FORMAT_WIDTH",
    "RESERVED_NAMES",
    "NameRegistry",
    "OutputPattern",
    "inside",
    "name_digest",
    "sanitize_value",
    "with_extension",
]

#: Fields every pattern may use besides the variables.
BUILTIN_FIELDS: tuple[str, ...] = ("index", "seed", "fingerprint", "job", "ext")
#: What each built-in field holds, as the error for a variable of the same name says it
#: (``{ext}`` is always the image's own extension: a variable ``ext`` never reaches a name).
_BUILTIN_MEANING: dict[str, str] = {
    "index": "the item's position in the batch",
    "seed": "the seed the request is sent with",
    "fingerprint": "the request fingerprint",
    "job": "the job's name",
}
#: Names at the top of the output folder that belong to the batch itself.
RESERVED_NAMES: frozenset[str] = frozenset(
    {"index.html", "manifest.jsonl", "thumbnails", "superseded", "unreadable", "batch.lock"}
)
_LONGEST_RESERVED = max(len(name) for name in RESERVED_NAMES)
#: The widest field a format spec may ask for (``{index:>300}`` is refused: names are cut to
#: 200 bytes anyway, and a width of 10**11 would fill memory before that).
MAX_FORMAT_WIDTH = 200

# Stands for the extension until the image's format is known; no cleaned value contains NUL.
_EXT = "\x00ext\x00"
_MAX_VALUE = 60
_MAX_COMPONENT_BYTES = 200
_KEEP = frozenset("-_.+=@,")
_DASHES = re.compile(r"-{2,}")
_SANITIZED: dict[str, str] = {}
_SANITIZED_MAX = 4096
# Built-in fields whose type is known before any item: a bad format spec is refused at once.
_SAMPLE_VALUES: dict[str, Any] = {"index": 0, "fingerprint": "0" * 12, "job": "job"}
_WINDOWS_DEVICES = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{p}{n}" for p in ("COM", "LPT") for n in range(10)}
)
# Every run of digits in a format spec: its width and its precision (and nothing else holds
# digits: fill characters are not digits in a checked spec, see _check_spec).
_SPEC_NUMBERS = re.compile(r"\d+")


def sanitize_value(value: Any) -> str:
    """Clean one value for use inside a file name (see the module docstring for the rules).

    Example:
        >>> sanitize_value("../../etc/passwd"), sanitize_value("東京 タワー"), sanitize_value("..")
        ('etc-passwd', '東京-タワー', '_')
    """
    raw = str(value)
    cached = _SANITIZED.get(raw)
    if cached is not None:
        return cached
    text = unicodedata.normalize("NFC", raw)
    kept = "".join(
        ch if ch in _KEEP or unicodedata.category(ch)[0] in "LNM" else "-" for ch in text
    )
    kept = _DASHES.sub("-", kept).strip("-.")[:_MAX_VALUE].strip("-.") or "_"
    # Values repeat from item to item (a matrix's axes): each is cleaned once.
    if len(_SANITIZED) >= _SANITIZED_MAX:
        _SANITIZED.clear()
    if len(raw) <= 256:
        _SANITIZED[raw] = kept
    return kept


def inside(folder: Path, relative: object) -> Path | None:
    """``folder / relative`` when ``relative`` is a relative path that stays inside ``folder``
    (as a manifest's ``file`` must), else ``None``.

    Example:
        >>> inside(Path("out"), "a/b.jpg"), inside(Path("out"), "../b.jpg")
        (PosixPath('out/a/b.jpg'), None)
    """
    if not isinstance(relative, str) or not relative or "\\" in relative:
        return None
    path = PurePosixPath(relative)
    if path.is_absolute() or any(part in ("..", ".", "") for part in relative.split("/")):
        return None
    return folder.joinpath(*path.parts)


def with_extension(name: str, ext: str) -> str:
    """Put the real extension into a rendered name.

    Example:
        >>> with_extension(OutputPattern("{a}").render({"a": "x"}), "png")
        'x.png'
    """
    return name.replace(_EXT, ext)


class OutputPattern:
    """A checked output naming pattern; :meth:`render` gives a safe relative path.

    Only plain field names are allowed (``{color}``, ``{index:04d}``), never attribute or index
    access, and the literal text must not climb out of the output folder. A format spec of a
    built-in field other than ``seed`` is checked at once. ``origin`` (``"job.toml:4"``) says
    where the pattern was written; every error names it.

    Example:
        >>> OutputPattern("{index:03d}-{color}").fields
        ('index', 'color', 'ext')
        >>> OutputPattern("../{color}.{ext}")
        Traceback (most recent call last):
        ...
        flux2prompt.PromptError: output pattern '../{color}.{ext}': '..' would leave the output folder
    """  # noqa: E501

    def __init__(self, pattern: str, *, origin: str | None = None) -> None:
        self.origin = origin
        if not isinstance(pattern, str) or not pattern.strip():
            where = f"{origin}: " if origin else ""
            raise PromptError(
                f"{where}output pattern: must be a non-empty string such as '{{name}}.{{ext}}'"
            )
        self.pattern = pattern
        if "{ext}" not in pattern:
            pattern += ".{ext}"
        self._parts: list[tuple[str, str | None, str]] = []
        fields: list[str] = []
        try:
            list(string.Formatter().parse(self.pattern))  # syntax errors, as the user wrote it
            parsed = list(string.Formatter().parse(pattern))
        except ValueError as exc:
            raise self._error(f"{exc}; write {{{{ and }}}} for literal braces") from None
        for literal, name, spec, conversion in parsed:
            self._check_literal(literal)
            if name is None:
                self._parts.append((literal, None, ""))
                continue
            if not name.isidentifier():
                raise self._error(f"field {{{name}}} must be a plain name such as {{color}}")
            if conversion is not None:
                raise self._error(f"field {{{name}!{conversion}}}: conversions are not allowed")
            if spec and "{" in spec:
                raise self._error(f"field {{{name}:{spec}}}: nested fields are not allowed")
            if name == "ext" and spec:
                raise self._error("field {ext} takes no format spec")
            if spec:
                self._check_spec(name, spec)
            if spec and name in _SAMPLE_VALUES:
                self._format(name, spec, _SAMPLE_VALUES[name])
            self._parts.append((literal, name, spec or ""))
            fields.append(name)
        self.fields: tuple[str, ...] = tuple(dict.fromkeys(fields))
        self._render_check()
        # What render walks: each field but {ext} with the literal text before it (the stand-in
        # for the extension is literal text here), then the text after the last one.
        steps: list[tuple[str, str, str]] = []
        literal = ""
        for text, name, spec in self._parts:
            literal += text
            if name == "ext":
                literal += _EXT
            elif name is not None:
                steps.append((literal, name, spec))
                literal = ""
        self._steps = tuple(steps)
        self._tail = literal

    def _error(self, message: str) -> PromptError:
        where = f"{self.origin}: " if self.origin else ""
        return PromptError(f"{where}output pattern {self.pattern!r}: {message}")

    def _check_spec(self, name: str, spec: str) -> None:
        for number in _SPEC_NUMBERS.findall(spec):
            if len(number) > 3 or int(number) > MAX_FORMAT_WIDTH:
                raise self._error(
                    f"{{{name}:{spec}}}: a width or precision of {number[:12]} is more than "
                    f"{MAX_FORMAT_WIDTH} (names are cut to {_MAX_COMPONENT_BYTES} bytes)"
                )

    def _format(self, name: str, spec: str, value: Any) -> str:
        try:
            return format(value, spec)
        except (TypeError, ValueError) as exc:
            raise self._error(f"{{{name}:{spec}}} does not fit {value!r}: {exc}") from None

    def check_fields(self, available: Collection[str], *, origin: str | None = None) -> None:
        """Refuse a field that is neither in ``available`` (the variables) nor built in, and a
        built-in field (``{seed}``, ``{index}``, ``{fingerprint}``, ``{job}``) that a variable
        shares its name with (:meth:`shadowed`; ``origin`` says where the variables come from).

        Example:
            >>> OutputPattern("{colour}.{ext}", origin="job.toml:3").check_fields(["color"])
            Traceback (most recent call last):
            ...
            flux2prompt.PromptError: job.toml:3: output pattern '{colour}.{ext}': unknown field {colour}; did you mean {color}?
        """  # noqa: E501
        for name in self.fields:
            if name in _BUILTIN_MEANING and name in available:
                raise self.shadowed(name, origin)
        known = set(available) | set(BUILTIN_FIELDS)
        for name in self.fields:
            if name not in known:
                close = difflib.get_close_matches(name, sorted(known), n=1)
                hint = f"; did you mean {{{close[0]}}}?" if close else ""
                raise self._error(f"unknown field {{{name}}}{hint}")

    def check_extension(self) -> None:
        """Refuse a pattern whose name does not end with the image's extension (``.{ext}``):
        every image would be refused when saved, after it was paid for.

        Example:
            >>> OutputPattern("{ext}/{color}").check_extension()
            Traceback (most recent call last):
            ...
            flux2prompt.PromptError: output pattern '{ext}/{color}': a name must end with '.{ext}', the image's own extension (such as '{color}.{ext}'); or leave {ext} out, and '.{ext}' is added
        """  # noqa: E501
        literal, name, _ = self._parts[-1]
        if name == "ext" and literal.endswith(".") and not literal.endswith("/."):
            return
        example = "-".join(f"{{{field}}}" for field in self.fields if field != "ext") or "{index}"
        raise self._error(
            f"a name must end with '.{{ext}}', the image's own extension (such as "
            f"'{example}.{{ext}}'); or leave {{ext}} out, and '.{{ext}}' is added"
        )

    def shadowed(self, name: str, origin: str | None = None) -> PromptError:
        """The error for a variable named like the built-in field ``{name}`` that the pattern
        uses: the name would say the variable's value while the manifest records the runner's
        own (a dataset column ``seed`` naming files after a seed they were not made with).

        Example:
            >>> print(OutputPattern("{seed}.{ext}").shadowed("seed", "rows.csv:2"))
            output pattern '{seed}.{ext}': {seed} is the seed the request is sent with, and a variable is named 'seed' too (rows.csv:2): rename that column or variable (say 'seed_label', then write {seed_label} where the pattern means it)
        """  # noqa: E501
        where = f" ({origin})" if origin else ""
        return self._error(
            f"{{{name}}} is {_BUILTIN_MEANING[name]}, and a variable is named {name!r} too"
            f"{where}: rename that column or variable (say '{name}_label', then write "
            f"{{{name}_label}} where the pattern means it)"
        )

    def _check_literal(self, literal: str) -> None:
        if any(unicodedata.category(ch) == "Cc" for ch in literal):
            raise self._error("control characters are not allowed")
        if "\\" in literal:
            raise self._error("use '/' to make folders, not '\\'")
        if ":" in literal:
            raise self._error("':' is not allowed in file names")

    def _render_check(self) -> None:
        text = "".join(literal + ("x" if name else "") for literal, name, _ in self._parts)
        if text.startswith("/"):
            raise self._error("an absolute path would leave the output folder")
        for component in text.split("/"):
            if component in ("..", "."):
                raise self._error(f"{component!r} would leave the output folder")
            if not component:
                raise self._error("empty folder name ('//' or a trailing '/')")
            if component.startswith("."):
                raise self._error(f"{component!r}: names starting with '.' are reserved")

    def __repr__(self) -> str:
        return f"OutputPattern({self.pattern!r})"

    def render(
        self,
        variables: Mapping[str, Any],
        *,
        index: int = 0,
        seed: int | None = None,
        fingerprint: str = "",
        job: str = "",
    ) -> str:
        """A relative POSIX path for one item, with a stand-in for the extension
        (see :func:`with_extension`).

        Raises :class:`~flux2prompt.PromptError` for a field that is neither a variable nor
        built in, or a value that does not fit its format spec.
        """
        return self.renderer(job=job)(variables, index, seed, fingerprint)

    def renderer(
        self, *, job: str = ""
    ) -> Callable[[Mapping[str, Any], int, int | None, str], str]:
        """:meth:`render` for the items of one job, as a function of ``(variables, index,
        seed, fingerprint)``: what a batch's plan calls for every item.

        Example:
            >>> render = OutputPattern("{job}/{color}-{index:03d}.{ext}").renderer(job="mugs")
            >>> with_extension(render({"color": "teal"}, 7, None, ""), "png")
            'mugs/teal-007.png'
        """
        steps, tail, cleaned = self._steps, self._tail, _SANITIZED
        # The built-in fields the pattern uses: a row with a variable of the same name is
        # refused (the name would say the variable, the manifest the runner's own value).
        builtin_steps = tuple(name for _, name, _ in steps if name in _BUILTIN_MEANING)
        # Every field written without a spec (the usual pattern): a row whose fields are all
        # variables holding text or integers is written by the first loop below, the rest by
        # the second; both write what format() and sanitize_value write.
        plain = all(not spec for _, _, spec in steps)

        def render(
            variables: Mapping[str, Any], index: int, seed: int | None, fingerprint: str
        ) -> str:
            for name in builtin_steps:
                if name in variables:
                    raise self.shadowed(name)
            if plain:
                parts: list[str] = []
                for literal, name, _ in steps:
                    try:
                        value = variables[name]
                    except KeyError:
                        break
                    kind = value.__class__
                    if kind is str:
                        text = value
                    elif kind is int:
                        text = int.__repr__(value)  # format(value, "") of an int
                    else:
                        break
                    # Values repeat from item to item (a matrix's axes): most are cleaned
                    # already (a cleaned value is never empty).
                    parts += (literal, cleaned.get(text) or sanitize_value(text))
                else:
                    parts.append(tail)
                    return _finish("".join(parts), fingerprint)
            builtins: dict[str, Any] | None = None  # made when a field is not a variable
            out: list[str] = []
            for literal, name, spec in steps:
                out.append(literal)
                if name in BUILTIN_FIELDS:
                    if builtins is None:
                        builtins = {
                            "index": index,
                            "seed": "noseed" if seed is None else seed,
                            "fingerprint": fingerprint.partition(":")[2][:12],
                            "job": job,
                        }
                    value = builtins[name]
                elif name in variables:
                    value = variables[name]
                else:
                    known = ", ".join([*variables, *BUILTIN_FIELDS])
                    raise self._error(f"unknown field {{{name}}}; the fields are: {known}")
                if spec or not isinstance(value, str):
                    text = self._format(name, spec, value)
                else:
                    text = value
                out.append(sanitize_value(text))
            out.append(tail)
            return _finish("".join(out), fingerprint)

        return render


def _finish(path: str, fingerprint: str) -> str:
    """``path`` as a safe name: no Windows device name, no component over 200 bytes, not one
    of the batch's own names at the top (:func:`_finish_components`)."""
    if "/" not in path and path.isascii():
        # One ASCII component, the usual name: settled at once when no rule applies (not a
        # device name, not too long, not one of the batch's own names).
        stem = path.partition(".")[0]
        if (
            (len(stem) > 8 or stem.rstrip(" ").upper() not in _WINDOWS_DEVICES)
            and len(path) <= _MAX_COMPONENT_BYTES
            and (len(path) > _LONGEST_RESERVED or path.casefold() not in RESERVED_NAMES)
        ):
            return path
    return _finish_components(path, fingerprint)


def _finish_components(path: str, fingerprint: str) -> str:
    components = path.split("/")
    for position, component in enumerate(components):
        # Windows reads COM¹ as COM1, and ignores trailing spaces and dots: compare the
        # compatibility form (NFKC), in upper case, of the part before the first dot.
        stem = component.split(".", 1)[0]
        if not stem.isascii():
            stem = unicodedata.normalize("NFKC", component).split(".", 1)[0]
        if len(stem) <= 8 and stem.rstrip(" ").upper() in _WINDOWS_DEVICES:
            component = "_" + component
        # An ASCII name has as many bytes as characters (the usual case, nothing encoded).
        size = len(component) if component.isascii() else len(component.encode("utf-8"))
        if size > _MAX_COMPONENT_BYTES:
            tail = f"-{fingerprint.partition(':')[2][:10]}" + (
                f".{_EXT}" if component.endswith(f".{_EXT}") else ""
            )
            head = component.removesuffix(f".{_EXT}")
            while len((head + tail).encode("utf-8")) > _MAX_COMPONENT_BYTES:
                head = head[:-1]
            component = head + tail
        components[position] = component
    if components[0].casefold() in RESERVED_NAMES:
        components[0] = "_" + components[0]
    return "/".join(components)


class NameRegistry:
    """Hands out unique names in the order asked: the first keeps its name, a later item with a
    taken name (case-insensitively) gets its fingerprint appended.

    Example:
        >>> names = NameRegistry()
        >>> first = names.claim("mug.\\x00ext\\x00", "sha256:" + "1" * 64)
        >>> second = names.claim("MUG.\\x00ext\\x00", "sha256:" + "2" * 64)
        >>> with_extension(first, "jpg"), with_extension(second, "jpg")
        ('mug.jpg', 'MUG-2222222222.jpg')
    """

    def __init__(self) -> None:
        # 128-bit digests of the names taken (see name_digest), not the names themselves.
        self._taken: set[int] = set()

    def __len__(self) -> int:
        return len(self._taken)

    def claim(self, name: str, fingerprint: str, *, digest_of_name: int | None = None) -> str:
        """Reserve ``name`` or, if taken, a variant of it settled by ``fingerprint``
        (``digest_of_name``: ``name_digest(name)``, when the caller has it already)."""
        key = digest_of_name if digest_of_name is not None else name_digest(name)
        if key not in self._taken:
            self._taken.add(key)
            return name
        digest = fingerprint.partition(":")[2] or fingerprint
        for candidate in (_suffixed(name, digest[:10]), _suffixed(name, digest)):
            key = name_digest(candidate)
            if key not in self._taken:
                self._taken.add(key)
                return candidate
        raise PromptError(f"output name {with_extension(name, 'ext')!r} is taken three times")


def name_digest(name: str) -> int:
    """A 128-bit digest of ``name`` as compared for collisions (NFC, case-folded), as an int.

    Example:
        >>> name_digest("Mug.jpg") == name_digest("mug.JPG"), name_digest("a") == name_digest("b")
        (True, False)
    """
    # NFC leaves ASCII text as it is.
    folded = (name if name.isascii() else unicodedata.normalize("NFC", name)).casefold()
    return int.from_bytes(
        hashlib.blake2b(folded.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    )


def _suffixed(name: str, suffix: str) -> str:
    ending = f".{_EXT}"
    if name.endswith(ending):
        return f"{name.removesuffix(ending)}-{suffix}{ending}"
    return f"{name}-{suffix}"
