"""The Mutation type: one resolver per file, names fixed by the contract."""

from __future__ import annotations

import strawberry

from graph.mutations.cancel_qpay_invoice import resolve_cancel_qpay_invoice
from graph.mutations.check_qpay_payment import resolve_check_qpay_payment
from graph.mutations.create_invoice import resolve_create_invoice
from graph.mutations.create_qpay_invoice import resolve_create_qpay_invoice
from graph.mutations.refund_payment import resolve_refund_payment
from graph.mutations.resolve_qpay_review import resolve_resolve_qpay_review
from graph.mutations.settle_invoice import resolve_settle_invoice


@strawberry.type
class Mutation:
    create_invoice = strawberry.mutation(resolver=resolve_create_invoice)
    # Named explicitly: Strawberry would camel-case these to createQpayInvoice.
    create_qpay_invoice = strawberry.mutation(
        resolver=resolve_create_qpay_invoice, name="createQPayInvoice"
    )
    check_qpay_payment = strawberry.mutation(
        resolver=resolve_check_qpay_payment, name="checkQPayPayment"
    )
    cancel_qpay_invoice = strawberry.mutation(
        resolver=resolve_cancel_qpay_invoice, name="cancelQPayInvoice"
    )
    settle_invoice = strawberry.mutation(resolver=resolve_settle_invoice)
    refund_payment = strawberry.mutation(resolver=resolve_refund_payment)
    resolve_qpay_review = strawberry.mutation(
        resolver=resolve_resolve_qpay_review, name="resolveQPayReview"
    )
