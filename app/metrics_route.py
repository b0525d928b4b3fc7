"""GET /metrics: Prometheus text, behind METRICS_TOKEN.

With METRICS_TOKEN set, the scraper must send `Authorization: Bearer <token>`
(compared in constant time; 401 otherwise), in every environment. Without it
the route is open in development and absent (404) in production: the public
port never shows QPay call rates and settlement counts to strangers.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from app.metrics import Metrics
from app.settings import Settings

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


def metrics_route(settings: Settings, metrics: Metrics) -> Route:
    """The /metrics route for `settings` (see the module docstring)."""
    secret = settings.metrics_token
    expected = secret.get_secret_value().encode() if secret is not None else None
    served = expected is not None or not settings.is_production

    async def endpoint(request: Request) -> Response:
        if not served:
            return PlainTextResponse("Not Found", status_code=404)
        if expected is not None and not _bearer_matches(request, expected):
            return PlainTextResponse(
                "metrics need Authorization: Bearer <METRICS_TOKEN>",
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        return Response(metrics.render(), media_type=PROMETHEUS_TEXT)

    return Route("/metrics", endpoint)


def _bearer_matches(request: Request, expected: bytes) -> bool:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    given = token.strip().encode("latin-1", errors="replace")
    # compare_digest on bytes: its time does not depend on where they differ.
    return scheme.lower() == "bearer" and hmac.compare_digest(given, expected)
