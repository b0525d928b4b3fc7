"""What a checkout screen sees: paymentStatus subscribed with an intent's
client secret and no staff token (design.md §3, "Auth"; issue 13).

One scene for the module (a live service on a real port): an invoice with a
description, an insurance payment, intent X paid with an e-Barimt receipt for
another payer (issued: lottery and receipt QR), and intent Y still open. Each
field of Invoice, QPayIntent, Payment and EbarimtReceipt is then asked alone,
with X's or Y's secret and with a staff token, and compared; then every path
at once, through aliases and fragments, must carry none of the other payers'
data; and the checkout page's own document must get everything it reads.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import graphql
import pytest
from websockets.asyncio.client import connect

from app.checkout import PAYMENT_STATUS_DOCUMENT
from app.settings import Settings, load_settings
from tests import db
from tests.conftest import TABLES, TEST_JWT_SECRET, SettingsFactory
from tests.e2e.conftest import Live, live_service
from tests.e2e.ws import PROTOCOL, graphql_socket
from tests.gql import CREATE_INVOICE, CREATE_QPAY, SETTLE, data_of

pytestmark = [pytest.mark.e2e, pytest.mark.db, pytest.mark.anyio]

ROOT = Path(__file__).resolve().parents[2]
DESCRIPTION = "Batbayar Dorj, 99112233, root canal"
OTHER_RECEIVER = "88776655"  # intent X's payer
OWN_RECEIVER = "5551234"  # intent Y's payer: never shown to a secret either
LAST_ERROR = f"e-Barimt: receiver {OTHER_RECEIVER} answered slowly, retried"
REFUND_REASON = "refund asked by the patient's employer, Acme LLC"
REVIEW_NOTE = "checked with Khan bank, branch 12"
STAFF_MEMBER = "cashier-dulmaa"


class Rule(Enum):
    SAME = "the staff value"
    REFUSED = "null and a FORBIDDEN error"
    EMPTY = "an empty list, no error"


# The contract for a checkout screen, field by field (graph/types/visibility.py
# holds the same table with the reasons). A field added to one of these types
# fails test_every_field_of_the_four_types_is_decided until it is decided here.
CHECKOUT_VIEW: dict[str, dict[str, Rule]] = {
    "Invoice": {
        "id": Rule.SAME,
        "number": Rule.SAME,
        "description": Rule.REFUSED,
        "total": Rule.SAME,
        "paidAmount": Rule.SAME,
        "balance": Rule.SAME,
        "status": Rule.SAME,
        "createdAt": Rule.SAME,
        "updatedAt": Rule.SAME,
        "payments": Rule.EMPTY,
        "qpayIntents": Rule.EMPTY,
        "events": Rule.EMPTY,
    },
    "QPayIntent": {
        "id": Rule.SAME,
        "invoiceId": Rule.SAME,
        "environment": Rule.SAME,
        "amount": Rule.SAME,
        "paidAmount": Rule.SAME,
        "status": Rule.SAME,
        "qpayInvoiceId": Rule.SAME,
        "senderInvoiceNo": Rule.SAME,
        "qrText": Rule.SAME,
        "qrImage": Rule.SAME,
        "shortUrl": Rule.SAME,
        "deeplinks": Rule.SAME,
        "qpayPaymentId": Rule.SAME,
        "reviewReason": Rule.SAME,
        "lastError": Rule.REFUSED,
        "review": Rule.REFUSED,
        "payment": Rule.SAME,
        "expiresAt": Rule.SAME,
        "createdAt": Rule.SAME,
        "updatedAt": Rule.SAME,
    },
    "Payment": {
        "id": Rule.SAME,
        "invoiceId": Rule.SAME,
        "method": Rule.SAME,
        "amount": Rule.SAME,
        "currency": Rule.SAME,
        "qpayPaymentId": Rule.SAME,
        "createdAt": Rule.SAME,
        "ebarimt": Rule.SAME,
        "refunds": Rule.EMPTY,
        "refundableAmount": Rule.REFUSED,
    },
    "EbarimtReceipt": {
        "id": Rule.SAME,
        "status": Rule.SAME,
        "receiverType": Rule.SAME,
        "receiver": Rule.REFUSED,
        "lottery": Rule.SAME,
        "qrData": Rule.SAME,
        "lastError": Rule.REFUSED,
        "createdAt": Rule.SAME,
    },
}
# Where a checkout screen reaches each type: its own intent, and from there
# that intent's payment and receipt (only X, the paid intent, has them).
PATHS = {
    "Invoice": ("invoice",),
    "QPayIntent": ("intent",),
    "Payment": ("intent", "payment"),
    "EbarimtReceipt": ("intent", "payment", "ebarimt"),
}
VIEWERS = {
    "Invoice": ("open", "paid"),
    "QPayIntent": ("open", "paid"),
    "Payment": ("paid",),
    "EbarimtReceipt": ("paid",),
}
# A selection for the fields that are objects or lists.
SUBSELECTIONS = {
    "payments": "{ id method amount }",
    "qpayIntents": "{ id qrText }",
    "events": "{ kind actor }",
    "deeplinks": "{ name description logo link }",
    "payment": "{ id amount }",
    "ebarimt": "{ id status }",
    "refunds": "{ id status reason actor }",
    "review": "{ resolution note actor }",
}


@dataclass(frozen=True)
class Intent:
    id: str
    secret: str
    qpay_invoice_id: str
    qr_text: str


@dataclass
class Scene:
    live: Live
    invoice_id: str
    paid: Intent  # X: paid, its receipt issued for another payer
    open: Intent  # Y: still PENDING
    receipt: dict[str, Any]  # X's receipt row
    insurance_payment_id: str

    def intent(self, viewer: str) -> Intent:
        return self.paid if viewer == "paid" else self.open

    def others_data(self, viewer: str) -> dict[str, str]:
        """What a checkout screen of `viewer` must never receive."""
        other = self.open if viewer == "paid" else self.paid
        never = {
            "the invoice description": DESCRIPTION,
            "X's e-Barimt receiver": OTHER_RECEIVER,
            "Y's e-Barimt receiver": OWN_RECEIVER,
            "the receipt's last error": LAST_ERROR,
            "the insurance payment's id": self.insurance_payment_id,
            "the other intent's id": other.id,
            "the other intent's QPay invoice id": other.qpay_invoice_id,
            "the other intent's QR": other.qr_text,
            "a refund's reason": REFUND_REASON,
            "a review's note": REVIEW_NOTE,
            "the staff member": STAFF_MEMBER,
        }
        if viewer == "open":
            never["X's lottery"] = str(self.receipt["lottery"])
            never["X's receipt QR"] = str(self.receipt["qr_data"])
        return never


# --- the scene ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    """Module scope, so the scene (a running service) is built once."""
    return "asyncio"


@pytest.fixture(scope="module")
def module_settings(tmp_path_factory: pytest.TempPathFactory) -> SettingsFactory:
    """tests/conftest.py's make_settings, for a module-scoped service."""
    data_dir = tmp_path_factory.mktemp("checkout-view") / "data"

    def build(**overrides: object) -> Settings:
        values: dict[str, object] = {
            "_env_file": None,
            "environment": "development",
            "data_dir": data_dir,
            "events_url": "memory://",
            "auth_jwt_secret": TEST_JWT_SECRET,
            "qpay_env": "mock",
            "public_base_url": "http://test",
            "log_level": "WARNING",
        }
        values.update(overrides)
        return load_settings(**values)

    return build


async def _gql(live: Live, document: str, variables: dict[str, Any]) -> Any:
    return data_of(await live.gql(document, variables))


async def _new_intent(
    live: Live, invoice_id: str, amount: str, receiver: str | None = None
) -> Intent:
    request: dict[str, Any] = {"invoiceId": invoice_id, "amount": amount}
    if receiver is not None:
        request["ebarimt"] = {"receiverType": "CITIZEN", "receiver": receiver}
    data = await _gql(live, CREATE_QPAY, {"input": request})
    payload = data["createQPayInvoice"]
    assert payload["errors"] == [], payload
    intent = payload["intent"]
    return Intent(
        intent["id"], payload["clientSecret"], intent["qpayInvoiceId"], intent["qrText"]
    )


async def _issued_receipt(url: str, within: float = 20.0) -> dict[str, Any]:
    async with asyncio.timeout(within):
        while True:
            rows = await db.fetch(
                url, "SELECT id, status, lottery, qr_data FROM ebarimt_receipts"
            )
            if rows and rows[0]["status"] == "ISSUED":
                return dict(rows[0])
            await asyncio.sleep(0.1)


@pytest.fixture(scope="module")
async def scene(
    database_url: str, module_settings: SettingsFactory
) -> AsyncIterator[Scene]:
    await db.execute(
        database_url,
        f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE;"  # noqa: S608  # constant names
        "UPDATE payment_method_configs SET enabled = true;",
    )
    async with live_service(module_settings, database_url) as live:
        created = await _gql(
            live,
            CREATE_INVOICE,
            {"input": {"total": "20000.00", "description": DESCRIPTION}},
        )
        invoice_id = created["createInvoice"]["invoice"]["id"]
        settled = await _gql(
            live,
            SETTLE,
            {
                "input": {
                    "invoiceId": invoice_id,
                    "method": "INSURANCE",
                    "amount": "4000.00",
                    "idempotencyKey": "checkout-view-insurance",
                }
            },
        )
        insurance_payment_id = settled["settleInvoice"]["payment"]["id"]

        paid = await _new_intent(live, invoice_id, "5000.00", OTHER_RECEIVER)
        live.simulator.pay(paid.qpay_invoice_id)
        receipt = await _issued_receipt(live.database_url)
        # As a failed first try would have left it (the simulator issues at
        # once): staff diagnostics, which may echo the receiver.
        await db.execute(
            live.database_url,
            "UPDATE ebarimt_receipts SET last_error = $1",
            LAST_ERROR,
        )
        opened = await _new_intent(live, invoice_id, "3000.00", OWN_RECEIVER)
        # As a failed QPay call or a review would have left them.
        await db.execute(
            live.database_url,
            "UPDATE qpay_intents SET last_error = $1, review_resolution = 'ACCEPT', "
            "review_note = $2, reviewed_by = $3, reviewed_at = now()",
            LAST_ERROR,
            REVIEW_NOTE,
            STAFF_MEMBER,
        )
        # As a refund whose QPay answer was lost, and QPay then showed the
        # payment still paid, leaves it: FAILED, no money moved.
        await db.execute(
            live.database_url,
            "INSERT INTO refunds (id, payment_id, invoice_id, intent_id, amount, "
            "status, channel, reason, actor, last_error, created_at, updated_at) "
            "SELECT gen_random_uuid(), id, invoice_id, intent_id, amount, 'FAILED', "
            "'QPAY', $1, $2, $3, now(), now() FROM payments WHERE intent_id = $4::uuid",
            REFUND_REASON,
            STAFF_MEMBER,
            LAST_ERROR,
            paid.id,
        )
        yield Scene(live, invoice_id, paid, opened, receipt, insurance_payment_id)


# --- one subscription, its first answer --------------------------------------------


def subscription(selection: str, fragments: str = "") -> str:
    return (
        "subscription($id: ID!, $secret: String) {\n"
        "  paymentStatus(intentId: $id, clientSecret: $secret) {\n"
        f"    version\n    {selection}\n"
        "  }\n}\n" + fragments
    )


async def first_answer(
    scene: Scene, viewer: str, document: str, *, staff: bool = False
) -> dict[str, Any]:
    """The payload of the first `next` message: {"data": ..., "errors": [...]}.
    A checkout screen sends the intent's secret and no token; staff send a
    token in connection_init and no secret."""
    intent = scene.intent(viewer)
    init = {"authorization": f"Bearer {scene.live.token}"} if staff else {}
    variables = {"id": intent.id, "secret": None if staff else intent.secret}
    async with connect(
        scene.live.ws_url, subprotocols=[PROTOCOL], compression=None, open_timeout=10
    ) as socket:
        await socket.send(json.dumps({"type": "connection_init", "payload": init}))
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        await socket.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": document, "variables": variables},
                }
            )
        )
        async with asyncio.timeout(10):
            async for raw in socket:
                message = json.loads(raw)
                if message["type"] == "ping":
                    await socket.send(json.dumps({"type": "pong"}))
                elif message["type"] == "next":
                    payload: dict[str, Any] = message["payload"]
                    return payload
                else:
                    raise AssertionError(f"no event: {message}")
    raise AssertionError("closed without an event")


def at(payload: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = payload["data"]["paymentStatus"]
    for name in path:
        value = value[name]
    return value


def selection(path: tuple[str, ...], field: str) -> str:
    inner = f"{field} {SUBSELECTIONS.get(field, '')}".strip()
    for name in reversed(path):
        inner = f"{name} {{ {inner} }}"
    return inner


# --- the contract covers every field ------------------------------------------------


def test_every_field_of_the_four_types_is_decided() -> None:
    schema = graphql.build_schema((ROOT / "schema.graphql").read_text())
    fields = {}
    for name in CHECKOUT_VIEW:
        found = schema.get_type(name)
        assert isinstance(found, graphql.GraphQLObjectType)
        fields[name] = set(found.fields)

    assert fields == {name: set(rules) for name, rules in CHECKOUT_VIEW.items()}


# --- field by field -----------------------------------------------------------------


CASES = [
    pytest.param(viewer, type_name, field, id=f"{viewer}-{type_name}.{field}")
    for type_name, rules in CHECKOUT_VIEW.items()
    for field in rules
    for viewer in VIEWERS[type_name]
]


@pytest.mark.parametrize(("viewer", "type_name", "field"), CASES)
async def test_checkout_screen_gets_each_field_as_decided_when_asked_alone(
    scene: Scene, viewer: str, type_name: str, field: str
) -> None:
    path = PATHS[type_name]
    document = subscription(selection(path, field))
    rule = CHECKOUT_VIEW[type_name][field]

    staff = await first_answer(scene, viewer, document, staff=True)
    checkout = await first_answer(scene, viewer, document)

    assert staff.get("errors") is None, staff
    assert checkout["data"] is not None, checkout  # the event still arrives
    assert at(checkout, ())["version"] == at(staff, ())["version"]
    expected = at(staff, (*path, field))
    got = at(checkout, (*path, field))
    if rule is Rule.SAME:
        assert checkout.get("errors") is None, checkout
        assert got == expected
    elif rule is Rule.EMPTY:
        assert checkout.get("errors") is None, checkout
        assert got == []
        assert expected, "staff see a non-empty list here"
    else:
        assert got is None
        assert expected is not None, "staff see a value here"
        assert [
            (error["extensions"]["code"], error["path"]) for error in checkout["errors"]
        ] == [("FORBIDDEN", ["paymentStatus", *path, field])]


# --- every path at once: nested, aliased, through fragments --------------------------


FRAGMENTS = """
fragment R on EbarimtReceipt {
  id status receiverType receiver lottery qrData lastError createdAt
  who: receiver
}
fragment P on Payment {
  id invoiceId method amount currency qpayPaymentId createdAt ebarimt { ...R }
  refunds { id reason actor } refundableAmount
}
fragment Q on QPayIntent {
  id invoiceId environment amount paidAmount status qpayInvoiceId senderInvoiceNo
  qrText qrImage shortUrl deeplinks { name description logo link } qpayPaymentId
  expiresAt createdAt updatedAt payment { ...P } review { note actor }
}
fragment I on Invoice {
  id number description total paidAmount balance status createdAt updatedAt
  payments { ...P } qpayIntents { ...Q }
}
"""
EVERYTHING = subscription(
    """settled at
    intent { ...Q  receipt: payment { ebarimt { to: receiver why: lastError } } }
    invoice {
      ...I
      note: description
      paid: payments { ...P }
      intents: qpayIntents { id qrText qrImage payment { ...P } }
      ... on Invoice { description qpayIntents { ...Q } }
    }
    bill: invoice { ... on Invoice { memo: description others: payments { id } } }""",
    FRAGMENTS,
)
# Where each viewer's answer carries a FORBIDDEN error (aliases name the path).
REFUSED_PATHS: dict[str, set[tuple[str, ...]]] = {
    "open": {
        ("paymentStatus", "invoice", "description"),
        ("paymentStatus", "invoice", "note"),
        ("paymentStatus", "bill", "memo"),
        ("paymentStatus", "intent", "review"),
    },
    "paid": {
        ("paymentStatus", "intent", "review"),
        ("paymentStatus", "intent", "payment", "refundableAmount"),
        ("paymentStatus", "invoice", "description"),
        ("paymentStatus", "invoice", "note"),
        ("paymentStatus", "bill", "memo"),
        ("paymentStatus", "intent", "payment", "ebarimt", "receiver"),
        ("paymentStatus", "intent", "payment", "ebarimt", "who"),
        ("paymentStatus", "intent", "payment", "ebarimt", "lastError"),
        ("paymentStatus", "intent", "receipt", "ebarimt", "to"),
        ("paymentStatus", "intent", "receipt", "ebarimt", "why"),
    },
}


def _text(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False)


@pytest.mark.parametrize("viewer", ["open", "paid"])
async def test_no_other_payers_data_reaches_a_checkout_screen_by_any_path(
    scene: Scene, viewer: str
) -> None:
    answer = await first_answer(scene, viewer, EVERYTHING)

    text = _text(answer)
    leaked = {
        what: value
        for what, value in scene.others_data(viewer).items()
        if value in text
    }
    event = answer["data"]["paymentStatus"]
    assert leaked == {}
    assert event["intent"]["id"] == scene.intent(viewer).id  # the rest arrived
    assert event["invoice"]["payments"] == event["invoice"]["paid"] == []
    assert event["invoice"]["qpayIntents"] == event["invoice"]["intents"] == []
    assert event["bill"]["others"] == []
    errors = answer["errors"]
    assert {error["extensions"]["code"] for error in errors} == {"FORBIDDEN"}
    assert sorted(tuple(error["path"]) for error in errors) == sorted(
        REFUSED_PATHS[viewer]
    )


async def test_checkout_screen_of_the_paid_intent_sees_its_own_receipt_but_no_receiver(
    scene: Scene,
) -> None:
    answer = await first_answer(scene, "paid", EVERYTHING)

    own = answer["data"]["paymentStatus"]["intent"]
    assert own["payment"]["ebarimt"]["lottery"] == scene.receipt["lottery"]
    assert own["payment"]["ebarimt"]["qrData"] == scene.receipt["qr_data"]
    assert own["payment"]["ebarimt"]["receiver"] is None
    assert own["receipt"]["ebarimt"] == {"to": None, "why": None}


@pytest.mark.parametrize("viewer", ["open", "paid"])
async def test_staff_still_see_everything_when_they_ask_every_path(
    scene: Scene, viewer: str
) -> None:
    answer = await first_answer(scene, viewer, EVERYTHING, staff=True)

    text = _text(answer)
    invoice = answer["data"]["paymentStatus"]["invoice"]
    assert answer.get("errors") is None, answer
    assert invoice["description"] == invoice["note"] == DESCRIPTION
    assert {p["method"] for p in invoice["payments"]} == {"INSURANCE", "QPAY"}
    assert {i["id"] for i in invoice["qpayIntents"]} == {
        scene.paid.id,
        scene.open.id,
    }
    for what in (
        DESCRIPTION,
        OTHER_RECEIVER,
        LAST_ERROR,
        scene.insurance_payment_id,
        str(scene.receipt["lottery"]),
        str(scene.receipt["qr_data"]),
        scene.paid.qpay_invoice_id,
        scene.open.qpay_invoice_id,
    ):
        assert what in text


# --- the checkout page's own document ----------------------------------------------


def checkout_page_document() -> str:
    """The document the page subscribes with: its config carries it."""
    script = (ROOT / "app/checkout_page/assets/checkout.js").read_text()
    assert "const SUBSCRIPTION = config.document;" in script
    return PAYMENT_STATUS_DOCUMENT


@pytest.mark.parametrize("viewer", ["open", "paid"])
async def test_checkout_page_document_gets_all_it_reads_when_subscribed_with_the_secret(
    scene: Scene, viewer: str
) -> None:
    document = checkout_page_document()

    staff = await first_answer(scene, viewer, document, staff=True)
    checkout = await first_answer(scene, viewer, document)

    assert checkout.get("errors") is None, checkout
    assert checkout == staff
    intent = checkout["data"]["paymentStatus"]["intent"]
    if viewer == "open":
        assert intent["status"] == "PENDING"
        assert intent["qrText"] and intent["qrImage"] and intent["deeplinks"]
    else:
        assert intent["status"] == "PAID"
        assert intent["payment"]["ebarimt"] == {
            "status": "ISSUED",
            "lottery": scene.receipt["lottery"],
            "qrData": scene.receipt["qr_data"],
        }


# --- a refused field does not end the stream ----------------------------------------


async def test_events_keep_coming_with_the_refusal_when_the_patient_pays(
    scene: Scene,
) -> None:
    """Its own invoice and intent: the scene's stay as they are."""
    live = scene.live
    created = await _gql(
        live, CREATE_INVOICE, {"input": {"total": "700.00", "description": "Z"}}
    )
    invoice_id = created["createInvoice"]["invoice"]["id"]
    intent = await _new_intent(live, invoice_id, "700.00")
    document = subscription(
        "intent { status } invoice { status description payments { id } }"
    )
    async with graphql_socket(live.ws_url) as socket:
        sub = await socket.subscribe(
            document, {"id": intent.id, "secret": intent.secret}
        )
        await sub.wait_for(lambda event: event["intent"]["status"] == "PENDING")
        live.simulator.pay(intent.qpay_invoice_id)
        await sub.wait_for(lambda event: event["intent"]["status"] == "PAID")
        await asyncio.wait_for(sub.completed.wait(), 10)

    assert sub.statuses() == ["PENDING", "PAID"]
    assert [event["invoice"]["status"] for event in sub.events] == ["UNPAID", "PAID"]
    assert [event["invoice"]["description"] for event in sub.events] == [None, None]
    assert [event["invoice"]["payments"] for event in sub.events] == [[], []]
    assert [(e["extensions"]["code"], e["path"]) for e in sub.errors] == [
        ("FORBIDDEN", ["paymentStatus", "invoice", "description"])
    ] * 2
