"""Tolerant models of QPay's answers, and how request bodies are encoded.

Answers: unknown fields are ignored, statuses stay plain strings (only exact
"PAID" counts as paid, and the domain decides that), both payment/check row
shapes are read, and every amount becomes a Decimal whether QPay sent a JSON
number or a string. Each parsed answer keeps QPay's JSON dict in
`.raw` for audit. A malformed answer becomes QPayUnavailable (QPay answered,
so the request may well have been processed), never a pydantic error; the
rows of payment/check are read one by one (`split_rows`), so a row that does
not parse is reported as a RowProblem and the others still count.
Numbers arrive as Decimal (qpay/exchange.py parses JSON with
parse_float=Decimal), so no amount ever passes through a float.

Requests: `encode_body` writes amounts as JSON integers when whole and as
decimal strings otherwise (QPay accepts both, reference/qpay-v2.md §11), and
refuses floats so no amount is ever rounded on the way out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
)

from qpay.errors import QPayUnavailable

# --- amounts ---------------------------------------------------------------


def parse_amount(value: object) -> Decimal:
    """An amount from a JSON number or string; refuses bool, NaN, inf and < 0."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError("amount is not a number or a numeric string")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"not an amount: {str(value)[:32]!r}") from None
    if not amount.is_finite():
        raise ValueError("amount must be finite")
    if amount < 0:
        raise ValueError("amount must not be negative")
    return amount


def amount_json(amount: Decimal) -> int | str:
    """How an amount is sent: 15000.00 -> 15000, 15000.50 -> "15000.50"."""
    if not isinstance(amount, Decimal):
        raise TypeError(f"amounts are Decimal, not {type(amount).__name__}")
    if not amount.is_finite() or amount < 0:
        raise ValueError("amount must be finite and not negative")
    if amount == amount.to_integral_value():
        return int(amount)
    return format(amount, "f")


def _jsonable(value: object) -> object:
    if isinstance(value, Decimal):
        return amount_json(value)
    if isinstance(value, float):
        raise TypeError("floats are not sent to QPay; use Decimal")
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [_jsonable(v) for v in value]
    return value


def encode_body(body: Mapping[str, object]) -> bytes:
    """The JSON bytes of a request body, Decimals encoded by `amount_json`."""
    return json.dumps(
        _jsonable(body), ensure_ascii=False, separators=(",", ":")
    ).encode()


def _as_text(value: object) -> object:
    """Ids arrive as numbers or strings; keep them as strings."""
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return str(value)
    return value


Amount = Annotated[Decimal, BeforeValidator(parse_amount)]
Text = Annotated[str, BeforeValidator(_as_text)]
JsonDict = dict[str, Any]


# --- answers ---------------------------------------------------------------


class Answer(BaseModel):
    """A parsed QPay answer; `raw` is the JSON QPay sent."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)
    _raw: JsonDict = PrivateAttr(default_factory=dict)

    @property
    def raw(self) -> JsonDict:
        return self._raw


class TokenAnswer(Answer):
    access_token: str = Field(repr=False)
    refresh_token: str | None = Field(default=None, repr=False)
    token_type: str | None = None
    # Absolute Unix epoch seconds, not durations (reference/qpay-v2.md §3.1).
    expires_in: float
    refresh_expires_in: float | None = None


class DeeplinkAnswer(Answer):
    name: str = ""
    description: str | None = None
    logo: str | None = None
    link: str


class InvoiceCreatedAnswer(Answer):
    invoice_id: Text = Field(min_length=1)
    qr_text: str
    qr_image: str = Field(default="", repr=False)
    short_url: str | None = Field(default=None, alias="qPay_shortUrl")
    urls: list[DeeplinkAnswer] = Field(default_factory=list)


class InvoiceAnswer(Answer):
    invoice_id: Text = Field(min_length=1)
    invoice_status: str
    sender_invoice_no: str | None = None
    invoice_description: str | None = None
    total_amount: Amount | None = None
    gross_amount: Amount | None = None
    tax_amount: Amount | None = None
    callback_url: str | None = None


class CheckRowAnswer(Answer):
    """One payment/check row, documented or live shape (reference §5.1)."""

    payment_id: Text = Field(min_length=1)
    payment_status: str
    payment_amount: Amount
    payment_currency: str | None = None
    payment_date: str | None = None
    # Live shape.
    payment_type: str | None = None
    payment_wallet: str | None = None
    trx_fee: Amount | None = None
    card_transactions: list[JsonDict] = Field(default_factory=list)
    p2p_transactions: list[JsonDict] = Field(default_factory=list)
    # Documented shape; QPay spells the wallet key "payemnt_wallet".
    transaction_type: str | None = None
    payemnt_wallet: str | None = None
    payment_fee: Amount | None = None

    @property
    def kind(self) -> str | None:
        """P2P or CARD, whichever shape the row came in."""
        return self.payment_type or self.transaction_type

    @property
    def wallet(self) -> str | None:
        return self.payment_wallet or self.payemnt_wallet

    @property
    def fee(self) -> Decimal | None:
        return self.trx_fee if self.trx_fee is not None else self.payment_fee


class CheckPageAnswer(Answer):
    count: int = Field(ge=0)
    paid_amount: Amount | None = None
    # Read one by one with `split_rows`: one bad row must not hide the others.
    rows: list[Any] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RowProblem:
    """A payment/check row we could not read; what QPay said of it, and why."""

    payment_id: str | None
    status: str | None
    reason: str


def split_rows(
    rows: Sequence[object], model: type[RowT]
) -> tuple[list[RowT], list[RowProblem]]:
    """The rows that parse as `model`, and a RowProblem for each that does not."""
    parsed: list[RowT] = []
    problems: list[RowProblem] = []
    for data in rows:
        try:
            parsed.append(parse_answer(model, data, what="payment row"))
        except QPayUnavailable as error:
            problems.append(_problem(data, error.message))
    return parsed, problems


def _problem(data: object, reason: str) -> RowProblem:
    if not isinstance(data, dict):
        return RowProblem(None, None, reason)
    payment_id = _as_text(data.get("payment_id"))
    status = data.get("payment_status")
    return RowProblem(
        payment_id[:64] if isinstance(payment_id, str) else None,
        status[:32] if isinstance(status, str) else None,
        reason,
    )


class PaymentAnswer(Answer):
    payment_id: Text = Field(min_length=1)
    payment_status: str
    payment_amount: Amount
    payment_fee: Amount | None = None
    payment_currency: str | None = None
    payment_date: str | None = None
    payment_wallet: str | None = None
    transaction_type: str | None = None
    object_type: str | None = None
    object_id: Text | None = None
    card_transactions: list[JsonDict] = Field(default_factory=list)
    p2p_transactions: list[JsonDict] = Field(default_factory=list)


class ListRowAnswer(Answer):
    payment_id: Text = Field(min_length=1)
    payment_status: str
    payment_amount: Amount
    payment_date: str | None = None
    payment_currency: str | None = None
    paid_by: str | None = None
    object_type: str | None = None
    object_id: Text | None = None


class PaymentListAnswer(Answer):
    count: int = Field(ge=0)
    # Read one by one with split_rows(rows, ListRowAnswer), as in payment/check.
    rows: list[Any] = Field(default_factory=list)


class ReceiptAnswer(Answer):
    """An e-Barimt receipt; the sandbox has answered `{}` to a create, so
    every field is optional (reference §6)."""

    id: Text | None = None
    g_payment_id: Text | None = None
    ebarimt_receiver_type: str | None = None
    ebarimt_receiver: str | None = None
    ebarimt_lottery: str | None = None
    ebarimt_qr_data: str | None = None
    ebarimt_receipt_id: Text | None = None
    barimt_status: str | None = None
    amount: Amount | None = None
    vat_amount: Amount | None = None
    city_tax_amount: Amount | None = None


AnswerT = TypeVar("AnswerT", bound=Answer)
RowT = TypeVar("RowT", CheckRowAnswer, ListRowAnswer)


def parse_answer(model: type[AnswerT], data: object, *, what: str) -> AnswerT:
    """Validate QPay's answer; garbage becomes QPayUnavailable."""
    if not isinstance(data, dict):
        raise QPayUnavailable(
            f"QPay answered a malformed {what} (not a JSON object)",
            may_have_reached=True,
        )
    problems = ""
    try:
        answer = model.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
            for e in error.errors(include_input=False, include_url=False)
        )
    if problems:
        # Raised outside the except block: the pydantic error (which quotes
        # the input, maybe a token) is not even kept as __context__.
        raise QPayUnavailable(
            f"QPay answered a malformed {what} ({problems[:300]})",
            may_have_reached=True,
        )
    _keep_raw(answer, data)
    return answer


def _keep_raw(answer: Answer, data: JsonDict) -> None:
    answer._raw = data
    for name in type(answer).model_fields:
        value = getattr(answer, name)
        source = data.get(name)
        if isinstance(value, Answer) and isinstance(source, dict):
            _keep_raw(value, source)
        elif isinstance(value, list) and isinstance(source, list):
            for item, item_source in zip(value, source, strict=False):
                if isinstance(item, Answer) and isinstance(item_source, dict):
                    _keep_raw(item, item_source)
