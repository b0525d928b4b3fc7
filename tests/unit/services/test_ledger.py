"""The ledger comparison and the sweep, over fakes (issue 12, part 2)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from domain.errors import GatewayUnavailable
from domain.intents import IntentStatus
from domain.ledger import LedgerFlagKind
from domain.qpay_messages import LedgerPage, PaymentRow
from domain.refunds import RefundChannel, RefundStatus
from domain.services.cancel_qpay_invoice import cancel_qpay_invoice
from domain.services.reconcile_ledger import LedgerPolicy, compare_ledger, sweep_ledger
from domain.services.settle_qpay_intent import settle_qpay_intent
from tests.fakes.gateway import FakeInvoice
from tests.unit.services.conftest import World

pytestmark = pytest.mark.anyio

POLICY = LedgerPolicy(interval_seconds=300)


async def compare(world: World):  # type: ignore[no-untyped-def]
    now = world.clock.now()
    return await compare_ledger(
        now - timedelta(hours=1),
        now,
        uow=world.uow,
        gateway=world.gateway,
        clock=world.clock,
    )


def deps(world: World) -> dict[str, object]:
    return {"uow": world.uow, "gateway": world.gateway, "clock": world.clock}


async def test_records_money_taken_on_a_cancelled_intent(world: World) -> None:
    intent = await world.new_intent()
    await cancel_qpay_invoice(intent.id, **deps(world))  # type: ignore[arg-type]
    paid = world.gateway.pay(str(intent.qpay_invoice_id))  # callback lost

    report = await compare(world)

    assert [p.qpay_payment_id for p in report.recorded] == [paid]
    assert world.store.intents[intent.id].status is IntentStatus.NEEDS_REVIEW
    assert report.flags == ()


async def test_records_a_second_payment_on_a_paid_intent(world: World) -> None:
    intent = await world.new_intent()
    world.gateway.pay(str(intent.qpay_invoice_id))
    await settle_qpay_intent(intent.id, **deps(world))  # type: ignore[arg-type]
    second = world.gateway.pay(str(intent.qpay_invoice_id))

    report = await compare(world)

    assert [p.qpay_payment_id for p in report.recorded] == [second]
    assert world.store.intents[intent.id].paid_amount == Decimal("30000.00")


async def test_changes_nothing_and_flags_nothing_when_the_books_agree(
    world: World,
) -> None:
    intent = await world.new_intent()
    world.gateway.pay(str(intent.qpay_invoice_id))
    await settle_qpay_intent(intent.id, **deps(world))  # type: ignore[arg-type]
    calls = len(world.gateway.calls)

    report = await compare(world)

    assert report.recorded == () and report.flags == ()
    assert world.gateway.calls[calls:] == ["list_payments"]  # no check needed


async def test_flags_a_payment_that_matches_no_intent(world: World) -> None:
    world.gateway.invoices["stranger"] = FakeInvoice(
        request=None,  # type: ignore[arg-type]  # made outside this service
        rows=[PaymentRow("P-STRANGER", "PAID", Decimal("700.00"))],
    )

    report = await compare(world)

    (flag,) = report.flags
    assert (flag.kind, flag.qpay_payment_id) == (LedgerFlagKind.UNMATCHED, "P-STRANGER")
    assert "matches no intent" in flag.detail
    assert report.recorded == ()
    assert len(world.store.flags) == 1


async def test_records_once_a_refund_qpay_shows_for_a_recorded_payment(
    world: World,
) -> None:
    intent = await world.new_intent()
    paid = world.gateway.pay(str(intent.qpay_invoice_id))
    await settle_qpay_intent(intent.id, **deps(world))  # type: ignore[arg-type]
    rows = world.gateway.invoices[str(intent.qpay_invoice_id)].rows
    rows[0] = PaymentRow(paid, "REFUNDED", rows[0].amount)

    first = await compare(world)
    again = await compare(world)

    (refund,) = first.refunds
    assert (refund.channel, refund.amount) == (RefundChannel.OUTSIDE, rows[0].amount)
    assert refund.actor is None and refund.status is RefundStatus.COMPLETED
    assert again.refunds == () and first.flags == ()
    assert world.store.intents[intent.id].status is IntentStatus.REFUNDED
    assert world.store.intents[intent.id].paid_amount == Decimal("0.00")
    invoice = world.store.invoices[intent.invoice_id]
    assert (invoice.paid_amount, invoice.status) == (Decimal("0.00"), "UNPAID")
    assert len(world.store.refunds) == 1


async def test_flags_a_listed_payment_its_check_does_not_show(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    intent = await world.new_intent()
    paid = world.gateway.pay(str(intent.qpay_invoice_id))
    real_check = world.gateway.check_payment

    async def check_without_it(qpay_invoice_id: str):  # type: ignore[no-untyped-def]
        answer = await real_check(qpay_invoice_id)
        return type(answer)(rows=())

    monkeypatch.setattr(world.gateway, "check_payment", check_without_it)

    report = await compare(world)

    (flag,) = report.flags
    assert (flag.kind, flag.qpay_payment_id) == (LedgerFlagKind.UNCONFIRMED, paid)
    assert report.recorded == ()


async def test_a_second_sweep_waits_for_the_interval_and_the_lease(
    world: World,
) -> None:
    await world.new_intent()

    first = await sweep_ledger("a", policy=POLICY, **deps(world))  # type: ignore[arg-type]
    too_soon = await sweep_ledger("b", policy=POLICY, **deps(world))  # type: ignore[arg-type]
    world.clock.advance(301)
    later = await sweep_ledger("b", policy=POLICY, **deps(world))  # type: ignore[arg-type]

    assert first is not None and too_soon is None and later is not None
    assert later.start == first.end - POLICY.overlap


async def test_a_recheck_reaches_back_for_refunds_of_older_payments(
    world: World,
) -> None:
    intent = await world.new_intent()
    paid = world.gateway.pay(str(intent.qpay_invoice_id))
    await settle_qpay_intent(intent.id, **deps(world))  # type: ignore[arg-type]
    await sweep_ledger("a", policy=POLICY, **deps(world))  # type: ignore[arg-type]
    world.clock.advance(2 * 24 * 3600)  # two days on, refunded in QPay's portal
    rows = world.gateway.invoices[str(intent.qpay_invoice_id)].rows
    rows[0] = PaymentRow(paid, "REFUNDED", rows[0].amount)
    world.gateway.paid_at[paid] = world.clock.now() - timedelta(days=2)

    plain = await sweep_ledger("a", policy=POLICY, **deps(world))  # type: ignore[arg-type]
    world.clock.advance(301)
    recheck = await sweep_ledger("a", policy=POLICY, recheck=True, **deps(world))  # type: ignore[arg-type]

    assert plain is not None and recheck is not None
    assert plain.start == plain.end - timedelta(days=2) - POLICY.overlap
    assert recheck.start == recheck.end - POLICY.recheck_lookback
    assert world.store.intents[intent.id].status is IntentStatus.REFUNDED


async def test_a_sweeper_renews_its_lease_and_one_killed_mid_sweep_loses_it(
    world: World,
) -> None:
    await world.new_intent()
    policy = LedgerPolicy(interval_seconds=300, lease_seconds=0.3)
    listing, go_on = asyncio.Event(), asyncio.Event()
    list_payments = world.gateway.list_payments

    async def slow(start: datetime, end: datetime, page: int) -> LedgerPage:
        if not listing.is_set():  # the first sweep hangs in QPay's list
            listing.set()
            await go_on.wait()
        return await list_payments(start, end, page)

    world.gateway.list_payments = slow  # type: ignore[method-assign]
    sweeping = asyncio.create_task(sweep_ledger("a", policy=policy, **deps(world)))  # type: ignore[arg-type]
    await listing.wait()
    world.clock.advance(0.25)
    await asyncio.sleep(0.15)  # the sweeper renews every lease_seconds / 3
    world.clock.advance(0.25)  # past the lease first taken
    while_alive = await sweep_ledger("b", policy=policy, **deps(world))  # type: ignore[arg-type]
    sweeping.cancel()  # killed mid-sweep: nothing releases the lease
    await asyncio.wait([sweeping])
    go_on.set()
    world.clock.advance(0.31)
    after_death = await sweep_ledger("b", policy=policy, **deps(world))  # type: ignore[arg-type]

    assert while_alive is None
    assert after_death is not None


async def test_a_failed_sweep_keeps_the_cursor_and_retries_soon(world: World) -> None:
    await world.new_intent()
    world.gateway.fail_with["list_payments"] = GatewayUnavailable(
        "down", may_have_reached=False
    )

    with pytest.raises(GatewayUnavailable):
        await sweep_ledger("a", policy=POLICY, **deps(world))  # type: ignore[arg-type]
    world.clock.advance(POLICY.retry_seconds + 1)
    del world.gateway.fail_with["list_payments"]
    retried = await sweep_ledger("b", policy=POLICY, **deps(world))  # type: ignore[arg-type]

    assert retried is not None
    assert world.store.sweeps[world.gateway.environment].swept_until == retried.end


async def test_first_sweep_starts_at_the_oldest_intent(world: World) -> None:
    intent = await world.new_intent()
    world.clock.advance(3600)

    report = await sweep_ledger("a", policy=POLICY, **deps(world))  # type: ignore[arg-type]

    assert report is not None
    assert report.start == intent.created_at - POLICY.overlap


async def test_a_sweep_that_could_not_record_everything_moves_up_to_the_gap(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    stuck, fine = await world.new_intent(), await world.new_intent()
    for intent in (stuck, fine):
        await cancel_qpay_invoice(intent.id, **deps(world))  # type: ignore[arg-type]
    world.clock.advance(600)
    gap = world.clock.now() - timedelta(seconds=30)
    world.gateway.pay(str(stuck.qpay_invoice_id), at=gap)
    world.gateway.pay(str(fine.qpay_invoice_id), at=world.clock.now())
    check = world.gateway.check_payment

    async def down_for_one(qpay_invoice_id: str):  # type: ignore[no-untyped-def]
        if qpay_invoice_id == stuck.qpay_invoice_id:
            raise GatewayUnavailable("slow", may_have_reached=False)
        return await check(qpay_invoice_id)

    monkeypatch.setattr(world.gateway, "check_payment", down_for_one)

    first = await sweep_ledger("a", policy=POLICY, **deps(world))  # type: ignore[arg-type]
    cursor = world.store.sweeps[world.gateway.environment].swept_until
    monkeypatch.setattr(world.gateway, "check_payment", check)
    world.clock.advance(POLICY.retry_seconds + 1)
    second = await sweep_ledger("b", policy=POLICY, **deps(world))  # type: ignore[arg-type]

    assert first is not None and first.failed == (stuck.id,)
    assert [p.intent_id for p in first.recorded] == [fine.id]
    assert cursor == gap  # not past the money it could not record
    assert second is not None and second.start == gap - POLICY.overlap
    assert [p.intent_id for p in second.recorded] == [stuck.id]
