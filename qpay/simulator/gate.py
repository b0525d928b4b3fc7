"""ASGI middleware of the simulator: logs every /v2 request and applies the
injected faults around QPay's routes.

    delay (before)   wait, then let the route run
    fail (before)    answer the failure; the route never runs
    delay (after)    the route runs (state changes), its answer waits
    fail (after)     the route runs (state changes), its answer is replaced

The "after" kinds model a request QPay processed whose answer was lost: a
create that timed out or came back 502 but made the invoice or receipt anyway.

The log keeps method, path, query, JSON body, the auth scheme and the time;
never an Authorization value.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qpay.simulator.state import Fault, SimState, error_body


def _route_path(scope: Scope) -> str:
    """The path below any mount point (/qpay-sim/v2/x -> /v2/x)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :] or "/"
    return path


def fault_response(fault: Fault) -> Response:
    """What an injected failure answers: its JSON or raw text body."""
    if isinstance(fault.body, dict | list):
        return JSONResponse(fault.body, status_code=fault.status)
    if fault.body is not None:
        return PlainTextResponse(str(fault.body), status_code=fault.status)
    if fault.status == 401:
        return JSONResponse(error_body("NO_CREDENDIALS"), status_code=401)
    if fault.status >= 500:
        return JSONResponse(error_body("SYSTEM_BUSY"), status_code=fault.status)
    return JSONResponse(error_body("OBJECT_DATA_ERROR"), status_code=fault.status)


class SimGate:
    """Request log and fault injection in front of the /v2 routes."""

    def __init__(
        self, app: ASGIApp, state: Callable[[], SimState], log_limit: int
    ) -> None:
        self.app = app
        self.state = state
        self.log_limit = log_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = _route_path(scope) if scope["type"] == "http" else ""
        if not path.startswith("/v2/"):
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        body = await _read_body(receive)
        state = self.state()
        self._log(state, method, path, scope, body)
        delay = state.take_fault(method, path, delay=True)
        if delay is not None:
            await asyncio.sleep(delay.delay)
        failure = state.take_fault(method, path, delay=False)
        if failure is not None:
            await fault_response(failure)(scope, receive, send)
            return
        # Taken before the route runs, so `count` means the next requests in
        # the order they arrived, even when they overlap.
        late_delay = state.take_fault(method, path, delay=True, after=True)
        late_failure = state.take_fault(method, path, delay=False, after=True)
        route_receive = _replaying(body, receive)
        if late_delay is None and late_failure is None:
            await self.app(scope, route_receive, send)
        else:
            held = await self._held_answer(scope, route_receive)
            if late_delay is not None:
                await asyncio.sleep(late_delay.delay)
            if late_failure is not None:
                await fault_response(late_failure)(scope, receive, send)
            else:
                for message in held:
                    await send(message)

    async def _held_answer(self, scope: Scope, receive: Receive) -> list[Message]:
        """Run the route to the end (its state changes happen) and keep its
        answer instead of sending it."""
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        await self.app(scope, receive, hold)
        return held

    def _log(
        self, state: SimState, method: str, path: str, scope: Scope, body: bytes
    ) -> None:
        parsed: Any = None
        if body.strip():
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        scheme = ""
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                scheme = value.decode("latin-1").partition(" ")[0].lower()
        state.requests.append(
            {
                "method": method,
                "path": path,
                "query": scope.get("query_string", b"").decode("latin-1"),
                "json": parsed,
                "auth": scheme or None,
                "time": time.time(),
            }
        )
        if len(state.requests) > self.log_limit:
            del state.requests[: len(state.requests) - self.log_limit]


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the route the body already read, then defers to
    the server's (for a disconnect)."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
