"""Tolerant models of QPay's answers, and the amount format of requests.

Unknown fields are ignored, statuses stay strings (only exact "PAID" counts as
paid, decided by the domain), both payment/check row shapes are read, and
every amount goes through Decimal(str(x)). A malformed answer becomes
QPayUnavailable, never a pydantic error.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from qpay.errors import QPayUnavailable


def parse_amount(value: object) -> Decimal:
    """An amount from a JSON number or string; refuses bool, NaN, inf, negatives."""
    if isinstance(value, bool) or value is None:
        raise ValueError("amount missing or not a number")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"not an amount: {str(value)[:32]!r}") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError("amount must be finite and not negative")
    return amount


def _text(value: object) -> object:
    """Ids arrive as numbers or strings; keep them as strings."""
    return (
        str(value)
        if isinstance(value, int | float) and not isinstance(value, bool)
        else value
    )


Amount = Annotated[Decimal, BeforeValidator(parse_amount)]
Text = Annotated[str, BeforeValidator(_text)]


def amount_json(amount: Decimal) -> int | str:
    """How we send an amount: a JSON integer when whole, else a decimal string."""
    if amount == amount.to_integral_value():
        return int(amount)
    return format(amount.normalize(), "f")


class Tolerant(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class TokenAnswer(Tolerant):
    access_token: str = Field(repr=False)
    refresh_token: str | None = Field(default=None, repr=False)
    # Absolute epoch seconds, not durations (reference/qpay-v2.md §3.1).
    expires_in: float
    refresh_expires_in: float | None = None


class Deeplink(Tolerant):
    name: str = ""
    description: str | None = None
    logo: str | None = None
    link: str


class InvoiceCreatedAnswer(Tolerant):
    invoice_id: Text
    qr_text: str
    qr_image: str = ""
    short_url: str | None = Field(default=None, alias="qPay_shortUrl")
    urls: list[Deeplink] = Field(default_factory=list)


class InvoiceAnswer(Tolerant):
    invoice_id: Text
    invoice_status: str | None = None
    sender_invoice_no: str | None = None
    total_amount: Amount | None = None
    gross_amount: Amount | None = None
    callback_url: str | None = None


class PaymentRowAnswer(Tolerant):
    """One payment/check row, in the documented or the live shape."""

    payment_id: Text
    payment_status: str
    payment_amount: Amount
    payment_currency: str | None = "MNT"
    payment_date: str | None = None
    # Live shape.
    payment_type: str | None = None
    payment_wallet: str | None = None
    trx_fee: Amount | None = None
    # Documented shape (typo kept: QPay spells it so).
    transaction_type: str | None = None
    payemnt_wallet: str | None = None
    payment_fee: Amount | None = None

    @property
    def kind(self) -> str | None:
        return self.payment_type or self.transaction_type


class PaymentCheckPage(Tolerant):
    count: int = 0
    paid_amount: Amount | None = None
    rows: list[PaymentRowAnswer] = Field(default_factory=list)


class PaymentAnswer(Tolerant):
    payment_id: Text
    payment_status: str
    payment_amount: Amount
    payment_currency: str | None = "MNT"
    object_type: str | None = None
    object_id: Text | None = None
    transaction_type: str | None = None
    payment_date: str | None = None


class PaymentListAnswer(Tolerant):
    count: int = 0
    rows: list[dict[str, Any]] = Field(default_factory=list)


class ReceiptAnswer(Tolerant):
    id: Text | None = None
    ebarimt_lottery: str | None = None
    ebarimt_qr_data: str | None = None
    barimt_status: str | None = None
    ebarimt_receiver_type: str | None = None
    amount: Amount | None = None


ModelT = TypeVar("ModelT", bound=Tolerant)


def read(model: type[ModelT], data: object, *, what: str) -> ModelT:
    """Validate QPay's answer; garbage becomes QPayUnavailable (it did answer,
    so the request may well have been processed)."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        fields = ", ".join(
            ".".join(str(p) for p in e["loc"]) or "body" for e in error.errors()
        )
        raise QPayUnavailable(
            f"QPay answered a malformed {what} (fields: {fields[:200]})",
            may_have_reached=True,
        ) from None
