"""Who sees what: staff, or a checkout screen holding one client secret.

The rules (design.md §3, "Auth"). Queries and mutations never run without
a staff viewer (graph/require_staff.py), so a context without one is a checkout screen:
a paymentStatus subscription authorized by its intent's client secret. Such a
viewer reaches these types only through PaymentStatusEvent: its own intent
(`intent`, and from it that intent's payment and receipt) and the invoice. It
may read every field except these (checked field by field in
tests/security/test_checkout_view.py):

| field                    | checkout screen gets         | why                        |
|--------------------------|------------------------------|----------------------------|
| Invoice.description      | null + FORBIDDEN error       | patient's name and phone   |
| Invoice.payments         | [] (no error: see below)     | other payers' payments     |
| Invoice.qpayIntents      | [] (no error: see below)     | other intents' payable QRs |
| Invoice.events           | [] (no error: see below)     | staff names, others' money |
| QPayIntent.lastError     | null + FORBIDDEN error       | staff diagnostics          |
| QPayIntent.review        | null + FORBIDDEN error       | staff names and notes      |
| Payment.refunds          | [] (no error: see below)     | staff names and reasons    |
| Payment.refundableAmount | null + FORBIDDEN error       | staff bookkeeping          |
| EbarimtReceipt.receiver  | null + FORBIDDEN error       | register number or TIN     |
| EbarimtReceipt.lastError | null + FORBIDDEN error       | staff diagnostics          |

Allowed: Invoice id, number, total, paidAmount, balance, status, createdAt,
updatedAt; every QPayIntent field but lastError and review (status,
amounts, QR text and image, shortUrl, deeplinks, QPay ids, review reason,
times) and its `payment` (the intent's own; the page shows its receipt);
every Payment field but refunds and refundableAmount; EbarimtReceipt id, status,
receiverType, lottery, qrData and createdAt (the page shows the lottery
number and the receipt QR).

A refused nullable field raises PublicError FORBIDDEN: the field is null, the
error names it (path included), and the rest of the event still arrives. The
four lists are non-null all the way up to `paymentStatus`, where an error would
null the whole event, so they are quietly empty instead (said in their
descriptions).
"""

from __future__ import annotations

from domain.errors import ErrorCode
from graph.context import Info
from graph.errors import PublicError

STAFF_ONLY_EMPTY = (
    " Staff only: always empty for a checkout screen (subscribed with a client "
    "secret, no staff token)."
)
STAFF_ONLY_NULL = (
    " Staff only: a checkout screen (subscribed with a client secret, no staff "
    "token) gets null and a FORBIDDEN error."
)


def is_checkout(info: Info) -> bool:
    """True for a checkout screen: no staff viewer (see the module docstring)."""
    return info.context.viewer is None


def staff_only(info: Info, field: str) -> None:
    """Refuse a nullable field to a checkout screen (null plus a coded error)."""
    if is_checkout(info):
        raise PublicError(
            f"{field} is for staff only; a client secret cannot read it",
            ErrorCode.FORBIDDEN.value,
        )
