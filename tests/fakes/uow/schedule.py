"""FakeSchedule: the polling schedule (leases, watching, the right to check)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

from domain.intents import IntentId, IntentRef, IntentStatus
from domain.ports import DueIntent
from domain.qpay_messages import QPayEnvironment
from tests.fakes.uow.base import FakeRepository, lease_free


class FakeSchedule(FakeRepository):
    """The polling schedule over the intents' poller state (FakeStore.secrets)."""

    async def mark_watched(
        self, intent_ids: Sequence[IntentId], seconds: float, poll_interval: float
    ) -> Sequence[tuple[IntentId, int]]:
        marked: list[tuple[IntentId, int]] = []
        for intent_id in intent_ids:
            state = await self.locked_intent(intent_id)
            if state is None:
                continue
            self.tx.secrets[intent_id] = replace(
                state,
                watched_until=self.now + timedelta(seconds=seconds),
                next_check_at=min(
                    state.next_check_at, self.now + timedelta(seconds=poll_interval)
                ),
            )
            marked.append((intent_id, self.tx.intents[intent_id].version))
        return marked

    async def claim_due(
        self, owner: str, limit: int, lease_seconds: float, environment: QPayEnvironment
    ) -> Sequence[DueIntent]:
        now = self.now
        due = sorted(
            (
                (self.tx.secrets[i.id], i)
                for i in self.tx.intents.values()
                if i.status is IntentStatus.PENDING
                and i.is_created
                and i.environment is environment
                and not self.locked_by_others("intents", i.id)
            ),
            key=lambda pair: pair[0].next_check_at,
        )
        claimed: list[DueIntent] = []
        for state, intent in due:
            if len(claimed) == limit:
                break
            if state.next_check_at > now or not lease_free(state.lease_until, now):
                continue
            await self.lock("intents", intent.id)  # free: nobody else holds it
            leased = replace(
                state,
                leased_by=owner,
                lease_until=now + timedelta(seconds=lease_seconds),
                check_count=state.check_count + 1,
            )
            self.tx.secrets[intent.id] = leased
            claimed.append(
                DueIntent(
                    IntentRef(
                        intent.id,
                        intent.invoice_id,
                        intent.qpay_invoice_id,
                        intent.environment,
                    ),
                    expired=intent.expires_at <= now,
                    watched=leased.watched_until is not None
                    and leased.watched_until > now,
                    check_count=leased.check_count,
                    lag_seconds=(now - state.next_check_at).total_seconds(),
                )
            )
        return claimed

    async def release(
        self, intent_id: IntentId, owner: str, delay_seconds: float
    ) -> None:
        state = await self.locked_intent(intent_id)
        if state is not None and state.leased_by == owner:
            self.tx.secrets[intent_id] = replace(
                state,
                leased_by=None,
                lease_until=None,
                next_check_at=self.now + timedelta(seconds=delay_seconds),
            )

    async def claim_check(self, intent_id: IntentId, min_interval: float) -> bool:
        state = await self.locked_intent(intent_id)
        if state is None:
            return False
        last = state.last_checked_at
        if last is not None and last > self.now - timedelta(seconds=min_interval):
            return False
        self.tx.secrets[intent_id] = replace(state, last_checked_at=self.now)
        return True
