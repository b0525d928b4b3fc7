"""A fixed corpus of hostile requests against every mutation and against the
GraphQL endpoint itself. Each must be refused with a typed error (a payload
`errors[].code`, a GraphQL validation error with a clear message, or an HTTP
4xx), never an internal error, and must leave the database and QPay as they
were (row counts, invoice and intent rows, the simulator's request log)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import SettingsFactory
from tests.gql import CANCEL, CHECK, CREATE_INVOICE, CREATE_QPAY, ERRORS, SETTLE
from tests.harness import Harness, running_app
from tests.integration.gql import new_intent, new_invoice
from tests.security.conftest import app_state, production_settings
from tests.security.judge import MASKED, refusal

pytestmark = [pytest.mark.db, pytest.mark.anyio]

MUTATIONS = (
    "createInvoice",
    "createQPayInvoice",
    "checkQPayPayment",
    "cancelQPayInvoice",
    "settleInvoice",
)

TEN_MB = "x" * 10_000_000
# A value written into the JSON body as raw text: 1e309 has no Python float
# (json.dumps would write Infinity, which is not JSON).
RAW_1E309 = "<raw 1e309>"
UNKNOWN_ID = "<a fresh, unknown uuid>"


@dataclass
class Target:
    """The app behind a client that turns app exceptions into HTTP 500 (as a
    real server does), an UNPAID invoice of 15000.00 and a PENDING intent of
    5000.00 on it (None in production: QPay is unreachable there)."""

    harness: Harness
    client: httpx.AsyncClient
    invoice_id: str
    intent_id: str | None

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.harness.token}", **(extra or {})}

    async def post(
        self, query: str, variables: dict[str, Any] | None = None
    ) -> httpx.Response:
        text = json.dumps({"query": query, "variables": variables or {}})
        text = text.replace(json.dumps(RAW_1E309), "1e309")
        return await self.post_raw(text.encode())

    async def post_raw(
        self, body: bytes, content_type: str = "application/json"
    ) -> httpx.Response:
        return await self.client.post(
            "/graphql",
            content=body,
            headers=self.headers({"content-type": content_type}),
        )

    async def state(self) -> tuple[object, ...]:
        return await app_state(self.harness)

    def valid_mutation(self, name: str) -> str:
        """A document that would write (or call QPay) if it were accepted."""
        invoice, intent = self.invoice_id, self.intent_id
        return {
            "createInvoice": 'createInvoice(input: {total: "100.00"})',
            "createQPayInvoice": (
                f'createQPayInvoice(input: {{invoiceId: "{invoice}", '
                'amount: "100.00"})'
            ),
            "checkQPayPayment": f'checkQPayPayment(intentId: "{intent}")',
            "cancelQPayInvoice": f'cancelQPayInvoice(intentId: "{intent}")',
            "settleInvoice": (
                f'settleInvoice(input: {{invoiceId: "{invoice}", method: CASH, '
                'amount: "100.00", idempotencyKey: "hostile-transport"})'
            ),
        }[name].join(("mutation { ", " { errors { code } } }"))


def _client(harness: Harness) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=harness.app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


@pytest.fixture
async def target(harness: Harness) -> AsyncIterator[Target]:
    """Development configuration, QPay simulator."""
    invoice_id = await new_invoice(harness, "15000.00")
    intent = await new_intent(harness, invoice_id, amount="5000.00")
    async with _client(harness) as client:
        yield Target(harness, client, invoice_id, intent["intent"]["id"])


@pytest.fixture
async def production_target(production: Harness) -> AsyncIterator[Target]:
    """Production configuration: QPay unreachable, so no intent."""
    invoice_id = await new_invoice(production, "15000.00")
    async with _client(production) as client:
        yield Target(production, client, invoice_id, None)


@pytest.fixture(params=["development", "production"])
async def any_target(
    request: pytest.FixtureRequest, clean_db: str, make_settings: SettingsFactory
) -> AsyncIterator[Target]:
    """Each configuration; production has QPay unreachable and no intent."""
    if request.param == "production":
        settings = production_settings(make_settings, clean_db)
    else:
        settings = make_settings(database_url=clean_db)
    async with running_app(settings) as harness, _client(harness) as client:
        invoice_id = await new_invoice(harness, "15000.00")
        intent_id = None
        if request.param == "development":
            intent = await new_intent(harness, invoice_id, amount="5000.00")
            intent_id = intent["intent"]["id"]
        yield Target(harness, client, invoice_id, intent_id)


# --- amounts ------------------------------------------------------------------

AMOUNTS = [
    pytest.param("1" + "0" * 30, id="1e30-text"),
    pytest.param("-15000.00", id="negative"),
    pytest.param("0", id="zero"),
    pytest.param("0.00", id="zero-cents"),
    pytest.param("NaN", id="NaN"),
    pytest.param("1e309", id="1e309-text"),
    pytest.param(RAW_1E309, id="1e309-json-number"),
    pytest.param("1.005", id="three-decimals"),
    pytest.param(15000, id="json-integer"),
    pytest.param(15000.5, id="json-float"),
]
AMOUNT_INPUTS: dict[str, tuple[str, Callable[[Target, object], dict[str, object]]]] = {
    "createInvoice": (CREATE_INVOICE, lambda t, amount: {"total": amount}),
    "createQPayInvoice": (
        CREATE_QPAY,
        lambda t, amount: {"invoiceId": t.invoice_id, "amount": amount},
    ),
    "settleInvoice": (
        SETTLE,
        lambda t, amount: {
            "invoiceId": t.invoice_id,
            "method": "CASH",
            "amount": amount,
            "idempotencyKey": "hostile-amount",
        },
    ),
}


@pytest.mark.parametrize("amount", AMOUNTS)
@pytest.mark.parametrize("mutation", sorted(AMOUNT_INPUTS))
async def test_amount_refused_and_nothing_written_when_not_a_positive_cent_string(
    target: Target, mutation: str, amount: object
) -> None:
    document, build = AMOUNT_INPUTS[mutation]
    before = await target.state()

    outcome = refusal(await target.post(document, {"input": build(target, amount)}))

    assert await target.state() == before
    field = "input.total" if mutation == "createInvoice" else "input.amount"
    assert outcome == f"INVALID_AMOUNT@{field}" or "decimal" in outcome.lower(), outcome


LITERAL_AMOUNTS = [
    pytest.param("15000", id="int-literal"),
    pytest.param("15000.5", id="float-literal"),
    pytest.param("1e309", id="1e309-float-literal"),
    pytest.param('"NaN"', id="NaN"),
    pytest.param('"1' + "0" * 30 + '"', id="1e30-text"),
]


@pytest.mark.parametrize("literal", LITERAL_AMOUNTS)
async def test_literal_amount_refused_with_a_clear_message_when_written_in_the_query(
    any_target: Target, literal: str
) -> None:
    before = await any_target.state()
    document = (
        f"mutation {{ createInvoice(input: {{total: {literal}}}) {{ {ERRORS} }} }}"
    )

    outcome = refusal(await any_target.post(document))

    assert await any_target.state() == before
    assert "decimal" in outcome.lower(), outcome


# --- text fields ----------------------------------------------------------------

TEXTS = [
    pytest.param(TEN_MB, id="10MB"),
    pytest.param("INV\x00-1", id="NUL"),
    pytest.param("INV\x1b[2J-1", id="ESC"),
    pytest.param("INV-\u202e1-FDP", id="RLO"),
]
TEXT_INPUTS: dict[str, tuple[str, Callable[[Target, str], dict[str, object]]]] = {
    "createInvoice.number": (
        CREATE_INVOICE,
        lambda t, text: {"total": "100.00", "number": text},
    ),
    "createInvoice.description": (
        CREATE_INVOICE,
        lambda t, text: {"total": "100.00", "description": text},
    ),
    "createQPayInvoice.description": (
        CREATE_QPAY,
        lambda t, text: {
            "invoiceId": t.invoice_id,
            "amount": "100.00",
            "description": text,
        },
    ),
    "createQPayInvoice.ebarimt.receiver": (
        CREATE_QPAY,
        lambda t, text: {
            "invoiceId": t.invoice_id,
            "amount": "100.00",
            "ebarimt": {"receiverType": "COMPANY", "receiver": text},
        },
    ),
    "settleInvoice.idempotencyKey": (
        SETTLE,
        lambda t, text: {
            "invoiceId": t.invoice_id,
            "method": "CASH",
            "amount": "100.00",
            "idempotencyKey": text,
        },
    ),
}


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("field", sorted(TEXT_INPUTS))
async def test_text_refused_and_nothing_written_when_huge_or_with_control_characters(
    target: Target, field: str, text: str
) -> None:
    document, build = TEXT_INPUTS[field]
    before = await target.state()

    outcome = refusal(await target.post(document, {"input": build(target, text)}))

    assert await target.state() == before
    path = "input." + field.split(".", 1)[1]
    assert outcome in (f"INVALID_INPUT@{path}", "HTTP 413"), outcome


# --- ids -------------------------------------------------------------------------

IDS = [
    pytest.param(UNKNOWN_ID, id="unknown-uuid"),
    pytest.param("'; DROP TABLE invoices; --", id="sql"),
    pytest.param("9" * 10_000, id="10k-chars"),
]
ID_INPUTS: dict[str, tuple[str, str, Callable[[Target, str], dict[str, object]]]] = {
    "createQPayInvoice.invoiceId": (
        CREATE_QPAY,
        "input.invoiceId",
        lambda t, id_: {"input": {"invoiceId": id_, "amount": "100.00"}},
    ),
    "checkQPayPayment.intentId": (CHECK, "intentId", lambda t, id_: {"id": id_}),
    "cancelQPayInvoice.intentId": (CANCEL, "intentId", lambda t, id_: {"id": id_}),
    "settleInvoice.invoiceId": (
        SETTLE,
        "input.invoiceId",
        lambda t, id_: {
            "input": {
                "invoiceId": id_,
                "method": "CASH",
                "amount": "100.00",
                "idempotencyKey": "hostile-id",
            }
        },
    ),
    "settleInvoice.qpayIntentId": (
        SETTLE,
        "input.qpayIntentId",
        lambda t, id_: {
            "input": {
                "invoiceId": t.invoice_id,
                "method": "QPAY",
                "amount": "5000.00",
                "qpayIntentId": id_,
            }
        },
    ),
}


@pytest.mark.parametrize("value", IDS)
@pytest.mark.parametrize("field", sorted(ID_INPUTS))
async def test_id_refused_and_nothing_written_when_unknown_or_malformed(
    target: Target, field: str, value: str
) -> None:
    document, path, build = ID_INPUTS[field]
    id_ = str(uuid.uuid4()) if value == UNKNOWN_ID else value
    before = await target.state()

    outcome = refusal(await target.post(document, build(target, id_)))

    assert await target.state() == before
    code = "NOT_FOUND" if value == UNKNOWN_ID else "INVALID_INPUT"
    assert outcome == f"{code}@{path}", outcome


@pytest.mark.parametrize("query", ["invoice", "qpayIntent"])
@pytest.mark.parametrize("value", IDS[1:])
async def test_query_answers_invalid_input_when_the_id_is_malformed(
    target: Target, query: str, value: str
) -> None:
    response = await target.post(
        f"query($id: ID!) {{ {query}(id: $id) {{ id }} }}", {"id": value}
    )

    outcome = refusal(response)
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "INVALID_INPUT", outcome


@pytest.mark.parametrize("query", ["invoice", "qpayIntent"])
async def test_query_answers_null_when_the_id_is_unknown(
    target: Target, query: str
) -> None:
    response = await target.post(
        f"query($id: ID!) {{ {query}(id: $id) {{ id }} }}", {"id": str(uuid.uuid4())}
    )

    assert response.json() == {"data": {query: None}}


# --- documents that cost too much -----------------------------------------------


async def test_depth_limiter_refuses_when_a_query_nests_50_levels(
    any_target: Target,
) -> None:
    nested = "qpayIntents { payment { ebarimt { id } } } " + "payments { " * 49
    document = "{ invoices { " + nested + "id" + " }" * 49 + " } }"

    outcome = refusal(await any_target.post(document))

    assert "exceeds maximum operation depth" in outcome, outcome


async def test_a_limiter_refuses_when_a_query_has_1000_aliases(
    any_target: Target,
) -> None:
    # 1,000 aliases need at least 3,000 tokens: the token limit (2,000) is
    # reached before the alias limit; either refusal is fine.
    document = "{ " + " ".join(f"a{n}: __typename" for n in range(1000)) + " }"

    outcome = refusal(await any_target.post(document))

    assert "aliases found" in outcome or "more than 2000 tokens" in outcome, outcome


async def test_alias_limiter_refuses_when_a_query_has_40_aliases(
    any_target: Target,
) -> None:
    document = "{ " + " ".join(f"a{n}: paymentMethods {{ method }}" for n in range(40))
    outcome = refusal(await any_target.post(document + " }"))

    assert "40 aliases found" in outcome, outcome


async def test_alias_limiter_counts_each_spread_when_a_fragment_is_spread_twice(
    any_target: Target,
) -> None:
    aliases = " ".join(f"a{n}: paymentMethods {{ method }}" for n in range(20))
    document = "{ ...F ...G } fragment F on Query { " + aliases + " } "
    document += "fragment G on Query { ...F }"

    outcome = refusal(await any_target.post(document))

    assert "40 aliases found" in outcome, outcome


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(
            "{ invoices { ...A } } fragment A on Invoice { id ...A }", id="self"
        ),
        pytest.param(
            "{ invoices { ...A } } fragment A on Invoice { id ...B }"
            " fragment B on Invoice { total ...A }",
            id="two-step",
        ),
        pytest.param(
            "{ ...A } fragment A on Query { a: __typename ...B }"
            " fragment B on Query { b: __typename ...A }",
            id="with-aliases",
        ),
    ],
)
async def test_fragment_cycle_refused_with_a_clear_message_when_spreads_loop(
    any_target: Target, document: str
) -> None:
    outcome = refusal(await any_target.post(document))

    assert "Cannot spread fragment 'A' within itself" in outcome, outcome


async def test_unknown_fragment_refused_with_a_clear_message_when_spread(
    any_target: Target,
) -> None:
    outcome = refusal(await any_target.post("{ invoices { ...Missing } }"))

    assert "Unknown fragment 'Missing'" in outcome, outcome


async def test_token_limiter_refuses_when_a_document_has_5000_tokens(
    any_target: Target,
) -> None:
    document = "{ paymentMethods { " + "method " * 5000 + "} }"

    outcome = refusal(await any_target.post(document))

    assert "more than 2000 tokens" in outcome, outcome


# --- schema exposure ---------------------------------------------------------------

INTROSPECTION = [
    pytest.param("{ __schema { queryType { name } } }", id="__schema"),
    pytest.param('{ __type(name: "Invoice") { name } }', id="__type"),
]


@pytest.mark.parametrize("document", INTROSPECTION)
async def test_introspection_refused_when_in_production(
    production_target: Target, document: str
) -> None:
    outcome = refusal(await production_target.post(document))

    assert "introspection has been disabled" in outcome, outcome


@pytest.mark.parametrize("document", INTROSPECTION)
async def test_introspection_answered_when_in_development(
    target: Target, document: str
) -> None:
    response = await target.post(document)

    assert response.json()["data"] is not None, response.text


async def test_field_names_not_suggested_when_in_production(
    production_target: Target,
) -> None:
    outcome = refusal(await production_target.post("{ invoce { id } }"))

    assert "Cannot query field 'invoce'" in outcome, outcome
    assert "Did you mean" not in outcome, outcome


async def test_graphiql_not_served_when_in_production(
    production_target: Target,
) -> None:
    response = await production_target.client.get(
        "/graphql", headers={"accept": "text/html"}
    )

    assert refusal(response).startswith("HTTP 4")
    assert "graphiql" not in response.text.lower()


async def test_subscription_refused_with_a_typed_error_when_sent_over_http(
    any_target: Target,
) -> None:
    before = await any_target.state()
    document = "subscription($id: ID!) { paymentStatus(intentId: $id) { version } }"

    intent_id = any_target.intent_id or str(uuid.uuid4())

    response = await any_target.post(document, {"id": intent_id})

    outcome = refusal(response)
    assert await any_target.state() == before
    assert MASKED not in outcome, outcome


# --- transports and body shapes -------------------------------------------------


@pytest.mark.parametrize("mutation", MUTATIONS)
async def test_valid_mutation_takes_effect_when_posted_as_json(
    target: Target, mutation: str
) -> None:
    """The control for the refusals below: the same documents do work."""
    before = await target.state()

    response = await target.post(target.valid_mutation(mutation))

    assert response.json()["data"][mutation]["errors"] == [], response.text
    assert await target.state() != before


@pytest.mark.parametrize("mutation", MUTATIONS)
async def test_mutation_refused_when_sent_over_get(
    target: Target, mutation: str
) -> None:
    before = await target.state()

    response = await target.client.get(
        "/graphql",
        params={"query": target.valid_mutation(mutation)},
        headers=target.headers(),
    )

    assert refusal(response).startswith("HTTP 4")
    assert await target.state() == before


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ],
)
@pytest.mark.parametrize("mutation", MUTATIONS)
async def test_mutation_refused_when_posted_with_a_simple_content_type(
    target: Target, mutation: str, content_type: str
) -> None:
    """CSRF: a browser sends these cross-site without a preflight."""
    before = await target.state()
    document = target.valid_mutation(mutation)
    if content_type.startswith("application/x-www-form"):
        body = str(httpx.QueryParams({"query": document})).encode()
    else:
        body = json.dumps({"query": document}).encode()

    response = await target.post_raw(body, content_type)

    assert refusal(response).startswith("HTTP 4")
    assert await target.state() == before


@pytest.mark.parametrize("mutation", MUTATIONS)
async def test_batched_mutations_refused_when_sent_as_a_json_array(
    target: Target, mutation: str
) -> None:
    before = await target.state()
    operation = {"query": target.valid_mutation(mutation)}

    response = await target.post_raw(json.dumps([operation, operation]).encode())

    assert refusal(response).startswith("HTTP 4")
    assert await target.state() == before


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'"createInvoice"', id="string"),
        pytest.param(b"42", id="number"),
        pytest.param(b"null", id="null"),
        pytest.param(b"true", id="boolean"),
        pytest.param(b"[]", id="empty-array"),
        pytest.param(b"{}", id="empty-object"),
        pytest.param(b'{"query": 7}', id="query-not-a-string"),
        pytest.param(
            b'{"query": "{ paymentMethods { method } }", "variables": "x"}',
            id="variables-not-an-object",
        ),
        pytest.param(b'{"query": "mutation { createInvoice(', id="invalid-json"),
        pytest.param(b"\xff\xfe{}", id="not-utf8"),
    ],
)
async def test_malformed_body_refused_with_4xx_when_not_a_graphql_request(
    any_target: Target, body: bytes
) -> None:
    before = await any_target.state()

    response = await any_target.post_raw(body)

    assert refusal(response).startswith("HTTP 4"), response.text[:200]
    assert await any_target.state() == before
