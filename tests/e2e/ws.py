"""A small graphql-transport-ws client for the e2e tests (websockets package)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from tests.gql import PAYMENT_STATUS

PROTOCOL = Subprotocol("graphql-transport-ws")


@dataclass
class Subscription:
    """Messages of one operation: `next` payloads, errors, and completion."""

    events: list[dict[str, Any]] = field(default_factory=list)
    errors: list[Any] = field(default_factory=list)
    completed: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_for(self, predicate: Any, within: float = 10.0) -> dict[str, Any]:
        """The first event satisfying `predicate`, waiting up to `within` s."""
        async with asyncio.timeout(within):
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                if self.completed.is_set():
                    raise AssertionError(f"completed without a match: {self.events}")
                self.changed.clear()
                await self.changed.wait()

    def statuses(self) -> list[str]:
        return [e["intent"]["status"] for e in self.events]


class GraphQLSocket:
    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self._subscriptions: dict[str, Subscription] = {}
        self._next_id = 0
        self._reader: asyncio.Task[None] | None = None

    async def init(self, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        await self.connection.send(
            json.dumps({"type": "connection_init", "payload": payload or {}})
        )
        ack: dict[str, Any] = json.loads(await self.connection.recv())
        assert ack["type"] == "connection_ack", ack
        self._reader = asyncio.create_task(self._read())
        return ack

    async def subscribe(self, query: str, variables: dict[str, Any]) -> Subscription:
        return await self.send_subscribe({"query": query, "variables": variables})

    async def send_subscribe(self, payload: dict[str, Any]) -> Subscription:
        """A subscribe message with this payload, as a client sends it."""
        self._next_id += 1
        operation_id = str(self._next_id)
        subscription = Subscription()
        self._subscriptions[operation_id] = subscription
        await self.connection.send(
            json.dumps({"id": operation_id, "type": "subscribe", "payload": payload})
        )
        return subscription

    async def payment_status(
        self, intent_id: str, secret: str | None = None
    ) -> Subscription:
        return await self.subscribe(PAYMENT_STATUS, {"id": intent_id, "secret": secret})

    async def _read(self) -> None:
        async for raw in self.connection:
            message = json.loads(raw)
            kind = message.get("type")
            if kind == "ping":
                await self.connection.send(json.dumps({"type": "pong"}))
                continue
            subscription = self._subscriptions.get(message.get("id", ""))
            if subscription is None:
                continue
            if kind == "next":
                payload = message["payload"]
                if payload.get("errors"):
                    subscription.errors.extend(payload["errors"])
                if payload.get("data"):
                    # The operation's one root field (paymentStatus, ...).
                    (root,) = payload["data"].values()
                    subscription.events.append(root)
            elif kind == "error":
                subscription.errors.extend(message.get("payload") or [])
                subscription.completed.set()
            elif kind == "complete":
                subscription.completed.set()
            subscription.changed.set()
        for subscription in self._subscriptions.values():
            subscription.completed.set()
            subscription.changed.set()

    async def close(self) -> None:
        await self.connection.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)


@asynccontextmanager
async def graphql_socket(
    url: str,
    init_payload: dict[str, Any] | None = None,
    *,
    origin: str | None = None,
    subprotocols: list[Subprotocol] | None = None,
) -> AsyncIterator[GraphQLSocket]:
    async with connect(
        url,
        subprotocols=subprotocols or [PROTOCOL],
        origin=origin,  # type: ignore[arg-type]
        compression=None,
        open_timeout=10,
    ) as connection:
        socket = GraphQLSocket(connection)
        await socket.init(init_payload)
        try:
            yield socket
        finally:
            await socket.close()
