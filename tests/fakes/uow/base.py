"""What every fake repository shares: the transaction, its clock, row locks."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from uuid import UUID

from domain.intents import IntentId
from domain.pages import ListFilter, Position
from tests.fakes.uow.store import IntentSecrets, Transaction

if TYPE_CHECKING:
    from tests.fakes.uow.unit_of_work import FakeUnitOfWork


class Listed(Protocol):
    @property
    def id(self) -> Any: ...
    @property
    def status(self) -> Any: ...
    @property
    def created_at(self) -> datetime: ...


R = TypeVar("R", bound=Listed)


def newest_first(
    rows: Sequence[R], wanted: ListFilter[Any], limit: int, after: Position | None
) -> list[R]:
    """persistence/sql.py's newest_first over rows in memory (UUIDs compare
    as PostgreSQL compares them: byte by byte)."""

    def key(row: R) -> tuple[datetime, UUID]:
        return (row.created_at, row.id)

    return [
        row
        for row in sorted(rows, key=key, reverse=True)
        if (not wanted.statuses or row.status in wanted.statuses)
        and (wanted.created_from is None or row.created_at >= wanted.created_from)
        and (wanted.created_to is None or row.created_at < wanted.created_to)
        and (after is None or key(row) < (after.created_at, after.id))
    ][:limit]


def lease_free(lease_until: datetime | None, now: datetime) -> bool:
    return lease_until is None or lease_until < now


class FakeRepository:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    @property
    def tx(self) -> Transaction:
        tx = self._uow.tx
        if tx.aborted is not None:
            raise RuntimeError(
                f"current transaction is aborted ({tx.aborted}): roll back first"
            )
        return tx

    @property
    def now(self) -> datetime:
        """The database clock: the time the transaction began."""
        tx = self.tx
        if tx.started_at is None:
            tx.started_at = self._uow.store.clock.now()
        return tx.started_at

    async def lock(self, table: str, key: Hashable) -> None:
        await self._uow.lock((table, key))

    def locked_by_others(self, table: str, key: Hashable) -> bool:
        holder = self._uow.store.locks.get((table, key))
        return holder is not None and holder is not self.tx

    async def locked_intent(self, intent_id: IntentId) -> IntentSecrets | None:
        """Lock the intent's row; its poller state (None: no such row)."""
        await self.lock("intents", intent_id)
        return self.tx.secrets.get(intent_id)
