"""QPay's callback requests, stored for audit (the CallbackRepository port)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from domain.callbacks import ReceivedCallback
from persistence.sql import callbacks

# Prebuilt: see persistence/invoices.py (one for every callback QPay sends).
_CALLBACK_INSERT = callbacks.insert()


class SqlAlchemyCallbackRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, callback: ReceivedCallback) -> None:
        await self._conn.execute(
            _CALLBACK_INSERT,
            {
                "intent_id": callback.intent_id,
                "method": callback.method[:8],
                "query": dict(callback.query),
                "qpay_payment_id": callback.qpay_payment_id,
                "headers": dict(callback.headers),
                "body": callback.body,
                "remote_addr": callback.remote_addr,
                "received_at": callback.received_at,
            },
        )
