"""The GraphQL endpoint: HTTP and graphql-transport-ws on /graphql."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry import Schema
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from app.auth import StaffTokens
from app.ratelimit import SlidingWindowLimiter
from graph.context import Context, Services

MAX_OPERATIONS_PER_CONNECTION = 10
CONNECTION_INIT_TIMEOUT = timedelta(seconds=10)
GOING_AWAY = 1001


class QPayGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI view with our context, auth and socket bookkeeping.

    Staff tokens come from the Authorization header (HTTP) or the
    connection_init payload {"authorization": "Bearer ..."} (websocket; a
    present but bad token closes the socket with 4403). A socket without a
    staff token may still subscribe with an intent's client secret.
    """

    def __init__(
        self,
        schema: Schema,
        *,
        services: Services,
        tokens: StaffTokens,
        production: bool,
        allowed_origins: list[str],
        login_failures: SlidingWindowLimiter | None = None,
    ) -> None:
        super().__init__(
            schema,
            graphql_ide=None if production else "graphiql",
            allow_queries_via_get=False,
            subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
            connection_init_wait_timeout=CONNECTION_INIT_TIMEOUT,
            max_subscriptions_per_connection=MAX_OPERATIONS_PER_CONNECTION,
            allowed_origins=allowed_origins,
        )
        self._services = services
        self._tokens = tokens
        self._sockets: set[WebSocket] = set()
        self._login_failures = login_failures

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            limiter = self._login_failures
            if limiter is not None and limiter.blocked(_address(scope)):
                # Guessing stops here; a valid token (from a colleague behind
                # the same address) still gets through.
                headers = dict(scope.get("headers") or [])
                header = headers.get(b"authorization", b"").decode("latin-1")
                if self._tokens.verify_header(header) is None:
                    response = PlainTextResponse(
                        "too many failed logins", status_code=429
                    )
                    await response(scope, receive, send)
                    return
            await super().__call__(scope, receive, send)
            return
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._sockets = {ws for ws in self._sockets if ws.scope is not scope}

    async def close_sockets(self, code: int = GOING_AWAY) -> None:
        """Shutdown: tell every client we are going away (they reconnect)."""
        for socket in list(self._sockets):
            with contextlib.suppress(Exception):
                await socket.close(code=code, reason="server shutting down")

    def parse_json(self, data: str | bytes) -> object:
        """Only a JSON object (or a batch list, refused later) is a request."""
        parsed = super().parse_json(data)
        if not isinstance(parsed, dict | list):
            raise HTTPException(400, "the request body must be a JSON object")
        return parsed

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        if isinstance(request, WebSocket):
            self._sockets.add(request)
            return Context(
                services=self._services,
                transport="websocket",
                client_address=_address(request.scope),
            )
        header = request.headers.get("authorization")
        viewer = self._tokens.verify_header(header)
        if header and viewer is None and self._login_failures is not None:
            self._login_failures.hit(_address(request.scope))
        return Context(services=self._services, viewer=viewer)

    async def on_ws_connect(self, context: Context) -> dict[str, Any] | None:
        params = context.connection_params
        if params is None:
            return None
        if not isinstance(params, dict):
            raise ConnectionRejectionError(
                {"reason": "invalid connection_init payload"}
            )
        header = params.get("authorization") or params.get("Authorization")
        if header is None:
            return None
        viewer = self._tokens.verify_header(header) if isinstance(header, str) else None
        if viewer is None:
            if self._login_failures is not None:
                self._login_failures.hit(context.client_address or "unknown")
            raise ConnectionRejectionError({"reason": "invalid staff token"})
        context.viewer = viewer
        return None


def _address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"
