"""FakeMethods: payment method configuration."""

from __future__ import annotations

from collections.abc import Sequence

from domain.payments import PaymentMethod, PaymentMethodConfig
from tests.fakes.uow.base import FakeRepository


class FakeMethods(FakeRepository):
    async def list(self) -> Sequence[PaymentMethodConfig]:
        return list(self._uow.store.methods.values())

    async def get(self, method: PaymentMethod) -> PaymentMethodConfig | None:
        return self._uow.store.methods.get(method)
