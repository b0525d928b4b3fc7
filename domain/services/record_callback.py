"""Use case: QPay called our callback URL. A hint only; QPay is asked after.

`accept_callback` checks the URL's token and stores the raw request for
audit, in one transaction (the callback's own path commits once). What
happens after (settling, coalescing replays) is app/callback.py's
CallbackSettler, told as soon as the token is right: the settlement's QPay
check then runs while the request is being stored, not after it.
"""

from __future__ import annotations

from collections.abc import Callable

from domain.callbacks import ReceivedCallback
from domain.client_secrets import secret_matches
from domain.intents import IntentId, IntentRef
from domain.ports import UnitOfWorkFactory


def _always(intent_id: IntentId) -> bool:
    return True


def _nothing(ref: IntentRef) -> None:
    return None


async def accept_callback(
    intent_id: IntentId,
    token: str | None,
    received: ReceivedCallback,
    *,
    uow: UnitOfWorkFactory,
    may_store: Callable[[IntentId], bool] = _always,
    accepted: Callable[[IntentRef], None] = _nothing,
) -> IntentRef | None:
    """The intent the callback is for, if its token is right (compared in
    constant time); None for an unknown intent or a wrong token, with the
    same work either way and nothing written. An accepted callback's raw
    request is stored in the same transaction when `may_store(intent_id)`
    (asked only once the token is right, so wrong tokens spend no budget).
    `accepted(ref)` is told before the request is stored: what it starts
    overlaps the storing (one fsync less on the way to the settlement), and
    still happens if storing fails, which is safe because nothing in the
    request is believed about money: the settlement asks QPay."""
    async with uow() as tx:
        stored = await tx.intents.secrets(intent_id)
        if stored is None:
            secret_matches(token, ("0" * 64,))  # same work as a known intent
            return None
        if not secret_matches(token, (stored.callback_token_hash,)):
            return None
        accepted(stored.ref)
        if may_store(intent_id):
            await tx.callbacks.add(received)
            await tx.commit()
    return stored.ref
