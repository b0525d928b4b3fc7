"""FakeLedger: the ledger sweep's cursor and lease, and its flags."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from domain.ledger import LedgerFlag, LedgerFlagKind, SweepClaim, SweepState
from domain.qpay_messages import QPayEnvironment
from tests.fakes.uow.base import FakeRepository, lease_free
from tests.fakes.uow.store import FakeSweep


class FakeLedger(FakeRepository):
    async def claim_sweep(
        self, environment: QPayEnvironment, owner: str, lease_seconds: float
    ) -> SweepClaim | None:
        await self.lock("sweeps", environment)
        now = self.now
        sweep = self.tx.sweeps.get(environment) or FakeSweep(next_run_at=now)
        self.tx.sweeps[environment] = sweep
        if sweep.next_run_at > now or not lease_free(sweep.lease_until, now):
            return None
        self.tx.sweeps[environment] = replace(
            sweep, lease_owner=owner, lease_until=now + timedelta(seconds=lease_seconds)
        )
        created = [
            i.created_at
            for i in self.tx.intents.values()
            if i.environment is environment and i.is_created
        ]
        return SweepClaim(sweep.swept_until, now, min(created, default=None))

    async def finish_sweep(
        self,
        environment: QPayEnvironment,
        owner: str,
        swept_until: datetime,
        next_in: float,
    ) -> None:
        sweep = await self._mine(environment, owner)
        if sweep is not None:
            # Never backwards: a slow sweep finishing after a newer one.
            until = max(swept_until, sweep.swept_until or swept_until)
            self._release(environment, replace(sweep, swept_until=until), next_in)

    async def release_sweep(
        self, environment: QPayEnvironment, owner: str, retry_in: float
    ) -> None:
        sweep = await self._mine(environment, owner)
        if sweep is not None:
            self._release(environment, sweep, retry_in)

    async def extend_sweep(
        self, environment: QPayEnvironment, owner: str, lease_seconds: float
    ) -> bool:
        sweep = await self._mine(environment, owner)
        if sweep is None:
            return False
        until = self.now + timedelta(seconds=lease_seconds)
        self.tx.sweeps[environment] = replace(sweep, lease_until=until)
        return True

    async def _mine(self, environment: QPayEnvironment, owner: str) -> FakeSweep | None:
        await self.lock("sweeps", environment)
        sweep = self.tx.sweeps.get(environment)
        return sweep if sweep is not None and sweep.lease_owner == owner else None

    def _release(
        self, environment: QPayEnvironment, sweep: FakeSweep, seconds: float
    ) -> None:
        self.tx.sweeps[environment] = replace(
            sweep,
            lease_owner=None,
            lease_until=None,
            next_run_at=self.now + timedelta(seconds=seconds),
        )

    async def sweep_state(self, environment: QPayEnvironment) -> SweepState:
        sweep = self.tx.sweeps.get(environment)
        return SweepState(sweep.swept_until if sweep else None, self.now)

    async def raise_flag(
        self, environment: QPayEnvironment, flag: LedgerFlag, now: datetime
    ) -> bool:
        key = (environment, flag.kind, flag.qpay_payment_id)
        await self.lock("flags", key)
        seen = self.tx.flags.get(key)
        if seen is not None:
            # Seen again: only the detail (and when it was last seen) changes,
            # and the QPay invoice is learnt if it was not known.
            self.tx.flags[key] = replace(
                seen,
                detail=flag.detail,
                qpay_invoice_id=flag.qpay_invoice_id or seen.qpay_invoice_id,
            )
            return False
        self.tx.flags[key] = replace(flag, first_seen_at=now)
        return True

    async def open_flags(self, environment: QPayEnvironment) -> Sequence[LedgerFlag]:
        return sorted(
            (
                f
                for (env, _, _), f in self.tx.flags.items()
                if env is environment and f.resolved_at is None
            ),
            key=lambda f: f.first_seen_at or self.now,
        )

    async def resolve_flags(
        self,
        environment: QPayEnvironment,
        qpay_invoice_id: str,
        kind: LedgerFlagKind,
        now: datetime,
    ) -> int:
        keys = [
            key
            for key, f in self.tx.flags.items()
            if key[0] is environment
            and f.kind is kind
            and f.qpay_invoice_id == qpay_invoice_id
            and f.resolved_at is None
        ]
        for key in keys:
            await self.lock("flags", key)
            self.tx.flags[key] = replace(self.tx.flags[key], resolved_at=now)
        return len(keys)
