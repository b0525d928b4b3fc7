"""Client noise does not become operator noise (issue 13, item 6): a client's
mistakes are logged at INFO in one short line each, without the source
excerpt; only our own failures are ERRORs, with their traceback."""

from __future__ import annotations

import logging

import pytest
import strawberry
from strawberry.http.exceptions import WebSocketDisconnected

from app.graphql_view import GuardedTransportWSHandler
from graph.schema import LOGGED_CLIENT_ERRORS, QPaySchema
from tests.harness import Harness

pytestmark = pytest.mark.anyio


def traceback_of(record: logging.LogRecord) -> str:
    """The record's traceback, also once app/logging_setup.py's redaction
    filter (installed by any test that configured logging) has moved it into
    exc_text."""
    if record.exc_info and record.exc_info[1] is not None:
        return logging.Formatter().formatException(record.exc_info)
    return record.exc_text or ""


def logged(caplog: pytest.LogCaptureFixture) -> tuple[int, list[logging.LogRecord]]:
    """(characters the records would write, the ERROR records)."""
    size = sum(len(r.getMessage()) + len(r.exc_text or "") for r in caplog.records)
    return size, [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.db
async def test_200kb_of_whitespace_and_50_bad_directives_log_a_few_lines(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    directives = " ".join(f"@bad{n}" for n in range(50))
    document = " " * 200_000 + "{ paymentMethods " + directives + " { method } }"

    body = await harness.gql(document)

    size, errors = logged(caplog)
    assert len(body["errors"]) >= 50
    assert errors == []
    assert size < 5_000


@pytest.mark.db
async def test_unauthenticated_requests_log_no_error(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    for _ in range(25):  # under the failed-login brake
        await harness.gql("{ paymentMethods { method } }", token=None)
        await harness.gql("{ paymentMethods { method } }", token="garbage")

    _, errors = logged(caplog)
    assert errors == []


def test_a_bug_is_still_an_error_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    @strawberry.type
    class Query:
        @strawberry.field
        def broken(self) -> int:
            raise RuntimeError("a bug")

        @strawberry.field
        def fine(self) -> int:
            return 1

    schema = QPaySchema(query=Query)
    caplog.set_level(logging.INFO)

    schema.execute_sync("{ broken }")
    schema.execute_sync("{ nope1 nope2 nope3 nope4 nope5 }")

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "RuntimeError: a bug" in traceback_of(errors[0])
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(infos) == LOGGED_CLIENT_ERRORS + 1
    assert infos[-1] == "and 2 more client errors"


async def test_a_subscriber_hanging_up_mid_update_is_not_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Strawberry logs any failure of an operation task as an ERROR with its
    # traceback; a client closing its socket while an update is being sent
    # is one, and any anonymous client can cause it at will.
    handler = object.__new__(GuardedTransportWSHandler)
    handler.task_logger = logging.getLogger("strawberry.ws.task")
    caplog.set_level(logging.DEBUG)

    await handler.handle_task_exception(WebSocketDisconnected())
    await handler.handle_task_exception(RuntimeError("a bug"))

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "RuntimeError: a bug" in traceback_of(errors[0])
