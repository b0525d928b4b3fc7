"""EbarimtReceipt, and EbarimtInput: whom a receipt is made out to."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain import ebarimt
from domain.ebarimt import EbarimtRequest
from graph.context import Info
from graph.types.enums import EbarimtReceiverType, EbarimtStatus
from graph.types.visibility import STAFF_ONLY_NULL, staff_only


@strawberry.type(
    description=(
        "An e-Barimt (Mongolia's VAT e-receipt) for one QPay payment, issued "
        "through QPay after the payment is recorded, at most once."
    )
)
class EbarimtReceipt:
    def _receiver(self, info: Info) -> str | None:
        staff_only(info, "EbarimtReceipt.receiver")
        return self._domain.receiver

    def _last_error(self, info: Info) -> str | None:
        staff_only(info, "EbarimtReceipt.lastError")
        return self._domain.last_error

    id: strawberry.ID = strawberry.field(description="The receipt's id (a UUID).")
    status: EbarimtStatus = strawberry.field(
        description="Where it stands; only ISSUED is a receipt to show."
    )
    receiver_type: EbarimtReceiverType = strawberry.field(
        description="Whether it is made out to a citizen or a company."
    )
    receiver: str | None = strawberry.field(
        resolver=_receiver,
        description=(
            "Who the receipt is made out to (a citizen's or a company's "
            "identifier); null when none was given." + STAFF_ONLY_NULL
        ),
    )
    lottery: str | None = strawberry.field(
        description=(
            "The receipt's lottery number, to show the payer; null until ISSUED "
            "(and if QPay gave none)."
        )
    )
    qr_data: str | None = strawberry.field(
        description=(
            "The receipt's QR code content (text, not an image): render it as a "
            "QR code; null until ISSUED (and if QPay gave none)."
        )
    )
    last_error: str | None = strawberry.field(
        resolver=_last_error,
        description=(
            "Why the last try to issue (or return) the receipt failed; null when "
            "none failed." + STAFF_ONLY_NULL
        ),
    )
    created_at: datetime = strawberry.field(
        description="When the receipt was queued (its payment was recorded)."
    )
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


@strawberry.input(
    description=(
        "Ask for an e-Barimt receipt for the QPay payment(s) of an intent: "
        "issued after each is recorded."
    )
)
class EbarimtInput:
    receiver_type: EbarimtReceiverType = strawberry.field(
        description="A citizen's or a company's receipt."
    )
    receiver: str | None = strawberry.field(
        default=None,
        description=(
            "Whom it is made out to: a company's register number (TIN), or a "
            "citizen's identifier; at most 64 characters; null: none."
        ),
    )


def ebarimt_request(value: EbarimtInput | None) -> EbarimtRequest | None:
    if value is None:
        return None
    return EbarimtRequest(receiver_type=value.receiver_type, receiver=value.receiver)
