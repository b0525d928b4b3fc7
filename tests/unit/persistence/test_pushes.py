"""A notification's text (persistence/pushes.py): a signed state comes back
exactly as it was announced, and nothing else is believed."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest

from domain.ebarimt import EbarimtReceiverType, EbarimtRequest
from domain.intents import (
    IntentId,
    IntentStatus,
    Review,
    ReviewReason,
    ReviewResolution,
)
from domain.invoices import InvoiceStatus
from domain.qpay_messages import Deeplink
from domain.status import PaymentStatus, PushedStatus
from persistence import pushes
from persistence.event_hub import EventHub
from persistence.pushes import (
    MAX_PAYLOAD_BYTES,
    SIGNED,
    PushSigner,
    payload,
    read_payload,
)
from tests.factories import T0, make_intent, make_invoice

SIGNER = PushSigner("a-secret-of-this-deployment-at-least-32-chars")


def a_status(**intent: object) -> PaymentStatus:
    invoice = make_invoice(
        description="Шүдний эмчилгээ",
        paid_amount=Decimal("10000.00"),
        status=InvoiceStatus.PAID,
        updated_at=T0 + timedelta(microseconds=123_456),
    )
    fields: dict[str, object] = {
        "status": IntentStatus.PAID,
        "paid_amount": Decimal("10000.00"),
        "version": 4,
        "qpay_payment_id": "593000000000001",
        "qr_text": "0002010102121531" * 20,
        "qr_image": "iVBORw0KGgo" * 500,
        "short_url": "https://s.qpay.mn/abc",
        "deeplinks": (Deeplink("Khan bank", "khanbank://q?qPay_QRcode=x", "", None),),
        "description": "M Dent",
        # Another zone than UTC: the instant and the offset both survive.
        "updated_at": (T0 + timedelta(seconds=5)).astimezone(
            timezone(timedelta(hours=8))
        ),
        "ebarimt": EbarimtRequest(EbarimtReceiverType.CITIZEN, "88110011"),
        "last_error": "QPay said: PAYMENT_NOTFOUND",
        "review_reason": ReviewReason.OVERPAID,
        "review": Review(
            ReviewResolution.ACCEPT, "kept: patient agreed", "staff-1", T0
        ),
    }
    fields.update(intent)
    return PaymentStatus(make_intent(invoice, **fields), invoice, receipt_pending=True)


def test_a_signed_state_reads_back_as_announced_less_the_qr_code_and_links() -> None:
    status = a_status()

    text = payload(status.intent.id, 4, status, SIGNER)
    intent_id, version, pushed = read_payload(text, SIGNER)

    assert text.startswith(SIGNED)
    assert (intent_id, version) == (status.intent.id, 4)
    assert pushed == PushedStatus.of(status)
    assert pushed is not None and pushed.over(status) == status
    # Exact: the amounts keep their cents, the times their zone.
    assert str(pushed.status.intent.paid_amount) == "10000.00"
    assert pushed.status.invoice.updated_at == status.invoice.updated_at
    assert len(text.encode()) < 2_000  # the QR code and links stayed home


@pytest.mark.parametrize(
    "receiver",
    [None, PushSigner("another-deployment-secret-at-least-32-chars")],
    ids=["no key", "another key"],
)
def test_a_state_that_cannot_be_verified_is_only_a_wake_up(
    receiver: PushSigner | None,
) -> None:
    status = a_status()

    intent_id, version, pushed = read_payload(
        payload(status.intent.id, 4, status, SIGNER), receiver
    )

    assert (intent_id, version, pushed) == (status.intent.id, 4, None)


def test_a_state_changed_after_signing_is_not_believed() -> None:
    status = a_status(paid_amount=Decimal("100.00"))
    text = payload(status.intent.id, 4, status, SIGNER)
    forged = text.replace('"paid_amount":"100.00"', '"paid_amount":"99999.00"')

    assert forged != text
    assert read_payload(forged, SIGNER)[2] is None


def test_a_signed_state_of_another_intent_or_version_is_not_believed() -> None:
    status = a_status()
    other = IntentId(uuid4())
    # Signed, but naming another intent (or version) than its state.
    body = json.loads(payload(status.intent.id, 4, status, SIGNER).split(":", 2)[2])
    for changed in ({"intentId": str(other)}, {"version": 5}):
        text = json.dumps({**body, **changed})
        signed = f"{SIGNED}{SIGNER.sign(text)}:{text}"

        assert read_payload(signed, SIGNER)[2] is None


def test_a_state_of_another_version_than_the_change_is_not_sent() -> None:
    status = a_status()

    assert payload(status.intent.id, 5, status, SIGNER) == json.dumps(
        {"intentId": str(status.intent.id), "version": 5}
    )


def test_a_state_too_big_for_a_notification_is_left_out() -> None:
    # The longest texts there are: 1,000 characters of four bytes each.
    long = "🦷" * 1_000
    status = a_status(description=long, last_error=long)
    status = replace(status, invoice=replace(status.invoice, description=long))

    text = payload(status.intent.id, 4, status, SIGNER)

    assert len(text.encode()) < MAX_PAYLOAD_BYTES
    assert read_payload(text, SIGNER) == (status.intent.id, 4, None)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        SIGNED,
        SIGNED + "0" * 64 + ":",
        SIGNED + "0" * 64 + ":" + "[" * 100_000,
        '{"intentId": "x", "version": 1}',
        '{"intentId": "' + str(uuid4()) + '", "version": "1e999999"}',
        '{"intentId": "' + str(uuid4()) + '", "version": 1e999999999}',
        '{"intentId": "' + str(uuid4()) + '", "version": ' + "9" * 5_000 + "}",
        '{"intentId": "' + str(uuid4()) + '", "version": true}',
        '{"intentId": "' + str(uuid4()) + '"}',
        "{" * 100_000,
        "\x00" * 8_000,
    ],
    ids=lambda text: repr(text[:24]),
)
def test_a_malformed_notification_wakes_nobody_and_raises_nothing(text: str) -> None:
    hub = EventHub(signer=SIGNER)
    intent_id = IntentId(uuid4())
    with hub.subscribe(intent_id) as queue:
        hub.deliver_payload(text)
        hub.deliver_payload(text.encode())

        assert queue.empty()


def test_a_state_is_read_only_where_someone_watches_its_intent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every process hears every notification; one watching nothing of it
    neither checks the signature nor reads the state."""
    status = a_status()
    text = payload(status.intent.id, 4, status, SIGNER)
    read: list[object] = []
    real = pushes.pushed_from_json

    def counted(state: dict[str, Any]) -> PushedStatus:
        read.append(state)
        return real(state)

    monkeypatch.setattr(pushes, "pushed_from_json", counted)
    hub = EventHub(signer=SIGNER)

    hub.deliver_payload(text)  # nobody here watches it
    with hub.subscribe(status.intent.id) as queue:
        hub.deliver_payload(text)

        assert len(read) == 1
        assert queue.get_nowait() == PushedStatus.of(status)
