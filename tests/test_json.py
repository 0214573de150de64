"""The strict JSON hooks every reader shares: no NaN, no Infinity, no float too large."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flux2prompt._json import finite_float, refuse_constant


def strict(text: str) -> object:
    return json.loads(text, parse_constant=refuse_constant, parse_float=finite_float)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_finite_float_reads_back_as_itself(number: float) -> None:
    assert strict(json.dumps([number])) == [number]


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", '{"a": [1, NaN]}'])
def test_the_constants_json_has_not_are_refused_by_name(text: str) -> None:
    with pytest.raises(ValueError, match="is not a JSON number"):
        strict(text)


@pytest.mark.parametrize("text", ["1e999", "-1e400", "[0, 1.5e309]"])
def test_a_number_too_large_for_a_float_is_refused_not_read_as_infinity(text: str) -> None:
    assert math.isinf(json.loads(text if text[0] != "[" else text.strip("[]").split(",")[-1]))
    with pytest.raises(ValueError, match="is out of range"):
        strict(text)
