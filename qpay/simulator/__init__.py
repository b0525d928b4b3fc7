"""QPaySimulator: a faithful, stateful fake of the QPay merchant API v2.

`.app` is a Starlette app serving, under /v2, the same paths, shapes, status
codes and error bodies as QPay (reference/qpay-v2.md; api.py), and
control endpoints under /_sim, each also a Python method:

    POST /_sim/pay            {invoice_id, amount?, payment_type?, force?,
                               currency?, payment_id?, raw_amount?}
                              -> {payment_id}
    POST /_sim/refund         {payment_id}: refunded in QPay's portal (404 unknown)
    POST /_sim/fail           {path, count?, status?, body?, method?, after?}
    POST /_sim/delay          {path, seconds, count?, method?, after?}
    POST /_sim/expire-tokens
    POST /_sim/callbacks      {drop?, duplicate?}
    GET  /_sim/callbacks      the callbacks sent: [{url, sent_at, status}]
    POST /_sim/row-shape      {shape: "documented" | "live"}
    POST /_sim/list-timezone  {utc_offset_hours}: how payment/list reads dates
    GET  /_sim/requests       the request log: [{method, path, query, json, auth, time}]
    POST /_sim/reset

Paying calls the invoice's callback_url the way QPay does: a GET with
`qpay_payment_id=<id>` appended to its query string, in the background
(tracked tasks; failures are logged, never raised). Paths given to fail/delay
may omit the /v2 prefix and may use shell wildcards (`/invoice/*`). With
`after`, the fault strikes once QPay's route has run: the request was
processed (the invoice or receipt exists) and only its answer is late or lost.
`registered_receipts(payment_id)` lists the e-Barimt receipts a payment has.

The development run mounts it in process (QPAY_ENV=mock); `qpay-graph
qpay-sim` serves it alone; tests use it through ASGITransport or a real port.

    service.py    QPaySimulator: the app, the control endpoints, callbacks
    api.py        QPayApi: the /v2 routes
    state.py      SimState: invoices, payments, receipts, tokens, faults
    payloads.py   answer bodies: invoice, payment rows (both shapes), QR
    checks.py     request validation with QPay's own error codes
    gate.py       SimGate: injected failures and delays
"""

from qpay.simulator.service import QPaySimulator

__all__ = ["QPaySimulator"]
