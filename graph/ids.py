"""Parsing of client ids: UUIDs only; anything else is INVALID_INPUT."""

from __future__ import annotations

from uuid import UUID

from graph.errors import ArgumentError


def parse_uuid(value: str, path: str) -> UUID:
    """`value` as a UUID; ArgumentError naming `path` (the argument) if not."""
    if len(value) > 64:
        raise ArgumentError("is not a valid id", path)
    try:
        return UUID(value)
    except ValueError:
        raise ArgumentError("is not a valid id", path) from None
