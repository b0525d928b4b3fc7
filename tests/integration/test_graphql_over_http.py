"""GraphQL over HTTP as graphql-over-http.org specifies it (issue 17, item 5).

A client that accepts `application/graphql-response+json` gets that media
type, 400 on a request error (a document that does not parse or validate,
variables that do not coerce) and no `data` entry then; 401 without a staff
token. A client that asks for `application/json` (or nothing) is answered as
before: 200 with `data: null`. Operations are POST only (docs/architecture.md,
"Decisions"). graphql-http's own audit suite runs against a live service in
tests/e2e/test_typescript_client.py.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.graphql_view import GRAPHIQL_OFFLINE
from tests.harness import Harness

pytestmark = [pytest.mark.db, pytest.mark.anyio]

GRAPHQL_RESPONSE = "application/graphql-response+json"
BOTH = f"{GRAPHQL_RESPONSE}, application/json;q=0.9"


async def post(
    harness: Harness,
    body: object,
    *,
    accept: str | None = GRAPHQL_RESPONSE,
    bearer: str | None = "the harness's",
) -> httpx.Response:
    """POST `body`; `bearer` is the token sent (the harness's staff token by
    default; None sends no Authorization header)."""
    headers = {"content-type": "application/json"}
    if accept is not None:
        headers["accept"] = accept
    if bearer == "the harness's":
        headers["authorization"] = f"Bearer {harness.token}"
    elif bearer is not None:
        headers["authorization"] = f"Bearer {bearer}"
    return await harness.client.post("/graphql", json=body, headers=headers)


def media(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";")[0].strip()


def body(response: httpx.Response) -> dict[str, Any]:
    parsed: dict[str, Any] = response.json()
    return parsed


# --- media types -------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (BOTH, GRAPHQL_RESPONSE),
        (f"application/json, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
        (f"application/json, {GRAPHQL_RESPONSE};q=0.5", "application/json"),
        ("application/json", "application/json"),
        ("*/*", "application/json"),
        ("application/*", "application/json"),
        (None, "application/json"),
        (f"{GRAPHQL_RESPONSE};q=0", "application/json"),
    ],
)
async def test_the_answer_has_the_media_type_the_client_prefers(
    harness: Harness, accept: str | None, expected: str
) -> None:
    response = await post(harness, {"query": "{ __typename }"}, accept=accept)

    assert response.status_code == 200
    assert media(response) == expected
    assert "charset=utf-8" in response.headers["content-type"]
    assert body(response) == {"data": {"__typename": "Query"}}


# --- request errors: 400 and no data under graphql-response+json ---------------

REQUEST_ERRORS = {
    "parse": {"query": "{"},
    "validation": {"query": "{ noSuchField }"},
    "coercion": {
        "query": "query($id: ID!) { invoice(id: $id) { id } }",
        "variables": {"id": None},
    },
    "unknown operation": {"query": "{ __typename }", "operationName": "Missing"},
    "subscription over HTTP": {
        "query": "subscription { paymentEvents { kind } }",
    },
}


@pytest.mark.parametrize("case", REQUEST_ERRORS)
async def test_a_request_error_is_400_without_data(harness: Harness, case: str) -> None:
    response = await post(harness, REQUEST_ERRORS[case])

    assert response.status_code == 400, response.text
    assert media(response) == GRAPHQL_RESPONSE
    answer = body(response)
    assert "data" not in answer
    assert answer["errors"] and all(e["message"] for e in answer["errors"])


@pytest.mark.parametrize("case", REQUEST_ERRORS)
async def test_under_application_json_a_request_error_stays_200_with_null_data(
    harness: Harness, case: str
) -> None:
    for accept in ("application/json", None):
        response = await post(harness, REQUEST_ERRORS[case], accept=accept)

        assert response.status_code == 200, response.text
        assert media(response) == "application/json"
        assert body(response)["data"] is None
        assert body(response)["errors"]


async def test_a_field_error_is_a_partial_answer_200_with_data(
    harness: Harness,
) -> None:
    response = await post(harness, {"query": '{ invoice(id: "not-a-uuid") { id } }'})

    assert response.status_code == 200
    assert media(response) == GRAPHQL_RESPONSE
    answer = body(response)
    assert answer["data"] == {"invoice": None}
    assert answer["errors"][0]["path"] == ["invoice"]


@pytest.mark.parametrize(
    ("payload", "complaint"),
    [
        (b"{", "JSON"),
        (b"[1, 2]", "batch"),
        (b'"query"', "object"),
        (b'{"query": 1}', "query"),
        (b'{"query": "{ __typename }", "variables": "x"}', "variables"),
        (b'{"query": "{ __typename }", "extensions": []}', "extensions"),
        (b'{"query": "{ __typename }", "operationName": {"a": 1}}', "operationName"),
        (b'{"query": "{ __typename }", "operationName": 7}', "operationName"),
        (b'{"query": "{ __typename }", "operationName": ["a"]}', "operationName"),
        (b"{}", "query"),
    ],
)
async def test_a_malformed_request_is_400_with_a_graphql_error_body(
    harness: Harness, payload: bytes, complaint: str
) -> None:
    response = await harness.client.post(
        "/graphql",
        content=payload,
        headers={
            "content-type": "application/json",
            "accept": GRAPHQL_RESPONSE,
            "authorization": f"Bearer {harness.token}",
        },
    )

    assert response.status_code == 400, response.text
    assert media(response) == GRAPHQL_RESPONSE
    answer = body(response)
    assert "data" not in answer
    assert complaint.lower() in answer["errors"][0]["message"].lower()


@pytest.mark.parametrize("accept", ["application/json", None])
async def test_a_wrongly_typed_operation_name_is_400_under_application_json_too(
    harness: Harness, accept: str | None
) -> None:
    response = await post(
        harness, {"query": "{ __typename }", "operationName": 7}, accept=accept
    )

    assert response.status_code == 400
    assert "operationName" in response.text
    assert "got 'int'" not in response.text  # no Python internals


async def test_a_post_without_a_content_type_is_refused_4xx(harness: Harness) -> None:
    response = await harness.client.post(
        "/graphql",
        content=b'{"query": "{ __typename }"}',
        headers={"authorization": f"Bearer {harness.token}", "content-type": ""},
    )

    assert 400 <= response.status_code < 500


# --- auth ---------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "not-a-token"])
async def test_without_a_staff_token_it_is_401_under_graphql_response_json(
    harness: Harness, token: str | None
) -> None:
    response = await post(harness, {"query": "{ __typename }"}, bearer=token)

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert media(response) == GRAPHQL_RESPONSE
    answer = body(response)
    assert "data" not in answer
    assert answer["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_without_a_staff_token_application_json_is_answered_as_before(
    harness: Harness,
) -> None:
    response = await post(
        harness, {"query": "{ __typename }"}, accept="application/json", bearer=None
    )

    assert response.status_code == 200
    assert body(response)["data"] is None
    assert body(response)["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


# --- GET ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "query", ["{ __typename }", "mutation { __typename }", "subscription { x }"]
)
@pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE, "application/json"])
async def test_operations_over_get_are_405_post_only(
    harness: Harness, query: str, accept: str
) -> None:
    response = await harness.client.get(
        "/graphql",
        params={"query": query},
        headers={"accept": accept, "authorization": f"Bearer {harness.token}"},
    )

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert "POST" in response.text


async def test_graphiql_still_answers_a_browser_get_in_development(
    harness: Harness,
) -> None:
    response = await harness.client.get("/graphql", headers={"accept": "text/html"})

    assert response.status_code == 200
    assert "graphiql" in response.text.lower()
    # Offline (its scripts come from unpkg.com) the page says why it is
    # blank, in place of Strawberry's "Loading...".
    assert GRAPHIQL_OFFLINE in response.text
    assert ">Loading...</div>" not in response.text
