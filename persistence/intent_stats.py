"""What the intent gauges show, in one statement (app/intent_gauges.py).

Counts of intents by status and QPay environment, the age of the oldest
NEEDS_REVIEW (since its last change) and how long the most overdue PENDING
intent has been past its expiry, both by the database's clock. One
sequential pass over qpay_intents, grouped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import and_, extract, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.intents import IntentStatus
from persistence.sql import intents

_NOW = func.now()
_STATEMENT = select(
    intents.c.status,
    intents.c.environment,
    func.count().label("intents"),
    extract(
        "epoch",
        _NOW
        - func.min(intents.c.updated_at).filter(
            intents.c.status == IntentStatus.NEEDS_REVIEW.value
        ),
    ).label("oldest_review"),
    extract(
        "epoch",
        _NOW
        - func.min(intents.c.expires_at).filter(
            and_(
                intents.c.status == IntentStatus.PENDING.value,
                intents.c.expires_at < _NOW,
            )
        ),
    ).label("oldest_overdue"),
).group_by(intents.c.status, intents.c.environment)


@dataclass(frozen=True, slots=True)
class IntentStats:
    # (status, environment) -> intents; only pairs that have any.
    counts: Mapping[tuple[str, str], int]
    # environment -> seconds; only environments that have such an intent.
    oldest_review_seconds: Mapping[str, float]
    oldest_overdue_seconds: Mapping[str, float]


async def read_intent_stats(engine: AsyncEngine) -> IntentStats:
    """The figures now (a read on a pooled connection; writes nothing)."""
    async with engine.connect() as connection:
        rows = (await connection.execute(_STATEMENT)).all()
    counts: dict[tuple[str, str], int] = {}
    review: dict[str, float] = {}
    overdue: dict[str, float] = {}
    for status, environment, count, oldest_review, oldest_overdue in rows:
        counts[(status, environment)] = int(count)
        if oldest_review is not None:
            review[environment] = max(0.0, float(oldest_review))
        if oldest_overdue is not None:
            overdue[environment] = max(0.0, float(oldest_overdue))
    return IntentStats(counts, review, overdue)
