"""Every QPayClient call: exact method, path, headers and JSON body."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from qpay.exchange import make_http_client
from tests.unit.qpay.conftest import BASIC, Rig, body_of

pytestmark = pytest.mark.anyio

INVOICE_ID = "d9a1e9e4-0f0c-4a55-9a3b-5e8f1c2d3b4a"
PAYMENT_ID = "493622150113497"

INVOICE_CREATED = {
    "invoice_id": INVOICE_ID,
    "qr_text": "0002010102121531279404962794049600",
    "qr_image": "iVBORw0KGgo=",
    "qPay_shortUrl": "https://s.qpay.mn/abcd",
    "urls": [
        {
            "name": "Khan bank",
            "description": "Хаан банк",
            "logo": "https://qpay.mn/q/logo/khanbank.png",
            "link": "khanbank://q?qPay_QRcode=000201",
        }
    ],
}
RECEIPT = {
    "id": "eb-1",
    "ebarimt_lottery": "AB 12345678",
    "ebarimt_qr_data": "1234567890",
    "barimt_status": "REGISTERED",
    "amount": "100.00",
}


def live_row(payment_id: str, amount: str = "100.00") -> dict[str, Any]:
    return {
        "payment_id": payment_id,
        "payment_status": "PAID",
        "payment_amount": amount,
        "trx_fee": "0.00",
        "payment_currency": "MNT",
        "payment_wallet": "qPay wallet",
        "payment_type": "P2P",
        "card_transactions": [],
        "p2p_transactions": [{"amount": amount}],
    }


async def create(rig: Rig, amount: Decimal, **extra: Any) -> httpx.Request:
    route = rig.router.post("/invoice").respond(200, json=INVOICE_CREATED)
    await rig.client.create_invoice(
        invoice_code="TEST_INVOICE",
        sender_invoice_no="INV-0001",
        invoice_receiver_code="terminal",
        invoice_description="Шүдний эмчилгээ",
        amount=amount,
        callback_url="https://clinic.test/qpay/callback/1?token=abc",
        **extra,
    )
    request: httpx.Request = route.calls.last.request
    return request


async def test_logs_in_with_basic_auth_and_empty_body_when_first_called(
    rig: Rig,
) -> None:
    rig.router.get(f"/invoice/{INVOICE_ID}").respond(
        200, json={"invoice_id": INVOICE_ID, "invoice_status": "OPEN"}
    )

    await rig.client.get_invoice(INVOICE_ID)

    login = rig.logins[0]
    assert login.method == "POST"
    assert login.url.path == "/v2/auth/token"
    assert login.headers["Authorization"] == BASIC
    assert login.content == b""


async def test_sends_the_simple_form_with_bearer_when_creating_an_invoice(
    rig: Rig,
) -> None:
    request = await create(rig, Decimal("15000"))

    assert request.method == "POST"
    assert request.url.path == "/v2/invoice"
    assert request.headers["Authorization"] == "Bearer access-1"
    assert request.headers["Content-Type"] == "application/json"
    assert body_of(request) == {
        "invoice_code": "TEST_INVOICE",
        "sender_invoice_no": "INV-0001",
        "invoice_receiver_code": "terminal",
        "invoice_description": "Шүдний эмчилгээ",
        "amount": 15000,
        "callback_url": "https://clinic.test/qpay/callback/1?token=abc",
    }


@pytest.mark.parametrize(
    ("amount", "sent"),
    [
        (Decimal("15000.00"), b'"amount":15000,'),
        (Decimal("15000.50"), b'"amount":"15000.50",'),
        (Decimal("0.5"), b'"amount":"0.5",'),
        (Decimal("1E+3"), b'"amount":1000,'),
    ],
)
async def test_writes_whole_amounts_as_integers_and_others_as_strings_when_creating(
    rig: Rig, amount: Decimal, sent: bytes
) -> None:
    request = await create(rig, amount)

    assert sent in request.content


async def test_sends_lines_and_branch_with_decimal_amounts_when_given(
    rig: Rig,
) -> None:
    lines = [
        {
            "line_description": "Ломбо",
            "line_quantity": Decimal("1.00"),
            "line_unit_price": Decimal("15000.50"),
        }
    ]

    request = await create(
        rig, Decimal("15000.50"), lines=lines, sender_branch_code="branch_01"
    )

    body = body_of(request)
    assert body["sender_branch_code"] == "branch_01"
    assert body["lines"] == [
        {
            "line_description": "Ломбо",
            "line_quantity": 1,
            "line_unit_price": "15000.50",
        }
    ]


@pytest.mark.parametrize("amount", [Decimal(0), Decimal(-5), Decimal("NaN")])
async def test_refuses_without_calling_qpay_when_the_amount_is_not_positive(
    rig: Rig, amount: Decimal
) -> None:
    with pytest.raises(ValueError, match="amount"):
        await create(rig, amount)

    assert rig.logins == []


async def test_gets_an_invoice_with_bearer_when_asked(rig: Rig) -> None:
    route = rig.router.get(f"/invoice/{INVOICE_ID}").respond(
        200,
        json={
            "invoice_id": INVOICE_ID,
            "invoice_status": "CLOSED",
            "total_amount": "100.00",
        },
    )

    invoice = await rig.client.get_invoice(INVOICE_ID)

    request = route.calls.last.request
    assert (request.method, request.url.path) == ("GET", f"/v2/invoice/{INVOICE_ID}")
    assert request.headers["Authorization"] == "Bearer access-1"
    assert invoice.invoice_status == "CLOSED"
    assert invoice.total_amount == Decimal("100.00")


async def test_escapes_the_id_when_it_holds_path_characters(rig: Rig) -> None:
    route = rig.router.route(method="GET").respond(
        200, json={"invoice_id": "x", "invoice_status": "OPEN"}
    )

    await rig.client.get_invoice("a/../b?c")

    assert route.calls.last.request.url.raw_path == b"/v2/invoice/a%2F..%2Fb%3Fc"


async def test_deletes_the_invoice_and_returns_the_empty_answer_when_cancelling(
    rig: Rig,
) -> None:
    route = rig.router.delete(f"/invoice/{INVOICE_ID}").respond(200, json={})

    answer = await rig.client.cancel_invoice(INVOICE_ID)

    assert answer == {}
    request = route.calls.last.request
    assert request.headers["Authorization"] == "Bearer access-1"
    assert request.content == b""


async def test_posts_object_and_offset_when_checking_a_payment(rig: Rig) -> None:
    route = rig.router.post("/payment/check").respond(
        200,
        json={"count": 1, "paid_amount": 100, "rows": [live_row(PAYMENT_ID)]},
    )

    result = await rig.client.check_payment(INVOICE_ID, page_limit=20)

    request = route.calls.last.request
    assert request.headers["Authorization"] == "Bearer access-1"
    assert body_of(request) == {
        "object_type": "INVOICE",
        "object_id": INVOICE_ID,
        "offset": {"page_number": 1, "page_limit": 20},
    }
    assert result.count == 1
    assert result.paid_amount == Decimal(100)
    assert [row.payment_id for row in result.rows] == [PAYMENT_ID]


async def test_follows_every_page_when_count_exceeds_the_rows_seen(rig: Rig) -> None:
    pages = {
        1: [live_row(f"p{i}") for i in range(100)],
        2: [live_row(f"p{i}") for i in range(100, 200)],
        3: [live_row(f"p{i}") for i in range(200, 250)],
    }

    def page(request: httpx.Request) -> httpx.Response:
        number = body_of(request)["offset"]["page_number"]
        rows = pages[number]
        return httpx.Response(
            200, json={"count": 250, "paid_amount": 25000, "rows": rows}
        )

    route = rig.router.post("/payment/check").mock(side_effect=page)

    result = await rig.client.check_payment(INVOICE_ID)

    numbers = [body_of(c.request)["offset"]["page_number"] for c in route.calls]
    assert numbers == [1, 2, 3]
    assert [row.payment_id for row in result.rows] == [f"p{i}" for i in range(250)]
    assert len(result.pages) == 3
    assert result.pages[2]["rows"][0]["payment_id"] == "p200"


async def test_stops_paging_when_a_page_comes_back_empty(rig: Rig) -> None:
    answers = [
        httpx.Response(200, json={"count": 5, "rows": [live_row("p1")]}),
        httpx.Response(200, json={"count": 5, "rows": []}),
    ]
    route = rig.router.post("/payment/check").mock(side_effect=answers)

    result = await rig.client.check_payment(INVOICE_ID, page_limit=1)

    assert route.call_count == 2
    assert [row.payment_id for row in result.rows] == ["p1"]


@pytest.mark.parametrize("page_limit", [0, 101])
async def test_refuses_without_calling_qpay_when_page_limit_is_out_of_range(
    rig: Rig, page_limit: int
) -> None:
    with pytest.raises(ValueError, match="page_limit"):
        await rig.client.check_payment(INVOICE_ID, page_limit=page_limit)

    assert rig.logins == []


async def test_gets_a_payment_with_its_invoice_when_asked(rig: Rig) -> None:
    route = rig.router.get(f"/payment/{PAYMENT_ID}").respond(
        200,
        json={
            "payment_id": PAYMENT_ID,
            "payment_status": "PAID",
            "payment_amount": "100.00",
            "payment_currency": "MNT",
            "transaction_type": "P2P",
            "object_type": "INVOICE",
            "object_id": INVOICE_ID,
        },
    )

    payment = await rig.client.get_payment(PAYMENT_ID)

    assert route.calls.last.request.method == "GET"
    assert payment.object_id == INVOICE_ID
    assert payment.payment_amount == Decimal("100.00")


@pytest.mark.parametrize("kind", ["cancel", "refund"])
async def test_deletes_with_a_json_body_when_reversing_a_card_payment(
    rig: Rig, kind: str
) -> None:
    route = rig.router.delete(f"/payment/{kind}/{PAYMENT_ID}").respond(200, json={})
    reverse = (
        rig.client.cancel_payment if kind == "cancel" else rig.client.refund_payment
    )

    answer = await reverse(PAYMENT_ID, "patient asked", "https://clinic.test/cb")

    request = route.calls.last.request
    assert request.method == "DELETE"
    assert request.headers["Authorization"] == "Bearer access-1"
    assert body_of(request) == {
        "note": "patient asked",
        "callback_url": "https://clinic.test/cb",
    }
    assert answer == {}


async def test_leaves_out_the_callback_when_refunding_without_one(rig: Rig) -> None:
    route = rig.router.delete(f"/payment/refund/{PAYMENT_ID}").respond(200, json={})

    await rig.client.refund_payment(PAYMENT_ID, "duplicate")

    assert body_of(route.calls.last.request) == {"note": "duplicate"}


async def test_posts_dates_and_offset_when_listing_payments(rig: Rig) -> None:
    route = rig.router.post("/payment/list").respond(
        200,
        json={
            "count": 1,
            "rows": [
                {
                    "payment_id": PAYMENT_ID,
                    "payment_status": "PAID",
                    "payment_amount": 100,
                    "paid_by": "P2P",
                }
            ],
        },
    )

    listed = await rig.client.list_payments(
        object_type="INVOICE",
        object_id="TEST_INVOICE",
        start_date=datetime(2026, 1, 1, 0, 0, 0),  # noqa: DTZ001  # QPay's naive format
        end_date="2026-01-31 23:59:59",
        page_limit=50,
    )

    assert body_of(route.calls.last.request) == {
        "object_type": "INVOICE",
        "object_id": "TEST_INVOICE",
        "start_date": "2026-01-01 00:00:00",
        "end_date": "2026-01-31 23:59:59",
        "offset": {"page_number": 1, "page_limit": 50},
    }
    assert listed.rows[0].payment_amount == Decimal(100)


@pytest.mark.parametrize(
    ("family", "path"), [("v2", "/v2/ebarimt/create"), ("v3", "/v2/ebarimt_v3/create")]
)
async def test_posts_payment_and_receiver_when_creating_a_receipt(
    rig: Rig, family: str, path: str
) -> None:
    route = rig.router.post(path.removeprefix("/v2")).respond(200, json=RECEIPT)
    create_receipt = (
        rig.client.create_ebarimt if family == "v2" else rig.client.create_ebarimt_v3
    )

    receipt = await create_receipt(PAYMENT_ID, "COMPANY", "5317878")

    request = route.calls.last.request
    assert (request.method, request.url.path) == ("POST", path)
    assert request.headers["Authorization"] == "Bearer access-1"
    assert body_of(request) == {
        "payment_id": PAYMENT_ID,
        "ebarimt_receiver_type": "COMPANY",
        "ebarimt_receiver": "5317878",
    }
    assert receipt.ebarimt_lottery == "AB 12345678"


async def test_leaves_out_the_receiver_when_a_citizen_gives_none(rig: Rig) -> None:
    route = rig.router.post("/ebarimt/create").respond(200, json=RECEIPT)

    await rig.client.create_ebarimt(PAYMENT_ID, "CITIZEN")

    assert body_of(route.calls.last.request) == {
        "payment_id": PAYMENT_ID,
        "ebarimt_receiver_type": "CITIZEN",
    }


async def test_gets_and_deletes_a_v2_receipt_by_its_id_when_asked(rig: Rig) -> None:
    get = rig.router.get("/ebarimt/eb-1").respond(200, json=RECEIPT)
    delete = rig.router.delete("/ebarimt/eb-1").respond(200, json={})

    receipt = await rig.client.get_ebarimt("eb-1")
    await rig.client.cancel_ebarimt("eb-1")

    assert receipt.id == "eb-1"
    assert get.calls.last.request.method == "GET"
    assert delete.calls.last.request.method == "DELETE"


async def test_deletes_a_v3_receipt_by_payment_id_when_cancelling(rig: Rig) -> None:
    route = rig.router.delete(f"/ebarimt_v3/{PAYMENT_ID}").respond(200, json={})

    await rig.client.cancel_ebarimt_v3(PAYMENT_ID)

    request = route.calls.last.request
    assert request.headers["Authorization"] == "Bearer access-1"
    assert request.url.path == f"/v2/ebarimt_v3/{PAYMENT_ID}"


ANY_RECEIPT = {"id": "eb-1"}
ANY_PAYMENT = {"payment_id": "p1", "payment_status": "PAID", "payment_amount": 1}
EVERY_CALL: list[tuple[str, tuple[Any, ...], str, str, dict[str, Any] | None]] = [
    ("get_invoice", ("i1",), "GET", "/v2/invoice/i1", None),
    ("cancel_invoice", ("i1",), "DELETE", "/v2/invoice/i1", None),
    (
        "check_payment",
        ("i1",),
        "POST",
        "/v2/payment/check",
        {
            "object_type": "INVOICE",
            "object_id": "i1",
            "offset": {"page_number": 1, "page_limit": 100},
        },
    ),
    ("get_payment", ("p1",), "GET", "/v2/payment/p1", None),
    ("cancel_payment", ("p1", "n"), "DELETE", "/v2/payment/cancel/p1", {"note": "n"}),
    ("refund_payment", ("p1", "n"), "DELETE", "/v2/payment/refund/p1", {"note": "n"}),
    (
        "create_ebarimt",
        ("p1", "CITIZEN"),
        "POST",
        "/v2/ebarimt/create",
        {"payment_id": "p1", "ebarimt_receiver_type": "CITIZEN"},
    ),
    ("get_ebarimt", ("eb-1",), "GET", "/v2/ebarimt/eb-1", None),
    ("cancel_ebarimt", ("eb-1",), "DELETE", "/v2/ebarimt/eb-1", None),
    (
        "create_ebarimt_v3",
        ("p1", "COMPANY", "5317878"),
        "POST",
        "/v2/ebarimt_v3/create",
        {
            "payment_id": "p1",
            "ebarimt_receiver_type": "COMPANY",
            "ebarimt_receiver": "5317878",
        },
    ),
    ("cancel_ebarimt_v3", ("p1",), "DELETE", "/v2/ebarimt_v3/p1", None),
]
ANSWERS: dict[str, dict[str, Any]] = {
    "/v2/invoice/i1": {"invoice_id": "i1", "invoice_status": "OPEN"},
    "/v2/payment/check": {"count": 0, "rows": []},
    "/v2/payment/p1": ANY_PAYMENT,
}


@pytest.mark.parametrize(
    ("call", "arguments", "method", "path", "body"),
    EVERY_CALL,
    ids=[entry[0] for entry in EVERY_CALL],
)
async def test_sends_exactly_one_bearer_request_when_each_call_runs(
    rig: Rig,
    call: str,
    arguments: tuple[Any, ...],
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    route = rig.router.route(method=method, path=path.removeprefix("/v2")).respond(
        200, json=ANSWERS.get(path, ANY_RECEIPT)
    )

    await getattr(rig.client, call)(*arguments)

    [sent] = [c.request for c in route.calls]
    assert (sent.method, sent.url.path) == (method, path)
    assert sent.headers["Authorization"] == "Bearer access-1"
    if body is None:
        assert sent.content == b""
        assert "Content-Type" not in sent.headers
    else:
        assert sent.headers["Content-Type"] == "application/json"
        assert body_of(sent) == body
    assert [login.headers["Authorization"] for login in rig.logins] == [BASIC]


async def test_cookies_qpay_sets_are_neither_kept_nor_sent_back() -> None:
    """A bearer-token API: a Set-Cookie in one answer must not ride along on
    the next call (and reading it into a cookie jar cost every call CPU)."""
    seen: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("cookie"))
        return httpx.Response(200, json={}, headers={"set-cookie": "session=abc"})

    transport = httpx.MockTransport(answer)
    async with make_http_client("http://qpay.test/v2", transport=transport) as http:
        await http.get("/a")
        await http.get("/b")

    assert seen == [None, None]
    assert len(http.cookies) == 0
