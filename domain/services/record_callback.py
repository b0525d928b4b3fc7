"""Use case: QPay called our callback URL. A hint only; QPay is asked after."""

from __future__ import annotations

from collections.abc import Callable

from domain.callbacks import ReceivedCallback
from domain.intents import IntentId, IntentRef
from domain.ports import UnitOfWorkFactory
from domain.secrets import secret_matches


async def record_callback(
    intent_id: IntentId,
    token: str | None,
    callback: ReceivedCallback,
    *,
    uow: UnitOfWorkFactory,
    on_accepted: Callable[[IntentRef], None] | None = None,
    store: Callable[[IntentId], bool] | None = None,
) -> bool:
    """Check the callback token (constant time) and store the raw request.

    Returns False, writing nothing, for an unknown intent or a wrong token; the
    caller answers 404 and makes no QPay call. Once the token is accepted,
    `on_accepted` runs before the request is stored, so the settlement can
    start while the row is written; `store` may decline storing it (a replay
    flood past its budget). Nothing in the request is believed about money."""
    async with uow() as tx:
        stored = await tx.intents.secrets(intent_id)
    if stored is None:
        secret_matches(token, ("0" * 64,))  # same work as a known intent
        return False
    if not secret_matches(token, (stored.callback_token_hash,)):
        return False
    if on_accepted is not None:
        on_accepted(stored.ref)
    if store is not None and not store(intent_id):
        return True
    async with uow() as tx:
        await tx.callbacks.add(callback)
        await tx.commit()
    return True
