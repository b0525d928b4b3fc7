"""The chaos run's end state and its invariants: QPay's ledger (the simulator's
own record of every payment it took, and of the ones refunded since) against
ours, intent by intent, refund by refund."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import asyncpg

from bench.common import asyncpg_url
from qpay.simulator import QPaySimulator

# Who the run's staff token says it is (bench/common.py staff_client).
STAFF = "bench"


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
    card: bool = False  # paid by card (QPay's refund endpoint takes it back)
    # How its first payment is refunded mid-run (bench/chaos.py REFUND_PLANS).
    refund: str | None = None
    payments: list[str] = field(default_factory=list)  # QPay's ids, in order
    paid_at: float = 0.0  # time.monotonic() of its first payment
    refunded_at: float | None = None  # time.time() of a refund made at QPay

    @property
    def expected_status(self) -> str:
        if self.kind == "exact" and not self.second and self.closed is None:
            return "PAID"
        return "NEEDS_REVIEW"

    @property
    def refunds_money(self) -> bool:
        """A refund of its money is planned (P2P: asked, and refused)."""
        return self.refund is not None and self.refund != "api_p2p"

    @property
    def watched_to_the_end(self) -> bool:
        """Its subscriber sees its last state: nothing changes it after a
        terminal state (a subscription completes there; a refund comes after)."""
        return self.closed is None and not self.second and not self.refunds_money


@dataclass
class EndState:
    intents: dict[str, dict[str, Any]]
    payments: dict[str, tuple[Decimal, str]]  # QPay payment id -> amount, currency
    mismatched_invoices: int
    callbacks: dict[tuple[str, str], int]
    receipts: list[dict[str, Any]]
    flags: dict[str, set[str]] = field(default_factory=dict)  # kind -> payment ids
    # Every refund, with its payment's QPay id, amount and currency.
    refunds: list[dict[str, Any]] = field(default_factory=list)
    # REFUND_RECORDED history rows per refund id; rows naming no refund.
    refund_events: Counter[str] = field(default_factory=Counter)
    dangling_refund_events: int = 0
    # Invoices whose status does not follow their paid amount.
    misstated_invoices: int = 0
    # Intents whose paid amount is not their payments less their refunds.
    mismatched_intents: int = 0
    # Intents whose payments are all refunded that are not REFUNDED.
    unrefunded_intents: int = 0


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
        # An invoice (an intent) holds its tögrög payments less the refunds
        # of them that were completed.
        mismatched = await connection.fetchval(
            "SELECT count(*) FROM invoices i WHERE i.paid_amount <> "
            "(SELECT coalesce(sum(amount), 0) FROM payments p "
            "WHERE p.invoice_id = i.id AND p.currency = 'MNT') - "
            "(SELECT coalesce(sum(r.amount), 0) FROM refunds r "
            "JOIN payments p ON p.id = r.payment_id WHERE r.invoice_id = i.id "
            "AND r.status = 'COMPLETED' AND p.currency = 'MNT')"
        )
        misstated = await connection.fetchval(
            "SELECT count(*) FROM invoices WHERE status <> 'VOID' AND status <> "
            "CASE WHEN paid_amount <= 0 THEN 'UNPAID' "
            "WHEN paid_amount < total THEN 'PARTIALLY_PAID' "
            "WHEN paid_amount = total THEN 'PAID' ELSE 'OVERPAID' END"
        )
        mismatched_intents = await connection.fetchval(
            "SELECT count(*) FROM qpay_intents q WHERE q.paid_amount <> "
            "(SELECT coalesce(sum(amount), 0) FROM payments p "
            "WHERE p.intent_id = q.id AND p.currency = 'MNT') - "
            "(SELECT coalesce(sum(r.amount), 0) FROM refunds r "
            "JOIN payments p ON p.id = r.payment_id WHERE p.intent_id = q.id "
            "AND r.status = 'COMPLETED' AND p.currency = 'MNT')"
        )
        unrefunded = await connection.fetchval(
            "SELECT count(*) FROM qpay_intents q WHERE q.status <> 'REFUNDED' "
            "AND EXISTS (SELECT 1 FROM payments p WHERE p.intent_id = q.id) "
            "AND (SELECT coalesce(sum(amount), 0) FROM payments p "
            "WHERE p.intent_id = q.id) = "
            "(SELECT coalesce(sum(r.amount), 0) FROM refunds r "
            "JOIN payments p ON p.id = r.payment_id WHERE p.intent_id = q.id "
            "AND r.status = 'COMPLETED')"
        )
        refunds = [
            dict(r)
            for r in await connection.fetch(
                "SELECT r.id::text, r.status, r.channel, r.amount, r.actor, "
                "r.created_at, r.completed_at, r.intent_id::text, p.qpay_txn_id, "
                "p.amount AS payment_amount, p.currency "
                "FROM refunds r JOIN payments p ON p.id = r.payment_id"
            )
        ]
        refund_events: Counter[str] = Counter()
        dangling = 0
        for row in await connection.fetch(
            "SELECT e.refund_id::text, r.id IS NOT NULL AS known, count(*) AS n "
            "FROM payment_events e LEFT JOIN refunds r ON r.id = e.refund_id "
            "WHERE e.kind = 'REFUND_RECORDED' GROUP BY 1, 2"
        ):
            if row["known"]:
                refund_events[row["refund_id"]] += row["n"]
            else:
                dangling += row["n"]
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
        return EndState(
            intents,
            payments,
            mismatched,
            callbacks,
            receipts,
            flags,
            refunds=refunds,
            refund_events=refund_events,
            dangling_refund_events=dangling,
            misstated_invoices=misstated,
            mismatched_intents=mismatched_intents,
            unrefunded_intents=unrefunded,
        )
    finally:
        await connection.close()


def qpay_ledger(simulator: QPaySimulator) -> tuple[dict[str, Decimal], set[str]]:
    """QPay's payments we must hold (id -> amount; PAID, or REFUNDED since),
    and the ones sent in a shape no table can hold (flagged instead)."""
    recordable: dict[str, Decimal] = {}
    unrecordable: set[str] = set()
    for payment in simulator.state.payments.values():
        if payment.status not in ("PAID", "REFUNDED"):
            continue
        if payment.raw_amount is not None:
            unrecordable.add(payment.payment_id)
        else:
            recordable[payment.payment_id] = payment.amount
    return recordable, unrecordable


def refunded_at_qpay(simulator: QPaySimulator) -> dict[str, Decimal]:
    """QPay's REFUNDED payments (id -> amount)."""
    return {
        p.payment_id: p.amount
        for p in simulator.state.payments.values()
        if p.status == "REFUNDED"
    }


def completed_refunds(state: EndState) -> dict[str, list[dict[str, Any]]]:
    """QPay payment id -> its COMPLETED refunds."""
    found: dict[str, list[dict[str, Any]]] = {}
    for refund in state.refunds:
        if refund["status"] == "COMPLETED":
            found.setdefault(refund["qpay_txn_id"], []).append(refund)
    return found


def unsettled(
    planned: list[Planned], state: EndState, simulator: QPaySimulator
) -> list[str]:
    """What the run still waits for (nothing: QPay's ledger and ours agree,
    its payments and its refunds, the closed intents' ones found by the
    ledger sweep, and nothing is pending)."""
    recordable, unrecordable = qpay_ledger(simulator)
    waits = {
        "payments": not set(recordable) <= set(state.payments),
        "malformed flags": not unrecordable <= state.flags.get("MALFORMED", set()),
        "refunds at QPay": not set(refunded_at_qpay(simulator))
        <= set(completed_refunds(state)),
        "pending refunds": any(r["status"] == "PENDING" for r in state.refunds),
        "pending intents": any(
            state.intents[p.id]["status"] == "PENDING" for p in planned
        ),
        "pending receipts": any(r["status"] == "PENDING" for r in state.receipts),
    }
    return [name for name, waiting in waits.items() if waiting]


def expected_status(planned: Planned, simulator: QPaySimulator) -> str:
    """What its money says: REFUNDED once QPay gave all of it back."""
    invoice = simulator.state.invoices[planned.qpay]
    money = [
        p for p in simulator.state.invoice_payments(invoice) if p.raw_amount is None
    ]
    if money and all(p.status == "REFUNDED" for p in money):
        return "REFUNDED"
    return planned.expected_status


def refund_invariants(
    planned: list[Planned], state: EndState, simulator: QPaySimulator
) -> tuple[dict[str, bool], dict[str, object]]:
    """QPay's refunds against ours: each once, whole, none invented, none
    left pending, each in the history once; the refunded money's receipts
    returned."""
    at_qpay = refunded_at_qpay(simulator)
    done = completed_refunds(state)
    unrecorded = [
        pid
        for pid, amount in at_qpay.items()
        if len(done.get(pid, [])) != 1
        or done[pid][0]["channel"] not in ("OUTSIDE", "QPAY")
        or done[pid][0]["amount"] != amount
        or done[pid][0]["payment_amount"] != amount
    ]
    invented = [
        pid
        for pid, refunds in done.items()
        if pid not in at_qpay and any(r["channel"] != "DESK" for r in refunds)
    ]
    # Made at QPay: OUTSIDE, no actor; asked here: QPAY, the staff member's.
    made_by: dict[str, tuple[str, str | None]] = {
        "outside": ("OUTSIDE", None),
        "outside_early": ("OUTSIDE", None),
        "api": ("QPAY", STAFF),
        "api_killed": ("QPAY", STAFF),
    }
    wrong_channel = [
        p.id
        for p in planned
        if p.refund in made_by
        and p.payments[0] in done
        and any(
            (r["channel"], r["actor"]) != made_by[p.refund] for r in done[p.payments[0]]
        )
    ]
    pending = [r for r in state.refunds if r["status"] == "PENDING"]
    # REFUND_RECORDED: once when completed (or failed), never while pending.
    most = {"COMPLETED": 1, "FAILED": 1, "PENDING": 0}
    history_wrong = [
        r["id"]
        for r in state.refunds
        if state.refund_events[r["id"]] > most[r["status"]]
        or (r["status"] == "COMPLETED" and state.refund_events[r["id"]] != 1)
    ]
    kept_receipts = [
        r
        for r in state.receipts
        if r["qpay_txn_id"] in done and r["status"] in ("PENDING", "ISSUED")
    ]
    refunded_intents = [
        p for p in planned if expected_status(p, simulator) == "REFUNDED"
    ]
    checks = {
        "every payment QPay shows REFUNDED has one COMPLETED refund of its whole "
        "amount (OUTSIDE when made at QPay, QPAY when asked here); none refunded "
        "here that QPay did not": not (unrecorded or invented or wrong_channel),
        "no refund left PENDING": not pending,
        "each COMPLETED refund is in the history once; no history row names a "
        "missing refund": not history_wrong and state.dangling_refund_events == 0,
        "each intent's paid amount equals its payments less its refunds; all "
        "refunded: REFUNDED": state.mismatched_intents == 0
        and state.unrefunded_intents == 0,
        "a refunded payment's e-Barimt receipt is returned, none left ISSUED": (
            not kept_receipts
        ),
    }
    channels = Counter(f"{r['channel']} {r['status']}" for r in state.refunds)
    figures: dict[str, object] = {
        "refunded_at_qpay": len(at_qpay),
        "refunds_recorded": dict(sorted(channels.items())),
        "refunds_unrecorded": len(unrecorded),
        "refunds_invented": len(invented),
        "refunds_wrong_channel": len(wrong_channel),
        "refunds_pending": len(pending),
        "refund_history_wrong": len(history_wrong) + state.dangling_refund_events,
        "intents_refunded": len(refunded_intents),
        "intents_paid_mismatched": state.mismatched_intents,
        "refunded_receipts": dict(
            Counter(r["status"] for r in state.receipts if r["qpay_txn_id"] in done)
        ),
    }
    return checks, figures


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
        p.id
        for p in planned
        if state.intents[p.id]["status"] != expected_status(p, simulator)
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
        "each invoice's paid amount equals its payments less their refunds; "
        "its status follows": state.mismatched_invoices == 0
        and state.misstated_invoices == 0,
        "every subscriber's last state equals the database": not subscriber_mismatch,
        "zero 5xx answers from /graphql": graphql_5xx == 0,
        "every callback received is stored": unstored == 0,
        "no e-Barimt receipt issued twice; every receipt settled": not twice
        and not issued_unknown_to_qpay
        and not pending_receipts,
    }
    refund_checks, refund_figures = refund_invariants(planned, state, simulator)
    checks.update(refund_checks)
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
        "wrong_status_sample": [
            (
                p.kind,
                p.refund,
                p.second,
                p.closed,
                state.intents[p.id]["status"],
                expected_status(p, simulator),
            )
            for p in planned
            if p.id in wrong_status
        ][:5],
        **refund_figures,
    }
    return checks, figures
