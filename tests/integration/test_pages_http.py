"""Staff pages over HTTP on real PostgreSQL (design.md §8, issue 15 item 1):
invoices and qpayIntents as cursor connections, newest first, filtered,
one statement per page, served by an index."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from tests import db
from tests.gql import SETTLE
from tests.harness import Harness
from tests.integration.gql import new_intent, new_invoice

pytestmark = [pytest.mark.db, pytest.mark.anyio]

INVOICES = """
query($first: Int!, $after: String, $filter: InvoiceFilter) {
  invoices(first: $first, after: $after, filter: $filter) {
    edges { cursor node { id status total createdAt } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
INTENTS = """
query($first: Int!, $after: String, $filter: QPayIntentFilter) {
  qpayIntents(first: $first, after: $after, filter: $filter) {
    edges { cursor node { id status amount invoiceId } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
NESTED = """
query {
  invoices(first: 20) {
    edges { node { id payments { id } qpayIntents { id } } }
  }
}
"""
T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def url_of(harness: Harness) -> str:
    url: str = harness.app.state.container.settings.database_url
    return url


async def insert_invoices(harness: Harness, count: int, status: str = "UNPAID") -> None:
    """`count` invoices one minute apart from T0, straight into the table."""
    await db.execute(
        url_of(harness),
        "INSERT INTO invoices (id, number, total, paid_amount, status, created_at,"
        " updated_at) SELECT gen_random_uuid(), 'B-' || $2 || '-' || n, 100, 0, $2,"
        " $1::timestamptz + n * interval '1 minute', now()"
        " FROM generate_series(1, $3) AS n",
        T0,
        status,
        count,
    )


async def all_pages(
    harness: Harness, query: str, field: str, first: int, **variables: Any
) -> list[dict[str, Any]]:
    pages, after = [], None
    while True:
        body = await harness.gql(query, {"first": first, "after": after, **variables})
        assert "errors" not in body, body
        page = body["data"][field]
        pages.append(page)
        if not page["pageInfo"]["hasNextPage"]:
            return pages
        after = page["pageInfo"]["endCursor"]


def ids(pages: list[dict[str, Any]]) -> list[str]:
    return [edge["node"]["id"] for page in pages for edge in page["edges"]]


@contextlib.contextmanager
def statements(harness: Harness) -> Iterator[list[tuple[str, Any]]]:
    """The SQL statements the app sends while the block runs."""
    seen: list[tuple[str, Any]] = []
    engine = harness.app.state.container.engine.sync_engine

    def record(
        _conn: object, _cursor: object, sql: str, params: Any, *_: object
    ) -> None:
        seen.append((sql, params))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def test_invoices_come_newest_first_across_pages_without_gaps(
    harness: Harness,
) -> None:
    await insert_invoices(harness, 7)

    pages = await all_pages(harness, INVOICES, "invoices", 3)

    times = [e["node"]["createdAt"] for page in pages for e in page["edges"]]
    assert [len(page["edges"]) for page in pages] == [3, 3, 1]
    assert times == sorted(times, reverse=True) and len(set(ids(pages))) == 7
    assert pages[-1]["pageInfo"] == {
        "hasNextPage": False,
        "endCursor": pages[-1]["edges"][-1]["cursor"],
    }


async def test_invoices_with_equal_creation_times_page_by_id(harness: Harness) -> None:
    made = [await new_invoice(harness) for _ in range(5)]
    await db.execute(
        url_of(harness), "UPDATE invoices SET created_at = $1::timestamptz", T0
    )

    pages = await all_pages(harness, INVOICES, "invoices", 2)

    assert ids(pages) == sorted(made, reverse=True)


async def test_an_empty_page_has_no_end_cursor(harness: Harness) -> None:
    body = await harness.gql(INVOICES, {"first": 10})

    assert body["data"]["invoices"] == {
        "edges": [],
        "pageInfo": {"hasNextPage": False, "endCursor": None},
    }


async def test_first_above_the_cap_gets_the_cap(harness: Harness) -> None:
    await insert_invoices(harness, 101)

    body = await harness.gql(INVOICES, {"first": 1000})

    assert len(body["data"]["invoices"]["edges"]) == 100
    assert body["data"]["invoices"]["pageInfo"]["hasNextPage"] is True


async def test_invoices_filter_by_status_and_creation_period(harness: Harness) -> None:
    await insert_invoices(harness, 10, "UNPAID")
    await insert_invoices(harness, 10, "VOID")
    wanted = {
        "status": ["VOID"],
        "createdFrom": (T0 + timedelta(minutes=3)).isoformat(),
        "createdTo": (T0 + timedelta(minutes=6)).isoformat(),
    }

    pages = await all_pages(harness, INVOICES, "invoices", 2, filter=wanted)

    found = [e["node"] for page in pages for e in page["edges"]]
    assert [node["status"] for node in found] == ["VOID"] * 3
    assert [node["createdAt"] for node in found] == [
        "2026-11-01T09:05:00Z",
        "2026-11-01T09:04:00Z",
        "2026-11-01T09:03:00Z",
    ]


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"first": 10, "after": "bm90IGEgY3Vyc29y"}, "after"),
        ({"first": 10, "after": "x" * 100_000}, "after"),
        ({"first": -1}, "first"),
        (
            {
                "first": 10,
                "filter": {
                    "createdFrom": "2026-11-02T00:00:00Z",
                    "createdTo": "2026-11-01T00:00:00Z",
                },
            },
            "filter.createdFrom",
        ),
    ],
    ids=["foreign-cursor", "huge-cursor", "negative-first", "backwards-period"],
)
@pytest.mark.parametrize("query", [INVOICES, INTENTS], ids=["invoices", "intents"])
async def test_bad_page_arguments_are_typed_errors_naming_the_argument(
    harness: Harness, variables: dict[str, Any], field: str, query: str
) -> None:
    body = await harness.gql(query, variables)

    assert body["data"] is None
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "INVALID_INPUT", "field": field}


async def test_intents_list_newest_first_and_filter_by_status(
    harness: Harness,
) -> None:
    invoice_id = await new_invoice(harness, "30000.00")
    first = (await new_intent(harness, invoice_id, amount="10000.00"))["intent"]
    second = (await new_intent(harness, invoice_id, amount="20000.00"))["intent"]
    harness.simulator.pay(first["qpayInvoiceId"])
    paid = await harness.gql(
        SETTLE,
        {
            "input": {
                "invoiceId": invoice_id,
                "method": "QPAY",
                "amount": "10000.00",
                "qpayIntentId": first["id"],
            }
        },
    )
    assert paid["data"]["settleInvoice"]["errors"] == [], paid

    everything = await all_pages(harness, INTENTS, "qpayIntents", 1)
    pending = await all_pages(
        harness, INTENTS, "qpayIntents", 10, filter={"status": ["PENDING"]}
    )

    assert ids(everything) == [second["id"], first["id"]]
    assert ids(pending) == [second["id"]]


async def test_a_page_with_nested_lists_costs_one_statement_per_list(
    harness: Harness,
) -> None:
    for _ in range(5):
        invoice_id = await new_invoice(harness)
        await new_intent(harness, invoice_id)

    with statements(harness) as seen:
        body = await harness.gql(NESTED)

    assert len(body["data"]["invoices"]["edges"]) == 5
    selects = [sql for sql, _ in seen if sql.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 3, selects  # the page, its payments, its intents


async def explain(harness: Harness, document: str, variables: dict[str, Any]) -> str:
    """The plan PostgreSQL makes for the page statement the query sends."""
    with statements(harness) as seen:
        body = await harness.gql(document, variables)
    assert "errors" not in body, body
    (sql, params), *_ = [(s, p) for s, p in seen if "ORDER BY" in s]
    rows = await db.fetch(url_of(harness), "EXPLAIN " + sql, *params)
    return "\n".join(row[0] for row in rows)


async def test_pages_are_read_through_an_index_without_sorting(
    harness: Harness,
) -> None:
    await insert_invoices(harness, 3000, "UNPAID")
    await insert_invoices(harness, 1000, "PAID")
    invoice_id = await new_invoice(harness)
    await db.execute(
        url_of(harness),
        "INSERT INTO qpay_intents (id, invoice_id, object_id, environment, amount,"
        " status, qpay_invoice_id, sender_invoice_no, qr_text, qr_image,"
        " callback_token_hash, expires_at, created_at, updated_at)"
        " SELECT gen_random_uuid(), $1::uuid, $1, 'MOCK', 10, 'PAID',"
        " 'Q-' || n, 'S-' || n, '', '', 't', now(),"
        " $2::timestamptz + n * interval '1s', now()"
        " FROM generate_series(1, 4000) AS n",
        invoice_id,
        T0,
    )
    await db.execute(url_of(harness), "ANALYZE invoices; ANALYZE qpay_intents")
    first_page = await harness.gql(INVOICES, {"first": 50})
    cursor = first_page["data"]["invoices"]["pageInfo"]["endCursor"]

    plans = {
        "first page": await explain(harness, INVOICES, {"first": 50}),
        "after a cursor": await explain(
            harness, INVOICES, {"first": 50, "after": cursor}
        ),
        "one status": await explain(
            harness, INVOICES, {"first": 50, "filter": {"status": ["PAID"]}}
        ),
        "a period": await explain(
            harness,
            INVOICES,
            {"first": 50, "filter": {"createdFrom": T0.isoformat()}},
        ),
        "intents": await explain(harness, INTENTS, {"first": 50}),
    }

    for name, plan in plans.items():
        assert "Index Scan" in plan and "_newest" in plan, (name, plan)
        assert "Sort" not in plan and "Seq Scan" not in plan, (name, plan)
