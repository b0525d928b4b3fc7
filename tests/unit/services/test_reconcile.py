"""reconcile_open_intents: every open intent is checked with QPay now."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.errors import GatewayUnavailable
from domain.intents import IntentStatus
from domain.services.reconcile import reconcile_open_intents
from tests.unit.services.conftest import World

pytestmark = pytest.mark.anyio


async def open_intent(world: World, total: str) -> str:
    return str((await world.new_intent(total)).qpay_invoice_id)


async def test_paid_intents_settle_and_others_stay_pending_when_reconciled(
    world: World,
) -> None:
    paid = await open_intent(world, "100.00")
    await open_intent(world, "200.00")
    short = await open_intent(world, "300.00")
    world.gateway.pay(paid)
    world.gateway.pay(short, Decimal("250.00"))

    rows = await reconcile_open_intents(
        uow=world.uow, gateway=world.gateway, clock=world.clock
    )

    after = sorted((str(r.amount), r.before, r.after) for r in rows)
    assert after == [
        ("100.00", IntentStatus.PENDING, IntentStatus.PAID),
        ("200.00", IntentStatus.PENDING, IntentStatus.PENDING),
        ("300.00", IntentStatus.PENDING, IntentStatus.NEEDS_REVIEW),
    ]
    assert [r.needs_review for r in sorted(rows, key=lambda r: r.amount)] == [
        False,
        False,
        True,
    ]


async def test_an_unreachable_qpay_is_reported_not_settled_when_reconciling(
    world: World,
) -> None:
    await open_intent(world, "100.00")
    world.gateway.fail_with["check_payment"] = GatewayUnavailable(
        "down", may_have_reached=False
    )

    (row,) = await reconcile_open_intents(
        uow=world.uow, gateway=world.gateway, clock=world.clock
    )

    assert row.after is None and row.error is not None and row.needs_review
    assert next(iter(world.store.intents.values())).status is IntentStatus.PENDING
