"""LISTEN/NOTIFY as the settling transaction uses it (persistence/event_hub.py):
every change of a commit is announced, in order, by one statement."""

from __future__ import annotations

import asyncio
from uuid import uuid4

import asyncpg
import pytest
from sqlalchemy import bindparam, event

from domain.events import HISTORY_TOPIC
from domain.intents import IntentId
from persistence.engine import make_engine
from persistence.event_hub import CHANNEL, EventHub, PostgresTransport
from persistence.pushes import payload
from persistence.sql import Pending, method_configs
from tests import db

pytestmark = [pytest.mark.db, pytest.mark.anyio]


@pytest.mark.parametrize("with_a_write", [False, True])
async def test_a_commit_announces_every_change_in_order_with_one_statement(
    clean_db: str, with_a_write: bool
) -> None:
    changes = [
        (IntentId(uuid4()), 3),
        (IntentId(uuid4()), 5),
        (HISTORY_TOPIC, 0),
    ]
    # A write of the transaction not sent yet (the history's INSERT, in the
    # service) goes in the same statement, and is done exactly once.
    also: Pending | None = (
        method_configs.update()
        .where(method_configs.c.method == "CASH")
        .values(label=method_configs.c.label + bindparam("suffix")),
        {"suffix": " (once)"},
    )
    heard: list[str] = []
    listener = await asyncpg.connect(db.asyncpg_url(clean_db))
    await listener.add_listener(CHANNEL, lambda *args: heard.append(args[3]))
    engine = make_engine(clean_db)
    statements: list[str] = []
    event.listen(
        engine.sync_engine,
        "before_cursor_execute",
        lambda conn, cursor, statement, *rest: statements.append(statement),
    )
    transport = PostgresTransport(EventHub(), db.asyncpg_url(clean_db))
    try:
        async with engine.connect() as connection:
            await transport.in_transaction(
                connection, changes, also if with_a_write else None
            )
            await connection.commit()
        labels = await db.fetch(
            clean_db, "SELECT label FROM payment_method_configs WHERE method = 'CASH'"
        )
        async with asyncio.timeout(10):
            while len(heard) < len(changes):
                await asyncio.sleep(0.01)
    finally:
        await listener.close()
        await engine.dispose()

    assert heard == [payload(*change) for change in changes]
    assert len(statements) == 1
    assert labels[0]["label"].endswith(" (once)") is with_a_write
    assert not labels[0]["label"].endswith(" (once) (once)")
