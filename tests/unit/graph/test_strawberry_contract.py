"""What graph/validation.py takes from Strawberry's internals, checked on the
installed Strawberry: a new version that breaks it fails here, by name, when
`make lock` moves the pin (pyproject.toml sets no upper cap for this reason)."""

from __future__ import annotations

from typing import Any

import pytest
import strawberry
import strawberry.schema.schema as strawberry_schema
from graphql import parse

from graph.validation import STRAWBERRY_RULES, ValidateDocument, document_validator


@strawberry.type
class Query:
    ok: bool = True


def test_strawberry_adds_exactly_our_copy_of_its_rules_when_it_validates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # ValidateDocument replaces Strawberry's validate_document, so it must add
    # the same rules Strawberry adds to the execution context's.
    seen: list[tuple[Any, ...]] = []

    def spy(schema: Any, document: Any, rules: Any, **kwargs: Any) -> list[Any]:
        seen.append(tuple(rules))
        return []

    monkeypatch.setattr(strawberry_schema, "validate", spy)
    schema = strawberry.Schema(query=Query)

    strawberry_schema.validate_document(schema._schema, parse("{ ok }"), ())

    assert seen == [STRAWBERRY_RULES]


@pytest.mark.parametrize("ours", [False, True], ids=["strawberry", "ours"])
def test_strawberry_skips_its_own_validation_when_the_extension_ran(
    monkeypatch: pytest.MonkeyPatch, ours: bool
) -> None:
    calls: list[object] = []
    original = strawberry_schema.validate_document

    def spy(*args: Any) -> Any:
        calls.append(args)
        return original(*args)

    monkeypatch.setattr(strawberry_schema, "validate_document", spy)
    validator = document_validator(hide_suggestions=False, cached_documents=4)
    schema = strawberry.Schema(
        query=Query,
        extensions=[lambda: ValidateDocument(validator)] if ours else [],
    )

    result = schema.execute_sync("{ ok nope }")

    assert [e.message for e in result.errors or []] == [
        "Cannot query field 'nope' on type 'Query'."
    ]
    assert len(calls) == (0 if ours else 1)
