"""The ledger sweep's lease and flags on real PostgreSQL, real commits."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest

from domain.ledger import LedgerFlag, LedgerFlagKind
from domain.qpay_messages import QPayEnvironment
from domain.services.reconcile_ledger import LedgerPolicy, sweep_ledger
from tests.harness import Harness

pytestmark = [pytest.mark.db, pytest.mark.anyio]


async def test_one_of_many_processes_sweeps_when_they_all_tick_at_once(
    harness: Harness,
) -> None:
    container = harness.app.state.container
    policy = LedgerPolicy(interval_seconds=300)

    reports = await asyncio.gather(
        *(
            sweep_ledger(
                f"process-{n}",
                uow=container.uow,
                gateway=container.gateway,
                clock=container.clock,
                policy=policy,
            )
            for n in range(8)
        )
    )

    assert sum(1 for report in reports if report is not None) == 1
    lists = [r for r in harness.simulator.requests if r["path"] == "/v2/payment/list"]
    assert len(lists) == 1
    async with container.uow() as tx:
        state = await tx.ledger.sweep_state(QPayEnvironment.MOCK)
    assert state.swept_until is not None and state.lag_seconds < 60


async def test_a_flag_is_stored_once_and_seen_again_later(harness: Harness) -> None:
    container = harness.app.state.container
    flag = LedgerFlag(
        LedgerFlagKind.UNMATCHED,
        "P-1",
        "no intent",
        qpay_invoice_id="qi-1",
        amount=Decimal("700.00"),
        currency="MNT",
        status="PAID",
    )
    now = container.clock.now()

    async with container.uow() as tx:
        first = await tx.ledger.raise_flag(QPayEnvironment.MOCK, flag, now)
        again = await tx.ledger.raise_flag(
            QPayEnvironment.MOCK, flag, now + timedelta(minutes=5)
        )
        other_env = await tx.ledger.raise_flag(QPayEnvironment.LIVE, flag, now)
        await tx.commit()
    async with container.uow() as tx:
        open_flags = await tx.ledger.open_flags(QPayEnvironment.MOCK)

    assert (first, again, other_env) == (True, False, True)
    (stored,) = open_flags
    assert stored.first_seen_at == now
    assert (stored.amount, stored.detail) == (Decimal("700.00"), "no intent")
