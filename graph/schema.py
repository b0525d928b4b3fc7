"""The schema: Query, Mutation, Subscription and the hardening extensions."""

from __future__ import annotations

from collections.abc import Callable

import strawberry
from graphql import (
    ASTValidationRule,
    DocumentNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    ValidationContext,
    ValidationRule,
    Visitor,
    visit,
)
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig

from graph.auth import RequireStaff
from graph.errors import PublicError
from graph.mutations.root import Mutation
from graph.queries.invoices import Query
from graph.scalars import SCALAR_MAP, ScalarInputError
from graph.subscriptions.payment_status import Subscription

MAX_DEPTH = 10
MAX_TOKENS = 2000
MAX_ALIASES = 30
CACHED_DOCUMENTS = 256


def should_mask(error: GraphQLError) -> bool:
    """Mask unexpected exceptions; keep our coded errors and GraphQL's own
    validation and syntax errors."""
    original = error.original_error
    if original is None or isinstance(error, PublicError):
        return False
    return not isinstance(original, PublicError | GraphQLError | ScalarInputError)


def _spreads_are_known(document: DocumentNode) -> bool:
    """True when every fragment spread names a fragment the document defines."""
    defined = {
        d.name.value
        for d in document.definitions
        if isinstance(d, FragmentDefinitionNode)
    }
    known = True

    class Spreads(Visitor):
        def enter_fragment_spread(self, node: FragmentSpreadNode, *_: object) -> None:
            nonlocal known
            known = known and node.name.value in defined

    visit(document, Spreads())
    return known


def _depth_rule() -> type[ASTValidationRule]:
    """Strawberry's depth limit, run only on documents whose fragment spreads
    all exist: on an unknown fragment it raises KeyError (leaking "'Name'" as
    the message), while graphql-core's own rule reports it properly."""
    (limit,) = QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules

    class DepthLimit(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            if _spreads_are_known(context.document):
                limit(context)

    return DepthLimit


def _limit_rules() -> list[type[ASTValidationRule]]:
    """The depth and alias limits as validation rule classes, made once.

    Strawberry's limiter extensions build a new rule class per instance, which
    would make every request's rule set unique and the validation cache
    useless; built once here, the rule set is the same object every time."""
    return [
        _depth_rule(),
        *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
    ]


def build_schema(*, production: bool) -> strawberry.Schema:
    """The schema; `production` adds error masking and disables introspection.

    Parsing and validation are cached per distinct document (a checkout
    screen or staff app sends the same few documents all day long)."""
    rules = _limit_rules()
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        RequireStaff,
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: AddValidationRules(rules),
        lambda: ParserCache(maxsize=CACHED_DOCUMENTS),
        lambda: ValidationCache(maxsize=CACHED_DOCUMENTS),
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
