"""Templates and the sources of their variables: signatures, datasets, sampling, seeds, laziness."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import tracemalloc
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flux2prompt import PromptError, SourceError, scene
from flux2prompt._files import dataset
from flux2prompt._templates import (
    Drawn,
    Matrix,
    Seeds,
    Template,
    canonical_variables,
    derive_seed,
    draw,
    draw_choice,
    expand,
    matrix,
    sample,
    template,
    zipped,
)
from flux2prompt.batch import BatchJob, Shard, plan_items


@template
def mug(color: str, finish: str = "matte"):
    return scene(f"a {finish} {color} ceramic mug")


# -- templates -----------------------------------------------------------------------------------


def test_decorator_records_variables_defaults_and_name() -> None:
    assert isinstance(mug, Template)
    assert mug.name == "mug"
    assert mug.variables == ("color", "finish")
    assert mug.required == ("color",)
    assert dict(mug.defaults) == {"finish": "matte"}
    assert mug.render(color="teal").scene == "a matte teal ceramic mug"
    assert mug(color="red", finish="glossy").scene == "a glossy red ceramic mug"


def test_decorator_with_a_name_and_a_function_returning_a_dict() -> None:
    @template(name="poster")
    def make(city: str):
        return {"scene": f"a poster of {city}"}

    assert make.name == "poster"
    assert make.render(city="Oslo").to_json() == '{"scene":"a poster of Oslo"}'


def test_unknown_and_missing_variables_are_named() -> None:
    with pytest.raises(PromptError, match=r"unknown variable 'colour'; did you mean 'color'\?"):
        mug.render(colour="red")
    with pytest.raises(PromptError, match=r"missing variable 'color'"):
        mug.render(finish="matte")
    assert mug.render_mapping({"color": "red", "sku": "M-1"}, ignore_extra=True).scene


def test_kwargs_template_accepts_any_variable() -> None:
    @template
    def free(**variables: str):
        return scene(", ".join(f"{k}={v}" for k, v in sorted(variables.items())))

    assert free.render(a="1", b="2").scene == "a=1, b=2"


def test_positional_only_parameters_are_refused() -> None:
    def bad(color: str, /):
        return scene(color)

    with pytest.raises(PromptError, match="positional-only"):
        template(bad)


def test_template_returning_none_is_an_error() -> None:
    with pytest.raises(PromptError, match="returned None"):
        template(lambda color: None).render(color="x")


def test_document_template_uses_string_template_semantics() -> None:
    document = {"scene": "a ${color} mug for $$5", "color_palette": ["${hex}"]}
    tpl = Template.from_document(document, name="mug")
    assert tpl.variables == ("color", "hex")
    prompt = tpl.render(color="red", hex="#f00")
    assert prompt.to_json() == '{"scene":"a red mug for $5","color_palette":["#FF0000"]}'
    with pytest.raises(PromptError, match=r"missing variable 'hex' at \$\.color_palette\[0\]"):
        tpl.render(color="red")


def test_prompt_file_template(tmp_path: Path) -> None:
    from flux2prompt._files import load_prompt_file

    path = tmp_path / "mug.prompt.toml"
    path.write_text(
        'name = "mug"\nmodel = "klein-4b"\n[prompt]\nscene = "a ${color} mug"\n', encoding="utf-8"
    )
    tpl = Template.from_prompt_file(load_prompt_file(path))
    assert (tpl.name, tpl.variables) == ("mug", ("color",))
    assert tpl.render(color="teal").scene == "a teal mug"


# -- sources -------------------------------------------------------------------------------------


def test_matrix_order_length_and_random_access() -> None:
    m = matrix(color=["red", "blue"], size=[1, 2, 3])
    rows = list(m)
    assert rows[:4] == [
        {"color": "red", "size": 1},
        {"color": "red", "size": 2},
        {"color": "red", "size": 3},
        {"color": "blue", "size": 1},
    ]
    assert len(m) == 6 == m.count()
    assert [m.item(i) for i in range(6)] == rows
    assert list(m) == rows  # re-iterable


def test_matrix_refuses_a_string_axis_and_empty_axes() -> None:
    with pytest.raises(PromptError, match=r"write color=\['red'\]"):
        matrix(color="red")
    with pytest.raises(PromptError, match="empty"):
        matrix(color=[])
    with pytest.raises(PromptError, match="at least one axis"):
        matrix()


def test_zipped_reads_lists_in_step_and_wants_equal_lengths() -> None:
    assert list(zipped(a=[1, 2], b=["x", "y"])) == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]
    with pytest.raises(PromptError, match="a has 2, b has 1"):
        zipped(a=[1, 2], b=["x"])


def test_csv_dataset(tmp_path: Path) -> None:
    path = tmp_path / "products.csv"
    path.write_text('\ufeffproduct,color\nmug,teal\n\nvase,"rust, dark"\n', encoding="utf-8")
    rows = list(dataset(path).rows())
    assert [r.variables for r in rows] == [
        {"product": "mug", "color": "teal"},
        {"product": "vase", "color": "rust, dark"},
    ]
    assert [r.origin for r in rows] == [f"{path}:2", f"{path}:4"]
    assert dataset(path).count() == 2


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("a,b\n1,2\n3\n", 3, "1 values for 2 columns"),
        ("a,a\n1,2\n", 1, "column 'a' appears twice"),
        ("a,\n1,2\n", 1, "column 2 has no name"),
        ("", None, "empty"),
    ],
)
def test_csv_errors_name_file_and_line(
    tmp_path: Path, text: str, line: int | None, message: str
) -> None:
    path = tmp_path / "d.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SourceError, match=message) as caught:
        list(dataset(path))
    assert caught.value.source == str(path)
    assert caught.value.line == line


def test_jsonl_dataset_keeps_json_types_and_names_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"a": 1, "tags": ["x"]}\n\n{"a": 2}\n', encoding="utf-8")
    assert list(dataset(path)) == [{"a": 1, "tags": ["x"]}, {"a": 2}]
    for text, line, message in (
        ('{"a": 1}\n{"a": \n', 2, "invalid JSON"),
        ('{"a": 1}\n[1]\n', 2, "must be a JSON object"),
        ('{"a": 1, "a": 2}\n', 1, "duplicate key 'a'"),
    ):
        path.write_text(text, encoding="utf-8")
        with pytest.raises(SourceError, match=message) as caught:
            list(dataset(path))
        assert str(caught.value).startswith(f"{path}:{line}: ")


def test_dataset_type_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"unknown dataset type '\.txt'"):
        dataset(tmp_path / "d.txt")
    assert dataset(tmp_path / "d.txt", format="csv").format == "csv"
    with pytest.raises(SourceError, match="no such dataset file"):
        list(dataset(tmp_path / "missing.csv"))


def test_sample_is_reproducible_distinct_and_in_matrix_order() -> None:
    axes = {"x": range(1000), "y": range(1000)}
    first = list(sample(axes, n=50, seed=3))
    assert first == list(sample(axes, n=50, seed=3))
    assert first != list(sample(axes, n=50, seed=4))
    keys = [(r["x"], r["y"]) for r in first]
    assert len(set(keys)) == 50
    assert keys == sorted(keys)
    with pytest.raises(PromptError, match="only 4 combinations"):
        sample({"a": [1, 2], "b": [1, 2]}, n=5, seed=0)


def test_sample_from_a_dataset_uses_a_reservoir(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps({"i": i}) + "\n" for i in range(100)), encoding="utf-8")
    drawn = [row["i"] for row in sample(dataset(path), n=10, seed=1)]
    assert drawn == [row["i"] for row in sample(dataset(path), n=10, seed=1)]
    assert len(set(drawn)) == 10
    assert drawn == sorted(drawn)


# -- seeds ---------------------------------------------------------------------------------------


def test_derive_seed_is_the_documented_formula() -> None:
    variables = {"language": "ja", "color": "東"}
    text = "42:" + canonical_variables(variables)
    assert canonical_variables(variables) == '{"color":"東","language":"ja"}'
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    assert derive_seed(42, variables) == int.from_bytes(digest[:4], "big") & 0x7FFFFFFF
    assert derive_seed(42, variables) != derive_seed(43, variables)


def test_seed_policies() -> None:
    variables = {"color": "red"}
    assert Seeds.coerce(None).for_variables(variables) == (None,)
    assert Seeds.coerce(7).for_variables(variables) == (7,)
    assert Seeds.coerce([1, 2, 3]).for_variables(variables) == (1, 2, 3)
    assert Seeds.coerce({"derive": 5}).for_variables(variables) == (derive_seed(5, variables),)
    for bad in ("7", {"base": 1}, [-1], [], True):
        with pytest.raises(PromptError):
            Seeds.coerce(bad)  # type: ignore[arg-type]


def test_expand_multiplies_rows_by_seeds_and_keeps_extra_variables() -> None:
    variants = list(expand(mug, zipped(color=["red", "blue"], sku=["A", "B"]), seeds=[1, 2]))
    assert [(v.index, v.variables["sku"], v.seed) for v in variants] == [
        (0, "A", 1),
        (1, "A", 2),
        (2, "B", 1),
        (3, "B", 2),
    ]
    assert variants[0].prompt is variants[1].prompt  # rendered once per row
    assert variants[2].prompt.scene == "a matte blue ceramic mug"


def test_expand_errors_name_the_row(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("finish\nmatte\n", encoding="utf-8")
    with pytest.raises(PromptError, match=rf"{path}:2: template 'mug': missing variable 'color'"):
        list(expand(mug, dataset(path)))

    @template
    def broken(color: str):
        raise KeyError(color)

    with pytest.raises(PromptError, match=r"matrix item 0: template 'broken' raised KeyError"):
        list(expand(broken, matrix(color=["x"])))


# -- laziness ------------------------------------------------------------------------------------


def test_a_million_combinations_stream_in_constant_memory() -> None:
    big = matrix(a=range(100), b=range(100), c=range(100))
    assert len(big) == 1_000_000  # counted, not produced
    assert big.item(999_999) == {"a": 99, "b": 99, "c": 99}
    stream = iter(big)
    tracemalloc.start()
    try:
        count = sum(1 for _ in itertools.islice(stream, 200_000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 200_000
    assert peak < 100_000, f"peak {peak} bytes"


def test_expanding_100k_variants_holds_one_at_a_time() -> None:
    rendered = [0]
    fixed = scene("one tile").compile()

    @template
    def tile(a: int, b: int):
        rendered[0] += 1
        return fixed

    stream = expand(tile, matrix(a=range(400), b=range(250)), seeds={"derive": 1})
    first = list(itertools.islice(stream, 10))
    assert [v.index for v in first] == list(range(10))
    assert rendered == [10]  # nothing past what was asked for is rendered
    tracemalloc.start()
    try:
        count = 10 + sum(1 for _ in stream)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 100_000
    assert peak < 200_000, f"peak {peak} bytes"


def test_matrix_item_agrees_with_iteration_for_many_shapes() -> None:
    for shape in ((1,), (3, 1, 2), (2, 2, 2, 2)):
        axes = {f"k{i}": list(range(n)) for i, n in enumerate(shape)}
        m = Matrix(axes)
        assert [m.item(i) for i in range(len(m))] == list(m)


# -- random axes (draw) --------------------------------------------------------------------------

_names = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)
_values = st.one_of(st.text("abcxyz 東-", max_size=8), st.integers(-1000, 1000))
_choices = st.lists(_values, min_size=1, max_size=6)


@st.composite
def _mixed(draw_: st.DrawFn) -> tuple[list[dict[str, object]], dict[str, list[object]], int]:
    """Distinct base rows over one or two combinatorial names, random axes, and a seed."""
    base_names = draw_(st.lists(_names, min_size=1, max_size=2, unique=True))
    axes_names = draw_(
        st.lists(_names.filter(lambda n: n not in base_names), min_size=1, max_size=3, unique=True)
    )
    rows = draw_(
        st.lists(
            st.fixed_dictionaries(dict.fromkeys(base_names, _values)),
            min_size=1,
            max_size=12,
            unique_by=canonical_variables,
        )
    )
    axes = {name: draw_(_choices) for name in axes_names}
    return rows, axes, draw_(st.integers(0, 2**40))


def _zipped_rows(rows: list[dict[str, object]]) -> dict[str, list[object]]:
    return {name: [row[name] for row in rows] for name in rows[0]}


@given(_mixed(), st.randoms(use_true_random=False))
def test_an_items_draw_is_the_same_in_any_order(
    case: tuple[list[dict[str, object]], dict[str, list[object]], int], rng: object
) -> None:
    rows, axes, seed = case
    shuffled = list(rows)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]

    def by_item(ordered: list[dict[str, object]]) -> dict[str, dict[str, object]]:
        mixed = draw(zipped(**_zipped_rows(ordered)), seed=seed, **axes)
        return {canonical_variables({k: v[k] for k in ordered[0]}): v for v in mixed}

    assert by_item(rows) == by_item(shuffled)


@given(_mixed())
def test_draws_come_from_the_declared_choices_and_repeat(
    case: tuple[list[dict[str, object]], dict[str, list[object]], int],
) -> None:
    rows, axes, seed = case
    first = list(draw(zipped(**_zipped_rows(rows)), seed=seed, **axes))
    again = list(draw(zipped(**_zipped_rows(rows)), seed=seed, **axes))
    assert first == again  # the same job draws the same
    assert len(first) == len(rows)
    for row, item in zip(rows, first, strict=True):
        assert {k: item[k] for k in row} == row  # the base variables are kept as they are
        for name, choices in axes.items():
            assert item[name] in choices


@given(st.integers(0, 2**40), st.integers(0, 2**40))
def test_another_seed_can_draw_otherwise(one: int, other: int) -> None:
    if one == other:
        return
    base = matrix(n=range(64))
    choices = ["a", "b", "c", "d"]
    first = [row["pick"] for row in draw(base, seed=one, pick=choices)]
    second = [row["pick"] for row in draw(base, seed=other, pick=choices)]
    # 64 items, four choices: two seeds agreeing on every item happens with chance 4**-64.
    assert first != second


@given(_mixed(), st.integers(1, 4))
def test_shards_draw_what_the_whole_batch_draws(
    case: tuple[list[dict[str, object]], dict[str, list[object]], int], count: int
) -> None:
    rows, axes, seed = case
    tpl = Template.from_function(lambda **values: scene(canonical_variables(values)), name="t")
    job = BatchJob(
        name="mixed",
        template=tpl,
        source=draw(zipped(**_zipped_rows(rows)), seed=seed, **axes),
        output="{index}.{ext}",
        seeds=1,
    )

    def items(shard: Shard | None) -> set[str]:
        return {
            canonical_variables({"i": item.index, "v": dict(item.variant.variables)})
            for item in plan_items(job, shard=shard)
        }

    whole = items(None)
    parts = [items(Shard(i, count)) for i in range(1, count + 1)]
    assert set().union(*parts) == whole
    assert sum(len(part) for part in parts) == len(whole)


def test_draw_is_the_documented_formula_and_checks_its_input() -> None:
    digest = hashlib.sha256(b'7:angle:{"product":"mug"}').digest()
    choices = ["front", "three-quarter", "top"]
    assert (
        draw_choice(7, "angle", {"product": "mug"}, choices)
        == choices[int.from_bytes(digest[:8], "big") % 3]
    )
    mixed = draw({"product": ["mug", "vase"]}, seed=7, angle=choices)
    assert isinstance(mixed, Drawn)
    assert mixed.names == ("product", "angle")
    assert (len(mixed), mixed.count()) == (2, 2)
    with pytest.raises(PromptError, match="both a variable of the base and a random axis"):
        draw({"angle": ["x"]}, seed=1, angle=["y"])
    with pytest.raises(PromptError, match=r"draw\(seed=...\): expected an integer >= 0"):
        draw({"a": [1]}, seed=-1, b=[1])
    with pytest.raises(PromptError, match="give at least one random axis"):
        draw({"a": [1]}, seed=1)
    with pytest.raises(PromptError, match=r"draw\(angle=...\): the list is empty"):
        draw({"a": [1]}, seed=1, angle=[])


def test_a_dataset_column_named_like_a_random_axis_is_refused_with_its_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("sku,angle\nM-1,top\n", encoding="utf-8")
    with pytest.raises(PromptError, match=r"rows\.csv:2: 'angle' is both a column"):
        list(draw(dataset(path), seed=1, angle=["front"]))


# -- wrong arguments are one PromptError ----------------------------------------------------------


def test_expand_refuses_what_is_not_a_template_or_a_source() -> None:
    with pytest.raises(PromptError, match=r"^expand\(\): expected a Template, got PromptBuilder"):
        next(expand(scene("x"), matrix(color=["red"])))  # type: ignore[arg-type]
    for source in (5, "red", {"color": "red"}):
        with pytest.raises(PromptError, match=r"^expand\(\): expected a source of variables"):
            next(expand(mug, source))  # type: ignore[arg-type]
    with pytest.raises(PromptError, match=r"^item 1: expected the variables as a dict, got str"):
        list(expand(mug, [{"color": "red"}, "blue"]))  # type: ignore[list-item]


def test_a_variable_name_that_is_not_a_string_is_a_prompt_error() -> None:
    with pytest.raises(PromptError, match=r"template 'mug': variable names are strings, got int"):
        mug.render_mapping({"color": "red", 1: "x"})


def test_template_of_something_without_a_signature_or_document_is_a_prompt_error() -> None:
    with pytest.raises(PromptError, match=r"^template\(\): 'int' has no signature"):
        template(int)
    with pytest.raises(PromptError, match=r"^Template.from_document\(\): expected a prompt doc"):
        Template.from_document(["scene"])  # type: ignore[arg-type]


@pytest.mark.parametrize("base", ["7", True, -1, 7.0])
def test_derive_seed_takes_an_integer_base_only(base: object) -> None:
    # "7" and 7 would otherwise derive the same seed.
    with pytest.raises(PromptError, match=r"^derive_seed\(\): the base seed must be an integer"):
        derive_seed(base, {"color": "red"})  # type: ignore[arg-type]


def test_a_column_spelt_like_a_missing_variable_is_named(tmp_path: Path) -> None:
    # The column is left out as "extra", so the template only said the variable was missing.
    rows = tmp_path / "rows.csv"
    rows.write_text("colour,sku\nteal,M-1\n", encoding="utf-8")
    with pytest.raises(PromptError) as caught:
        list(expand(mug, dataset(rows)))
    assert str(caught.value) == (
        f"{rows}:2: template 'mug': missing variable 'color'; 'colour' was given "
        "(a misspelling of 'color'?)"
    )
    poster = Template.from_document({"scene": "a ${city} poster"}, name="poster")
    with pytest.raises(PromptError) as caught:
        list(expand(poster, [{"City": "Lisbon"}]))
    assert str(caught.value) == (
        "item 0: missing variable 'city' at $.scene (the template needs: city); 'City' was "
        "given (a misspelling of 'city'?)"
    )
    # Nothing close: the message is as it was.
    with pytest.raises(PromptError) as caught:
        list(expand(poster, [{"sku": "M-1"}]))
    assert (
        str(caught.value) == "item 0: missing variable 'city' at $.scene (the template needs: city)"
    )


_printable = st.characters(whitelist_categories=("L", "N", "P", "S", "Zs"))


@given(st.lists(st.text(_printable, max_size=12).map(lambda t: t + "${x}$$y"), max_size=20))
def test_every_row_gives_one_prompt_in_order_with_its_value_kept_literally(
    values: list[str],
) -> None:
    poster = Template.from_document({"scene": "a poster: ${caption}"}, name="poster")
    variants = list(expand(poster, zipped(caption=values) if values else []))
    assert [v.index for v in variants] == list(range(len(values)))
    # Prompt text is kept in NFC, the one change a value goes through.
    expected = [unicodedata.normalize("NFC", f"a poster: {value}") for value in values]
    assert [v.prompt.scene for v in variants] == expected


@pytest.mark.parametrize(
    ("row", "says"),
    [
        ('{"color": "teal", "w": NaN}', "'w' holds nan, which JSON has no form for"),
        ('{"color": "teal", "w": "\\ud83d"}', "'w' holds a lone surrogate (half of a character"),
    ],
)
def test_a_derived_seed_of_a_row_that_is_not_json_names_the_row_and_column(
    tmp_path: Path, row: str, says: str
) -> None:
    # A lone surrogate was a UnicodeEncodeError traceback; NaN an error without the row, with the
    # whole row's repr.
    path = tmp_path / "rows.jsonl"
    path.write_text('{"color": "rust", "w": 1}\n' + row + "\n", encoding="utf-8")
    variants = expand(mug, dataset(path), seeds={"derive": 7})
    assert next(variants).variables["color"] == "rust"
    with pytest.raises(PromptError) as caught:
        next(variants)
    assert str(caught.value).startswith(f"{path}:2: variables are not JSON data: {says}")
    with pytest.raises(PromptError, match=r"^variables are not JSON data: 'w' holds a set"):
        derive_seed(7, {"w": {1}})


def test_a_sample_of_more_rows_than_a_dataset_has_is_refused_like_a_matrix_s(
    tmp_path: Path,
) -> None:
    # It gave the 3 rows there were for n=5, silently: a batch of fewer items than asked for.
    path = tmp_path / "rows.csv"
    path.write_text("color\nteal\nrust\nsand\n", encoding="utf-8")
    drawn = sample(dataset(path), n=5, seed=1)
    message = f"sample(n=5): dataset({str(path)!r}) has only 3 rows; lower n, or sample from more"
    with pytest.raises(PromptError, match=re.escape(message)):
        list(drawn)
    with pytest.raises(PromptError, match=re.escape(message)):
        len(drawn)
    assert len(list(sample(dataset(path), n=3, seed=1))) == len(sample(dataset(path), n=3, seed=1))
