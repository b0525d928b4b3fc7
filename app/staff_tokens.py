"""Staff tokens (PyJWT): our own HS256 tokens, and optionally RS256/ES256
tokens of the clinic's identity provider, verified with the keys it publishes
at AUTH_JWKS_URL.

Claims contract, for both kinds: `sub` (a string, the actor), `role` equal to
"staff", and `exp`. Identity-provider tokens also carry a `kid` naming a key of
the JWKS and, when AUTH_JWT_ISSUER / AUTH_JWT_AUDIENCE are set, a matching
`iss` / `aud`. Our HS256 tokens carry no `kid`.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt

from app.settings import Settings
from graph.context import Viewer

logger = logging.getLogger(__name__)

ALGORITHM = "HS256"
STAFF_ROLE = "staff"
DEV_SECRET_FILE = "jwt-secret"  # noqa: S105  # a file name, not a secret
# Identity-provider keys: JWK key type -> the one algorithm accepted with it.
# A token's `alg` must equal its key's, so an RSA key never verifies HMAC
# (algorithm confusion) and a symmetric ("oct") key in the JWKS is ignored.
KEY_ALGORITHMS = {"RSA": "RS256", "EC": "ES256"}
# Identity-provider clocks drift from ours; `iat`/`nbf` may be this far ahead.
# `exp` is still honoured to the second (checked again after decoding).
IDP_CLOCK_SKEW_SECONDS = 30


@dataclass(frozen=True, slots=True)
class _Verified:
    viewer: Viewer
    kid: str | None  # the JWKS key it was verified with; None for HS256


class IdentityProviderKeys:
    """The RS256/ES256 signing keys published at AUTH_JWKS_URL, in memory.

    `get` never does I/O (it runs on the event loop, inside synchronous token
    checks): it answers from the last key set fetched, and when the kid is
    unknown or the set is older than `refresh_seconds` it starts a fetch on a
    worker thread (one at a time, at most one every `retry_seconds`). So the
    first token signed with a newly rotated key is refused once, and passes as
    soon as the fetch lands. PyJWKClient does the fetching (bounded by
    `timeout`) and the parsing."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        refresh_seconds: float = 300.0,
        retry_seconds: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = jwt.PyJWKClient(
            url, timeout=timeout, lifespan=refresh_seconds, cooldown_duration=0
        )
        self._refresh_seconds = refresh_seconds
        self._retry_seconds = retry_seconds
        self._monotonic = monotonic
        # Replaced whole by the worker; readers see the old or the new set.
        self._keys: dict[str, tuple[Any, str]] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"IdentityProviderKeys({self._client.uri!r}, kids={sorted(self._keys)})"

    def get(self, kid: str) -> tuple[Any, str] | None:
        """The key and its algorithm for `kid`, from memory; None if unknown."""
        found = self._keys.get(kid)
        fetched = self._fetched_at
        stale = fetched is None or self._monotonic() - fetched > self._refresh_seconds
        if found is None or stale:
            self.refresh_soon()
        return found

    def knows(self, kid: str) -> bool:
        return kid in self._keys

    def refresh_soon(self) -> threading.Thread | None:
        """Fetch the key set on a worker thread, unless one is running or the
        last attempt was under `retry_seconds` ago; the thread, if started."""
        with self._lock:
            now = self._monotonic()
            if self._worker is not None and self._worker.is_alive():
                return None
            attempted = self._attempted_at
            if attempted is not None and now - attempted < self._retry_seconds:
                return None
            self._attempted_at = now
            worker = threading.Thread(
                target=self.refresh, name="jwks-refresh", daemon=True
            )
            self._worker = worker
        worker.start()
        return worker

    def wait(self, timeout: float) -> None:
        """Block until the running fetch, if any, ends (tests, start-up)."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout)

    def refresh(self) -> bool:
        """Fetch the key set now (blocking, bounded by the timeout)."""
        try:
            fetched = self._client.get_signing_keys(refresh=True)
        except Exception as error:  # a worker thread must not die noisily
            logger.warning(
                "AUTH_JWKS_URL: keys not fetched (%s); identity-provider tokens "
                "are checked against the last keys known",
                type(error).__name__,
            )
            return False
        keys: dict[str, tuple[Any, str]] = {}
        for jwk in fetched:
            algorithm = KEY_ALGORITHMS.get(str(jwk.key_type))
            if algorithm is None or jwk.algorithm_name != algorithm:
                logger.info(
                    "AUTH_JWKS_URL: key %s ignored (not RS256/ES256)", jwk.key_id
                )
                continue
            keys[str(jwk.key_id)] = (jwk.key, algorithm)
        self._keys = keys
        self._fetched_at = self._monotonic()
        logger.info("AUTH_JWKS_URL: %d signing key(s) loaded", len(keys))
        return True


class StaffTokens:
    """Issues and verifies staff tokens; the secret never leaves this object.

    Verified tokens are remembered (a staff app sends the same token on every
    request for hours); expiry is still checked on every use, and a token of
    the identity provider is dropped once its key leaves the JWKS."""

    def __init__(
        self,
        secret: str,
        *,
        cache_size: int = 1024,
        jwks: IdentityProviderKeys | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        previous: str | None = None,
    ) -> None:
        self._secret = secret
        # A rotated-out secret: verifies tokens it signed, signs nothing.
        self._previous = previous
        self._verified: OrderedDict[str, _Verified] = OrderedDict()
        self._cache_size = cache_size
        self._jwks = jwks
        self._issuer = issuer
        self._audience = audience

    def __repr__(self) -> str:
        return f"StaffTokens(secret=<hidden>, jwks={self._jwks!r})"

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
            kid = known.kid
            retired = kid is not None and (
                self._jwks is None or not self._jwks.knows(kid)
            )
            if known.viewer.expires_at > datetime.now(UTC) and not retired:
                self._verified.move_to_end(token)
                return known.viewer
            del self._verified[token]
            return None
        verified = self._decode(token)
        if verified is None:
            return None
        self._verified[token] = verified
        if len(self._verified) > self._cache_size:
            self._verified.popitem(last=False)
        return verified.viewer

    def _decode(self, token: str) -> _Verified | None:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            _refused(type(error).__name__)
            return None
        algorithm = header.get("alg")
        if algorithm == ALGORITHM:
            # Ours carry no kid: an HS256 token naming a key is forged.
            if "kid" in header:
                _refused("HS256 with a key id")
                return None
            claims = self._hs256_claims(token)
            kid = None
        elif algorithm in KEY_ALGORITHMS.values() and self._jwks is not None:
            kid = header.get("kid")
            found = self._jwks.get(kid) if isinstance(kid, str) else None
            if found is None:
                _refused("unknown key id")
                return None
            key, key_algorithm = found
            if algorithm != key_algorithm:
                _refused("algorithm does not match the key")
                return None
            claims = self._idp_claims(token, key, key_algorithm)
        else:
            _refused("algorithm not accepted")
            return None
        if claims is None:
            return None
        return _viewer(claims, kid)

    def _hs256_claims(self, token: str) -> dict[str, Any] | None:
        """Claims of our own token: the current secret, then the previous one
        (AUTH_JWT_PREVIOUS_SECRET) while a rotation is under way."""
        options: Any = {"require": ["exp", "sub", "role"]}
        if self._previous is not None:
            try:
                found: dict[str, Any] = jwt.decode(
                    token, self._secret, algorithms=[ALGORITHM], options=options
                )
            except jwt.InvalidSignatureError:
                pass
            except jwt.PyJWTError as error:
                _refused(type(error).__name__)
                return None
            else:
                return found
            return self._claims(token, self._previous, ALGORITHM, options=options)
        return self._claims(token, self._secret, ALGORITHM, options=options)

    def _idp_claims(
        self, token: str, key: Any, algorithm: str
    ) -> dict[str, Any] | None:
        required = ["exp", "sub", "role"]
        required += ["iss"] if self._issuer is not None else []
        required += ["aud"] if self._audience is not None else []
        claims = self._claims(
            token,
            key,
            algorithm,
            options={"require": required},
            issuer=self._issuer,
            audience=self._audience,
            leeway=IDP_CLOCK_SKEW_SECONDS,
        )
        if claims is not None and not claims["exp"] > datetime.now(UTC).timestamp():
            _refused("ExpiredSignatureError")
            return None
        return claims

    @staticmethod
    def _claims(
        token: str, key: Any, algorithm: str, **checks: Any
    ) -> dict[str, Any] | None:
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=[algorithm], **checks
            )
        except jwt.PyJWTError as error:
            _refused(type(error).__name__)
            return None
        return claims

    def verify_header(self, value: str | None) -> Viewer | None:
        """Verify an `Authorization: Bearer <token>` value."""
        if not value:
            return None
        scheme, _, token = value.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return self.verify(token.strip())


def _refused(reason: str) -> None:
    logger.info("staff token refused: %s", reason)


def _viewer(claims: dict[str, Any], kid: str | None) -> _Verified | None:
    subject = claims.get("sub")
    if claims.get("role") != STAFF_ROLE or not isinstance(subject, str) or not subject:
        _refused("wrong role or subject")
        return None
    try:
        # A signed exp of 1e300 (or NaN) is no moment: refused, not a crash.
        expires_at = datetime.fromtimestamp(int(claims["exp"]), UTC)
    except (OverflowError, ValueError, OSError, TypeError):
        _refused("exp is not a moment")
        return None
    viewer = Viewer(subject=subject, role=STAFF_ROLE, expires_at=expires_at)
    return _Verified(viewer, kid)


def staff_tokens(settings: Settings) -> StaffTokens:
    """The StaffTokens of `settings`; with AUTH_JWKS_URL, the identity
    provider's keys start loading on a worker thread at once."""
    jwks: IdentityProviderKeys | None = None
    if settings.auth_jwks_url is not None:
        jwks = IdentityProviderKeys(settings.auth_jwks_url)
        jwks.refresh_soon()
    previous = settings.auth_jwt_previous_secret
    return StaffTokens(
        jwt_secret(settings),
        jwks=jwks,
        issuer=settings.auth_jwt_issuer,
        audience=settings.auth_jwt_audience,
        previous=previous.get_secret_value() if previous else None,
    )


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
