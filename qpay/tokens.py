"""QPay bearer tokens: login, refresh, renewal and re-login, one at a time.

`expires_in` and `refresh_expires_in` are absolute Unix epoch seconds, and the
refresh token expires with the access token (reference/qpay-v2.md §3). So a
token is renewed RENEW_BEFORE_SECONDS before expiry, with /auth/refresh first
and /auth/token when that fails; after a 401 the client logs in with
/auth/token. All of it runs under one asyncio.Lock (single flight): twenty
callers holding an expired token cause exactly one login.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Callable

import httpx

from qpay.errors import QPayAuthError, QPayError, QPayUnavailable, parse_error_body
from qpay.exchange import Failure, json_or_none, send
from qpay.schemas import TokenAnswer, parse_answer

logger = logging.getLogger(__name__)

RENEW_BEFORE_SECONDS = 300.0
# A token this close to expiry is not used even when its renewal failed.
MIN_USABLE_SECONDS = 30.0
# Epoch seconds are > 1e9 since 2001; anything smaller is read as a duration
# (some third-party docs claim `expires_in: 600`; reference §3.1).
EPOCH_FLOOR = 1_000_000_000

Observe = Callable[[str, str, float], None]


class Token:
    """An access token, its refresh token and their epoch expiries."""

    __slots__ = ("access", "expires_at", "refresh", "refresh_expires_at")

    def __init__(
        self,
        access: str,
        refresh: str | None,
        expires_at: float,
        refresh_expires_at: float,
    ) -> None:
        self.access = access
        self.refresh = refresh
        self.expires_at = expires_at
        self.refresh_expires_at = refresh_expires_at

    def __repr__(self) -> str:
        return f"Token(expires_at={self.expires_at!r})"

    def fresh(self, now: float) -> bool:
        return self.expires_at - now > RENEW_BEFORE_SECONDS

    def usable(self, now: float) -> bool:
        return self.expires_at - now > MIN_USABLE_SECONDS

    def refreshable(self, now: float) -> bool:
        return self.refresh is not None and self.refresh_expires_at > now


def _expiry(value: float, now: float) -> float:
    return value if value >= EPOCH_FLOOR else now + value


class TokenKeeper:
    """Holds the current token; logs in, refreshes and re-logs in (single flight)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        client_id: str,
        client_secret: str,
        now: Callable[[], float],
        observe: Observe,
    ) -> None:
        self._http = http
        self._client_id = client_id
        self._client_secret = client_secret
        self._now = now
        self._observe = observe
        self._token: Token | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"TokenKeeper(client_id={self._client_id!r}, token={self._token!r})"

    async def current(self) -> Token:
        """A token fit for a call; renews it when due. Raises QPayAuthError or
        QPayUnavailable."""
        token = self._token
        if token is not None and token.fresh(self._now()):
            return token
        async with self._lock:
            token = self._token
            if token is not None and token.fresh(self._now()):
                return token  # another caller renewed it while we waited
            try:
                self._token = await self._renew(token)
            except QPayUnavailable:
                if token is not None and token.usable(self._now()):
                    logger.warning("QPay token renewal failed; using current token")
                    return token
                raise
            return self._token

    async def relogin(self, rejected: Token) -> None:
        """Log in again after `rejected` got a 401, unless another caller
        already replaced it."""
        async with self._lock:
            if self._token is not rejected:
                return
            self._token = None
            self._token = await self._issue("/auth/token", refresh=None)

    async def _renew(self, old: Token | None) -> Token:
        if old is not None and old.refresh is not None and old.refreshable(self._now()):
            try:
                return await self._issue("/auth/refresh", refresh=old.refresh)
            except QPayError as error:
                logger.info("QPay token refresh failed (%s); logging in", error.code)
        return await self._issue("/auth/token", refresh=None)

    async def _issue(self, path: str, *, refresh: str | None) -> Token:
        if refresh is None:
            endpoint = "auth_token"
            pair = f"{self._client_id}:{self._client_secret}".encode()
            authorization = "Basic " + base64.b64encode(pair).decode("ascii")
        else:
            endpoint = "auth_refresh"
            authorization = f"Bearer {refresh}"
        started = time.perf_counter()
        result = await send(self._http, "POST", path, authorization)
        outcome, token = self._read(result, endpoint)
        self._observe(endpoint, outcome, time.perf_counter() - started)
        if isinstance(token, QPayError):
            raise token
        logger.info("QPay %s ok; token expires at %s", endpoint, int(token.expires_at))
        return token

    def _read(
        self, result: httpx.Response | Failure, endpoint: str
    ) -> tuple[str, Token | QPayError]:
        """(observer outcome, token or error) of a token answer."""
        if isinstance(result, Failure):
            return result.outcome, result.error
        status = result.status_code
        if status >= 400:
            # Only QPay's code is kept: a token endpoint's body is never quoted.
            code = parse_error_body(result.content).code
            what = f"QPay {endpoint} answered {status} ({code or 'no error code'})"
            if status >= 500:
                unavailable = QPayUnavailable(
                    what, may_have_reached=True, code=code, status=status
                )
                return "http_5xx", unavailable
            refused = QPayAuthError(what, code=code, status=status)
            return ("auth_401" if status == 401 else "http_4xx"), refused
        # Never quote a token answer in an error: it may hold a token.
        data = json_or_none(result)
        if data is None:
            message = f"QPay {endpoint} answered non-JSON"
            return "malformed", QPayUnavailable(message, may_have_reached=True)
        try:
            answer = parse_answer(TokenAnswer, data, what="token")
        except QPayUnavailable as malformed:
            return "malformed", malformed
        now = self._now()
        expires_at = _expiry(answer.expires_in, now)
        refresh_at = (
            expires_at
            if answer.refresh_expires_in is None
            else _expiry(answer.refresh_expires_in, now)
        )
        token = Token(answer.access_token, answer.refresh_token, expires_at, refresh_at)
        return "ok", token
