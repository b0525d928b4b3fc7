"""Bearer secrets handed to clients and QPay: random, stored only as hashes."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_secret() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str | None, hashes: tuple[str, ...] | list[str]) -> bool:
    """Constant-time check of `secret` against every stored hash."""
    if not secret or len(secret) > 256:
        return False
    presented = hash_secret(secret)
    matched = False
    for stored in hashes:
        matched |= hmac.compare_digest(presented, stored)
    return matched
