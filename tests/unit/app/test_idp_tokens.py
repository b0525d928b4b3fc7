"""Identity-provider tokens: RS256/ES256 signed by a key of AUTH_JWKS_URL,
accepted beside our HS256 tokens; every way of forging one refused.

The JWKS is served by a real HTTP server on a loopback port (PyJWKClient
fetches with urllib), with keys generated here."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, HMACAlgorithm, RSAAlgorithm

from app.settings import load_settings
from app.staff_tokens import IdentityProviderKeys, StaffTokens, staff_tokens

SECRET = "s" * 48
ISSUER = "https://id.mdent.mn/realms/clinic"
AUDIENCE = "qpay-graph"
WAIT_SECONDS = 10.0


@dataclass
class Keys:
    rsa_key: rsa.RSAPrivateKey
    ec_key: ec.EllipticCurvePrivateKey
    other_rsa_key: rsa.RSAPrivateKey


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys(
        rsa_key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        ec_key=ec.generate_private_key(ec.SECP256R1()),
        other_rsa_key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )


def rsa_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}


def ec_jwk(key: ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "use": "sig"}


@dataclass
class JwksServer:
    """A JWKS endpoint on 127.0.0.1 whose key set a test may change."""

    url: str
    document: dict[str, Any] = field(default_factory=dict)
    requests: int = 0


@pytest.fixture
def jwks_server(keys: Keys) -> Iterator[JwksServer]:
    state = JwksServer(url="")
    state.document = {
        "keys": [rsa_jwk(keys.rsa_key, "rsa-1"), ec_jwk(keys.ec_key, "ec-1")]
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # http.server's name
            state.requests += 1
            body = json.dumps(state.document).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/certs"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def idp_keys(server: JwksServer) -> IdentityProviderKeys:
    """Keys loaded from the server, retrying at once (no 30 s pause)."""
    loaded = IdentityProviderKeys(server.url, timeout=2, retry_seconds=0)
    assert loaded.refresh()
    return loaded


def verifier(
    server: JwksServer, *, issuer: str | None = ISSUER, audience: str | None = AUDIENCE
) -> StaffTokens:
    return StaffTokens(SECRET, jwks=idp_keys(server), issuer=issuer, audience=audience)


def claims(**changes: object) -> dict[str, Any]:
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "sub": "dr-bat",
        "role": "staff",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=5)).timestamp()),
    }
    values.update(changes)
    return {name: value for name, value in values.items() if value is not None}


def rs256(keys: Keys, kid: str = "rsa-1", **changes: object) -> str:
    return jwt.encode(
        claims(**changes), keys.rsa_key, algorithm="RS256", headers={"kid": kid}
    )


@pytest.fixture
def caplog(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="app.staff_tokens")
    return caplog


def refused_because(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Why each token was refused, as app.staff_tokens logged it."""
    prefix = "staff token refused: "
    return [
        record.getMessage().removeprefix(prefix)
        for record in caplog.records
        if record.getMessage().startswith(prefix)
    ]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header: dict[str, Any], payload: dict[str, Any], key: bytes) -> str:
    """A JWT whose header says anything, HMAC-SHA256-signed with `key`."""
    signing_input = (
        f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    )
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def test_accepts_an_rs256_token_when_signed_by_a_jwks_key(
    keys: Keys, jwks_server: JwksServer
) -> None:
    viewer = verifier(jwks_server).verify_header(f"Bearer {rs256(keys)}")

    assert viewer is not None
    assert viewer.subject == "dr-bat"
    assert viewer.role == "staff"


def test_accepts_an_es256_token_when_signed_by_a_jwks_key(
    keys: Keys, jwks_server: JwksServer
) -> None:
    token = jwt.encode(
        claims(), keys.ec_key, algorithm="ES256", headers={"kid": "ec-1"}
    )

    viewer = verifier(jwks_server).verify(token)

    assert viewer is not None and viewer.subject == "dr-bat"


def test_accepts_our_hs256_tokens_beside_the_identity_provider(
    jwks_server: JwksServer,
) -> None:
    tokens = verifier(jwks_server)

    viewer = tokens.verify(tokens.issue(subject="ops"))

    assert viewer is not None and viewer.subject == "ops"


def test_refuses_an_unsigned_token_when_alg_is_none(
    jwks_server: JwksServer, caplog: pytest.LogCaptureFixture
) -> None:
    token = jwt.encode(claims(), key="", algorithm="none", headers={"kid": "rsa-1"})

    assert verifier(jwks_server).verify(token) is None
    assert refused_because(caplog) == ["algorithm not accepted"]


def test_refuses_an_hs256_token_when_it_claims_a_jwks_kid(
    jwks_server: JwksServer, caplog: pytest.LogCaptureFixture
) -> None:
    # Signed with our real secret: the kid alone makes it a forgery.
    token = jwt.encode(claims(), SECRET, algorithm="HS256", headers={"kid": "rsa-1"})

    assert verifier(jwks_server).verify(token) is None
    assert refused_because(caplog) == ["HS256 with a key id"]


def test_refuses_an_hs256_token_when_keyed_with_the_public_rsa_key(
    keys: Keys, jwks_server: JwksServer, caplog: pytest.LogCaptureFixture
) -> None:
    public_pem = keys.rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    tokens = verifier(jwks_server)

    with_kid = hand_made({"alg": "HS256", "kid": "rsa-1"}, claims(), public_pem)
    without_kid = hand_made({"alg": "HS256", "typ": "JWT"}, claims(), public_pem)

    assert tokens.verify(with_kid) is None
    assert tokens.verify(without_kid) is None
    assert refused_because(caplog) == ["HS256 with a key id", "InvalidSignatureError"]


def test_refuses_an_rs256_token_when_hmac_signed_with_the_hs_secret(
    jwks_server: JwksServer, caplog: pytest.LogCaptureFixture
) -> None:
    token = hand_made({"alg": "RS256", "kid": "rsa-1"}, claims(), SECRET.encode())

    assert verifier(jwks_server).verify(token) is None
    assert refused_because(caplog) == ["InvalidSignatureError"]


def test_refuses_a_token_when_its_alg_is_not_its_keys(
    keys: Keys, jwks_server: JwksServer, caplog: pytest.LogCaptureFixture
) -> None:
    # An EC signature presented under the RSA key's kid, and the reverse.
    es_on_rsa = jwt.encode(
        claims(), keys.ec_key, algorithm="ES256", headers={"kid": "rsa-1"}
    )
    rs_on_ec = jwt.encode(
        claims(), keys.rsa_key, algorithm="RS256", headers={"kid": "ec-1"}
    )
    tokens = verifier(jwks_server)

    assert tokens.verify(es_on_rsa) is None
    assert tokens.verify(rs_on_ec) is None
    assert refused_because(caplog) == ["algorithm does not match the key"] * 2


def test_refuses_a_token_when_signed_by_another_key_under_a_known_kid(
    keys: Keys, jwks_server: JwksServer, caplog: pytest.LogCaptureFixture
) -> None:
    token = jwt.encode(
        claims(), keys.other_rsa_key, algorithm="RS256", headers={"kid": "rsa-1"}
    )

    assert verifier(jwks_server).verify(token) is None
    assert refused_because(caplog) == ["InvalidSignatureError"]


def test_refuses_rs256_tokens_when_no_jwks_is_configured(
    keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    assert StaffTokens(SECRET).verify(rs256(keys)) is None
    assert refused_because(caplog) == ["algorithm not accepted"]


@pytest.mark.parametrize(
    "changes",
    [
        {"iss": "https://evil.example"},
        {"iss": None},
        {"aud": "another-app"},
        {"aud": None},
        {"role": "patient"},
        {"role": None},
        {"sub": None},
        {"sub": ""},
        {"exp": None},
        {"exp": int((datetime.now(UTC) - timedelta(seconds=5)).timestamp())},
    ],
    ids=lambda changes: ",".join(f"{k}={v}" for k, v in changes.items()),
)
def test_refuses_a_token_when_a_claim_breaks_the_contract(
    keys: Keys, jwks_server: JwksServer, changes: dict[str, object]
) -> None:
    token = jwt.encode(
        claims(**changes), keys.rsa_key, algorithm="RS256", headers={"kid": "rsa-1"}
    )

    assert verifier(jwks_server).verify(token) is None


def test_ignores_iss_and_aud_checks_when_not_configured(
    keys: Keys, jwks_server: JwksServer
) -> None:
    tokens = verifier(jwks_server, issuer=None, audience=None)

    # No audience configured: a token meant for a named audience is not ours.
    assert tokens.verify(rs256(keys, iss=None, aud=None)) is not None
    assert tokens.verify(rs256(keys, aud="another-app")) is None


def test_accepts_a_rotated_key_when_the_background_fetch_lands(
    keys: Keys, jwks_server: JwksServer
) -> None:
    loaded = idp_keys(jwks_server)
    tokens = StaffTokens(SECRET, jwks=loaded, issuer=ISSUER, audience=AUDIENCE)
    jwks_server.document = {"keys": [rsa_jwk(keys.other_rsa_key, "rsa-2")]}
    token = jwt.encode(
        claims(), keys.other_rsa_key, algorithm="RS256", headers={"kid": "rsa-2"}
    )

    first = tokens.verify(token)
    loaded.wait(WAIT_SECONDS)
    second = tokens.verify(token)

    assert first is None
    assert second is not None and second.subject == "dr-bat"


def test_forgets_a_verified_token_when_its_key_leaves_the_jwks(
    keys: Keys, jwks_server: JwksServer
) -> None:
    loaded = idp_keys(jwks_server)
    tokens = StaffTokens(SECRET, jwks=loaded, issuer=ISSUER, audience=AUDIENCE)
    token = rs256(keys)
    assert tokens.verify(token) is not None

    jwks_server.document = {"keys": [ec_jwk(keys.ec_key, "ec-1")]}
    assert loaded.refresh()

    assert tokens.verify(token) is None


def test_fetches_at_most_once_per_retry_interval_when_kids_are_unknown(
    keys: Keys, jwks_server: JwksServer
) -> None:
    loaded = IdentityProviderKeys(jwks_server.url, timeout=2, retry_seconds=3600)
    tokens = StaffTokens(SECRET, jwks=loaded, issuer=ISSUER, audience=AUDIENCE)

    for number in range(20):
        tokens.verify(rs256(keys, kid=f"guess-{number}"))
        loaded.wait(WAIT_SECONDS)

    assert jwks_server.requests == 1


def test_ignores_symmetric_keys_when_published_in_the_jwks(
    jwks_server: JwksServer,
) -> None:
    oct_key: dict[str, Any] = HMACAlgorithm.to_jwk(SECRET, as_dict=True)
    jwks_server.document = {"keys": [{**oct_key, "kid": "oct-1", "use": "sig"}]}
    token = jwt.encode(claims(), SECRET, algorithm="HS256", headers={"kid": "oct-1"})

    tokens = verifier(jwks_server)

    assert tokens.verify(token) is None
    assert "oct-1" not in repr(tokens)


def test_refuses_identity_provider_tokens_when_the_jwks_is_unreachable(
    keys: Keys,
) -> None:
    # Nothing listens on the discard port.
    loaded = IdentityProviderKeys("http://127.0.0.1:9/certs", timeout=1)

    fetched = loaded.refresh()

    tokens = StaffTokens(SECRET, jwks=loaded)
    assert fetched is False
    assert tokens.verify(rs256(keys, iss=None, aud=None)) is None
    assert tokens.verify(tokens.issue()) is not None


def test_settings_start_loading_the_jwks_when_the_url_is_set(
    keys: Keys, jwks_server: JwksServer, tmp_path: Path
) -> None:
    settings = load_settings(
        _env_file=None,
        data_dir=tmp_path,
        auth_jwt_secret=SECRET,
        auth_jwks_url=jwks_server.url,
        auth_jwt_issuer=ISSUER,
        auth_jwt_audience=AUDIENCE,
    )

    tokens = staff_tokens(settings)
    token = rs256(keys)
    deadline = time.monotonic() + WAIT_SECONDS
    while tokens.verify(token) is None and time.monotonic() < deadline:
        time.sleep(0.02)

    assert tokens.verify(token) is not None
    assert jwks_server.requests == 1
