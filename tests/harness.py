"""The app under test, in process: Starlette + lifespan + an httpx client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.applications import Starlette

from app.main import create_app
from app.settings import Settings
from app.staff_tokens import StaffTokens
from qpay.simulator import QPaySimulator
from tests.conftest import TEST_JWT_SECRET
from tests.gql import gql

UNSET: Any = object()


@dataclass
class Harness:
    app: Starlette
    client: httpx.AsyncClient
    simulator: QPaySimulator
    token: str

    async def gql(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = UNSET,
    ) -> dict[str, Any]:
        """POST a GraphQL document with the staff token (or `token`, None for
        none); returns the JSON body (asserts HTTP 200)."""
        used = self.token if token is UNSET else token
        return await gql(self.client, query, variables, token=used)


class LateApp:
    """An ASGI app that forwards to one set later (the simulator's callbacks
    reach the app under test in process, though the app is built after it)."""

    def __init__(self) -> None:
        self.app: Starlette | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert self.app is not None
        await self.app(scope, receive, send)


@contextlib.asynccontextmanager
async def running_app(
    settings: Settings,
    *,
    simulator: QPaySimulator | None = None,
    background: bool = False,
) -> AsyncIterator[Harness]:
    """The app in process; the simulator's callbacks are delivered to it in
    process too (PUBLIC_BASE_URL should be http://test)."""
    late = LateApp()
    callback_http = httpx.AsyncClient(transport=httpx.ASGITransport(app=late))
    sim = simulator or QPaySimulator(callback_http=callback_http)
    app = create_app(settings, simulator=sim, background=background)
    late.app = app
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test"
        ) as client:
            yield Harness(
                app=app,
                client=client,
                simulator=sim,
                token=StaffTokens(TEST_JWT_SECRET).issue(subject="test-staff"),
            )
    await sim.aclose()
    await callback_http.aclose()
