"""ObservedHTTP: the request id and the HTTP metrics, as pure ASGI middleware.

Each HTTP request and websocket connection gets a request id (the client's
X-Request-ID when it is sane, app/request_context.py, otherwise a new one),
bound for every log line it causes and, over HTTP, returned in the response's
X-Request-ID. An HTTP request is then observed once, when the app is done
with it, in http_request_duration_seconds{method, route, status}: the route
is the matched template (/qpay/callback/{intent_id}), never the raw path, and
a path that matches no route is `unmatched`, so random paths from the open
internet add no series. Websockets pass through untouched (their lifetime is
not a latency); lifespan messages too.
"""

from __future__ import annotations

import time

from starlette.datastructures import MutableHeaders
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import request_context
from app.metrics import Metrics

HEADER = "x-request-id"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"


class ObservedHTTP:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = request_context.accepted_request_id(
            _header(scope, b"x-request-id")
        )
        token = request_context.start_request(request_id)
        try:
            if kind == "http":
                await self._http(scope, receive, send, request_id)
            else:
                await self.app(scope, receive, send)
        finally:
            request_context.reset(token)

    async def _http(
        self, scope: Scope, receive: Receive, send: Send, request_id: str
    ) -> None:
        status = 500  # what the client gets when the app raises before answering
        root_path = scope.get("root_path", "")

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append(HEADER, request_id)
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            method = scope["method"] if scope["method"] in METHODS else "other"
            self._metrics.observe_http(
                method,
                route_template(scope, root_path),
                status,
                time.perf_counter() - started,
            )


def route_template(scope: Scope, root_path: str = "") -> str:
    """The template of the route that handled `scope` (after routing), with
    the paths of the mounts it went through; UNMATCHED when none did.

    Starlette's router writes the matched route into the scope (a mounted
    app's router overwrites it with its own, relative to the mount), and each
    mount extends root_path by what it matched. Our mounts have literal paths,
    so that extension is a template too; a mount with path parameters would
    show as {mount}."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return UNMATCHED
    mounted = str(scope.get("root_path", ""))[len(root_path) :]
    if mounted and _mount_has_parameters(scope, route):
        mounted = "/{mount}"
    if isinstance(route, Mount):
        # The mount itself answered (static files): its path is in root_path.
        return f"{mounted or path}/{{path}}"
    return mounted + path


def _mount_has_parameters(scope: Scope, route: object) -> bool:
    own = getattr(route, "param_convertors", {})
    return any(name not in own for name in scope.get("path_params", {}))


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key == name:
            return bytes(value).decode("latin-1")
    return None
