"""What a document may cost to validate (graph/validation.py): the limits are
checked in time linear in the document, before any of graphql-core's rules
run, and real documents of this API stay far within them. Cost is counted
(Python calls, rule instances), never timed: the wall-clock guard is the
HTTP-level test of /healthz during a bomb."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
import strawberry
from graphql import (
    DocumentNode,
    ValidationContext,
    ValidationRule,
    get_introspection_query,
    parse,
    specified_rules,
)
from strawberry.schema.schema import validate_document

from graph.schema import MAX_TOKENS, build_schema
from graph.validation import (
    MAX_ALIASES,
    MAX_DEPTH,
    MAX_SELECTIONS,
    ValidateDocument,
    Validator,
    limit_errors,
)
from tests import gql
from tests.conftest import SettingsFactory
from tests.e2e.conftest import live_service
from tests.e2e.ws import graphql_socket
from tests.harness import Harness

ROOT = Path(__file__).resolve().parents[2]
CHECKOUT_JS = ROOT / "app" / "checkout_page" / "assets" / "checkout.js"
RULES = tuple(specified_rules)
TOO_MANY_SELECTIONS = f"more than {MAX_SELECTIONS} selections"
TOO_MANY_PAIRS = "repeats a field or fragment spread too often"


def bomb(levels: int, root: str = "query", on: str = "Query") -> str:
    """Each fragment spreads the next one twice: 2**levels fields in all."""
    fragments = " ".join(
        f"fragment F{n} on {on} {{ ...F{n + 1} ...F{n + 1} }}" for n in range(levels)
    )
    return f"{root} {{ ...F0 }} {fragments} fragment F{levels} on {on} {{ __typename }}"


REPEATED_FIELDS = "{ " + "invoices { id } " * 490 + "}"


def nested(depth: int, leaf: str = "id") -> str:
    """A field `depth` selection sets deep: `{ a { a { id } } }` is depth 2."""
    return "{ " + "a { " * depth + leaf + " }" * depth + " }"


def aliases(count: int, prefix: str = "a") -> str:
    return " ".join(f"{prefix}{n}: id" for n in range(count))


def real_documents() -> dict[str, str]:
    """Every operation the staff tests and the checkout page send."""
    documents = {
        name: value
        for name, value in vars(gql).items()
        if isinstance(value, str)
        and re.match(r"\s*(query|mutation|subscription)\b", value)
    }
    script = CHECKOUT_JS.read_text(encoding="utf-8")
    for n, text in enumerate(re.findall(r"`(\s*subscription\b[^`]*)`", script)):
        documents[f"checkout.js#{n}"] = text
    return documents


def validator_of(schema: strawberry.Schema) -> Validator:
    """The validator the schema's validation step calls."""
    for factory in schema.extensions:
        extension = factory()
        if isinstance(extension, ValidateDocument):
            return extension.validator
    raise AssertionError("no ValidateDocument extension")


def validation_runs() -> tuple[type[ValidationRule], list[DocumentNode]]:
    """A rule that records each document graphql-core's rules are run on."""
    seen: list[DocumentNode] = []

    class Spy(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            seen.append(context.document)

    return Spy, seen


def python_calls(action: Callable[[], object]) -> int:
    """How many Python functions `action` calls: work, counted, not timed."""
    calls = 0

    def count(_frame: FrameType, event: str, _arg: Any) -> None:
        nonlocal calls
        if event == "call":
            calls += 1

    previous = sys.getprofile()
    sys.setprofile(count)
    try:
        action()
    finally:
        sys.setprofile(previous)
    return calls


@pytest.fixture(params=[False, True], ids=["development", "production"])
def schema(request: pytest.FixtureRequest) -> strawberry.Schema:
    return build_schema(production=request.param)


def messages(schema: strawberry.Schema, document: str) -> list[str]:
    errors = validator_of(schema)(schema._schema, parse(document), RULES)
    return [error.message for error in errors]


# --- linear in the document, refused before graphql-core's rules ----------------------


@pytest.mark.parametrize("levels", [22, 190])
def test_fragment_bomb_refused_before_graphql_cores_rules_when_it_doubles_per_level(
    schema: strawberry.Schema, levels: int
) -> None:
    document = parse(bomb(levels), max_tokens=MAX_TOKENS)
    spy, seen = validation_runs()

    errors = validator_of(schema)(schema._schema, document, (*RULES, spy))

    assert [e.message for e in errors] == [
        f"Document contains {TOO_MANY_SELECTIONS} once its fragment spreads are"
        " expanded. Validation aborted."
    ]
    assert seen == []


def test_checking_work_grows_linearly_when_a_fragment_bomb_gets_deeper() -> None:
    half, full = parse(bomb(95)), parse(bomb(190))

    work_half = python_calls(lambda: limit_errors(half))
    work_full = python_calls(lambda: limit_errors(full))

    # Twice the fragments, 2**95 times the expansion: about twice the work.
    assert work_full <= 2.5 * work_half, (work_half, work_full)


def test_repeated_fields_refused_before_graphql_cores_rules_when_490_share_a_name(
    schema: strawberry.Schema,
) -> None:
    document = parse(REPEATED_FIELDS, max_tokens=MAX_TOKENS)
    spy, seen = validation_runs()

    errors = validator_of(schema)(schema._schema, document, (*RULES, spy))

    assert len(errors) == 1
    assert TOO_MANY_PAIRS in errors[0].message
    assert seen == []


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(
            "{ invoices { " + "id " * 30 + "} invoices { " + "id " * 30 + "} }",
            id="merged-from-two-selection-sets",
        ),
        pytest.param(
            "{ invoices { " + "...F " * 50 + "} } fragment F on Invoice { id }",
            id="one-fragment-spread-50-times",
        ),
    ],
)
def test_same_name_pairs_refused_when_one_object_repeats_a_selection(
    document: str,
) -> None:
    errors = limit_errors(parse(document, max_tokens=MAX_TOKENS))

    assert [TOO_MANY_PAIRS in e.message for e in errors] == [True], errors


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(
            "{ invoices { ...A } } fragment A on Invoice { id ...A }", id="self"
        ),
        pytest.param(
            "{ ...A } fragment A on Query { ...B ...B ...A }"
            " fragment B on Query { ...A ...A ...B }",
            id="doubling",
        ),
        pytest.param(
            "{ invoices { ...A } } fragment A on Invoice { id ...B }"
            " fragment B on Invoice { total ...A }",
            id="two-step",
        ),
    ],
)
def test_cycle_left_to_graphql_core_when_fragments_spread_each_other(
    schema: strawberry.Schema, document: str
) -> None:
    assert limit_errors(parse(document)) == []

    found = messages(schema, document)

    assert any("Cannot spread fragment 'A' within itself" in m for m in found), found


# --- real documents -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "document"), sorted(real_documents().items()), ids=sorted(real_documents())
)
def test_real_document_validates_when_sent_by_this_api_clients(
    schema: strawberry.Schema, name: str, document: str
) -> None:
    assert messages(schema, document) == [], name


def test_introspection_query_within_the_limits_when_graphiql_sends_it() -> None:
    schema = build_schema(production=False)

    assert messages(schema, get_introspection_query(descriptions=True)) == []


@pytest.mark.parametrize(
    "document",
    [
        *(pytest.param(text, id=name) for name, text in real_documents().items()),
        pytest.param("{ invoce { id } }", id="unknown-field"),
        pytest.param(
            "query($s: InvoiceStatus!) {"
            " invoices(filter: {status: [$s]}, first: 1.5) { edges { cursor } } }",
            id="wrong-literal",
        ),
        pytest.param("{ ...Missing }", id="unknown-fragment"),
        pytest.param(
            "subscription { paymentStatus(intentId: 1) { version } __typename }",
            id="two-subscription-fields",
        ),
    ],
)
def test_same_errors_as_strawberrys_own_validation_when_within_the_limits(
    document: str,
) -> None:
    schema = build_schema(production=False)
    node = parse(document)

    ours = validator_of(schema)(schema._schema, node, RULES)

    assert [e.message for e in ours] == [
        e.message for e in validate_document(schema._schema, node, RULES)
    ]


def test_validation_cached_when_the_same_document_is_sent_twice() -> None:
    schema = build_schema(production=True)
    validator = validator_of(schema)
    document = parse(gql.INVOICE)

    validator(schema._schema, document, RULES)
    validator(schema._schema, document, RULES)

    assert validator.cache_info().hits == 1  # type: ignore[attr-defined]


# --- depth and aliases ----------------------------------------------------------------


def test_depth_of_10_passes_when_fields_nest_10_levels() -> None:
    assert limit_errors(parse(nested(MAX_DEPTH))) == []


def test_depth_of_11_refused_when_fields_nest_11_levels() -> None:
    errors = limit_errors(parse(nested(MAX_DEPTH + 1)))

    assert [e.message for e in errors] == [
        "'anonymous' exceeds maximum operation depth of 10"
    ]


@pytest.mark.parametrize(("inner", "refused"), [(7, False), (8, True)])
def test_depth_counts_a_fragment_when_the_nesting_continues_in_it(
    inner: int, refused: bool
) -> None:
    fragment = "fragment F on T { c " + nested(inner) + " }"  # depth inner + 1

    errors = limit_errors(parse("query Deep { a { b { ...F } } } " + fragment))

    expected = ["'Deep' exceeds maximum operation depth of 10"] if refused else []
    assert [e.message for e in errors] == expected


def test_depth_ignores_introspection_when_a_field_starts_with_two_underscores() -> None:
    document = "{ __schema " + nested(MAX_DEPTH + 2) + " }"

    assert limit_errors(parse(document)) == []


def test_30_aliases_pass_when_an_operation_has_30() -> None:
    assert limit_errors(parse("{ " + aliases(MAX_ALIASES) + " }")) == []


def test_31_aliases_refused_when_an_operation_has_31() -> None:
    errors = limit_errors(parse("{ " + aliases(MAX_ALIASES + 1) + " }"))

    assert [e.message for e in errors] == ["31 aliases found. Allowed: 30"]


def test_aliases_counted_per_spread_when_a_fragment_holds_15_and_is_spread_twice() -> (
    None
):
    document = "{ ...F invoices { ...F } } fragment F on T { " + aliases(15) + " }"

    assert limit_errors(parse(document)) == []


def test_aliases_counted_per_spread_when_a_fragment_holds_16_and_is_spread_twice() -> (
    None
):
    document = "{ ...F a { ...G } } fragment F on T { " + aliases(16) + " }"
    document += " fragment G on T { ...F }"

    errors = limit_errors(parse(document))

    assert [e.message for e in errors] == ["32 aliases found. Allowed: 30"]


def test_aliases_counted_per_operation_when_a_document_has_two() -> None:
    document = "query A { " + aliases(20) + " } query B { " + aliases(20) + " }"

    assert limit_errors(parse(document)) == []


# --- the subscription path (a websocket's `subscribe`) --------------------------------


@pytest.mark.anyio
async def test_subscription_bomb_refused_when_sent_to_the_subscribe_entry_point(
    schema: strawberry.Schema,
) -> None:
    document = bomb(22, root="subscription", on="Subscription")

    stream = await schema.subscribe(document)
    results = [result async for result in stream]

    assert [[e.message for e in r.errors or []] for r in results] == [
        [
            f"Document contains {TOO_MANY_SELECTIONS} once its fragment spreads are"
            " expanded. Validation aborted."
        ]
    ]


# --- through the app: a staff request, an anonymous websocket -------------------------


@pytest.fixture(params=["development", "production"])
def app(request: pytest.FixtureRequest) -> Harness:
    """The app in each configuration (fixtures of tests/security/conftest.py)."""
    name = "harness" if request.param == "development" else "production"
    running: Harness = request.getfixturevalue(name)
    return running


COSTLY = [
    pytest.param(bomb(22), TOO_MANY_SELECTIONS, id="bomb-22"),
    pytest.param(bomb(190), TOO_MANY_SELECTIONS, id="bomb-190"),
    pytest.param(REPEATED_FIELDS, TOO_MANY_PAIRS, id="490-repeated-fields"),
]


@pytest.mark.db
@pytest.mark.anyio
@pytest.mark.parametrize(("document", "expected"), COSTLY)
async def test_costly_document_refused_by_validation_when_a_staff_member_posts_it(
    app: Harness, document: str, expected: str
) -> None:
    # Without a token the HTTP endpoint refuses before parsing
    # (app/graphql_view.py); with one, validation is what refuses.
    body = await app.gql(document)

    assert body.get("data") is None
    assert [expected in e["message"] for e in body["errors"]] == [True], body


@pytest.mark.db
@pytest.mark.anyio
@pytest.mark.e2e
async def test_subscription_bomb_refused_by_validation_when_a_socket_is_anonymous(
    clean_db: str, make_settings: SettingsFactory
) -> None:
    document = bomb(190, root="subscription", on="Subscription")

    async with (
        live_service(make_settings, clean_db) as live,
        graphql_socket(live.ws_url) as socket,
    ):
        subscription = await socket.subscribe(document, {})
        await asyncio.wait_for(subscription.completed.wait(), 10)

    assert subscription.events == []
    assert [TOO_MANY_SELECTIONS in e["message"] for e in subscription.errors] == [
        True
    ], subscription.errors


# --- "Did you mean ...?" --------------------------------------------------------------

MISSPELLED = [
    pytest.param("{ invoce { id } }", {}, id="field"),
    pytest.param("{ invoices(filtr: {}) { edges { cursor } } }", {}, id="argument"),
    pytest.param(
        "{ invoices(filter: {status: [PAYD]}) { edges { cursor } } }",
        {},
        id="enum-value",
    ),
    pytest.param(
        "query($s: InvoiceStatu!) {"
        " invoices(filter: {status: [$s]}) { edges { cursor } } }",
        {},
        id="type",
    ),
    pytest.param(
        "query($s: InvoiceStatus!) {"
        " invoices(filter: {status: [$s]}) { edges { cursor } } }",
        {"s": "PAYD"},
        id="enum-value-in-a-variable",
    ),
    pytest.param(
        "mutation($input: CreateInvoiceInput!) {"
        " createInvoice(input: $input) { invoice { id } } }",
        {"input": {"totl": "100.00"}},
        id="input-field-in-a-variable",
    ),
]


@pytest.mark.db
@pytest.mark.anyio
@pytest.mark.parametrize(("document", "variables"), MISSPELLED)
async def test_nothing_suggested_when_in_production(
    production: Harness, document: str, variables: dict[str, Any]
) -> None:
    body = await production.gql(document, variables)

    assert body["errors"], body
    assert all("Did you mean" not in e["message"] for e in body["errors"]), body


@pytest.mark.db
@pytest.mark.anyio
@pytest.mark.parametrize(("document", "variables"), MISSPELLED)
async def test_names_suggested_when_in_development(
    harness: Harness, document: str, variables: dict[str, Any]
) -> None:
    body = await harness.gql(document, variables)

    assert any("Did you mean" in e["message"] for e in body["errors"]), body
