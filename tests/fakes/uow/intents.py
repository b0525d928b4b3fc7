"""FakeIntents: the QPay intent aggregate."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from domain.ebarimt import EbarimtRequest, EbarimtStatus
from domain.intents import IntentId, IntentRef, IntentStatus, QPayIntent
from domain.intents import IntentSecrets as SecretHashes
from domain.invoices import Invoice, InvoiceId
from domain.pages import ListFilter, Position
from domain.payments import Payment
from domain.qpay_messages import QPayEnvironment
from tests.fakes.uow.base import FakeRepository, newest_first
from tests.fakes.uow.store import IntentSecrets


class FakeIntents(FakeRepository):
    async def add(
        self, intent: QPayIntent, *, client_secret_hash: str, callback_token_hash: str
    ) -> None:
        await self.lock("intents", intent.id)
        self.tx.intents[intent.id] = intent
        self.tx.secrets[intent.id] = IntentSecrets(
            (client_secret_hash,), callback_token_hash, next_check_at=self.now
        )

    async def get(self, intent_id: IntentId) -> QPayIntent | None:
        return self.tx.intents.get(intent_id)

    async def get_watched(
        self, intent_id: IntentId
    ) -> tuple[QPayIntent, Invoice, bool] | None:
        intent = self.tx.intents.get(intent_id)
        invoice = self.tx.invoices.get(intent.invoice_id) if intent else None
        if intent is None or invoice is None:
            return None
        pending = any(
            owner == intent_id and receipt.status is EbarimtStatus.PENDING
            for receipt, owner in self.tx.receipts.values()
        )
        return intent, invoice, pending

    async def get_for_update(self, intent_id: IntentId) -> QPayIntent | None:
        if intent_id not in self.tx.intents:
            return None
        await self.lock("intents", intent_id)
        return self.tx.intents.get(intent_id)

    async def lock_for_settlement(
        self, intent_id: IntentId
    ) -> tuple[QPayIntent, frozenset[str]] | None:
        intent = await self.get_for_update(intent_id)
        if intent is None:
            return None
        known = frozenset(
            p.qpay_payment_id
            for p in self.tx.payments.values()
            if p.invoice_id == intent.invoice_id and p.qpay_payment_id
        )
        return intent, known

    async def update(
        self, intent: QPayIntent, *, raw: Mapping[str, object] | None = None
    ) -> None:
        if await self.locked_intent(intent.id) is None:
            return
        self.tx.intents[intent.id] = replace(
            self.tx.intents[intent.id],
            status=intent.status,
            paid_amount=intent.paid_amount,
            qpay_payment_id=intent.qpay_payment_id,
            version=intent.version,
            last_error=intent.last_error,
            review_reason=intent.review_reason,
            review=intent.review,
            updated_at=intent.updated_at,
        )

    async def store_settlement(
        self,
        intent: QPayIntent,
        *,
        payments: Sequence[Payment],
        invoice: Invoice | None,
        raw: Mapping[str, object] | None = None,
    ) -> None:
        # One statement in SQL: a duplicate is refused before anything else
        # of it is stored (the fake's payments come first for that).
        for payment in payments:
            await self._uow.payments.add(payment)
        if invoice is not None:
            await self._uow.invoices.update(invoice)
        await self.update(intent, raw=raw)

    async def record_qpay_invoice(
        self, intent: QPayIntent, *, raw: Mapping[str, object], first_check_in: float
    ) -> None:
        state = await self.locked_intent(intent.id)
        if state is None:
            return
        self.tx.intents[intent.id] = replace(
            self.tx.intents[intent.id],
            qpay_invoice_id=intent.qpay_invoice_id,
            qr_text=intent.qr_text,
            qr_image=intent.qr_image,
            short_url=intent.short_url,
            deeplinks=intent.deeplinks,
            updated_at=intent.updated_at,
        )
        self.tx.secrets[intent.id] = replace(
            state, next_check_at=self.now + timedelta(seconds=first_check_in)
        )

    async def remember_ebarimt(
        self, intent_id: IntentId, request: EbarimtRequest, *, overwrite: bool = False
    ) -> None:
        if await self.locked_intent(intent_id) is None:
            return
        intent = self.tx.intents[intent_id]
        if intent.ebarimt is None or overwrite:
            self.tx.intents[intent_id] = replace(intent, ebarimt=request)

    async def list_for_invoices(
        self, invoice_ids: Sequence[InvoiceId]
    ) -> Sequence[QPayIntent]:
        found = sorted(
            (
                i
                for i in self.tx.intents.values()
                if i.invoice_id in invoice_ids and i.is_created
            ),
            key=lambda i: i.id,
        )
        return sorted(found, key=lambda i: i.created_at, reverse=True)

    async def page(
        self, wanted: ListFilter[IntentStatus], limit: int, after: Position | None
    ) -> Sequence[QPayIntent]:
        created = [i for i in self.tx.intents.values() if i.is_created]
        return newest_first(created, wanted, limit, after)

    async def list_open(self, environment: QPayEnvironment) -> Sequence[QPayIntent]:
        open_states = (IntentStatus.PENDING, IntentStatus.NEEDS_REVIEW)
        return sorted(
            (
                i
                for i in self.tx.intents.values()
                if i.is_created
                and i.status in open_states
                and i.environment is environment
            ),
            key=lambda i: i.created_at,
        )

    async def list_creating(
        self, invoice_id: InvoiceId, amount: Decimal, environment: QPayEnvironment
    ) -> Sequence[QPayIntent]:
        return [
            i
            for i in self.tx.intents.values()
            if i.invoice_id == invoice_id
            and i.amount == amount
            and i.status is IntentStatus.PENDING
            and i.environment is environment
        ]

    async def add_client_secret(self, intent_id: IntentId, secret_hash: str) -> None:
        state = await self.locked_intent(intent_id)
        if state is not None:
            # The newest eight, as the SQL keeps them.
            hashes = (secret_hash, *state.client_hashes[:7])
            self.tx.secrets[intent_id] = replace(state, client_hashes=hashes)

    async def secrets(self, intent_id: IntentId) -> SecretHashes | None:
        found = self.tx.secrets.get(intent_id)
        intent = self.tx.intents.get(intent_id)
        if found is None or intent is None:
            return None
        return SecretHashes(
            found.client_hashes,
            found.callback_hash,
            IntentRef(
                intent.id, intent.invoice_id, intent.qpay_invoice_id, intent.environment
            ),
        )

    async def refs_by_qpay_invoice(
        self, qpay_invoice_ids: Sequence[str], environment: QPayEnvironment
    ) -> dict[str, IntentRef]:
        found: dict[str, IntentRef] = {}
        for i in self.tx.intents.values():
            qpay_id = i.qpay_invoice_id
            if (
                qpay_id is not None
                and qpay_id in qpay_invoice_ids
                and (i.environment is environment)
            ):
                found[qpay_id] = IntentRef(i.id, i.invoice_id, qpay_id, i.environment)
        return found
