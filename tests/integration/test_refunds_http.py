"""refundPayment and resolveQPayReview over HTTP on PostgreSQL, against the
QPay simulator (issue 15, items 2 and 3)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any, Literal

import pytest

from app.staff_tokens import StaffTokens
from domain.services.refund_payment import settle_pending_refunds
from tests import db
from tests.conftest import TEST_JWT_SECRET
from tests.gql import SETTLE
from tests.harness import Harness
from tests.integration.gql import new_intent, new_invoice, qpay_calls, wait_for_intent

pytestmark = [pytest.mark.db, pytest.mark.anyio]

ERRORS = "errors { code message field }"
REFUND = f"""
mutation Refund($input: RefundPaymentInput!) {{
  refundPayment(input: $input) {{
    refund {{ id paymentId amount status channel reason actor createdAt completedAt }}
    payment {{ id amount refundableAmount refunds {{ id status }} }}
    invoice {{ id paidAmount balance status }}
    {ERRORS}
  }}
}}
"""
RESOLVE = f"""
mutation Resolve($input: ResolveQPayReviewInput!) {{
  resolveQPayReview(input: $input) {{
    intent {{ id status paidAmount reviewReason review {{ resolution note actor }} }}
    {ERRORS}
  }}
}}
"""
EVENTS = """
query($id: ID!) {
  invoice(id: $id) {
    events { kind actor refund { amount status channel } intentStatus }
  }
}
"""
INTENT = "query($id: ID!) { qpayIntent(id: $id) { status paidAmount } }"


async def qpay_payment(
    harness: Harness,
    payment_type: Literal["P2P", "CARD"] = "CARD",
    total: str = "15000.00",
) -> dict[str, Any]:
    """An invoice paid through QPay; its intent, invoice id and payment."""
    invoice_id = await new_invoice(harness, total)
    intent = (await new_intent(harness, invoice_id))["intent"]
    harness.simulator.pay(intent["qpayInvoiceId"], payment_type=payment_type)
    await wait_for_intent(harness, intent["id"], lambda r: r["status"] == "PAID")
    body = await harness.gql(
        "query($id: ID!) { invoice(id: $id) { payments { id } } }", {"id": invoice_id}
    )
    (payment,) = body["data"]["invoice"]["payments"]
    return {"intent": intent, "invoice_id": invoice_id, "payment_id": payment["id"]}


async def cash_payment(harness: Harness, amount: str = "10000.00") -> dict[str, Any]:
    invoice_id = await new_invoice(harness, amount)
    body = await harness.gql(
        SETTLE,
        {
            "input": {
                "invoiceId": invoice_id,
                "method": "CASH",
                "amount": amount,
                "idempotencyKey": f"pay-{invoice_id}",
            }
        },
    )
    payment = body["data"]["settleInvoice"]["payment"]
    return {"invoice_id": invoice_id, "payment_id": payment["id"]}


async def refund(
    harness: Harness,
    payment_id: str,
    amount: str | None = None,
    key: str = "refund-1",
    reason: str = "treatment cancelled",
    token: str | None = None,
) -> dict[str, Any]:
    variables = {
        "input": {
            "paymentId": payment_id,
            "amount": amount,
            "reason": reason,
            "idempotencyKey": key,
        }
    }
    if token is None:
        body = await harness.gql(REFUND, variables)
    else:
        body = await harness.gql(REFUND, variables, token=token)
    payload: dict[str, Any] = body["data"]["refundPayment"]
    return payload


async def counts(harness: Harness) -> dict[str, Any]:
    url = harness.app.state.container.settings.database_url
    rows = await db.fetch(
        url,
        "SELECT (SELECT count(*) FROM refunds) AS refunds, "
        "(SELECT count(*) FROM idempotency_keys) AS keys, "
        "(SELECT count(*) FROM payment_events) AS events, "
        "(SELECT sum(paid_amount) FROM invoices) AS paid",
    )
    return dict(rows[0])


async def test_a_card_payment_is_refunded_through_qpay(harness: Harness) -> None:
    paid = await qpay_payment(harness)
    tokens = StaffTokens(TEST_JWT_SECRET)

    payload = await refund(
        harness, paid["payment_id"], token=tokens.issue(subject="dr-bat")
    )

    assert payload["errors"] == []
    found = payload["refund"]
    assert (found["status"], found["channel"], found["amount"], found["actor"]) == (
        "COMPLETED",
        "QPAY",
        "15000.00",
        "dr-bat",
    )
    assert payload["invoice"] == {
        "id": paid["invoice_id"],
        "paidAmount": "0.00",
        "balance": "15000.00",
        "status": "UNPAID",
    }
    assert payload["payment"]["refundableAmount"] == "0.00"
    assert qpay_calls(harness, f"/payment/refund/{_qpay_id(harness, paid)}") == 1
    assert harness.simulator.state.payments[_qpay_id(harness, paid)].status == (
        "REFUNDED"
    )
    intent = await harness.gql(INTENT, {"id": paid["intent"]["id"]})
    assert intent["data"]["qpayIntent"] == {"status": "REFUNDED", "paidAmount": "0.00"}
    events = (await harness.gql(EVENTS, {"id": paid["invoice_id"]}))["data"]
    refunded = [
        e for e in events["invoice"]["events"] if e["kind"] == "REFUND_RECORDED"
    ]
    assert refunded == [
        {
            "kind": "REFUND_RECORDED",
            "actor": "dr-bat",
            "refund": {"amount": "15000.00", "status": "COMPLETED", "channel": "QPAY"},
            "intentStatus": None,
        }
    ]


def _qpay_id(harness: Harness, paid: dict[str, Any]) -> str:
    (payment_id,) = harness.simulator.state.invoices[
        paid["intent"]["qpayInvoiceId"]
    ].payment_ids
    return payment_id


async def test_a_p2p_payment_is_not_supported_and_nothing_is_written(
    harness: Harness,
) -> None:
    paid = await qpay_payment(harness, payment_type="P2P")
    before = await counts(harness)

    payload = await refund(harness, paid["payment_id"])

    assert payload["refund"] is None
    assert [e["code"] for e in payload["errors"]] == ["REFUND_NOT_SUPPORTED"]
    assert payload["errors"][0]["field"] == "input.paymentId"
    assert await counts(harness) == before


async def test_desk_refunds_move_the_invoice_and_never_exceed_the_payment(
    harness: Harness,
) -> None:
    paid = await cash_payment(harness)

    part = await refund(harness, paid["payment_id"], "2500.50", key="a")
    before = await counts(harness)
    too_much = await refund(harness, paid["payment_id"], "7499.51", key="b")
    after_refusal = await counts(harness)
    rest = await refund(harness, paid["payment_id"], None, key="c")

    assert part["refund"]["channel"] == "DESK"
    assert part["invoice"]["status"] == "PARTIALLY_PAID"
    assert part["invoice"]["paidAmount"] == "7499.50"
    assert [e["code"] for e in too_much["errors"]] == ["REFUND_EXCEEDS_PAYMENT"]
    assert too_much["errors"][0]["field"] == "input.amount"
    assert after_refusal == before
    assert rest["refund"]["amount"] == "7499.50"
    assert rest["invoice"]["status"] == "UNPAID"


@pytest.mark.parametrize(
    ("amount", "code", "field"),
    [
        ("0", "INVALID_AMOUNT", "input.amount"),
        ("-1.00", "INVALID_AMOUNT", "input.amount"),
        ("1.001", "INVALID_AMOUNT", "input.amount"),
        ("1000000000000.00", "INVALID_AMOUNT", "input.amount"),
    ],
)
async def test_bad_amounts_are_typed_errors_and_change_nothing(
    harness: Harness, amount: str, code: str, field: str
) -> None:
    paid = await cash_payment(harness)
    before = await counts(harness)

    payload = await refund(harness, paid["payment_id"], amount)

    assert [(e["code"], e["field"]) for e in payload["errors"]] == [(code, field)]
    assert await counts(harness) == before


async def test_unknown_or_malformed_ids_are_not_found_or_invalid(
    harness: Harness,
) -> None:
    unknown = await refund(harness, "00000000-0000-4000-8000-000000000000")
    malformed = await refund(harness, "not-a-uuid")

    assert [e["code"] for e in unknown["errors"]] == ["NOT_FOUND"]
    assert [(e["code"], e["field"]) for e in malformed["errors"]] == [
        ("INVALID_INPUT", "input.paymentId")
    ]


async def test_two_refunds_of_one_payment_at_once_refund_it_once(
    harness: Harness,
) -> None:
    paid = await qpay_payment(harness)

    first, second = await asyncio.gather(
        refund(harness, paid["payment_id"], key="left"),
        refund(harness, paid["payment_id"], key="right"),
    )
    same_a, same_b = await asyncio.gather(
        refund(harness, paid["payment_id"], key="left"),
        refund(harness, paid["payment_id"], key="left"),
    )

    outcomes = sorted(
        [p["refund"]["status"] if p["refund"] else p["errors"][0]["code"]]
        for p in (first, second)
    )
    assert outcomes == [["COMPLETED"], ["REFUND_EXCEEDS_PAYMENT"]]

    # Either key may win. Asked again, "left" answers what it answered
    # first, twice at once: its refund, or its refusal.
    def answer(payload: dict[str, Any]) -> tuple[object, list[str]]:
        refunded = payload["refund"]["id"] if payload["refund"] else None
        return refunded, [error["code"] for error in payload["errors"]]

    assert answer(same_a) == answer(same_b) == answer(first)
    assert qpay_calls(harness, "/refund/" + _qpay_id(harness, paid)) == 1
    url = harness.app.state.container.settings.database_url
    rows = await db.fetch(url, "SELECT status FROM refunds")
    assert [r["status"] for r in rows] == ["COMPLETED"]


async def test_two_desk_refunds_at_once_never_exceed_the_payment(
    harness: Harness,
) -> None:
    paid = await cash_payment(harness, "10000.00")

    results = await asyncio.gather(
        *(refund(harness, paid["payment_id"], "4000.00", key=f"k{i}") for i in range(4))
    )

    done = [r for r in results if r["refund"]]
    refused = [r["errors"][0]["code"] for r in results if not r["refund"]]
    assert len(done) == 2 and refused == ["REFUND_EXCEEDS_PAYMENT"] * 2
    body = await harness.gql(
        "query($id: ID!) { invoice(id: $id) { paidAmount status } }",
        {"id": paid["invoice_id"]},
    )
    assert body["data"]["invoice"] == {
        "paidAmount": "2000.00",
        "status": "PARTIALLY_PAID",
    }


async def test_a_refund_made_in_qpays_portal_is_recorded_once(
    harness: Harness,
) -> None:
    paid = await qpay_payment(harness, payment_type="P2P")
    harness.simulator.refund_outside(_qpay_id(harness, paid))

    check = (
        "mutation($id: ID!) { checkQPayPayment(intentId: $id) { intent { status } } }"
    )
    await harness.gql(check, {"id": paid["intent"]["id"]})
    url = harness.app.state.container.settings.database_url
    await db.execute(url, "UPDATE qpay_intents SET last_checked_at = NULL")
    await harness.gql(check, {"id": paid["intent"]["id"]})

    events = (await harness.gql(EVENTS, {"id": paid["invoice_id"]}))["data"]
    refunded = [
        e for e in events["invoice"]["events"] if e["kind"] == "REFUND_RECORDED"
    ]
    assert refunded == [
        {
            "kind": "REFUND_RECORDED",
            "actor": None,
            "refund": {
                "amount": "15000.00",
                "status": "COMPLETED",
                "channel": "OUTSIDE",
            },
            "intentStatus": None,
        }
    ]
    intent = await harness.gql(INTENT, {"id": paid["intent"]["id"]})
    assert intent["data"]["qpayIntent"]["status"] == "REFUNDED"


async def test_a_review_is_resolved_once_with_who_and_why(harness: Harness) -> None:
    invoice_id = await new_invoice(harness, "10000.00")
    intent = (await new_intent(harness, invoice_id))["intent"]
    harness.simulator.pay(intent["qpayInvoiceId"], amount=Decimal("4000.00"))
    await wait_for_intent(harness, intent["id"], lambda r: r["status"] != "PENDING")
    variables = {
        "input": {
            "intentId": intent["id"],
            "resolution": "ACCEPT",
            "note": "patient pays the rest in cash",
            "idempotencyKey": "review-1",
        }
    }

    first = (await harness.gql(RESOLVE, variables))["data"]["resolveQPayReview"]
    replay = (await harness.gql(RESOLVE, variables))["data"]["resolveQPayReview"]
    variables["input"]["idempotencyKey"] = "review-2"
    second = (await harness.gql(RESOLVE, variables))["data"]["resolveQPayReview"]

    assert first["errors"] == []
    assert first["intent"] == {
        "id": intent["id"],
        "status": "PAID",
        "paidAmount": "4000.00",
        "reviewReason": "SHORT_PAID",
        "review": {
            "resolution": "ACCEPT",
            "note": "patient pays the rest in cash",
            "actor": "test-staff",
        },
    }
    assert replay == first
    assert [e["code"] for e in second["errors"]] == ["NOT_IN_REVIEW"]


async def accepted_foreign_payment(harness: Harness) -> dict[str, Any]:
    """A card payment in dollars, its review closed with ACCEPT: the intent,
    which holds no tögrög, is CANCELLED with the payment on it."""
    invoice_id = await new_invoice(harness, "8000.00")
    intent = (await new_intent(harness, invoice_id))["intent"]
    harness.simulator.pay(intent["qpayInvoiceId"], payment_type="CARD", currency="USD")
    await wait_for_intent(harness, intent["id"], lambda r: r["status"] != "PENDING")
    accepted = await harness.gql(
        RESOLVE,
        {
            "input": {
                "intentId": intent["id"],
                "resolution": "ACCEPT",
                "note": "paid in dollars: to be given back",
                "idempotencyKey": f"accept-{intent['id']}",
            }
        },
    )
    assert accepted["data"]["resolveQPayReview"]["intent"]["status"] == "CANCELLED"
    body = await harness.gql(
        "query($id: ID!) { invoice(id: $id) { payments { id } } }", {"id": invoice_id}
    )
    (payment,) = body["data"]["invoice"]["payments"]
    return {"intent": intent, "invoice_id": invoice_id, "payment_id": payment["id"]}


async def test_a_foreign_payment_on_a_cancelled_intent_is_refunded(
    harness: Harness,
) -> None:
    paid = await accepted_foreign_payment(harness)

    given = await refund(harness, paid["payment_id"])
    intent = (await harness.gql(INTENT, {"id": paid["intent"]["id"]}))["data"]

    assert given["errors"] == []
    assert given["refund"]["status"] == "COMPLETED"
    # Its money has all gone back; the bill never counted it.
    assert intent["qpayIntent"] == {"status": "REFUNDED", "paidAmount": "0.00"}
    assert given["invoice"]["paidAmount"] == "0.00"


async def test_a_portal_refund_of_a_foreign_payment_on_a_cancelled_intent_is_recorded(
    harness: Harness,
) -> None:
    paid = await accepted_foreign_payment(harness)
    harness.simulator.refund_outside(_qpay_id(harness, paid))

    await harness.gql(
        "mutation($id: ID!) { checkQPayPayment(intentId: $id) { errors { code } } }",
        {"id": paid["intent"]["id"]},
    )
    intent = (await harness.gql(INTENT, {"id": paid["intent"]["id"]}))["data"]
    events = (await harness.gql(EVENTS, {"id": paid["invoice_id"]}))["data"]

    assert intent["qpayIntent"]["status"] == "REFUNDED"
    assert [
        e["refund"]
        for e in events["invoice"]["events"]
        if e["kind"] == "REFUND_RECORDED"
    ] == [{"amount": "8000.00", "status": "COMPLETED", "channel": "OUTSIDE"}]


async def test_refund_excess_gives_back_a_second_scan(harness: Harness) -> None:
    paid = await qpay_payment(harness)
    qpay_invoice = paid["intent"]["qpayInvoiceId"]
    harness.simulator.pay(qpay_invoice, payment_type="CARD", force=True)
    await wait_for_intent(
        harness, paid["intent"]["id"], lambda r: r["status"] == "NEEDS_REVIEW"
    )

    body = await harness.gql(
        RESOLVE,
        {
            "input": {
                "intentId": paid["intent"]["id"],
                "resolution": "REFUND_EXCESS",
                "note": "scanned twice",
                "idempotencyKey": "excess-1",
            }
        },
    )

    payload = body["data"]["resolveQPayReview"]
    assert payload["errors"] == []
    assert payload["intent"]["status"] == "PAID"
    assert payload["intent"]["paidAmount"] == "15000.00"
    invoice = await harness.gql(
        "query($id: ID!) { invoice(id: $id) { paidAmount status } }",
        {"id": paid["invoice_id"]},
    )
    assert invoice["data"]["invoice"] == {"paidAmount": "15000.00", "status": "PAID"}
    refunds = [
        entry
        for entry in harness.simulator.requests
        if "/payment/refund/" in str(entry["path"])
    ]
    assert len(refunds) == 1


@pytest.mark.parametrize(
    ("intent_id", "note", "key", "code", "field"),
    [
        (
            "00000000-0000-4000-8000-000000000000",
            "n",
            "k",
            "NOT_FOUND",
            "input.intentId",
        ),
        ("nope", "n", "k", "INVALID_INPUT", "input.intentId"),
        (None, "", "k", "INVALID_INPUT", "input.note"),
        (None, "n", "", "INVALID_INPUT", "input.idempotencyKey"),
        (None, "n" * 1001, "k", "INVALID_INPUT", "input.note"),
        (None, "n", "k" * 256, "INVALID_INPUT", "input.idempotencyKey"),
    ],
)
async def test_bad_review_input_is_typed_and_changes_nothing(
    harness: Harness,
    intent_id: str | None,
    note: str,
    key: str,
    code: str,
    field: str,
) -> None:
    invoice_id = await new_invoice(harness, "10000.00")
    intent = (await new_intent(harness, invoice_id))["intent"]
    harness.simulator.pay(intent["qpayInvoiceId"], amount=Decimal("4000.00"))
    await wait_for_intent(harness, intent["id"], lambda r: r["status"] != "PENDING")
    before = await counts(harness)

    body = await harness.gql(
        RESOLVE,
        {
            "input": {
                "intentId": intent_id or intent["id"],
                "resolution": "ACCEPT",
                "note": note,
                "idempotencyKey": key,
            }
        },
    )

    payload = body["data"]["resolveQPayReview"]
    assert payload["intent"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [(code, field)]
    assert await counts(harness) == before


async def test_a_refund_whose_answer_is_lost_is_pending_then_settled_by_the_sweep(
    harness: Harness,
) -> None:
    paid = await qpay_payment(harness)
    qpay_id = _qpay_id(harness, paid)
    harness.simulator.fail_next(f"/payment/refund/{qpay_id}", status=502, after=True)
    harness.simulator.fail_next(f"/payment/{qpay_id}", status=503, count=10)

    lost = await refund(harness, paid["payment_id"], key="lost-answer")
    url = harness.app.state.container.settings.database_url
    await db.execute(url, "UPDATE refunds SET created_at = now() - interval '1 hour'")
    harness.simulator.state.faults.clear()
    container = harness.app.state.container
    settled = await settle_pending_refunds(
        uow=container.uow, gateway=container.gateway, clock=container.clock
    )
    replayed = await refund(harness, paid["payment_id"], key="lost-answer")

    assert lost["refund"]["status"] == "PENDING"
    assert [e["code"] for e in lost["errors"]] == ["QPAY_UNAVAILABLE"]
    assert lost["invoice"]["status"] == "PAID"  # no money moved while unknown
    assert settled == 1
    assert replayed["refund"]["id"] == lost["refund"]["id"]
    assert replayed["refund"]["status"] == "COMPLETED"
    assert replayed["errors"] == []
    assert qpay_calls(harness, f"/payment/refund/{qpay_id}") == 1
