"""The per-process event hub and its transports (design.md §5).

    EventHub            local fan-out: intent id -> bounded queues of wake-ups
    ├── PostgresTransport   NOTIFY inside the settling transaction; one LISTEN
    │                       connection per process (asyncpg)
    ├── RedisTransport      PUBLISH after commit; one pub/sub connection
    └── MemoryTransport     one process only (tests)

A wake-up is an intent version, a signed state of the intent at a version
(persistence/pushes.py), or None meaning "re-read, something may have been
missed". Every transport reconnects with backoff and, after any gap, wakes
every local subscription with None. Pushes are hints: a subscriber re-reads
the database unless the push carries a state this service signed, so a lost
push costs at most one resync interval and a forged one a re-read.
encode/broadcaster is not used: see docs/architecture.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.util
import logging
import random
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from uuid import UUID

import asyncpg
from sqlalchemy import Text, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.events import HISTORY_TOPIC
from domain.intents import IntentId
from domain.ports import Wakeup
from domain.status import PaymentStatus, PushedStatus
from persistence import pushes
from persistence.engine import tls_arguments
from persistence.pushes import PushSigner
from persistence.sql import Pending
from persistence.unit_of_work import IntentChange

if TYPE_CHECKING:
    # The `redis` extra: imported only by RedisTransport (EVENTS_URL=redis://).
    import redis.asyncio as aioredis

logger = logging.getLogger(__name__)

CHANNEL = "qpay_intent_events"
REDIS_MISSING = (
    "EVENTS_URL=redis://... needs the redis extra: pip install 'qpay-graph[redis]'"
)
LISTENER_APPLICATION_NAME = "qpay-graph-listener"
States = Mapping[IntentId, PaymentStatus]
NO_STATES: States = {}


class EventHub:
    """Fans committed intent changes out to this process's subscriptions.
    With a `signer`, notifications carry the states units of work announce,
    and signed states heard are delivered as such."""

    def __init__(self, queue_size: int = 8, signer: PushSigner | None = None) -> None:
        self._queue_size = queue_size
        self._signer = signer
        self._subscribers: dict[UUID, set[asyncio.Queue[Wakeup]]] = {}
        self.connected = asyncio.Event()
        # Set when an intent gets its first local subscriber.
        self.new_watch = asyncio.Event()

    @property
    def subscription_count(self) -> int:
        return sum(len(queues) for queues in self._subscribers.values())

    @contextlib.contextmanager
    def subscribe(self, intent_id: UUID) -> Iterator[asyncio.Queue[Wakeup]]:
        """Register synchronously (no await: no race between two first
        subscribers), yield the queue, unregister on exit."""
        queue: asyncio.Queue[Wakeup] = asyncio.Queue(maxsize=self._queue_size)
        if intent_id not in self._subscribers and intent_id != HISTORY_TOPIC:
            self.new_watch.set()
        self._subscribers.setdefault(intent_id, set()).add(queue)
        try:
            yield queue
        finally:
            queues = self._subscribers.get(intent_id)
            if queues is not None:
                queues.discard(queue)
                if not queues:
                    del self._subscribers[intent_id]

    def watched(self) -> list[UUID]:
        """The intents this process's subscriptions watch right now."""
        return [key for key in self._subscribers if key != HISTORY_TOPIC]

    def deliver(
        self, intent_id: UUID, version: int | None, pushed: PushedStatus | None = None
    ) -> None:
        item: Wakeup = version if pushed is None else pushed
        for queue in tuple(self._subscribers.get(intent_id, ())):
            self._offer(queue, item)

    def resync_all(self) -> None:
        for queues in tuple(self._subscribers.values()):
            for queue in tuple(queues):
                self._offer(queue, None)

    def payload(self, change: IntentChange, status: PaymentStatus | None) -> str:
        """The notification of `change`, carrying `status` if it can."""
        intent_id, version = change
        return pushes.payload(intent_id, version, status, self._signer)

    def payloads(self, changes: Sequence[IntentChange], states: States) -> list[str]:
        return [self.payload(change, states.get(change[0])) for change in changes]

    def deliver_payload(self, payload: str | bytes) -> None:
        try:
            text = payload.decode() if isinstance(payload, bytes) else payload
            intent_id, version, pushed = pushes.read_payload(
                text, self._signer, wanted=self._subscribers.__contains__
            )
        except (ValueError, KeyError, TypeError, ArithmeticError, RecursionError):
            # RecursionError: JSON nested past the parser's depth.
            logger.warning("ignored a malformed event payload")
            return
        self.deliver(intent_id, version, pushed)

    def _offer(self, queue: asyncio.Queue[Wakeup], item: Wakeup) -> None:
        try:
            queue.put_nowait(item)
        except asyncio.QueueFull:
            # A slow subscriber: drop its backlog, it re-reads the latest state.
            while not queue.empty():
                queue.get_nowait()
            queue.put_nowait(None)


class _Reconnecting:
    """A background loop that keeps one listener connection alive."""

    def __init__(self, hub: EventHub, name: str) -> None:
        self.hub = hub
        self._name = name
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"{self._name}-listener")

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def listening(self) -> bool:
        """The reconnect loop is alive (it ends only when stopped: it catches
        every failure and reconnects, so it is its own supervisor)."""
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.hub.connected.clear()

    async def _run(self) -> None:
        backoff = 0.2
        while True:
            try:
                await self._listen_once(self._on_connected)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # any failure means reconnect
                logger.warning("%s listener lost: %s", self._name, type(error).__name__)
            self.hub.connected.clear()
            if self.stopping:
                return
            await asyncio.sleep(backoff * (1 + random.random()))  # noqa: S311  # jitter
            backoff = min(backoff * 2, 10.0)

    def _on_connected(self) -> None:
        self.hub.connected.set()
        # Anything may have been missed while we were away.
        self.hub.resync_all()

    async def _listen_once(self, on_connected: Callable[[], None]) -> None:
        raise NotImplementedError


# In the array's order: unnest yields its elements in order, and each
# pg_notify runs as its row is produced.
_NOTIFY_ALL = select(
    func.pg_notify(
        bindparam("channel"),
        func.unnest(bindparam("payloads", type_=ARRAY(Text))).column_valued("payload"),
    )
)


@functools.lru_cache(maxsize=256)
def _notify_after(write: Any) -> Any:
    """_NOTIFY_ALL carrying `write` (a prebuilt statement: the history's
    INSERT) as a data-modifying CTE, which PostgreSQL runs exactly once
    though nothing reads it: the two in one round trip. Built once per
    statement."""
    return _NOTIFY_ALL.add_cte(write.cte("written"))


class PostgresTransport(_Reconnecting):
    """LISTEN/NOTIFY: the notification exists exactly when the change committed."""

    def __init__(
        self, hub: EventHub, dsn: str, *, watchdog_seconds: float = 10.0
    ) -> None:
        super().__init__(hub, "postgres")
        self._dsn = dsn
        self._watchdog = watchdog_seconds

    async def in_transaction(
        self,
        connection: AsyncConnection,
        changes: Sequence[IntentChange],
        also: Pending | None = None,
        states: States = NO_STATES,
    ) -> None:
        # One statement for every change of the transaction (a settlement
        # announces its intent and the history feed), carrying the history's
        # INSERT: each statement is a round trip.
        parameters = {
            "channel": CHANNEL,
            "payloads": self.hub.payloads(changes, states),
        }
        if also is None:
            await connection.execute(_NOTIFY_ALL, parameters)
            return
        write, written = also
        await connection.execute(_notify_after(write), {**written, **parameters})

    async def after_commit(
        self, changes: Sequence[IntentChange], states: States = NO_STATES
    ) -> None:
        return None

    async def _listen_once(self, on_connected: Callable[[], None]) -> None:
        connection: asyncpg.Connection[Any] = await asyncpg.connect(
            self._dsn,
            timeout=5,
            server_settings={"application_name": LISTENER_APPLICATION_NAME},
            **tls_arguments(self._dsn),
        )
        lost = asyncio.Event()
        try:
            connection.add_termination_listener(lambda _c: lost.set())

            def on_notify(
                _c: object, _pid: int, _channel: str, payload: object
            ) -> None:
                if isinstance(payload, str):
                    self.hub.deliver_payload(payload)

            await connection.add_listener(CHANNEL, on_notify)
            on_connected()
            while not lost.is_set():
                try:
                    await asyncio.wait_for(lost.wait(), self._watchdog)
                except TimeoutError:
                    # A half-open TCP connection never reports itself: ask.
                    await asyncio.wait_for(connection.fetchval("SELECT 1"), 5)
            raise ConnectionError("listener connection terminated")
        finally:
            if not connection.is_closed():
                connection.terminate()


class RedisTransport(_Reconnecting):
    """Redis pub/sub: published after commit, same hub semantics."""

    def __init__(self, hub: EventHub, url: str) -> None:
        if importlib.util.find_spec("redis") is None:
            raise RuntimeError(REDIS_MISSING)
        super().__init__(hub, "redis")
        self._url = url
        self._publisher: aioredis.Redis | None = None

    def _client(self) -> aioredis.Redis:
        import redis.asyncio as aioredis  # the redis extra, imported when used

        if self._publisher is None:
            self._publisher = aioredis.from_url(
                self._url, socket_timeout=1.0, socket_connect_timeout=1.0
            )
        return self._publisher

    async def in_transaction(
        self,
        connection: AsyncConnection,
        changes: Sequence[IntentChange],
        also: Pending | None = None,
        states: States = NO_STATES,
    ) -> None:
        if also is not None:
            await connection.execute(*also)

    async def after_commit(
        self, changes: Sequence[IntentChange], states: States = NO_STATES
    ) -> None:
        from redis.exceptions import RedisError  # the redis extra, imported when used

        # The change is committed; a lost publish costs subscribers one resync.
        try:
            client = self._client()
            for payload in self.hub.payloads(changes, states):
                await client.publish(CHANNEL, payload)
        except (RedisError, OSError) as error:
            logger.warning("redis publish failed: %s", type(error).__name__)

    async def stop(self) -> None:
        await super().stop()
        if self._publisher is not None:
            await self._publisher.aclose()

    async def _listen_once(self, on_connected: Callable[[], None]) -> None:
        import redis.asyncio as aioredis  # the redis extra, imported when used

        client = aioredis.from_url(
            self._url, socket_connect_timeout=2.0, health_check_interval=10
        )
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe(CHANNEL)
            on_connected()
            while True:
                message = await pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=10.0
                )
                if message is None:
                    await client.ping()
                    continue
                if message.get("type") == "message":
                    self.hub.deliver_payload(message["data"])
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py lacks the annotation
            with contextlib.suppress(Exception):
                await client.aclose()


class MemoryTransport:
    """In-process only: delivers after commit to this process's hub."""

    def __init__(self, hub: EventHub) -> None:
        self.hub = hub

    listening = True

    async def start(self) -> None:
        self.hub.connected.set()

    async def stop(self) -> None:
        self.hub.connected.clear()

    async def in_transaction(
        self,
        connection: AsyncConnection,
        changes: Sequence[IntentChange],
        also: Pending | None = None,
        states: States = NO_STATES,
    ) -> None:
        if also is not None:
            await connection.execute(*also)

    async def after_commit(
        self, changes: Sequence[IntentChange], states: States = NO_STATES
    ) -> None:
        # Through the same text as the other transports.
        for payload in self.hub.payloads(changes, states):
            self.hub.deliver_payload(payload)


Transport = PostgresTransport | RedisTransport | MemoryTransport
Starter = Callable[[], Awaitable[None]]


def make_transport(events_url: str, hub: EventHub, database_dsn: str) -> Transport:
    """Pick the transport by EVENTS_URL: postgres, redis://..., memory://."""
    if events_url == "postgres":
        return PostgresTransport(hub, database_dsn)
    if events_url.startswith("redis://"):
        return RedisTransport(hub, events_url)
    if events_url.startswith("memory://"):
        return MemoryTransport(hub)
    raise ValueError(f"unknown EVENTS_URL scheme: {events_url.split(':', 1)[0]}")
