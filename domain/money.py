"""Money: exact tögrög amounts as Decimal with two places. Never float."""

from __future__ import annotations

import re
from decimal import Decimal

from domain.errors import DomainError, ErrorCode, Subject

CURRENCY = "MNT"
CENT = Decimal("0.01")
ZERO = Decimal("0.00")
# NUMERIC(14,2) holds at most 12 integer digits.
MAX_AMOUNT = Decimal("999999999999.99")
_AMOUNT_TEXT = re.compile(r"-?(0|[1-9][0-9]{0,14})(\.[0-9]{1,20})?")


def parse_amount_text(text: str) -> Decimal:
    """Parse a decimal string such as "15000.00"; raise ValueError otherwise.

    Accepts an optional sign, no exponent, no NaN or infinity, at most 15
    integer digits and 20 decimals (longer text is refused unread). A third
    decimal is kept, never rounded, so the amount checks refuse it with
    INVALID_AMOUNT (amount_problem) instead of a parse error.
    """
    if len(text) > 40 or _AMOUNT_TEXT.fullmatch(text) is None:
        raise ValueError('expected a decimal string, e.g. "15000.00"')
    amount = Decimal(text)
    return amount.quantize(CENT) if amount == amount.quantize(CENT) else amount


def amount_problem(amount: Decimal) -> str | None:
    """What is wrong with an amount of money (None: it is > 0, has at most 2
    decimals and fits NUMERIC(14,2)). Nothing is ever rounded."""
    if not amount.is_finite():
        return "amount must be finite"
    # Range first: quantizing a huge value would overflow Decimal's precision.
    if amount > MAX_AMOUNT:
        return f"amount must not exceed {MAX_AMOUNT}"
    if amount <= 0:
        return "amount must be above 0"
    if amount != amount.quantize(CENT):
        return "amount has more than 2 decimals"
    return None


def require_positive_amount(amount: Decimal, subject: Subject) -> Decimal:
    """Check a client amount (see amount_problem); INVALID_AMOUNT otherwise."""
    problem = amount_problem(amount)
    if problem is not None:
        raise DomainError(ErrorCode.INVALID_AMOUNT, problem, subject)
    return amount.quantize(CENT)
