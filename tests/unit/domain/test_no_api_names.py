"""The domain does not know the API (issue 14, item 4): no string in domain/
names a GraphQL argument; failures carry a Subject, graph/ maps it."""

from __future__ import annotations

import ast
from pathlib import Path

DOMAIN = Path(__file__).resolve().parents[3] / "domain"
ARGUMENT_NAMES = {"intentId", "invoiceId", "qpayIntentId", "idempotencyKey", "input"}


def string_constants(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def test_no_domain_module_names_a_graphql_argument() -> None:
    found = [
        f"{path.relative_to(DOMAIN.parent)}:{line}: {value!r}"
        for path in sorted(DOMAIN.rglob("*.py"))
        for line, value in string_constants(path)
        if value.startswith("input.") or value in ARGUMENT_NAMES
    ]

    assert found == []
