"""The simulator's ledger as QPay keeps it: payment/list (page sizes, order,
current statuses, the dates' timezone), a new e-Barimt receipt per create,
payments carrying arbitrary data, and refunds made outside our service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from qpay.simulator import QPaySimulator
from tests.fakes.clock import FixedClock
from tests.integration.qpay.conftest import in_process
from tests.integration.qpay.test_simulator import Raw

pytestmark = pytest.mark.anyio

# 2026-11-30 05:00:00 UTC is 13:00:00 in Ulaanbaatar (UTC+8).
NOV_30_0500_UTC = datetime(2026, 11, 30, 5, tzinfo=UTC).timestamp()
WHOLE_DAY = ("2026-11-30 00:00:00", "2026-11-30 23:59:59")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOV_30_0500_UTC)


@pytest.fixture
async def raw(clock: FixedClock) -> AsyncIterator[Raw]:
    """Plain HTTP to a simulator whose payments are dated by `clock`."""
    async with in_process(sim_options={"now": clock}) as rig:
        transport = httpx.ASGITransport(app=rig.sim.app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://sim"
        ) as http:
            client = Raw(http, rig.sim)
            await client.login()
            yield client


async def list_payments(
    raw: Raw,
    dates: tuple[str, str] = WHOLE_DAY,
    *,
    page_number: int = 1,
    page_limit: int = 100,
) -> httpx.Response:
    """payment/list over the whole merchant."""
    body = {
        "object_type": "MERCHANT",
        "object_id": raw.sim.state.merchant_id,
        "start_date": dates[0],
        "end_date": dates[1],
        "offset": {"page_number": page_number, "page_limit": page_limit},
    }
    return await raw.call("POST", "/v2/payment/list", body)


async def check(raw: Raw, invoice_id: str) -> dict[str, Any]:
    body = {"object_type": "INVOICE", "object_id": invoice_id}
    answer: dict[str, Any] = (await raw.call("POST", "/v2/payment/check", body)).json()
    return answer


# --- payment/list -----------------------------------------------------------


async def test_answers_system_busy_with_500_when_a_list_page_is_over_100(
    raw: Raw,
) -> None:
    listed = await list_payments(raw, page_limit=101)
    offset = {"page_number": 1, "page_limit": 101}
    checked = await raw.call(
        "POST",
        "/v2/payment/check",
        {"object_type": "INVOICE", "object_id": "x", "offset": offset},
    )

    assert listed.status_code == 500
    assert listed.content == b'{"error":"SYSTEM_BUSY","message":"SYSTEM_BUSY"}'
    assert checked.status_code == 400
    assert checked.json()["error"]["page_limit"]["type"] == "MAX_NUMBER"


@pytest.mark.parametrize(
    ("page_number", "page_limit", "field"),
    [(1, 0, "page_limit"), (0, 10, "page_number")],
)
async def test_answers_min_number_when_a_list_page_is_below_1(
    raw: Raw, page_number: int, page_limit: int, field: str
) -> None:
    response = await list_payments(raw, page_number=page_number, page_limit=page_limit)

    assert response.status_code == 400
    assert response.json()["error"][field]["type"] == "MIN_NUMBER"


async def test_lists_by_date_then_id_with_the_full_count_when_paging(
    raw: Raw, clock: FixedClock
) -> None:
    first = await raw.invoice(amount=100)
    second = await raw.invoice(amount=100, sender_invoice_no="INV-2")
    clock.advance(60)
    late = raw.sim.pay(first["invoice_id"], "10", payment_id="300")
    clock.advance(-30)
    tied_b = raw.sim.pay(second["invoice_id"], "10", payment_id="200")
    tied_a = raw.sim.pay(first["invoice_id"], "10", payment_id="100")
    clock.advance(-30)
    early = raw.sim.pay(second["invoice_id"], "10", payment_id="400")

    pages = [
        (await list_payments(raw, page_number=n, page_limit=3)).json() for n in (1, 2)
    ]

    assert [page["count"] for page in pages] == [4, 4]
    assert [row["payment_id"] for page in pages for row in page["rows"]] == [
        early,
        tied_a,
        tied_b,
        late,
    ]


async def test_lists_each_payment_with_its_current_status(raw: Raw) -> None:
    created = await raw.invoice(amount=100)
    invoice_id = created["invoice_id"]
    ids = [
        raw.sim.pay(invoice_id, "10", payment_type="CARD", payment_id="1"),
        raw.sim.pay(invoice_id, "10", payment_type="CARD", payment_id="2"),
        raw.sim.pay(invoice_id, "10", payment_id="3"),
        raw.sim.pay(invoice_id, "10", payment_id="4"),
    ]

    await raw.call("DELETE", f"/v2/payment/refund/{ids[0]}", {"note": "r"})
    await raw.call("DELETE", f"/v2/payment/cancel/{ids[1]}", {"note": "c"})
    raw.sim.refund_outside(ids[2])
    rows = (await list_payments(raw)).json()["rows"]

    assert [(r["payment_id"], r["payment_status"]) for r in rows] == [
        ("1", "REFUNDED"),
        ("2", "CANCELLED"),
        ("3", "REFUNDED"),
        ("4", "PAID"),
    ]


@pytest.mark.parametrize(
    ("dates", "listed"),
    [
        (("2026-11-30 05:00:00", "2026-11-30 05:00:00"), 1),  # both ends count
        (("2026-11-30 04:00:00", "2026-11-30 04:59:59"), 0),
        (("2026-11-30 13:00:00", "2026-11-30 13:00:00"), 0),
    ],
)
async def test_reads_list_dates_as_utc_when_no_offset_is_set(
    raw: Raw, dates: tuple[str, str], listed: int
) -> None:
    created = await raw.invoice()
    raw.sim.pay(created["invoice_id"])

    response = await list_payments(raw, dates)

    assert response.json()["count"] == listed


@pytest.mark.parametrize(
    ("dates", "listed"),
    [
        (("2026-11-30 13:00:00", "2026-11-30 13:00:00"), 1),
        (("2026-11-30 05:00:00", "2026-11-30 12:59:59"), 0),
    ],
)
async def test_reads_list_dates_as_ulaanbaatar_time_when_the_offset_is_8(
    raw: Raw, dates: tuple[str, str], listed: int
) -> None:
    created = await raw.invoice()
    raw.sim.pay(created["invoice_id"])

    set_zone = await raw.http.post("/_sim/list-timezone", json={"utc_offset_hours": 8})
    response = await list_payments(raw, dates)

    assert set_zone.json() == {"utc_offset_hours": 8.0}
    assert raw.sim.list_utc_offset_hours == 8.0
    assert response.json()["count"] == listed


async def test_reads_list_dates_in_the_zone_given_when_constructed() -> None:
    simulator = QPaySimulator(list_utc_offset_hours=8)

    simulator.set_list_utc_offset(-3.5)

    assert QPaySimulator().list_utc_offset_hours == 0.0
    assert simulator.list_utc_offset_hours == -3.5
    with pytest.raises(ValueError, match="UTC offset"):
        QPaySimulator(list_utc_offset_hours=24)


@pytest.mark.parametrize("hours", [24, -30, "8", True, None])
async def test_refuses_the_list_timezone_when_it_is_not_an_offset(
    raw: Raw, hours: object
) -> None:
    response = await raw.http.post(
        "/_sim/list-timezone", json={"utc_offset_hours": hours}
    )

    assert response.status_code == 400
    assert raw.sim.list_utc_offset_hours == 0.0


# --- e-Barimt -----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v2/ebarimt/create", "/v2/ebarimt_v3/create"])
async def test_registers_a_new_receipt_when_create_is_called_twice(
    raw: Raw, path: str
) -> None:
    created = await raw.invoice()
    payment_id = raw.sim.pay(created["invoice_id"])
    body = {"payment_id": payment_id, "ebarimt_receiver_type": "CITIZEN"}

    first = (await raw.call("POST", path, body)).json()
    second = (await raw.call("POST", path, body)).json()

    registered = raw.sim.registered_receipts(payment_id)
    assert first["id"] != second["id"]
    assert first["ebarimt_lottery"] != second["ebarimt_lottery"]
    assert [r.receipt_id for r in registered] == [first["id"], second["id"]]


async def test_cancels_every_v3_receipt_of_the_payment_when_cancelled_by_id(
    raw: Raw,
) -> None:
    created = await raw.invoice()
    payment_id = raw.sim.pay(created["invoice_id"])
    body = {"payment_id": payment_id, "ebarimt_receiver_type": "CITIZEN"}
    for path in (
        "/v2/ebarimt_v3/create",
        "/v2/ebarimt_v3/create",
        "/v2/ebarimt/create",
    ):
        await raw.call("POST", path, body)

    cancelled = await raw.call("DELETE", f"/v2/ebarimt_v3/{payment_id}")
    again = await raw.call("DELETE", f"/v2/ebarimt_v3/{payment_id}")

    assert cancelled.json()["barimt_status"] == "CANCELED"
    assert [r.family for r in raw.sim.registered_receipts(payment_id)] == ["v2"]
    assert (again.status_code, again.json()["error"]) == (422, "BARIMT_NOT_FOUND")


# --- payments with arbitrary data ---------------------------------------------


async def test_writes_currency_id_and_raw_amount_verbatim_in_every_row(
    raw: Raw,
) -> None:
    created = await raw.invoice(amount=100)
    long_id = "7" * 200

    raw.sim.pay(
        created["invoice_id"], currency="USD", payment_id=long_id, raw_amount="abc"
    )
    live = (await check(raw, created["invoice_id"]))["rows"]
    raw.sim.set_row_shape("documented")
    documented = (await check(raw, created["invoice_id"]))["rows"]
    fetched = (await raw.call("GET", f"/v2/payment/{long_id}")).json()
    listed = (await list_payments(raw)).json()["rows"]

    for row in (*live, *documented, fetched, *listed):
        assert (row["payment_id"], row["payment_currency"]) == (long_id, "USD")
        assert row["payment_amount"] == "abc"
    assert live[0]["p2p_transactions"][0]["currency"] == "USD"


@pytest.mark.parametrize(
    ("raw_amount", "paid_amount", "invoice_status"),
    [
        ("0", 0, "OPEN"),
        ("0.001", 0.001, "OPEN"),
        ("abc", 0, "OPEN"),
        ("NaN", 0, "OPEN"),
        ("1000000000000000.00", 10**15, "CLOSED"),
    ],
)
async def test_counts_only_a_readable_raw_amount_when_paid_with_one(
    raw: Raw, raw_amount: str, paid_amount: float, invoice_status: str
) -> None:
    created = await raw.invoice(amount=100)

    raw.sim.pay(created["invoice_id"], raw_amount=raw_amount)
    checked = await check(raw, created["invoice_id"])
    invoice = (await raw.call("GET", f"/v2/invoice/{created['invoice_id']}")).json()

    assert checked["paid_amount"] == paid_amount
    assert checked["rows"][0]["payment_amount"] == raw_amount
    assert invoice["invoice_status"] == invoice_status


async def test_pays_with_arbitrary_data_through_the_control_api(raw: Raw) -> None:
    created = await raw.invoice(amount=100_000)
    body = {
        "invoice_id": created["invoice_id"],
        "currency": "CNY",
        "payment_id": "P-1",
        "raw_amount": "1e3",
    }

    paid = await raw.http.post("/_sim/pay", json=body)
    taken = await raw.http.post("/_sim/pay", json={**body, "raw_amount": "1"})
    wrong = await raw.http.post("/_sim/pay", json={**body, "raw_amount": 5})

    payment = raw.sim.state.payments["P-1"]
    assert paid.json() == {"payment_id": "P-1"}
    assert (payment.currency, payment.raw_amount) == ("CNY", "1e3")
    assert payment.amount == Decimal(1000)
    assert (taken.status_code, wrong.status_code) == (409, 400)


# --- refunds outside our service -------------------------------------------------


async def test_refunds_a_bank_transfer_when_refunded_in_the_merchant_portal(
    raw: Raw,
) -> None:
    created = await raw.invoice(amount=100)
    payment_id = raw.sim.pay(created["invoice_id"])

    refunded = await raw.http.post("/_sim/refund", json={"payment_id": payment_id})
    unknown = await raw.http.post("/_sim/refund", json={"payment_id": "nope"})
    fetched = (await raw.call("GET", f"/v2/payment/{payment_id}")).json()
    checked = await check(raw, created["invoice_id"])

    assert refunded.status_code == 200
    assert unknown.status_code == 404
    assert fetched["payment_status"] == "REFUNDED"
    assert checked["paid_amount"] == 0
    assert checked["rows"][0]["payment_status"] == "REFUNDED"
