"""GraphQL operation names as labels stay bounded; the ids an operation names
become log fields only when they are UUIDs."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import parse

from app.graphql_observer import MAX_NAMES, OperationNames, payment_ids

INTENT = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
INVOICE = "6fa459ea-ee8a-3ca4-894e-db77e160355e"


def test_names_are_admitted_up_to_the_cap_when_operations_succeed() -> None:
    names = OperationNames()

    labels = {names.label(f"Op{n}", admit=True) for n in range(1000)}

    assert len(labels) == MAX_NAMES + 1
    assert "other" in labels
    assert names.label("Op1", admit=False) == "Op1"  # admitted names stay


@pytest.mark.parametrize(
    "name", ["1abc", "with space", "x" * 65, "ünï", "a-b", "", "\n"]
)
def test_a_name_that_is_not_a_plain_graphql_name_is_other_when_admitted(
    name: str,
) -> None:
    assert OperationNames().label(name, admit=True) == "other"


def test_failed_operations_admit_no_name_when_a_stranger_makes_them_up() -> None:
    names = OperationNames()

    made_up = {names.label(f"Guess{n}", admit=False) for n in range(500)}

    assert made_up == {"other"}
    assert names.label("Real", admit=True) == "Real"


def test_an_anonymous_operation_is_labelled_anonymous_when_unnamed() -> None:
    assert OperationNames().label(None, admit=True) == "anonymous"


@pytest.mark.parametrize(
    ("document", "variables", "expected"),
    [
        (
            "mutation($i: ID!) { checkQPayPayment(intentId: $i) { errors { code } } }",
            {"i": INTENT},
            {"intent_id": INTENT},
        ),
        (
            f'{{ qpayIntent(id: "{INTENT}") {{ id }} '
            f'invoice(id: "{INVOICE}") {{ id }} }}',
            None,
            {"intent_id": INTENT, "invoice_id": INVOICE},
        ),
        (
            "mutation($input: CreateQPayInvoiceInput!) "
            "{ createQPayInvoice(input: $input) { checkoutUrl } }",
            {"input": {"invoiceId": INVOICE}},
            {"invoice_id": INVOICE},
        ),
        (
            f'mutation {{ settleInvoice(input: {{invoiceId: "{INVOICE}", '
            f'qpayIntentId: "{INTENT}", method: QPAY}}) {{ alreadySettled }} }}',
            None,
            {"intent_id": INTENT, "invoice_id": INVOICE},
        ),
        (
            'mutation { checkQPayPayment(intentId: "not-a-uuid\\nX") '
            "{ errors { code } } }",
            None,
            {},
        ),
        ("{ paymentMethods { method } }", None, {}),
    ],
)
def test_log_fields_come_from_top_level_arguments_when_they_are_uuids(
    document: str, variables: dict[str, Any] | None, expected: dict[str, str]
) -> None:
    assert payment_ids(parse(document), None, variables) == expected


def test_no_fields_come_from_an_operation_the_document_does_not_hold() -> None:
    document = parse(f'query A {{ qpayIntent(id: "{INTENT}") {{ id }} }}')

    assert payment_ids(document, "B", None) == {}
