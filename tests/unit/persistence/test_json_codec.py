"""The JSONB codec: exact Decimal numbers, no NUL, round trips."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from persistence.json_codec import dumps, loads


def test_writes_decimals_as_exact_json_numbers() -> None:
    value = {"paid_amount": Decimal("0.10"), "rows": [Decimal("15000.5"), 3, None]}

    text = dumps(value)

    assert text == '{"paid_amount":0.10,"rows":[15000.5,3,null]}'
    assert loads(text) == value


def test_drops_nul_characters_postgresql_refuses_in_jsonb() -> None:
    assert json.loads(dumps({"a\x00": "b\x00c"})) == {"a": "bc"}


@pytest.mark.parametrize("bad", [Decimal("NaN"), Decimal("Infinity"), float("nan")])
def test_refuses_numbers_json_cannot_hold(bad: object) -> None:
    with pytest.raises(ValueError, match=r"NaN|infinity|Out of range"):
        dumps({"x": bad})


def test_refuses_unknown_types() -> None:
    with pytest.raises(TypeError):
        dumps({"x": object()})


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner)
        | st.dictionaries(st.text(st.characters(exclude_characters="\x00")), inner)
    ),
    max_leaves=20,
)


@given(json_values)
def test_what_it_writes_is_json_that_reads_back_equal(value: object) -> None:
    text = dumps(value)

    assert loads(text) == _without_nul(value)


def _without_nul(value: object) -> object:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    if isinstance(value, dict):
        return {str(k).replace("\x00", ""): _without_nul(v) for k, v in value.items()}
    return value
