"""Services of the machine the tests may use besides PostgreSQL: Redis runs
on 127.0.0.1:6379 where the machine has it; tests that need it skip without."""

from __future__ import annotations

import socket

SHARED_REDIS = "redis://127.0.0.1:6379/0"


def redis_reachable(host: str = "127.0.0.1", port: int = 6379) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0
