"""Small steps shared by the HTTP tests (documents: tests/gql.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests import db
from tests.gql import CREATE_INVOICE, CREATE_QPAY
from tests.harness import Harness


async def new_invoice(harness: Harness, total: str = "15000.00") -> str:
    body = await harness.gql(CREATE_INVOICE, {"input": {"total": total}})
    invoice_id: str = body["data"]["createInvoice"]["invoice"]["id"]
    return invoice_id


async def new_intent(harness: Harness, invoice_id: str, **extra: Any) -> dict[str, Any]:
    body = await harness.gql(CREATE_QPAY, {"input": {"invoiceId": invoice_id, **extra}})
    payload: dict[str, Any] = body["data"]["createQPayInvoice"]
    return payload


def qpay_calls(harness: Harness, path_suffix: str, method: str | None = None) -> int:
    """How many requests the simulator received on paths ending with the suffix."""
    return sum(
        1
        for entry in harness.simulator.requests
        if str(entry["path"]).endswith(path_suffix)
        and (method is None or entry["method"] == method)
    )


async def intent_row(harness: Harness, intent_id: str) -> dict[str, Any]:
    """The intent's row as stored (status, paid_amount, version, last_error)."""
    url = harness.app.state.container.settings.database_url
    rows = await db.fetch(
        url,
        "SELECT status, paid_amount, version, last_error FROM qpay_intents "
        "WHERE id = $1::uuid",
        intent_id,
    )
    return dict(rows[0])


async def wait_for_intent(
    harness: Harness, intent_id: str, predicate: Any, seconds: float = 10.0
) -> dict[str, Any]:
    """Poll the intent's row until `predicate(row)` holds (background work)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        row = await intent_row(harness, intent_id)
        if predicate(row) or asyncio.get_running_loop().time() > deadline:
            return row
        await asyncio.sleep(0.05)


async def allow_check_now(harness: Harness, intent_id: str) -> None:
    """Forget the intent's last QPay check, so the 2 s brake lets one through."""
    url = harness.app.state.container.settings.database_url
    await db.execute(
        url,
        "UPDATE qpay_intents SET last_checked_at = NULL WHERE id = $1::uuid",
        intent_id,
    )
