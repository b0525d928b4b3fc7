"""Money parsing and checks: exact strings, never floats."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.errors import DomainError, ErrorCode, Subject
from domain.money import parse_amount_text, require_positive_amount


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15000", "15000.00"),
        ("15000.5", "15000.50"),
        ("0.01", "0.01"),
        ("-3.10", "-3.10"),
        ("1.001", "1.001"),
        ("15000.505", "15000.505"),
    ],
)
def test_parses_decimal_strings_exactly_without_rounding(
    text: str, expected: str
) -> None:
    parsed = parse_amount_text(text)

    assert parsed == Decimal(expected)
    assert str(parsed) == expected


@pytest.mark.parametrize(
    "text",
    [
        "1e3",
        "NaN",
        "Infinity",
        "-inf",
        " 1",
        "1,000",
        "",
        "0x10",
        "01",
        "1" * 16,
        "1." + "0" * 21,
    ],
)
def test_refuses_text_when_not_a_plain_decimal(text: str) -> None:
    with pytest.raises(ValueError, match="decimal string"):
        parse_amount_text(text)


@pytest.mark.parametrize("value", ["0", "-1", "1000000000000.00", "1E+40", "-1E+40"])
def test_requires_positive_amounts_within_numeric_14_2_when_checked(value: str) -> None:
    with pytest.raises(DomainError) as raised:
        require_positive_amount(Decimal(value), Subject.AMOUNT)

    assert raised.value.code is ErrorCode.INVALID_AMOUNT
    assert raised.value.subject is Subject.AMOUNT


def test_refuses_three_decimals_when_checked() -> None:
    with pytest.raises(DomainError):
        require_positive_amount(Decimal("1.005"), Subject.AMOUNT)
