"""The schema: Query, Mutation, Subscription and the hardening extensions."""

from __future__ import annotations

import logging
from collections.abc import Callable

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    DisableIntrospection,
    MaskErrors,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from graph.errors import PublicError
from graph.mutations.root import Mutation
from graph.queries.invoices import Query
from graph.require_staff import RequireStaff
from graph.scalars import SCALAR_MAP, ScalarInputError
from graph.subscriptions.payment_status import Subscription
from graph.validation import QuietExecution, ValidateDocument, document_validator

MAX_TOKENS = 2000
CACHED_DOCUMENTS = 256
# Client mistakes logged per request (the rest are counted in one line).
LOGGED_CLIENT_ERRORS = 3

logger = logging.getLogger(__name__)


def should_mask(error: GraphQLError) -> bool:
    """Mask unexpected exceptions; keep our coded errors and GraphQL's own
    validation and syntax errors."""
    original = error.original_error
    if original is None or isinstance(error, PublicError):
        return False
    return not isinstance(original, PublicError | GraphQLError | ScalarInputError)


class QPaySchema(strawberry.Schema):
    """Strawberry's schema, logging as an operator needs: our bugs at ERROR
    with their traceback; a client's mistakes (syntax, validation, a refused
    field, a bad variable) at INFO, one short line each, without the source
    excerpt graphql-core prints. Strawberry logged every error at ERROR with
    the document's source line: 200 KB of whitespace and 50 bad directives
    wrote 10 MB of ERROR log. The log stays proportional to what the service
    did, not to what it was sent."""

    def process_errors(
        self,
        errors: list[GraphQLError],
        execution_context: ExecutionContext | None = None,
    ) -> None:
        mistakes = 0
        for error in errors:
            if should_mask(error):
                logger.error(
                    "unexpected error in %s: %s",
                    ".".join(str(p) for p in error.path or ()) or "the operation",
                    type(error.original_error).__name__,
                    exc_info=error.original_error,
                )
                continue
            mistakes += 1
            if mistakes <= LOGGED_CLIENT_ERRORS:
                logger.info("client error: %s", error.message[:200])
        if mistakes > LOGGED_CLIENT_ERRORS:
            logger.info("and %d more client errors", mistakes - LOGGED_CLIENT_ERRORS)


def build_schema(*, production: bool) -> strawberry.Schema:
    """The schema; `production` adds error masking, disables introspection
    and hides "Did you mean ...?" suggestions (they name the schema's fields,
    arguments, types and enum values).

    Parsing and validation are cached per distinct document (a checkout
    screen or staff app sends the same few documents all day long).
    Validation checks the limits of graph/validation.py before graphql-core's
    rules run; the validator is built once per schema, so its cache is too."""
    validator = document_validator(
        hide_suggestions=production, cached_documents=CACHED_DOCUMENTS
    )
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        RequireStaff,
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: ParserCache(maxsize=CACHED_DOCUMENTS),
        lambda: ValidateDocument(validator),
    ]
    if production:
        extensions += [
            DisableIntrospection,
            lambda: MaskErrors(should_mask_error=should_mask),
        ]
    return QPaySchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        execution_context_class=QuietExecution if production else None,
        config=StrawberryConfig(
            disable_field_suggestions=production, scalar_map=SCALAR_MAP
        ),
    )
