"""The Decimal scalar: exact text in, exact text out, never rounded."""

from __future__ import annotations

from decimal import Decimal

import pytest

from graph.scalars import _parse_decimal, _serialize_decimal


def test_writes_amounts_with_two_decimals() -> None:
    assert _serialize_decimal(Decimal("15000.5")) == "15000.50"


def test_refuses_to_write_a_third_decimal_rather_than_rounding() -> None:
    with pytest.raises(ValueError, match="more than 2 decimals"):
        _serialize_decimal(Decimal("0.005"))


def test_reads_a_third_decimal_exactly_for_the_amount_check_to_refuse() -> None:
    assert str(_parse_decimal("1.001")) == "1.001"
