"""Any interleaving of callback, poller, checkQPayPayment, cancelQPayInvoice and
settleInvoice keeps the money invariants (hypothesis stateful testing)."""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from domain.errors import DomainError
from domain.intents import IntentStatus, QPayIntent
from domain.invoices import InvoiceStatus, PaymentMethod, status_for
from domain.services.cancel_qpay_invoice import cancel_qpay_invoice
from domain.services.check_qpay_payment import check_qpay_payment
from domain.services.create_invoice import CreateInvoice, create_invoice
from domain.services.create_qpay_invoice import CreateQPayInvoice, create_qpay_invoice
from domain.services.poll_due_intents import PollPolicy, poll_due_intents
from domain.services.settle_invoice import SettleInvoice, settle_invoice
from domain.services.settle_qpay_intent import settle_qpay_intent
from tests.unit.services.conftest import make_world

AMOUNTS = st.sampled_from([Decimal("5000.00"), Decimal("2500.00"), Decimal("1.00")])


class PaymentInterleavings(RuleBasedStateMachine):
    """One invoice, its QPay intents, and every path that can settle them."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.world = make_world()
        self.intents: list[QPayIntent] = []

    def run(self, coroutine: Any) -> Any:
        try:
            return self.loop.run_until_complete(coroutine)
        except DomainError:
            return None  # expected refusals (INTENT_NOT_PENDING, ...) change nothing

    def teardown(self) -> None:
        self.loop.close()

    @initialize()
    def invoice(self) -> None:
        self.invoice_id = self.run(
            create_invoice(
                CreateInvoice(total=Decimal("5000.00")),
                uow=self.world.uow,
                clock=self.world.clock,
            )
        ).id

    def deps(self) -> dict[str, Any]:
        return {
            "uow": self.world.uow,
            "gateway": self.world.gateway,
            "clock": self.world.clock,
        }

    @rule(amount=st.one_of(st.none(), AMOUNTS))
    def create_qpay_invoice(self, amount: Decimal | None) -> None:
        created = self.run(
            create_qpay_invoice(
                CreateQPayInvoice(self.invoice_id, amount=amount),
                policy=self.world.policy,
                **self.deps(),
            )
        )
        if created is not None:
            self.intents.append(created.intent)

    @rule(data=st.data(), how=st.sampled_from(["exact", "less", "more", "twice"]))
    def patient_pays(self, data: st.DataObject, how: str) -> None:
        if not self.intents:
            return
        intent = data.draw(st.sampled_from(self.intents))
        qpay_id = str(intent.qpay_invoice_id)
        amount = {
            "exact": intent.amount,
            "less": intent.amount - Decimal("0.50"),
            "more": intent.amount + Decimal("10.00"),
            "twice": intent.amount,
        }[how]
        if amount <= 0:
            return
        self.world.gateway.pay(qpay_id, amount)
        if how == "twice":
            self.world.gateway.pay(qpay_id, amount)

    @rule(data=st.data())
    def callback(self, data: st.DataObject) -> None:
        if self.intents:
            intent = data.draw(st.sampled_from(self.intents))
            self.run(settle_qpay_intent(intent.id, **self.deps()))

    @rule()
    def poller(self) -> None:
        self.run(
            poll_due_intents("p", policy=PollPolicy(3, 60), budget=10, **self.deps())
        )

    @rule(data=st.data())
    def check(self, data: st.DataObject) -> None:
        if self.intents:
            self.run(
                check_qpay_payment(
                    data.draw(st.sampled_from(self.intents)).id, **self.deps()
                )
            )

    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        if self.intents:
            self.run(
                cancel_qpay_invoice(
                    data.draw(st.sampled_from(self.intents)).id, **self.deps()
                )
            )

    @rule(data=st.data())
    def settle_qpay(self, data: st.DataObject) -> None:
        if self.intents:
            intent = data.draw(st.sampled_from(self.intents))
            self.run(
                settle_invoice(
                    SettleInvoice(
                        self.invoice_id,
                        PaymentMethod.QPAY,
                        intent.amount,
                        qpay_intent_id=intent.id,
                    ),
                    **self.deps(),
                )
            )

    @rule(key=st.sampled_from(["a", "b"]), amount=AMOUNTS)
    def settle_cash(self, key: str, amount: Decimal) -> None:
        self.run(
            settle_invoice(
                SettleInvoice(
                    self.invoice_id, PaymentMethod.CASH, amount, idempotency_key=key
                ),
                **self.deps(),
            )
        )

    @rule(seconds=st.sampled_from([1, 3, 60, 1000]))
    def time_passes(self, seconds: int) -> None:
        self.world.clock.advance(seconds)

    @invariant()
    def money_is_counted_once_and_adds_up(self) -> None:
        store = self.world.store
        qpay_ids = Counter(
            p.qpay_payment_id for p in store.payments.values() if p.qpay_payment_id
        )
        assert all(count == 1 for count in qpay_ids.values()), "one Payment per QPay id"
        for invoice in store.invoices.values():
            paid = sum(
                (
                    p.amount
                    for p in store.payments.values()
                    if p.invoice_id == invoice.id and p.counts
                ),
                Decimal("0.00"),
            )
            assert invoice.paid_amount == paid, "paid amount is the sum of payments"
            if invoice.status is not InvoiceStatus.VOID:
                assert invoice.status is status_for(invoice.total, paid)
        for intent in store.intents.values():
            mine = sum(
                (
                    p.amount
                    for p in store.payments.values()
                    if p.intent_id == intent.id and p.counts
                ),
                Decimal("0.00"),
            )
            assert intent.paid_amount == mine
            if intent.status is IntentStatus.PAID:
                assert intent.paid_amount == intent.amount
            if intent.status in (
                IntentStatus.PENDING,
                IntentStatus.CANCELLED,
                IntentStatus.EXPIRED,
            ):
                assert intent.paid_amount == Decimal("0.00")

    @invariant()
    def money_at_qpay_is_never_lost_once_checked(self) -> None:
        # Every PAID row QPay shows for an intent that reached a terminal state
        # through a check is recorded: nothing terminal hides unrecorded money.
        store = self.world.store
        recorded = {p.qpay_payment_id for p in store.payments.values()}
        for intent in store.intents.values():
            if intent.status in (IntentStatus.PAID, IntentStatus.NEEDS_REVIEW):
                rows = self.world.gateway.invoices[str(intent.qpay_invoice_id)].rows
                seen = [r for r in rows if r.payment_id in recorded]
                assert seen, "a settled intent has its QPay payment recorded"


TestPaymentInterleavings = PaymentInterleavings.TestCase
TestPaymentInterleavings.settings = settings(
    max_examples=150, stateful_step_count=30, deadline=None
)
