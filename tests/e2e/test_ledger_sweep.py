"""The ledger sweep and `qpay-graph reconcile` against a running service: money
QPay takes on an intent that left PENDING is recorded within one sweep even
when its callback is lost (issue 12, parts 1 and 2)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from qpay.client import QPayClient, make_http_client
from tests import db
from tests.conftest import TEST_JWT_SECRET, SettingsFactory
from tests.e2e.conftest import Live, live_service
from tests.gql import CANCEL, CREATE_INVOICE, CREATE_QPAY

pytestmark = [pytest.mark.e2e, pytest.mark.db, pytest.mark.anyio]

SWEEP_SECONDS = 0.5


@pytest.fixture
async def swept(clean_db: str, make_settings: SettingsFactory) -> AsyncIterator[Live]:
    async with live_service(
        make_settings, clean_db, qpay_ledger_sweep_seconds=SWEEP_SECONDS
    ) as running:
        yield running


async def open_intent(live: Live, total: str = "15000.00") -> dict[str, str]:
    invoice = await live.gql(CREATE_INVOICE, {"input": {"total": total}})
    invoice_id = invoice["data"]["createInvoice"]["invoice"]["id"]
    created = await live.gql(CREATE_QPAY, {"input": {"invoiceId": invoice_id}})
    intent: dict[str, str] = created["data"]["createQPayInvoice"]["intent"]
    return intent


async def recorded(live: Live, qpay_payment_id: str, within: float = 20.0) -> bool:
    """Whether the payment reaches the payments table within `within` s."""
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        found = await db.scalar(
            live.database_url,
            "SELECT count(*) FROM payments WHERE qpay_txn_id = $1",
            qpay_payment_id,
        )
        if found:
            return True
        await asyncio.sleep(0.1)
    return False


async def intent_status(live: Live, intent_id: str) -> tuple[str, Decimal]:
    rows = await db.fetch(
        live.database_url,
        "SELECT status, paid_amount FROM qpay_intents WHERE id = $1::uuid",
        intent_id,
    )
    return rows[0]["status"], Decimal(str(rows[0]["paid_amount"]))


async def settled(live: Live, intent_id: str) -> None:
    for _ in range(200):
        status, _ = await intent_status(live, intent_id)
        if status != "PENDING":
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the intent never left PENDING")


async def test_sweep_records_the_rest_of_a_short_payment_when_its_callback_is_lost(
    swept: Live,
) -> None:
    intent = await open_intent(swept)
    swept.simulator.pay(intent["qpayInvoiceId"], Decimal("10000.00"))
    await settled(swept, intent["id"])  # NEEDS_REVIEW, 10,000 of 15,000
    swept.simulator.set_callbacks(drop=True)

    rest = swept.simulator.pay(intent["qpayInvoiceId"], Decimal("5000.00"), force=True)

    assert await recorded(swept, rest)
    assert await intent_status(swept, intent["id"]) == (
        "NEEDS_REVIEW",
        Decimal("15000.00"),
    )


async def test_sweep_records_a_payment_made_after_a_cancel(swept: Live) -> None:
    intent = await open_intent(swept)
    await swept.gql(CANCEL, {"id": intent["id"]})
    swept.simulator.set_callbacks(drop=True)

    late = swept.simulator.pay(intent["qpayInvoiceId"], force=True)

    assert await recorded(swept, late)
    assert (await intent_status(swept, intent["id"]))[0] == "NEEDS_REVIEW"


async def test_sweep_records_a_second_scan_of_a_paid_qr(swept: Live) -> None:
    intent = await open_intent(swept)
    swept.simulator.pay(intent["qpayInvoiceId"])
    await settled(swept, intent["id"])
    swept.simulator.set_callbacks(drop=True)

    again = swept.simulator.pay(intent["qpayInvoiceId"], force=True)

    assert await recorded(swept, again)
    assert await intent_status(swept, intent["id"]) == (
        "NEEDS_REVIEW",
        Decimal("30000.00"),
    )


async def test_sweep_finds_money_when_qpay_reads_list_dates_as_ulaanbaatar_time(
    swept: Live,
) -> None:
    swept.simulator.set_list_utc_offset(8)
    intent = await open_intent(swept)
    await swept.gql(CANCEL, {"id": intent["id"]})
    swept.simulator.set_callbacks(drop=True)

    late = swept.simulator.pay(intent["qpayInvoiceId"], force=True)

    assert await recorded(swept, late)


async def test_sweep_asks_qpay_once_per_page_not_once_per_intent(swept: Live) -> None:
    intents = [await open_intent(swept, "100.00") for _ in range(5)]
    for intent in intents:
        await swept.gql(CANCEL, {"id": intent["id"]})
    await asyncio.sleep(SWEEP_SECONDS * 4)
    checks_before = _calls(swept, "/v2/payment/check")
    lists_before = _calls(swept, "/v2/payment/list")

    await asyncio.sleep(SWEEP_SECONDS * 4)

    assert _calls(swept, "/v2/payment/check") == checks_before
    assert _calls(swept, "/v2/payment/list") > lists_before


def _calls(live: Live, path: str) -> int:
    return sum(1 for r in live.simulator.requests if r["path"] == path)


# --- qpay-graph reconcile -----------------------------------------------------


def run_reconcile(live: Live, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": live.database_url,
        "QPAY_ENV": "sandbox",
        "QPAY_BASE_URL": f"{live.simulator_url}/v2",
        "QPAY_CLIENT_ID": "TEST_MERCHANT",
        "QPAY_CLIENT_SECRET": "123456",
        "QPAY_INVOICE_CODE": "TEST_INVOICE",
        "AUTH_JWT_SECRET": TEST_JWT_SECRET,
        "LOG_LEVEL": "ERROR",
    }
    return subprocess.run(  # noqa: S603  # our own CLI
        [sys.executable, "-m", "app.cli", "reconcile", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_reconcile_records_late_money_and_exits_zero_when_books_then_agree(
    live: Live,
) -> None:
    intent = await open_intent(live)
    live.simulator.set_callbacks(drop=True)
    paid = live.simulator.pay(intent["qpayInvoiceId"])

    done = await asyncio.to_thread(run_reconcile, live)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "page 1: 1 of 1 payments read" in done.stdout
    assert "0 ledger finding(s) need a person" in done.stdout
    assert await recorded(live, paid, within=1)


async def test_reconcile_exits_one_and_shows_a_payment_no_intent_matches(
    live: Live,
) -> None:
    # A QPay invoice on our invoice code, made outside this service.
    async with make_http_client(f"{live.simulator_url}/v2") as http:
        qpay = QPayClient(http, client_id="TEST_MERCHANT", client_secret="123456")
        stranger = await qpay.create_invoice(
            invoice_code="TEST_INVOICE",
            sender_invoice_no="ELSEWHERE-1",
            invoice_receiver_code="terminal",
            invoice_description="made by another system",
            amount=Decimal("700.00"),
            callback_url="https://elsewhere.test/callback",
        )
    live.simulator.set_callbacks(drop=True)
    payment = live.simulator.pay(stranger.invoice_id)

    done = await asyncio.to_thread(run_reconcile, live, "--since", "2000-01-01")

    assert done.returncode == 1, done.stdout + done.stderr
    assert "UNMATCHED" in done.stdout and payment in done.stdout
    assert "1 ledger finding(s) need a person" in done.stdout
    flags = await db.scalar(live.database_url, "SELECT count(*) FROM qpay_ledger_flags")
    assert flags == 1


async def test_reconcile_refuses_a_period_that_ends_before_it_starts(
    live: Live,
) -> None:
    done = await asyncio.to_thread(
        run_reconcile, live, "--since", "2026-12-02", "--until", "2026-12-01"
    )

    assert done.returncode == 2
    assert "--since must be before --until" in done.stderr
