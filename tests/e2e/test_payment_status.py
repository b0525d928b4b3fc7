"""The paymentStatus subscription end to end: uvicorn on a real port, the QPay
simulator on another, PostgreSQL, and a real graphql-transport-ws client."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests import db
from tests.conftest import SettingsFactory
from tests.e2e.conftest import Live, live_service
from tests.e2e.ws import graphql_socket
from tests.gql import CHECK, CREATE_INVOICE, CREATE_QPAY

pytestmark = [pytest.mark.e2e, pytest.mark.db, pytest.mark.anyio]


async def open_intent(
    live: Live, total: str = "15000.00"
) -> tuple[dict[str, object], str]:
    invoice = await live.gql(CREATE_INVOICE, {"input": {"total": total}})
    invoice_id = invoice["data"]["createInvoice"]["invoice"]["id"]
    created = await live.gql(CREATE_QPAY, {"input": {"invoiceId": invoice_id}})
    payload = created["data"]["createQPayInvoice"]
    return payload["intent"], payload["clientSecret"]


async def test_subscriber_sees_pending_then_paid_then_completion_when_the_patient_pays(
    live: Live,
) -> None:
    intent, secret = await open_intent(live)
    async with graphql_socket(live.ws_url) as socket:
        sub = await socket.payment_status(str(intent["id"]), secret)
        await sub.wait_for(lambda e: e["intent"]["status"] == "PENDING")

        payment_id = live.simulator.pay(str(intent["qpayInvoiceId"]))
        paid = await sub.wait_for(lambda e: e["intent"]["status"] == "PAID")
        await asyncio.wait_for(sub.completed.wait(), 10)

    assert sub.statuses() == ["PENDING", "PAID"]
    assert paid["settled"] is True
    assert paid["version"] == sub.events[0]["version"] + 1
    assert paid["intent"]["qpayPaymentId"] == payment_id
    assert paid["intent"]["payment"]["amount"] == "15000.00"
    assert paid["invoice"]["status"] == "PAID"
    assert sub.errors == []


async def test_poller_settles_a_watched_intent_when_callbacks_are_dropped(
    live: Live,
) -> None:
    intent, secret = await open_intent(live)
    live.simulator.set_callbacks(drop=True)
    async with graphql_socket(live.ws_url) as socket:
        sub = await socket.payment_status(str(intent["id"]), secret)
        await sub.wait_for(lambda e: e["intent"]["status"] == "PENDING")

        paid_at = time.monotonic()
        live.simulator.pay(str(intent["qpayInvoiceId"]))
        await sub.wait_for(lambda e: e["intent"]["status"] == "PAID", within=15)
        detected_after = time.monotonic() - paid_at

    # Poll interval here is 1 s: the poller must have found it by itself, and
    # within a few intervals (the tight figure is measured by bench/poller_only).
    assert live.simulator.callbacks_sent == []
    assert detected_after < 6.0


async def test_one_payment_and_one_paid_event_when_callbacks_poller_and_checks_race(
    live: Live,
) -> None:
    intent, secret = await open_intent(live)
    live.simulator.set_callbacks(duplicate=5)
    async with graphql_socket(live.ws_url) as socket:
        sub = await socket.payment_status(str(intent["id"]), secret)
        await sub.wait_for(lambda e: e["intent"]["status"] == "PENDING")

        live.simulator.pay(str(intent["qpayInvoiceId"]))
        await asyncio.gather(*(live.gql(CHECK, {"id": intent["id"]}) for _ in range(5)))
        await asyncio.wait_for(sub.completed.wait(), 15)

    assert sub.statuses() == ["PENDING", "PAID"]
    assert await db.scalar(live.database_url, "SELECT count(*) FROM payments") == 1
    assert (
        await db.scalar(live.database_url, "SELECT count(*) FROM qpay_callbacks") == 5
    )


async def test_wrong_callback_token_is_404_and_makes_no_qpay_call_when_sent(
    live: Live,
) -> None:
    intent, _ = await open_intent(live)
    # Keep the poller away from this intent: only a callback could call QPay.
    await db.execute(
        live.database_url,
        "UPDATE qpay_intents SET next_check_at = now() + interval '1 hour'",
    )
    await asyncio.sleep(0.5)
    before = len(live.simulator.requests)

    response = await live.client.get(
        f"{live.url}/qpay/callback/{intent['id']}",
        params={"token": "forged", "qpay_payment_id": "123"},
    )
    unknown = await live.client.get(
        f"{live.url}/qpay/callback/00000000-0000-0000-0000-000000000000",
        params={"token": "forged"},
    )
    await asyncio.sleep(0.2)

    assert response.status_code == 404
    assert unknown.status_code == 404
    assert len(live.simulator.requests) == before
    assert (
        await db.scalar(live.database_url, "SELECT count(*) FROM qpay_callbacks") == 0
    )


async def test_another_intents_secret_is_refused_when_subscribing(live: Live) -> None:
    intent, _ = await open_intent(live)
    _, other_secret = await open_intent(live, "500.00")
    async with graphql_socket(live.ws_url) as socket:
        sub = await socket.payment_status(str(intent["id"]), other_secret)
        await asyncio.wait_for(sub.completed.wait(), 10)

    assert sub.events == []
    assert sub.errors[0]["extensions"]["code"] == "FORBIDDEN"


async def test_bad_staff_token_in_connection_init_closes_4403_when_connecting(
    live: Live,
) -> None:
    from websockets.exceptions import ConnectionClosed

    with pytest.raises((ConnectionClosed, AssertionError)) as raised:
        async with graphql_socket(live.ws_url, {"authorization": "Bearer forged"}):
            pass

    error = raised.value
    if isinstance(error, ConnectionClosed):
        assert error.rcvd is not None and error.rcvd.code == 4403


async def test_staff_token_in_connection_init_authorizes_any_intent_when_valid(
    live: Live,
) -> None:
    intent, _ = await open_intent(live)
    async with graphql_socket(
        live.ws_url, {"authorization": f"Bearer {live.token}"}
    ) as socket:
        sub = await socket.payment_status(str(intent["id"]))
        event = await sub.wait_for(lambda e: True)

    assert event["intent"]["status"] == "PENDING"


async def test_a_client_that_missed_the_push_gets_paid_first_when_it_subscribes_again(
    live: Live,
) -> None:
    intent, secret = await open_intent(live)
    live.simulator.pay(str(intent["qpayInvoiceId"]))
    async with httpx.AsyncClient() as client:
        for _ in range(100):
            body = await client.post(
                f"{live.url}/graphql",
                json={
                    "query": "query($id: ID!) { qpayIntent(id: $id) { status } }",
                    "variables": {"id": intent["id"]},
                },
                headers={"Authorization": f"Bearer {live.token}"},
            )
            if body.json()["data"]["qpayIntent"]["status"] == "PAID":
                break
            await asyncio.sleep(0.05)

    async with graphql_socket(live.ws_url) as socket:
        sub = await socket.payment_status(str(intent["id"]), secret)
        await asyncio.wait_for(sub.completed.wait(), 10)

    assert sub.statuses() == ["PAID"]


async def test_listener_killed_mid_payment_still_ends_paid_when_it_reconnects(
    live: Live,
) -> None:
    intent, secret = await open_intent(live)
    async with graphql_socket(live.ws_url) as socket:
        sub = await socket.payment_status(str(intent["id"]), secret)
        await sub.wait_for(lambda e: e["intent"]["status"] == "PENDING")

        await db.execute(
            live.database_url,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'qpay-graph-listener' "
            "AND datname = current_database()",
        )
        live.simulator.pay(str(intent["qpayInvoiceId"]))
        await sub.wait_for(lambda e: e["intent"]["status"] == "PAID", within=40)


async def test_unpaid_intent_expires_after_a_last_check_and_cancel_when_its_ttl_passes(
    clean_db: str, make_settings: SettingsFactory
) -> None:
    async with live_service(
        make_settings,
        clean_db,
        qpay_invoice_ttl_seconds=2,
        qpay_poll_interval_seconds=0.5,
    ) as live:
        intent, secret = await open_intent(live)
        async with graphql_socket(live.ws_url) as socket:
            sub = await socket.payment_status(str(intent["id"]), secret)
            expired = await sub.wait_for(
                lambda e: e["intent"]["status"] == "EXPIRED", 20
            )
            await asyncio.wait_for(sub.completed.wait(), 10)

        deletes = [
            r
            for r in live.simulator.requests
            if r["method"] == "DELETE"
            and str(r["path"]).endswith(str(intent["qpayInvoiceId"]))
        ]

    assert expired["settled"] is False
    assert len(deletes) == 1
