"""QPayIntent (one QPay invoice shown to a payer) and its deeplinks."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from domain import intents
from domain.pages import ListFilter, Page
from domain.qpay_messages import Deeplink
from graph.context import Info
from graph.errors import UserError
from graph.pagination import (
    CREATED_FROM_DESCRIPTION,
    CREATED_TO_DESCRIPTION,
    CURSOR_DESCRIPTION,
    STATUS_FILTER_DESCRIPTION,
    PageInfo,
    encode_cursor,
)
from graph.types.enums import (
    QPayEnvironment,
    QPayIntentStatus,
    QPayReviewReason,
    ReviewResolution,
)
from graph.types.payment import Payment
from graph.types.visibility import STAFF_ONLY_NULL, staff_only


@strawberry.type(
    description=(
        "A bank or wallet app that can pay the QPay invoice, as QPay lists it: "
        "on a phone, a button that opens the app with the payment filled in."
    )
)
class QPayDeeplink:
    name: str = strawberry.field(
        description="The app's name to show (e.g. Khan bank), as QPay sends it."
    )
    description: str | None = strawberry.field(
        description="QPay's longer text for the app; null when QPay sent none."
    )
    logo: str | None = strawberry.field(
        description=(
            "URL of the app's logo image, on QPay's servers; null when QPay sent "
            "none (show the name alone)."
        )
    )
    link: str = strawberry.field(
        description=(
            "The deeplink that opens the app (e.g. khanbank://q?qPay_QRcode=...): "
            "use it as the href of a link; it works only on a phone with that "
            "app."
        )
    )

    @classmethod
    def from_domain(cls, link: Deeplink) -> QPayDeeplink:
        return cls(
            name=link.name, description=link.description, logo=link.logo, link=link.link
        )


@strawberry.type(description="How a person closed an intent's review.")
class QPayReview:
    resolution: ReviewResolution = strawberry.field(description="What they decided.")
    note: str = strawberry.field(
        description="Why, in their words (resolveQPayReview's note)."
    )
    actor: str | None = strawberry.field(
        description=(
            "The staff member who resolved it (their token's `sub`); always set "
            "for a resolution made through this API."
        )
    )
    at: datetime = strawberry.field(description="When it was resolved.")

    @classmethod
    def from_domain(cls, review: intents.Review) -> QPayReview:
        return cls(
            resolution=review.resolution,
            note=review.note,
            actor=review.actor,
            at=review.at,
        )


@strawberry.type(
    description=(
        "One QPay invoice made for (part of) a billing invoice: its QR code, "
        "deeplinks and status. Only intents whose QPay invoice exists are ever "
        "shown. Amounts in MNT. `paymentStatus` pushes every change."
    )
)
class QPayIntent:
    def _last_error(self, info: Info) -> str | None:
        staff_only(info, "QPayIntent.lastError")
        return self._domain.last_error

    def _review(self, info: Info) -> QPayReview | None:
        staff_only(info, "QPayIntent.review")
        review = self._domain.review
        return QPayReview.from_domain(review) if review else None

    id: strawberry.ID = strawberry.field(
        description="The intent's id (a UUID): paymentStatus's intentId."
    )
    invoice_id: strawberry.ID = strawberry.field(
        description="The id of the billing invoice it is for."
    )
    environment: QPayEnvironment = strawberry.field(
        description="The QPay it was made at; only LIVE moves real money."
    )
    amount: Decimal = strawberry.field(description="What the QR code asks for, in MNT.")
    paid_amount: Decimal = strawberry.field(
        description=(
            "What the intent holds, in MNT: the counted money QPay took on it "
            "less COMPLETED refunds; 0.00 until paid. Differs from amount "
            "when the payer paid less or more (NEEDS_REVIEW) or after refunds."
        )
    )
    status: QPayIntentStatus = strawberry.field(description="Where it stands.")
    qpay_invoice_id: str = strawberry.field(
        description="QPay's invoice_id for it (QPay's own id, not ours)."
    )
    sender_invoice_no: str = strawberry.field(
        description=(
            "Our unique number for the QPay invoice, as QPay's merchant portal "
            "shows it (MD followed by 30 hex digits)."
        )
    )
    qr_text: str = strawberry.field(
        description=(
            "The QR code's content (QPay's EMVCo text): render it as a QR code "
            "yourself, or offer it to copy. The same code as qrImage."
        )
    )
    qr_image: str = strawberry.field(
        description=(
            "The QR code as a PNG image (QPay's are 300x300 px), bare base64, no "
            "`data:` prefix: show it as `data:image/png;base64,` + qrImage. "
            "Empty only if QPay sent no image (use qrText)."
        )
    )
    short_url: str | None = strawberry.field(
        description=(
            "QPay's short link to a page that pays this invoice (for a payer "
            "on another device); null when QPay sent none."
        )
    )
    deeplinks: list[QPayDeeplink] = strawberry.field(
        description=(
            "The bank and wallet apps that can pay it, in QPay's order; may be empty."
        )
    )
    qpay_payment_id: str | None = strawberry.field(
        description=(
            "QPay's payment_id of the first counted payment on it; null until "
            "QPay's money is recorded."
        )
    )
    review_reason: QPayReviewReason | None = strawberry.field(
        description=(
            "Why the intent went to NEEDS_REVIEW (the first cause): less or more "
            "than asked, money after it closed, a foreign currency, or a payment "
            "row that cannot be recorded. Null when it never needed review; "
            "kept after the review is resolved."
        )
    )
    last_error: str | None = strawberry.field(
        resolver=_last_error,
        description=(
            "The latest problem a person should read (a review's detail, a "
            "failed QPay call); null when there was none." + STAFF_ONLY_NULL
        ),
    )
    review: QPayReview | None = strawberry.field(
        resolver=_review,
        description=(
            "The latest resolution of its review (resolveQPayReview); null "
            "while none." + STAFF_ONLY_NULL
        ),
    )

    async def _payment(self, info: Info) -> Payment | None:
        # This intent's own payment only, for a checkout screen too.
        found = await info.context.loaders.payments.load(self._domain.invoice_id)
        mine = [p for p in found if p.intent_id == self._domain.id]
        return Payment.from_domain(mine[0]) if mine else None

    expires_at: datetime = strawberry.field(
        description=(
            "When an unpaid intent is checked a last time, cancelled at QPay and "
            "becomes EXPIRED (creation + QPAY_INVOICE_TTL_SECONDS, 15 minutes by "
            "default). Stays as it was once the intent is closed."
        )
    )
    created_at: datetime = strawberry.field(description="When the intent was created.")
    updated_at: datetime = strawberry.field(
        description=(
            "When it last changed (each change also raises its version; see "
            "PaymentStatusEvent)."
        )
    )
    _domain: strawberry.Private[intents.QPayIntent]
    payment: Payment | None = strawberry.field(
        resolver=_payment,
        description=(
            "The first payment QPay's money made on this intent (its own, so a "
            "checkout screen may read it too); null until one is recorded."
        ),
    )

    @classmethod
    def from_domain(cls, intent: intents.QPayIntent) -> QPayIntent:
        return cls(
            id=strawberry.ID(str(intent.id)),
            invoice_id=strawberry.ID(str(intent.invoice_id)),
            environment=intent.environment,
            amount=intent.amount,
            paid_amount=intent.paid_amount,
            status=intent.status,
            qpay_invoice_id=intent.qpay_invoice_id or "",
            sender_invoice_no=intent.sender_invoice_no,
            qr_text=intent.qr_text,
            qr_image=intent.qr_image,
            short_url=intent.short_url,
            deeplinks=[QPayDeeplink.from_domain(link) for link in intent.deeplinks],
            qpay_payment_id=intent.qpay_payment_id,
            review_reason=intent.review_reason,
            expires_at=intent.expires_at,
            created_at=intent.created_at,
            updated_at=intent.updated_at,
            _domain=intent,
        )


@strawberry.type(
    description=(
        "The answer of a mutation that acts on one intent (checkQPayPayment, "
        "cancelQPayInvoice, resolveQPayReview)."
    )
)
class QPayIntentPayload:
    """The answer of a mutation that acts on one intent (check, cancel, review)."""

    intent: QPayIntent | None = strawberry.field(
        default=None,
        description="The intent after the operation; null when `errors` is not empty.",
    )
    errors: list[UserError] = strawberry.field(
        default_factory=list,
        description=(
            "Why it was refused; empty on success. The mutation's description "
            "lists the codes."
        ),
    )


@strawberry.input(
    description="Which intents `qpayIntents` lists; every condition given must hold."
)
class QPayIntentFilter:
    status: list[QPayIntentStatus] | None = strawberry.field(
        default=None, description=STATUS_FILTER_DESCRIPTION
    )
    created_from: datetime | None = strawberry.field(
        default=None, description=CREATED_FROM_DESCRIPTION
    )
    created_to: datetime | None = strawberry.field(
        default=None, description=CREATED_TO_DESCRIPTION
    )

    def to_domain(self) -> ListFilter[intents.IntentStatus]:
        return ListFilter(
            statuses=frozenset(self.status or ()),
            created_from=self.created_from,
            created_to=self.created_to,
        )


@strawberry.type(description="One QPay intent of a page, with its position.")
class QPayIntentEdge:
    cursor: str = strawberry.field(description=CURSOR_DESCRIPTION)
    node: QPayIntent = strawberry.field(description="The QPay intent.")


@strawberry.type(description="One page of QPay intents, newest first.")
class QPayIntentConnection:
    edges: list[QPayIntentEdge] = strawberry.field(
        description="The page's intents, newest first; empty past the last one."
    )
    page_info: PageInfo = strawberry.field(
        description="Whether more follow, and the cursor to read them."
    )

    @classmethod
    def from_page(cls, page: Page[intents.QPayIntent]) -> QPayIntentConnection:
        edges = [
            QPayIntentEdge(
                cursor=encode_cursor(intent.created_at, intent.id),
                node=QPayIntent.from_domain(intent),
            )
            for intent in page.items
        ]
        cursors = [edge.cursor for edge in edges]
        return cls(edges=edges, page_info=PageInfo.of(cursors, page.has_next))
