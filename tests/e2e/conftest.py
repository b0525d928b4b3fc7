"""e2e fixtures: the QPay simulator and the service on real loopback ports,
PostgreSQL, and websocket clients speaking graphql-transport-ws."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app.main import create_app
from app.staff_tokens import StaffTokens
from qpay.simulator import QPaySimulator
from tests.conftest import TEST_JWT_SECRET, SettingsFactory
from tests.e2e.servers import free_port, serve_in_process
from tests.gql import gql

pytestmark = pytest.mark.e2e


@dataclass
class Live:
    """The service and the simulator, each on its own port."""

    url: str
    simulator: QPaySimulator
    simulator_url: str
    database_url: str
    client: httpx.AsyncClient
    token: str
    app: Any

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/graphql"

    async def gql(
        self, query: str, variables: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return await gql(
            self.client, query, variables, token=self.token, url=f"{self.url}/graphql"
        )


@contextlib.asynccontextmanager
async def live_service(
    make_settings: SettingsFactory, database_url: str, **overrides: Any
) -> AsyncIterator[Live]:
    simulator = QPaySimulator()
    async with serve_in_process(simulator.app) as simulator_url:
        port = free_port()
        settings = make_settings(
            database_url=database_url,
            events_url=overrides.pop("events_url", "postgres"),
            qpay_env="sandbox",
            qpay_base_url=f"{simulator_url}/v2",
            qpay_client_id="TEST_MERCHANT",
            qpay_client_secret="123456",
            qpay_invoice_code="TEST_INVOICE",
            public_base_url=f"http://127.0.0.1:{port}",
            **overrides,
        )
        app = create_app(settings)
        async with (
            serve_in_process(app, port) as url,
            httpx.AsyncClient(timeout=30) as client,
        ):
            yield Live(
                url=url,
                simulator=simulator,
                simulator_url=simulator_url,
                database_url=database_url,
                client=client,
                token=StaffTokens(TEST_JWT_SECRET).issue(subject="e2e"),
                app=app,
            )
    await simulator.aclose()


@pytest.fixture
async def live(clean_db: str, make_settings: SettingsFactory) -> AsyncIterator[Live]:
    async with live_service(
        make_settings, clean_db, qpay_poll_interval_seconds=1
    ) as running:
        yield running
