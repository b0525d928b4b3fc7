"""The engine, built by app/ from settings; no globals."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from persistence import json_codec

# A connection idle for longer than this is pinged before use.
PING_IF_IDLE_SECONDS = 5.0

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def tls_arguments(url: str) -> dict[str, Any]:
    """asyncpg's connect arguments for TLS: none asked for on loopback.

    asyncpg's default (`sslmode=prefer`) negotiates TLS on every connection,
    including the side connection it opens to cancel a query whose task was
    cancelled (a subscriber who hung up mid-read). When that side connection
    is lost early, asyncpg leaves a future holding "unexpected
    connection_lost() call" that nobody awaits (MagicStack/asyncpg#1310),
    logged as "Future exception was never retrieved". On the loopback
    interface TLS protects nothing, so unless the URL says otherwise
    (`?ssl=` or `?sslmode=`) it is not negotiated; any other host keeps
    asyncpg's default.
    """
    parsed = make_url(url)
    if "ssl" in parsed.query or "sslmode" in parsed.query:
        return {}
    if parsed.host is None or parsed.host in LOOPBACK_HOSTS:
        return {"ssl": False}
    return {}


def make_engine(
    url: str, *, pool_size: int = 10, max_overflow: int = 10, echo: bool = False
) -> AsyncEngine:
    """An asyncpg engine whose idle connections are checked before use.

    SQLAlchemy's `pool_pre_ping` pings on every checkout, which cost about a
    millisecond per request here (a third of a settleInvoice). Pinging only
    connections that sat idle keeps the benefit (a PostgreSQL restart while
    the pool was idle costs no failed request) for a busy pool's price of
    nothing; a connection broken mid-use fails that one request, and the
    dialect then invalidates the pool so the next ones reconnect.
    """
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=10,
        echo=echo,
        connect_args=tls_arguments(url),
        # QPay's answers are stored with exact Decimal numbers (json_codec).
        json_serializer=json_codec.dumps,
        json_deserializer=json_codec.loads,
    )
    dialect = engine.sync_engine.dialect

    @event.listens_for(engine.sync_engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_IF_IDLE_SECONDS:
            return
        try:
            alive = dialect.do_ping(dbapi_connection)
        except Exception as error:  # any failure: drop it, the pool retries
            raise exc.DisconnectionError(str(error)) from error
        if not alive:
            raise exc.DisconnectionError("connection failed its ping")

    return engine
