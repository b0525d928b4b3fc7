"""The day's close over HTTP on PostgreSQL (issue 15, item 6): a payment
belongs to the clinic's calendar day it was taken on."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests import db
from tests.conftest import SettingsFactory
from tests.gql import SETTLE
from tests.harness import Harness, running_app
from tests.integration.gql import new_invoice

pytestmark = [pytest.mark.db, pytest.mark.anyio]

TOTALS = """
query($first: Date!, $last: Date) {
  paymentTotals(firstDay: $first, lastDay: $last) {
    firstDay lastDay timeZone start end
    methods { method payments paymentCount refunds refundCount net }
    payments paymentCount refunds refundCount net
  }
}
"""


async def pay_at(
    harness: Harness, invoice_id: str, method: str, amount: str, at: datetime
) -> None:
    key = f"{method}-{amount}-{at.isoformat()}"
    settle = {"invoiceId": invoice_id, "method": method, "amount": amount}
    body = await harness.gql(SETTLE, {"input": {**settle, "idempotencyKey": key}})
    payment = body["data"]["settleInvoice"]["payment"]
    url = harness.app.state.container.settings.database_url
    await db.execute(
        url,
        "UPDATE payments SET created_at = $2::timestamptz WHERE id = $1::uuid",
        payment["id"],
        at,
    )


def nov(day: int, hour: int, minute: int) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def by_method(totals: dict[str, Any]) -> dict[str, tuple[str, int]]:
    return {
        m["method"]: (m["payments"], m["paymentCount"])
        for m in totals["methods"]
        if m["paymentCount"]
    }


async def test_payments_fall_on_the_clinics_calendar_day(harness: Harness) -> None:
    invoice_id = await new_invoice(harness, "100000.00")
    # 16:00 UTC is midnight in Ulaanbaatar (UTC+8).
    await pay_at(
        harness,
        invoice_id,
        "CASH",
        "1000.00",
        nov(29, 15, 59),
    )
    await pay_at(
        harness,
        invoice_id,
        "CASH",
        "2000.00",
        nov(29, 16, 0),
    )
    await pay_at(
        harness,
        invoice_id,
        "CARD",
        "300.50",
        nov(30, 15, 59),
    )

    body = await harness.gql(TOTALS, {"first": "2026-11-30"})

    totals = body["data"]["paymentTotals"]
    assert (totals["firstDay"], totals["lastDay"]) == ("2026-11-30", "2026-11-30")
    assert (totals["start"], totals["end"]) == (
        "2026-11-29T16:00:00Z",
        "2026-11-30T16:00:00Z",
    )
    assert by_method(totals) == {"CASH": ("2000.00", 1), "CARD": ("300.50", 1)}
    assert (totals["payments"], totals["paymentCount"], totals["net"]) == (
        "2300.50",
        2,
        "2300.50",
    )
    assert (totals["refunds"], totals["refundCount"]) == ("0.00", 0)
    assert len(totals["methods"]) == 5


async def test_a_period_of_days_adds_them_up(harness: Harness) -> None:
    invoice_id = await new_invoice(harness, "100000.00")
    await pay_at(
        harness,
        invoice_id,
        "CASH",
        "1000.00",
        nov(29, 15, 59),
    )
    await pay_at(
        harness,
        invoice_id,
        "CASH",
        "2000.00",
        nov(29, 16, 0),
    )

    body = await harness.gql(TOTALS, {"first": "2026-11-29", "last": "2026-11-30"})

    assert by_method(body["data"]["paymentTotals"]) == {"CASH": ("3000.00", 2)}


async def test_the_clinics_time_zone_is_a_setting(
    clean_db: str, make_settings: SettingsFactory
) -> None:
    settings = make_settings(database_url=clean_db, clinic_time_zone="UTC")
    async with running_app(settings) as harness:
        invoice_id = await new_invoice(harness, "100000.00")
        await pay_at(
            harness,
            invoice_id,
            "CASH",
            "1000.00",
            nov(29, 23, 0),
        )

        body = await harness.gql(TOTALS, {"first": "2026-11-29"})

    totals = body["data"]["paymentTotals"]
    assert totals["timeZone"] == "UTC"
    assert by_method(totals) == {"CASH": ("1000.00", 1)}


@pytest.mark.parametrize(
    "variables",
    [
        {"first": "2026-11-30", "last": "2026-11-29"},
        {"first": "2025-01-01", "last": "2026-11-30"},
    ],
    ids=["backwards", "too-long"],
)
async def test_a_period_nobody_can_mean_is_a_typed_error(
    harness: Harness, variables: dict[str, str]
) -> None:
    body = await harness.gql(TOTALS, variables)

    assert body["data"] is None
    assert body["errors"][0]["extensions"] == {
        "code": "INVALID_INPUT",
        "field": "lastDay",
    }


async def test_a_date_that_is_not_one_is_refused_before_anything_runs(
    harness: Harness,
) -> None:
    body = await harness.gql(TOTALS, {"first": "2026-02-30"})

    assert body["data"] is None and body["errors"]


async def test_refunds_count_on_the_day_they_completed_under_their_method(
    harness: Harness,
) -> None:
    invoice_id = await new_invoice(harness, "100000.00")
    await pay_at(harness, invoice_id, "CASH", "30000.00", nov(20, 2, 0))
    body = await harness.gql(
        "query($id: ID!) { invoice(id: $id) { payments { id } } }", {"id": invoice_id}
    )
    (payment,) = body["data"]["invoice"]["payments"]
    refund = """
    mutation($input: RefundPaymentInput!) {
      refundPayment(input: $input) { refund { id } errors { code } }
    }"""
    done = await harness.gql(
        refund,
        {
            "input": {
                "paymentId": payment["id"],
                "amount": "12500.50",
                "reason": "one tooth fewer",
                "idempotencyKey": "close-refund",
            }
        },
    )
    refund_id = done["data"]["refundPayment"]["refund"]["id"]
    url = harness.app.state.container.settings.database_url
    await db.execute(
        url,
        "UPDATE refunds SET completed_at = $2::timestamptz WHERE id = $1::uuid",
        refund_id,
        nov(21, 3, 0),  # the next clinic day
    )

    paid_day = await harness.gql(TOTALS, {"first": "2026-11-20"})
    refund_day = await harness.gql(TOTALS, {"first": "2026-11-21"})

    paid = paid_day["data"]["paymentTotals"]
    back = refund_day["data"]["paymentTotals"]
    assert (paid["payments"], paid["refunds"], paid["net"]) == (
        "30000.00",
        "0.00",
        "30000.00",
    )
    assert (back["payments"], back["refunds"], back["refundCount"], back["net"]) == (
        "0.00",
        "12500.50",
        1,
        "-12500.50",
    )
    (cash,) = [m for m in back["methods"] if m["method"] == "CASH"]
    assert (cash["refunds"], cash["refundCount"], cash["net"]) == (
        "12500.50",
        1,
        "-12500.50",
    )
