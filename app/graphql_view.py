"""The GraphQL endpoint: HTTP and graphql-transport-ws on /graphql.

Anyone can reach it without a staff token (a checkout screen subscribes with
an intent's client secret), so what an anonymous client can make it do is
bounded before any GraphQL work:

    HTTP        an operation without a valid staff token is answered
                UNAUTHENTICATED before its body is read or parsed (over HTTP
                only queries and mutations run, and they all need staff); an
                address that keeps failing gets 429; a staff body is read up
                to MAX_BODY_BYTES (413 past it); JSON nested too deep is 400
    websocket   at most `max_sockets_per_address` open sockets per client
                address; a socket with no operation for IDLE_SOCKET_SECONDS
                is closed (4408); a staff socket closes when its token expires
                (4403); bad staff tokens from an address that keeps failing
                close with 4429; frames are bounded by the server
                (app/server.py), operations per socket by Strawberry
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, overload
from urllib.parse import parse_qs
from uuid import UUID

from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry import Schema
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.schema.exceptions import CannotGetOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    SubscribeMessage,
)
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET

from app.graphql_http import (
    APPLICATION_JSON,
    GRAPHQL_RESPONSE_JSON,
    content_type,
    graphql_error_response,
    http_error_response,
    is_request_error,
    preferred_media_type,
)
from app.ratelimit import SlidingWindowLimiter
from app.staff_tokens import StaffTokens
from app.trusted_documents import DocumentRefused, TrustedDocuments
from domain.ports import Wakeup
from graph.context import Context, EventStream, Services

logger = logging.getLogger(__name__)

MAX_OPERATIONS_PER_CONNECTION = 10
CONNECTION_INIT_TIMEOUT = timedelta(seconds=10)
GOING_AWAY = 1001
# A staff document with its variables is a few kilobytes.
MAX_BODY_BYTES = 256 * 1024
# A socket that holds no operation this long is closed: a checkout screen
# subscribes right after connection_init and resubscribes after a completion.
IDLE_SOCKET_SECONDS = 30.0
MAX_SOCKETS_PER_ADDRESS = 200
UNAUTHENTICATED_ERROR = {
    "message": "a valid staff token is required (Authorization: Bearer <token>)",
    "extensions": {"code": "UNAUTHENTICATED"},
}
# Where a request's negotiated response media type is kept (its ASGI scope).
MEDIA_TYPE_KEY = "qpay_media_type"
# Where a websocket's own WebSocket object is kept (its ASGI scope).
SOCKET_KEY = "qpay_socket"
# The type each request parameter must have (Strawberry checks three of them;
# a wrong operationName reached Python's internals and their messages).
_PARAMETERS: tuple[tuple[str, type | tuple[type, ...], str], ...] = (
    ("query", (str, type(None)), "a string or null"),
    ("operationName", (str, type(None)), "a string or null"),
    ("variables", (dict, type(None)), "an object or null"),
    ("extensions", (dict, type(None)), "an object or null"),
    ("documentId", (str, type(None)), "a string or null"),
)


class SocketHub:
    """The event hub as one websocket's subscriptions see it: whatever ends
    an operation (a completion, a cancelled task, a socket gone mid-send),
    its registrations are released when the socket closes, so no intent stays
    "watched" (and polled) with nobody connected."""

    def __init__(self, hub: EventStream) -> None:
        self._hub = hub
        self._open: list[contextlib.ExitStack] = []

    @contextlib.contextmanager
    def subscribe(self, intent_id: UUID) -> Iterator[asyncio.Queue[Wakeup]]:
        stack = contextlib.ExitStack()
        queue = stack.enter_context(self._hub.subscribe(intent_id))
        self._open.append(stack)
        try:
            yield queue
        finally:
            self._release(stack)

    def _release(self, stack: contextlib.ExitStack) -> None:
        if stack in self._open:
            self._open.remove(stack)
            stack.close()

    def close(self) -> None:
        for stack in list(self._open):
            self._release(stack)

    @property
    def open(self) -> int:
        return len(self._open)


class GuardedTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws with our brakes: login throttling, closing idle
    sockets, and closing a staff socket when its token expires."""

    view: QPayGraphQL

    async def handle(self) -> None:
        watchdogs = [asyncio.create_task(self._close_when_idle())]
        try:
            await super().handle()
        finally:
            for task in watchdogs:
                task.cancel()
            for task in watchdogs:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def handle_message(self, message: object) -> None:
        """Strawberry indexes messages as dicts: any other JSON value, or a
        subscribe whose fields have the wrong types, raised from deep inside
        and dropped the connection without a close frame. Refused with 4400."""
        if not _well_formed(message):
            await self.handle_invalid_message("Invalid message")
            return
        await super().handle_message(message)  # type: ignore[arg-type]

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        """A trusted document named by its hash is looked up; with trusted
        documents on, any other document is refused (app/trusted_documents.py)."""
        if not self.connection_acknowledged:
            await super().handle_subscribe(message)  # closes 4401
            return
        payload: dict[str, object] = dict(message["payload"])
        try:
            query = self.view.trusted_documents.resolve(
                payload.get("query"),
                payload.pop("documentId", None),
                payload.get("extensions"),
            )
        except DocumentRefused as refused:
            await self.send_message(
                {
                    "id": message["id"],
                    "type": "error",
                    "payload": [
                        {
                            "message": refused.message,
                            "extensions": {"code": refused.code},
                        }
                    ],
                }
            )
            return
        if not isinstance(query, str):
            # Neither a document nor the hash of one (extensions without a
            # persistedQuery): not a subscribe this protocol knows.
            await self.handle_invalid_message("a subscribe needs a query or documentId")
            return
        payload["query"] = query
        await super().handle_subscribe(
            {**message, "payload": payload}  # type: ignore[typeddict-item]
        )

    async def handle_task_exception(self, error: Exception) -> None:
        """A subscriber who hangs up while an update is on its way is the
        client's doing, not a fault of ours: one DEBUG line, not an ERROR
        with a traceback that any anonymous client could print at will."""
        if isinstance(error, WebSocketDisconnected):
            logger.debug("subscriber gone mid-update: %s", error)
            return
        await super().handle_task_exception(error)

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        if self.view.login_throttled(self.context, message.get("payload")):
            await self.websocket.close(code=4429, reason="Too many failed logins")
            return
        await super().handle_connection_init(message)
        viewer = self.context.viewer
        if self.connection_acknowledged and viewer is not None:
            task = asyncio.create_task(self._close_at(viewer.expires_at))
            task.add_done_callback(self._task_done)
            self._expiry = task

    async def shutdown(self) -> None:
        expiry: asyncio.Task[None] | None = getattr(self, "_expiry", None)
        if expiry is not None:
            expiry.cancel()
        await super().shutdown()

    async def _close_at(self, expires_at: datetime) -> None:
        delay = (expires_at - datetime.now(UTC)).total_seconds()
        await asyncio.sleep(max(0.0, delay))
        with contextlib.suppress(Exception):
            await self.websocket.close(code=4403, reason="Staff token expired")

    async def _close_when_idle(self) -> None:
        limit = self.view.idle_socket_seconds
        idle_since = asyncio.get_running_loop().time()
        while True:
            await asyncio.sleep(min(limit / 3, 5.0))
            now = asyncio.get_running_loop().time()
            if self.operations:
                idle_since = now
            elif now - idle_since >= limit:
                with contextlib.suppress(Exception):
                    await self.websocket.close(code=4408, reason="Idle connection")
                return


# GraphiQL (development only) loads React and GraphiQL from unpkg.com; this
# service does not bundle them. Offline the page would stay at "Loading...":
# it says why instead, until GraphiQL renders over it.
GRAPHIQL_OFFLINE = (
    '<p style="font: 16px sans-serif; margin: 2em">GraphiQL loads its scripts '
    "from unpkg.com, which this browser cannot reach (offline?). The API itself "
    'works: send POST /graphql with an Authorization header (README, "Call the '
    'API"), or use any GraphQL client.</p>'
)


class QPayGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI view with our context, auth and socket bookkeeping.

    Staff tokens come from the Authorization header (HTTP) or the
    connection_init payload {"authorization": "Bearer ..."} (websocket; a
    present but bad token closes the socket with 4403). A socket without a
    staff token may still subscribe with an intent's client secret.
    """

    graphql_transport_ws_handler_class = GuardedTransportWSHandler

    @property
    def graphql_ide_html(self) -> str:
        page = super().graphql_ide_html
        return page.replace(">Loading...</div>", f">{GRAPHIQL_OFFLINE}</div>", 1)

    def __init__(
        self,
        schema: Schema,
        *,
        services: Services,
        tokens: StaffTokens,
        production: bool,
        allowed_origins: list[str],
        login_failures: SlidingWindowLimiter | None = None,
        max_sockets_per_address: int = MAX_SOCKETS_PER_ADDRESS,
        idle_socket_seconds: float = IDLE_SOCKET_SECONDS,
        trusted_documents: TrustedDocuments | None = None,
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
        self._per_address: Counter[str] = Counter()
        self._max_per_address = max_sockets_per_address
        self.idle_socket_seconds = idle_socket_seconds
        self._login_failures = login_failures
        self.trusted_documents = trusted_documents or TrustedDocuments.off()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        media_type = preferred_media_type(_header(scope, b"accept"))
        scope.setdefault("state", {})[MEDIA_TYPE_KEY] = media_type
        refusal = self._refuse_early(scope, media_type)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if scope.get("method") == "POST":
            body = await _read_body(receive, MAX_BODY_BYTES)
            if body is None:
                too_large = PlainTextResponse("request body too large", 413)
                await too_large(scope, receive, send)
                return
            receive = _replaying(body, receive)
        await super().__call__(scope, receive, send)

    def _refuse_early(self, scope: Scope, media_type: str) -> Response | None:
        """Refused before the body is read: operations over GET (405), and
        operations without a valid staff token (they all need staff)."""
        method = scope.get("method")
        if method not in ("GET", "POST"):
            return None  # Strawberry answers 405
        if method == "GET":
            if _asks_for_graphiql(scope):
                return None  # GraphiQL's page (development) or Strawberry's 404
            return http_error_response(
                media_type,
                405,
                "operations are sent with POST (GET is not served)",
                headers={"allow": "POST"},
            )
        header = _header(scope, b"authorization")
        if self._tokens.verify_header(header) is not None:
            return None
        limiter = self._login_failures
        if header and limiter is not None and not limiter.hit(_address(scope)):
            # Guessing stops here; a valid token (from a colleague behind the
            # same address) was let through above.
            return PlainTextResponse("too many failed logins", status_code=429)
        return graphql_error_response(media_type, [UNAUTHENTICATED_ERROR])

    @overload
    async def run(
        self, request: Request, context: Context = UNSET, root_value: None = UNSET
    ) -> Response: ...

    @overload
    async def run(
        self, request: WebSocket, context: Context = UNSET, root_value: None = UNSET
    ) -> WebSocket: ...

    async def run(
        self,
        request: Request | WebSocket,
        context: Context = UNSET,
        root_value: None = UNSET,
    ) -> Response | WebSocket:
        """Strawberry's run, with request errors answered in the client's
        media type (Strawberry answers them as plain text)."""
        if isinstance(request, WebSocket):
            return await super().run(request, context, root_value)
        media_type = _media_type_of(request)
        try:
            return await super().run(request, context, root_value)
        except DocumentRefused as refused:
            return graphql_error_response(
                media_type,
                [{"message": refused.message, "extensions": {"code": refused.code}}],
            )
        except HTTPException as error:
            if isinstance(error.__cause__, CannotGetOperationTypeError):
                # No operation of that name in the document: a GraphQL
                # request error, like a document that does not validate.
                return graphql_error_response(media_type, [{"message": error.reason}])
            return http_error_response(media_type, error.status_code, error.reason)

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        """A POSTed JSON request, each parameter checked for its type, with a
        trusted document looked up by its hash (app/trusted_documents.py)."""
        content_type = (request.content_type or "").split(";")[0].strip().lower()
        if request.method != "POST" or content_type != "application/json":
            return await super().parse_http_body(request)
        data = self.parse_json(await request.get_body())
        if not isinstance(data, dict):
            raise HTTPException(
                400, "batched requests are not served: send one JSON object"
            )
        for name, kinds, what in _PARAMETERS:
            if not isinstance(data.get(name), kinds):
                raise HTTPException(400, f"`{name}` must be {what}, if provided")
        query = self.trusted_documents.resolve(
            data.get("query"), data.get("documentId"), data.get("extensions")
        )
        if not isinstance(query, str | None):
            raise HTTPException(400, "`query` must be a string or null, if provided")
        return GraphQLRequestData(
            query=query,
            variables=data.get("variables"),
            operation_name=data.get("operationName"),
            extensions=data.get("extensions"),
        )

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        if isinstance(request, Request):
            sub_response.media_type = _media_type_of(request)
        return sub_response

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        """Under application/graphql-response+json a request error has no
        `data` entry (create_response gives it its status)."""
        answer = await super().process_result(request, result)
        if _media_type_of(request) == GRAPHQL_RESPONSE_JSON and is_request_error(
            result
        ):
            answer.pop("data", None)
        return answer

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        media_type = sub_response.media_type or APPLICATION_JSON
        if isinstance(response_data, dict) and "data" not in response_data:
            errors = response_data.get("errors") or []
            return graphql_error_response(media_type, errors)
        response = super().create_response(response_data, sub_response)
        response.headers["content-type"] = content_type(media_type)
        return response

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        address = _address(scope)
        if self._per_address[address] >= self._max_per_address:
            # Refused before the handshake (uvicorn answers 403).
            await send({"type": "websocket.close", "code": 1008})
            return
        self._per_address[address] += 1
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._per_address[address] -= 1
            if self._per_address[address] <= 0:
                del self._per_address[address]
            # This socket's own entry (get_context keeps it in the scope):
            # rebuilding the set cost O(open sockets) per close, quadratic
            # when thousands of checkout screens close together.
            self._sockets.discard(scope.get("state", {}).get(SOCKET_KEY))
            socket_hub = scope.get("state", {}).get("qpay_socket_hub")
            if isinstance(socket_hub, SocketHub):
                socket_hub.close()

    def login_throttled(self, context: Context, payload: object) -> bool:
        """A bad staff token in connection_init from an address that keeps
        failing (counted with HTTP's failures): refused at once."""
        limiter = self._login_failures
        if limiter is None or not isinstance(payload, dict):
            return False
        header = payload.get("authorization") or payload.get("Authorization")
        if header is None:
            return False
        address = context.client_address or "unknown"
        if isinstance(header, str) and self._tokens.verify_header(header) is not None:
            return False
        return limiter.blocked(address)

    @property
    def open_sockets(self) -> int:
        """Websockets that reached get_context and have not yet closed."""
        return len(self._sockets)

    async def close_sockets(self, code: int = GOING_AWAY) -> None:
        """Shutdown: tell every client we are going away (they reconnect)."""
        for socket in list(self._sockets):
            with contextlib.suppress(Exception):
                await socket.close(code=code, reason="server shutting down")

    def decode_json(self, data: str | bytes) -> object:
        """JSON; absurdly deep nesting is not JSON we answer (400 / 4400)."""
        try:
            return json.loads(data)
        except RecursionError:
            raise json.JSONDecodeError("nested too deeply", "", 0) from None

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
            request.scope.setdefault("state", {})[SOCKET_KEY] = request
            socket_hub = SocketHub(self._services.hub)
            request.scope.setdefault("state", {})["qpay_socket_hub"] = socket_hub
            return Context(
                services=replace(self._services, hub=socket_hub),
                protocol="websocket",
                client_address=_address(request.scope),
            )
        viewer = self._tokens.verify_header(request.headers.get("authorization"))
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


def _well_formed(message: object) -> bool:
    """A graphql-transport-ws message shaped as the protocol says."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return False
    if message["type"] in ("subscribe", "complete", "next", "error") and not (
        isinstance(message.get("id"), str) and 0 < len(message["id"]) <= 128
    ):
        return False
    if message["type"] != "subscribe":
        return True
    payload = message.get("payload")
    if not isinstance(payload, dict):
        return False
    # A trusted document may be named by its hash instead of sent.
    named = isinstance(payload.get("documentId"), str) or isinstance(
        payload.get("extensions"), dict
    )
    return (
        (isinstance(payload.get("query"), str) or (named and "query" not in payload))
        and isinstance(payload.get("variables"), dict | None)
        and isinstance(payload.get("operationName"), str | None)
        and isinstance(payload.get("extensions"), dict | None)
        and isinstance(payload.get("documentId"), str | None)
    )


def _media_type_of(request: Request) -> str:
    media_type = request.scope.get("state", {}).get(MEDIA_TYPE_KEY)
    return media_type if isinstance(media_type, str) else APPLICATION_JSON


def _asks_for_graphiql(scope: Scope) -> bool:
    """A browser opening /graphql (no operation in the URL): Strawberry's
    own test for rendering GraphiQL."""
    query_string = bytes(scope.get("query_string") or b"").decode("latin-1")
    if "query" in parse_qs(query_string, keep_blank_values=True):
        return False
    accept = _header(scope, b"accept") or ""
    return "text/html" in accept or "*/*" in accept


def _address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key == name:
            return bytes(value).decode("latin-1")
    return None


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None as soon as it passes `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """The body already read, then the server's own messages (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
