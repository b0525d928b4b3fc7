"""The poller's cadence: relaxed only while callbacks announce the payments,
and the per-process ceiling on QPay checks."""

from __future__ import annotations

from uuid import uuid4

import pytest

from app.poller import CallbackHealth, policy_for
from app.ratelimit import CheckCeiling
from app.watching import due
from domain.services.poll_due_intents import PollPolicy

BASE = PollPolicy(poll_interval=3, max_interval=60)


class Tick:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_full_cadence_when_nothing_is_known_yet() -> None:
    assert policy_for(BASE, CallbackHealth()).watched_interval is None


def test_relaxed_cadence_when_callbacks_found_the_recent_payments() -> None:
    health = CallbackHealth()
    health.note(by_callback=True, count=9)
    health.note(by_callback=False)

    assert policy_for(BASE, health).watched_interval == 12


def test_full_cadence_again_when_the_poller_finds_what_callbacks_missed() -> None:
    health = CallbackHealth()
    health.note(by_callback=True, count=6)
    health.note(by_callback=False, count=3)

    assert policy_for(BASE, health).watched_interval is None


def test_old_evidence_expires_when_the_window_passes() -> None:
    clock = Tick()
    health = CallbackHealth(window_seconds=600, now=clock)
    health.note(by_callback=True, count=10)

    clock.t += 601

    assert not health.callbacks_flowing()


def test_relaxed_cadence_never_exceeds_the_ceiling_when_the_interval_is_long() -> None:
    health = CallbackHealth()
    health.note(by_callback=True, count=10)

    slow = PollPolicy(poll_interval=30, max_interval=60)

    assert policy_for(slow, health).watched_interval == 60


def test_ceiling_counts_checks_made_without_waiting() -> None:
    clock = Tick()
    ceiling = CheckCeiling(rate=5, now=clock)

    for _ in range(7):
        ceiling.spend()

    assert ceiling.available() == 0
    clock.t += 0.2
    assert ceiling.available() == 0  # 7 checks of a burst of 5: 1.0 in debt
    clock.t += 0.4
    assert ceiling.available() == 1


def test_ceiling_debt_is_bounded_when_callbacks_flood() -> None:
    clock = Tick()
    ceiling = CheckCeiling(rate=5, max_debt_seconds=2, now=clock)

    for _ in range(1000):
        ceiling.spend()
    clock.t += 2.2

    assert ceiling.available() == 1


@pytest.mark.anyio
async def test_poller_waits_for_a_token_the_check_then_spends() -> None:
    ceiling = CheckCeiling(rate=1000, capacity=1)
    ceiling.spend()

    await ceiling.wait_for_token()

    assert ceiling.available() == 1


def test_watch_keeper_marks_new_and_stale_intents_only_when_due() -> None:
    fresh, stale, new = uuid4(), uuid4(), uuid4()
    marked = {fresh: 100.0, stale: 90.0}

    assert due([fresh, stale, new], marked, now=100.0, every=10.0) == [stale, new]
