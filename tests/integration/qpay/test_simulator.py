"""The simulator speaks QPay: shapes, status codes and error bodies from
reference/qpay-v2.md, a real QR code, its control endpoints, concurrency."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import zlib
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
import segno

from domain.errors import GatewayUnavailable
from qpay.simulator import QPaySimulator
from qpay.simulator.payloads import crc16_ccitt
from tests.integration.qpay.conftest import CALLBACK_URL, Rig, in_process

pytestmark = pytest.mark.anyio

INVOICE_BODY: dict[str, Any] = {
    "invoice_code": "TEST_INVOICE",
    "sender_invoice_no": "INV-1",
    "invoice_receiver_code": "terminal",
    "invoice_description": "Шүдний эмчилгээ",
    "amount": 15000,
    "callback_url": CALLBACK_URL,
}


class Raw:
    """Plain HTTP to the simulator, with a bearer once logged in."""

    def __init__(self, http: httpx.AsyncClient, sim: QPaySimulator) -> None:
        self.http = http
        self.sim = sim
        self.headers: dict[str, str] = {}

    async def login(self) -> dict[str, Any]:
        response = await self.http.post(
            "/v2/auth/token", auth=("TEST_MERCHANT", "123456")
        )
        token: dict[str, Any] = response.json()
        self.headers = {"Authorization": f"Bearer {token['access_token']}"}
        return token

    async def call(self, method: str, path: str, body: object = None) -> httpx.Response:
        return await self.http.request(method, path, json=body, headers=self.headers)

    async def invoice(self, **changes: Any) -> dict[str, Any]:
        response = await self.call("POST", "/v2/invoice", {**INVOICE_BODY, **changes})
        assert response.status_code == 200, response.text
        created: dict[str, Any] = response.json()
        return created


@pytest.fixture
async def raw() -> AsyncIterator[Raw]:
    async with in_process() as rig:
        transport = httpx.ASGITransport(app=rig.sim.app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://sim"
        ) as http:
            client = Raw(http, rig.sim)
            await client.login()
            yield client


def png_pixels(png: bytes) -> tuple[int, list[list[int]]]:
    """(width, rows of 0/1) of a 1-bit greyscale PNG, as segno writes them."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    position, data, width = 8, b"", 0
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        kind = png[position + 4 : position + 8]
        chunk = png[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", chunk[:10])
            assert (depth, colour, width) == (1, 0, height)
        elif kind == b"IDAT":
            data += chunk
        position += 12 + length
    raw = zlib.decompress(data)
    stride = (width + 7) // 8
    rows: list[list[int]] = []
    previous = bytes(stride)
    for start in range(0, len(raw), stride + 1):
        method, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):  # PNG filters, one byte per pixel group
            left = line[i - 1] if i else 0
            up, corner = previous[i], previous[i - 1] if i else 0
            if method == 1:
                line[i] = (line[i] + left) & 0xFF
            elif method == 2:
                line[i] = (line[i] + up) & 0xFF
            elif method == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif method == 4:
                guess = left + up - corner
                near = min(
                    (abs(guess - left), 0, left),
                    (abs(guess - up), 1, up),
                    (abs(guess - corner), 2, corner),
                )[2]
                line[i] = (line[i] + near) & 0xFF
        previous = bytes(line)
        rows.append([(line[x // 8] >> (7 - x % 8)) & 1 for x in range(width)])
    return width, rows


async def test_issues_epoch_tokens_when_the_credentials_are_right() -> None:
    async with in_process(sim_options={"now": lambda: 1_769_670_125.0}) as rig:
        response = await rig.http.post("/auth/token", auth=("TEST_MERCHANT", "123456"))

    token = response.json()
    assert token["expires_in"] == 1_769_670_125 + 86_400
    assert token["refresh_expires_in"] == token["expires_in"]
    assert token["token_type"] == "bearer"
    assert token["not-before-policy"] == "0"
    claims = json.loads(
        base64.urlsafe_b64decode(token["access_token"].split(".")[1] + "==")
    )
    assert claims["exp"] == claims["iat"] + token["expires_in"]  # QPay's quirk


async def test_answers_no_credendials_when_the_bearer_is_unknown_or_missing(
    raw: Raw,
) -> None:
    raw.headers = {"Authorization": "Bearer nope"}
    unknown = await raw.call("GET", "/v2/invoice/x")
    raw.headers = {}
    missing = await raw.call("POST", "/v2/payment/check", {})

    expected = b'{"error":"NO_CREDENDIALS","message":"NO_CREDENDIALS"}'
    assert (unknown.status_code, unknown.content) == (401, expected)
    assert (missing.status_code, missing.content) == (401, expected)
    assert len(expected) == 53


async def test_refreshes_with_the_refresh_token_only_when_it_is_valid(
    raw: Raw,
) -> None:
    token = await raw.login()

    raw.headers = {"Authorization": f"Bearer {token['refresh_token']}"}
    renewed = await raw.call("POST", "/v2/auth/refresh")
    raw.headers = {"Authorization": f"Bearer {token['access_token']}"}
    with_access = await raw.call("POST", "/v2/auth/refresh")

    assert renewed.status_code == 200
    assert renewed.json()["access_token"] != token["access_token"]
    assert with_access.status_code == 401


@pytest.mark.parametrize(
    ("change", "field", "kind"),
    [
        ({"invoice_code": None}, "invoice_code", "REQUIRED"),
        ({"callback_url": ""}, "callback_url", "REQUIRED"),
        ({"sender_invoice_no": "N" * 46}, "sender_invoice_no", "MAX_LENGTH"),
        ({"invoice_description": "d" * 256}, "invoice_description", "MAX_LENGTH"),
    ],
)
async def test_answers_nested_validation_errors_when_create_fields_are_bad(
    raw: Raw, change: dict[str, Any], field: str, kind: str
) -> None:
    response = await raw.call("POST", "/v2/invoice", {**INVOICE_BODY, **change})

    body = response.json()
    assert response.status_code == 400
    assert body["error"][field]["type"] == kind
    assert body["message"] == body["error"]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"invoice_code": "SOMEONE_ELSES"}, "INVOICE_CODE_INVALID"),
        ({"amount": 0}, "INVALID_AMOUNT"),
        ({"amount": "abc"}, "INVALID_AMOUNT"),
    ],
)
async def test_answers_qpays_code_when_the_invoice_cannot_be_made(
    raw: Raw, change: dict[str, Any], code: str
) -> None:
    response = await raw.call("POST", "/v2/invoice", {**INVOICE_BODY, **change})

    assert (response.status_code, response.json()["error"]) == (400, code)


async def test_takes_the_amount_from_lines_when_the_full_form_has_none(
    raw: Raw,
) -> None:
    lines = [
        {"line_description": "a", "line_quantity": "2", "line_unit_price": "1500.25"},
        {"line_description": "b", "line_quantity": 1, "line_unit_price": 1000},
    ]
    body = {k: v for k, v in INVOICE_BODY.items() if k != "amount"}

    created = (await raw.call("POST", "/v2/invoice", {**body, "lines": lines})).json()
    invoice = (await raw.call("GET", f"/v2/invoice/{created['invoice_id']}")).json()

    assert invoice["total_amount"] == "4000.50"
    assert invoice["lines"][0]["line_description"] == "a"


async def test_draws_a_real_qr_code_of_the_qr_text_when_an_invoice_is_made(
    raw: Raw,
) -> None:
    created = await raw.invoice()

    assert not created["qr_image"].startswith("data:")
    width, pixels = png_pixels(base64.b64decode(created["qr_image"]))
    matrix = segno.make(created["qr_text"], error="m", micro=False).matrix
    modules = len(matrix) + 8
    scale = width // modules
    decoded = [
        [1 - pixels[(y + 4) * scale + scale // 2][(x + 4) * scale + scale // 2]
         for x in range(len(matrix))]
        for y in range(len(matrix))
    ]  # fmt: skip
    assert 250 <= width <= 350
    assert decoded == [[int(bool(m)) for m in row] for row in matrix]


async def test_writes_an_emvco_payload_with_a_valid_crc_when_an_invoice_is_made(
    raw: Raw,
) -> None:
    created = await raw.invoice(amount="15000.50")
    text = created["qr_text"]

    assert text.startswith("000201010212")
    assert "5303496" in text
    assert "540815000.50" in text
    assert "5802MN" in text
    assert text[-8:-4] == "6304"
    assert int(text[-4:], 16) == crc16_ccitt(text[:-4].encode())


async def test_lists_bank_deeplinks_and_a_short_url_when_an_invoice_is_made(
    raw: Raw,
) -> None:
    created = await raw.invoice()

    links = {u["name"]: u for u in created["urls"]}
    khan = links["Khan bank"]
    assert khan["link"] == f"khanbank://q?qPay_QRcode={created['qr_text']}"
    assert khan["description"] == "Хаан банк"
    assert khan["logo"].startswith("https://qpay.mn/q/logo/")
    assert {"State bank 3.0", "Xac bank", "Social Pay", "M bank", "Monpay"} <= set(
        links
    )
    assert all(
        set(u) == {"name", "description", "logo", "link"} for u in links.values()
    )
    assert created["qPay_shortUrl"].startswith("https://s.qpay.mn/")


async def test_answers_amounts_as_strings_and_paid_amount_as_a_number_when_paid(
    raw: Raw,
) -> None:
    created = await raw.invoice(amount="999.5")
    raw.sim.pay(created["invoice_id"], "999.5")

    invoice = (await raw.call("GET", f"/v2/invoice/{created['invoice_id']}")).json()
    check = (
        await raw.call(
            "POST",
            "/v2/payment/check",
            {"object_type": "INVOICE", "object_id": created["invoice_id"]},
        )
    ).json()

    assert (invoice["invoice_status"], invoice["total_amount"]) == ("CLOSED", "999.50")
    assert check["paid_amount"] == 999.5
    assert check["rows"][0]["payment_amount"] == "999.50"
    assert set(check["rows"][0]) >= {"trx_fee", "payment_wallet", "p2p_transactions"}


@pytest.mark.parametrize(
    ("offset", "kind"),
    [
        ({"page_number": 1, "page_limit": 0}, "MIN_NUMBER"),
        ({"page_number": 0, "page_limit": 10}, "MIN_NUMBER"),
        ({"page_number": 1, "page_limit": 101}, "MAX_NUMBER"),
    ],
)
async def test_answers_nested_number_errors_when_the_page_is_out_of_range(
    raw: Raw, offset: dict[str, int], kind: str
) -> None:
    body = {"object_type": "INVOICE", "object_id": "x", "offset": offset}

    response = await raw.call("POST", "/v2/payment/check", body)

    [(field, detail)] = response.json()["error"].items()
    assert response.status_code == 400
    assert detail["type"] == kind
    assert field in offset


async def test_pages_rows_with_the_full_count_when_paid_many_times(raw: Raw) -> None:
    created = await raw.invoice(amount=100)
    ids = [raw.sim.pay(created["invoice_id"], "10", force=True) for _ in range(7)]
    body = {"object_type": "INVOICE", "object_id": created["invoice_id"]}

    pages = [
        (await raw.call("POST", "/v2/payment/check", {**body, "offset": offset})).json()
        for offset in ({"page_number": n, "page_limit": 3} for n in (1, 2, 3))
    ]

    assert [page["count"] for page in pages] == [7, 7, 7]
    assert [r["payment_id"] for page in pages for r in page["rows"]] == ids


async def test_answers_invoice_notfound_with_422_when_getting_an_unknown_invoice(
    raw: Raw,
) -> None:
    response = await raw.call("GET", "/v2/invoice/unknown")

    assert response.status_code == 422
    assert response.json()["error"] == "INVOICE_NOTFOUND"


async def test_answers_like_express_when_the_route_does_not_exist(raw: Raw) -> None:
    response = await raw.call("GET", "/v2/ebarimt_v3/some-payment")

    assert response.status_code == 404
    assert "Cannot GET /v2/ebarimt_v3/some-payment" in response.text


async def test_refuses_a_company_receipt_when_the_register_is_invalid(
    raw: Raw,
) -> None:
    created = await raw.invoice()
    payment_id = raw.sim.pay(created["invoice_id"])
    body = {"payment_id": payment_id, "ebarimt_receiver_type": "COMPANY"}

    response = await raw.call("POST", "/v2/ebarimt/create", body)

    assert response.json()["error"] == "CUSTOMER_REGISTER_INVALID"


async def test_never_logs_the_authorization_value_when_recording_requests(
    raw: Raw,
) -> None:
    await raw.invoice()

    logged = (await raw.http.get("/_sim/requests")).json()

    token = raw.headers["Authorization"].split()[1]
    assert [(r["method"], r["path"], r["auth"]) for r in logged] == [
        ("POST", "/v2/auth/token", "basic"),
        ("POST", "/v2/invoice", "bearer"),
    ]
    assert logged[1]["json"]["sender_invoice_no"] == "INV-1"
    assert token not in json.dumps(logged)
    assert "123456" not in json.dumps(logged)


async def test_sends_each_callback_n_times_when_duplicates_are_asked(
    rig: Rig,
) -> None:
    created = await rig.new_invoice()

    await rig.control("callbacks", {"duplicate": 3})
    rig.sim.pay(created.qpay_invoice_id, "100")
    await rig.control("callbacks", {"drop": True, "duplicate": 1})
    rig.sim.pay(created.qpay_invoice_id, "100")
    await rig.sim.wait_callbacks()
    sent = (await rig.http.get("http://qpay-sim/_sim/callbacks")).json()

    assert len(rig.receiver.received) == 3
    assert len(sent) == 3
    assert all(entry["sent_at"] > 0 for entry in sent)


async def test_answers_the_injected_raw_body_when_a_fault_is_set_over_http(
    rig: Rig,
) -> None:
    await rig.control(
        "fail", {"path": "/payment/list", "status": 500, "body": "TypeError: x"}
    )

    response = await rig.http.post("/payment/list", json={})

    assert (response.status_code, response.text) == (500, "TypeError: x")


async def test_forgets_everything_when_reset(rig: Rig) -> None:
    created = await rig.new_invoice()
    rig.sim.fail_next("/invoice", count=5)

    reset = await rig.control("reset", {})
    lookup = await rig.http.get(
        f"/invoice/{created.qpay_invoice_id}",
        headers={"Authorization": "Bearer whatever"},
    )

    assert reset.status_code == 200
    assert lookup.status_code == 401
    assert [r["path"] for r in rig.sim.requests] == [
        f"/v2/invoice/{created.qpay_invoice_id}"
    ]
    assert rig.sim.state.faults == []


async def test_rejects_bad_control_requests_with_400_when_fields_are_wrong(
    rig: Rig,
) -> None:
    answers = [
        await rig.control("fail", {"count": 1}),
        await rig.control("delay", {"path": "/invoice"}),
        await rig.control("row-shape", {"shape": "excel"}),
        await rig.control("callbacks", {"duplicate": 0}),
        await rig.control("pay", {"invoice_id": "unknown"}),
        await rig.control("fail", {"path": "/invoice", "after": "yes"}),
        await rig.control("delay", {"path": "/invoice", "seconds": 1, "after": 1}),
        await rig.control("pay", {"invoice_id": "unknown", "currency": 840}),
        await rig.control("list-timezone", {}),
        await rig.control("refund", {"payment_id": "unknown"}),
    ]

    assert [a.status_code for a in answers] == [
        *(400, 400, 400, 400, 404),
        *(400, 400, 400, 400, 404),
    ]
    assert rig.sim.state.faults == []


async def test_keeps_every_payment_when_fifty_invoices_are_paid_concurrently(
    rig: Rig,
) -> None:
    invoices = await asyncio.gather(
        *(rig.new_invoice("1000", number=f"INV-{n}") for n in range(50))
    )

    paid = await asyncio.gather(
        *(rig.control("pay", {"invoice_id": i.qpay_invoice_id}) for i in invoices)
    )
    await rig.sim.wait_callbacks()
    checks = await asyncio.gather(
        *(rig.gateway.check_payment(i.qpay_invoice_id) for i in invoices)
    )

    payment_ids = {answer.json()["payment_id"] for answer in paid}
    assert len({i.qpay_invoice_id for i in invoices}) == 50
    assert len(payment_ids) == 50
    assert {row.payment_id for c in checks for row in c.rows} == payment_ids
    assert all(row.amount == Decimal(1000) for c in checks for row in c.rows)
    assert {s.status for s in rig.sim.state.invoices.values()} == {"CLOSED"}
    assert len(rig.receiver.received) == 50
    assert rig.calls("POST", "/v2/auth/token") == 1


# --- processed, then the answer is lost -----------------------------------------


async def test_makes_the_invoice_then_answers_502_when_failed_after_processing(
    rig: Rig,
) -> None:
    rig.sim.fail_next("/invoice", status=502, body="upstream down", after=True)

    with pytest.raises(GatewayUnavailable) as caught:
        await rig.new_invoice()

    assert caught.value.may_have_reached is True
    assert rig.calls("POST", "/v2/invoice") == 1
    assert len(rig.sim.state.invoices) == 1
    assert rig.sim.state.faults == []


async def test_registers_the_receipt_then_answers_502_when_failed_after_processing(
    raw: Raw,
) -> None:
    created = await raw.invoice()
    payment_id = raw.sim.pay(created["invoice_id"])
    body = {"payment_id": payment_id, "ebarimt_receiver_type": "CITIZEN"}

    await raw.http.post(
        "/_sim/fail",
        json={"path": "/ebarimt/create", "status": 502, "after": True},
    )
    lost = await raw.call("POST", "/v2/ebarimt/create", body)
    replayed = await raw.call("POST", "/v2/ebarimt/create", body)

    assert (lost.status_code, lost.json()["error"]) == (502, "SYSTEM_BUSY")
    assert replayed.status_code == 200
    assert len(raw.sim.registered_receipts(payment_id)) == 2


async def test_holds_the_answer_of_a_made_invoice_when_delayed_after_processing(
    raw: Raw,
) -> None:
    await raw.http.post(
        "/_sim/delay",
        json={"path": "/invoice", "seconds": 3600, "method": "POST", "after": True},
    )

    pending = asyncio.ensure_future(raw.call("POST", "/v2/invoice", INVOICE_BODY))
    for _ in range(1000):  # the route runs within a few turns of the loop
        if raw.sim.state.invoices or pending.done():
            break
        await asyncio.sleep(0)
    made_while_pending = not pending.done()
    pending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pending

    assert made_while_pending
    assert len(raw.sim.state.invoices) == 1
    assert [r["path"] for r in raw.sim.requests].count("/v2/invoice") == 1


async def test_answers_what_the_route_answered_when_delayed_after_processing(
    raw: Raw,
) -> None:
    raw.sim.delay_next("/invoice", 0.01, method="POST", after=True)

    created = await raw.invoice()
    invoice = (await raw.call("GET", f"/v2/invoice/{created['invoice_id']}")).json()

    assert list(raw.sim.state.invoices) == [created["invoice_id"]]
    assert invoice["invoice_status"] == "OPEN"
    assert raw.sim.state.faults == []


async def test_runs_the_route_once_when_a_fault_is_set_before_processing(
    raw: Raw,
) -> None:
    raw.sim.fail_next("/invoice", status=502, method="POST")

    failed = await raw.call("POST", "/v2/invoice", INVOICE_BODY)
    created = await raw.invoice()

    assert failed.status_code == 502
    assert list(raw.sim.state.invoices) == [created["invoice_id"]]
