"""GET /checkout/{intentId}?secret=...: the checkout page (QR, bank deeplinks,
live status over the paymentStatus subscription).

HTML, CSS and JavaScript are served by the app from app/checkout_page/ (no
build step, no CDN). A wrong or missing secret gets the same neutral "not
found" page as an unknown intent. In development with the built-in QPay
simulator the page offers "Simulate payment"; never in production.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from uuid import UUID

import segno
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from app.bootstrap import Container
from domain.ebarimt import EbarimtStatus
from domain.intents import IntentId, QPayIntent
from domain.services import queries
from domain.services.watch_payment_status import client_secret_valid

PAGE_DIR = Path(__file__).with_name("checkout_page")
# The page's one GraphQL document, sent to it in its config: the service
# ships it, so it is trusted even when only trusted documents may run.
PAYMENT_STATUS_DOCUMENT = (PAGE_DIR / "payment_status.graphql").read_text(
    encoding="utf-8"
)
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: https:; connect-src 'self' ws: wss:; "
        "style-src 'self'; script-src 'self'; frame-ancestors 'none'"
    ),
}


def checkout_url(base_url: str, intent_id: UUID, client_secret: str) -> str:
    return f"{base_url}/checkout/{intent_id}?secret={client_secret}"


def checkout_routes(container: Container, *, simulate: bool) -> list[BaseRoute]:
    page = (PAGE_DIR / "index.html").read_text(encoding="utf-8")
    not_found_page = (PAGE_DIR / "not_found.html").read_text(encoding="utf-8")
    uow = container.uow

    def not_found() -> Response:
        return HTMLResponse(not_found_page, status_code=404, headers=HEADERS)

    async def authorized(request: Request) -> QPayIntent | None:
        """The intent, when the path id and the secret match; None otherwise."""
        try:
            intent_id = IntentId(UUID(request.path_params["intent_id"]))
        except ValueError:
            return None
        secret = request.query_params.get("secret")
        if not await client_secret_valid(intent_id, secret, uow=uow):
            return None
        return await queries.get_intent(intent_id, uow=uow)

    async def checkout_page(request: Request) -> Response:
        intent = await authorized(request)
        if intent is None:
            return not_found()
        config = {
            "intentId": str(intent.id),
            "simulate": simulate,
            "lang": "mn",
            "document": PAYMENT_STATUS_DOCUMENT,
        }
        # JSON inside <script>: escape "<" so no payload can close the tag.
        payload = json.dumps(config).replace("<", "\\u003c")
        return HTMLResponse(page.replace("__CONFIG__", payload), headers=HEADERS)

    async def receipt_qr(request: Request) -> Response:
        intent = await authorized(request)
        if intent is None:
            return not_found()
        payments = (await queries.payments_by_invoice([intent.invoice_id], uow=uow))[0]
        mine = [p.id for p in payments if p.intent_id == intent.id]
        receipts = await queries.receipts_by_payment(mine, uow=uow)
        # Only a receipt that stands: one returned with a refund is no receipt.
        data = next(
            (
                r.qr_data
                for r in receipts
                if r is not None and r.status is EbarimtStatus.ISSUED and r.qr_data
            ),
            None,
        )
        if data is None:
            return not_found()
        image = io.BytesIO()
        segno.make(data, error="m").save(image, kind="png", scale=6, border=2)
        return Response(image.getvalue(), media_type="image/png", headers=HEADERS)

    async def simulate_payment(request: Request) -> Response:
        intent = await authorized(request)
        if not simulate or container.simulator is None or intent is None:
            return not_found()
        assert intent.qpay_invoice_id is not None  # noqa: S101  # created intents only
        payment_id = container.simulator.pay(intent.qpay_invoice_id)
        return JSONResponse({"paymentId": payment_id})

    return [
        Route("/checkout/{intent_id}", checkout_page, methods=["GET"]),
        Route("/checkout/{intent_id}/receipt-qr.png", receipt_qr, methods=["GET"]),
        Route(
            "/checkout/{intent_id}/simulate-payment", simulate_payment, methods=["POST"]
        ),
        Mount(
            "/checkout-assets",
            app=StaticFiles(directory=PAGE_DIR / "assets"),
            name="checkout-assets",
        ),
    ]
