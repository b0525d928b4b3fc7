"""Scalars: Decimal as an exact string; DateTime in ISO-8601 UTC; Date.

They replace Strawberry's built-ins for `decimal.Decimal`, `datetime` and
`date` through `SCALAR_MAP`, so annotations stay plain Python types. Date is
Strawberry's own scalar, unchanged but for its description."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from decimal import Decimal

import strawberry
from graphql import StringValueNode, ValueNode
from strawberry.schema.types.base_scalars import DateDefinition
from strawberry.types.scalar import ScalarDefinition

from domain.money import CENT, MAX_AMOUNT, parse_amount_text


class ScalarInputError(ValueError):
    """A client sent a value our scalars refuse; its message is for the client."""


DECIMAL_DESCRIPTION = (
    'Exact amount in tögrög (MNT) as a string, e.g. "15000.00"; '
    "at most 2 decimals; JSON numbers are rejected. "
    "(A Payment's or Refund's amount is in Payment.currency, MNT for every "
    "counted payment.) Output always has exactly 2 decimals. Input: digits "
    'with an optional "-" and fraction ("15000", "15000.5", "15000.50"); no '
    'exponent, spaces, "+" or leading zeros. Text of another shape, or a JSON '
    "number, is a GraphQL error; a well-formed amount that is 0 or less, has "
    f"more than 2 decimals or is above {MAX_AMOUNT} is refused by the "
    "operation with INVALID_AMOUNT (never rounded)."
)
DATETIME_DESCRIPTION = (
    "A moment in ISO-8601, UTC (e.g. 2026-11-27T09:30:00Z). Output is always "
    "UTC with a Z, with microseconds when they are not zero "
    "(2026-11-27T09:30:00.123456Z). Input needs an offset (Z or +08:00) and "
    "is converted to UTC; a time without one is a GraphQL error."
)
DATE_DESCRIPTION = (
    "A calendar day in ISO-8601, YYYY-MM-DD (e.g. 2026-11-30), without a time "
    "or time zone: the operation says in which calendar it is read "
    "(paymentTotals: the clinic's, CLINIC_TIME_ZONE)."
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
    description=DATETIME_DESCRIPTION,
    serialize=_serialize_datetime,
    parse_value=_parse_datetime,
)

# Strawberry's Date (isoformat out, date.fromisoformat in), described.
DATE = dataclasses.replace(DateDefinition, description=DATE_DESCRIPTION)

# Fields annotated `Decimal`, `datetime` and `date` use these
# (StrawberryConfig.scalar_map).
SCALAR_MAP: dict[object, ScalarDefinition] = {
    Decimal: DECIMAL,
    datetime: DATETIME,
    date: DATE,
}
