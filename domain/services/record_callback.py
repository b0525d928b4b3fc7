"""Use cases: QPay called our callback URL. A hint only; QPay is asked after.

`accept_callback` checks the URL's token; `record_callback` stores the raw
request for audit. What happens between and after (settling, coalescing
replays) is app/callback.py's CallbackSettler.
"""

from __future__ import annotations

from domain.callbacks import ReceivedCallback
from domain.client_secrets import secret_matches
from domain.intents import IntentId, IntentRef
from domain.ports import UnitOfWorkFactory


async def accept_callback(
    intent_id: IntentId, token: str | None, *, uow: UnitOfWorkFactory
) -> IntentRef | None:
    """The intent the callback is for, if its token is right (compared in
    constant time); None for an unknown intent or a wrong token, with the
    same work either way. Reads only the intent's secrets."""
    async with uow() as tx:
        stored = await tx.intents.secrets(intent_id)
    if stored is None:
        secret_matches(token, ("0" * 64,))  # same work as a known intent
        return None
    if not secret_matches(token, (stored.callback_token_hash,)):
        return None
    return stored.ref


async def record_callback(
    callback: ReceivedCallback, *, uow: UnitOfWorkFactory
) -> None:
    """Store an accepted callback's raw request. Nothing in it is believed
    about money: the settlement asks QPay."""
    async with uow() as tx:
        await tx.callbacks.add(callback)
        await tx.commit()
