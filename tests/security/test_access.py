"""Who may do what: every query and mutation without a valid staff token,
the paymentStatus subscription's authorization and websocket hygiene, and
QPay's callback route under a flood of guessed tokens."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from app.staff_tokens import StaffTokens
from tests import db
from tests.conftest import TEST_JWT_SECRET, SettingsFactory
from tests.e2e.conftest import Live, live_service
from tests.e2e.ws import PROTOCOL, graphql_socket
from tests.gql import CANCEL, CHECK, CREATE_INVOICE, CREATE_QPAY, PAYMENT_STATUS, SETTLE
from tests.harness import Harness
from tests.integration.gql import new_intent, new_invoice
from tests.security.conftest import app_state, database_of

pytestmark = [pytest.mark.db, pytest.mark.anyio]

REFUSAL_CODES = {"UNAUTHENTICATED", "FORBIDDEN"}
OTHER_SECRET = "not-the-secret-" + "y" * 40


def _claims(**overrides: object) -> dict[str, object]:
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "sub": "mallory",
        "role": "staff",
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(hours=1)).timestamp()),
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def _tampered() -> str:
    """A valid token whose payload was swapped for another subject's."""
    header, _, signature = StaffTokens(TEST_JWT_SECRET).issue().split(".")
    forged = jwt.encode(_claims(sub="admin"), OTHER_SECRET, algorithm="HS256")
    return ".".join((header, forged.split(".")[1], signature))


def bad_authorization(kind: str) -> str | None:
    """The Authorization header value for each kind of bad credential."""
    expired = StaffTokens(TEST_JWT_SECRET).issue(
        ttl_seconds=3600, now=datetime.now(UTC) - timedelta(hours=2)
    )
    tokens: dict[str, str | None] = {
        "no token": None,
        "expired": expired,
        "forged signature": jwt.encode(_claims(), OTHER_SECRET, algorithm="HS256"),
        "role not staff": jwt.encode(
            _claims(role="patient"), TEST_JWT_SECRET, algorithm="HS256"
        ),
        "alg none": jwt.encode(_claims(), "", algorithm="none"),
        "alg HS384 with the right secret": jwt.encode(
            _claims(), TEST_JWT_SECRET, algorithm="HS384"
        ),
        "no exp claim": jwt.encode(
            _claims(exp=None), TEST_JWT_SECRET, algorithm="HS256"
        ),
        "payload swapped": _tampered(),
        "not a JWT": "staff",
    }
    token = tokens[kind]
    return None if token is None else f"Bearer {token}"


BAD_TOKENS = [
    "no token",
    "expired",
    "forged signature",
    "role not staff",
    "alg none",
    "alg HS384 with the right secret",
    "no exp claim",
    "payload swapped",
    "not a JWT",
]


async def arrange(harness: Harness) -> dict[str, tuple[str, dict[str, Any]]]:
    """Every operation of the contract, aimed at real rows: accepted, each
    would read data, write a row, or call QPay. The intent is paid at QPay,
    so a check or a settlement would record a payment."""
    invoice_id = await new_invoice(harness, "15000.00")
    created = await new_intent(harness, invoice_id, amount="5000.00")
    intent = created["intent"]
    harness.simulator.set_callbacks(drop=True)
    harness.simulator.pay(intent["qpayInvoiceId"])
    settle = {
        "invoiceId": invoice_id,
        "method": "CASH",
        "amount": "100.00",
        "idempotencyKey": "access-1",
    }
    return {
        "invoice": (
            "query($id: ID!) { invoice(id: $id) { id total } }",
            {"id": invoice_id},
        ),
        "invoices": ("{ invoices { edges { node { id total } } } }", {}),
        "qpayIntents": ("{ qpayIntents { edges { node { id qrText } } } }", {}),
        "paymentTotals": ('{ paymentTotals(firstDay: "2026-11-30") { net } }', {}),
        "qpayIntent": (
            "query($id: ID!) { qpayIntent(id: $id) { id qrText } }",
            {"id": intent["id"]},
        ),
        "paymentMethods": ("{ paymentMethods { method enabled } }", {}),
        "createInvoice": (CREATE_INVOICE, {"input": {"total": "100.00"}}),
        "createQPayInvoice": (
            CREATE_QPAY,
            {"input": {"invoiceId": invoice_id, "amount": "100.00"}},
        ),
        "checkQPayPayment": (CHECK, {"id": intent["id"]}),
        "cancelQPayInvoice": (CANCEL, {"id": intent["id"]}),
        "settleInvoice": (SETTLE, {"input": settle}),
    }


async def post(
    harness: Harness,
    document: str,
    variables: dict[str, Any],
    authorization: str | None,
) -> httpx.Response:
    headers = {} if authorization is None else {"Authorization": authorization}
    return await harness.client.post(
        "/graphql", json={"query": document, "variables": variables}, headers=headers
    )


def refused_for_auth(response: httpx.Response) -> str | None:
    """None when the answer is one GraphQL error coded UNAUTHENTICATED or
    FORBIDDEN and no data; otherwise what is wrong with it."""
    if response.status_code != 200:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    body = response.json()
    data = body.get("data")
    if data is not None and any(value is not None for value in data.values()):
        return f"data was returned: {response.text[:200]}"
    codes = [
        (error.get("extensions") or {}).get("code")
        for error in body.get("errors") or []
    ]
    if not codes or any(code not in REFUSAL_CODES for code in codes):
        return f"not refused with UNAUTHENTICATED/FORBIDDEN: {response.text[:200]}"
    return None


async def test_every_operation_answers_when_the_staff_token_is_valid(
    harness: Harness,
) -> None:
    """The control for the refusals: the same requests do work."""
    operations = await arrange(harness)
    failures: dict[str, str] = {}

    for name, (document, variables) in operations.items():
        response = await post(harness, document, variables, f"Bearer {harness.token}")
        body = response.json()
        if body.get("errors") or body["data"][name] is None:
            failures[name] = response.text[:200]

    assert failures == {}


@pytest.mark.parametrize("kind", BAD_TOKENS)
async def test_every_operation_refused_without_effect_when_the_token_is_bad(
    harness: Harness, kind: str
) -> None:
    operations = await arrange(harness)
    authorization = bad_authorization(kind)
    failures: dict[str, str] = {}

    for name, (document, variables) in operations.items():
        before = await app_state(harness)
        response = await post(harness, document, variables, authorization)
        problem = refused_for_auth(response)
        if problem is None and await app_state(harness) != before:
            problem = "refused, but rows or QPay changed"
        if problem is not None:
            failures[name] = problem

    assert failures == {}


# --- the paymentStatus subscription ---------------------------------------------


@contextlib.asynccontextmanager
async def service(
    clean_db: str, make_settings: SettingsFactory, **overrides: Any
) -> AsyncIterator[Live]:
    async with live_service(
        make_settings, clean_db, qpay_poll_interval_seconds=1, **overrides
    ) as live:
        yield live


async def open_intent(live: Live, total: str = "15000.00") -> tuple[str, str]:
    """A PENDING intent's id and client secret."""
    created = await live.gql(CREATE_INVOICE, {"input": {"total": total}})
    invoice_id = created["data"]["createInvoice"]["invoice"]["id"]
    intent = await live.gql(CREATE_QPAY, {"input": {"invoiceId": invoice_id}})
    payload = intent["data"]["createQPayInvoice"]
    return payload["intent"]["id"], payload["clientSecret"]


async def exchange(
    url: str,
    messages: Sequence[object],
    *,
    subprotocols: list[str] | None = None,
    origin: str | None = None,
    stop_on: str | None = None,
) -> tuple[list[dict[str, Any]], int | None]:
    """Open a socket, send `messages`, and read until the server closes it
    (or stays quiet for a while, or sends a message of type `stop_on`):
    (messages received, close code or HTTP status of a refused handshake)."""
    received: list[dict[str, Any]] = []
    offered = [Subprotocol(name) for name in (subprotocols or [PROTOCOL])]
    try:
        async with connect(
            url,
            subprotocols=offered,
            origin=origin,  # type: ignore[arg-type]
            compression=None,
            open_timeout=10,
        ) as socket:
            with contextlib.suppress(ConnectionClosed):  # closed mid-way: fine
                for message in messages:
                    await socket.send(json.dumps(message))
            with contextlib.suppress(TimeoutError, ConnectionClosed):
                async with asyncio.timeout(3):
                    async for raw in socket:
                        received.append(json.loads(raw))
                        if received[-1].get("type") == stop_on:
                            break
            return received, socket.close_code
    except InvalidStatus as refused:
        return received, refused.response.status_code


def kinds(received: list[dict[str, Any]]) -> list[str]:
    return [str(message.get("type")) for message in received]


@pytest.mark.e2e
async def test_subscription_forbidden_without_data_when_the_secret_is_another_intents(
    clean_db: str, make_settings: SettingsFactory
) -> None:
    async with service(clean_db, make_settings) as live:
        mine, my_secret = await open_intent(live)
        _, other_secret = await open_intent(live)
        async with graphql_socket(live.ws_url) as socket:
            stolen = await socket.payment_status(mine, other_secret)
            missing = await socket.payment_status(mine, None)
            empty = await socket.payment_status(mine, "")
            own = await socket.payment_status(mine, my_secret)
            await own.wait_for(lambda event: event["intent"]["status"] == "PENDING")
            for refused in (stolen, missing, empty):
                await asyncio.wait_for(refused.completed.wait(), 10)

    for refused in (stolen, missing, empty):
        assert refused.events == []
        assert [error["extensions"]["code"] for error in refused.errors] == [
            "FORBIDDEN"
        ]
    assert own.errors == []


@pytest.mark.e2e
async def test_socket_closes_4403_when_its_staff_token_expires(
    clean_db: str, make_settings: SettingsFactory
) -> None:
    """A socket does not outlive its staff token (issue 13, item 10)."""
    async with service(clean_db, make_settings) as live:
        mine, _ = await open_intent(live)
        token = StaffTokens(TEST_JWT_SECRET).issue(ttl_seconds=2)  # 1 to 2 s left
        init = {
            "type": "connection_init",
            "payload": {"authorization": f"Bearer {token}"},
        }
        subscribe = {
            "id": "1",
            "type": "subscribe",
            "payload": {"query": PAYMENT_STATUS, "variables": {"id": mine}},
        }
        async with connect(
            live.ws_url, subprotocols=[PROTOCOL], compression=None
        ) as socket:
            await socket.send(json.dumps(init))
            ack = json.loads(await socket.recv())
            await socket.send(json.dumps(subscribe))
            with contextlib.suppress(ConnectionClosed):
                async with asyncio.timeout(10):
                    async for _ in socket:  # events until the server closes
                        pass

    assert ack["type"] == "connection_ack"
    assert socket.close_code == 4403
    assert "expired" in (socket.close_reason or "")


@pytest.mark.e2e
async def test_socket_closed_4403_when_connection_init_carries_a_bad_staff_token(
    clean_db: str, make_settings: SettingsFactory
) -> None:
    async with service(clean_db, make_settings) as live:
        mine, _ = await open_intent(live)
        outcomes = {}
        for kind in BAD_TOKENS[1:]:
            received, code = await exchange(
                live.ws_url,
                [
                    {
                        "type": "connection_init",
                        "payload": {"authorization": bad_authorization(kind)},
                    },
                    {
                        "id": "1",
                        "type": "subscribe",
                        "payload": {"query": PAYMENT_STATUS, "variables": {"id": mine}},
                    },
                ],
            )
            outcomes[kind] = (kinds(received), code)

    assert outcomes == {kind: ([], 4403) for kind in BAD_TOKENS[1:]}


@pytest.mark.e2e
async def test_socket_refused_without_ack_when_only_the_legacy_protocol_is_offered(
    clean_db: str, make_settings: SettingsFactory
) -> None:
    async with service(clean_db, make_settings) as live:
        mine, secret = await open_intent(live)
        start = {
            "id": "1",
            "type": "start",  # legacy: start before (or without) connection_init
            "payload": {
                "query": PAYMENT_STATUS,
                "variables": {"id": mine, "secret": secret},
            },
        }
        received, code = await exchange(
            live.ws_url,
            [start, {"type": "connection_init", "payload": {}}, start],
            subprotocols=["graphql-ws"],
        )

    assert kinds(received) == []
    assert code is not None and code != 1000  # closed by the server, or refused


@pytest.mark.e2e
async def test_handshake_refused_when_the_origin_is_not_allowed(
    clean_db: str, make_settings: SettingsFactory
) -> None:
    allowed = "https://clinic.example"
    async with service(clean_db, make_settings, allowed_origins=[allowed]) as live:
        init = [{"type": "connection_init", "payload": {}}]
        evil, evil_status = await exchange(
            live.ws_url, init, origin="https://evil.example"
        )
        lookalike, lookalike_status = await exchange(
            live.ws_url, init, origin="https://clinic.example.evil.example"
        )
        clinic, _ = await exchange(
            live.ws_url, init, origin=allowed, stop_on="connection_ack"
        )

    assert (kinds(evil), evil_status) == ([], 403)
    assert (kinds(lookalike), lookalike_status) == ([], 403)
    assert kinds(clinic) == ["connection_ack"]


@pytest.mark.e2e
async def test_eleventh_operation_refused_without_data_when_ten_are_open(
    clean_db: str, make_settings: SettingsFactory
) -> None:
    async with service(clean_db, make_settings) as live:
        mine, secret = await open_intent(live)
        async with graphql_socket(live.ws_url) as socket:
            open_ones = [await socket.payment_status(mine, secret) for _ in range(10)]
            for subscription in open_ones:
                await subscription.wait_for(
                    lambda e: e["intent"]["status"] == "PENDING"
                )
            extra = [await socket.payment_status(mine, secret) for _ in range(3)]
            for subscription in extra:
                await asyncio.wait_for(subscription.completed.wait(), 10)

    for subscription in extra:
        assert subscription.events == []
        assert subscription.errors, "the operation over the cap was not refused"
    assert all(subscription.errors == [] for subscription in open_ones)


@pytest.mark.e2e
@pytest.mark.parametrize(
    "payload",
    [
        pytest.param([{"authorization": "x"}], id="list"),
        pytest.param("Bearer x", id="string"),
        pytest.param(42, id="number"),
    ],
)
async def test_socket_closed_without_ack_when_connection_init_payload_is_malformed(
    clean_db: str, make_settings: SettingsFactory, payload: object
) -> None:
    async with service(clean_db, make_settings) as live:
        received, code = await exchange(
            live.ws_url, [{"type": "connection_init", "payload": payload}]
        )

    assert kinds(received) == []
    assert code is not None and 4400 <= code < 4500, code


# --- QPay's callback route ---------------------------------------------------------


async def callback(
    harness: Harness, path: str, address: str, *, post: bool = False
) -> httpx.Response:
    """A callback from a given client address (the route's limiter keys on
    it); a POST also claims in its body that the payment went through."""
    transport = httpx.ASGITransport(app=harness.app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        if post:
            claim = {"payment_status": "PAID", "payment_amount": 15000}
            return await client.post(path, json=claim)
        return await client.get(path)


async def real_intents(harness: Harness, count: int) -> list[tuple[str, str]]:
    """PENDING intents and the callback token QPay was given for each."""
    intents = []
    for _ in range(count):
        invoice_id = await new_invoice(harness)
        intents.append((await new_intent(harness, invoice_id))["intent"]["id"])
    urls = [
        str(entry["json"]["callback_url"])
        for entry in harness.simulator.requests
        if entry["path"] == "/v2/invoice" and entry["method"] == "POST"
    ]
    tokens = {
        urlsplit(url).path.rsplit("/", 1)[1]: parse_qs(urlsplit(url).query)["token"][0]
        for url in urls
    }
    return [(intent_id, tokens[intent_id]) for intent_id in intents]


def guessed_path(intents: list[tuple[str, str]], n: int) -> str:
    """The n-th guess: a random token, and now and then another intent's real
    token, no token, an empty one, or the real one one character off."""
    intent_id, token = intents[n % len(intents)]
    other = intents[(n + 1) % len(intents)][1]
    params = {
        0: {"token": other},
        1: {},
        2: {"token": ""},
        3: {"token": token + "x"},
        4: {"token": token[:-1]},
    }.get(n % 50, {"token": secrets.token_urlsafe(32)})
    query = urlencode({**params, "qpay_payment_id": "1"})
    return f"/qpay/callback/{intent_id}?{query}"


async def test_callbacks_answer_404_and_change_nothing_when_1000_tokens_are_guessed(
    harness: Harness,
) -> None:
    intents = await real_intents(harness, 3)
    before = await app_state(harness)

    statuses = []
    for n in range(1000):
        # Each guess from its own address: no per-address limit hides a 404.
        address = f"127.1.{n // 250}.{n % 250 + 1}"
        path = guessed_path(intents, n)
        response = await callback(harness, path, address, post=n % 10 == 9)
        statuses.append(response.status_code)

    assert set(statuses) == {404}
    assert await app_state(harness) == before  # no qpay_callbacks row, no QPay call


async def test_flood_refused_and_qpay_still_heard_when_one_address_guesses_tokens(
    harness: Harness,
) -> None:
    intents = await real_intents(harness, 3)
    before = await app_state(harness)

    statuses = []
    for n in range(1000):
        path = guessed_path(intents, n)
        response = await callback(harness, path, "127.0.0.66", post=n % 10 == 9)
        statuses.append(response.status_code)
    flooded = await app_state(harness)
    intent_id, token = intents[0]
    path = f"/qpay/callback/{intent_id}?token={token}&qpay_payment_id=1"
    genuine = await callback(harness, path, "127.0.0.77")  # QPay's address

    assert set(statuses) <= {404, 429}, set(statuses)
    assert 429 in statuses  # the limiter engaged
    assert flooded == before
    assert (genuine.status_code, genuine.text) == (200, "SUCCESS")
    url = database_of(harness)
    assert await db.scalar(url, "SELECT count(*) FROM qpay_callbacks") == 1
