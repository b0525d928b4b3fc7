"""createInvoice's idempotency key on real PostgreSQL (issue 15, item 6):
a double-click makes one bill, whatever the timing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests import db
from tests.gql import CREATE_INVOICE, SETTLE
from tests.harness import Harness

pytestmark = [pytest.mark.db, pytest.mark.anyio]


async def create(harness: Harness, **fields: Any) -> dict[str, Any]:
    body = await harness.gql(CREATE_INVOICE, {"input": {"total": "15000.00", **fields}})
    payload: dict[str, Any] = body["data"]["createInvoice"]
    return payload


async def invoices_stored(harness: Harness) -> int:
    url = harness.app.state.container.settings.database_url
    count: int = await db.scalar(url, "SELECT count(*) FROM invoices")
    return count


async def test_a_repeated_request_answers_the_first_invoice(harness: Harness) -> None:
    first = await create(harness, idempotencyKey="dbl-1", description="Checkup")
    again = await create(harness, idempotencyKey="dbl-1", description="Checkup")

    assert first["errors"] == [] and again["errors"] == []
    assert again["invoice"] == first["invoice"]
    assert await invoices_stored(harness) == 1


async def test_a_double_click_with_a_chosen_number_makes_one_bill(
    harness: Harness,
) -> None:
    answers = await asyncio.gather(
        *(create(harness, idempotencyKey="dbl-2", number="A-100") for _ in range(8))
    )

    assert [a["errors"] for a in answers] == [[]] * 8
    assert len({a["invoice"]["id"] for a in answers}) == 1
    assert await invoices_stored(harness) == 1


async def test_the_key_with_another_input_is_a_conflict_that_writes_nothing(
    harness: Harness,
) -> None:
    await create(harness, idempotencyKey="dbl-3")

    other = await harness.gql(
        CREATE_INVOICE, {"input": {"total": "1.00", "idempotencyKey": "dbl-3"}}
    )

    (error,) = other["data"]["createInvoice"]["errors"]
    assert error["code"] == "IDEMPOTENCY_CONFLICT"
    assert error["field"] == "input.idempotencyKey"
    assert await invoices_stored(harness) == 1


async def test_a_key_already_used_by_a_settlement_is_a_conflict(
    harness: Harness,
) -> None:
    made = await create(harness)
    settle = {
        "invoiceId": made["invoice"]["id"],
        "method": "CASH",
        "amount": "10.00",
        "idempotencyKey": "shared-key",
    }
    settled = await harness.gql(SETTLE, {"input": settle})
    assert settled["data"]["settleInvoice"]["errors"] == []

    reused = await create(harness, idempotencyKey="shared-key")

    assert [e["code"] for e in reused["errors"]] == ["IDEMPOTENCY_CONFLICT"]
    assert await invoices_stored(harness) == 1


async def test_a_failed_request_leaves_its_key_free(harness: Harness) -> None:
    await create(harness, number="A-200")

    taken = await create(harness, number="A-200", idempotencyKey="dbl-4")
    fresh = await create(harness, number="A-201", idempotencyKey="dbl-4")

    assert [e["code"] for e in taken["errors"]] == ["INVALID_INPUT"]
    assert fresh["errors"] == [] and fresh["invoice"]["number"] == "A-201"
