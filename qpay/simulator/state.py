"""The QPay simulator's state: tokens, invoices, payments, receipts and
injected faults, plus new ids, tokens and error bodies. Plain data, no HTTP;
the JSON answers are built in qpay/simulator/payloads.py.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from fnmatch import fnmatchcase
from typing import Any, Literal

RowShape = Literal["documented", "live"]
PaymentType = Literal["P2P", "CARD"]
JsonObject = dict[str, Any]


@dataclass
class SimToken:
    access: str = field(repr=False)
    refresh: str = field(repr=False)
    expires_at: float  # the refresh token expires at the same instant


@dataclass
class SimPayment:
    payment_id: str
    invoice_id: str
    amount: Decimal  # what it counts for; 0 when raw_amount is not a number
    payment_type: PaymentType
    paid_at: float
    status: str = "PAID"  # PAID, CANCELLED, REFUNDED
    currency: str = "MNT"
    raw_amount: str | None = None  # written verbatim instead of `amount`


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
    created_at: float
    sender_branch_code: str | None = None
    lines: list[JsonObject] = field(default_factory=list)
    status: str = "OPEN"  # OPEN, CLOSED, CANCELLED
    payment_ids: list[str] = field(default_factory=list)


@dataclass
class SimReceipt:
    receipt_id: str
    family: Literal["v2", "v3"]
    payment: SimPayment
    receiver_type: str
    receiver: str | None
    lottery: str
    qr_data: str
    receipt_number: str
    created_at: float
    status: str = "REGISTERED"  # or CANCELED (QPay's spelling)
    status_at: float = 0.0


@dataclass
class Fault:
    """The next `remaining` matching calls fail (status/body) or wait `delay`:
    before QPay's route runs, or, when `after`, once it has run (the request
    was processed and only the answer is late or lost)."""

    pattern: str
    remaining: int
    method: str | None = None
    status: int = 500
    body: object = None
    delay: float = 0.0
    after: bool = False

    def matches(self, method: str, path: str) -> bool:
        return (
            self.remaining > 0
            and (self.method is None or self.method.upper() == method)
            and fnmatchcase(path, self.pattern)
        )


def v2_path(path: str) -> str:
    """A path as /v2/...: `/invoice`, `v2/invoice` and `/v2/invoice` agree."""
    path = "/" + path.lstrip("/")
    return path if path == "/v2" or path.startswith("/v2/") else "/v2" + path


@dataclass
class SimState:
    """Everything one simulator instance knows; reset() empties it."""

    merchant_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    signing_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    tokens: dict[str, SimToken] = field(default_factory=dict)
    refresh_tokens: dict[str, SimToken] = field(default_factory=dict)
    invoices: dict[str, SimInvoice] = field(default_factory=dict)
    payments: dict[str, SimPayment] = field(default_factory=dict)
    receipts: dict[str, SimReceipt] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    requests: list[JsonObject] = field(default_factory=list)
    tokens_issued: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def take_fault(
        self, method: str, path: str, *, delay: bool, after: bool = False
    ) -> Fault | None:
        """Consume one matching fault of the kind asked for, if any."""
        for fault in self.faults:
            kind = (fault.delay > 0, fault.after)
            if kind == (delay, after) and fault.matches(method, path):
                fault.remaining -= 1
                self.faults = [f for f in self.faults if f.remaining > 0]
                return fault
        return None

    def paid_total(self, invoice: SimInvoice) -> Decimal:
        return sum(
            (p.amount for p in self.invoice_payments(invoice) if p.status == "PAID"),
            Decimal(0),
        )

    def invoice_payments(self, invoice: SimInvoice) -> list[SimPayment]:
        return [self.payments[p] for p in invoice.payment_ids]

    def registered_receipts(
        self, payment_id: str, family: Literal["v2", "v3"] | None = None
    ) -> list[SimReceipt]:
        """The payment's REGISTERED receipts (of one family, or both), oldest
        first."""
        return [
            receipt
            for receipt in self.receipts.values()
            if receipt.payment.payment_id == payment_id
            and receipt.status == "REGISTERED"
            and family in (None, receipt.family)
        ]


# --- tokens ------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def new_token(state: SimState, client_id: str, now: float, ttl: float) -> SimToken:
    """A token pair shaped like QPay's HS256 JWTs. Like QPay's, the `exp`
    claim is iat + expires_in (an epoch plus an epoch), so it must not be
    trusted (reference/qpay-v2.md §3.1)."""
    iat = int(now)
    expires = int(now + ttl)
    session = str(uuid.uuid4())

    def jwt(kind: str) -> str:
        header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        claims = {
            "client_id": client_id,
            "terminal_id": None,
            "merchant_id": state.merchant_id,
            "session_id": session,
            "kind": kind,
            "jti": secrets.token_hex(8),
            "iat": iat,
            "exp": iat + expires,
        }
        payload = _b64url(json.dumps(claims).encode())
        signing_input = f"{header}.{payload}".encode()
        signature = hmac.new(state.signing_key, signing_input, hashlib.sha256)
        return f"{header}.{payload}.{_b64url(signature.digest())}"

    return SimToken(access=jwt("access"), refresh=jwt("refresh"), expires_at=expires)


def token_json(token: SimToken) -> JsonObject:
    expires = int(token.expires_at)
    return {
        "token_type": "bearer",
        "refresh_expires_in": expires,
        "refresh_token": token.refresh,
        "access_token": token.access,
        "expires_in": expires,
        "scope": "get_token",
        "not-before-policy": "0",
        "session_state": "sandbox",
    }


# --- payments --------------------------------------------------------------------


def new_payment_id(payment_type: PaymentType) -> str:
    """A numeric string for P2P, a UUID for card payments (reference §5.1)."""
    if payment_type == "CARD":
        return str(uuid.uuid4())
    return str(10**14 + secrets.randbelow(9 * 10**14))


# --- e-Barimt ----------------------------------------------------------------------


def new_receipt(
    family: Literal["v2", "v3"],
    payment: SimPayment,
    receiver_type: str,
    receiver: str | None,
    now: float,
) -> SimReceipt:
    letters = "ABCDEFGHKLMNPRSTUX"
    lottery = f"{secrets.choice(letters)}{secrets.choice(letters)} " + (
        f"{secrets.randbelow(10**8):08d}"
    )
    qr_data = "".join(str(secrets.randbelow(10)) for _ in range(96))
    return SimReceipt(
        receipt_id=str(uuid.uuid4()),
        family=family,
        payment=payment,
        receiver_type=receiver_type,
        receiver=receiver,
        lottery=lottery,
        qr_data=qr_data,
        receipt_number=str(10**32 + secrets.randbelow(9 * 10**32)),
        created_at=now,
        status_at=now,
    )


# --- errors ------------------------------------------------------------------------


def error_body(code: str, message: str | None = None) -> JsonObject:
    return {"error": code, "message": message or code}


def validation_error(field_name: str, kind: str, message: str) -> JsonObject:
    """QPay's nested validation shape: the same object in both keys."""
    detail = {field_name: {"type": kind, "message": message}}
    return {"error": detail, "message": detail}


def decode_basic(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, colon, password = base64.b64decode(value.strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if colon else None
