"""paymentEvents, the front desk's live feed (issue 15, item 5), on real
ports: staff only, every change as it commits, across processes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from app.staff_tokens import StaffTokens
from tests.conftest import TEST_JWT_SECRET
from tests.e2e.conftest import Live
from tests.e2e.test_multi_process import two_processes
from tests.e2e.ws import graphql_socket
from tests.gql import CREATE_INVOICE, SETTLE, gql

pytestmark = [pytest.mark.e2e, pytest.mark.db, pytest.mark.anyio]

PAYMENT_EVENTS = """
subscription PaymentEvents {
  paymentEvents {
    kind actor intentStatus at
    invoice { id paidAmount status } payment { amount method } intent { id status }
  }
}
"""
BOLD = StaffTokens(TEST_JWT_SECRET).issue(subject="dr.bold")


def staff_init(token: str = BOLD) -> dict[str, Any]:
    return {"authorization": f"Bearer {token}"}


async def cash(client: httpx.AsyncClient, url: str, total: str, amount: str) -> str:
    made = await gql(
        client, CREATE_INVOICE, {"input": {"total": total}}, token=BOLD, url=url
    )
    invoice_id: str = made["data"]["createInvoice"]["invoice"]["id"]
    settle = {
        "invoiceId": invoice_id,
        "method": "CASH",
        "amount": amount,
        "idempotencyKey": f"feed-{invoice_id}",
    }
    paid = await gql(client, SETTLE, {"input": settle}, token=BOLD, url=url)
    assert paid["data"]["settleInvoice"]["errors"] == [], paid
    return invoice_id


async def test_the_desk_sees_a_payment_as_it_is_recorded(live: Live) -> None:
    async with graphql_socket(live.ws_url, staff_init()) as ws:
        feed = await ws.subscribe(PAYMENT_EVENTS, {})
        invoice_id = await cash(
            live.client, f"{live.url}/graphql", "15000.00", "5000.00"
        )

        event = await feed.wait_for(lambda e: e["kind"] == "PAYMENT_RECORDED")

    assert event["actor"] == "dr.bold"
    assert event["invoice"] == {
        "id": invoice_id,
        "paidAmount": "5000.00",
        "status": "PARTIALLY_PAID",
    }
    assert event["payment"] == {"amount": "5000.00", "method": "CASH"}
    assert feed.errors == []


REFUND_FEED = """
subscription {
  paymentEvents {
    kind actor invoice { id paidAmount status }
    refund { amount status channel reason actor } payment { amount method }
  }
}
"""
REFUND = """
mutation($input: RefundPaymentInput!) {
  refundPayment(input: $input) { refund { id } errors { code } }
}
"""


async def test_the_desk_sees_a_refund_as_it_is_recorded(live: Live) -> None:
    url = f"{live.url}/graphql"
    invoice_id = await cash(live.client, url, "8000.00", "8000.00")
    read = await gql(
        live.client,
        "query($id: ID!) { invoice(id: $id) { payments { id } } }",
        {"id": invoice_id},
        token=BOLD,
        url=url,
    )
    (payment,) = read["data"]["invoice"]["payments"]
    async with graphql_socket(live.ws_url, staff_init()) as ws:
        feed = await ws.subscribe(REFUND_FEED, {})
        done = await gql(
            live.client,
            REFUND,
            {
                "input": {
                    "paymentId": payment["id"],
                    "amount": "3000.00",
                    "reason": "crown not needed",
                    "idempotencyKey": f"feed-refund-{invoice_id}",
                }
            },
            token=BOLD,
            url=url,
        )
        assert done["data"]["refundPayment"]["errors"] == [], done

        event = await feed.wait_for(lambda e: e["kind"] == "REFUND_RECORDED")

    assert event == {
        "kind": "REFUND_RECORDED",
        "actor": "dr.bold",
        "invoice": {
            "id": invoice_id,
            "paidAmount": "5000.00",
            "status": "PARTIALLY_PAID",
        },
        "refund": {
            "amount": "3000.00",
            "status": "COMPLETED",
            "channel": "DESK",
            "reason": "crown not needed",
            "actor": "dr.bold",
        },
        "payment": {"amount": "8000.00", "method": "CASH"},
    }
    assert feed.errors == []


async def test_the_feed_sends_no_snapshot_and_each_change_once(live: Live) -> None:
    url = f"{live.url}/graphql"
    before = await cash(live.client, url, "100.00", "100.00")
    async with graphql_socket(live.ws_url, staff_init()) as ws:
        feed = await ws.subscribe(PAYMENT_EVENTS, {})
        first = await cash(live.client, url, "200.00", "200.00")
        second = await cash(live.client, url, "300.00", "300.00")
        await feed.wait_for(lambda e: e["invoice"]["id"] == second)

    assert [e["invoice"]["id"] for e in feed.events] == [first, second]
    assert before not in {e["invoice"]["id"] for e in feed.events}


async def test_without_a_staff_token_the_feed_is_refused(live: Live) -> None:
    async with graphql_socket(live.ws_url) as ws:
        feed = await ws.subscribe(PAYMENT_EVENTS, {})
        await feed.completed.wait()

    assert feed.events == []
    assert [e["extensions"]["code"] for e in feed.errors] == ["FORBIDDEN"]


async def test_a_payment_taken_on_one_process_reaches_the_desk_on_another(
    clean_db: str, tmp_path: Path
) -> None:
    async with two_processes(clean_db, "postgres", tmp_path) as (a, b, _simulator):
        ws_a = a.url.replace("http://", "ws://") + "/graphql"
        async with (
            graphql_socket(ws_a, staff_init()) as ws,
            httpx.AsyncClient(timeout=30) as client,
        ):
            feed = await ws.subscribe(PAYMENT_EVENTS, {})
            invoice_id = await cash(client, f"{b.url}/graphql", "900.00", "900.00")

            event = await feed.wait_for(
                lambda e: e["kind"] == "PAYMENT_RECORDED", within=20
            )

    assert event["invoice"]["id"] == invoice_id and event["actor"] == "dr.bold"
