"""``${name}`` placeholders: values that cannot be written out, and expansions kept bounded."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flux2prompt import PromptError, placeholders, substitute
from flux2prompt._document import MAX_DOCUMENT_BYTES, MAX_STRING_CHARS


def test_an_integer_too_large_to_write_is_a_prompt_error_naming_the_variable() -> None:
    # Python refuses to write out an integer of more than 4,300 digits (a ValueError).
    with pytest.raises(PromptError, match=r"variable 'n' \(used at \$\.scene\) is an integer too"):
        substitute({"scene": "lot ${n}"}, {"n": 10**5000})
    assert substitute({"scene": "lot ${n}"}, {"n": 10**300}) == {"scene": f"lot {10**300}"}


def test_a_string_filled_in_past_the_string_bound_is_refused_with_its_path() -> None:
    document = {"subjects": [{"description": "${x} " * 10}]}
    with pytest.raises(PromptError, match=r"^the text at \$\.subjects\[0\]\.description would"):
        substitute(document, {"x": "y" * (MAX_STRING_CHARS // 8)})
    filled = substitute({"scene": "${x}"}, {"x": "y" * MAX_STRING_CHARS})
    assert len(filled["scene"]) == MAX_STRING_CHARS


def test_a_document_cannot_grow_past_the_document_bound() -> None:
    # Each string stays under the string bound; all of them together would not fit memory.
    value = "y" * (MAX_STRING_CHARS - 10)
    count = MAX_DOCUMENT_BYTES // len(value) + 2
    document = {"effects": ["${x}"] * count}
    with pytest.raises(PromptError, match=r"^the document would grow by more than 16,777,216"):
        substitute(document, {"x": value})
    assert placeholders(document) == {"x"}


# -- names, escapes and hostile text -------------------------------------------------------------


def test_a_name_that_goes_on_in_letters_beyond_ascii_is_refused_not_cut_short() -> None:
    # string.Template reads "$città" as "$citt" followed by "à": the wrong variable, silently.
    document = {"scene": "a poster of $città at dusk"}
    assert placeholders(document) == set()
    with pytest.raises(PromptError) as caught:
        substitute(document, {"città": "Roma", "citt": "X"})
    assert str(caught.value) == (
        "invalid placeholder at $.scene (character 13 of 'a poster of $città at dusk'): "
        "'città' is not a variable name: a name is ASCII letters, digits and _ (such as "
        "${citta}); write $$ for a literal $"
    )
    # A sign after an ASCII name still ends it, as string.Template says.
    assert substitute({"scene": "$price€ each"}, {"price": 3}) == {"scene": "3€ each"}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("a ${città} mug", "'città' is not a variable name: a name is ASCII letters"),
        ("a ${color mug", "'${' is never closed; write ${name} for a variable"),
        ("a ${ color } mug", "write ${color}, without spaces inside the braces"),
        (
            "a ${1st} mug",
            "'1st' is not a variable name: a name is ASCII letters, digits and _, not",
        ),
        ("a ${} mug", "'' is not a variable name"),
        ("costs $5", "write ${name} for a variable and $$ for a literal $"),
    ],
)
def test_an_invalid_placeholder_says_what_is_wrong_with_it(text: str, reason: str) -> None:
    with pytest.raises(PromptError) as caught:
        substitute({"scene": text}, {"color": "teal", "città": "Roma", "1st": "x"})
    message = str(caught.value)
    column = text.index("$") + 1
    assert message.startswith(f"invalid placeholder at $.scene (character {column} of {text!r}): ")
    assert reason in message


def test_the_character_named_is_the_dollar_sign_itself() -> None:
    # It was one past it: "a $" named character 4 of a 3-character string.
    with pytest.raises(PromptError, match=r"\(character 3 of 'a \$'\)"):
        substitute({"scene": "a $"}, {})


def test_a_long_string_is_cut_in_the_message() -> None:
    text = "x" * 5000 + " $5"
    with pytest.raises(PromptError) as caught:
        substitute({"scene": text}, {})
    assert "(5,003 characters)" in str(caught.value)
    assert len(str(caught.value)) < 400


@pytest.mark.parametrize(("written", "given"), [("colour", "color"), ("Color", "color")])
def test_a_missing_variable_names_a_given_one_spelt_like_it(written: str, given: str) -> None:
    with pytest.raises(PromptError) as caught:
        substitute({"scene": f"a ${{{written}}} mug"}, {given: "teal", "sku": "M-1"})
    assert str(caught.value) == (
        f"missing variable {written!r} at $.scene (the template needs: {written}); "
        f"{given!r} was given (a misspelling of {written!r}?)"
    )


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
_names = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)


@given(st.dictionaries(_names, _text, min_size=1, max_size=4), st.data())
def test_a_value_is_filled_in_once_and_kept_as_it_is(
    values: dict[str, str], data: st.DataObject
) -> None:
    # Values may hold "${other}", "$$" or "$x": none is substituted again or unescaped.
    tricks = [f"${{{n}}}" for n in values] + ["$$", "$", "$x"]
    hostile = {name: data.draw(st.sampled_from(tricks)) + value for name, value in values.items()}
    document = {"scene": " | ".join(f"${{{name}}}" for name in values), "effects": ["$$"]}
    filled = substitute(document, hostile)
    assert filled == {"scene": " | ".join(hostile[name] for name in values), "effects": ["$"]}
    assert placeholders(document) == set(values)


@given(st.lists(_names, min_size=1, max_size=5, unique=True), st.data())
def test_every_placeholder_found_is_one_substitute_needs(
    names: list[str], data: st.DataObject
) -> None:
    document = {
        "scene": " ".join(f"${{{n}}}" for n in names),
        "subjects": [{"pose": f"${names[0]}"}],
    }
    assert placeholders(document) == set(names)
    dropped = data.draw(st.sampled_from(names))
    with pytest.raises(PromptError, match=rf"^missing variable {dropped!r} at \$\."):
        substitute(document, {n: "v" for n in names if n != dropped})
