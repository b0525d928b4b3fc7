"""Why an intent needs review (issue 15, item 3): the first cause is kept."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.intents import IntentStatus, ReviewReason
from domain.qpay_messages import MalformedRow, PaymentCheck, PaymentRow
from domain.settlement import decide_settlement
from tests.factories import T0, make_intent, make_invoice, make_row


def review_of(
    status: IntentStatus,
    rows: tuple[PaymentRow, ...],
    malformed: tuple[MalformedRow, ...] = (),
) -> tuple[IntentStatus, ReviewReason | None]:
    invoice = make_invoice(total=Decimal("10000.00"))
    intent = make_intent(invoice, status=status)
    decision = decide_settlement(
        intent,
        invoice,
        frozenset(),
        PaymentCheck(rows=rows, malformed=malformed),
        now=T0,
    )
    return decision.intent.status, decision.intent.review_reason


@pytest.mark.parametrize(
    ("status", "rows", "reason"),
    [
        (IntentStatus.PENDING, (make_row("4000.00"),), ReviewReason.SHORT_PAID),
        (IntentStatus.PENDING, (make_row("12000.00"),), ReviewReason.OVERPAID),
        (IntentStatus.CANCELLED, (make_row("10000.00"),), ReviewReason.LATE),
        (IntentStatus.EXPIRED, (make_row("10000.00"),), ReviewReason.LATE),
        (
            IntentStatus.PENDING,
            (make_row("10000.00", currency="USD"),),
            ReviewReason.FOREIGN_CURRENCY,
        ),
    ],
    ids=["short", "over", "after-cancel", "after-expiry", "foreign"],
)
def test_each_way_into_review_names_its_reason(
    status: IntentStatus, rows: tuple[PaymentRow, ...], reason: ReviewReason
) -> None:
    assert review_of(status, rows) == (IntentStatus.NEEDS_REVIEW, reason)


def test_a_row_no_table_can_hold_is_a_malformed_row() -> None:
    malformed = (MalformedRow("P9", "amount has three decimals"),)

    found = review_of(IntentStatus.PENDING, (), malformed=malformed)

    assert found == (IntentStatus.NEEDS_REVIEW, ReviewReason.MALFORMED_ROW)


def test_a_second_scan_of_a_paid_qr_is_overpaid() -> None:
    invoice = make_invoice(total=Decimal("10000.00"))
    intent = make_intent(
        invoice, status=IntentStatus.PAID, paid_amount=Decimal("10000.00")
    )

    decision = decide_settlement(
        intent, invoice, frozenset(), PaymentCheck(rows=(make_row(),)), now=T0
    )

    assert decision.intent.review_reason is ReviewReason.OVERPAID


def test_the_first_reason_stays_when_more_money_comes() -> None:
    invoice = make_invoice(total=Decimal("10000.00"))
    intent = make_intent(invoice)
    short = decide_settlement(
        intent, invoice, frozenset(), PaymentCheck(rows=(make_row("4000.00"),)), now=T0
    )

    more = decide_settlement(
        short.intent,
        short.invoice,
        frozenset(),
        PaymentCheck(rows=(make_row("6000.00", currency="USD"),)),
        now=T0,
    )

    assert more.intent.review_reason is ReviewReason.SHORT_PAID
    assert more.intent.last_error is not None and "USD" in more.intent.last_error


def test_a_paid_intent_has_no_reason() -> None:
    assert review_of(IntentStatus.PENDING, (make_row("10000.00"),)) == (
        IntentStatus.PAID,
        None,
    )
