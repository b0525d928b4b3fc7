"""Checks for free text that clients send (numbers, descriptions, keys)."""

from __future__ import annotations

import unicodedata

from domain.errors import DomainError, ErrorCode, Subject


def clean_text(
    value: str | None, subject: Subject, *, max_length: int, required: bool = False
) -> str | None:
    """Trimmed text, or None when absent; INVALID_INPUT for empty (when given),
    too long, or containing control characters."""
    if value is None:
        if required:
            raise DomainError(ErrorCode.INVALID_INPUT, "is required", subject)
        return None
    if len(value) > max_length:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"must be at most {max_length} characters", subject
        )
    if any(unicodedata.category(char) in {"Cc", "Cf", "Cs", "Co"} for char in value):
        raise DomainError(
            ErrorCode.INVALID_INPUT, "must not contain control characters", subject
        )
    text = value.strip()
    if not text:
        raise DomainError(ErrorCode.INVALID_INPUT, "must not be empty", subject)
    return text


def required_text(value: str | None, subject: Subject, *, max_length: int) -> str:
    """clean_text of a value that must be given (INVALID_INPUT when absent)."""
    text = clean_text(value, subject, max_length=max_length, required=True)
    if text is None:  # clean_text raises first; this keeps the type exact
        raise DomainError(ErrorCode.INVALID_INPUT, "is required", subject)
    return text
