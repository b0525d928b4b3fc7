"""refundPayment and the refunds QPay shows (issue 15, item 2), over fakes."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from domain.ebarimt import EbarimtReceiverType, EbarimtRequest, EbarimtStatus
from domain.errors import DomainError, ErrorCode, GatewayUnavailable
from domain.history import PaymentEventKind
from domain.intents import IntentStatus, QPayIntent
from domain.invoices import InvoiceStatus
from domain.ledger import LedgerFlagKind
from domain.payments import Payment, PaymentId, PaymentMethod
from domain.qpay_messages import RefundOutcome
from domain.refunds import RefundChannel, RefundStatus
from domain.services import refund_payment as refunds_module
from domain.services.create_invoice import CreateInvoice, create_invoice
from domain.services.create_qpay_invoice import CreateQPayInvoice, create_qpay_invoice
from domain.services.issue_ebarimt import (
    CANNOT_VOID,
    ReceiptPolicy,
    issue_due_receipts,
)
from domain.services.reconcile_ledger import compare_ledger
from domain.services.refund_payment import (
    PaymentRefunded,
    RefundPayment,
    refund_payment,
    settle_pending_refunds,
)
from domain.services.settle_invoice import SettleInvoice, settle_invoice
from domain.services.settle_qpay_intent import settle_qpay_intent
from tests.unit.services.conftest import World

pytestmark = pytest.mark.anyio

LOST = GatewayUnavailable("QPay did not answer in time", may_have_reached=True)


def deps(world: World) -> dict[str, object]:
    return {"uow": world.uow, "gateway": world.gateway, "clock": world.clock}


async def qpay_paid(
    world: World,
    payment_type: str = "CARD",
    ebarimt: EbarimtRequest | None = None,
) -> tuple[QPayIntent, Payment]:
    """A billing invoice of 15000 paid whole through one QPay intent."""
    invoice = await create_invoice(
        CreateInvoice(total=Decimal("15000.00")), uow=world.uow, clock=world.clock
    )
    created = await create_qpay_invoice(
        CreateQPayInvoice(invoice.id, ebarimt=ebarimt),
        uow=world.uow,
        gateway=world.gateway,
        clock=world.clock,
        policy=world.policy,
    )
    world.gateway.pay(str(created.intent.qpay_invoice_id), payment_type=payment_type)
    outcome = await settle_qpay_intent(created.intent.id, **deps(world))  # type: ignore[arg-type]
    (payment,) = outcome.recorded
    return outcome.intent, payment


async def cash_paid(world: World, amount: str = "10000.00") -> Payment:
    invoice = await create_invoice(
        CreateInvoice(total=Decimal(amount)), uow=world.uow, clock=world.clock
    )
    settled = await settle_invoice(
        SettleInvoice(
            invoice.id, PaymentMethod.CASH, Decimal(amount), idempotency_key="pay"
        ),
        **deps(world),  # type: ignore[arg-type]
    )
    assert settled.payment is not None
    return settled.payment


async def refund(
    world: World,
    payment: Payment,
    amount: str | None = None,
    key: str = "r1",
    reason: str | None = "patient cancelled",
) -> PaymentRefunded:
    return await refund_payment(
        RefundPayment(
            payment_id=payment.id,
            amount=None if amount is None else Decimal(amount),
            reason=reason,
            idempotency_key=key,
            actor="nurse",
        ),
        **deps(world),  # type: ignore[arg-type]
    )


async def run_worker(world: World) -> None:
    """One pass of the e-Barimt worker (issues, and returns refunded ones)."""
    await issue_due_receipts(
        "worker",
        uow=world.uow,
        gateway=world.gateway,
        clock=world.clock,
        policy=ReceiptPolicy(),
    )


def snapshot(world: World) -> tuple[object, ...]:
    store = world.store
    return (
        dict(store.invoices),
        dict(store.intents),
        dict(store.refunds),
        dict(store.keys),
        len(store.history),
    )


async def test_a_card_payment_is_refunded_at_qpay_and_leaves_the_invoice(
    world: World,
) -> None:
    intent, payment = await qpay_paid(world)

    done = await refund(world, payment)

    assert done.refund.status is RefundStatus.COMPLETED
    assert (done.refund.channel, done.refund.amount) == (
        RefundChannel.QPAY,
        Decimal("15000.00"),
    )
    assert (done.invoice.paid_amount, done.invoice.status) == (
        Decimal("0.00"),
        InvoiceStatus.UNPAID,
    )
    after = world.store.intents[intent.id]
    assert (after.status, after.paid_amount) == (IntentStatus.REFUNDED, Decimal("0.00"))
    assert world.gateway.calls.count("refund_payment") == 1
    entry = world.store.history[-2]
    assert (entry.kind, entry.refund_id, entry.actor) == (
        PaymentEventKind.REFUND_RECORDED,
        done.refund.id,
        "nurse",
    )
    assert world.store.history[-1].intent_status is IntentStatus.REFUNDED


async def test_a_p2p_payment_gives_refund_not_supported_and_changes_nothing(
    world: World,
) -> None:
    _, payment = await qpay_paid(world, payment_type="P2P")
    before = snapshot(world)

    with pytest.raises(DomainError) as refused:
        await refund(world, payment)

    assert refused.value.code is ErrorCode.REFUND_NOT_SUPPORTED
    assert snapshot(world) == before


async def test_desk_refunds_may_be_partial_and_never_exceed_the_payment(
    world: World,
) -> None:
    payment = await cash_paid(world)

    first = await refund(world, payment, "4000.00", key="a")
    with pytest.raises(DomainError) as too_much:
        await refund(world, payment, "6000.01", key="b")
    rest = await refund(world, payment, None, key="c")
    with pytest.raises(DomainError) as nothing_left:
        await refund(world, payment, None, key="d")

    assert first.refund.channel is RefundChannel.DESK
    assert first.invoice.status is InvoiceStatus.PARTIALLY_PAID
    assert too_much.value.code is ErrorCode.REFUND_EXCEEDS_PAYMENT
    assert rest.refund.amount == Decimal("6000.00")
    assert (rest.invoice.paid_amount, rest.invoice.status) == (
        Decimal("0.00"),
        InvoiceStatus.UNPAID,
    )
    assert nothing_left.value.code is ErrorCode.REFUND_EXCEEDS_PAYMENT
    assert world.gateway.calls.count("refund_payment") == 0


async def test_the_same_key_replays_and_another_input_conflicts(world: World) -> None:
    payment = await cash_paid(world)
    first = await refund(world, payment, "1000.00")

    again = await refund(world, payment, "1000.00")
    with pytest.raises(DomainError) as conflict:
        await refund(world, payment, "2000.00")

    assert again.replayed and again.refund == first.refund
    assert conflict.value.code is ErrorCode.IDEMPOTENCY_CONFLICT
    assert len(world.store.refunds) == 1


@pytest.mark.parametrize(
    ("amount", "reason", "key", "code"),
    [
        ("0", "x", "k", ErrorCode.INVALID_AMOUNT),
        ("-5", "x", "k", ErrorCode.INVALID_AMOUNT),
        ("1.001", "x", "k", ErrorCode.INVALID_AMOUNT),
        ("1E+20", "x", "k", ErrorCode.INVALID_AMOUNT),
        ("1", "   ", "k", ErrorCode.INVALID_INPUT),
        ("1", None, "k", ErrorCode.INVALID_INPUT),
        ("1", "x" * 1001, "k", ErrorCode.INVALID_INPUT),
        ("1", "x", "", ErrorCode.INVALID_INPUT),
        ("1", "x", None, ErrorCode.INVALID_INPUT),
    ],
)
async def test_bad_input_is_refused_and_writes_nothing(
    world: World, amount: str, reason: str | None, key: str | None, code: ErrorCode
) -> None:
    payment = await cash_paid(world)
    before = snapshot(world)

    with pytest.raises(DomainError) as refused:
        await refund_payment(
            RefundPayment(payment.id, Decimal(amount), reason, key, "nurse"),
            **deps(world),  # type: ignore[arg-type]
        )

    assert refused.value.code is code
    assert snapshot(world) == before


async def test_an_unknown_payment_is_not_found(world: World) -> None:
    payment = await cash_paid(world)
    stranger = replace(payment, id=PaymentId(payment.invoice_id))

    with pytest.raises(DomainError) as missing:
        await refund(world, stranger)

    assert missing.value.code is ErrorCode.NOT_FOUND


async def test_a_qpay_payment_is_refunded_whole_only(world: World) -> None:
    _, payment = await qpay_paid(world)

    with pytest.raises(DomainError) as partial:
        await refund(world, payment, "100.00")

    assert partial.value.code is ErrorCode.INVALID_AMOUNT
    assert world.store.refunds == {}


async def test_a_lost_answer_is_checked_with_qpay_before_recording(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, payment = await qpay_paid(world)
    real = world.gateway.refund_payment

    async def refunded_then_lost(qpay_payment_id: str, note: str) -> RefundOutcome:
        await real(qpay_payment_id, note)
        raise LOST

    monkeypatch.setattr(world.gateway, "refund_payment", refunded_then_lost)

    done = await refund(world, payment)

    assert done.refund.status is RefundStatus.COMPLETED
    assert done.pending_because is None
    assert world.gateway.calls.count("payment_status") == 1


async def test_a_lost_answer_with_the_payment_still_paid_writes_nothing(
    world: World,
) -> None:
    _, payment = await qpay_paid(world)
    before = snapshot(world)
    world.gateway.fail_with["refund_payment"] = LOST

    with pytest.raises(GatewayUnavailable) as lost:
        await refund(world, payment)

    assert "nothing was refunded" in lost.value.message
    assert snapshot(world) == before


async def test_an_unknown_outcome_stays_pending_until_qpay_answers(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    intent, payment = await qpay_paid(world)
    world.gateway.fail_with["refund_payment"] = LOST
    world.gateway.fail_with["payment_status"] = LOST

    pending = await refund(world, payment)
    blocked = pytest.raises(DomainError)
    with blocked as second:
        await refund(world, payment, key="another")
    replayed = await refund(world, payment)
    too_soon = await settle_pending_refunds(**deps(world))  # type: ignore[arg-type]
    del world.gateway.fail_with["payment_status"]
    rows = world.gateway.invoices[str(intent.qpay_invoice_id)].rows
    rows[0] = replace(rows[0], status="REFUNDED")  # QPay did refund it
    world.clock.advance(120)
    settled = await settle_pending_refunds(**deps(world))  # type: ignore[arg-type]

    assert pending.refund.status is RefundStatus.PENDING
    assert pending.pending_because is not None
    assert pending.invoice.status is InvoiceStatus.PAID  # no money moved yet
    assert second.value.code is ErrorCode.REFUND_EXCEEDS_PAYMENT
    assert replayed.refund.id == pending.refund.id
    assert (too_soon, settled) == (0, 1)
    (stored,) = world.store.refunds.values()
    assert stored.status is RefundStatus.COMPLETED
    assert world.store.intents[intent.id].status is IntentStatus.REFUNDED


async def test_a_pending_refund_fails_when_qpay_shows_the_payment_paid(
    world: World,
) -> None:
    intent, payment = await qpay_paid(world)
    world.gateway.fail_with["refund_payment"] = LOST
    world.gateway.fail_with["payment_status"] = LOST
    pending = await refund(world, payment)
    del world.gateway.fail_with["payment_status"]
    world.clock.advance(120)

    settled = await settle_pending_refunds(**deps(world))  # type: ignore[arg-type]
    replayed = await refund(world, payment)

    assert settled == 1
    assert replayed.refund.id == pending.refund.id
    assert replayed.refund.status is RefundStatus.FAILED
    assert world.store.intents[intent.id].status is IntentStatus.PAID
    assert world.store.invoices[intent.invoice_id].status is InvoiceStatus.PAID


async def test_a_refund_made_at_qpay_is_found_by_the_next_check(world: World) -> None:
    intent, payment = await qpay_paid(world, payment_type="P2P")
    rows = world.gateway.invoices[str(intent.qpay_invoice_id)].rows
    rows[0] = replace(rows[0], status="REFUNDED")  # in QPay's merchant portal

    await settle_qpay_intent(intent.id, **deps(world))  # type: ignore[arg-type]
    await settle_qpay_intent(intent.id, **deps(world))  # type: ignore[arg-type]

    (found,) = world.store.refunds.values()
    assert (found.channel, found.actor, found.amount) == (
        RefundChannel.OUTSIDE,
        None,
        payment.amount,
    )
    assert world.store.intents[intent.id].status is IntentStatus.REFUNDED
    assert world.store.invoices[intent.invoice_id].status is InvoiceStatus.UNPAID


async def test_an_issued_receipt_is_returned_at_qpay_with_the_refund(
    world: World,
) -> None:
    world.gateway.ebarimt_api = "v3"
    _, payment = await qpay_paid(
        world, ebarimt=EbarimtRequest(EbarimtReceiverType.CITIZEN)
    )
    await run_worker(world)

    await refund(world, payment)
    (returning,) = world.store.receipts.values()
    await run_worker(world)

    assert returning[0].status is EbarimtStatus.VOIDING
    (returned,) = world.store.receipts.values()
    assert returned[0].status is EbarimtStatus.VOIDED
    assert world.gateway.registered == {}
    assert world.gateway.calls.count("void_receipts") == 1


async def test_a_receipt_never_sent_is_not_issued_after_the_refund(
    world: World,
) -> None:
    _, payment = await qpay_paid(
        world, ebarimt=EbarimtRequest(EbarimtReceiverType.CITIZEN)
    )

    await refund(world, payment)
    await run_worker(world)

    (receipt,) = world.store.receipts.values()
    assert receipt[0].status is EbarimtStatus.VOIDED
    assert "create_receipt" not in world.gateway.calls


async def test_a_v2_receipt_is_cancelled_by_its_id(world: World) -> None:
    _, payment = await qpay_paid(
        world, ebarimt=EbarimtRequest(EbarimtReceiverType.CITIZEN)
    )
    await run_worker(world)  # issued: its id is known

    await refund(world, payment)
    await run_worker(world)

    (receipt,) = world.store.receipts.values()
    assert receipt[0].status is EbarimtStatus.VOIDED
    assert world.gateway.registered == {}


async def test_a_v2_receipt_whose_id_was_lost_goes_to_a_person(world: World) -> None:
    _, payment = await qpay_paid(
        world, ebarimt=EbarimtRequest(EbarimtReceiverType.CITIZEN)
    )
    world.gateway.fail_with["create_receipt"] = LOST  # made at QPay, answer lost
    await run_worker(world)

    await refund(world, payment)
    await run_worker(world)

    (receipt,) = world.store.receipts.values()
    assert receipt[0].status is EbarimtStatus.FAILED
    assert receipt[0].last_error == CANNOT_VOID


async def new_open_intent(world: World) -> QPayIntent:
    invoice = await create_invoice(
        CreateInvoice(total=Decimal("15000.00")), uow=world.uow, clock=world.clock
    )
    created = await create_qpay_invoice(
        CreateQPayInvoice(invoice.id),
        uow=world.uow,
        gateway=world.gateway,
        clock=world.clock,
        policy=world.policy,
    )
    return created.intent


async def test_money_taken_and_refunded_before_we_heard_is_recorded_both_ways(
    world: World,
) -> None:
    intent = await new_open_intent(world)
    world.gateway.pay(str(intent.qpay_invoice_id))  # its callback lost
    rows = world.gateway.invoices[str(intent.qpay_invoice_id)].rows
    rows[0] = replace(rows[0], status="REFUNDED")  # refunded in QPay's portal

    outcome = await settle_qpay_intent(intent.id, **deps(world))  # type: ignore[arg-type]
    again = await settle_qpay_intent(intent.id, **deps(world))  # type: ignore[arg-type]

    (payment,) = world.store.payments.values()
    (refund,) = world.store.refunds.values()
    assert payment.qpay_payment_id == rows[0].payment_id
    assert (refund.payment_id, refund.channel) == (payment.id, RefundChannel.OUTSIDE)
    assert outcome.intent.status is IntentStatus.REFUNDED
    assert again.intent.status is IntentStatus.REFUNDED
    invoice = world.store.invoices[intent.invoice_id]
    assert (invoice.paid_amount, invoice.status) == (
        Decimal("0.00"),
        InvoiceStatus.UNPAID,
    )


async def test_the_ledger_records_money_taken_and_refunded_on_a_closed_intent(
    world: World,
) -> None:
    intent = await new_open_intent(world)
    world.gateway.pay(str(intent.qpay_invoice_id))
    rows = world.gateway.invoices[str(intent.qpay_invoice_id)].rows
    rows[0] = replace(rows[0], status="REFUNDED")
    now = world.clock.now()

    report = await compare_ledger(
        now - timedelta(hours=1),
        now,
        **deps(world),  # type: ignore[arg-type]
    )

    (payment,) = report.recorded
    (refund,) = world.store.refunds.values()  # recorded by the check it made
    assert (refund.payment_id, refund.channel) == (payment.id, RefundChannel.OUTSIDE)
    assert world.store.intents[intent.id].status is IntentStatus.REFUNDED


async def test_a_refund_that_cannot_be_recorded_is_flagged_and_the_others_recorded(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    intents = [await new_open_intent(world) for _ in range(3)]
    qpay_ids = []
    for intent in intents:
        world.gateway.pay(str(intent.qpay_invoice_id))
        await settle_qpay_intent(intent.id, **deps(world))  # type: ignore[arg-type]
        rows = world.gateway.invoices[str(intent.qpay_invoice_id)].rows
        rows[0] = replace(rows[0], status="REFUNDED")  # refunded in QPay's portal
        qpay_ids.append(rows[0].payment_id)
    poison = sorted(qpay_ids)[0]  # the first one recorded: it fails
    record = refunds_module._record_outside

    async def failing(qpay_payment_id: str, **kwargs: Any) -> Any:
        if qpay_payment_id == poison:
            raise RuntimeError("a row no rule foresaw")
        return await record(qpay_payment_id, **kwargs)

    monkeypatch.setattr(refunds_module, "_record_outside", failing)
    now = world.clock.now()

    report = await compare_ledger(now - timedelta(hours=1), now, **deps(world))  # type: ignore[arg-type]

    recorded = {
        world.store.payments[r.payment_id].qpay_payment_id
        for r in world.store.refunds.values()
    }
    assert recorded == set(qpay_ids) - {poison}
    assert [(f.kind, f.qpay_payment_id) for f in report.flags] == [
        (LedgerFlagKind.REFUNDED, poison)
    ]
