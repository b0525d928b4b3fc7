"""The autocommit unit of work (persistence/unit_of_work.py): each statement
stands alone, with no BEGIN, COMMIT or ROLLBACK round trips, for the hot
paths that read (a subscription's re-read) or write one row (a callback's
raw request). Its rules, on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.callbacks import ReceivedCallback
from domain.events import IntentChanged
from domain.intents import IntentId, IntentStatus
from persistence.engine import make_engine
from persistence.unit_of_work import SqlAlchemyUnitOfWork
from tests import db
from tests.factories import make_intent, make_invoice

pytestmark = [pytest.mark.db, pytest.mark.anyio]


@pytest.fixture
async def engine_url(clean_db: str) -> AsyncIterator[tuple[AsyncEngine, str]]:
    engine = make_engine(clean_db, pool_size=2, max_overflow=0)
    try:
        yield engine, clean_db
    finally:
        await engine.dispose()


def received(intent_id: IntentId) -> ReceivedCallback:
    return ReceivedCallback(
        intent_id=intent_id,
        method="GET",
        query={"qpay_payment_id": "1"},
        headers={},
        body="",
        remote_addr="127.0.0.1",
        received_at=datetime.now(UTC),
    )


async def stored_intent(engine: AsyncEngine) -> IntentId:
    async with SqlAlchemyUnitOfWork(engine) as tx:
        invoice = make_invoice(number=f"A-{uuid4().hex[:10]}")
        await tx.invoices.add(invoice)
        intent = make_intent(invoice)
        await tx.intents.add(
            intent, client_secret_hash="0" * 64, callback_token_hash="1" * 64
        )
        await tx.commit()
    return intent.id


async def test_each_statement_stands_alone_without_a_transaction(
    engine_url: tuple[AsyncEngine, str],
) -> None:
    engine, url = engine_url
    intent_id = await stored_intent(engine)

    async with SqlAlchemyUnitOfWork(engine, autocommit=True) as tx:
        await tx.callbacks.add(received(intent_id))
        # Left without commit(): in a transaction this would roll back.
        in_transaction = await tx.connection.scalar(
            text("SELECT pg_current_xact_id_if_assigned() IS NOT NULL")
        )

    assert in_transaction is False
    assert await db.scalar(url, "SELECT count(*) FROM qpay_callbacks") == 1


async def test_it_reads_what_a_transaction_reads(
    engine_url: tuple[AsyncEngine, str],
) -> None:
    engine, _ = engine_url
    intent_id = await stored_intent(engine)

    async with SqlAlchemyUnitOfWork(engine) as tx:
        in_transaction = await tx.intents.get_watched(intent_id)
    async with SqlAlchemyUnitOfWork(engine, autocommit=True) as tx:
        alone = await tx.intents.get_watched(intent_id)

    assert alone == in_transaction is not None


async def test_events_cannot_be_committed_without_a_transaction(
    engine_url: tuple[AsyncEngine, str],
) -> None:
    """History and notifications must commit with the change they describe:
    an autocommit unit of work refuses to announce anything."""
    engine, url = engine_url
    intent_id = await stored_intent(engine)

    async with SqlAlchemyUnitOfWork(engine, autocommit=True) as tx:
        tx.record(
            IntentChanged(intent_id=intent_id, status=IntentStatus.PAID, version=2)
        )
        with pytest.raises(RuntimeError, match="autocommit"):
            await tx.commit()

    assert await db.scalar(url, "SELECT count(*) FROM payment_events") == 0


async def test_the_pooled_connection_is_transactional_again_afterwards(
    clean_db: str,
) -> None:
    """One pooled connection: autocommit ends with its unit of work."""
    engine = make_engine(clean_db, pool_size=1, max_overflow=0)
    try:
        intent_id = await stored_intent(engine)
        async with SqlAlchemyUnitOfWork(engine, autocommit=True) as tx:
            await tx.intents.get_watched(intent_id)
        async with SqlAlchemyUnitOfWork(engine) as tx:
            await tx.callbacks.add(received(intent_id))
            # Left without commit(): rolled back.
    finally:
        await engine.dispose()

    assert await db.scalar(clean_db, "SELECT count(*) FROM qpay_callbacks") == 0
