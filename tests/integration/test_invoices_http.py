"""The first slice through HTTP: createInvoice, invoice, invoices,
paymentMethods, the staff-token check, and bad input that writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.staff_tokens import StaffTokens
from tests.gql import CREATE_INVOICE, INVOICE
from tests.harness import Harness

pytestmark = [pytest.mark.db, pytest.mark.anyio]

COUNT = "query { invoices(first: 100) { edges { node { id } } } }"


async def invoice_count(harness: Harness) -> int:
    body = await harness.gql(COUNT)
    return len(body["data"]["invoices"]["edges"])


async def test_created_invoice_reads_back_when_queried_by_id(harness: Harness) -> None:
    created = await harness.gql(
        CREATE_INVOICE, {"input": {"total": "15000.50", "description": "Шүд авах"}}
    )
    invoice = created["data"]["createInvoice"]["invoice"]

    read = await harness.gql(INVOICE, {"id": invoice["id"]})

    assert created["data"]["createInvoice"]["errors"] == []
    assert read["data"]["invoice"] == {
        "id": invoice["id"],
        "number": invoice["number"],
        "description": "Шүд авах",
        "total": "15000.50",
        "paidAmount": "0.00",
        "balance": "15000.50",
        "status": "UNPAID",
        "createdAt": invoice["createdAt"],
        "updatedAt": invoice["createdAt"],
        "payments": [],
        "qpayIntents": [],
    }
    assert invoice["number"].startswith("INV-")
    assert invoice["createdAt"].endswith("Z")


async def test_invoices_lists_by_status_when_filtered(harness: Harness) -> None:
    for total in ("100.00", "200.00"):
        await harness.gql(CREATE_INVOICE, {"input": {"total": total}})

    listed = "query($s: InvoiceStatus!) {"
    listed += " invoices(filter: {status: [$s]}) { edges { node { total } } } }"
    unpaid = await harness.gql(listed, {"s": "UNPAID"})
    paid = await harness.gql(listed, {"s": "PAID"})

    assert [e["node"]["total"] for e in unpaid["data"]["invoices"]["edges"]] == [
        "200.00",
        "100.00",
    ]
    assert paid["data"]["invoices"]["edges"] == []


async def test_payment_methods_include_qpay_enabled_when_seeded(
    harness: Harness,
) -> None:
    body = await harness.gql("query { paymentMethods { method enabled label } }")

    methods = {m["method"]: m["enabled"] for m in body["data"]["paymentMethods"]}
    assert methods == {
        "QPAY": True,
        "CASH": True,
        "CARD": True,
        "BANK_TRANSFER": True,
        "INSURANCE": True,
    }


def _expired_token() -> str:
    from tests.conftest import TEST_JWT_SECRET

    past = datetime.now(UTC) - timedelta(hours=2)
    return StaffTokens(TEST_JWT_SECRET).issue(ttl_seconds=60, now=past)


@pytest.mark.parametrize(
    "token",
    [None, "garbage", StaffTokens("f" * 48).issue(), "expired"],
    ids=["missing", "malformed", "forged", "expired"],
)
async def test_nothing_executes_when_the_staff_token_is_bad(
    harness: Harness, token: str | None
) -> None:
    used = _expired_token() if token == "expired" else token

    body = await harness.gql(CREATE_INVOICE, {"input": {"total": "10.00"}}, token=used)

    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]
    assert await invoice_count(harness) == 0


@pytest.mark.parametrize(
    ("total", "code"),
    [
        ("-5.00", "INVALID_AMOUNT"),
        ("0", "INVALID_AMOUNT"),
        ("0.00", "INVALID_AMOUNT"),
        ("1000000000000.00", "INVALID_AMOUNT"),
        ("1.001", "INVALID_AMOUNT"),
        ("15000.505", "INVALID_AMOUNT"),
    ],
)
async def test_bad_total_gives_a_typed_error_and_writes_nothing_when_out_of_range(
    harness: Harness, total: str, code: str
) -> None:
    body = await harness.gql(CREATE_INVOICE, {"input": {"total": total}})

    payload = body["data"]["createInvoice"]
    assert payload["invoice"] is None
    assert payload["errors"][0]["code"] == code
    assert payload["errors"][0]["field"] == "input.total"
    assert await invoice_count(harness) == 0


@pytest.mark.parametrize(
    "total",
    [
        15000,
        15000.5,
        "1e3",
        "NaN",
        "Infinity",
        "abc",
        "1" * 10_000,
        "",
        True,
    ],
    ids=[
        "int",
        "float",
        "exponent",
        "nan",
        "inf",
        "text",
        "10k",
        "empty",
        "bool",
    ],
)
async def test_malformed_total_is_a_validation_error_and_writes_nothing_when_sent(
    harness: Harness, total: Any
) -> None:
    body = await harness.gql(CREATE_INVOICE, {"input": {"total": total}})

    assert body.get("data") is None
    assert (
        "Decimal" in body["errors"][0]["message"]
        or "decimal" in body["errors"][0]["message"]
    )
    assert await invoice_count(harness) == 0


async def test_third_decimal_is_invalid_amount_not_rounded_when_written_inline(
    harness: Harness,
) -> None:
    body = await harness.gql(
        'mutation { createInvoice(input: {total: "1.001"}) '
        "{ invoice { id } errors { code field } } }"
    )

    payload = body["data"]["createInvoice"]
    assert payload["errors"] == [{"code": "INVALID_AMOUNT", "field": "input.total"}]
    assert await invoice_count(harness) == 0


async def test_number_literal_is_refused_when_written_in_the_query(
    harness: Harness,
) -> None:
    body = await harness.gql(
        "mutation { createInvoice(input: {total: 100}) { errors { code } } }"
    )

    assert body.get("data") is None
    assert body["errors"]
    assert await invoice_count(harness) == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("number", ""),
        ("number", "x" * 10_000),
        ("description", "a\x00b"),
        ("number", "   "),
    ],
)
async def test_bad_text_gives_invalid_input_and_writes_nothing_when_sent(
    harness: Harness, field: str, value: str
) -> None:
    body = await harness.gql(
        CREATE_INVOICE, {"input": {"total": "10.00", field: value}}
    )

    payload = body["data"]["createInvoice"]
    assert payload["errors"][0]["code"] == "INVALID_INPUT"
    assert payload["errors"][0]["field"] == f"input.{field}"
    assert await invoice_count(harness) == 0


async def test_duplicate_number_gives_invalid_input_when_reused(
    harness: Harness,
) -> None:
    await harness.gql(CREATE_INVOICE, {"input": {"total": "10.00", "number": "A-1"}})

    body = await harness.gql(
        CREATE_INVOICE, {"input": {"total": "20.00", "number": "A-1"}}
    )

    assert body["data"]["createInvoice"]["errors"][0]["code"] == "INVALID_INPUT"
    assert await invoice_count(harness) == 1


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "1" * 500])
async def test_malformed_id_gives_invalid_input_when_queried(
    harness: Harness, bad_id: str
) -> None:
    body = await harness.gql(INVOICE, {"id": bad_id})

    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


async def test_unknown_id_reads_as_null_when_queried(harness: Harness) -> None:
    body = await harness.gql(INVOICE, {"id": "00000000-0000-0000-0000-000000000000"})

    assert body["data"] == {"invoice": None}


async def test_text_plain_posts_are_refused_when_sent(harness: Harness) -> None:
    response = await harness.client.post(
        "/graphql",
        content='{"query": "{ paymentMethods { method } }"}',
        headers={
            "content-type": "text/plain",
            "authorization": f"Bearer {harness.token}",
        },
    )

    assert response.status_code == 400


async def test_queries_over_get_are_refused_when_sent(harness: Harness) -> None:
    response = await harness.client.get(
        "/graphql",
        params={"query": "{ paymentMethods { method } }"},
        headers={"authorization": f"Bearer {harness.token}"},
    )

    assert response.status_code in (400, 405)


async def test_health_and_readiness_answer_when_the_database_is_up(
    harness: Harness,
) -> None:
    health = await harness.client.get("/healthz")
    ready = await harness.client.get("/readyz")

    assert health.status_code == 200
    assert ready.status_code == 200
    assert ready.json() == {"ready": True}
