"""Validation of a GraphQL document in two steps, cheapest first.

1. The limits (`limit_errors`): the depth and aliases of each operation, how
   many selections graphql-core would check once every fragment spread is
   expanded, and how many pairs of same-named selections its
   OverlappingFieldsCanBeMergedRule would compare. Each fragment is measured
   once, however often it is spread, so this step is linear in the document:
   a 1 KB "fragment bomb" that expands to millions of fields is measured in
   well under a millisecond and refused here.
2. graphql-core's rules, only for a document within every limit, so their
   cost is bounded by the limits; cached per document.

`ValidateDocument` runs both as the schema's validation step, replacing
Strawberry's QueryDepthLimiter, MaxAliasesLimiter and ValidationCache (why:
docs/architecture.md, "Validation limits"). In production it also hides graphql-core's
"Did you mean ...?" suggestions, which name fields, arguments, types and enum
values of the schema; `QuietExecution` does the same for the errors raised
while coercing variables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeAlias

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    validate,
)
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

MAX_DEPTH = 10
MAX_ALIASES = 30
# Selections (fields, fragment spreads, inline fragments) of all the
# document's operations and fragments, each with its fragment spreads
# expanded: what graphql-core's rules walk. The documents of this API's
# clients have at most 32 (createQPayInvoice); GraphiQL's introspection
# query has 471.
MAX_SELECTIONS = 2000
# Pairs of selections that share a response name (or spread the same
# fragment) in one response object, counted over objects merged from several
# selection sets: what OverlappingFieldsCanBeMergedRule compares one by one.
# This API's clients send none; a document with fragments may have a few (an
# `id` both in a query and in its fragment).
MAX_SAME_NAME_PAIRS = 1000

# The rules Strawberry's own validate_document adds to the execution
# context's (strawberry/schema/schema.py); validate_document cannot hide
# suggestions, so ValidateDocument calls graphql-core with the same rules.
STRAWBERRY_RULES: tuple[type[ASTValidationRule], ...] = (
    MaybeNullValidationRule,
    OneOfInputValidationRule,
)

Rules: TypeAlias = tuple[type[ASTValidationRule], ...]
Validator: TypeAlias = Callable[
    [GraphQLSchema, DocumentNode, Rules], list[GraphQLError]
]


@dataclass(slots=True)
class _Size:
    """What one selection set amounts to with its fragment spreads expanded."""

    depth: int = 0
    aliases: int = 0
    selections: int = 0


class _Fragments:
    """The document's fragments, each measured once (in dependency order).

    A spread that closes a cycle (reported by graphql-core's
    NoFragmentCyclesRule) is counted as a selection but never expanded, so
    nothing here walks a cycle forever."""

    def __init__(self, document: DocumentNode) -> None:
        # The last definition of a name wins, as in graphql-core's
        # ValidationContext (UniqueFragmentNamesRule reports the others).
        self.definitions = {
            d.name.value: d
            for d in document.definitions
            if isinstance(d, FragmentDefinitionNode)
        }
        self.cut: set[tuple[str, str]] = set()
        self.sizes: dict[str, _Size] = {}
        self._measure_all()

    def target(self, owner: str | None, spread: str) -> FragmentDefinitionNode | None:
        """The fragment a spread inside `owner` expands to (None: not expanded)."""
        if (owner, spread) in self.cut:
            return None
        return self.definitions.get(spread)

    def measure(self, selection_set: SelectionSetNode, owner: str | None) -> _Size:
        """Depth, aliases and selections of a selection set of `owner` (a
        fragment's name, None for an operation), spreads expanded. Recurses
        along the selection sets of one definition only: graphql-core's
        parser refuses nesting deeper than 200."""
        size = _Size()
        for selection in selection_set.selections:
            size.selections += 1
            inner: _Size | None = None
            depth = 0
            if isinstance(selection, FieldNode):
                if selection.alias is not None:
                    size.aliases += 1
                if selection.selection_set is not None:
                    inner = self.measure(selection.selection_set, owner)
                    # Introspection fields do not count towards the depth, as
                    # in Strawberry's QueryDepthLimiter: GraphiQL's own
                    # introspection query nests deeper than this API does.
                    if not selection.name.value.startswith("__"):
                        depth = inner.depth + 1
            elif isinstance(selection, InlineFragmentNode):
                inner = self.measure(selection.selection_set, owner)
                depth = inner.depth
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.target(owner, selection.name.value)
                if fragment is not None:
                    inner = self.sizes[fragment.name.value]
                    depth = inner.depth
            if inner is not None:
                size.depth = max(size.depth, depth)
                size.aliases += inner.aliases
                size.selections += inner.selections
        return size

    def _measure_all(self) -> None:
        """Measure every fragment after the fragments it spreads (an
        iterative depth-first walk: a chain of fragments can be hundreds
        long), cutting the spreads that lead back to a fragment on the path."""
        spreads = {name: _spread_names(d) for name, d in self.definitions.items()}
        on_path: set[str] = set()
        for start in self.definitions:
            if start in self.sizes:
                continue
            path = [(start, iter(spreads[start]))]
            on_path.add(start)
            while path:
                name, pending = path[-1]
                spread = next(pending, None)
                if spread is None:
                    path.pop()
                    on_path.discard(name)
                    self.sizes[name] = self.measure(
                        self.definitions[name].selection_set, name
                    )
                elif spread in on_path:
                    self.cut.add((name, spread))
                elif spread in self.definitions and spread not in self.sizes:
                    path.append((spread, iter(spreads[spread])))
                    on_path.add(spread)


def _spread_names(fragment: FragmentDefinitionNode) -> list[str]:
    """The names spread anywhere inside a fragment, each once."""
    names: dict[str, None] = {}
    pending = [fragment.selection_set]
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FragmentSpreadNode):
                names[selection.name.value] = None
            elif (
                isinstance(selection, FieldNode | InlineFragmentNode)
                and selection.selection_set is not None
            ):
                pending.append(selection.selection_set)
    return list(names)


def _same_name_pairs(
    fragments: _Fragments, root: SelectionSetNode, owner: str | None, limit: int
) -> int:
    """Pairs of same-named fields and of fragment spreads in each response
    object under `root`, as OverlappingFieldsCanBeMergedRule compares them:
    the fields of one response object come from every selection set merged
    into it (`{ a { x } a { x } }` compares the two `x` as well). Stops once
    past `limit`; walks the expansion, so only call it within MAX_SELECTIONS."""
    total = 0
    objects: list[list[tuple[SelectionSetNode, str | None]]] = [[(root, owner)]]
    while objects and total <= limit:
        merged = objects.pop()
        fields: dict[str, int] = {}
        children: dict[str, list[tuple[SelectionSetNode, str | None]]] = {}
        spreads = 0
        while merged:
            selection_set, within = merged.pop()
            for selection in selection_set.selections:
                if isinstance(selection, FieldNode):
                    key = (selection.alias or selection.name).value
                    fields[key] = fields.get(key, 0) + 1
                    if selection.selection_set is not None:
                        inner = (selection.selection_set, within)
                        children.setdefault(key, []).append(inner)
                elif isinstance(selection, InlineFragmentNode):
                    merged.append((selection.selection_set, within))
                elif isinstance(selection, FragmentSpreadNode):
                    spreads += 1
                    fragment = fragments.target(within, selection.name.value)
                    if fragment is not None:
                        merged.append((fragment.selection_set, fragment.name.value))
        total += spreads * (spreads - 1) // 2
        total += sum(count * (count - 1) // 2 for count in fields.values())
        objects.extend(children.values())
    return total


def limit_errors(document: DocumentNode) -> list[GraphQLError]:
    """The limits the document exceeds, as validation errors (empty: none).

    Linear in the document: fragments are measured once each, and the one
    walk of the expansion (same-name pairs) runs only below MAX_SELECTIONS."""
    fragments = _Fragments(document)
    operations = [
        d for d in document.definitions if isinstance(d, OperationDefinitionNode)
    ]
    errors: list[GraphQLError] = []
    selections = sum(size.selections for size in fragments.sizes.values())
    for operation in operations:
        size = fragments.measure(operation.selection_set, None)
        selections += size.selections
        name = operation.name.value if operation.name else "anonymous"
        # Strawberry's messages, so clients see the same text as before (but
        # aliases are counted per operation: Strawberry summed the document's).
        if size.depth > MAX_DEPTH:
            errors.append(
                GraphQLError(
                    f"'{name}' exceeds maximum operation depth of {MAX_DEPTH}",
                    operation,
                )
            )
        if size.aliases > MAX_ALIASES:
            errors.append(
                GraphQLError(
                    f"{size.aliases} aliases found. Allowed: {MAX_ALIASES}", operation
                )
            )
    if selections > MAX_SELECTIONS:
        errors.append(
            GraphQLError(
                f"Document contains more than {MAX_SELECTIONS} selections once its"
                " fragment spreads are expanded. Validation aborted."
            )
        )
    if errors:
        return errors
    roots: list[tuple[SelectionSetNode, str | None]] = [
        (operation.selection_set, None) for operation in operations
    ]
    roots += [(d.selection_set, name) for name, d in fragments.definitions.items()]
    pairs = 0
    for selection_set, owner in roots:
        pairs += _same_name_pairs(
            fragments, selection_set, owner, MAX_SAME_NAME_PAIRS - pairs
        )
        if pairs > MAX_SAME_NAME_PAIRS:
            return [
                GraphQLError(
                    "Document repeats a field or fragment spread too often in one"
                    f" object (more than {MAX_SAME_NAME_PAIRS} same-name pairs to"
                    " compare). Validation aborted."
                )
            ]
    return []


def document_validator(*, hide_suggestions: bool, cached_documents: int) -> Validator:
    """Validate a document: the limits, then (within them) graphql-core's
    rules; memoized per (schema, document, rules) for `cached_documents`
    documents, refused ones included. The rules are the execution context's,
    which stay the same object from request to request."""

    @lru_cache(maxsize=cached_documents)
    def validate_document(
        schema: GraphQLSchema, document: DocumentNode, rules: Rules
    ) -> list[GraphQLError]:
        return limit_errors(document) or validate(
            schema,
            document,
            (*rules, *STRAWBERRY_RULES),
            hide_suggestions=hide_suggestions,
        )

    return validate_document


class ValidateDocument(SchemaExtension):
    """The schema's validation step: runs `validator` on the parsed document
    and stores its errors, so Strawberry's own validation is skipped."""

    def __init__(self, validator: Validator) -> None:
        super().__init__()
        self.validator = validator

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None:
            context.pre_execution_errors = self.validator(
                context.schema._schema, document, context.validation_rules
            )
        yield


class QuietExecution(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution, with graphql-core's suggestions hidden from the
    errors of coercing variables ("Value 'X' does not exist in 'E' enum.")."""

    @classmethod
    def build(cls, *args: Any, **kwargs: Any) -> Any:
        kwargs["hide_suggestions"] = True
        return super().build(*args, **kwargs)
