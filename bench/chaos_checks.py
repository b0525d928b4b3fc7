"""The chaos run's end state and its invariants: QPay's ledger (the simulator's
own record of every payment it took) against ours, intent by intent."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import asyncpg

from bench.common import asyncpg_url
from qpay.simulator import QPaySimulator


@dataclass
class Planned:
    """One intent of the run and what happens to it."""

    id: str
    qpay: str
    secret: str
    amount: Decimal
    creator: int
    kind: str  # exact, partial, over, cancel, expire, malformed
    ebarimt: bool = False
    second: bool = False  # a second payment later, its callback lost
    # What actually happened (a cancel can fail on injected faults).
    closed: str | None = None  # CANCELLED or EXPIRED before its money came

    @property
    def expected_status(self) -> str:
        if self.kind == "exact" and not self.second and self.closed is None:
            return "PAID"
        return "NEEDS_REVIEW"

    @property
    def watched_to_the_end(self) -> bool:
        """Its subscriber sees its last state: nothing changes it after a
        terminal state (a subscription completes there)."""
        return self.closed is None and not self.second


@dataclass
class EndState:
    intents: dict[str, dict[str, Any]]
    payments: dict[str, tuple[Decimal, str]]  # QPay payment id -> amount, currency
    mismatched_invoices: int
    callbacks: dict[tuple[str, str], int]
    receipts: list[dict[str, Any]]
    flags: dict[str, set[str]] = field(default_factory=dict)  # kind -> payment ids


async def end_state(db_url: str) -> EndState:
    connection = await asyncpg.connect(asyncpg_url(db_url))
    try:
        intents = {
            str(r["id"]): dict(r)
            for r in await connection.fetch(
                "SELECT id, status, version, paid_amount, last_error FROM qpay_intents"
            )
        }
        payments = {
            r["qpay_txn_id"]: (Decimal(str(r["amount"])), r["currency"])
            for r in await connection.fetch(
                "SELECT qpay_txn_id, amount, currency FROM payments "
                "WHERE qpay_txn_id IS NOT NULL"
            )
        }
        mismatched = await connection.fetchval(
            "SELECT count(*) FROM invoices i WHERE i.paid_amount <> "
            "(SELECT coalesce(sum(amount), 0) FROM payments p "
            "WHERE p.invoice_id = i.id AND p.currency = 'MNT')"
        )
        callbacks = {
            (r["intent_id"], r["qpay_payment_id"] or ""): r["n"]
            for r in await connection.fetch(
                "SELECT intent_id::text, qpay_payment_id, count(*) AS n "
                "FROM qpay_callbacks GROUP BY 1, 2"
            )
        }
        receipts = [
            dict(r)
            for r in await connection.fetch(
                "SELECT r.status, r.lottery, r.last_error, p.qpay_txn_id "
                "FROM ebarimt_receipts r JOIN payments p ON p.id = r.payment_id"
            )
        ]
        flags: dict[str, set[str]] = {}
        for row in await connection.fetch(
            "SELECT kind, qpay_payment_id FROM qpay_ledger_flags "
            "WHERE resolved_at IS NULL"
        ):
            flags.setdefault(row["kind"], set()).add(row["qpay_payment_id"])
        return EndState(intents, payments, mismatched, callbacks, receipts, flags)
    finally:
        await connection.close()


def qpay_ledger(simulator: QPaySimulator) -> tuple[dict[str, Decimal], set[str]]:
    """QPay's PAID payments we must hold (id -> amount), and the ones sent in
    a shape no table can hold (which must be flagged instead)."""
    recordable: dict[str, Decimal] = {}
    unrecordable: set[str] = set()
    for payment in simulator.state.payments.values():
        if payment.status != "PAID":
            continue
        if payment.raw_amount is not None:
            unrecordable.add(payment.payment_id)
        else:
            recordable[payment.payment_id] = payment.amount
    return recordable, unrecordable


def settled_everywhere(
    planned: list[Planned], state: EndState, simulator: QPaySimulator
) -> bool:
    """What the run waits for: QPay's ledger and ours agree, nothing pending."""
    recordable, unrecordable = qpay_ledger(simulator)
    return (
        set(recordable) <= set(state.payments)
        and unrecordable <= state.flags.get("MALFORMED", set())
        and all(state.intents[p.id]["status"] != "PENDING" for p in planned)
        and all(r["status"] != "PENDING" for r in state.receipts)
    )


def invariants(
    planned: list[Planned],
    state: EndState,
    simulator: QPaySimulator,
    seen: dict[str, Any],
    answered: Counter[tuple[str, str]],
    graphql_5xx: int,
) -> tuple[dict[str, bool], dict[str, object]]:
    recordable, unrecordable = qpay_ledger(simulator)
    ours = state.payments
    wrong_amount = [
        pid
        for pid, amount in recordable.items()
        if pid in ours and ours[pid][0] != amount
    ]
    invented = set(ours) - set(recordable)
    lost = set(recordable) - set(ours)
    wrong_status = [
        p.id for p in planned if state.intents[p.id]["status"] != p.expected_status
    ]
    stuck = [p.id for p in planned if state.intents[p.id]["status"] == "PENDING"]
    watched = [p for p in planned if p.watched_to_the_end]
    subscriber_mismatch = [
        p.id
        for p in watched
        if p.id not in seen
        or seen[p.id]["version"] != state.intents[p.id]["version"]
        or seen[p.id]["intent"]["status"] != state.intents[p.id]["status"]
    ]
    unstored = sum(
        max(0, n - state.callbacks.get(key, 0)) for key, n in answered.items()
    )
    registered = Counter(
        receipt.payment.payment_id
        for receipt in simulator.state.receipts.values()
        if receipt.status == "REGISTERED"
    )
    twice = [pid for pid, n in registered.items() if n > 1]
    lotteries = {
        receipt.lottery
        for receipt in simulator.state.receipts.values()
        if receipt.status == "REGISTERED"
    }
    issued_unknown_to_qpay = [
        r
        for r in state.receipts
        if r["status"] == "ISSUED" and r["lottery"] not in lotteries
    ]
    pending_receipts = [r for r in state.receipts if r["status"] == "PENDING"]
    checks = {
        "QPay's ledger equals ours: every QPay payment once, none invented": not (
            lost or invented or wrong_amount
        ),
        "every payment no table can hold is flagged, not recorded": unrecordable
        <= state.flags.get("MALFORMED", set())
        and not (unrecordable & set(ours)),
        "no intent left PENDING": not stuck,
        "each intent's status matches what was paid": not wrong_status,
        "each invoice's paid amount equals the sum of its payments": (
            state.mismatched_invoices == 0
        ),
        "every subscriber's last state equals the database": not subscriber_mismatch,
        "zero 5xx answers from /graphql": graphql_5xx == 0,
        "every callback received is stored": unstored == 0,
        "no e-Barimt receipt issued twice; every receipt settled": not twice
        and not issued_unknown_to_qpay
        and not pending_receipts,
    }
    figures: dict[str, object] = {
        "qpay_payments": len(recordable) + len(unrecordable),
        "payments_recorded": len(ours),
        "lost": len(lost),
        "invented": len(invented),
        "unrecordable_flagged": len(unrecordable & state.flags.get("MALFORMED", set())),
        "wrong_status": len(wrong_status),
        "stuck": len(stuck),
        "subscribers_checked": len(watched),
        "subscribers_mismatched": len(subscriber_mismatch),
        "subscriber_mismatch_sample": [
            (
                p.kind,
                p.ebarimt,
                state.intents[p.id]["status"],
                state.intents[p.id]["version"],
                (seen.get(p.id) or {}).get("intent", {}).get("status"),
                (seen.get(p.id) or {}).get("version"),
            )
            for p in watched
            if p.id in subscriber_mismatch
        ][:5],
        "receipts": len(state.receipts),
        "receipts_issued": sum(1 for r in state.receipts if r["status"] == "ISSUED"),
        "receipts_for_a_person": sum(
            1 for r in state.receipts if r["status"] == "FAILED"
        ),
        "receipts_issued_twice": len(twice),
    }
    return checks, figures
