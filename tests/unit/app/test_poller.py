"""The poller's cadence: relaxed only while callbacks announce the payments,
and the per-process ceiling on QPay checks."""

from __future__ import annotations

from uuid import uuid4

import pytest

from app.poller import CallbackHealth, TokenBucket, policy_for
from app.watching import REFRESH_EVERY, due
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


@pytest.mark.anyio
async def test_bucket_holds_checks_to_its_rate_when_drained() -> None:
    bucket = TokenBucket(rate=1000, capacity=3)

    for _ in range(3):
        await bucket.acquire()

    assert bucket.available() == 0


def test_watch_keeper_marks_new_and_stale_intents_only_when_due() -> None:
    fresh, stale, new = uuid4(), uuid4(), uuid4()
    marked = {fresh: 100.0, stale: 100.0 - REFRESH_EVERY}

    assert due([fresh, stale, new], marked, now=100.0) == [stale, new]
