"""The allow-list of trusted documents: what it accepts, what it refuses, and
the files it will not start with (app/trusted_documents.py)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from app.settings import ConfigError, load_settings
from app.trusted_documents import (
    NOT_FOUND,
    NOT_TRUSTED,
    DocumentRefused,
    ManifestError,
    TrustedDocuments,
)

DOC = "query A { paymentMethods { method } }"
OTHER = "query B { paymentMethods { enabled } }"
SHIPPED = "subscription S { paymentEvents { kind } }"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    path = tmp_path / "persisted-documents.json"
    path.write_text(json.dumps({f"sha256:{sha(DOC)}": DOC}))
    return path


@pytest.fixture
def on(manifest: Path) -> TrustedDocuments:
    return TrustedDocuments.load(manifest, shipped=[SHIPPED])


def refusal(documents: TrustedDocuments, *request: object) -> str:
    with pytest.raises(DocumentRefused) as refused:
        documents.resolve(*request)
    return refused.value.code


def test_on_a_listed_document_is_found_by_any_form_of_its_hash(
    on: TrustedDocuments,
) -> None:
    assert on.resolve(None, f"sha256:{sha(DOC)}", None) == DOC
    assert on.resolve(None, sha(DOC), None) == DOC
    assert on.resolve(None, None, {"persistedQuery": {"sha256Hash": sha(DOC)}}) == DOC
    assert on.resolve(DOC, None, None) == DOC
    assert on.resolve(DOC, sha(DOC), None) == DOC
    assert on.resolve(SHIPPED, None, None) == SHIPPED


def test_on_everything_else_is_refused(on: TrustedDocuments) -> None:
    assert refusal(on, OTHER, None, None) == NOT_TRUSTED
    assert refusal(on, None, sha(OTHER), None) == NOT_FOUND
    assert refusal(on, OTHER, sha(DOC), None) == NOT_FOUND
    assert refusal(on, None, sha(DOC).upper(), None) == NOT_FOUND
    assert refusal(on, None, "sha1:" + sha(DOC)[:40], None) == NOT_FOUND
    assert refusal(on, None, "f" * 10_000_000, None) == NOT_FOUND
    assert refusal(on, None, None, {"persistedQuery": {"sha256Hash": 7}}) == NOT_FOUND
    assert refusal(on, None, None, {"persistedQuery": "x"}) == NOT_FOUND


def test_off_text_runs_and_a_hash_alone_is_refused() -> None:
    off = TrustedDocuments.off()

    assert off.resolve(OTHER, None, None) == OTHER
    assert off.resolve(OTHER, sha(OTHER), None) == OTHER
    assert off.resolve(None, None, {"other": 1}) is None
    assert refusal(off, None, sha(DOC), None) == NOT_FOUND
    assert refusal(off, OTHER, sha(DOC), None) == NOT_FOUND


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        ("{", "is not JSON"),
        ("[]", "JSON object"),
        ("{}", "JSON object"),
        (json.dumps({sha(OTHER): DOC}), "not the SHA-256"),
        (json.dumps({sha(DOC): 1}), "not the SHA-256"),
        (b"\xff\xfe".decode("latin-1"), "is not JSON"),
    ],
)
def test_a_list_that_is_not_an_allow_list_stops_the_service(
    tmp_path: Path, content: str, complaint: str
) -> None:
    path = tmp_path / "documents.json"
    path.write_text(content, encoding="latin-1")

    with pytest.raises(ManifestError, match=complaint):
        TrustedDocuments.load(path)
    with pytest.raises(ConfigError) as error:
        load_settings(graphql_trusted_documents=path)
    assert str(error.value).startswith("GRAPHQL_TRUSTED_DOCUMENTS: ")
    assert "\n" not in str(error.value)


def test_a_missing_list_is_named_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(graphql_trusted_documents=tmp_path / "missing.json")

    assert str(error.value).startswith("GRAPHQL_TRUSTED_DOCUMENTS: cannot read")


def test_the_setting_is_off_by_default() -> None:
    assert load_settings().graphql_trusted_documents is None
