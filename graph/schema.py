"""The schema: Query, Mutation, Subscription and the hardening extensions."""

from __future__ import annotations

from collections.abc import Callable

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    DisableIntrospection,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.schema.config import StrawberryConfig

from graph.auth import RequireStaff
from graph.errors import PublicError
from graph.mutations.root import Mutation
from graph.queries.invoices import Query
from graph.scalars import SCALAR_MAP
from graph.subscriptions.payment_status import Subscription

MAX_DEPTH = 10
MAX_TOKENS = 2000
MAX_ALIASES = 30


def should_mask(error: GraphQLError) -> bool:
    """Mask unexpected exceptions; keep our coded errors and GraphQL's own
    validation and syntax errors."""
    original = error.original_error
    if original is None or isinstance(error, PublicError):
        return False
    return not isinstance(original, PublicError | GraphQLError)


def build_schema(*, production: bool) -> strawberry.Schema:
    """The schema; `production` adds error masking and disables introspection."""
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        RequireStaff,
        lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
    ]
    if production:
        extensions += [
            DisableIntrospection,
            lambda: MaskErrors(should_mask_error=should_mask),
        ]
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=StrawberryConfig(
            disable_field_suggestions=production, scalar_map=SCALAR_MAP
        ),
    )
