"""Which database connections negotiate TLS (persistence.engine.tls_arguments)."""

from __future__ import annotations

import pytest

from persistence.engine import tls_arguments


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+asyncpg://postgres@127.0.0.1:5432/test",
        "postgresql+asyncpg://postgres@localhost/test",
        "postgresql://postgres@[::1]:5432/test",
        "postgresql+asyncpg://postgres@/test?host=/var/run/postgresql",
    ],
)
def test_loopback_and_unix_sockets_do_not_negotiate_tls(url: str) -> None:
    assert tls_arguments(url) == {"ssl": False}


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+asyncpg://app@db.internal:5432/qpay",
        "postgresql+asyncpg://app@10.0.0.5/qpay",
    ],
)
def test_other_hosts_keep_the_drivers_default(url: str) -> None:
    assert tls_arguments(url) == {}


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+asyncpg://postgres@127.0.0.1/test?ssl=require",
        "postgresql+asyncpg://postgres@localhost/test?sslmode=verify-full",
    ],
)
def test_a_url_that_names_tls_is_obeyed(url: str) -> None:
    assert tls_arguments(url) == {}
