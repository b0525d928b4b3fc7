"""Staff-only queries and mutations: nothing executes without a viewer."""

from __future__ import annotations

from collections.abc import AsyncIterator

from graphql import ExecutionResult
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from graph.context import Context
from graph.errors import PublicError

UNAUTHENTICATED = "UNAUTHENTICATED"


class RequireStaff(SchemaExtension):
    """Short-circuits every query and mutation without a valid staff token with
    one error, extensions.code UNAUTHENTICATED. Subscriptions authorize
    themselves (staff token or the intent's client secret)."""

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context
        if context.operation_type is OperationType.SUBSCRIPTION and not _on_websocket(
            context.context
        ):
            context.result = ExecutionResult(
                data=None,
                errors=[
                    PublicError(
                        "subscriptions are served over the websocket "
                        "(graphql-transport-ws) only",
                        "INVALID_INPUT",
                    )
                ],
            )
        elif context.operation_type is not OperationType.SUBSCRIPTION and not _valid(
            context.context
        ):
            context.result = ExecutionResult(
                data=None,
                errors=[
                    PublicError(
                        "a valid staff token is required "
                        "(Authorization: Bearer <token>)",
                        UNAUTHENTICATED,
                    )
                ],
            )
        yield


def _valid(context: object) -> bool:
    """A viewer whose token has not expired (a websocket outlives tokens)."""
    if not isinstance(context, Context) or context.viewer is None:
        return False
    return context.viewer.expires_at > context.services.clock.now()


def _on_websocket(context: object) -> bool:
    return isinstance(context, Context) and context.protocol == "websocket"
