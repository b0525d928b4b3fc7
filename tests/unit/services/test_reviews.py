"""resolveQPayReview (issue 15, item 3), over fakes."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from domain.errors import DomainError, ErrorCode
from domain.history import PaymentEventKind
from domain.intents import IntentStatus, QPayIntent, ReviewReason, ReviewResolution
from domain.invoices import InvoiceStatus
from domain.ledger import LedgerFlag, LedgerFlagKind
from domain.qpay_messages import MalformedRow
from domain.services.create_invoice import CreateInvoice, create_invoice
from domain.services.create_qpay_invoice import CreateQPayInvoice, create_qpay_invoice
from domain.services.reconcile import reconcile
from domain.services.reconcile_ledger import compare_ledger
from domain.services.resolve_qpay_review import ResolveQPayReview, resolve_qpay_review
from domain.services.settle_qpay_intent import settle_qpay_intent
from tests.unit.services.conftest import World

pytestmark = pytest.mark.anyio


def deps(world: World) -> dict[str, object]:
    return {"uow": world.uow, "gateway": world.gateway, "clock": world.clock}


async def in_review(
    world: World, *amounts: str, payment_type: str = "CARD"
) -> QPayIntent:
    """An intent of 15000 paid with `amounts` (each a QPay payment)."""
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
    for amount in amounts:
        world.gateway.pay(
            str(created.intent.qpay_invoice_id),
            Decimal(amount),
            payment_type=payment_type,
        )
    outcome = await settle_qpay_intent(created.intent.id, **deps(world))  # type: ignore[arg-type]
    return outcome.intent


async def resolve(
    world: World,
    intent: QPayIntent,
    resolution: ReviewResolution = ReviewResolution.ACCEPT,
    key: str = "k1",
    note: str | None = "checked with the bank",
) -> QPayIntent:
    return await resolve_qpay_review(
        ResolveQPayReview(intent.id, resolution, note, key, actor="manager"),
        **deps(world),  # type: ignore[arg-type]
    )


async def test_accept_keeps_the_money_and_records_who_and_why(world: World) -> None:
    intent = await in_review(world, "10000.00")
    assert intent.review_reason is ReviewReason.SHORT_PAID

    resolved = await resolve(world, intent)

    assert resolved.status is IntentStatus.PAID
    assert resolved.paid_amount == Decimal("10000.00")
    assert resolved.review is not None
    assert (resolved.review.actor, resolved.review.note) == (
        "manager",
        "checked with the bank",
    )
    assert world.store.intents[intent.id] == resolved
    last = world.store.history[-1]
    assert (last.kind, last.actor, last.intent_status) == (
        PaymentEventKind.INTENT_CHANGED,
        "manager",
        IntentStatus.PAID,
    )


async def test_a_second_resolution_is_not_in_review_and_the_key_replays(
    world: World,
) -> None:
    intent = await in_review(world, "10000.00")
    first = await resolve(world, intent)

    replayed = await resolve(world, intent)
    with pytest.raises(DomainError) as second:
        await resolve(world, intent, key="k2")

    assert replayed == first
    assert second.value.code is ErrorCode.NOT_IN_REVIEW
    assert len(world.store.keys) == 1


async def test_an_intent_not_in_review_is_refused_and_nothing_written(
    world: World,
) -> None:
    intent = await in_review(world, "15000.00")
    history = len(world.store.history)

    with pytest.raises(DomainError) as refused:
        await resolve(world, intent)

    assert refused.value.code is ErrorCode.NOT_IN_REVIEW
    assert world.store.keys == {}
    assert len(world.store.history) == history


async def test_refund_excess_gives_back_the_second_scan(world: World) -> None:
    intent = await in_review(world, "15000.00", "15000.00")
    assert intent.review_reason is ReviewReason.OVERPAID

    resolved = await resolve(world, intent, ReviewResolution.REFUND_EXCESS)
    again = await resolve(world, intent, ReviewResolution.REFUND_EXCESS)

    assert resolved.status is IntentStatus.PAID
    assert resolved.paid_amount == Decimal("15000.00")
    invoice = world.store.invoices[intent.invoice_id]
    assert (invoice.paid_amount, invoice.status) == (
        Decimal("15000.00"),
        InvoiceStatus.PAID,
    )
    (refund,) = world.store.refunds.values()
    assert (refund.amount, refund.actor) == (Decimal("15000.00"), "manager")
    assert again == resolved
    assert world.gateway.calls.count("refund_payment") == 1


async def test_refund_excess_without_excess_is_invalid(world: World) -> None:
    intent = await in_review(world, "10000.00")

    with pytest.raises(DomainError) as refused:
        await resolve(world, intent, ReviewResolution.REFUND_EXCESS)

    assert refused.value.code is ErrorCode.INVALID_INPUT
    assert world.store.keys == {} and world.store.refunds == {}


async def test_refund_excess_of_part_of_a_payment_is_not_supported(
    world: World,
) -> None:
    intent = await in_review(world, "20000.00")  # 5000 too much, in one payment

    with pytest.raises(DomainError) as refused:
        await resolve(world, intent, ReviewResolution.REFUND_EXCESS)

    assert refused.value.code is ErrorCode.REFUND_NOT_SUPPORTED
    assert world.store.intents[intent.id].status is IntentStatus.NEEDS_REVIEW
    assert world.gateway.calls.count("refund_payment") == 0


async def test_refund_excess_of_p2p_money_changes_nothing(world: World) -> None:
    intent = await in_review(world, "15000.00", "15000.00", payment_type="P2P")

    with pytest.raises(DomainError) as refused:
        await resolve(world, intent, ReviewResolution.REFUND_EXCESS)

    assert refused.value.code is ErrorCode.REFUND_NOT_SUPPORTED
    assert world.store.intents[intent.id].status is IntentStatus.NEEDS_REVIEW
    assert world.store.refunds == {} and world.store.keys == {}


async def test_a_note_is_required(world: World) -> None:
    intent = await in_review(world, "10000.00")

    with pytest.raises(DomainError) as refused:
        await resolve(world, intent, note="  ")

    assert refused.value.code is ErrorCode.INVALID_INPUT
    assert world.store.intents[intent.id].status is IntentStatus.NEEDS_REVIEW


async def test_reconcile_stops_reporting_a_review_once_resolved(world: World) -> None:
    intent = await in_review(world, "10000.00")
    now = world.clock.now()

    before = await reconcile(now - timedelta(hours=1), now, **deps(world))  # type: ignore[arg-type]
    await resolve(world, intent)
    after = await reconcile(now - timedelta(hours=1), now, **deps(world))  # type: ignore[arg-type]

    assert before.needs_person and [r.intent_id for r in before.intents] == [intent.id]
    assert not after.needs_person and after.intents == []


async def test_resolving_a_review_resolves_the_ledger_flag_of_its_row(
    world: World,
) -> None:
    intent = await in_review(world, "10000.00")
    now = world.clock.now()
    qpay_invoice_id = str(intent.qpay_invoice_id)
    async with world.uow() as tx:
        # What the ledger sweep raises for an unreadable row of this invoice.
        for flag in (
            LedgerFlag(LedgerFlagKind.MALFORMED, "P-1", "3 decimals", qpay_invoice_id),
            LedgerFlag(LedgerFlagKind.MALFORMED, "P-2", "3 decimals", "another"),
        ):
            await tx.ledger.raise_flag(world.gateway.environment, flag, now)
        await tx.commit()

    await resolve(world, intent)
    after = await reconcile(now - timedelta(hours=1), now, **deps(world))  # type: ignore[arg-type]

    assert [f.qpay_payment_id for f in after.open_flags] == ["P-2"]


async def malformed_in_review(world: World) -> QPayIntent:
    """An intent whose QPay invoice holds a row no table can hold."""
    intent = await in_review(world)
    qpay_invoice_id = str(intent.qpay_invoice_id)
    world.gateway.invoices[qpay_invoice_id].malformed.append(
        MalformedRow("P-9", "amount has more than 2 decimals (10000.005)")
    )
    outcome = await settle_qpay_intent(intent.id, **deps(world))  # type: ignore[arg-type]
    assert outcome.intent.review_reason is ReviewReason.MALFORMED_ROW
    return outcome.intent


@pytest.mark.parametrize("resolved_first", [True, False])
async def test_a_flag_the_ledger_raises_after_the_review_was_closed_is_closed_too(
    world: World, resolved_first: bool
) -> None:
    intent = await malformed_in_review(world)
    now = world.clock.now()
    if resolved_first:
        await resolve(world, intent)

    report = await compare_ledger(now - timedelta(hours=1), now, **deps(world))  # type: ignore[arg-type]
    after = await reconcile(now - timedelta(hours=1), now, **deps(world))  # type: ignore[arg-type]

    assert [(f.kind, f.qpay_payment_id) for f in report.flags] == [
        (LedgerFlagKind.MALFORMED, "P-9")
    ]
    # Still in review: the flag waits for the person with it.
    assert [f.qpay_payment_id for f in after.open_flags] == (
        [] if resolved_first else ["P-9"]
    )
