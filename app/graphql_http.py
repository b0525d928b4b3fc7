"""GraphQL over HTTP as graphql-over-http.org specifies it (issue 17, item 5):
the response media type a client asks for, and what a request error looks
like in each.

    application/graphql-response+json   (asked for in Accept)
        200 with `data` when the operation ran (field errors included);
        400 with `errors` and no `data` when it could not run (the document
        does not parse or validate, the variables do not coerce, no such
        operation, a refused document); 401 without a staff token
    application/json                    (asked for, or no Accept, or */*)
        as before the spec's new media type: 200 with `data: null` for
        those same request errors; malformed HTTP (a body that is not JSON,
        parameters of the wrong type) is 400 in both

Operations are POST only: GET /graphql?query=... is 405 (docs/architecture.md,
"Decisions").
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.responses import JSONResponse, PlainTextResponse, Response
from strawberry.types import ExecutionResult

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
APPLICATION_JSON = "application/json"
# The Accept header is bounded by the server (app/server.py); its media
# ranges are read up to this many.
_MAX_MEDIA_RANGES = 32


def preferred_media_type(accept: str | None) -> str:
    """application/graphql-response+json when the client names it with a
    weight at least that of application/json (named or through a wildcard);
    application/json otherwise (no Accept, */*, or only other types)."""
    if not accept:
        return APPLICATION_JSON
    graphql_response = 0.0
    json_weight = 0.0
    for media_range in accept.split(",", _MAX_MEDIA_RANGES)[:_MAX_MEDIA_RANGES]:
        name, _, parameters = media_range.partition(";")
        weight = _weight(parameters)
        name = name.strip().lower()
        if name == GRAPHQL_RESPONSE_JSON:
            graphql_response = max(graphql_response, weight)
        elif name in (APPLICATION_JSON, "application/*", "*/*"):
            json_weight = max(json_weight, weight)
    if graphql_response > 0 and graphql_response >= json_weight:
        return GRAPHQL_RESPONSE_JSON
    return APPLICATION_JSON


def _weight(parameters: str) -> float:
    for parameter in parameters.split(";"):
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "q":
            try:
                weight = float(value.strip())
            except ValueError:
                return 0.0
            return weight if 0.0 <= weight <= 1.0 else 0.0
    return 1.0


def is_request_error(result: ExecutionResult) -> bool:
    """The operation never ran: no data, and no error belongs to a field
    (parse, validation and variable errors, and our refusals before
    execution, carry no path)."""
    return (
        result.data is None
        and bool(result.errors)
        and all(error.path is None for error in result.errors or ())
    )


def status_of_request_error(errors: Sequence[object]) -> int:
    """401 when the request lacked a valid staff token, 400 otherwise."""
    for error in errors:
        extensions = error.get("extensions") if isinstance(error, dict) else None
        if isinstance(extensions, dict) and extensions.get("code") == "UNAUTHENTICATED":
            return 401
    return 400


def graphql_error_response(media_type: str, errors: Sequence[object]) -> Response:
    """A request error as a GraphQL response in the client's media type."""
    if media_type == GRAPHQL_RESPONSE_JSON:
        status = status_of_request_error(errors)
        headers = {"www-authenticate": "Bearer"} if status == 401 else None
        return JSONResponse(
            {"errors": list(errors)},
            status_code=status,
            media_type=_with_charset(GRAPHQL_RESPONSE_JSON),
            headers=headers,
        )
    return JSONResponse(
        {"data": None, "errors": list(errors)},
        media_type=_with_charset(APPLICATION_JSON),
    )


def http_error_response(
    media_type: str, status: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    """A malformed HTTP request (not JSON, wrong parameter types, a wrong
    method): JSON errors under the spec's media type, plain text as before
    under application/json."""
    if media_type == GRAPHQL_RESPONSE_JSON:
        return JSONResponse(
            {"errors": [{"message": message}]},
            status_code=status,
            media_type=_with_charset(GRAPHQL_RESPONSE_JSON),
            headers=headers,
        )
    return PlainTextResponse(message, status_code=status, headers=headers)


def content_type(media_type: str) -> str:
    return _with_charset(media_type)


def _with_charset(media_type: str) -> str:
    return f"{media_type}; charset=utf-8"
