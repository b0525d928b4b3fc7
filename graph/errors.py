"""UserError (expected failures, in payloads) and GraphQL errors with codes.

The domain says what a failure is about (`Subject`); each resolver says
which of its arguments carried that (`FieldPaths`), so the client's `field`
names the argument to fix. An argument graph/ itself cannot read (an id that
is not a UUID) is an `ArgumentError` that carries its path.
"""

from __future__ import annotations

from collections.abc import Mapping

import strawberry
from graphql import GraphQLError

from domain.errors import DomainError, Subject
from domain.errors import ErrorCode as DomainErrorCode
from graph.types.enums import ErrorCode

FieldPaths = Mapping[Subject, str]


class ArgumentError(DomainError):
    """An argument graph/ could not read, at `path` (INVALID_INPUT)."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(DomainErrorCode.INVALID_INPUT, message)
        self.path = path


@strawberry.type(
    description=(
        "An expected failure of a mutation, in its payload's `errors`: the "
        "request was understood and refused. Unexpected failures, and refused "
        "queries and subscriptions, are GraphQL errors instead (with "
        "extensions.code)."
    )
)
class UserError:
    code: ErrorCode = strawberry.field(
        description="What went wrong, for the screen to act on (see ErrorCode)."
    )
    message: str = strawberry.field(
        description=(
            "What went wrong in English, for a person (a log line or a staff "
            "screen); may change: decide on `code`, never on the text."
        )
    )
    field: str | None = strawberry.field(
        default=None,
        description=(
            "The argument to fix, as a path from the mutation's arguments "
            "(e.g. `input.amount`, `intentId`); null when the failure is about "
            "no one argument (e.g. QPAY_UNAVAILABLE)."
        ),
    )


def field_path(error: DomainError, paths: FieldPaths) -> str | None:
    """The argument the client should fix, if the failure is about one."""
    if isinstance(error, ArgumentError):
        return error.path
    if error.subject is None:
        return None
    return paths.get(error.subject)


def user_errors(error: DomainError, paths: FieldPaths) -> list[UserError]:
    return [
        UserError(
            code=error.code, message=error.message, field=field_path(error, paths)
        )
    ]


class PublicError(GraphQLError):
    """A GraphQL error meant for the client (never masked), with a code."""

    def __init__(self, message: str, code: str, field: str | None = None) -> None:
        extensions: dict[str, object] = {"code": code}
        if field is not None:
            extensions["field"] = field
        super().__init__(message, extensions=extensions)


def public_error(error: DomainError, paths: FieldPaths | None = None) -> PublicError:
    return PublicError(error.message, error.code.value, field_path(error, paths or {}))
