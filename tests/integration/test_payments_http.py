"""The payment mutations through HTTP against the QPay simulator: each success
path and each error code they can return."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from tests import db
from tests.gql import CANCEL, CHECK, INVOICE, SETTLE
from tests.harness import Harness
from tests.integration.gql import new_intent, new_invoice, qpay_calls

pytestmark = [pytest.mark.db, pytest.mark.anyio]


async def settled(harness: Harness, invoice_id: str) -> dict[str, object]:
    body = await harness.gql(INVOICE, {"id": invoice_id})
    invoice: dict[str, object] = body["data"]["invoice"]
    return invoice


# --- createQPayInvoice ------------------------------------------------------


async def test_qpay_invoice_has_qr_deeplinks_and_secret_when_created(
    harness: Harness,
) -> None:
    invoice_id = await new_invoice(harness, "15000.00")

    payload = await new_intent(harness, invoice_id)

    intent = payload["intent"]
    assert payload["errors"] == []
    assert intent["status"] == "PENDING"
    assert intent["amount"] == "15000.00"  # defaults to the balance
    assert intent["environment"] == "MOCK"
    assert intent["qrText"] and intent["qrImage"] and intent["qpayInvoiceId"]
    assert intent["deeplinks"] and intent["deeplinks"][0]["link"]
    assert len(payload["clientSecret"]) >= 22  # at least 128 bits, URL-safe
    stored = await db.scalar(
        harness_url(harness),
        "SELECT client_secret_hashes FROM qpay_intents WHERE id = $1::uuid",
        intent["id"],
    )
    assert payload["clientSecret"] not in str(stored)


def harness_url(harness: Harness) -> str:
    url: str | None = harness.app.state.container.settings.database_url
    assert url is not None
    return url


async def test_same_invoice_and_amount_reuses_the_pending_intent_when_asked_again(
    harness: Harness,
) -> None:
    invoice_id = await new_invoice(harness)

    first = await new_intent(harness, invoice_id)
    second = await new_intent(harness, invoice_id)
    other_amount = await new_intent(harness, invoice_id, amount="100.00")

    assert second["intent"]["id"] == first["intent"]["id"]
    assert second["clientSecret"] != first["clientSecret"]
    assert other_amount["intent"]["id"] != first["intent"]["id"]
    assert (
        other_amount["intent"]["senderInvoiceNo"] != first["intent"]["senderInvoiceNo"]
    )
    assert qpay_calls(harness, "/v2/invoice", "POST") == 2


@pytest.mark.parametrize(
    ("amount", "code", "field"),
    [
        ("20000.00", "AMOUNT_EXCEEDS_BALANCE", "input.amount"),
        ("0.00", "INVALID_AMOUNT", "input.amount"),
        ("-1.00", "INVALID_AMOUNT", "input.amount"),
    ],
)
async def test_bad_amount_gives_its_code_and_makes_no_qpay_invoice_when_asked(
    harness: Harness, amount: str, code: str, field: str
) -> None:
    invoice_id = await new_invoice(harness, "15000.00")

    payload = await new_intent(harness, invoice_id, amount=amount)

    assert payload["intent"] is None
    assert payload["errors"][0]["code"] == code
    assert payload["errors"][0]["field"] == field
    assert qpay_calls(harness, "/v2/invoice", "POST") == 0


async def test_unknown_and_malformed_invoice_ids_give_typed_errors_when_used(
    harness: Harness,
) -> None:
    unknown = await new_intent(harness, "00000000-0000-0000-0000-000000000001")
    malformed = await new_intent(harness, "nope")

    assert unknown["errors"][0]["code"] == "NOT_FOUND"
    assert malformed["errors"][0]["code"] == "INVALID_INPUT"
    assert malformed["errors"][0]["field"] == "input.invoiceId"


async def test_void_paid_and_disabled_give_their_codes_when_creating(
    harness: Harness,
) -> None:
    url = harness_url(harness)
    void_id = await new_invoice(harness)
    await db.execute(
        url, "UPDATE invoices SET status = 'VOID' WHERE id = $1::uuid", void_id
    )
    paid_id = await new_invoice(harness, "10.00")
    await harness.gql(
        SETTLE,
        {
            "input": {
                "invoiceId": paid_id,
                "method": "CASH",
                "amount": "10.00",
                "idempotencyKey": "k-paid",
            }
        },
    )
    open_id = await new_invoice(harness)

    void = await new_intent(harness, void_id)
    paid = await new_intent(harness, paid_id)
    await db.execute(
        url, "UPDATE payment_method_configs SET enabled = false WHERE method = 'QPAY'"
    )
    disabled = await new_intent(harness, open_id)

    assert void["errors"][0]["code"] == "INVOICE_VOID"
    assert paid["errors"][0]["code"] == "INVOICE_ALREADY_PAID"
    assert disabled["errors"][0]["code"] == "METHOD_DISABLED"
    assert qpay_calls(harness, "/v2/invoice", "POST") == 0


async def test_qpay_failures_give_unavailable_or_rejected_without_retry_when_creating(
    harness: Harness,
) -> None:
    invoice_id = await new_invoice(harness)
    harness.simulator.fail_next(
        "/v2/invoice", count=1, status=503, body="upstream down"
    )
    unavailable = await new_intent(harness, invoice_id)
    harness.simulator.fail_next(
        "/v2/invoice",
        count=1,
        status=400,
        body={"error": "INVOICE_CODE_INVALID", "message": "INVOICE_CODE_INVALID"},
    )
    rejected = await new_intent(harness, invoice_id)
    recovered = await new_intent(harness, invoice_id)

    assert unavailable["errors"][0]["code"] == "QPAY_UNAVAILABLE"
    assert rejected["errors"][0]["code"] == "QPAY_REJECTED"
    assert recovered["errors"] == []
    assert qpay_calls(harness, "/v2/invoice", "POST") == 3  # one each, never retried
    numbers = await db.fetch(
        harness_url(harness), "SELECT sender_invoice_no FROM qpay_intents"
    )
    assert len({row[0] for row in numbers}) == 3


# --- checkQPayPayment ---------------------------------------------------------


async def test_check_settles_a_paid_intent_when_qpay_shows_it_paid(
    harness: Harness,
) -> None:
    invoice_id = await new_invoice(harness, "15000.00")
    intent = (await new_intent(harness, invoice_id))["intent"]
    harness.simulator.set_callbacks(drop=True)
    payment_id = harness.simulator.pay(intent["qpayInvoiceId"])

    body = await harness.gql(CHECK, {"id": intent["id"]})

    checked = body["data"]["checkQPayPayment"]["intent"]
    assert checked["status"] == "PAID"
    assert checked["paidAmount"] == "15000.00"
    assert checked["qpayPaymentId"] == payment_id
    assert checked["payment"]["qpayPaymentId"] == payment_id
    invoice = await settled(harness, invoice_id)
    assert invoice["status"] == "PAID"
    assert invoice["balance"] == "0.00"


async def test_check_returns_stored_state_without_asking_qpay_when_repeated_within_2s(
    harness: Harness,
) -> None:
    invoice_id = await new_invoice(harness)
    intent = (await new_intent(harness, invoice_id))["intent"]

    await harness.gql(CHECK, {"id": intent["id"]})
    await harness.gql(CHECK, {"id": intent["id"]})
    await harness.gql(CHECK, {"id": intent["id"]})

    assert qpay_calls(harness, "/v2/payment/check") == 1


async def test_check_of_unknown_intent_gives_not_found_when_asked(
    harness: Harness,
) -> None:
    body = await harness.gql(CHECK, {"id": "00000000-0000-0000-0000-000000000009"})

    assert body["data"]["checkQPayPayment"]["errors"][0]["code"] == "NOT_FOUND"


# --- cancelQPayInvoice ----------------------------------------------------------


async def test_cancel_marks_the_intent_cancelled_when_unpaid(harness: Harness) -> None:
    invoice_id = await new_invoice(harness)
    intent = (await new_intent(harness, invoice_id))["intent"]

    body = await harness.gql(CANCEL, {"id": intent["id"]})
    again = await harness.gql(CANCEL, {"id": intent["id"]})

    assert body["data"]["cancelQPayInvoice"]["intent"]["status"] == "CANCELLED"
    assert again["data"]["cancelQPayInvoice"]["intent"]["status"] == "CANCELLED"
    assert qpay_calls(harness, f"/v2/invoice/{intent['qpayInvoiceId']}", "DELETE") == 1


async def test_cancel_settles_instead_when_qpay_says_already_paid(
    harness: Harness,
) -> None:
    invoice_id = await new_invoice(harness)
    intent = (await new_intent(harness, invoice_id))["intent"]
    harness.simulator.set_callbacks(drop=True)
    harness.simulator.pay(intent["qpayInvoiceId"])

    body = await harness.gql(CANCEL, {"id": intent["id"]})

    assert body["data"]["cancelQPayInvoice"]["intent"]["status"] == "PAID"
    assert (await settled(harness, invoice_id))["status"] == "PAID"


async def test_cancel_of_a_paid_intent_gives_intent_not_pending_when_asked(
    harness: Harness,
) -> None:
    invoice_id = await new_invoice(harness)
    intent = (await new_intent(harness, invoice_id))["intent"]
    harness.simulator.set_callbacks(drop=True)
    harness.simulator.pay(intent["qpayInvoiceId"])
    await harness.gql(CHECK, {"id": intent["id"]})

    body = await harness.gql(CANCEL, {"id": intent["id"]})

    assert (
        body["data"]["cancelQPayInvoice"]["errors"][0]["code"] == "INTENT_NOT_PENDING"
    )


# --- settleInvoice ----------------------------------------------------------------


def cash(
    invoice_id: str,
    amount: str = "5000.00",
    key: str | None = "key-1",
    method: str = "CASH",
) -> dict[str, object]:
    data: dict[str, object] = {
        "invoiceId": invoice_id,
        "method": method,
        "amount": amount,
    }
    if key is not None:
        data["idempotencyKey"] = key
    return {"input": data}


async def test_cash_payment_is_recorded_once_and_replayed_when_the_key_repeats(
    harness: Harness,
) -> None:
    invoice_id = await new_invoice(harness, "15000.00")

    first = (await harness.gql(SETTLE, cash(invoice_id)))["data"]["settleInvoice"]
    replay = (await harness.gql(SETTLE, cash(invoice_id)))["data"]["settleInvoice"]

    assert first["errors"] == [] and first["alreadySettled"] is False
    assert first["invoice"]["status"] == "PARTIALLY_PAID"
    assert first["invoice"]["balance"] == "10000.00"
    assert replay["alreadySettled"] is True
    assert replay["payment"]["id"] == first["payment"]["id"]
    assert len(replay["invoice"]["payments"]) == 1


async def test_same_key_with_other_input_gives_idempotency_conflict_when_reused(
    harness: Harness,
) -> None:
    invoice_id = await new_invoice(harness)
    await harness.gql(SETTLE, cash(invoice_id, "5000.00"))

    body = await harness.gql(SETTLE, cash(invoice_id, "6000.00"))

    error = body["data"]["settleInvoice"]["errors"][0]
    assert error["code"] == "IDEMPOTENCY_CONFLICT"
    assert error["field"] == "input.idempotencyKey"
    assert len((await settled(harness, invoice_id))["payments"]) == 1  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("arrange", "request_args", "code", "field"),
    [
        (None, {"key": None}, "INVALID_INPUT", "input.idempotencyKey"),
        (None, {"amount": "20000.00"}, "AMOUNT_EXCEEDS_BALANCE", "input.amount"),
        (None, {"amount": "1.234"}, "INVALID_AMOUNT", "input.amount"),
        (None, {"amount": "1e3"}, None, None),
        (None, {"amount": "0.00"}, "INVALID_AMOUNT", "input.amount"),
        ("void", {}, "INVOICE_VOID", "input.invoiceId"),
        ("paid", {"key": "k2"}, "INVOICE_ALREADY_PAID", "input.invoiceId"),
        ("disabled", {}, "METHOD_DISABLED", "input.method"),
        (None, {"method": "QPAY"}, "INVALID_INPUT", "input.qpayIntentId"),
    ],
)
async def test_settle_errors_write_nothing_when_the_input_is_refused(
    harness: Harness,
    arrange: str | None,
    request_args: dict[str, str | None],
    code: str | None,
    field: str | None,
) -> None:
    url = harness_url(harness)
    invoice_id = await new_invoice(harness, "15000.00")
    if arrange == "void":
        await db.execute(
            url, "UPDATE invoices SET status = 'VOID' WHERE id = $1::uuid", invoice_id
        )
    if arrange == "paid":
        await harness.gql(SETTLE, cash(invoice_id, "15000.00", key="k1"))
    if arrange == "disabled":
        await db.execute(
            url,
            "UPDATE payment_method_configs SET enabled = false WHERE method = 'CASH'",
        )
    before = await db.scalar(url, "SELECT count(*) FROM payments")

    body = await harness.gql(SETTLE, cash(invoice_id, **request_args))  # type: ignore[arg-type]

    if code is None:  # a Decimal that is not a decimal string: a variable error
        assert body.get("data") is None and body["errors"]
    else:
        error = body["data"]["settleInvoice"]["errors"][0]
        assert (error["code"], error["field"]) == (code, field)
    assert await db.scalar(url, "SELECT count(*) FROM payments") == before


async def test_qpay_settlement_needs_qpay_to_confirm_when_unpaid(
    harness: Harness,
) -> None:
    invoice_id = await new_invoice(harness, "15000.00")
    intent = (await new_intent(harness, invoice_id))["intent"]
    request = {
        "input": {
            "invoiceId": invoice_id,
            "method": "QPAY",
            "amount": "15000.00",
            "qpayIntentId": intent["id"],
        }
    }

    unpaid = (await harness.gql(SETTLE, request))["data"]["settleInvoice"]
    harness.simulator.set_callbacks(drop=True)
    harness.simulator.pay(intent["qpayInvoiceId"])
    paid = (await harness.gql(SETTLE, request))["data"]["settleInvoice"]
    again = (await harness.gql(SETTLE, request))["data"]["settleInvoice"]

    assert unpaid["errors"][0]["code"] == "PAYMENT_NOT_CONFIRMED"
    assert paid["errors"] == [] and paid["alreadySettled"] is False
    assert paid["payment"]["method"] == "QPAY"
    assert paid["invoice"]["status"] == "PAID"
    assert again["alreadySettled"] is True
    assert again["payment"]["id"] == paid["payment"]["id"]


async def test_qpay_settlement_refuses_an_amount_other_than_the_intents_when_given(
    harness: Harness,
) -> None:
    invoice_id = await new_invoice(harness, "15000.00")
    intent = (await new_intent(harness, invoice_id))["intent"]

    body = await harness.gql(
        SETTLE,
        {
            "input": {
                "invoiceId": invoice_id,
                "method": "QPAY",
                "amount": "1.00",
                "qpayIntentId": intent["id"],
            }
        },
    )

    assert body["data"]["settleInvoice"]["errors"][0]["code"] == "INVALID_AMOUNT"


async def test_ebarimt_is_queued_for_a_qpay_payment_when_requested(
    harness: Harness,
) -> None:
    invoice_id = await new_invoice(harness, "15000.00")
    intent = (
        await new_intent(
            harness,
            invoice_id,
            ebarimt={"receiverType": "CITIZEN", "receiver": "88112233"},
        )
    )["intent"]
    harness.simulator.set_callbacks(drop=True)
    harness.simulator.pay(intent["qpayInvoiceId"])

    body = await harness.gql(
        SETTLE,
        {
            "input": {
                "invoiceId": invoice_id,
                "method": "QPAY",
                "amount": "15000.00",
                "qpayIntentId": intent["id"],
            }
        },
    )

    receipt = body["data"]["settleInvoice"]["payment"]["ebarimt"]
    assert receipt == {"status": "PENDING", "receiverType": "CITIZEN", "lottery": None}


async def test_ebarimt_for_cash_is_refused_when_requested(harness: Harness) -> None:
    invoice_id = await new_invoice(harness)
    request = cash(invoice_id)
    request["input"]["ebarimt"] = {"receiverType": "CITIZEN"}  # type: ignore[index]

    body = await harness.gql(SETTLE, request)

    assert body["data"]["settleInvoice"]["errors"][0]["field"] == "input.ebarimt"


def _amount(value: object) -> Decimal:
    return Decimal(str(value))


async def test_money_is_counted_once_when_callback_and_check_race(
    harness: Harness,
) -> None:
    invoice_id = await new_invoice(harness, "15000.00")
    intent = (await new_intent(harness, invoice_id))["intent"]

    harness.simulator.pay(intent["qpayInvoiceId"])  # the callback arrives in process
    await asyncio.gather(*(harness.gql(CHECK, {"id": intent["id"]}) for _ in range(5)))
    await asyncio.sleep(0.3)

    payments = await db.fetch(harness_url(harness), "SELECT amount FROM payments")
    assert [_amount(p[0]) for p in payments] == [Decimal("15000.00")]
