"""What `qpay-graph serve` prints: a staff token in development only."""

from __future__ import annotations

import re
from pathlib import Path

from app.cli import serve_banner
from app.settings import Settings, load_settings
from app.staff_tokens import StaffTokens

SECRET = "b" * 48
JWT_SHAPE = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")


def make(tmp_path: Path, **values: object) -> Settings:
    return load_settings(
        _env_file=None, data_dir=tmp_path, auth_jwt_secret=SECRET, **values
    )


def test_prints_a_working_staff_token_when_in_development(tmp_path: Path) -> None:
    lines = serve_banner(make(tmp_path, qpay_env="mock"), "http://127.0.0.1:8000")

    assert lines[0] == "qpay-graph is serving GraphQL at http://127.0.0.1:8000/graphql"
    header = lines[-1].removeprefix("Authorization: ")
    viewer = StaffTokens(SECRET).verify_header(header)
    assert viewer is not None and viewer.role == "staff"


def test_prints_no_token_when_in_production(tmp_path: Path) -> None:
    settings = make(
        tmp_path,
        environment="production",
        database_url="postgresql+asyncpg://u@db.internal/qpay",
        qpay_env="live",
        qpay_client_id="MERCHANT",
        qpay_client_secret="merchant-secret",
        qpay_invoice_code="INVOICE",
        public_base_url="https://pay.mdent.mn",
    )

    lines = serve_banner(settings, "http://0.0.0.0:8000")

    text = "\n".join(lines)
    assert JWT_SHAPE.search(text) is None
    assert "Bearer" not in text
    assert "`qpay-graph token`" in lines[-1]
    assert lines[0] == "qpay-graph is serving GraphQL at http://0.0.0.0:8000/graphql"
