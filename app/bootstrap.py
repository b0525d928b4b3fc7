"""The composition root: builds every adapter from settings, and closes them."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field

import httpx
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from app.clock import SystemClock
from app.metrics import Metrics
from app.ratelimit import CheckCeiling
from app.settings import Settings
from app.staff_tokens import StaffTokens, jwt_secret, staff_tokens
from domain.qpay_messages import QPayEnvironment
from domain.services.create_qpay_invoice import QPayInvoicePolicy
from domain.services.poll_due_intents import PollPolicy
from persistence.engine import make_engine
from persistence.event_hub import EventHub, Transport, make_transport
from persistence.pushes import PushSigner
from persistence.unit_of_work import SqlAlchemyUnitOfWork
from qpay.client import QPayClient, longest_call_seconds, make_http_client
from qpay.gateway import QPayGateway
from qpay.simulator import QPaySimulator

SIMULATOR_BASE_URL = "http://qpay-simulator/v2"
SIMULATOR_CREDENTIALS = ("TEST_MERCHANT", "123456", "TEST_INVOICE")


@dataclass
class Container:
    settings: Settings
    engine: AsyncEngine
    hub: EventHub
    transport: Transport
    http: httpx.AsyncClient
    gateway: QPayGateway
    simulator: QPaySimulator | None
    metrics: Metrics
    tokens: StaffTokens
    # QPAY_MAX_CHECKS_PER_SECOND: counts every payment/check of this process.
    check_ceiling: CheckCeiling
    clock: SystemClock = field(default_factory=SystemClock)
    instance: str = field(
        default_factory=lambda: (
            f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        )
    )
    owns_simulator: bool = False

    def uow(self) -> SqlAlchemyUnitOfWork:
        """A fresh unit of work (the UnitOfWorkFactory the use cases take)."""
        return SqlAlchemyUnitOfWork(self.engine, self.transport)

    def autocommit_uow(self) -> SqlAlchemyUnitOfWork:
        """A unit of work without a transaction, for the hot paths that read
        or write one row: no BEGIN and COMMIT round trips."""
        return SqlAlchemyUnitOfWork(self.engine, self.transport, autocommit=True)

    @property
    def qpay_policy(self) -> QPayInvoicePolicy:
        settings = self.settings
        return QPayInvoicePolicy(
            ttl_seconds=settings.qpay_invoice_ttl_seconds,
            callback_base_url=settings.public_base_url,
            # Past this, a placeholder is taken for abandoned; a slower create
            # withdraws its QR instead of showing it (create_qpay_invoice.py).
            creation_wait_seconds=longest_call_seconds(
                settings.qpay_connect_timeout_seconds,
                settings.qpay_read_timeout_seconds,
            )
            + 2,
            first_check_seconds=settings.qpay_poll_interval_seconds,
        )

    @property
    def poll_policy(self) -> PollPolicy:
        return PollPolicy(
            poll_interval=self.settings.qpay_poll_interval_seconds,
            max_interval=self.settings.qpay_poll_max_interval_seconds,
        )


def asyncpg_dsn(database_url: str) -> str:
    """The asyncpg form of a postgresql+asyncpg:// URL (for the listener)."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def build_container(
    settings: Settings,
    *,
    qpay_transport: httpx.AsyncBaseTransport | None = None,
    simulator: QPaySimulator | None = None,
    remote_simulator: bool = False,
) -> Container:
    """Every adapter for `settings`; nothing connects until used or started.

    In mock mode the QPay simulator runs in this process, unless
    `remote_simulator`: then the one mounted by a running development server
    (PUBLIC_BASE_URL/qpay-sim/v2) is used over HTTP (CLI helpers)."""
    if settings.database_url is None:
        raise ValueError("build_container needs settings.database_url")
    engine = make_engine(settings.database_url)
    # Pushed states are signed with a key from the staff tokens' secret, which
    # every process of a deployment shares (persistence/pushes.py).
    hub = EventHub(signer=PushSigner(jwt_secret(settings)))
    transport = make_transport(
        settings.events_url, hub, asyncpg_dsn(settings.database_url)
    )
    metrics = Metrics()
    metrics.track_subscriptions(lambda: hub.subscription_count)
    environment = settings.resolved_qpay_env
    owns_simulator = False
    if environment == "mock" and remote_simulator:
        client_id, client_secret, invoice_code = SIMULATOR_CREDENTIALS
        base_url = settings.qpay_base_url or f"{settings.public_base_url}/qpay-sim/v2"
    elif environment == "mock":
        if simulator is None:
            simulator = QPaySimulator()
            owns_simulator = True
        client_id, client_secret, invoice_code = SIMULATOR_CREDENTIALS
        if qpay_transport is None:
            qpay_transport = httpx.ASGITransport(app=simulator.app)
        base_url = settings.qpay_base_url or SIMULATOR_BASE_URL
    else:
        client_id = settings.qpay_client_id or ""
        secret = settings.qpay_client_secret
        client_secret = secret.get_secret_value() if secret else ""
        invoice_code = settings.qpay_invoice_code or ""
        base_url = settings.resolved_qpay_base_url
    ceiling = CheckCeiling(settings.qpay_max_checks_per_second)
    http = make_http_client(
        base_url,
        connect_timeout=settings.qpay_connect_timeout_seconds,
        read_timeout=settings.qpay_read_timeout_seconds,
        transport=qpay_transport,
    )
    client = QPayClient(
        http,
        client_id=client_id,
        client_secret=client_secret,
        observer=metrics.observe_qpay,
        on_check=ceiling.spend,
    )
    gateway = QPayGateway(
        client,
        environment=QPayEnvironment(environment.upper()),
        invoice_code=invoice_code,
        receiver_code=settings.qpay_invoice_receiver_code,
        ebarimt_api=settings.qpay_ebarimt_api,
    )
    return Container(
        settings=settings,
        engine=engine,
        hub=hub,
        transport=transport,
        http=http,
        gateway=gateway,
        simulator=simulator,
        metrics=metrics,
        tokens=staff_tokens(settings),
        check_ceiling=ceiling,
        owns_simulator=owns_simulator,
    )


async def close_container(container: Container) -> None:
    await container.transport.stop()
    await container.http.aclose()
    if container.simulator is not None and container.owns_simulator:
        await container.simulator.aclose()
    await container.engine.dispose()
