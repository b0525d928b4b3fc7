"""FakeCallbacks: QPay's stored callback requests."""

from __future__ import annotations

from domain.callbacks import ReceivedCallback
from tests.fakes.uow.base import FakeRepository


class FakeCallbacks(FakeRepository):
    async def add(self, callback: ReceivedCallback) -> None:
        self.tx.callbacks.append(callback)
