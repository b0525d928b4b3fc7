"""Trusted documents (issue 17, item 4) on a live service: with
GRAPHQL_TRUSTED_DOCUMENTS set only the allow-list's documents run, over HTTP
and the websocket, named by hash or sent as text; off (the default) any
document runs and a hash alone is refused. The typed client pays in this mode
in tests/e2e/test_typescript_client.py."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from app.checkout import PAYMENT_STATUS_DOCUMENT
from tests.conftest import SettingsFactory
from tests.e2e.conftest import Live, live_service
from tests.e2e.ws import PROTOCOL, graphql_socket
from tests.gql import CREATE_INVOICE, CREATE_QPAY, PAYMENT_STATUS

pytestmark = [pytest.mark.e2e, pytest.mark.db, pytest.mark.anyio]

GRAPHQL_RESPONSE = "application/graphql-response+json"
METHODS = "query Methods { paymentMethods { method enabled } }"
UNTRUSTED = "query Other { paymentMethods { method } }"
TRUSTED = (METHODS, CREATE_INVOICE, CREATE_QPAY, PAYMENT_STATUS)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
async def trusted(
    clean_db: str, make_settings: SettingsFactory, tmp_path: Path
) -> AsyncIterator[Live]:
    manifest = tmp_path / "persisted-documents.json"
    manifest.write_text(json.dumps({f"sha256:{sha(d)}": d for d in TRUSTED}))
    async with live_service(
        make_settings, clean_db, graphql_trusted_documents=manifest
    ) as running:
        yield running


@pytest.fixture
async def open_service(
    clean_db: str, make_settings: SettingsFactory
) -> AsyncIterator[Live]:
    async with live_service(make_settings, clean_db) as running:
        yield running


async def post(
    live: Live, body: dict[str, Any], accept: str = GRAPHQL_RESPONSE
) -> httpx.Response:
    return await live.client.post(
        f"{live.url}/graphql",
        json=body,
        headers={"authorization": f"Bearer {live.token}", "accept": accept},
    )


def code_of(response: httpx.Response) -> str:
    code: str = response.json()["errors"][0]["extensions"]["code"]
    return code


async def open_intent(live: Live) -> tuple[str, str]:
    """An intent made with documents named by hash only."""
    invoice = await post(
        live,
        {
            "documentId": f"sha256:{sha(CREATE_INVOICE)}",
            "variables": {"input": {"total": "15000.00"}},
        },
    )
    invoice_id = invoice.json()["data"]["createInvoice"]["invoice"]["id"]
    created = await post(
        live,
        {
            "extensions": {
                "persistedQuery": {"version": 1, "sha256Hash": sha(CREATE_QPAY)}
            },
            "variables": {"input": {"invoiceId": invoice_id}},
        },
    )
    payload = created.json()["data"]["createQPayInvoice"]
    return str(payload["intent"]["id"]), str(payload["clientSecret"])


# --- on -----------------------------------------------------------------------


async def test_a_trusted_document_runs_named_by_its_hash_or_sent_as_text(
    trusted: Live,
) -> None:
    by_id = await post(trusted, {"documentId": f"sha256:{sha(METHODS)}"})
    bare = await post(trusted, {"documentId": sha(METHODS)})
    apollo = await post(
        trusted,
        {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha(METHODS)}}},
    )
    as_text = await post(trusted, {"query": METHODS})

    answers = [r.json() for r in (by_id, bare, apollo, as_text)]
    assert [r.status_code for r in (by_id, bare, apollo, as_text)] == [200] * 4
    assert all(a == answers[0] for a in answers)
    assert answers[0]["data"]["paymentMethods"]


async def test_any_other_document_is_refused_before_it_runs(trusted: Live) -> None:
    untrusted = await post(trusted, {"query": UNTRUSTED})
    unknown = await post(trusted, {"documentId": f"sha256:{sha(UNTRUSTED)}"})
    mismatch = await post(
        trusted, {"query": UNTRUSTED, "documentId": f"sha256:{sha(METHODS)}"}
    )
    malformed = await post(trusted, {"documentId": "sha256:" + "A" * 64})
    huge = await post(trusted, {"documentId": "f" * 200_000})
    legacy = await post(trusted, {"query": UNTRUSTED}, accept="application/json")

    assert untrusted.status_code == 400
    assert "data" not in untrusted.json()
    assert code_of(untrusted) == "DOCUMENT_NOT_TRUSTED"
    for refused in (unknown, mismatch, malformed, huge):
        assert refused.status_code == 400
        assert code_of(refused) == "PERSISTED_DOCUMENT_NOT_FOUND"
    assert legacy.status_code == 200
    assert legacy.json()["data"] is None
    assert code_of(legacy) == "DOCUMENT_NOT_TRUSTED"


async def test_a_payment_is_watched_over_the_websocket_with_a_hash_only(
    trusted: Live,
) -> None:
    intent_id, secret = await open_intent(trusted)
    async with graphql_socket(trusted.ws_url) as socket:
        sub = await socket.send_subscribe(
            {
                "documentId": f"sha256:{sha(PAYMENT_STATUS)}",
                "variables": {"id": intent_id, "secret": secret},
            }
        )
        pending = await sub.wait_for(lambda e: e["intent"]["status"] == "PENDING")
        refused = await socket.subscribe(UNTRUSTED, {})
        await asyncio.wait_for(refused.completed.wait(), 10)
        named_wrong = await socket.send_subscribe(
            {"documentId": f"sha256:{sha(UNTRUSTED)}"}
        )
        await asyncio.wait_for(named_wrong.completed.wait(), 10)

    assert pending["intent"]["id"] == intent_id
    assert refused.errors[0]["extensions"]["code"] == "DOCUMENT_NOT_TRUSTED"
    assert named_wrong.errors[0]["extensions"]["code"] == "PERSISTED_DOCUMENT_NOT_FOUND"
    assert refused.events == [] and named_wrong.events == []


async def test_the_checkout_page_document_is_trusted_without_being_listed(
    trusted: Live,
) -> None:
    intent_id, secret = await open_intent(trusted)
    page = await trusted.client.get(
        f"{trusted.url}/checkout/{intent_id}", params={"secret": secret}
    )
    assert page.status_code == 200
    assert (
        json.dumps(PAYMENT_STATUS_DOCUMENT)[1:-1].replace("<", "\\u003c") in page.text
    )
    async with graphql_socket(trusted.ws_url) as socket:
        sub = await socket.subscribe(
            PAYMENT_STATUS_DOCUMENT, {"id": intent_id, "secret": secret}
        )
        first = await sub.wait_for(lambda e: e["intent"]["status"] == "PENDING")

    assert first["intent"]["id"] == intent_id
    assert sub.errors == []


# --- off (the default) ----------------------------------------------------------


async def test_off_any_document_runs_and_a_hash_alone_is_refused(
    open_service: Live,
) -> None:
    as_text = await post(open_service, {"query": UNTRUSTED})
    by_id = await post(open_service, {"documentId": f"sha256:{sha(METHODS)}"})
    both = await post(
        open_service, {"query": METHODS, "documentId": f"sha256:{sha(METHODS)}"}
    )
    async with graphql_socket(open_service.ws_url) as socket:
        named = await socket.send_subscribe(
            {"documentId": f"sha256:{sha(PAYMENT_STATUS)}", "variables": {}}
        )
        await asyncio.wait_for(named.completed.wait(), 10)

    assert as_text.status_code == 200 and as_text.json()["data"]["paymentMethods"]
    assert both.status_code == 200 and both.json()["data"]["paymentMethods"]
    assert by_id.status_code == 400
    assert code_of(by_id) == "PERSISTED_DOCUMENT_NOT_FOUND"
    assert "GRAPHQL_TRUSTED_DOCUMENTS" in by_id.json()["errors"][0]["message"]
    assert named.errors[0]["extensions"]["code"] == "PERSISTED_DOCUMENT_NOT_FOUND"


@pytest.mark.parametrize(
    "payload",
    [
        {"extensions": {}},
        {"extensions": {"persistedQuery": None}},
        {"documentId": 7},
        {"documentId": None},
        {"documentId": "sha256:" + "0" * 64, "query": None},
        {"documentId": "sha256:" + "0" * 64, "extensions": []},
    ],
    ids=[
        "no-query",
        "null-persisted",
        "numeric-id",
        "null-id",
        "null-query",
        "bad-ext",
    ],
)
async def test_a_subscribe_without_a_usable_document_is_refused_not_crashed(
    open_service: Live, payload: dict[str, Any]
) -> None:
    async with connect(
        open_service.ws_url, subprotocols=[PROTOCOL], compression=None
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        await ws.recv()
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        answers: list[dict[str, Any]] = []
        with contextlib.suppress(ConnectionClosed, TimeoutError):
            async with asyncio.timeout(5):
                async for raw in ws:
                    answers.append(json.loads(raw))
                    if answers[-1]["type"] in ("error", "complete"):
                        break

    closed_4400 = ws.close_code == 4400
    refused = [a for a in answers if a["type"] == "error"]
    assert closed_4400 or refused, (answers, ws.close_code)
    assert not any(a["type"] == "next" for a in answers)
    for error in refused:
        assert "Unexpected" not in json.dumps(error)
