"""GraphQLObserver: each GraphQL operation's metrics, log context and span.

graphql_operations_total{type, name, outcome} counts operations (HTTP and
websocket); graphql_operation_duration_seconds{type, name} times queries and
mutations (a subscription's lifetime is not a latency). The outcome is `ok`
(no errors), `user_error` (the client's: syntax, validation, a refused token,
a coded error) or `error` (ours: an exception the schema would mask).

Operation names come from clients, so they are bounded: OperationNames admits
a name only from an operation that succeeded, only if it is a plain GraphQL
name of at most 64 characters, and at most MAX_NAMES of them per process;
every other name counts as `other`. An anonymous client (the websocket needs
no token) cannot succeed with made-up documents, so it cannot use up the
names either.

While it executes, an operation that names an intent or a billing invoice in
its top-level arguments (checkQPayPayment(intentId:), qpayIntent(id:),
createQPayInvoice(input: {invoiceId:}), ...) has that id in its log lines.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from typing import Any
from uuid import UUID

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    ObjectValueNode,
    StringValueNode,
    ValueNode,
    VariableNode,
    get_operation_ast,
)
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from app import request_context
from app.metrics import Metrics
from app.tracing import NO_SPANS, Spans
from graph.schema import should_mask

MAX_NAMES = 100
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
ANONYMOUS = "anonymous"
OTHER = "other"

# Top-level arguments (and input fields) that name what a log line is about.
_ID_ARGUMENTS = {
    "intentId": "intent_id",
    "qpayIntentId": "intent_id",
    "invoiceId": "invoice_id",
}
# Fields whose `id` argument is an intent's or an invoice's.
_ID_OF_FIELD = {"qpayIntent": "intent_id", "invoice": "invoice_id"}


class OperationNames:
    """Operation names as metric labels, at most `limit` distinct (see the
    module docstring)."""

    def __init__(self, limit: int = MAX_NAMES) -> None:
        self._limit = limit
        self._admitted: set[str] = set()

    def label(self, name: str | None, *, admit: bool) -> str:
        if name is None:
            return ANONYMOUS
        if name in self._admitted:
            return name
        if admit and len(self._admitted) < self._limit and NAME.fullmatch(name):
            self._admitted.add(name)
            return name
        return OTHER


class GraphQLObserver(SchemaExtension):
    """Metrics, log context and a span per operation (one instance each)."""

    def __init__(
        self, *, metrics: Metrics, names: OperationNames, spans: Spans = NO_SPANS
    ) -> None:
        self._metrics = metrics
        self._names = names
        self._spans = spans

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        context = self.execution_context
        with self._spans.span("graphql.operation") as span:
            try:
                yield
            finally:
                kind = _operation_type(context)
                outcome = _outcome(context)
                name = self._names.label(context.operation_name, admit=outcome == "ok")
                seconds = (
                    None if kind == "subscription" else time.perf_counter() - started
                )
                self._metrics.observe_graphql(kind, name, outcome, seconds)
                span.update_name(f"graphql {kind} {name}")
                span.set_attribute("graphql.operation.type", kind)
                span.set_attribute("graphql.operation.name", name)
                span.set_attribute("graphql.outcome", outcome)

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        fields: dict[str, str] = {}
        if context.graphql_document is not None:
            fields = payment_ids(
                context.graphql_document, context.operation_name, context.variables
            )
        if not fields:
            yield
            return
        with request_context.bound(**fields):
            yield


def _operation_type(context: Any) -> str:
    try:
        kind: OperationType = context.operation_type
    except Exception:  # no document (a syntax error) or an unknown operation name
        return "unknown"
    return str(kind.value)


def _outcome(context: Any) -> str:
    errors: list[GraphQLError] | None = context.pre_execution_errors
    if not errors:
        errors = getattr(context.result, "errors", None)
    if not errors:
        return "ok"
    return "error" if any(should_mask(error) for error in errors) else "user_error"


def payment_ids(
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
) -> dict[str, str]:
    """intent_id / invoice_id named by the operation's top-level fields."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return {}
    found: dict[str, str] = {}
    values = variables or {}
    for selection in operation.selection_set.selections:
        if not isinstance(selection, FieldNode):
            continue
        by_id = _ID_OF_FIELD.get(selection.name.value)
        for argument in selection.arguments or ():
            key = argument.name.value
            field = by_id if key == "id" else _ID_ARGUMENTS.get(key)
            if field is not None:
                _note(found, field, _value(argument.value, values))
            elif key == "input":
                _note_input(found, _value(argument.value, values), values)
    return found


def _value(node: ValueNode, variables: Mapping[str, Any]) -> object:
    if isinstance(node, VariableNode):
        return variables.get(node.name.value)
    if isinstance(node, StringValueNode):
        return node.value
    return node


def _note_input(
    found: dict[str, str], value: object, variables: Mapping[str, Any]
) -> None:
    if isinstance(value, ObjectValueNode):
        for item in value.fields:
            field = _ID_ARGUMENTS.get(item.name.value)
            if field is not None:
                _note(found, field, _value(item.value, variables))
    elif isinstance(value, Mapping):
        for key, field in _ID_ARGUMENTS.items():
            _note(found, field, value.get(key))


def _note(found: dict[str, str], field: str, value: object) -> None:
    """Only a UUID becomes a log field (a client's text never does)."""
    if field in found or not isinstance(value, str):
        return
    try:
        found[field] = str(UUID(value))
    except ValueError:
        return
