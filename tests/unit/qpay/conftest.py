"""respx fixtures for the QPay client: a router behind httpx.MockTransport, a
fake clock, and a client that never really sleeps between retries."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import respx

from qpay.client import QPayClient
from tests.fakes.clock import FixedClock

BASE_URL = "https://qpay.test/v2"
CLIENT_ID = "CLINIC_MERCHANT"
CLIENT_SECRET = "s3cret-Value-never-shown"
START = 1_769_670_125.0  # the sandbox sample's iat (reference §3.1)
DAY = 86_400.0
BASIC = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()


def token_body(
    access: str,
    refresh: str,
    expires_at: float,
    refresh_expires_at: float | None = None,
) -> dict[str, Any]:
    """QPay's token answer: both expiries are absolute epoch seconds."""
    return {
        "token_type": "bearer",
        "refresh_expires_in": int(
            expires_at if refresh_expires_at is None else refresh_expires_at
        ),
        "refresh_token": refresh,
        "access_token": access,
        "expires_in": int(expires_at),
        "scope": "get_token",
        "not-before-policy": "0",
        "session_state": "sandbox",
    }


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content)


@dataclass
class Rig:
    """A QPayClient wired to a respx router; logins issue access-1, access-2..."""

    router: respx.Router
    clock: FixedClock
    client: QPayClient
    observed: list[tuple[str, str]] = field(default_factory=list)
    logins: list[httpx.Request] = field(default_factory=list)

    @property
    def token_route(self) -> respx.Route:
        return self.router.routes["token"]

    def bearer(self, request: httpx.Request) -> str:
        return request.headers["Authorization"]

    def login(self, request: httpx.Request) -> httpx.Response:
        """QPay's /auth/token: access-N and refresh-N, valid for a day."""
        self.logins.append(request)
        number = len(self.logins)
        body = token_body(f"access-{number}", f"refresh-{number}", self.clock() + DAY)
        return httpx.Response(200, json=body)


def make_rig(
    router: respx.Router, http: httpx.AsyncClient, clock: FixedClock, **options: Any
) -> Rig:
    observed: list[tuple[str, str]] = []
    client = QPayClient(
        http,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        now=clock,
        backoff_base=0.0,
        observer=lambda endpoint, outcome, _: observed.append((endpoint, outcome)),
        **options,
    )
    rig = Rig(router=router, clock=clock, client=client, observed=observed)
    router.post("/auth/token", name="token").mock(side_effect=rig.login)
    return rig


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    router = respx.Router(base_url=BASE_URL, assert_all_mocked=True)
    transport = httpx.MockTransport(router.async_handler)
    async with httpx.AsyncClient(base_url=BASE_URL, transport=transport) as http:
        yield make_rig(router, http, FixedClock(START))
