"""The only code that speaks QPay (merchant API v2).

    qpay.client      QPayClient, make_http_client: the HTTP client
    qpay.errors      the error hierarchy (nothing outside sees httpx errors)
    qpay.schemas     tolerant answer models, amount encoding
    qpay.gateway     QPayGateway: the domain's PaymentGateway port
    qpay.simulator   QPaySimulator: a stateful QPay fake for dev, tests, benches

Only the client side is re-exported here, so importing it stays light (the
gateway pulls in domain/, the simulator Starlette and segno).
"""

from qpay.client import PaymentCheckResult, QPayClient, make_http_client
from qpay.errors import (
    QPayAuthError,
    QPayError,
    QPayNotFound,
    QPayRejected,
    QPayUnavailable,
)

__all__ = [
    "PaymentCheckResult",
    "QPayAuthError",
    "QPayClient",
    "QPayError",
    "QPayNotFound",
    "QPayRejected",
    "QPayUnavailable",
    "make_http_client",
]
