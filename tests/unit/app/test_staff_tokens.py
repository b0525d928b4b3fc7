"""The staff-token check: HS256, role staff, expiry honoured."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from app.staff_tokens import StaffTokens

SECRET = "s" * 48


def test_accepts_a_fresh_staff_token_when_signed_with_the_secret() -> None:
    tokens = StaffTokens(SECRET)

    viewer = tokens.verify_header(f"Bearer {tokens.issue(subject='dr-bat')}")

    assert viewer is not None
    assert viewer.subject == "dr-bat"
    assert viewer.role == "staff"


def test_refuses_a_token_when_expired() -> None:
    tokens = StaffTokens(SECRET)
    old = tokens.issue(ttl_seconds=60, now=datetime.now(UTC) - timedelta(hours=1))

    assert tokens.verify(old) is None


def test_refuses_a_token_when_signed_with_another_secret() -> None:
    forged = StaffTokens("f" * 48).issue()

    assert StaffTokens(SECRET).verify(forged) is None


def test_refuses_a_token_when_the_role_is_not_staff() -> None:
    claims = {
        "sub": "x",
        "role": "patient",
        "exp": datetime.now(UTC) + timedelta(hours=1),
    }
    token = jwt.encode(claims, SECRET, algorithm="HS256")

    assert StaffTokens(SECRET).verify(token) is None


def test_refuses_unsigned_tokens_when_alg_is_none() -> None:
    claims = {
        "sub": "x",
        "role": "staff",
        "exp": datetime.now(UTC) + timedelta(hours=1),
    }
    token = jwt.encode(claims, key="", algorithm="none")

    assert StaffTokens(SECRET).verify(token) is None


def test_refuses_headers_when_not_bearer() -> None:
    tokens = StaffTokens(SECRET)

    assert tokens.verify_header(None) is None
    assert tokens.verify_header("") is None
    assert tokens.verify_header(f"Basic {tokens.issue()}") is None
    assert tokens.verify_header("Bearer ") is None


def test_repr_hides_the_secret_when_printed() -> None:
    assert SECRET not in repr(StaffTokens(SECRET))


def test_refuses_a_token_when_hs256_names_a_key_id() -> None:
    claims = {
        "sub": "x",
        "role": "staff",
        "exp": datetime.now(UTC) + timedelta(hours=1),
    }
    token = jwt.encode(claims, SECRET, algorithm="HS256", headers={"kid": "k1"})

    assert StaffTokens(SECRET).verify(token) is None


@pytest.mark.parametrize("exp", [1e300, 10**30, float("nan")])
def test_a_signed_token_with_an_impossible_expiry_is_refused_not_a_crash(
    exp: float,
) -> None:
    claims = {"sub": "mallory", "role": "staff", "exp": exp}
    token = jwt.encode(claims, SECRET, algorithm="HS256")

    assert StaffTokens(SECRET).verify(token) is None


def test_a_rotated_out_secret_still_verifies_its_tokens_but_signs_none() -> None:
    old = StaffTokens(SECRET)
    rotated = StaffTokens("n" * 48, previous=SECRET)
    after = StaffTokens("n" * 48)

    issued_before = old.issue(subject="night-shift")
    issued_now = rotated.issue(subject="day-shift")

    assert rotated.verify(issued_before) is not None  # the overlap
    assert after.verify(issued_before) is None  # previous secret removed
    assert after.verify(issued_now) is not None  # signed with the new one
    assert old.verify(issued_now) is None


def test_the_previous_secret_does_not_rescue_an_expired_or_forged_token() -> None:
    rotated = StaffTokens("n" * 48, previous=SECRET)
    expired = StaffTokens(SECRET).issue(
        ttl_seconds=60, now=datetime.now(UTC) - timedelta(hours=1)
    )
    forged = StaffTokens("x" * 48).issue()

    assert rotated.verify(expired) is None
    assert rotated.verify(forged) is None
