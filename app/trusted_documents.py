"""Trusted documents (issue 17, item 4): with GRAPHQL_TRUSTED_DOCUMENTS set,
only operations whose document is in an allow-list run.

The allow-list is the `persisted-documents.json` that GraphQL Code
Generator's client preset writes next to the typed client
(clients/typescript/src/gql/): an object from each document's SHA-256 (hex,
optionally prefixed "sha256:") to the document's text. Every entry is checked
at start: a key that is not the hash of its text stops the service, since a
wrong list would refuse the screens it was made for.

A client names a document by its hash instead of sending it, in an HTTP
body or a websocket subscribe payload:

    {"documentId": "sha256:<hex>", "variables": {...}}
    {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "<hex>"}}}

(the second is Apollo's form),
and the service looks the text up. A client that sends the text of a
trusted document is served too (its hash is in the list): the checkout page
does, and its one document is always trusted, because the service ships it.
Anything else is refused before it is parsed. Off (the default), documents
are sent as text and a hash alone is refused: there is no list to look in.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

PREFIX = "sha256:"
_HEX = re.compile(r"[0-9a-f]{64}")
# A hash is 64 hex digits (71 characters with the prefix): anything longer is
# refused before it is looked at.
_MAX_ID_CHARS = len(PREFIX) + 64
NOT_FOUND = "PERSISTED_DOCUMENT_NOT_FOUND"
NOT_TRUSTED = "DOCUMENT_NOT_TRUSTED"


class DocumentRefused(Exception):
    """A request that names or sends a document this service will not run."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ManifestError(Exception):
    """GRAPHQL_TRUSTED_DOCUMENTS names a file that is not a valid allow-list."""


def document_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class TrustedDocuments:
    """The allow-list (hash -> text), or None when the feature is off."""

    documents: Mapping[str, str] | None

    @classmethod
    def off(cls) -> TrustedDocuments:
        return cls(None)

    @classmethod
    def load(cls, path: Path, *, shipped: Iterable[str] = ()) -> TrustedDocuments:
        """The allow-list in `path`, with the service's own documents."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise ManifestError(f"cannot read {path}: {error.strerror}") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ManifestError(f"{path} is not JSON: {error}") from None
        if not isinstance(raw, dict) or not raw:
            raise ManifestError(
                f"{path} must be a JSON object of document hashes to documents"
            )
        documents: dict[str, str] = {}
        for key, text in raw.items():
            digest = key.removeprefix(PREFIX)
            if not isinstance(text, str) or document_hash(text) != digest:
                raise ManifestError(
                    f"{path}: the entry {key[:80]!r} is not the SHA-256 of its "
                    "document (regenerate it with the client's codegen)"
                )
            documents[digest] = text
        for text in shipped:
            documents[document_hash(text)] = text
        return cls(documents)

    @property
    def enabled(self) -> bool:
        return self.documents is not None

    def resolve(self, query: object, document_id: object, extensions: object) -> object:
        """The document text to run for a request's `query`, `documentId`
        and `extensions` (each as the client sent it; type errors of `query`
        are left to the caller). Raises DocumentRefused."""
        wanted = _named_hash(document_id, extensions)
        if wanted is None:
            if self.documents is None or not isinstance(query, str):
                return query
            if document_hash(query) not in self.documents:
                raise DocumentRefused(
                    NOT_TRUSTED,
                    "this service runs trusted documents only: send the "
                    "documentId of a document from the client's generated list",
                )
            return query
        if isinstance(query, str) and query:
            if document_hash(query) != wanted:
                raise DocumentRefused(
                    NOT_FOUND, "the document's hash does not match its text"
                )
            return self.resolve(query, None, None)
        if self.documents is None:
            raise DocumentRefused(
                NOT_FOUND,
                "this service keeps no trusted documents "
                "(GRAPHQL_TRUSTED_DOCUMENTS is not set): send the document's text",
            )
        text = self.documents.get(wanted)
        if text is None:
            raise DocumentRefused(NOT_FOUND, "no trusted document has this documentId")
        return text


def _named_hash(document_id: object, extensions: object) -> str | None:
    """The SHA-256 a request names, from documentId or Apollo's
    extensions.persistedQuery.sha256Hash; None when it names none."""
    candidate: object = None
    if document_id is not None:
        candidate = document_id
    elif isinstance(extensions, dict):
        persisted = extensions.get("persistedQuery")
        if persisted is None:
            return None
        candidate = (
            persisted.get("sha256Hash") if isinstance(persisted, dict) else persisted
        )
    else:
        return None
    if isinstance(candidate, str) and len(candidate) <= _MAX_ID_CHARS:
        digest = candidate.removeprefix(PREFIX)
        if _HEX.fullmatch(digest):
            return digest
    raise DocumentRefused(
        NOT_FOUND, 'a documentId is "sha256:" followed by 64 lowercase hex digits'
    )
