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
from graph.pagination import PageInfo, encode_cursor
from graph.types.enums import (
    QPayEnvironment,
    QPayIntentStatus,
    QPayReviewReason,
    ReviewResolution,
)
from graph.types.payment import Payment
from graph.types.visibility import STAFF_ONLY_NULL, staff_only


@strawberry.type
class QPayDeeplink:
    name: str
    description: str | None
    logo: str | None
    link: str

    @classmethod
    def from_domain(cls, link: Deeplink) -> QPayDeeplink:
        return cls(
            name=link.name, description=link.description, logo=link.logo, link=link.link
        )


@strawberry.type(description="How a person closed an intent's review.")
class QPayReview:
    resolution: ReviewResolution
    note: str
    actor: str | None = strawberry.field(
        description="The staff member who resolved it (their token's `sub`)."
    )
    at: datetime

    @classmethod
    def from_domain(cls, review: intents.Review) -> QPayReview:
        return cls(
            resolution=review.resolution,
            note=review.note,
            actor=review.actor,
            at=review.at,
        )


@strawberry.type
class QPayIntent:
    def _last_error(self, info: Info) -> str | None:
        staff_only(info, "QPayIntent.lastError")
        return self._domain.last_error

    def _review(self, info: Info) -> QPayReview | None:
        staff_only(info, "QPayIntent.review")
        review = self._domain.review
        return QPayReview.from_domain(review) if review else None

    id: strawberry.ID
    invoice_id: strawberry.ID
    environment: QPayEnvironment
    amount: Decimal
    paid_amount: Decimal
    status: QPayIntentStatus
    qpay_invoice_id: str
    sender_invoice_no: str
    qr_text: str
    qr_image: str
    short_url: str | None
    deeplinks: list[QPayDeeplink]
    qpay_payment_id: str | None
    review_reason: QPayReviewReason | None = strawberry.field(
        description=(
            "Why the intent went to NEEDS_REVIEW (the first cause): less or more "
            "than asked, money after it closed, a foreign currency, or a payment "
            "row that cannot be recorded. Null when it never needed review."
        )
    )
    last_error: str | None = strawberry.field(
        resolver=_last_error,
        description=(
            "The latest problem a person should read (a review's detail, a "
            "failed QPay call)." + STAFF_ONLY_NULL
        ),
    )
    review: QPayReview | None = strawberry.field(
        resolver=_review,
        description=(
            "The latest resolution of its review (resolveQPayReview); null "
            "while none." + STAFF_ONLY_NULL
        ),
    )

    @strawberry.field
    async def payment(self, info: Info) -> Payment | None:
        # This intent's own payment only, for a checkout screen too.
        found = await info.context.loaders.payments.load(self._domain.invoice_id)
        mine = [p for p in found if p.intent_id == self._domain.id]
        return Payment.from_domain(mine[0]) if mine else None

    expires_at: datetime
    created_at: datetime
    updated_at: datetime
    _domain: strawberry.Private[intents.QPayIntent]

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


@strawberry.type
class QPayIntentPayload:
    """The answer of a mutation that acts on one intent (check, cancel)."""

    intent: QPayIntent | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class QPayIntentFilter:
    status: list[QPayIntentStatus] | None = strawberry.field(
        default=None, description="Any of these statuses (null or empty: any)."
    )
    created_from: datetime | None = strawberry.field(
        default=None, description="Created at or after this time."
    )
    created_to: datetime | None = strawberry.field(
        default=None, description="Created before this time."
    )

    def to_domain(self) -> ListFilter[intents.IntentStatus]:
        return ListFilter(
            statuses=frozenset(self.status or ()),
            created_from=self.created_from,
            created_to=self.created_to,
        )


@strawberry.type
class QPayIntentEdge:
    cursor: str
    node: QPayIntent


@strawberry.type
class QPayIntentConnection:
    edges: list[QPayIntentEdge]
    page_info: PageInfo

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
