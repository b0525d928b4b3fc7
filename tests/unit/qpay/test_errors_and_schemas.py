"""Parsing QPay's error bodies and answers: both error shapes, typo'd codes,
non-JSON bodies, tolerant models, both payment/check row shapes, amounts."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qpay.errors import QPayRejected, QPayUnavailable, parse_error_body
from qpay.exchange import json_or_none
from qpay.schemas import (
    CheckPageAnswer,
    CheckRowAnswer,
    InvoiceCreatedAnswer,
    ReceiptAnswer,
    TokenAnswer,
    amount_json,
    encode_body,
    parse_amount,
    parse_answer,
    split_rows,
)

DOCUMENTED_ROW = {
    "payment_id": "493622150113497",
    "payment_status": "PAID",
    "payment_date": "2022-03-11T05:57:47.336Z",
    "payment_fee": "1.00",
    "payment_amount": "100.00",
    "payment_currency": "MNT",
    "payemnt_wallet": "qPay wallet",
    "transaction_type": "P2P",
}
LIVE_ROW = {
    "payment_id": "6f1c7c1e-5c1e-4f4e-8d7a-3a2b1c0d9e8f",
    "payment_status": "PAID",
    "payment_amount": 15000.5,
    "trx_fee": "0.00",
    "payment_currency": "MNT",
    "payment_wallet": "Khan bank",
    "payment_type": "CARD",
    "next_payment_date": None,
    "next_payment_datetime": None,
    "card_transactions": [{"card_type": "UNIONPAY", "amount": "15000.50"}],
    "p2p_transactions": [],
    "something_new": {"qpay": "added it"},
}


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (
            '{"error":"INVOICE_NOTFOUND","message":"Нэхэмжлэл олдсонгүй"}',
            "INVOICE_NOTFOUND",
            "Нэхэмжлэл олдсонгүй",
        ),
        (
            '{"error":"NO_CREDENDIALS","message":"NO_CREDENDIALS"}',
            "NO_CREDENDIALS",
            "NO_CREDENDIALS",
        ),
        ('{"error":"NO_CREDENTIALS"}', "NO_CREDENTIALS", "NO_CREDENTIALS"),
        (
            '{"error":"EBARIMT_CANCEL_NOTSUPPERDED","message":null}',
            "EBARIMT_CANCEL_NOTSUPPERDED",
            "EBARIMT_CANCEL_NOTSUPPERDED",
        ),
        ('{"message":"only a message"}', None, "only a message"),
    ],
)
def test_reads_code_and_message_when_the_error_is_a_string(
    body: str, code: str | None, message: str
) -> None:
    parsed = parse_error_body(body)

    assert (parsed.code, parsed.message) == (code, message)


def test_flattens_every_field_when_the_error_is_a_nested_object() -> None:
    detail = {
        "invoice_code": {"type": "INVALID", "message": "Invalid!"},
        "amount": {"type": "MIN_NUMBER", "message": "Number min value [1]!"},
    }
    body = json.dumps({"error": detail, "message": detail})

    parsed = parse_error_body(body.encode())

    assert parsed.code == "VALIDATION_ERROR"
    assert parsed.fields == {"invoice_code": "INVALID", "amount": "MIN_NUMBER"}
    assert parsed.message == (
        "invoice_code: INVALID Invalid!; amount: MIN_NUMBER Number min value [1]!"
    )


def test_reads_a_nested_message_when_the_code_is_a_string() -> None:
    detail = {"page_limit": {"type": "MAX_NUMBER", "message": "max [100]"}}

    parsed = parse_error_body(json.dumps({"error": "BAD", "message": detail}))

    assert parsed.code == "BAD"
    assert parsed.fields == {"page_limit": "MAX_NUMBER"}
    assert parsed.message == "page_limit: MAX_NUMBER max [100]"


@pytest.mark.parametrize(
    "body",
    [b"<html>502 Bad Gateway</html>", b"TypeError: cannot read x", b"\xff\xfe junk"],
)
def test_keeps_a_short_excerpt_when_the_body_is_not_json(body: bytes) -> None:
    parsed = parse_error_body(body * 50)

    assert parsed.code is None
    assert 0 < len(parsed.message) <= 200
    assert parsed.message[:6] == body.decode(errors="replace")[:6]


def test_shows_code_status_and_reach_in_reprs_when_printed() -> None:
    rejected = QPayRejected("bad", code="INVOICE_PAID", status=400)
    unavailable = QPayUnavailable("slow", may_have_reached=True, status=504)

    assert repr(rejected) == "QPayRejected('bad', code='INVOICE_PAID', status=400)"
    assert repr(unavailable) == (
        "QPayUnavailable('slow', code=None, status=504, may_have_reached=True)"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("100.00", Decimal("100.00")),
        (100, Decimal(100)),
        (15000.5, Decimal("15000.5")),
        (0.1, Decimal("0.1")),
        (" 7 ", Decimal(7)),
    ],
)
def test_parses_numbers_and_strings_exactly_when_reading_amounts(
    value: object, expected: Decimal
) -> None:
    assert parse_amount(value) == expected


@pytest.mark.parametrize(
    "value", ["NaN", "Infinity", "-1.00", True, None, "12abc", [1], float("inf")]
)
def test_refuses_the_amount_when_it_is_not_a_finite_non_negative_number(
    value: object,
) -> None:
    with pytest.raises(ValueError, match=r"amount|finite"):
        parse_amount(value)


@given(
    st.decimals(
        min_value=0, max_value=10**12, places=2, allow_nan=False, allow_infinity=False
    )
)
def test_round_trips_exactly_when_an_amount_is_sent_as_json(amount: Decimal) -> None:
    sent = json.loads(encode_body({"amount": amount}))["amount"]

    assert Decimal(str(sent)) == amount
    assert isinstance(sent, int) == (amount == amount.to_integral_value())


@pytest.mark.parametrize(
    ("amount", "sent"),
    [
        (Decimal("15000.00"), 15000),
        (Decimal("15000"), 15000),
        (Decimal("15000.50"), "15000.50"),
        (Decimal("0.05"), "0.05"),
    ],
)
def test_sends_whole_amounts_as_integers_when_encoding(
    amount: Decimal, sent: int | str
) -> None:
    assert amount_json(amount) == sent


def test_refuses_floats_when_encoding_a_body() -> None:
    with pytest.raises(TypeError, match="Decimal"):
        encode_body({"lines": [{"line_unit_price": 1.5}]})


def test_reads_both_row_shapes_and_ignores_unknown_fields_when_checking() -> None:
    page = {"count": 2, "paid_amount": 15100.5, "rows": [DOCUMENTED_ROW, LIVE_ROW]}

    parsed = parse_answer(CheckPageAnswer, page, what="payment check")

    (documented, live), problems = split_rows(parsed.rows, CheckRowAnswer)
    assert problems == []
    assert (documented.kind, documented.wallet, documented.fee) == (
        "P2P",
        "qPay wallet",
        Decimal("1.00"),
    )
    assert (live.kind, live.wallet, live.fee) == ("CARD", "Khan bank", Decimal(0))
    assert live.payment_amount == Decimal("15000.5")
    assert live.card_transactions[0]["card_type"] == "UNIONPAY"
    assert parsed.paid_amount == Decimal("15100.5")
    assert parsed.raw is page
    assert live.raw is LIVE_ROW


def test_keeps_the_mixed_case_short_url_and_deeplinks_when_an_invoice_is_made() -> None:
    data = {
        "invoice_id": "inv-1",
        "qr_text": "0002010102",
        "qr_image": "iVBORw0KGgo=",
        "qPay_shortUrl": "https://s.qpay.mn/abc",
        "urls": [
            {
                "name": "Khan bank",
                "description": "Хаан банк",
                "logo": "https://qpay.mn/q/logo/khanbank.png",
                "link": "khanbank://q?qPay_QRcode=0002010102",
            },
            {"link": "most://q?qPay_QRcode=0002010102", "extra": 1},
        ],
    }

    created = parse_answer(InvoiceCreatedAnswer, data, what="invoice")

    assert created.short_url == "https://s.qpay.mn/abc"
    assert [u.link for u in created.urls] == [
        "khanbank://q?qPay_QRcode=0002010102",
        "most://q?qPay_QRcode=0002010102",
    ]
    assert created.urls[0].description == "Хаан банк"
    assert created.raw == data


def test_reads_epoch_expiries_and_hides_tokens_when_parsing_a_token() -> None:
    data = {
        "token_type": "bearer",
        "access_token": "eyJ-secret-access",
        "refresh_token": "eyJ-secret-refresh",
        "expires_in": 1769756525,
        "refresh_expires_in": 1769756525,
        "not-before-policy": "0",
    }

    token = parse_answer(TokenAnswer, data, what="token")

    assert token.expires_in == 1769756525
    assert "secret" not in repr(token)


def test_reads_lottery_and_qr_data_when_a_receipt_comes_back() -> None:
    data = {
        "id": 1234,
        "ebarimt_lottery": "AB 12345678",
        "ebarimt_qr_data": "0123456789",
        "barimt_status": "REGISTERED",
        "amount": "1100.00",
        "vat_amount": "100.00",
        "barimt_items": [{"name": "x"}],
    }

    receipt = parse_answer(ReceiptAnswer, data, what="receipt")

    assert receipt.id == "1234"
    assert (receipt.ebarimt_lottery, receipt.ebarimt_qr_data) == (
        "AB 12345678",
        "0123456789",
    )
    assert receipt.vat_amount == Decimal("100.00")


@pytest.mark.parametrize(
    "data",
    [
        {"count": 1, "rows": "not a list"},
        {"count": "many", "rows": []},
        [],
    ],
)
def test_raises_unavailable_not_a_pydantic_error_when_the_answer_is_malformed(
    data: Any,
) -> None:
    with pytest.raises(QPayUnavailable, match="malformed payment check") as caught:
        parse_answer(CheckPageAnswer, data, what="payment check")

    assert caught.value.may_have_reached is True
    assert caught.value.__context__ is None


@pytest.mark.parametrize(
    ("row", "payment_id", "status"),
    [
        ({"payment_id": "p", "payment_status": "PAID"}, "p", "PAID"),
        ({**DOCUMENTED_ROW, "payment_amount": "-5"}, "493622150113497", "PAID"),
        ({"payment_status": "PAID", "payment_amount": "5"}, None, "PAID"),
        ({"payment_id": 42, "payment_amount": "5"}, "42", None),
        ("not a row", None, None),
    ],
)
def test_keeps_the_good_rows_and_reports_the_bad_one_when_a_row_is_malformed(
    row: Any, payment_id: str | None, status: str | None
) -> None:
    page = {"count": 2, "rows": [row, LIVE_ROW]}

    parsed = parse_answer(CheckPageAnswer, page, what="payment check")
    rows, problems = split_rows(parsed.rows, CheckRowAnswer)

    assert [r.payment_id for r in rows] == [LIVE_ROW["payment_id"]]
    (problem,) = problems
    assert (problem.payment_id, problem.status) == (payment_id, status)
    assert problem.reason


def test_reads_json_numbers_as_exact_decimals_never_floats() -> None:
    response = httpx.Response(
        200, content=b'{"count": 1, "paid_amount": 0.1, "rows": [{"x": 1.10}]}'
    )

    data = json_or_none(response)

    assert data["paid_amount"] == Decimal("0.1")
    assert isinstance(data["paid_amount"], Decimal)
    assert str(data["rows"][0]["x"]) == "1.10"


@pytest.mark.parametrize("body", [b'{"paid_amount": NaN}', b'{"a": Infinity}'])
def test_refuses_nan_and_infinity_when_reading_json(body: bytes) -> None:
    assert json_or_none(httpx.Response(200, content=body)) is None


def test_reads_deeply_nested_bodies_as_not_json_rather_than_crashing() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000

    assert json_or_none(httpx.Response(200, content=deep)) is None
    assert parse_error_body(deep).code is None
