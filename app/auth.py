"""Staff tokens: HS256 JWTs with claims sub, role "staff", exp (PyJWT)."""

from __future__ import annotations

import logging
import secrets
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt

from app.settings import Settings
from graph.context import Viewer

logger = logging.getLogger(__name__)

ALGORITHM = "HS256"
STAFF_ROLE = "staff"
DEV_SECRET_FILE = "jwt-secret"  # noqa: S105  # a file name, not a secret


class StaffTokens:
    """Issues and verifies staff tokens; the secret never leaves this object.

    Verified tokens are remembered (a staff app sends the same token on every
    request for hours); expiry is still checked on every use."""

    def __init__(self, secret: str, *, cache_size: int = 1024) -> None:
        self._secret = secret
        self._verified: OrderedDict[str, Viewer] = OrderedDict()
        self._cache_size = cache_size

    def __repr__(self) -> str:
        return "StaffTokens(secret=<hidden>)"

    def issue(
        self,
        *,
        subject: str = "staff",
        ttl_seconds: int = 8 * 3600,
        now: datetime | None = None,
    ) -> str:
        issued = now or datetime.now(UTC)
        claims = {
            "sub": subject,
            "role": STAFF_ROLE,
            "iat": int(issued.timestamp()),
            "exp": int((issued + timedelta(seconds=ttl_seconds)).timestamp()),
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> Viewer | None:
        """The viewer for a valid, unexpired staff token; None otherwise."""
        known = self._verified.get(token)
        if known is not None:
            if known.expires_at > datetime.now(UTC):
                self._verified.move_to_end(token)
                return known
            del self._verified[token]
            return None
        viewer = self._decode(token)
        if viewer is not None:
            self._verified[token] = viewer
            if len(self._verified) > self._cache_size:
                self._verified.popitem(last=False)
        return viewer

    def _decode(self, token: str) -> Viewer | None:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={"require": ["exp", "sub", "role"]},
            )
        except jwt.PyJWTError as error:
            logger.info("staff token refused: %s", type(error).__name__)
            return None
        if claims.get("role") != STAFF_ROLE or not isinstance(claims.get("sub"), str):
            logger.info("staff token refused: wrong role or subject")
            return None
        return Viewer(
            subject=claims["sub"],
            role=claims["role"],
            expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
        )

    def verify_header(self, value: str | None) -> Viewer | None:
        """Verify an `Authorization: Bearer <token>` value."""
        if not value:
            return None
        scheme, _, token = value.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return self.verify(token.strip())


def jwt_secret(settings: Settings) -> str:
    """AUTH_JWT_SECRET, or in development a secret generated once into DATA_DIR."""
    if settings.auth_jwt_secret is not None:
        return settings.auth_jwt_secret.get_secret_value()
    if settings.is_production:
        raise RuntimeError("AUTH_JWT_SECRET is required in production")
    path = Path(settings.data_dir) / DEV_SECRET_FILE
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(secret)
    return secret
