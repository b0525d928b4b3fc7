"""JSON for the JSONB columns: exact numbers, text PostgreSQL accepts.

QPay's answers are parsed with every non-integer number as a Decimal
(qpay/exchange.py), and stored for audit as they came. The standard encoder
cannot write a Decimal as a JSON number without passing it through a float,
so this one writes it from its exact text. PostgreSQL refuses NUL in JSONB
(`\\u0000`), so NUL characters in strings are dropped rather than failing
the transaction that stores an answer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

_encode_string = json.encoder.encode_basestring


def dumps(value: object) -> str:
    """JSON text of `value`: Decimal as an exact number, NUL removed from text.
    Raises ValueError for NaN or infinity and TypeError for an unknown type."""
    out: list[str] = []
    _write(value, out)
    return "".join(out)


def loads(text: str | bytes) -> Any:
    """JSON with non-integer numbers as Decimal (what `dumps` writes back)."""
    return json.loads(text, parse_float=Decimal)


def _write(value: object, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(_encode_string(value.replace("\x00", "")))
    elif value is None or isinstance(value, bool | int):
        out.append(json.dumps(value))
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("JSON has no NaN or infinity")
        out.append(str(value))
    elif isinstance(value, float):
        # Not money (a duration, a ratio): the standard encoder's text.
        out.append(json.dumps(value, allow_nan=False))
    elif isinstance(value, Mapping):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            if index:
                out.append(",")
            out.append(_encode_string(str(key).replace("\x00", "")))
            out.append(":")
            _write(item, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise TypeError(f"{type(value).__name__} is not JSON")
