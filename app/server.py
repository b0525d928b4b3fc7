"""How uvicorn serves the app: bounded work and memory for any client.

A checkout screen never comes near these limits; an attacker always does:

    request line + headers   at most MAX_HEADER_BYTES, within HEADER_TIMEOUT
                             seconds of the first byte (or of the connection,
                             for one that sends nothing): 431 / closed
    websocket frames         at most WEBSOCKET_MAX_FRAME_BYTES (close 1009)
    connections              at most MAX_CONNECTIONS at once (503 past it);
                             websockets per client address: app/graphql_view.py
    request bodies           the GraphQL view reads a staff body up to 256 KiB
                             and an anonymous one not at all; the callback
                             route reads 4 KiB
    idle keep-alive          TIMEOUT_KEEP_ALIVE seconds
    shutdown                 at most GRACEFUL_SHUTDOWN_SECONDS

X-Forwarded-For and -Proto are believed only from FORWARDED_ALLOW_IPS (none
by default): otherwise any client could pick the address the brakes count.
"""

from __future__ import annotations

import asyncio
import logging
from types import FrameType
from typing import Any

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.settings import Settings

MAX_HEADER_BYTES = 32 * 1024
HEADER_TIMEOUT = 10.0
WEBSOCKET_MAX_FRAME_BYTES = 64 * 1024
TIMEOUT_KEEP_ALIVE = 5
GRACEFUL_SHUTDOWN_SECONDS = 30
DRAIN_TIMEOUT_SECONDS = 20.0

logger = logging.getLogger("qpay_graph")

_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: 29\r\n"
    b"connection: close\r\n\r\n"
    b"request headers are too large"
)


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bound on the request head: its
    size (httptools itself buffers any amount) and the time it takes to
    arrive (a client trickling a header keeps a connection forever)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timeout_seconds = float(
            getattr(self.config, "qpay_header_timeout", HEADER_TIMEOUT)
        )
        self._head_bytes = 0
        self._in_head = True
        self._head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_clock()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_clock()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_deadline is None:
                self._start_head_clock()
        super().data_received(data)
        if self._in_head and self._head_bytes > MAX_HEADER_BYTES:
            self._refuse(_TOO_LARGE)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._stop_head_clock()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # The next request's head starts counting with its first byte.
        self._in_head = True
        self._head_bytes = 0

    def _start_head_clock(self) -> None:
        self._stop_head_clock()
        self._head_deadline = self.loop.call_later(
            self._head_timeout_seconds, self._head_timeout
        )

    def _stop_head_clock(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_timeout(self) -> None:
        self._head_deadline = None
        idle = self.cycle is None or self.cycle.response_complete
        if self._in_head and idle and not self.transport.is_closing():
            self.transport.close()

    def _refuse(self, answer: bytes) -> None:
        self._stop_head_clock()
        if not self.transport.is_closing():
            self.transport.write(answer)
            self.transport.close()


def uvicorn_config(
    app: ASGIApp,
    settings: Settings,
    *,
    host: str,
    port: int,
    header_timeout: float = HEADER_TIMEOUT,
) -> uvicorn.Config:
    """The uvicorn configuration `serve` runs with (tests use it too)."""
    trusted = settings.forwarded_allow_ips
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=GuardedHttpProtocol,
        ws="auto",
        ws_max_size=WEBSOCKET_MAX_FRAME_BYTES,
        ws_per_message_deflate=False,
        limit_concurrency=settings.max_connections,
        timeout_keep_alive=TIMEOUT_KEEP_ALIVE,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        proxy_headers=bool(trusted),
        forwarded_allow_ips=",".join(trusted) if trusted else "",
        server_header=False,
        log_config=None,
        lifespan="on",
    )
    # Read by GuardedHttpProtocol (uvicorn passes its config to each protocol).
    config.qpay_header_timeout = header_timeout  # type: ignore[attr-defined]
    return config


class DrainingServer(uvicorn.Server):
    """uvicorn, but SIGTERM/Ctrl-C first drains our work (stop claiming, finish
    settlements, close websockets with 1001), then shuts uvicorn down."""

    def __init__(self, config: uvicorn.Config, drain: object) -> None:
        super().__init__(config)
        self._drain = drain
        self._draining = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._draining:
            super().handle_exit(sig, frame)
            return
        self._draining = True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            super().handle_exit(sig, frame)
            return
        loop.call_soon_threadsafe(
            lambda: loop.create_task(self._drain_then_exit(sig, frame))
        )

    async def _drain_then_exit(self, sig: int, frame: FrameType | None) -> None:
        try:
            drain = self._drain
            if callable(drain):
                await asyncio.wait_for(drain(), DRAIN_TIMEOUT_SECONDS)
        except TimeoutError:
            logger.warning(
                "drain took over %ss; shutting down anyway", DRAIN_TIMEOUT_SECONDS
            )
        except Exception:
            logger.exception("drain before shutdown failed")
        finally:
            super().handle_exit(sig, frame)
