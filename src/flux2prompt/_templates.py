"""Templates and the sources of their variables: many prompts from one definition, lazily.

A template is a function of named variables that returns a builder (or a prompt); the
:func:`template` decorator records the variables from its signature. A prompt document with
``${name}`` placeholders is a template too (:meth:`Template.from_document`). Variables come from
a :func:`matrix` (cartesian product), :func:`zipped` lists, a :func:`dataset` (CSV or JSON
Lines, one row per asset) or a reproducible random :func:`sample`; :func:`draw` adds axes drawn at
random per item to any of them (mixed axes); :class:`Seeds` gives each item its seeds.
:func:`expand` joins them into a stream of :class:`Variant` objects. Everything is a generator
from end to end: a million combinations stream in constant memory.

Example:
    >>> from flux2prompt import scene, text
    >>> @template
    ... def poster(city: str, language: str = "en"):
    ...     return scene(f"a travel poster of {city}").text(city.upper(), language=language)
    >>> poster.variables
    ('city', 'language')
    >>> items = expand(poster, matrix(city=["Lisbon", "Kyoto"], language=["en", "ja"]))
    >>> [(v.index, v.variables["city"], v.variables["language"]) for v in items]
    [(0, 'Lisbon', 'en'), (1, 'Lisbon', 'ja'), (2, 'Kyoto', 'en'), (3, 'Kyoto', 'ja')]
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import inspect
import itertools
import math
import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeAlias, overload

from flux2prompt._digest import canonical_json
from flux2prompt._document import prompt_from_value
from flux2prompt._errors import Flux2PromptError, PromptError
from flux2prompt._model import Prompt
from flux2prompt._placeholders import misspelling_hint, placeholders, substitute
from flux2prompt._user_code import describe_exception, user_code

if TYPE_CHECKING:
    from flux2prompt._files import PromptFile

__all__ = [
    "Drawn",
    "Matrix",
    "Row",
    "Sample",
    "Seeds",
    "Template",
    "VariableSource",
    "Variant",
    "Zipped",
    "canonical_variables",
    "derive_seed",
    "draw",
    "draw_choice",
    "expand",
    "matrix",
    "sample",
    "template",
    "zipped",
]

#: What a template function may return: a builder, a Prompt, a document or JSON text.
TemplateResult: TypeAlias = Any

_SEED_MASK = 0x7FFF_FFFF


# -- templates -----------------------------------------------------------------------------------


class Template:
    """A named recipe that renders a :class:`~flux2prompt.Prompt` from named variables.

    Make one with the :func:`template` decorator, :meth:`Template.from_document` or
    :meth:`Template.from_prompt_file`.
    ``variables`` lists every variable in order, ``required`` those without a default.

    Example:
        >>> from flux2prompt import scene
        >>> @template(name="mug")
        ... def mug_shot(color: str, finish: str = "matte"):
        ...     return scene(f"a {finish} {color} ceramic mug on seamless paper")
        >>> mug_shot.name, mug_shot.variables, mug_shot.required
        ('mug', ('color', 'finish'), ('color',))
        >>> mug_shot.render(color="teal").scene
        'a matte teal ceramic mug on seamless paper'
    """

    def __init__(
        self,
        name: str,
        variables: Sequence[str],
        render: Callable[[Mapping[str, Any]], TemplateResult],
        *,
        defaults: Mapping[str, Any] | None = None,
        accepts_any: bool = False,
        reports_missing: bool = False,
    ) -> None:
        self.name = name
        self.variables: tuple[str, ...] = tuple(variables)
        self.defaults: Mapping[str, Any] = MappingProxyType(dict(defaults or {}))
        self.required: tuple[str, ...] = tuple(v for v in self.variables if v not in self.defaults)
        self._render = render
        self._extra_ok = accepts_any
        # A document template's renderer names a missing variable with its JSON path.
        self._reports_missing = reports_missing

    @classmethod
    def from_function(
        cls, function: Callable[..., TemplateResult], name: str | None = None
    ) -> Template:
        """Wrap a function of named variables; what :func:`template` does.

        Positional-only and ``*args`` parameters are refused: variables are named.
        A ``**kwargs`` parameter accepts variables beyond the named ones.

        Example:
            >>> from flux2prompt import scene
            >>> Template.from_function(lambda city: scene(city)).variables
            ('city',)
        """
        if not callable(function):
            raise PromptError(f"template(): expected a function, got {type(function).__name__}")
        label = name or str(getattr(function, "__name__", "template"))
        try:
            signature = inspect.signature(function)
        except (ValueError, TypeError):  # a builtin or a class without a Python signature
            raise PromptError(
                f"template(): {label!r} has no signature to read variables from; wrap it in a "
                "function with named parameters"
            ) from None
        variables: list[str] = []
        defaults: dict[str, Any] = {}
        accepts_any = False
        for parameter in signature.parameters.values():
            kind = parameter.kind
            if kind is inspect.Parameter.VAR_KEYWORD:
                accepts_any = True
                continue
            if kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.VAR_POSITIONAL):
                raise PromptError(
                    f"template {label!r}: parameter {parameter.name!r} is positional-only or "
                    "*args; a template's variables must be named parameters"
                )
            variables.append(parameter.name)
            if parameter.default is not inspect.Parameter.empty:
                defaults[parameter.name] = parameter.default

        def render(values: Mapping[str, Any]) -> TemplateResult:
            with user_code():
                return function(**values)

        made = cls(label, variables, render, defaults=defaults, accepts_any=accepts_any)
        made.__doc__ = function.__doc__
        return made

    @classmethod
    def from_document(cls, document: Mapping[str, Any], name: str = "document") -> Template:
        """A template from a prompt document whose string fields hold ``${name}`` placeholders.

        Placeholders follow :class:`string.Template` (``$$`` is a literal ``$``), so JSON braces
        never collide; a missing variable is a :class:`~flux2prompt.PromptError` naming it and
        its JSON path.

        Example:
            >>> doc = {"scene": "a ${color} mug", "color_palette": ["${hex}"]}
            >>> tpl = Template.from_document(doc, name="mug")
            >>> tpl.variables
            ('color', 'hex')
            >>> tpl.render(color="red", hex="#f00").to_json()
            '{"scene":"a red mug","color_palette":["#FF0000"]}'
        """
        if not isinstance(document, Mapping):
            raise PromptError(
                f"Template.from_document(): expected a prompt document (a dict), got "
                f"{type(document).__name__}"
            )
        # A private deep copy: later changes to the caller's dict do not change the template.
        frozen = copy.deepcopy(dict(document))

        def render(values: Mapping[str, Any]) -> TemplateResult:
            return substitute(frozen, values)

        return cls(name, sorted(placeholders(frozen)), render, reports_missing=True)

    @classmethod
    def from_prompt_file(cls, prompt_file: PromptFile) -> Template:
        """A template from a loaded prompt file: its ``${name}`` placeholders are the variables,
        and errors name the file.

        Example:
            >>> import pathlib, tempfile
            >>> from flux2prompt._files import load_prompt_file
            >>> path = pathlib.Path(tempfile.mkdtemp()) / "mug.prompt.toml"
            >>> _ = path.write_text('name = "mug"\\n[prompt]\\nscene = "a ${color} mug"\\n')
            >>> tpl = Template.from_prompt_file(load_prompt_file(path))
            >>> tpl.name, tpl.variables, tpl.render(color="teal").scene
            ('mug', ('color',), 'a teal mug')
        """

        def render(values: Mapping[str, Any]) -> TemplateResult:
            return prompt_file.render(values)

        names = sorted(prompt_file.placeholders)
        return cls(prompt_file.name, names, render, reports_missing=True)

    def __repr__(self) -> str:
        return f"<Template {self.name!r} variables={list(self.variables)}>"

    def __call__(self, **variables: Any) -> Prompt:
        """Same as :meth:`render`."""
        return self.render_mapping(variables)

    def render(self, **variables: Any) -> Prompt:
        """Render the prompt for these variables; unknown or missing ones are errors.

        Example:
            >>> from flux2prompt import scene
            >>> tpl = Template.from_function(lambda color: scene(f"a {color} mug"), name="mug")
            >>> tpl.render(colour="red")
            Traceback (most recent call last):
            ...
            flux2prompt.PromptError: template 'mug': unknown variable 'colour'; did you mean 'color'?
        """  # noqa: E501
        return self.render_mapping(variables)

    def render_mapping(self, variables: Mapping[str, Any], *, ignore_extra: bool = False) -> Prompt:
        """Render from a mapping; with ``ignore_extra``, variables the template does not take are
        left out (a dataset's other columns), instead of being an error.

        Example:
            >>> from flux2prompt import scene
            >>> tpl = Template.from_function(lambda color: scene(f"a {color} mug"), name="mug")
            >>> tpl.render_mapping({"color": "red", "sku": "M-1"}, ignore_extra=True).scene
            'a red mug'
        """
        return prompt_from_value(self.render_result(variables, ignore_extra=ignore_extra))

    def render_result(
        self, variables: Mapping[str, Any], *, ignore_extra: bool = False
    ) -> TemplateResult:
        """What the template returns for ``variables``, not yet compiled: a builder keeps its
        layout, which a FLUX 3 target compiles (:meth:`render_mapping` compiles for FLUX.2).

        Example:
            >>> from flux2prompt import scene
            >>> tpl = Template.from_function(lambda color: scene(f"a {color} mug"), name="mug")
            >>> type(tpl.render_result({"color": "red"})).__name__
            'PromptBuilder'
        """
        values = dict(variables)
        unknown: list[Any] = []
        if not self._extra_ok:
            unknown = [k for k in values if k not in self.variables]
            if unknown and not ignore_extra:
                raise PromptError(self._unknown_message(unknown[0]))
            for key in unknown:
                del values[key]
        missing = [k for k in self.required if k not in values]
        if missing and not self._reports_missing:
            names = ", ".join(repr(k) for k in missing)
            plural = "s" if len(missing) > 1 else ""
            raise PromptError(
                f"template {self.name!r}: missing variable{plural} {names}"
                + misspelling_hint(missing, unknown)
            )
        try:
            result = self._render(values)
        except PromptError as exc:
            # A document template names the missing variable and its path; a column left out
            # above may be that variable misspelt.
            hint = misspelling_hint(missing, unknown) if self._reports_missing else ""
            if hint and type(exc) is PromptError and "missing variable" in str(exc):
                raise PromptError(f"{exc}{hint}") from None
            raise
        if result is None:
            raise PromptError(
                f"template {self.name!r} returned None; return a builder, a Prompt or a document"
            )
        return result

    def _unknown_message(self, name: object) -> str:
        if not isinstance(name, str):
            return (
                f"template {self.name!r}: variable names are strings, got "
                f"{type(name).__name__} {name!r}"
            )
        close = difflib.get_close_matches(name, self.variables, n=1)
        if close:
            hint = f"; did you mean {close[0]!r}?"
        else:
            hint = f"; it takes {', '.join(self.variables) or 'no variables'}"
        return f"template {self.name!r}: unknown variable {name!r}{hint}"


@overload
def template(function: Callable[..., TemplateResult], /) -> Template: ...
@overload
def template(*, name: str | None = None) -> Callable[[Callable[..., TemplateResult]], Template]: ...
def template(
    function: Callable[..., TemplateResult] | None = None, /, *, name: str | None = None
) -> Template | Callable[[Callable[..., TemplateResult]], Template]:
    """Turn a function of named variables into a :class:`Template`.

    Use it bare (``@template``) or with a name (``@template(name="hero")``). The function
    returns a :class:`~flux2prompt.PromptBuilder`, a :class:`~flux2prompt.Prompt` or a document.

    Example:
        >>> from flux2prompt import scene
        >>> @template
        ... def hero(product: str, mood: str = "calm"):
        ...     return scene(f"{product} on a plinth").mood(mood)
        >>> hero.name, hero.required
        ('hero', ('product',))
        >>> hero(product="a brass lamp").to_json()
        '{"scene":"a brass lamp on a plinth","mood":"calm"}'
    """
    if function is not None:
        return Template.from_function(function, name)

    def decorate(inner: Callable[..., TemplateResult]) -> Template:
        return Template.from_function(inner, name)

    return decorate


# -- sources of variables ------------------------------------------------------------------------


class Row(NamedTuple):
    """One set of variables from a source, and where it came from (``products.csv:14``).

    Example:
        >>> next(matrix(color=["teal"]).rows())
        Row(variables={'color': 'teal'}, origin='matrix item 0')
    """

    variables: dict[str, Any]
    origin: str


class VariableSource(ABC):
    """Where the variables of many items come from; iterating gives one ``dict`` per item.

    Sources are re-iterable and lazy: every iteration streams from the start again.
    Write your own by implementing :meth:`rows`.

    Example:
        >>> class Countdown(VariableSource):
        ...     names = ("n",)
        ...     def rows(self):
        ...         for n in (3, 2, 1):
        ...             yield Row({"n": n}, f"countdown {n}")
        >>> list(Countdown()), Countdown().count()
        ([{'n': 3}, {'n': 2}, {'n': 1}], 3)
    """

    #: The variable names every row has, when known without reading anything.
    names: tuple[str, ...] | None = None

    @abstractmethod
    def rows(self) -> Iterator[Row]:
        """Stream the rows with their origins."""

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (row.variables for row in self.rows())

    def count(self) -> int:
        """The number of rows (a dataset is read once to count them).

        Example:
            >>> matrix(a=[1, 2], b="xyz".split()).count()
            2
        """
        return sum(1 for _ in self.rows())


def _axis(name: str, values: Any, where: str) -> tuple[Any, ...]:
    if isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable):
        raise PromptError(
            f"{where}({name}=...): expected a list of values, got {type(values).__name__}; "
            f"write {name}=[{values!r}] for a single value"
        )
    out = tuple(values)
    if not out:
        raise PromptError(f"{where}({name}=...): the list is empty")
    return out


class Matrix(VariableSource):
    """The cartesian product of named axes, in a fixed order: the last axis varies fastest.

    Only the axes are kept; combinations are produced one at a time, and :meth:`item` finds
    the ``i``-th without producing the others.

    Example:
        >>> m = matrix(color=["red", "blue"], size=[1, 2, 3])
        >>> len(m), m.item(4)
        (6, {'color': 'blue', 'size': 2})
    """

    def __init__(self, axes: Mapping[str, Iterable[Any]]) -> None:
        if not axes:
            raise PromptError("matrix(): give at least one axis, e.g. matrix(color=['red'])")
        self.axes: tuple[tuple[str, tuple[Any, ...]], ...] = tuple(
            (name, _axis(name, values, "matrix")) for name, values in axes.items()
        )
        self.names = tuple(name for name, _ in self.axes)

    def __len__(self) -> int:
        return math.prod(len(values) for _, values in self.axes)

    def count(self) -> int:
        return len(self)

    def item(self, index: int) -> dict[str, Any]:
        """The ``index``-th combination (0-based), decoded in mixed radix."""
        if not 0 <= index < len(self):
            raise IndexError(f"matrix index {index} out of range 0..{len(self) - 1}")
        out: dict[str, Any] = {}
        for name, values in reversed(self.axes):
            index, digit = divmod(index, len(values))
            out[name] = values[digit]
        return {name: out[name] for name, _ in self.axes}

    def rows(self) -> Iterator[Row]:
        names = self.names or ()
        for number, combo in enumerate(itertools.product(*(v for _, v in self.axes))):
            yield Row(dict(zip(names, combo, strict=True)), f"matrix item {number}")

    def __repr__(self) -> str:
        return f"matrix({', '.join(f'{n}=<{len(v)}>' for n, v in self.axes)})"


class Zipped(VariableSource):
    """Lists of equal length read in step: item ``i`` takes the ``i``-th value of each.

    Example:
        >>> list(zipped(product=["mug", "vase"], sku=["M-1", "V-7"]))
        [{'product': 'mug', 'sku': 'M-1'}, {'product': 'vase', 'sku': 'V-7'}]
    """

    def __init__(self, lists: Mapping[str, Iterable[Any]]) -> None:
        if not lists:
            raise PromptError("zipped(): give at least one list")
        self.lists = tuple((name, _axis(name, values, "zipped")) for name, values in lists.items())
        lengths = {name: len(values) for name, values in self.lists}
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"{name} has {n}" for name, n in lengths.items())
            raise PromptError(f"zipped(): the lists must have the same length ({shown})")
        self.names = tuple(lengths)

    def __len__(self) -> int:
        return len(self.lists[0][1])

    def count(self) -> int:
        return len(self)

    def rows(self) -> Iterator[Row]:
        names = self.names or ()
        for number, values in enumerate(zip(*(v for _, v in self.lists), strict=True)):
            yield Row(dict(zip(names, values, strict=True)), f"zipped item {number}")


class Sample(VariableSource):
    """``n`` distinct rows drawn at random from a population, reproducibly from ``seed``.

    From a :class:`Matrix` (or a mapping of axes), indices are drawn without building the
    product, so the population may be astronomically large; from any other source, a reservoir
    is kept over one pass. Either way memory grows with ``n``, not the population, and the rows
    come out in population order.

    Example:
        >>> s = sample({"color": ["red", "green", "blue"], "size": [1, 2, 3, 4]}, n=3, seed=7)
        >>> list(s) == list(sample({"color": ["red", "green", "blue"], "size": [1, 2, 3, 4]},
        ...                        n=3, seed=7))
        True
        >>> len(list(s))
        3
    """

    def __init__(
        self, population: Mapping[str, Iterable[Any]] | VariableSource, n: int, seed: int
    ) -> None:
        if isinstance(population, Mapping):
            population = Matrix(population)
        if not isinstance(population, VariableSource):
            raise PromptError(
                f"sample(): draw from axes (a dict of lists) or a source, "
                f"got {type(population).__name__}"
            )
        for label, value in (("n", n), ("seed", seed)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise PromptError(f"sample({label}=...): expected an integer >= 0, got {value!r}")
        if isinstance(population, Matrix) and n > len(population):
            raise PromptError(f"sample(n={n}): the matrix has only {len(population)} combinations")
        self.population = population
        self.n = n
        self.seed = seed
        self.names = population.names

    def __len__(self) -> int:
        if isinstance(self.population, Matrix):
            return self.n
        count = self.population.count()
        if count < self.n:
            raise self._too_few(count)
        return self.n

    def _too_few(self, count: int) -> PromptError:
        # As for a matrix: n distinct rows were asked for, and fewer would pass unnoticed.
        return PromptError(
            f"sample(n={self.n}): {self.population!r} has only {count} row"
            f"{'' if count == 1 else 's'}; lower n, or sample from more rows"
        )

    def count(self) -> int:
        return len(self)

    def rows(self) -> Iterator[Row]:
        rng = random.Random(self.seed)
        population = self.population
        if isinstance(population, Matrix):
            for index in sorted(rng.sample(range(len(population)), self.n)):
                yield Row(population.item(index), f"sample item {index}")
            return
        reservoir: list[tuple[int, Row]] = []
        for position, row in enumerate(population.rows()):
            if position < self.n:
                reservoir.append((position, row))
            else:
                slot = rng.randrange(position + 1)
                if slot < self.n:
                    reservoir[slot] = (position, row)
        if len(reservoir) < self.n:
            raise self._too_few(len(reservoir))
        reservoir.sort(key=lambda entry: entry[0])
        for _, row in reservoir:
            yield row


def draw_choice(seed: int, axis: str, variables: Mapping[str, Any], choices: Sequence[Any]) -> Any:
    """The value of the random ``axis`` for the item whose other variables are ``variables``.

    The index into ``choices`` is the first 8 bytes (big-endian) of
    ``sha256(f"{seed}:{axis}:" + canonical_variables(variables))`` modulo ``len(choices)``: it
    depends only on the seed, the axis name and the item, never on the item's position, the
    shard, the other random axes or the Python version.

    Example:
        >>> draw_choice(7, "angle", {"product": "mug"}, ["front", "top"])
        'top'
        >>> draw_choice(7, "angle", {"product": "mug"}, ["front", "top"]) == draw_choice(
        ...     7, "angle", {"product": "mug"}, ["front", "top"])
        True
    """
    text = f"{seed}:{axis}:{canonical_variables(variables)}"
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
    return choices[int.from_bytes(digest[:8], "big") % len(choices)]


class Drawn(VariableSource):
    """Mixed axes: every row of a ``base`` source, plus axes whose value is drawn at random for
    each item, reproducibly from ``seed`` and the row's own variables (:func:`draw_choice`).

    The base gives the combinations (a matrix, zipped lists, a dataset, a sample); each random
    axis adds one value per row, so the number of items is the base's. An item's draw depends
    only on the seed and its base variables: the same in every order, shard and rerun, and
    adding rows leaves the other rows' draws alone. Repeat a value in a list to weight it.

    Example:
        >>> mixed = draw(matrix(product=["mug", "vase"]), seed=3,
        ...              angle=["front", "three-quarter", "top"])
        >>> mixed.names, len(mixed)
        (('product', 'angle'), 2)
        >>> [row["product"] for row in mixed]
        ['mug', 'vase']
        >>> all(row["angle"] in ("front", "three-quarter", "top") for row in mixed)
        True
    """

    def __init__(
        self,
        base: Mapping[str, Iterable[Any]] | VariableSource,
        seed: int,
        axes: Mapping[str, Iterable[Any]],
    ) -> None:
        if isinstance(base, Mapping):
            base = Matrix(base)
        if not isinstance(base, VariableSource):
            raise PromptError(
                f"draw(): the base is axes (a dict of lists) or a source, got {type(base).__name__}"
            )
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise PromptError(f"draw(seed=...): expected an integer >= 0, got {seed!r}")
        if not axes:
            raise PromptError("draw(): give at least one random axis, e.g. angle=['front', 'top']")
        self.base = base
        self.seed = seed
        self.axes: tuple[tuple[str, tuple[Any, ...]], ...] = tuple(
            (name, _axis(name, values, "draw")) for name, values in axes.items()
        )
        drawn = tuple(name for name, _ in self.axes)
        if base.names is not None:
            both = [name for name in drawn if name in base.names]
            if both:
                raise PromptError(
                    f"draw(): {both[0]!r} is both a variable of the base and a random axis; "
                    "give it in one place"
                )
            self.names = (*base.names, *drawn)

    def __len__(self) -> int:
        return self.base.count()

    def count(self) -> int:
        return self.base.count()

    def choices(self, variables: Mapping[str, Any]) -> dict[str, Any]:
        """The random axes' values for the item whose base variables are ``variables``.

        Example:
            >>> mixed = draw({"product": ["mug"]}, seed=1, finish=["matte", "gloss"])
            >>> next(iter(mixed)) == {"product": "mug", **mixed.choices({"product": "mug"})}
            True
        """
        return {name: draw_choice(self.seed, name, variables, values) for name, values in self.axes}

    def rows(self) -> Iterator[Row]:
        for row in self.base.rows():
            both = [name for name, _ in self.axes if name in row.variables]
            if both:
                raise PromptError(
                    f"{row.origin}: {both[0]!r} is both a column of the row and a random axis; "
                    "give it in one place"
                )
            yield Row({**row.variables, **self.choices(row.variables)}, row.origin)

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}=<{len(v)}>" for n, v in self.axes)
        return f"draw({self.base!r}, seed={self.seed}, {shown})"


def matrix(**axes: Iterable[Any]) -> Matrix:
    """Every combination of the axes' values; the last axis varies fastest.

    Example:
        >>> list(matrix(color=["red", "blue"], language=["en", "ja"]))[:2]
        [{'color': 'red', 'language': 'en'}, {'color': 'red', 'language': 'ja'}]
    """
    return Matrix(axes)


def zipped(**lists: Iterable[Any]) -> Zipped:
    """Equal-length lists read in step.

    Example:
        >>> len(zipped(city=["Oslo", "Lima"], language=["nb", "es"]))
        2
    """
    return Zipped(lists)


def sample(population: Mapping[str, Iterable[Any]] | VariableSource, n: int, seed: int) -> Sample:
    """``n`` distinct combinations of ``population`` (axes or a source), chosen reproducibly.

    Example:
        >>> len(list(sample({"x": range(1000), "y": range(1000)}, n=5, seed=1)))
        5
    """
    return Sample(population, n, seed)


def draw(
    base: Mapping[str, Iterable[Any]] | VariableSource, *, seed: int, **axes: Iterable[Any]
) -> Drawn:
    """Every row of ``base`` (axes or a source) with the ``axes`` drawn at random per item.

    Example:
        >>> mixed = draw(matrix(sku=["M-1", "V-7"]), seed=2024, backdrop=["linen", "slate"])
        >>> [sorted(row) for row in mixed]
        [['backdrop', 'sku'], ['backdrop', 'sku']]
        >>> list(mixed) == list(draw(matrix(sku=["M-1", "V-7"]), seed=2024,
        ...                          backdrop=["linen", "slate"]))
        True
    """
    return Drawn(base, seed, axes)


# -- seeds ---------------------------------------------------------------------------------------


def canonical_variables(variables: Mapping[str, Any]) -> str:
    """The canonical JSON of an item's variables: sorted keys, no spaces, raw UTF-8.

    Example:
        >>> canonical_variables({"b": 1, "a": "東"})
        '{"a":"東","b":1}'
    """
    try:
        return canonical_json(variables)
    except (TypeError, ValueError, RecursionError) as exc:
        raise PromptError(_not_json(variables, exc)) from None


def _not_json(variables: Mapping[str, Any], exc: BaseException) -> str:
    """Which variable has no JSON form, in words (a row's whole repr may be megabytes)."""
    for name, value in variables.items():
        try:
            canonical_json(value).encode("utf-8")
        except UnicodeEncodeError:
            return (
                f"variables are not JSON data: {name!r} holds a lone surrogate (half of a "
                "character, such as a cut-off emoji); write the whole character"
            )
        except ValueError:
            return (
                f"variables are not JSON data: {name!r} holds {value!r}, which JSON has no form "
                "for (no NaN or Infinity); write a number or text"
            )
        except (TypeError, RecursionError):
            return (
                f"variables are not JSON data: {name!r} holds a {type(value).__name__}; give "
                "text, numbers, booleans, null, lists or tables"
            )
    return f"variables are not JSON data ({describe_exception(exc)})"


def derive_seed(base: int, variables: Mapping[str, Any]) -> int:
    """A seed derived from a base seed and an item's variables: stable across runs and machines.

    The first 4 bytes (big-endian) of ``sha256(f"{base}:" + canonical_variables(variables))``,
    masked to 31 bits, so it is in 0..2**31-1 and fits every seed field.

    Example:
        >>> derive_seed(42, {"color": "red"}) == derive_seed(42, {"color": "red"})
        True
        >>> 0 <= derive_seed(42, {"color": "red"}) < 2**31
        True
    """
    if not isinstance(base, int) or isinstance(base, bool) or base < 0:
        # "7" and 7 (or True and 1) would derive the same seeds: the base is a number.
        raise PromptError(f"derive_seed(): the base seed must be an integer >= 0, got {base!r}")
    text = f"{base}:{canonical_variables(variables)}"
    try:
        data = text.encode()
    except UnicodeEncodeError as exc:  # a lone surrogate, which canonical JSON keeps as it is
        raise PromptError(_not_json(variables, exc)) from None
    digest = hashlib.sha256(data).digest()
    return int.from_bytes(digest[:4], "big") & _SEED_MASK


SeedKind: TypeAlias = Literal["none", "fixed", "each", "derived"]


@dataclass(frozen=True, slots=True)
class Seeds:
    """How items get their seeds: none (the service picks), one fixed seed, each of a list (one
    item per seed), or derived from a base seed and the item's variables (:func:`derive_seed`).

    Example:
        >>> Seeds.each([1, 2]).for_variables({"color": "red"})
        (1, 2)
        >>> Seeds.coerce({"derive": 7}) == Seeds.derived(7)
        True
    """

    kind: SeedKind = "none"
    values: tuple[int, ...] = field(default=())

    def __post_init__(self) -> None:
        for value in self.values:
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise PromptError(f"seeds: expected integers >= 0, got {value!r}")
        expected = {"none": 0, "fixed": 1, "derived": 1}.get(self.kind)
        if expected is not None and len(self.values) != expected:
            raise PromptError(f"seeds: kind {self.kind!r} takes {expected} value(s)")
        if self.kind == "each" and not self.values:
            raise PromptError("seeds: the list of seeds is empty")

    @classmethod
    def none(cls) -> Seeds:
        """No seed is sent; the service picks one (not reproducible)."""
        return cls("none")

    @classmethod
    def fixed(cls, seed: int) -> Seeds:
        """The same seed for every item."""
        return cls("fixed", (seed,))

    @classmethod
    def each(cls, seeds: Iterable[int]) -> Seeds:
        """Every item once per seed in the list."""
        return cls("each", tuple(seeds))

    @classmethod
    def derived(cls, base: int) -> Seeds:
        """A seed per item from ``base`` and its variables (:func:`derive_seed`)."""
        return cls("derived", (base,))

    @classmethod
    def coerce(cls, value: Seeds | int | Iterable[int] | Mapping[str, int] | None) -> Seeds:
        """Read ``None``, an int, a list of ints or ``{"derive": base}``.

        Example:
            >>> Seeds.coerce(7), Seeds.coerce([1, 2]).kind
            (Seeds(kind='fixed', values=(7,)), 'each')
        """
        if value is None:
            return cls.none()
        if isinstance(value, Seeds):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return cls.fixed(value)
        if isinstance(value, Mapping):
            if set(value) != {"derive"}:
                raise PromptError(f"seeds: a table takes one key, 'derive', got {dict(value)!r}")
            return cls.derived(value["derive"])
        if isinstance(value, Iterable) and not isinstance(value, str | bytes):
            return cls.each(value)
        raise PromptError(f"seeds: expected an int, a list or {{'derive': base}}, got {value!r}")

    def for_variables(self, variables: Mapping[str, Any]) -> tuple[int | None, ...]:
        """The seeds of one item: one per output."""
        if self.kind == "none":
            return (None,)
        if self.kind == "derived":
            return (derive_seed(self.values[0], variables),)
        return self.values


# -- expansion -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Variant:
    """One expanded item: its position, variables, seed, origin and rendered prompt.

    Example:
        >>> from flux2prompt import scene
        >>> tpl = Template.from_function(lambda color: scene(f"a {color} mug"), name="mug")
        >>> first = next(expand(tpl, matrix(color=["red"]), seeds=Seeds.fixed(3)))
        >>> first.index, first.seed, first.prompt.scene
        (0, 3, 'a red mug')
    """

    index: int
    variables: Mapping[str, Any]
    seed: int | None
    prompt: Prompt
    origin: str = ""


def _row(values: Any, number: int) -> Row:
    if not isinstance(values, Mapping):
        raise PromptError(
            f"item {number}: expected the variables as a dict, got {type(values).__name__}"
        )
    return Row(dict(values), f"item {number}")


def expand(
    template: Template,
    source: VariableSource | Iterable[Mapping[str, Any]],
    *,
    seeds: Seeds | int | Iterable[int] | Mapping[str, int] | None = None,
) -> Iterator[Variant]:
    """Render ``template`` for every row of ``source`` and every seed of the row, lazily.

    Variables the template does not take stay in :attr:`Variant.variables` (for file names)
    but are not passed to it. A row that cannot be rendered raises a
    :class:`~flux2prompt.PromptError` that names its origin (``products.csv:14: ...``).

    Example:
        >>> from flux2prompt import scene
        >>> tpl = Template.from_function(lambda color: scene(f"a {color} mug"), name="mug")
        >>> [v.seed for v in expand(tpl, matrix(color=["red", "blue"]), seeds=[1, 2])]
        [1, 2, 1, 2]
    """
    if not isinstance(template, Template):
        raise PromptError(
            f"expand(): expected a Template, got {type(template).__name__}; make one with "
            "@template on a function, Template.from_document(...) or Template.from_prompt_file()"
        )
    policy = Seeds.coerce(seeds)
    if isinstance(source, VariableSource):
        rows: Iterable[Row] = source.rows()
    elif isinstance(source, Iterable) and not isinstance(source, str | bytes | Mapping):
        rows = (_row(values, n) for n, values in enumerate(source))
    else:
        raise PromptError(
            f"expand(): expected a source of variables (matrix(), zipped(), dataset(), sample() "
            f"or a list of dicts), got {type(source).__name__}"
        )
    index = 0
    for row in rows:
        try:
            prompt = template.render_mapping(row.variables, ignore_extra=True)
        except Flux2PromptError as exc:
            raise PromptError(f"{row.origin}: {exc}") from exc
        except Exception as exc:
            detail = describe_exception(exc)
            raise PromptError(f"{row.origin}: template {template.name!r} raised {detail}") from exc
        variables = MappingProxyType(row.variables)
        try:
            row_seeds = policy.for_variables(row.variables)
        except Flux2PromptError as exc:  # a derived seed of variables that are not JSON data
            raise PromptError(f"{row.origin}: {exc}") from exc
        for seed in row_seeds:
            yield Variant(index, variables, seed, prompt, row.origin)
            index += 1
