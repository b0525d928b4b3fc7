"""Settings: documented defaults, and bad configuration named in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import ConfigError, Settings, load_settings


def settings(**values: object) -> Settings:
    return load_settings(_env_file=None, **values)


def test_defaults_match_the_design_when_nothing_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("DATABASE_URL", "QPAY_ENV", "EVENTS_URL", "ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)

    loaded = load_settings(_env_file=None)

    assert loaded.environment == "development"
    assert loaded.database_url is None
    assert loaded.data_dir == Path(".data")
    assert loaded.events_url == "postgres"
    assert loaded.public_base_url == "http://127.0.0.1:8000"
    assert loaded.resolved_qpay_env == "mock"
    assert loaded.qpay_invoice_receiver_code == "terminal"
    assert loaded.qpay_invoice_ttl_seconds == 900
    assert loaded.qpay_poll_interval_seconds == 3
    assert loaded.qpay_poll_max_interval_seconds == 60
    assert loaded.qpay_max_checks_per_second == 5
    assert loaded.qpay_ebarimt_api == "v2"
    assert loaded.log_level == "INFO"
    assert loaded.log_format == "console"
    assert loaded.resolved_allowed_origins == ["*"]


def test_reads_variables_from_the_environment_when_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QPAY_POLL_INTERVAL_SECONDS", "1.5")
    monkeypatch.setenv("ALLOWED_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("LOG_LEVEL", "debug")

    loaded = load_settings(_env_file=None)

    assert loaded.qpay_poll_interval_seconds == 1.5
    assert loaded.allowed_origins == ["https://a.example", "https://b.example"]
    assert loaded.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (
            {"environment": "production"},
            "DATABASE_URL: required when ENVIRONMENT=production",
        ),
        (
            {"database_url": "postgresql://u@h/db"},
            "DATABASE_URL: must start with postgresql+asyncpg://",
        ),
        ({"qpay_poll_interval_seconds": -1}, "QPAY_POLL_INTERVAL_SECONDS:"),
        ({"qpay_invoice_ttl_seconds": 0}, "QPAY_INVOICE_TTL_SECONDS:"),
        ({"events_url": "kafka://x"}, "EVENTS_URL: must be postgres"),
        ({"qpay_env": "live"}, "QPAY_CLIENT_ID: QPAY_ENV=live needs"),
        ({"auth_jwt_secret": "short"}, "AUTH_JWT_SECRET: must be at least 32"),
        ({"public_base_url": "ftp://x"}, "PUBLIC_BASE_URL: must be an http"),
        ({"qpay_ebarimt_api": "v4"}, "QPAY_EBARIMT_API:"),
    ],
)
def test_bad_configuration_names_the_variable_when_invalid(
    values: dict[str, object], expected: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        settings(**values)

    assert expected in str(raised.value)
    for line in str(raised.value).splitlines():
        assert ":" in line and line.split(":", 1)[0].isupper()


def test_production_needs_a_secret_and_real_qpay_when_configured() -> None:
    with pytest.raises(ConfigError) as raised:
        settings(
            environment="production",
            database_url="postgresql+asyncpg://u@h/db",
        )

    message = str(raised.value)
    assert "AUTH_JWT_SECRET: required" in message
    assert "QPAY_ENV: production needs real QPay credentials" in message


def test_credentials_select_sandbox_when_qpay_env_is_unset() -> None:
    loaded = settings(
        qpay_client_id="TEST_MERCHANT",
        qpay_client_secret="123456",
        qpay_invoice_code="TEST_INVOICE",
    )

    assert loaded.resolved_qpay_env == "sandbox"
    assert loaded.resolved_qpay_base_url == "https://merchant-sandbox.qpay.mn/v2"
    assert "123456" not in repr(loaded)
