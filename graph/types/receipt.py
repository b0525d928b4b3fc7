"""EbarimtReceipt, and EbarimtInput: whom a receipt is made out to."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain import ebarimt
from domain.ebarimt import EbarimtRequest
from graph.context import Info
from graph.types.enums import EbarimtReceiverType, EbarimtStatus
from graph.types.visibility import STAFF_ONLY_NULL, staff_only


@strawberry.type
class EbarimtReceipt:
    def _receiver(self, info: Info) -> str | None:
        staff_only(info, "EbarimtReceipt.receiver")
        return self._domain.receiver

    def _last_error(self, info: Info) -> str | None:
        staff_only(info, "EbarimtReceipt.lastError")
        return self._domain.last_error

    id: strawberry.ID
    status: EbarimtStatus
    receiver_type: EbarimtReceiverType
    receiver: str | None = strawberry.field(
        resolver=_receiver,
        description=(
            "Who the receipt is made out to (a citizen's or a company's identifier)."
            + STAFF_ONLY_NULL
        ),
    )
    lottery: str | None
    qr_data: str | None
    last_error: str | None = strawberry.field(
        resolver=_last_error,
        description="Why the last try to issue the receipt failed." + STAFF_ONLY_NULL,
    )
    created_at: datetime
    _domain: strawberry.Private[ebarimt.EbarimtReceipt]

    @classmethod
    def from_domain(cls, receipt: ebarimt.EbarimtReceipt) -> EbarimtReceipt:
        return cls(
            id=strawberry.ID(str(receipt.id)),
            status=receipt.status,
            receiver_type=receipt.receiver_type,
            lottery=receipt.lottery,
            qr_data=receipt.qr_data,
            created_at=receipt.created_at,
            _domain=receipt,
        )


@strawberry.input
class EbarimtInput:
    receiver_type: EbarimtReceiverType
    receiver: str | None = None


def ebarimt_request(value: EbarimtInput | None) -> EbarimtRequest | None:
    if value is None:
        return None
    return EbarimtRequest(receiver_type=value.receiver_type, receiver=value.receiver)
