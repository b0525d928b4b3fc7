"""The checkout page in a real browser: Debian's Chromium driven by Playwright.

Screenshots of each screen are saved under test-output/checkout/ (or
$TEST_OUTPUT_DIR/checkout/). Without a Chromium the test is skipped with the
reason; nothing here downloads a browser.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.main import create_app
from app.staff_tokens import StaffTokens
from qpay.simulator import QPaySimulator
from tests import db
from tests.conftest import TEST_JWT_SECRET, SettingsFactory
from tests.e2e.servers import free_port, serve_in_process
from tests.gql import CANCEL, CREATE_INVOICE, CREATE_QPAY, gql

pytestmark = [pytest.mark.e2e, pytest.mark.db, pytest.mark.anyio]

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def screenshots() -> Path:
    directory = Path(os.environ.get("TEST_OUTPUT_DIR", "test-output")) / "checkout"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def browser_or_skip() -> Any:
    if shutil.which(CHROMIUM) is None and not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's chromium package")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.skip("the playwright package is not installed (pip install -e .[dev])")
    return async_playwright


class Checkout:
    """The service on a real port, with the staff API at hand."""

    def __init__(self, url: str, client: httpx.AsyncClient) -> None:
        self.url = url
        self.client = client

    async def gql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        return await gql(self.client, query, variables, url=f"{self.url}/graphql")

    async def new_checkout(self, total: str = "15000.00") -> dict[str, Any]:
        invoice = await self.gql(CREATE_INVOICE, {"input": {"total": total}})
        invoice_id = invoice["data"]["createInvoice"]["invoice"]["id"]
        created = await self.gql(CREATE_QPAY, {"input": {"invoiceId": invoice_id}})
        payload: dict[str, Any] = created["data"]["createQPayInvoice"]
        assert payload["errors"] == []
        return payload


@contextlib.asynccontextmanager
async def service(
    make_settings: SettingsFactory, database_url: str, port: int, **overrides: Any
) -> AsyncIterator[Checkout]:
    settings = make_settings(
        database_url=database_url,
        events_url="postgres",
        public_base_url=f"http://127.0.0.1:{port}",
        qpay_poll_interval_seconds=0.5,
        **overrides,
    )
    app = create_app(settings)
    token = StaffTokens(TEST_JWT_SECRET).issue()
    async with (
        serve_in_process(app, port) as url,
        httpx.AsyncClient(
            headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as client,
    ):
        yield Checkout(url, client)


async def test_checkout_page_flips_to_paid_then_shows_expired_and_cancelled_screens(
    clean_db: str, make_settings: SettingsFactory
) -> None:
    async_playwright = browser_or_skip()
    port = free_port()
    out = screenshots()
    async with service(make_settings, clean_db, port, qpay_env="mock") as checkout:
        payload = await checkout.new_checkout()
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            page = await browser.new_page(viewport={"width": 420, "height": 900})
            navigations: list[str] = []
            page.on("framenavigated", lambda frame: navigations.append(frame.url))

            await page.goto(payload["checkoutUrl"])
            await page.wait_for_selector(
                "body[data-status='PENDING'] #qr[src^='data:image/png']"
            )
            assert await page.get_attribute("#qr", "alt")
            assert await page.locator("#banks a").count() >= 3
            assert "15,000.00" in (await page.text_content("#amount") or "")
            await page.screenshot(path=str(out / "1-pending-mn.png"), full_page=True)
            await page.click("[data-lang='en']")
            assert await page.text_content("#title") == "Pay with QPay"
            await page.screenshot(path=str(out / "2-pending-en.png"), full_page=True)

            pressed = time.monotonic()
            await page.click("#simulate")
            await page.wait_for_selector("body[data-screen='paid']", timeout=5000)
            flip_seconds = time.monotonic() - pressed
            assert "15,000.00" in (await page.text_content("#paid-amount") or "")
            assert navigations == [payload["checkoutUrl"]]  # no reload
            await page.screenshot(path=str(out / "3-paid.png"), full_page=True)
            (out / "flip-seconds.txt").write_text(f"{flip_seconds:.3f}\n")

            expiring = await checkout.new_checkout("700.00")
            await db.execute(
                clean_db,
                "UPDATE qpay_intents SET expires_at = now(), next_check_at = now() "
                "WHERE id = $1::uuid",
                expiring["intent"]["id"],
            )
            await page.goto(expiring["checkoutUrl"])
            await page.wait_for_selector("body[data-screen='expired']", timeout=20000)
            await page.screenshot(path=str(out / "4-expired.png"), full_page=True)

            cancelling = await checkout.new_checkout("800.00")
            await page.goto(cancelling["checkoutUrl"])
            await page.wait_for_selector("body[data-status='PENDING']")
            await checkout.gql(CANCEL, {"id": cancelling["intent"]["id"]})
            await page.wait_for_selector("body[data-screen='cancelled']", timeout=10000)
            await page.screenshot(path=str(out / "5-cancelled.png"), full_page=True)

            await page.goto(
                cancelling["checkoutUrl"].split("?")[0] + "?secret=wrong-secret"
            )
            assert "Олдсонгүй" in (await page.text_content("h1") or "")
            assert await page.locator("#qr").count() == 0
            await page.screenshot(path=str(out / "6-not-found.png"), full_page=True)
            await browser.close()


async def test_open_page_reconnects_and_shows_paid_when_the_server_restarts(
    clean_db: str, make_settings: SettingsFactory
) -> None:
    async_playwright = browser_or_skip()
    port = free_port()
    out = screenshots()
    simulator = QPaySimulator()
    qpay = {
        "qpay_env": "sandbox",
        "qpay_client_id": "TEST_MERCHANT",
        "qpay_client_secret": "123456",
        "qpay_invoice_code": "TEST_INVOICE",
    }
    async with (
        serve_in_process(simulator.app) as simulator_url,
        async_playwright() as pw,
    ):
        qpay["qpay_base_url"] = f"{simulator_url}/v2"
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        page = await browser.new_page()
        async with service(make_settings, clean_db, port, **qpay) as checkout:
            payload = await checkout.new_checkout()
            await page.goto(payload["checkoutUrl"])
            await page.wait_for_selector("body[data-status='PENDING']")
            assert await page.locator("#simulate").is_hidden()  # not the simulator mode
        # The server is down: the page says so and keeps trying.
        await page.wait_for_selector(
            "#connection[data-state='reconnecting']", timeout=10000
        )
        await page.screenshot(path=str(out / "7-reconnecting.png"), full_page=True)
        simulator.set_callbacks(drop=True)  # the callback would find nobody anyway
        simulator.pay(payload["intent"]["qpayInvoiceId"])
        async with service(make_settings, clean_db, port, **qpay):
            # Back up: the page resubscribes; the poller finds the payment.
            await page.wait_for_selector("body[data-screen='paid']", timeout=30000)
            await page.screenshot(
                path=str(out / "8-paid-after-restart.png"), full_page=True
            )
        await browser.close()
    await simulator.aclose()
