"""What every log line of a request or a background pass carries.

One context variable holds the current fields (a small immutable mapping):

    request_id        an HTTP request or a websocket connection: the client's
                      X-Request-ID when it is sane, otherwise a new one
    task, run_id      a background loop (poller, e-Barimt worker, ...) and one
                      pass or run of it: never a stale request id
    intent_id, invoice_id, qpay_payment_id
                      the payment being handled, once it is known
    trace_id          the OpenTelemetry trace, when tracing is on

app/logging_setup.py's ContextFilter copies them onto every record. A task
started from a request (a callback's settlement) inherits the request's
fields, as asyncio copies the context into new tasks. Values are ours (UUIDs,
hex ids) or checked against a strict pattern first: nothing a client sends
reaches a log line raw.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextvars import ContextVar, Token
from types import MappingProxyType

FIELDS = (
    "request_id",
    "task",
    "run_id",
    "intent_id",
    "invoice_id",
    "qpay_payment_id",
    "trace_id",
)
# A client's X-Request-ID is echoed and logged only when it looks like an id.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# QPay's payment ids are digits; what the callback's query says is checked.
QPAY_PAYMENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

Fields = Mapping[str, str]
_EMPTY: Fields = MappingProxyType({})
_CONTEXT: ContextVar[Fields] = ContextVar("qpay_log_context", default=_EMPTY)


def current() -> Fields:
    """The fields of the running request, pass or task."""
    return _CONTEXT.get()


def bind(**fields: str | None) -> Token[Fields]:
    """Add fields (None values are skipped) until `reset` (or the end of the
    task or request)."""
    merged = dict(_CONTEXT.get())
    merged.update((key, value) for key, value in fields.items() if value is not None)
    return _CONTEXT.set(MappingProxyType(merged))


def reset(token: Token[Fields]) -> None:
    """Back to the fields before `token`'s bind (a no-op in another context)."""
    with contextlib.suppress(ValueError, RuntimeError):
        _CONTEXT.reset(token)


@contextlib.contextmanager
def bound(**fields: str | None) -> Iterator[None]:
    token = bind(**fields)
    try:
        yield
    finally:
        reset(token)


def start_request(request_id: str) -> Token[Fields]:
    """A request's own fields: whatever was bound before is not inherited."""
    return _CONTEXT.set(MappingProxyType({"request_id": request_id}))


def start_run(task: str) -> Token[Fields]:
    """A background pass's own fields: its task and a new run id."""
    return _CONTEXT.set(MappingProxyType({"task": task, "run_id": new_id()}))


def in_own_run(
    task: str, loop: Callable[[], Awaitable[None]]
) -> Callable[[], Awaitable[None]]:
    """`loop` started with its own fields (task, a new run id) each time it
    is (re)started, whatever context started it."""

    async def run() -> None:
        start_run(task)
        await loop()

    return run


def new_id() -> str:
    return uuid.uuid4().hex


def accepted_request_id(header: str | None) -> str:
    """The client's X-Request-ID when it is 1-128 characters of
    [A-Za-z0-9._:-]; a new id otherwise (never attacker text in a log)."""
    if header is not None and REQUEST_ID.fullmatch(header):
        return header
    return new_id()


def sane_qpay_payment_id(value: str | None) -> str | None:
    """A QPay payment id as a log field, or None when it does not look like one."""
    if value is not None and QPAY_PAYMENT_ID.fullmatch(value):
        return value
    return None
