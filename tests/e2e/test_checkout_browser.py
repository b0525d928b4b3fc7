"""The checkout page in a real browser: Debian's Chromium driven by Playwright.

Screenshots of each screen are saved under test-output/checkout/ (or
$TEST_OUTPUT_DIR/checkout/). Without a Chromium the test is skipped with the
reason; nothing here downloads a browser.

Refunds: the page's paymentStatus subscription completes once the intent is
PAID (a terminal status, receipt issued or none asked), so an open page is no
longer subscribed when a refund lands later and keeps its paid screen; the
patient sees REFUNDED on reopening the link, which is what these tests check.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import time
from collections.abc import AsyncIterator
from decimal import Decimal
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
from tests.gql import CANCEL, CHECK, CREATE_INVOICE, CREATE_QPAY, data_of, gql

pytestmark = [pytest.mark.e2e, pytest.mark.db, pytest.mark.anyio]

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
STAFF = "front-desk-dulmaa"  # the staff token's subject: never on a checkout screen
QPAY_SANDBOX = {
    "qpay_env": "sandbox",
    "qpay_client_id": "TEST_MERCHANT",
    "qpay_client_secret": "123456",
    "qpay_invoice_code": "TEST_INVOICE",
}
REFUND = """
mutation($input: RefundPaymentInput!) {
  refundPayment(input: $input) {
    refund { id status amount } invoice { paidAmount status } errors { code message }
  }
}
"""
RESOLVE = """
mutation($input: ResolveQPayReviewInput!) {
  resolveQPayReview(input: $input) { intent { status paidAmount } errors { code } }
}
"""
PAYMENTS = "query($id: ID!) { invoice(id: $id) { payments { id amount } } }"
# A checkout screen asking, with its client secret, for every staff-only field.
STAFF_ONLY_PROBE = """
subscription($id: ID!, $secret: String) {
  paymentStatus(intentId: $id, clientSecret: $secret) {
    intent {
      status lastError review { actor note }
      payment {
        amount refundableAmount refunds { reason actor }
        ebarimt { receiver lastError }
      }
    }
    invoice { description payments { id } qpayIntents { id } events { actor } }
  }
}
"""
# Runs in the page: one graphql-transport-ws subscription, its first answer.
SUBSCRIBE_ONCE = """
([query, variables]) => new Promise((resolve, reject) => {
  const url = "ws://" + location.host + "/graphql";
  const socket = new WebSocket(url, "graphql-transport-ws");
  const send = (message) => socket.send(JSON.stringify(message));
  const timer = setTimeout(() => reject(new Error("no answer")), 10000);
  socket.onopen = () => send({ type: "connection_init", payload: {} });
  socket.onmessage = (raw) => {
    const message = JSON.parse(raw.data);
    if (message.type === "connection_ack") {
      send({ id: "probe", type: "subscribe", payload: { query, variables } });
    } else if (message.type === "next" || message.type === "error") {
      clearTimeout(timer);
      socket.close(1000, "done");
      resolve(message);
    }
  };
})
"""
POST_QUERY = """
(query) => fetch("/graphql", {
  method: "POST",
  headers: { "Content-Type": "application/json" },
  body: JSON.stringify({ query, variables: {} }),
}).then((response) => response.json())
"""
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

    async def new_checkout(
        self, total: str = "15000.00", description: str | None = None
    ) -> dict[str, Any]:
        invoice = await self.gql(
            CREATE_INVOICE, {"input": {"total": total, "description": description}}
        )
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
    token = StaffTokens(TEST_JWT_SECRET).issue(subject=STAFF)
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


PATIENT = "Бат-Эрдэнэ 99112233"  # the invoice's description: staff only
REASON = "treatment cancelled by dr-gerel"  # the refund's reason: staff only
MN_PAID_WORDS = ("Төлбөр амжилттай төлөгдлөө", "Төлсөн дүн")
EN_PAID_WORDS = ("Payment received", "Amount paid")
# Every field the page's subscription reads, and nothing else.
PAGE_INTENT_FIELDS = {
    "id",
    "status",
    "amount",
    "paidAmount",
    "qrText",
    "qrImage",
    "shortUrl",
    "expiresAt",
    "deeplinks",
    "payment",
}


class Frames:
    """Every graphql-transport-ws message the page receives, in order."""

    def __init__(self, page: Any) -> None:
        self.messages: list[dict[str, Any]] = []
        page.on("websocket", self._watch)

    def _watch(self, socket: Any) -> None:
        socket.on("framereceived", self._received)

    def _received(self, payload: str | bytes) -> None:
        self.messages.append(json.loads(payload))

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [message for message in self.messages if message.get("type") == kind]

    def events(self) -> list[dict[str, Any]]:
        return [message["payload"] for message in self.of_type("next")]

    async def wait_for(self, kind: str, seconds: float = 10.0) -> None:
        async with asyncio.timeout(seconds):
            while not self.of_type(kind):
                await asyncio.sleep(0.05)


async def wait_for_row(
    checkout: Checkout, url: str, intent_id: str, predicate: Any, seconds: float = 20.0
) -> dict[str, Any]:
    """Ask for payment checks until the intent's row satisfies `predicate`."""
    async with asyncio.timeout(seconds):
        while True:
            rows = await db.fetch(
                url,
                "SELECT status, paid_amount FROM qpay_intents WHERE id = $1::uuid",
                intent_id,
            )
            row = dict(rows[0])
            if predicate(row):
                return row
            # Past the 2 s brake on checks, so each round asks QPay once.
            await db.execute(
                url,
                "UPDATE qpay_intents SET last_checked_at = NULL WHERE id = $1::uuid",
                intent_id,
            )
            await checkout.gql(CHECK, {"id": intent_id})
            await asyncio.sleep(0.2)


async def payment_of(checkout: Checkout, invoice_id: str, amount: str) -> str:
    payments = data_of(await checkout.gql(PAYMENTS, {"id": invoice_id}))["invoice"][
        "payments"
    ]
    (found,) = [p["id"] for p in payments if p["amount"] == amount]
    return str(found)


async def refund_whole(checkout: Checkout, payment_id: str) -> dict[str, Any]:
    body = await checkout.gql(
        REFUND,
        {
            "input": {
                "paymentId": payment_id,
                "amount": None,
                "reason": REASON,
                "idempotencyKey": f"refund-{payment_id}",
            }
        },
    )
    payload: dict[str, Any] = data_of(body)["refundPayment"]
    assert payload["errors"] == [], payload
    assert payload["refund"]["status"] == "COMPLETED"
    return payload


async def assert_refunded_screen(page: Any, amount: str, lang: str) -> None:
    """The refunded screen, honest: the amount given back, no way to pay."""
    await page.wait_for_selector(
        f"html[lang='{lang}'] body[data-screen='refunded'] #refunded-line:not([hidden])"
    )
    text = await page.inner_text("main")
    if lang == "mn":
        assert "Төлбөр буцаагдсан." in text
        assert f"Буцаасан дүн {amount} ₮" in text
        assert not [word for word in MN_PAID_WORDS + EN_PAID_WORDS if word in text]
        assert "төлөгд" not in text.lower()
    else:
        assert "This payment was refunded." in text
        assert f"Amount refunded {amount} ₮" in text
        assert "paid" not in text.lower()
    assert await page.text_content("#refunded-amount") == f"{amount} ₮"
    assert await page.text_content("#amount") == f"{amount} ₮"
    assert await page.locator("#screen-refunded").is_visible()
    for hidden in ("#screen-pending", "#screen-paid", "#qr", "#banks", "#simulate"):
        assert await page.locator(hidden).is_hidden(), hidden
    assert await page.get_attribute("#qr", "src") is None  # no QR ever loaded
    assert await page.locator("#banks a").count() == 0
    assert await page.locator("main a:visible, main img:visible").count() == 0


async def test_reopened_checkout_shows_a_refunded_card_payment_in_both_languages(
    clean_db: str, make_settings: SettingsFactory
) -> None:
    async_playwright = browser_or_skip()
    port = free_port()
    out = screenshots()
    simulator = QPaySimulator()
    async with (
        serve_in_process(simulator.app) as simulator_url,
        async_playwright() as pw,
    ):
        qpay = {**QPAY_SANDBOX, "qpay_base_url": f"{simulator_url}/v2"}
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        page = await browser.new_page(viewport={"width": 420, "height": 900})
        frames = Frames(page)
        async with service(make_settings, clean_db, port, **qpay) as checkout:
            payload = await checkout.new_checkout(description=PATIENT)
            intent = payload["intent"]
            await page.goto(payload["checkoutUrl"])
            await page.wait_for_selector(
                "body[data-status='PENDING'] #qr[src^='data:image/png']"
            )
            simulator.pay(intent["qpayInvoiceId"], payment_type="CARD")
            await page.wait_for_selector("body[data-screen='paid']", timeout=15000)
            assert await page.text_content("#paid-amount") == "15,000.00 ₮"

            # PAID is terminal: the server completes the subscription and the
            # page closes its socket. No live REFUNDED can reach this page;
            # the patient sees it on reopening the link.
            await frames.wait_for("complete")
            assert await page.locator("#connection").is_hidden()

            payment_id = await payment_of(checkout, intent["invoiceId"], "15000.00")
            refunded = await refund_whole(checkout, payment_id)
            assert refunded["refund"]["amount"] == "15000.00"
            assert refunded["invoice"] == {"paidAmount": "0.00", "status": "UNPAID"}

            await page.goto(payload["checkoutUrl"])  # reopened: Mongolian first
            await assert_refunded_screen(page, "15,000.00", "mn")
            await page.screenshot(path=str(out / "9-refunded-mn.png"), full_page=True)
            await page.click("[data-lang='en']")
            await assert_refunded_screen(page, "15,000.00", "en")
            await page.reload()  # reopened again: the chosen English stays
            await assert_refunded_screen(page, "15,000.00", "en")
            await page.screenshot(path=str(out / "10-refunded-en.png"), full_page=True)

            # What the page read with its client secret: only its own fields,
            # no error (it asks for nothing staff only), no staff data.
            events = frames.events()
            assert [e["data"]["paymentStatus"]["intent"]["status"] for e in events] == [
                "PENDING",
                "PAID",
                "REFUNDED",
                "REFUNDED",
            ]
            for event in events:
                assert "errors" not in event
                status = event["data"]["paymentStatus"]
                assert set(status["intent"]) == PAGE_INTENT_FIELDS
                assert set(status["intent"]["payment"] or {}) <= {
                    "amount",
                    "currency",
                    "ebarimt",
                }
                assert status["invoice"] == {"number": status["invoice"]["number"]}
            seen = (
                json.dumps(frames.messages, ensure_ascii=False) + await page.content()
            )
            for secret in (PATIENT, REASON, STAFF, payment_id):
                assert secret not in seen

            # The same client secret asking for staff-only fields gets nulls,
            # empty lists and FORBIDDEN errors; queries need a staff token.
            answer = await page.evaluate(
                SUBSCRIBE_ONCE,
                [
                    STAFF_ONLY_PROBE,
                    {"id": intent["id"], "secret": payload["clientSecret"]},
                ],
            )
            assert answer["type"] == "next"
            probed = answer["payload"]["data"]["paymentStatus"]
            assert probed["intent"]["status"] == "REFUNDED"
            assert probed["intent"]["lastError"] is None
            assert probed["intent"]["review"] is None
            assert probed["intent"]["payment"]["amount"] == "15000.00"
            assert probed["intent"]["payment"]["refundableAmount"] is None
            assert probed["intent"]["payment"]["refunds"] == []
            assert probed["invoice"] == {
                "description": None,
                "payments": [],
                "qpayIntents": [],
                "events": [],
            }
            errors = answer["payload"]["errors"]
            assert {e["extensions"]["code"] for e in errors} == {"FORBIDDEN"}
            assert {e["path"][-1] for e in errors} == {
                "lastError",
                "review",
                "refundableAmount",
                "description",
            }
            query = f'{{ invoice(id: "{intent["invoiceId"]}") {{ description }} }}'
            anonymous = await page.evaluate(POST_QUERY, query)
            assert anonymous["data"] is None
            assert [e["extensions"]["code"] for e in anonymous["errors"]] == [
                "UNAUTHENTICATED"
            ]
            feed = await page.evaluate(
                SUBSCRIBE_ONCE,
                ["subscription { paymentEvents { actor refund { reason } } }", {}],
            )
            for secret in (PATIENT, REASON, STAFF):
                assert secret not in json.dumps(answer, ensure_ascii=False)
                assert secret not in json.dumps(anonymous, ensure_ascii=False)
                assert secret not in json.dumps(feed, ensure_ascii=False)
            assert not (feed["payload"].get("data") or {}).get("paymentEvents")
        await browser.close()
    await simulator.aclose()


async def test_reopened_checkout_never_shows_more_than_was_kept_or_given_back(
    clean_db: str, make_settings: SettingsFactory
) -> None:
    async_playwright = browser_or_skip()
    port = free_port()
    out = screenshots()
    simulator = QPaySimulator()
    async with (
        serve_in_process(simulator.app) as simulator_url,
        async_playwright() as pw,
    ):
        qpay = {**QPAY_SANDBOX, "qpay_base_url": f"{simulator_url}/v2"}
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        page = await browser.new_page(viewport={"width": 420, "height": 900})
        async with service(make_settings, clean_db, port, **qpay) as checkout:
            # A partial refund: 10,000 + 5,000 paid on a 15,000 QR (a review,
            # accepted), then the 5,000 card payment refunded. The intent stays
            # PAID holding 10,000: the page shows that, never 15,000.
            partial = await checkout.new_checkout()
            intent = partial["intent"]
            simulator.pay(intent["qpayInvoiceId"], "10000.00", payment_type="CARD")
            await wait_for_row(
                checkout, clean_db, intent["id"], lambda r: r["status"] != "PENDING"
            )
            simulator.pay(intent["qpayInvoiceId"], "5000.00", payment_type="CARD")
            await wait_for_row(
                checkout,
                clean_db,
                intent["id"],
                lambda r: r["paid_amount"] == Decimal("15000.00"),
            )
            resolved = await checkout.gql(
                RESOLVE,
                {
                    "input": {
                        "intentId": intent["id"],
                        "resolution": "ACCEPT",
                        "note": "paid in two scans",
                        "idempotencyKey": f"accept-{intent['id']}",
                    }
                },
            )
            assert data_of(resolved)["resolveQPayReview"]["intent"] == {
                "status": "PAID",
                "paidAmount": "15000.00",
            }
            await refund_whole(
                checkout, await payment_of(checkout, intent["invoiceId"], "5000.00")
            )
            await page.goto(partial["checkoutUrl"])
            await page.wait_for_selector("body[data-screen='paid']")
            for lang in ("mn", "en"):
                await page.click(f"[data-lang='{lang}']")
                text = await page.inner_text("main")
                assert await page.text_content("#paid-amount") == "10,000.00 ₮"
                assert await page.text_content("#amount") == "10,000.00 ₮"
                assert "15,000" not in text
            await page.screenshot(
                path=str(out / "11-paid-after-partial-refund.png"), full_page=True
            )

            # A short payment accepted, then refunded whole: 10,000 came back
            # on a 15,000 QR. The refunded screen says 10,000, not 15,000.
            short = await checkout.new_checkout()
            intent = short["intent"]
            simulator.pay(intent["qpayInvoiceId"], "10000.00", payment_type="CARD")
            await wait_for_row(
                checkout, clean_db, intent["id"], lambda r: r["status"] != "PENDING"
            )
            await refund_whole(
                checkout, await payment_of(checkout, intent["invoiceId"], "10000.00")
            )
            await wait_for_row(
                checkout, clean_db, intent["id"], lambda r: r["status"] == "REFUNDED"
            )
            await page.goto(short["checkoutUrl"])
            await assert_refunded_screen(page, "10,000.00", "en")
            assert "15,000" not in await page.inner_text("main")
            await page.click("[data-lang='mn']")
            await assert_refunded_screen(page, "10,000.00", "mn")
            assert "15,000" not in await page.inner_text("main")
            await page.screenshot(
                path=str(out / "12-refunded-short-payment.png"), full_page=True
            )
        await browser.close()
    await simulator.aclose()
