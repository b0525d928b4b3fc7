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
    assert loaded.clinic_time_zone == "Asia/Ulaanbaatar"


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
        ({"clinic_time_zone": "Mars/Olympus"}, "CLINIC_TIME_ZONE: must be an IANA"),
        ({"clinic_time_zone": "../../etc/passwd"}, "CLINIC_TIME_ZONE:"),
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
    assert "QPAY_CLIENT_ID: production needs real QPay credentials" in message


def test_credentials_select_sandbox_when_qpay_env_is_unset() -> None:
    loaded = settings(
        qpay_client_id="TEST_MERCHANT",
        qpay_client_secret="123456",
        qpay_invoice_code="TEST_INVOICE",
    )

    assert loaded.resolved_qpay_env == "sandbox"
    assert loaded.resolved_qpay_base_url == "https://merchant-sandbox.qpay.mn/v2"
    assert "123456" not in repr(loaded)


# A production configuration that passes every check; each test breaks one thing.
PRODUCTION: dict[str, object] = {
    "environment": "production",
    "database_url": "postgresql+asyncpg://u@db.internal/qpay",
    "auth_jwt_secret": "p" * 48,
    "qpay_env": "sandbox",
    "qpay_client_id": "MERCHANT",
    "qpay_client_secret": "merchant-secret",
    "qpay_invoice_code": "INVOICE",
    "public_base_url": "https://pay.mdent.mn",
}


def production(**changes: object) -> Settings:
    values = {**PRODUCTION, **changes}
    return settings(**{k: v for k, v in values.items() if v is not None})


def refusal(**changes: object) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        production(**changes)
    return str(raised.value).splitlines()


def test_production_starts_when_every_rule_is_met() -> None:
    loaded = production()

    assert loaded.is_production
    assert loaded.resolved_qpay_env == "sandbox"
    assert loaded.resolved_allowed_origins == []


def test_production_refuses_an_implicit_qpay_env_when_credentials_are_set() -> None:
    lines = refusal(qpay_env=None)

    assert lines == [
        "QPAY_ENV: required when ENVIRONMENT=production (sandbox or live, "
        "never implied)"
    ]


def test_production_refuses_the_simulator_when_qpay_env_is_mock() -> None:
    lines = refusal(qpay_env="mock")

    assert lines == [
        "QPAY_ENV: mock (the QPay simulator) is refused when ENVIRONMENT=production"
    ]


def test_production_refuses_a_public_url_when_plain_http() -> None:
    lines = refusal(public_base_url="http://pay.mdent.mn")

    assert lines == [
        "PUBLIC_BASE_URL: must be an https:// URL when ENVIRONMENT=production "
        "(QPay calls it back; patients open it)"
    ]


@pytest.mark.parametrize(
    "url",
    [
        "https://localhost",
        "https://LOCALHOST.:8443",
        "https://pay.localhost",
        "https://127.0.0.1:8000",
        "https://127.8.9.10",
        "https://[::1]:8443",
        "https://0.0.0.0",
        "https://[::]",
        "https://[::ffff:127.0.0.1]",
    ],
)
def test_production_refuses_a_public_url_when_loopback_or_unspecified(
    url: str,
) -> None:
    lines = refusal(public_base_url=url)

    assert len(lines) == 1
    assert lines[0].startswith("PUBLIC_BASE_URL: ")
    assert lines[0].endswith(
        "is a loopback or unspecified address; QPay and patients cannot reach it"
    )


@pytest.mark.parametrize(
    "url",
    ["https://10.0.0.5", "https://pay.mdent.mn:8443/base", "https://[2001:db8::1]"],
)
def test_production_accepts_a_public_url_when_https_and_not_loopback(
    url: str,
) -> None:
    assert production(public_base_url=url).public_base_url == url.rstrip("/")


def test_live_is_refused_when_not_in_production() -> None:
    with pytest.raises(ConfigError) as raised:
        settings(
            qpay_env="live",
            qpay_client_id="MERCHANT",
            qpay_client_secret="merchant-secret",
            qpay_invoice_code="INVOICE",
        )

    assert str(raised.value).splitlines() == [
        "QPAY_ENV: live is refused outside ENVIRONMENT=production"
    ]


def test_live_is_accepted_when_in_production() -> None:
    assert production(qpay_env="live").resolved_qpay_base_url == (
        "https://merchant.qpay.mn/v2"
    )


def test_production_names_every_problem_on_its_own_line_when_several() -> None:
    with pytest.raises(ConfigError) as raised:
        settings(
            environment="production",
            qpay_client_id="MERCHANT",
            qpay_client_secret="merchant-secret",
            qpay_invoice_code="INVOICE",
            public_base_url="http://127.0.0.1:8000",
            metrics_token="short",
        )

    lines = str(raised.value).splitlines()
    assert [line.split(":", 1)[0] for line in lines] == [
        "METRICS_TOKEN",
        "DATABASE_URL",
        "AUTH_JWT_SECRET",
        "QPAY_ENV",
        "PUBLIC_BASE_URL",
        "PUBLIC_BASE_URL",
    ]
    assert "PUBLIC_BASE_URL: must be an https:// URL" in lines[4]
    assert "127.0.0.1 is a loopback" in lines[5]


def test_metrics_token_is_refused_when_shorter_than_32_characters() -> None:
    with pytest.raises(ConfigError) as raised:
        settings(metrics_token="m" * 31)

    assert str(raised.value) == "METRICS_TOKEN: must be at least 32 characters"
    assert "m" * 40 not in repr(settings(metrics_token="m" * 40))


@pytest.mark.parametrize("name", ["auth_jwt_issuer", "auth_jwt_audience"])
def test_issuer_and_audience_are_refused_when_no_jwks_url(name: str) -> None:
    with pytest.raises(ConfigError) as raised:
        settings(**{name: "https://id.mdent.mn"})

    assert str(raised.value) == (
        f"{name.upper()}: needs AUTH_JWKS_URL (it is checked on "
        "identity-provider tokens only)"
    )


def test_production_refuses_a_jwks_url_when_plain_http_or_unchecked() -> None:
    lines = refusal(auth_jwks_url="http://id.mdent.mn/jwks")

    assert lines == [
        "AUTH_JWKS_URL: must be an https:// URL when ENVIRONMENT=production "
        "(keys fetched in the clear can be swapped)",
        "AUTH_JWT_ISSUER: required with AUTH_JWKS_URL when ENVIRONMENT=production",
        "AUTH_JWT_AUDIENCE: required with AUTH_JWKS_URL when ENVIRONMENT=production",
    ]


def test_identity_provider_settings_load_when_complete() -> None:
    loaded = production(
        auth_jwks_url="https://id.mdent.mn/realms/clinic/certs/",
        auth_jwt_issuer="https://id.mdent.mn/realms/clinic",
        auth_jwt_audience="qpay-graph",
    )

    assert loaded.auth_jwks_url == "https://id.mdent.mn/realms/clinic/certs"
    assert loaded.auth_jwt_audience == "qpay-graph"
