"""Use cases over fakes: FakeUnitOfWork, FakePaymentGateway, FixedClock."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest

from domain.ebarimt import EbarimtRequest
from domain.intents import QPayIntent
from domain.ports import UnitOfWork
from domain.services.create_invoice import CreateInvoice, create_invoice
from domain.services.create_qpay_invoice import (
    CreateQPayInvoice,
    QPayInvoicePolicy,
    create_qpay_invoice,
)
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

    async def new_intent(
        self, total: str = "15000.00", ebarimt: EbarimtRequest | None = None
    ) -> QPayIntent:
        """A PENDING intent QPay has made, for a new invoice of `total`."""
        invoice = await create_invoice(
            CreateInvoice(total=Decimal(total)), uow=self.uow, clock=self.clock
        )
        created = await create_qpay_invoice(
            CreateQPayInvoice(invoice_id=invoice.id, ebarimt=ebarimt),
            uow=self.uow,
            gateway=self.gateway,
            clock=self.clock,
            policy=self.policy,
        )
        assert created.intent.qpay_invoice_id is not None
        return created.intent


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
