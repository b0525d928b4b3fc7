"""LISTEN/NOTIFY as the settling transaction uses it (persistence/event_hub.py):
every change of a commit is announced, in order, by one statement."""

from __future__ import annotations

import asyncio
from uuid import uuid4

import asyncpg
import pytest
from sqlalchemy import event

from domain.events import HISTORY_TOPIC
from domain.intents import IntentId
from persistence.engine import make_engine
from persistence.event_hub import CHANNEL, EventHub, PostgresTransport, encode
from tests import db

pytestmark = [pytest.mark.db, pytest.mark.anyio]


async def test_a_commit_announces_every_change_in_order_with_one_statement(
    clean_db: str,
) -> None:
    changes = [
        (IntentId(uuid4()), 3),
        (IntentId(uuid4()), 5),
        (HISTORY_TOPIC, 0),
    ]
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
            await transport.in_transaction(connection, changes)
            await connection.commit()
        async with asyncio.timeout(10):
            while len(heard) < len(changes):
                await asyncio.sleep(0.01)
    finally:
        await listener.close()
        await engine.dispose()

    assert heard == [encode(change) for change in changes]
    assert len(statements) == 1
