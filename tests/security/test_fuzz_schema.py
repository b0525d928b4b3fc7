"""Schemathesis against the GraphQL schema: generated queries and mutations,
sent with a valid staff token to the app in process, must never produce an
internal error (HTTP 5xx, an unmasked Python exception, a masked "Unexpected
error.") nor leave rows that break the money invariants.

Cases come from schemathesis' GraphQL generator (hypothesis-graphql under
it) for the checked-in schema.graphql; they are sent with the harness' httpx
client so the app runs on the test's event loop. Hypothesis runs in a worker
thread and hands each request back to that loop. Every problem is collected
(no shrinking), so one run reports every distinct failure at once.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio.from_thread
import anyio.to_thread
import graphql
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.graphql import nodes

from tests import db
from tests.conftest import SettingsFactory
from tests.gql import CANCEL, CHECK, CREATE_INVOICE, CREATE_QPAY, SETTLE
from tests.harness import Harness, running_app
from tests.integration.gql import new_intent, new_invoice
from tests.security.conftest import database_of, production_settings
from tests.security.judge import internal_errors

pytestmark = [pytest.mark.db, pytest.mark.anyio]

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schema.graphql"
OPERATIONS = {
    "Query.invoice",
    "Query.invoices",
    "Query.qpayIntent",
    "Query.qpayIntents",
    "Query.paymentTotals",
    "Query.paymentMethods",
    "Mutation.createInvoice",
    "Mutation.createQPayInvoice",
    "Mutation.checkQPayPayment",
    "Mutation.cancelQPayInvoice",
    "Mutation.settleInvoice",
    "Mutation.refundPayment",
    "Mutation.resolveQPayReview",
}
# Arguments and input fields that carry ids: most of the time the fuzzer's
# value is replaced with a real invoice or intent id, so mutations reach rows.
ID_NAMES = frozenset({"id", "invoiceId", "intentId", "qpayIntentId", "paymentId"})
MUTATIONS = frozenset(
    label.removeprefix("Mutation.") for label in OPERATIONS if "Mutation." in label
)
USER_ERRORS = graphql.FieldNode(
    name=graphql.NameNode(value="errors"),
    selection_set=graphql.SelectionSetNode(
        selections=tuple(
            graphql.FieldNode(name=graphql.NameNode(value=name))
            for name in ("code", "message", "field")
        )
    ),
)
# Enough keys for many payments, few enough for replays and conflicts.
IDEMPOTENCY_KEYS = tuple(f"fuzz-key-{n}" for n in range(40))

DEVELOPMENT_EXAMPLES = 900
DEVELOPMENT_NEGATIVE_EXAMPLES = 150
PRODUCTION_EXAMPLES = 270
PRODUCTION_NEGATIVE_EXAMPLES = 90

# Amount texts the Decimal scalar must refuse (or the use cases must reject).
ODD_AMOUNTS = (
    "0",
    "0.00",
    "-0.01",
    "-15000.00",
    "0.001",
    "1.005",
    "NaN",
    "-Infinity",
    "Infinity",
    "1e309",
    "1E+2",
    "1" + "0" * 30,
    "999999999999.99",
    "1000000000000.00",
    "",
    " ",
    " 1.00",
    "1,000.00",
    "+1.00",
    "0x10",
    "١٢٣",
    "1_000",
    "\x00",
)


def _amount(cents: int) -> str:
    return str(Decimal(cents) / 100)


# Mostly well-formed amounts (so mutations get past validation and write
# rows), the rest every shape the scalar must refuse.
WELL_FORMED = st.integers(min_value=1, max_value=3_000_000).map(_amount)
SMALL = st.integers(min_value=1, max_value=60_000).map(_amount)
DECIMAL_NODES = st.one_of(
    WELL_FORMED.map(nodes.String),
    SMALL.map(nodes.String),
    SMALL.map(nodes.String),
    SMALL.map(nodes.String),
    st.sampled_from(ODD_AMOUNTS).map(nodes.String),
    st.text(max_size=24).map(nodes.String),
    st.integers(min_value=-(10**20), max_value=10**20).map(nodes.Int),
    st.floats(allow_nan=False, allow_infinity=False).map(nodes.Float),
)
schemathesis.graphql.scalar("Decimal", DECIMAL_NODES)
SCHEMA = schemathesis.graphql.from_path(SCHEMA_PATH)


class _Steer(graphql.Visitor):
    """Replaces the values of chosen arguments and input fields by what
    `pick(name)` returns (None: keep the fuzzer's value), gives settleInvoice
    inputs without an idempotency key one now and then, and has every
    mutation payload select its `errors`."""

    def __init__(self, pick: Callable[[str], str | None]) -> None:
        super().__init__()
        self._pick = pick

    def _replace(self, node: Any) -> Any:
        chosen = self._pick(node.name.value)
        if chosen is None:
            return None
        return type(node)(name=node.name, value=graphql.StringValueNode(value=chosen))

    def enter_argument(self, node: graphql.ArgumentNode, *_: object) -> Any:
        return self._replace(node)

    def enter_object_field(self, node: graphql.ObjectFieldNode, *_: object) -> Any:
        return self._replace(node)

    def leave_field(self, node: graphql.FieldNode, *_: object) -> Any:
        if node.name.value not in MUTATIONS:
            return None
        chosen = node.selection_set.selections if node.selection_set else ()
        if not any(_named(field, "errors") for field in chosen):
            chosen = (*chosen, USER_ERRORS)
        arguments = tuple(node.arguments or ())
        if node.name.value == "settleInvoice":
            arguments = tuple(self._with_key(argument) for argument in arguments)
        return graphql.FieldNode(
            alias=node.alias,
            name=node.name,
            arguments=arguments,
            directives=node.directives,
            selection_set=graphql.SelectionSetNode(selections=chosen),
        )

    def _with_key(self, argument: graphql.ArgumentNode) -> graphql.ArgumentNode:
        value = argument.value
        if not isinstance(value, graphql.ObjectValueNode) or any(
            _named(field, "idempotencyKey") for field in value.fields
        ):
            return argument
        key = self._pick("idempotencyKey")
        if key is None:
            return argument
        added = graphql.ObjectFieldNode(
            name=graphql.NameNode(value="idempotencyKey"),
            value=graphql.StringValueNode(value=key),
        )
        return graphql.ArgumentNode(
            name=argument.name,
            value=graphql.ObjectValueNode(fields=(*value.fields, added)),
        )


def _named(node: graphql.Node, name: str) -> bool:
    return isinstance(node, graphql.FieldNode | graphql.ObjectFieldNode) and (
        node.name.value == name
    )


def steered(body: str, pool: list[str], data: st.DataObject) -> str:
    """`body` with most ids replaced by real ones and most idempotency keys
    by a few reused ones (so replays and conflicts happen)."""
    try:
        document = graphql.parse(body)
    except graphql.GraphQLError:
        return body
    ids = st.sampled_from([*pool, None])
    keys = st.sampled_from([*IDEMPOTENCY_KEYS, None])

    def pick(name: str) -> str | None:
        if name in ID_NAMES and pool:
            return data.draw(ids)
        if name == "idempotencyKey":
            return data.draw(keys)
        return None

    return graphql.print_ast(graphql.visit(document, _Steer(pick)))


@dataclass
class FuzzRun:
    """Sends generated operations and collects what went wrong."""

    harness: Harness
    pool: list[str] = field(default_factory=list)
    sent: Counter[str] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    problems: dict[str, str] = field(default_factory=dict)

    async def send(self, body: str) -> tuple[int, str]:
        response = await self.harness.client.post(
            "/graphql",
            json={"query": body},
            headers={"Authorization": f"Bearer {self.harness.token}"},
        )
        return response.status_code, response.text

    def run(self, mode: GenerationMode, examples: int) -> None:
        """Generate and send `examples` operations (in a worker thread)."""

        @settings(
            max_examples=examples,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            print_blob=False,
            suppress_health_check=[
                HealthCheck.too_slow,
                HealthCheck.filter_too_much,
                HealthCheck.data_too_large,
                HealthCheck.large_base_example,
            ],
        )
        @given(case=SCHEMA.as_strategy(generation_mode=mode), data=st.data())
        def one(case: Case[Any], data: st.DataObject) -> None:
            assert isinstance(case.body, str)
            body = steered(case.body, self.pool, data)
            status, text = anyio.from_thread.run(self.send, body)
            label = case.operation.label
            self.sent[label] += 1
            self.codes.update(re.findall(r'"code":"([A-Z_]+)"', text))
            for problem in internal_errors(status, text):
                key = f"{label}: {_shape(problem)}"
                self.problems.setdefault(key, f"{problem}\n  query: {body}")

        one()

    def report(self) -> str:
        return "\n\n".join(
            f"{key}\n  {example}" for key, example in self.problems.items()
        )


def _shape(problem: str) -> str:
    """A problem without its variable parts, to group repeats."""
    return re.sub(r"'[^']*'|\"[^\"]*\"|\d+", "_", problem)[:160]


async def seed_pool(harness: Harness, *, with_intents: bool) -> list[str]:
    """Real invoices (and QPay intents, one paid in full, one in part)."""
    pool: list[str] = []
    for total in ("15000.00", "20000.00", "500.00", "999999.99", "0.01"):
        body = await harness.gql(CREATE_INVOICE, {"input": {"total": total}})
        pool.append(body["data"]["createInvoice"]["invoice"]["id"])
    if with_intents:
        harness.simulator.set_callbacks(drop=True)
        for invoice_id, amount, paid in (
            (pool[0], None, None),
            (pool[1], "5000.00", "1000.00"),
        ):
            variables: dict[str, Any] = {"invoiceId": invoice_id}
            if amount is not None:
                variables["amount"] = amount
            created = await harness.gql(CREATE_QPAY, {"input": variables})
            intent = created["data"]["createQPayInvoice"]["intent"]
            pool.append(intent["id"])
            harness.simulator.pay(intent["qpayInvoiceId"], paid, payment_type="CARD")
    settled = await harness.gql(
        SETTLE,
        {
            "input": {
                "invoiceId": pool[2],
                "method": "CASH",
                "amount": "300.00",
                "idempotencyKey": "fuzz-seed-cash",
            }
        },
    )
    pool.append(settled["data"]["settleInvoice"]["payment"]["id"])
    return pool


# The money a row holds: its payments that count, less their completed refunds.
NET = """
    coalesce((SELECT sum(p.amount) FROM payments p
              WHERE p.{column} = {row}.id AND p.currency = 'MNT'), 0)
  - coalesce((SELECT sum(r.amount) FROM refunds r JOIN payments p ON p.id = r.payment_id
              WHERE p.{column} = {row}.id AND p.currency = 'MNT'
                AND r.status = 'COMPLETED'), 0) AS paid
"""


_SUMS = (
    "SELECT id, paid_amount, paid FROM (SELECT x.id, x.paid_amount, {net} "
    "FROM {table} x) AS sums WHERE paid_amount <> paid"
)
# Built from the constants above only.
INVOICE_SUMS = _SUMS.format(
    net=NET.format(column="invoice_id", row="x"), table="invoices"
)
INTENT_SUMS = _SUMS.format(
    net=NET.format(column="intent_id", row="x"), table="qpay_intents"
)


async def money_invariant_violations(url: str) -> list[str]:
    """Rows whose stored sums disagree with their payments, and invoices
    whose status disagrees with their amounts."""
    invoices = await db.fetch(url, INVOICE_SUMS)
    intents = await db.fetch(url, INTENT_SUMS)
    statuses = await db.fetch(
        url,
        """
        SELECT id, total, paid_amount AS paid, status FROM invoices
        WHERE status <> 'VOID' AND status <> CASE
            WHEN paid_amount = 0 THEN 'UNPAID'
            WHEN paid_amount < total THEN 'PARTIALLY_PAID'
            WHEN paid_amount = total THEN 'PAID'
            ELSE 'OVERPAID' END
        """,
    )
    return [
        f"{kind} {row['id']}: paid_amount {row['paid_amount']} != sum {row['paid']}"
        for kind, rows in (("invoice", invoices), ("intent", intents))
        for row in rows
    ] + [
        f"invoice {row['id']}: {row['status']} with {row['paid']} of {row['total']}"
        for row in statuses
    ]


async def fuzz(run: FuzzRun, positive: int, negative: int) -> None:
    await anyio.to_thread.run_sync(run.run, GenerationMode.POSITIVE, positive)
    await anyio.to_thread.run_sync(run.run, GenerationMode.NEGATIVE, negative)


async def test_no_internal_error_when_fuzzing_every_operation_in_development(
    harness: Harness,
) -> None:
    run = FuzzRun(harness, pool=await seed_pool(harness, with_intents=True))

    await fuzz(run, DEVELOPMENT_EXAMPLES, DEVELOPMENT_NEGATIVE_EXAMPLES)

    url = database_of(harness)
    assert set(run.sent) == OPERATIONS
    assert sum(run.sent.values()) >= 1000
    assert run.problems == {}, run.report()
    assert await money_invariant_violations(url) == []
    assert await db.scalar(url, "SELECT count(*) FROM payments") > 0  # not vacuous


async def test_no_internal_error_when_fuzzing_in_production_with_qpay_down(
    clean_db: str, make_settings: SettingsFactory
) -> None:
    settings = production_settings(make_settings, clean_db)
    async with running_app(settings) as production:
        run = FuzzRun(production, pool=await seed_pool(production, with_intents=False))

        await fuzz(run, PRODUCTION_EXAMPLES, PRODUCTION_NEGATIVE_EXAMPLES)

    assert set(run.sent) == OPERATIONS
    assert sum(run.sent.values()) >= PRODUCTION_EXAMPLES + PRODUCTION_NEGATIVE_EXAMPLES
    assert run.codes["QPAY_UNAVAILABLE"] > 0  # QPay was asked, and failed typed
    assert run.problems == {}, run.report()
    assert await money_invariant_violations(clean_db) == []


async def test_qpay_unavailable_in_the_payload_when_qpay_is_unreachable_in_production(
    clean_db: str, make_settings: SettingsFactory
) -> None:
    """Every mutation that calls QPay answers a typed QPAY_UNAVAILABLE."""
    async with running_app(make_settings(database_url=clean_db)) as development:
        invoice_id = await new_invoice(development)
        created = await new_intent(development, invoice_id, amount="5000.00")
    intent_id = created["intent"]["id"]
    # Made as if by this production service (its QPay is the sandbox): an
    # intent of another environment would be refused before QPay is asked.
    await db.execute(
        clean_db,
        "UPDATE qpay_intents SET environment = 'SANDBOX' WHERE id = $1::uuid",
        intent_id,
    )
    settle = {
        "invoiceId": invoice_id,
        "method": "QPAY",
        "amount": "5000.00",
        "qpayIntentId": intent_id,
    }
    calls = {
        "createQPayInvoice": (
            CREATE_QPAY,
            {"input": {"invoiceId": invoice_id, "amount": "100.00"}},
        ),
        "checkQPayPayment": (CHECK, {"id": intent_id}),
        "cancelQPayInvoice": (CANCEL, {"id": intent_id}),
        "settleInvoice": (SETTLE, {"input": settle}),
    }
    settings = production_settings(make_settings, clean_db)
    codes: dict[str, list[str]] = {}
    async with running_app(settings) as production:
        for name, (document, variables) in calls.items():
            body = await production.gql(document, variables)
            assert "errors" not in body, body
            codes[name] = [error["code"] for error in body["data"][name]["errors"]]

    assert codes == {name: ["QPAY_UNAVAILABLE"] for name in calls}
    assert await money_invariant_violations(clean_db) == []
