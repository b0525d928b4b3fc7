"""Use cases over fakes: FakeUnitOfWork, FakePaymentGateway, FixedClock."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from domain.ports import UnitOfWork
from domain.services.create_qpay_invoice import QPayInvoicePolicy
from tests.fakes.clock import FixedClock
from tests.fakes.gateway import FakePaymentGateway
from tests.fakes.uow import FakeStore, FakeUnitOfWork


@dataclass
class World:
    store: FakeStore
    gateway: FakePaymentGateway
    clock: FixedClock
    policy: QPayInvoicePolicy

    def uow(self) -> UnitOfWork:
        return FakeUnitOfWork(self.store)


def make_world() -> World:
    clock = FixedClock()
    return World(
        store=FakeStore(clock=clock),
        gateway=FakePaymentGateway(),
        clock=clock,
        policy=QPayInvoicePolicy(ttl_seconds=900, callback_base_url="http://test"),
    )


@pytest.fixture
def world() -> World:
    return make_world()
