"""Abuse brakes: checkQPayPayment per intent, failed callbacks and failed
logins per client address."""

from __future__ import annotations

import pytest

from app.main import FAILED_CALLBACKS_PER_MINUTE, FAILED_LOGINS_PER_MINUTE
from tests import db
from tests.gql import CHECK
from tests.harness import Harness
from tests.integration.gql import new_intent, new_invoice
from tests.integration.test_payments_http import harness_url

pytestmark = [pytest.mark.db, pytest.mark.anyio]


async def test_check_answers_rate_limited_when_an_intent_is_checked_too_often(
    harness: Harness,
) -> None:
    intent = (await new_intent(harness, await new_invoice(harness)))["intent"]

    codes = []
    for _ in range(40):
        body = await harness.gql(CHECK, {"id": intent["id"]})
        errors = body["data"]["checkQPayPayment"]["errors"]
        codes.append(errors[0]["code"] if errors else None)

    assert codes[:30] == [None] * 30
    assert set(codes[30:]) == {"RATE_LIMITED"}


async def test_callbacks_with_wrong_tokens_get_429_when_they_flood(
    harness: Harness,
) -> None:
    intent = (await new_intent(harness, await new_invoice(harness)))["intent"]
    before = len(harness.simulator.requests)

    statuses = [
        (
            await harness.client.get(
                f"/qpay/callback/{intent['id']}", params={"token": f"guess-{n}"}
            )
        ).status_code
        for n in range(FAILED_CALLBACKS_PER_MINUTE + 10)
    ]

    assert statuses[:FAILED_CALLBACKS_PER_MINUTE] == [404] * FAILED_CALLBACKS_PER_MINUTE
    assert set(statuses[FAILED_CALLBACKS_PER_MINUTE:]) == {429}
    assert len(harness.simulator.requests) == before
    assert (
        await db.scalar(harness_url(harness), "SELECT count(*) FROM qpay_callbacks")
        == 0
    )


async def test_failed_logins_get_429_when_an_address_keeps_failing(
    harness: Harness,
) -> None:
    query = "{ paymentMethods { method } }"
    failures = [
        (
            await harness.client.post(
                "/graphql",
                json={"query": query},
                headers={"Authorization": "Bearer nope"},
            )
        ).status_code
        for _ in range(FAILED_LOGINS_PER_MINUTE)
    ]

    blocked = await harness.client.post(
        "/graphql", json={"query": query}, headers={"Authorization": "Bearer guess"}
    )
    colleague = await harness.client.post(
        "/graphql",
        json={"query": query},
        headers={"Authorization": f"Bearer {harness.token}"},
    )

    assert set(failures) == {200}  # each one a GraphQL UNAUTHENTICATED error
    assert blocked.status_code == 429
    assert colleague.status_code == 200
