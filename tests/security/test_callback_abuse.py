"""The callback route under abuse (issue 13, items 5 and 8): the brake hits
only wrong tokens, a replayed URL costs bounded storage and QPay checks, and
odd bytes get a clean answer."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import parse_qs, urlsplit

import pytest

from app.callback import MAX_FIELDS, MAX_VALUE, STORED_PER_INTENT_PER_MINUTE
from app.main import FAILED_CALLBACKS_PER_MINUTE
from tests import db
from tests.harness import Harness
from tests.integration.gql import new_intent, new_invoice, wait_for_intent
from tests.security.conftest import database_of

pytestmark = [pytest.mark.db, pytest.mark.anyio]


async def callback_path(harness: Harness) -> tuple[dict[str, str], str, str]:
    """An intent, its callback path and its (right) token."""
    intent = (await new_intent(harness, await new_invoice(harness)))["intent"]
    url = harness.simulator.state.invoices[intent["qpayInvoiceId"]].callback_url
    parts = urlsplit(url)
    return intent, parts.path, parse_qs(parts.query)["token"][0]


def checks(harness: Harness) -> int:
    return sum(
        1 for r in harness.simulator.requests if r["path"] == "/v2/payment/check"
    )


async def test_qpays_genuine_callback_passes_after_wrong_ones_from_its_address(
    harness: Harness,
) -> None:
    intent, path, token = await callback_path(harness)
    for n in range(FAILED_CALLBACKS_PER_MINUTE + 5):
        await harness.client.get(path, params={"token": f"guess-{n}"})
    harness.simulator.set_callbacks(drop=True)
    payment_id = harness.simulator.pay(intent["qpayInvoiceId"])

    wrong = await harness.client.get(path, params={"token": "guess-again"})
    genuine = await harness.client.get(
        path, params={"token": token, "qpay_payment_id": payment_id}
    )

    assert wrong.status_code == 429
    assert (genuine.status_code, genuine.text) == (200, "SUCCESS")
    row = await wait_for_intent(harness, intent["id"], lambda r: r["status"] == "PAID")
    assert row["status"] == "PAID"


async def test_a_replayed_callback_url_costs_bounded_rows_and_qpay_checks(
    harness: Harness,
) -> None:
    _, path, token = await callback_path(harness)
    before = checks(harness)

    answers = await asyncio.gather(
        *(harness.client.get(path, params={"token": token}) for _ in range(100))
    )
    await asyncio.sleep(1.5)  # let a folded follow-up run happen

    assert {a.status_code for a in answers} == {200}
    stored = await db.scalar(
        database_of(harness), "SELECT count(*) FROM qpay_callbacks"
    )
    assert stored == STORED_PER_INTENT_PER_MINUTE
    assert checks(harness) - before <= 3


async def test_what_is_stored_of_a_huge_callback_is_small(harness: Harness) -> None:
    _, path, token = await callback_path(harness)
    query = {"token": token, **{f"k{n}": "v" * 1000 for n in range(60)}}
    headers = {f"x-junk-{n}": "h" * 4000 for n in range(60)}

    answer = await harness.client.post(
        path, params=query, headers=headers, content=b"b" * 200_000
    )

    assert answer.status_code == 200
    rows = await db.fetch(
        database_of(harness), "SELECT query, headers, body FROM qpay_callbacks"
    )
    stored_query, stored_headers, body = rows[0]
    for stored in (json.loads(stored_query), json.loads(stored_headers)):
        assert len(stored) <= MAX_FIELDS
        assert all(len(v) <= MAX_VALUE for v in stored.values())
    assert len(body) <= 4096


@pytest.mark.parametrize("where", ["query", "body", "payment id"])
async def test_nul_bytes_in_a_genuine_callback_get_success_not_an_error(
    harness: Harness, where: str
) -> None:
    _, path, token = await callback_path(harness)
    params = {"token": token}
    content = b""
    if where == "query":
        params["note"] = "a\x00b"
    elif where == "payment id":
        params["qpay_payment_id"] = "12\x0034"
    else:
        content = b"x\x00y"

    answer = await harness.client.post(path, params=params, content=content)

    assert (answer.status_code, answer.text) == (200, "SUCCESS")
    stored = await db.fetch(
        database_of(harness), "SELECT query::text, body FROM qpay_callbacks"
    )
    assert "\\u0000" not in stored[0][0] and "\x00" not in stored[0][1]
