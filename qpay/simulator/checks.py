"""Request checks of the QPay simulator, answering QPay's error shapes:
invoice create fields and limits (reference §4.1), page offsets (§9),
payment/list dates (§5.3); and checks of its own controls' inputs."""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

from starlette.responses import JSONResponse, Response

from qpay.simulator.state import JsonObject, error_body, validation_error

# Field limits of invoice create (reference §4.1).
REQUIRED_TEXT = (
    "invoice_code",
    "sender_invoice_no",
    "invoice_receiver_code",
    "invoice_description",
    "callback_url",
)
MAX_LENGTHS = {
    "invoice_code": 45,
    "sender_invoice_no": 45,
    "invoice_receiver_code": 45,
    "invoice_description": 255,
    "callback_url": 255,
    "sender_branch_code": 45,
    "note": 1000,
}
LINE_REQUIRED = ("line_description", "line_quantity", "line_unit_price")
LIST_DATE = "%Y-%m-%d %H:%M:%S"
MAX_PAGE_LIMIT = 100
COMPANY_REGISTER = re.compile(r"^\d{7}$")


def answer(data: object, status: int = 200) -> Response:
    return JSONResponse(data, status_code=status)


def decimal_or_none(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        return None
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def page_offset(
    body: JsonObject, *, required: bool, limit_checked: bool = True
) -> tuple[int, int] | Response:
    """(page_number, page_limit), or QPay's nested 400. With `limit_checked`
    False a page_limit above 100 passes: payment/list does not refuse it, it
    fails later (reference §5.3)."""
    offset = body.get("offset")
    if offset is None and not required:
        return 1, MAX_PAGE_LIMIT
    if not isinstance(offset, dict):
        return answer(validation_error("offset", "REQUIRED", "Required!"), 400)
    values = []
    for name in ("page_number", "page_limit"):
        value = offset.get(name)
        if not isinstance(value, int) or isinstance(value, bool):
            return answer(validation_error(name, "NUMBER", "Must be a number!"), 400)
        if value < 1:
            error = validation_error(name, "MIN_NUMBER", "Number min value [1]!")
            return answer(error, 400)
        values.append(value)
    if limit_checked and values[1] > MAX_PAGE_LIMIT:
        error = validation_error("page_limit", "MAX_NUMBER", "Number max value [100]!")
        return answer(error, 400)
    return values[0], values[1]


def utc_offset(hours: float) -> timezone:
    """The fixed zone `hours` east of UTC; ValueError unless within ±24 h."""
    if not math.isfinite(hours) or not -24 < hours < 24:
        raise ValueError("the UTC offset must lie strictly within -24..24 hours")
    return timezone(timedelta(hours=hours))


def list_date(body: JsonObject, name: str, zone: timezone) -> float | Response:
    """A payment/list date ("YYYY-MM-DD HH:mm:ss", read in `zone`) as an
    epoch, or QPay's nested 400."""
    value = body.get(name)
    try:
        moment = datetime.strptime(str(value), LIST_DATE).replace(tzinfo=zone)
    except ValueError:
        return answer(validation_error(name, "DATE", "Invalid date!"), 400)
    return moment.timestamp()


def invoice_problem(
    body: JsonObject, invoice_codes: Collection[str]
) -> Response | Decimal:
    """A 400 for an invalid create body, else the invoice amount."""
    for name in REQUIRED_TEXT:
        value = body.get(name)
        if not isinstance(value, str) or not value.strip():
            return answer(validation_error(name, "REQUIRED", "Required!"), 400)
    for name, limit in MAX_LENGTHS.items():
        value = body.get(name)
        if isinstance(value, str) and len(value) > limit:
            message = f"String max length [{limit}]!"
            return answer(validation_error(name, "MAX_LENGTH", message), 400)
    if not str(body["callback_url"]).startswith(("http://", "https://")):
        return answer(validation_error("callback_url", "URL", "Invalid URL!"), 400)
    lines = body.get("lines")
    total = Decimal(0)
    if lines is not None:
        if not isinstance(lines, list) or not all(
            isinstance(line, dict) for line in lines
        ):
            return answer(validation_error("lines", "ARRAY", "Invalid!"), 400)
        for index, line in enumerate(lines):
            for name in LINE_REQUIRED:
                if line.get(name) in (None, ""):
                    where = f"lines[{index}].{name}"
                    return answer(validation_error(where, "REQUIRED", "Required!"), 400)
            quantity = decimal_or_none(line["line_quantity"])
            price = decimal_or_none(line["line_unit_price"])
            if quantity is None or price is None:
                return answer(error_body("INVALID_AMOUNT"), 400)
            total += quantity * price
    if "amount" not in body and lines:
        amount: Decimal | None = total
    elif "amount" not in body:
        return answer(validation_error("amount", "REQUIRED", "Required!"), 400)
    else:
        amount = decimal_or_none(body["amount"])
    if amount is None or amount <= 0:
        return answer(error_body("INVALID_AMOUNT"), 400)
    if body["invoice_code"] not in invoice_codes:
        return answer(error_body("INVOICE_CODE_INVALID"), 400)
    return amount


# --- controls -------------------------------------------------------------


def payment_amount(
    invoice_amount: Decimal,
    amount: Decimal | str | int | None,
    raw_amount: str | None,
) -> Decimal:
    """What a payment counts for: `amount` (positive, else ValueError), the
    invoice amount when there is none, or the value of an unchecked
    `raw_amount` (0 when it is not a finite number)."""
    if amount is None and raw_amount is not None:
        parsed = decimal_or_none(raw_amount)
        return Decimal(0) if parsed is None else parsed
    try:
        paid = invoice_amount if amount is None else Decimal(str(amount))
    except InvalidOperation:
        raise ValueError(f"not an amount: {amount!r}") from None
    if not paid.is_finite() or paid <= 0:
        raise ValueError("amount must be positive")
    return paid


def control_flag(body: JsonObject, name: str) -> bool:
    """An optional boolean of a control body; TypeError when not a bool."""
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool")
    return value
