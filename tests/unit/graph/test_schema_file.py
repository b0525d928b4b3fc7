"""schema.graphql is the printed schema; regenerate with `make schema`."""

from __future__ import annotations

from pathlib import Path

from strawberry.printer import print_schema

from graph.schema import build_schema

SCHEMA_FILE = Path(__file__).resolve().parents[3] / "schema.graphql"


def test_schema_file_matches_the_printed_schema_when_checked_in() -> None:
    printed = print_schema(build_schema(production=False)) + "\n"

    assert SCHEMA_FILE.read_text(encoding="utf-8") == printed, (
        "run `make schema` and commit"
    )


def test_production_schema_prints_the_same_contract_when_hardened() -> None:
    assert print_schema(build_schema(production=True)) == print_schema(
        build_schema(production=False)
    )
