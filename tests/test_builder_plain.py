"""The builder's fast path (parts from plain values, a prompt's document written from its parts')
is invisible from outside: a built prompt behaves exactly as the same prompt validated by
pydantic, whatever the values, and nothing handed out can change a later compile."""

from __future__ import annotations

import copy
import enum
import math
import pickle
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flux2prompt import (
    Camera,
    Position,
    Prompt,
    PromptError,
    Subject,
    TextElement,
    camera,
    load,
    scene,
    subject,
    text,
)


class _Str(str):
    """A str subclass, as numpy.str_ and many libraries' string types are."""


class _Colour(enum.StrEnum):
    TEAL = "#008080"
    WARM = "warm amber"


_WORDS = st.one_of(
    st.sampled_from(["a fox", "東京の夜", "Cafe\u0301", "line\nbreak", "  spaced  ", "x" * 200]),
    st.sampled_from([_Str("a str subclass"), Position.FOREGROUND, _Colour.WARM]),
    st.from_regex(r"[a-z][a-z ,'-]{0,15}", fullmatch=True),
)
_CODES = st.one_of(
    st.from_regex(r"#[0-9A-Fa-f]{3}([0-9A-Fa-f]{3})?", fullmatch=True),
    st.sampled_from(["#abc", "#ABC", "#AABBCC", " #abc ", "#abc\n", "coral", "matte black"]),
    st.sampled_from([_Str("#abc"), _Colour.TEAL, (255, 127, 0)]),
)
_HEX = st.one_of(
    st.from_regex(r"#[0-9A-Fa-f]{3}([0-9A-Fa-f]{3})?", fullmatch=True),
    st.sampled_from([_Str("#0f0"), _Colour.TEAL, (1, 2, 3)]),
)
_NUMBERS = st.one_of(
    st.integers(1, 10**30), st.floats(1e-300, 1e300), st.sampled_from([85, 2.8, 5e-324])
)


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


@st.composite
def _builders(draw: st.DrawFn) -> Any:
    b = scene(draw(_WORDS))
    for _ in range(draw(st.integers(0, 3))):
        b = b.subject(
            draw(_WORDS),
            type=draw(_maybe(_WORDS)),
            pose=draw(_maybe(_WORDS)),
            position=draw(_maybe(st.sampled_from(["foreground", "midground", "upper left"]))),
            color_palette=draw(_maybe(st.lists(_CODES, min_size=1, max_size=3))),
            colors=draw(_maybe(st.lists(_HEX, min_size=1, max_size=3))),
        )
    if draw(st.booleans()):
        b = b.palette(*draw(st.lists(_CODES, min_size=1, max_size=4)))
    if draw(st.booleans()):
        b = b.camera(
            angle=draw(_maybe(st.sampled_from(["low angle", "eye level", _Str("isometric")]))),
            lens_mm=draw(_maybe(_NUMBERS)),
            iso=draw(_maybe(_NUMBERS)),
            f_number=draw(_maybe(st.sampled_from([2.8, 16, "f/4"]))),
            depth_of_field="shallow",
        )
    for _ in range(draw(st.integers(0, 2))):
        b = b.text(
            draw(_WORDS),
            language=draw(_maybe(st.sampled_from(["en", "ja", "zh-Hant", _Str("de")]))),
            color=draw(_maybe(_HEX)),
        )
    if draw(st.booleans()):
        b = b.style(draw(_WORDS)).mood(draw(_WORDS)).effects(draw(_WORDS))
    if draw(st.booleans()):
        b = b.extra("seed_hint", draw(st.integers(0, 9) | st.just({"a": [1, 2.5, "東"]})))
    return b


def _outcome(make: Any) -> str:
    try:
        return str(make())
    except PromptError as exc:
        return f"error: {exc}"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_builders())
def test_a_built_prompt_is_the_prompt_pydantic_validates_from_its_document(builder: Any) -> None:
    built = builder.compile()
    extras = list(built.extras)
    loaded = load(built.to_dict(), extra_keys=extras)  # every part through pydantic
    # Parts validated by pydantic one by one, assembled by the builder.
    slow = Prompt(**{name: getattr(built, name) for name in Prompt.model_fields})
    assert (slow == built) is not bool(extras)  # custom extras are part of a prompt's value
    assert slow.to_dict() == {k: v for k, v in built.to_dict().items() if k not in extras}
    # The same subjects made by pydantic, then given to a builder.
    by_pydantic = [Subject(**s.model_dump(exclude_none=True)) for s in built.subjects or ()]

    assert built.to_json() == loaded.to_json()
    assert built.fingerprint == loaded.fingerprint
    assert built == loaded
    assert hash(built) == hash(loaded)
    assert repr(built) == repr(loaded)
    assert built.model_dump() == loaded.model_dump()
    assert built.model_dump_json() == loaded.model_dump_json()
    assert built.to_dict() == loaded.to_dict()
    assert built.to_json(pretty=True) == loaded.to_json(pretty=True)
    assert built.model_fields_set >= loaded.model_fields_set
    for part, twin in zip(built.subjects or (), loaded.subjects or (), strict=True):
        assert (part, repr(part), part.to_dict(), hash(part)) == (
            twin,
            repr(twin),
            twin.to_dict(),
            hash(twin),
        )
        assert part.model_fields_set == twin.model_fields_set
    for part, twin in zip(built.text or (), loaded.text or (), strict=True):
        assert (part, repr(part), part.to_dict()) == (twin, repr(twin), twin.to_dict())
    if built.camera is not None:
        assert built.camera == loaded.camera
        assert built.camera.model_fields_set == loaded.camera.model_fields_set  # type: ignore[union-attr]
    if by_pydantic:
        rebuilt = builder.subjects(*by_pydantic).compile()
        assert rebuilt.to_json() == built.to_json()
        assert rebuilt == built

    # Copies, pickles and changed copies behave as the loaded prompt's do.
    for twin in (pickle.loads(pickle.dumps(built)), copy.deepcopy(built), copy.copy(built)):
        assert twin == loaded
        assert twin.to_json() == loaded.to_json()
    changed = built.model_copy(update={"mood": "tense"})
    assert changed.to_json() == loaded.model_copy(update={"mood": "tense"}).to_json()

    # The other profile says the same thing, word for word and path for path, of both.
    assert _outcome(lambda: builder.compile(profile="cloudflare").to_json()) == _outcome(
        lambda: load(built.to_dict(), profile="cloudflare", extra_keys=extras).to_json()
    )


def test_nothing_handed_out_changes_a_later_compile() -> None:
    fox = subject("a fox", colors=["#abc"], color_palette=["coral", "#123"])
    lens = camera(lens_mm=85, iso=200)
    sign = text("OPEN", language="en", color="#fff")
    builder = scene("dunes").subjects(fox, fox).camera(lens).text(sign).palette("#abc")
    builder = builder.effects("grain").extra("meta", {"tags": ["a"]})
    first = builder.compile()
    wire = first.to_json()

    def scribble(value: Any) -> None:
        if isinstance(value, dict):
            for key in list(value):
                if isinstance(value[key], dict | list):
                    scribble(value[key])
                else:
                    value[key] = "changed"
            value["added"] = True
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, dict | list):
                    scribble(item)
                else:
                    value[i] = "changed"
            value.append("added")

    for handed_out in (
        first.to_dict(),
        first.extras,
        first.model_dump(mode="json"),
        fox.to_dict(),
        fox.model_dump(mode="json"),
        lens.to_dict(),
        sign.to_dict(),
        first.subjects[0].to_dict(),  # type: ignore[index]
    ):
        scribble(handed_out)
    again = scene("dunes").subjects(fox, fox).camera(lens).text(sign).palette("#abc")
    again = again.effects("grain").extra("meta", {"tags": ["a"]})
    assert builder.compile().to_json() == wire
    assert again.compile().to_json() == wire
    assert first.to_json() == wire
    assert first.to_dict() == load(wire, extra_keys=["meta"]).to_dict()
    assert scene("other").subjects(fox).compile().to_json() == (
        '{"scene":"other","subjects":[{"description":"a fox","color_palette":["coral","#112233"],'
        '"colors":["#AABBCC"]}]}'
    )


# -- numbers no float holds, and f-numbers that are not f-stops ---------------------------------


@pytest.mark.parametrize("field", ["iso", "lens_mm"])
def test_a_camera_number_too_large_for_a_float_is_refused_as_load_refuses_it(field: str) -> None:
    huge = 10**400
    with pytest.raises(PromptError) as loaded:
        load({"scene": "x", "camera": {"ISO" if field == "iso" else "lens-mm": huge}})
    assert "too large for a JSON number" in str(loaded.value)
    with pytest.raises(PromptError) as built:
        scene("x").camera(**{field: huge})
    assert str(built.value) == (
        f"camera({field}=...): the number is too large for a JSON number (a 64-bit float, below "
        "about 1.8e308); write a smaller number"
    )
    with pytest.raises(PromptError, match=rf"camera\({field}=\.\.\.\): the number is too large"):
        camera(**{field: 2**1024 - 1})  # rounds up past the largest float
    # The largest ints a float holds are numbers like any other.
    largest = int(1.7976931348623157e308)
    made = scene("x").camera(**{field: largest}).compile()
    assert made.to_prose()  # prose reads the number as a float
    assert load(made.to_dict()) == made


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (math.nan, "nan"),
        (math.inf, "inf"),
        (0, "0"),
        (-2.8, "-2.8"),
        pytest.param(10**400, "an integer of 401 digits", id="huge-int"),
    ],
)
def test_an_f_number_given_as_a_number_must_be_an_f_stop(value: float, shown: str) -> None:
    with pytest.raises(PromptError) as caught:
        camera(f_number=value)
    assert str(caught.value) == (
        "camera(f_number=...): an f-number must be a positive finite number such as 2.8, "
        f"got {shown}"
    )
    assert camera(f_number=1.4).f_number == "f/1.4"


# -- parts of a subclass -------------------------------------------------------------------------


class _TaggedSubject(Subject):
    """A user's subclass with a field of its own (kept in Python, not a wire key)."""

    tag: str | None = None


def test_a_subclass_part_is_written_by_its_fields_class_as_the_prompt_serializer_writes_it() -> (
    None
):
    tagged = _TaggedSubject(description="a fox", tag="hero")
    prompt = scene("dunes").subjects(tagged).compile()
    assert prompt.to_json() == '{"scene":"dunes","subjects":[{"description":"a fox"}]}'
    assert prompt.to_dict() == load(prompt.to_json()).to_dict()
    assert tagged.to_dict() == {"description": "a fox", "tag": "hero"}  # its own, unchanged

    class _Lens(Camera):
        note: str | None = None

    class _Sign(TextElement):
        note: str | None = None

    built = scene("dunes").camera(_Lens(iso=100, note="x")).text(_Sign(content="A", note="y"))
    assert built.compile().to_json() == (
        '{"scene":"dunes","camera":{"ISO":100},"text":[{"content":"A"}]}'
    )
