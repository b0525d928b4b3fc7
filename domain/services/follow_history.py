"""Use case behind the paymentEvents feed: the history entries committed
since a screen started following, each once, in id order.

Entry ids come from a sequence when the row is inserted, so a transaction
that started earlier can commit an entry with a lower id after higher ones
were read. A follower therefore reads again from the lowest id it has not
seen among the last WINDOW (a gap: a transaction still open, or one rolled
back) and sends only what it has not sent: an entry committed up to WINDOW
ids late is still delivered (a settling transaction lasts milliseconds;
WINDOW covers hundreds of payments committed meanwhile). Without gaps a read
fetches only the new entries. Memory per follower is bounded by WINDOW.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from domain.history import HistoryEntry
from domain.invoices import Invoice, InvoiceId
from domain.ports import UnitOfWorkFactory

WINDOW = 512
# The most entries one read returns; a follower that is further behind reads
# again at once.
BATCH = 100


@dataclass
class HistoryFollower:
    """Where one feed subscriber is: the highest id sent, and the ids of the
    last WINDOW it has seen (sent, or there before it started)."""

    cursor: int
    seen: set[int] = field(default_factory=set)

    @classmethod
    async def start(cls, *, uow: UnitOfWorkFactory) -> HistoryFollower:
        """Follow from now: nothing already committed is sent (no snapshot)."""
        async with uow() as tx:
            last = await tx.history.last_id()
            before = await tx.history.after(max(last - WINDOW, 0), WINDOW)
        return cls(cursor=last, seen={entry.id for entry in before})

    async def read(
        self, *, uow: UnitOfWorkFactory
    ) -> list[tuple[HistoryEntry, Invoice]]:
        """The entries not sent yet (up to BATCH), each with its invoice now."""
        async with uow() as tx:
            found = await tx.history.after(self._low(), WINDOW + BATCH)
            fresh = [entry for entry in found if entry.id not in self.seen][:BATCH]
            invoices: dict[InvoiceId, Invoice] = {}
            for invoice_id in {entry.invoice_id for entry in fresh}:
                invoice = await tx.invoices.get(invoice_id)
                if invoice is not None:
                    invoices[invoice_id] = invoice
        for entry in fresh:
            self.seen.add(entry.id)
            self.cursor = max(self.cursor, entry.id)
        floor = self.cursor - WINDOW
        self.seen = {entry_id for entry_id in self.seen if entry_id > floor}
        return [(e, invoices[e.invoice_id]) for e in fresh if e.invoice_id in invoices]

    def _low(self) -> int:
        """Read from after this id: just below the lowest unseen id of the
        window, or the cursor when the window has no gap."""
        for entry_id in range(max(self.cursor - WINDOW, 0) + 1, self.cursor + 1):
            if entry_id not in self.seen:
                return entry_id - 1
        return self.cursor

    @staticmethod
    def more_to_read(read: list[tuple[HistoryEntry, Invoice]]) -> bool:
        return len(read) >= BATCH
