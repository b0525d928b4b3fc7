"""The QPay simulator's state: tokens, invoices, payments, receipts, faults.

Plain data guarded by the simulator's lock; no HTTP here.
"""

from __future__ import annotations

import base64
import io
import secrets
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import segno

BANKS = (
    ("Khan bank", "Хаан банк", "khanbank", "khanbank"),
    ("State bank", "Төрийн банк", "statebank", "statebank"),
    ("Xac bank", "Хас банк", "xacbank", "xacbank"),
    ("TDB online", "Худалдаа хөгжлийн банк", "tdbbank", "tdbbank"),
    ("Golomt bank", "Голомт банк", "golomtbank", "golomtbank"),
    ("Most money", "МОСТ мони", "most", "most"),
    ("Monpay", "Монпэй", "monpay", "monpay"),
    ("M bank", "М банк", "mbank", "mbank"),
)


@dataclass
class SimToken:
    access: str
    refresh: str
    expires_at: float


@dataclass
class SimPayment:
    payment_id: str
    invoice_id: str
    amount: Decimal
    payment_type: str  # P2P or CARD
    status: str = "PAID"
    date: str = ""


@dataclass
class SimInvoice:
    invoice_id: str
    invoice_code: str
    sender_invoice_no: str
    receiver_code: str
    description: str
    amount: Decimal
    callback_url: str
    qr_text: str
    status: str = "OPEN"  # OPEN, CLOSED, CANCELLED
    payment_ids: list[str] = field(default_factory=list)

    def paid_total(self, payments: dict[str, SimPayment]) -> Decimal:
        return sum(
            (
                payments[p].amount
                for p in self.payment_ids
                if payments[p].status == "PAID"
            ),
            Decimal("0"),
        )


@dataclass
class SimReceipt:
    receipt_id: str
    payment_id: str
    receiver_type: str
    receiver: str | None
    amount: Decimal
    family: str
    lottery: str
    qr_data: str
    status: str = "REGISTERED"

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.receipt_id,
            "g_payment_id": self.payment_id,
            "ebarimt_by": "QPAY",
            "ebarimt_receiver_type": self.receiver_type,
            "ebarimt_receiver": self.receiver,
            "amount": f"{self.amount:.2f}",
            "vat_amount": f"{(self.amount / Decimal(11)):.2f}",
            "city_tax_amount": "0.00",
            "ebarimt_qr_data": self.qr_data,
            "ebarimt_lottery": self.lottery,
            "barimt_status": self.status,
            "status": True,
        }


@dataclass
class Fault:
    path: str
    remaining: int
    status: int = 500
    body: Any = None
    method: str | None = None
    delay: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        same_path = path == self.path or path.endswith(self.path)
        return self.remaining > 0 and same_path and self.method in (None, method)


def new_token(now: float, ttl: float) -> SimToken:
    return SimToken(
        access="sim." + secrets.token_urlsafe(24),
        refresh="simr." + secrets.token_urlsafe(24),
        expires_at=now + ttl,
    )


def qr_text_for(invoice_id: str, amount: Decimal) -> str:
    """An EMVCo-looking merchant QR payload (it only needs to be unique here)."""
    merchant = f"{len(invoice_id):02d}{invoice_id}"
    price = f"{len(str(amount)):02d}{amount}"
    body = f"000201010212{merchant}530349654{price}5802MN"
    return f"{body}6304{uuid.uuid5(uuid.NAMESPACE_URL, body).hex[:4].upper()}"


def qr_png_base64(text: str, size: int = 300) -> str:
    """A real, scannable QR code of `text` as a base64 PNG (no data: prefix)."""
    code = segno.make(text, error="m")
    modules = code.symbol_size(border=4)[0]
    buffer = io.BytesIO()
    code.save(buffer, kind="png", scale=max(1, size // modules), border=4)
    return base64.b64encode(buffer.getvalue()).decode()


def deeplinks(qr_text: str) -> list[dict[str, str]]:
    return [
        {
            "name": name,
            "description": description,
            "logo": f"https://qpay.mn/q/logo/{logo}.png",
            "link": f"{scheme}://q?qPay_QRcode={qr_text}",
        }
        for name, description, logo, scheme in BANKS
    ]


def validation_error(field_name: str, kind: str, message: str) -> dict[str, Any]:
    detail = {field_name: {"type": kind, "message": message}}
    return {"error": detail, "message": detail}


def error_body(code: str, message: str | None = None) -> dict[str, str]:
    return {"error": code, "message": message or code}
