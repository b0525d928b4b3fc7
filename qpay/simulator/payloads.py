"""The JSON the QPay simulator answers with, shaped like QPay's.

EMVCo QR text (with its CRC), a real QR code PNG, the bank deeplinks QPay
lists, invoices, both payment/check row shapes, payments and e-Barimt
receipts (reference/qpay-v2.md §4-§6). Amounts are decimal strings ("100.00")
except payment/check's `paid_amount`, a JSON number.
"""

from __future__ import annotations

import base64
import io
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import segno

from qpay.simulator.state import (
    JsonObject,
    RowShape,
    SimInvoice,
    SimPayment,
    SimReceipt,
    SimState,
)

# (name, description, logo file, deeplink scheme), as QPay lists them.
BANKS = (
    ("qPay wallet", "qPay хэтэвч", "qpay.png", "qpaywallet"),
    ("Khan bank", "Хаан банк", "khanbank.png", "khanbank"),
    ("State bank 3.0", "Төрийн банк 3.0", "state_3.png", "statebankmongolia"),
    ("Xac bank", "Хас банк", "xacbank.png", "xacbank"),
    ("Trade and Development bank", "TDB online", "tdbbank.png", "tdbbank"),
    ("Social Pay", "Голомт банк", "socialpay.png", "socialpay-payment"),
    ("Most money", "МОСТ мони", "most.png", "most"),
    ("National investment bank", "Үндэсний хөрөнгө оруулалтын банк", "nibank.jpeg",
     "nibank"),
    ("Chinggis khaan bank", "Чингис Хаан банк", "ckbank.png", "ckbank"),
    ("Capitron bank", "Капитрон банк", "capitronbank.png", "capitronbank"),
    ("Bogd bank", "Богд банк", "bogdbank.png", "bogdbank"),
    ("Trans bank", "Тээвэр хөгжлийн банк", "transbank.png", "transbank"),
    ("M bank", "М банк", "mbank.png", "mbank"),
    ("Arig bank", "Ариг банк", "arig.png", "arig"),
    ("Monpay", "Мон Пэй", "monpay.png", "monpay"),
)  # fmt: skip
BANK_CODES = {"050000": "Хаан банк", "040000": "ХХБ", "150000": "Голомт банк"}


# --- invoices ------------------------------------------------------------------


def _tlv(tag: str, value: str) -> str:
    return f"{tag}{len(value):02d}{value}"


def crc16_ccitt(data: bytes) -> int:
    """CRC-16/CCITT-FALSE, the checksum of EMVCo merchant QR payloads."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def amount_text(amount: Decimal) -> str:
    """An amount as QPay writes it in responses: "100.00"."""
    return f"{amount:.2f}"


def payment_amount_text(payment: SimPayment) -> str:
    """A payment's `payment_amount`: "100.00", or the raw text a test forced
    on it to see how the client copes ("abc", "0.001")."""
    if payment.raw_amount is not None:
        return payment.raw_amount
    return amount_text(payment.amount)


def qr_text_for(invoice_id: str, amount: Decimal) -> str:
    """An EMVCo merchant-presented QR payload, checksum included."""
    reference = invoice_id.replace("-", "")[:20]
    whole = amount == amount.to_integral_value()
    price = str(int(amount)) if whole else format(amount, "f")
    account = (
        _tlv("00", "A000000843") + _tlv("01", "08SIMQPAYMN") + _tlv("02", reference)
    )
    body = (
        _tlv("00", "01")
        + _tlv("01", "12")
        + _tlv("15", str(int(uuid.UUID(invoice_id)) % 10**27).zfill(27))
        + _tlv("27", account)
        + _tlv("52", "7399")
        + _tlv("53", "496")
        + _tlv("54", price)
        + _tlv("58", "MN")
        + _tlv("59", "QPAY SIMULATOR")
        + _tlv("60", "ULAANBAATAR")
        + _tlv("62", _tlv("07", reference))
        + "6304"
    )
    return body + f"{crc16_ccitt(body.encode()):04X}"


def qr_png_base64(text: str, size: int = 300) -> str:
    """A real, scannable QR code of `text`: base64 PNG, no data: prefix, about
    `size` pixels square (QPay's is 300x300)."""
    code = segno.make(text, error="m", micro=False)
    modules = code.symbol_size(scale=1, border=4)[0]
    buffer = io.BytesIO()
    code.save(buffer, kind="png", scale=max(1, round(size / modules)), border=4)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def deeplinks(qr_text: str) -> list[JsonObject]:
    return [
        {
            "name": name,
            "description": description,
            "logo": f"https://qpay.mn/q/logo/{logo}",
            "link": f"{scheme}://q?qPay_QRcode={qr_text}",
        }
        for name, description, logo, scheme in BANKS
    ]


def invoice_json(state: SimState, invoice: SimInvoice) -> JsonObject:
    total = amount_text(invoice.amount)
    return {
        "invoice_id": invoice.invoice_id,
        "invoice_status": invoice.status,
        "sender_invoice_no": invoice.sender_invoice_no,
        "sender_branch_code": invoice.sender_branch_code,
        "sender_branch_data": None,
        "sender_staff_code": None,
        "sender_staff_data": None,
        "sender_terminal_code": None,
        "sender_terminal_data": None,
        "invoice_description": invoice.description,
        "invoice_due_date": None,
        "enable_expiry": False,
        "expiry_date": None,
        "allow_partial": False,
        "minimum_amount": None,
        "allow_exceed": False,
        "maximum_amount": None,
        "total_amount": total,
        "gross_amount": total,
        "tax_amount": "0.00",
        "surcharge_amount": "0.00",
        "discount_amount": "0.00",
        "callback_url": invoice.callback_url,
        "note": None,
        "lines": invoice.lines,
        "transactions": [],
        "inputs": [],
        "payments": [row_json(p, "live") for p in state.invoice_payments(invoice)],
    }


# --- payments ---


def iso(epoch: float) -> str:
    """ISO-8601 UTC with milliseconds and Z, as QPay writes dates."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _transactions(payment: SimPayment) -> tuple[list[JsonObject], list[JsonObject]]:
    amount, currency = payment_amount_text(payment), payment.currency
    if payment.payment_type == "P2P":
        p2p = {
            "transaction_bank_code": "050000",
            "account_bank_code": "050000",
            "account_bank_name": BANK_CODES["050000"],
            "account_number": "50******12",
            "status": "SUCCESS",
            "amount": amount,
            "currency": currency,
            "settlement_status": "SETTLED",
        }
        return [], [p2p]
    card = {
        "card_merchant_code": "SIMMERCHANT",
        "card_terminal_code": "SIM00001",
        "card_number": "6262-96XX-XXXX-0001",
        "card_type": "UNIONPAY",
        "is_cross_border": False,
        "amount": amount,
        "transaction_amount": amount,
        "currency": currency,
        "date": iso(payment.paid_at),
        "status": "SUCCESS",
        "settlement_status": "PENDING",
        "settlement_status_date": None,
    }
    return [card], []


def row_json(payment: SimPayment, shape: RowShape) -> JsonObject:
    """A payment/check row in the documented or the live shape."""
    amount = payment_amount_text(payment)
    if shape == "documented":
        return {
            "payment_id": payment.payment_id,
            "payment_status": payment.status,
            "payment_date": iso(payment.paid_at),
            "payment_fee": "0.00",
            "payment_amount": amount,
            "payment_currency": payment.currency,
            "payemnt_wallet": "qPay wallet",  # sic: QPay's documented key
            "transaction_type": payment.payment_type,
        }
    card, p2p = _transactions(payment)
    return {
        "payment_id": payment.payment_id,
        "payment_status": payment.status,
        "payment_amount": amount,
        "trx_fee": "0.00",
        "payment_currency": payment.currency,
        "payment_wallet": "qPay wallet",
        "payment_type": payment.payment_type,
        "next_payment_date": None,
        "next_payment_datetime": None,
        "card_transactions": card,
        "p2p_transactions": p2p,
    }


def payment_json(payment: SimPayment) -> JsonObject:
    card, p2p = _transactions(payment)
    return {
        "payment_id": payment.payment_id,
        "payment_status": payment.status,
        "payment_fee": "0.00",
        "payment_amount": payment_amount_text(payment),
        "payment_currency": payment.currency,
        "payment_date": iso(payment.paid_at),
        "payment_wallet": "qPay wallet",
        "transaction_type": payment.payment_type,
        "object_type": "INVOICE",
        "object_id": payment.invoice_id,
        "next_payment_date": None,
        "next_payment_datetime": None,
        "card_transactions": card,
        "p2p_transactions": p2p,
    }


def list_row_json(payment: SimPayment, invoice: SimInvoice) -> JsonObject:
    return {
        "payment_id": payment.payment_id,
        "payment_date": iso(payment.paid_at),
        "payment_status": payment.status,
        "payment_fee": "0.00",
        "payment_amount": payment_amount_text(payment),
        "payment_currency": payment.currency,
        "payment_wallet": "qPay wallet",
        "payment_name": invoice.description,
        "payment_description": invoice.description,
        "qr_code": invoice.qr_text,
        "paid_by": payment.payment_type,
        "object_type": "INVOICE",
        "object_id": invoice.invoice_id,
    }


def number(amount: Decimal) -> int | float:
    """`paid_amount` is a JSON number in payment/check (reference §5.1)."""
    return int(amount) if amount == amount.to_integral_value() else float(amount)


def receipt_json(receipt: SimReceipt, merchant_id: str) -> JsonObject:
    amount = receipt.payment.amount
    vat = (amount / Decimal(11)).quantize(Decimal("0.01"))
    return {
        "id": receipt.receipt_id,
        "ebarimt_by": "QPAY",
        "g_wallet_id": None,
        "g_wallet_customer_id": None,
        "ebarimt_receiver_type": receipt.receiver_type,
        "ebarimt_receiver": receipt.receiver,
        "ebarimt_district_code": "3420",
        "ebarimt_bill_type": "1" if receipt.receiver_type == "CITIZEN" else "3",
        "g_merchant_id": merchant_id,
        "merchant_branch_code": None,
        "merchant_terminal_code": None,
        "merchant_staff_code": None,
        "merchant_register_no": "5317878",
        "merchant_tin": "37900846788",
        "g_payment_id": receipt.payment.payment_id,
        "paid_by": receipt.payment.payment_type,
        "object_type": "INVOICE",
        "object_id": receipt.payment.invoice_id,
        "amount": amount_text(amount),
        "vat_amount": amount_text(vat),
        "city_tax_amount": "0.00",
        "ebarimt_qr_data": receipt.qr_data,
        "ebarimt_lottery": receipt.lottery,
        "note": None,
        "barimt_status": receipt.status,
        "barimt_status_date": iso(receipt.status_at),
        "ebarimt_sent_email": None,
        "ebarimt_receiver_phone": receipt.receiver
        if receipt.receiver_type == "CITIZEN"
        else None,
        "tax_type": "1",
        "ebarimt_receipt_id": receipt.receipt_number,
        "created_by": merchant_id,
        "created_date": iso(receipt.created_at),
        "updated_by": merchant_id,
        "updated_date": iso(receipt.status_at),
        "status": True,
        "barimt_items": [],
        "barimt_transactions": [],
        "barimt_histories": [],
    }
