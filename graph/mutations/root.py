"""The Mutation type: one resolver per file, names fixed by the contract."""

from __future__ import annotations

import strawberry

from graph.mutations import cancel_qpay_invoice as cancel
from graph.mutations import check_qpay_payment as check
from graph.mutations import create_invoice as invoice
from graph.mutations import create_qpay_invoice as qpay_invoice
from graph.mutations import refund_payment as refund
from graph.mutations import resolve_qpay_review as review
from graph.mutations import settle_invoice as settle


@strawberry.type(
    description=(
        "Every mutation needs a staff token (Authorization: Bearer <token>; "
        "without a valid one: a GraphQL error with extensions.code "
        "UNAUTHENTICATED and no data). Expected failures come back in the "
        "payload's `errors`; the token's `sub` is recorded as the actor of "
        "what a mutation changes."
    )
)
class Mutation:
    create_invoice = strawberry.mutation(
        resolver=invoice.resolve_create_invoice, description=invoice.DESCRIPTION
    )
    # Named explicitly: Strawberry would camel-case these to createQpayInvoice.
    create_qpay_invoice = strawberry.mutation(
        resolver=qpay_invoice.resolve_create_qpay_invoice,
        name="createQPayInvoice",
        description=qpay_invoice.DESCRIPTION,
    )
    check_qpay_payment = strawberry.mutation(
        resolver=check.resolve_check_qpay_payment,
        name="checkQPayPayment",
        description=check.DESCRIPTION,
    )
    cancel_qpay_invoice = strawberry.mutation(
        resolver=cancel.resolve_cancel_qpay_invoice,
        name="cancelQPayInvoice",
        description=cancel.DESCRIPTION,
    )
    settle_invoice = strawberry.mutation(
        resolver=settle.resolve_settle_invoice, description=settle.DESCRIPTION
    )
    refund_payment = strawberry.mutation(
        resolver=refund.resolve_refund_payment, description=refund.DESCRIPTION
    )
    resolve_qpay_review = strawberry.mutation(
        resolver=review.resolve_resolve_qpay_review,
        name="resolveQPayReview",
        description=review.DESCRIPTION,
    )
