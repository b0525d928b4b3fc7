"""Use cases behind the paymentStatus subscription (each a short transaction)."""

from __future__ import annotations

from collections.abc import Sequence

from domain.client_secrets import secret_matches
from domain.intents import IntentId
from domain.ports import UnitOfWork, UnitOfWorkFactory
from domain.status import PaymentStatus

# Compared when an intent is unknown, so unknown and known take the same time.
NO_HASH = ("0" * 64,)


async def read_payment_status(
    intent_id: IntentId,
    *,
    uow: UnitOfWorkFactory,
    client_secret: str | None = None,
    check_secret: bool = False,
) -> PaymentStatus | None:
    """The intent and its invoice now. With `check_secret`, None unless
    `client_secret` is one this intent handed out (compared in constant time;
    an unknown intent and a wrong secret look the same)."""
    async with uow() as tx:
        if check_secret:
            stored = await tx.intents.secrets(intent_id)
            hashes = stored.client_secret_hashes if stored else NO_HASH
            if not secret_matches(client_secret, hashes) or stored is None:
                return None
        return await _status(tx, intent_id)


async def _status(tx: UnitOfWork, intent_id: IntentId) -> PaymentStatus | None:
    watched = await tx.intents.get_watched(intent_id)
    if watched is None or not watched[0].is_created:
        return None
    intent, invoice, pending = watched
    return PaymentStatus(intent, invoice, receipt_pending=pending)


async def client_secret_valid(
    intent_id: IntentId, client_secret: str | None, *, uow: UnitOfWorkFactory
) -> bool:
    """True when `client_secret` is one this intent handed out (constant time)."""
    async with uow() as tx:
        stored = await tx.intents.secrets(intent_id)
    hashes = stored.client_secret_hashes if stored else NO_HASH
    return secret_matches(client_secret, hashes) and stored is not None


async def note_watched(
    intent_ids: Sequence[IntentId],
    *,
    uow: UnitOfWorkFactory,
    seconds: float,
    poll_interval: float,
) -> Sequence[tuple[IntentId, int]]:
    """Checkout screens watch these intents: tell the poller (on any process)
    to check them every `poll_interval` for the next `seconds`, and return
    each one's current version. One statement for all of them; commits."""
    if not intent_ids:
        return []
    async with uow() as tx:
        versions = await tx.schedule.mark_watched(intent_ids, seconds, poll_interval)
        await tx.commit()
    return versions
