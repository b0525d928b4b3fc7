"""UserError (expected failures, in payloads) and GraphQL errors with codes."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError

from domain.errors import DomainError
from graph.types.enums import ErrorCode


@strawberry.type
class UserError:
    code: ErrorCode
    message: str
    field: str | None = None


def user_errors(error: DomainError) -> list[UserError]:
    return [UserError(code=error.code, message=error.message, field=error.field)]


class PublicError(GraphQLError):
    """A GraphQL error meant for the client (never masked), with a code."""

    def __init__(self, message: str, code: str, field: str | None = None) -> None:
        extensions: dict[str, object] = {"code": code}
        if field is not None:
            extensions["field"] = field
        super().__init__(message, extensions=extensions)


def public_error(error: DomainError) -> PublicError:
    return PublicError(error.message, error.code.value, error.field)
