"""Parsing of client ids: UUIDs only; anything else is INVALID_INPUT."""

from __future__ import annotations

from uuid import UUID

from domain.errors import DomainError, ErrorCode


def parse_uuid(value: str, field: str) -> UUID:
    if len(value) > 64:
        raise DomainError(ErrorCode.INVALID_INPUT, "is not a valid id", field)
    try:
        return UUID(value)
    except ValueError:
        raise DomainError(ErrorCode.INVALID_INPUT, "is not a valid id", field) from None
