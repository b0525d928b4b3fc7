"""The invoice status rule and the QPay intent state machine."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.intents import ALLOWED_TRANSITIONS, IllegalTransition, IntentStatus
from domain.invoices import InvoiceStatus, status_for
from tests.factories import T0, make_intent, make_invoice


@pytest.mark.parametrize(
    ("paid", "status"),
    [
        ("0", InvoiceStatus.UNPAID),
        ("0.01", InvoiceStatus.PARTIALLY_PAID),
        ("99.99", InvoiceStatus.PARTIALLY_PAID),
        ("100.00", InvoiceStatus.PAID),
        ("100.01", InvoiceStatus.OVERPAID),
    ],
)
def test_status_agrees_with_amounts_when_paid(paid: str, status: InvoiceStatus) -> None:
    assert status_for(Decimal("100.00"), Decimal(paid)) is status


def test_void_invoice_stays_void_when_money_arrives() -> None:
    invoice = make_invoice(status=InvoiceStatus.VOID)

    after = invoice.with_payments(Decimal("5.00"), T0)

    assert after.status is InvoiceStatus.VOID
    assert after.paid_amount == Decimal("5.00")


def test_balance_is_never_negative_when_overpaid() -> None:
    invoice = make_invoice(total=Decimal("10.00"))

    assert invoice.with_payments(Decimal("15.00"), T0).balance == Decimal("0.00")


ALL_PAIRS = [(a, b) for a in IntentStatus for b in IntentStatus if a is not b]


@pytest.mark.parametrize(("source", "target"), ALL_PAIRS)
def test_transition_is_allowed_exactly_when_listed(
    source: IntentStatus, target: IntentStatus
) -> None:
    intent = make_intent(status=source, version=3)

    if target in ALLOWED_TRANSITIONS[source]:
        moved = intent.evolved(T0, status=target)
        assert moved.status is target
        assert moved.version == 4
    else:
        with pytest.raises(IllegalTransition):
            intent.evolved(T0, status=target)


def test_contract_transitions_are_all_allowed_when_listed() -> None:
    pending = ALLOWED_TRANSITIONS[IntentStatus.PENDING]

    assert {
        IntentStatus.PAID,
        IntentStatus.CANCELLED,
        IntentStatus.EXPIRED,
        IntentStatus.NEEDS_REVIEW,
    } <= pending
    assert IntentStatus.REFUNDED in ALLOWED_TRANSITIONS[IntentStatus.PAID]


def test_version_grows_by_one_per_change_and_not_without_one() -> None:
    intent = make_intent(version=7)

    unchanged = intent.evolved(T0)
    paid = intent.evolved(T0, status=IntentStatus.PAID, added=intent.amount)

    assert unchanged is intent
    assert paid.version == 8
    assert paid.paid_amount == intent.amount


def test_terminal_states_end_a_subscription_when_reached() -> None:
    assert not make_intent().is_terminal
    assert not make_intent(status=IntentStatus.PAID).is_terminal  # paid but not settled
    assert make_intent(
        status=IntentStatus.PAID, paid_amount=Decimal("1.00")
    ).is_terminal
    for status in (
        IntentStatus.CANCELLED,
        IntentStatus.EXPIRED,
        IntentStatus.NEEDS_REVIEW,
        IntentStatus.REFUNDED,
    ):
        assert make_intent(status=status).is_terminal
