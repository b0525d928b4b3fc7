"""Two server processes on one database: the subscriber on A, QPay's callback
on B; the push crosses over PostgreSQL LISTEN/NOTIFY, or Redis pub/sub."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from app.staff_tokens import StaffTokens
from qpay.simulator import QPaySimulator
from tests.conftest import TEST_JWT_SECRET
from tests.e2e.servers import (
    ServiceProcess,
    ThrowawayRedis,
    first_mark_done,
    free_port,
    serve_in_process,
)
from tests.e2e.ws import graphql_socket
from tests.gql import CREATE_INVOICE, CREATE_QPAY
from tests.machine import SHARED_REDIS, redis_reachable

pytestmark = [pytest.mark.e2e, pytest.mark.db, pytest.mark.anyio]


@contextlib.asynccontextmanager
async def two_processes(
    database_url: str,
    events_url: str,
    tmp_path: Path,
    *,
    pushes_only: bool = False,
) -> AsyncIterator[tuple[ServiceProcess, ServiceProcess, QPaySimulator]]:
    """Two serve processes on one database and events transport. With
    `pushes_only`, the watch keeper's safety-net re-read is pushed past the
    test, so only a push can reach a subscriber."""
    simulator = QPaySimulator()
    async with serve_in_process(simulator.app) as simulator_url:
        env = {
            "DATABASE_URL": database_url,
            "EVENTS_URL": events_url,
            "QPAY_ENV": "sandbox",
            "QPAY_BASE_URL": f"{simulator_url}/v2",
            "QPAY_CLIENT_ID": "TEST_MERCHANT",
            "QPAY_CLIENT_SECRET": "123456",
            "QPAY_INVOICE_CODE": "TEST_INVOICE",
            "AUTH_JWT_SECRET": TEST_JWT_SECRET,
            "DATA_DIR": str(tmp_path / "data"),
            "LOG_LEVEL": "WARNING",
            **({"WATCH_REFRESH_SECONDS": "600"} if pushes_only else {}),
        }
        a = ServiceProcess(env, free_port(), tmp_path / "a.log")
        b = ServiceProcess(env, free_port(), tmp_path / "b.log")
        await asyncio.gather(a.start(), b.start())
        try:
            yield a, b, simulator
        finally:
            await asyncio.gather(a.stop(), b.stop())
    await simulator.aclose()


async def pay_across(
    a: ServiceProcess,
    b: ServiceProcess,
    simulator: QPaySimulator,
    *,
    during: Callable[[], Awaitable[None]] | None = None,
) -> list[str]:
    token = StaffTokens(TEST_JWT_SECRET).issue()
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(timeout=30, headers=headers) as client:
        invoice = await client.post(
            f"{b.url}/graphql",
            json={
                "query": CREATE_INVOICE,
                "variables": {"input": {"total": "15000.00"}},
            },
        )
        invoice_id = invoice.json()["data"]["createInvoice"]["invoice"]["id"]
        created = await client.post(
            f"{b.url}/graphql",
            json={
                "query": CREATE_QPAY,
                "variables": {"input": {"invoiceId": invoice_id}},
            },
        )
    payload = created.json()["data"]["createQPayInvoice"]
    intent = payload["intent"]
    ws_a = a.url.replace("http://", "ws://") + "/graphql"
    async with graphql_socket(ws_a) as ws:
        sub = await ws.payment_status(intent["id"], payload["clientSecret"])
        await sub.wait_for(lambda e: e["intent"]["status"] == "PENDING")
        await first_mark_done(a.env["DATABASE_URL"], intent["id"])
        if during is not None:
            await during()
        # The callback URL was made by B (its PUBLIC_BASE_URL): QPay calls B.
        simulator.pay(intent["qpayInvoiceId"])
        await sub.wait_for(lambda e: e["intent"]["status"] == "PAID", within=40)
    return sub.statuses()


async def test_push_crosses_processes_when_events_go_through_postgres(
    clean_db: str, tmp_path: Path
) -> None:
    async with two_processes(clean_db, "postgres", tmp_path, pushes_only=True) as (
        a,
        b,
        simulator,
    ):
        statuses = await pay_across(a, b, simulator)

    assert statuses == ["PENDING", "PAID"]
    assert all(sent["url"].startswith(b.url) for sent in simulator.callbacks_sent)


@pytest.mark.skipif(not redis_reachable(), reason="no Redis on 127.0.0.1:6379")
async def test_push_crosses_processes_when_events_go_through_redis(
    clean_db: str, tmp_path: Path
) -> None:
    async with two_processes(clean_db, SHARED_REDIS, tmp_path, pushes_only=True) as (
        a,
        b,
        simulator,
    ):
        statuses = await pay_across(a, b, simulator)

    assert statuses == ["PENDING", "PAID"]


@pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="no redis-server binary"
)
async def test_subscriber_ends_paid_when_redis_restarts_mid_payment(
    clean_db: str, tmp_path: Path
) -> None:
    redis = ThrowawayRedis()
    await redis.start()

    async def restart_redis() -> None:
        redis.stop()
        await asyncio.sleep(1.0)
        await redis.start()

    try:
        async with two_processes(clean_db, redis.url, tmp_path) as (
            a,
            b,
            simulator,
        ):
            statuses = await pay_across(a, b, simulator, during=restart_redis)
    finally:
        redis.stop()

    assert statuses[0] == "PENDING"
    assert statuses[-1] == "PAID"
