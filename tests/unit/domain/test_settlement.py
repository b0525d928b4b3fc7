"""The settlement decision, by example and by property (hypothesis)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.events import IntentChanged, PaymentRecorded
from domain.intents import IntentStatus, QPayIntent
from domain.invoices import Invoice, InvoiceStatus, status_for
from domain.qpay_messages import MalformedRow, PaymentCheck, PaymentRow
from domain.settlement import SettlementDecision, decide_closing, decide_settlement
from tests.factories import T0, make_intent, make_invoice, make_row


def decide(
    intent: QPayIntent,
    invoice: Invoice,
    rows: Iterable[PaymentRow],
    known: frozenset[str] = frozenset(),
    close_as: IntentStatus | None = None,
) -> SettlementDecision:
    """A check's decision; with `close_as`, then the closing that follows it
    when QPay has been told to take no more (the expiry's last check)."""
    settled = decide_settlement(
        intent, invoice, known, PaymentCheck(rows=tuple(rows)), now=T0
    )
    if close_as is None:
        return settled
    closed = decide_closing(settled.intent, settled.invoice, close_as, now=T0)
    return SettlementDecision(
        intent=closed.intent,
        invoice=closed.invoice,
        payments=settled.payments,
        events=settled.events + closed.events,
    )


def test_exact_payment_settles_the_intent_and_invoice_when_paid() -> None:
    invoice = make_invoice(total=Decimal("10000.00"))
    intent = make_intent(invoice)

    decision = decide(intent, invoice, [make_row("10000.00", payment_id="P1")])

    assert decision.intent.status is IntentStatus.PAID
    assert decision.intent.paid_amount == Decimal("10000.00")
    assert decision.intent.qpay_payment_id == "P1"
    assert decision.intent.version == intent.version + 1
    assert decision.invoice.status is InvoiceStatus.PAID
    assert [p.qpay_payment_id for p in decision.payments] == ["P1"]
    assert isinstance(decision.events[0], PaymentRecorded)
    assert isinstance(decision.events[-1], IntentChanged)


def test_nothing_changes_when_no_row_is_paid() -> None:
    invoice = make_invoice()
    intent = make_intent(invoice)
    rows = [make_row(status="NEW"), make_row(status="FAILED"), make_row(status="paid")]

    decision = decide(intent, invoice, rows)

    assert not decision.changed
    assert decision.intent is intent


def test_known_payment_ids_are_not_counted_again_when_seen_twice() -> None:
    invoice = make_invoice()
    intent = make_intent(invoice)
    row = make_row(payment_id="P1")

    decision = decide(intent, invoice, [row, row], known=frozenset({"P1"}))

    assert decision.payments == ()
    assert not decision.changed


def test_duplicate_rows_in_one_answer_count_once_when_repeated() -> None:
    invoice = make_invoice(total=Decimal("100.00"))
    intent = make_intent(invoice)
    row = make_row("100.00", payment_id="P1")

    decision = decide(intent, invoice, [row, row, row])

    assert len(decision.payments) == 1
    assert decision.invoice.paid_amount == Decimal("100.00")


@pytest.mark.parametrize("paid", ["9999.00", "10001.00"])
def test_a_different_amount_is_recorded_and_needs_review_when_paid(paid: str) -> None:
    invoice = make_invoice(total=Decimal("10000.00"))
    intent = make_intent(invoice)

    decision = decide(intent, invoice, [make_row(paid)])

    assert decision.intent.status is IntentStatus.NEEDS_REVIEW
    assert decision.invoice.paid_amount == Decimal(paid)


@pytest.mark.parametrize("closed", [IntentStatus.CANCELLED, IntentStatus.EXPIRED])
def test_money_after_close_is_recorded_and_needs_review_when_it_arrives(
    closed: IntentStatus,
) -> None:
    invoice = make_invoice()
    intent = make_intent(invoice, status=closed)

    decision = decide(intent, invoice, [make_row(intent.amount)])

    assert decision.intent.status is IntentStatus.NEEDS_REVIEW
    assert len(decision.payments) == 1


def test_more_than_the_balance_makes_the_invoice_overpaid_when_paid() -> None:
    invoice = make_invoice(
        total=Decimal("100.00"),
        paid_amount=Decimal("60.00"),
        status=InvoiceStatus.PARTIALLY_PAID,
    )
    intent = make_intent(invoice, amount=Decimal("100.00"))

    decision = decide(intent, invoice, [make_row("100.00")])

    assert decision.intent.status is IntentStatus.PAID
    assert decision.invoice.status is InvoiceStatus.OVERPAID


def test_close_as_ends_an_unpaid_intent_when_nothing_was_paid() -> None:
    invoice = make_invoice()
    intent = make_intent(invoice)

    decision = decide(intent, invoice, [], close_as=IntentStatus.EXPIRED)

    assert decision.intent.status is IntentStatus.EXPIRED
    assert decision.payments == ()


def test_close_as_yields_to_money_when_the_last_check_finds_it() -> None:
    invoice = make_invoice()
    intent = make_intent(invoice)

    decision = decide(
        intent, invoice, [make_row(intent.amount)], close_as=IntentStatus.EXPIRED
    )

    assert decision.intent.status is IntentStatus.PAID


@pytest.mark.parametrize(
    "status",
    [
        IntentStatus.PAID,
        IntentStatus.NEEDS_REVIEW,
        IntentStatus.CANCELLED,
        IntentStatus.EXPIRED,
    ],
)
def test_closing_leaves_an_intent_that_is_not_pending_as_it_is(
    status: IntentStatus,
) -> None:
    invoice = make_invoice()
    intent = make_intent(invoice, status=status)

    decision = decide_closing(intent, invoice, IntentStatus.CANCELLED, now=T0)

    assert decision.intent == intent and not decision.changed


@pytest.mark.parametrize("status", [IntentStatus.PAID, IntentStatus.PENDING])
def test_closing_refuses_a_status_that_does_not_close(status: IntentStatus) -> None:
    invoice = make_invoice()

    with pytest.raises(ValueError, match="cannot close"):
        decide_closing(make_intent(invoice), invoice, status, now=T0)


def test_closing_announces_the_change_once() -> None:
    invoice = make_invoice()
    intent = make_intent(invoice)

    decision = decide_closing(intent, invoice, IntentStatus.CANCELLED, now=T0)

    assert decision.intent.status is IntentStatus.CANCELLED
    assert decision.intent.version == intent.version + 1
    assert decision.events == (
        IntentChanged(intent.id, IntentStatus.CANCELLED, intent.version + 1),
    )
    assert decision.invoice == invoice and decision.payments == ()


def test_foreign_currency_is_recorded_not_counted_and_needs_review_when_seen() -> None:
    invoice = make_invoice()
    intent = make_intent(invoice)
    row = make_row("12.50", payment_id="P-USD", currency="USD")

    decision = decide(intent, invoice, [row])

    (payment,) = decision.payments
    assert (payment.qpay_payment_id, payment.amount, payment.currency) == (
        "P-USD",
        Decimal("12.50"),
        "USD",
    )
    assert not payment.counts
    assert decision.intent.status is IntentStatus.NEEDS_REVIEW
    assert decision.intent.paid_amount == Decimal("0.00")
    assert decision.invoice.paid_amount == Decimal("0.00")
    assert "P-USD is in USD (12.50 USD)" in (decision.intent.last_error or "")


def test_foreign_currency_already_recorded_changes_nothing_when_seen_again() -> None:
    invoice = make_invoice()
    intent = make_intent(invoice, status=IntentStatus.NEEDS_REVIEW)
    row = make_row("12.50", payment_id="P-USD", currency="USD")

    decision = decide(intent, invoice, [row], known=frozenset({"P-USD"}))

    assert not decision.changed


# --- properties over arbitrary sequences of check results -----------------

amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("50000"), places=2)
rows = st.builds(
    PaymentRow,
    payment_id=st.sampled_from([f"P{i}" for i in range(8)]),
    status=st.sampled_from(["PAID", "NEW", "FAILED", "REFUNDED", "PARTIAL"]),
    amount=amounts,
)
checks = st.lists(st.lists(rows, max_size=5), max_size=8)
closers = st.lists(
    st.sampled_from([None, IntentStatus.CANCELLED, IntentStatus.EXPIRED]),
    min_size=8,
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(total=amounts, sequence=checks, close=closers)
def test_invariants_hold_when_checks_arrive_in_any_sequence(
    total: Decimal, sequence: list[list[PaymentRow]], close: list[IntentStatus | None]
) -> None:
    invoice = make_invoice(total=total)
    intent = make_intent(invoice)
    recorded: dict[str, Decimal] = {}
    first_amounts: dict[str, Decimal] = {}

    for step, check_rows in enumerate(sequence):
        for row in check_rows:
            first_amounts.setdefault(row.payment_id, row.amount)
        before_version = intent.version
        decision = decide(
            intent, invoice, check_rows, known=frozenset(recorded), close_as=close[step]
        )
        for payment in decision.payments:
            assert payment.qpay_payment_id not in recorded, "one payment per QPay id"
            recorded[payment.qpay_payment_id or ""] = payment.amount
        intent, invoice = decision.intent, decision.invoice
        # Version grows by exactly one per change, never otherwise.
        assert intent.version in (before_version, before_version + 1)
        assert (
            intent.version > before_version
        ) == decision.changed or not decision.payments

        paid = sum(recorded.values(), Decimal("0.00"))
        assert invoice.paid_amount == paid, "paid amount equals the sum of payments"
        assert intent.paid_amount == paid
        assert invoice.status is status_for(invoice.total, invoice.paid_amount)
        if intent.status is IntentStatus.PAID:
            assert intent.paid_amount == intent.amount
        if intent.status is IntentStatus.PENDING:
            assert intent.paid_amount == Decimal("0.00")


def test_malformed_paid_row_sends_the_intent_to_review_and_records_the_rest() -> None:
    invoice = make_invoice(total=Decimal("10000.00"))
    intent = make_intent(invoice)
    check = PaymentCheck(
        rows=(make_row("10000.00", payment_id="P1"),),
        malformed=(MalformedRow("P2", "amount must be above 0 (0)"),),
    )

    decision = decide_settlement(intent, invoice, frozenset(), check, now=T0)

    assert decision.intent.status is IntentStatus.NEEDS_REVIEW
    assert decision.intent.last_error == "QPay payment P2: amount must be above 0 (0)"
    assert [p.qpay_payment_id for p in decision.payments] == ["P1"]
    assert decision.invoice.paid_amount == Decimal("10000.00")


@pytest.mark.parametrize("status", list(IntentStatus))
def test_malformed_row_needs_review_in_every_state_and_only_once(
    status: IntentStatus,
) -> None:
    invoice = make_invoice()
    intent = make_intent(invoice, status=status)
    check = PaymentCheck(malformed=(MalformedRow(None, "unreadable"),))

    first = decide_settlement(intent, invoice, frozenset(), check, now=T0)
    again = decide_settlement(first.intent, invoice, frozenset(), check, now=T0)

    assert first.intent.status is IntentStatus.NEEDS_REVIEW
    assert first.intent.last_error == "QPay payment (no id): unreadable"
    assert first.changed and not again.changed
