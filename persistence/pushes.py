"""A notification's text: the intent and version, and, signed, its state.

    {"intentId": "...", "version": 3}                          a wake-up
    s1:<HMAC-SHA256 hex>:{"intentId": ..., "version": 3, "state": {...}}

The first asks subscribers to re-read the intent. The second carries the
committed state at that version (domain/status.py's PushedStatus: the intent
without its QR code and links, its invoice, whether a receipt is pending), so
subscribers need no re-read. A state is believed only under a valid signature,
made with a key every process of the deployment shares (derived from
JWT_SECRET): anyone else who can NOTIFY on the channel or PUBLISH to Redis can
at most make subscribers re-read, never show a checkout screen a state the
database does not hold. A state that would not fit a notification is left
out (PostgreSQL refuses payloads from 8000 bytes).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.intents import IntentId
from domain.status import PaymentStatus, PushedStatus
from persistence import json_codec, mapping

SIGNED = "s1:"
_SIGNATURE_LENGTH = 64
# PostgreSQL's limit is 8000 bytes; a state past this is not sent.
MAX_PAYLOAD_BYTES = 7_800

# Left out of a pushed state (PushedStatus.of blanks the same fields).
_FIXED = frozenset(
    {"qr_text", "qr_image", "short_url", "deeplinks", "object_type", "object_id"}
)
_INTENT_TIMES = ("expires_at", "created_at", "updated_at", "reviewed_at")
_INTENT_MONEY = ("amount", "paid_amount")
_INVOICE_TIMES = ("created_at", "updated_at")
_INVOICE_MONEY = ("total", "paid_amount")


class PushSigner:
    """Signs and checks a notification's text (HMAC-SHA256)."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(
            b"qpay-graph pushed status v1\x00" + secret.encode()
        ).digest()

    def sign(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()

    def verify(self, text: str, signature: str) -> bool:
        return hmac.compare_digest(self.sign(text), signature)


def payload(
    intent_id: IntentId,
    version: int,
    status: PaymentStatus | None = None,
    signer: PushSigner | None = None,
) -> str:
    """The notification for `intent_id` at `version`: carrying `status` when
    there is one of this version, a signer, and room for it."""
    wakeup = {"intentId": str(intent_id), "version": version}
    if status is None or signer is None or status.intent.version != version:
        return json.dumps(wakeup)
    text = json_codec.dumps({**wakeup, "state": state_json(status)})
    signed = f"{SIGNED}{signer.sign(text)}:{text}"
    if len(signed.encode()) > MAX_PAYLOAD_BYTES:
        return json.dumps(wakeup)
    return signed


def read_payload(
    text: str,
    signer: PushSigner | None,
    wanted: Callable[[UUID], bool] | None = None,
) -> tuple[UUID, int, PushedStatus | None]:
    """The intent, version and (signed only) state of a notification; the
    state is checked and read only if `wanted(intent)` (someone here watches
    it: every process hears every notification). Raises ValueError, KeyError
    or TypeError for one that is malformed; a state with a wrong signature,
    or none to check it with, is ignored."""
    signature = None
    if text.startswith(SIGNED):
        signature = text[len(SIGNED) : len(SIGNED) + _SIGNATURE_LENGTH]
        text = text[len(SIGNED) + _SIGNATURE_LENGTH + 1 :]
    data = json_codec.loads(text)
    intent_id = UUID(str(data["intentId"]))
    version = data["version"]
    # A JSON integer only: 1e999999999 would read as a Decimal whose int()
    # never finishes.
    if not isinstance(version, int) or isinstance(version, bool):
        raise TypeError("version is not an integer")
    if (
        signature is None
        or signer is None
        or "state" not in data
        or (wanted is not None and not wanted(intent_id))
        or not signer.verify(text, signature)
    ):
        return intent_id, version, None
    pushed = pushed_from_json(data["state"])
    if pushed.status.intent.id != intent_id or pushed.version != version:
        return intent_id, version, None
    return intent_id, version, pushed


def state_json(status: PaymentStatus) -> dict[str, Any]:
    intent = {
        name: _plain(value)
        for name, value in mapping.intent_values(status.intent).items()
        if name not in _FIXED
    }
    intent["id"] = str(status.intent.id)
    invoice = {
        name: _plain(value)
        for name, value in mapping.invoice_values(status.invoice).items()
    }
    return {
        "intent": intent,
        "invoice": invoice,
        "receiptPending": status.receipt_pending,
    }


def pushed_from_json(state: dict[str, Any]) -> PushedStatus:
    intent = dict(state["intent"])
    _typed(intent, _INTENT_TIMES, _INTENT_MONEY)
    intent.update(qr_text="", qr_image="", short_url=None, deeplinks=())
    invoice = dict(state["invoice"])
    _typed(invoice, _INVOICE_TIMES, _INVOICE_MONEY)
    receipt_pending = state["receiptPending"]
    if not isinstance(receipt_pending, bool):
        raise TypeError("receiptPending is not a boolean")
    return PushedStatus(
        PaymentStatus(
            mapping.intent_from_row(intent),
            mapping.invoice_from_row(invoice),
            receipt_pending=receipt_pending,
        )
    )


def _plain(value: object) -> object:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)  # as text: its exponent (100.00) survives
    return value


def _typed(
    values: dict[str, Any], times: tuple[str, ...], money: tuple[str, ...]
) -> None:
    values["id"] = UUID(values["id"])
    if "invoice_id" in values:
        values["invoice_id"] = UUID(values["invoice_id"])
    for name in times:
        if values[name] is not None:
            values[name] = datetime.fromisoformat(values[name])
    for name in money:
        values[name] = Decimal(values[name])
