"""Direct SQL for tests: arrange states the API cannot reach, and assert on rows."""

from __future__ import annotations

from typing import Any

import asyncpg
from sqlalchemy.engine import make_url


def asyncpg_url(url: str) -> str:
    return (
        make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    )


async def execute(url: str, sql: str, *args: Any) -> None:
    connection = await asyncpg.connect(asyncpg_url(url))
    try:
        await connection.execute(sql, *args)
    finally:
        await connection.close()


async def fetch(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(asyncpg_url(url))
    try:
        return list(await connection.fetch(sql, *args))
    finally:
        await connection.close()


async def scalar(url: str, sql: str, *args: Any) -> Any:
    connection = await asyncpg.connect(asyncpg_url(url))
    try:
        return await connection.fetchval(sql, *args)
    finally:
        await connection.close()
