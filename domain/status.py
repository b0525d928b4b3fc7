"""What a checkout screen watches: an intent and its invoice at one version.

PaymentStatus is read from the database (the snapshot, and the re-read a
notification asks for). PushedStatus is the same state carried by the
notification itself, so the common path needs no re-read: it leaves out
what is fixed once QPay has made the invoice (the QR code, its text, the
short URL and the bank deeplinks, together several kilobytes, more than a
notification holds), and the subscription puts back its own copy of them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from domain.intents import QPayIntent
from domain.invoices import Invoice


@dataclass(frozen=True, slots=True)
class PaymentStatus:
    intent: QPayIntent
    invoice: Invoice
    # An e-Barimt receipt of this intent is still being issued.
    receipt_pending: bool = False

    @property
    def is_final(self) -> bool:
        """Nothing more will change that the checkout screen shows."""
        return self.intent.is_terminal and not self.receipt_pending


@dataclass(frozen=True, slots=True)
class PushedStatus:
    """A committed PaymentStatus without the intent's fixed parts (see the
    module docstring). Build it with `of`, complete it with `over`."""

    status: PaymentStatus

    @classmethod
    def of(cls, status: PaymentStatus) -> PushedStatus:
        intent = replace(
            status.intent, qr_text="", qr_image="", short_url=None, deeplinks=()
        )
        return cls(replace(status, intent=intent))

    @property
    def version(self) -> int:
        return self.status.intent.version

    def over(self, known: PaymentStatus) -> PaymentStatus | None:
        """The whole state: this one with the fixed parts of `known`, an
        earlier state of the same intent; None for another intent, or one
        whose QPay invoice differs (then only a re-read is right)."""
        pushed, before = self.status.intent, known.intent
        if pushed.id != before.id or pushed.qpay_invoice_id != before.qpay_invoice_id:
            return None
        intent = replace(
            pushed,
            qr_text=before.qr_text,
            qr_image=before.qr_image,
            short_url=before.short_url,
            deeplinks=before.deeplinks,
        )
        return replace(self.status, intent=intent)
