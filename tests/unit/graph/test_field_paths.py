"""Each mutation's map from the domain's Subject to its own argument names
real arguments of the schema (a typo would send clients to a field that
does not exist)."""

from __future__ import annotations

import pytest
from graphql import GraphQLInputObjectType, GraphQLNonNull, GraphQLSchema

from graph.errors import FieldPaths
from graph.mutations import (
    cancel_qpay_invoice,
    check_qpay_payment,
    create_invoice,
    create_qpay_invoice,
    settle_invoice,
)
from graph.schema import build_schema

MUTATIONS: dict[str, FieldPaths] = {
    "createInvoice": create_invoice.PATHS,
    "createQPayInvoice": create_qpay_invoice.PATHS,
    "settleInvoice": settle_invoice.PATHS,
    "cancelQPayInvoice": cancel_qpay_invoice.PATHS,
    "checkQPayPayment": check_qpay_payment.PATHS,
}


def resolves(schema: GraphQLSchema, mutation: str, path: str) -> bool:
    assert schema.mutation_type is not None
    head, *rest = path.split(".")
    argument = schema.mutation_type.fields[mutation].args.get(head)
    if argument is None:
        return False
    kind = argument.type
    for name in rest:
        while isinstance(kind, GraphQLNonNull):
            kind = kind.of_type
        if not isinstance(kind, GraphQLInputObjectType) or name not in kind.fields:
            return False
        kind = kind.fields[name].type
    return True


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_every_mapped_path_is_an_argument_of_its_mutation(mutation: str) -> None:
    schema = build_schema(production=False)._schema

    missing = [
        path
        for path in MUTATIONS[mutation].values()
        if not resolves(schema, mutation, path)
    ]

    assert missing == []
