"""e-Barimt at most once (issue 12, part 5): a create whose outcome is unknown
is never simply sent again."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.ebarimt import EbarimtReceiverType, EbarimtRequest, EbarimtStatus
from domain.errors import GatewayRejected, GatewayUnavailable
from domain.qpay_messages import IssuedReceipt, ReceiptRequest
from domain.services.create_invoice import CreateInvoice, create_invoice
from domain.services.create_qpay_invoice import CreateQPayInvoice, create_qpay_invoice
from domain.services.issue_ebarimt import (
    MAY_HAVE_REACHED,
    ReceiptPolicy,
    issue_due_receipts,
)
from domain.services.settle_qpay_intent import settle_qpay_intent
from tests.unit.services.conftest import World

pytestmark = pytest.mark.anyio

LOST = GatewayUnavailable("QPay did not answer in time", may_have_reached=True)


async def paid_with_receipt(world: World) -> str:
    """A settled QPay payment with a pending e-Barimt receipt; its QPay id."""
    invoice = await create_invoice(
        CreateInvoice(total=Decimal("15000.00")), uow=world.uow, clock=world.clock
    )
    created = await create_qpay_invoice(
        CreateQPayInvoice(
            invoice.id, ebarimt=EbarimtRequest(EbarimtReceiverType.CITIZEN)
        ),
        uow=world.uow,
        gateway=world.gateway,
        clock=world.clock,
        policy=world.policy,
    )
    payment_id = world.gateway.pay(str(created.intent.qpay_invoice_id))
    await settle_qpay_intent(
        created.intent.id, uow=world.uow, gateway=world.gateway, clock=world.clock
    )
    return payment_id


async def run_worker(world: World, passes: int = 1) -> None:
    for _ in range(passes):
        await issue_due_receipts(
            "worker",
            uow=world.uow,
            gateway=world.gateway,
            clock=world.clock,
            policy=ReceiptPolicy(),
        )
        world.clock.advance(600)  # past any backoff


def receipt(world: World):  # type: ignore[no-untyped-def]
    ((only, _),) = world.store.receipts.values()
    return only


async def test_v2_create_that_may_have_reached_qpay_is_not_sent_again(
    world: World,
) -> None:
    payment_id = await paid_with_receipt(world)
    world.gateway.fail_with["create_receipt"] = LOST
    await run_worker(world)
    del world.gateway.fail_with["create_receipt"]

    await run_worker(world, passes=3)

    assert world.gateway.calls.count("create_receipt") == 1
    assert world.gateway.registered == {payment_id: 1}
    assert receipt(world).status is EbarimtStatus.FAILED
    assert receipt(world).last_error == MAY_HAVE_REACHED


async def test_v3_finds_out_what_qpay_holds_then_issues_exactly_one(
    world: World,
) -> None:
    world.gateway.ebarimt_api = "v3"
    payment_id = await paid_with_receipt(world)
    world.gateway.fail_with["create_receipt"] = LOST
    await run_worker(world)
    del world.gateway.fail_with["create_receipt"]

    await run_worker(world, passes=3)

    assert world.gateway.calls.count("void_receipts") == 1
    assert world.gateway.calls.count("create_receipt") == 2
    assert world.gateway.registered == {payment_id: 1}  # the lost one was voided
    assert receipt(world).status is EbarimtStatus.ISSUED


async def test_a_refused_create_is_retried_because_nothing_was_issued(
    world: World,
) -> None:
    payment_id = await paid_with_receipt(world)
    world.gateway.fail_with["create_receipt"] = GatewayRejected("SYSTEM_BUSY", "busy")
    await run_worker(world)
    del world.gateway.fail_with["create_receipt"]

    await run_worker(world)

    assert world.gateway.calls.count("void_receipts") == 0
    assert world.gateway.registered == {payment_id: 1}
    assert receipt(world).status is EbarimtStatus.ISSUED


async def test_an_empty_answer_is_not_an_issued_receipt(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    await paid_with_receipt(world)
    create = world.gateway.create_receipt

    async def answers_nothing(request: ReceiptRequest) -> IssuedReceipt:
        await create(request)
        return IssuedReceipt(ebarimt_id=None, lottery=None, qr_data=None)

    monkeypatch.setattr(world.gateway, "create_receipt", answers_nothing)

    await run_worker(world)

    assert receipt(world).status is EbarimtStatus.PENDING
    assert receipt(world).attempts == 1
    assert world.store.receipt_leases[receipt(world).id].uncertain


async def test_an_unexpected_failure_counts_an_attempt_and_frees_the_receipt(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    await paid_with_receipt(world)
    world.gateway.fail_with["create_receipt"] = RuntimeError("a bug")

    await run_worker(world)
    after_one = receipt(world)
    await run_worker(world)

    assert after_one.status is EbarimtStatus.PENDING and after_one.attempts == 1
    assert "RuntimeError: a bug" in (after_one.last_error or "")
    assert any(r.exc_info or r.exc_text for r in caplog.records)
    # Freed and taken again; the crashed create may have reached QPay, so v2
    # hands it to a person rather than sending it twice.
    assert receipt(world).attempts == 2
    assert receipt(world).status is EbarimtStatus.FAILED
    assert world.gateway.calls.count("create_receipt") == 1
