"""Every part of the schema says what it is (issue 17): each type, field,
argument, input field, enum value, custom scalar and custom directive has a
description that is not a placeholder, and a deprecation gives its reason.

The schema walked is the one clients see: printed from the code (the same
text as schema.graphql, test_schema_file.py) and read back by graphql-core,
as a client's tooling reads it. Not walked: the introspection types
(`__Schema`, `__Type`, ...) and the specification's own scalars and
directives (String, Int, Float, Boolean, ID; @skip, @include, @deprecated,
@specifiedBy, @oneOf). The GraphQL specification defines and describes them,
schema.graphql never prints them, and this service cannot describe them.
Decimal, DateTime and Date are ours, so they are walked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

import graphql
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
)
from strawberry.printer import print_schema

from graph.schema import build_schema
from graph.types.enums import described_enum

# Shorter than this is a label, not a description ("Amount.", "The id").
MIN_LENGTH = 12
PLACEHOLDER_WORDS = re.compile(r"\b(TODO|FIXME|TBD|XXX)\b")


@dataclass(frozen=True, slots=True)
class Part:
    """One described part of a schema: `path` names it for the failure list."""

    path: str
    name: str
    description: str | None
    deprecation_reason: str | None = None


def parts(schema: GraphQLSchema) -> Iterator[Part]:
    """Every part of `schema` that must say what it is (see the docstring)."""
    for name, kind in sorted(schema.type_map.items()):
        if graphql.is_introspection_type(kind) or graphql.is_specified_scalar_type(
            kind
        ):
            continue
        yield Part(name, name, kind.description)
        if isinstance(kind, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, field in kind.fields.items():
                path = f"{name}.{field_name}"
                yield Part(
                    path, field_name, field.description, field.deprecation_reason
                )
                for arg_name, arg in field.args.items():
                    yield Part(
                        f"{path}({arg_name})",
                        arg_name,
                        arg.description,
                        arg.deprecation_reason,
                    )
        elif isinstance(kind, GraphQLInputObjectType):
            for field_name, input_field in kind.fields.items():
                yield Part(
                    f"{name}.{field_name}",
                    field_name,
                    input_field.description,
                    input_field.deprecation_reason,
                )
        elif isinstance(kind, GraphQLEnumType):
            for value_name, value in kind.values.items():
                yield Part(
                    f"{name}.{value_name}",
                    value_name,
                    value.description,
                    value.deprecation_reason,
                )
    for directive in schema.directives:
        if graphql.is_specified_directive(directive):
            continue
        path = f"@{directive.name}"
        yield Part(path, directive.name, directive.description)
        for arg_name, arg in directive.args.items():
            yield Part(f"{path}({arg_name})", arg_name, arg.description)


def undescribed(schema: GraphQLSchema) -> list[str]:
    return [part.path for part in parts(schema) if not (part.description or "").strip()]


def _letters(text: str) -> str:
    return re.sub(r"[^a-z]", "", text.lower())


def placeholders(schema: GraphQLSchema) -> list[str]:
    """Descriptions that say nothing: too short, the part's own name again,
    or a marker left to fill in later."""
    found = []
    for part in parts(schema):
        text = (part.description or "").strip()
        if not text:
            continue  # undescribed() reports it
        if (
            len(text) < MIN_LENGTH
            or _letters(text) == _letters(part.name)
            or PLACEHOLDER_WORDS.search(text)
        ):
            found.append(f"{part.path}: {text!r}")
    return found


def unexplained_deprecations(schema: GraphQLSchema) -> list[str]:
    """Deprecations without a reason of their own (graphql-core fills in
    "No longer supported" for a bare @deprecated)."""
    return [
        part.path
        for part in parts(schema)
        if part.deprecation_reason is not None
        and (
            part.deprecation_reason.strip() == graphql.DEFAULT_DEPRECATION_REASON
            or len(part.deprecation_reason.strip()) < MIN_LENGTH
        )
    ]


def served_schema() -> GraphQLSchema:
    return graphql.build_schema(print_schema(build_schema(production=False)))


# --- the schema ----------------------------------------------------------------------


def test_every_part_of_the_schema_has_a_description_when_printed() -> None:
    missing = undescribed(served_schema())

    assert missing == [], "give these a description=: " + ", ".join(missing)


def test_no_description_is_a_placeholder_when_printed() -> None:
    empty = placeholders(served_schema())

    assert empty == [], "say what these are: " + "; ".join(empty)


def test_every_deprecation_gives_its_reason_when_deprecated() -> None:
    bare = unexplained_deprecations(served_schema())

    assert bare == [], "give these a deprecation_reason: " + ", ".join(bare)


def test_every_enum_value_is_described_when_the_enum_is_the_domains() -> None:
    schema = served_schema()
    enums = [
        kind
        for kind in schema.type_map.values()
        if isinstance(kind, GraphQLEnumType) and not graphql.is_introspection_type(kind)
    ]

    assert len(enums) >= 12
    assert all(value.description for enum in enums for value in enum.values.values())


# --- the checks themselves ------------------------------------------------------------

BARE = """
directive @audited(by: String) on FIELD_DEFINITION
scalar Money
enum Colour { RED }
input Filter { colour: Colour }
interface Node { id: ID! }
type Item implements Node { id: ID! price(currency: String): Money @audited }
union Found = Item
type Query { items(filter: Filter): [Found!]! }
"""


def test_the_walk_lists_every_kind_of_part_when_none_is_described() -> None:
    missing = undescribed(graphql.build_schema(BARE))

    assert sorted(missing) == sorted(
        [
            "@audited",
            "@audited(by)",
            "Colour",
            "Colour.RED",
            "Filter",
            "Filter.colour",
            "Found",
            "Item",
            "Item.id",
            "Item.price",
            "Item.price(currency)",
            "Money",
            "Node",
            "Node.id",
            "Query",
            "Query.items",
            "Query.items(filter)",
        ]
    )


@pytest.mark.parametrize(
    "description",
    ["Amount.", "paid amount", "TODO: say what it is", "   "],
    ids=["short", "own-name", "marker", "blank"],
)
def test_a_placeholder_is_caught_when_it_says_nothing(description: str) -> None:
    sdl = (
        f'"A query root, described."\ntype Query {{ "{description}" paidAmount: Int }}'
    )

    schema = graphql.build_schema(sdl)

    assert undescribed(schema) + placeholders(schema) != []


def test_a_bare_deprecation_is_caught_when_it_gives_no_reason() -> None:
    sdl = (
        '"A query root, described."\n'
        'type Query { "Old and kept." old: Int @deprecated }'
    )

    assert unexplained_deprecations(graphql.build_schema(sdl)) == ["Query.old"]


def test_an_enum_value_without_a_description_is_refused_when_registered() -> None:
    class Shade(StrEnum):
        LIGHT = "LIGHT"
        DARK = "DARK"

    with pytest.raises(ValueError, match="Shade: no description for DARK"):
        described_enum(
            Shade,
            name="Shade",
            description="How light a colour is.",
            values={Shade.LIGHT: "The lighter shade of a colour."},
        )
