"""A QPay callback as received: stored raw (minus our secret token) for audit."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from domain.intents import IntentId


@dataclass(frozen=True, slots=True)
class ReceivedCallback:
    intent_id: IntentId
    method: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: str
    remote_addr: str | None
    received_at: datetime

    @property
    def qpay_payment_id(self) -> str | None:
        """QPay's hint (never believed about money): qpay_payment_id or payment_id."""
        value = self.query.get("qpay_payment_id") or self.query.get("payment_id")
        return value[:64] if value else None
