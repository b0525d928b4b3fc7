"""CallbackSettler: accept a callback, then settle (app/callback.py), over the
fake unit of work. The route around it is tested in tests/security and
tests/integration; here, what it records, what it schedules, and how it
folds repeated callbacks."""

from __future__ import annotations

import asyncio
import itertools
from urllib.parse import parse_qs, urlsplit
from uuid import uuid4

import pytest

from app.callback import CallbackSettler, StorageBudget, settle_after_callback
from app.metrics import Metrics
from app.poller import CallbackHealth
from domain.callbacks import ReceivedCallback
from domain.ebarimt import EbarimtReceiverType, EbarimtRequest
from domain.intents import IntentId, IntentRef
from domain.invoices import InvoiceId
from domain.ports import UnitOfWork
from domain.qpay_messages import QPayEnvironment
from tests.unit.services.conftest import World, make_world

pytestmark = pytest.mark.anyio


class Settlements:
    """A settle step that records which intents it was asked for."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.refs: list[IntentRef] = []
        self.running = 0
        self.most_at_once = 0
        self._seconds = seconds

    async def __call__(self, ref: IntentRef) -> object:
        self.refs.append(ref)
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await asyncio.sleep(self._seconds)
        finally:
            self.running -= 1
        return None


async def an_intent(
    world: World, ebarimt: EbarimtRequest | None = None
) -> tuple[IntentId, str]:
    """A PENDING intent in the fake store, and its callback token."""
    intent = await world.new_intent("100.00", ebarimt)
    url = world.gateway.invoices[str(intent.qpay_invoice_id)].request.callback_url
    return intent.id, parse_qs(urlsplit(url).query)["token"][0]


def received(world: World, intent_id: IntentId) -> ReceivedCallback:
    return ReceivedCallback(
        intent_id=intent_id,
        method="GET",
        query={"qpay_payment_id": "1"},
        headers={},
        body="",
        remote_addr="203.0.113.9",
        received_at=world.clock.now(),
    )


async def settled(settler: CallbackSettler) -> None:
    while settler.busy:
        await asyncio.sleep(0.005)


async def test_a_right_token_is_recorded_then_settled() -> None:
    world = make_world()
    intent_id, token = await an_intent(world)
    settle = Settlements()
    settler = CallbackSettler(uow=world.uow, settle=settle)

    accepted = await settler.accept(intent_id, token, received(world, intent_id))
    await settled(settler)

    assert accepted is True
    assert [c.intent_id for c in world.store.callbacks] == [intent_id]
    assert [r.intent_id for r in settle.refs] == [intent_id]
    assert settle.refs[0].qpay_invoice_id is not None  # no re-read needed


async def test_a_callback_is_checked_and_stored_in_one_unit_of_work() -> None:
    """The token check and the stored request share one transaction: one
    commit on the callback's own path (issue 18)."""
    world = make_world()
    intent_id, token = await an_intent(world)
    opened: list[object] = []

    def counting_uow() -> UnitOfWork:
        opened.append(1)
        return world.uow()

    settler = CallbackSettler(uow=counting_uow, settle=Settlements())

    accepted = await settler.accept(intent_id, token, received(world, intent_id))

    assert accepted is True
    assert len(opened) == 1
    assert [c.intent_id for c in world.store.callbacks] == [intent_id]


class SlowStoring:
    """Unit of work whose stored request waits for `until`, and a record of
    what happened in which order."""

    def __init__(self, world: World, until: asyncio.Event) -> None:
        self._world = world
        self._until = until
        self.order: list[str] = []

    def __call__(self) -> UnitOfWork:
        uow = self._world.uow()
        add = uow.callbacks.add

        async def slow_add(callback: ReceivedCallback) -> None:
            # A guard, not a measurement: a settlement scheduled only after
            # the store never sets `until`, and this fails instead of hanging.
            async with asyncio.timeout(10):
                await self._until.wait()
            await add(callback)
            self.order.append("stored")

        uow.callbacks.add = slow_add  # type: ignore[method-assign]
        return uow


async def test_the_settlement_starts_while_the_request_is_being_stored() -> None:
    """The QPay check does not wait for the stored request's commit: it is
    scheduled as soon as the token is right (issue 18: one fsync less
    between QPay's callback and the push)."""
    world = make_world()
    intent_id, token = await an_intent(world)
    started = asyncio.Event()
    uow = SlowStoring(world, until=started)

    async def settle(ref: IntentRef) -> None:
        uow.order.append("settling")
        started.set()

    settler = CallbackSettler(uow=uow, settle=settle)

    accepted = await settler.accept(intent_id, token, received(world, intent_id))
    await settled(settler)

    assert accepted is True
    assert uow.order == ["settling", "stored"]
    assert [c.intent_id for c in world.store.callbacks] == [intent_id]


async def test_a_request_that_cannot_be_stored_is_still_settled() -> None:
    """The route answers 503 then, and QPay calls again; the settlement,
    which believes nothing of the request, has already been scheduled."""
    world = make_world()
    intent_id, token = await an_intent(world)
    settle = Settlements()

    def failing_uow() -> UnitOfWork:
        uow = world.uow()

        async def refuse(callback: ReceivedCallback) -> None:
            raise OSError("the database went away")

        uow.callbacks.add = refuse  # type: ignore[method-assign]
        return uow

    settler = CallbackSettler(uow=failing_uow, settle=settle)

    with pytest.raises(OSError, match="went away"):
        await settler.accept(intent_id, token, received(world, intent_id))
    await settled(settler)

    assert world.store.callbacks == []
    assert [r.intent_id for r in settle.refs] == [intent_id]


@pytest.mark.parametrize("token", ["wrong", "", None])
async def test_a_wrong_token_records_and_schedules_nothing(token: str | None) -> None:
    world = make_world()
    intent_id, _ = await an_intent(world)
    settle = Settlements()
    settler = CallbackSettler(uow=world.uow, settle=settle)

    accepted = await settler.accept(intent_id, token, received(world, intent_id))
    await settled(settler)

    assert accepted is False
    assert world.store.callbacks == [] and settle.refs == []


async def test_an_unknown_intent_records_and_schedules_nothing() -> None:
    world = make_world()
    _, token = await an_intent(world)
    settle = Settlements()
    settler = CallbackSettler(uow=world.uow, settle=settle)
    unknown = IntentId(uuid4())

    accepted = await settler.accept(unknown, token, received(world, unknown))

    assert accepted is False
    assert world.store.callbacks == [] and settle.refs == []


async def test_past_its_budget_a_replay_is_settled_but_not_stored() -> None:
    world = make_world()
    intent_id, token = await an_intent(world)
    settle = Settlements()
    settler = CallbackSettler(
        uow=world.uow, settle=settle, budget=StorageBudget(2), spacing=0.0
    )

    answers = [
        await settler.accept(intent_id, token, received(world, intent_id))
        for _ in range(5)
    ]
    await settled(settler)

    assert answers == [True] * 5
    assert len(world.store.callbacks) == 2
    assert 1 <= len(settle.refs) <= 5


def a_ref() -> IntentRef:
    return IntentRef(IntentId(uuid4()), InvoiceId(uuid4()), "q", QPayEnvironment.MOCK)


async def test_runs_for_one_intent_are_folded_and_spaced() -> None:
    runs: list[float] = []
    loop = asyncio.get_running_loop()

    async def settle(_: IntentRef) -> None:
        runs.append(loop.time())
        await asyncio.sleep(0.01)

    settler = CallbackSettler(uow=make_world().uow, settle=settle, spacing=0.2)
    ref = a_ref()

    for _ in range(50):
        settler.schedule(ref)
        await asyncio.sleep(0.005)
    await settled(settler)

    assert 2 <= len(runs) <= 3
    # Never closer than the spacing (a slow machine only spaces them more).
    assert all(b - a >= 0.19 for a, b in itertools.pairwise(runs))


async def test_a_callback_just_after_a_run_ended_waits_out_the_spacing() -> None:
    """The spacing holds across runs, not only within one: a replay that
    arrives as a quick run ends (QPay showed nothing paid) starts no new
    QPay check before `spacing` has passed, and everything that arrives
    meanwhile folds into that one run."""
    runs: list[float] = []
    loop = asyncio.get_running_loop()

    async def settle(_: IntentRef) -> None:
        runs.append(loop.time())

    settler = CallbackSettler(uow=make_world().uow, settle=settle, spacing=0.2)
    ref = a_ref()

    settler.schedule(ref)
    await settled(settler)
    for _ in range(20):
        settler.schedule(ref)
        await asyncio.sleep(0.002)
    await settled(settler)

    assert len(runs) == 2
    assert runs[1] - runs[0] >= 0.19


async def test_the_spacing_remembers_a_bounded_number_of_intents() -> None:
    settler = CallbackSettler(
        uow=make_world().uow, settle=Settlements(), spacing=60.0, remember=8
    )

    for _ in range(50):
        settler.schedule(a_ref())
        await settled(settler)

    assert settler.remembered <= 8


async def test_different_intents_settle_side_by_side_up_to_the_limit() -> None:
    settle = Settlements(seconds=0.05)
    settler = CallbackSettler(uow=make_world().uow, settle=settle, limit=3)

    for _ in range(10):
        settler.schedule(a_ref())
    await settled(settler)

    assert len(settle.refs) == 10
    assert settle.most_at_once == 3


async def test_drain_waits_for_runs_in_flight_and_takes_no_more() -> None:
    settle = Settlements(seconds=0.05)
    settler = CallbackSettler(uow=make_world().uow, settle=settle)
    settler.schedule(a_ref())
    await asyncio.sleep(0)

    await settler.drain()
    settler.schedule(a_ref())

    assert len(settle.refs) == 1 and settle.running == 0
    assert settler.busy == 0


async def test_a_failing_settlement_does_not_stop_the_next_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[IntentRef] = []

    async def settle(ref: IntentRef) -> None:
        calls.append(ref)
        if len(calls) == 1:
            raise RuntimeError("a bug")

    settler = CallbackSettler(uow=make_world().uow, settle=settle)
    settler.schedule(a_ref())
    await settled(settler)
    settler.schedule(a_ref())
    await settled(settler)

    assert len(calls) == 2
    assert "settlement after callback" in caplog.text


# --- the settlement a callback sets off ------------------------------------------


@pytest.mark.parametrize("receipt", [False, True])
async def test_the_receipt_worker_is_woken_only_when_a_receipt_is_due(
    receipt: bool,
) -> None:
    """Every recorded payment woke the e-Barimt worker, whose pass is a
    transaction: a database round of work per payment for nothing when the
    intent asked for no receipt."""
    world = make_world()
    request = EbarimtRequest(EbarimtReceiverType.CITIZEN) if receipt else None
    intent_id, _ = await an_intent(world, ebarimt=request)
    intent = world.store.intents[intent_id]
    assert intent.qpay_invoice_id is not None
    world.gateway.pay(intent.qpay_invoice_id)
    wake = asyncio.Event()
    settle = settle_after_callback(
        uow=world.uow,
        gateway=world.gateway,
        clock=world.clock,
        metrics=Metrics(),
        health=CallbackHealth(),
        receipts_wake=wake,
    )

    await settle(
        IntentRef(
            intent.id, intent.invoice_id, intent.qpay_invoice_id, intent.environment
        )
    )

    assert world.store.payments  # the payment was recorded
    assert wake.is_set() is receipt
