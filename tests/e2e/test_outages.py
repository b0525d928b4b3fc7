"""Outages: PostgreSQL restarted under traffic, Redis down with the Redis
transport, QPay unreachable for longer than an intent's lifetime. The service
recovers by itself and loses no payment."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app import migrate
from app.embedded import EmbeddedPostgres
from app.main import create_app
from app.staff_tokens import StaffTokens
from qpay.simulator import QPaySimulator
from tests import db
from tests.conftest import TEST_JWT_SECRET, SettingsFactory
from tests.e2e.servers import ThrowawayRedis, free_port, serve_in_process
from tests.e2e.ws import graphql_socket
from tests.gql import CREATE_INVOICE, CREATE_QPAY, SETTLE, gql

pytestmark = [pytest.mark.e2e, pytest.mark.db, pytest.mark.anyio]

SANDBOX = {
    "qpay_env": "sandbox",
    "qpay_client_id": "TEST_MERCHANT",
    "qpay_client_secret": "123456",
    "qpay_invoice_code": "TEST_INVOICE",
}


@contextlib.asynccontextmanager
async def service(
    make_settings: SettingsFactory, database_url: str, simulator_url: str, **extra: Any
) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    port = free_port()
    settings = make_settings(
        database_url=database_url,
        qpay_base_url=f"{simulator_url}/v2",
        public_base_url=f"http://127.0.0.1:{port}",
        **{"events_url": "postgres", **SANDBOX, **extra},
    )
    token = StaffTokens(TEST_JWT_SECRET).issue()
    async with (
        serve_in_process(create_app(settings), port) as url,
        httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as client,
    ):
        yield url, client


async def test_no_payment_is_lost_when_postgres_restarts_under_traffic(
    make_settings: SettingsFactory,
) -> None:
    with tempfile.TemporaryDirectory(prefix="qpg-outage-") as directory:
        postgres = EmbeddedPostgres(Path(directory), database="outage")
        url = await asyncio.to_thread(postgres.start)
        await asyncio.to_thread(migrate.upgrade, url)
        simulator = QPaySimulator()
        try:
            async with (
                serve_in_process(simulator.app) as simulator_url,
                service(make_settings, url, simulator_url) as (_base, client),
            ):
                created = await gql(
                    client, CREATE_INVOICE, {"input": {"total": "1000000.00"}}
                )
                invoice_id = created["data"]["createInvoice"]["invoice"]["id"]
                confirmed: list[str] = []
                readiness: list[int] = []
                stop = asyncio.Event()

                async def traffic() -> None:
                    n = 0
                    while not stop.is_set():
                        n += 1
                        key = f"outage-{n}"
                        with contextlib.suppress(
                            httpx.HTTPError, ValueError, TypeError
                        ):
                            body = await gql(
                                client,
                                SETTLE,
                                {
                                    "input": {
                                        "invoiceId": invoice_id,
                                        "method": "CASH",
                                        "amount": "1.00",
                                        "idempotencyKey": key,
                                    }
                                },
                                status=None,  # whatever comes back mid-outage
                            )
                            payload = (body.get("data") or {}).get("settleInvoice")
                            if payload and not payload["errors"]:
                                confirmed.append(payload["payment"]["id"])
                        await asyncio.sleep(0.02)

                async def probe() -> None:
                    while not stop.is_set():
                        with contextlib.suppress(httpx.HTTPError):
                            readiness.append((await client.get("/readyz")).status_code)
                        await asyncio.sleep(0.05)

                load = asyncio.gather(traffic(), probe())
                await asyncio.sleep(1.0)
                before_restart = len(confirmed)
                await asyncio.to_thread(postgres.stop)
                await asyncio.sleep(1.5)
                await asyncio.to_thread(postgres.start)
                # The service comes back by itself: wait for new confirmations.
                async with asyncio.timeout(60):
                    while len(confirmed) < before_restart + 20:
                        await asyncio.sleep(0.1)
                    # ...and so does readiness, once the listener reconnects.
                    while readiness[-1] != 200:
                        await asyncio.sleep(0.1)
                stop.set()
                await load
                final_ready = (await client.get("/readyz")).status_code

            stored = {str(r[0]) for r in await db.fetch(url, "SELECT id FROM payments")}
            paid = await db.scalar(url, "SELECT paid_amount FROM invoices")
        finally:
            await simulator.aclose()
            postgres.stop()

    assert before_restart > 0
    assert 503 in readiness and readiness[-1] == 200 and final_ready == 200
    assert set(confirmed) <= stored, "every confirmed payment survived the restart"
    assert str(paid) == f"{len(stored)}.00", "paid amount equals the sum of payments"


@pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="no redis-server binary"
)
async def test_settlement_continues_and_subscribers_resync_when_redis_is_down(
    clean_db: str, make_settings: SettingsFactory
) -> None:
    redis = ThrowawayRedis()
    await redis.start()
    simulator = QPaySimulator()
    try:
        async with (
            serve_in_process(simulator.app) as simulator_url,
            service(
                make_settings,
                clean_db,
                simulator_url,
                events_url=redis.url,
                qpay_poll_interval_seconds=30,
            ) as (base, client),
        ):
            invoice = await gql(client, CREATE_INVOICE, {"input": {"total": "500.00"}})
            invoice_id = invoice["data"]["createInvoice"]["invoice"]["id"]
            created = await gql(
                client, CREATE_QPAY, {"input": {"invoiceId": invoice_id}}
            )
            intent = created["data"]["createQPayInvoice"]["intent"]
            secret = created["data"]["createQPayInvoice"]["clientSecret"]
            ws_url = base.replace("http://", "ws://") + "/graphql"
            async with graphql_socket(ws_url) as socket:
                sub = await socket.payment_status(intent["id"], secret)
                await sub.wait_for(lambda e: e["intent"]["status"] == "PENDING")

                redis.stop()
                simulator.pay(intent["qpayInvoiceId"])
                await simulator.wait_callbacks()
                async with asyncio.timeout(20):  # settled despite Redis being down
                    while (
                        await db.scalar(clean_db, "SELECT status FROM qpay_intents")
                        != "PAID"
                    ):
                        await asyncio.sleep(0.1)
                ready_without = (await client.get("/readyz")).status_code
                # No push can cross a dead Redis; the watch keeper's version
                # check (every 10 s, through the database) still tells the
                # subscriber.
                paid = await sub.wait_for(
                    lambda e: e["intent"]["status"] == "PAID", within=30
                )

                await redis.start()
                async with asyncio.timeout(30):
                    while (await client.get("/readyz")).status_code != 200:
                        await asyncio.sleep(0.2)
            ready_after = (await client.get("/readyz")).status_code
    finally:
        redis.stop()
        await simulator.aclose()

    assert ready_without == 503
    assert paid["settled"] is True
    assert ready_after == 200


async def test_nothing_expires_wrongly_and_payments_settle_after_qpay_comes_back(
    clean_db: str, make_settings: SettingsFactory
) -> None:
    simulator = QPaySimulator()
    async with (
        serve_in_process(simulator.app) as simulator_url,
        service(
            make_settings,
            clean_db,
            simulator_url,
            qpay_invoice_ttl_seconds=3,
            qpay_poll_interval_seconds=0.5,
            qpay_poll_max_interval_seconds=1,
        ) as (_base, client),
    ):
        intents = []
        for total in ("100.00", "200.00"):
            invoice = await gql(client, CREATE_INVOICE, {"input": {"total": total}})
            created = await gql(
                client,
                CREATE_QPAY,
                {
                    "input": {
                        "invoiceId": invoice["data"]["createInvoice"]["invoice"]["id"]
                    }
                },
            )
            intents.append(created["data"]["createQPayInvoice"]["intent"])
        paid_one, unpaid_one = intents
        simulator.set_callbacks(drop=True)
        # QPay goes dark for longer than the intents live.
        simulator.fail_next("/v2/*", count=1_000_000, status=503)
        simulator.pay(paid_one["qpayInvoiceId"])
        await asyncio.sleep(6)
        during = {
            r[0]: r[1]
            for r in await db.fetch(
                clean_db, "SELECT id::text, status FROM qpay_intents"
            )
        }
        simulator.state.faults.clear()
        async with asyncio.timeout(60):
            while True:
                after = {
                    r[0]: r[1]
                    for r in await db.fetch(
                        clean_db, "SELECT id::text, status FROM qpay_intents"
                    )
                }
                if (
                    after[paid_one["id"]] == "PAID"
                    and after[unpaid_one["id"]] == "EXPIRED"
                ):
                    break
                await asyncio.sleep(0.2)

    assert set(during.values()) == {"PENDING"}, "QPay being down expires nothing"
    assert await db.scalar(clean_db, "SELECT count(*) FROM payments") == 1
