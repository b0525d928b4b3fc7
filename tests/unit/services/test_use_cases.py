"""The use cases with fakes: no database, no network, milliseconds."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.ebarimt import EbarimtReceiverType, EbarimtRequest, EbarimtStatus
from domain.errors import DomainError, ErrorCode, GatewayUnavailable
from domain.events import HISTORY_TOPIC
from domain.intents import IntentId, IntentStatus
from domain.invoices import InvoiceStatus
from domain.payments import PaymentMethod
from domain.services.close_qpay_intent import close_qpay_intent
from domain.services.create_invoice import CreateInvoice, create_invoice
from domain.services.create_qpay_invoice import CreateQPayInvoice, create_qpay_invoice
from domain.services.issue_ebarimt import ReceiptPolicy, issue_due_receipts
from domain.services.poll_due_intents import PollPolicy, poll_due_intents
from domain.services.settle_invoice import SettleInvoice, settle_invoice
from domain.services.settle_qpay_intent import settle_qpay_intent
from tests.unit.services.conftest import World

pytestmark = pytest.mark.anyio


def intent_announcements(world: World) -> list[tuple[IntentId, int]]:
    """What subscriptions of intents heard (not the history feed's topic)."""
    return [(key, v) for key, v in world.store.notified if key != HISTORY_TOPIC]


async def new_invoice(world: World, total: str = "15000.00"):  # type: ignore[no-untyped-def]
    return await create_invoice(
        CreateInvoice(total=Decimal(total)), uow=world.uow, clock=world.clock
    )


async def new_intent(world: World, invoice_id, **kwargs):  # type: ignore[no-untyped-def]
    return await create_qpay_invoice(
        CreateQPayInvoice(invoice_id=invoice_id, **kwargs),
        uow=world.uow,
        gateway=world.gateway,
        clock=world.clock,
        policy=world.policy,
    )


async def test_second_create_reuses_the_intent_and_makes_no_qpay_call_when_pending(
    world: World,
) -> None:
    invoice = await new_invoice(world)

    first = await new_intent(world, invoice.id)
    second = await new_intent(world, invoice.id)

    assert second.intent.id == first.intent.id
    assert second.reused and not first.reused
    assert world.gateway.calls.count("create_invoice") == 1
    assert len(world.store.secrets[first.intent.id].client_hashes) == 2


async def test_expired_intent_is_not_reused_when_creating_again(world: World) -> None:
    invoice = await new_invoice(world)
    first = await new_intent(world, invoice.id)

    world.clock.advance(900)
    second = await new_intent(world, invoice.id)

    assert second.intent.id != first.intent.id
    assert world.gateway.calls.count("create_invoice") == 2


async def test_failed_creation_closes_the_placeholder_and_raises_when_qpay_is_down(
    world: World,
) -> None:
    invoice = await new_invoice(world)
    world.gateway.fail_with["create_invoice"] = GatewayUnavailable(
        "timeout", may_have_reached=True
    )

    with pytest.raises(GatewayUnavailable):
        await new_intent(world, invoice.id)

    (placeholder,) = world.store.intents.values()
    assert placeholder.status is IntentStatus.CANCELLED
    assert placeholder.qpay_invoice_id is None
    assert placeholder.last_error == "timeout"


async def test_settlement_records_one_payment_and_queues_ebarimt_when_paid(
    world: World,
) -> None:
    invoice = await new_invoice(world)
    created = await new_intent(
        world,
        invoice.id,
        ebarimt=EbarimtRequest(EbarimtReceiverType.CITIZEN, "88112233"),
    )
    world.gateway.pay(str(created.intent.qpay_invoice_id))

    first = await settle_qpay_intent(
        created.intent.id, uow=world.uow, gateway=world.gateway, clock=world.clock
    )
    again = await settle_qpay_intent(
        created.intent.id, uow=world.uow, gateway=world.gateway, clock=world.clock
    )

    assert first.intent.status is IntentStatus.PAID
    assert len(first.recorded) == 1 and again.recorded == ()
    assert world.store.invoices[invoice.id].status is InvoiceStatus.PAID
    ((receipt, _),) = world.store.receipts.values()
    assert receipt.status is EbarimtStatus.PENDING
    # Creation announced version 0 (waiting creators wake on it); the
    # settlement announced one change, once.
    assert intent_announcements(world) == [
        (created.intent.id, 0),
        (created.intent.id, 1),
    ]


async def test_receipt_is_issued_and_announced_when_the_worker_runs(
    world: World,
) -> None:
    invoice = await new_invoice(world)
    created = await new_intent(
        world, invoice.id, ebarimt=EbarimtRequest(EbarimtReceiverType.CITIZEN)
    )
    world.gateway.pay(str(created.intent.qpay_invoice_id))
    await settle_qpay_intent(
        created.intent.id, uow=world.uow, gateway=world.gateway, clock=world.clock
    )

    attempted = await issue_due_receipts(
        "worker",
        uow=world.uow,
        gateway=world.gateway,
        clock=world.clock,
        policy=ReceiptPolicy(),
    )

    ((receipt, _),) = world.store.receipts.values()
    assert attempted == 1
    assert receipt.status is EbarimtStatus.ISSUED and receipt.lottery
    assert world.store.intents[created.intent.id].version == 2
    assert intent_announcements(world)[-1] == (created.intent.id, 2)


async def test_receipt_ends_failed_and_settlement_stays_when_qpay_keeps_refusing(
    world: World,
) -> None:
    invoice = await new_invoice(world)
    created = await new_intent(
        world,
        invoice.id,
        ebarimt=EbarimtRequest(EbarimtReceiverType.COMPANY, "1234567"),
    )
    world.gateway.pay(str(created.intent.qpay_invoice_id))
    await settle_qpay_intent(
        created.intent.id, uow=world.uow, gateway=world.gateway, clock=world.clock
    )
    world.gateway.fail_with["create_receipt"] = GatewayUnavailable(
        "down", may_have_reached=False
    )

    for _ in range(3):
        await issue_due_receipts(
            "worker",
            uow=world.uow,
            gateway=world.gateway,
            clock=world.clock,
            policy=ReceiptPolicy(max_attempts=3),
        )
        world.clock.advance(600)  # past the backoff

    ((receipt, _),) = world.store.receipts.values()
    assert receipt.status is EbarimtStatus.FAILED
    assert receipt.attempts == 3 and receipt.last_error == "down"
    assert world.store.intents[created.intent.id].status is IntentStatus.PAID


async def test_poller_expires_an_unpaid_intent_after_a_last_check_and_cancel_when_due(
    world: World,
) -> None:
    invoice = await new_invoice(world)
    created = await new_intent(world, invoice.id)
    world.clock.advance(901)

    result = await poll_due_intents(
        "me",
        uow=world.uow,
        gateway=world.gateway,
        clock=world.clock,
        policy=PollPolicy(3, 60),
        budget=5,
    )

    assert result.expired == 1
    assert world.store.intents[created.intent.id].status is IntentStatus.EXPIRED
    assert world.gateway.calls[-2:] == ["check_payment", "cancel_invoice"]


async def test_poller_settles_instead_of_expiring_when_the_last_check_finds_money(
    world: World,
) -> None:
    invoice = await new_invoice(world)
    created = await new_intent(world, invoice.id)
    world.gateway.pay(str(created.intent.qpay_invoice_id))
    world.clock.advance(901)

    await poll_due_intents(
        "me",
        uow=world.uow,
        gateway=world.gateway,
        clock=world.clock,
        policy=PollPolicy(3, 60),
        budget=5,
    )

    assert world.store.intents[created.intent.id].status is IntentStatus.PAID
    assert "cancel_invoice" not in world.gateway.calls


async def test_poller_never_expires_when_qpay_is_unreachable(world: World) -> None:
    invoice = await new_invoice(world)
    created = await new_intent(world, invoice.id)
    world.clock.advance(901)
    world.gateway.fail_with["check_payment"] = GatewayUnavailable(
        "down", may_have_reached=False
    )

    result = await poll_due_intents(
        "me",
        uow=world.uow,
        gateway=world.gateway,
        clock=world.clock,
        policy=PollPolicy(3, 60),
        budget=5,
    )

    assert result.failed == 1
    assert world.store.intents[created.intent.id].status is IntentStatus.PENDING


async def test_cash_with_one_key_records_one_payment_when_repeated(
    world: World,
) -> None:
    invoice = await new_invoice(world)
    command = SettleInvoice(
        invoice.id, PaymentMethod.CASH, Decimal("100.00"), idempotency_key="k"
    )

    first = await settle_invoice(
        command, uow=world.uow, gateway=world.gateway, clock=world.clock
    )
    second = await settle_invoice(
        command, uow=world.uow, gateway=world.gateway, clock=world.clock
    )

    assert not first.already_settled and second.already_settled
    assert first.payment == second.payment
    assert len(world.store.payments) == 1


async def test_key_reused_with_another_amount_is_a_conflict_when_settling(
    world: World,
) -> None:
    invoice = await new_invoice(world)
    await settle_invoice(
        SettleInvoice(
            invoice.id, PaymentMethod.CASH, Decimal("100.00"), idempotency_key="k"
        ),
        uow=world.uow,
        gateway=world.gateway,
        clock=world.clock,
    )

    with pytest.raises(DomainError) as raised:
        await settle_invoice(
            SettleInvoice(
                invoice.id, PaymentMethod.CASH, Decimal("200.00"), idempotency_key="k"
            ),
            uow=world.uow,
            gateway=world.gateway,
            clock=world.clock,
        )

    assert raised.value.code is ErrorCode.IDEMPOTENCY_CONFLICT
    assert len(world.store.payments) == 1


async def test_poll_reports_found_money_when_the_callback_was_lost(
    world: World,
) -> None:
    invoice = await new_invoice(world)
    created = await new_intent(world, invoice.id)
    world.gateway.pay(str(created.intent.qpay_invoice_id))
    world.clock.advance(3)

    result = await poll_due_intents(
        "me",
        uow=world.uow,
        gateway=world.gateway,
        clock=world.clock,
        policy=PollPolicy(3, 60),
        budget=5,
    )

    assert result.found_money == 1 and result.settled == 1


async def test_poller_releases_the_lease_and_logs_a_traceback_when_a_check_crashes(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    invoice = await new_invoice(world)
    created = await new_intent(world, invoice.id)
    world.clock.advance(3)
    world.gateway.fail_with["check_payment"] = RuntimeError("a bug")

    result = await poll_due_intents(
        "me",
        uow=world.uow,
        gateway=world.gateway,
        clock=world.clock,
        policy=PollPolicy(3, 60),
        budget=5,
    )

    assert result.failed == 1
    assert world.store.secrets[created.intent.id].leased_by is None
    (record,) = [r for r in caplog.records if "poll of intent" in r.getMessage()]
    # With traceback (the redaction filter, when installed, moves it to exc_text).
    assert record.exc_info is not None or "RuntimeError: a bug" in (
        record.exc_text or ""
    )


async def test_reused_intent_remembers_the_latest_ebarimt_request(
    world: World,
) -> None:
    invoice = await new_invoice(world)
    first = await new_intent(world, invoice.id)
    citizen = EbarimtRequest(EbarimtReceiverType.CITIZEN, "99112233")
    company = EbarimtRequest(EbarimtReceiverType.COMPANY, "5317878")

    with_citizen = await new_intent(world, invoice.id, ebarimt=citizen)
    with_company = await new_intent(world, invoice.id, ebarimt=company)

    assert with_citizen.reused and with_company.reused
    assert with_citizen.intent.id == with_company.intent.id == first.intent.id
    assert with_citizen.intent.ebarimt == citizen
    assert world.store.intents[first.intent.id].ebarimt == company


async def test_cash_paying_the_whole_bill_cancels_its_open_qpay_invoices(
    world: World,
) -> None:
    invoice = await new_invoice(world)
    created = await new_intent(world, invoice.id)

    await settle_invoice(
        SettleInvoice(
            invoice.id, PaymentMethod.CASH, Decimal("15000.00"), idempotency_key="k"
        ),
        uow=world.uow,
        gateway=world.gateway,
        clock=world.clock,
    )

    assert world.store.intents[created.intent.id].status is IntentStatus.CANCELLED
    assert world.gateway.invoices[str(created.intent.qpay_invoice_id)].cancelled


async def test_cash_paying_part_of_the_bill_leaves_the_qr_payable(
    world: World,
) -> None:
    invoice = await new_invoice(world)
    created = await new_intent(world, invoice.id)

    await settle_invoice(
        SettleInvoice(
            invoice.id, PaymentMethod.CASH, Decimal("5000.00"), idempotency_key="k"
        ),
        uow=world.uow,
        gateway=world.gateway,
        clock=world.clock,
    )

    assert world.store.intents[created.intent.id].status is IntentStatus.PENDING
    assert "cancel_invoice" not in world.gateway.calls


async def test_cash_closing_the_bill_records_money_qpay_took_meanwhile(
    world: World,
) -> None:
    invoice = await new_invoice(world)
    created = await new_intent(world, invoice.id)
    world.gateway.pay(str(created.intent.qpay_invoice_id))  # callback lost

    result = await settle_invoice(
        SettleInvoice(
            invoice.id, PaymentMethod.CASH, Decimal("15000.00"), idempotency_key="k"
        ),
        uow=world.uow,
        gateway=world.gateway,
        clock=world.clock,
    )

    assert result.invoice.status is InvoiceStatus.OVERPAID
    assert result.invoice.paid_amount == Decimal("30000.00")
    assert world.store.intents[created.intent.id].status is IntentStatus.PAID


async def test_closing_ends_a_pending_intent_and_announces_it_once(
    world: World,
) -> None:
    invoice = await new_invoice(world)
    created = await new_intent(world, invoice.id)

    closed = await close_qpay_intent(
        created.intent.id, IntentStatus.EXPIRED, uow=world.uow, clock=world.clock
    )
    again = await close_qpay_intent(
        created.intent.id, IntentStatus.CANCELLED, uow=world.uow, clock=world.clock
    )

    assert closed.status is IntentStatus.EXPIRED
    assert again == closed  # an ended intent stays as it ended
    assert intent_announcements(world) == [
        (created.intent.id, 0),
        (created.intent.id, 1),
    ]
    assert world.gateway.calls.count("check_payment") == 0  # QPay is not asked


async def test_closing_leaves_a_paid_intent_paid(world: World) -> None:
    invoice = await new_invoice(world)
    created = await new_intent(world, invoice.id)
    world.gateway.pay(str(created.intent.qpay_invoice_id))
    paid = await settle_qpay_intent(
        created.intent.id, uow=world.uow, gateway=world.gateway, clock=world.clock
    )

    closed = await close_qpay_intent(
        created.intent.id, IntentStatus.CANCELLED, uow=world.uow, clock=world.clock
    )

    assert closed == paid.intent and closed.status is IntentStatus.PAID
