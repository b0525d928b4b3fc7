"""GET /metrics: open in development, absent in production, and behind
METRICS_TOKEN wherever it is set."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from app.metrics import Metrics
from app.metrics_route import metrics_route
from app.settings import Settings, load_settings

pytestmark = pytest.mark.anyio

TOKEN = "t" * 40
PRODUCTION: dict[str, object] = {
    "environment": "production",
    "database_url": "postgresql+asyncpg://u@db.internal/qpay",
    "auth_jwt_secret": "p" * 48,
    "qpay_env": "sandbox",
    "qpay_client_id": "MERCHANT",
    "qpay_client_secret": "merchant-secret",
    "qpay_invoice_code": "INVOICE",
    "public_base_url": "https://pay.mdent.mn",
}


def client(settings: Settings) -> httpx.AsyncClient:
    metrics = Metrics()
    metrics.callbacks.labels("accepted").inc()
    app = Starlette(routes=[metrics_route(settings, metrics)])
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    )


@pytest.fixture
async def development() -> AsyncIterator[httpx.AsyncClient]:
    async with client(load_settings(_env_file=None)) as http:
        yield http


@pytest.fixture(params=["development", "production"])
async def guarded(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    values = PRODUCTION if request.param == "production" else {}
    settings = load_settings(_env_file=None, metrics_token=TOKEN, **values)
    async with client(settings) as http:
        yield http


async def test_serves_metrics_when_in_development_without_a_token(
    development: httpx.AsyncClient,
) -> None:
    response = await development.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert 'qpay_callbacks_total{outcome="accepted"} 1.0' in response.text


async def test_not_served_when_in_production_without_a_token() -> None:
    async with client(load_settings(_env_file=None, **PRODUCTION)) as http:
        response = await http.get(
            "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
        )

    assert response.status_code == 404
    assert "qpay" not in response.text


async def test_serves_metrics_when_the_bearer_token_matches(
    guarded: httpx.AsyncClient,
) -> None:
    response = await guarded.get(
        "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
    )

    assert response.status_code == 200
    assert "qpay_callbacks_total" in response.text


@pytest.mark.parametrize(
    "header",
    [
        None,
        f"Basic {TOKEN}",
        f"Bearer {TOKEN[:-1]}",
        f"Bearer {TOKEN}x",
        "Bearer ",
        b"Bearer \xfc\xff",
    ],
)
async def test_refuses_with_401_when_the_token_is_missing_or_wrong(
    guarded: httpx.AsyncClient, header: str | bytes | None
) -> None:
    value = header.encode() if isinstance(header, str) else header
    headers = [(b"authorization", value)] if value is not None else []

    response = await guarded.get("/metrics", headers=headers)

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "qpay_callbacks_total" not in response.text
