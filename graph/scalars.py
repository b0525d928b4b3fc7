"""Scalars: Decimal as an exact string; DateTime in ISO-8601 UTC.

They replace Strawberry's built-ins for `decimal.Decimal` and `datetime`
through `SCALAR_MAP`, so annotations stay plain Python types."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import strawberry
from graphql import StringValueNode, ValueNode
from strawberry.types.scalar import ScalarDefinition

from domain.money import CENT, parse_amount_text


class ScalarInputError(ValueError):
    """A client sent a value our scalars refuse; its message is for the client."""


DECIMAL_DESCRIPTION = (
    'Exact amount in tögrög (MNT) as a string, e.g. "15000.00"; '
    "at most 2 decimals; JSON numbers are rejected."
)


NOT_A_STRING = 'Decimal must be a string such as "15000.00", not a number'


def _amount(text: str) -> Decimal:
    try:
        return parse_amount_text(text)
    except ValueError as error:
        raise ScalarInputError(str(error)) from None


def _serialize_decimal(value: Decimal) -> str:
    # Amounts are stored with two decimals; one with a third would be a bug,
    # and rounding it for display would hide a difference from the database.
    if value != value.quantize(CENT):
        raise ValueError(f"amount {value} has more than 2 decimals")
    return str(value.quantize(CENT))


def _parse_decimal(value: object) -> Decimal:
    # bool is an int, int and float are JSON numbers: all refused, only text.
    if not isinstance(value, str):
        raise ScalarInputError(NOT_A_STRING)
    return _amount(value)


def _parse_decimal_literal(
    node: ValueNode, _variables: dict[str, object] | None = None
) -> Decimal:
    if not isinstance(node, StringValueNode):
        raise ScalarInputError(NOT_A_STRING)
    return _amount(node.value)


DECIMAL = strawberry.scalar(
    name="Decimal",
    description=DECIMAL_DESCRIPTION,
    serialize=_serialize_decimal,
    parse_value=_parse_decimal,
    parse_literal=_parse_decimal_literal,
)


def _serialize_datetime(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_datetime(value: object) -> datetime:
    if not isinstance(value, str):
        raise ScalarInputError("DateTime must be an ISO-8601 string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ScalarInputError("DateTime must be an ISO-8601 string") from None
    if parsed.tzinfo is None:
        raise ScalarInputError("DateTime needs a timezone")
    return parsed.astimezone(UTC)


DATETIME = strawberry.scalar(
    name="DateTime",
    description="A moment in ISO-8601, UTC (e.g. 2026-11-27T09:30:00Z).",
    serialize=_serialize_datetime,
    parse_value=_parse_datetime,
)

# Fields annotated `Decimal` and `datetime` use these (StrawberryConfig.scalar_map).
SCALAR_MAP: dict[object, ScalarDefinition] = {Decimal: DECIMAL, datetime: DATETIME}
